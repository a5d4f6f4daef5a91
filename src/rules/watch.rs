//! Reload on edits: watch `[rules] dir` and reload once the changes have been quiet for
//! `reload_debounce_ms`, whatever way the editor saves (in place, rename, delete+create).

use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};

use super::{Rules, RulesError};

/// Watches the rules directory while it lives; dropping it stops the watching.
pub struct RulesWatcher {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for RulesWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesWatcher").finish_non_exhaustive()
    }
}

impl Rules {
    /// Starts reloading on every change of a `.rhai` file in the rules directory.
    pub fn watch(&self) -> Result<RulesWatcher, RulesError> {
        let dir = self.inner.config.dir.clone();
        let (sender, events) = mpsc::channel();
        let fail = |source| RulesError::Watch {
            dir: dir.clone(),
            source,
        };
        let mut watcher = notify::recommended_watcher(sender).map_err(fail)?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(fail)?;

        let rules = self.clone();
        let debounce = Duration::from_millis(self.inner.config.reload_debounce_ms);
        std::thread::Builder::new()
            .name("rules-watch".to_string())
            .spawn(move || reload_on_changes(&rules, &events, debounce))
            .map_err(|err| fail(notify::Error::io(err)))?;
        tracing::info!(dir = %dir.display(), "watching rules for changes");
        Ok(RulesWatcher { _watcher: watcher })
    }
}

type WatchEvent = notify::Result<notify::Event>;

/// Waits for a relevant change, lets the burst settle, reloads; ends with the watcher.
fn reload_on_changes(rules: &Rules, events: &Receiver<WatchEvent>, debounce: Duration) {
    while let Ok(event) = events.recv() {
        if !is_rule_change(&event) {
            continue;
        }
        loop {
            match events.recv_timeout(debounce) {
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        // A refused reload is logged and kept in the status by reload itself.
        let _ = rules.reload();
    }
}

fn is_rule_change(event: &WatchEvent) -> bool {
    match event {
        Ok(event) => changes_content(&event.kind) && event.paths.iter().any(|p| is_rule_file(p)),
        Err(err) => {
            tracing::warn!(error = %err, "rules watcher error; reloading to be safe");
            true
        }
    }
}

/// Whether an event can change what a file holds. Opening or reading a file cannot: the
/// reload itself reads every rule, so reloading on reads would reload for ever, and an
/// operator's `cat` or backup would start it.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

fn is_rule_file(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "rhai")
}
