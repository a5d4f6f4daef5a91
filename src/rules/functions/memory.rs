//! `remember`, `recall`, `once_per` and `history`: reads see this event's earlier writes
//! first, then the store; writes become effects that the worker persists.

use rhai::{Dynamic, Engine, EvalAltResult, INT};

use crate::rules::context::{current_rule, with_state, EvalState};
use crate::rules::history::{self, History};
use crate::rules::memory::{self, MemoryEffect};
use crate::rules::value::{from_json, to_json};

type Answer<T> = Result<T, Box<EvalAltResult>>;

/// Registers the memory and history functions.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn(
        "remember",
        |openid: &str, key: &str, value: Dynamic| -> Answer<()> {
            with_state("remember", |state| {
                check_names(openid, key)?;
                let value = to_json(&value)?;
                state.overlay.push(MemoryEffect::Remember {
                    rule: current_rule().to_string(),
                    openid: openid.to_string(),
                    key: key.to_string(),
                    value,
                });
                Ok(())
            })
        },
    );
    engine.register_fn("recall", |openid: &str, key: &str| -> Answer<Dynamic> {
        with_state("recall", |state| {
            check_names(openid, key)?;
            let stored = read(state, &memory::value_key(openid, key))?;
            Ok(stored.as_ref().map_or(Dynamic::UNIT, from_json))
        })
    });
    engine.register_fn(
        "once_per",
        |openid: &str, key: &str, seconds: INT| -> Answer<bool> {
            with_state("once_per", |state| once_per(state, openid, key, seconds))
        },
    );
    engine.register_fn("history", |openid: &str| -> Answer<Dynamic> {
        with_state("history", |state| user_history(state, openid))
    });
}

fn check_names(openid: &str, key: &str) -> Result<(), String> {
    if openid.trim().is_empty() {
        return Err("openid must not be empty".to_string());
    }
    if key.is_empty() {
        return Err("key must not be empty".to_string());
    }
    Ok(())
}

/// The latest value under `storage_key`: this event's writes first, then the store.
fn read(state: &EvalState, storage_key: &[u8]) -> Result<Option<serde_json::Value>, String> {
    if let Some(written) = state.overlay.latest(storage_key) {
        return Ok(written);
    }
    memory::read(&state.services.memory, storage_key)
        .map_err(|err| format!("failed to read rule memory: {err}"))
}

/// True, and recorded, when `key` was not granted for `openid` in the last `seconds`.
fn once_per(state: &mut EvalState, openid: &str, key: &str, seconds: INT) -> Result<bool, String> {
    check_names(openid, key)?;
    if seconds <= 0 {
        return Err(format!("seconds must be positive, not {seconds}"));
    }

    let last = read(state, &memory::once_key(openid, key))?.and_then(|v| v.as_i64());
    if last.is_some_and(|at| state.now - at < seconds) {
        return Ok(false);
    }

    state.overlay.push(MemoryEffect::Once {
        rule: current_rule().to_string(),
        openid: openid.to_string(),
        key: key.to_string(),
        at: state.now,
    });
    Ok(true)
}

/// The user's recorded history, with the event being handled folded in when it is theirs.
fn user_history(state: &EvalState, openid: &str) -> Result<Dynamic, String> {
    let stored = history::read(&state.services.history, openid)
        .map_err(|err| format!("failed to read user history: {err}"))?;
    let is_current = openid == state.event.openid && history::is_user_event(&state.event);
    match (stored, is_current) {
        (None, false) => Ok(history::empty_map()),
        (stored, _) => {
            let mut seen: History = stored.unwrap_or_default();
            if is_current {
                seen.fold(&state.event);
            }
            Ok(Dynamic::from_map(seen.to_map()))
        }
    }
}
