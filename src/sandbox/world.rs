//! The sandbox's account: users, card templates and codes, changed by the events
//! cardbot accepts and answering the card queries as WeChat does (PROTOCOL §3.2-3.6).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::seed::{Seed, SeedCard, SeedValidity};
use super::Failure;
use crate::wechat::event::Event;

/// Validity given to codes of permanent cards: twenty years.
const PERMANENT_SECS: i64 = 20 * 365 * 86_400;

/// Where WeChat serves the image of a QR ticket.
const SHOW_QRCODE_URL: &str = "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=";

/// A user of the account.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) nickname: String,
    pub(crate) following: bool,
}

/// A code in a user's card bag.
#[derive(Debug, Clone)]
pub(crate) struct Code {
    pub(crate) card_id: String,
    pub(crate) openid: String,
    pub(crate) status: String,
    pub(crate) begin_time: i64,
    pub(crate) end_time: i64,
    pub(crate) outer_str: String,
}

/// The whole account.
#[derive(Debug, Default)]
pub(crate) struct World {
    pub(crate) users: BTreeMap<String, User>,
    pub(crate) cards: BTreeMap<String, SeedCard>,
    pub(crate) codes: BTreeMap<String, Code>,
}

impl World {
    /// The account as the seed describes it, codes without times taking their card's.
    pub(crate) fn from_seed(seed: Seed, now: i64) -> World {
        let mut world = World::default();
        for user in seed.users {
            let nickname = user.nickname;
            let following = user.following;
            world.users.insert(
                user.openid,
                User {
                    nickname,
                    following,
                },
            );
        }
        for card in seed.cards {
            world.cards.insert(card.card_id.clone(), card);
        }
        for code in seed.codes {
            let (begin, end) = world.card_times(&code.card_id, now);
            let entry = Code {
                card_id: code.card_id,
                openid: code.openid,
                status: code.status,
                begin_time: if code.begin_time == 0 {
                    begin
                } else {
                    code.begin_time
                },
                end_time: if code.end_time == 0 {
                    end
                } else {
                    code.end_time
                },
                outer_str: code.outer_str,
            };
            world.codes.insert(code.code, entry);
        }
        world
    }

    /// The nickname of `openid`, or the openid itself for a stranger.
    pub(crate) fn nickname(&self, openid: &str) -> String {
        self.users
            .get(openid)
            .map(|user| user.nickname.clone())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| openid.to_string())
    }

    /// The card's title, or its id when unknown.
    pub(crate) fn card_title(&self, card_id: &str) -> String {
        self.cards
            .get(card_id)
            .map_or_else(|| card_id.to_string(), |card| card.title.clone())
    }

    /// Whether a message may go to `openid`: 40003 for a stranger, 43004 for a user
    /// who does not follow.
    pub(crate) fn check_recipient(&self, openid: &str) -> Result<(), Failure> {
        match self.users.get(openid) {
            None => Err(Failure::new(40003, "invalid openid")),
            Some(user) if !user.following => Err(Failure::new(43004, "require subscribe")),
            Some(_) => Ok(()),
        }
    }

    /// Applies what an accepted event changes: follows, claims, gifts, deletions and
    /// redemptions.
    pub(crate) fn observe(&mut self, event: &Event, now: i64) {
        let openid = event.openid.clone();
        match event.kind.as_str() {
            "subscribe" => {
                let user = self.users.entry(openid).or_insert_with(|| User {
                    nickname: String::new(),
                    following: true,
                });
                user.following = true;
            }
            "unsubscribe" => {
                if let Some(user) = self.users.get_mut(&openid) {
                    user.following = false;
                }
            }
            "user_get_card" => self.claim(event, now),
            "user_gifting_card" => {
                let back = event.is_return_back == Some(true);
                self.set_status(event, if back { "NORMAL" } else { "GIFTING" });
            }
            "user_del_card" => self.set_status(event, "DELETE"),
            "user_consume_card" => self.set_status(event, "CONSUMED"),
            _ => {}
        }
    }

    fn claim(&mut self, event: &Event, now: i64) {
        let (Some(card_id), Some(code)) = (&event.card_id, &event.code) else {
            return;
        };
        self.users
            .entry(event.openid.clone())
            .or_insert_with(|| User {
                nickname: String::new(),
                following: true,
            });
        // After a friend's gift WeChat re-issues the code; the old one is gone (40056).
        if let Some(old) = &event.old_code {
            self.codes.remove(old);
        }

        let (begin_time, end_time) = self.card_times(card_id, now);
        let entry = Code {
            card_id: card_id.clone(),
            openid: event.openid.clone(),
            status: "NORMAL".to_string(),
            begin_time,
            end_time,
            outer_str: event.outer_str.clone().unwrap_or_default(),
        };
        self.codes.insert(code.clone(), entry);
    }

    fn set_status(&mut self, event: &Event, status: &str) {
        let Some(code) = event
            .code
            .as_ref()
            .and_then(|code| self.codes.get_mut(code))
        else {
            tracing::debug!(event = %event.kind, "sandbox saw an event for an unknown code");
            return;
        };
        code.status = status.to_string();
    }

    /// The validity a code of `card_id` claimed at `now` gets.
    fn card_times(&self, card_id: &str, now: i64) -> (i64, i64) {
        match self.cards.get(card_id).map(|card| &card.validity) {
            Some(SeedValidity::Range { begin, end }) => (*begin, *end),
            Some(SeedValidity::Term { days }) => (now, now + days * 86_400),
            _ => (now, now + PERMANENT_SECS),
        }
    }

    /// The code's status as WeChat reports it at `now`: a normal code past its end is
    /// expired.
    fn effective_status(code: &Code, now: i64) -> &str {
        if code.status == "NORMAL" && now > code.end_time {
            "EXPIRE"
        } else {
            &code.status
        }
    }

    /// `card/user/getcardlist`: the codes in the user's card bag.
    pub(crate) fn user_cards(&self, body: &Value) -> Result<Value, Failure> {
        let openid = required_str(body, "openid")?;
        if !self.users.contains_key(openid) {
            return Err(Failure::new(40003, "invalid openid"));
        }
        let card_filter = body.get("card_id").and_then(Value::as_str);

        let card_list: Vec<Value> = self
            .codes
            .iter()
            .filter(|(_, code)| code.openid == openid)
            .filter(|(_, code)| card_filter.is_none_or(|card_id| code.card_id == card_id))
            .filter(|(_, code)| !matches!(code.status.as_str(), "DELETE" | "CONSUMED"))
            .map(|(code, entry)| json!({ "card_id": entry.card_id, "code": code }))
            .collect();
        Ok(
            json!({ "errcode": 0, "errmsg": "ok", "card_list": card_list,
                   "has_share_card": false }),
        )
    }

    /// `card/code/get`: the status with `check_consume: false`, an error for a code
    /// that cannot be redeemed otherwise (WeChat's default).
    pub(crate) fn code_status(&self, body: &Value, now: i64) -> Result<Value, Failure> {
        let (code_id, code) = self.find_code(body)?;
        let status = World::effective_status(code, now);
        let check_consume = body.get("check_consume").and_then(Value::as_bool) != Some(false);
        if check_consume {
            redeemable(status)?;
        }

        let can_consume = status == "NORMAL" && now >= code.begin_time;
        tracing::debug!(code = code_id, status, "sandbox code/get");
        Ok(json!({
            "errcode": 0, "errmsg": "ok",
            "card": { "card_id": code.card_id, "begin_time": code.begin_time,
                      "end_time": code.end_time },
            "openid": code.openid,
            "can_consume": can_consume,
            "outer_str": code.outer_str,
            "user_card_status": status,
        }))
    }

    /// `card/code/consume`: redeems a code, refusing one that is not redeemable.
    pub(crate) fn consume(&mut self, body: &Value, now: i64) -> Result<Value, Failure> {
        let (code_id, code) = self.find_code(body)?;
        let status = World::effective_status(code, now);
        redeemable(status)?;
        if self
            .cards
            .get(&code.card_id)
            .is_some_and(|card| card.card_type == "MEMBER_CARD")
        {
            return Err(Failure::new(40071, "invalid card type"));
        }

        let answer = json!({ "errcode": 0, "errmsg": "ok",
                             "card": { "card_id": code.card_id }, "openid": code.openid });
        let code_id = code_id.to_string();
        if let Some(code) = self.codes.get_mut(&code_id) {
            code.status = "CONSUMED".to_string();
        }
        tracing::info!(code = %code_id, "sandbox consumed a code");
        Ok(answer)
    }

    fn find_code(&self, body: &Value) -> Result<(&str, &Code), Failure> {
        let code_id = required_str(body, "code")?;
        let (code_id, code) = self
            .codes
            .get_key_value(code_id)
            .ok_or_else(|| Failure::new(40056, "invalid serial code"))?;
        if let Some(card_id) = body.get("card_id").and_then(Value::as_str) {
            if !card_id.is_empty() && card_id != code.card_id {
                return Err(Failure::new(40056, "invalid serial code"));
            }
        }
        Ok((code_id.as_str(), code))
    }

    /// `card/batchget`: one page of card ids, filtered by `status_list`.
    pub(crate) fn card_ids(&self, body: &Value) -> Result<Value, Failure> {
        let offset = body.get("offset").and_then(Value::as_u64);
        let count = body.get("count").and_then(Value::as_u64);
        let (Some(offset), Some(count)) = (offset, count) else {
            return Err(Failure::new(41011, "missing offset or count"));
        };
        if !(1..=50).contains(&count) {
            return Err(Failure::new(40009, "invalid count, must be 1 to 50"));
        }
        let statuses: Vec<&str> = match body.get("status_list") {
            None => Vec::new(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(_) => return Err(Failure::new(47001, "data format error: status_list")),
        };

        let matching: Vec<&String> = self
            .cards
            .values()
            .filter(|card| statuses.is_empty() || statuses.contains(&card.status.as_str()))
            .map(|card| &card.card_id)
            .collect();
        let page: Vec<&String> = matching
            .iter()
            .skip(offset as usize)
            .take(count as usize)
            .copied()
            .collect();
        Ok(json!({ "errcode": 0, "errmsg": "ok", "card_id_list": page,
                   "total_num": matching.len() }))
    }

    /// `card/get`: the template, under the key of its lower-case type.
    pub(crate) fn card(&self, body: &Value) -> Result<Value, Failure> {
        let card_id = required_str(body, "card_id")?;
        let card = self
            .cards
            .get(card_id)
            .ok_or_else(|| Failure::new(40073, "invalid card id"))?;

        let date_info = match card.validity {
            SeedValidity::Range { begin, end } => json!({
                "type": "DATE_TYPE_FIX_TIME_RANGE", "begin_timestamp": begin,
                "end_timestamp": end }),
            SeedValidity::Term { days } => json!({
                "type": "DATE_TYPE_FIX_TERM", "fixed_term": days, "fixed_begin_term": 0 }),
            SeedValidity::Permanent => json!({ "type": "DATE_TYPE_PERMANENT" }),
        };
        let mut typed = Map::new();
        typed.insert(
            "base_info".to_string(),
            json!({
                "id": card.card_id, "title": card.title, "brand_name": card.brand_name,
                "status": card.status, "date_info": date_info, "color": "#63b359",
                "code_type": "CODE_TYPE_QRCODE", "use_custom_code": card.use_custom_code,
                "sku": { "quantity": 1000, "total_quantity": 1000 },
            }),
        );
        for (key, value) in &card.details {
            if let Ok(value) = serde_json::to_value(value) {
                typed.insert(key.clone(), value);
            }
        }
        let key = card.card_type.to_ascii_lowercase();
        Ok(json!({ "errcode": 0, "errmsg": "ok",
                   "card": { "card_type": card.card_type, key: Value::Object(typed) } }))
    }

    /// `card/qrcode/create`: a ticket for known cards.
    pub(crate) fn qrcode(&self, body: &Value, ticket: &str) -> Result<Value, Failure> {
        let info = body.get("action_info");
        let cards: Vec<&Value> = match body.get("action_name").and_then(Value::as_str) {
            Some("QR_CARD") => info.and_then(|info| info.get("card")).into_iter().collect(),
            Some("QR_MULTIPLE_CARD") => info
                .and_then(|info| info.pointer("/multiple_card/card_list"))
                .and_then(Value::as_array)
                .map(|list| list.iter().collect())
                .unwrap_or_default(),
            _ => return Err(Failure::new(40053, "invalid action_info")),
        };
        if cards.is_empty() {
            return Err(Failure::new(40053, "invalid action_info"));
        }
        for card in cards {
            let card_id = card.get("card_id").and_then(Value::as_str).unwrap_or("");
            if !self.cards.contains_key(card_id) {
                return Err(Failure::new(40073, "invalid card id"));
            }
        }
        let expire_seconds = body.get("expire_seconds").and_then(Value::as_u64);
        if expire_seconds.is_some_and(|secs| !(60..=1800).contains(&secs)) {
            return Err(Failure::new(40053, "invalid action_info: expire_seconds"));
        }

        Ok(json!({
            "errcode": 0, "errmsg": "ok", "ticket": ticket,
            "expire_seconds": expire_seconds.unwrap_or(365 * 86_400),
            "url": format!("http://weixin.qq.com/q/{ticket}"),
            "show_qrcode_url": format!("{SHOW_QRCODE_URL}{ticket}"),
        }))
    }
}

/// What `check_consume: true` and `code/consume` answer for a code in `status`.
fn redeemable(status: &str) -> Result<(), Failure> {
    match status {
        "NORMAL" => Ok(()),
        "CONSUMED" => Err(Failure::new(40099, "invalid code, this code has consumed.")),
        "EXPIRE" => Err(Failure::new(40079, "invalid time, the code has expired")),
        _ => Err(Failure::new(
            40127,
            "invalid user-card status! Hint: the card was given to user, but may be \
             deleted or set unavailable !",
        )),
    }
}

/// A required string field of a request body: 41011 when missing or empty.
pub(crate) fn required_str<'a>(body: &'a Value, field: &str) -> Result<&'a str, Failure> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| Failure::new(41011, format!("missing required field {field}")))
}
