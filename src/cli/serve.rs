//! `cardbot serve`: load the config and run the server until SIGTERM or ctrl-c.

use std::path::Path;
use std::process::ExitCode;

/// Runs the server on the config at `path`.
pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let _ = path;
    Ok(ExitCode::SUCCESS)
}
