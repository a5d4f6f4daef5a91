//! The command line: one file per subcommand, all sharing `--config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
pub mod push;
pub mod rules;
mod serve;

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
    /// Inspect or roll back the rules of the running server.
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// Send a signed (and encrypted) event push to a running callback, as WeChat would.
    Push(Box<push::PushArgs>),
}

/// Runs the chosen command and turns its outcome into the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve => serve::run(&cli.config),
        Command::Check => check::run(&cli.config),
        Command::Rules { command } => rules::run(&cli.config, &command),
        Command::Push(args) => push::run(&cli.config, &args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
