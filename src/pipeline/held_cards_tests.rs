//! Tests of the held cards kept from events and syncs.

use sled::Transactional;

use super::*;
use crate::pipeline::testing::{card_event, temp_db};

const T0: i64 = 1_700_000_000;
const CARD: &str = "pCard";

fn held_cards() -> HeldCards {
    HeldCards::open(&temp_db()).unwrap()
}

fn status_of(cards: &HeldCards, code: &str) -> Option<String> {
    cards.card(CARD, code).unwrap().map(|card| card.status)
}

fn received(openid: &str, at: i64, code: &str) -> Event {
    Event {
        outer_str: Some("poster".to_string()),
        outer_id: Some(7),
        ..card_event("user_get_card", openid, at, CARD, code)
    }
}

fn gift_received(openid: &str, at: i64, code: &str, giver: &str, old_code: &str) -> Event {
    Event {
        is_give_by_friend: Some(true),
        friend_openid: Some(giver.to_string()),
        old_code: Some(old_code.to_string()),
        ..card_event("user_get_card", openid, at, CARD, code)
    }
}

fn gifting(openid: &str, at: i64, code: &str, returned: bool) -> Event {
    let mut event = card_event("user_gifting_card", openid, at, CARD, code);
    let flag = if returned { "1" } else { "0" };
    event
        .fields
        .insert("IsReturnBack".to_string(), flag.to_string());
    event
}

fn sync(code: &str, status: Option<&str>) -> CardSync {
    CardSync {
        card_id: CARD.to_string(),
        code: code.to_string(),
        status: status.map(str::to_string),
    }
}

#[test]
fn a_received_card_is_held_with_its_channel() {
    let cards = held_cards();

    let changed = cards.apply(&received("alice", T0, "111")).unwrap();

    assert!(changed);
    let card = cards.card(CARD, "111").unwrap().unwrap();
    assert_eq!(card.openid, "alice");
    assert_eq!(card.status, status::NORMAL);
    assert_eq!((card.received_at, card.updated_at), (Some(T0), T0));
    assert_eq!(
        (card.outer_str.as_deref(), card.outer_id),
        (Some("poster"), Some(7))
    );
    assert_eq!(card.source, CardSource::Event);
}

#[test]
fn a_card_goes_through_gifting_return_and_consumption() {
    let cards = held_cards();
    cards.apply(&received("alice", T0, "111")).unwrap();

    cards
        .apply(&gifting("alice", T0 + 10, "111", false))
        .unwrap();
    let while_gifting = status_of(&cards, "111");
    cards
        .apply(&gifting("alice", T0 + 20, "111", true))
        .unwrap();
    let after_return = status_of(&cards, "111");
    let consumed = Event {
        consume_source: Some("FROM_MOBILE_HELPER".to_string()),
        staff_openid: Some("staff-1".to_string()),
        location_name: Some("Shop 1".to_string()),
        ..card_event("user_consume_card", "alice", T0 + 30, CARD, "111")
    };
    cards.apply(&consumed).unwrap();

    assert_eq!(while_gifting.as_deref(), Some(status::GIFTING));
    assert_eq!(after_return.as_deref(), Some(status::NORMAL));
    let card = cards.card(CARD, "111").unwrap().unwrap();
    assert_eq!(card.status, status::CONSUMED);
    assert_eq!(card.consume_source.as_deref(), Some("FROM_MOBILE_HELPER"));
    assert_eq!(card.staff_openid.as_deref(), Some("staff-1"));
    assert_eq!(card.location_name.as_deref(), Some("Shop 1"));
    assert_eq!(card.received_at, Some(T0));
}

#[test]
fn a_gift_accepted_by_a_friend_moves_the_card_under_a_new_code() {
    let cards = held_cards();
    cards.apply(&received("alice", T0, "111")).unwrap();
    cards
        .apply(&gifting("alice", T0 + 10, "111", false))
        .unwrap();

    cards
        .apply(&gift_received("bob", T0 + 20, "222", "alice", "111"))
        .unwrap();

    assert_eq!(status_of(&cards, "111").as_deref(), Some(status::GIFT_SUCC));
    let new_card = cards.card(CARD, "222").unwrap().unwrap();
    assert_eq!(new_card.openid, "bob");
    assert_eq!(new_card.given_by.as_deref(), Some("alice"));
    assert_eq!(cards.cards("alice").unwrap()[0].openid, "alice");
}

#[test]
fn a_deleted_card_stays_known_as_deleted() {
    let cards = held_cards();
    cards.apply(&received("alice", T0, "111")).unwrap();

    cards
        .apply(&card_event("user_del_card", "alice", T0 + 5, CARD, "111"))
        .unwrap();

    let all = cards.cards("alice").unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, status::DELETE);
}

#[test]
fn viewing_an_unknown_card_records_it_as_held_and_does_not_revive_a_deleted_one() {
    let cards = held_cards();
    cards
        .apply(&card_event("user_del_card", "alice", T0, CARD, "111"))
        .unwrap();

    let view = card_event("user_view_card", "alice", T0 + 5, CARD, "222");
    let first = cards.apply(&view).unwrap();
    let enter = card_event("user_enter_session_from_card", "alice", T0 + 5, CARD, "111");
    let second = cards.apply(&enter).unwrap();

    assert!(first && !second);
    assert_eq!(status_of(&cards, "222").as_deref(), Some(status::NORMAL));
    assert_eq!(status_of(&cards, "111").as_deref(), Some(status::DELETE));
    assert_eq!(cards.card(CARD, "222").unwrap().unwrap().received_at, None);
}

#[test]
fn an_event_older_than_what_is_known_is_ignored() {
    let cards = held_cards();
    cards
        .apply(&card_event(
            "user_consume_card",
            "alice",
            T0 + 10,
            CARD,
            "111",
        ))
        .unwrap();

    let changed = cards.apply(&gifting("alice", T0, "111", false)).unwrap();

    assert!(!changed);
    assert_eq!(status_of(&cards, "111").as_deref(), Some(status::CONSUMED));
}

#[test]
fn events_without_a_code_or_about_templates_change_nothing() {
    let cards = held_cards();
    let mut no_code = card_event("user_get_card", "alice", T0, CARD, "1");
    no_code.code = None;

    let changed = [
        cards.apply(&no_code).unwrap(),
        cards
            .apply(&card_event("card_pass_check", "alice", T0, CARD, "1"))
            .unwrap(),
    ];

    assert_eq!(changed, [false, false]);
    assert!(cards.tree().is_empty());
}

#[test]
fn a_list_is_fresh_only_within_max_age_of_a_sync() {
    let cards = held_cards();
    cards.apply(&received("alice", T0, "111")).unwrap();
    let before_sync = cards.fresh_cards("alice", T0, 600).unwrap();

    cards
        .record_synced("alice", &[sync("111", None), sync("333", None)], T0 + 10)
        .unwrap();

    assert_eq!(before_sync, None);
    let fresh = cards.fresh_cards("alice", T0 + 610, 600).unwrap().unwrap();
    assert_eq!(fresh.len(), 2);
    assert_eq!(fresh[1].source, CardSource::Api);
    assert_eq!(cards.fresh_cards("alice", T0 + 611, 600).unwrap(), None);
}

#[test]
fn one_code_is_fresh_within_max_age_of_its_event() {
    let cards = held_cards();
    cards.apply(&received("alice", T0, "111")).unwrap();

    let fresh = cards.fresh_card(CARD, "111", T0 + 600, 600).unwrap();
    let stale = cards.fresh_card(CARD, "111", T0 + 601, 600).unwrap();

    assert_eq!(
        fresh.map(|card| card.status).as_deref(),
        Some(status::NORMAL)
    );
    assert_eq!(stale, None);
}

#[test]
fn a_sync_drops_held_codes_the_api_no_longer_lists_and_keeps_history() {
    let cards = held_cards();
    cards.apply(&received("alice", T0, "111")).unwrap();
    cards.apply(&received("alice", T0, "222")).unwrap();
    cards
        .apply(&card_event(
            "user_consume_card",
            "alice",
            T0 + 1,
            CARD,
            "222",
        ))
        .unwrap();
    cards.apply(&received("alice", T0 + 100, "444")).unwrap();

    cards
        .record_synced("alice", &[sync("333", Some(status::EXPIRE))], T0 + 50)
        .unwrap();

    let mut codes: Vec<_> = cards
        .cards("alice")
        .unwrap()
        .into_iter()
        .map(|card| (card.code, card.status))
        .collect();
    codes.sort();
    let expected = [
        ("222", status::CONSUMED),
        ("333", status::EXPIRE),
        ("444", status::NORMAL),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(code, s)| (code.to_string(), s.to_string()))
        .collect();
    assert_eq!(codes, expected);
    assert_eq!(cards.card(CARD, "111").unwrap(), None);
}

#[test]
fn card_updates_commit_with_another_tree_in_one_transaction() {
    let db = temp_db();
    let cards = HeldCards::open(&db).unwrap();
    let inbox = db.open_tree("inbox").unwrap();
    inbox.insert(b"event-1", b"pending").unwrap();

    (cards.tree(), &inbox)
        .transaction(|(tx_cards, tx_inbox)| {
            cards.apply_tx::<PipelineError>(tx_cards, &received("alice", T0, "111"))?;
            cards.record_synced_tx::<PipelineError>(tx_cards, "bob", &[sync("9", None)], T0)?;
            tx_inbox.remove(&b"event-1"[..])?;
            Ok(())
        })
        .unwrap();

    assert_eq!(status_of(&cards, "111").as_deref(), Some(status::NORMAL));
    assert_eq!(cards.fresh_cards("bob", T0, 60).unwrap().unwrap().len(), 1);
    assert!(inbox.is_empty());
}
