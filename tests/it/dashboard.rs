//! The dashboard at /admin/: the page shell and its assets over HTTP, then the whole
//! page in a real headless Chromium after known pushes went through the callback, the
//! pipeline and the sandbox, with every chart's numbers read back from the page.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::header;
use serde_json::{json, Value};

use crate::support::admin;
use crate::support::browser::{attributes_of, text_of, Chromium};
use crate::support::push::event_now;
use crate::support::server::{free_addr, TestServer};

const ADMIN_TOKEN: &str = "dashboard-test-admin";
const GIFT_CARD: &str = "pLtS7jB8nR4uXe6QpKwJ0sFy1CaM";
/// A bound on the wait for the pipeline, not a timing assertion.
const SETTLE_LIMIT: Duration = Duration::from_secs(20);

/// Thanks whoever redeems (sent if their window is open, else held) and says goodbye
/// to whoever deletes a card (refused by the sandbox for a user who unfollowed).
const RULE: &str = r#"
fn on_user_consume_card(event) {
    send_text(event.openid, "Thanks for visiting!");
}

fn on_user_del_card(event) {
    send_text(event.openid, "Sorry to see that coupon go.");
}
"#;

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// cardbot with the sandbox as its WeChat, the worker and dispatcher running.
async fn start() -> TestServer {
    let addr = free_addr();
    TestServer::start(false, |config| {
        config.server.listen = addr;
        config.wechat.api_base = format!("http://{addr}/sandbox");
        config.wechat.app_secret = "dashboard-test-secret".to_string();
        config.sandbox.enabled = true;
        config.sandbox.seed = repo_path("rules/sandbox_seed.toml");
        config.admin.token = ADMIN_TOKEN.to_string();
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

/// Pushes an event of `kind` from `openid` through the callback, as WeChat would.
async fn push(server: &TestServer, kind: &str, openid: &str, fields: &[(&str, &str)]) {
    server.post_ok(&event_now(kind, openid, fields)).await;
}

async fn receive(server: &TestServer, openid: &str, code: &str, outer_str: Option<&str>) {
    let mut fields = vec![
        ("CardId", GIFT_CARD),
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

async fn redeem(server: &TestServer, openid: &str, code: &str, source: &str, staff: &str) {
    let fields = [
        ("CardId", GIFT_CARD),
        ("UserCardCode", code),
        ("ConsumeSource", source),
        ("StaffOpenId", staff),
    ];
    push(server, "user_consume_card", openid, &fields).await;
}

/// Four receipts over two tagged channels and an untagged one, three views or chats,
/// three redemptions, one deletion; messages: one sent, two held, one refused.
async fn push_known_history(server: &TestServer) {
    push(server, "text", "o-alice", &[("Content", "hi")]).await;
    push(server, "text", "o-dana", &[("Content", "hi")]).await;
    receive(server, "o-alice", "900000000001", Some("store_a")).await;
    receive(server, "o-bob", "900000000002", Some("store_a")).await;
    receive(server, "o-chen", "900000000003", Some("poster")).await;
    receive(server, "o-dana", "900000000004", None).await;
    card_event(server, "user_view_card", "o-alice", "900000000001").await;
    card_event(server, "user_view_card", "o-chen", "900000000003").await;
    card_event(
        server,
        "user_enter_session_from_card",
        "o-bob",
        "900000000002",
    )
    .await;
    redeem(
        server,
        "o-alice",
        "900000000001",
        "FROM_MOBILE_HELPER",
        "o-staff-li",
    )
    .await;
    redeem(server, "o-bob", "900000000002", "FROM_API", "o-staff-li").await;
    redeem(
        server,
        "o-chen",
        "900000000003",
        "FROM_MOBILE_HELPER",
        "o-staff-wang",
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

/// What one chart shows, as the page read it back from the chart object.
struct Rendered {
    labels: Vec<String>,
    /// Series label -> value per label.
    series: BTreeMap<String, Vec<f64>>,
    drawn: bool,
}

impl Rendered {
    fn of(dom: &str, chart: &str) -> Rendered {
        let attributes = attributes_of(dom, &format!("data-chart=\"{chart}\""));
        let rendered = attributes
            .get("data-rendered")
            .unwrap_or_else(|| panic!("the {chart} chart was not rendered"));
        let value: Value = serde_json::from_str(rendered).unwrap();
        let labels = value["labels"].as_array().unwrap();
        let series = value["datasets"].as_array().unwrap().iter().map(|dataset| {
            let data = dataset["data"].as_array().unwrap();
            let numbers = data.iter().map(|n| n.as_f64().unwrap()).collect();
            (dataset["label"].as_str().unwrap().to_string(), numbers)
        });
        Rendered {
            labels: labels
                .iter()
                .map(|l| l.as_str().unwrap().to_string())
                .collect(),
            series: series.collect(),
            drawn: value["drawn"] == true,
        }
    }

    /// Label -> the values of `series` in this order, so row order does not matter.
    fn rows(&self, series: &[&str]) -> BTreeMap<String, Vec<f64>> {
        let rows = self.labels.iter().enumerate().map(|(index, label)| {
            let values = series.iter().map(|name| {
                let data = self.series.get(*name).unwrap_or_else(|| {
                    panic!("no series {name}; the chart has {:?}", self.series.keys())
                });
                data[index]
            });
            (label.clone(), values.collect())
        });
        rows.collect()
    }
}

fn rows(expected: &[(&str, &[f64])]) -> BTreeMap<String, Vec<f64>> {
    let rows = expected
        .iter()
        .map(|(label, values)| (label.to_string(), values.to_vec()));
    rows.collect()
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
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let url = page_url(&server, "/#token=not-the-token");

    let dom = tokio::task::spawn_blocking(move || chromium.dump_dom(&url))
        .await
        .unwrap();

    assert_eq!(attributes_of(&dom, "<body")["data-state"], "login");
    assert_eq!(
        text_of(&dom, "login-error"),
        "missing or wrong bearer token"
    );
    assert!(!dom.contains("not-the-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chart_shows_what_the_pushes_imply() {
    let server = start().await;
    push_known_history(&server).await;
    settle(&server).await;
    let rules = admin_get(&server, "/rules").await;
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let url = page_url(&server, &format!("/#token={ADMIN_TOKEN}"));
    let shot = screenshot_path();

    let dom = tokio::task::spawn_blocking(move || {
        let dom = chromium.dump_dom(&url);
        chromium.screenshot(&url, &shot, 1280, 2400);
        dom
    })
    .await
    .unwrap();

    assert_eq!(attributes_of(&dom, "<body")["data-state"], "ready", "{dom}");
    let charts = [
        "channel", "funnel", "source", "staff", "day", "rule", "outbox",
    ];
    for chart in charts {
        assert!(
            Rendered::of(&dom, chart).drawn,
            "the {chart} chart drew nothing"
        );
    }
    let channel = Rendered::of(&dom, "channel");
    assert_eq!(
        channel.rows(&["Received", "Viewed", "Entered chat", "Redeemed"]),
        rows(&[
            ("store_a", &[2.0, 1.0, 1.0, 2.0]),
            ("poster", &[1.0, 1.0, 0.0, 1.0]),
            ("(none)", &[1.0, 0.0, 0.0, 0.0]),
        ])
    );
    let funnel = Rendered::of(&dom, "funnel");
    assert_eq!(
        funnel.rows(&["Receipts"]),
        rows(&[
            ("Received", &[4.0]),
            ("Viewed or entered", &[3.0]),
            ("Redeemed", &[3.0]),
        ])
    );
    let source = Rendered::of(&dom, "source");
    assert_eq!(
        source.rows(&["Redeemed"]),
        rows(&[("FROM_MOBILE_HELPER", &[2.0]), ("FROM_API", &[1.0])])
    );
    let staff = Rendered::of(&dom, "staff");
    assert_eq!(staff.labels, vec!["o-staff-li", "o-staff-wang"]);
    assert_eq!(staff.series["Redeemed"], vec![2.0, 1.0]);
    let day = Rendered::of(&dom, "day");
    let today = day.labels.last().unwrap().clone();
    assert_eq!(
        day.rows(&["Received", "Viewed", "Entered chat", "Redeemed"])[&today],
        vec![4.0, 2.0, 1.0, 3.0]
    );
    let rule = Rendered::of(&dom, "rule");
    assert_eq!(
        rule.rows(&["Sent", "Held", "Suppressed", "Failed"]),
        rows(&[("dashboard", &[1.0, 2.0, 0.0, 1.0])])
    );
    let outbox = Rendered::of(&dom, "outbox");
    assert_eq!(outbox.series["Messages"], vec![0.0, 2.0, 0.0, 1.0]);
    assert_eq!(text_of(&dom, "rules-revision"), rules["status"]["revision"]);
    assert_eq!(text_of(&dom, "rules-reloads"), "0 ok, 0 failed");
    assert_eq!(text_of(&dom, "figure-received"), "4");
    assert_eq!(text_of(&dom, "figure-redeemed"), "3");
    assert_eq!(text_of(&dom, "figure-dead"), "1");
}
