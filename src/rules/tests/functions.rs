//! Every function rules may call, and the event map they receive.

use crate::rules::action::{Message, ReplyBody};
use crate::rules::lookup::LookupSource;
use crate::rules::testing::{event, harness};
use crate::rules::FailureKind;

const CANNED: &str = r#"
[[codes]]
card_id = "pLotusCash20"
code = "110201201245"
openid = "oAlice"
end_time = 1700600000

[cards.pLotusCash20]
card_type = "CASH"
title = "20 yuan off"
brand_name = "Lotus Tea"
status = "CARD_STATUS_VERIFY_OK"
end_time = 1700600000

[[failures]]
lookup = "card_info"
arg = "pBusy"
message = "system busy"
retryable = true

[[stats]]
card_id = "pLotusCash20"
channel = "store_a"
counts = { received = 12, redeemed = 3 }
"#;

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
fn the_event_map_has_typed_fields_raw_elements_and_unit_for_absent_ones() {
    let source = r#"
        fn on_user_get_card(e) {
            let ok = e.friend_openid == () && e.outer_id == 7 && e.is_give_by_friend == false
                && e.create_time == 1700000000 && e.fields.SourceScene == "SOURCE_SCENE_QRCODE";
            send_text(e.openid, `${e.type} ${e.card_id} ${ok}`);
        }
    "#;
    let h = harness(&[("fields", source)], CANNED);
    let mut e = event("user_get_card");
    e.outer_id = Some(7);
    e.is_give_by_friend = Some(false);
    e.fields
        .insert("SourceScene".into(), "SOURCE_SCENE_QRCODE".into());

    let decision = h.evaluate(&e);

    assert_eq!(
        texts(&decision),
        vec!["user_get_card pLotusCash20 true".to_string()]
    );
}

#[test]
fn every_send_function_collects_its_message_with_the_rule_name() {
    let source = r##"
        fn on_user_consume_card(e) {
            send_text(e.openid, "thanks");
            send_card(e.openid, "pLotusNext");
            send_news(e.openid, #{title: "New menu", description: "", url: "https://lotus.example/menu", picurl: ""});
            send_image(e.openid, "MEDIA_1");
            send_miniprogram(e.openid, #{title: "Order", appid: "wx123", pagepath: "pages/index", thumb_media_id: "T1"});
            send_template(e.openid, "TPL_1", #{first: "Hello", remark: #{value: "Bye", color: "#173177"}}, "https://lotus.example");
            send_template(e.openid, "TPL_2", #{first: "No link"});
            reply_text("see you soon");
            reply_news(#{title: "Menu", description: "d", url: "https://lotus.example", picurl: "p"});
        }
    "##;
    let h = harness(&[("all_sends", source)], CANNED);

    let decision = h.evaluate(&event("user_consume_card"));

    assert!(decision.failures().next().is_none(), "{:?}", decision.rules);
    assert_eq!(decision.actions.len(), 7);
    assert!(decision
        .actions
        .iter()
        .all(|a| a.rule == "all_sends" && a.openid == "oAlice"));
    assert_eq!(
        decision.actions[1].message,
        Message::Card {
            card_id: "pLotusNext".into()
        }
    );
    let Message::Template { data, url, .. } = &decision.actions[5].message else {
        panic!("not a template: {:?}", decision.actions[5]);
    };
    assert_eq!(data["first"]["value"], "Hello");
    assert_eq!(data["remark"]["color"], "#173177");
    assert_eq!(url.as_deref(), Some("https://lotus.example"));
    assert!(matches!(
        &decision.actions[6].message,
        Message::Template { url: None, .. }
    ));
    assert_eq!(decision.replies.len(), 2);
    assert_eq!(
        decision.replies[0].body,
        ReplyBody::Text {
            content: "see you soon".into()
        }
    );
}

#[test]
fn bad_arguments_raise_an_error_naming_the_function() {
    let cases = [
        (
            r#"send_text("", "hi")"#,
            "send_text: openid must not be empty",
        ),
        (
            r#"send_news(e.openid, #{title: "t", description: "", picurl: ""})"#,
            "send_news: missing key `url`",
        ),
        (
            r#"send_miniprogram(e.openid, #{title: "t"})"#,
            "send_miniprogram: missing key `appid`",
        ),
        (r#"send_text(e.openid, 42)"#, "send_text"),
        (r#"reply_text("")"#, "reply_text: text must not be empty"),
    ];
    for (call, expected) in cases {
        let source = format!("fn on_text(e) {{ {call}; }}");
        let h = harness(&[("bad", &source)], CANNED);

        let decision = h.evaluate(&event("text"));

        let failure = decision
            .failures()
            .next()
            .unwrap_or_else(|| panic!("{call} passed"));
        assert!(
            failure.message.contains(expected),
            "{call}: {}",
            failure.message
        );
        assert!(
            failure.location.ends_with("bad.rhai:1:17"),
            "{}",
            failure.location
        );
    }
}

#[test]
fn lookups_answer_from_the_backend_and_are_memoised_then_shared() {
    let source = r#"
        fn on_user_enter_session_from_card(e) {
            let held = user_cards(e.openid);
            let state = card_status(held[0].card_id, held[0].code);
            let info = card_info(e.card_id);
            let again = card_info(e.card_id);
            let ok = cards_with_status(["CARD_STATUS_VERIFY_OK"]);
            send_text(e.openid, `${held.len()} ${state.status} ${state.can_consume} ${state.end_time} ${info.title} ${again.card_type} ${ok}`);
        }
    "#;
    let h = harness(&[("lookups", source)], CANNED);
    let e = event("user_enter_session_from_card");

    let first = h.evaluate(&e);
    let second = h.evaluate(&e);

    assert_eq!(
        texts(&first),
        vec![r#"1 NORMAL true 1700600000 20 yuan off CASH ["pLotusCash20"]"#.to_string()]
    );
    let sources: Vec<_> = first
        .lookups
        .iter()
        .map(|l| (l.name.as_str(), l.source))
        .collect();
    assert_eq!(sources[2], ("card_info", LookupSource::Fetched));
    assert_eq!(sources[3], ("card_info", LookupSource::Event));
    assert!(second
        .lookups
        .iter()
        .all(|l| l.source != LookupSource::Fetched));
    assert_eq!(first.lookups[0].args, vec!["oAlice".to_string()]);
}

#[test]
fn a_failed_lookup_can_be_caught_by_the_rule() {
    let source = r#"
        fn on_text(e) {
            try { card_info("pUnknown"); } catch (err) { send_text(e.openid, `caught: ${err}`); }
            try { card_info("pBusy"); } catch (err) { send_text(e.openid, "busy"); }
        }
    "#;
    let h = harness(&[("catcher", source)], CANNED);

    let decision = h.evaluate(&event("text"));

    assert_eq!(
        texts(&decision),
        vec!["caught: card_info: invalid card id pUnknown", "busy"]
    );
    assert!(decision.retry_later().is_none());
    assert!(decision.lookups.iter().all(|l| l.error.is_some()));
}

#[test]
fn an_uncaught_retryable_lookup_failure_asks_for_a_retry() {
    let busy = r#"fn on_text(e) { send_text(e.openid, "lost"); helper(); } fn helper() { card_info("pBusy"); }"#;
    let fine = r#"fn on_text(e) { send_text(e.openid, "kept"); }"#;
    let h = harness(&[("a_busy", busy), ("b_fine", fine)], CANNED);

    let decision = h.evaluate(&event("text"));

    let retry = decision.retry_later().unwrap();
    assert_eq!(retry.kind, FailureKind::LookupRetryable);
    assert!(
        retry.location.ends_with("a_busy.rhai:1:72"),
        "{}",
        retry.location
    );
    assert_eq!(texts(&decision), vec!["kept"]);
}

#[test]
fn an_uncaught_permanent_lookup_failure_is_a_plain_rule_error() {
    let h = harness(
        &[("r", r#"fn on_text(e) { card_info("pUnknown"); }"#)],
        CANNED,
    );

    let decision = h.evaluate(&event("text"));

    assert!(decision.retry_later().is_none());
    assert_eq!(
        decision.failures().next().unwrap().kind,
        FailureKind::Runtime
    );
}

#[test]
fn on_event_runs_after_the_specific_handler_and_rules_run_in_file_name_order() {
    let b = r#"fn on_text(e) { send_text(e.openid, "b"); }"#;
    let a = r#"fn on_event(e) { send_text(e.openid, "a any"); } fn on_text(e) { send_text(e.openid, "a text"); }"#;
    let h = harness(&[("b_second", b), ("a_first", a)], CANNED);

    let decision = h.evaluate(&event("text"));
    let other = h.evaluate(&event("user_del_card"));

    assert_eq!(texts(&decision), vec!["a text", "a any", "b"]);
    assert_eq!(decision.rules[0].handlers, vec!["on_text", "on_event"]);
    assert_eq!(texts(&other), vec!["a any"]);
}

#[test]
fn log_print_debug_and_now_work_inside_a_handler() {
    let source = r#"fn on_text(e) { log("hello"); print("p"); debug("d"); send_text(e.openid, `${now()}`); }"#;
    let h = harness(&[("talk", source)], CANNED);

    let decision = h.evaluate(&event("text"));

    assert_eq!(texts(&decision), vec!["1700000000"]);
}

#[test]
fn global_constants_are_visible_to_handlers() {
    let source = r#"const GREETING = "welcome"; fn on_subscribe(e) { send_text(e.openid, global::GREETING); }"#;
    let h = harness(&[("consts", source)], CANNED);

    let decision = h.evaluate(&event("subscribe"));

    assert_eq!(texts(&decision), vec!["welcome"]);
}

#[test]
fn stats_channel_refuses_a_count_of_days_below_one_or_past_the_longest_range() {
    for days in ["0", "-3", "1001"] {
        let source =
            format!("fn on_user_get_card(e) {{ stats_channel(e.card_id, \"store_a\", {days}); }}");
        let h = harness(&[("stats", &source)], CANNED);

        let decision = h.evaluate(&event("user_get_card"));

        let failure = decision.failures().next().unwrap();
        assert!(
            failure.message.contains("days must be from 1 to 1000"),
            "{days}: {failure:?}"
        );
        assert!(
            decision.lookups.is_empty(),
            "{days}: {:?}",
            decision.lookups
        );
    }
}

#[test]
fn stats_channel_answers_canned_counts() {
    let source = r#"
        fn on_user_get_card(e) {
            let month = stats_channel(e.card_id, "store_a");
            let today = stats_channel(e.card_id, "store_b", 1);
            let avg = month.redeem_secs_avg;
            send_text(e.openid, `${month.received} ${month.redeemed} ${today.received} ${avg}`);
        }
    "#;
    let h = harness(&[("stats", source)], CANNED);

    let decision = h.evaluate(&event("user_get_card"));

    assert_eq!(texts(&decision), vec!["12 3 0 ".to_string()]);
    assert_eq!(decision.lookups[0].name, "stats_channel");
    assert_eq!(decision.lookups[0].args, ["pLotusCash20", "store_a", "30"]);
}

#[test]
fn stats_channel_takes_an_untagged_receipt_or_an_outer_id_as_its_channel() {
    let source = r#"
        fn on_user_get_card(e) {
            stats_channel(e.card_id, e.outer_str);
            stats_channel(e.card_id, 42, 7);
        }
    "#;
    let h = harness(&[("stats", source)], CANNED);

    let decision = h.evaluate(&event("user_get_card"));

    assert_eq!(
        decision.failures().count(),
        0,
        "{:?}",
        decision.failures().next()
    );
    let args: Vec<_> = decision.lookups.iter().map(|l| l.args.clone()).collect();
    assert_eq!(args[0], ["pLotusCash20", "(none)", "30"]);
    assert_eq!(args[1], ["pLotusCash20", "42", "7"]);
}
