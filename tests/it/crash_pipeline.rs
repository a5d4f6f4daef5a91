//! Crash safety of the whole path: the real binary is killed with SIGKILL at random
//! moments while it handles a stream of events; after the last restart every answered
//! event has been handled and no message went out twice.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use crate::support::fake_wechat::FakeWechat;
use crate::support::pipeline::CUSTOM_SEND;
use crate::support::server::{free_addr, receipt_server, ChildServer};
use crate::support::{admin, push};

const KILLS: usize = 4;
const EVENTS_PER_ROUND: usize = 600;
const POSTERS: usize = 8;
const USERS: usize = 40;
/// A bound on the wait for the backlog, not a timing assertion.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
const ADMIN: &str = "crash-admin-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_event_is_handled_and_no_message_sent_twice_across_kills() {
    let wechat = FakeWechat::start().await;
    wechat.delay(CUSTOM_SEND, Duration::from_millis(5));
    let addr = free_addr();
    let (dir, text) = receipt_server(addr, &wechat.url(), Some(ADMIN));
    let answered = Arc::new(Mutex::new(HashSet::new()));

    for round in 0..KILLS {
        let child = ChildServer::start(dir.path(), &text, addr);
        let posting = tokio::spawn(post_round(addr, round, answered.clone()));
        let kill_after = rand::thread_rng().gen_range(200..1200);
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        child.kill();
        posting.await.unwrap();
    }
    let child = ChildServer::start(dir.path(), &text, addr);
    admin::drain(addr, ADMIN, DRAIN_LIMIT).await;

    let answered = answered.lock().unwrap().clone();
    let sent: Vec<String> = wechat
        .requests(CUSTOM_SEND)
        .iter()
        .filter_map(|request| request.body["text"]["content"].as_str().map(String::from))
        .collect();
    let distinct: HashSet<&String> = sent.iter().collect();
    let dead = dead_letter_texts(addr).await;
    let handled: HashSet<String> = distinct
        .iter()
        .map(|s| s.to_string())
        .chain(dead.keys().cloned())
        .collect();
    let unhandled: Vec<&String> = answered
        .iter()
        .filter(|text| !handled.contains(*text))
        .collect();
    let unknown = dead
        .values()
        .filter(|reason| *reason == "unknown_outcome")
        .count();
    println!(
        "pipeline crash test: {KILLS} SIGKILLs, {} events answered, {} messages sent \
         ({} distinct), {} unknown outcomes not resent, {} unhandled",
        answered.len(),
        sent.len(),
        distinct.len(),
        unknown,
        unhandled.len()
    );
    child.kill();

    assert_eq!(sent.len(), distinct.len(), "a message was sent twice");
    assert!(
        unhandled.is_empty(),
        "answered but never handled: {unhandled:?}"
    );
}

/// Posts a round of distinct card receipts; records the text each answered one earns.
async fn post_round(
    addr: std::net::SocketAddr,
    round: usize,
    answered: Arc<Mutex<HashSet<String>>>,
) {
    let client = reqwest::Client::new();
    let mut posters = Vec::new();
    for poster in 0..POSTERS {
        let (client, answered) = (client.clone(), answered.clone());
        posters.push(tokio::spawn(async move {
            for n in (poster..EVENTS_PER_ROUND).step_by(POSTERS) {
                let code = format!("{round:02}{n:010}");
                let openid = format!("o-crash-{}", n % USERS);
                let xml =
                    push::user_get_card(&openid, "p-crash", &code, cardbot::clock::now_secs());
                let request = push::plaintext(&xml);
                let Some((_, body)) = push::post_to(&client, addr, &request).await else {
                    return;
                };
                if body == "success" {
                    answered.lock().unwrap().insert(format!("card {code}"));
                }
            }
        }));
    }
    for poster in posters {
        let _ = poster.await;
    }
}

/// The text of every dead letter, with its reason.
async fn dead_letter_texts(addr: std::net::SocketAddr) -> HashMap<String, String> {
    let letters = admin::get_json(addr, ADMIN, "/admin/dead_letters?limit=100000").await;
    letters["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|letter| {
            let text = letter["entry"]["outgoing"]["message"]["text"]["content"].as_str()?;
            Some((text.to_string(), letter["reason"].as_str()?.to_string()))
        })
        .collect()
}
