//! Statistics stay exact across crashes: the real binary is killed with SIGKILL while
//! it takes thousands of card events (some posted twice, as WeChat retries), every
//! event is posted again after each restart, and the counters must equal what the
//! distinct events add up to.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cardbot::wechat::synth::{event_xml, EventFields};
use rand::Rng;
use serde_json::Value;

use crate::support::fake_wechat::FakeWechat;
use crate::support::server::{free_addr, receipt_server, ChildServer};
use crate::support::{admin, push};

const CODES: usize = 700;
const USERS: usize = 40;
const POSTERS: usize = 8;
const KILLS: usize = 2;
const CARD: &str = "p-crash-stats";
/// A bound on the wait for the backlog, not a timing assertion.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
const ADMIN: &str = "crash-stats-admin-token";
const CHANNELS: [&str; 3] = ["store_a", "store_b", "poster"];

/// One distinct push, and whether WeChat "retries" it (posts it twice in a row).
struct Planned {
    xml: String,
    twice: bool,
}

/// Per channel, per metric, the count the distinct events add up to.
type Expected = BTreeMap<String, BTreeMap<&'static str, u64>>;

/// Every code is received; some carry no channel tag, half are viewed, a third are
/// redeemed (which engages the code too, viewed or not). Each poster sends its own users' events, in order.
fn plan(create_time: i64) -> (Vec<Vec<Planned>>, Expected) {
    let mut posters: Vec<Vec<Planned>> = (0..POSTERS).map(|_| Vec::new()).collect();
    let mut expected = Expected::new();

    for n in 0..CODES {
        let user = n % USERS;
        let fields = EventFields {
            openid: format!("o-stats-{user}"),
            create_time,
            card_id: Some(CARD.to_string()),
            code: Some(format!("{n:012}")),
            outer_str: (n % 4 != 0).then(|| CHANNELS[n % 3].to_string()),
            consume_source: Some(["FROM_API", "FROM_MOBILE_HELPER"][n % 2].to_string()),
            ..EventFields::default()
        };
        let channel = fields
            .outer_str
            .clone()
            .unwrap_or_else(|| "(none)".to_string());
        let counts = expected.entry(channel).or_default();
        let mut events = vec![("user_get_card", "received")];
        if n % 2 == 0 {
            events.push(("user_view_card", "viewed"));
        }
        if n % 3 == 0 {
            events.push(("user_consume_card", "redeemed"));
        }
        // A redemption passes the engaged stage too when no view came first.
        if n % 2 == 0 || n % 3 == 0 {
            *counts.entry("funnel_engaged").or_default() += 1;
        }
        for (kind, metric) in events {
            *counts.entry(metric).or_default() += 1;
            let twice = rand::thread_rng().gen_bool(0.2);
            let xml = event_xml(kind, &fields);
            posters[user % POSTERS].push(Planned { xml, twice });
        }
    }
    (posters, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_exact_after_duplicates_kills_and_replays() {
    let wechat = FakeWechat::start().await;
    let addr = free_addr();
    let (dir, text) = receipt_server(addr, &wechat.url(), Some(ADMIN));
    let (plan, expected) = plan(cardbot::clock::now_secs());
    let plan = Arc::new(plan);

    let mut answered = Vec::new();
    for _ in 0..KILLS {
        let child = ChildServer::start(dir.path(), &text, addr);
        let posting = tokio::spawn(post_all(addr, plan.clone()));
        let kill_after = rand::thread_rng().gen_range(300..1500);
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        child.kill();
        answered.push(posting.await.unwrap());
    }
    let child = ChildServer::start(dir.path(), &text, addr);
    answered.push(post_all(addr, plan.clone()).await);
    admin::drain(addr, ADMIN, DRAIN_LIMIT).await;
    println!("statistics crash test: {KILLS} SIGKILLs, pushes answered per run: {answered:?}");

    let by_channel = admin::get_json(addr, ADMIN, &format!("/admin/stats?card={CARD}")).await;
    let by_rule = admin::get_json(addr, ADMIN, "/admin/stats?by=rule").await;
    let dead = admin::get_json(addr, ADMIN, "/admin/dead_letters?limit=100000").await;
    child.kill();

    for (channel, counts) in &expected {
        let row = row(&by_channel, channel);
        for (metric, count) in counts {
            assert_eq!(row[*metric], *count, "{metric} of {channel}");
        }
        let redeemed = counts.get("redeemed").copied().unwrap_or(0);
        assert_eq!(
            row["funnel_redeemed"], redeemed,
            "funnel_redeemed of {channel}"
        );
    }
    assert_eq!(by_channel["totals"]["received"], CODES as u64);
    let thanks = row(&by_rule, "thanks");
    let outcomes: u64 = ["sent", "held", "suppressed", "failed"]
        .iter()
        .map(|metric| thanks[*metric].as_u64().unwrap())
        .sum();
    assert_eq!(
        outcomes, CODES as u64,
        "every message counted once: {thanks}"
    );
    let dead_letters = dead["dead_letters"].as_array().unwrap().len() as u64;
    assert_eq!(thanks["failed"], dead_letters);
}

/// Posts every planned push, each poster in order, stopping a poster at its first
/// failure (the server was killed), as WeChat stops reaching a dead server. Answers
/// how many posts were answered `success`.
async fn post_all(addr: std::net::SocketAddr, plan: Arc<Vec<Vec<Planned>>>) -> usize {
    let client = reqwest::Client::new();
    let mut posters = Vec::new();
    for poster in 0..POSTERS {
        let (client, plan) = (client.clone(), plan.clone());
        posters.push(tokio::spawn(async move {
            let mut answered = 0;
            for planned in &plan[poster] {
                let times = if planned.twice { 2 } else { 1 };
                for _ in 0..times {
                    if !post(&client, addr, &planned.xml).await {
                        return answered;
                    }
                    answered += 1;
                }
            }
            answered
        }));
    }
    let mut answered = 0;
    for poster in posters {
        answered += poster.await.unwrap_or(0);
    }
    answered
}

async fn post(client: &reqwest::Client, addr: std::net::SocketAddr, xml: &str) -> bool {
    let answer = push::post_to(client, addr, &push::plaintext(xml)).await;
    answer.is_some_and(|(_, body)| body == "success")
}

fn row<'a>(answer: &'a Value, key: &str) -> &'a Value {
    let rows = answer["rows"].as_array().unwrap();
    let found = rows.iter().find(|row| row["key"] == key);
    &found.unwrap_or_else(|| panic!("no row {key} in {answer}"))["counts"]
}
