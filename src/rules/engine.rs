//! The Rhai engine every rule runs on: limits from `[rules]`, no `eval`, no imports, a
//! wall-clock deadline checked while the script runs, and the host functions.

use rhai::module_resolvers::DummyModuleResolver;
use rhai::{Dynamic, Engine};

use super::context::deadline_passed;
use super::functions;
use crate::config::RulesConfig;

/// The deadline is checked once every this many operations: often enough to stop a
/// loop within microseconds of it, rarely enough to cost nothing measurable.
const DEADLINE_CHECK_EVERY_OPS: u64 = 64;

/// The value a script is terminated with when its handler runs past `timeout_ms`.
pub(crate) const DEADLINE_TOKEN: &str = "deadline";

/// Builds the engine with every limit set explicitly from `config`.
pub fn build_engine(config: &RulesConfig) -> Engine {
    let mut engine = Engine::new();

    // For operations and sizes, 0 means unlimited; call levels and expression depths
    // are validated to be at least 1.
    engine.set_max_operations(config.max_operations);
    engine.set_max_call_levels(config.max_call_depth);
    engine.set_max_expr_depths(config.max_expr_depth, config.max_expr_depth);
    engine.set_max_string_size(config.max_string_size);
    engine.set_max_array_size(config.max_array_size);
    engine.set_max_map_size(config.max_map_size);

    // A rule reads nothing but its event and what the host functions give it.
    engine.set_module_resolver(DummyModuleResolver::new());
    engine.disable_symbol("eval");

    // A misspelt variable fails at load, and a missing event field reads as ().
    engine.set_strict_variables(true);
    engine.set_fail_on_invalid_map_property(false);

    // Only a progress callback can stop a running script by wall clock.
    engine.on_progress(|operations| {
        let check = operations % DEADLINE_CHECK_EVERY_OPS == 0;
        (check && deadline_passed()).then(|| Dynamic::from(DEADLINE_TOKEN))
    });

    functions::register(&mut engine);
    engine
}
