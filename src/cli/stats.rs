//! `cardbot stats`: the channel statistics as a table, CSV or JSON. A running server
//! holds sled's lock and statistics matter most while it runs, so this asks it through
//! `GET /admin/stats` with the admin token, like `cardbot rules`.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::rules::AdminClient;
use crate::config::Config;
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
    #[arg(long)]
    pub since: Option<String>,
    /// Last day, YYYY-MM-DD, included; today by default.
    #[arg(long)]
    pub until: Option<String>,
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

/// Asks the server configured at `path` and prints its answer.
pub fn run(path: &Path, args: &StatsArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load_for_admin(path)?;
    let client = AdminClient::from_config(&config)?;
    let params = QueryParams {
        card: args.card.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
        by: Some(args.by.clone()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let report: Report = runtime.block_on(client.get_query("/admin/stats", &params))?;
    print!("{}", table::render(&report, args.format));
    Ok(ExitCode::SUCCESS)
}
