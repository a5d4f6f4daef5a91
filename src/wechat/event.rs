//! WeChat's pushed XML turned into a typed [`Event`]: every card event, menu and
//! subscription events and text messages, with the raw elements kept alongside.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::xml::{self, XmlError};

/// One message or event pushed by WeChat, after decryption.
///
/// Every field WeChat documents for card events has a typed slot; the raw element map
/// in [`Event::fields`] keeps everything else, so an element WeChat adds tomorrow is
/// usable in a rule the same day. Values are trimmed and an empty value is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Event {
    /// WeChat's `Event` value in lower case for events (`user_get_card`, `subscribe`,
    /// `scan`), or the `MsgType` for messages (`text`, `image`).
    pub kind: String,
    /// `MsgType` as sent (`event`, `text`, ...).
    pub msg_type: String,
    /// `ToUserName`: the account's original id (`gh_...`).
    pub account: String,
    /// `FromUserName`: the user's OpenID.
    pub openid: String,
    /// `CreateTime`, unix seconds.
    pub create_time: i64,
    /// `MsgId`, present on ordinary messages only.
    pub msg_id: Option<String>,
    /// `CardId`.
    pub card_id: Option<String>,
    /// `UserCardCode`.
    pub code: Option<String>,
    /// `OldUserCardCode`: the code before a friend's gift re-issued it.
    pub old_code: Option<String>,
    /// `OuterId`: the legacy integer channel value set at distribution.
    pub outer_id: Option<i64>,
    /// `OuterStr`: the string channel value set at distribution or redemption.
    pub outer_str: Option<String>,
    /// `IsGiveByFriend`.
    pub is_give_by_friend: Option<bool>,
    /// `FriendUserName`: the giver (on receipt) or the receiver (on gifting).
    pub friend_openid: Option<String>,
    /// `IsRestoreMemberCard`.
    pub is_restore_member_card: Option<bool>,
    /// `UnionId`.
    pub unionid: Option<String>,
    /// `ConsumeSource`: an open set (`FROM_API`, `FROM_MP`, `FROM_MOBILE_HELPER`, ...).
    pub consume_source: Option<String>,
    /// `LocationName`.
    pub location_name: Option<String>,
    /// `LocationId`.
    pub location_id: Option<i64>,
    /// `StaffOpenId`: the staff member who redeemed the code.
    pub staff_openid: Option<String>,
    /// `VerifyCode`.
    pub verify_code: Option<String>,
    /// `RemarkAmount`.
    pub remark_amount: Option<String>,
    /// `RefuseReason`, on `card_not_pass_check`.
    pub refuse_reason: Option<String>,
    /// `Content`, on text messages.
    pub content: Option<String>,
    /// `EventKey`, on menu, subscribe and scan events.
    pub event_key: Option<String>,
    /// `Ticket`: the QR code ticket, on subscribe-by-QR and scan events.
    pub ticket: Option<String>,
    /// `IsReturnBack`, on `user_gifting_card`: the gift came back to the giver.
    pub is_return_back: Option<bool>,
    /// `IsChatRoom`, on `user_gifting_card`: the card was gifted in a group chat.
    pub is_chat_room: Option<bool>,
    /// `IsRecommendByFriend`, on `user_get_card`.
    pub is_recommend_by_friend: Option<bool>,
    /// `Fee`, on `user_pay_from_pay_cell`: the amount paid, in fen.
    pub fee: Option<i64>,
    /// `OriginalFee`, on `user_pay_from_pay_cell`: the amount due before discount, in fen.
    pub original_fee: Option<i64>,
    /// `TransId`: the WeChat Pay transaction id of a pay-cell payment.
    pub trans_id: Option<String>,
    /// `ModifyBonus`, on `update_member_card`: change in points, may be negative.
    pub modify_bonus: Option<i64>,
    /// `ModifyBalance`, on `update_member_card`: change in balance.
    pub modify_balance: Option<i64>,
    /// `Detail`, on `card_sku_remind`.
    pub detail: Option<String>,
    /// Every element under `<xml>` by name, trimmed, empty ones included as "", nested
    /// ones by dotted path (see [`xml::parse_children`]).
    pub fields: BTreeMap<String, String>,
}

/// How a push bears on WeChat's customer-service window (PROTOCOL §3.8): what the user
/// did decides how many messages the account may send, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowOpening {
    /// The user sent a message: the long window (5 messages in 48 hours today).
    Message,
    /// A menu click, a follow or a parameter QR scan: the short window (3 in a minute).
    Interaction,
    /// The user's own card event, which WeChat does not list as opening a window.
    UserCardEvent,
}

/// Menu clicks of these types, follows and parameter QR scans open the short window.
const INTERACTION_KINDS: &[&str] = &[
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "subscribe",
    "scan",
];

/// Card events that follow the user's own action in the card bag. Merchant-side events
/// (reviews, stock alarms, point changes) never bear on a window.
const USER_CARD_KINDS: &[&str] = &[
    "user_get_card",
    "user_gifting_card",
    "user_del_card",
    "user_consume_card",
    "user_pay_from_pay_cell",
    "user_view_card",
    "user_enter_session_from_card",
    "submit_membercard_user_info",
];

impl Event {
    /// What this push does to the user's customer-service window, if anything.
    pub fn window_opening(&self) -> Option<WindowOpening> {
        if self.openid.is_empty() {
            return None;
        }
        let kind = self.kind.as_str();
        if self.is_message() {
            Some(WindowOpening::Message)
        } else if INTERACTION_KINDS.contains(&kind) {
            Some(WindowOpening::Interaction)
        } else if USER_CARD_KINDS.contains(&kind) {
            Some(WindowOpening::UserCardEvent)
        } else {
            None
        }
    }
}

/// The 13 card events of WeChat's card event page, by `kind`.
pub const CARD_EVENT_KINDS: &[&str] = &[
    "card_pass_check",
    "card_not_pass_check",
    "user_get_card",
    "user_gifting_card",
    "user_del_card",
    "user_consume_card",
    "user_pay_from_pay_cell",
    "user_view_card",
    "user_enter_session_from_card",
    "update_member_card",
    "card_sku_remind",
    "card_pay_order",
    "submit_membercard_user_info",
];

/// The other kinds with documented fields: following, menus and text messages.
pub const COMMON_KINDS: &[&str] = &["subscribe", "unsubscribe", "scan", "click", "view", "text"];

/// Joins the parts of an event's dedup key; escaped inside the parts, so never ambiguous.
const KEY_SEPARATOR: char = '\u{1f}';

impl Event {
    /// Parses a decrypted push: [`xml::parse_children`], then [`Event::from_fields`].
    pub fn parse(xml: &[u8]) -> Result<Event, XmlError> {
        Event::from_fields(xml::parse_children(xml)?)
    }

    /// Types the elements of a push, keeping all of them in [`Event::fields`].
    ///
    /// `FromUserName` and `MsgType` are required, and `Event` when `MsgType` is
    /// `event`. A missing or unparsable `CreateTime` becomes 0: the push is still worth
    /// handling, only its dedup key is weaker. Numbers and flags that do not parse are
    /// `None` while their text stays in `fields`. Unknown elements are never an error.
    pub fn from_fields(mut fields: BTreeMap<String, String>) -> Result<Event, XmlError> {
        trim_values(&mut fields);

        let openid = required(&fields, "FromUserName")?;
        let msg_type = required(&fields, "MsgType")?;
        let kind = if msg_type.eq_ignore_ascii_case("event") {
            required(&fields, "Event")?.to_ascii_lowercase()
        } else {
            msg_type.to_ascii_lowercase()
        };

        let f = &fields;
        Ok(Event {
            kind,
            msg_type,
            account: text(f, "ToUserName").unwrap_or_default(),
            openid,
            create_time: number(f, "CreateTime").unwrap_or(0),
            msg_id: text(f, "MsgId"),
            card_id: text(f, "CardId"),
            code: text(f, "UserCardCode"),
            old_code: text(f, "OldUserCardCode"),
            outer_id: number(f, "OuterId"),
            outer_str: text(f, "OuterStr"),
            is_give_by_friend: flag(f, "IsGiveByFriend"),
            friend_openid: text(f, "FriendUserName"),
            is_restore_member_card: flag(f, "IsRestoreMemberCard"),
            unionid: text(f, "UnionId"),
            consume_source: text(f, "ConsumeSource"),
            location_name: text(f, "LocationName"),
            location_id: number(f, "LocationId"),
            staff_openid: text(f, "StaffOpenId"),
            verify_code: text(f, "VerifyCode"),
            remark_amount: text(f, "RemarkAmount"),
            refuse_reason: text(f, "RefuseReason"),
            content: text(f, "Content"),
            event_key: text(f, "EventKey"),
            ticket: text(f, "Ticket"),
            is_return_back: flag(f, "IsReturnBack"),
            is_chat_room: flag(f, "IsChatRoom"),
            is_recommend_by_friend: flag(f, "IsRecommendByFriend"),
            fee: number(f, "Fee"),
            original_fee: number(f, "OriginalFee"),
            trans_id: text(f, "TransId"),
            modify_bonus: number(f, "ModifyBonus"),
            modify_balance: number(f, "ModifyBalance"),
            detail: text(f, "Detail"),
            fields,
        })
    }

    /// The key under which WeChat's retries of this push are recognised.
    ///
    /// Messages are keyed by `MsgId`, as WeChat documents. Events add the event, card
    /// and code to WeChat's documented sender and time, because one user can receive
    /// several cards within one second.
    pub fn dedup_key(&self) -> String {
        if let Some(msg_id) = &self.msg_id {
            return format!("msg:{msg_id}");
        }

        let create_time = self.create_time.to_string();
        let parts = [
            self.openid.as_str(),
            create_time.as_str(),
            self.kind.as_str(),
            self.card_id.as_deref().unwrap_or_default(),
            self.code.as_deref().unwrap_or_default(),
        ];

        let mut key = String::from("evt:");
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                key.push(KEY_SEPARATOR);
            }
            push_escaped(&mut key, part);
        }
        key
    }

    /// Whether this is a user's message (`text`, `image`, ...) rather than an event.
    pub fn is_message(&self) -> bool {
        !self.msg_type.eq_ignore_ascii_case("event")
    }

    /// Whether this is one of the [`CARD_EVENT_KINDS`].
    pub fn is_card_event(&self) -> bool {
        !self.is_message() && CARD_EVENT_KINDS.contains(&self.kind.as_str())
    }

    /// Every kind with documented fields: the [`CARD_EVENT_KINDS`], then the
    /// [`COMMON_KINDS`]. Other kinds still parse; they are just not known in advance.
    pub fn known_kinds() -> Vec<&'static str> {
        CARD_EVENT_KINDS
            .iter()
            .chain(COMMON_KINDS)
            .copied()
            .collect()
    }
}

fn trim_values(fields: &mut BTreeMap<String, String>) {
    for value in fields.values_mut() {
        if value.trim().len() != value.len() {
            *value = value.trim().to_owned();
        }
    }
}

fn required(fields: &BTreeMap<String, String>, name: &'static str) -> Result<String, XmlError> {
    text(fields, name).ok_or(XmlError::Missing(name))
}

/// The element's text, `None` when absent or empty.
fn text(fields: &BTreeMap<String, String>, name: &str) -> Option<String> {
    fields.get(name).filter(|value| !value.is_empty()).cloned()
}

fn number(fields: &BTreeMap<String, String>, name: &str) -> Option<i64> {
    fields.get(name)?.parse().ok()
}

/// WeChat's card events send flags as `0`/`1`; its gift-card events as `true`/`false`.
fn flag(fields: &BTreeMap<String, String>, name: &str) -> Option<bool> {
    match fields.get(name)?.to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

/// Escapes the key separator and the escape character itself, so parts never merge.
fn push_escaped(key: &mut String, part: &str) {
    for ch in part.chars() {
        match ch {
            '\\' => key.push_str("\\\\"),
            KEY_SEPARATOR => key.push_str("\\x1f"),
            other => key.push(other),
        }
    }
}

#[cfg(test)]
mod tests;
