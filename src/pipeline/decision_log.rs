//! The decision log: per event, what the rules decided and why, and later what became
//! of each message, readable per user newest first.
//!
//! Tree `pipeline.decisions`: `"u" 0 openid 0 id` → the entry as JSON, and `"i" id` →
//! `created_at` (8 bytes) + openid, ids big-endian so sled's order is their order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use super::{load_tx, run_tx, store_tx, PipelineError};

/// The sled tree of this module.
pub const TREE: &str = "pipeline.decisions";

/// What the worker knows when it logs a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDecision {
    pub openid: String,
    /// The event's kind (`user_get_card`, `text`, ...).
    pub event_kind: String,
    /// The event's id in the inbox.
    pub inbox_id: u64,
    /// The revision of the rule set that decided.
    pub revision: String,
    /// Unix seconds.
    pub created_at: i64,
    /// What was decided: actions, suppressions with their reasons, rule errors.
    pub payload: Value,
}

/// One logged decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionEntry {
    pub id: u64,
    pub openid: String,
    pub event_kind: String,
    pub inbox_id: u64,
    pub revision: String,
    pub created_at: i64,
    pub payload: Value,
    /// What became of each message, by its index among the decision's messages.
    pub outcomes: BTreeMap<u32, Value>,
}

/// The log of every decision, with per-user reads and bounded retention.
#[derive(Debug, Clone)]
pub struct DecisionLog {
    tree: sled::Tree,
}

impl DecisionLog {
    /// Opens the `pipeline.decisions` tree.
    pub fn open(db: &sled::Db) -> Result<DecisionLog, PipelineError> {
        Ok(DecisionLog {
            tree: db.open_tree(TREE)?,
        })
    }

    /// The tree, to include in a multi-tree transaction with the `*_tx` methods.
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Logs a decision; returns its id.
    pub fn append(&self, decision: &NewDecision) -> Result<u64, PipelineError> {
        run_tx(&self.tree, |tx| self.append_tx(tx, decision))
    }

    /// [`DecisionLog::append`] inside the caller's transaction.
    pub fn append_tx<E: From<PipelineError>>(
        &self,
        tx: &TransactionalTree,
        decision: &NewDecision,
    ) -> ConflictableTransactionResult<u64, E> {
        let id = tx.generate_id()?;
        let entry = DecisionEntry {
            id,
            openid: decision.openid.clone(),
            event_kind: decision.event_kind.clone(),
            inbox_id: decision.inbox_id,
            revision: decision.revision.clone(),
            created_at: decision.created_at,
            payload: decision.payload.clone(),
            outcomes: BTreeMap::new(),
        };

        store_tx(tx, TREE, &entry_key(&entry.openid, id), &entry)?;
        let index = [
            &decision.created_at.to_be_bytes()[..],
            decision.openid.as_bytes(),
        ]
        .concat();
        tx.insert(index_key(id), index)?;
        Ok(id)
    }

    /// One entry by id.
    pub fn get(&self, id: u64) -> Result<Option<DecisionEntry>, PipelineError> {
        run_tx(&self.tree, |tx| {
            let Some(openid) = openid_tx(tx, id)? else {
                return Ok(None);
            };
            load_tx(tx, TREE, &entry_key(&openid, id))
        })
    }

    /// The user's newest `limit` entries, newest first.
    pub fn by_openid(
        &self,
        openid: &str,
        limit: usize,
    ) -> Result<Vec<DecisionEntry>, PipelineError> {
        let prefix = user_prefix(openid);
        self.tree
            .scan_prefix(prefix)
            .values()
            .rev()
            .take(limit)
            .map(|value| super::decode(TREE, &value?))
            .collect()
    }

    /// Records what became of message `message_index` of decision `id`; `false` if the
    /// entry is gone (pruned).
    pub fn update_outcome(
        &self,
        id: u64,
        message_index: u32,
        outcome: &Value,
    ) -> Result<bool, PipelineError> {
        run_tx(&self.tree, |tx| {
            self.update_outcome_tx(tx, id, message_index, outcome)
        })
    }

    /// [`DecisionLog::update_outcome`] inside the caller's transaction.
    pub fn update_outcome_tx<E: From<PipelineError>>(
        &self,
        tx: &TransactionalTree,
        id: u64,
        message_index: u32,
        outcome: &Value,
    ) -> ConflictableTransactionResult<bool, E> {
        let Some(openid) = openid_tx(tx, id)? else {
            return Ok(false);
        };
        let key = entry_key(&openid, id);
        let Some(mut entry) = load_tx::<DecisionEntry, E>(tx, TREE, &key)? else {
            return Ok(false);
        };

        entry.outcomes.insert(message_index, outcome.clone());

        store_tx(tx, TREE, &key, &entry)?;
        Ok(true)
    }

    /// Removes entries older than `max_age_secs` before `now`, then all but each user's
    /// newest `max_per_user`; returns how many entries went.
    pub fn prune(
        &self,
        now: i64,
        max_age_secs: u64,
        max_per_user: usize,
    ) -> Result<usize, PipelineError> {
        let oldest_kept = now.saturating_sub(i64::try_from(max_age_secs).unwrap_or(i64::MAX));
        let mut batch = sled::Batch::default();
        let mut removed = 0;

        for item in self.tree.scan_prefix(b"i") {
            let (key, value) = item?;
            let (id, created_at, openid) = decode_index(&key, &value)?;
            if created_at < oldest_kept {
                batch.remove(key);
                batch.remove(entry_key(&openid, id));
                removed += 1;
            }
        }
        self.tree.apply_batch(batch)?;

        removed += self.trim_users(max_per_user)?;
        Ok(removed)
    }

    /// Keeps each user's newest `max_per_user` entries.
    fn trim_users(&self, max_per_user: usize) -> Result<usize, PipelineError> {
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        let mut group: Vec<sled::IVec> = Vec::new();
        let mut flush = |group: &mut Vec<sled::IVec>, batch: &mut sled::Batch| {
            let excess = group.len().saturating_sub(max_per_user);
            for key in group.drain(..).take(excess) {
                let id_bytes = &key[key.len() - 8..];
                batch.remove([&b"i"[..], id_bytes].concat());
                batch.remove(key);
                removed += 1;
            }
        };

        for key in self.tree.scan_prefix(b"u\0").keys() {
            let key = key?;
            let same_user = group.last().is_some_and(|last| same_owner(last, &key));
            if !same_user {
                flush(&mut group, &mut batch);
            }
            group.push(key);
        }
        flush(&mut group, &mut batch);

        self.tree.apply_batch(batch)?;
        Ok(removed)
    }
}

fn openid_tx<E: From<PipelineError>>(
    tx: &TransactionalTree,
    id: u64,
) -> ConflictableTransactionResult<Option<String>, E> {
    let Some(value) = tx.get(index_key(id))? else {
        return Ok(None);
    };
    let openid = value
        .get(8..)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
    Ok(openid)
}

fn decode_index(key: &[u8], value: &[u8]) -> Result<(u64, i64, String), PipelineError> {
    let corrupt = || PipelineError::Corrupt {
        tree: TREE,
        message: "index entry shorter than 8 bytes".to_string(),
    };
    let id = key
        .get(1..9)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(corrupt)?;
    let created_at = value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(corrupt)?;
    let openid = String::from_utf8_lossy(&value[8..]).into_owned();
    Ok((
        u64::from_be_bytes(id),
        i64::from_be_bytes(created_at),
        openid,
    ))
}

/// Two entry keys belong to the same user when all but their 8-byte ids match.
fn same_owner(a: &[u8], b: &[u8]) -> bool {
    a.len() >= 8 && b.len() >= 8 && a[..a.len() - 8] == b[..b.len() - 8]
}

fn user_prefix(openid: &str) -> Vec<u8> {
    [b"u\0", openid.as_bytes(), b"\0"].concat()
}

fn entry_key(openid: &str, id: u64) -> Vec<u8> {
    [user_prefix(openid), id.to_be_bytes().to_vec()].concat()
}

fn index_key(id: u64) -> Vec<u8> {
    [&b"i"[..], &id.to_be_bytes()].concat()
}

#[cfg(test)]
#[path = "decision_log_tests.rs"]
mod tests;
