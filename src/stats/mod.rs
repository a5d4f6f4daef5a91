//! Channel statistics: counters per card, local day and channel (or redemption source,
//! staff member, location), and per rule for message outcomes, kept as events are
//! handled, inside the very transaction that handles them, so nothing counts twice.

pub mod counters;
pub mod key;
pub mod outcome;
pub mod query;
pub mod receipt;
mod retention;
pub mod table;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate};
use chrono_tz::Tz;
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use crate::config::{ConfigError, StatsConfig};
use crate::wechat::event::Event;

pub use outcome::MessageOutcome;
pub use query::{By, ChannelStats, Report, Row, StatsQuery};

/// Tree of counters: big-endian u64 values under the keys of [`key`].
pub const COUNTERS_TREE: &str = "stats.counters";
/// Tree of receipts: `card_id 0 code` → JSON [`receipt::Receipt`].
pub const RECEIPTS_TREE: &str = "stats.receipts";

/// What went wrong reading or querying the statistics.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("store failure: {0}")]
    Sled(#[from] sled::Error),
    #[error("{0}")]
    BadQuery(String),
}

/// The statistics trees and the time zone their days are counted in.
#[derive(Debug, Clone)]
pub struct Stats {
    counters: sled::Tree,
    receipts: sled::Tree,
    time_zone: Tz,
    receipt_retention_secs: i64,
    /// When receipts were last pruned, unix seconds: a prune reads every receipt, so
    /// it runs at most once per [`RECEIPT_PRUNE_INTERVAL_SECS`].
    receipts_pruned_at: Arc<AtomicI64>,
    /// Days of counters kept, today included; 0 keeps them for ever.
    counter_retention_days: u64,
    /// When counters were last pruned, unix seconds, on the same interval.
    counters_pruned_at: Arc<AtomicI64>,
}

/// How often receipts are pruned at most, in seconds.
pub const RECEIPT_PRUNE_INTERVAL_SECS: i64 = 3600;

impl Stats {
    /// Opens the trees in `db`, validating `[stats]`.
    pub fn open(db: &sled::Db, config: &StatsConfig) -> Result<Stats, StatsOpenError> {
        Ok(Stats {
            counters: db.open_tree(COUNTERS_TREE)?,
            receipts: db.open_tree(RECEIPTS_TREE)?,
            time_zone: config.time_zone()?,
            receipt_retention_secs: (config.receipt_retention_days as i64) * 86_400,
            receipts_pruned_at: Arc::new(AtomicI64::new(0)),
            counter_retention_days: config.counter_retention_days,
            counters_pruned_at: Arc::new(AtomicI64::new(0)),
        })
    }

    /// The counters tree, for a transaction of the caller's.
    pub fn counters_tree(&self) -> &sled::Tree {
        &self.counters
    }

    /// The receipts tree, for a transaction of the caller's.
    pub fn receipts_tree(&self) -> &sled::Tree {
        &self.receipts
    }

    /// The time zone of the day buckets.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The local calendar day of unix second `at`.
    pub fn day_of(&self, at: i64) -> NaiveDate {
        let utc = DateTime::from_timestamp(at, 0).unwrap_or_default();
        utc.with_timezone(&self.time_zone).date_naive()
    }

    /// Counts one handled event inside the caller's transaction. Call it in the
    /// transaction that removes the event from the inbox: the event then counts
    /// exactly once, whatever crashes or retries happen around it. `received_at` (unix
    /// seconds) stands in for an implausible `CreateTime`.
    pub fn record_tx<E>(
        &self,
        counters: &TransactionalTree,
        receipts: &TransactionalTree,
        event: &Event,
        received_at: i64,
    ) -> ConflictableTransactionResult<(), E> {
        counters::record_tx(self, counters, receipts, event, received_at)
    }

    /// Counts one message outcome for `rule` inside the caller's transaction.
    pub fn record_outcome_tx<E>(
        &self,
        counters: &TransactionalTree,
        rule: &str,
        outcome: MessageOutcome,
        now: i64,
    ) -> ConflictableTransactionResult<(), E> {
        let day = self.day_of(now);
        counters::add_tx(counters, &key::rule_key(day, rule, outcome.metric()), 1)
    }

    /// Answers a query from the counters.
    pub fn query(&self, query: &StatsQuery) -> Result<Report, StatsError> {
        query::run(self, query)
    }

    /// One channel of one card over the last `days` local days, today included.
    pub fn channel_stats(
        &self,
        card: &str,
        channel: &str,
        days: u64,
        now: i64,
    ) -> Result<ChannelStats, StatsError> {
        let until = self.day_of(now);
        let back = days.clamp(1, query::MAX_DAYS) - 1;
        let since = until.checked_sub_days(Days::new(back)).unwrap_or(until);
        query::channel(self, card, channel, since, until)
    }

    /// Removes receipts older than `[stats] receipt_retention_days`, unless receipts
    /// were pruned within the last hour.
    pub fn prune_receipts(&self, now: i64) -> Result<usize, StatsError> {
        let last = self.receipts_pruned_at.load(Ordering::Relaxed);
        if now - last < RECEIPT_PRUNE_INTERVAL_SECS {
            return Ok(0);
        }
        let removed = receipt::prune(&self.receipts, now - self.receipt_retention_secs)?;
        // Only a finished prune waits its interval; a failed one is tried again.
        self.receipts_pruned_at.store(now, Ordering::Relaxed);
        Ok(removed)
    }

    /// Removes counters of days before the last `[stats] counter_retention_days` local
    /// days, unless they were pruned within the last hour or are kept for ever.
    pub fn prune_counters(&self, now: i64) -> Result<usize, StatsError> {
        if self.counter_retention_days == 0 {
            return Ok(0);
        }
        let last = self.counters_pruned_at.load(Ordering::Relaxed);
        if now - last < RECEIPT_PRUNE_INTERVAL_SECS {
            return Ok(0);
        }

        let today = self.day_of(now);
        let back = Days::new(self.counter_retention_days - 1);
        let cutoff = today.checked_sub_days(back).unwrap_or(NaiveDate::MIN);
        let removed = retention::prune_before(&self.counters, cutoff)?;
        self.counters_pruned_at.store(now, Ordering::Relaxed);
        Ok(removed)
    }
}

/// Why the statistics could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StatsOpenError {
    #[error("failed to open the statistics trees: {0}")]
    Sled(#[from] sled::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

#[cfg(test)]
mod tests;
