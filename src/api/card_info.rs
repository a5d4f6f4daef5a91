//! `card/get`: a card template's type, title, brand, status and validity, with the
//! whole JSON kept, cached in memory because templates rarely change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::card::{require, CardStatus};
use super::client::Client;
use super::error::ApiError;
use super::open_enum::open_enum;

const CARD_INFO_ENDPOINT: &str = "card/get";

/// The cache forgets everything past this many cards; a merchant has far fewer.
const CARD_INFO_MAX_ENTRIES: usize = 1024;

open_enum! {
    /// `card_type` of a card template; its lowercase form keys the type's object.
    pub enum CardType {
        Groupon = "GROUPON",
        Cash = "CASH",
        Discount = "DISCOUNT",
        Gift = "GIFT",
        GeneralCoupon = "GENERAL_COUPON",
        MemberCard = "MEMBER_CARD",
        ScenicTicket = "SCENIC_TICKET",
        MovieTicket = "MOVIE_TICKET",
        BoardingPass = "BOARDING_PASS",
        MeetingTicket = "MEETING_TICKET",
        BusTicket = "BUS_TICKET",
    }
}

/// When a card's codes can be used, from `base_info.date_info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Validity {
    /// `DATE_TYPE_FIX_TIME_RANGE` (or the old `1`): between two unix times.
    Range { begin: i64, end: i64 },
    /// `DATE_TYPE_FIX_TERM` (or the old `2`): `days` long, starting
    /// `starts_after_days` after the claim.
    Term { days: i64, starts_after_days: i64 },
    /// `DATE_TYPE_PERMANENT`, for member cards.
    Permanent,
    /// A shape this version does not know, kept as sent.
    Other(Value),
}

/// A card template, from `card/get` (`Managing_Coupons_Vouchers_and_Cards.html#2`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardInfo {
    pub card_id: String,
    pub card_type: CardType,
    pub title: String,
    pub brand_name: String,
    pub status: Option<CardStatus>,
    pub validity: Validity,
    /// The answer's whole `card` object, for any field not modelled here.
    pub raw: Value,
}

#[derive(Deserialize)]
struct CardAnswer {
    card: Value,
}

#[derive(Deserialize)]
struct BaseInfo {
    #[serde(default)]
    title: String,
    #[serde(default)]
    brand_name: String,
    status: Option<CardStatus>,
    #[serde(default)]
    date_info: Value,
}

impl Client {
    /// A card template, from the cache while it is younger than `card_info_ttl_secs`.
    pub async fn card_info(&self, card_id: &str) -> Result<Arc<CardInfo>, ApiError> {
        require(CARD_INFO_ENDPOINT, "card_id", card_id)?;
        if let Some(info) = self.card_info_cache().get(card_id) {
            return Ok(info);
        }

        let answer: CardAnswer = self
            .call(CARD_INFO_ENDPOINT, &json!({ "card_id": card_id }))
            .await?;
        let info = Arc::new(parse_card(card_id, answer.card)?);

        self.card_info_cache().insert(card_id, Arc::clone(&info));
        Ok(info)
    }
}

fn parse_card(card_id: &str, card: Value) -> Result<CardInfo, ApiError> {
    let decode_error = |detail: String| ApiError::Decode {
        endpoint: CARD_INFO_ENDPOINT,
        detail,
    };

    let card_type = card
        .get("card_type")
        .and_then(Value::as_str)
        .map(CardType::from)
        .ok_or_else(|| decode_error("card.card_type is missing".to_string()))?;
    let key = card_type.as_str().to_ascii_lowercase();
    let base_info = card
        .get(&key)
        .and_then(|typed| typed.get("base_info"))
        .ok_or_else(|| decode_error(format!("card.{key}.base_info is missing")))?;
    let base: BaseInfo = serde_json::from_value(base_info.clone())
        .map_err(|err| decode_error(format!("card.{key}.base_info: {err}")))?;

    Ok(CardInfo {
        card_id: card_id.to_string(),
        card_type,
        title: base.title,
        brand_name: base.brand_name,
        status: base.status,
        validity: parse_validity(base.date_info),
        raw: card,
    })
}

/// Reads `date_info`, whose `type` is a name or, in older cards, a number.
fn parse_validity(date_info: Value) -> Validity {
    let int = |field: &str| date_info.get(field).and_then(Value::as_i64);
    let kind = match date_info.get("type") {
        Some(Value::String(name)) => name.as_str(),
        Some(Value::Number(number)) if number.as_i64() == Some(1) => "DATE_TYPE_FIX_TIME_RANGE",
        Some(Value::Number(number)) if number.as_i64() == Some(2) => "DATE_TYPE_FIX_TERM",
        _ => "",
    };

    let known = match kind {
        "DATE_TYPE_FIX_TIME_RANGE" => int("begin_timestamp")
            .zip(int("end_timestamp"))
            .map(|(begin, end)| Validity::Range { begin, end }),
        "DATE_TYPE_FIX_TERM" => int("fixed_term").map(|days| Validity::Term {
            days,
            starts_after_days: int("fixed_begin_term").unwrap_or(0),
        }),
        "DATE_TYPE_PERMANENT" => Some(Validity::Permanent),
        _ => None,
    };
    known.unwrap_or(Validity::Other(date_info))
}

/// Card templates by id, each kept for the configured time.
#[derive(Debug)]
pub(crate) struct CardInfoCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<CardInfo>)>>,
}

impl CardInfoCache {
    /// A cache keeping answers `ttl_secs` seconds; 0 turns it off.
    pub(crate) fn new(ttl_secs: u64) -> Self {
        CardInfoCache {
            ttl: Duration::from_secs(ttl_secs),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, card_id: &str) -> Option<Arc<CardInfo>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (stored_at, info) = entries.get(card_id)?;
        (stored_at.elapsed() < self.ttl).then(|| Arc::clone(info))
    }

    fn insert(&self, card_id: &str, info: Arc<CardInfo>) {
        if self.ttl.is_zero() {
            return;
        }

        // A whole entry is written under the lock, so a poisoned map is still sound.
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CARD_INFO_MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (stored_at, _)| stored_at.elapsed() < ttl);
        }
        if entries.len() >= CARD_INFO_MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(card_id.to_string(), (Instant::now(), info));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_is_read_from_names_and_old_numbers() {
        let range = json!({"type": 1, "begin_timestamp": 10, "end_timestamp": 20});
        let term = json!({"type": "DATE_TYPE_FIX_TERM", "fixed_term": 90});
        let odd = json!({"type": "DATE_TYPE_SOMETHING_NEW"});

        assert_eq!(
            parse_validity(range),
            Validity::Range { begin: 10, end: 20 }
        );
        assert_eq!(
            parse_validity(term),
            Validity::Term {
                days: 90,
                starts_after_days: 0
            }
        );
        assert_eq!(parse_validity(odd.clone()), Validity::Other(odd));
    }
}
