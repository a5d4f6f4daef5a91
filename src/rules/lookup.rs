//! The questions a rule may ask about cards, behind a small trait, and the short cache
//! shared across events. Answers are plain serde types so any backend can provide them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rhai::Dynamic;
use serde::{Deserialize, Serialize};

pub use crate::stats::ChannelStats;

/// Cached answers beyond this many are pruned, so a flood of users cannot grow the cache.
const MAX_CACHED_ANSWERS: usize = 10_000;

/// One card in a user's card bag (`card/user/getcardlist`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldCard {
    pub card_id: String,
    pub code: String,
}

/// The state of one code (`card/code/get` with `check_consume: false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeState {
    /// `NORMAL`, `CONSUMED`, `EXPIRE`, `GIFTING`, `GIFT_TIMEOUT`, `DELETE`, `UNAVAILABLE`.
    pub status: String,
    pub can_consume: bool,
    pub openid: String,
    /// Validity window of this code, unix seconds.
    pub begin_time: i64,
    pub end_time: i64,
}

/// The summary of a card template (`card/get`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CardSummary {
    /// `GROUPON`, `CASH`, `DISCOUNT`, `GIFT`, `GENERAL_COUPON`, `MEMBER_CARD`, ...
    pub card_type: String,
    pub title: String,
    pub brand_name: String,
    /// `CARD_STATUS_VERIFY_OK`, `CARD_STATUS_DELETE`, ...
    pub status: String,
    /// Start of a fixed validity range (`DATE_TYPE_FIX_TIME_RANGE`), unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_time: Option<i64>,
    /// End of a fixed validity range, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    /// Days of validity after claiming (`DATE_TYPE_FIX_TERM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_term_days: Option<i64>,
    /// Whatever else the card carries (`sub_title`, `reduce_cost`, ...), by name.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Why a lookup failed; `retryable` says whether asking again later may succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct LookupError {
    pub message: String,
    pub retryable: bool,
}

impl LookupError {
    /// A failure that will not go away by asking again (an unknown card, a bad code).
    pub fn permanent(message: impl Into<String>) -> Self {
        LookupError {
            message: message.into(),
            retryable: false,
        }
    }

    /// A passing failure (timeout, WeChat busy): the event should be tried again later.
    pub fn retryable(message: impl Into<String>) -> Self {
        LookupError {
            message: message.into(),
            retryable: true,
        }
    }
}

/// Where rules get card facts from: the WeChat API, a local store of held cards, or
/// canned data in tests. Methods block; the caller runs rules off the async runtime.
pub trait Lookups: Send + Sync {
    /// The cards in a user's card bag.
    fn user_cards(&self, openid: &str) -> Result<Vec<HeldCard>, LookupError>;
    /// The state of one code.
    fn card_status(&self, card_id: &str, code: &str) -> Result<CodeState, LookupError>;
    /// The summary of one card template.
    fn card_info(&self, card_id: &str) -> Result<CardSummary, LookupError>;
    /// The ids of the merchant's cards whose status is one of `statuses`.
    fn cards_with_status(&self, statuses: &[String]) -> Result<Vec<String>, LookupError>;
    /// The statistics of one channel of one card over the last `days` local days.
    fn channel_stats(
        &self,
        card_id: &str,
        channel: &str,
        days: u64,
    ) -> Result<ChannelStats, LookupError>;
}

/// One question asked of [`Lookups`], used as the memo and cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum LookupKey {
    UserCards(String),
    CardStatus(String, String),
    CardInfo(String),
    CardsWithStatus(Vec<String>),
    ChannelStats(String, String, u64),
}

impl LookupKey {
    /// The rule-facing function name.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            LookupKey::UserCards(_) => "user_cards",
            LookupKey::CardStatus(..) => "card_status",
            LookupKey::CardInfo(_) => "card_info",
            LookupKey::CardsWithStatus(_) => "cards_with_status",
            LookupKey::ChannelStats(..) => "stats_channel",
        }
    }

    /// The arguments, for the decision log.
    pub(crate) fn args(&self) -> Vec<String> {
        match self {
            LookupKey::UserCards(openid) => vec![openid.clone()],
            LookupKey::CardStatus(card_id, code) => vec![card_id.clone(), code.clone()],
            LookupKey::CardInfo(card_id) => vec![card_id.clone()],
            LookupKey::CardsWithStatus(statuses) => statuses.clone(),
            LookupKey::ChannelStats(card_id, channel, days) => {
                vec![card_id.clone(), channel.clone(), days.to_string()]
            }
        }
    }

    /// Asks `lookups` the question and turns the typed answer into a Rhai value.
    pub(crate) fn ask(&self, lookups: &dyn Lookups) -> Result<Dynamic, LookupError> {
        use super::value::to_dynamic;
        match self {
            LookupKey::UserCards(openid) => lookups.user_cards(openid).map(|v| to_dynamic(&v)),
            LookupKey::CardStatus(card_id, code) => {
                lookups.card_status(card_id, code).map(|v| to_dynamic(&v))
            }
            LookupKey::CardInfo(card_id) => lookups.card_info(card_id).map(|v| to_dynamic(&v)),
            LookupKey::CardsWithStatus(statuses) => {
                lookups.cards_with_status(statuses).map(|v| to_dynamic(&v))
            }
            LookupKey::ChannelStats(card_id, channel, days) => lookups
                .channel_stats(card_id, channel, *days)
                .map(|v| to_dynamic(&v)),
        }
    }
}

/// Where a lookup's answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupSource {
    /// Asked of [`Lookups`] just now.
    Fetched,
    /// Already asked earlier in the same event.
    Event,
    /// Answered by the cache shared across events.
    Shared,
}

/// One lookup a rule made, kept in the decision for the log and for simulations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupRecord {
    pub rule: String,
    pub name: String,
    pub args: Vec<String>,
    pub source: LookupSource,
    /// `None` when the lookup succeeded.
    pub error: Option<LookupError>,
}

/// Successful answers shared across events for `ttl`; failures are never shared.
pub(crate) struct LookupCache {
    ttl: Duration,
    entries: Mutex<HashMap<LookupKey, (Instant, Dynamic)>>,
}

impl LookupCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        LookupCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, key: &LookupKey) -> Option<Dynamic> {
        let entries = self.entries.lock().ok()?;
        let (stored_at, value) = entries.get(key)?;
        (stored_at.elapsed() < self.ttl).then(|| value.clone())
    }

    pub(crate) fn put(&self, key: LookupKey, value: Dynamic) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_CACHED_ANSWERS {
            let ttl = self.ttl;
            entries.retain(|_, (stored_at, _)| stored_at.elapsed() < ttl);
            if entries.len() >= MAX_CACHED_ANSWERS {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }
}

impl std::fmt::Debug for LookupCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupCache")
            .field("ttl", &self.ttl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_answer_is_served_until_it_expires() {
        let cache = LookupCache::new(Duration::from_secs(60));
        let key = LookupKey::CardInfo("pCard".to_string());

        cache.put(key.clone(), Dynamic::from_int(1));

        assert_eq!(cache.get(&key).unwrap().as_int().unwrap(), 1);
        assert!(cache
            .get(&LookupKey::CardInfo("other".to_string()))
            .is_none());
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = LookupCache::new(Duration::ZERO);
        let key = LookupKey::UserCards("oUser".to_string());

        cache.put(key.clone(), Dynamic::from_int(1));

        assert!(cache.get(&key).is_none());
    }

    #[test]
    fn card_summary_keeps_unknown_fields() {
        let json = r#"{"card_type":"CASH","title":"¥20","brand_name":"b",
            "status":"CARD_STATUS_VERIFY_OK","reduce_cost":2000}"#;

        let card: CardSummary = serde_json::from_str(json).unwrap();

        assert_eq!(card.extra["reduce_cost"], 2000);
    }
}
