//! The seed file: the users, cards and codes the sandbox starts from, read from TOML
//! and checked so that every code names a known card and user.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use super::SandboxError;

/// Everything the sandbox knows at start.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub cards: Vec<SeedCard>,
    #[serde(default)]
    pub codes: Vec<SeedCode>,
}

/// A user of the account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub openid: String,
    /// Shown in the sandbox's delivery lines.
    #[serde(default)]
    pub nickname: String,
    /// Whether the user follows the account; messages to others fail with 43004.
    #[serde(default = "yes")]
    pub following: bool,
}

/// A card template of the merchant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedCard {
    pub card_id: String,
    /// `GROUPON`, `CASH`, `DISCOUNT`, `GIFT`, `GENERAL_COUPON` or `MEMBER_CARD`.
    pub card_type: String,
    pub title: String,
    pub brand_name: String,
    /// The review state, `CARD_STATUS_VERIFY_OK` unless said otherwise.
    #[serde(default = "verified")]
    pub status: String,
    #[serde(default)]
    pub validity: SeedValidity,
    /// Codes chosen by the merchant: such cards cannot go out as `wxcard` messages.
    #[serde(default)]
    pub use_custom_code: bool,
    /// Type-specific fields merged into the card's JSON (`reduce_cost`, `gift`, ...).
    #[serde(default)]
    pub details: toml::Table,
}

/// How long a card's codes are valid, as `card/get`'s `date_info` says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SeedValidity {
    /// Valid between two unix times.
    Range { begin: i64, end: i64 },
    /// Valid for `days` from the claim.
    Term { days: i64 },
    /// Never expires, as member cards.
    #[default]
    Permanent,
}

/// A code in a user's card bag.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedCode {
    pub code: String,
    pub card_id: String,
    pub openid: String,
    /// `NORMAL`, `CONSUMED`, `EXPIRE`, `GIFTING`, `GIFT_TIMEOUT`, `DELETE` or `UNAVAILABLE`.
    #[serde(default = "normal")]
    pub status: String,
    /// Start of validity, unix seconds; 0 takes the card's.
    #[serde(default)]
    pub begin_time: i64,
    /// End of validity, unix seconds; 0 takes the card's.
    #[serde(default)]
    pub end_time: i64,
    /// The channel the code was claimed through.
    #[serde(default)]
    pub outer_str: String,
}

const CARD_TYPES: &[&str] = &[
    "GROUPON",
    "CASH",
    "DISCOUNT",
    "GIFT",
    "GENERAL_COUPON",
    "MEMBER_CARD",
];

const CODE_STATUSES: &[&str] = &[
    "NORMAL",
    "CONSUMED",
    "EXPIRE",
    "GIFTING",
    "GIFT_TIMEOUT",
    "DELETE",
    "UNAVAILABLE",
];

fn yes() -> bool {
    true
}

fn verified() -> String {
    "CARD_STATUS_VERIFY_OK".to_string()
}

fn normal() -> String {
    "NORMAL".to_string()
}

impl Seed {
    /// Reads and checks the seed file at `path`.
    pub fn load(path: &Path) -> Result<Seed, SandboxError> {
        let text = std::fs::read_to_string(path).map_err(|source| SandboxError::ReadSeed {
            path: path.to_path_buf(),
            source,
        })?;
        Seed::parse(&text).map_err(|message| SandboxError::BadSeed {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and checks seed text; the error names the offending entry.
    pub fn parse(text: &str) -> Result<Seed, String> {
        let seed: Seed = toml::from_str(text).map_err(|err| err.message().to_string())?;
        seed.check()?;
        Ok(seed)
    }

    fn check(&self) -> Result<(), String> {
        let mut openids = BTreeSet::new();
        for user in &self.users {
            if user.openid.trim().is_empty() || !openids.insert(user.openid.as_str()) {
                return Err(format!("users: empty or repeated openid {:?}", user.openid));
            }
        }

        let mut card_ids = BTreeSet::new();
        for card in &self.cards {
            if card.card_id.trim().is_empty() || !card_ids.insert(card.card_id.as_str()) {
                return Err(format!(
                    "cards: empty or repeated card_id {:?}",
                    card.card_id
                ));
            }
            if !CARD_TYPES.contains(&card.card_type.as_str()) {
                return Err(format!(
                    "cards: card {} has card_type {:?}; use one of {}",
                    card.card_id,
                    card.card_type,
                    CARD_TYPES.join(", ")
                ));
            }
        }

        let mut codes = BTreeSet::new();
        for code in &self.codes {
            if code.code.trim().is_empty() || !codes.insert(code.code.as_str()) {
                return Err(format!("codes: empty or repeated code {:?}", code.code));
            }
            if !card_ids.contains(code.card_id.as_str()) {
                return Err(format!(
                    "codes: code {} names card {}, which is not under [[cards]]",
                    code.code, code.card_id
                ));
            }
            if !openids.contains(code.openid.as_str()) {
                return Err(format!(
                    "codes: code {} names user {}, who is not under [[users]]",
                    code.code, code.openid
                ));
            }
            if !CODE_STATUSES.contains(&code.status.as_str()) {
                return Err(format!(
                    "codes: code {} has status {:?}; use one of {}",
                    code.code,
                    code.status,
                    CODE_STATUSES.join(", ")
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_seed_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/sandbox_seed.toml");

        let seed = Seed::load(&path).unwrap();

        assert!(seed.users.len() >= 3 && seed.cards.len() >= 3 && seed.codes.len() >= 5);
    }

    #[test]
    fn a_code_of_an_unknown_card_is_named() {
        let text = "[[users]]\nopenid = \"o1\"\n\
                    [[codes]]\ncode = \"c1\"\ncard_id = \"pX\"\nopenid = \"o1\"\n";

        let err = Seed::parse(text).unwrap_err();

        assert!(err.contains("code c1 names card pX"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let err = Seed::parse("[[users]]\nopenid = \"o1\"\nnick = \"x\"\n").unwrap_err();

        assert!(err.contains("nick"), "{err}");
    }
}
