//! What each card event adds to the counters, written inside the worker's transaction.

use chrono::NaiveDate;
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use super::key::{self, Dimension};
use super::receipt::{self, Receipt};
use super::Stats;
use crate::wechat::event::Event;

/// The channel of events whose code has no known receipt (received before cardbot
/// counted, or pruned) and that carry no channel tag of their own.
pub const UNKNOWN: &str = "(unknown)";
/// The value of events that carry no channel tag, source, staff member or location.
pub const NONE: &str = "(none)";

/// Metric names, as they appear in keys and answers.
pub mod metric {
    pub const RECEIVED: &str = "received";
    pub const RECEIVED_GIFT: &str = "received_gift";
    pub const VIEWED: &str = "viewed";
    pub const ENTERED: &str = "entered";
    pub const REDEEMED: &str = "redeemed";
    pub const DELETED: &str = "deleted";
    pub const GIFTED: &str = "gifted";
    pub const FUNNEL_ENGAGED: &str = "funnel_engaged";
    pub const FUNNEL_REDEEMED: &str = "funnel_redeemed";
    /// Seconds from receipt to redemption, summed; with `REDEEM_SECS_COUNT` the average.
    pub const REDEEM_SECS_SUM: &str = "redeem_secs_sum";
    pub const REDEEM_SECS_COUNT: &str = "redeem_secs_count";
    pub const REDEEM_SECS_AVG: &str = "redeem_secs_avg";
    pub const SENT: &str = "sent";
    pub const HELD: &str = "held";
    pub const SUPPRESSED: &str = "suppressed";
    pub const FAILED: &str = "failed";
}

/// Adds `by` to the counter under `key`. A value that is not a counter (damage) is
/// counted from zero again rather than stopping the event's handling.
pub fn add_tx<E>(
    tx: &TransactionalTree,
    key: &[u8],
    by: u64,
) -> ConflictableTransactionResult<(), E> {
    let current = match tx.get(key)? {
        None => 0,
        Some(bytes) => match <[u8; 8]>::try_from(bytes.as_ref()) {
            Ok(raw) => u64::from_be_bytes(raw),
            Err(_) => {
                tracing::warn!(key = %String::from_utf8_lossy(key), "damaged counter restarted");
                0
            }
        },
    };
    tx.insert(key, &current.saturating_add(by).to_be_bytes())?;
    Ok(())
}

/// The counters of one card on one day, for one event.
struct Bucket<'a> {
    tx: &'a TransactionalTree,
    card: &'a str,
    day: NaiveDate,
}

impl Bucket<'_> {
    fn add<E>(
        &self,
        dimension: Dimension,
        value: &str,
        metric: &str,
        by: u64,
    ) -> ConflictableTransactionResult<(), E> {
        add_tx(
            self.tx,
            &key::card_key(self.card, self.day, dimension, value, metric),
            by,
        )
    }

    fn channel<E>(&self, channel: &str, metric: &str) -> ConflictableTransactionResult<(), E> {
        self.add(Dimension::Channel, channel, metric, 1)
    }

    /// The same card on another day: funnel stages count on the day of the receipt.
    fn on(&self, day: NaiveDate) -> Bucket<'_> {
        Bucket { day, ..*self }
    }
}

/// `CreateTime`s before this (2013-01-01, before WeChat had cards) are not believed.
const EARLIEST_CREATE_TIME: i64 = 1_356_998_400;
/// How far past its arrival an event's `CreateTime` may lie and still be believed.
const MAX_CREATE_TIME_AHEAD_SECS: i64 = 86_400;

/// When an event happened, for its day: its `CreateTime`, unless that is missing or
/// implausible (before WeChat had cards, or well after the push arrived), in which case
/// the arrival. A wild `CreateTime` would otherwise land on a day nobody asks about, or
/// overflow a sum of waiting times.
pub fn event_time(event: &Event, received_at: i64) -> i64 {
    let latest = received_at.saturating_add(MAX_CREATE_TIME_AHEAD_SECS);
    if (EARLIEST_CREATE_TIME..=latest).contains(&event.create_time) {
        event.create_time
    } else {
        received_at
    }
}

/// Counts one event; see [`Stats::record_tx`].
// TODO: refuse to count a second redemption, deletion or gift of a known code, because
// a push replayed after `store.dedup_retention_secs` (a day by default) passes the
// callback's dedup and counts again; the receipt's flags could tell, but whether every
// card type is redeemed at most once per code is not settled.
pub(super) fn record_tx<E>(
    stats: &Stats,
    counters: &TransactionalTree,
    receipts: &TransactionalTree,
    event: &Event,
    received_at: i64,
) -> ConflictableTransactionResult<(), E> {
    let Some(card) = event.card_id.as_deref() else {
        return Ok(());
    };
    let at = event_time(event, received_at);
    let bucket = Bucket {
        tx: counters,
        card,
        day: stats.day_of(at),
    };
    let code = event.code.as_deref().unwrap_or("");
    let receipt_key = receipt::receipt_key(card, code);

    match event.kind.as_str() {
        "user_get_card" => receive(&bucket, receipts, event, at, &receipt_key),
        "user_view_card" => engage(
            stats,
            &bucket,
            receipts,
            event,
            &receipt_key,
            metric::VIEWED,
        ),
        "user_enter_session_from_card" => engage(
            stats,
            &bucket,
            receipts,
            event,
            &receipt_key,
            metric::ENTERED,
        ),
        "user_consume_card" => redeem(stats, &bucket, receipts, event, at, &receipt_key),
        "user_del_card" => {
            let channel = channel_of(receipts, &receipt_key, event)?;
            bucket.channel(&channel, metric::DELETED)
        }
        // A gift returned to its giver (`IsReturnBack`) undoes no count and adds none:
        // the gift itself was counted when it was made.
        "user_gifting_card" if event.is_return_back == Some(true) => Ok(()),
        "user_gifting_card" => {
            let channel = channel_of(receipts, &receipt_key, event)?;
            bucket.channel(&channel, metric::GIFTED)
        }
        _ => Ok(()),
    }
}

/// The channel tag an event carries: `OuterStr`, else a non-zero `OuterId`.
pub fn tag_of(event: &Event) -> Option<String> {
    if let Some(outer_str) = event.outer_str.as_deref().filter(|tag| !tag.is_empty()) {
        return Some(outer_str.to_string());
    }
    event
        .outer_id
        .filter(|id| *id != 0)
        .map(|id| id.to_string())
}

/// The channel a known receipt counts under; see [`unattributed`] without one.
fn channel_of(
    receipts: &TransactionalTree,
    key: &[u8],
    event: &Event,
) -> Result<String, sled::transaction::UnabortableTransactionError> {
    Ok(receipt::get_tx(receipts, key)?.map_or_else(|| unattributed(event), |r| r.channel))
}

/// The channel of an event whose code has no receipt: the tag the event carries itself
/// (WeChat repeats the receipt's `OuterStr` on a redemption), else `(unknown)`.
fn unattributed(event: &Event) -> String {
    tag_of(event).unwrap_or_else(|| UNKNOWN.to_string())
}

/// `user_get_card`: a receipt. A friend's gift counts for the channel the giver's code
/// came from, so a channel is credited with the cards its customers pass on; without a
/// known giver's receipt it counts under its own tag.
///
/// A code is received once: a second `user_get_card` for a code with a receipt (a
/// member card restored after deletion, which WeChat sends without its tag) counts
/// nothing, so the funnel's receipts stay the codes handed out. A restored code with no
/// receipt counts under `(unknown)`, as its channel is not known.
fn receive<E>(
    bucket: &Bucket<'_>,
    receipts: &TransactionalTree,
    event: &Event,
    at: i64,
    key: &[u8],
) -> ConflictableTransactionResult<(), E> {
    if receipt::get_tx(receipts, key)?.is_some() {
        return Ok(());
    }
    let gift = event.is_give_by_friend == Some(true);
    let giver = match (gift, event.old_code.as_deref()) {
        (true, Some(old_code)) => {
            receipt::get_tx(receipts, &receipt::receipt_key(bucket.card, old_code))?
        }
        _ => None,
    };
    let restored = event.is_restore_member_card == Some(true);
    let channel = match (giver, restored) {
        (Some(giver), _) => giver.channel,
        (None, true) => UNKNOWN.to_string(),
        (None, false) => tag_of(event).unwrap_or_else(|| NONE.to_string()),
    };

    bucket.channel(&channel, metric::RECEIVED)?;
    if gift {
        bucket.channel(&channel, metric::RECEIVED_GIFT)?;
    }

    let receipt = Receipt {
        channel,
        at,
        gift,
        engaged: false,
        redeemed: false,
    };
    receipt::put_tx(receipts, key, &receipt)?;
    Ok(())
}

/// `user_view_card` or `user_enter_session_from_card`: counted for the channel, and the
/// first of either per receipt moves it along the funnel, on the receipt's day.
fn engage<E>(
    stats: &Stats,
    bucket: &Bucket<'_>,
    receipts: &TransactionalTree,
    event: &Event,
    key: &[u8],
    metric: &str,
) -> ConflictableTransactionResult<(), E> {
    let Some(mut receipt) = receipt::get_tx(receipts, key)? else {
        return bucket.channel(&unattributed(event), metric);
    };
    bucket.channel(&receipt.channel, metric)?;

    if !receipt.engaged {
        receipt.engaged = true;
        let cohort = bucket.on(stats.day_of(receipt.at));
        cohort.channel(&receipt.channel, metric::FUNNEL_ENGAGED)?;
        receipt::put_tx(receipts, key, &receipt)?;
    }
    Ok(())
}

/// `user_consume_card`: counted by channel, source, staff and location; the first per
/// receipt completes its funnel and gives the time from receipt to redemption.
///
/// A redemption also passes the engaged stage when no view or chat entry came first:
/// WeChat pushes views only for cards created with `need_push_on_view`, so without it
/// redeemed codes would outnumber engaged ones and the funnel would pass 100%.
fn redeem<E>(
    stats: &Stats,
    bucket: &Bucket<'_>,
    receipts: &TransactionalTree,
    event: &Event,
    at: i64,
    key: &[u8],
) -> ConflictableTransactionResult<(), E> {
    let source = event.consume_source.as_deref().unwrap_or(NONE);
    let staff = event.staff_openid.as_deref().unwrap_or(NONE);
    let location = location_of(event);
    bucket.add(Dimension::Source, source, metric::REDEEMED, 1)?;
    bucket.add(Dimension::Staff, staff, metric::REDEEMED, 1)?;
    bucket.add(
        Dimension::Location,
        location.key.as_deref().unwrap_or(NONE),
        metric::REDEEMED,
        1,
    )?;
    if let (Some(id), Some(name)) = (&location.key, location.label) {
        bucket.tx.insert(key::label_key(id), name.as_bytes())?;
    }

    let Some(mut receipt) = receipt::get_tx(receipts, key)? else {
        return bucket.channel(&unattributed(event), metric::REDEEMED);
    };
    bucket.channel(&receipt.channel, metric::REDEEMED)?;

    if !receipt.redeemed {
        receipt.redeemed = true;
        let cohort = bucket.on(stats.day_of(receipt.at));
        if !receipt.engaged {
            receipt.engaged = true;
            cohort.channel(&receipt.channel, metric::FUNNEL_ENGAGED)?;
        }
        cohort.channel(&receipt.channel, metric::FUNNEL_REDEEMED)?;
        // A redemption stamped before its receipt (clocks, or events out of order) has
        // no waiting time to give; counting it as 0 would pull the average down.
        if let Ok(waited) = u64::try_from(at - receipt.at) {
            let channel = &receipt.channel;
            cohort.add(Dimension::Channel, channel, metric::REDEEM_SECS_SUM, waited)?;
            cohort.add(Dimension::Channel, channel, metric::REDEEM_SECS_COUNT, 1)?;
        }
        receipt::put_tx(receipts, key, &receipt)?;
    }
    Ok(())
}

/// Where a redemption counts among locations, and the name to show for it.
struct Location<'a> {
    key: Option<String>,
    label: Option<&'a str>,
}

/// A redemption's location: its `LocationId`, named by `LocationName`; without an id
/// (WeChat sends `0` for redemptions through the API), its `LocationName` alone, so a
/// self-service or pay-cell redemption that names its store still counts for it.
fn location_of(event: &Event) -> Location<'_> {
    let name = event
        .location_name
        .as_deref()
        .filter(|name| !name.is_empty());
    match event.location_id.filter(|id| *id != 0) {
        Some(id) => Location {
            key: Some(id.to_string()),
            label: name,
        },
        None => Location {
            key: name.map(str::to_string),
            label: None,
        },
    }
}
