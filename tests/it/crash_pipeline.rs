//! Crash safety of the whole path: the real binary is killed with SIGKILL at random
//! moments while it handles a stream of events; after the last restart every answered
//! event has been handled exactly once, and its message sent once or, when a kill cut
//! its request short, kept as an unknown outcome and never resent.

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
    let decided = decided_texts(addr).await;
    let sent = counts(
        wechat
            .requests(CUSTOM_SEND)
            .iter()
            .filter_map(|request| request.body["text"]["content"].as_str().map(String::from)),
    );
    let dead = dead_letter_texts(addr).await;
    let dead_texts = counts(dead.iter().map(|(text, _)| text.clone()));
    let unknown: Vec<&String> = dead
        .iter()
        .filter(|(_, reason)| reason == "unknown_outcome")
        .map(|(text, _)| text)
        .collect();
    println!(
        "pipeline crash test: {KILLS} SIGKILLs, {} events answered, {} decided, {} messages \
         sent, {} unknown outcomes not resent ({} of them had reached the API)",
        answered.len(),
        decided.len(),
        sent.values().sum::<usize>(),
        unknown.len(),
        unknown
            .iter()
            .filter(|text| sent.contains_key(**text))
            .count(),
    );
    child.kill();

    let twice = |counts: &HashMap<String, usize>| -> Vec<String> {
        let many = counts.iter().filter(|(_, n)| **n > 1);
        many.map(|(text, _)| text.clone()).collect()
    };
    assert_eq!(
        twice(&decided),
        Vec::<String>::new(),
        "an event was handled twice"
    );
    assert_eq!(
        twice(&sent),
        Vec::<String>::new(),
        "a message was sent twice"
    );
    assert_eq!(
        twice(&dead_texts),
        Vec::<String>::new(),
        "a message died twice"
    );
    let unhandled: Vec<&String> = answered
        .iter()
        .filter(|text| !decided.contains_key(*text))
        .collect();
    assert!(
        unhandled.is_empty(),
        "answered but never handled: {unhandled:?}"
    );
    let spurious: Vec<&String> = sent
        .keys()
        .chain(dead_texts.keys())
        .filter(|text| !decided.contains_key(*text))
        .collect();
    assert!(
        spurious.is_empty(),
        "a message no event decided: {spurious:?}"
    );
    // The fake API takes every message, so the only way to give one up is a kill while
    // its request was under way: an unknown outcome, which is never resent.
    let other: Vec<&(String, String)> = dead
        .iter()
        .filter(|(_, reason)| reason != "unknown_outcome")
        .collect();
    assert!(
        other.is_empty(),
        "dead letters the design does not allow: {other:?}"
    );
    let lost: Vec<&String> = decided
        .keys()
        .filter(|text| !sent.contains_key(*text) && !dead_texts.contains_key(*text))
        .collect();
    assert!(
        lost.is_empty(),
        "decided, then neither sent nor kept: {lost:?}"
    );
}

/// How often each text occurs.
fn counts(texts: impl Iterator<Item = String>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for text in texts {
        *counts.entry(text).or_insert(0) += 1;
    }
    counts
}

/// The text of every message the rules decided, as often as a decision chose it, over
/// the decision log of every user: one decision per event handled.
async fn decided_texts(addr: std::net::SocketAddr) -> HashMap<String, usize> {
    let mut texts = Vec::new();
    for user in 0..USERS {
        let path = format!("/admin/decisions?openid=o-crash-{user}&limit=100000");
        let log = admin::get_json(addr, ADMIN, &path).await;
        for decision in log["decisions"].as_array().unwrap() {
            for message in decision["payload"]["messages"].as_array().unwrap() {
                let text = message["request"]["message"]["text"]["content"].as_str();
                texts.push(
                    text.unwrap_or_else(|| panic!("no text in {message}"))
                        .to_string(),
                );
            }
        }
    }
    counts(texts.into_iter())
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
async fn dead_letter_texts(addr: std::net::SocketAddr) -> Vec<(String, String)> {
    let letters = admin::get_json(addr, ADMIN, "/admin/dead_letters?limit=100000").await;
    letters["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|letter| {
            let text = letter["entry"]["outgoing"]["message"]["text"]["content"].as_str();
            let reason = letter["reason"].as_str();
            let text = text.unwrap_or_else(|| panic!("no text in {letter}"));
            (text.to_string(), reason.unwrap_or_default().to_string())
        })
        .collect()
}
