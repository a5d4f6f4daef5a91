//! Memory and history assumed before an event, for `simulate --memory` and rule tests:
//! written into a scratch store in the same format the worker persists.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use sled::transaction::ConflictableTransactionError;

use super::history::{History, HISTORY_TREE};
use super::memory::{self, MemoryEffect, MEMORY_TREE};

/// What was wrong with assumed state.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("failed to read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid assumed state in {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("failed to write assumed state into the scratch store: {0}")]
    Store(String),
}

/// Per user: values of `remember`, last grants of `once_per`, and their history.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Seed {
    /// openid → key → value, as `recall` returns it.
    pub memory: BTreeMap<String, BTreeMap<String, Value>>,
    /// openid → key → unix seconds when `once_per` last answered true.
    pub once: BTreeMap<String, BTreeMap<String, i64>>,
    /// openid → what cardbot has seen of them (`history(openid)`); missing keys are 0.
    pub history: BTreeMap<String, Value>,
}

impl Seed {
    /// Reads a TOML (or `.json`) file of `[memory.<openid>]`, `[once.<openid>]` and
    /// `[history.<openid>]` tables.
    pub fn load(path: &Path) -> Result<Seed, SeedError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: shown.clone(),
            source,
        })?;
        let parsed = if path.extension().is_some_and(|ext| ext == "json") {
            serde_json::from_str(&text).map_err(|err| err.to_string())
        } else {
            toml::from_str(&text).map_err(|err| err.message().to_string())
        };
        let seed: Seed = parsed.map_err(|message| SeedError::Invalid {
            path: shown.clone(),
            message,
        })?;
        seed.histories().map_err(|message| SeedError::Invalid {
            path: shown,
            message,
        })?;
        Ok(seed)
    }

    /// The typed histories; an unknown key is refused so a typo does not pass silently.
    pub fn histories(&self) -> Result<BTreeMap<String, History>, String> {
        let known = serde_json::to_value(History::default()).unwrap_or_default();
        let mut typed = BTreeMap::new();
        for (openid, value) in &self.history {
            let Some(table) = value.as_object() else {
                return Err(format!("history.{openid} must be a table"));
            };
            if let Some(unknown) = table.keys().find(|key| known.get(key.as_str()).is_none()) {
                return Err(format!(
                    "history.{openid}.{unknown} is not a history key; known: first_seen, \
                     last_seen, counts, cards_received, cards_redeemed, cards_deleted, \
                     last_redeemed_at, last_card_id, channels, subscribed, last_interaction_at"
                ));
            }
            let history: History = serde_json::from_value(value.clone())
                .map_err(|err| format!("history.{openid}: {err}"))?;
            typed.insert(openid.clone(), history);
        }
        Ok(typed)
    }

    /// Writes everything into the rule trees of `db` (a scratch store, never the server's).
    pub fn apply(&self, db: &sled::Db) -> Result<(), SeedError> {
        let store = |err: sled::Error| SeedError::Store(err.to_string());
        let histories = self.histories().map_err(SeedError::Store)?;

        let mut effects = Vec::new();
        for (openid, values) in &self.memory {
            for (key, value) in values {
                effects.push(MemoryEffect::Remember {
                    rule: String::new(),
                    openid: openid.clone(),
                    key: key.clone(),
                    value: value.clone(),
                });
            }
        }
        for (openid, grants) in &self.once {
            for (key, at) in grants {
                effects.push(MemoryEffect::Once {
                    rule: String::new(),
                    openid: openid.clone(),
                    key: key.clone(),
                    at: *at,
                });
            }
        }
        let memory_tree = db.open_tree(MEMORY_TREE).map_err(store)?;
        memory_tree
            .transaction(|tx| {
                memory::apply(tx, &effects)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|err| SeedError::Store(format!("{err:?}")))?;

        let history_tree = db.open_tree(HISTORY_TREE).map_err(store)?;
        for (openid, history) in histories {
            let bytes =
                serde_json::to_vec(&history).map_err(|e| SeedError::Store(e.to_string()))?;
            history_tree
                .insert(openid.as_bytes(), bytes)
                .map_err(store)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_typo_is_refused_with_the_known_keys() {
        let seed: Seed = toml::from_str("[history.oA]\ncards_redemed = 3\n").unwrap();

        let err = seed.histories().unwrap_err();

        assert!(err.contains("history.oA.cards_redemed"), "{err}");
        assert!(err.contains("cards_redeemed"), "{err}");
    }

    #[test]
    fn assumed_state_lands_where_rules_read_it() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let text = "[memory.oA]\nchannel = \"store_qr\"\n[once.oA]\nwin_back = 5\n\
                    [history.oA]\ncards_redeemed = 3\n";
        let seed: Seed = toml::from_str(text).unwrap();

        seed.apply(&db).unwrap();

        let tree = db.open_tree(MEMORY_TREE).unwrap();
        let value = memory::read(&tree, &memory::value_key("oA", "channel")).unwrap();
        let once = memory::read(&tree, &memory::once_key("oA", "win_back")).unwrap();
        let history = super::super::history::read(&db.open_tree(HISTORY_TREE).unwrap(), "oA");
        assert_eq!(value, Some(Value::from("store_qr")));
        assert_eq!(once, Some(Value::from(5)));
        assert_eq!(history.unwrap().unwrap().cards_redeemed, 3);
    }
}
