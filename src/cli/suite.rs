//! Rule test suites: one TOML file of cases, each an event, the lookups, memory and
//! history to assume, and the messages the rules must choose.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::Value;

use super::dry_run::DryRun;
use crate::config::Config;
use crate::rules::seed::Seed;
use crate::rules::{CannedLookups, Decision};
use crate::wechat::event::Event;
use crate::wechat::synth::{self, EventFields};

/// One suite file; `canned`, `lookups` and `now` are defaults for its cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// A canned lookups file, relative to the suite file.
    pub canned: Option<PathBuf>,
    /// Canned lookups inline, in the same format.
    pub lookups: Option<CannedLookups>,
    /// The evaluation's clock, unix seconds.
    pub now: Option<i64>,
    #[serde(default, rename = "case")]
    pub cases: Vec<Case>,
}

/// One event and what the rules must make of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub now: Option<i64>,
    /// `{ type = "user_get_card", openid = "...", card_id = "...", ... }`.
    pub event: Option<toml::Table>,
    /// A push's plaintext XML, relative to the suite file, instead of `event`.
    pub event_file: Option<PathBuf>,
    pub canned: Option<PathBuf>,
    pub lookups: Option<CannedLookups>,
    #[serde(default)]
    pub memory: toml::Table,
    #[serde(default)]
    pub once: toml::Table,
    #[serde(default)]
    pub history: toml::Table,
    /// The actions, in order; each lists the fields that must match.
    pub expect_actions: Option<Vec<Value>>,
    pub expect_replies: Option<Vec<Value>>,
    #[serde(default)]
    pub expect_no_actions: bool,
    /// Rules expected to fail on this event; any other failing rule fails the case.
    #[serde(default)]
    pub expect_failures: Vec<String>,
}

impl Suite {
    /// Reads a suite file.
    pub fn load(path: &Path) -> anyhow::Result<Suite> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read {}", path.display()))?;
        toml::from_str(&text).map_err(|err| anyhow::anyhow!("{}: {}", path.display(), err))
    }
}

/// Runs `case` of the suite at `file`; the problems found, empty when it passes.
pub fn run_case(config: &Config, file: &Path, suite: &Suite, case: &Case) -> Vec<String> {
    match try_case(config, file, suite, case) {
        Ok(problems) => problems,
        Err(err) => vec![format!("cannot run: {err:#}")],
    }
}

fn try_case(
    config: &Config,
    file: &Path,
    suite: &Suite,
    case: &Case,
) -> anyhow::Result<Vec<String>> {
    let base = file.parent().unwrap_or(Path::new("."));
    let Some(now) = case.now.or(suite.now).or_else(|| event_time(case)) else {
        bail!(
            "set `now` (unix seconds) in the case or the suite, so it answers the same every day"
        );
    };
    if case.expect_actions.is_none() && case.expect_replies.is_none() && !case.expect_no_actions {
        bail!("say what to expect: expect_actions, expect_replies or expect_no_actions = true");
    }
    let event = case_event(case, base, now)?;
    let lookups = case_lookups(case, suite, base)?;
    let seed = case_seed(case)?;

    let outcome = DryRun::open(config, &seed)?.run(&event, now, Arc::new(lookups))?;

    let mut problems = failures(&outcome.decision, &case.expect_failures);
    let expected_actions = match (&case.expect_actions, case.expect_no_actions) {
        (Some(_), true) => bail!("expect_actions and expect_no_actions = true contradict"),
        (Some(expected), false) => Some(expected.clone()),
        (None, true) => Some(Vec::new()),
        (None, false) => None,
    };
    if let Some(expected) = expected_actions {
        let actual = outcome
            .decision
            .actions
            .iter()
            .map(|a| flatten(a, "message"));
        problems.extend(compare("actions", &expected, &actual.collect::<Vec<_>>()));
    }
    if let Some(expected) = &case.expect_replies {
        let actual = outcome.decision.replies.iter().map(|r| flatten(r, "body"));
        problems.extend(compare("replies", expected, &actual.collect::<Vec<_>>()));
    }
    Ok(problems)
}

fn event_time(case: &Case) -> Option<i64> {
    case.event.as_ref()?.get("create_time")?.as_integer()
}

fn case_event(case: &Case, base: &Path, now: i64) -> anyhow::Result<Event> {
    let xml = match (&case.event, &case.event_file) {
        (Some(_), Some(_)) => bail!("give `event` or `event_file`, not both"),
        (None, None) => bail!("give the `event` (type and fields) or an `event_file`"),
        (None, Some(path)) => {
            let path = base.join(path);
            std::fs::read_to_string(&path)
                .with_context(|| format!("failed to read {}", path.display()))?
        }
        (Some(table), None) => {
            let mut table = table.clone();
            let Some(kind) = table.remove("type") else {
                bail!("the event needs a `type`, e.g. type = \"user_get_card\"");
            };
            let kind = kind
                .as_str()
                .context("the event's `type` must be a string")?
                .to_string();
            let mut fields: EventFields = toml::Value::Table(table)
                .try_into()
                .map_err(|err: toml::de::Error| anyhow::anyhow!("event: {}", err.message()))?;
            if fields.create_time == 0 {
                fields.create_time = now;
            }
            synth::event_xml(&kind, &fields)
        }
    };
    Event::parse(xml.as_bytes()).context("the event is not a push WeChat would send")
}

fn case_lookups(case: &Case, suite: &Suite, base: &Path) -> anyhow::Result<CannedLookups> {
    if case.canned.is_some() && case.lookups.is_some() {
        bail!("give `canned` or `lookups`, not both");
    }
    let load = |file: &PathBuf| CannedLookups::load(&base.join(file));
    if let Some(inline) = &case.lookups {
        return Ok(inline.clone());
    }
    if let Some(file) = &case.canned {
        return Ok(load(file)?);
    }
    if let Some(inline) = &suite.lookups {
        return Ok(inline.clone());
    }
    match &suite.canned {
        Some(file) => Ok(load(file)?),
        None => Ok(CannedLookups::default()),
    }
}

fn case_seed(case: &Case) -> anyhow::Result<Seed> {
    let table = toml::Table::from_iter([
        (
            "memory".to_string(),
            toml::Value::Table(case.memory.clone()),
        ),
        ("once".to_string(), toml::Value::Table(case.once.clone())),
        (
            "history".to_string(),
            toml::Value::Table(case.history.clone()),
        ),
    ]);
    let seed: Seed = toml::Value::Table(table)
        .try_into()
        .map_err(|err: toml::de::Error| anyhow::anyhow!("memory: {}", err.message()))?;
    seed.histories()
        .map_err(|message| anyhow::anyhow!(message))?;
    Ok(seed)
}

/// Rule failures not expected, and expected ones that did not happen.
fn failures(decision: &Decision, expected: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for run in &decision.rules {
        if let Some(failure) = &run.failure {
            if !expected.contains(&run.rule) {
                problems.push(format!(
                    "rule {} failed in {} at {}: {}",
                    run.rule, failure.handler, failure.location, failure.message
                ));
            }
        }
    }
    for rule in expected {
        let failed = decision
            .rules
            .iter()
            .any(|r| &r.rule == rule && r.failure.is_some());
        if !failed {
            problems.push(format!("rule {rule} was expected to fail but did not"));
        }
    }
    problems
}

/// `{rule, openid, message: {type, content}}` as `{rule, openid, type, content}`.
fn flatten(item: &impl serde::Serialize, inner: &str) -> Value {
    let mut value = serde_json::to_value(item).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        if let Some(Value::Object(fields)) = object.remove(inner) {
            object.extend(fields);
        }
    }
    value
}

/// Compares in order; every field an expected entry names must match, the rest is free.
fn compare(what: &str, expected: &[Value], actual: &[Value]) -> Option<String> {
    let same = expected.len() == actual.len()
        && expected
            .iter()
            .zip(actual)
            .all(|(want, got)| matches(want, got));
    if same {
        return None;
    }
    // Actual entries show only the fields checked: those of the entry at the same
    // place when the counts agree, else those any expected entry names.
    let mut union = serde_json::Map::new();
    for want in expected {
        if let Some(fields) = want.as_object() {
            union.extend(fields.clone());
        }
    }
    let union = Value::Object(union);
    let want: Vec<String> = expected.iter().map(|v| v.to_string()).collect();
    let got: Vec<String> = actual
        .iter()
        .enumerate()
        .map(|(index, got)| match expected.get(index) {
            Some(want) if expected.len() == actual.len() => project(got, want).to_string(),
            _ if expected.is_empty() => got.to_string(),
            _ => project(got, &union).to_string(),
        })
        .collect();
    Some(format!(
        "{what} differ (- expected, + actual):\n{}",
        super::test::diff(&want, &got)
    ))
}

/// Whether `got` has every field of `want` with the same value (tables recursively).
fn matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(want), Value::Object(got)) => want
            .iter()
            .all(|(key, value)| got.get(key).is_some_and(|found| matches(value, found))),
        _ => want == got,
    }
}

/// `got` cut down to the fields `want` names, so a diff shows only what is checked.
fn project(got: &Value, want: &Value) -> Value {
    match (got, want) {
        (Value::Object(got), Value::Object(want)) => {
            let kept = want.iter().filter_map(|(key, wanted)| {
                let found = got.get(key)?;
                Some((key.clone(), project(found, wanted)))
            });
            Value::Object(kept.collect())
        }
        _ => got.clone(),
    }
}
