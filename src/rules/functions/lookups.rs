//! `user_cards`, `card_status`, `card_info`, `cards_with_status`, `stats_channel`:
//! asked lazily, memoised within the event, shared briefly across events, and every
//! call recorded.

use rhai::{Array, Dynamic, Engine, EvalAltResult, Position};

use crate::rules::context::{current_rule, deadline_passed, with_state, EvalState};
use crate::rules::engine::DEADLINE_TOKEN;
use crate::rules::lookup::{LookupKey, LookupRecord, LookupSource};
use crate::rules::window::WindowInfo;

type Answer = Result<Dynamic, Box<EvalAltResult>>;

/// Registers the lookup functions.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn("user_cards", |openid: &str| -> Answer {
        lookup(LookupKey::UserCards(openid.to_string()))
    });
    engine.register_fn("card_status", |card_id: &str, code: &str| -> Answer {
        lookup(LookupKey::CardStatus(card_id.to_string(), code.to_string()))
    });
    engine.register_fn("card_info", |card_id: &str| -> Answer {
        lookup(LookupKey::CardInfo(card_id.to_string()))
    });
    engine.register_fn("cards_with_status", |statuses: Array| -> Answer {
        let statuses = statuses
            .into_iter()
            .map(|status| status.into_string())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|found| format!("cards_with_status: statuses must be strings, not {found}"))?;
        lookup(LookupKey::CardsWithStatus(statuses))
    });
    engine.register_fn(
        "stats_channel",
        |card_id: &str, channel: Dynamic| -> Answer {
            lookup(channel_key(
                card_id,
                &channel_name(channel)?,
                DEFAULT_STATS_DAYS,
            ))
        },
    );
    engine.register_fn(
        "stats_channel",
        |card_id: &str, channel: Dynamic, days: rhai::INT| -> Answer {
            let most = crate::stats::query::MAX_DAYS;
            let days = u64::try_from(days)
                .ok()
                .filter(|days| (1..=most).contains(days));
            let Some(days) = days else {
                let message = format!("stats_channel: days must be from 1 to {most}");
                return Err(message.into());
            };
            lookup(channel_key(card_id, &channel_name(channel)?, days))
        },
    );
    engine.register_fn("window", |openid: &str| -> Answer {
        with_state("window", |state| {
            let info = match &state.services.windows {
                Some(windows) => windows.window(openid, state.now)?,
                None => WindowInfo::default(),
            };
            Ok(crate::rules::value::to_dynamic(&info))
        })
    });
}

/// The days `stats_channel` covers unless told: the last 30, today included.
const DEFAULT_STATS_DAYS: u64 = 30;

/// The channel key a rule's value names, as statistics count it: a tag as it is, an
/// `OuterId` as its digits, and `()` (an event without a tag) as `"(none)"`, so that
/// `stats_channel(event.card_id, event.outer_str)` works for every receipt.
fn channel_name(channel: Dynamic) -> Result<String, Box<EvalAltResult>> {
    if channel.is_unit() {
        return Ok(crate::stats::counters::NONE.to_string());
    }
    if let Ok(id) = channel.as_int() {
        return Ok(id.to_string());
    }
    channel.into_string().map_err(|found| {
        format!("stats_channel: channel must be a string, an OuterId or (), not {found}").into()
    })
}

fn channel_key(card_id: &str, channel: &str, days: u64) -> LookupKey {
    LookupKey::ChannelStats(card_id.to_string(), channel.to_string(), days)
}

/// A lookup that ends past the rule's deadline stops the rule as a timeout, as the
/// deadline check would at its next operations; a `catch` cannot hold it.
fn lookup(key: LookupKey) -> Answer {
    let name = key.name();
    let answer = with_state(name, |state| answer(state, key));
    if answer.is_err() && deadline_passed() {
        let token = Dynamic::from(DEADLINE_TOKEN);
        return Err(EvalAltResult::ErrorTerminated(token, Position::NONE).into());
    }
    answer
}

/// Answers from the event's memo, then the shared cache, then the [`Lookups`] backend.
///
/// [`Lookups`]: crate::rules::lookup::Lookups
fn answer(state: &mut EvalState, key: LookupKey) -> Result<Dynamic, String> {
    let (source, result) = if let Some(known) = state.memo.get(&key) {
        (LookupSource::Event, known.clone())
    } else if let Some(cached) = state.services.cache.get(&key) {
        (LookupSource::Shared, Ok(cached))
    } else {
        let fetched = key.ask(state.services.lookups.as_ref());
        if let Ok(value) = &fetched {
            state.services.cache.put(key.clone(), value.clone());
        }
        (LookupSource::Fetched, fetched)
    };

    state
        .memo
        .entry(key.clone())
        .or_insert_with(|| result.clone());
    state.lookups.push(LookupRecord {
        rule: current_rule().to_string(),
        name: key.name().to_string(),
        args: key.args(),
        source,
        error: result.as_ref().err().cloned(),
    });

    result.map_err(|err| {
        if err.retryable {
            // with_state prefixes the function name; the evaluator matches the full text.
            state
                .retryable_thrown
                .push(format!("{}: {}", key.name(), err.message));
        }
        err.message
    })
}
