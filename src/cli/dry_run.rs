//! One event through the configured rules on a scratch store: nothing is sent and
//! nothing of the server's store is opened, so it works while the server runs.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;

use super::delivery::{self, Delivery};
use crate::config::Config;
use crate::rules::lookup::{ChannelStats, LookupSource};
use crate::rules::seed::Seed;
use crate::rules::{
    CannedLookups, CardSummary, CodeState, Decision, HeldCard, LookupError, Lookups, Rules,
};
use crate::wechat::event::Event;

/// The rules of a config, loaded on a temporary sled database holding assumed state.
pub struct DryRun {
    config: Config,
    db: sled::Db,
    rules: Rules,
}

impl std::fmt::Debug for DryRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DryRun")
            .field("rules", &self.rules)
            .finish()
    }
}

/// What the rules decided, what each lookup answered, and what delivery would do.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub decision: Decision,
    /// The answer of each of `decision.lookups`, by index; `null` for failures.
    pub answers: Vec<Value>,
    /// One per action, then one per reply.
    pub deliveries: Vec<Delivery>,
}

impl DryRun {
    /// Loads `[rules] dir` of `config` on a fresh temporary store seeded with `seed`.
    pub fn open(config: &Config, seed: &Seed) -> anyhow::Result<DryRun> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .context("failed to open a temporary store")?;
        seed.apply(&db)?;
        let rules = Rules::open(&config.rules, &db, Arc::new(CannedLookups::default()))?;
        Ok(DryRun {
            config: config.clone(),
            db,
            rules,
        })
    }

    /// The temporary store, for lookups that keep state of their own.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Evaluates `event` at `now` with `lookups` and previews the delivery.
    pub fn run(
        &self,
        event: &Event,
        now: i64,
        lookups: Arc<dyn Lookups>,
    ) -> anyhow::Result<Outcome> {
        let recorder = Arc::new(Recorder {
            inner: lookups,
            answers: Mutex::new(Vec::new()),
        });
        let decision = self.rules.evaluate_with(event, now, recorder.clone());

        let fetched = recorder
            .answers
            .lock()
            .map(|answers| answers.clone())
            .unwrap_or_default();
        let answers = match_answers(&decision, fetched);
        let deliveries = delivery::preview(&self.config, &self.db, event, &decision, now)
            .context("failed to preview the delivery")?;
        Ok(Outcome {
            decision,
            answers,
            deliveries,
        })
    }
}

/// Lines the recorded answers up with the decision's lookups: each fetched lookup took
/// the next answer; one answered within the event repeats the first of its kind.
fn match_answers(decision: &Decision, fetched: Vec<Value>) -> Vec<Value> {
    let mut fetched = fetched.into_iter();
    let mut answers: Vec<Value> = Vec::new();
    for (index, record) in decision.lookups.iter().enumerate() {
        let answer = match record.source {
            LookupSource::Fetched => fetched.next().unwrap_or(Value::Null),
            _ => decision.lookups[..index]
                .iter()
                .position(|earlier| earlier.name == record.name && earlier.args == record.args)
                .and_then(|first| answers.get(first).cloned())
                .unwrap_or(Value::Null),
        };
        answers.push(answer);
    }
    answers
}

/// Passes lookups through, keeping each answer for the report.
struct Recorder {
    inner: Arc<dyn Lookups>,
    answers: Mutex<Vec<Value>>,
}

impl Recorder {
    fn keep<T: Serialize>(&self, answer: Result<T, LookupError>) -> Result<T, LookupError> {
        let value = match &answer {
            Ok(found) => serde_json::to_value(found).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        if let Ok(mut answers) = self.answers.lock() {
            answers.push(value);
        }
        answer
    }
}

impl Lookups for Recorder {
    fn user_cards(&self, openid: &str) -> Result<Vec<HeldCard>, LookupError> {
        self.keep(self.inner.user_cards(openid))
    }

    fn card_status(&self, card_id: &str, code: &str) -> Result<CodeState, LookupError> {
        self.keep(self.inner.card_status(card_id, code))
    }

    fn card_info(&self, card_id: &str) -> Result<CardSummary, LookupError> {
        self.keep(self.inner.card_info(card_id))
    }

    fn cards_with_status(&self, statuses: &[String]) -> Result<Vec<String>, LookupError> {
        self.keep(self.inner.cards_with_status(statuses))
    }

    fn channel_stats(
        &self,
        card_id: &str,
        channel: &str,
        days: u64,
    ) -> Result<ChannelStats, LookupError> {
        self.keep(self.inner.channel_stats(card_id, channel, days))
    }
}
