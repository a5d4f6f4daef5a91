//! Held entries: messages waiting for their user to open a customer-service window.
//!
//! They live in a tree of their own, keyed by user then id, so the dispatcher's scan of
//! the outbox never walks past them however many wait, and a window opening finds its
//! user's entries by prefix instead of reading the whole outbox.

use sled::transaction::ConflictableTransactionError;

use super::{EntryState, Outbox, OutboxEntry, OUTBOX_TREE};
use crate::pipeline::{decode, encode, from_transaction, load_tx, store_tx, PipelineError};
use crate::stats::{MessageOutcome, Stats};

/// Tree of held entries, keyed by [`user_prefix`] then big-endian id.
pub const HELD_TREE: &str = "pipeline.held";

/// What [`Outbox::hold`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// Held for the first time, and counted.
    First,
    /// Held again after a release found the window closed; counted already.
    Again,
    /// No longer ready: another send claimed or settled it, so it was left alone.
    SettledElsewhere,
}

/// The key prefix of one user's held entries: the openid's length, then the openid, so
/// no user's prefix is the start of another's.
fn user_prefix(openid: &str) -> Vec<u8> {
    let length = u32::try_from(openid.len()).unwrap_or(u32::MAX);
    let mut key = Vec::with_capacity(4 + openid.len() + 8);
    key.extend_from_slice(&length.to_be_bytes());
    key.extend_from_slice(openid.as_bytes());
    key
}

pub(super) fn held_key(entry: &OutboxEntry) -> Vec<u8> {
    let mut key = user_prefix(entry.outgoing.openid());
    key.extend_from_slice(&entry.id.to_be_bytes());
    key
}

impl Outbox {
    /// Moves a ready entry to the held tree and counts it held for its rule, once per
    /// entry, atomically. The time it was first held is kept across releases, so
    /// `hold_max_secs` runs from then and a message never waits longer in total.
    pub fn hold(
        &self,
        entry: &OutboxEntry,
        stats: &Stats,
        now_ms: i64,
    ) -> Result<Holding, PipelineError> {
        let key = entry.id.to_be_bytes();
        let since_ms = entry.held_since_ms.unwrap_or(now_ms);
        let mut held = entry.clone();
        held.state = EntryState::Held { since_ms };
        held.held_since_ms = Some(since_ms);
        let value = encode(HELD_TREE, &held)?;
        let held_key = held_key(entry);
        let holding = match entry.held_since_ms {
            None => Holding::First,
            Some(_) => Holding::Again,
        };

        let result = sled::Transactional::transaction(
            &(&self.entries, &self.held, stats.counters_tree()),
            |(entries, held_tree, counters)| {
                let current: Option<OutboxEntry> = load_tx(entries, OUTBOX_TREE, &key)?;
                if current.is_none_or(|current| current.state != EntryState::Ready) {
                    return Ok(Holding::SettledElsewhere);
                }
                entries.remove(&key)?;
                held_tree.insert(held_key.as_slice(), value.clone())?;
                if holding == Holding::First {
                    let now = now_ms / 1000;
                    stats.record_outcome_tx(counters, &entry.rule, MessageOutcome::Held, now)?;
                }
                Ok::<_, ConflictableTransactionError<PipelineError>>(holding)
            },
        );
        result.map_err(from_transaction)
    }

    /// Makes the user's held entries ready to send now, after their window opened; how
    /// many it released.
    pub fn release_held(&self, openid: &str, now_ms: i64) -> Result<usize, PipelineError> {
        let mut released = 0;
        for item in self.held.scan_prefix(user_prefix(openid)) {
            let (_, value) = item?;
            let entry: OutboxEntry = decode(HELD_TREE, &value)?;
            if self.release(&entry, now_ms)? {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Moves one held entry back to the outbox, ready at `now_ms`; whether it was
    /// still held. The entry moved is the one stored, not the caller's copy, which a
    /// hold made since may have changed.
    pub fn release(&self, held: &OutboxEntry, now_ms: i64) -> Result<bool, PipelineError> {
        let held_key = held_key(held);
        let key = held.id.to_be_bytes();
        let result = sled::Transactional::transaction(
            &(&self.entries, &self.held),
            |(entries, held_tree)| {
                let stored: Option<OutboxEntry> = load_tx(held_tree, HELD_TREE, &held_key)?;
                let Some(mut ready) = stored else {
                    return Ok(false);
                };
                held_tree.remove(held_key.as_slice())?;
                ready.state = EntryState::Ready;
                ready.not_before_ms = now_ms;
                store_tx(entries, OUTBOX_TREE, &key, &ready)?;
                Ok::<_, ConflictableTransactionError<PipelineError>>(true)
            },
        );
        result.map_err(from_transaction)
    }

    /// Every held entry, grouped by user.
    pub fn held(&self) -> impl Iterator<Item = Result<OutboxEntry, PipelineError>> + '_ {
        self.held
            .iter()
            .values()
            .map(|value| decode(HELD_TREE, &value?))
    }

    /// How many entries are held.
    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    /// Moves entries a store written by an earlier version held in the outbox tree to
    /// the held tree, keeping their state; how many it moved.
    pub fn migrate_held(&self) -> Result<usize, PipelineError> {
        let mut moved = 0;
        for item in self.entries.iter() {
            let (key, value) = item?;
            let entry: OutboxEntry = decode(OUTBOX_TREE, &value)?;
            let EntryState::Held { since_ms } = entry.state else {
                continue;
            };
            let mut held = entry.clone();
            held.held_since_ms = Some(since_ms);
            let encoded = encode(HELD_TREE, &held)?;
            let held_key = held_key(&entry);
            let result = sled::Transactional::transaction(
                &(&self.entries, &self.held),
                |(entries, held_tree)| {
                    if entries.remove(&key)?.is_some() {
                        held_tree.insert(held_key.as_slice(), encoded.clone())?;
                    }
                    Ok::<_, ConflictableTransactionError<PipelineError>>(())
                },
            );
            result.map_err(from_transaction)?;
            moved += 1;
        }
        Ok(moved)
    }
}
