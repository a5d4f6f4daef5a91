//! What `/admin/rules` shows: the active revision, each rule with its handlers and
//! counters, and how the last reload went.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::set::{RuleCounters, RuleSet};

/// The state of the rules, for the admin API and the logs.
#[derive(Debug, Clone, Serialize)]
pub struct RulesStatus {
    pub dir: PathBuf,
    /// The revision every new decision is made by.
    pub revision: String,
    /// When the active set was loaded, unix seconds.
    pub loaded_at: i64,
    pub rules: Vec<RuleStatus>,
    pub last_reload: Option<ReloadRecord>,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
}

/// One loaded rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleStatus {
    pub name: String,
    pub file: PathBuf,
    pub handlers: Vec<String>,
    #[serde(flatten)]
    pub counters: RuleCounters,
}

/// How the last reload attempt went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReloadRecord {
    /// Unix seconds.
    pub at: i64,
    pub ok: bool,
    /// The revision active after the attempt.
    pub revision: String,
    /// Every load error, one `file:line:col: message` per line, when it failed.
    pub error: Option<String>,
}

/// What a successful reload or rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadOutcome {
    pub revision: String,
    /// False when the files had not changed and the active set stayed.
    pub changed: bool,
}

/// Reload bookkeeping, guarded by the holder's lock.
#[derive(Debug, Default)]
pub(crate) struct ReloadLog {
    pub(crate) last: Option<ReloadRecord>,
    pub(crate) ok: u64,
    pub(crate) failed: u64,
}

pub(crate) fn rule_statuses(set: &RuleSet) -> Vec<RuleStatus> {
    let statuses = set.rules.iter().map(|rule| RuleStatus {
        name: rule.name.to_string(),
        file: rule.file.clone(),
        handlers: rule.handlers.iter().cloned().collect(),
        counters: rule.stats.snapshot(),
    });
    statuses.collect()
}
