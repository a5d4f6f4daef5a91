//! The rules' lookups in production: the user's held cards when cardbot can vouch for
//! them, the WeChat API otherwise.

use std::collections::BTreeMap;
use std::future::Future;

use tokio::runtime::Handle;

use super::held_cards::{CardSync, HeldCards};
use crate::api::{ApiError, CardStatus, Client, ErrorClass, Validity};
use crate::clock;
use crate::rules::lookup::ChannelStats;
use crate::rules::{CardSummary, CodeState, HeldCard, LookupError, Lookups};
use crate::stats::Stats;

/// Answers the rules' questions from the held-cards store or the API.
///
/// Methods block on the async client, so they must run on a blocking thread (the
/// worker evaluates rules inside `spawn_blocking`).
#[derive(Debug, Clone)]
pub struct ApiLookups {
    client: Client,
    held: HeldCards,
    fresh_secs: u64,
    runtime: Handle,
    /// The counters `stats_channel` reads; `None` outside the server.
    stats: Option<Stats>,
}

impl ApiLookups {
    /// Lookups through `client`, trusting held cards for `fresh_secs`.
    pub fn new(client: Client, held: HeldCards, fresh_secs: u64, runtime: Handle) -> ApiLookups {
        ApiLookups {
            client,
            held,
            fresh_secs,
            runtime,
            stats: None,
        }
    }

    /// These lookups answering `stats_channel` from `stats`.
    pub fn with_stats(mut self, stats: Stats) -> ApiLookups {
        self.stats = Some(stats);
        self
    }

    /// Runs an API call for the rule now running, given up when the rule's deadline
    /// (`rules.timeout_ms`) passes: the script cannot be stopped while it waits here,
    /// and a lookup is a read, safe to abandon.
    fn call<T>(&self, call: impl Future<Output = Result<T, ApiError>>) -> Result<T, LookupError> {
        let Some(left) = crate::rules::time_left() else {
            return self.runtime.block_on(call).map_err(lookup_error);
        };
        match self.runtime.block_on(tokio::time::timeout(left, call)) {
            Ok(answered) => answered.map_err(lookup_error),
            Err(_) => Err(LookupError::retryable(
                "no answer before the rule's deadline (rules.timeout_ms)",
            )),
        }
    }
}

/// A failure that may pass (WeChat busy, no answer) is retryable; the rest is not.
fn lookup_error(err: ApiError) -> LookupError {
    match err.class() {
        ErrorClass::RetryLater | ErrorClass::RefreshToken | ErrorClass::UnknownOutcome => {
            LookupError::retryable(err.to_string())
        }
        ErrorClass::Permanent | ErrorClass::Configuration => {
            LookupError::permanent(err.to_string())
        }
    }
}

fn store_error(err: super::PipelineError) -> LookupError {
    LookupError::retryable(format!("held cards: {err}"))
}

impl Lookups for ApiLookups {
    fn user_cards(&self, openid: &str) -> Result<Vec<HeldCard>, LookupError> {
        let now = clock::now_secs();
        let held = self.held.fresh_cards(openid, now, self.fresh_secs);
        if let Some(cards) = held.map_err(store_error)? {
            return Ok(cards
                .into_iter()
                .filter(|card| card.status == super::held_cards::status::NORMAL)
                .map(|card| HeldCard {
                    card_id: card.card_id,
                    code: card.code,
                })
                .collect());
        }

        let answer = self.call(self.client.user_cards(openid, None))?;
        let synced: Vec<CardSync> = answer
            .card_list
            .iter()
            .map(|card| CardSync {
                card_id: card.card_id.clone(),
                code: card.code.clone(),
                status: None,
            })
            .collect();
        if let Err(err) = self.held.record_synced(openid, &synced, now) {
            tracing::warn!(openid, error = %err, "failed to remember a user's card list");
        }
        Ok(answer
            .card_list
            .into_iter()
            .map(|card| HeldCard {
                card_id: card.card_id,
                code: card.code,
            })
            .collect())
    }

    /// A fresh state learnt from an event answers when it is final (redeemed, deleted,
    /// gifted): nothing about such a code changes. A NORMAL code is asked of the API,
    /// since only the API knows its validity times.
    fn card_status(&self, card_id: &str, code: &str) -> Result<CodeState, LookupError> {
        let now = clock::now_secs();
        let held = self.held.fresh_card(card_id, code, now, self.fresh_secs);
        if let Some(card) = held.map_err(store_error)? {
            if card.status != super::held_cards::status::NORMAL {
                return Ok(CodeState {
                    status: card.status,
                    can_consume: false,
                    openid: card.openid,
                    begin_time: 0,
                    end_time: 0,
                });
            }
        }

        let status = self.call(self.client.code_status(Some(card_id), code))?;
        Ok(CodeState {
            status: status.status.as_str().to_string(),
            can_consume: status.can_consume,
            openid: status.openid,
            begin_time: status.begin_time.unwrap_or(0),
            end_time: status.end_time.unwrap_or(0),
        })
    }

    fn card_info(&self, card_id: &str) -> Result<CardSummary, LookupError> {
        let info = self.call(self.client.card_info(card_id))?;
        let (begin_time, end_time, fixed_term_days) = match &info.validity {
            Validity::Range { begin, end } => (Some(*begin), Some(*end), None),
            Validity::Term { days, .. } => (None, None, Some(*days)),
            Validity::Permanent | Validity::Other(_) => (None, None, None),
        };
        Ok(CardSummary {
            card_type: info.card_type.as_str().to_string(),
            title: info.title.clone(),
            brand_name: info.brand_name.clone(),
            status: info
                .status
                .as_ref()
                .map(|status| status.as_str().to_string())
                .unwrap_or_default(),
            begin_time,
            end_time,
            fixed_term_days,
            extra: BTreeMap::new(),
        })
    }

    fn cards_with_status(&self, statuses: &[String]) -> Result<Vec<String>, LookupError> {
        let statuses: Vec<CardStatus> = statuses
            .iter()
            .map(|s| CardStatus::from(s.as_str()))
            .collect();
        self.call(self.client.cards_with_status(&statuses))
    }

    fn channel_stats(
        &self,
        card_id: &str,
        channel: &str,
        days: u64,
    ) -> Result<ChannelStats, LookupError> {
        let Some(stats) = &self.stats else {
            return Err(LookupError::permanent(
                "statistics are counted by the running server only; give them as canned \
                 `stats` in simulate and rule tests",
            ));
        };
        stats
            .channel_stats(card_id, channel, days, clock::now_secs())
            .map_err(|err| LookupError::retryable(format!("statistics: {err}")))
    }
}
