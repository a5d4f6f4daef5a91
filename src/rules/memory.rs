//! What rules remember about a user (`remember`, `recall`, `once_per`): writes are
//! collected as effects during evaluation and persisted by the worker's transaction.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sled::transaction::{TransactionalTree, UnabortableTransactionError};

/// The sled tree holding rule memory.
pub const MEMORY_TREE: &str = "rules.memory";

/// One write a rule made, applied only if the rule finished without error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MemoryEffect {
    /// `remember(openid, key, value)`; a `null` value forgets the key.
    Remember {
        rule: String,
        openid: String,
        key: String,
        value: Value,
    },
    /// `once_per(openid, key, seconds)` answered true at `at` (unix seconds).
    Once {
        rule: String,
        openid: String,
        key: String,
        at: i64,
    },
}

impl MemoryEffect {
    /// The sled key this effect writes.
    fn storage_key(&self) -> Vec<u8> {
        match self {
            MemoryEffect::Remember { openid, key, .. } => value_key(openid, key),
            MemoryEffect::Once { openid, key, .. } => once_key(openid, key),
        }
    }

    /// The stored JSON, or `None` to delete.
    fn stored_value(&self) -> Option<Value> {
        match self {
            MemoryEffect::Remember { value, .. } if value.is_null() => None,
            MemoryEffect::Remember { value, .. } => Some(value.clone()),
            MemoryEffect::Once { at, .. } => Some(Value::from(*at)),
        }
    }
}

/// `<openid> 0x00 'v' 0x00 <key>`: values of `remember`, grouped by user.
pub(crate) fn value_key(openid: &str, key: &str) -> Vec<u8> {
    scoped_key(openid, b'v', key)
}

/// `<openid> 0x00 'o' 0x00 <key>`: the last time a `once_per` answered true.
pub(crate) fn once_key(openid: &str, key: &str) -> Vec<u8> {
    scoped_key(openid, b'o', key)
}

fn scoped_key(openid: &str, kind: u8, key: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(openid.len() + key.len() + 3);
    bytes.extend_from_slice(openid.as_bytes());
    bytes.extend_from_slice(&[0, kind, 0]);
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

/// Reads a stored value; an unreadable one (written by a newer version) reads as unset.
pub(crate) fn read(tree: &sled::Tree, key: &[u8]) -> Result<Option<Value>, sled::Error> {
    let Some(bytes) = tree.get(key)? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(value) => Ok(Some(value)),
        Err(err) => {
            tracing::warn!(error = %err, "unreadable rule memory value, treated as unset");
            Ok(None)
        }
    }
}

/// Persists a decision's memory effects inside the caller's sled transaction on
/// [`MEMORY_TREE`], so they land together with the outbox write or not at all.
pub fn apply(
    tree: &TransactionalTree,
    effects: &[MemoryEffect],
) -> Result<(), UnabortableTransactionError> {
    for effect in effects {
        let key = effect.storage_key();
        match effect.stored_value() {
            None => {
                tree.remove(key)?;
            }
            Some(value) => {
                // Serialising a serde_json::Value to bytes cannot fail.
                let bytes = serde_json::to_vec(&value).unwrap_or_default();
                tree.insert(key, bytes)?;
            }
        }
    }
    Ok(())
}

/// The writes of one evaluation: those of finished rules, and those of the running one,
/// read before the store so every rule reads its own and earlier rules' writes.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    committed: Vec<MemoryEffect>,
    pending: Vec<MemoryEffect>,
}

impl Overlay {
    pub(crate) fn push(&mut self, effect: MemoryEffect) {
        self.pending.push(effect);
    }

    /// The latest write to `storage_key`, if any rule of this event made one.
    pub(crate) fn latest(&self, storage_key: &[u8]) -> Option<Option<Value>> {
        let mut writes = self.committed.iter().chain(&self.pending).rev();
        let found = writes.find(|effect| effect.storage_key() == storage_key)?;
        Some(found.stored_value())
    }

    /// The running rule finished: its writes stand.
    pub(crate) fn commit(&mut self) {
        self.committed.append(&mut self.pending);
    }

    /// The running rule failed: its writes are dropped.
    pub(crate) fn discard(&mut self) {
        self.pending.clear();
    }

    pub(crate) fn into_effects(self) -> Vec<MemoryEffect> {
        self.committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sled::Transactional;

    fn remember(key: &str, value: Value) -> MemoryEffect {
        MemoryEffect::Remember {
            rule: "r".to_string(),
            openid: "oUser".to_string(),
            key: key.to_string(),
            value,
        }
    }

    #[test]
    fn applied_effects_are_read_back_and_null_forgets() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree(MEMORY_TREE).unwrap();
        let effects = vec![
            remember("channel", Value::from("store_qr")),
            remember("gone", Value::from(1)),
            remember("gone", Value::Null),
        ];

        (&tree,)
            .transaction(|(tx,)| {
                Ok::<_, sled::transaction::ConflictableTransactionError>(apply(tx, &effects)?)
            })
            .unwrap();

        let channel = read(&tree, &value_key("oUser", "channel")).unwrap();
        assert_eq!(channel, Some(Value::from("store_qr")));
        assert_eq!(read(&tree, &value_key("oUser", "gone")).unwrap(), None);
    }

    #[test]
    fn a_discarded_rule_leaves_no_writes_behind() {
        let mut overlay = Overlay::default();
        overlay.push(remember("a", Value::from(1)));
        overlay.commit();

        overlay.push(remember("b", Value::from(2)));
        overlay.discard();

        assert!(overlay.latest(&value_key("oUser", "a")).is_some());
        assert!(overlay.latest(&value_key("oUser", "b")).is_none());
        assert_eq!(overlay.into_effects().len(), 1);
    }
}
