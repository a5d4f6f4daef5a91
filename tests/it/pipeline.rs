//! The whole path: a push leads to the message the rules chose, sent once, within the
//! window, the caps and WeChat's refusals.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::pipeline::{eventually, text_message, Rig, CUSTOM_SEND};
use crate::support::push::{self, Push};

const WAIT: Duration = Duration::from_secs(10);

const THANK_ON_RECEIPT: &str = r#"
fn on_user_get_card(event) {
    send_text(event.openid, `thanks for taking ${event.card_id}`);
}
"#;

fn receipt(openid: &str, code: &str) -> Push {
    let now = cardbot::clock::now_secs();
    push::plaintext(&push::user_get_card(openid, "p-card-1", code, now))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_leads_to_exactly_the_message_the_rules_chose_once() {
    let rig = Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |_| {}).await;
    rig.server
        .post(&push::plaintext(&text_message("o-alice", "hi", 1)))
        .await;

    let push = receipt("o-alice", "100000000001");
    let (status, _) = rig.server.post(&push).await;
    rig.server.post(&push).await;

    assert_eq!(status, StatusCode::OK);
    eventually("the message is sent", WAIT, || {
        rig.wechat.hits(CUSTOM_SEND) >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rig.sent_texts(),
        vec!["thanks for taking p-card-1".to_string()]
    );
    let sent = rig.wechat.last_request(CUSTOM_SEND);
    assert_eq!(sent.body["touser"], "o-alice");
    eventually("the outbox drains", WAIT, || {
        rig.server.app.outbox.is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_failure_is_retried_and_the_message_sent_once() {
    let rig = Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |_| {}).await;
    rig.wechat.respond_errcodes(CUSTOM_SEND, &[-1, 45011, 0]);
    rig.server
        .post(&push::plaintext(&text_message("o-bob", "hi", 2)))
        .await;

    rig.server.post(&receipt("o-bob", "100000000002")).await;

    eventually("three attempts", WAIT, || rig.wechat.hits(CUSTOM_SEND) >= 3).await;
    eventually("the outbox drains", WAIT, || {
        rig.server.app.outbox.is_empty()
    })
    .await;
    assert_eq!(rig.wechat.hits(CUSTOM_SEND), 3);
    assert_eq!(rig.server.app.outbox.dead_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_window_answer_becomes_a_dead_letter_with_its_reason() {
    let rig = Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |_| {}).await;
    rig.wechat.respond_errcodes(CUSTOM_SEND, &[45015]);
    rig.server
        .post(&push::plaintext(&text_message("o-carol", "hi", 3)))
        .await;

    rig.server.post(&receipt("o-carol", "100000000003")).await;

    let outbox = &rig.server.app.outbox;
    eventually("a dead letter", WAIT, || outbox.dead_len() == 1).await;
    let letter = &outbox.dead_letters(10).unwrap()[0];
    assert_eq!(letter.errcode, Some(45015));
    assert_eq!(rig.wechat.hits(CUSTOM_SEND), 1);
    let window = rig
        .server
        .app
        .windows
        .status("o-carol", cardbot::clock::now_secs());
    assert!(!window.unwrap().open, "45015 closes the tracked window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_mid_run_is_refreshed_and_the_message_sent_once() {
    let rig = Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |_| {}).await;
    rig.wechat.respond_errcodes(CUSTOM_SEND, &[40001, 0]);
    rig.server
        .post(&push::plaintext(&text_message("o-dave", "hi", 4)))
        .await;

    rig.server.post(&receipt("o-dave", "100000000004")).await;

    eventually("the outbox drains", WAIT, || {
        rig.wechat.hits(CUSTOM_SEND) == 2 && rig.server.app.outbox.is_empty()
    })
    .await;
    assert_eq!(rig.wechat.hits("/cgi-bin/stable_token"), 2);
    let tokens: Vec<_> = rig
        .wechat
        .requests(CUSTOM_SEND)
        .iter()
        .map(|request| request.access_token().unwrap().to_string())
        .collect();
    assert_ne!(tokens[0], tokens[1], "the retry used the fresh token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_without_a_window_is_held_until_the_user_writes() {
    let rig = Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |_| {}).await;

    rig.server.post(&receipt("o-erin", "100000000005")).await;

    let outbox = rig.server.app.outbox.clone();
    eventually("the message is held", WAIT, || {
        outbox.entries().unwrap().iter().any(|entry| {
            matches!(
                entry.state,
                cardbot::pipeline::outbox::EntryState::Held { .. }
            )
        })
    })
    .await;
    assert_eq!(rig.wechat.hits(CUSTOM_SEND), 0);

    rig.server
        .post(&push::plaintext(&text_message("o-erin", "hello?", 5)))
        .await;

    eventually("the held message goes out", WAIT, || {
        rig.wechat.hits(CUSTOM_SEND) == 1
    })
    .await;
    assert_eq!(
        rig.sent_texts(),
        vec!["thanks for taking p-card-1".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_cap_suppresses_with_its_reason() {
    let rig = Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |config| {
        config.pressure.daily_cap = 1;
    })
    .await;
    rig.server
        .post(&push::plaintext(&text_message("o-frank", "hi", 6)))
        .await;

    rig.server.post(&receipt("o-frank", "100000000006")).await;
    eventually("the first is sent", WAIT, || {
        rig.wechat.hits(CUSTOM_SEND) == 1
    })
    .await;
    rig.server.post(&receipt("o-frank", "100000000007")).await;

    let outbox = &rig.server.app.outbox;
    eventually("the second is suppressed", WAIT, || outbox.dead_len() == 1).await;
    let letter = &outbox.dead_letters(10).unwrap()[0];
    assert!(
        letter.detail.contains("daily cap of 1"),
        "{}",
        letter.detail
    );
    assert_eq!(rig.wechat.hits(CUSTOM_SEND), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_make_a_message_wait() {
    use chrono::{Duration as Span, Utc};
    let shanghai = chrono_tz::Asia::Shanghai;
    let now = Utc::now().with_timezone(&shanghai);
    let start = (now - Span::hours(1)).format("%H:%M").to_string();
    let end = (now + Span::hours(1)).format("%H:%M").to_string();
    let rig = Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |config| {
        config.pressure.quiet_start = start;
        config.pressure.quiet_end = end;
    })
    .await;
    rig.server
        .post(&push::plaintext(&text_message("o-gina", "hi", 7)))
        .await;

    rig.server.post(&receipt("o-gina", "100000000008")).await;

    let outbox = rig.server.app.outbox.clone();
    let later = cardbot::clock::now_ms() + 30 * 60 * 1000;
    eventually("the message waits past quiet hours", WAIT, || {
        outbox
            .entries()
            .unwrap()
            .iter()
            .any(|entry| entry.not_before_ms > later)
    })
    .await;
    assert_eq!(rig.wechat.hits(CUSTOM_SEND), 0);
}

const REPLY_TO_TEXT: &str = r#"
fn on_text(event) {
    if event.content == "slow" {
        let cards = user_cards(event.openid);
    }
    reply_text(`you said ${event.content}`);
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passive_reply_arrives_encrypted_in_the_http_answer() {
    let rig = Rig::start(true, &[("echo.rhai", REPLY_TO_TEXT)], |_| {}).await;

    let (status, body) = rig
        .server
        .post(&push::encrypted(&text_message("o-hana", "hi", 8)))
        .await;

    assert_eq!(status, StatusCode::OK);
    let outer = cardbot::wechat::xml::parse_children(body.as_bytes()).unwrap();
    let encrypted = &outer["Encrypt"];
    let signed = cardbot::wechat::signature::verify(
        &outer["MsgSignature"],
        &[
            crate::support::server::TOKEN,
            &outer["TimeStamp"],
            &outer["Nonce"],
            encrypted,
        ],
    );
    assert!(signed, "the reply's MsgSignature verifies");
    let key = cardbot::wechat::crypto::AesKey::parse(crate::support::server::AES_KEY).unwrap();
    let opened = cardbot::wechat::crypto::decrypt(&key, encrypted).unwrap();
    let inner = cardbot::wechat::xml::parse_children(&opened.message).unwrap();
    assert_eq!(inner["Content"], "you said hi");
    assert_eq!(inner["ToUserName"], "o-hana");
    assert_eq!(rig.wechat.hits(CUSTOM_SEND), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_rules_reply_arrives_as_a_customer_service_message() {
    let rig = Rig::start(false, &[("echo.rhai", REPLY_TO_TEXT)], |config| {
        config.worker.reply_budget_ms = 100;
        config.rules.timeout_ms = 3000;
    })
    .await;
    rig.wechat
        .delay("/card/user/getcardlist", Duration::from_millis(600));

    let (status, body) = rig
        .server
        .post(&push::plaintext(&text_message("o-ivan", "slow", 9)))
        .await;

    assert_eq!((status, body.as_str()), (StatusCode::OK, "success"));
    eventually("the reply is sent as a message", WAIT, || {
        rig.wechat.hits(CUSTOM_SEND) == 1
    })
    .await;
    assert_eq!(rig.sent_texts(), vec!["you said slow".to_string()]);
}

/// Counts the sender's cards, and says so even when the lookup fails.
const COUNT_CARDS_CATCHING: &str = r#"
fn on_text(event) {
    let text = "";
    try {
        text = `cards ${user_cards(event.openid).len()}`;
    } catch (err) {
        text = `lookup failed: ${err}`;
    }
    send_text(event.openid, text);
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_slower_than_the_rules_deadline_stops_the_rule_as_a_timeout() {
    let rig = Rig::start(false, &[("count.rhai", COUNT_CARDS_CATCHING)], |config| {
        config.rules.timeout_ms = 300;
        config.wechat.request_timeout_secs = 30;
    })
    .await;
    rig.wechat
        .delay("/card/user/getcardlist", Duration::from_secs(3));

    rig.server
        .post_ok(&push::plaintext(&text_message("o-slow", "hi", 31)))
        .await;
    let decisions = rig.server.app.decisions.clone();
    eventually("the decision is logged", WAIT, || {
        !decisions.by_openid("o-slow", 1).unwrap().is_empty()
    })
    .await;

    let entry = decisions.by_openid("o-slow", 1).unwrap().remove(0);
    let run = &entry.payload["rules"][0];
    assert_eq!(run["rule"], "count");
    assert_eq!(run["failure"]["kind"], "timeout", "{run}");
    assert_eq!(entry.payload["messages"], serde_json::json!([]));
    assert_eq!(rig.server.app.outbox.entries().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_are_queryable_by_openid_and_dead_letters_retried() {
    let rig = Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |_| {}).await;
    rig.wechat.respond_errcodes(CUSTOM_SEND, &[45047]);
    rig.server
        .post(&push::plaintext(&text_message("o-jack", "hi", 10)))
        .await;
    rig.server.post(&receipt("o-jack", "100000000010")).await;
    let outbox = rig.server.app.outbox.clone();
    eventually("a dead letter", WAIT, || outbox.dead_len() == 1).await;

    let decisions = rig.admin_get("/admin/decisions?openid=o-jack").await;
    let letters = rig.admin_get("/admin/dead_letters").await;

    let kinds: Vec<&str> = decisions["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["event_kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["user_get_card", "text"]);
    let id = letters["dead_letters"][0]["entry"]["id"].as_u64().unwrap();
    rig.server
        .post(&push::plaintext(&text_message("o-jack", "again", 11)))
        .await;
    let retried = reqwest::Client::new()
        .post(format!(
            "http://{}/admin/dead_letters/{id}/retry",
            rig.server.addr
        ))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), StatusCode::OK);
    eventually("the retry is sent", WAIT, || {
        rig.wechat.hits(CUSTOM_SEND) == 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_refuses_a_wrong_token() {
    let rig = Rig::start(false, &[], |_| {}).await;

    let response = reqwest::Client::new()
        .get(format!("http://{}/admin/rules", rig.server.addr))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_and_metrics_refuse_what_a_local_proxy_relays() {
    let rig = Rig::start(false, &[], |_| {}).await;
    let client = reqwest::Client::new();

    let mut statuses = Vec::new();
    for path in ["/admin/rules", "/metrics"] {
        let response = client
            .get(format!("http://{}{path}", rig.server.addr))
            .header("x-forwarded-for", "203.0.113.7")
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
    }

    assert_eq!(statuses, [StatusCode::FORBIDDEN, StatusCode::FORBIDDEN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_on_a_listener_of_its_own_leaves_the_callback_port() {
    let rig = Rig::start(false, &[], |config| {
        config.admin.listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    let client = reqwest::Client::new();
    let admin = rig.server.admin_addr.expect("an admin listener");
    let main = rig.server.addr;

    let mut statuses = Vec::new();
    for url in [
        format!("http://{admin}/admin/rules"),
        format!("http://{admin}/admin/"),
        format!("http://{main}/admin/rules"),
        format!("http://{main}/admin/"),
        format!("http://{admin}/metrics"),
        format!("http://{admin}/wechat"),
        format!("http://{main}/healthz"),
    ] {
        let response = client
            .get(url)
            .bearer_auth("test-admin-token")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }

    assert_ne!(admin, main);
    assert_eq!(statuses, [200, 200, 404, 404, 404, 404, 200]);
}

const TEMPLATE_WHEN_CLOSED: &str = r#"
fn on_user_get_card(event) {
    let w = window(event.openid);
    let text = if w.open { "window open" } else { "window closed" };
    send_text(event.openid, text, #{
        template: #{ template_id: "TPL-RECEIPT", data: #{ first: "Your card is ready" } },
    });
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_window_falls_back_to_the_rules_template() {
    let rig = Rig::start(false, &[("receipt.rhai", TEMPLATE_WHEN_CLOSED)], |_| {}).await;

    rig.server.post(&receipt("o-kate", "100000000012")).await;

    let template = "/cgi-bin/message/template/send";
    eventually("the template is sent", WAIT, || {
        rig.wechat.hits(template) == 1
    })
    .await;
    let sent = rig.wechat.last_request(template);
    assert_eq!(sent.body["template_id"], "TPL-RECEIPT");
    assert_eq!(sent.body["data"]["first"]["value"], "Your card is ready");
    assert_eq!(rig.wechat.hits(CUSTOM_SEND), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_see_the_window_the_user_opened() {
    let rig = Rig::start(false, &[("receipt.rhai", TEMPLATE_WHEN_CLOSED)], |_| {}).await;
    rig.server
        .post(&push::plaintext(&text_message("o-liam", "hi", 13)))
        .await;

    rig.server.post(&receipt("o-liam", "100000000013")).await;

    eventually("the message is sent", WAIT, || {
        rig.wechat.hits(CUSTOM_SEND) == 1
    })
    .await;
    assert_eq!(rig.sent_texts(), vec!["window open".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cardbot_log_prints_a_users_decisions() {
    let rig = Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |_| {}).await;
    rig.server
        .post(&push::plaintext(&text_message("o-mona", "hi", 14)))
        .await;
    rig.server.post(&receipt("o-mona", "100000000014")).await;
    eventually("the message is sent", WAIT, || {
        rig.wechat.hits(CUSTOM_SEND) == 1
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let text = format!(
        "[server]\nlisten = \"{}\"\n[wechat]\ntoken = \"t\"\n[admin]\ntoken = \"test-admin-token\"\n",
        rig.server.addr
    );
    std::fs::write(&config, text).unwrap();

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_cardbot"))
        .args(["log", "--openid", "o-mona", "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("user_get_card"), "{stdout}");
    assert!(stdout.contains("rule thanks: ok"), "{stdout}");
    assert!(stdout.contains("message text by thanks: sent"), "{stdout}");
}

/// Writes `count` messages held for users without a window into the store at `path`,
/// as an earlier version kept them: in the outbox tree itself.
fn store_held_messages(path: &std::path::Path, count: usize) {
    use cardbot::pipeline::outbox::{EntryState, Outbox, OutboxEntry, Outgoing, WhenClosed};

    let db = sled::open(path).unwrap();
    let outbox = Outbox::open(&db).unwrap();
    let now_ms = cardbot::clock::now_ms();
    for user in 0..count {
        let openid = format!("o-held-{user}");
        let entry = OutboxEntry {
            id: db.generate_id().unwrap(),
            rule: "thanks".to_string(),
            decision_id: 0,
            message_index: 0,
            outgoing: Outgoing::Custom {
                message: cardbot::api::CustomMessage::text(&openid, "thanks"),
            },
            fallback: None,
            when_closed: WhenClosed::Hold,
            state: EntryState::Held { since_ms: now_ms },
            attempts: 0,
            not_before_ms: now_ms,
            created_at_ms: now_ms,
            last_error: None,
            event_kind: "user_get_card".to_string(),
            event_card_id: Some("p-card-1".to_string()),
            held_since_ms: None,
        };
        outbox.put(&entry).unwrap();
    }
    db.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_held_messages_do_not_keep_a_ready_one_from_going_out() {
    const HELD: usize = 2_500;
    let rig = Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |config| {
        store_held_messages(&config.store.path, HELD);
    })
    .await;
    rig.server
        .post(&push::plaintext(&text_message("o-hana", "hi", 9)))
        .await;

    rig.server.post(&receipt("o-hana", "100000000009")).await;

    eventually("the ready message goes out", WAIT, || {
        rig.wechat.hits(CUSTOM_SEND) == 1
    })
    .await;
    assert_eq!(
        rig.wechat.last_request(CUSTOM_SEND).body["touser"],
        "o-hana"
    );
    let outbox = &rig.server.app.outbox;
    assert_eq!((outbox.held_len(), outbox.len()), (HELD, HELD));
    let listing = rig.admin_get("/admin/outbox?limit=1").await;
    assert_eq!(listing["by_state"]["held"], HELD);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_held_past_hold_max_secs_becomes_a_dead_letter() {
    let rig = Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |config| {
        config.dispatcher.hold_max_secs = 1;
    })
    .await;

    rig.server.post(&receipt("o-ines", "100000000010")).await;

    let outbox = &rig.server.app.outbox;
    eventually("the held message is given up", WAIT, || {
        outbox.dead_len() == 1
    })
    .await;
    let letter = &outbox.dead_letters(10).unwrap()[0];
    assert_eq!(
        letter.reason,
        cardbot::pipeline::outbox::DeadReason::WindowClosed
    );
    assert!(outbox.is_empty());
    assert_eq!(rig.wechat.hits(CUSTOM_SEND), 0);
}
