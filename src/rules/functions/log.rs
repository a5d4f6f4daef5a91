//! `log`, `print`, `debug` to tracing under the rule's name, and `now()`.

use rhai::{Dynamic, Engine, EvalAltResult, INT};

use crate::rules::context::{current_rule, with_state};

/// Registers `log` and `now`, and routes `print` and `debug` to tracing.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn("log", |message: Dynamic| {
        tracing::info!(rule = %current_rule(), "{message}");
    });
    engine.register_fn("now", || -> Result<INT, Box<EvalAltResult>> {
        with_state("now", |state| Ok(state.now))
    });
    engine.on_print(|message| {
        tracing::info!(rule = %current_rule(), "{message}");
    });
    engine.on_debug(|message, source, position| {
        let source = source.unwrap_or_default();
        tracing::debug!(rule = %current_rule(), %source, %position, "{message}");
    });
}
