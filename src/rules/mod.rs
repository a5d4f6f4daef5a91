//! The merchant's Rhai rules: loading, limits, the functions rules call, hot reload.
//!
//! The tour: [`loader`] reads `[rules] dir` into a [`RuleSet`] (compiled by the engine
//! of [`engine`], handlers checked by [`handler`]) and [`Rules`] swaps it in atomically;
//! [`Rules::evaluate`] runs an [`Event`] through it ([`evaluate`]), the host functions of
//! `functions` collecting [`Action`]s, asking [`Lookups`] and reading [`memory`] and
//! [`history`]; the worker then persists the [`Decision`]'s effects in its own
//! transaction. [`revision`] keeps past sets for rollback and [`watch`] reloads on edits.

pub mod action;
pub mod canned;
mod context;
pub mod definitions;
pub mod engine;
pub mod evaluate;
mod functions;
pub mod handler;
pub mod history;
pub mod loader;
pub mod lookup;
pub mod memory;
pub mod revision;
pub mod seed;
pub mod set;
pub mod status;
pub mod value;
pub mod watch;
pub mod window;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rhai::Engine;

pub use action::{Action, Article, Message, Reply, ReplyBody, TemplateFallback, WhenClosed};
pub use canned::CannedLookups;
pub use context::time_left;
pub use evaluate::{Decision, FailureKind, RuleFailure, RuleRun};
pub use loader::{LoadError, LoadErrors};
pub use lookup::{CardSummary, CodeState, HeldCard, LookupError, LookupRecord, Lookups};
pub use memory::MemoryEffect;
pub use revision::RevisionInfo;
pub use set::RuleSet;
pub use status::{ReloadOutcome, RulesStatus};

use crate::config::RulesConfig;
use crate::wechat::event::Event;
use context::Services;
use lookup::LookupCache;
use revision::RevisionStore;
use set::StatsRegistry;
use status::ReloadLog;

/// What can go wrong managing rules (evaluation itself never fails: see [`Decision`]).
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("rules failed to load; the running set stays:\n{0}")]
    Load(LoadErrors),
    #[error("failed to use sled tree {tree}: {source}")]
    Store {
        tree: &'static str,
        source: sled::Error,
    },
    #[error("no kept revision matches {0:?}; `cardbot rules list` shows the kept ones")]
    UnknownRevision(String),
    #[error("no revision was active before {0}; nothing to roll back to")]
    NoPreviousRevision(String),
    #[error("failed to write rule files into {dir}: {source}")]
    Write {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to watch {dir} for rule changes: {source}")]
    Watch { dir: PathBuf, source: notify::Error },
    #[error("rules task stopped before finishing: {0}")]
    Interrupted(String),
}

/// The live rules of the process: cheap to clone, shared by the worker, the admin API
/// and the file watcher.
#[derive(Clone)]
pub struct Rules {
    inner: Arc<Inner>,
}

struct Inner {
    config: RulesConfig,
    engine: Engine,
    active: ArcSwap<RuleSet>,
    services: Services,
    revisions: RevisionStore,
    stats: StatsRegistry,
    /// Serialises reloads and rollbacks; evaluations never take it.
    reload: Mutex<ReloadLog>,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let active = self.inner.active.load();
        f.debug_struct("Rules")
            .field("dir", &self.inner.config.dir)
            .field("revision", &active.revision)
            .finish()
    }
}

fn open_tree(db: &sled::Db, tree: &'static str) -> Result<sled::Tree, RulesError> {
    db.open_tree(tree)
        .map_err(|source| RulesError::Store { tree, source })
}

impl Rules {
    /// Loads `[rules] dir` and keeps its revision; fails if any rule fails to load.
    pub fn open(
        config: &RulesConfig,
        db: &sled::Db,
        lookups: Arc<dyn Lookups>,
    ) -> Result<Rules, RulesError> {
        Rules::open_with_windows(config, db, lookups, None)
    }

    /// [`Rules::open`], with the window tracker that `window(openid)` reads.
    pub fn open_with_windows(
        config: &RulesConfig,
        db: &sled::Db,
        lookups: Arc<dyn Lookups>,
        windows: Option<Arc<dyn window::WindowView>>,
    ) -> Result<Rules, RulesError> {
        let engine = engine::build_engine(config);
        let stats = StatsRegistry::default();
        let timeout = Duration::from_millis(config.timeout_ms);
        let set =
            loader::load_dir(&engine, &config.dir, timeout, &stats).map_err(RulesError::Load)?;

        let services = Services {
            lookups,
            cache: Arc::new(LookupCache::new(Duration::from_secs(
                config.lookup_cache_secs,
            ))),
            memory: open_tree(db, memory::MEMORY_TREE)?,
            history: open_tree(db, history::HISTORY_TREE)?,
            windows,
        };
        let revisions = RevisionStore::new(
            open_tree(db, revision::REVISIONS_TREE)?,
            config.keep_revisions,
        );
        revisions.save(&set).map_err(|source| RulesError::Store {
            tree: revision::REVISIONS_TREE,
            source,
        })?;
        tracing::info!(revision = %set.revision, rules = set.rules.len(), "rules loaded");

        let inner = Inner {
            config: config.clone(),
            engine,
            active: ArcSwap::from_pointee(set),
            services,
            revisions,
            stats,
            reload: Mutex::new(ReloadLog::default()),
        };
        Ok(Rules {
            inner: Arc::new(inner),
        })
    }

    /// Runs `event` through the active set, now. Blocking: call it off the async runtime.
    pub fn evaluate(&self, event: &Event) -> Decision {
        self.evaluate_at(event, chrono::Utc::now().timestamp())
    }

    /// Runs `event` with the clock at `now` (unix seconds), for retries and simulations.
    pub fn evaluate_at(&self, event: &Event, now: i64) -> Decision {
        self.run(event, now, self.inner.services.clone())
    }

    /// Runs `event` with other lookups (canned data, for `simulate`); memory and history
    /// are read from the store as usual and nothing is written.
    pub fn evaluate_with(&self, event: &Event, now: i64, lookups: Arc<dyn Lookups>) -> Decision {
        let services = Services {
            lookups,
            cache: Arc::new(LookupCache::new(Duration::ZERO)),
            ..self.inner.services.clone()
        };
        self.run(event, now, services)
    }

    fn run(&self, event: &Event, now: i64, services: Services) -> Decision {
        // The evaluation holds its set to the end, whatever reloads happen meanwhile.
        let set = self.inner.active.load_full();
        let timeout = Duration::from_millis(self.inner.config.timeout_ms);
        evaluate::run(&self.inner.engine, &set, event, now, services, timeout)
    }

    /// The set new evaluations use.
    pub fn active(&self) -> Arc<RuleSet> {
        self.inner.active.load_full()
    }

    /// The state of the rules for `/admin/rules`.
    pub fn status(&self) -> RulesStatus {
        let set = self.inner.active.load_full();
        let log = self
            .inner
            .reload
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        RulesStatus {
            dir: self.inner.config.dir.clone(),
            revision: set.revision.clone(),
            loaded_at: set.loaded_at,
            rules: status::rule_statuses(&set),
            last_reload: log.last.clone(),
            reloads_ok: log.ok,
            reloads_failed: log.failed,
        }
    }
}

mod reload;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

/// Compiles `[rules] dir` without running anything, for `cardbot check`: every error
/// of every file, or the set that would load.
pub fn check_dir(config: &RulesConfig) -> Result<RuleSet, LoadErrors> {
    let engine = engine::build_engine(config);
    let timeout = Duration::from_millis(config.timeout_ms);
    loader::load_dir(&engine, &config.dir, timeout, &StatsRegistry::default())
}

/// What `GET /admin/rules` answers: the status and the kept revisions.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RulesAdminView {
    pub status: RulesStatus,
    pub revisions: Vec<RevisionInfo>,
}

impl Rules {
    /// The body of `GET /admin/rules`.
    pub fn admin_view(&self) -> Result<RulesAdminView, RulesError> {
        Ok(RulesAdminView {
            status: self.status(),
            revisions: self.revisions()?,
        })
    }
}
