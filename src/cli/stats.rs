//! `cardbot stats`: the channel statistics as a table, CSV or JSON. A running server
//! holds sled's lock and statistics matter most while it runs, so this asks it through
//! `GET /admin/stats` with the admin token, like `cardbot rules`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::NaiveDate;

use crate::cli::rules::AdminClient;
use crate::config::Config;
use crate::stats::key::DAY_FORMAT;
use crate::stats::query::QueryParams;
use crate::stats::table::{self, Format};
use crate::stats::Report;

/// What to count and how to print it.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Only this card id; every card when omitted.
    #[arg(long)]
    pub card: Option<String>,
    /// First day, YYYY-MM-DD in `[stats] timezone`; 29 days before --until by default.
    #[arg(long, value_parser = parse_day)]
    pub since: Option<NaiveDate>,
    /// Last day, YYYY-MM-DD, included; today by default.
    #[arg(long, value_parser = parse_day)]
    pub until: Option<NaiveDate>,
    /// What the rows are.
    #[arg(
        long,
        default_value = "channel",
        value_parser = ["channel", "source", "staff", "location", "day", "rule"]
    )]
    pub by: String,
    /// How to print the answer.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// A day argument; clap puts the flag's name in front of the message.
fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, DAY_FORMAT)
        .map_err(|_| "not a day of the calendar; write YYYY-MM-DD, such as 2026-12-03".into())
}

/// Asks the server configured at `path` and prints its answer.
pub fn run(path: &Path, args: &StatsArgs) -> anyhow::Result<ExitCode> {
    check_range(args)?;
    let config = Config::load_for_admin(path)?;
    let client = AdminClient::from_config(&config)?;
    let params = QueryParams {
        card: args.card.clone(),
        since: args.since.map(|day| day.format(DAY_FORMAT).to_string()),
        until: args.until.map(|day| day.format(DAY_FORMAT).to_string()),
        by: Some(args.by.clone()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let answer = runtime.block_on(client.get_query_text("/admin/stats", &params))?;
    let report: Report =
        serde_json::from_str(&answer).context("the server's answer is not a statistics report")?;

    // JSON is the endpoint's answer byte for byte, so the two can be compared or diffed.
    match args.format {
        Format::Json => println!("{}", answer.trim_end()),
        format => print!("{}", table::render(&report, format)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses an `--until` before `--since` before asking anyone, naming both flags.
fn check_range(args: &StatsArgs) -> anyhow::Result<()> {
    if let (Some(since), Some(until)) = (args.since, args.until) {
        if until < since {
            bail!("--until {until} is before --since {since}; give an --until on or after it");
        }
    }
    Ok(())
}
