//! The functions rules may call, registered on the engine: actions, lookups, memory and
//! history, logging. They reach the running evaluation through [`crate::rules::context`].

mod actions;
mod log;
mod lookups;
mod memory;

/// Registers every host function on `engine`.
pub(crate) fn register(engine: &mut rhai::Engine) {
    actions::register(engine);
    lookups::register(engine);
    memory::register(engine);
    log::register(engine);
}
