//! The inbox: every accepted event, written with its dedup key in one transaction, kept
//! until a worker has handled it.
//!
//! Records are keyed by a monotonic id (big-endian, so sled's order is arrival order).
//! The dedup key maps to the id, and a second tree orders keys by time for pruning.

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{Store, StoreError};
use crate::wechat::event::Event;

/// One accepted event waiting to be handled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxRecord {
    /// Position in the inbox; also the order WeChat's pushes arrived in.
    pub id: u64,
    /// When cardbot accepted the push, unix milliseconds.
    pub received_at_ms: i64,
    /// The key WeChat's retries of this push share.
    pub dedup_key: String,
    /// How many times a worker has tried and deferred it.
    pub attempts: u32,
    /// The worker leaves it alone until then, unix milliseconds; 0 means now.
    pub not_before_ms: i64,
    pub event: Event,
}

/// What enqueueing a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new record with this id.
    New(u64),
    /// A retry of the push that became this id; nothing was written.
    Duplicate(u64),
}

impl Store {
    /// Writes `event` to the inbox unless its dedup key was seen, then waits until the
    /// write is durable. Only then may the caller answer WeChat.
    pub async fn enqueue(
        &self,
        event: &Event,
        received_at_ms: i64,
    ) -> Result<Enqueued, StoreError> {
        // Nothing is acknowledged while the store fails: WeChat retries a 500.
        if let Some(reason) = self.failure() {
            return Err(StoreError::Failed(reason));
        }

        let outcome = self
            .insert_unless_seen(event, received_at_ms)
            .map_err(|err| self.note(err))?;

        // A duplicate waits too: its original may still be in the flush under way, and
        // answering before it is on disk would lose it on a crash.
        self.durable().await.map_err(|err| self.note(err))?;
        Ok(outcome)
    }

    fn insert_unless_seen(
        &self,
        event: &Event,
        received_at_ms: i64,
    ) -> Result<Enqueued, StoreError> {
        let inner = &self.inner;
        let dedup_key = event.dedup_key();
        let id = inner.db.generate_id()?;
        let record = InboxRecord {
            id,
            received_at_ms,
            dedup_key: dedup_key.clone(),
            attempts: 0,
            not_before_ms: 0,
            event: event.clone(),
        };
        let value = encode(&record)?;
        let seen_value = seen_entry(id, received_at_ms);
        let time_key = time_key(received_at_ms, &dedup_key);

        let result = (&inner.inbox, &inner.seen, &inner.seen_by_time).transaction(
            |(inbox, seen, seen_by_time)| {
                if let Some(existing) = seen.get(dedup_key.as_bytes())? {
                    return Ok(Enqueued::Duplicate(seen_id(&existing)));
                }
                seen.insert(dedup_key.as_bytes(), &seen_value[..])?;
                seen_by_time.insert(&time_key[..], &[][..])?;
                inbox.insert(&id.to_be_bytes(), &value[..])?;
                Ok::<_, ConflictableTransactionError<StoreError>>(Enqueued::New(id))
            },
        );
        result.map_err(transaction_error)
    }

    /// Records waiting in the inbox, in arrival order, at most `limit`.
    pub fn pending(&self, limit: usize) -> Result<Vec<InboxRecord>, StoreError> {
        let mut records = Vec::new();
        for entry in self.inner.inbox.iter().take(limit) {
            let (_, value) = entry?;
            records.push(decode(&value)?);
        }
        Ok(records)
    }

    /// Records waiting in the inbox, in arrival order, decoded one at a time as the
    /// caller goes, so a scan that stops early reads no more than it needs.
    pub fn pending_iter(&self) -> impl Iterator<Item = Result<InboxRecord, StoreError>> + '_ {
        self.inner
            .inbox
            .iter()
            .values()
            .map(|value| decode(&value?))
    }

    /// How many records wait in the inbox.
    pub fn inbox_len(&self) -> usize {
        self.inner.inbox.len()
    }

    /// The inbox tree, for a worker that removes a record in its own transaction.
    pub fn inbox_tree(&self) -> &sled::Tree {
        &self.inner.inbox
    }

    /// Forgets dedup keys older than `cutoff_ms`; returns how many were removed.
    pub fn prune_seen(&self, cutoff_ms: i64) -> Result<usize, StoreError> {
        let inner = &self.inner;
        let end = (cutoff_ms.max(0) as u64).to_be_bytes();
        let mut removed = 0;
        for entry in inner.seen_by_time.range(..&end[..]) {
            let (key, _) = entry?;
            if let Some(dedup_key) = key.get(8..) {
                inner.seen.remove(dedup_key)?;
            }
            inner.seen_by_time.remove(&key)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// How many dedup keys are kept.
    pub fn seen_len(&self) -> usize {
        self.inner.seen.len()
    }
}

/// Serializes an inbox record.
pub fn encode(record: &InboxRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|err| StoreError::Corrupt {
        tree: "inbox",
        message: err.to_string(),
    })
}

/// Deserializes an inbox record.
pub fn decode(bytes: &[u8]) -> Result<InboxRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        tree: "inbox",
        message: err.to_string(),
    })
}

fn seen_entry(id: u64, received_at_ms: i64) -> [u8; 16] {
    let mut value = [0u8; 16];
    value[..8].copy_from_slice(&id.to_be_bytes());
    value[8..].copy_from_slice(&received_at_ms.to_be_bytes());
    value
}

fn seen_id(value: &[u8]) -> u64 {
    let mut id = [0u8; 8];
    if let Some(bytes) = value.get(..8) {
        id.copy_from_slice(bytes);
    }
    u64::from_be_bytes(id)
}

fn time_key(received_at_ms: i64, dedup_key: &str) -> Vec<u8> {
    let mut key = (received_at_ms.max(0) as u64).to_be_bytes().to_vec();
    key.extend_from_slice(dedup_key.as_bytes());
    key
}

fn transaction_error(err: TransactionError<StoreError>) -> StoreError {
    match err {
        TransactionError::Abort(err) => err,
        TransactionError::Storage(err) => StoreError::Sled(err),
    }
}
