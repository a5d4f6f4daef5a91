//! Lookups answered from data (TOML or JSON): rule tests, `simulate` and demos use the
//! same rules against known users and cards, with no WeChat account.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::lookup::{CardSummary, ChannelStats, CodeState, HeldCard, LookupError, Lookups};

/// What went wrong reading canned data.
#[derive(Debug, thiserror::Error)]
pub enum CannedError {
    #[error("failed to read canned lookups {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid canned lookups {path}: {message}")]
    Parse { path: String, message: String },
}

/// Lookups answered from data: codes, card templates and failures to simulate.
///
/// A user's cards are the codes whose `openid` is theirs and whose status is `NORMAL`;
/// the cards with a status are the templates whose `status` is among those asked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CannedLookups {
    /// Every code known, with its owner and state.
    pub codes: Vec<CannedCode>,
    /// Card templates by card id.
    pub cards: BTreeMap<String, CardSummary>,
    /// Lookups that fail instead of answering.
    pub failures: Vec<CannedFailure>,
    /// Channel statistics `stats_channel` answers; a channel not listed has all zeros.
    pub stats: Vec<CannedStats>,
}

/// The statistics of one channel of one card, whatever days are asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedStats {
    pub card_id: String,
    pub channel: String,
    #[serde(default)]
    pub counts: ChannelStats,
}

/// One code and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedCode {
    pub card_id: String,
    pub code: String,
    pub openid: String,
    #[serde(default = "normal")]
    pub status: String,
    /// Defaults to whether the status is `NORMAL`.
    #[serde(default)]
    pub can_consume: Option<bool>,
    #[serde(default)]
    pub begin_time: i64,
    #[serde(default)]
    pub end_time: i64,
}

fn normal() -> String {
    "NORMAL".to_string()
}

/// A lookup that fails: `lookup` is the function name, `arg` (optional) one of its
/// arguments that must match for the failure to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedFailure {
    pub lookup: String,
    #[serde(default)]
    pub arg: Option<String>,
    pub message: String,
    #[serde(default)]
    pub retryable: bool,
}

impl CannedLookups {
    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, CannedError> {
        toml::from_str(text).map_err(|err| CannedError::Parse {
            path: "<text>".to_string(),
            message: err.message().to_string(),
        })
    }

    /// Reads a `.toml` or `.json` file.
    pub fn load(path: &Path) -> Result<Self, CannedError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CannedError::Read {
            path: shown.clone(),
            source,
        })?;
        let parsed = if path.extension().is_some_and(|ext| ext == "json") {
            serde_json::from_str(&text).map_err(|err| err.to_string())
        } else {
            toml::from_str(&text).map_err(|err| err.message().to_string())
        };
        parsed.map_err(|message| CannedError::Parse {
            path: shown,
            message,
        })
    }

    fn failure(&self, lookup: &str, args: &[&str]) -> Result<(), LookupError> {
        let found = self.failures.iter().find(|failure| {
            failure.lookup == lookup && failure.arg.as_deref().is_none_or(|arg| args.contains(&arg))
        });
        match found {
            Some(failure) => Err(LookupError {
                message: failure.message.clone(),
                retryable: failure.retryable,
            }),
            None => Ok(()),
        }
    }
}

impl Lookups for CannedLookups {
    fn user_cards(&self, openid: &str) -> Result<Vec<HeldCard>, LookupError> {
        self.failure("user_cards", &[openid])?;
        let held = self
            .codes
            .iter()
            .filter(|c| c.openid == openid && c.status == "NORMAL");
        Ok(held
            .map(|c| HeldCard {
                card_id: c.card_id.clone(),
                code: c.code.clone(),
            })
            .collect())
    }

    fn card_status(&self, card_id: &str, code: &str) -> Result<CodeState, LookupError> {
        self.failure("card_status", &[card_id, code])?;
        let found = self
            .codes
            .iter()
            .find(|c| c.card_id == card_id && c.code == code);
        let canned = found.ok_or_else(|| {
            LookupError::permanent(format!("invalid serial code {code} of card {card_id}"))
        })?;
        Ok(CodeState {
            status: canned.status.clone(),
            can_consume: canned.can_consume.unwrap_or(canned.status == "NORMAL"),
            openid: canned.openid.clone(),
            begin_time: canned.begin_time,
            end_time: canned.end_time,
        })
    }

    fn card_info(&self, card_id: &str) -> Result<CardSummary, LookupError> {
        self.failure("card_info", &[card_id])?;
        self.cards
            .get(card_id)
            .cloned()
            .ok_or_else(|| LookupError::permanent(format!("invalid card id {card_id}")))
    }

    fn cards_with_status(&self, statuses: &[String]) -> Result<Vec<String>, LookupError> {
        let args: Vec<&str> = statuses.iter().map(String::as_str).collect();
        self.failure("cards_with_status", &args)?;
        let matching = self
            .cards
            .iter()
            .filter(|(_, card)| statuses.contains(&card.status));
        Ok(matching.map(|(card_id, _)| card_id.clone()).collect())
    }

    fn channel_stats(
        &self,
        card_id: &str,
        channel: &str,
        _days: u64,
    ) -> Result<ChannelStats, LookupError> {
        self.failure("stats_channel", &[card_id, channel])?;
        let found = self
            .stats
            .iter()
            .find(|stats| stats.card_id == card_id && stats.channel == channel);
        Ok(found.map(|stats| stats.counts.clone()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = r#"
        [[codes]]
        card_id = "pCash20"
        code = "110201201245"
        openid = "oAlice"
        end_time = 1735660799

        [[codes]]
        card_id = "pCash20"
        code = "110201201246"
        openid = "oAlice"
        status = "CONSUMED"

        [cards.pCash20]
        card_type = "CASH"
        title = "20 yuan off"
        brand_name = "Lotus Tea"
        status = "CARD_STATUS_VERIFY_OK"
        reduce_cost = 2000

        [[failures]]
        lookup = "card_info"
        arg = "pBroken"
        message = "system busy"
        retryable = true

        [[stats]]
        card_id = "pCash20"
        channel = "store_a"
        counts = { received = 12, redeemed = 3, redeem_secs_avg = 7200 }
    "#;

    #[test]
    fn a_users_cards_are_their_normal_codes() {
        let canned = CannedLookups::from_toml(DATA).unwrap();

        let cards = canned.user_cards("oAlice").unwrap();

        assert_eq!(cards.len(), 1);
        assert_eq!(cards[0].code, "110201201245");
    }

    #[test]
    fn a_code_state_defaults_can_consume_from_its_status() {
        let canned = CannedLookups::from_toml(DATA).unwrap();

        let consumed = canned.card_status("pCash20", "110201201246").unwrap();
        let unknown = canned.card_status("pCash20", "999").unwrap_err();

        assert!(!consumed.can_consume);
        assert!(!unknown.retryable);
    }

    #[test]
    fn a_canned_failure_applies_to_its_argument_only() {
        let canned = CannedLookups::from_toml(DATA).unwrap();

        let err = canned.card_info("pBroken").unwrap_err();
        let ok = canned.card_info("pCash20").unwrap();

        assert!(err.retryable);
        assert_eq!(ok.extra["reduce_cost"], 2000);
        assert_eq!(
            canned
                .cards_with_status(&["CARD_STATUS_VERIFY_OK".to_string()])
                .unwrap(),
            vec!["pCash20".to_string()]
        );
    }

    #[test]
    fn canned_stats_answer_their_channel_and_zeros_elsewhere() {
        let canned = CannedLookups::from_toml(DATA).unwrap();

        let listed = canned.channel_stats("pCash20", "store_a", 7).unwrap();
        let unlisted = canned.channel_stats("pCash20", "store_b", 7).unwrap();

        assert_eq!(listed.received, 12);
        assert_eq!(listed.redeem_secs_avg, Some(7200));
        assert_eq!(unlisted, ChannelStats::default());
    }

    #[test]
    fn an_unknown_key_in_canned_data_is_refused() {
        let err = CannedLookups::from_toml("[[codes]]\ncard = \"x\"\n").unwrap_err();

        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
