//! The cost of a `/metrics` scrape: recomputing the queue gauges over outboxes of
//! growing size, and rendering the recorder.
//!
//! Run with `cargo bench --bench metrics`.

// A benchmark's setup may unwrap: a failure there is a broken benchmark, not a crash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cardbot::api::CustomMessage;
use cardbot::pipeline::outbox::{EntryState, Outbox, OutboxEntry, Outgoing, WhenClosed};
use cardbot::store::Store;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn filled(entries: u64) -> (Store, Outbox) {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = Store::from_db(db.clone()).unwrap();
    let outbox = Outbox::open(&db).unwrap();
    for id in 0..entries {
        let state = if id % 3 == 0 {
            EntryState::Held { since_ms: 1 }
        } else {
            EntryState::Ready
        };
        let openid = format!("o-user-{id}");
        outbox
            .put(&OutboxEntry {
                id,
                rule: "welcome".to_string(),
                decision_id: id,
                message_index: 0,
                outgoing: Outgoing::Custom {
                    message: CustomMessage::wxcard(openid, "pLtS7jA1x0Wq3ZcN5vGmYkTr2HdE"),
                },
                fallback: None,
                when_closed: WhenClosed::Hold,
                state,
                attempts: 0,
                not_before_ms: 0,
                created_at_ms: 1_700_000_000_000 + id as i64,
                last_error: None,
                event_kind: "user_get_card".to_string(),
                event_card_id: Some("pLtS7jA1x0Wq3ZcN5vGmYkTr2HdE".to_string()),
                held_since_ms: None,
            })
            .unwrap();
    }
    (store, outbox)
}

fn scrape(c: &mut Criterion) {
    // The store starts its group-commit task on a runtime.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let handle = cardbot::metrics::install().unwrap();
    let mut group = c.benchmark_group("scrape");
    for entries in [0u64, 1_000, 10_000] {
        let (store, outbox) = filled(entries);
        group.bench_with_input(
            BenchmarkId::new("refresh_queue_gauges", entries),
            &entries,
            |b, _| b.iter(|| cardbot::metrics::refresh_queue_gauges(&store, &outbox).unwrap()),
        );
    }
    for rule in 0..20 {
        let name = format!("rule_{rule}");
        cardbot::metrics::record_rule(&name, cardbot::metrics::RuleResult::Ok, Duration::ZERO);
    }
    group.bench_function("render", |b| b.iter(|| handle.render()));
    group.finish();
}

criterion_group!(benches, scrape);
criterion_main!(benches);
