//! Test helpers: a rules directory on a temp dir with real sled and canned lookups.

use std::sync::Arc;

use super::{CannedLookups, Decision, Rules};
use crate::config::RulesConfig;
use crate::wechat::event::Event;

/// A running [`Rules`] over its own temp directory and sled database.
pub(crate) struct Harness {
    /// Kept alive for the rules directory; tests may write into it.
    #[allow(dead_code)]
    pub(crate) dir: tempfile::TempDir,
    pub(crate) db: sled::Db,
    pub(crate) rules: Rules,
}

/// The limits tests run under unless they say otherwise.
pub(crate) fn test_config(dir: &std::path::Path) -> RulesConfig {
    RulesConfig {
        dir: dir.to_path_buf(),
        timeout_ms: 2_000,
        ..RulesConfig::default()
    }
}

/// Writes `files` (name, source) and opens the rules over them.
pub(crate) fn harness(files: &[(&str, &str)], canned: &str) -> Harness {
    harness_with(files, canned, |_| {})
}

/// Like [`harness`], with the config adjusted first.
pub(crate) fn harness_with(
    files: &[(&str, &str)],
    canned: &str,
    adjust: impl FnOnce(&mut RulesConfig),
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    for (name, source) in files {
        std::fs::write(dir.path().join(format!("{name}.rhai")), source).unwrap();
    }
    let db = sled::Config::new().temporary(true).open().unwrap();
    let mut config = test_config(dir.path());
    adjust(&mut config);
    let lookups = Arc::new(CannedLookups::from_toml(canned).unwrap());
    let rules = Rules::open(&config, &db, lookups).unwrap();
    Harness { dir, db, rules }
}

impl Harness {
    pub(crate) fn evaluate(&self, event: &Event) -> Decision {
        self.rules.evaluate_at(event, 1_700_000_000)
    }

    /// Persists a decision's memory effects and the event's history, as the worker does.
    pub(crate) fn apply(&self, event: &Event, decision: &Decision) {
        use sled::Transactional;
        let memory = self.db.open_tree(super::memory::MEMORY_TREE).unwrap();
        let history = self.db.open_tree(super::history::HISTORY_TREE).unwrap();
        (&memory, &history)
            .transaction(|(memory, history)| {
                super::memory::apply(memory, &decision.effects)?;
                super::history::record(history, event)?;
                Ok::<_, sled::transaction::ConflictableTransactionError>(())
            })
            .unwrap();
    }
}

/// An event of `kind` from `oAlice` with the given card.
pub(crate) fn event(kind: &str) -> Event {
    Event {
        kind: kind.to_string(),
        msg_type: "event".to_string(),
        account: "gh_lotus".to_string(),
        openid: "oAlice".to_string(),
        create_time: 1_700_000_000,
        card_id: Some("pLotusCash20".to_string()),
        code: Some("110201201245".to_string()),
        ..Default::default()
    }
}
