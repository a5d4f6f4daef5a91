//! Running one event through a rule set: each rule's handlers in file-name order, each
//! under its deadline; a failing rule loses its own actions and writes, nothing else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{CallFnOptions, Dynamic, Engine, EvalAltResult, Scope};
use serde::{Deserialize, Serialize};

use super::action::{Action, Reply};
use super::context::{self, EvalState, Services};
use super::handler::{handler_for, ON_EVENT};
use super::loader::{error_message, error_position};
use super::lookup::LookupRecord;
use super::memory::MemoryEffect;
use super::set::{Rule, RuleSet};
use super::value::event_to_map;
use crate::metrics::{self, RuleResult};
use crate::wechat::event::Event;

/// Everything the rules decided about one event, stamped with the revision that decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub revision: String,
    pub event_type: String,
    pub openid: String,
    /// The evaluation's clock, unix seconds (`now()` in rules).
    pub now: i64,
    /// Customer-service messages to queue, in the order the rules chose them.
    pub actions: Vec<Action>,
    /// Passive replies, answered on WeChat's request if still in time.
    pub replies: Vec<Reply>,
    /// Memory writes, to persist with [`crate::rules::memory::apply`].
    pub effects: Vec<MemoryEffect>,
    /// Every lookup made, in order.
    pub lookups: Vec<LookupRecord>,
    /// One entry per rule that had a handler for the event.
    pub rules: Vec<RuleRun>,
}

impl Decision {
    /// The failure that asks for the event to be evaluated again later: a retryable
    /// lookup error no rule caught. The worker then applies nothing and retries.
    pub fn retry_later(&self) -> Option<&RuleFailure> {
        self.failures()
            .find(|failure| failure.kind == FailureKind::LookupRetryable)
    }

    /// Every rule failure of this evaluation.
    pub fn failures(&self) -> impl Iterator<Item = &RuleFailure> {
        self.rules.iter().filter_map(|run| run.failure.as_ref())
    }
}

/// How one rule ran on the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRun {
    pub rule: String,
    /// The handlers called, in order (the specific one, then `on_event`).
    pub handlers: Vec<String>,
    pub elapsed_micros: u64,
    /// `None` when every handler finished.
    pub failure: Option<RuleFailure>,
}

/// Why a rule failed, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFailure {
    pub kind: FailureKind,
    pub handler: String,
    /// `file:line:col` of the innermost error.
    pub location: String,
    pub message: String,
}

/// The kinds of rule failure, for counters and for the retry decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The script threw or misused a value.
    Runtime,
    /// The handler ran past `timeout_ms`.
    Timeout,
    /// The handler ran past `max_operations`.
    OperationLimit,
    /// A string, array or map grew past its limit.
    SizeLimit,
    /// Calls nested past `max_call_depth`.
    CallDepthLimit,
    /// A lookup failed in a way that may pass, and the rule did not catch it.
    LookupRetryable,
}

/// Evaluates `event` on `set`; blocking (lookups may wait on the network).
pub(crate) fn run(
    engine: &Engine,
    set: &RuleSet,
    event: &Event,
    now: i64,
    services: Services,
    timeout: Duration,
) -> Decision {
    let event_map = Dynamic::from_map(event_to_map(event));
    let specific = handler_for(&event.kind);
    let guard = context::install(EvalState::new(services, event.clone(), now));

    let mut runs = Vec::new();
    for rule in &set.rules {
        let handlers: Vec<&str> = [specific.as_str(), ON_EVENT]
            .into_iter()
            .filter(|handler| rule.handlers.contains(*handler))
            .collect();
        if !handlers.is_empty() {
            runs.push(run_rule(engine, rule, &handlers, &event_map, timeout));
        }
    }

    let state = context::take(&guard);
    let (actions, replies, effects, lookups) = match state {
        Some(state) => (
            state.actions,
            state.replies,
            state.overlay.into_effects(),
            state.lookups,
        ),
        None => Default::default(),
    };
    Decision {
        revision: set.revision.clone(),
        event_type: event.kind.clone(),
        openid: event.openid.clone(),
        now,
        actions,
        replies,
        effects,
        lookups,
        rules: runs,
    }
}

fn run_rule(
    engine: &Engine,
    rule: &Rule,
    handlers: &[&str],
    event_map: &Dynamic,
    timeout: Duration,
) -> RuleRun {
    context::set_rule(Some(Arc::clone(&rule.name)));
    let started = Instant::now();

    let mut failure = None;
    for handler in handlers {
        if let Err(err) = call_handler(engine, rule, handler, event_map, timeout) {
            failure = Some(describe_failure(rule, handler, &err));
            break;
        }
    }

    let finished = failure.is_none();
    context::with_current(|state| {
        if finished {
            state.commit_rule();
        } else {
            state.discard_rule();
        }
    });
    let elapsed = started.elapsed();
    rule.stats.record(elapsed, !finished);
    metrics::record_rule(&rule.name, rule_result(failure.as_ref()), elapsed);
    if let Some(failure) = &failure {
        tracing::warn!(
            rule = %rule.name,
            location = %failure.location,
            kind = ?failure.kind,
            error = %failure.message,
            "rule failed; its actions are dropped"
        );
    }
    context::set_rule(None);
    RuleRun {
        rule: rule.name.to_string(),
        handlers: handlers.iter().map(|h| h.to_string()).collect(),
        elapsed_micros: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        failure,
    }
}

/// How a rule's run counts in `cardbot_rule_evaluations_total`.
fn rule_result(failure: Option<&RuleFailure>) -> RuleResult {
    match failure.map(|failure| failure.kind) {
        None => RuleResult::Ok,
        Some(FailureKind::Timeout) => RuleResult::Timeout,
        Some(_) => RuleResult::Error,
    }
}

fn call_handler(
    engine: &Engine,
    rule: &Rule,
    handler: &str,
    event_map: &Dynamic,
    timeout: Duration,
) -> Result<(), Box<EvalAltResult>> {
    // TODO: a handler call costs several microseconds (ten lookup-free rules take about
    // 60-80 µs per event, over the 50 µs aim), because each call starts from fresh
    // global state and cold function-resolution caches that Rhai's public API does not
    // let a caller keep across calls.
    // The top level runs first so that global constants are visible to the handler;
    // at load it was shown to call no state function.
    let options = CallFnOptions::new()
        .eval_ast(rule.has_top_level)
        .rewind_scope(true);
    context::set_deadline(Some(Instant::now() + timeout));
    let result = engine.call_fn_with_options::<Dynamic>(
        options,
        &mut Scope::new(),
        &rule.ast,
        handler,
        (event_map.clone(),),
    );
    context::set_deadline(None);
    result.map(|_| ())
}

fn describe_failure(rule: &Rule, handler: &str, err: &EvalAltResult) -> RuleFailure {
    let position = error_position(err);
    let mut location = rule.file.display().to_string();
    if let Some(line) = position.line() {
        location = format!("{location}:{line}:{}", position.position().unwrap_or(1));
    }
    RuleFailure {
        kind: classify(err),
        handler: handler.to_string(),
        location,
        message: error_message(err),
    }
}

fn classify(err: &EvalAltResult) -> FailureKind {
    match err.unwrap_inner() {
        EvalAltResult::ErrorTerminated(..) => FailureKind::Timeout,
        EvalAltResult::ErrorTooManyOperations(..) => FailureKind::OperationLimit,
        EvalAltResult::ErrorDataTooLarge(..) => FailureKind::SizeLimit,
        EvalAltResult::ErrorStackOverflow(..) => FailureKind::CallDepthLimit,
        EvalAltResult::ErrorRuntime(value, _) => {
            let thrown = value.to_string();
            let retryable = context::with_current(|state| state.retryable_thrown.contains(&thrown));
            match retryable {
                Some(true) => FailureKind::LookupRetryable,
                _ => FailureKind::Runtime,
            }
        }
        _ => FailureKind::Runtime,
    }
}
