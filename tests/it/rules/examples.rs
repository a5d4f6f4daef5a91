//! Every example rule in rules/ against the canned customer and cards.

use std::path::PathBuf;

use cardbot::rules::{Message, ReplyBody, Rules};
use cardbot::wechat::event::Event;
use sled::Transactional;

use super::{event, open_rules, texts};

const TWENTY_OFF: &str = "pLtS7jA1x0Wq3ZcN5vGmYkTr2HdE";
const FREE_DRINK: &str = "pLtS7jB8nR4uXe6QpKwJ0sFy1CaM";
const FIFTEEN_PERCENT: &str = "pLtS7jC3mV9tLh2DgZbN7qWx5EoP";
const MEMBER_CARD: &str = "pLtS7jD6kY1pRf8SaJcU4vHn0GiT";

fn examples() -> (sled::Db, Rules) {
    open_rules(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules"),
        |_| {},
    )
}

/// Persists the decision and the event as the worker does, in one transaction.
fn apply(db: &sled::Db, event: &Event, decision: &cardbot::rules::Decision) {
    let memory = db.open_tree(cardbot::rules::memory::MEMORY_TREE).unwrap();
    let history = db.open_tree(cardbot::rules::history::HISTORY_TREE).unwrap();
    (&memory, &history)
        .transaction(|(memory, history)| {
            cardbot::rules::memory::apply(memory, &decision.effects)?;
            cardbot::rules::history::record(history, event)?;
            Ok::<_, sled::transaction::ConflictableTransactionError>(())
        })
        .unwrap();
}

fn card_event(kind: &str, card_id: &str, code: &str) -> Event {
    Event {
        card_id: Some(card_id.to_string()),
        code: Some(code.to_string()),
        ..event(kind)
    }
}

fn cards_sent(decision: &cardbot::rules::Decision) -> Vec<String> {
    let cards = decision
        .actions
        .iter()
        .filter_map(|action| match &action.message {
            Message::Card { card_id } => Some(card_id.clone()),
            _ => None,
        });
    cards.collect()
}

#[test]
fn the_example_set_loads_with_its_handlers() {
    let (_db, rules) = examples();

    let status = rules.status();

    let names: Vec<_> = status.rules.iter().map(|rule| rule.name.as_str()).collect();
    assert_eq!(
        names,
        ["card_reminder", "loyal_member", "next_coupon", "win_back"]
    );
}

#[test]
fn card_reminder_tells_a_holder_the_days_left() {
    let (_db, rules) = examples();
    let entered = card_event("user_enter_session_from_card", TWENTY_OFF, "110201201245");

    let decision = rules.evaluate_at(&entered, 1_700_000_000);

    let expected = "Welcome back to Lotus Tea House! Your \"20 yuan off any tea\" is ready to \
                    use: it is valid for 9 more days.";
    assert_eq!(
        decision.replies[0].body,
        ReplyBody::Text {
            content: expected.into()
        }
    );
    assert_eq!(decision.lookups.len(), 2);
}

#[test]
fn card_reminder_stays_quiet_for_a_redeemed_card() {
    let (_db, rules) = examples();
    let entered = card_event("user_enter_session_from_card", FREE_DRINK, "110201201246");

    let decision = rules.evaluate_at(&entered, 1_700_000_000);

    assert!(decision.replies.is_empty() && decision.failures().next().is_none());
}

#[test]
fn next_coupon_follows_the_claim_channel_and_the_redemption_source() {
    let (db, rules) = examples();
    let claimed = Event {
        outer_str: Some("mall_poster".to_string()),
        ..card_event("user_get_card", TWENTY_OFF, "110201201245")
    };
    let in_store = Event {
        consume_source: Some("FROM_MOBILE_HELPER".to_string()),
        location_name: Some("Lotus Tea House, Jing'an".to_string()),
        ..card_event("user_consume_card", TWENTY_OFF, "110201201245")
    };

    let claim = rules.evaluate_at(&claimed, 1_700_000_000);
    apply(&db, &claimed, &claim);
    let redeemed = rules.evaluate_at(&in_store, 1_700_000_100);

    assert_eq!(
        texts(&redeemed),
        vec![
        "Thanks for visiting Lotus Tea House, Jing'an! Here is a little something for next time."
    ]
    );
    assert_eq!(cards_sent(&redeemed), vec![FIFTEEN_PERCENT]);
}

#[test]
fn next_coupon_sends_the_menu_and_the_default_card_after_an_online_redemption() {
    let (_db, rules) = examples();
    let online = Event {
        consume_source: Some("FROM_API".to_string()),
        ..card_event("user_consume_card", TWENTY_OFF, "999")
    };

    let decision = rules.evaluate_at(&online, 1_700_000_000);

    assert!(
        matches!(&decision.actions[0].message, Message::News { article }
        if article.url == "https://lotustea.example.com/menu")
    );
    assert_eq!(cards_sent(&decision), vec![FIFTEEN_PERCENT]);
}

#[test]
fn win_back_offers_a_free_drink_at_most_once_a_month() {
    let (db, rules) = examples();
    let deleted = card_event("user_del_card", TWENTY_OFF, "110201201245");

    let first = rules.evaluate_at(&deleted, 1_700_000_000);
    apply(&db, &deleted, &first);
    let a_week_later = rules.evaluate_at(&deleted, 1_700_000_000 + 7 * 86_400);
    let next_month = rules.evaluate_at(&deleted, 1_700_000_000 + 31 * 86_400);

    assert_eq!(cards_sent(&first), vec![FREE_DRINK]);
    assert!(a_week_later.actions.is_empty());
    assert_eq!(cards_sent(&next_month), vec![FREE_DRINK]);
}

#[test]
fn loyal_member_offers_the_member_card_on_the_third_redemption_only() {
    let (db, rules) = examples();
    let mut offered = Vec::new();

    for visit in 0..4 {
        let redeemed = Event {
            create_time: 1_700_000_000 + visit * 86_400,
            ..card_event(
                "user_consume_card",
                FIFTEEN_PERCENT,
                &format!("3000{visit}"),
            )
        };
        let decision = rules.evaluate_at(&redeemed, redeemed.create_time);
        apply(&db, &redeemed, &decision);
        offered.push(cards_sent(&decision).contains(&MEMBER_CARD.to_string()));
    }

    assert_eq!(offered, vec![false, false, true, false]);
}
