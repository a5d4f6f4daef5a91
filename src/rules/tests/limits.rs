//! Limits: a runaway rule is stopped and loses its actions, the others still act.

use crate::rules::action::Message;
use crate::rules::testing::{event, harness_with};
use crate::rules::FailureKind;

const POLITE: &str = r#"fn on_text(e) { send_text(e.openid, "still here"); }"#;

fn kinds_and_texts(decision: &crate::rules::Decision) -> (Vec<FailureKind>, Vec<String>) {
    let kinds = decision.failures().map(|f| f.kind).collect();
    let texts = decision
        .actions
        .iter()
        .filter_map(|action| match &action.message {
            Message::Text { content } => Some(content.clone()),
            _ => None,
        });
    (kinds, texts.collect())
}

#[test]
fn an_endless_loop_is_stopped_by_the_deadline_while_other_rules_act() {
    let endless = r#"fn on_text(e) { send_text(e.openid, "lost"); loop { } }"#;
    let h = harness_with(
        &[("a_endless", endless), ("b_polite", POLITE)],
        "",
        |config| {
            config.timeout_ms = 50;
            config.max_operations = 0;
        },
    );

    let decision = h.evaluate(&event("text"));

    let (kinds, texts) = kinds_and_texts(&decision);
    assert_eq!(kinds, vec![FailureKind::Timeout]);
    assert_eq!(texts, vec!["still here"]);
    let status = h.rules.status();
    assert_eq!(status.rules[0].counters.errors, 1);
    assert_eq!(status.rules[1].counters.evaluations, 1);
}

#[test]
fn the_operation_limit_stops_a_long_loop() {
    let long = r#"fn on_text(e) { let n = 0; for i in 0..1000000 { n += i; } }"#;
    let h = harness_with(&[("a_long", long), ("b_polite", POLITE)], "", |config| {
        config.max_operations = 10_000;
    });

    let decision = h.evaluate(&event("text"));

    assert_eq!(
        kinds_and_texts(&decision),
        (
            vec![FailureKind::OperationLimit],
            vec!["still here".to_string()]
        )
    );
}

#[test]
fn the_string_size_limit_stops_a_growing_string() {
    let growing = r#"fn on_text(e) { let s = "x"; for i in 0..20 { s += s; } }"#;
    let h = harness_with(&[("a_grow", growing)], "", |config| {
        config.max_string_size = 1_000;
    });

    let decision = h.evaluate(&event("text"));

    assert_eq!(kinds_and_texts(&decision).0, vec![FailureKind::SizeLimit]);
}

#[test]
fn the_call_depth_limit_stops_runaway_recursion() {
    let deep = r#"fn down(n) { down(n + 1) } fn on_text(e) { down(0); }"#;
    let h = harness_with(&[("a_deep", deep)], "", |config| {
        config.max_call_depth = 8;
    });

    let decision = h.evaluate(&event("text"));

    assert_eq!(
        kinds_and_texts(&decision).0,
        vec![FailureKind::CallDepthLimit]
    );
}

#[test]
fn an_array_past_its_limit_is_stopped() {
    let big = r#"fn on_text(e) { let a = []; for i in 0..100 { a.push(i); } }"#;
    let h = harness_with(&[("a_big", big)], "", |config| {
        config.max_array_size = 10;
    });

    let decision = h.evaluate(&event("text"));

    assert_eq!(kinds_and_texts(&decision).0, vec![FailureKind::SizeLimit]);
}

#[test]
fn the_limits_are_on_without_any_configuration() {
    let endless = r#"fn on_text(e) { send_text(e.openid, "lost"); loop { } }"#;
    let growing = r#"fn on_text(e) { let s = "x"; loop { s += s; } }"#;
    let defaults = crate::config::RulesConfig::default();
    let h = harness_with(
        &[("a_endless", endless), ("b_growing", growing)],
        "",
        |_| {},
    );

    let decision = h.evaluate(&event("text"));

    let (kinds, texts) = kinds_and_texts(&decision);
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(
        kinds.iter().all(|kind| *kind != FailureKind::Timeout),
        "{kinds:?}"
    );
    assert!(texts.is_empty());
    let sizes = [
        defaults.max_operations,
        defaults.max_string_size as u64,
        defaults.max_array_size as u64,
        defaults.max_map_size as u64,
        defaults.timeout_ms,
    ];
    assert!(sizes.iter().all(|limit| *limit > 0), "{sizes:?}");
}
