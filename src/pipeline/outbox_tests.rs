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
        held_since_ms: None,
    }
}

fn ready_for(id: u64, openid: &str) -> OutboxEntry {
    let mut entry = entry(id, EntryState::Ready);
    entry.outgoing = Outgoing::Custom {
        message: CustomMessage::text(openid, "thanks"),
    };
    entry
}

/// Stores `entry` ready, then holds it.
fn hold(outbox: &Outbox, stats: &Stats, entry: &OutboxEntry, now_ms: i64) -> Holding {
    outbox.put(entry).unwrap();
    outbox.hold(entry, stats, now_ms).unwrap()
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
fn a_held_entry_leaves_the_outbox_and_is_counted_held_once_across_releases() {
    let (outbox, stats) = open();
    let ready = entry(1, EntryState::Ready);

    let first = hold(&outbox, &stats, &ready, NOW_MS);
    outbox.release_held("o-alice", NOW_MS + 1_000).unwrap();
    let released = outbox.get(1).unwrap().unwrap();
    let again = outbox.hold(&released, &stats, NOW_MS + 2_000).unwrap();

    assert_eq!((first, again), (Holding::First, Holding::Again));
    assert_eq!(outbox.get(1).unwrap(), None);
    let held: Vec<OutboxEntry> = outbox.held().map(Result::unwrap).collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].state, EntryState::Held { since_ms: NOW_MS });
    assert_eq!(outcomes(&stats)["held"].as_u64(), Some(1));
    assert_eq!((outbox.len(), outbox.entries().unwrap().len()), (1, 1));
}

#[test]
fn an_entry_claimed_since_it_was_read_is_not_held() {
    let (outbox, stats) = open();
    let ready = entry(1, EntryState::Ready);
    outbox.put(&ready).unwrap();
    let sending = entry(1, EntryState::Sending);
    assert!(outbox.swap(&ready, &sending).unwrap());

    let holding = outbox.hold(&ready, &stats, NOW_MS).unwrap();

    assert_eq!(holding, Holding::SettledElsewhere);
    assert_eq!(outbox.get(1).unwrap(), Some(sending));
    assert_eq!(outbox.held_len(), 0);
    assert_eq!(outcomes(&stats)["held"].as_u64(), Some(0));
}

#[test]
fn releasing_makes_only_that_users_held_entries_ready() {
    let (outbox, stats) = open();
    hold(&outbox, &stats, &ready_for(1, "o-alice"), NOW_MS);
    hold(&outbox, &stats, &ready_for(2, "o-bob"), NOW_MS);
    // An openid that starts with another's must not be released with it.
    hold(&outbox, &stats, &ready_for(3, "o-alice2"), NOW_MS);

    let released = outbox.release_held("o-alice", NOW_MS + 5).unwrap();

    assert_eq!(released, 1);
    let ready = outbox.get(1).unwrap().unwrap();
    assert_eq!(
        (ready.state, ready.not_before_ms, ready.held_since_ms),
        (EntryState::Ready, NOW_MS + 5, Some(NOW_MS))
    );
    let mut still_held: Vec<u64> = outbox.held().map(|entry| entry.unwrap().id).collect();
    still_held.sort();
    assert_eq!(still_held, vec![2, 3]);
}

#[test]
fn a_held_entry_released_since_it_was_read_is_neither_buried_nor_counted() {
    let (outbox, stats) = open();
    hold(&outbox, &stats, &entry(1, EntryState::Ready), NOW_MS);
    let stale = outbox.held().next().unwrap().unwrap();
    outbox.release(&stale, NOW_MS + 5).unwrap();
    let letter = DeadLetter {
        entry: stale,
        reason: DeadReason::WindowClosed,
        errcode: None,
        detail: "held too long".to_string(),
        at_ms: NOW_MS,
    };

    let buried = outbox
        .bury(&letter, &stats, MessageOutcome::Failed)
        .unwrap();

    assert!(!buried);
    assert_eq!(outbox.dead_len(), 0);
    assert_eq!(outcomes(&stats)["failed"].as_u64(), Some(0));
    assert_eq!(outbox.get(1).unwrap().unwrap().state, EntryState::Ready);
}

#[test]
fn entries_an_earlier_version_held_in_the_outbox_move_to_the_held_tree() {
    let (outbox, _) = open();
    outbox
        .put(&entry(1, EntryState::Held { since_ms: NOW_MS }))
        .unwrap();
    outbox.put(&entry(2, EntryState::Ready)).unwrap();

    let moved = outbox.migrate_held().unwrap();

    assert_eq!(moved, 1);
    assert_eq!(outbox.get(1).unwrap(), None);
    let held = outbox.held().next().unwrap().unwrap();
    assert_eq!((held.id, held.held_since_ms), (1, Some(NOW_MS)));
    assert_eq!(outbox.len(), 2);
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
