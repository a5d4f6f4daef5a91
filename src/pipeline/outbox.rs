//! The outbox: messages the rules chose, kept durably until WeChat accepted them, and
//! the dead letters of those it refused.
//!
//! An entry is marked `Sending` (durably) before its request leaves, so a crash during
//! a send is found at restart as an unknown outcome instead of being sent twice. Each
//! outcome is counted for the rule's statistics in the write that records it.

use serde::{Deserialize, Serialize};
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionalTree,
};

use super::{decode, encode, from_transaction, store_tx, PipelineError};
use crate::api::{CustomMessage, TemplateMessage};
use crate::stats::{MessageOutcome, Stats};

/// Tree of pending entries, keyed by big-endian id (so in creation order).
pub const OUTBOX_TREE: &str = "pipeline.outbox";
/// Tree of entries that will not be sent, keyed by big-endian id.
pub const DEAD_LETTER_TREE: &str = "pipeline.dead_letters";

pub use crate::rules::WhenClosed;
pub use hold::{Holding, HELD_TREE};

#[path = "outbox_hold.rs"]
mod hold;

/// The request an entry sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Outgoing {
    /// `message/custom/send`: needs an open customer-service window.
    Custom { message: CustomMessage },
    /// `message/template/send`: works without a window.
    Template { message: TemplateMessage },
}

impl Outgoing {
    /// The recipient.
    pub fn openid(&self) -> &str {
        match self {
            Outgoing::Custom { message } => &message.touser,
            Outgoing::Template { message } => &message.touser,
        }
    }

    /// The card a `wxcard` message hands out, for logs.
    pub fn card_id(&self) -> Option<&str> {
        match self {
            Outgoing::Custom { message } => message.card_id(),
            Outgoing::Template { .. } => None,
        }
    }

    /// A short name of the message type, for logs and statistics.
    pub fn kind(&self) -> &'static str {
        match self {
            Outgoing::Custom { message } => message.msgtype(),
            Outgoing::Template { .. } => "template",
        }
    }
}

/// Where an entry stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EntryState {
    /// To be sent once `not_before_ms` has passed.
    Ready,
    /// Waiting, in the held tree, for the user to open a customer-service window; since
    /// it was first held.
    Held { since_ms: i64 },
    /// Its request may have left; found so at restart, the outcome is unknown.
    Sending,
}

/// One message on its way to WeChat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: u64,
    /// The rule that chose it.
    pub rule: String,
    /// The decision log entry it belongs to, and its position there.
    pub decision_id: u64,
    pub message_index: u32,
    pub outgoing: Outgoing,
    /// Sent instead when the window is closed and `when_closed` is `Template`.
    pub fallback: Option<TemplateMessage>,
    pub when_closed: WhenClosed,
    pub state: EntryState,
    pub attempts: u32,
    pub not_before_ms: i64,
    pub created_at_ms: i64,
    pub last_error: Option<String>,
    /// The type of the event that led to it, for the log line of its sending.
    #[serde(default)]
    pub event_kind: String,
    /// The card of that event, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_card_id: Option<String>,
    /// When it was first held for a window, kept when it is released: it is counted
    /// held once, and `hold_max_secs` runs from then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since_ms: Option<i64>,
}

/// Why an entry was given up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadReason {
    /// WeChat refused it for good.
    Refused,
    /// WeChat refused it because of the account's configuration; a person must act.
    Configuration,
    /// Passing failures went on past `dispatcher.max_attempts`.
    RetriesExhausted,
    /// The request may have reached WeChat; not resent, so the user never gets it twice.
    UnknownOutcome,
    /// No window opened within `dispatcher.hold_max_secs`, or no fallback applied.
    WindowClosed,
    /// Contact pressure: a cap was reached.
    Suppressed,
}

/// An entry that will not be sent, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub entry: OutboxEntry,
    pub reason: DeadReason,
    pub errcode: Option<i64>,
    pub detail: String,
    pub at_ms: i64,
}

/// The outbox, held and dead letter trees.
#[derive(Debug, Clone)]
pub struct Outbox {
    entries: sled::Tree,
    held: sled::Tree,
    dead: sled::Tree,
}

impl Outbox {
    /// Opens the trees in `db`.
    pub fn open(db: &sled::Db) -> Result<Outbox, PipelineError> {
        Ok(Outbox {
            entries: db.open_tree(OUTBOX_TREE)?,
            held: db.open_tree(HELD_TREE)?,
            dead: db.open_tree(DEAD_LETTER_TREE)?,
        })
    }

    /// The tree of entries to send (not the held ones), for a transaction of the
    /// caller's and the dispatcher's scan.
    pub fn tree(&self) -> &sled::Tree {
        &self.entries
    }

    /// The dead letter tree.
    pub fn dead_tree(&self) -> &sled::Tree {
        &self.dead
    }

    /// Adds an entry inside the caller's transaction.
    pub fn insert_tx<E: From<PipelineError>>(
        tx: &TransactionalTree,
        entry: &OutboxEntry,
    ) -> ConflictableTransactionResult<(), E> {
        store_tx(tx, OUTBOX_TREE, &entry.id.to_be_bytes(), entry)
    }

    /// Writes an entry's new state.
    pub fn put(&self, entry: &OutboxEntry) -> Result<(), PipelineError> {
        self.entries
            .insert(entry.id.to_be_bytes(), encode(OUTBOX_TREE, entry)?)?;
        Ok(())
    }

    /// The entry with `id`, if it is still to be sent (held entries are not).
    pub fn get(&self, id: u64) -> Result<Option<OutboxEntry>, PipelineError> {
        self.entries
            .get(id.to_be_bytes())?
            .map(|value| decode(OUTBOX_TREE, &value))
            .transpose()
    }

    /// Replaces `current` with `next` only if the stored entry is still exactly
    /// `current`: two scans that both saw an entry cannot both claim it.
    pub fn swap(&self, current: &OutboxEntry, next: &OutboxEntry) -> Result<bool, PipelineError> {
        let key = current.id.to_be_bytes();
        let (old, new) = (encode(OUTBOX_TREE, current)?, encode(OUTBOX_TREE, next)?);
        Ok(self
            .entries
            .compare_and_swap(key, Some(old), Some(new))?
            .is_ok())
    }

    /// Removes a delivered entry.
    pub fn remove(&self, id: u64) -> Result<(), PipelineError> {
        self.entries.remove(id.to_be_bytes())?;
        Ok(())
    }

    /// Removes a delivered entry and counts it as sent for its rule, atomically: an
    /// entry already gone (settled elsewhere) is not counted again.
    pub fn remove_sent(
        &self,
        entry: &OutboxEntry,
        stats: &Stats,
        now: i64,
    ) -> Result<(), PipelineError> {
        let key = entry.id.to_be_bytes();
        let result = sled::Transactional::transaction(
            &(&self.entries, stats.counters_tree()),
            |(entries, counters)| {
                if entries.remove(&key)?.is_some() {
                    stats.record_outcome_tx(counters, &entry.rule, MessageOutcome::Sent, now)?;
                }
                Ok::<_, ConflictableTransactionError<PipelineError>>(())
            },
        );
        result.map_err(from_transaction)
    }

    /// Moves an entry, ready or held, to the dead letters and counts `outcome` for its
    /// rule, atomically; whether it did. An entry no longer where its state puts it was
    /// settled or released elsewhere, so it is neither buried nor counted again.
    pub fn bury(
        &self,
        letter: &DeadLetter,
        stats: &Stats,
        outcome: MessageOutcome,
    ) -> Result<bool, PipelineError> {
        let (pending, key) = match letter.entry.state {
            EntryState::Held { .. } => (&self.held, hold::held_key(&letter.entry)),
            _ => (&self.entries, letter.entry.id.to_be_bytes().to_vec()),
        };
        let dead_key = letter.entry.id.to_be_bytes();
        let value = encode(DEAD_LETTER_TREE, letter)?;
        let now = letter.at_ms / 1000;
        let result = sled::Transactional::transaction(
            &(pending, &self.dead, stats.counters_tree()),
            |(pending, dead, counters)| {
                if pending.remove(key.as_slice())?.is_none() {
                    return Ok(false);
                }
                stats.record_outcome_tx(counters, &letter.entry.rule, outcome, now)?;
                dead.insert(&dead_key, value.clone())?;
                Ok::<_, ConflictableTransactionError<PipelineError>>(true)
            },
        );
        result.map_err(from_transaction)
    }

    /// Takes a dead letter back into the outbox as a fresh entry, ready now; `None`
    /// when there is no such letter, or another retry took it first.
    pub fn revive(&self, id: u64, now_ms: i64) -> Result<Option<OutboxEntry>, PipelineError> {
        let key = id.to_be_bytes();
        let Some(value) = self.dead.get(key)? else {
            return Ok(None);
        };
        let letter: DeadLetter = decode(DEAD_LETTER_TREE, &value)?;

        let mut entry = letter.entry;
        entry.state = EntryState::Ready;
        entry.attempts = 0;
        entry.not_before_ms = now_ms;
        entry.held_since_ms = None;
        let encoded = encode(OUTBOX_TREE, &entry)?;
        let result =
            sled::Transactional::transaction(&(&self.entries, &self.dead), |(entries, dead)| {
                if dead.remove(&key)?.is_none() {
                    return Ok(false);
                }
                entries.insert(&key, encoded.clone())?;
                Ok::<_, ConflictableTransactionError<PipelineError>>(true)
            });
        let revived = result.map_err(from_transaction)?;
        Ok(revived.then_some(entry))
    }

    /// Every pending entry, held ones included, oldest first.
    pub fn entries(&self) -> Result<Vec<OutboxEntry>, PipelineError> {
        let mut entries = Vec::new();
        for value in self.entries.iter().values() {
            entries.push(decode(OUTBOX_TREE, &value?)?);
        }
        for entry in self.held() {
            entries.push(entry?);
        }
        entries.sort_by_key(|entry| entry.id);
        Ok(entries)
    }

    /// Dead letters, newest first, at most `limit`.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, PipelineError> {
        let mut letters = Vec::new();
        for item in self.dead.iter().rev().take(limit) {
            let (_, value) = item?;
            letters.push(decode(DEAD_LETTER_TREE, &value)?);
        }
        Ok(letters)
    }

    /// How many entries wait, held ones included.
    pub fn len(&self) -> usize {
        self.entries.len() + self.held.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.held.is_empty()
    }

    /// How many dead letters there are.
    pub fn dead_len(&self) -> usize {
        self.dead.len()
    }
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
