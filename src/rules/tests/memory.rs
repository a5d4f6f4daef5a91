//! `remember`, `recall`, `once_per` and `history`: read-your-writes within an event,
//! nothing written until applied, a failed rule's writes dropped.

use crate::rules::action::Message;
use crate::rules::testing::{event, harness};
use crate::rules::MemoryEffect;

fn texts(decision: &crate::rules::Decision) -> Vec<String> {
    let texts = decision
        .actions
        .iter()
        .filter_map(|action| match &action.message {
            Message::Text { content } => Some(content.clone()),
            _ => None,
        });
    texts.collect()
}

#[test]
fn a_write_is_read_back_in_the_same_event_and_by_later_rules() {
    let first = r#"fn on_user_get_card(e) { remember(e.openid, "channel", e.outer_str); send_text(e.openid, recall(e.openid, "channel")); }"#;
    let second = r#"fn on_user_get_card(e) { send_text(e.openid, `later ${recall(e.openid, "channel")} ${type_of(recall(e.openid, "unset"))}`); }"#;
    let h = harness(&[("a", first), ("b", second)], "");
    let mut e = event("user_get_card");
    e.outer_str = Some("store_qr".into());

    let decision = h.evaluate(&e);

    assert_eq!(texts(&decision), vec!["store_qr", "later store_qr ()"]);
    assert!(matches!(&decision.effects[0], MemoryEffect::Remember { rule, .. } if rule == "a"));
}

#[test]
fn writes_persist_only_once_applied() {
    let writer =
        r#"fn on_user_get_card(e) { remember(e.openid, "visits", #{n: 1, tags: ["vip"]}); }"#;
    let reader = r#"fn on_text(e) { let v = recall(e.openid, "visits"); send_text(e.openid, `${type_of(v)} ${v?.n} ${v?.tags}`); }"#;
    let h = harness(&[("writer", writer), ("reader", reader)], "");
    let got = event("user_get_card");

    let decision = h.evaluate(&got);
    let before = h.evaluate(&event("text"));
    h.apply(&got, &decision);
    let after = h.evaluate(&event("text"));

    assert_eq!(texts(&before), vec!["()  "]);
    assert_eq!(texts(&after), vec![r#"map 1 ["vip"]"#]);
}

#[test]
fn a_failing_rule_loses_its_writes_and_actions_only() {
    let failing = r#"fn on_text(e) { remember(e.openid, "k", 1); send_text(e.openid, "lost"); throw "boom"; }"#;
    let fine = r#"fn on_text(e) { send_text(e.openid, `k=${type_of(recall(e.openid, "k"))}`); }"#;
    let h = harness(&[("a_failing", failing), ("b_fine", fine)], "");

    let decision = h.evaluate(&event("text"));

    assert_eq!(texts(&decision), vec!["k=()"]);
    assert!(decision.effects.is_empty());
    let failure = decision.failures().next().unwrap();
    assert!(failure.message.contains("boom"), "{}", failure.message);
    assert!(
        failure.location.ends_with("a_failing.rhai:1:74"),
        "{}",
        failure.location
    );
}

#[test]
fn once_per_is_true_once_in_its_window() {
    let source = r#"fn on_user_del_card(e) {
        let a = once_per(e.openid, "win_back", 2592000);
        let b = once_per(e.openid, "win_back", 2592000);
        send_text(e.openid, `${a} ${b}`);
    }"#;
    let h = harness(&[("once", source)], "");
    let e = event("user_del_card");

    let first = h.evaluate(&e);
    h.apply(&e, &first);
    let within = h.rules.evaluate_at(&e, 1_700_000_000 + 3600);
    let after = h.rules.evaluate_at(&e, 1_700_000_000 + 2_592_000);

    assert_eq!(texts(&first), vec!["true false"]);
    assert_eq!(texts(&within), vec!["false false"]);
    assert_eq!(texts(&after), vec!["true false"]);
}

#[test]
fn once_per_refuses_a_window_that_is_not_positive() {
    let h = harness(
        &[("r", r#"fn on_text(e) { once_per(e.openid, "k", 0); }"#)],
        "",
    );

    let decision = h.evaluate(&event("text"));

    let failure = decision.failures().next().unwrap();
    assert!(
        failure
            .message
            .contains("once_per: seconds must be positive"),
        "{}",
        failure.message
    );
}

#[test]
fn history_includes_the_event_being_handled_and_what_was_recorded() {
    let source = r#"fn on_event(e) {
        let h = history(e.openid);
        let other = history("oNobody");
        send_text(e.openid, `${h.counts.user_get_card} ${h.counts.user_consume_card} ${h.channels} ${type_of(h.last_redeemed_at)}/${h.last_redeemed_at} ${other.cards_received}`);
    }"#;
    let h = harness(&[("seen", source)], "");
    let mut got = event("user_get_card");
    got.outer_str = Some("mall_qr".into());
    let mut consumed = event("user_consume_card");
    consumed.create_time = 1_700_000_500;

    let first = h.evaluate(&got);
    h.apply(&got, &first);
    let second = h.evaluate(&consumed);

    assert_eq!(texts(&first), vec![r#"1  ["mall_qr"] ()/ 0"#]);
    assert_eq!(texts(&second), vec![r#"1 1 ["mall_qr"] i64/1700000500 0"#]);
}

#[test]
fn a_value_that_cannot_be_stored_is_refused() {
    let h = harness(
        &[("r", r#"fn on_text(e) { remember(e.openid, "f", || 1); }"#)],
        "",
    );

    let decision = h.evaluate(&event("text"));

    let failure = decision.failures().next().unwrap();
    assert!(
        failure.message.contains("remember: a value of type"),
        "{}",
        failure.message
    );
}
