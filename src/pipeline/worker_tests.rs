//! Tests of the worker's commit: an event is handled, and counted, once.

use std::sync::Arc;

use super::*;
use crate::config::{RulesConfig, StatsConfig, WindowConfig};
use crate::pipeline::testing::{card_event, temp_db};
use crate::rules::canned::CannedLookups;
use crate::rules::{history, memory};
use crate::stats::{By, StatsQuery};

const RULE: &str = r#"
fn on_user_get_card(event) {
    send_text(event.openid, "thanks");
}
"#;

/// A worker over a temporary store, its rules dir and the trees a test inspects.
struct Rig {
    worker: Arc<Worker>,
    store: Store,
    stats: Stats,
    outbox: Outbox,
    _dir: tempfile::TempDir,
}

fn rig() -> Rig {
    let db = temp_db();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thanks.rhai"), RULE).unwrap();
    let config = RulesConfig {
        dir: dir.path().to_path_buf(),
        watch: false,
        ..RulesConfig::default()
    };
    let canned = CannedLookups::from_toml("").unwrap();
    let store = Store::from_db(db.clone()).unwrap();
    let stats = Stats::open(&db, &StatsConfig::default()).unwrap();
    let outbox = Outbox::open(&db).unwrap();
    let parts = WorkerParts {
        store: store.clone(),
        rules: Rules::open(&config, &db, Arc::new(canned)).unwrap(),
        outbox: outbox.clone(),
        windows: Windows::open(&db, &WindowConfig::default()).unwrap(),
        held_cards: HeldCards::open(&db).unwrap(),
        decisions: DecisionLog::open(&db).unwrap(),
        memory: db.open_tree(memory::MEMORY_TREE).unwrap(),
        history: db.open_tree(history::HISTORY_TREE).unwrap(),
        replies: ReplyWaiters::default(),
        stats: stats.clone(),
        dispatcher: Arc::new(Notify::new()),
    };
    let worker = Worker::new(parts, WorkerConfig::default(), WhenClosed::Hold);
    Rig {
        worker,
        store,
        stats,
        outbox,
        _dir: dir,
    }
}

/// A receipt of one code, stored in the inbox as the callback stores it.
fn stored_receipt(store: &Store) -> InboxRecord {
    let now = clock::now_secs();
    let event = card_event("user_get_card", "o-alice", now, "pCard", "100000000001");
    let record = InboxRecord {
        id: 7,
        received_at_ms: now * 1000,
        dedup_key: event.dedup_key(),
        attempts: 0,
        not_before_ms: 0,
        event,
    };
    let bytes = crate::store::inbox::encode(&record).unwrap();
    store
        .inbox_tree()
        .insert(record.id.to_be_bytes(), bytes)
        .unwrap();
    record
}

// The store's group commit runs on the runtime; the worker's handling itself is plain
// blocking code.
#[tokio::test]
async fn a_record_handled_twice_is_committed_and_counted_once() {
    let rig = rig();
    let record = stored_receipt(&rig.store);

    rig.worker.handle(record.clone());
    rig.worker.handle(record);

    assert_eq!(rig.store.inbox_len(), 0);
    assert_eq!(rig.outbox.len(), 1);
    let today = rig.stats.day_of(clock::now_secs());
    let query = StatsQuery {
        card: Some("pCard".to_string()),
        since: today,
        until: today,
        by: By::Channel,
    };
    let report = rig.stats.query(&query).unwrap();
    assert_eq!(report.totals["received"], 1);
}
