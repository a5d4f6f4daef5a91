//! Crash safety of the inbox: the real binary is killed with SIGKILL right after it
//! answered, and every answered event must be in the inbox exactly once afterwards.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cardbot::store::Store;

use crate::support::fake_wechat::FakeWechat;
use crate::support::pipeline::{eventually, CUSTOM_SEND};
use crate::support::server::{free_addr, receipt_server, ChildServer, AES_KEY, APP_ID, TOKEN};
use crate::support::{admin, push};

/// How many answered events to wait for before the kill.
const ANSWERED_BEFORE_KILL: usize = 400;
const POSTERS: usize = 8;
/// Bounds on waits, not timing assertions: for the answers before the kill, and for a
/// graceful stop (in-flight callbacks, then the sends under way, then the flush).
const ANSWER_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);
const STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

fn child_config(addr: std::net::SocketAddr, store: &std::path::Path) -> String {
    format!(
        "[server]\nlisten = \"{addr}\"\n\n\
         [wechat]\ntoken = \"{TOKEN}\"\napp_id = \"{APP_ID}\"\nencoding_aes_key = \"{AES_KEY}\"\n\n\
         [store]\npath = \"{}\"\n\n[rules]\ndir = \"{}\"\nwatch = false\n\n\
         [worker]\npaused = true\n\n[log]\nlevel = \"warn\"\n",
        store.display(),
        store.with_file_name("rules").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_event_survives_a_kill_right_after_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("store");
    let addr = free_addr();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    let config = child_config(addr, &store_path);
    let child = ChildServer::start(dir.path(), &config, addr);

    let answered = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut posters = Vec::new();
    for poster in 0..POSTERS {
        posters.push(tokio::spawn(post_until_stopped(
            addr,
            poster,
            answered.clone(),
            stop.clone(),
        )));
    }
    eventually("enough events are answered", ANSWER_LIMIT, || {
        answered.lock().unwrap().len() >= ANSWERED_BEFORE_KILL
    })
    .await;
    child.kill();
    stop.store(true, Ordering::SeqCst);
    for poster in posters {
        poster.await.unwrap();
    }

    let answered = answered.lock().unwrap().clone();
    let store = Store::open(&store_path).unwrap();
    let records = store.pending(usize::MAX).unwrap();
    let keys: Vec<String> = records
        .iter()
        .map(|record| record.dedup_key.clone())
        .collect();
    let unique: HashSet<&String> = keys.iter().collect();
    let missing: Vec<&Answered> = answered
        .iter()
        .filter(|answer| !unique.contains(&answer.key))
        .collect();
    println!(
        "crash test: {} answered before SIGKILL, {} in the inbox after restart, {} missing, \
         {} duplicated",
        answered.len(),
        records.len(),
        missing.len(),
        keys.len() - unique.len()
    );
    assert!(missing.is_empty(), "answered but lost: {missing:?}");
    assert_eq!(keys.len(), unique.len(), "an event was stored twice");
    drop(store);
    // The store's committer task holds the database until it sees the store gone;
    // give it a moment so the restarted process can take sled's lock.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let restarted = ChildServer::start(dir.path(), &config, addr);
    let first = &answered[0];
    let (status, _) = post_one(addr, first.poster, first.sequence).await.unwrap();
    assert_eq!(status, 200);
    let health = health(addr).await;
    assert_eq!(
        health,
        records.len(),
        "a retry after the restart was stored again"
    );
    restarted.kill();
}

/// An event the server answered `success`.
#[derive(Debug, Clone)]
struct Answered {
    key: String,
    poster: usize,
    sequence: usize,
}

/// Posts distinct events until told to stop, recording each one answered `success`.
async fn post_until_stopped(
    addr: std::net::SocketAddr,
    poster: usize,
    answered: Arc<Mutex<Vec<Answered>>>,
    stop: Arc<AtomicBool>,
) {
    let mut sequence = 0;
    while !stop.load(Ordering::SeqCst) {
        sequence += 1;
        if let Ok((200, key)) = post_one(addr, poster, sequence).await {
            answered.lock().unwrap().push(Answered {
                key,
                poster,
                sequence,
            });
        }
    }
}

async fn post_one(
    addr: std::net::SocketAddr,
    poster: usize,
    sequence: usize,
) -> Result<(u16, String), reqwest::Error> {
    let openid = format!("o-crash-{poster}");
    let code = format!("{sequence:012}");
    let xml = push::user_get_card(&openid, "p-crash-card", &code, 1_714_000_000);
    let event = cardbot::wechat::event::Event::parse(xml.as_bytes()).unwrap();
    let request = push::encrypted(&xml);

    let response = reqwest::Client::new()
        .post(format!("http://{addr}/wechat?{}", request.query))
        .body(request.body)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    let status = if body == "success" { status } else { 0 };
    Ok((status, event.dedup_key()))
}

async fn health(addr: std::net::SocketAddr) -> usize {
    let health: serde_json::Value = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["inbox"].as_u64().unwrap() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_gracefully_and_keeps_what_it_answered() {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("store");
    let addr = free_addr();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    let config = child_config(addr, &store_path);
    let child = ChildServer::start(dir.path(), &config, addr);
    let (status, _) = post_one(addr, 0, 1).await.unwrap();
    assert_eq!(status, 200);

    let exit = terminate(child).await;

    assert!(exit.success(), "cardbot exited with {exit}");
    let store = Store::open(&store_path).unwrap();
    assert_eq!(store.inbox_len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_waits_for_a_send_under_way_so_it_is_neither_lost_nor_unknown() {
    let wechat = FakeWechat::start().await;
    wechat.delay(CUSTOM_SEND, std::time::Duration::from_millis(1500));
    let addr = free_addr();
    let (dir, text) = receipt_server(addr, &wechat.url(), Some(ADMIN));
    let child = ChildServer::start(dir.path(), &text, addr);
    let receipt = push::user_get_card(
        "o-term",
        "p-term",
        "100000000001",
        cardbot::clock::now_secs(),
    );
    push::post_to(&reqwest::Client::new(), addr, &push::plaintext(&receipt))
        .await
        .unwrap();
    let limit = std::time::Duration::from_secs(10);
    eventually("the send is under way", limit, || {
        wechat.hits(CUSTOM_SEND) == 1
    })
    .await;

    let exit = terminate(child).await;
    let child = ChildServer::start(dir.path(), &text, addr);
    let dead = admin::get_json(addr, ADMIN, "/admin/dead_letters").await;
    let outbox = admin::get_json(addr, ADMIN, "/admin/outbox").await;
    child.kill();

    assert!(exit.success(), "cardbot exited with {exit}");
    assert_eq!(dead["dead_letters"], serde_json::json!([]));
    assert_eq!(outbox["pending"], 0);
    assert_eq!(wechat.hits(CUSTOM_SEND), 1);
}

const ADMIN: &str = "crash-term-admin-token";

/// Sends SIGTERM and waits, off the async runtime, for the process to exit.
async fn terminate(child: ChildServer) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || child.terminate(STOP_LIMIT))
        .await
        .unwrap()
}

#[test]
fn a_child_server_dropped_by_a_failing_test_leaves_no_process_behind() {
    let addr = free_addr();
    let (dir, text) = receipt_server(addr, "http://127.0.0.1:9", None);
    let child = ChildServer::start(dir.path(), &text, addr);
    let process = std::path::PathBuf::from(format!("/proc/{}", child.child.id()));

    drop(child);

    assert!(!process.exists(), "{} still runs", process.display());
    assert!(!crate::support::server::is_healthy(addr));
}
