//! Tracing setup: human-readable or JSON lines, filtered by config or `RUST_LOG`.
//!
//! Both formats cap every value's length, and the human-readable one escapes control
//! characters, so that a value taken from a request cannot forge or flood log lines.

#[cfg(test)]
mod captured;
mod escape;
mod json;
mod text;
mod throttle;

pub use escape::{escape_value, truncate_value, MAX_MESSAGE_CHARS, MAX_VALUE_CHARS};
pub use throttle::{LogThrottle, Verdict};

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber; a second call (as in tests) changes nothing.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));

    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(wants_colour())
        .with_writer(std::io::stderr);
    let installed = match config.format {
        LogFormat::Text => builder.fmt_fields(text::fields()).try_init(),
        LogFormat::Json => builder.event_format(json::JsonLines).try_init(),
    };
    // Already installed: keep the first subscriber.
    drop(installed);
}

/// Colours only for a person at a terminal: a file, a pipe or journald gets plain text.
/// `NO_COLOR` (any value) turns them off there too.
fn wants_colour() -> bool {
    let no_colour = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    std::io::stderr().is_terminal() && !no_colour
}
