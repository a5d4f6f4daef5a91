//! The dispatcher's side of held messages: holding an entry whose user has no open
//! window, and the sweep that buries holds past `hold_max_secs` and releases those
//! whose window opened.

use std::sync::Arc;
use std::time::Duration;

use super::{Attempt, Dispatcher};
use crate::clock;
use crate::metrics;
use crate::pipeline::outbox::{DeadReason, EntryState, Holding, OutboxEntry};
use crate::pipeline::PipelineError;

/// How often held entries are looked over at most: expired ones buried, ones whose
/// user has an open window released. A hold shorter than this is looked over as often
/// as it lasts, but not more than once a second.
const HELD_SWEEP: Duration = Duration::from_secs(30);

impl Dispatcher {
    /// Moves the entry to the held tree until its user opens a window.
    pub(super) fn hold(&self, entry: &OutboxEntry, now_ms: i64) -> Result<Attempt, PipelineError> {
        let holding = self.parts.outbox.hold(entry, &self.parts.stats, now_ms)?;
        if holding == Holding::SettledElsewhere {
            return Ok(Attempt::Deferred);
        }
        let openid = entry.outgoing.openid();
        tracing::info!(
            outbox_id = entry.id,
            openid = %openid,
            rule = %entry.rule,
            "message held until the user opens a window"
        );
        if holding == Holding::First {
            metrics::record_message(metrics::MessageOutcome::Held);
        }

        // A window that opened while the entry was being held was released before the
        // entry reached the held tree; release it now instead of at the next sweep.
        if self.parts.windows.status(openid, now_ms / 1000)?.open {
            self.parts.outbox.release_held(openid, now_ms)?;
        }
        Ok(Attempt::Held)
    }

    pub(super) fn sweep_interval(&self) -> Duration {
        let hold_max = Duration::from_secs(self.config.hold_max_secs);
        hold_max.clamp(Duration::from_secs(1), HELD_SWEEP)
    }

    /// Runs [`Dispatcher::sweep_held`] on a blocking thread, as it may read many
    /// entries.
    pub(super) async fn sweep_in_background(self: Arc<Self>) {
        let swept = tokio::task::spawn_blocking(move || self.sweep_held(clock::now_ms())).await;
        match swept {
            Ok(Ok(0)) => {}
            Ok(Ok(released)) => tracing::debug!(released, "released held messages"),
            Ok(Err(err)) => tracing::error!(error = %err, "failed to look over held messages"),
            Err(err) => tracing::error!(error = %err, "the held messages sweep stopped"),
        }
    }

    /// Buries held entries that waited past `hold_max_secs` and releases those whose
    /// user has an open window (one opened while the entry was being held, or whose
    /// release failed); how many it released.
    pub fn sweep_held(&self, now_ms: i64) -> Result<usize, PipelineError> {
        let hold_max_ms = i64::try_from(self.config.hold_max_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        let mut window: Option<(String, bool)> = None;
        let mut released = 0;

        for entry in self.parts.outbox.held() {
            let entry = entry?;
            let since_ms = match entry.state {
                EntryState::Held { since_ms } => since_ms,
                _ => entry.held_since_ms.unwrap_or(entry.created_at_ms),
            };
            if now_ms.saturating_sub(since_ms) > hold_max_ms {
                self.expire_held(entry)?;
                continue;
            }
            let openid = entry.outgoing.openid();
            let open = match &window {
                Some((user, open)) if user == openid => *open,
                _ => {
                    let open = self.parts.windows.status(openid, now_ms / 1000)?.open;
                    window = Some((openid.to_string(), open));
                    open
                }
            };
            if open && self.parts.outbox.release(&entry, now_ms)? {
                released += 1;
            }
        }
        if released > 0 {
            self.wake.notify_one();
        }
        Ok(released)
    }

    /// Gives up a held entry whose window never opened, recording why.
    fn expire_held(&self, entry: OutboxEntry) -> Result<(), PipelineError> {
        let (decision_id, index) = (entry.decision_id, entry.message_index);
        let detail = format!(
            "held {} s without an open window",
            self.config.hold_max_secs
        );
        let outcome = self.dead(entry, DeadReason::WindowClosed, None, detail)?;
        self.record_outcome(decision_id, index, &outcome);
        Ok(())
    }
}
