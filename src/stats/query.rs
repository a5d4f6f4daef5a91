//! Questions asked of the counters (`GET /admin/stats`, `cardbot stats`, rules) and
//! their answers: rows by channel, source, staff, location, day or rule.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::counters::metric;
use super::key::{self, Dimension, DAY_FORMAT};
use super::{Stats, StatsError};

/// How many days one query may span, so a by-day answer stays small.
pub const MAX_DAYS: u64 = 1000;
/// The days a query covers unless told, today included.
pub const DEFAULT_DAYS: u64 = 30;

/// What rows are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Channel,
    Source,
    Staff,
    Location,
    Day,
    Rule,
}

impl By {
    /// Every choice, in the order help texts list them.
    pub const ALL: [By; 6] = [
        By::Channel,
        By::Source,
        By::Staff,
        By::Location,
        By::Day,
        By::Rule,
    ];

    /// The name in parameters and answers.
    pub fn name(self) -> &'static str {
        match self {
            By::Channel => "channel",
            By::Source => "source",
            By::Staff => "staff",
            By::Location => "location",
            By::Day => "day",
            By::Rule => "rule",
        }
    }

    /// The columns of the answer, in display order.
    pub fn metrics(self) -> &'static [&'static str] {
        match self {
            By::Channel => &[
                metric::RECEIVED,
                metric::RECEIVED_GIFT,
                metric::VIEWED,
                metric::ENTERED,
                metric::REDEEMED,
                metric::DELETED,
                metric::GIFTED,
                metric::FUNNEL_ENGAGED,
                metric::FUNNEL_REDEEMED,
                metric::REDEEM_SECS_AVG,
            ],
            By::Source | By::Staff | By::Location => &[metric::REDEEMED],
            By::Day => &[
                metric::RECEIVED,
                metric::VIEWED,
                metric::ENTERED,
                metric::REDEEMED,
                metric::DELETED,
                metric::GIFTED,
            ],
            By::Rule => &[
                metric::SENT,
                metric::HELD,
                metric::SUPPRESSED,
                metric::FAILED,
            ],
        }
    }

    /// The counters a row of this kind is made of.
    fn dimension(self) -> Option<Dimension> {
        match self {
            By::Channel | By::Day => Some(Dimension::Channel),
            By::Source => Some(Dimension::Source),
            By::Staff => Some(Dimension::Staff),
            By::Location => Some(Dimension::Location),
            By::Rule => None,
        }
    }
}

impl std::str::FromStr for By {
    type Err = StatsError;

    fn from_str(text: &str) -> Result<By, StatsError> {
        By::ALL
            .into_iter()
            .find(|by| by.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = By::ALL.iter().map(|by| by.name()).collect();
                StatsError::BadQuery(format!(
                    "unknown by {text:?}; use one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// The raw parameters of a query, as `GET /admin/stats` takes them. An unknown one is
/// refused: a misspelt `card` would otherwise answer for every card without a word.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    pub card: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub by: Option<String>,
}

/// A validated query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    pub card: Option<String>,
    pub since: NaiveDate,
    pub until: NaiveDate,
    pub by: By,
}

impl StatsQuery {
    /// Validates `params`; `today` is the local day the default range ends on.
    pub fn parse(params: &QueryParams, today: NaiveDate) -> Result<StatsQuery, StatsError> {
        let by = params.by.as_deref().unwrap_or("channel").parse::<By>()?;
        let until = parse_day("until", params.until.as_deref())?.unwrap_or(today);
        let default_since = until
            .checked_sub_days(Days::new(DEFAULT_DAYS - 1))
            .unwrap_or(until);
        let since = parse_day("since", params.since.as_deref())?.unwrap_or(default_since);
        let card = params.card.clone().filter(|card| !card.is_empty());

        if since > until {
            return Err(StatsError::BadQuery(format!(
                "since {since} is after until {until}; give since <= until"
            )));
        }
        let span = (until - since).num_days() as u64 + 1;
        if span > MAX_DAYS {
            return Err(StatsError::BadQuery(format!(
                "since..until spans {span} days; ask for at most {MAX_DAYS}"
            )));
        }
        if by == By::Rule && card.is_some() {
            return Err(StatsError::BadQuery(
                "message counters are kept per rule, not per card; drop card with by=rule"
                    .to_string(),
            ));
        }
        Ok(StatsQuery {
            card,
            since,
            until,
            by,
        })
    }
}

fn parse_day(name: &str, text: Option<&str>) -> Result<Option<NaiveDate>, StatsError> {
    let Some(text) = text.filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    NaiveDate::parse_from_str(text, DAY_FORMAT)
        .map(Some)
        .map_err(|_| {
            StatsError::BadQuery(format!("{name} {text:?} is not a day; write YYYY-MM-DD"))
        })
}

/// The answer of a query: `GET /admin/stats` and `cardbot stats --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub by: String,
    pub card: Option<String>,
    pub since: String,
    pub until: String,
    pub timezone: String,
    /// The columns, in display order; every row has each of them.
    pub metrics: Vec<String>,
    pub rows: Vec<Row>,
    pub totals: BTreeMap<String, Value>,
}

/// One row of a [`Report`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub key: String,
    /// A readable name of the key: the location's name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Each metric's count; `redeem_secs_avg` is a number of seconds or null.
    pub counts: BTreeMap<String, Value>,
}

/// What a rule learns from `stats_channel`: one channel of one card over some days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelStats {
    pub received: u64,
    pub received_gift: u64,
    pub viewed: u64,
    pub entered: u64,
    pub redeemed: u64,
    pub deleted: u64,
    pub gifted: u64,
    pub funnel_engaged: u64,
    pub funnel_redeemed: u64,
    /// Average seconds from receipt to redemption; `None` before any redemption.
    pub redeem_secs_avg: Option<u64>,
}

/// Raw sums per row key, per metric.
type Tallies = BTreeMap<String, BTreeMap<String, u64>>;

/// Answers `query`; see [`Stats::query`].
pub(super) fn run(stats: &Stats, query: &StatsQuery) -> Result<Report, StatsError> {
    let mut tallies = Tallies::new();
    if query.by == By::Day {
        for day in query
            .since
            .iter_days()
            .take_while(|day| *day <= query.until)
        {
            tallies.insert(day.format(DAY_FORMAT).to_string(), BTreeMap::new());
        }
    }

    match query.by.dimension() {
        Some(dimension) => tally_cards(stats, query, dimension, &mut tallies)?,
        None => tally_rules(stats, query, &mut tallies)?,
    }

    let metrics = query.by.metrics();
    let mut rows = Vec::new();
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    for (key, tally) in tallies {
        for (metric, count) in &tally {
            let sum = sums.entry(metric.clone()).or_default();
            *sum = sum.saturating_add(*count);
        }
        let label = match query.by {
            By::Location => label_of(stats, &key)?,
            _ => None,
        };
        rows.push(Row {
            counts: counts_of(metrics, &tally),
            key,
            label,
        });
    }
    if query.by != By::Day {
        let main = metrics[0];
        rows.sort_by_key(|row| std::cmp::Reverse(count(&row.counts, main)));
    }

    Ok(Report {
        by: query.by.name().to_string(),
        card: query.card.clone(),
        since: query.since.format(DAY_FORMAT).to_string(),
        until: query.until.format(DAY_FORMAT).to_string(),
        timezone: stats.time_zone().name().to_string(),
        metrics: metrics.iter().map(|name| name.to_string()).collect(),
        rows,
        totals: counts_of(metrics, &sums),
    })
}

/// One channel of one card over `since..=until`, for rules.
pub(super) fn channel(
    stats: &Stats,
    card: &str,
    channel: &str,
    since: NaiveDate,
    until: NaiveDate,
) -> Result<ChannelStats, StatsError> {
    let (tally, read) = tally_channel(stats, card, channel, since, until)?;
    tracing::trace!(
        card,
        channel,
        counters_read = read,
        "channel statistics read"
    );
    Ok(channel_stats_of(&tally))
}

/// The counters of one channel of one card over `since..=until`, and how many were
/// read. A rule may ask on every event, so this reads that channel's own counters, one
/// short prefix per day, never the card's other channels, sources, staff or locations:
/// its cost is bounded by the days asked, whatever else the card counts.
pub(super) fn tally_channel(
    stats: &Stats,
    card: &str,
    channel: &str,
    since: NaiveDate,
    until: NaiveDate,
) -> Result<(BTreeMap<String, u64>, usize), StatsError> {
    let tree = stats.counters_tree();
    let mut tally: BTreeMap<String, u64> = BTreeMap::new();
    let mut read = 0;
    for day in since.iter_days().take_while(|day| *day <= until) {
        let prefix = key::card_value_prefix(card, day, Dimension::Channel, channel);
        for item in tree.scan_prefix(prefix) {
            let (raw, value) = item?;
            read += 1;
            let Some(parsed) = key::parse_card_key(&raw) else {
                continue;
            };
            let count = tally.entry(parsed.metric).or_default();
            *count = count.saturating_add(decode(&value));
        }
    }
    Ok((tally, read))
}

fn channel_stats_of(tally: &BTreeMap<String, u64>) -> ChannelStats {
    let get = |name: &str| tally.get(name).copied().unwrap_or(0);
    ChannelStats {
        received: get(metric::RECEIVED),
        received_gift: get(metric::RECEIVED_GIFT),
        viewed: get(metric::VIEWED),
        entered: get(metric::ENTERED),
        redeemed: get(metric::REDEEMED),
        deleted: get(metric::DELETED),
        gifted: get(metric::GIFTED),
        funnel_engaged: get(metric::FUNNEL_ENGAGED),
        funnel_redeemed: get(metric::FUNNEL_REDEEMED),
        redeem_secs_avg: average(tally),
    }
}

/// Adds the card counters of `dimension` in the query's days to `tallies`, one card
/// at a time: each card's days are one range, and the scan jumps from card to card.
fn tally_cards(
    stats: &Stats,
    query: &StatsQuery,
    dimension: Dimension,
    tallies: &mut Tallies,
) -> Result<(), StatsError> {
    let tree = stats.counters_tree();
    let mut previous: Option<String> = None;
    loop {
        let card = match &query.card {
            Some(card) => card.clone(),
            None => match first_card_after(tree, previous.as_deref())? {
                Some(card) => card,
                None => break,
            },
        };
        let range = key::card_day_start(&card, query.since)..key::card_day_end(&card, query.until);
        for item in tree.range(range) {
            let (raw, value) = item?;
            let Some(parsed) = key::parse_card_key(&raw) else {
                continue;
            };
            if parsed.dimension != dimension {
                continue;
            }
            let row = if query.by == By::Day {
                parsed.day
            } else {
                parsed.value
            };
            let tally = tallies.entry(row).or_default().entry(parsed.metric);
            let count = tally.or_default();
            *count = count.saturating_add(decode(&value));
        }
        if query.card.is_some() {
            break;
        }
        previous = Some(card);
    }
    Ok(())
}

/// The first card after `previous`, or the very first without one. A card id may be
/// empty once its NUL bytes are dropped from the key, so `""` cannot mean "start".
fn first_card_after(
    tree: &sled::Tree,
    previous: Option<&str>,
) -> Result<Option<String>, StatsError> {
    let start = match previous {
        Some(card) => key::next_card(card),
        None => vec![key::CARD],
    };
    match tree.range(start..).next() {
        Some(item) => Ok(key::card_of(&item?.0)),
        None => Ok(None),
    }
}

/// Adds the rule counters of the query's days to `into`.
fn tally_rules(stats: &Stats, query: &StatsQuery, into: &mut Tallies) -> Result<(), StatsError> {
    let range = key::rule_day_start(query.since)..key::rule_day_end(query.until);
    for item in stats.counters_tree().range(range) {
        let (raw, value) = item?;
        let Some((_, rule, metric)) = key::parse_rule_key(&raw) else {
            continue;
        };
        let count = into.entry(rule).or_default().entry(metric).or_default();
        *count = count.saturating_add(decode(&value));
    }
    Ok(())
}

fn label_of(stats: &Stats, location_id: &str) -> Result<Option<String>, StatsError> {
    let label = stats.counters_tree().get(key::label_key(location_id))?;
    Ok(label.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

fn decode(value: &[u8]) -> u64 {
    <[u8; 8]>::try_from(value).map_or(0, u64::from_be_bytes)
}

/// Every metric of `metrics` from a tally: 0 when none, the average where asked.
fn counts_of(metrics: &[&str], tally: &BTreeMap<String, u64>) -> BTreeMap<String, Value> {
    metrics
        .iter()
        .map(|name| {
            let value = if *name == metric::REDEEM_SECS_AVG {
                average(tally).map_or(Value::Null, Value::from)
            } else {
                Value::from(tally.get(*name).copied().unwrap_or(0))
            };
            (name.to_string(), value)
        })
        .collect()
}

fn average(tally: &BTreeMap<String, u64>) -> Option<u64> {
    let sum = tally.get(metric::REDEEM_SECS_SUM).copied().unwrap_or(0);
    let count = tally.get(metric::REDEEM_SECS_COUNT).copied().unwrap_or(0);
    (count > 0).then(|| sum / count)
}

fn count(counts: &BTreeMap<String, Value>, metric: &str) -> u64 {
    counts.get(metric).and_then(Value::as_u64).unwrap_or(0)
}
