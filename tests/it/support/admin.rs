//! A running cardbot read from outside: `/healthz` and the admin API, as an operator
//! or a monitoring script would.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

/// `GET path` with the admin bearer token, answered as JSON.
pub async fn get_json(addr: SocketAddr, token: &str, path: &str) -> Value {
    let body = get_text(addr, token, path).await;
    serde_json::from_str(&body).unwrap_or_else(|err| panic!("{path}: {err}: {body}"))
}

/// `GET path` with the admin bearer token, the body as the server wrote it.
pub async fn get_text(addr: SocketAddr, token: &str, path: &str) -> String {
    reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the inbox and the outbox are empty, failing the test after `limit`.
pub async fn drain(addr: SocketAddr, token: &str, limit: Duration) {
    let started = Instant::now();
    loop {
        let health = get_json(addr, token, "/healthz").await;
        let outbox = get_json(addr, token, "/admin/outbox").await;
        if health["inbox"] == 0 && outbox["pending"] == 0 {
            return;
        }
        assert!(started.elapsed() < limit, "the backlog did not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of one series (name and labels, as written) in a Prometheus scrape; 0 when
/// the series is absent.
pub fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .filter_map(|line| line.strip_prefix(series))
        .filter_map(|rest| rest.strip_prefix(' '))
        .map(|value| value.trim().parse::<f64>().unwrap())
        .next()
        .unwrap_or(0.0)
}
