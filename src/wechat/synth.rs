//! Pushes built from a few named fields, as WeChat would send them: `simulate`, `push`
//! and rule tests feed the result to [`Event::parse`](super::event::Event::parse).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The account a synthesized push is addressed to when none is given.
pub const DEFAULT_ACCOUNT: &str = "gh_cardbot_sim";

/// Elements WeChat sends as bare numbers; every other element is wrapped in CDATA.
const NUMERIC: &[&str] = &[
    "CreateTime",
    "MsgId",
    "OuterId",
    "IsGiveByFriend",
    "IsRestoreMemberCard",
    "IsRecommendByFriend",
    "LocationId",
    "Fee",
    "OriginalFee",
    "ModifyBonus",
    "ModifyBalance",
];

/// The fields of one push, named as rules read them (`event.card_id`).
///
/// Unset fields that WeChat always sends for the event type are written empty (or `0`
/// for numbers), as WeChat does; unset fields it does not send are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventFields {
    /// `FromUserName`; required by the parser.
    pub openid: String,
    /// `ToUserName`; [`DEFAULT_ACCOUNT`] when empty.
    pub account: String,
    /// `CreateTime`, unix seconds.
    pub create_time: i64,
    pub msg_id: Option<String>,
    pub card_id: Option<String>,
    pub code: Option<String>,
    pub old_code: Option<String>,
    pub outer_id: Option<i64>,
    pub outer_str: Option<String>,
    pub is_give_by_friend: Option<bool>,
    pub friend_openid: Option<String>,
    pub unionid: Option<String>,
    pub consume_source: Option<String>,
    pub location_name: Option<String>,
    pub staff_openid: Option<String>,
    pub content: Option<String>,
    pub event_key: Option<String>,
    /// Any other element, by its WeChat name (`SourceScene = "SOURCE_SCENE_IM"`).
    pub fields: BTreeMap<String, String>,
}

/// The documented elements of each event type after `Event`, in WeChat's order.
fn layout(kind: &str) -> &'static [&'static str] {
    match kind {
        "user_get_card" => &[
            "CardId",
            "IsGiveByFriend",
            "UserCardCode",
            "FriendUserName",
            "OuterId",
            "OldUserCardCode",
            "OuterStr",
            "IsRestoreMemberCard",
            "IsRecommendByFriend",
        ],
        "user_consume_card" => &[
            "CardId",
            "UserCardCode",
            "ConsumeSource",
            "LocationName",
            "StaffOpenId",
            "VerifyCode",
            "RemarkAmount",
            "OuterStr",
        ],
        "user_view_card" => &["CardId", "UserCardCode", "OuterStr"],
        "user_del_card" | "user_enter_session_from_card" => &["CardId", "UserCardCode"],
        "subscribe" | "scan" | "click" | "view" => &["EventKey"],
        _ => &[],
    }
}

/// Whether `kind` is a message type (sent as `MsgType`) rather than an event.
fn is_message(kind: &str) -> bool {
    matches!(
        kind,
        "text" | "image" | "voice" | "video" | "shortvideo" | "location" | "link" | "file"
    )
}

/// WeChat spells menu and scan events in capitals and card events in lower case.
fn event_value(kind: &str) -> String {
    match kind {
        "click" | "view" | "scan" | "location" => kind.to_ascii_uppercase(),
        _ => kind.to_string(),
    }
}

impl EventFields {
    /// The value of a WeChat element, if set.
    fn value_of(&self, element: &str) -> Option<String> {
        let text = |value: &Option<String>| value.clone();
        match element {
            "MsgId" => text(&self.msg_id),
            "CardId" => text(&self.card_id),
            "UserCardCode" => text(&self.code),
            "OldUserCardCode" => text(&self.old_code),
            "OuterId" => self.outer_id.map(|id| id.to_string()),
            "OuterStr" => text(&self.outer_str),
            "IsGiveByFriend" => self.is_give_by_friend.map(|on| u8::from(on).to_string()),
            "FriendUserName" => text(&self.friend_openid),
            "UnionId" => text(&self.unionid),
            "ConsumeSource" => text(&self.consume_source),
            "LocationName" => text(&self.location_name),
            "StaffOpenId" => text(&self.staff_openid),
            "Content" => text(&self.content),
            "EventKey" => text(&self.event_key),
            _ => None,
        }
    }
}

/// Every element [`EventFields`] has a slot for, in the order extra ones are appended.
const SLOTS: &[&str] = &[
    "EventKey",
    "Content",
    "CardId",
    "UserCardCode",
    "OldUserCardCode",
    "IsGiveByFriend",
    "FriendUserName",
    "OuterId",
    "OuterStr",
    "UnionId",
    "ConsumeSource",
    "LocationName",
    "StaffOpenId",
    "MsgId",
];

/// The plaintext XML WeChat would push for an event of `kind` (`user_get_card`,
/// `text`, ...) with `fields`.
pub fn event_xml(kind: &str, fields: &EventFields) -> String {
    let kind = kind.trim().to_ascii_lowercase();
    let account = if fields.account.is_empty() {
        DEFAULT_ACCOUNT
    } else {
        fields.account.as_str()
    };

    let mut elements: Vec<(String, String)> = vec![
        ("ToUserName".into(), account.to_string()),
        ("FromUserName".into(), fields.openid.clone()),
        ("CreateTime".into(), fields.create_time.to_string()),
    ];
    if is_message(&kind) {
        elements.push(("MsgType".into(), kind.clone()));
    } else {
        elements.push(("MsgType".into(), "event".into()));
        elements.push(("Event".into(), event_value(&kind)));
    }

    let documented = layout(&kind);
    for element in documented {
        let value = fields.value_of(element);
        let empty = if NUMERIC.contains(element) { "0" } else { "" };
        elements.push((element.to_string(), value.unwrap_or_else(|| empty.into())));
    }
    for element in SLOTS.iter().filter(|slot| !documented.contains(slot)) {
        if let Some(value) = fields.value_of(element) {
            elements.push((element.to_string(), value));
        }
    }
    for (name, value) in &fields.fields {
        elements.retain(|(known, _)| known != name);
        elements.push((name.clone(), value.clone()));
    }

    render(&elements)
}

fn render(elements: &[(String, String)]) -> String {
    let mut xml = String::from("<xml>\n");
    for (name, value) in elements {
        if NUMERIC.contains(&name.as_str()) && value.parse::<i64>().is_ok() {
            xml.push_str(&format!("  <{name}>{value}</{name}>\n"));
        } else {
            xml.push_str(&format!(
                "  <{name}><![CDATA[{}]]></{name}>\n",
                cdata(value)
            ));
        }
    }
    xml.push_str("</xml>\n");
    xml
}

/// Text safe inside CDATA: a `]]>` is split across two sections.
fn cdata(value: &str) -> String {
    value.replace("]]>", "]]]]><![CDATA[>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::event::Event;
    use crate::wechat::fixture;

    fn alice() -> EventFields {
        EventFields {
            openid: "oAlice".into(),
            create_time: 1_700_000_000,
            card_id: Some("pCard".into()),
            code: Some("12345".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_synthesized_card_event_parses_like_the_documented_push() {
        let fields = EventFields {
            openid: "oZI8Fj040-be6rlDohc6gkoPOQTQ".into(),
            account: "gh_fc0a06a20993".into(),
            create_time: 1472549042,
            card_id: Some("pZI8Fj8y-E8hpvho2d1ZvpGwQBvA".into()),
            code: Some("452998530302".into()),
            consume_source: Some("FROM_API".into()),
            staff_openid: Some("oZ********nJ3bPJu_Rtjkw4c".into()),
            outer_str: Some("xxxxx".into()),
            ..Default::default()
        };

        let xml = event_xml("user_consume_card", &fields);

        let ours = Event::parse(xml.as_bytes()).unwrap();
        let theirs = Event::parse(&fixture::bytes("events/user_consume_card.xml")).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn documented_elements_are_sent_empty_when_unset() {
        let xml = event_xml("user_get_card", &alice());

        let event = Event::parse(xml.as_bytes()).unwrap();

        assert!(xml.contains("<OuterStr><![CDATA[]]></OuterStr>"), "{xml}");
        assert_eq!(event.outer_str, None);
        assert_eq!(event.outer_id, Some(0));
        assert_eq!(event.is_give_by_friend, Some(false));
    }

    #[test]
    fn a_text_message_is_a_msg_type_not_an_event() {
        let fields = EventFields {
            content: Some("hi ]]> there".into()),
            msg_id: Some("123".into()),
            ..alice()
        };

        let event = Event::parse(event_xml("text", &fields).as_bytes()).unwrap();

        assert_eq!(event.kind, "text");
        assert!(event.is_message());
        assert_eq!(event.content.as_deref(), Some("hi ]]> there"));
        assert_eq!(event.card_id.as_deref(), Some("pCard"));
    }

    #[test]
    fn extra_fields_are_kept_and_override_slots() {
        let fields = EventFields {
            fields: BTreeMap::from([
                ("SourceScene".into(), "SOURCE_SCENE_IM".into()),
                ("CardId".into(), "pOther".into()),
            ]),
            ..alice()
        };

        let event = Event::parse(event_xml("CLICK", &fields).as_bytes()).unwrap();

        assert_eq!(event.kind, "click");
        assert_eq!(event.fields["SourceScene"], "SOURCE_SCENE_IM");
        assert_eq!(event.card_id.as_deref(), Some("pOther"));
    }
}
