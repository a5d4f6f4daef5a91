//! A [`Report`] printed for people (an aligned table with a total line) or for
//! spreadsheets (CSV, rows only) or programs (the JSON of `GET /admin/stats`).

use serde_json::Value;

use super::Report;

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a total line.
    #[default]
    Table,
    /// Comma-separated rows with a header, no total line.
    Csv,
    /// The JSON answer of `GET /admin/stats`, pretty-printed.
    Json,
}

/// The report in `format`, ending with a newline.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => table(report),
        Format::Csv => csv(report),
        Format::Json => {
            // A report is strings, numbers and nulls: serialising it cannot fail.
            let text = serde_json::to_string_pretty(report).unwrap_or_default();
            format!("{text}\n")
        }
    }
}

/// The header and the cells of every row, the total line last when asked.
fn cells(report: &Report, with_total: bool) -> Vec<Vec<String>> {
    let labelled = report.rows.iter().any(|row| row.label.is_some());
    let mut header = vec![report.by.clone()];
    if labelled {
        header.push("label".to_string());
    }
    header.extend(report.metrics.iter().cloned());

    let mut lines = vec![header];
    for row in &report.rows {
        let mut line = vec![row.key.clone()];
        if labelled {
            line.push(row.label.clone().unwrap_or_default());
        }
        line.extend(report.metrics.iter().map(|m| shown(row.counts.get(m))));
        lines.push(line);
    }
    if with_total {
        let mut line = vec!["total".to_string()];
        if labelled {
            line.push(String::new());
        }
        line.extend(report.metrics.iter().map(|m| shown(report.totals.get(m))));
        lines.push(line);
    }
    lines
}

fn shown(value: Option<&Value>) -> String {
    match value {
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::String(text)) => text.clone(),
        _ => "-".to_string(),
    }
}

fn table(report: &Report) -> String {
    let lines = cells(report, true);
    let text_columns = if report.rows.iter().any(|row| row.label.is_some()) {
        2
    } else {
        1
    };
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|column| {
            let widest = lines.iter().map(|line| line[column].chars().count()).max();
            widest.unwrap_or(0)
        })
        .collect();

    let mut out = format!(
        "{} to {} ({}){}\n",
        report.since,
        report.until,
        report.timezone,
        report
            .card
            .as_deref()
            .map(|card| format!(", card {card}"))
            .unwrap_or_default()
    );
    for line in &lines {
        let padded: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(column, cell)| match column < text_columns {
                true => format!("{cell:<width$}", width = widths[column]),
                false => format!("{cell:>width$}", width = widths[column]),
            })
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn csv(report: &Report) -> String {
    let mut out = String::new();
    for line in cells(report, false) {
        let quoted: Vec<String> = line.iter().map(|cell| csv_cell(cell)).collect();
        out.push_str(&quoted.join(","));
        out.push('\n');
    }
    out
}

/// A CSV cell, quoted when it holds a comma, a quote or a line break. A null average
/// is an empty cell, not a dash.
fn csv_cell(cell: &str) -> String {
    if cell == "-" {
        return String::new();
    }
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::stats::Row;

    fn report() -> Report {
        let counts = |received: u64, avg: Value| {
            BTreeMap::from([
                ("received".to_string(), Value::from(received)),
                ("redeem_secs_avg".to_string(), avg),
            ])
        };
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
    fn json_reads_back_as_the_same_report() {
        let text = render(&report(), Format::Json);

        let back: Report = serde_json::from_str(&text).unwrap();

        assert_eq!(back, report());
    }
}
