//! `GET /metrics`: counters and histograms move with real pushes, access tokens never
//! show, and the endpoint keeps to its token and its switch.
//!
//! Every app in this test binary shares the process's one recorder, so tests compare a
//! scrape before and after, or look at labels only their own rules produce.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::admin::sample;
use crate::support::pipeline::{eventually, text_message, Rig, CUSTOM_SEND};
use crate::support::push::{self, Push};
use crate::support::server::{free_addr, ChildServer, APP_ID, TOKEN};

const WAIT: Duration = Duration::from_secs(10);

/// Rule files whose names only this file uses, so their labels are this file's alone.
const METERED_THANKS: &str = r#"
fn on_user_get_card(event) {
    send_text(event.openid, "thanks");
}
"#;
const METERED_FAILURE: &str = r#"
fn on_user_get_card(event) {
    throw "this rule fails on purpose";
}
"#;
const METERED_ENDLESS: &str = r#"
fn on_user_get_card(event) {
    loop { }
}
"#;

async fn post(rig: &Rig, push: &Push) -> StatusCode {
    rig.server.post(push).await.0
}

async fn scrape_with(rig: &Rig, token: Option<&str>) -> (StatusCode, String) {
    let mut request = reqwest::Client::new().get(format!("http://{}/metrics", rig.server.addr));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

async fn scrape(rig: &Rig) -> String {
    let (status, text) = scrape_with(rig, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    text
}

/// A plaintext `user_get_card` push from `openid` with this code, created now.
fn receipt(openid: &str, code: &str) -> Push {
    let now = cardbot::clock::now_secs();
    push::plaintext(&push::user_get_card(openid, "p-card-m", code, now))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_shows_callbacks_rules_api_calls_and_messages_moving() {
    let rules = [
        ("metered_thanks.rhai", METERED_THANKS),
        ("metered_failure.rhai", METERED_FAILURE),
        ("metered_endless.rhai", METERED_ENDLESS),
    ];
    let rig = Rig::start(false, &rules, |config| {
        config.rules.max_operations = u64::MAX;
        config.rules.timeout_ms = 20;
    })
    .await;
    rig.wechat.respond_errcodes(CUSTOM_SEND, &[40001, -1, 0]);
    let before = scrape(&rig).await;
    let mut bad = receipt("o-metered", "300000000009");
    bad.query = bad.query.replace("signature=", "signature=0");

    post(&rig, &push::plaintext(&text_message("o-metered", "hi", 31))).await;
    let push = receipt("o-metered", "300000000001");
    post(&rig, &push).await;
    post(&rig, &push).await;
    let refused = post(&rig, &bad).await;
    eventually("the message is sent", WAIT, || {
        rig.wechat.hits(CUSTOM_SEND) >= 3 && rig.server.app.outbox.is_empty()
    })
    .await;
    let after = scrape(&rig).await;

    assert_eq!(refused, StatusCode::UNAUTHORIZED);
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert!(moved(r#"cardbot_callbacks_total{result="accepted"}"#) >= 2.0);
    assert!(moved(r#"cardbot_callbacks_total{result="duplicate"}"#) >= 1.0);
    assert!(moved(r#"cardbot_callbacks_total{result="bad_signature"}"#) >= 1.0);
    assert!(moved("cardbot_dedup_hits_total") >= 1.0);
    assert!(moved("cardbot_callback_duration_seconds_count") >= 4.0);
    assert!(moved(r#"cardbot_callback_duration_seconds_bucket{le="5"}"#) >= 4.0);
    assert!(after.contains(r#"cardbot_callback_duration_seconds_bucket{le="0.005"}"#));
    assert!(after.contains(r#"cardbot_callback_duration_seconds_bucket{le="10"}"#));
    let rule = |name: &str, result: &str| {
        sample(
            &after,
            &format!(r#"cardbot_rule_evaluations_total{{rule="{name}",result="{result}"}}"#),
        )
    };
    assert_eq!(rule("metered_thanks", "ok"), 1.0);
    assert_eq!(rule("metered_failure", "error"), 1.0);
    assert_eq!(rule("metered_endless", "timeout"), 1.0);
    assert_eq!(
        sample(
            &after,
            r#"cardbot_rule_duration_seconds_count{rule="metered_thanks"}"#
        ),
        1.0
    );
    let send = "cgi-bin/message/custom/send";
    let api = |errcode: &str| {
        format!(r#"cardbot_api_calls_total{{endpoint="{send}",errcode="{errcode}"}}"#)
    };
    assert!(moved(&api("40001")) >= 1.0);
    assert!(moved(&api("-1")) >= 1.0);
    assert!(moved(&api("0")) >= 1.0);
    let fetches = r#"cardbot_token_fetches_total{cause="invalidated",result="ok"}"#;
    assert!(moved(fetches) >= 1.0);
    let first_fetch = r#"cardbot_token_fetches_total{cause="startup",result="ok"}"#;
    assert!(moved(first_fetch) >= 1.0);
    let timed = format!(r#"cardbot_api_duration_seconds_count{{endpoint="{send}"}}"#);
    assert!(moved(&timed) >= 3.0);
    assert!(moved(r#"cardbot_messages_total{outcome="retried"}"#) >= 1.0);
    assert!(moved(r#"cardbot_messages_total{outcome="sent"}"#) >= 1.0);
    assert!(moved(r#"cardbot_events_handled_total{kind="user_get_card"}"#) >= 1.0);
    assert!(after.contains(r#"cardbot_build_info{version=""#));
    assert!(after.contains("# HELP cardbot_outbox_depth"));
    assert!(after.contains(r#"cardbot_outbox_depth{state="held"}"#));
    assert!(after.contains("cardbot_inbox_oldest_age_seconds"));
    assert!(
        !after.contains("fake-token-"),
        "an access token leaked into the scrape"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errcodes_and_event_kinds_from_the_network_do_not_become_labels() {
    let rig = Rig::start(false, &[("metered_unknown.rhai", METERED_THANKS)], |_| {}).await;
    rig.wechat.respond_errcodes(CUSTOM_SEND, &[98765]);
    let before = scrape(&rig).await;

    post(&rig, &push::plaintext(&text_message("o-unknown", "hi", 32))).await;
    post(
        &rig,
        &push::event_now("metered_made_up_kind", "o-unknown", &[]),
    )
    .await;
    post(&rig, &receipt("o-unknown", "300000000021")).await;
    post(&rig, &receipt("o-unknown-no-window", "300000000022")).await;
    eventually(
        "the events are handled, one send given up, one held",
        WAIT,
        || {
            rig.wechat.hits(CUSTOM_SEND) >= 1
                && rig.server.store.inbox_len() == 0
                && rig.server.app.outbox.len() == 1
        },
    )
    .await;
    let after = scrape(&rig).await;

    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    let send = r#"cardbot_api_calls_total{endpoint="cgi-bin/message/custom/send""#;
    assert!(moved(&format!(r#"{send},errcode="other"}}"#)) >= 1.0);
    assert!(
        !after.contains("98765"),
        "an unknown errcode became a label"
    );
    assert!(moved(r#"cardbot_events_handled_total{kind="other"}"#) >= 1.0);
    assert!(moved(r#"cardbot_messages_total{outcome="dead_lettered"}"#) >= 1.0);
    assert!(moved(r#"cardbot_messages_total{outcome="held"}"#) >= 1.0);
    let leaked: Vec<_> = after
        .lines()
        .filter(|l| l.contains("metered_made_up"))
        .collect();
    assert!(
        leaked.is_empty(),
        "an unknown kind became a label: {leaked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_moves_the_revision_gauge_and_a_broken_one_is_counted() {
    let rig = Rig::start(false, &[("metered_reload.rhai", METERED_THANKS)], |_| {}).await;
    let rules = &rig.server.app.rules;
    let first = rules.active().revision.clone();
    let before = scrape(&rig).await;
    let dir = rig.server.config.rules.dir.clone();

    std::fs::write(dir.join("metered_reload.rhai"), "fn on_text(e) { }").unwrap();
    let second = rules.reload_async().await.unwrap().revision;
    std::fs::write(dir.join("metered_broken.rhai"), "fn on_text(e) {").unwrap();
    let refused = rules.reload_async().await;
    let after = scrape(&rig).await;

    assert!(refused.is_err());
    let revision = |revision: &str| {
        sample(
            &after,
            &format!(r#"cardbot_rules_revision_info{{revision="{revision}"}}"#),
        )
    };
    assert!(
        !after.contains(&format!(r#"revision="{first}""#)),
        "the replaced revision left a series behind"
    );
    assert_eq!(revision(&second), 1.0);
    let revisions = after
        .lines()
        .filter(|line| line.starts_with("cardbot_rules_revision_info"));
    assert_eq!(revisions.count(), 1, "one revision series, this app's");
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert!(moved(r#"cardbot_rule_reloads_total{result="ok"}"#) >= 1.0);
    assert!(moved(r#"cardbot_rule_reloads_total{result="rejected"}"#) >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rollbacks_are_counted_by_why_and_the_start_time_is_shown() {
    let rig = Rig::start(false, &[], |_| {}).await;
    let before = scrape(&rig).await;
    let client = reqwest::Client::new();
    let rollback = |body: &'static str| {
        client
            .post(format!("http://{}/admin/rules/rollback", rig.server.addr))
            .bearer_auth("test-admin-token")
            .body(body)
            .send()
    };

    let unknown = rollback(r#"{"revision": "0000000000ff"}"#).await.unwrap();
    let no_previous = rollback("").await.unwrap();
    let after = scrape(&rig).await;

    assert_eq!(
        (unknown.status(), no_previous.status()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY
        )
    );
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert!(moved(r#"cardbot_rule_rollbacks_total{result="unknown_revision"}"#) >= 1.0);
    assert!(moved(r#"cardbot_rule_rollbacks_total{result="no_previous_revision"}"#) >= 1.0);
    assert!(after.contains("# HELP cardbot_start_time_seconds "));
    let started = sample(&after, "cardbot_start_time_seconds");
    let now = cardbot::clock::now_secs() as f64;
    assert!(started > 1.0e9 && started <= now + 1.0, "{started}");
}

/// The real binary in its own process, so that its gauges are its own: no rules, the
/// worker `paused` or not.
fn start_child(dir: &std::path::Path, paused: bool) -> ChildServer {
    start_child_with(dir, &format!("[worker]\npaused = {paused}\n"), None)
}

/// [`start_child`] with more config sections and, if given, one rule file.
fn start_child_with(dir: &std::path::Path, sections: &str, rule: Option<&str>) -> ChildServer {
    std::fs::create_dir(dir.join("rules")).unwrap();
    if let Some(rule) = rule {
        std::fs::write(dir.join("rules").join("metered.rhai"), rule).unwrap();
    }
    let addr = free_addr();
    let config = format!(
        "[server]\nlisten = \"{addr}\"\n\n[wechat]\ntoken = \"{TOKEN}\"\napp_id = \"{APP_ID}\"\n\n\
         [store]\npath = \"store\"\n\n[rules]\ndir = \"rules\"\nwatch = false\n\n{sections}"
    );
    ChildServer::start(dir, &config, addr)
}

async fn scrape_child(child: &ChildServer) -> String {
    let response = reqwest::get(format!("http://{}/metrics", child.addr))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// Scrapes `child` until `condition` holds of the scrape, failing the test after 20 s.
async fn scrape_child_until(
    child: &ChildServer,
    what: &str,
    condition: impl Fn(&str) -> bool,
) -> String {
    let started = std::time::Instant::now();
    loop {
        let text = scrape_child(child).await;
        if condition(&text) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting until {what}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_waiting_for_a_paused_worker_show_in_the_inbox_gauges() {
    let dir = tempfile::tempdir().unwrap();
    let child = start_child(dir.path(), true);
    let client = reqwest::Client::new();

    for code in ["300000000031", "300000000032"] {
        let answer = push::post_to(&client, child.addr, &receipt("o-waiting", code)).await;
        assert_eq!(answer.map(|(status, _)| status), Some(200));
    }
    let text = scrape_child(&child).await;
    drop(child);

    assert_eq!(sample(&text, "cardbot_inbox_depth"), 2.0, "{text}");
    let age = text
        .lines()
        .find(|line| line.starts_with("cardbot_inbox_oldest_age_seconds "))
        .unwrap_or_else(|| panic!("no inbox age:\n{text}"));
    assert!(
        sample(&text, "cardbot_inbox_oldest_age_seconds") >= 0.0,
        "{age}"
    );
    assert_eq!(sample(&text, r#"cardbot_outbox_depth{state="ready"}"#), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_message_shows_in_the_held_gauges_then_in_the_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let sections = "[worker]\npaused = false\n\n\
                    [dispatcher]\nhold_max_secs = 3\npoll_interval_ms = 20\n";
    let child = start_child_with(dir.path(), sections, Some(METERED_THANKS));
    let client = reqwest::Client::new();
    // A card event opens no customer-service window, so the thanks is held.
    let answer = push::post_to(&client, child.addr, &receipt("o-held", "300000000041")).await;
    assert_eq!(answer.map(|(status, _)| status), Some(200));

    let text = scrape_child_until(&child, "the message is held", |text| {
        sample(text, "cardbot_held_messages") == 1.0
    })
    .await;
    assert_eq!(sample(&text, r#"cardbot_outbox_depth{state="held"}"#), 1.0);
    assert_eq!(
        sample(&text, r#"cardbot_messages_total{outcome="held"}"#),
        1.0
    );
    assert_eq!(sample(&text, "cardbot_dead_letters"), 0.0);

    let text = scrape_child_until(&child, "the hold expires", |text| {
        sample(text, "cardbot_dead_letters") == 1.0
    })
    .await;
    drop(child);
    assert_eq!(sample(&text, "cardbot_held_messages"), 0.0, "{text}");
    assert_eq!(sample(&text, r#"cardbot_outbox_depth{state="held"}"#), 0.0);
    let dead = sample(&text, r#"cardbot_messages_total{outcome="dead_lettered"}"#);
    assert_eq!(dead, 1.0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_shows_the_alerted_counters_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let child = start_child(dir.path(), false);

    let text = scrape_child(&child).await;
    drop(child);

    for series in [
        r#"cardbot_callbacks_total{result="store_error"} 0"#,
        r#"cardbot_callbacks_total{result="accepted"} 0"#,
        r#"cardbot_rule_reloads_total{result="rejected"} 0"#,
        r#"cardbot_messages_total{outcome="dead_lettered"} 0"#,
        r#"cardbot_messages_total{outcome="unknown_outcome"} 0"#,
    ] {
        assert!(
            text.lines().any(|line| line == series),
            "{series} missing:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_needs_the_configured_bearer_token() {
    let rig = Rig::start(false, &[], |config| {
        config.metrics.token = "scrape-token".to_string();
    })
    .await;

    let (missing, _) = scrape_with(&rig, None).await;
    let (wrong, _) = scrape_with(&rig, Some("scrape-tokem")).await;
    let (right, text) = scrape_with(&rig, Some("scrape-token")).await;

    assert_eq!(missing, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(right, StatusCode::OK);
    assert!(text.contains("cardbot_build_info"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_switched_off_answer_not_found() {
    let rig = Rig::start(false, &[], |config| config.metrics.enabled = false).await;

    let (status, _) = scrape_with(&rig, None).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
}
