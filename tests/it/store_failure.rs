//! The store failing under the real binary: a file-size limit (`prlimit --fsize`)
//! makes sled's writes fail with EFBIG. The callback answers 500, never `success`,
//! the process exits non-zero, and once restarted (the test plays systemd) it handles
//! WeChat's retries, with everything answered before still there.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::support::fake_wechat::FakeWechat;
use crate::support::pipeline::{eventually, CUSTOM_SEND};
use crate::support::push;
use crate::support::server::{free_addr, receipt_server, ChildServer};

const WAIT: Duration = Duration::from_secs(20);
/// Events answered before the store fails, and events pushed while it fails.
const BATCH: usize = 8;
/// A one-byte file-size limit: every write past the first byte of any file fails.
const FAILING_FSIZE: &str = "--fsize=1:";

/// Posts a receipt, the same bytes each time as WeChat's retries are; `Some(status,
/// body)` when an answer came, `None` when the connection failed (the process is
/// stopping or gone).
async fn post_receipt(addr: SocketAddr, code: &str, create_time: i64) -> Option<(u16, String)> {
    let xml = push::user_get_card("o-store", "p-store", code, create_time);
    let request = push::plaintext(&xml);
    // No idle connection is kept, so a stopping server has none to wait for.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    push::post_to(&client, addr, &request).await
}

fn set_file_size_limit(pid: u32, limit: &str) {
    let status = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), limit])
        .status()
        .expect("prlimit (util-linux) must be installed");
    assert!(status.success(), "prlimit {limit} failed");
}

fn codes(prefix: &str) -> Vec<String> {
    (0..BATCH).map(|n| format!("{prefix}{n:011}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_answers_500_exits_and_recovers_after_a_restart() {
    let wechat = FakeWechat::start().await;
    let addr = free_addr();
    let (dir, text) = receipt_server(addr, &wechat.url(), None);
    let mut child = ChildServer::start(dir.path(), &text, addr);
    let created = cardbot::clock::now_secs();
    for code in codes("1") {
        assert_eq!(
            post_receipt(addr, &code, created).await.unwrap().1,
            "success"
        );
    }
    eventually("the first batch is sent", WAIT, || {
        wechat.hits(CUSTOM_SEND) == BATCH
    })
    .await;

    set_file_size_limit(child.child.id(), FAILING_FSIZE);
    let mut answers = Vec::new();
    for code in codes("2") {
        answers.push(post_receipt(addr, &code, created).await);
    }
    let exit = child
        .wait_for_exit(WAIT)
        .expect("cardbot kept running on a failed store");
    let refused = answers.iter().filter(|answer| answer.is_none()).count();
    println!(
        "store failure test: {} answered 500, {refused} refused while exiting, exit {exit}",
        answers.len() - refused
    );

    assert!(
        answers.iter().flatten().all(|(status, _)| *status == 500),
        "an event was answered while the store failed: {answers:?}"
    );
    assert!(
        answers[0].is_some(),
        "the first failing request got no answer"
    );
    assert!(
        !exit.success(),
        "cardbot exited with {exit} on a failed store"
    );

    let restarted = ChildServer::start(dir.path(), &text, addr);
    for code in codes("1").iter().chain(&codes("2")) {
        assert_eq!(
            post_receipt(addr, code, created).await.unwrap().1,
            "success"
        );
    }
    eventually("the retried batch is sent", WAIT, || {
        wechat.hits(CUSTOM_SEND) == 2 * BATCH
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    restarted.kill();

    let sent: Vec<String> = wechat
        .requests(CUSTOM_SEND)
        .iter()
        .filter_map(|request| request.body["text"]["content"].as_str().map(String::from))
        .collect();
    let expected: HashSet<String> = codes("1")
        .iter()
        .chain(&codes("2"))
        .map(|code| format!("card {code}"))
        .collect();
    assert_eq!(sent.len(), 2 * BATCH, "a message was sent twice: {sent:?}");
    assert_eq!(sent.into_iter().collect::<HashSet<_>>(), expected);
}
