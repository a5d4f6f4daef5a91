//! A [`Report`] printed for people (an aligned table with a total line) or for
//! spreadsheets (CSV, rows only) or programs (the JSON of `GET /admin/stats`).
//!
//! Keys and labels come from pushes (channel tags, staff openids, location names), so
//! they are treated as untrusted text: the table escapes control characters, which a
//! terminal would obey, and CSV defuses cells a spreadsheet would run as a formula.

use serde_json::Value;
use unicode_width::UnicodeWidthStr;

use super::Report;

/// What the table shows for a missing value, such as an average before any redemption.
const MISSING: &str = "-";

/// The first characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a total line.
    #[default]
    Table,
    /// Comma-separated rows with a header, no total line.
    Csv,
    /// The JSON answer of `GET /admin/stats`, as the server wrote it.
    Json,
}

/// The report in `format`, ending with a newline.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => table(report),
        Format::Csv => csv(report),
        Format::Json => {
            // A report is strings, numbers and nulls: serialising it cannot fail.
            let text = serde_json::to_string(report).unwrap_or_default();
            format!("{text}\n")
        }
    }
}

/// One cell: text, or `None` for a missing value.
type Cell = Option<String>;

/// The header and the cells of every row, the total line last when asked.
fn cells(report: &Report, with_total: bool) -> Vec<Vec<Cell>> {
    let labelled = report.rows.iter().any(|row| row.label.is_some());
    let mut header = vec![Some(report.by.clone())];
    if labelled {
        header.push(Some("label".to_string()));
    }
    header.extend(report.metrics.iter().cloned().map(Some));

    let mut lines = vec![header];
    for row in &report.rows {
        let mut line = vec![Some(row.key.clone())];
        if labelled {
            line.push(Some(row.label.clone().unwrap_or_default()));
        }
        line.extend(report.metrics.iter().map(|m| shown(row.counts.get(m))));
        lines.push(line);
    }
    if with_total {
        let mut line = vec![Some("total".to_string())];
        if labelled {
            line.push(Some(String::new()));
        }
        line.extend(report.metrics.iter().map(|m| shown(report.totals.get(m))));
        lines.push(line);
    }
    lines
}

fn shown(value: Option<&Value>) -> Cell {
    match value {
        Some(Value::Number(number)) => Some(number.to_string()),
        Some(Value::String(text)) => Some(text.clone()),
        _ => None,
    }
}

fn table(report: &Report) -> String {
    let lines: Vec<Vec<String>> = cells(report, true)
        .into_iter()
        .map(|line| line.iter().map(terminal_text).collect())
        .collect();
    let text_columns = if report.rows.iter().any(|row| row.label.is_some()) {
        2
    } else {
        1
    };
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|column| {
            let widest = lines.iter().map(|line| line[column].width()).max();
            widest.unwrap_or(0)
        })
        .collect();

    let card = report.card.as_deref().map(escape_controls);
    let mut out = format!(
        "{} to {} ({}){}\n",
        escape_controls(&report.since),
        escape_controls(&report.until),
        escape_controls(&report.timezone),
        card.map(|card| format!(", card {card}"))
            .unwrap_or_default()
    );
    for line in &lines {
        let padded: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(column, cell)| pad(cell, widths[column], column < text_columns))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A cell as the terminal shows it: a dash when missing, control characters escaped.
fn terminal_text(cell: &Cell) -> String {
    cell.as_deref().map_or(MISSING.to_string(), escape_controls)
}

/// `text` with every control character written as its Rust escape (`\u{1b}`, `\n`), so
/// that a channel tag cannot move the cursor, clear the screen or split a row.
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `cell` padded to `width` terminal columns: a CJK character takes two, a combining
/// mark none, so counting chars would misalign every column after a Chinese name.
fn pad(cell: &str, width: usize, left: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(cell.width()));
    if left {
        format!("{cell}{fill}")
    } else {
        format!("{fill}{cell}")
    }
}

fn csv(report: &Report) -> String {
    let mut out = String::new();
    for line in cells(report, false) {
        let quoted: Vec<String> = line.iter().map(csv_cell).collect();
        out.push_str(&quoted.join(","));
        out.push('\n');
    }
    out
}

/// A CSV cell: empty for a missing value; led by `'` when a spreadsheet would take it
/// for a formula (a channel tag `=HYPERLINK(...)` must stay text); quoted when it holds
/// a comma, a quote or a line break.
fn csv_cell(cell: &Cell) -> String {
    let Some(text) = cell else {
        return String::new();
    };
    let text = if text.starts_with(FORMULA_STARTS) {
        format!("'{text}")
    } else {
        text.clone()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::stats::Row;

    fn counts(received: u64, avg: Value) -> BTreeMap<String, Value> {
        BTreeMap::from([
            ("received".to_string(), Value::from(received)),
            ("redeem_secs_avg".to_string(), avg),
        ])
    }

    /// The sample report with rows of these keys instead, each received 5, average 60.
    fn report_with_keys(keys: &[&str]) -> Report {
        let rows = keys.iter().map(|key| Row {
            key: key.to_string(),
            label: None,
            counts: counts(5, Value::from(60)),
        });
        Report {
            rows: rows.collect(),
            ..report()
        }
    }

    fn report() -> Report {
        Report {
            by: "channel".to_string(),
            card: None,
            since: "2026-12-01".to_string(),
            until: "2026-12-03".to_string(),
            timezone: "Asia/Shanghai".to_string(),
            metrics: vec!["received".to_string(), "redeem_secs_avg".to_string()],
            rows: vec![
                Row {
                    key: "store, north".to_string(),
                    label: None,
                    counts: counts(120, Value::from(3600)),
                },
                Row {
                    key: "(none)".to_string(),
                    label: None,
                    counts: counts(7, Value::Null),
                },
            ],
            totals: counts(127, Value::from(3600)),
        }
    }

    #[test]
    fn a_table_aligns_numbers_right_and_ends_with_the_total() {
        let text = render(&report(), Format::Table);

        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "2026-12-01 to 2026-12-03 (Asia/Shanghai)");
        assert_eq!(lines[1], "channel       received  redeem_secs_avg");
        assert_eq!(lines[2], "store, north       120             3600");
        assert_eq!(lines[3], "(none)               7                -");
        assert_eq!(lines[4], "total              127             3600");
    }

    #[test]
    fn csv_quotes_commas_and_leaves_a_missing_average_empty() {
        let text = render(&report(), Format::Csv);

        assert_eq!(
            text,
            "channel,received,redeem_secs_avg\n\"store, north\",120,3600\n(none),7,\n"
        );
    }

    #[test]
    fn a_cjk_key_aligns_by_display_width() {
        let report = report_with_keys(&["门店甲", "poster"]);

        let text = render(&report, Format::Table);

        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(lines[1], "门店甲          5               60");
        assert_eq!(lines[2], "poster          5               60");
        let widths: Vec<usize> = lines.iter().map(|line| line.width()).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{widths:?}\n{text}");
    }

    #[test]
    fn the_table_escapes_control_characters_in_keys() {
        let report = report_with_keys(&["\u{1b}[2J", "two\nlines"]);

        let text = render(&report, Format::Table);

        assert!(!text.contains('\u{1b}'), "{text}");
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.contains("\\u{1b}[2J "), "{text}");
        assert!(text.contains("two\\nlines "), "{text}");
    }

    #[test]
    fn csv_neutralises_a_key_that_looks_like_a_formula() {
        let report = report_with_keys(&["=HYPERLINK(\"http://x\",\"y\")", "@sum", "+1"]);

        let text = render(&report, Format::Csv);

        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",5,60");
        assert_eq!(lines[2], "'@sum,5,60");
        assert_eq!(lines[3], "'+1,5,60");
    }

    #[test]
    fn a_key_that_is_a_dash_survives_in_csv() {
        let report = report_with_keys(&["-"]);

        let text = render(&report, Format::Csv);

        assert_eq!(text, "channel,received,redeem_secs_avg\n'-,5,60\n");
    }

    #[test]
    fn json_reads_back_as_the_same_report() {
        let text = render(&report(), Format::Json);

        let back: Report = serde_json::from_str(&text).unwrap();

        assert_eq!(back, report());
    }
}
