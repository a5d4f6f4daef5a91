//! The worker: takes events from the inbox, runs the rules, and in one sled transaction
//! queues the chosen messages, updates memory, history, held cards, windows and
//! statistics, logs the decision and removes the event. A crash before the commit
//! leaves the event in the inbox untouched; after it, nothing of the event is left.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use tokio::sync::{Notify, Semaphore};

use super::outbox::{EntryState, Outbox, OutboxEntry, WhenClosed};
use super::replies::ReplyWaiters;
use super::{message, DecisionLog, HeldCards, NewDecision, PipelineError, Windows};
use crate::clock;
use crate::config::WorkerConfig;
use crate::rules::{self, Decision, Reply, Rules};
use crate::stats::Stats;
use crate::store::{InboxRecord, Store};

/// How many inbox records one scan looks at.
const SCAN_LIMIT: usize = 1000;

/// Everything the worker reads and writes.
#[derive(Debug, Clone)]
pub struct WorkerParts {
    pub store: Store,
    pub rules: Rules,
    pub outbox: Outbox,
    pub windows: Windows,
    pub held_cards: HeldCards,
    pub decisions: DecisionLog,
    pub memory: sled::Tree,
    pub history: sled::Tree,
    pub replies: ReplyWaiters,
    /// Channel statistics, counted in the same transaction.
    pub stats: Stats,
    /// Woken when new messages are queued.
    pub dispatcher: Arc<Notify>,
}

/// Handles inbox events; one per process.
#[derive(Debug)]
pub struct Worker {
    parts: WorkerParts,
    config: WorkerConfig,
    when_closed: WhenClosed,
    wake: Arc<Notify>,
    permits: Arc<Semaphore>,
    /// Users with an event being handled, so one user's events go in order.
    busy_users: Mutex<HashSet<String>>,
}

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
enum CommitError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("the event was already handled")]
    AlreadyHandled,
}

impl Worker {
    /// A worker over `parts`; `when_closed` is what messages do without a window unless
    /// the rule says otherwise.
    pub fn new(parts: WorkerParts, config: WorkerConfig, when_closed: WhenClosed) -> Arc<Worker> {
        Arc::new(Worker {
            permits: Arc::new(Semaphore::new(config.concurrency)),
            wake: Arc::new(Notify::new()),
            busy_users: Mutex::new(HashSet::new()),
            parts,
            config,
            when_closed,
        })
    }

    /// Wakes the worker when an event was stored, instead of waiting for a poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Handles events until the process stops.
    pub async fn run(self: Arc<Self>, poll: Duration) {
        loop {
            match self.clone().pass().await {
                Ok(_) => {}
                Err(err) => tracing::error!(error = %err, "worker failed to read the inbox"),
            }
            let _ = tokio::time::timeout(poll, self.wake.notified()).await;
        }
    }

    /// One scan of the inbox: starts, while permits last, every event whose user has
    /// nothing earlier pending. It stops as soon as no permit is left, so a backlog does
    /// not make every scan read all of it.
    pub async fn pass(self: Arc<Self>) -> Result<usize, crate::store::StoreError> {
        let now_ms = clock::now_ms();
        let mut blocked = HashSet::new();
        let mut started = 0;

        for record in self.parts.store.pending_iter().take(SCAN_LIMIT) {
            if self.permits.available_permits() == 0 {
                break;
            }
            let record = record?;
            let openid = record.event.openid.clone();
            if blocked.contains(&openid) {
                continue;
            }
            blocked.insert(openid.clone());
            if record.not_before_ms > now_ms || !self.claim_user(&openid) {
                continue;
            }

            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                self.release_user(&openid);
                break;
            };
            let worker = self.clone();
            tokio::spawn(async move {
                let handled = {
                    let worker = worker.clone();
                    tokio::task::spawn_blocking(move || worker.handle(record)).await
                };
                if let Err(err) = handled {
                    tracing::error!(error = %err, "event handling panicked");
                }
                worker.release_user(&openid);
                drop(permit);
                worker.wake.notify_one();
            });
            started += 1;
        }
        Ok(started)
    }

    fn claim_user(&self, openid: &str) -> bool {
        self.busy_users
            .lock()
            .map(|mut busy| busy.insert(openid.to_string()))
            .unwrap_or(false)
    }

    fn release_user(&self, openid: &str) {
        if let Ok(mut busy) = self.busy_users.lock() {
            busy.remove(openid);
        }
    }

    /// Runs the rules on one event and commits what they decided. Blocking.
    fn handle(&self, record: InboxRecord) {
        let decision = self.parts.rules.evaluate(&record.event);

        if let Some(failure) = decision.retry_later() {
            if record.attempts + 1 < self.config.max_attempts {
                self.defer(record, &failure.message);
                return;
            }
            tracing::error!(
                inbox_id = record.id,
                openid = %record.event.openid,
                attempts = record.attempts + 1,
                rule_error = %failure.message,
                "lookups kept failing; handling the event without the failing rule's actions"
            );
        }

        let waiter = self.parts.replies.take(&record.dedup_key);
        let passive = waiter.is_some() && !decision.replies.is_empty();
        // Only one reply rides on the HTTP answer; any further ones go as messages.
        let queued_replies = if passive {
            &decision.replies[1..]
        } else {
            &decision.replies[..]
        };
        let messages = message::from_decision(&decision, queued_replies);

        match self.commit(&record, &decision, &messages, passive) {
            Ok(decision_id) => {
                self.after_commit(&record, decision_id, &decision, waiter, passive);
            }
            Err(CommitError::AlreadyHandled) => {}
            Err(CommitError::Pipeline(err)) => {
                tracing::error!(inbox_id = record.id, error = %err, "failed to commit a decision");
            }
        }
    }

    /// Puts the event back for later, visibly: its rules need a lookup that failed
    /// for a passing reason.
    fn defer(&self, mut record: InboxRecord, reason: &str) {
        record.attempts += 1;
        let exponent = record.attempts.saturating_sub(1).min(20);
        let delay = (self.config.retry_base_secs << exponent).min(self.config.retry_max_secs);
        record.not_before_ms = clock::now_ms() + (delay as i64) * 1000;
        tracing::warn!(
            inbox_id = record.id,
            openid = %record.event.openid,
            event = %record.event.kind,
            attempt = record.attempts,
            retry_in_secs = delay,
            reason,
            "event deferred: a lookup failed for a passing reason"
        );
        crate::metrics::record_event_deferred();

        let stored = crate::store::inbox::encode(&record).map_err(|err| err.to_string());
        let written = stored.and_then(|value| {
            self.parts
                .store
                .inbox_tree()
                .insert(record.id.to_be_bytes(), value)
                .map_err(|err| err.to_string())
        });
        if let Err(err) = written {
            tracing::error!(inbox_id = record.id, error = %err, "failed to defer an event");
        }
    }

    /// The one transaction that makes the event handled.
    fn commit(
        &self,
        record: &InboxRecord,
        decision: &Decision,
        messages: &[message::Queued],
        passive: bool,
    ) -> Result<u64, CommitError> {
        let parts = &self.parts;
        let now_ms = clock::now_ms();
        let event = &record.event;
        let new_decision = NewDecision {
            openid: event.openid.clone(),
            event_kind: event.kind.clone(),
            inbox_id: record.id,
            revision: decision.revision.clone(),
            created_at: now_ms / 1000,
            payload: message::payload(decision, messages, passive),
        };
        let trees = (
            parts.store.inbox_tree(),
            parts.outbox.tree(),
            &parts.memory,
            &parts.history,
            parts.held_cards.tree(),
            parts.windows.tree(),
            parts.decisions.tree(),
            parts.stats.counters_tree(),
            parts.stats.receipts_tree(),
        );

        let result = trees.transaction(
            |(inbox, outbox, memory, history, held, windows, decisions, counters, receipts)| {
                if inbox.remove(&record.id.to_be_bytes())?.is_none() {
                    return Err(ConflictableTransactionError::Abort(
                        CommitError::AlreadyHandled,
                    ));
                }
                let decision_id = parts.decisions.append_tx(decisions, &new_decision)?;
                for (index, queued) in messages.iter().enumerate() {
                    let entry = OutboxEntry {
                        id: outbox.generate_id()?,
                        rule: queued.rule.clone(),
                        decision_id,
                        message_index: index as u32,
                        outgoing: queued.outgoing.clone(),
                        fallback: queued.fallback.clone(),
                        when_closed: queued.when_closed.unwrap_or(self.when_closed),
                        state: EntryState::Ready,
                        attempts: 0,
                        not_before_ms: now_ms,
                        created_at_ms: now_ms,
                        last_error: None,
                        event_kind: event.kind.clone(),
                        event_card_id: event.card_id.clone(),
                        held_since_ms: None,
                    };
                    Outbox::insert_tx(outbox, &entry)?;
                }
                rules::memory::apply(memory, &decision.effects)?;
                rules::history::record(history, event)?;
                parts.held_cards.apply_tx(held, event)?;
                parts.windows.observe_tx(windows, event, now_ms / 1000)?;
                let received_at = record.received_at_ms / 1000;
                parts
                    .stats
                    .record_tx(counters, receipts, event, received_at)?;
                Ok(decision_id)
            },
        );
        result.map_err(|err| match err {
            TransactionError::Abort(err) => err,
            TransactionError::Storage(err) => CommitError::Pipeline(PipelineError::Sled(err)),
        })
    }

    fn after_commit(
        &self,
        record: &InboxRecord,
        decision_id: u64,
        decision: &Decision,
        waiter: Option<tokio::sync::oneshot::Sender<Vec<Reply>>>,
        passive: bool,
    ) {
        let event = &record.event;
        crate::metrics::record_event_handled(&event.kind);
        tracing::info!(
            inbox_id = record.id,
            decision_id,
            openid = %event.openid,
            event = %event.kind,
            card_id = event.card_id.as_deref().unwrap_or(""),
            revision = %decision.revision,
            actions = decision.actions.len(),
            replies = decision.replies.len(),
            "event handled"
        );

        if let Some(waiter) = waiter {
            let replies = if passive {
                decision.replies[..1].to_vec()
            } else {
                Vec::new()
            };
            if let Err(unsent) = waiter.send(replies) {
                self.queue_late_replies(record, decision_id, &unsent);
            }
        }

        if self.parts.windows.window_kind(event).is_some() {
            let now_ms = clock::now_ms();
            if let Err(err) = self.parts.outbox.release_held(&event.openid, now_ms) {
                tracing::warn!(openid = %event.openid, error = %err, "failed to release held messages");
            }
        }
        self.parts.dispatcher.notify_one();
    }

    /// The request that waited for these replies has gone; send them as messages.
    fn queue_late_replies(&self, record: &InboxRecord, decision_id: u64, replies: &[Reply]) {
        if replies.is_empty() {
            return;
        }
        let now_ms = clock::now_ms();
        for (offset, reply) in replies.iter().enumerate() {
            let queued = message::from_reply(&record.event.openid, reply);
            let entry = self.parts.store.db().generate_id().map(|id| OutboxEntry {
                id,
                rule: queued.rule,
                decision_id,
                message_index: 1000 + offset as u32,
                outgoing: queued.outgoing,
                fallback: queued.fallback,
                when_closed: self.when_closed,
                state: EntryState::Ready,
                attempts: 0,
                not_before_ms: now_ms,
                created_at_ms: now_ms,
                last_error: None,
                event_kind: record.event.kind.clone(),
                event_card_id: record.event.card_id.clone(),
                held_since_ms: None,
            });
            let written = entry
                .map_err(PipelineError::from)
                .and_then(|entry| self.parts.outbox.put(&entry));
            if let Err(err) = written {
                tracing::error!(decision_id, error = %err, "failed to queue a late reply");
            }
        }
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
