//! Contact pressure: per-user and per-rule daily caps counted in local days, and quiet
//! hours that hold a message until they end.
//!
//! Tree `pipeline.pressure`: `date 0 "u" 0 openid` and `date 0 "r" 0 openid 0 rule` →
//! big-endian u32 counts, the local date first so that old days prune as one range.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use super::{run_tx, PipelineError};
use crate::config::{ConfigError, PressureConfig, QuietHours};

/// The sled tree of this module.
pub const TREE: &str = "pipeline.pressure";

/// The caps and quiet hours, validated.
#[derive(Debug, Clone)]
pub struct PressurePolicy {
    daily_cap: u32,
    rule_caps: BTreeMap<String, u32>,
    quiet_hours: Option<QuietHours>,
    time_zone: Tz,
}

impl PressurePolicy {
    /// Validates `[pressure]` into a policy; errors name the key.
    pub fn from_config(config: &PressureConfig) -> Result<PressurePolicy, ConfigError> {
        Ok(PressurePolicy {
            daily_cap: config.daily_cap,
            rule_caps: config.rule_caps.clone(),
            quiet_hours: config.quiet_hours()?,
            time_zone: config.time_zone()?,
        })
    }
}

/// Why a message was not sent; it goes to the decision log and the statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "cap", rename_all = "snake_case")]
pub enum SuppressReason {
    /// The user had `sent` messages on local `day`, the most `pressure.daily_cap` allows.
    Daily { limit: u32, sent: u32, day: String },
    /// `rule` had sent the user `sent` messages on local `day`, its `pressure.rule_caps`.
    Rule {
        rule: String,
        limit: u32,
        sent: u32,
        day: String,
    },
}

impl std::fmt::Display for SuppressReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SuppressReason::Daily { limit, day, .. } => {
                write!(
                    f,
                    "daily cap of {limit} messages reached for this user on {day}"
                )
            }
            SuppressReason::Rule {
                rule, limit, day, ..
            } => write!(
                f,
                "daily cap of {limit} messages reached for rule {rule} and this user on {day}"
            ),
        }
    }
}

/// What contact pressure allows for one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    /// Never send it: a cap is reached for the day it could go out.
    Suppress(SuppressReason),
    /// Quiet hours: ask again at this time, unix seconds.
    WaitUntil(i64),
}

/// Counts messages per user and per rule and applies the [`PressurePolicy`].
#[derive(Debug, Clone)]
pub struct Pressure {
    tree: sled::Tree,
    policy: PressurePolicy,
}

impl Pressure {
    /// Opens the `pipeline.pressure` tree.
    pub fn open(db: &sled::Db, policy: PressurePolicy) -> Result<Pressure, PipelineError> {
        Ok(Pressure {
            tree: db.open_tree(TREE)?,
            policy,
        })
    }

    /// The tree, to include in a multi-tree transaction with the `*_tx` methods.
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Whether `rule` may send `openid` a message now.
    ///
    /// In quiet hours the caps are checked for the day the quiet hours end, so a message
    /// held overnight is judged by the next day's counts, not tonight's.
    pub fn check(&self, openid: &str, rule: &str, now: i64) -> Result<Verdict, PipelineError> {
        run_tx(&self.tree, |tx| self.check_tx(tx, openid, rule, now))
    }

    /// [`Pressure::check`] inside the caller's transaction.
    pub fn check_tx<E: From<PipelineError>>(
        &self,
        tx: &TransactionalTree,
        openid: &str,
        rule: &str,
        now: i64,
    ) -> ConflictableTransactionResult<Verdict, E> {
        let send_at = self.quiet_end_after(now).unwrap_or(now);
        let day = self.local_day(send_at);

        let policy = &self.policy;
        if policy.daily_cap > 0 {
            let sent = read_count(tx, &user_key(&day, openid))?;
            if sent >= policy.daily_cap {
                let limit = policy.daily_cap;
                return Ok(Verdict::Suppress(SuppressReason::Daily {
                    limit,
                    sent,
                    day,
                }));
            }
        }
        if let Some(&limit) = policy.rule_caps.get(rule).filter(|&&limit| limit > 0) {
            let sent = read_count(tx, &rule_key(&day, openid, rule))?;
            if sent >= limit {
                let rule = rule.to_string();
                let reason = SuppressReason::Rule {
                    rule,
                    limit,
                    sent,
                    day,
                };
                return Ok(Verdict::Suppress(reason));
            }
        }

        if send_at > now {
            return Ok(Verdict::WaitUntil(send_at));
        }
        Ok(Verdict::Allow)
    }

    /// Counts one message from `rule` to `openid` that goes out at `now`.
    pub fn record(&self, openid: &str, rule: &str, now: i64) -> Result<(), PipelineError> {
        run_tx(&self.tree, |tx| self.record_tx(tx, openid, rule, now))
    }

    /// [`Pressure::record`] inside the caller's transaction.
    pub fn record_tx<E: From<PipelineError>>(
        &self,
        tx: &TransactionalTree,
        openid: &str,
        rule: &str,
        now: i64,
    ) -> ConflictableTransactionResult<(), E> {
        let day = self.local_day(now);
        for key in [user_key(&day, openid), rule_key(&day, openid, rule)] {
            let count = read_count(tx, &key)?.saturating_add(1);
            tx.insert(key, &count.to_be_bytes()[..])?;
        }
        Ok(())
    }

    /// Removes the counts of local days before the day of `before`; returns how many.
    pub fn prune(&self, before: i64) -> Result<usize, PipelineError> {
        let first_kept = self.local_day(before);
        let mut removed = 0;
        for key in self.tree.range(..first_kept.as_bytes()).keys() {
            self.tree.remove(key?)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// The local date of `at`, as `YYYY-MM-DD`.
    fn local_day(&self, at: i64) -> String {
        self.local_time(at).date().format("%Y-%m-%d").to_string()
    }

    fn local_time(&self, at: i64) -> NaiveDateTime {
        let utc = DateTime::from_timestamp(at, 0).unwrap_or_default();
        utc.with_timezone(&self.policy.time_zone).naive_local()
    }

    /// When the quiet period holding `now` ends, unix seconds; `None` outside one.
    fn quiet_end_after(&self, now: i64) -> Option<i64> {
        let QuietHours { start, end } = self.policy.quiet_hours?;
        let local = self.local_time(now);
        let time = local.time();

        let quiet = if start < end {
            start <= time && time < end
        } else {
            time >= start || time < end
        };
        if !quiet {
            return None;
        }

        let date: NaiveDate = if time < end {
            local.date()
        } else {
            local.date().checked_add_days(Days::new(1))?
        };
        self.resolve_local(date.and_time(end))
    }

    /// A local time as unix seconds; inside a daylight-saving gap, the first valid time
    /// after it, and for a repeated hour, its first occurrence.
    fn resolve_local(&self, local: NaiveDateTime) -> Option<i64> {
        let step = Duration::minutes(15);
        (0..16).find_map(|i| {
            let candidate = local + step * i;
            match self.policy.time_zone.from_local_datetime(&candidate) {
                LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Some(at.timestamp()),
                LocalResult::None => None,
            }
        })
    }
}

fn user_key(day: &str, openid: &str) -> Vec<u8> {
    [day.as_bytes(), b"\0u\0", openid.as_bytes()].concat()
}

fn rule_key(day: &str, openid: &str, rule: &str) -> Vec<u8> {
    [
        day.as_bytes(),
        b"\0r\0",
        openid.as_bytes(),
        b"\0",
        rule.as_bytes(),
    ]
    .concat()
}

fn read_count<E: From<PipelineError>>(
    tx: &TransactionalTree,
    key: &[u8],
) -> ConflictableTransactionResult<u32, E> {
    let Some(bytes) = tx.get(key)? else {
        return Ok(0);
    };
    let array: [u8; 4] = bytes.as_ref().try_into().map_err(|_| {
        let message = format!("count of {} bytes, expected 4", bytes.len());
        sled::transaction::ConflictableTransactionError::Abort(E::from(PipelineError::Corrupt {
            tree: TREE,
            message,
        }))
    })?;
    Ok(u32::from_be_bytes(array))
}

#[cfg(test)]
#[path = "pressure_tests.rs"]
mod tests;
