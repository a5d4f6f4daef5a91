//! Prometheus metrics: the recorder, installed once per process, the help text of every
//! metric, and the functions the rest of the crate records through, so that names and
//! labels live in this one file. docs/metrics.md says what each metric means.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::Unit;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::clock;
use crate::pipeline::outbox::{DeadReason, EntryState, Outbox};
use crate::pipeline::PipelineError;
use crate::store::{Enqueued, Store, StoreError};
use crate::wechat::event::{CARD_EVENT_KINDS, COMMON_KINDS};

/// Buckets of the callback latency, dense around WeChat's 5-second wait.
pub const CALLBACK_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0,
];

/// Buckets of one rule's run: well under the default 200 ms deadline, up to a second.
const RULE_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Buckets of one WeChat API call, up to the default 10-second request timeout.
const API_BUCKETS: [f64; 11] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

const CALLBACKS: &str = "cardbot_callbacks_total";
const CALLBACK_DURATION: &str = "cardbot_callback_duration_seconds";
const DEDUP_HITS: &str = "cardbot_dedup_hits_total";
const INBOX_DEPTH: &str = "cardbot_inbox_depth";
const INBOX_OLDEST: &str = "cardbot_inbox_oldest_age_seconds";
const OUTBOX_DEPTH: &str = "cardbot_outbox_depth";
const OUTBOX_OLDEST: &str = "cardbot_outbox_oldest_age_seconds";
const DEAD_LETTERS: &str = "cardbot_dead_letters";
const HELD_MESSAGES: &str = "cardbot_held_messages";
const RULE_EVALUATIONS: &str = "cardbot_rule_evaluations_total";
const RULE_DURATION: &str = "cardbot_rule_duration_seconds";
const RULE_RELOADS: &str = "cardbot_rule_reloads_total";
const RULE_ROLLBACKS: &str = "cardbot_rule_rollbacks_total";
const RULES_REVISION: &str = "cardbot_rules_revision_info";
const API_CALLS: &str = "cardbot_api_calls_total";
const API_DURATION: &str = "cardbot_api_duration_seconds";
const TOKEN_FETCHES: &str = "cardbot_token_fetches_total";
const MESSAGES: &str = "cardbot_messages_total";
const EVENTS_HANDLED: &str = "cardbot_events_handled_total";
const EVENTS_DEFERRED: &str = "cardbot_events_deferred_total";
const BUILD_INFO: &str = "cardbot_build_info";
const START_TIME: &str = "cardbot_start_time_seconds";

/// Every `result` of `cardbot_callbacks_total`, as `CallbackError::result` and the
/// callback handler name them.
const CALLBACK_RESULTS: [&str; 9] = [
    "accepted",
    "duplicate",
    "bad_signature",
    "bad_request",
    "too_large",
    "stale",
    "store_error",
    "verified",
    "other",
];

/// Every `result` of `cardbot_rule_rollbacks_total`.
const ROLLBACK_RESULTS: [&str; 7] = [
    "ok",
    "unknown_revision",
    "no_previous_revision",
    "rejected",
    "write_failed",
    "store_error",
    "failed",
];

/// Every `outcome` of `cardbot_messages_total`.
const MESSAGE_OUTCOMES: [&str; 6] = [
    "sent",
    "retried",
    "held",
    "suppressed",
    "dead_lettered",
    "unknown_outcome",
];

/// Every `cause` of `cardbot_token_fetches_total`.
const FETCH_CAUSES: [&str; 4] = ["startup", "expired", "invalidated", "forced"];

/// Why metrics could not be set up or refreshed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(
        "failed to install the prometheus recorder: {0}; \
         set [metrics] enabled = false if another recorder is installed"
    )]
    Install(String),
    #[error("failed to read the inbox for the queue gauges: {0}")]
    Inbox(#[from] StoreError),
    #[error("failed to read the outbox for the queue gauges: {0}")]
    Outbox(#[from] PipelineError),
}

/// The recorder of this process, or why it could not be installed.
static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the Prometheus recorder the first time and returns a handle that renders
/// it. Later calls (several apps in one test process) share the same recorder, so
/// counters add up across them.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    let installed = RECORDER.get_or_init(|| {
        let handle = build_recorder().map_err(|err| err.to_string())?;
        describe_all();
        register_zero_series();
        gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        gauge!(START_TIME).set(clock::now_ms() as f64 / 1000.0);
        Ok(handle)
    });
    installed.clone().map_err(MetricsError::Install)
}

fn build_recorder() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(CALLBACK_DURATION.into()), &CALLBACK_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(RULE_DURATION.into()), &RULE_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(API_DURATION.into()), &API_BUCKETS)?
        .install_recorder()
}

fn describe_all() {
    describe_counter!(
        CALLBACKS,
        "Callback requests by result: accepted, duplicate, \
        bad_signature, bad_request, too_large, stale, store_error, verified, other"
    );
    describe_histogram!(
        CALLBACK_DURATION,
        Unit::Seconds,
        "Time from a callback request's start to its answer; WeChat waits 5 s"
    );
    describe_counter!(
        DEDUP_HITS,
        "Pushes dropped as retries of an event already stored"
    );
    describe_gauge!(
        INBOX_DEPTH,
        "Events stored and not yet handled by the worker"
    );
    describe_gauge!(
        INBOX_OLDEST,
        Unit::Seconds,
        "Age of the oldest event in the inbox"
    );
    describe_gauge!(
        OUTBOX_DEPTH,
        "Messages in the outbox by state: ready, held, sending"
    );
    describe_gauge!(
        OUTBOX_OLDEST,
        Unit::Seconds,
        "Age of the oldest message in the outbox"
    );
    describe_gauge!(DEAD_LETTERS, "Messages given up, waiting for an operator");
    describe_gauge!(
        HELD_MESSAGES,
        "Messages waiting for the user to open a window"
    );
    describe_counter!(
        RULE_EVALUATIONS,
        "Rule runs on an event by rule and result: ok, \
        error, timeout"
    );
    describe_histogram!(
        RULE_DURATION,
        Unit::Seconds,
        "Time one rule took on one event"
    );
    describe_counter!(
        RULE_RELOADS,
        "Rule reloads and rollbacks by result: ok, rejected"
    );
    describe_counter!(
        RULE_ROLLBACKS,
        "Rule rollbacks by result: ok, unknown_revision, no_previous_revision, rejected, \
        write_failed, store_error, failed"
    );
    describe_counter!(
        API_CALLS,
        "WeChat API calls by endpoint and errcode (0 on success; \
        http, transport or decode for failures without one)"
    );
    describe_histogram!(API_DURATION, Unit::Seconds, "Time of one WeChat API call");
    describe_counter!(
        TOKEN_FETCHES,
        "Access token fetches by cause (startup, expired, \
        invalidated, forced) and result (ok, error)"
    );
    describe_counter!(
        MESSAGES,
        "Message attempts by outcome: sent, retried, held, \
        suppressed, dead_lettered, unknown_outcome"
    );
    describe_counter!(EVENTS_HANDLED, "Events the worker handled, by event type");
    describe_counter!(
        EVENTS_DEFERRED,
        "Events put back because a lookup failed for a \
        passing reason"
    );
    describe_gauge!(BUILD_INFO, "1, labelled with the running version");
    describe_gauge!(
        START_TIME,
        Unit::Seconds,
        "When the process started, in unix seconds"
    );
}

/// Shows every counter series an alert watches at 0 from the start.
///
/// A series that first appears at 1 gives `increase()` and `rate()` nothing to compare
/// with, so without this the first dead letter, rejected reload or store error of a
/// process would never fire an alert, and `increase(...) == 0` would find no series
/// after a restart.
fn register_zero_series() {
    for result in CALLBACK_RESULTS {
        counter!(CALLBACKS, "result" => result).increment(0);
    }
    counter!(DEDUP_HITS).increment(0);
    for result in ["ok", "rejected"] {
        counter!(RULE_RELOADS, "result" => result).increment(0);
    }
    for result in ROLLBACK_RESULTS {
        counter!(RULE_ROLLBACKS, "result" => result).increment(0);
    }
    for outcome in MESSAGE_OUTCOMES {
        counter!(MESSAGES, "outcome" => outcome).increment(0);
    }
    for cause in FETCH_CAUSES {
        for result in ["ok", "error"] {
            counter!(TOKEN_FETCHES, "cause" => cause, "result" => result).increment(0);
        }
    }
    counter!(EVENTS_DEFERRED).increment(0);
}

/// One callback request answered with `result` after `elapsed`.
pub fn record_callback(result: &'static str, elapsed: Duration) {
    counter!(CALLBACKS, "result" => result).increment(1);
    histogram!(CALLBACK_DURATION).record(elapsed.as_secs_f64());
}

/// The result label of a stored push, counting a dedup hit for a retry.
pub fn record_enqueued(outcome: Enqueued) -> &'static str {
    match outcome {
        Enqueued::New(_) => "accepted",
        Enqueued::Duplicate(_) => {
            counter!(DEDUP_HITS).increment(1);
            "duplicate"
        }
    }
}

/// How one rule's run on one event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleResult {
    Ok,
    Error,
    Timeout,
}

/// One rule ran on one event.
pub fn record_rule(rule: &str, result: RuleResult, elapsed: Duration) {
    let result = match result {
        RuleResult::Ok => "ok",
        RuleResult::Error => "error",
        RuleResult::Timeout => "timeout",
    };
    counter!(RULE_EVALUATIONS, "rule" => rule.to_string(), "result" => result).increment(1);
    histogram!(RULE_DURATION, "rule" => rule.to_string()).record(elapsed.as_secs_f64());
}

/// A reload or rollback was refused; the active revision stays.
pub fn record_reload_rejected() {
    counter!(RULE_RELOADS, "result" => "rejected").increment(1);
}

/// A reload or rollback went through.
pub fn record_reload_ok() {
    counter!(RULE_RELOADS, "result" => "ok").increment(1);
}

/// A rollback ended with `result`: `ok`, or why it was refused.
pub fn record_rollback(result: &'static str) {
    counter!(RULE_ROLLBACKS, "result" => result).increment(1);
}

/// The `cardbot_rules_revision_info` series of the `active` revision, in the text
/// format, for a scrape to append. Rendered from the app's rules on each scrape rather
/// than recorded, so that a replaced revision leaves no stale series behind, and each
/// app (several share one recorder in tests) shows only its own.
pub fn render_revision_info(active: &str) -> String {
    let revision = active
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!(
        "# HELP {RULES_REVISION} The active rules revision, always 1\n\
         # TYPE {RULES_REVISION} gauge\n\
         {RULES_REVISION}{{revision=\"{revision}\"}} 1\n"
    )
}

/// One WeChat API call to `endpoint` (a path such as `card/code/get`, never a URL,
/// which would carry the access token) ended with `errcode` after `elapsed`.
pub fn record_api_call(endpoint: &'static str, errcode: String, elapsed: Duration) {
    counter!(API_CALLS, "endpoint" => endpoint, "errcode" => errcode).increment(1);
    histogram!(API_DURATION, "endpoint" => endpoint).record(elapsed.as_secs_f64());
}

/// Why the access token was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchCause {
    /// No token yet in this process, and none cached from an earlier run.
    Startup,
    /// The token reached its refresh time, `token_refresh_margin_secs` before expiry.
    Expired,
    /// WeChat rejected the token (40001, 40014, 42001) and it was dropped.
    Invalidated,
    /// The token endpoint answered the rejected token again; a forced refresh follows.
    Forced,
}

/// One fetch from the token source, with `ok` telling whether it produced a token.
pub fn record_token_fetch(cause: FetchCause, ok: bool) {
    let cause = match cause {
        FetchCause::Startup => "startup",
        FetchCause::Expired => "expired",
        FetchCause::Invalidated => "invalidated",
        FetchCause::Forced => "forced",
    };
    let result = if ok { "ok" } else { "error" };
    counter!(TOKEN_FETCHES, "cause" => cause, "result" => result).increment(1);
}

/// What became of one attempt to deliver a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageOutcome {
    Sent,
    Retried,
    Held,
}

/// A message was sent, put back for a retry, or held for a window.
pub fn record_message(outcome: MessageOutcome) {
    let outcome = match outcome {
        MessageOutcome::Sent => "sent",
        MessageOutcome::Retried => "retried",
        MessageOutcome::Held => "held",
    };
    counter!(MESSAGES, "outcome" => outcome).increment(1);
}

/// A message was given up for `reason`: suppressed by a cap, sent with an unknown
/// outcome, or otherwise dead-lettered.
pub fn record_buried(reason: &DeadReason) {
    let outcome = match reason {
        DeadReason::Suppressed => "suppressed",
        DeadReason::UnknownOutcome => "unknown_outcome",
        DeadReason::Refused
        | DeadReason::Configuration
        | DeadReason::RetriesExhausted
        | DeadReason::WindowClosed => "dead_lettered",
    };
    counter!(MESSAGES, "outcome" => outcome).increment(1);
}

/// The worker committed its decision on an event of type `kind`.
///
/// A kind is whatever the push names, and a plaintext push's body is not signed: kinds
/// outside [`known_kinds`](crate::wechat::event::Event::known_kinds) share the label
/// `other`, so that the series stay few.
pub fn record_event_handled(kind: &str) {
    let known = CARD_EVENT_KINDS
        .iter()
        .chain(COMMON_KINDS)
        .find(|known| **known == kind);
    let kind = known.copied().unwrap_or("other");
    counter!(EVENTS_HANDLED, "kind" => kind).increment(1);
}

/// The worker put an event back for a later attempt.
pub fn record_event_deferred() {
    counter!(EVENTS_DEFERRED).increment(1);
}

/// Recomputes the queue gauges from the store: inbox, outbox by state, dead letters.
pub fn refresh_queue_gauges(store: &Store, outbox: &Outbox) -> Result<(), MetricsError> {
    let now_ms = clock::now_ms();

    let oldest_event = store.pending_iter().next().transpose()?;
    gauge!(INBOX_DEPTH).set(store.inbox_len() as f64);
    gauge!(INBOX_OLDEST).set(age_secs(oldest_event.map(|r| r.received_at_ms), now_ms));

    // TODO: count outbox states without decoding every entry, because a scrape reads
    // the whole outbox, which costs a noticeable time with a backlog of many thousands.
    let (mut ready, mut held, mut sending) = (0u64, 0u64, 0u64);
    let mut oldest_message = None::<i64>;
    for entry in outbox.entries()? {
        match entry.state {
            EntryState::Ready => ready += 1,
            EntryState::Held { .. } => held += 1,
            EntryState::Sending => sending += 1,
        }
        oldest_message = Some(oldest_message.map_or(entry.created_at_ms, |oldest| {
            oldest.min(entry.created_at_ms)
        }));
    }
    for (state, count) in [("ready", ready), ("held", held), ("sending", sending)] {
        gauge!(OUTBOX_DEPTH, "state" => state).set(count as f64);
    }
    gauge!(OUTBOX_OLDEST).set(age_secs(oldest_message, now_ms));
    gauge!(HELD_MESSAGES).set(held as f64);
    gauge!(DEAD_LETTERS).set(outbox.dead_len() as f64);
    Ok(())
}

/// Seconds since `since_ms`, or 0 when nothing waits.
fn age_secs(since_ms: Option<i64>, now_ms: i64) -> f64 {
    since_ms.map_or(0.0, |since| (now_ms - since).max(0) as f64 / 1000.0)
}

/// Refreshes the queue gauges every `every` and keeps the histograms compact, for as
/// long as the process runs.
pub async fn refresh_periodically(
    store: Store,
    outbox: Outbox,
    handle: PrometheusHandle,
    every: Duration,
) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        // Walks whole trees: on a blocking thread, off the runtime's async threads.
        let (store, outbox) = (store.clone(), outbox.clone());
        let refreshed = tokio::task::spawn_blocking(move || refresh_queue_gauges(&store, &outbox));
        let failure = match refreshed.await {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(err.to_string()),
            Err(err) => Some(err.to_string()),
        };
        if let Some(err) = failure {
            tracing::warn!(error = %err, "failed to refresh the queue gauges");
        }
        handle.run_upkeep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_buckets_end_past_wechats_five_second_wait() {
        let last = CALLBACK_BUCKETS[CALLBACK_BUCKETS.len() - 1];

        let sorted = CALLBACK_BUCKETS.windows(2).all(|pair| pair[0] < pair[1]);

        assert!(sorted);
        assert!(CALLBACK_BUCKETS.contains(&5.0) && last > 5.0);
    }

    #[test]
    fn a_fresh_recorder_shows_every_alerted_series_at_zero() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();

        metrics::with_local_recorder(&recorder, register_zero_series);
        let text = handle.render();

        for series in [
            r#"cardbot_callbacks_total{result="store_error"} 0"#,
            r#"cardbot_callbacks_total{result="accepted"} 0"#,
            r#"cardbot_rule_reloads_total{result="rejected"} 0"#,
            r#"cardbot_rule_rollbacks_total{result="failed"} 0"#,
            r#"cardbot_messages_total{outcome="dead_lettered"} 0"#,
            r#"cardbot_messages_total{outcome="unknown_outcome"} 0"#,
            r#"cardbot_token_fetches_total{cause="invalidated",result="ok"} 0"#,
            "cardbot_dedup_hits_total 0",
            "cardbot_events_deferred_total 0",
        ] {
            assert!(
                text.lines().any(|line| line == series),
                "{series} missing:\n{text}"
            );
        }
    }

    #[test]
    fn an_empty_queue_has_no_age() {
        let age = age_secs(None, 1_000_000);

        assert_eq!(age, 0.0);
        assert_eq!(age_secs(Some(998_500), 1_000_000), 1.5);
    }
}
