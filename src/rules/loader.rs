//! Reading a rules directory into a [`RuleSet`]: every `*.rhai` file compiled, its
//! handlers checked and its top level run, with every error reported at `file:line:col`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rhai::{Engine, EvalAltResult, Position, Scope};
use sha1::{Digest, Sha1};

use super::context;
use super::handler::check_function;
use super::set::{Rule, RuleSet, StatsRegistry};

/// Length of a revision id: short enough to type, long enough never to collide here.
const REVISION_LEN: usize = 12;

/// One problem in one rule file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoadError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl LoadError {
    fn at(file: &Path, position: Position, message: impl Into<String>) -> Self {
        LoadError {
            file: file.to_path_buf(),
            line: position.line(),
            column: position.position(),
            message: message.into(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}:{}", self.column.unwrap_or(1))?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a rules directory, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{}", lines.join("\n"))
    }
}

impl std::error::Error for LoadErrors {}

/// The rule sources of `dir` by rule name (file stem), in file-name order.
///
/// Hidden files (editor backups, swap files) and anything not ending in `.rhai` are skipped.
pub fn read_sources(dir: &Path) -> Result<BTreeMap<String, (PathBuf, String)>, LoadErrors> {
    let single = |message: String| LoadErrors(vec![LoadError::at(dir, Position::NONE, message)]);
    let entries = std::fs::read_dir(dir).map_err(|err| {
        single(format!(
            "failed to read the rules directory: {err}; create it or set [rules] dir"
        ))
    })?;

    let mut sources = BTreeMap::new();
    let mut errors = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|err| single(format!("failed to list: {err}")))?
            .path();
        let Some(name) = rule_name(&path) else {
            continue;
        };
        match std::fs::read_to_string(&path) {
            Ok(source) => {
                sources.insert(name, (path, source));
            }
            Err(err) => errors.push(LoadError::at(&path, Position::NONE, err.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(LoadErrors(errors))
    }
}

/// The rule name of a path, if it is a rule file.
pub(crate) fn rule_name(path: &Path) -> Option<String> {
    let file_name = path.file_name()?.to_str()?;
    let stem = file_name.strip_suffix(".rhai")?;
    (!stem.is_empty() && !stem.starts_with('.') && path.is_file()).then(|| stem.to_string())
}

/// The revision of a set of sources: sha1 of the (name, source) pairs in name order.
pub fn revision_of(sources: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha1::new();
    for (name, source) in sources {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(source.as_bytes());
        hasher.update([0]);
    }
    let mut revision = hex::encode(hasher.finalize());
    revision.truncate(REVISION_LEN);
    revision
}

/// Reads and compiles every rule of `dir`; all or nothing.
pub(crate) fn load_dir(
    engine: &Engine,
    dir: &Path,
    timeout: Duration,
    stats: &StatsRegistry,
) -> Result<RuleSet, LoadErrors> {
    let sources = read_sources(dir)?;
    compile_set(engine, sources, timeout, stats)
}

/// Compiles named sources into a set, collecting the errors of every file.
pub(crate) fn compile_set(
    engine: &Engine,
    sources: BTreeMap<String, (PathBuf, String)>,
    timeout: Duration,
    stats: &StatsRegistry,
) -> Result<RuleSet, LoadErrors> {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (name, (file, source)) in sources {
        match compile_rule(engine, &name, &file, &source, timeout) {
            Ok((ast, handlers)) => rules.push(Rule {
                stats: stats.for_rule(&name),
                has_top_level: !ast.statements().is_empty(),
                name: name.into(),
                file,
                source,
                handlers,
                ast,
            }),
            Err(mut found) => errors.append(&mut found),
        }
    }
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }

    let named = rules
        .iter()
        .map(|r| (r.name.to_string(), r.source.clone()))
        .collect();
    Ok(RuleSet {
        revision: revision_of(&named),
        rules,
        loaded_at: chrono::Utc::now().timestamp(),
    })
}

type Compiled = (rhai::AST, BTreeSet<String>);

fn compile_rule(
    engine: &Engine,
    name: &str,
    file: &Path,
    source: &str,
    timeout: Duration,
) -> Result<Compiled, Vec<LoadError>> {
    let mut ast = engine
        .compile(source)
        .map_err(|err| vec![LoadError::at(file, err.1, err.0.to_string())])?;
    ast.set_source(file.display().to_string());

    let mut handlers = BTreeSet::new();
    let mut errors = Vec::new();
    for function in ast.iter_functions() {
        match check_function(function.name, function.params.len()) {
            Ok(()) if function.name.starts_with("on_") => {
                handlers.insert(function.name.to_string());
            }
            Ok(()) => {}
            Err(message) => {
                let position = definition_position(source, function.name);
                errors.push(LoadError::at(file, position, message));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    run_top_level(engine, name, &ast, timeout).map_err(|err| {
        vec![LoadError::at(
            file,
            error_position(&err),
            error_message(&err),
        )]
    })?;
    Ok((ast, handlers))
}

/// Where `fn <name>` is written, found in the text since Rhai keeps no position for it.
fn definition_position(source: &str, name: &str) -> Position {
    let needle = format!("fn {name}");
    for (index, line) in source.lines().enumerate() {
        if let Some(column) = line.find(&needle) {
            let column = line[..column].chars().count() + 1;
            let line = u16::try_from(index + 1).unwrap_or(u16::MAX);
            return Position::new(line, u16::try_from(column).unwrap_or(u16::MAX));
        }
    }
    Position::NONE
}

/// Runs the top level once, under the same deadline as a handler, to prove it can run.
fn run_top_level(
    engine: &Engine,
    name: &str,
    ast: &rhai::AST,
    timeout: Duration,
) -> Result<(), Box<EvalAltResult>> {
    context::set_rule(Some(name.into()));
    context::set_deadline(Some(Instant::now() + timeout));
    let result = engine.run_ast_with_scope(&mut Scope::new(), ast);
    context::set_deadline(None);
    context::set_rule(None);
    result
}

/// Where an error happened: the innermost position, inside helper functions too.
pub(crate) fn error_position(err: &EvalAltResult) -> Position {
    let inner = err.unwrap_inner().position();
    if inner.is_none() {
        err.position()
    } else {
        inner
    }
}

/// What went wrong, without the position (shown apart as file:line:col).
pub(crate) fn error_message(err: &EvalAltResult) -> String {
    let inner = err.unwrap_inner();
    let text = inner.to_string();
    let suffix = format!(" ({})", inner.position());
    match text.strip_suffix(&suffix) {
        Some(message) if !inner.position().is_none() => message.to_string(),
        _ => text,
    }
}
