//! One test per fixture family, the typed fields of card events and dedup keys.

use super::*;
use crate::wechat::fixture;

fn event(file: &str) -> Event {
    Event::parse(&fixture::bytes(&format!("events/{file}"))).expect("the fixture parses")
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn card_event(code: &str) -> BTreeMap<String, String> {
    fields(&[
        ("FromUserName", "oUser"),
        ("CreateTime", "1700000000"),
        ("MsgType", "event"),
        ("Event", "user_get_card"),
        ("CardId", "pCard"),
        ("UserCardCode", code),
    ])
}

#[test]
fn every_fixture_keeps_all_its_elements_and_gets_a_lowercase_kind() {
    let index = fixture::json("events/index.json");

    for sample in index["samples"].as_array().into_iter().flatten() {
        let file = fixture::str(sample, "file");
        let raw = xml::parse_children(&fixture::bytes(&format!("events/{file}")))
            .expect("the fixture parses");
        let expected_kind = raw.get("Event").unwrap_or(&raw["MsgType"]).to_lowercase();

        let event = event(file);

        assert_eq!(event.fields, raw, "{file}");
        assert_eq!(event.kind, expected_kind, "{file}");
        assert_eq!(event.openid, raw["FromUserName"], "{file}");
        assert_eq!(event.create_time.to_string(), raw["CreateTime"], "{file}");
        assert!(
            Event::known_kinds().contains(&event.kind.as_str()),
            "{file}"
        );
    }
}

#[test]
fn a_consumed_card_carries_its_source_staff_and_channel() {
    let event = event("user_consume_card.xml");

    assert_eq!(event.kind, "user_consume_card");
    assert_eq!(event.account, "gh_fc0a06a20993");
    assert_eq!(
        event.card_id.as_deref(),
        Some("pZI8Fj8y-E8hpvho2d1ZvpGwQBvA")
    );
    assert_eq!(event.code.as_deref(), Some("452998530302"));
    assert_eq!(event.consume_source.as_deref(), Some("FROM_API"));
    assert_eq!(
        event.staff_openid.as_deref(),
        Some("oZ********nJ3bPJu_Rtjkw4c")
    );
    assert_eq!(event.outer_str.as_deref(), Some("xxxxx"));
    assert_eq!((&event.location_name, &event.verify_code), (&None, &None));
    assert_eq!(event.remark_amount, None);
    assert_eq!(event.fields["LocationName"], "");
    assert!(event.is_card_event() && !event.is_message());
}

#[test]
fn a_received_card_carries_its_gift_and_channel_values() {
    let event = event("user_get_card.xml");

    assert_eq!(event.is_give_by_friend, Some(false));
    assert_eq!(event.friend_openid, None);
    assert_eq!(event.outer_id, Some(0));
    assert_eq!(event.old_code, None);
    assert_eq!(event.outer_str.as_deref(), Some("12b"));
    assert_eq!(event.is_restore_member_card, Some(false));
    assert_eq!(event.is_recommend_by_friend, Some(false));
    assert_eq!(
        event.unionid.as_deref(),
        Some("o6_bmasdasdsad6_2sgVt7hMZOPfL")
    );
}

#[test]
fn gifting_paying_and_member_updates_are_typed() {
    let gift = event("user_gifting_card.xml");
    let pay = event("user_pay_from_pay_cell.xml");
    let update = event("update_member_card.xml");

    assert_eq!(
        (gift.is_return_back, gift.is_chat_room),
        (Some(false), Some(false))
    );
    assert_eq!(
        gift.friend_openid.as_deref(),
        Some("obLatjlNerkb62HtSdQUx66C4NTU")
    );
    assert_eq!((pay.fee, pay.original_fee), (Some(10000), Some(10000)));
    assert_eq!(pay.trans_id.as_deref(), Some("10022403432015000000000"));
    assert_eq!(pay.location_id, Some(291710000));
    assert_eq!(
        (update.modify_bonus, update.modify_balance),
        (Some(3), Some(0))
    );
}

#[test]
fn review_stock_and_follow_events_are_typed() {
    let refused = event("card_not_pass_check.xml");
    let stock = event("card_sku_remind.xml");
    let scan = event("subscribe_qrscene.xml");

    assert_eq!(refused.refuse_reason.as_deref(), Some("非法代制"));
    assert_eq!(
        stock.detail.as_deref(),
        Some("the card's quantity is equal to 0")
    );
    assert_eq!(scan.kind, "subscribe");
    assert_eq!(scan.event_key.as_deref(), Some("qrscene_123123"));
    assert_eq!(scan.ticket.as_deref(), Some("TICKET"));
    assert!(!scan.is_card_event());
}

#[test]
fn a_text_message_is_a_message_keyed_by_its_msg_id() {
    let event = event("text_message.xml");

    assert_eq!(event.kind, "text");
    assert_eq!(event.content.as_deref(), Some("this is a test"));
    assert!(event.is_message());
    assert_eq!(event.dedup_key(), "msg:1234567890123456");
}

#[test]
fn upper_case_event_names_become_lower_case_kinds() {
    let pairs = |name| fields(&[("FromUserName", "o"), ("MsgType", "event"), ("Event", name)]);

    let kinds: Vec<String> = ["SCAN", "CLICK", "VIEW", "User_Get_Card"]
        .map(|name| {
            Event::from_fields(pairs(name))
                .map(|e| e.kind)
                .unwrap_or_default()
        })
        .into();

    assert_eq!(kinds, ["scan", "click", "view", "user_get_card"]);
}

#[test]
fn two_cards_received_in_the_same_second_get_different_keys() {
    let first = Event::from_fields(card_event("111")).expect("valid");
    let second = Event::from_fields(card_event("222")).expect("valid");

    let retry = Event::from_fields(card_event("111")).expect("valid");

    assert_ne!(first.dedup_key(), second.dedup_key());
    assert_eq!(first.dedup_key(), retry.dedup_key());
    assert!(first
        .dedup_key()
        .starts_with("evt:oUser\u{1f}1700000000\u{1f}user_get_card"));
}

#[test]
fn a_separator_inside_a_value_cannot_forge_another_key() {
    let mut split_early = card_event("x");
    split_early.insert("CardId".into(), "a\u{1f}b".into());
    let mut split_late = card_event("b\u{1f}x");
    split_late.insert("CardId".into(), "a".into());

    let early = Event::from_fields(split_early).expect("valid").dedup_key();
    let late = Event::from_fields(split_late).expect("valid").dedup_key();

    assert_ne!(early, late);
}

#[test]
fn the_sender_and_message_type_are_required() {
    let no_sender = fields(&[("MsgType", "event"), ("Event", "subscribe")]);
    let empty_sender = fields(&[("FromUserName", "  "), ("MsgType", "text")]);
    let no_type = fields(&[("FromUserName", "o")]);
    let no_event = fields(&[("FromUserName", "o"), ("MsgType", "event")]);

    let errors = [no_sender, empty_sender, no_type, no_event].map(|f| Event::from_fields(f).err());

    assert_eq!(
        errors,
        [
            Some(XmlError::Missing("FromUserName")),
            Some(XmlError::Missing("FromUserName")),
            Some(XmlError::Missing("MsgType")),
            Some(XmlError::Missing("Event")),
        ]
    );
    assert_eq!(
        errors[2].as_ref().map(ToString::to_string).as_deref(),
        Some("required element <MsgType> is missing or empty")
    );
}

#[test]
fn numbers_and_flags_parse_leniently_and_keep_their_raw_text() {
    let mut lenient = card_event(" 1 ");
    lenient.extend(fields(&[
        ("CreateTime", " soon "),
        ("OuterId", " 42 "),
        ("LocationId", "12ab"),
        ("IsGiveByFriend", " 1 "),
        ("IsChatRoom", "TRUE"),
        ("IsReturnBack", "yes"),
        ("ModifyBonus", "-5"),
    ]));

    let event = Event::from_fields(lenient).expect("valid");

    assert_eq!(event.create_time, 0);
    assert_eq!(
        (event.outer_id, event.location_id, event.modify_bonus),
        (Some(42), None, Some(-5))
    );
    assert_eq!(event.is_give_by_friend, Some(true));
    assert_eq!(
        (event.is_chat_room, event.is_return_back),
        (Some(true), None)
    );
    assert_eq!(event.code.as_deref(), Some("1"));
    assert_eq!(
        (
            event.fields["LocationId"].as_str(),
            event.fields["CreateTime"].as_str()
        ),
        ("12ab", "soon")
    );
}

#[test]
fn unknown_events_and_elements_are_kept_not_refused() {
    let xml = b"<xml><FromUserName>o</FromUserName><MsgType>event</MsgType>\
                <Event>giftcard_pay_done</Event><ConsumeSource>FROM_SOMEWHERE_NEW</ConsumeSource>\
                <BrandNewField> 7 </BrandNewField></xml>";

    let event = Event::parse(xml).expect("valid");

    assert_eq!(event.kind, "giftcard_pay_done");
    assert_eq!(event.consume_source.as_deref(), Some("FROM_SOMEWHERE_NEW"));
    assert_eq!(event.fields["BrandNewField"], "7");
    assert_eq!(event.account, "");
    assert!(!event.is_card_event());
}

#[test]
fn the_known_kinds_are_the_card_events_then_the_common_ones() {
    let kinds = Event::known_kinds();

    assert_eq!(CARD_EVENT_KINDS.len(), 13);
    assert_eq!(&kinds[..13], CARD_EVENT_KINDS);
    assert_eq!(
        &kinds[13..],
        ["subscribe", "unsubscribe", "scan", "click", "view", "text"]
    );
}
