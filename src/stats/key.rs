//! Counter keys, laid out so that a range scan over (card, day) answers a query:
//! `'c' card 0 day 0 dimension 0 value 0 metric` for card counters and
//! `'r' day 0 rule 0 metric` for message outcomes. Days are `YYYY-MM-DD`, which sort.

use chrono::NaiveDate;

/// Leading byte of card counters.
pub const CARD: u8 = b'c';
/// Leading byte of per-rule message counters.
pub const RULE: u8 = b'r';
/// Leading byte of location labels: `'l' location_id` → location name.
pub const LABEL: u8 = b'l';

/// Separates the parts of a key; removed from the parts, so keys never mislead.
const SEPARATOR: u8 = 0;

/// The day format of keys and answers.
pub const DAY_FORMAT: &str = "%Y-%m-%d";

/// What a card counter is counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// The channel tag of the receipt: `OuterStr`, else `OuterId`.
    Channel,
    /// `ConsumeSource` of a redemption.
    Source,
    /// `StaffOpenId` of a redemption.
    Staff,
    /// `LocationId` of a redemption.
    Location,
}

impl Dimension {
    /// The name in keys and answers.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Channel => "channel",
            Dimension::Source => "source",
            Dimension::Staff => "staff",
            Dimension::Location => "location",
        }
    }

    fn from_name(name: &str) -> Option<Dimension> {
        [
            Dimension::Channel,
            Dimension::Source,
            Dimension::Staff,
            Dimension::Location,
        ]
        .into_iter()
        .find(|dimension| dimension.name() == name)
    }
}

/// One card counter's key, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardKey {
    pub card: String,
    pub day: String,
    pub dimension: Dimension,
    pub value: String,
    pub metric: String,
}

/// The key of a card counter.
pub fn card_key(
    card: &str,
    day: NaiveDate,
    dimension: Dimension,
    value: &str,
    metric: &str,
) -> Vec<u8> {
    let day = day.format(DAY_FORMAT).to_string();
    join(CARD, &[card, &day, dimension.name(), value, metric])
}

/// The prefix of every metric of one value of `dimension` for `card` on `day`.
pub fn card_value_prefix(card: &str, day: NaiveDate, dimension: Dimension, value: &str) -> Vec<u8> {
    let day = day.format(DAY_FORMAT).to_string();
    let mut key = join(CARD, &[card, &day, dimension.name(), value]);
    key.push(SEPARATOR);
    key
}

/// The first key of `card`'s counters, before any day's.
pub fn card_start(card: &str) -> Vec<u8> {
    let mut key = join(CARD, &[card]);
    key.push(SEPARATOR);
    key
}

/// The first key of `card`'s counters on `day`.
pub fn card_day_start(card: &str, day: NaiveDate) -> Vec<u8> {
    join(CARD, &[card, &day.format(DAY_FORMAT).to_string()])
}

/// A key just past every counter of `card` up to and including `day`.
pub fn card_day_end(card: &str, day: NaiveDate) -> Vec<u8> {
    let mut key = card_day_start(card, day);
    key.push(SEPARATOR + 1);
    key
}

/// A key past every counter of `card`, where the next card's counters start.
pub fn next_card(card: &str) -> Vec<u8> {
    let mut key = join(CARD, &[card]);
    key.push(SEPARATOR + 1);
    key
}

/// The card a card counter's key belongs to.
pub fn card_of(key: &[u8]) -> Option<String> {
    let rest = key.strip_prefix(&[CARD])?;
    let end = rest.iter().position(|byte| *byte == SEPARATOR)?;
    String::from_utf8(rest[..end].to_vec()).ok()
}

/// Decodes a card counter's key; `None` for any other key.
pub fn parse_card_key(key: &[u8]) -> Option<CardKey> {
    let parts = split(key.strip_prefix(&[CARD])?)?;
    let [card, day, dimension, value, metric] = <[String; 5]>::try_from(parts).ok()?;
    Some(CardKey {
        card,
        day,
        dimension: Dimension::from_name(&dimension)?,
        value,
        metric,
    })
}

/// The key of a rule's message counter.
pub fn rule_key(day: NaiveDate, rule: &str, metric: &str) -> Vec<u8> {
    join(RULE, &[&day.format(DAY_FORMAT).to_string(), rule, metric])
}

/// The first key of the rule counters of `day`.
pub fn rule_day_start(day: NaiveDate) -> Vec<u8> {
    join(RULE, &[&day.format(DAY_FORMAT).to_string()])
}

/// A key just past the rule counters of `day`.
pub fn rule_day_end(day: NaiveDate) -> Vec<u8> {
    let mut key = rule_day_start(day);
    key.push(SEPARATOR + 1);
    key
}

/// Decodes a rule counter's key into (day, rule, metric).
pub fn parse_rule_key(key: &[u8]) -> Option<(String, String, String)> {
    let parts = split(key.strip_prefix(&[RULE])?)?;
    let [day, rule, metric] = <[String; 3]>::try_from(parts).ok()?;
    Some((day, rule, metric))
}

/// The key of a location's label.
pub fn label_key(location_id: &str) -> Vec<u8> {
    join(LABEL, &[location_id])
}

fn join(lead: u8, parts: &[&str]) -> Vec<u8> {
    let mut key = vec![lead];
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            key.push(SEPARATOR);
        }
        key.extend(part.bytes().filter(|byte| *byte != SEPARATOR));
    }
    key
}

fn split(rest: &[u8]) -> Option<Vec<String>> {
    rest.split(|byte| *byte == SEPARATOR)
        .map(|part| String::from_utf8(part.to_vec()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, DAY_FORMAT).unwrap()
    }

    #[test]
    fn a_card_key_decodes_to_its_parts() {
        let key = card_key(
            "pA",
            day("2026-12-03"),
            Dimension::Source,
            "FROM_API",
            "redeemed",
        );

        let parsed = parse_card_key(&key).unwrap();

        assert_eq!(parsed.card, "pA");
        assert_eq!(parsed.day, "2026-12-03");
        assert_eq!(parsed.dimension, Dimension::Source);
        assert_eq!(parsed.value, "FROM_API");
        assert_eq!(parsed.metric, "redeemed");
    }

    #[test]
    fn a_day_range_holds_exactly_the_days_inside_it() {
        let inside = card_key("pA", day("2026-12-02"), Dimension::Channel, "x", "received");
        let before = card_key("pA", day("2026-12-01"), Dimension::Channel, "x", "received");
        let after = card_key("pA", day("2026-12-04"), Dimension::Channel, "x", "received");
        let other_card = card_key(
            "pAB",
            day("2026-12-02"),
            Dimension::Channel,
            "x",
            "received",
        );

        let range = card_day_start("pA", day("2026-12-02"))..card_day_end("pA", day("2026-12-03"));

        assert!(range.contains(&inside));
        assert!(!range.contains(&before));
        assert!(!range.contains(&after));
        assert!(!range.contains(&other_card));
        assert!(next_card("pA") < other_card);
    }

    #[test]
    fn a_separator_inside_a_value_cannot_shift_the_parts() {
        let key = card_key(
            "pA",
            day("2026-12-03"),
            Dimension::Staff,
            "a\0b",
            "redeemed",
        );

        let parsed = parse_card_key(&key).unwrap();

        assert_eq!(parsed.value, "ab");
    }
}
