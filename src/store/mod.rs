//! Durable state in sled: the inbox of accepted events with its dedup keys, and the
//! database every other part opens its own trees in.
//!
//! Tree names are prefixed by their owner: `inbox`, `inbox.seen`, `inbox.seen_by_time`
//! here; `api.*` for the API client, `rules.*` for rule memory, history and revisions.

mod commit;
mod failure;
pub mod inbox;

use std::path::Path;
use std::sync::Arc;

pub use commit::GroupCommit;
pub use failure::Failure;
pub use inbox::{Enqueued, InboxRecord};

/// What went wrong with the store. Callers answer WeChat with 500, so it retries.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to open the store at {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error("store failure: {0}")]
    Sled(#[from] sled::Error),
    #[error("failed to make the store durable: {0}")]
    Flush(String),
    #[error(
        "the store failed earlier and refuses writes until cardbot restarts: {0}; \
         check that the disk has room and is writable"
    )]
    Failed(String),
    #[error("corrupt record in tree {tree}: {message}")]
    Corrupt { tree: &'static str, message: String },
}

/// The sled database and the trees of the inbox.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    inbox: sled::Tree,
    seen: sled::Tree,
    seen_by_time: sled::Tree,
    commit: GroupCommit,
    failure: Failure,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store at `path` and starts its group committer.
    ///
    /// Must be called inside a tokio runtime: the committer is a task.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        Store::from_db(db)
    }

    /// Wraps an already open database.
    pub fn from_db(db: sled::Db) -> Result<Store, StoreError> {
        let failure = Failure::default();
        let inner = Inner {
            inbox: db.open_tree("inbox")?,
            seen: db.open_tree("inbox.seen")?,
            seen_by_time: db.open_tree("inbox.seen_by_time")?,
            commit: GroupCommit::start(db.clone(), failure.clone()),
            failure,
            db,
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// The database, for the parts that keep trees of their own.
    pub fn db(&self) -> &sled::Db {
        &self.inner.db
    }

    /// Waits until everything written so far is on disk, sharing one flush with every
    /// other caller waiting at the same time.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.inner.commit.wait().await
    }

    /// Why the store failed, if it did: after an I/O error sled refuses every write
    /// until the process restarts.
    pub fn failure(&self) -> Option<String> {
        self.inner.failure.reason()
    }

    /// Resolves once the store has failed, with the reason; `cardbot serve` exits then,
    /// so that its supervisor restarts it on a fresh handle.
    pub async fn failed(&self) -> String {
        self.inner.failure.wait().await
    }

    /// Marks the store failed when `err` leaves sled unable to write.
    fn note(&self, err: StoreError) -> StoreError {
        match &err {
            StoreError::Sled(sled_err) if failure::is_fatal(sled_err) => {
                self.inner.failure.record(&err.to_string());
            }
            StoreError::Flush(_) => self.inner.failure.record(&err.to_string()),
            _ => {}
        }
        err
    }

    /// Flushes everything now; used at shutdown.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.db.flush()?;
        Ok(())
    }
}
