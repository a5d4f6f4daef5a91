//! The sandbox over real HTTP: token checks, the customer-service window and quota,
//! card state kept from accepted events, bad bodies, injected faults, and the whole
//! product run from a copy of the shipped config with `cardbot push` driving it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::push::event_now;
use crate::support::server::{free_addr, is_healthy, TestServer};

const APP_SECRET: &str = "sandbox-test-secret";
const ADMIN_TOKEN: &str = "sandbox-test-admin";
const ALICE_CASH_CODE: &str = "100000000001";
const CASH_CARD: &str = "pLtS7jA1x0Wq3ZcN5vGmYkTr2HdE";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

async fn start() -> TestServer {
    TestServer::start(false, |config| {
        config.sandbox.enabled = true;
        config.sandbox.seed = repo_path("rules/sandbox_seed.toml");
        config.wechat.app_secret = APP_SECRET.to_string();
        config.admin.token = ADMIN_TOKEN.to_string();
    })
    .await
}

fn sandbox_url(server: &TestServer, path: &str) -> String {
    format!("http://{}/sandbox{path}", server.addr)
}

async fn token(server: &TestServer) -> String {
    let body = json!({"grant_type": "client_credential", "appid": server.config.wechat.app_id,
                      "secret": APP_SECRET});
    let answer: Value = reqwest::Client::new()
        .post(sandbox_url(server, "/cgi-bin/stable_token"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_string()
}

async fn call(server: &TestServer, path: &str, token: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!(
            "{}?access_token={token}",
            sandbox_url(server, path)
        ))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Pushes an event of `kind` from `openid` through the callback, as WeChat would.
async fn push(server: &TestServer, kind: &str, openid: &str, fields: &[(&str, &str)]) {
    server.post_ok(&event_now(kind, openid, fields)).await;
}

fn text_to(openid: &str, content: &str) -> Value {
    json!({"touser": openid, "msgtype": "text", "text": {"content": content}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_refuses_calls_without_a_valid_token_or_secret() {
    let server = start().await;
    let body = json!({"openid": "o-alice"});
    let wrong_secret = json!({"grant_type": "client_credential",
                              "appid": server.config.wechat.app_id, "secret": "nope"});

    let missing: Value = reqwest::Client::new()
        .post(sandbox_url(&server, "/card/user/getcardlist"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let unknown = call(&server, "/card/user/getcardlist", "forged", body.clone()).await;
    let refused: Value = reqwest::Client::new()
        .post(sandbox_url(&server, "/cgi-bin/stable_token"))
        .json(&wrong_secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let valid = call(
        &server,
        "/card/user/getcardlist",
        &token(&server).await,
        body,
    )
    .await;

    assert_eq!(missing["errcode"], 41001);
    assert_eq!(unknown["errcode"], 40001);
    assert_eq!(refused["errcode"], 40125);
    assert_eq!(valid["errcode"], 0);
    let codes: Vec<&str> = valid["card_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|card| card["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["100000000001", "100000000002"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_message_opens_a_window_of_five_sends_then_45047() {
    let server = start().await;
    let token = token(&server).await;
    let send = "/cgi-bin/message/custom/send";

    let before = call(&server, send, &token, text_to("o-bob", "hello")).await;
    push(
        &server,
        "text",
        "o-bob",
        &[("Content", "what cards do I have?")],
    )
    .await;
    let mut errcodes = Vec::new();
    for n in 0..6 {
        let answer = call(
            &server,
            send,
            &token,
            text_to("o-bob", &format!("reply {n}")),
        )
        .await;
        errcodes.push(answer["errcode"].as_i64().unwrap());
    }

    assert_eq!(before["errcode"], 45015);
    assert_eq!(errcodes, vec![0, 0, 0, 0, 0, 45047]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consume_event_makes_the_code_consumed_and_an_unknown_code_is_40056() {
    let server = start().await;
    let token = token(&server).await;
    let code_get = "/card/code/get";
    let query = |check: bool| json!({"code": ALICE_CASH_CODE, "check_consume": check});

    let unknown = call(&server, code_get, &token, json!({"code": "999"})).await;
    let before = call(&server, code_get, &token, query(false)).await;
    push(
        &server,
        "user_consume_card",
        "o-alice",
        &[
            ("CardId", CASH_CARD),
            ("UserCardCode", ALICE_CASH_CODE),
            ("ConsumeSource", "FROM_MOBILE_HELPER"),
        ],
    )
    .await;
    let after = call(&server, code_get, &token, query(false)).await;
    let checked = call(&server, code_get, &token, query(true)).await;

    assert_eq!(unknown["errcode"], 40056);
    assert_eq!(before["user_card_status"], "NORMAL");
    assert_eq!(before["can_consume"], true);
    assert_eq!(after["user_card_status"], "CONSUMED");
    assert_eq!(after["can_consume"], false);
    assert_eq!(checked["errcode"], 40099);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_message_bodies_get_wechats_errcodes() {
    let server = start().await;
    let token = token(&server).await;
    push(&server, "text", "o-alice", &[("Content", "hi")]).await;
    let send = "/cgi-bin/message/custom/send";

    let empty = call(&server, send, &token, text_to("o-alice", " ")).await;
    let bad_type = call(
        &server,
        send,
        &token,
        json!({"touser": "o-alice", "msgtype": "fax"}),
    )
    .await;
    let not_following = call(&server, send, &token, text_to("o-dana", "hi")).await;
    let stranger = call(&server, send, &token, text_to("o-nobody", "hi")).await;

    assert_eq!(empty["errcode"], 44004);
    assert_eq!(bad_type["errcode"], 40008);
    assert_eq!(not_following["errcode"], 43004);
    assert_eq!(stranger["errcode"], 40003);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_fault_answers_its_errcode_then_delivery_resumes() {
    let server = start().await;
    let token = token(&server).await;
    push(&server, "text", "o-alice", &[("Content", "hi")]).await;
    let admin = |path: &str| format!("http://{}/admin/sandbox{path}", server.addr);
    let http = reqwest::Client::new();
    let send = "/cgi-bin/message/custom/send";
    let fault = json!({"path": send, "errcode": -1, "times": 2});

    let added = http
        .post(admin("/faults"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&fault)
        .send()
        .await;
    let first = call(&server, send, &token, text_to("o-alice", "one")).await;
    let second = call(&server, send, &token, text_to("o-alice", "two")).await;
    let third = call(&server, send, &token, text_to("o-alice", "three")).await;
    let listed: Value = http
        .get(admin("/messages"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let unauthorized = http.get(admin("/messages")).send().await.unwrap();

    assert!(added.unwrap().status().is_success());
    assert_eq!(
        (first["errcode"].clone(), second["errcode"].clone()),
        (json!(-1), json!(-1))
    );
    assert_eq!(third["errcode"], 0);
    let messages = listed["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["summary"], "three");
    assert_eq!(unauthorized.status(), reqwest::StatusCode::UNAUTHORIZED);
}

/// The shipped config.toml with the address, store, rules and seed moved.
fn shipped_config_for(dir: &Path, addr: std::net::SocketAddr) -> String {
    let shipped = std::fs::read_to_string(repo_path("config.toml")).unwrap();
    let rules = repo_path("rules");
    let replacements = [
        (
            "listen = \"127.0.0.1:8080\"",
            format!("listen = \"{addr}\""),
        ),
        (
            "api_base = \"http://127.0.0.1:8080/sandbox\"",
            format!("api_base = \"http://{addr}/sandbox\""),
        ),
        ("path = \"data\"", format!("path = {:?}", dir.join("store"))),
        ("dir = \"rules\"", format!("dir = {rules:?}")),
        ("watch = true", "watch = false".to_string()),
        (
            "seed = \"rules/sandbox_seed.toml\"",
            format!("seed = {:?}", rules.join("sandbox_seed.toml")),
        ),
    ];
    let mut text = shipped;
    for (from, to) in replacements {
        assert!(
            text.contains(from),
            "the shipped config.toml no longer has {from}"
        );
        text = text.replacen(from, &to, 1);
    }
    text
}

#[test]
fn the_shipped_config_runs_the_product_and_a_push_reaches_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, shipped_config_for(dir.path(), addr)).unwrap();
    let stdout_path = dir.path().join("stdout.txt");
    let mut server = Command::new(env!("CARGO_BIN_EXE_cardbot"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !is_healthy(addr) && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }

    let pushed = Command::new(env!("CARGO_BIN_EXE_cardbot"))
        .args([
            "push",
            "user_consume_card",
            "--openid",
            "o-alice",
            "--card-id",
            CASH_CARD,
            "--code",
            ALICE_CASH_CODE,
            "--consume-source",
            "FROM_MOBILE_HELPER",
            "--location-name",
            "Lotus Tea Jing'an",
            "--config",
        ])
        .arg(&config_path)
        .output()
        .unwrap();
    let expected = "📨 to o-alice (Alice) [text] Thanks for visiting Lotus Tea Jing'an!";
    let mut printed = String::new();
    let waiting = Instant::now();
    let card = "[wxcard] 🎫 15% off your next order";
    while !(printed.contains(expected) && printed.contains(card))
        && waiting.elapsed() < Duration::from_secs(15)
    {
        std::thread::sleep(Duration::from_millis(100));
        printed.clear();
        std::fs::File::open(&stdout_path)
            .unwrap()
            .read_to_string(&mut printed)
            .unwrap();
    }
    server.kill().unwrap();
    server.wait().unwrap();

    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&pushed.stdout).trim(), "success");
    assert!(printed.contains(expected), "server stdout:\n{printed}");
    assert!(
        printed.contains("[wxcard] 🎫 15% off your next order"),
        "{printed}"
    );
}
