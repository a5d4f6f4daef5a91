//! The command line: one file per subcommand, all sharing `--config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod delivery;
mod dry_run;
pub mod event_args;
mod explain;
mod log;
pub mod push;
pub mod rules;
mod serve;
pub mod simulate;
mod stats;
mod suite;
mod test;

/// cardbot: the callback server for WeChat card and coupon events.
#[derive(Debug, Parser)]
#[command(name = "cardbot", version, about)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, default_value = "config.toml")]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the callback server.
    Serve,
    /// Validate the config and compile every rule; exits non-zero on any problem.
    Check,
    /// Show what the rules decided for a user, newest first, from the running server.
    Log(log::LogArgs),
    /// Inspect or roll back the rules of the running server.
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// Run one event through the rules, sending and saving nothing, and explain it.
    Simulate(Box<simulate::SimulateArgs>),
    /// Run the rule tests (`<rules dir>/tests/*.toml`); exits non-zero on any failure.
    Test {
        /// The directory of test suites; `<rules dir>/tests` when omitted.
        dir: Option<PathBuf>,
    },
    /// Send a signed (and encrypted) event push to a running callback, as WeChat would.
    Push(Box<push::PushArgs>),
    /// Show the channel statistics of the running server: a table, CSV or JSON.
    Stats(stats::StatsArgs),
}

/// Runs the chosen command and turns its outcome into the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve => serve::run(&cli.config),
        Command::Check => check::run(&cli.config),
        Command::Log(args) => log::run(&cli.config, &args),
        Command::Rules { command } => rules::run(&cli.config, &command),
        Command::Simulate(args) => simulate::run(&cli.config, &args),
        Command::Test { dir } => test::run(&cli.config, dir.as_deref()),
        Command::Push(args) => push::run(&cli.config, &args),
        Command::Stats(args) => stats::run(&cli.config, &args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
