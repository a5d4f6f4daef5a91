//! An open-loop load client: sends the requests written by gen_pushes at a fixed rate
//! for a fixed time and reports latency percentiles, measured from each request's
//! scheduled start so that a stalled server cannot hide its queueing (coordinated
//! omission). wrk measures the peak rate; this measures latency at a chosen rate.
//!
//! Usage: pace URL_BASE PUSHES_TSV RATE_PER_SEC DURATION_SECS CONNECTIONS

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, pushes, rate, duration, connections] = args.as_slice() else {
        return Err("usage: pace URL_BASE PUSHES_TSV RATE DURATION_SECS CONNECTIONS".into());
    };
    let rate: f64 = rate.parse()?;
    let total = (rate * duration.parse::<f64>()?) as usize;
    let connections: usize = connections.parse()?;
    let requests = Arc::new(read_requests(pushes, total)?);

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let failures = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();

    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, requests, next) = (client.clone(), requests.clone(), next.clone());
        let (latencies, failures, base) = (latencies.clone(), failures.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                let Some((target, body)) = requests.get(n) else {
                    break;
                };
                let scheduled = start + Duration::from_secs_f64(n as f64 / rate);
                tokio::time::sleep_until(scheduled.into()).await;

                let sent = client
                    .post(format!("{base}{target}"))
                    .header("content-type", "text/xml")
                    .body(body.clone())
                    .send()
                    .await;
                let ok = match sent {
                    Ok(response) => response.text().await.is_ok_and(|text| text == "success"),
                    Err(_) => false,
                };
                if !ok {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                let latency = scheduled.elapsed();
                latencies.lock().map(|mut all| all.push(latency)).ok();
            }
        }));
    }
    for task in tasks {
        task.await?;
    }

    report(
        start.elapsed(),
        &latencies.lock().map_err(|_| "poisoned")?,
        &failures,
    );
    Ok(())
}

fn read_requests(path: &str, limit: usize) -> std::io::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)?;
    let requests: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(target, body)| (target.to_string(), body.to_string()))
        .take(limit)
        .collect();
    if requests.len() < limit {
        eprintln!(
            "warning: only {} requests in {path}, fewer than asked",
            requests.len()
        );
    }
    Ok(requests)
}

fn report(elapsed: Duration, latencies: &[Duration], failures: &AtomicUsize) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let percentile = |p: f64| {
        let index = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
        sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "requests {}  failures {}  rate {:.0}/s  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  \
         max {:.2} ms",
        sorted.len(),
        failures.load(Ordering::SeqCst),
        sorted.len() as f64 / elapsed.as_secs_f64(),
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
        percentile(1.0),
    );
}
