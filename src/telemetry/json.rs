//! JSON lines: one object per event with its fields at the top level, every string
//! value capped in length (the JSON encoder escapes control characters).

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::escape::{truncate_value, MAX_MESSAGE_CHARS, MAX_VALUE_CHARS};

/// Formats each event as `{"timestamp", "level", "target", "message", ...fields}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;

        let metadata = event.metadata();
        let mut fields = FieldMap(Map::new());
        fields.insert("timestamp", Value::String(timestamp));
        fields.insert("level", Value::String(metadata.level().to_string()));
        event.record(&mut fields);
        fields.insert("target", Value::String(metadata.target().to_string()));

        let line = serde_json::to_string(&fields.0).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

/// An event's fields as JSON values.
struct FieldMap(Map<String, Value>);

impl FieldMap {
    fn insert(&mut self, name: &str, value: Value) {
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.0.insert(name.to_string(), value);
    }

    fn insert_text(&mut self, field: &Field, text: &str) {
        let limit = if field.name() == "message" {
            MAX_MESSAGE_CHARS
        } else {
            MAX_VALUE_CHARS
        };
        self.insert(field.name(), Value::String(truncate_value(text, limit)));
    }
}

impl Visit for FieldMap {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.insert_text(field, &format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert_text(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert_text(field, &value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field.name(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field.name(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field.name(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field.name(), Value::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::captured::Captured;

    #[test]
    fn fields_keep_their_types_and_long_strings_are_cut() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLines)
            .with_writer(captured.clone())
            .finish();
        let long = "y".repeat(1000);

        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(inbox_id = 7_u64, ok = true, openid = %long, "event\naccepted");
        });

        let output = captured.text();
        assert_eq!(output.lines().count(), 1, "{output}");
        let line: Value = serde_json::from_str(&output).unwrap();
        assert_eq!(line["message"], "event\naccepted");
        assert_eq!(line["inbox_id"], 7);
        assert_eq!(line["ok"], true);
        assert_eq!(line["level"], "INFO");
        let openid = line["openid"].as_str().unwrap();
        assert_eq!(openid, format!("{}…[744 more chars]", "y".repeat(256)));
    }
}
