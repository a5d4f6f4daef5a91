//! A compiled, validated set of rules with its revision, and the per-rule counters that
//! outlive reloads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::AST;
use serde::Serialize;

/// One rule: a `.rhai` file, compiled, with the handlers it defines.
#[derive(Debug)]
pub struct Rule {
    /// The file stem.
    pub name: Arc<str>,
    pub file: PathBuf,
    pub source: String,
    /// The `on_*` functions it defines.
    pub handlers: BTreeSet<String>,
    pub(crate) ast: AST,
    /// Whether the file has top-level statements (constants) to run before a handler.
    pub(crate) has_top_level: bool,
    pub(crate) stats: Arc<RuleStats>,
}

/// The rules active together, in file-name order, under one revision.
#[derive(Debug)]
pub struct RuleSet {
    /// Hex of the sha1 of the sorted (name, source) pairs, shortened to 12 characters.
    pub revision: String,
    pub rules: Vec<Rule>,
    /// When it was loaded, unix seconds.
    pub loaded_at: i64,
}

impl RuleSet {
    /// The rule sources by name, as kept for rollback.
    pub fn sources(&self) -> BTreeMap<String, String> {
        let pairs = self
            .rules
            .iter()
            .map(|rule| (rule.name.to_string(), rule.source.clone()));
        pairs.collect()
    }
}

/// How often a rule ran, failed and how long it took, since the process started.
#[derive(Debug, Default)]
pub(crate) struct RuleStats {
    evaluations: AtomicU64,
    errors: AtomicU64,
    total_micros: AtomicU64,
}

impl RuleStats {
    pub(crate) fn record(&self, elapsed: Duration, failed: bool) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        self.total_micros.fetch_add(micros, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> RuleCounters {
        RuleCounters {
            evaluations: self.evaluations.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            total_micros: self.total_micros.load(Ordering::Relaxed),
        }
    }
}

/// The counters of one rule, as shown in the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleCounters {
    pub evaluations: u64,
    pub errors: u64,
    pub total_micros: u64,
}

/// Counters by rule name, so a rule keeps its counts across reloads.
#[derive(Debug, Default)]
pub(crate) struct StatsRegistry {
    by_rule: Mutex<HashMap<String, Arc<RuleStats>>>,
}

impl StatsRegistry {
    pub(crate) fn for_rule(&self, name: &str) -> Arc<RuleStats> {
        match self.by_rule.lock() {
            Ok(mut by_rule) => by_rule.entry(name.to_string()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }
}
