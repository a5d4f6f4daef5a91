//! Reload and rollback: compile the whole directory off the request path and swap it in
//! only if all of it loads; otherwise the running set stays and the error is reported.

use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use super::revision::{self, RevisionInfo};
use super::status::{ReloadLog, ReloadOutcome, ReloadRecord};
use super::{loader, Rules, RulesError};
use crate::metrics;

impl Rules {
    /// Reloads `[rules] dir`. Blocking (file I/O, compiling): from async code use
    /// [`Rules::reload_async`].
    pub fn reload(&self) -> Result<ReloadOutcome, RulesError> {
        let mut log = self.lock_reload();
        self.reload_locked(&mut log)
    }

    /// [`Rules::reload`] on tokio's blocking pool, for SIGHUP and the admin API.
    pub async fn reload_async(&self) -> Result<ReloadOutcome, RulesError> {
        let rules = self.clone();
        tokio::task::spawn_blocking(move || rules.reload())
            .await
            .map_err(|err| RulesError::Interrupted(err.to_string()))?
    }

    /// Writes a kept revision back into the rules directory and reloads it; `None` means
    /// the revision active before the current one. Counted by result, refusals too.
    pub fn rollback(&self, revision: Option<&str>) -> Result<ReloadOutcome, RulesError> {
        let outcome = self.rollback_to(revision);
        metrics::record_rollback(rollback_result(&outcome));
        outcome
    }

    fn rollback_to(&self, revision: Option<&str>) -> Result<ReloadOutcome, RulesError> {
        let mut log = self.lock_reload();
        let active = self.inner.active.load().revision.clone();
        let found = self
            .inner
            .revisions
            .find(revision, &active)
            .map_err(store_error)?;
        let target = found.ok_or_else(|| match revision {
            Some(wanted) => RulesError::UnknownRevision(wanted.to_string()),
            None => RulesError::NoPreviousRevision(active.clone()),
        })?;

        let dir = &self.inner.config.dir;
        revision::write_files(dir, &target.files).map_err(|source| RulesError::Write {
            dir: dir.clone(),
            source,
        })?;
        tracing::info!(from = %active, to = %target.revision, "rules rolled back on disk");
        self.reload_locked(&mut log)
    }

    /// [`Rules::rollback`] on tokio's blocking pool.
    pub async fn rollback_async(
        &self,
        revision: Option<String>,
    ) -> Result<ReloadOutcome, RulesError> {
        let rules = self.clone();
        tokio::task::spawn_blocking(move || rules.rollback(revision.as_deref()))
            .await
            .map_err(|err| RulesError::Interrupted(err.to_string()))?
    }

    /// The kept revisions, newest first.
    pub fn revisions(&self) -> Result<Vec<RevisionInfo>, RulesError> {
        let active = self.inner.active.load().revision.clone();
        let kept = self.inner.revisions.list().map_err(store_error)?;
        let infos = kept.into_iter().map(|(_, stored)| RevisionInfo {
            active: stored.revision == active,
            revision: stored.revision,
            activated_at: stored.activated_at,
            rules: stored.files.into_keys().collect(),
        });
        Ok(infos.collect())
    }

    fn lock_reload(&self) -> MutexGuard<'_, ReloadLog> {
        self.inner
            .reload
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn reload_locked(&self, log: &mut ReloadLog) -> Result<ReloadOutcome, RulesError> {
        let inner = &self.inner;
        let timeout = Duration::from_millis(inner.config.timeout_ms);
        let loaded = loader::load_dir(&inner.engine, &inner.config.dir, timeout, &inner.stats);
        let at = chrono::Utc::now().timestamp();

        let set = match loaded {
            Ok(set) => set,
            Err(errors) => {
                let active = inner.active.load().revision.clone();
                tracing::error!(revision = %active, errors = %errors, "rules reload refused");
                metrics::record_reload_rejected();
                log.failed += 1;
                log.last = Some(ReloadRecord {
                    at,
                    ok: false,
                    revision: active,
                    error: Some(errors.to_string()),
                });
                return Err(RulesError::Load(errors));
            }
        };

        let revision = set.revision.clone();
        let previous = inner.active.load().revision.clone();
        let changed = revision != previous;
        if changed {
            if let Err(err) = inner.revisions.save(&set) {
                // The new set still goes live: losing a rollback point is not worth
                // refusing a good change over.
                tracing::error!(error = %err, "failed to keep rule revision for rollback");
            }
            inner.active.store(Arc::new(set));
            tracing::info!(%revision, "rules reloaded");
        }
        metrics::record_reload_ok();
        log.ok += 1;
        log.last = Some(ReloadRecord {
            at,
            ok: true,
            revision: revision.clone(),
            error: None,
        });
        Ok(ReloadOutcome { revision, changed })
    }
}

/// The `result` label of `cardbot_rule_rollbacks_total`.
fn rollback_result(outcome: &Result<ReloadOutcome, RulesError>) -> &'static str {
    match outcome {
        Ok(_) => "ok",
        Err(RulesError::UnknownRevision(_)) => "unknown_revision",
        Err(RulesError::NoPreviousRevision(_)) => "no_previous_revision",
        Err(RulesError::Load(_)) => "rejected",
        Err(RulesError::Write { .. }) => "write_failed",
        Err(RulesError::Store { .. }) => "store_error",
        Err(RulesError::Watch { .. } | RulesError::Interrupted(_)) => "failed",
    }
}

fn store_error(source: sled::Error) -> RulesError {
    RulesError::Store {
        tree: revision::REVISIONS_TREE,
        source,
    }
}
