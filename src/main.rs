//! The `cardbot` command: parse the arguments and run the chosen command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cardbot::cli::Cli::parse();
    cardbot::cli::run(cli)
}
