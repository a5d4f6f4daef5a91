//! `cardbot simulate`: one event through the rules of `[rules] dir`, sending nothing and
//! writing nothing, with a readable account of what they would do and why.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::dry_run::DryRun;
use super::event_args::EventArgs;
use crate::config::Config;
use crate::pipeline::lookups::ApiLookups;
use crate::pipeline::HeldCards;
use crate::rules::seed::Seed;
use crate::rules::{CannedLookups, Lookups};
use crate::wechat::event::Event;

/// How to print the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The event, where lookups are answered from, and the state to assume.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub event: EventArgs,
    /// A push's plaintext XML instead of the event flags.
    #[arg(long, conflicts_with = "kind")]
    pub file: Option<PathBuf>,
    /// Canned lookup answers (TOML or JSON, the format of rule tests' `lookups`);
    /// without it and without --live, every lookup finds nothing.
    #[arg(long, conflicts_with = "live")]
    pub canned: Option<PathBuf>,
    /// Ask the real WeChat API of the config, read-only (card queries only).
    #[arg(long)]
    pub live: bool,
    /// Memory, once_per grants and history to assume (`[memory.<openid>]`, ...).
    #[arg(long)]
    pub memory: Option<PathBuf>,
    /// The evaluation's clock, unix seconds; the current time when omitted.
    #[arg(long)]
    pub now: Option<i64>,
    /// `text` for people, `json` for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Runs one simulation on the config at `path`.
pub fn run(path: &Path, args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let now = args.now.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let event = read_event(args, now)?;
    let seed = match &args.memory {
        Some(file) => Seed::load(file)?,
        None => Seed::default(),
    };
    let dry_run = DryRun::open(&config, &seed)?;

    // The live lookups block on the runtime, so evaluation stays on this thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let lookups: Arc<dyn Lookups> = if args.live {
        let _entered = runtime.enter();
        let client = crate::api::Client::new(&config.wechat, dry_run.db())
            .context("failed to set up the WeChat API client")?;
        let held = HeldCards::open(dry_run.db())?;
        let fresh_secs = config.worker.held_cards_fresh_secs;
        Arc::new(ApiLookups::new(
            client,
            held,
            fresh_secs,
            runtime.handle().clone(),
        ))
    } else {
        match &args.canned {
            Some(file) => Arc::new(CannedLookups::load(file)?),
            None => Arc::new(CannedLookups::default()),
        }
    };

    let outcome = dry_run.run(&event, now, lookups)?;
    match args.format {
        Format::Text => print!("{}", super::explain::render(&event, &outcome)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&outcome)?),
    }
    Ok(ExitCode::SUCCESS)
}

fn read_event(args: &SimulateArgs, now: i64) -> anyhow::Result<Event> {
    let Some(file) = &args.file else {
        return args.event.to_event(now);
    };
    let xml = std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?;
    Event::parse(&xml)
        .with_context(|| format!("{} is not a push WeChat would send", file.display()))
}
