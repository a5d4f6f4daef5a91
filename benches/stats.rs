//! What the statistics add to the worker's transaction (`record_tx` of a receipt and
//! of a redemption over the two stats trees), and the cost of a 30-day query.
//!
//! Run with `cargo bench --bench stats`.

// A benchmark's setup may unwrap: a failure there is a broken benchmark, not a crash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cardbot::config::StatsConfig;
use cardbot::stats::query::QueryParams;
use cardbot::stats::{Stats, StatsQuery};
use cardbot::wechat::event::Event;
use criterion::{criterion_group, criterion_main, Criterion};
use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

/// 2026-12-03 12:00 in Shanghai.
const NOON: i64 = 1_796_270_400;
const CHANNELS: [&str; 5] = ["store_a", "store_b", "poster", "moments", "staff_push"];

fn open() -> Stats {
    let db = sled::Config::new().temporary(true).open().unwrap();
    Stats::open(&db, &StatsConfig::default()).unwrap()
}

fn event(kind: &str, card: &str, code: u64, at: i64) -> Event {
    Event {
        kind: kind.to_string(),
        msg_type: "event".to_string(),
        openid: "oLotusAlice".to_string(),
        create_time: at,
        card_id: Some(card.to_string()),
        code: Some(format!("{code:012}")),
        outer_str: Some(CHANNELS[(code % 5) as usize].to_string()),
        consume_source: Some("FROM_MOBILE_HELPER".to_string()),
        staff_openid: Some("oStaff".to_string()),
        location_id: Some(42),
        location_name: Some("Lotus Tea House, Jing'an".to_string()),
        ..Event::default()
    }
}

fn record(stats: &Stats, event: &Event) {
    let trees = (stats.counters_tree(), stats.receipts_tree());
    trees
        .transaction(|(counters, receipts)| {
            stats.record_tx::<ConflictableTransactionError<()>>(counters, receipts, event, NOON)
        })
        .unwrap();
}

fn record_events(c: &mut Criterion) {
    let stats = open();
    // The floor: a transaction over the same two trees that writes one key.
    let mut n: u64 = 0;
    c.bench_function("stats_baseline_two_tree_transaction_one_write", |b| {
        b.iter(|| {
            n += 1;
            let trees = (stats.counters_tree(), stats.receipts_tree());
            trees
                .transaction(|(_, receipts)| {
                    receipts.insert(&n.to_be_bytes(), &[1u8][..])?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .unwrap();
        })
    });
    stats.receipts_tree().clear().unwrap();
    let mut code = 0;
    c.bench_function("stats_record_user_get_card", |b| {
        b.iter(|| {
            code += 1;
            record(&stats, &event("user_get_card", "pCard", code, NOON));
        })
    });
    let mut redeemed = 0;
    c.bench_function("stats_record_user_consume_card", |b| {
        b.iter(|| {
            redeemed = redeemed % code + 1;
            record(&stats, &event("user_consume_card", "pCard", redeemed, NOON));
        })
    });
}

/// 20 cards, 5 channels, 30 days of receipts, views and redemptions.
fn query(c: &mut Criterion) {
    let stats = open();
    let mut code = 0;
    for day in 0..30 {
        for card in 0..20 {
            for _ in 0..10 {
                code += 1;
                let at = NOON - day * 86_400;
                let card = format!("pCard{card:02}");
                record(&stats, &event("user_get_card", &card, code, at));
                record(&stats, &event("user_view_card", &card, code, at));
                record(&stats, &event("user_consume_card", &card, code, at));
            }
        }
    }
    let today = stats.day_of(NOON);
    for by in ["channel", "day"] {
        let params = QueryParams {
            by: Some(by.to_string()),
            ..QueryParams::default()
        };
        let query = StatsQuery::parse(&params, today).unwrap();
        c.bench_function(&format!("stats_query_30_days_20_cards_by_{by}"), |b| {
            b.iter(|| stats.query(&query).unwrap())
        });
    }
}

criterion_group!(benches, record_events, query);
criterion_main!(benches);
