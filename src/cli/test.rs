//! `cardbot test [DIR]`: run the rule test suites kept next to the rules, print `PASS` or
//! `FAIL` per case with a diff, and exit non-zero on any failure.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::suite::{run_case, Suite};
use crate::config::Config;

/// The directory of suites under `[rules] dir` when none is named.
pub const DEFAULT_SUBDIR: &str = "tests";

/// Runs every `*.toml` suite of `dir` (default `<rules dir>/tests`) in file-name order.
pub fn run(path: &Path, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let dir = dir.map_or_else(|| config.rules.dir.join(DEFAULT_SUBDIR), Path::to_path_buf);
    let files = suite_files(&dir)?;

    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let shown = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let suite = match Suite::load(file) {
            Ok(suite) => suite,
            Err(err) => {
                println!("FAIL {shown}: {err:#}");
                failed += 1;
                continue;
            }
        };
        for case in &suite.cases {
            let problems = run_case(&config, file, &suite, case);
            if problems.is_empty() {
                println!("PASS {shown}: {}", case.name);
                passed += 1;
            } else {
                println!("FAIL {shown}: {}", case.name);
                for problem in problems {
                    println!("{}", indent(&problem));
                }
                failed += 1;
            }
        }
    }

    println!(
        "\n{passed} passed, {failed} failed, in {} suite(s) of {}",
        files.len(),
        dir.display()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn suite_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "failed to read the rule tests in {}; create it or name another directory",
            dir.display()
        )
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if path.extension().is_some_and(|ext| ext == "toml") && !hidden && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("no rule test suites (*.toml) in {}", dir.display());
    }
    Ok(files)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A line diff: `- ` lines only expected, `+ ` lines only actual, `  ` lines in both.
pub fn diff(expected: &[String], actual: &[String]) -> String {
    // Longest common subsequence table, from the ends, then walked from the start.
    let (n, m) = (expected.len(), actual.len());
    let mut common = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i][j] = if expected[i] == actual[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }

    let mut lines = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            lines.push(format!("  {}", expected[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || common[i + 1][j] >= common[i][j + 1]) {
            lines.push(format!("- {}", expected[i]));
            i += 1;
        } else {
            lines.push(format!("+ {}", actual[j]));
            j += 1;
        }
    }
    if lines.is_empty() {
        lines.push("  (none)".to_string());
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_diff_marks_what_is_missing_and_what_is_extra() {
        let expected = lines(&["a", "b", "c"]);
        let actual = lines(&["a", "x", "c", "d"]);

        let text = diff(&expected, &actual);

        assert_eq!(text, "  a\n- b\n+ x\n  c\n+ d");
    }
}
