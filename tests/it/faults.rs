//! Faults outside cardbot: WeChat's API down for a while (503, system busy, refusing
//! connections) and back. Held messages go out once, and a passing outage buries none.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use crate::support::fake_wechat::Reply;
use crate::support::pipeline::{eventually, Rig, CUSTOM_SEND};
use crate::support::push;
use crate::support::server::THANK_ON_RECEIPT;

/// Events pushed while the API is down.
const EVENTS: usize = 30;
/// How long the outage lasts once every event is accepted.
const OUTAGE: Duration = Duration::from_secs(2);
const WAIT: Duration = Duration::from_secs(20);

/// Retries spaced so that a few seconds of outage stay far from the attempt cap, and
/// capped at a second so delivery resumes soon after the API is back.
async fn start_rig() -> Rig {
    Rig::start(false, &[("thanks.rhai", THANK_ON_RECEIPT)], |config| {
        config.window.card_events_open_window = true;
        config.window.interaction_quota = 1000;
        config.dispatcher.max_attempts = 30;
        config.dispatcher.backoff_base_ms = 50;
        config.dispatcher.backoff_max_secs = 1;
    })
    .await
}

/// Pushes one receipt per user and returns the text each one earns.
async fn push_receipts(rig: &Rig) -> HashSet<String> {
    let client = reqwest::Client::new();
    let mut expected = HashSet::new();
    for n in 0..EVENTS {
        let code = format!("{n:012}");
        let xml = push::user_get_card(
            &format!("o-outage-{n}"),
            "p-outage",
            &code,
            cardbot::clock::now_secs(),
        );
        let request = push::plaintext(&xml);

        let answer = client
            .post(rig.server.callback_url(&request.query))
            .body(request.body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();

        assert_eq!(answer, "success", "the callback does not depend on the API");
        expected.insert(format!("card {code}"));
    }
    expected
}

async fn outage_then_recovery(reply: Reply) {
    let rig = start_rig().await;
    rig.wechat.start_outage(reply);

    let expected = push_receipts(&rig).await;
    eventually("every message waits in the outbox", WAIT, || {
        rig.server.store.inbox_len() == 0 && rig.server.app.outbox.len() == EVENTS
    })
    .await;
    eventually("the dispatcher meets the outage", WAIT, || {
        rig.wechat.refused() > 0
    })
    .await;
    tokio::time::sleep(OUTAGE).await;
    rig.wechat.end_outage();

    assert_each_sent_once(&rig, &expected).await;
}

/// Waits until the outbox is empty; every expected text went out once, none was buried.
async fn assert_each_sent_once(rig: &Rig, expected: &HashSet<String>) {
    eventually("every held message is sent", WAIT, || {
        rig.wechat.hits(CUSTOM_SEND) >= EVENTS
    })
    .await;
    eventually("the outbox drains", WAIT, || {
        rig.server.app.outbox.is_empty()
    })
    .await;

    let sent = rig.sent_texts();
    let distinct: HashSet<String> = sent.iter().cloned().collect();
    assert_eq!(sent.len(), EVENTS, "a message was sent twice: {sent:?}");
    assert_eq!(&distinct, expected);
    assert_eq!(
        rig.server.app.outbox.dead_len(),
        0,
        "a passing outage buried a message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_held_by_a_gateway_outage_are_sent_once_when_the_api_is_back() {
    outage_then_recovery(Reply::Status(503)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_held_while_wechat_is_busy_are_sent_once_when_it_recovers() {
    outage_then_recovery(Reply::Json(json!({"errcode": -1, "errmsg": "system busy"}))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_held_while_the_api_refuses_connections_are_sent_once_when_it_is_back() {
    let mut rig = start_rig().await;
    rig.wechat.go_offline().await;

    let expected = push_receipts(&rig).await;
    eventually("every message waits in the outbox", WAIT, || {
        rig.server.store.inbox_len() == 0 && rig.server.app.outbox.len() == EVENTS
    })
    .await;
    eventually("every message meets the outage", WAIT, || {
        let entries = rig.server.app.outbox.entries().unwrap();
        entries.iter().all(|entry| entry.attempts > 0)
    })
    .await;
    tokio::time::sleep(OUTAGE).await;
    rig.wechat.come_back();

    assert_each_sent_once(&rig, &expected).await;
}
