//! `cardbot check`: validate the config and compile every rule, printing each problem
//! as `file:line:col: message`; exits non-zero on any.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;

/// Checks the config at `path` and the rules it points to.
pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{}: {err}", path.display());
            return Ok(ExitCode::FAILURE);
        }
    };

    match crate::rules::check_dir(&config.rules) {
        Ok(set) => {
            println!(
                "ok: config {} and {} rules in {} (revision {})",
                path.display(),
                set.rules.len(),
                config.rules.dir.display(),
                set.revision
            );
            for rule in &set.rules {
                let handlers: Vec<&str> = rule.handlers.iter().map(String::as_str).collect();
                println!("  {}: {}", rule.name, handlers.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for error in &errors.0 {
                eprintln!("{error}");
            }
            eprintln!(
                "{} problem(s) found; the server would refuse these rules",
                errors.0.len()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
