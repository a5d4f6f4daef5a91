//! Counter retention: removing the counters of days before a cutoff.
//!
//! Card counters sort by card, then day, so a prune reads, per card, only the keys it
//! removes and the one key that leads it to the next card; rule counters sort by day
//! first, so theirs is one range.

use chrono::NaiveDate;

use super::key;

/// Removes every card and rule counter of a day before `cutoff`; how many it removed.
/// Location labels are kept: they name locations, not days.
pub fn prune_before(counters: &sled::Tree, cutoff: NaiveDate) -> Result<usize, sled::Error> {
    let mut removed = remove_range(counters, vec![key::RULE], key::rule_day_start(cutoff))?;

    let mut next = vec![key::CARD];
    let cards_end = vec![key::CARD + 1];
    while let Some((first, _)) = counters
        .range(next.clone()..cards_end.clone())
        .next()
        .transpose()?
    {
        let Some(card) = key::card_of(&first) else {
            // Not a card counter's shape; step past it rather than stop.
            next = first.to_vec();
            next.push(0);
            continue;
        };
        let old_days = key::card_start(&card)..key::card_day_start(&card, cutoff);
        removed += remove_range(counters, old_days.start, old_days.end)?;
        next = key::next_card(&card);
    }
    Ok(removed)
}

/// Removes the keys in `start..end` in one batch.
fn remove_range(counters: &sled::Tree, start: Vec<u8>, end: Vec<u8>) -> Result<usize, sled::Error> {
    let mut batch = sled::Batch::default();
    let mut removed = 0;
    for item in counters.range(start..end) {
        let (key, _) = item?;
        batch.remove(key);
        removed += 1;
    }
    counters.apply_batch(batch)?;
    Ok(removed)
}
