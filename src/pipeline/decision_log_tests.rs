//! Tests of the decision log.

use serde_json::json;
use sled::Transactional;

use super::*;
use crate::pipeline::testing::temp_db;

const T0: i64 = 1_700_000_000;
const DAY: u64 = 24 * 3600;

fn decision(openid: &str, created_at: i64, step: u64) -> NewDecision {
    NewDecision {
        openid: openid.to_string(),
        event_kind: "user_get_card".to_string(),
        inbox_id: step,
        revision: "r7".to_string(),
        created_at,
        payload: json!({"step": step}),
    }
}

fn steps(entries: &[DecisionEntry]) -> Vec<u64> {
    entries.iter().map(|entry| entry.inbox_id).collect()
}

#[test]
fn entries_of_a_user_come_newest_first_up_to_the_limit() {
    let log = DecisionLog::open(&temp_db()).unwrap();
    for step in 1..=5 {
        log.append(&decision("alice", T0 + step as i64, step))
            .unwrap();
        log.append(&decision("alicia", T0, 100 + step)).unwrap();
    }

    let newest = log.by_openid("alice", 3).unwrap();

    assert_eq!(steps(&newest), [5, 4, 3]);
    assert_eq!(steps(&log.by_openid("alice", 10).unwrap()), [5, 4, 3, 2, 1]);
    assert!(log.by_openid("bob", 10).unwrap().is_empty());
}

#[test]
fn an_entry_is_read_back_by_id_with_its_fields() {
    let log = DecisionLog::open(&temp_db()).unwrap();

    let id = log.append(&decision("alice", T0, 1)).unwrap();

    let entry = log.get(id).unwrap().unwrap();
    assert_eq!(entry.id, id);
    assert_eq!(
        (
            entry.openid.as_str(),
            entry.event_kind.as_str(),
            entry.revision.as_str()
        ),
        ("alice", "user_get_card", "r7")
    );
    assert_eq!((entry.created_at, entry.payload), (T0, json!({"step": 1})));
    assert_eq!(log.get(id + 1000).unwrap(), None);
}

#[test]
fn outcomes_are_recorded_per_message() {
    let log = DecisionLog::open(&temp_db()).unwrap();
    let id = log.append(&decision("alice", T0, 1)).unwrap();

    log.update_outcome(id, 0, &json!({"sent": true})).unwrap();
    log.update_outcome(id, 1, &json!({"dead_letter": "45015"}))
        .unwrap();
    let missing = log.update_outcome(id + 1000, 0, &json!(null)).unwrap();

    let entry = log.get(id).unwrap().unwrap();
    assert_eq!(entry.outcomes.get(&0), Some(&json!({"sent": true})));
    assert_eq!(
        entry.outcomes.get(&1),
        Some(&json!({"dead_letter": "45015"}))
    );
    assert!(!missing);
    assert_eq!(
        serde_json::to_value(&entry).unwrap()["outcomes"]["1"],
        json!({"dead_letter": "45015"})
    );
}

#[test]
fn prune_drops_entries_past_their_age() {
    let log = DecisionLog::open(&temp_db()).unwrap();
    let old = log.append(&decision("alice", T0, 1)).unwrap();
    let recent = log
        .append(&decision("alice", T0 + 20 * DAY as i64, 2))
        .unwrap();

    let removed = log.prune(T0 + 31 * DAY as i64, 30 * DAY, 200).unwrap();

    assert_eq!(removed, 1);
    assert_eq!(log.get(old).unwrap(), None);
    assert!(log.get(recent).unwrap().is_some());
    assert_eq!(steps(&log.by_openid("alice", 10).unwrap()), [2]);
}

#[test]
fn prune_keeps_only_the_newest_entries_of_each_user() {
    let log = DecisionLog::open(&temp_db()).unwrap();
    let mut ids = Vec::new();
    for step in 1..=4 {
        ids.push(log.append(&decision("alice", T0, step)).unwrap());
        log.append(&decision("bob", T0, 10 + step)).unwrap();
    }
    log.append(&decision("carol", T0, 20)).unwrap();

    let removed = log.prune(T0, 30 * DAY, 2).unwrap();

    assert_eq!(removed, 4);
    assert_eq!(steps(&log.by_openid("alice", 10).unwrap()), [4, 3]);
    assert_eq!(steps(&log.by_openid("bob", 10).unwrap()), [14, 13]);
    assert_eq!(steps(&log.by_openid("carol", 10).unwrap()), [20]);
    assert_eq!(log.get(ids[0]).unwrap(), None);
}

#[test]
fn logging_commits_with_another_tree_in_one_transaction() {
    let db = temp_db();
    let log = DecisionLog::open(&db).unwrap();
    let inbox = db.open_tree("inbox").unwrap();
    inbox.insert(b"event-1", b"pending").unwrap();

    let id = (log.tree(), &inbox)
        .transaction(|(tx_log, tx_inbox)| {
            let id = log.append_tx::<PipelineError>(tx_log, &decision("alice", T0, 1))?;
            log.update_outcome_tx::<PipelineError>(tx_log, id, 0, &json!("queued"))?;
            tx_inbox.remove(&b"event-1"[..])?;
            Ok(id)
        })
        .unwrap();

    let entry = log.get(id).unwrap().unwrap();
    assert_eq!(entry.outcomes.get(&0), Some(&json!("queued")));
    assert!(inbox.is_empty());
}
