//! Statistics end to end: pushes through the real server, counters read back through
//! `GET /admin/stats` and `cardbot stats`.

use std::time::Duration;

use cardbot::wechat::synth::{event_xml, EventFields};
use serde_json::Value;

use crate::support::pipeline::{eventually, text_message, Rig};
use crate::support::push;

const WAIT: Duration = Duration::from_secs(10);
const CARD: &str = "p-stats-card";
const ADMIN: &str = "test-admin-token";

const THANK_ON_RECEIPT: &str = r#"
fn on_user_get_card(event) {
    send_text(event.openid, `thanks for ${event.code}`);
}
"#;

/// A card event of `kind` for `code`, with extra fields set by `adjust`.
fn card_event(kind: &str, code: &str, adjust: impl FnOnce(&mut EventFields)) -> String {
    let mut fields = EventFields {
        openid: "o-stats".to_string(),
        create_time: cardbot::clock::now_secs(),
        card_id: Some(CARD.to_string()),
        code: Some(code.to_string()),
        ..EventFields::default()
    };
    adjust(&mut fields);
    event_xml(kind, &fields)
}

async fn post(rig: &Rig, xml: &str) {
    rig.server.post_ok(&push::plaintext(xml)).await;
}

/// Posts a small known history: two receipts from a poster, one untagged, views, a
/// redemption at a store by a staff member, and one redemption of an unknown code.
async fn post_history(rig: &Rig) {
    post(rig, &text_message("o-stats", "hello", 7)).await;
    let poster = |fields: &mut EventFields| fields.outer_str = Some("poster".to_string());
    post(rig, &card_event("user_get_card", "c1", poster)).await;
    post(rig, &card_event("user_get_card", "c2", poster)).await;
    post(rig, &card_event("user_get_card", "c3", |_| {})).await;
    post(rig, &card_event("user_view_card", "c1", |_| {})).await;
    // A second view, a second later: the same push again would be a retry.
    let later = |fields: &mut EventFields| fields.create_time += 1;
    post(rig, &card_event("user_view_card", "c1", later)).await;
    let at_store = |fields: &mut EventFields| {
        fields.consume_source = Some("FROM_MOBILE_HELPER".to_string());
        fields.staff_openid = Some("o-staff".to_string());
        fields.location_name = Some("North Store".to_string());
        fields
            .fields
            .insert("LocationId".to_string(), "42".to_string());
    };
    post(rig, &card_event("user_consume_card", "c1", at_store)).await;
    post(rig, &card_event("user_consume_card", "c-old", |_| {})).await;

    eventually("every event is handled", WAIT, || {
        rig.server.store.inbox_len() == 0
    })
    .await;
    eventually("every message is settled", WAIT, || {
        rig.server.app.outbox.is_empty()
    })
    .await;
}

fn row<'a>(answer: &'a Value, key: &str) -> &'a Value {
    let rows = answer["rows"].as_array().unwrap();
    rows.iter()
        .find(|row| row["key"] == key)
        .unwrap_or_else(|| panic!("no row {key} in {answer}"))
}

async fn start() -> Rig {
    Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_stats_counts_channels_funnel_and_redemption_details() {
    let rig = start().await;

    post_history(&rig).await;

    let by_channel = rig.admin_get(&format!("/admin/stats?card={CARD}")).await;
    assert_eq!(by_channel["by"], "channel");
    assert_eq!(by_channel["card"], CARD);
    assert_eq!(by_channel["timezone"], "Asia/Shanghai");
    let poster = &row(&by_channel, "poster")["counts"];
    assert_eq!(poster["received"], 2);
    assert_eq!(poster["viewed"], 2);
    assert_eq!(poster["funnel_engaged"], 1);
    assert_eq!(poster["redeemed"], 1);
    assert_eq!(poster["funnel_redeemed"], 1);
    assert!(poster["redeem_secs_avg"].is_u64());
    assert_eq!(row(&by_channel, "(none)")["counts"]["received"], 1);
    assert_eq!(row(&by_channel, "(unknown)")["counts"]["redeemed"], 1);
    assert_eq!(by_channel["totals"]["received"], 3);
    assert_eq!(by_channel["rows"][0]["key"], "poster");

    let by_location = rig.admin_get("/admin/stats?by=location").await;
    let store = row(&by_location, "42");
    assert_eq!(store["label"], "North Store");
    assert_eq!(store["counts"]["redeemed"], 1);
    let by_source = rig.admin_get("/admin/stats?by=source").await;
    assert_eq!(
        row(&by_source, "FROM_MOBILE_HELPER")["counts"]["redeemed"],
        1
    );
    let by_staff = rig.admin_get("/admin/stats?by=staff").await;
    assert_eq!(row(&by_staff, "o-staff")["counts"]["redeemed"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_stats_counts_each_rules_messages_by_outcome() {
    let rig = start().await;

    post_history(&rig).await;

    let by_rule = rig.admin_get("/admin/stats?by=rule").await;
    let thanks = &row(&by_rule, "thanks")["counts"];
    assert_eq!(thanks["sent"], 3);
    assert_eq!(thanks["failed"], 0);
    assert_eq!(by_rule["metrics"].as_array().unwrap().len(), 4);
    let by_day = rig.admin_get("/admin/stats?by=day").await;
    assert_eq!(by_day["rows"].as_array().unwrap().len(), 30);
    assert_eq!(by_day["totals"]["received"], 3);
}

/// `GET /admin/stats?query` with the admin token.
async fn admin_stats(rig: &Rig, query: &str) -> reqwest::Result<reqwest::Response> {
    reqwest::Client::new()
        .get(format!("http://{}/admin/stats?{query}", rig.server.addr))
        .bearer_auth(ADMIN)
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_stats_refuses_bad_parameters_with_what_to_fix() {
    let rig = start().await;

    let bad_day = admin_stats(&rig, "since=2026-02-30").await.unwrap();
    let bad_by = admin_stats(&rig, "by=shop").await.unwrap();
    let no_token = reqwest::Client::new()
        .get(format!("http://{}/admin/stats", rig.server.addr))
        .send()
        .await
        .unwrap();

    assert_eq!(bad_day.status(), 400);
    let body: Value = bad_day.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("YYYY-MM-DD"),
        "{body}"
    );
    assert_eq!(bad_by.status(), 400);
    let body: Value = bad_by.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("use one of"),
        "{body}"
    );
    assert_eq!(no_token.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_stats_refuses_an_unknown_parameter_and_answers_json_to_any_query() {
    let rig = start().await;
    let odd = [
        "card=%ff%fe",
        "since=2026-12-01&since=2026-12-02",
        "by=day&until=%2B262143-12-31",
        "by=day&since=-262143-01-01&until=-262143-01-05",
        "since=2026-12-01T00:00:00",
        "until=9999999999-01-01",
        "card=%00&by=location",
        "&&&==&by",
        "by=rule&card=",
    ];

    let misspelt = admin_stats(&rig, "crad=p-other").await.unwrap();

    assert_eq!(misspelt.status(), 400);
    let body: Value = misspelt.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("crad"), "{body}");
    for query in odd {
        let answer = admin_stats(&rig, query).await.unwrap();
        let status = answer.status();
        let body: Value = answer.json().await.unwrap();
        assert!(status == 200 || status == 400, "{query}: {status} {body}");
        assert_eq!(status == 400, body["error"].is_string(), "{query}: {body}");
    }
}

/// Runs the real binary's `stats` against the rig's server, off the async runtime.
async fn cardbot_stats(rig: &Rig, dir: &std::path::Path, args: &[&str]) -> String {
    let output = cardbot_stats_output(rig, dir, args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cardbot stats failed: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// Runs the real binary's `stats` against the rig's server, whatever its outcome.
async fn cardbot_stats_output(
    rig: &Rig,
    dir: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let config = dir.join("cli.toml");
    let text = format!(
        "[server]\nlisten = \"{}\"\n[admin]\ntoken = \"{ADMIN}\"\n",
        rig.server.addr
    );
    std::fs::write(&config, text).unwrap();
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_cardbot"))
            .arg("--config")
            .arg(&config)
            .arg("stats")
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cardbot_stats_shows_the_servers_reason_for_a_refused_query() {
    let rig = start().await;
    let dir = tempfile::tempdir().unwrap();

    let output = cardbot_stats_output(&rig, dir.path(), &["--since", "2999-01-01"]).await;

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("since 2999-01-01 is after until"),
        "{stderr}"
    );
    assert!(!stderr.contains("{\""), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cardbot_stats_prints_a_table_csv_and_the_endpoints_json() {
    let rig = start().await;
    let dir = tempfile::tempdir().unwrap();
    post_history(&rig).await;

    let table = cardbot_stats(&rig, dir.path(), &["--card", CARD, "--by", "source"]).await;
    let csv = cardbot_stats(&rig, dir.path(), &["--by", "location", "--format", "csv"]).await;
    let answer = rig.admin_get_text("/admin/stats?by=rule").await;
    let days: Value = serde_json::from_str(&answer).unwrap();
    let (since, until) = (
        days["since"].as_str().unwrap(),
        days["until"].as_str().unwrap(),
    );
    let json_args = [
        "--by", "rule", "--since", since, "--until", until, "--format", "json",
    ];
    let json = cardbot_stats(&rig, dir.path(), &json_args).await;

    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].ends_with(&format!("(Asia/Shanghai), card {CARD}")),
        "{table}"
    );
    assert_eq!(lines[1], "source              redeemed");
    assert_eq!(lines[2], "(none)                     1");
    assert_eq!(lines[3], "FROM_MOBILE_HELPER         1");
    assert_eq!(lines[4], "total                      2");
    assert_eq!(
        csv,
        "location,label,redeemed\n(none),,1\n42,North Store,1\n"
    );
    assert_eq!(json, format!("{answer}\n"));
}

/// Runs the real binary's `stats` with `args` and no server behind it.
fn cardbot_stats_alone(args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cli.toml");
    std::fs::write(&config, format!("[admin]\ntoken = \"{ADMIN}\"\n")).unwrap();

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cardbot"))
        .arg("--config")
        .arg(&config)
        .arg("stats")
        .args(args)
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stderr)
}

#[test]
fn cardbot_stats_refuses_bad_flags_naming_the_flag() {
    let cases: [(&[&str], &str); 5] = [
        (&["--since", "2026-02-30"], "--since"),
        (&["--until", "03/12/2026"], "--until"),
        (
            &["--since", "2026-12-03", "--until", "2026-12-01"],
            "--until",
        ),
        (&["--by", "shop"], "--by"),
        (&["--format", "xlsx"], "--format"),
    ];

    for (args, flag) in cases {
        let (succeeded, stderr) = cardbot_stats_alone(args);

        assert!(!succeeded, "{args:?} was accepted");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(!stderr.contains("no cardbot server"), "{args:?}: {stderr}");
    }
}

const COUNT_THE_POSTER: &str = r#"
fn on_user_get_card(event) {
    let poster = stats_channel(event.card_id, "poster", 1);
    send_text(event.openid, `poster receipts before this one: ${poster.received}`);
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_reads_the_live_counters_of_a_channel() {
    let rules = [("count.rhai", COUNT_THE_POSTER)];
    let rig = Rig::start(false, &rules, |config| config.rules.lookup_cache_secs = 0).await;
    post(&rig, &text_message("o-stats", "hello", 8)).await;
    let poster = |fields: &mut EventFields| fields.outer_str = Some("poster".to_string());

    for code in ["c1", "c2"] {
        post(&rig, &card_event("user_get_card", code, poster)).await;
        eventually("the receipt is handled", WAIT, || {
            rig.server.store.inbox_len() == 0
        })
        .await;
    }

    eventually("both messages are sent", WAIT, || {
        rig.sent_texts().len() == 2
    })
    .await;
    assert_eq!(
        rig.sent_texts(),
        [
            "poster receipts before this one: 0",
            "poster receipts before this one: 1"
        ]
    );
}

/// The dropped message first: a held one keeps the user's later messages waiting.
const HOLD_AND_DROP: &str = r#"
fn on_user_get_card(event) {
    send_text(event.openid, "only now or never", #{ when_closed: "drop" });
    send_text(event.openid, "kept for later", #{ when_closed: "hold" });
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_and_a_dropped_message_count_as_held_and_suppressed() {
    let rig = Rig::start(false, &[("closed.rhai", HOLD_AND_DROP)], |_| {}).await;

    post(&rig, &card_event("user_get_card", "c1", |_| {})).await;

    let started = std::time::Instant::now();
    let closed = loop {
        let by_rule = rig.admin_get("/admin/stats?by=rule").await;
        let counts = by_rule["rows"][0]["counts"].clone();
        if counts["held"] == 1 && counts["suppressed"] == 1 {
            break counts;
        }
        assert!(started.elapsed() < WAIT, "outcomes not counted: {by_rule}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(closed["sent"], 0);
    assert_eq!(closed["failed"], 0);
    assert_eq!(rig.server.app.outbox.len(), 1);
}

const POSTER_CAP: &str = r#"
fn on_user_get_card(event) {
    if stats_channel(event.card_id, event.outer_str, 1).received >= 100 {
        send_text(event.openid, "today's poster coupons are all gone");
    }
}
"#;

const POSTER_CAP_SUITE: &str = r#"
now = 1796270400

[[case]]
name = "the hundred-and-first poster receipt of the day hears they are gone"
event = { type = "user_get_card", openid = "o-a", card_id = "p-c", outer_str = "poster" }
lookups = { stats = [{ card_id = "p-c", channel = "poster", counts = { received = 100 } }] }
expect_actions = [{ rule = "cap", type = "text", content = "today's poster coupons are all gone" }]

[[case]]
name = "a quiet day sends nothing"
event = { type = "user_get_card", openid = "o-a", card_id = "p-c", outer_str = "poster" }
expect_actions = []
"#;

#[test]
fn rule_tests_give_stats_channel_canned_counts() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(rules.join("tests")).unwrap();
    std::fs::write(rules.join("cap.rhai"), POSTER_CAP).unwrap();
    std::fs::write(rules.join("tests/cap.toml"), POSTER_CAP_SUITE).unwrap();
    let config = dir.path().join("config.toml");
    let text = format!("[wechat]\ntoken = \"t\"\n[rules]\ndir = {rules:?}\nwatch = false\n");
    std::fs::write(&config, text).unwrap();

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cardbot"))
        .arg("--config")
        .arg(&config)
        .arg("test")
        .output()
        .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
}
