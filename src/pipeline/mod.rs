//! The delivery policy of the processing stage: who may be sent what and when, what the
//! user holds, and what was decided per event. Each part owns a `pipeline.*` sled tree.
//!
//! Every write has a `*_tx` variant over a [`TransactionalTree`], generic over the
//! caller's error type, so a worker can update these trees in the same sled transaction
//! that removes an event from the inbox.

pub mod decision_log;
pub mod dispatcher;
pub mod held_cards;
pub mod lookups;
mod message;
pub mod outbox;
pub mod pressure;
mod rate;
pub mod replies;
pub mod window;
pub mod worker;

#[cfg(test)]
mod testing;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};

pub use decision_log::{DecisionEntry, DecisionLog, NewDecision};
pub use held_cards::{CardSource, CardSync, HeldCard, HeldCards};
pub use pressure::{Pressure, PressurePolicy, SuppressReason, Verdict};
pub use window::{CloseReason, WindowStatus, Windows};

/// What went wrong in a pipeline tree.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("store failure: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt record in tree {tree}: {message}; remove the key or restore a backup")]
    Corrupt { tree: &'static str, message: String },
}

/// Runs `body` as a transaction over one tree, turning sled's error into ours.
fn run_tx<T>(
    tree: &sled::Tree,
    body: impl Fn(&TransactionalTree) -> ConflictableTransactionResult<T, PipelineError>,
) -> Result<T, PipelineError> {
    tree.transaction(body).map_err(from_transaction)
}

/// sled's transaction error as ours.
fn from_transaction(err: TransactionError<PipelineError>) -> PipelineError {
    match err {
        TransactionError::Abort(err) => err,
        TransactionError::Storage(err) => PipelineError::Sled(err),
    }
}

/// Reads and decodes a JSON record inside a transaction; a bad record aborts it.
fn load_tx<T, E>(
    tx: &TransactionalTree,
    tree: &'static str,
    key: &[u8],
) -> ConflictableTransactionResult<Option<T>, E>
where
    T: DeserializeOwned,
    E: From<PipelineError>,
{
    match tx.get(key)? {
        None => Ok(None),
        Some(bytes) => decode(tree, &bytes)
            .map(Some)
            .map_err(|err| ConflictableTransactionError::Abort(E::from(err))),
    }
}

/// Encodes and writes a JSON record inside a transaction.
fn store_tx<T, E>(
    tx: &TransactionalTree,
    tree: &'static str,
    key: &[u8],
    value: &T,
) -> ConflictableTransactionResult<(), E>
where
    T: Serialize,
    E: From<PipelineError>,
{
    let bytes =
        encode(tree, value).map_err(|err| ConflictableTransactionError::Abort(E::from(err)))?;
    tx.insert(key, bytes)?;
    Ok(())
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, PipelineError> {
    serde_json::from_slice(bytes).map_err(|err| PipelineError::Corrupt {
        tree,
        message: err.to_string(),
    })
}

fn encode<T: Serialize>(tree: &'static str, value: &T) -> Result<Vec<u8>, PipelineError> {
    serde_json::to_vec(value).map_err(|err| PipelineError::Corrupt {
        tree,
        message: format!("failed to encode: {err}"),
    })
}
