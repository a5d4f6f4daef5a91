//! The fields of a human-readable line, each value escaped and capped.

use std::fmt;

use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{self, Writer};
use tracing_subscriber::fmt::FormatFields;

use super::escape::{escape_value, MAX_MESSAGE_CHARS, MAX_VALUE_CHARS};

/// The message bare, then `name=value` pairs separated by spaces, as tracing's default
/// does; a string recorded as is keeps its quotes, one recorded with `%` has none.
pub fn fields() -> impl for<'writer> FormatFields<'writer> + 'static {
    format::debug_fn(write_field).delimited(" ")
}

fn write_field(writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
    let rendered = format!("{value:?}");
    if field.name() == "message" {
        write!(writer, "{}", escape_value(&rendered, MAX_MESSAGE_CHARS))
    } else {
        let name = field.name().strip_prefix("r#").unwrap_or(field.name());
        write!(
            writer,
            "{name}={}",
            escape_value(&rendered, MAX_VALUE_CHARS)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::captured::Captured;

    /// What `log` writes through the text formatter, without colours.
    fn capture(log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(fields())
            .with_ansi(false)
            .with_writer(captured.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        captured.text()
    }

    #[test]
    fn a_value_holding_a_newline_stays_on_its_line() {
        let openid = "o1\n2026-01-01T00:00:00Z  WARN forged line\x1b[2J";

        let output = capture(|| {
            tracing::info!(openid = %openid, quoted = openid, "event {} accepted", openid);
        });

        assert_eq!(output.lines().count(), 1, "{output}");
        assert!(!output.contains('\x1b'), "{output}");
        assert!(output.contains(" event o1\\u{a}2026"), "{output}");
        assert!(output.contains(" openid=o1\\u{a}2026"), "{output}");
        assert!(output.contains(" quoted=\"o1\\n2026"), "{output}");
    }

    #[test]
    fn a_long_value_is_cut() {
        let long = "x".repeat(10_000);

        let output = capture(|| {
            tracing::warn!(path = %long, "rejected");
        });

        assert!(output.len() < 400, "{output}");
        assert!(output.contains("…[9744 more chars]"), "{output}");
    }
}
