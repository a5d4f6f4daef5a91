//! WeChat's pushed XML turned into a typed [`Event`]: every card event, menu and
//! subscription events and text messages, with the raw elements kept alongside.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    /// Every direct child of `<xml>` by element name, trimmed, empty ones included as "".
    pub fields: BTreeMap<String, String>,
}

impl Event {
    /// The key WeChat's retries of this push share.
    pub fn dedup_key(&self) -> String {
        String::new()
    }
}

impl Event {
    /// Placeholder.
    pub fn parse(_xml: &[u8]) -> Result<Event, crate::wechat::xml::XmlError> {
        Err(crate::wechat::xml::XmlError)
    }
}
