//! The last few activated rule sets, kept in sled by revision, and the rollback that
//! writes one back into the rules directory so that disk and active set agree.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::loader::rule_name;
use super::set::RuleSet;

/// The sled tree holding kept revisions, keyed by activation order.
pub const REVISIONS_TREE: &str = "rules.revisions";

/// One kept revision: every rule's source by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRevision {
    pub revision: String,
    /// When it was last activated, unix seconds.
    pub activated_at: i64,
    pub files: BTreeMap<String, String>,
}

/// A kept revision as listed to people: no sources, just names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionInfo {
    pub revision: String,
    pub activated_at: i64,
    pub rules: Vec<String>,
    pub active: bool,
}

/// The activation history of rule sets, newest last, without repeats.
#[derive(Debug, Clone)]
pub(crate) struct RevisionStore {
    tree: sled::Tree,
    keep: usize,
}

impl RevisionStore {
    pub(crate) fn new(tree: sled::Tree, keep: usize) -> Self {
        RevisionStore { tree, keep }
    }

    /// Records `set` as the newest activation, unless it already is; an older entry of the
    /// same revision moves to the front, so "previous" means the one active before.
    pub(crate) fn save(&self, set: &RuleSet) -> Result<(), sled::Error> {
        let kept = self.list()?;
        if kept
            .first()
            .is_some_and(|newest| newest.1.revision == set.revision)
        {
            return Ok(());
        }
        for (key, stored) in &kept {
            if stored.revision == set.revision {
                self.tree.remove(key)?;
            }
        }

        let next = kept.first().map_or(0, |(key, _)| decode_key(key) + 1);
        let stored = StoredRevision {
            revision: set.revision.clone(),
            activated_at: set.loaded_at,
            files: set.sources(),
        };
        // Serialising strings and integers to JSON cannot fail.
        let bytes = serde_json::to_vec(&stored).unwrap_or_default();
        self.tree.insert(next.to_be_bytes(), bytes)?;

        while self.tree.len() > self.keep.max(1) {
            self.tree.pop_min()?;
        }
        self.tree.flush()?;
        Ok(())
    }

    /// Kept revisions, newest first.
    pub(crate) fn list(&self) -> Result<Vec<(sled::IVec, StoredRevision)>, sled::Error> {
        let mut kept = Vec::new();
        for entry in self.tree.iter().rev() {
            let (key, bytes) = entry?;
            match serde_json::from_slice(&bytes) {
                Ok(stored) => kept.push((key, stored)),
                Err(err) => tracing::warn!(error = %err, "skipping an unreadable rule revision"),
            }
        }
        Ok(kept)
    }

    /// The revision named by `wanted` (a unique prefix is enough), or the one activated
    /// before `active` when `wanted` is `None`.
    pub(crate) fn find(
        &self,
        wanted: Option<&str>,
        active: &str,
    ) -> Result<Option<StoredRevision>, sled::Error> {
        let kept = self.list()?.into_iter().map(|(_, stored)| stored);
        let found = match wanted {
            Some(wanted) => {
                let matching: Vec<_> = kept.filter(|s| s.revision.starts_with(wanted)).collect();
                if matching.len() == 1 {
                    matching.into_iter().next()
                } else {
                    None
                }
            }
            None => kept.skip_while(|s| s.revision != active).nth(1),
        };
        Ok(found)
    }
}

fn decode_key(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    if key.len() == 8 {
        bytes.copy_from_slice(key);
    }
    u64::from_be_bytes(bytes)
}

/// Makes `dir` hold exactly `files`: each written to a hidden temp file and renamed over
/// its rule file (never half-written), then rule files not in `files` removed.
pub(crate) fn write_files(dir: &Path, files: &BTreeMap<String, String>) -> io::Result<()> {
    for (name, source) in files {
        let temp = dir.join(format!(".{name}.rhai.tmp"));
        std::fs::write(&temp, source)?;
        std::fs::rename(&temp, dir.join(format!("{name}.rhai")))?;
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if rule_name(&path).is_some_and(|name| !files.contains_key(&name)) {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}
