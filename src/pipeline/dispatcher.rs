//! The dispatcher: sends outbox entries through the API client, within the user's
//! customer-service window, the contact caps and the rate limit, retrying what WeChat
//! refused for a passing reason and burying what it refused for good.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

use super::outbox::{
    DeadLetter, DeadReason, EntryState, Outbox, OutboxEntry, Outgoing, WhenClosed,
};
use super::rate::RateLimit;
use super::{CloseReason, DecisionLog, PipelineError, Pressure, Verdict, Windows};
use crate::api::{ApiError, Client, ErrorClass};
use crate::clock;
use crate::config::DispatcherConfig;
use crate::metrics;
use crate::stats::{MessageOutcome, Stats};
use crate::store::Store;

#[path = "dispatcher_hold.rs"]
mod hold;

/// How many outbox entries one scan looks at, so a large backlog costs a bounded
/// amount of memory and time per scan. Held entries are in a tree of their own, so
/// only entries waiting for a retry or quiet hours to end can stand in front.
const SCAN_LIMIT: usize = 2000;

/// How long a woken dispatcher waits for more wake-ups before it scans.
const COALESCE: Duration = Duration::from_millis(5);

/// Everything the dispatcher reads and writes.
#[derive(Debug, Clone)]
pub struct DispatcherParts {
    pub store: Store,
    pub outbox: Outbox,
    pub windows: Windows,
    pub pressure: Pressure,
    pub decisions: DecisionLog,
    /// Per-rule message counters, written with each outcome.
    pub stats: Stats,
    pub client: Client,
}

/// Sends what the rules chose; one per process.
#[derive(Debug)]
pub struct Dispatcher {
    parts: DispatcherParts,
    config: DispatcherConfig,
    wake: Arc<Notify>,
    permits: Arc<Semaphore>,
    rate: RateLimit,
    /// Users with a send under way, so one user's messages go out in order.
    busy_users: Mutex<HashSet<String>>,
    /// Set by [`Dispatcher::stop`]: no new send starts.
    stopping: AtomicBool,
}

/// What became of one attempt, as the decision log records it.
enum Attempt {
    Sent,
    Held,
    Deferred,
    Dead(DeadReason),
}

impl Dispatcher {
    /// A dispatcher over `parts`; call [`Dispatcher::run`] to start it.
    pub fn new(parts: DispatcherParts, config: DispatcherConfig) -> Arc<Dispatcher> {
        Arc::new(Dispatcher {
            permits: Arc::new(Semaphore::new(config.concurrency)),
            rate: RateLimit::per_second(config.rate_per_sec),
            wake: Arc::new(Notify::new()),
            busy_users: Mutex::new(HashSet::new()),
            stopping: AtomicBool::new(false),
            parts,
            config,
        })
    }

    /// Wakes the dispatcher when new entries are ready, instead of waiting for a poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Starts no new send and waits up to `limit` for the sends under way to settle;
    /// whether they all did. A graceful stop that cut a send off would leave its entry
    /// `Sending`, an unknown outcome at the next start, and the user without it.
    pub async fn stop(&self, limit: Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        let all = u32::try_from(self.config.concurrency).unwrap_or(u32::MAX);
        let settled = tokio::time::timeout(limit, self.permits.acquire_many(all)).await;
        matches!(settled, Ok(Ok(_)))
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Settles entries a crash left in `Sending`: their outcome is unknown, so they are
    /// not sent again unless `resend_unknown` says so.
    pub fn recover(&self) -> Result<usize, PipelineError> {
        let migrated = self.parts.outbox.migrate_held()?;
        if migrated > 0 {
            tracing::info!(entries = migrated, "moved held messages to the held tree");
        }
        let mut settled = 0;
        for mut entry in self.parts.outbox.entries()? {
            if entry.state != EntryState::Sending {
                continue;
            }
            settled += 1;
            if self.config.resend_unknown {
                entry.state = EntryState::Ready;
                self.parts.outbox.put(&entry)?;
                continue;
            }
            let detail = "cardbot stopped while the message was being sent".to_string();
            tracing::warn!(outbox_id = entry.id, openid = %entry.outgoing.openid(), %detail);
            self.bury(entry, DeadReason::UnknownOutcome, None, detail)?;
        }
        Ok(settled)
    }

    /// Sends due entries until the process stops.
    pub async fn run(self: Arc<Self>) {
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let mut next_sweep = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_sweep {
                self.clone().sweep_in_background().await;
                next_sweep = tokio::time::Instant::now() + self.sweep_interval();
            }
            if let Err(err) = self.clone().pass().await {
                tracing::error!(error = %err, "dispatcher failed to read the outbox");
            }
            let woken = tokio::time::timeout(poll, self.wake.notified())
                .await
                .is_ok();
            if woken {
                // Sends finish in bursts; one scan after a short pause serves a whole
                // burst, where a scan per finished send would read the outbox's head
                // again for each.
                tokio::time::sleep(COALESCE).await;
            }
        }
    }

    /// One scan of the outbox: starts a send for every due entry whose user has none
    /// under way and no earlier entry still waiting.
    pub async fn pass(self: Arc<Self>) -> Result<usize, PipelineError> {
        let now_ms = clock::now_ms();
        let mut waiting_users = HashSet::new();
        let mut started = 0;

        for value in self.parts.outbox.tree().iter().values().take(SCAN_LIMIT) {
            if self.permits.available_permits() == 0 || self.is_stopping() {
                break;
            }
            let entry: OutboxEntry = super::decode(super::outbox::OUTBOX_TREE, &value?)?;
            let openid = entry.outgoing.openid().to_string();
            if waiting_users.contains(&openid) || entry.state == EntryState::Sending {
                continue;
            }
            if !self.is_due(&entry, now_ms)? || !self.claim_user(&openid) {
                waiting_users.insert(openid);
                continue;
            }
            waiting_users.insert(openid.clone());

            let permit = self.permits.clone().try_acquire_owned();
            // Checked again with the permit held: `stop` waits for every permit, so a
            // send that holds one before `stopping` is set is waited for.
            let Some(permit) = permit.ok().filter(|_| !self.is_stopping()) else {
                self.release_user(&openid);
                break;
            };
            let dispatcher = self.clone();
            tokio::spawn(async move {
                dispatcher.deliver(entry).await;
                dispatcher.release_user(&openid);
                drop(permit);
                dispatcher.wake.notify_one();
            });
            started += 1;
        }
        Ok(started)
    }

    fn is_due(&self, entry: &OutboxEntry, now_ms: i64) -> Result<bool, PipelineError> {
        // Held entries live in the held tree; one found here is from a store not yet
        // migrated, and waits for the next start.
        Ok(entry.state == EntryState::Ready && entry.not_before_ms <= now_ms)
    }

    fn claim_user(&self, openid: &str) -> bool {
        match self.busy_users.lock() {
            Ok(mut busy) => busy.insert(openid.to_string()),
            Err(_) => false,
        }
    }

    fn release_user(&self, openid: &str) {
        if let Ok(mut busy) = self.busy_users.lock() {
            busy.remove(openid);
        }
    }

    /// Takes one entry as far as it can go now, recording the outcome.
    async fn deliver(&self, entry: OutboxEntry) {
        let (id, decision_id, index) = (entry.id, entry.decision_id, entry.message_index);
        let outcome = match self.attempt(entry).await {
            Ok(outcome) => outcome,
            Err(err) => {
                tracing::error!(outbox_id = id, error = %err, "failed to update the outbox");
                return;
            }
        };

        self.record_outcome(decision_id, index, &outcome);
    }

    /// Writes what became of a message into its decision log entry.
    fn record_outcome(&self, decision_id: u64, index: u32, outcome: &Attempt) {
        let mut status = match outcome {
            Attempt::Sent => json!({ "status": "sent" }),
            Attempt::Held => json!({ "status": "held", "reason": "no open window" }),
            Attempt::Deferred => return,
            Attempt::Dead(reason) => json!({ "status": "dead_letter", "reason": reason }),
        };
        status["at"] = json!(clock::now_secs());
        if let Err(err) = self
            .parts
            .decisions
            .update_outcome(decision_id, index, &status)
        {
            tracing::warn!(decision_id, error = %err, "failed to record a message outcome");
        }
    }

    async fn attempt(&self, mut entry: OutboxEntry) -> Result<Attempt, PipelineError> {
        // The scan's copy may be stale: another send may have settled it meanwhile.
        if self.parts.outbox.get(entry.id)?.as_ref() != Some(&entry) {
            return Ok(Attempt::Deferred);
        }
        let now_ms = clock::now_ms();
        let openid = entry.outgoing.openid().to_string();

        match self
            .parts
            .pressure
            .check(&openid, &entry.rule, now_ms / 1000)?
        {
            Verdict::Allow => {}
            Verdict::Suppress(reason) => {
                let detail = reason.to_string();
                return self.dead(entry, DeadReason::Suppressed, None, detail);
            }
            Verdict::WaitUntil(until) => {
                entry.state = EntryState::Ready;
                entry.not_before_ms = until * 1000;
                entry.last_error = Some("quiet hours".to_string());
                self.parts.outbox.put(&entry)?;
                return Ok(Attempt::Deferred);
            }
        }

        let uses_window = matches!(entry.outgoing, Outgoing::Custom { .. });
        if uses_window && !self.parts.windows.consume(&openid, now_ms / 1000)? {
            if let Some(attempt) = self.when_closed(&mut entry, now_ms)? {
                return Ok(attempt);
            }
        }
        let consumed_window = uses_window && matches!(entry.outgoing, Outgoing::Custom { .. });

        self.send(entry, consumed_window).await
    }

    /// The window is closed: hold, fall back to the template, or drop. `None` means
    /// the entry now carries its template and goes on.
    fn when_closed(
        &self,
        entry: &mut OutboxEntry,
        now_ms: i64,
    ) -> Result<Option<Attempt>, PipelineError> {
        match (entry.when_closed, entry.fallback.take()) {
            (WhenClosed::Template, Some(template)) => {
                entry.outgoing = Outgoing::Template { message: template };
                Ok(None)
            }
            (WhenClosed::Hold, _) => self.hold(entry, now_ms).map(Some),
            (WhenClosed::Template, None) => {
                let detail = "no open window and the rule gave no template fallback";
                self.dead(entry.clone(), DeadReason::WindowClosed, None, detail.into())
                    .map(Some)
            }
            (WhenClosed::Drop, _) => {
                let detail = "no open window, and the message asks to be dropped then";
                self.dead(entry.clone(), DeadReason::WindowClosed, None, detail.into())
                    .map(Some)
            }
        }
    }

    /// Marks the entry `Sending` durably, sends it, and settles the outcome.
    async fn send(
        &self,
        entry: OutboxEntry,
        consumed_window: bool,
    ) -> Result<Attempt, PipelineError> {
        let mut sending = entry.clone();
        sending.state = EntryState::Sending;
        if !self.parts.outbox.swap(&self.stored(&entry)?, &sending)? {
            if consumed_window {
                self.parts
                    .windows
                    .give_back(entry.outgoing.openid(), clock::now_secs())?;
            }
            return Ok(Attempt::Deferred);
        }
        let mut entry = sending;
        if let Err(err) = self.parts.store.durable().await {
            tracing::error!(outbox_id = entry.id, error = %err, "store not durable; send later");
            entry.state = EntryState::Ready;
            self.parts.outbox.put(&entry)?;
            return Ok(Attempt::Deferred);
        }

        self.rate.wait().await;
        let result = match &entry.outgoing {
            Outgoing::Custom { message } => self.parts.client.send_custom(message).await,
            Outgoing::Template { message } => {
                self.parts.client.send_template(message).await.map(|_| ())
            }
        };

        match result {
            Ok(()) => self.sent(entry),
            Err(err) => self.failed(entry, err, consumed_window),
        }
    }

    /// The stored form of an entry whose outgoing message may have been swapped for
    /// its template fallback in memory.
    fn stored(&self, entry: &OutboxEntry) -> Result<OutboxEntry, PipelineError> {
        Ok(self
            .parts
            .outbox
            .get(entry.id)?
            .unwrap_or_else(|| entry.clone()))
    }

    fn sent(&self, entry: OutboxEntry) -> Result<Attempt, PipelineError> {
        let openid = entry.outgoing.openid();
        let now = clock::now_secs();
        self.parts
            .outbox
            .remove_sent(&entry, &self.parts.stats, now)?;
        self.parts.pressure.record(openid, &entry.rule, now)?;
        tracing::info!(
            outbox_id = entry.id,
            openid = %openid,
            event = %entry.event_kind,
            card_id = entry.event_card_id.as_deref().unwrap_or(""),
            rule = %entry.rule,
            msgtype = entry.outgoing.kind(),
            wxcard_id = entry.outgoing.card_id(),
            "message sent"
        );
        metrics::record_message(metrics::MessageOutcome::Sent);
        Ok(Attempt::Sent)
    }

    fn failed(
        &self,
        mut entry: OutboxEntry,
        err: ApiError,
        consumed_window: bool,
    ) -> Result<Attempt, PipelineError> {
        let openid = entry.outgoing.openid().to_string();
        let errcode = err.errcode();
        let detail = err.to_string();

        let retry = match err.class() {
            ErrorClass::RetryLater | ErrorClass::RefreshToken => true,
            ErrorClass::UnknownOutcome => self.config.resend_unknown,
            ErrorClass::Permanent | ErrorClass::Configuration => false,
        };
        if retry && consumed_window {
            self.parts.windows.give_back(&openid, clock::now_secs())?;
        }
        if let Some(reason) = errcode.and_then(CloseReason::from_errcode) {
            self.parts.windows.close(&openid, reason)?;
        }

        if retry && entry.attempts + 1 < self.config.max_attempts {
            entry.attempts += 1;
            entry.state = EntryState::Ready;
            entry.not_before_ms = clock::now_ms() + self.backoff_ms(entry.attempts);
            entry.last_error = Some(detail.clone());
            self.parts.outbox.put(&entry)?;
            tracing::warn!(
                outbox_id = entry.id,
                openid = %openid,
                attempt = entry.attempts,
                error = %detail,
                "send failed for a passing reason; retrying later"
            );
            metrics::record_message(metrics::MessageOutcome::Retried);
            return Ok(Attempt::Deferred);
        }

        let reason = match err.class() {
            ErrorClass::RetryLater | ErrorClass::RefreshToken => DeadReason::RetriesExhausted,
            ErrorClass::UnknownOutcome if retry => DeadReason::RetriesExhausted,
            ErrorClass::UnknownOutcome => DeadReason::UnknownOutcome,
            ErrorClass::Permanent => DeadReason::Refused,
            ErrorClass::Configuration => DeadReason::Configuration,
        };
        self.dead(entry, reason, errcode, detail)
    }

    /// Exponential backoff with jitter: between half and all of base * 2^(attempt-1).
    fn backoff_ms(&self, attempt: u32) -> i64 {
        let base = self.config.backoff_base_ms as f64;
        let max = (self.config.backoff_max_secs * 1000) as f64;
        let full = (base * 2f64.powi(attempt.saturating_sub(1).min(30) as i32)).min(max);
        let jitter = rand::thread_rng().gen_range(0.5..=1.0);
        (full * jitter) as i64
    }

    fn dead(
        &self,
        entry: OutboxEntry,
        reason: DeadReason,
        errcode: Option<i64>,
        detail: String,
    ) -> Result<Attempt, PipelineError> {
        tracing::error!(
            outbox_id = entry.id,
            openid = %entry.outgoing.openid(),
            rule = %entry.rule,
            ?reason,
            errcode,
            detail = %detail,
            "message moved to the dead letters"
        );
        match self.bury(entry, reason.clone(), errcode, detail)? {
            true => Ok(Attempt::Dead(reason)),
            // Settled elsewhere meanwhile; its outcome is recorded there.
            false => Ok(Attempt::Deferred),
        }
    }

    fn bury(
        &self,
        entry: OutboxEntry,
        reason: DeadReason,
        errcode: Option<i64>,
        detail: String,
    ) -> Result<bool, PipelineError> {
        // Delivery policy dropping a message is a suppression; anything else a failure.
        let suppressed = reason == DeadReason::Suppressed
            || (reason == DeadReason::WindowClosed && entry.when_closed == WhenClosed::Drop);
        let outcome = match suppressed {
            true => MessageOutcome::Suppressed,
            false => MessageOutcome::Failed,
        };
        let letter = DeadLetter {
            entry,
            reason,
            errcode,
            detail,
            at_ms: clock::now_ms(),
        };
        let buried = self
            .parts
            .outbox
            .bury(&letter, &self.parts.stats, outcome)?;
        if buried {
            metrics::record_buried(&letter.reason);
        }
        Ok(buried)
    }
}
