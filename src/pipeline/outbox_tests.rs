//! Tests of the outbox's settlements: each entry ends once, and is counted once.

use super::*;
use crate::api::CustomMessage;
use crate::config::StatsConfig;
use crate::pipeline::testing::temp_db;
use crate::stats::query::QueryParams;
use crate::stats::StatsQuery;

const NOW_MS: i64 = 1_700_000_000_000;

fn open() -> (Outbox, Stats) {
    let db = temp_db();
    let stats = Stats::open(&db, &StatsConfig::default()).unwrap();
    (Outbox::open(&db).unwrap(), stats)
}

fn entry(id: u64, state: EntryState) -> OutboxEntry {
    OutboxEntry {
        id,
        rule: "thanks".to_string(),
        decision_id: 1,
        message_index: 0,
        outgoing: Outgoing::Custom {
            message: CustomMessage::text("o-alice", "thanks"),
        },
        fallback: None,
        when_closed: WhenClosed::Hold,
        state,
        attempts: 0,
        not_before_ms: NOW_MS,
        created_at_ms: NOW_MS,
        last_error: None,
        event_kind: "user_consume_card".to_string(),
        event_card_id: Some("pCard".to_string()),
    }
}

fn held(id: u64) -> OutboxEntry {
    entry(id, EntryState::Held { since_ms: NOW_MS })
}

/// The rule's message counters of the month around `NOW_MS`.
fn outcomes(stats: &Stats) -> serde_json::Value {
    let params = QueryParams {
        by: Some("rule".to_string()),
        since: Some("2023-11-01".to_string()),
        until: Some("2023-11-30".to_string()),
        ..QueryParams::default()
    };
    let today = chrono::NaiveDate::from_ymd_opt(2023, 11, 30).unwrap();
    let query = StatsQuery::parse(&params, today).unwrap();
    serde_json::to_value(stats.query(&query).unwrap().totals).unwrap()
}

#[test]
fn releasing_a_held_entry_does_not_undo_a_claim_made_since_it_was_read() {
    let (outbox, _) = open();
    let stale = held(1);
    outbox.put(&stale).unwrap();
    let sending = entry(1, EntryState::Sending);
    assert!(outbox.swap(&stale, &sending).unwrap());

    let released = outbox.release(&stale, NOW_MS).unwrap();

    assert!(!released);
    assert_eq!(outbox.get(1).unwrap(), Some(sending));
}

#[test]
fn releasing_makes_only_that_users_held_entries_ready() {
    let (outbox, _) = open();
    outbox.put(&held(1)).unwrap();
    let mut other = held(2);
    other.outgoing = Outgoing::Custom {
        message: CustomMessage::text("o-bob", "thanks"),
    };
    outbox.put(&other).unwrap();

    let released = outbox.release_held("o-alice", NOW_MS + 5).unwrap();

    assert_eq!(released, 1);
    let ready = outbox.get(1).unwrap().unwrap();
    assert_eq!(
        (ready.state, ready.not_before_ms),
        (EntryState::Ready, NOW_MS + 5)
    );
    assert_eq!(outbox.get(2).unwrap(), Some(other));
}

#[test]
fn an_entry_sent_already_is_neither_buried_nor_counted_again() {
    let (outbox, stats) = open();
    let sending = entry(1, EntryState::Sending);
    outbox.put(&sending).unwrap();
    outbox.remove_sent(&sending, &stats, NOW_MS / 1000).unwrap();
    let letter = DeadLetter {
        entry: sending.clone(),
        reason: DeadReason::UnknownOutcome,
        errcode: None,
        detail: "a late settlement".to_string(),
        at_ms: NOW_MS,
    };

    outbox
        .bury(&letter, &stats, MessageOutcome::Failed)
        .unwrap();

    assert_eq!(outbox.dead_len(), 0);
    let totals = outcomes(&stats);
    assert_eq!(
        (totals["sent"].as_u64(), totals["failed"].as_u64()),
        (Some(1), Some(0))
    );
}

#[test]
fn a_dead_letter_revived_once_cannot_be_revived_again() {
    let (outbox, stats) = open();
    outbox.put(&entry(1, EntryState::Ready)).unwrap();
    let letter = DeadLetter {
        entry: entry(1, EntryState::Ready),
        reason: DeadReason::Refused,
        errcode: Some(45015),
        detail: "reply window expired".to_string(),
        at_ms: NOW_MS,
    };
    outbox
        .bury(&letter, &stats, MessageOutcome::Failed)
        .unwrap();

    let first = outbox.revive(1, NOW_MS).unwrap();
    outbox.remove(1).unwrap();
    let second = outbox.revive(1, NOW_MS).unwrap();

    assert!(first.is_some());
    assert_eq!(second, None);
    assert!(outbox.is_empty());
}
