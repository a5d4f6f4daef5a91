//! The dashboard at /admin/: the page shell and its assets over HTTP, then the whole
//! page in a real headless Chromium after known pushes went through the callback, the
//! pipeline and the sandbox, with every chart's numbers read back from the page.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::header;
use serde_json::{json, Value};

use crate::support::admin;
use crate::support::admin_proxy::AdminProxy;
use crate::support::browser::{
    attributes_of, chart_table_rows, section_of, table_rows, text_of, Chromium,
};
use crate::support::push::event_now;
use crate::support::server::{free_addr, TestServer};

const ADMIN_TOKEN: &str = "dashboard-test-admin";
const GIFT_CARD: &str = "pLtS7jB8nR4uXe6QpKwJ0sFy1CaM";
const DISCOUNT_CARD: &str = "pLtS7jC3mV9tLh2DgZbN7qWx5EoP";
/// A bound on the wait for the pipeline, not a timing assertion.
const SETTLE_LIMIT: Duration = Duration::from_secs(20);
/// How far a value read back from a bar's or a point's pixels may be from its count:
/// pixel rounding is far below a tenth, and a wrong count is off by at least one.
const PIXEL_TOLERANCE: f64 = 0.1;
/// How far a doughnut slice's share may be from the expected one (arcs are not
/// rounded to pixels).
const SHARE_TOLERANCE: f64 = 0.001;

/// Thanks whoever redeems (sent if their window is open, else held), says goodbye to
/// whoever deletes a card (refused by the sandbox for a user who unfollowed), and fails
/// on every view, so that the rules panel has runtime errors to show.
const RULE: &str = r#"
fn on_user_consume_card(event) {
    send_text(event.openid, "Thanks for visiting!");
}

fn on_user_del_card(event) {
    send_text(event.openid, "Sorry to see that coupon go.");
}

fn on_user_view_card(event) {
    throw "views have no handler yet";
}
"#;

/// A rule file that does not compile: a reload with it fails and keeps the old rules.
const BROKEN_RULE: &str = "fn on_user_get_card(event) { send_text( }\n";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// cardbot with the sandbox as its WeChat, the worker and dispatcher running.
async fn start() -> TestServer {
    start_with_token(ADMIN_TOKEN).await
}

async fn start_with_token(token: &str) -> TestServer {
    let addr = free_addr();
    TestServer::start(false, |config| {
        config.server.listen = addr;
        config.wechat.api_base = format!("http://{addr}/sandbox");
        config.wechat.app_secret = "dashboard-test-secret".to_string();
        config.sandbox.enabled = true;
        config.sandbox.seed = repo_path("rules/sandbox_seed.toml");
        config.admin.token = token.to_string();
        config.worker.paused = false;
        config.dispatcher.poll_interval_ms = 20;
        config.dispatcher.backoff_base_ms = 20;
        std::fs::write(config.rules.dir.join("dashboard.rhai"), RULE).unwrap();
    })
    .await
}

fn page_url(server: &TestServer, path: &str) -> String {
    format!("http://{}/admin{path}", server.addr)
}

/// The page signed in through the fragment, with `filters` (`&card=...`) after it.
fn signed_in_url(server: &TestServer, filters: &str) -> String {
    page_url(server, &format!("/#token={ADMIN_TOKEN}{filters}"))
}

/// Pushes an event of `kind` from `openid` through the callback, as WeChat would.
async fn push(server: &TestServer, kind: &str, openid: &str, fields: &[(&str, &str)]) {
    server.post_ok(&event_now(kind, openid, fields)).await;
}

async fn receive(server: &TestServer, openid: &str, code: &str, outer_str: Option<&str>) {
    receive_card(server, GIFT_CARD, openid, code, outer_str).await;
}

async fn receive_card(
    server: &TestServer,
    card: &str,
    openid: &str,
    code: &str,
    outer_str: Option<&str>,
) {
    let mut fields = vec![
        ("CardId", card),
        ("UserCardCode", code),
        ("IsGiveByFriend", "0"),
    ];
    fields.extend(outer_str.map(|tag| ("OuterStr", tag)));
    push(server, "user_get_card", openid, &fields).await;
}

async fn card_event(server: &TestServer, kind: &str, openid: &str, code: &str) {
    let fields = [("CardId", GIFT_CARD), ("UserCardCode", code)];
    push(server, kind, openid, &fields).await;
}

/// A redemption at `source`, by `staff` when a staff member scanned it.
async fn redeem(server: &TestServer, openid: &str, code: &str, source: &str, staff: Option<&str>) {
    let mut fields = vec![
        ("CardId", GIFT_CARD),
        ("UserCardCode", code),
        ("ConsumeSource", source),
    ];
    fields.extend(staff.map(|staff| ("StaffOpenId", staff)));
    push(server, "user_consume_card", openid, &fields).await;
}

/// Five receipts over two tagged channels and an untagged one, three views or chats,
/// four redemptions (two by o-staff-wang, one by o-staff-li, one through the API with
/// no staff member), one deletion; messages: two sent, two held, one refused.
async fn push_known_history(server: &TestServer) {
    push(server, "text", "o-alice", &[("Content", "hi")]).await;
    push(server, "text", "o-dana", &[("Content", "hi")]).await;
    receive(server, "o-alice", "900000000001", Some("store_a")).await;
    receive(server, "o-bob", "900000000002", Some("store_a")).await;
    receive(server, "o-chen", "900000000003", Some("poster")).await;
    receive(server, "o-dana", "900000000004", None).await;
    receive(server, "o-alice", "900000000005", Some("poster")).await;
    card_event(server, "user_view_card", "o-alice", "900000000001").await;
    card_event(server, "user_view_card", "o-chen", "900000000003").await;
    card_event(
        server,
        "user_enter_session_from_card",
        "o-bob",
        "900000000002",
    )
    .await;
    let helper = "FROM_MOBILE_HELPER";
    redeem(
        server,
        "o-alice",
        "900000000001",
        helper,
        Some("o-staff-wang"),
    )
    .await;
    redeem(server, "o-bob", "900000000002", "FROM_API", None).await;
    redeem(
        server,
        "o-chen",
        "900000000003",
        helper,
        Some("o-staff-wang"),
    )
    .await;
    redeem(
        server,
        "o-alice",
        "900000000005",
        helper,
        Some("o-staff-li"),
    )
    .await;
    card_event(server, "user_del_card", "o-dana", "900000000004").await;
}

async fn admin_get(server: &TestServer, path: &str) -> Value {
    admin::get_json(server.addr, ADMIN_TOKEN, &format!("/admin{path}")).await
}

/// Waits until every event was handled and every message reached its final state.
async fn settle(server: &TestServer) {
    let started = Instant::now();
    loop {
        let health: Value = reqwest::get(format!("http://{}/healthz", server.addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let outbox = admin_get(server, "/outbox").await;
        let settled = health["inbox"] == 0
            && outbox["by_state"] == json!({"ready": 0, "held": 2, "sending": 0})
            && outbox["dead_letters"] == 1;
        if settled {
            return;
        }
        assert!(
            started.elapsed() < SETTLE_LIMIT,
            "the pipeline did not settle: {health} {outbox}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the inbox is empty, for tests whose events send no message.
async fn drain_inbox(server: &TestServer) {
    admin::drain(server.addr, ADMIN_TOKEN, SETTLE_LIMIT).await;
}

/// Puts a rule file that does not compile in place and asks for a reload, which fails.
async fn fail_a_reload(server: &TestServer) {
    std::fs::write(server.config.rules.dir.join("broken.rhai"), BROKEN_RULE).unwrap();
    let answer = reqwest::Client::new()
        .post(format!("http://{}/admin/rules/reload", server.addr))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 422);
}

/// Loads `url` in headless Chromium and answers its DOM, or `None` when the browser
/// test `test` cannot run here.
async fn dump_dom(test: &str, url: String) -> Option<String> {
    let chromium = Chromium::find(test)?;
    let dom = tokio::task::spawn_blocking(move || chromium.dump_dom(&url));
    Some(dom.await.unwrap())
}

fn body_state(dom: &str) -> String {
    attributes_of(dom, "<body")["data-state"].clone()
}

/// What one chart drew, as the page read it back from the chart's elements.
struct Rendered {
    labels: Vec<String>,
    /// Series label -> the value of each element, in label order.
    series: BTreeMap<String, Vec<f64>>,
}

impl Rendered {
    /// Chart `chart` of the page, which must have drawn every series it has, visible,
    /// with one element per label.
    fn of(dom: &str, chart: &str) -> Rendered {
        let attributes = attributes_of(dom, &format!("data-chart=\"{chart}\""));
        let rendered = attributes
            .get("data-rendered")
            .unwrap_or_else(|| panic!("the {chart} chart was not rendered"));
        let value: Value = serde_json::from_str(rendered).unwrap();
        let labels: Vec<String> = value["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|label| label.as_str().unwrap().to_string())
            .collect();

        let mut series = BTreeMap::new();
        for dataset in value["datasets"].as_array().unwrap() {
            let name = dataset["label"].as_str().unwrap().to_string();
            assert_eq!(dataset["visible"], true, "the {chart} chart hides {name}");
            assert_eq!(
                dataset["elements"],
                labels.len(),
                "the {chart} chart drew the wrong number of {name} elements"
            );
            let values = dataset["values"].as_array().unwrap();
            let numbers = values.iter().map(|n| n.as_f64().unwrap()).collect();
            series.insert(name, numbers);
        }
        Rendered { labels, series }
    }

    /// Label -> the values of `series` in this order, so row order does not matter.
    fn rows(&self, series: &[&str]) -> BTreeMap<String, Vec<f64>> {
        let rows = self.labels.iter().enumerate().map(|(index, label)| {
            let values = series.iter().map(|name| self.series(name)[index]);
            (label.clone(), values.collect())
        });
        rows.collect()
    }

    fn series(&self, name: &str) -> &[f64] {
        self.series
            .get(name)
            .unwrap_or_else(|| panic!("no series {name}; the chart has {:?}", self.series.keys()))
    }

    /// The sum of each of `series` over every label.
    fn sums(&self, series: &[&str]) -> Vec<f64> {
        let sums = series.iter().map(|name| self.series(name).iter().sum());
        sums.collect()
    }
}

/// Asserts that `actual` has exactly the labels of `expected`, each value within
/// `tolerance` of the expected one.
fn assert_rows(
    chart: &str,
    actual: &BTreeMap<String, Vec<f64>>,
    expected: &[(&str, &[f64])],
    tolerance: f64,
) {
    let labels: Vec<&String> = actual.keys().collect();
    let mut wanted: Vec<&str> = expected.iter().map(|(label, _)| *label).collect();
    wanted.sort();
    assert_eq!(labels, wanted, "the {chart} chart's labels");
    for (label, values) in expected {
        assert_close(
            &format!("{chart} {label}"),
            &actual[*label],
            values,
            tolerance,
        );
    }
}

fn assert_close(what: &str, actual: &[f64], expected: &[f64], tolerance: f64) {
    let close = actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| (a - e).abs() <= tolerance);
    assert!(close, "{what}: drew {actual:?}, expected {expected:?}");
}

/// A unix time in milliseconds as the page shows it in UTC (`sv-SE` style).
fn shown_time(at_ms: i64) -> String {
    let at = chrono::DateTime::from_timestamp_millis(at_ms).unwrap();
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn screenshot_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("target"));
    target.join("dashboard.png")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_without_data_under_a_strict_content_security_policy() {
    let server = start().await;
    let http = reqwest::Client::new();

    let page = http.get(page_url(&server, "/")).send().await.unwrap();
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(page_url(&server, ""))
        .send()
        .await
        .unwrap();

    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        policy.starts_with("default-src 'none'; script-src 'self';"),
        "{policy}"
    );
    assert!(!policy.contains("unsafe"), "{policy}");
    let body = page.text().await.unwrap();
    assert!(body.contains("<script src=\"assets/dashboard.js\" defer></script>"));
    assert!(!body.contains(ADMIN_TOKEN));
    assert_eq!(bare.status(), 308);
    assert_eq!(bare.headers()[header::LOCATION], "/admin/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_have_their_content_types_and_revalidate_with_their_entity_tag() {
    let server = start().await;
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(page_url(&server, path)).send();

    let script = get("/assets/dashboard.js").await.unwrap();
    let drawing = get("/assets/charts.js").await.unwrap();
    let style = get("/assets/dashboard.css").await.unwrap();
    let panels = get("/assets/panels.js").await.unwrap();
    let chart = get("/assets/chart.umd.min.js").await.unwrap();
    let missing = get("/assets/nope.js").await.unwrap();
    let etag = script.headers()[header::ETAG].clone();
    let again = http
        .get(page_url(&server, "/assets/dashboard.js"))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();

    assert_eq!(
        script.headers()[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        drawing.headers()[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        panels.headers()[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        style.headers()[header::CONTENT_TYPE],
        "text/css; charset=utf-8"
    );
    assert_eq!(chart.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(chart.text().await.unwrap().contains("Chart.js v4.6.1"));
    assert_eq!(missing.status(), 404);
    assert_eq!(again.status(), 304);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_404_while_admin_is_off() {
    let server = TestServer::start(false, |config| config.admin.token.clear()).await;
    let http = reqwest::Client::new();

    let page = http.get(page_url(&server, "/")).send().await.unwrap();
    let asset = http
        .get(page_url(&server, "/assets/dashboard.js"))
        .send()
        .await
        .unwrap();

    assert_eq!(page.status(), 404);
    assert_eq!(asset.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_brings_the_login_form_with_the_servers_reason() {
    let server = start().await;
    let url = page_url(&server, "/#token=not-the-token");

    let test = "a_wrong_token_brings_the_login_form_with_the_servers_reason";
    let Some(dom) = dump_dom(test, url).await else {
        return;
    };

    assert_eq!(body_state(&dom), "login");
    assert_eq!(
        text_of(&dom, "login-error"),
        "missing or wrong bearer token"
    );
    assert!(!dom.contains("not-the-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_plus_slash_and_equals_signs_signs_in_through_the_fragment() {
    let token = "k+9/Qz=x+Y==";
    let server = start_with_token(token).await;
    let url = page_url(&server, &format!("/#token={token}"));

    let test = "a_token_with_plus_slash_and_equals_signs_signs_in_through_the_fragment";
    let Some(dom) = dump_dom(test, url).await else {
        return;
    };

    assert_eq!(body_state(&dom), "ready", "{dom}");
    assert!(!dom.contains(token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chart_shows_what_the_pushes_imply() {
    let server = start().await;
    push_known_history(&server).await;
    settle(&server).await;
    fail_a_reload(&server).await;
    let rules = admin_get(&server, "/rules").await;
    let letters = admin_get(&server, "/dead_letters").await;
    let totals = admin_get(&server, "/stats").await["totals"].clone();
    let Some(chromium) = Chromium::find("every_chart_shows_what_the_pushes_imply") else {
        return;
    };
    let url = signed_in_url(&server, "");
    let shot = screenshot_path();

    let dom = tokio::task::spawn_blocking(move || {
        let dom = chromium.dump_dom(&url);
        chromium.screenshot(&url, &shot, 1280, 2800);
        dom
    })
    .await
    .unwrap();

    assert_eq!(body_state(&dom), "ready", "{dom}");
    let channel = Rendered::of(&dom, "channel");
    assert_rows(
        "channel",
        &channel.rows(&["Received", "Viewed", "Entered chat", "Redeemed"]),
        &[
            ("store_a", &[2.0, 1.0, 1.0, 2.0]),
            ("poster", &[2.0, 1.0, 0.0, 2.0]),
            ("(none)", &[1.0, 0.0, 0.0, 0.0]),
        ],
        PIXEL_TOLERANCE,
    );
    let funnel = Rendered::of(&dom, "funnel");
    assert_rows(
        "funnel",
        &funnel.rows(&["Receipts"]),
        &[
            ("Received", &[5.0]),
            // 900000000005 was redeemed with no view first: that engages it too.
            ("Viewed, entered or redeemed", &[4.0]),
            ("Redeemed", &[4.0]),
        ],
        PIXEL_TOLERANCE,
    );
    let source = Rendered::of(&dom, "source");
    assert_rows(
        "source",
        &source.rows(&["Redeemed"]),
        &[("FROM_MOBILE_HELPER", &[0.75]), ("FROM_API", &[0.25])],
        SHARE_TOLERANCE,
    );
    let staff = Rendered::of(&dom, "staff");
    assert_eq!(staff.labels, vec!["o-staff-wang", "o-staff-li"]);
    assert_close(
        "staff",
        staff.series("Redeemed"),
        &[2.0, 1.0],
        PIXEL_TOLERANCE,
    );
    assert!(
        text_of(&dom, "staff-note").contains(" 1 redemption had no staff member "),
        "{}",
        text_of(&dom, "staff-note")
    );
    // Summed over the range, so a test that runs across midnight counts the same.
    let day = Rendered::of(&dom, "day");
    let day_sums = day.sums(&["Received", "Viewed", "Entered chat", "Redeemed"]);
    assert_close("day", &day_sums, &[5.0, 2.0, 1.0, 4.0], PIXEL_TOLERANCE);
    let rule = Rendered::of(&dom, "rule");
    assert_rows(
        "rule",
        &rule.rows(&["Sent", "Held", "Suppressed", "Failed"]),
        &[("dashboard", &[2.0, 2.0, 0.0, 1.0])],
        PIXEL_TOLERANCE,
    );
    let outbox = Rendered::of(&dom, "outbox");
    let outbox_values = outbox.series("Messages");
    assert_close(
        "outbox",
        outbox_values,
        &[0.0, 2.0, 0.0, 1.0],
        PIXEL_TOLERANCE,
    );

    let status = &rules["status"];
    let last_reload = &status["last_reload"];
    assert_eq!(text_of(&dom, "rules-revision"), status["revision"]);
    assert_eq!(text_of(&dom, "rules-reloads"), "0 ok, 1 failed");
    assert_eq!(
        text_of(&dom, "rules-last-reload"),
        format!(
            "{}, failed",
            shown_time(last_reload["at"].as_i64().unwrap() * 1000)
        )
    );
    assert_eq!(text_of(&dom, "rules-reload-error"), last_reload["error"]);
    assert_eq!(text_of(&dom, "rules-errors"), "2");
    let dashboard_rule = &status["rules"][0];
    assert_eq!(
        table_rows(&dom, "rules-table"),
        vec![vec![
            "dashboard".to_string(),
            "on_user_consume_card, on_user_del_card, on_user_view_card".to_string(),
            dashboard_rule["evaluations"].to_string(),
            "2".to_string(),
        ]]
    );
    let letter = &letters["dead_letters"][0];
    assert_eq!(
        table_rows(&dom, "dead-letters"),
        vec![vec![
            shown_time(letter["at_ms"].as_i64().unwrap() / 1000 * 1000),
            "dashboard".to_string(),
            letter["reason"].as_str().unwrap().to_string(),
            letter["detail"].as_str().unwrap().to_string(),
        ]]
    );

    let redeem_secs = totals["redeem_secs_avg"].as_u64().unwrap();
    assert!(redeem_secs < 90, "pushes a minute apart: {totals}");
    assert_eq!(text_of(&dom, "figure-received"), "5");
    assert_eq!(text_of(&dom, "figure-redeemed"), "4");
    assert_eq!(text_of(&dom, "figure-rate"), "80%");
    assert_eq!(
        text_of(&dom, "figure-redeem-time"),
        format!("{redeem_secs} s")
    );
    assert_eq!(text_of(&dom, "figure-pending"), "2");
    assert_eq!(text_of(&dom, "figure-dead"), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_filter_leaves_the_rule_panel_unfiltered() {
    let server = start().await;
    push_known_history(&server).await;
    receive_card(&server, DISCOUNT_CARD, "o-bob", "900000000006", None).await;
    settle(&server).await;
    let url = signed_in_url(&server, &format!("&card={GIFT_CARD}"));

    let test = "the_card_filter_leaves_the_rule_panel_unfiltered";
    let Some(dom) = dump_dom(test, url).await else {
        return;
    };

    assert_eq!(body_state(&dom), "ready", "{dom}");
    assert_eq!(text_of(&dom, "figure-received"), "5");
    let rule = Rendered::of(&dom, "rule");
    assert_rows(
        "rule",
        &rule.rows(&["Sent", "Held", "Suppressed", "Failed"]),
        &[("dashboard", &[2.0, 2.0, 0.0, 1.0])],
        PIXEL_TOLERANCE,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_from_day_after_the_to_day_is_refused_on_the_form_without_asking() {
    let server = start().await;
    let url = signed_in_url(&server, "&since=2026-12-03&until=2026-12-01");

    let test = "a_from_day_after_the_to_day_is_refused_on_the_form_without_asking";
    let Some(dom) = dump_dom(test, url).await else {
        return;
    };

    assert_eq!(body_state(&dom), "error", "{dom}");
    assert_eq!(
        text_of(&dom, "filter-error"),
        "From 2026-12-03 is after To 2026-12-01: pick a From on or before To."
    );
    for chart in ["channel", "outbox"] {
        let attributes = attributes_of(&dom, &format!("data-chart=\"{chart}\""));
        assert!(
            !attributes.contains_key("data-rendered"),
            "{chart} was drawn"
        );
    }
    assert_eq!(text_of(&dom, "rules-revision"), "–");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_twelve_channels_the_chart_sums_the_rest_and_the_table_keeps_them_all() {
    let server = start().await;
    for index in 1..=15u32 {
        let tag = format!("channel_{index:02}");
        let code = format!("91000000{index:04}");
        // Channel n receives n cards, so they rank in a known order.
        for copy in 0..index {
            let openid = format!("o-guest-{index}-{copy}");
            receive(&server, &openid, &format!("{code}{copy:02}"), Some(&tag)).await;
        }
    }
    drain_inbox(&server).await;
    let url = signed_in_url(&server, "");

    let test = "past_twelve_channels_the_chart_sums_the_rest_and_the_table_keeps_them_all";
    let Some(dom) = dump_dom(test, url).await else {
        return;
    };

    assert_eq!(body_state(&dom), "ready", "{dom}");
    let channel = Rendered::of(&dom, "channel");
    let mut labels: Vec<String> = (4..=15).rev().map(|n| format!("channel_{n:02}")).collect();
    labels.push("others (3 channels)".to_string());
    assert_eq!(channel.labels, labels);
    let mut received: Vec<f64> = (4..=15).rev().map(f64::from).collect();
    received.push(1.0 + 2.0 + 3.0);
    assert_close(
        "channel",
        channel.series("Received"),
        &received,
        PIXEL_TOLERANCE,
    );
    let table = chart_table_rows(&dom, "channel");
    assert_eq!(table.len(), 15);
    assert_eq!(table[14][0], "channel_01");
    assert_eq!(table[14][1], "1");
    assert!(section_of(&dom, "channel").contains("<details>"));
}

/// What a scenario of tests/fixtures/dashboard/scenarios.js saw, after checking that it
/// ran to its end.
fn scenario_seen(dom: &str) -> Value {
    let body = attributes_of(dom, "<body");
    assert_eq!(body["data-scenario"], "done", "{dom}");
    serde_json::from_str(&body["data-seen"]).unwrap()
}

/// The key figures as the page shows them, in the order of the page.
fn figures(received: &str, redeemed: &str, rate: &str, time: &str, pending: &str) -> Value {
    json!({
        "received": received, "redeemed": redeemed, "rate": rate, "redeem-time": time,
        "pending": pending, "dead": "1",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reload_clears_what_it_could_not_show_and_says_why_on_each_panel() {
    let server = start().await;
    push_known_history(&server).await;
    settle(&server).await;
    let average = admin_get(&server, "/stats").await["totals"]["redeem_secs_avg"].clone();
    let time = format!("{average} s");
    let proxy = AdminProxy::start(server.addr);
    let by_count = ["channel", "source", "staff", "day", "rule"].len();
    proxy.fail_after("stats", by_count, "store failure: disk full");
    proxy.fail_after("rules", 1, "store failure: rules unreadable");
    proxy.fail_after("dead_letters", 1, "store failure: dead letters unreadable");
    let url = proxy.scenario_url("reload_fails", &format!("token={ADMIN_TOKEN}"));

    let test = "a_failed_reload_clears_what_it_could_not_show_and_says_why_on_each_panel";
    let Some(dom) = dump_dom(test, url).await else {
        return;
    };

    let seen = scenario_seen(&dom);
    assert_eq!(seen["before"], figures("5", "4", "80%", &time, "2"));
    assert_eq!(seen["state"], "error");
    assert_eq!(seen["after"], figures("–", "–", "–", "–", "2"));
    let status = seen["status"].as_str().unwrap();
    let stats_failed = "could not show stats: store failure: disk full";
    assert_eq!(status.matches(stats_failed).count(), 1, "{status}");
    for chart in ["channel", "funnel", "source", "staff", "day", "rule"] {
        let section = section_of(&dom, chart);
        assert!(section.contains(stats_failed), "{chart}: {section}");
        let attributes = attributes_of(&dom, &format!("data-chart=\"{chart}\""));
        assert!(
            !attributes.contains_key("data-rendered"),
            "{chart} kept its chart"
        );
    }
    assert_eq!(
        text_of(&dom, "rules-error"),
        "could not show rules: store failure: rules unreadable"
    );
    assert_eq!(text_of(&dom, "rules-revision"), "–");
    assert!(table_rows(&dom, "rules-table").is_empty());
    assert_eq!(
        text_of(&dom, "dead-letters-error"),
        "could not show dead_letters: store failure: dead letters unreadable"
    );
    assert!(table_rows(&dom, "dead-letters").is_empty());
    Rendered::of(&dom, "outbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_for_an_older_load_is_not_drawn_over_a_newer_one() {
    let server = start().await;
    push_known_history(&server).await;
    receive_card(&server, DISCOUNT_CARD, "o-bob", "900000000006", None).await;
    settle(&server).await;
    let proxy = AdminProxy::start(server.addr);
    proxy.delay_first("by=channel", Duration::from_millis(1500));
    let scenario = format!("overtaken&card={DISCOUNT_CARD}");
    let url = proxy.scenario_url(&scenario, &format!("token={ADMIN_TOKEN}"));

    let test = "an_answer_for_an_older_load_is_not_drawn_over_a_newer_one";
    let Some(dom) = dump_dom(test, url).await else {
        return;
    };

    let seen = scenario_seen(&dom);
    assert_eq!(seen["state"], "ready");
    assert_eq!(seen["after"]["received"], "1", "{seen}");
    assert_eq!(text_of(&dom, "figure-received"), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_takes_every_number_off_the_page() {
    let server = start().await;
    push_known_history(&server).await;
    settle(&server).await;
    let proxy = AdminProxy::start(server.addr);
    let url = proxy.scenario_url("sign_out", &format!("token={ADMIN_TOKEN}"));

    let test = "signing_out_takes_every_number_off_the_page";
    let Some(dom) = dump_dom(test, url).await else {
        return;
    };

    assert_eq!(scenario_seen(&dom)["state"], "login");
    assert_eq!(body_state(&dom), "login");
    assert!(!dom.contains("data-rendered"), "{dom}");
    assert!(!dom.contains("<table"), "{dom}");
    for figure in [
        "received",
        "redeemed",
        "rate",
        "redeem-time",
        "pending",
        "dead",
    ] {
        assert_eq!(text_of(&dom, &format!("figure-{figure}")), "–");
    }
    assert_eq!(text_of(&dom, "rules-revision"), "–");
    assert_eq!(text_of(&dom, "status"), "");
    assert_eq!(text_of(&dom, "login-error"), "Signed out.");
}
