//! No secret reaches the logs: the real binary, logging JSON at debug level, is driven
//! through every kind of push, refusal, token expiry, API error, retry, rule failure,
//! broken reload and wrong admin token; then its whole log output is searched for the
//! secrets it was given and the access tokens it was handed, in plain and encoded forms.
//! The same search runs over the logs and the admin answers of a binary whose API
//! cannot be reached, speaks no TLS or is too slow, in each token mode.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::fake_wechat::{FakeWechat, Reply};
use crate::support::pipeline::{eventually, text_message, CUSTOM_SEND};
use crate::support::push::{self, Push};
use crate::support::server::{free_addr, ChildServer, AES_KEY, APP_ID, TOKEN};

const WAIT: Duration = Duration::from_secs(15);
const APP_SECRET: &str = "leakcheck-appsecret-Q7fZ2";
const ADMIN_TOKEN: &str = "leakcheck-admintoken-H3k9";
const METRICS_TOKEN: &str = "leakcheck-metricstoken-P5w1";
const ACCESS_TOKENS: [&str; 6] = [
    "leakcheck-accesstoken-1",
    "leakcheck-accesstoken-2",
    "leakcheck-accesstoken-3",
    "leakcheck-accesstoken-4",
    "leakcheck-accesstoken-5",
    "leakcheck-accesstoken-6",
];
/// The secret an external token URL carries in its query.
const TOKEN_URL_SECRET: &str = "leakcheck-tokenurlsecret-V6n8";
const EXTERNAL_TOKEN: &str = "/external/token";
const GET_CARD_LIST: &str = "/card/user/getcardlist";
const CARD_ID: &str = "p-leak-card";

/// Thanks every card taker with the card itself, looks up the taker's cards, and fails
/// on every text message.
const RULES: [(&str, &str); 3] = [
    (
        "thanks.rhai",
        "fn on_user_get_card(event) { send_card(event.openid, event.card_id); }",
    ),
    (
        "lookup.rhai",
        "fn on_user_get_card(event) { let cards = user_cards(event.openid); }",
    ),
    (
        "failing.rhai",
        r#"fn on_text(event) { throw "this rule fails on purpose"; }"#,
    ),
];

/// The config of a child at `addr` storing in `dir`, with `wechat` (the API base, the
/// token mode, ...) added to its `[wechat]` section.
fn config_text(dir: &Path, addr: std::net::SocketAddr, wechat: &str) -> String {
    format!(
        "[server]\nlisten = \"{addr}\"\n\n\
         [wechat]\napp_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\"\ntoken = \"{TOKEN}\"\n\
         encoding_aes_key = \"{AES_KEY}\"\n{wechat}\n\
         [store]\npath = \"{store}\"\n\n[rules]\ndir = \"{rules}\"\nwatch = false\n\
         timeout_ms = 5000\n\n\
         [window]\ncard_events_open_window = true\n\n\
         [dispatcher]\npoll_interval_ms = 20\nbackoff_base_ms = 20\n\n\
         [admin]\ntoken = \"{ADMIN_TOKEN}\"\n\n[metrics]\ntoken = \"{METRICS_TOKEN}\"\n\n\
         [log]\nformat = \"json\"\nlevel = \"debug\"\n",
        store = dir.join("store").display(),
        rules = dir.join("rules").display(),
    )
}

/// Starts the binary in `dir` with `rules` and [`config_text`]'s config, logging to
/// `dir/cardbot.log`; the child and its log's path.
fn start_logged(dir: &Path, rules: &[(&str, &str)], wechat: &str) -> (ChildServer, PathBuf) {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    for (name, source) in rules {
        std::fs::write(dir.join("rules").join(name), source).unwrap();
    }
    let log = dir.join("cardbot.log");
    let addr = free_addr();
    let config = config_text(dir, addr, wechat);
    let file = std::fs::File::create(&log).unwrap();
    (ChildServer::start_logging(dir, &config, addr, file), log)
}

/// Hands out the distinctive access tokens, and scripts the failures the scenarios need.
fn script(wechat: &FakeWechat) {
    let tokens = ACCESS_TOKENS
        .iter()
        .map(|token| Reply::Json(json!({"access_token": token, "expires_in": 7200})))
        .collect();
    wechat.respond_seq("/cgi-bin/stable_token", tokens);
    // The token expires mid-lookup, then the API refuses the lookup for good.
    wechat.respond_errcodes(GET_CARD_LIST, &[42001, 40003]);
    wechat.respond(
        GET_CARD_LIST,
        json!({"errcode": 0, "errmsg": "ok", "card_list": []}),
    );
    // The token is invalid on the first send; the retry fails for a passing reason.
    wechat.respond_errcodes(CUSTOM_SEND, &[40001, -1]);
}

/// Every form in which a secret could slip out: as is, base64 and percent-encoded.
fn forms(secret: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};

    let percent: String = secret
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    vec![
        secret.to_string(),
        STANDARD.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        percent,
    ]
}

async fn post(base: &str, push: &Push) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{base}/wechat?{}", push.query))
        .body(push.body.clone())
        .send()
        .await
        .unwrap()
        .status()
}

async fn get(url: &str, token: &str) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

fn log_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn count(lines: &[Value], message: &str) -> usize {
    lines
        .iter()
        .filter(|line| line["message"] == message)
        .count()
}

/// Drives every scenario against the running child at `base`.
async fn drive(base: &str, dir: &Path) -> Vec<(&'static str, StatusCode)> {
    let now = cardbot::clock::now_secs();
    let taken = push::user_get_card("o-leak-a", CARD_ID, "400000000001", now);
    let compatible = push::compatible(&taken);
    let safe = push::encrypted(&push::user_get_card(
        "o-leak-b",
        CARD_ID,
        "400000000002",
        now,
    ));
    let mut bad_signature = push::plaintext(&text_message("o-leak-c", "hi", 42));
    bad_signature.query = bad_signature.query.replace("signature=", "signature=0");
    let verify = {
        let (timestamp, nonce) = ("1714112445", "415670741");
        let signature = cardbot::wechat::signature::sign(&[TOKEN, timestamp, nonce]);
        format!(
            "{base}/wechat?signature={signature}&timestamp={timestamp}&nonce={nonce}&echostr=e1"
        )
    };

    let mut answers = vec![
        (
            "plaintext",
            post(base, &push::plaintext(&text_message("o-leak-a", "hi", 41))).await,
        ),
        ("compatible", post(base, &compatible).await),
        ("safe", post(base, &safe).await),
        ("retry", post(base, &compatible).await),
        ("bad signature", post(base, &bad_signature).await),
        (
            "broken xml",
            post(base, &push::plaintext("<xml><Broken>")).await,
        ),
        ("verify", get(&verify, "").await.0),
        (
            "admin, wrong token",
            get(&format!("{base}/admin/rules"), "wrong").await.0,
        ),
    ];
    std::fs::write(dir.join("rules/broken.rhai"), "fn on_text(event) {").unwrap();
    let reload = reqwest::Client::new()
        .post(format!("{base}/admin/rules/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    answers.push(("broken reload", reload.status()));
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_access_token_appears_in_the_logs() {
    let wechat = FakeWechat::start().await;
    script(&wechat);
    let dir = tempfile::tempdir().unwrap();
    let api_base = format!("api_base = \"{}\"\n", wechat.url());
    let (child, log) = start_logged(dir.path(), &RULES, &api_base);
    let base = format!("http://{}", child.addr);

    let answers = drive(&base, dir.path()).await;
    eventually("both messages are sent", WAIT, || {
        count(&log_lines(&log), "message sent") >= 2
    })
    .await;
    let metrics = format!("{base}/metrics");
    let (refused_scrape, _) = get(&metrics, "wrong").await;
    let (scraped, scrape) = get(&metrics, METRICS_TOKEN).await;
    child.kill();

    let expected = [
        ("plaintext", StatusCode::OK),
        ("compatible", StatusCode::OK),
        ("safe", StatusCode::OK),
        ("retry", StatusCode::OK),
        ("bad signature", StatusCode::UNAUTHORIZED),
        ("broken xml", StatusCode::BAD_REQUEST),
        ("verify", StatusCode::OK),
        ("admin, wrong token", StatusCode::UNAUTHORIZED),
        ("broken reload", StatusCode::UNPROCESSABLE_ENTITY),
    ];
    assert_eq!(answers, expected);
    assert_eq!(
        (refused_scrape, scraped),
        (StatusCode::UNAUTHORIZED, StatusCode::OK)
    );
    assert!(
        wechat.hits(GET_CARD_LIST) >= 2,
        "the token expiry was exercised"
    );
    assert!(wechat.hits(CUSTOM_SEND) >= 4, "the failed send was retried");
    let output = std::fs::read_to_string(&log).unwrap();
    let mut secrets = vec![APP_SECRET, TOKEN, AES_KEY, ADMIN_TOKEN, METRICS_TOKEN];
    secrets.extend(ACCESS_TOKENS);
    for secret in secrets {
        for form in forms(secret) {
            assert!(
                !output.contains(&form),
                "{secret} leaked into the logs as {form}"
            );
            assert!(
                !scrape.contains(&form),
                "{secret} leaked into the scrape as {form}"
            );
        }
    }
    assert!(
        !output.contains("fake-token-"),
        "an access token leaked into the logs"
    );
    let lines = log_lines(&log);
    for message in [
        "callback rejected",
        "callback URL verified",
        "access token rejected, retrying",
        "send failed for a passing reason; retrying later",
        "rule failed; its actions are dropped",
        "rules reload refused",
        "admin request with a wrong or missing token",
    ] {
        assert!(
            count(&lines, message) >= 1,
            "no {message:?} line in the logs"
        );
    }
    let accepted = lines
        .iter()
        .find(|line| {
            line["message"] == "event accepted"
                && line["openid"] == "o-leak-a"
                && line["event"] == "user_get_card"
        })
        .expect("an event accepted line for the card");
    assert_eq!(accepted["card_id"], CARD_ID);
    assert!(accepted["inbox_id"].is_u64());
    let sent = lines
        .iter()
        .find(|line| line["message"] == "message sent")
        .unwrap();
    assert_eq!(sent["msgtype"], "wxcard");
    assert_eq!(sent["event"], "user_get_card");
    assert_eq!(sent["card_id"], CARD_ID);
    assert_eq!(sent["wxcard_id"], CARD_ID);
    assert_eq!(sent["rule"], "thanks");
    assert!(sent["outbox_id"].is_u64() && sent["openid"].is_string());
}

/// A way for the API to fail: the `[wechat]` lines that lead to it, and how the fake
/// WeChat at `fake` behaves.
struct Failure {
    name: &'static str,
    wechat: String,
    /// The token endpoint the errors name.
    fetch: &'static str,
}

fn failures(fake: &FakeWechat) -> Vec<Failure> {
    let closed = format!("http://{}", free_addr());
    let slow = fake.url();
    let tls = slow.replacen("http://", "https://", 1);
    let token_url = |base: &str| format!("{base}{EXTERNAL_TOKEN}?key={TOKEN_URL_SECRET}&v=1");
    let classic = |base: &str| format!("token_mode = \"classic\"\napi_base = \"{base}\"\n");
    let external = |url: String| {
        format!("token_mode = \"external\"\ntoken_url = \"{url}\"\napi_base = \"{slow}\"\n")
    };
    vec![
        Failure {
            name: "classic, API unreachable",
            wechat: classic(&closed),
            fetch: "cgi-bin/token",
        },
        Failure {
            name: "classic, API speaks no TLS",
            wechat: classic(&tls),
            fetch: "cgi-bin/token",
        },
        Failure {
            name: "classic, API too slow",
            wechat: format!("{}request_timeout_secs = 1\n", classic(&slow)),
            fetch: "cgi-bin/token",
        },
        Failure {
            name: "external, token URL unreachable",
            wechat: external(token_url(&closed)),
            fetch: "external token_url",
        },
        Failure {
            name: "external, token URL speaks no TLS",
            wechat: external(token_url(&tls)),
            fetch: "external token_url",
        },
        Failure {
            name: "external, token URL too slow",
            wechat: format!("{}request_timeout_secs = 1\n", external(token_url(&slow))),
            fetch: "external token_url",
        },
        Failure {
            name: "external, token URL refuses and repeats its key",
            wechat: external(token_url(&format!("{slow}/refusing"))),
            fetch: "external token_url",
        },
    ]
}

/// Everything a failing child said: its log and its admin answers.
async fn run_failing(failure: &Failure) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (child, log) = start_logged(dir.path(), &RULES[..2], &failure.wechat);
    let base = format!("http://{}", child.addr);
    let now = cardbot::clock::now_secs();
    let taken = push::encrypted(&push::user_get_card(
        "o-leak-f",
        CARD_ID,
        "400000000009",
        now,
    ));

    let accepted = post(&base, &taken).await;
    eventually(failure.name, WAIT, || {
        let lines = log_lines(&log);
        count(
            &lines,
            "event deferred: a lookup failed for a passing reason",
        ) + count(&lines, "rule failed; its actions are dropped")
            >= 1
    })
    .await;
    let mut said = String::new();
    for path in [
        "/admin/decisions?openid=o-leak-f",
        "/admin/outbox",
        "/admin/dead_letters",
    ] {
        said.push_str(&get(&format!("{base}{path}"), ADMIN_TOKEN).await.1);
    }
    child.kill();

    assert_eq!(accepted, StatusCode::OK, "{}", failure.name);
    said.push_str(&std::fs::read_to_string(&log).unwrap());
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_when_the_api_cannot_be_reached_in_any_token_mode() {
    let wechat = FakeWechat::start().await;
    wechat.delay("/cgi-bin/token", Duration::from_secs(3));
    wechat.delay(EXTERNAL_TOKEN, Duration::from_secs(3));
    wechat.respond(
        &format!("/refusing{EXTERNAL_TOKEN}"),
        json!({"errcode": 40013, "errmsg": format!("invalid key {TOKEN_URL_SECRET}")}),
    );

    for failure in failures(&wechat) {
        let said = run_failing(&failure).await;

        assert!(
            said.contains(failure.fetch),
            "{}: no failed token fetch was reported:\n{said}",
            failure.name
        );
        let secrets = [APP_SECRET, TOKEN, AES_KEY, ADMIN_TOKEN, TOKEN_URL_SECRET];
        for secret in secrets {
            for form in forms(secret) {
                assert!(
                    !said.contains(&form),
                    "{}: {secret} leaked as {form}:\n{said}",
                    failure.name
                );
            }
        }
    }
}
