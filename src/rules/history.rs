//! What cardbot has seen of each user, for targeted pushes: counts by event type, when
//! they last redeemed, the channels their cards came from. Recorded by the worker.

use std::collections::BTreeMap;

use rhai::{Dynamic, Map};
use serde::{Deserialize, Serialize};
use sled::transaction::{TransactionalTree, UnabortableTransactionError};

use crate::wechat::event::Event;

/// The sled tree holding one [`History`] per OpenID.
pub const HISTORY_TREE: &str = "rules.history";

/// How many distinct channels are kept per user; the oldest are dropped first.
const MAX_CHANNELS: usize = 20;

/// Events sent by the platform about the account, not by a user.
const ACCOUNT_EVENTS: [&str; 4] = [
    "card_pass_check",
    "card_not_pass_check",
    "card_sku_remind",
    "card_pay_order",
];

/// Events by which the user themself reaches the account (and may open a chat window).
const INTERACTIONS: [&str; 7] = [
    "text",
    "click",
    "subscribe",
    "scan",
    "user_enter_session_from_card",
    "image",
    "voice",
];

/// Everything seen of one user, built by folding their events in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct History {
    pub first_seen: i64,
    pub last_seen: i64,
    /// Events seen, by type (`user_get_card`, `text`, ...).
    pub counts: BTreeMap<String, i64>,
    pub cards_received: i64,
    pub cards_redeemed: i64,
    pub cards_deleted: i64,
    pub last_redeemed_at: Option<i64>,
    pub last_card_id: Option<String>,
    /// Distinct `outer_str` values of the cards they received, oldest first.
    pub channels: Vec<String>,
    /// Whether they follow the account, once a subscribe or unsubscribe was seen.
    pub subscribed: Option<bool>,
    /// The last time the user reached the account themself (message, click, scan...).
    pub last_interaction_at: Option<i64>,
}

impl History {
    /// Adds one event of this user.
    pub fn fold(&mut self, event: &Event) {
        let at = event.create_time;
        if self.counts.is_empty() || at < self.first_seen {
            self.first_seen = at;
        }
        self.last_seen = self.last_seen.max(at);
        *self.counts.entry(event.kind.clone()).or_default() += 1;

        match event.kind.as_str() {
            "user_get_card" => {
                self.cards_received += 1;
                self.last_card_id = event.card_id.clone();
                if let Some(channel) = event.outer_str.as_ref() {
                    self.add_channel(channel);
                }
            }
            "user_consume_card" => {
                self.cards_redeemed += 1;
                self.last_redeemed_at = Some(at);
            }
            "user_del_card" => self.cards_deleted += 1,
            "subscribe" => self.subscribed = Some(true),
            "unsubscribe" => self.subscribed = Some(false),
            _ => {}
        }
        if INTERACTIONS.contains(&event.kind.as_str()) {
            self.last_interaction_at = Some(at);
        }
    }

    fn add_channel(&mut self, channel: &str) {
        if self.channels.iter().any(|known| known == channel) {
            return;
        }
        self.channels.push(channel.to_string());
        if self.channels.len() > MAX_CHANNELS {
            self.channels.remove(0);
        }
    }

    /// The map `history(openid)` returns; unset times read as `()`.
    pub fn to_map(&self) -> Map {
        let json = serde_json::to_value(self).unwrap_or_default();
        super::value::from_json(&json)
            .try_cast::<Map>()
            .unwrap_or_default()
    }
}

/// Whether an event says something about a user (rather than about the account).
pub fn is_user_event(event: &Event) -> bool {
    !event.openid.is_empty() && !ACCOUNT_EVENTS.contains(&event.kind.as_str())
}

fn decode(bytes: &[u8]) -> History {
    serde_json::from_slice(bytes).unwrap_or_else(|err| {
        tracing::warn!(error = %err, "unreadable user history, starting afresh");
        History::default()
    })
}

/// Reads a user's history, if any event of theirs was recorded.
pub fn read(tree: &sled::Tree, openid: &str) -> Result<Option<History>, sled::Error> {
    Ok(tree.get(openid.as_bytes())?.map(|bytes| decode(&bytes)))
}

/// Folds `event` into its user's history inside the caller's sled transaction on
/// [`HISTORY_TREE`]; account-level events are skipped.
pub fn record(tree: &TransactionalTree, event: &Event) -> Result<(), UnabortableTransactionError> {
    if !is_user_event(event) {
        return Ok(());
    }
    let key = event.openid.as_bytes();
    let mut history = tree
        .get(key)?
        .map(|bytes| decode(&bytes))
        .unwrap_or_default();
    history.fold(event);
    // Serialising a plain struct of strings and numbers to JSON cannot fail.
    let bytes = serde_json::to_vec(&history).unwrap_or_default();
    tree.insert(key, bytes)?;
    Ok(())
}

/// A history map with nothing seen, for users never recorded.
pub(crate) fn empty_map() -> Dynamic {
    Dynamic::from_map(History::default().to_map())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sled::Transactional;

    fn event(kind: &str, at: i64, outer_str: Option<&str>) -> Event {
        Event {
            kind: kind.to_string(),
            openid: "oUser".to_string(),
            create_time: at,
            card_id: Some("pCard".to_string()),
            outer_str: outer_str.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn folding_events_counts_them_and_keeps_distinct_channels() {
        let mut history = History::default();

        history.fold(&event("user_get_card", 100, Some("store_qr")));
        history.fold(&event("user_get_card", 200, Some("store_qr")));
        history.fold(&event("user_consume_card", 300, None));

        assert_eq!(history.first_seen, 100);
        assert_eq!(history.last_seen, 300);
        assert_eq!(history.counts["user_get_card"], 2);
        assert_eq!(history.channels, vec!["store_qr".to_string()]);
        assert_eq!(history.last_redeemed_at, Some(300));
    }

    #[test]
    fn recorded_events_are_read_back_and_account_events_skipped() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree(HISTORY_TREE).unwrap();
        let events = [
            event("user_get_card", 100, Some("mall")),
            event("card_pass_check", 1, None),
        ];

        for e in &events {
            (&tree,)
                .transaction(|(tx,)| {
                    Ok::<_, sled::transaction::ConflictableTransactionError>(record(tx, e)?)
                })
                .unwrap();
        }

        let history = read(&tree, "oUser").unwrap().unwrap();
        assert_eq!(history.cards_received, 1);
        assert!(!history.counts.contains_key("card_pass_check"));
    }

    #[test]
    fn the_map_has_unit_for_unset_times() {
        let map = History::default().to_map();

        assert!(map["last_redeemed_at"].is_unit());
        assert_eq!(map["cards_received"].as_int().unwrap(), 0);
    }
}
