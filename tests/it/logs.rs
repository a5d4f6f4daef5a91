//! The log lines of the real binary: values taken from requests cannot forge lines or
//! paint the terminal, a log written to a file has no colour codes, a flood of refused
//! callbacks is logged within a cap, and the accepted and sent lines share their fields.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cardbot::wechat::push::sign_plaintext;

use crate::support::admin::sample;
use crate::support::fake_wechat::FakeWechat;
use crate::support::pipeline::{eventually, text_message, CUSTOM_SEND};
use crate::support::push::{self, Push};
use crate::support::server::{free_addr, ChildServer, APP_ID, TOKEN};

/// A line that must never start one of cardbot's log lines.
const FORGED: &str = "\n2026-01-01T00:00:00.000000Z  INFO cardbot: FORGED admin token accepted";
const METRICS_TOKEN: &str = "logs-metrics-token";
/// An ANSI sequence that clears the screen of whoever tails the log.
const CLEAR_SCREEN: &str = "\x1b[2J";
const WAIT: Duration = Duration::from_secs(10);
/// Thanks a user for taking a card, so that a message is sent.
const THANKS_RULE: &str = "fn on_user_get_card(event) { send_text(event.openid, \"thanks\"); }";

/// A child cardbot logging human-readable lines into `dir/cardbot.log`, its worker
/// paused.
fn start(dir: &Path) -> (ChildServer, SocketAddr) {
    start_with(dir, None)
}

/// [`start`], or with `api` (a fake WeChat's URL) a cardbot whose worker runs the rules
/// in `dir/rules` and sends through that API.
fn start_with(dir: &Path, api: Option<&str>) -> (ChildServer, SocketAddr) {
    let addr = free_addr();
    let (wechat, paused) = match api {
        Some(api) => (
            format!("api_base = \"{api}\"\napp_id = \"{APP_ID}\"\napp_secret = \"logs-secret\"\n"),
            false,
        ),
        None => (String::new(), true),
    };
    let config = format!(
        "[server]\nlisten = \"{addr}\"\nmax_clock_skew_secs = 300\n\n\
         [wechat]\ntoken = \"{TOKEN}\"\n{wechat}\n\
         [store]\npath = \"{store}\"\n\n[rules]\ndir = \"{rules}\"\nwatch = false\n\n\
         [worker]\npaused = {paused}\n\n[metrics]\ntoken = \"{METRICS_TOKEN}\"\n\n\
         [log]\nformat = \"text\"\nlevel = \"info\"\n",
        store = dir.join("store").display(),
        rules = dir.join("rules").display(),
    );
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    let log = std::fs::File::create(dir.join("cardbot.log")).unwrap();
    (ChildServer::start_logging(dir, &config, addr, log), addr)
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A signed plaintext push of a subscribe event from `openid`, stamped now.
fn subscribe_from(openid: &str) -> Push {
    let now = cardbot::clock::now_secs();
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName>\
         <FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{now}</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>"
    );
    signed_now(&xml)
}

/// `xml` as a plaintext push signed now, within the child's clock skew.
fn signed_now(xml: &str) -> Push {
    let now = cardbot::clock::now_secs();
    let signed = sign_plaintext(xml, TOKEN, &now.to_string(), "n1");
    Push {
        query: signed.query,
        body: signed.body,
    }
}

async fn post(client: &reqwest::Client, addr: SocketAddr, query: &str, body: &str) -> u16 {
    client
        .post(format!("http://{addr}/wechat?{query}"))
        .body(body.to_string())
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `GET /metrics` with `token`: the status and the text.
async fn scrape(client: &reqwest::Client, addr: SocketAddr, token: &str) -> (u16, String) {
    let response = client
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// How many `message` lines were logged, and how many more their `suppressed` counts
/// say were left out.
fn logged_and_suppressed(log: &str, message: &str) -> (usize, usize) {
    let lines = lines_with(log, message);
    let suppressed = lines
        .iter()
        .filter_map(|line| line.split(" suppressed=").nth(1))
        .map(|rest| {
            rest.split(' ')
                .next()
                .unwrap()
                .trim()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    (lines.len(), suppressed)
}

fn lines_with(log: &str, message: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains(message))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_from_requests_are_escaped_and_cut_in_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = start(dir.path());
    let client = reqwest::Client::new();
    let forged_openid = format!("o-forge{FORGED}{CLEAR_SCREEN}");
    let long_openid = format!("o-long-{}", "x".repeat(5000));
    let stale_query = format!(
        "signature=0&nonce=n&timestamp={}",
        percent_encode(&format!("1{FORGED}{CLEAR_SCREEN}"))
    );

    let forged = subscribe_from(&forged_openid);
    let long = subscribe_from(&long_openid);
    let answers = [
        post(&client, addr, &forged.query, &forged.body).await,
        post(&client, addr, &long.query, &long.body).await,
        post(&client, addr, &stale_query, "<xml/>").await,
    ];
    child.kill();

    assert_eq!(answers, [200, 200, 401]);
    let log = std::fs::read_to_string(dir.path().join("cardbot.log")).unwrap();
    assert!(
        !log.lines()
            .any(|line| line.contains("FORGED") && !line.contains("\\u{a}")),
        "a request forged a log line:\n{log}"
    );
    assert!(
        !log.contains(CLEAR_SCREEN),
        "an ANSI sequence reached the log"
    );
    assert!(
        !log.contains('\x1b'),
        "colour codes in a log written to a file:\n{log}"
    );
    let accepted = lines_with(&log, "event accepted");
    assert!(accepted.iter().any(|line| line.contains(
        "openid=o-forge\\u{a}2026-01-01T00:00:00.000000Z  INFO cardbot: FORGED admin token \
         accepted\\u{1b}[2J"
    )));
    let long_line = accepted
        .iter()
        .find(|line| line.contains("o-long-"))
        .expect("an accepted line for the long openid");
    assert!(long_line.len() < 1000, "{long_line}");
    assert!(long_line.contains("…[4751 more chars]"), "{long_line}");
    let rejected = lines_with(&log, "callback rejected");
    assert!(rejected
        .iter()
        .any(|line| line.contains("timestamp 1\\u{a}2026-01-01") && line.contains("\\u{1b}[2J")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_and_sent_lines_name_the_user_the_event_and_the_card_alike() {
    let dir = tempfile::tempdir().unwrap();
    let wechat = FakeWechat::start().await;
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/thanks.rhai"), THANKS_RULE).unwrap();
    let (child, addr) = start_with(dir.path(), Some(&wechat.url()));
    let client = reqwest::Client::new();
    let opened = signed_now(&text_message("o-logged", "hi", 41));
    let now = cardbot::clock::now_secs();
    let taken = signed_now(&push::user_get_card("o-logged", "p-logged", "5001", now));

    post(&client, addr, &opened.query, &opened.body).await;
    post(&client, addr, &taken.query, &taken.body).await;
    eventually("the message is sent", WAIT, || {
        wechat.hits(CUSTOM_SEND) >= 1
    })
    .await;
    let log_path = dir.path().join("cardbot.log");
    eventually("the message sent line is written", WAIT, || {
        let log = std::fs::read_to_string(&log_path).unwrap();
        !lines_with(&log, "message sent").is_empty()
    })
    .await;
    child.kill();

    let log = std::fs::read_to_string(&log_path).unwrap();
    let fields = [
        "openid=o-logged ",
        "event=user_get_card ",
        r#"card_id="p-logged""#,
    ];
    for message in ["event accepted", "message sent"] {
        let line = lines_with(&log, message)
            .into_iter()
            .find(|line| line.contains("user_get_card"))
            .unwrap_or_else(|| panic!("no {message} line for the card:\n{log}"));
        for field in fields {
            assert!(line.contains(field), "{field} missing from {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_refused_callbacks_and_scrapes_are_logged_within_a_cap() {
    const FLOOD: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = start(dir.path());
    let client = reqwest::Client::new();
    let mut unsigned = push::plaintext("<xml/>");
    unsigned.query = format!(
        "signature=0&nonce=n&timestamp={}",
        cardbot::clock::now_secs()
    );

    for _ in 0..FLOOD {
        assert_eq!(
            post(&client, addr, &unsigned.query, &unsigned.body).await,
            401
        );
        assert_eq!(scrape(&client, addr, "wrong").await.0, 401);
    }
    // One more of each in the next counting window: its line carries what was left out.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        post(&client, addr, &unsigned.query, &unsigned.body).await,
        401
    );
    assert_eq!(scrape(&client, addr, "wrong").await.0, 401);
    let (status, scraped) = scrape(&client, addr, METRICS_TOKEN).await;
    child.kill();

    assert_eq!(status, 200);
    let log = std::fs::read_to_string(dir.path().join("cardbot.log")).unwrap();
    let (rejected, suppressed) = logged_and_suppressed(&log, "callback rejected");
    assert!(rejected < FLOOD, "{rejected} lines logged");
    assert_eq!(rejected + suppressed, FLOOD + 1);
    let wrong_token = "metrics scrape with a wrong or missing token";
    let (refused, refused_suppressed) = logged_and_suppressed(&log, wrong_token);
    assert!(refused < FLOOD, "{refused} lines logged");
    assert_eq!(refused + refused_suppressed, FLOOD + 1);
    let counted = sample(
        &scraped,
        r#"cardbot_callbacks_total{result="bad_signature"}"#,
    );
    assert_eq!(counted, (FLOOD + 1) as f64);
}
