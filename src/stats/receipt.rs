//! Receipts: which channel a code was received from, when, and how far along the
//! funnel it went, so later views and redemptions count for the right channel and
//! each funnel stage counts once per code.

use serde::{Deserialize, Serialize};
use sled::transaction::{TransactionalTree, UnabortableTransactionError};

use super::StatsError;

/// One received code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The channel key it counts under.
    pub channel: String,
    /// When it was received, unix seconds.
    pub at: i64,
    /// Whether a friend gave it.
    pub gift: bool,
    /// Whether it was viewed or its chat entered since.
    pub engaged: bool,
    /// Whether it was redeemed since.
    pub redeemed: bool,
}

/// The key of the receipt of `code` of `card`.
pub fn receipt_key(card: &str, code: &str) -> Vec<u8> {
    let mut key = card.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(code.as_bytes());
    key
}

/// The receipt under `key`; a record that does not decode counts as none, so a damaged
/// receipt costs one attribution, never the handling of an event.
pub fn get_tx(
    tx: &TransactionalTree,
    key: &[u8],
) -> Result<Option<Receipt>, UnabortableTransactionError> {
    let Some(bytes) = tx.get(key)? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(receipt) => Ok(Some(receipt)),
        Err(err) => {
            tracing::warn!(error = %err, "damaged statistics receipt ignored");
            Ok(None)
        }
    }
}

/// Writes a receipt.
pub fn put_tx(
    tx: &TransactionalTree,
    key: &[u8],
    receipt: &Receipt,
) -> Result<(), UnabortableTransactionError> {
    // Serialising a struct of strings, numbers and flags cannot fail.
    let bytes = serde_json::to_vec(receipt).unwrap_or_default();
    tx.insert(key, bytes)?;
    Ok(())
}

/// Removes receipts received before `cutoff` (unix seconds).
pub fn prune(tree: &sled::Tree, cutoff: i64) -> Result<usize, StatsError> {
    let mut removed = 0;
    for item in tree.iter() {
        let (key, value) = item?;
        let old = serde_json::from_slice::<Receipt>(&value).map_or(true, |r| r.at < cutoff);
        if old {
            tree.remove(key)?;
            removed += 1;
        }
    }
    Ok(removed)
}
