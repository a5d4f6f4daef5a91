//! Each user's cards and their states, kept up to date from card events so that rules
//! often need no API call.
//!
//! Tree `pipeline.held_cards`: `"u" 0 openid` → the user's record as JSON, and
//! `"c" 0 card_id 0 code` → the openid holding that code.
//!
//! Freshness: events alone cannot tell which cards a user received before cardbot ran,
//! so a user's *list* is vouched for only within `max_age` of the last sync from
//! `card/user/getcardlist` (events since then keep it current). One code's *status* is
//! vouched for within `max_age` of the event or sync that last set it, since codes can
//! also expire or be made unavailable without an event.

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use super::{load_tx, run_tx, store_tx, PipelineError};
use crate::wechat::event::Event;

/// The sled tree of this module.
pub const TREE: &str = "pipeline.held_cards";

/// Cards kept per user; past it, the longest-settled cards no longer held are dropped.
const MAX_CARDS_PER_USER: usize = 200;

/// Code states, spelled as `card/code/get` answers them in `user_card_status`.
pub mod status {
    pub const NORMAL: &str = "NORMAL";
    pub const CONSUMED: &str = "CONSUMED";
    pub const EXPIRE: &str = "EXPIRE";
    pub const GIFTING: &str = "GIFTING";
    pub const GIFT_TIMEOUT: &str = "GIFT_TIMEOUT";
    pub const DELETE: &str = "DELETE";
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    /// The code was gifted and the friend accepted it: WeChat re-issued the card under
    /// a new code, so this one is gone. The member-card API uses the same word.
    pub const GIFT_SUCC: &str = "GIFT_SUCC";
}

/// Whether the user may still be holding a card in this state.
fn may_be_held(status: &str) -> bool {
    status == status::NORMAL || status == status::GIFTING
}

/// Where a card's state was last learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardSource {
    Event,
    Api,
}

/// One code a user holds or held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldCard {
    pub openid: String,
    pub card_id: String,
    pub code: String,
    /// One of [`status`].
    pub status: String,
    /// When the user received it, unix seconds, if cardbot saw the `user_get_card`.
    pub received_at: Option<i64>,
    /// When the status was last set, unix seconds.
    pub updated_at: i64,
    pub source: CardSource,
    /// The channel of the claim (`OuterStr` of `user_get_card`).
    pub outer_str: Option<String>,
    /// The legacy integer channel of the claim.
    pub outer_id: Option<i64>,
    /// The friend who gave it, when received as a gift.
    pub given_by: Option<String>,
    /// How it was redeemed: `FROM_API`, `FROM_MP`, `FROM_MOBILE_HELPER`, ...
    pub consume_source: Option<String>,
    pub staff_openid: Option<String>,
    pub location_name: Option<String>,
}

impl HeldCard {
    fn new(openid: &str, card_id: &str, code: &str, status: &str, at: i64) -> HeldCard {
        HeldCard {
            openid: openid.to_string(),
            card_id: card_id.to_string(),
            code: code.to_string(),
            status: status.to_string(),
            received_at: None,
            updated_at: at,
            source: CardSource::Event,
            outer_str: None,
            outer_id: None,
            given_by: None,
            consume_source: None,
            staff_openid: None,
            location_name: None,
        }
    }
}

/// One code as the worker fetched it: `card/user/getcardlist` gives no status, a
/// following `card/code/get` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSync {
    pub card_id: String,
    pub code: String,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct UserCards {
    cards: Vec<HeldCard>,
    /// When the list was last replaced by the API's, unix seconds.
    synced_at: Option<i64>,
}

/// What an event does to one code.
enum Change {
    Received,
    SetStatus(&'static str),
    Consumed,
    Confirmed,
}

/// The cards of every user, from events and API syncs.
#[derive(Debug, Clone)]
pub struct HeldCards {
    tree: sled::Tree,
}

impl HeldCards {
    /// Opens the `pipeline.held_cards` tree.
    pub fn open(db: &sled::Db) -> Result<HeldCards, PipelineError> {
        Ok(HeldCards {
            tree: db.open_tree(TREE)?,
        })
    }

    /// The tree, to include in a multi-tree transaction with the `*_tx` methods.
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Updates the cards `event` tells about; `false` when it tells nothing.
    pub fn apply(&self, event: &Event) -> Result<bool, PipelineError> {
        run_tx(&self.tree, |tx| self.apply_tx(tx, event))
    }

    /// [`HeldCards::apply`] inside the caller's transaction.
    ///
    /// An event older than what is known about its code is ignored.
    pub fn apply_tx<E: From<PipelineError>>(
        &self,
        tx: &TransactionalTree,
        event: &Event,
    ) -> ConflictableTransactionResult<bool, E> {
        let (Some(card_id), Some(code)) = (&event.card_id, &event.code) else {
            return Ok(false);
        };
        let Some(change) = change_of(event) else {
            return Ok(false);
        };
        if event.openid.is_empty() {
            return Ok(false);
        }

        if let (Change::Received, Some(true)) = (&change, event.is_give_by_friend) {
            if let (Some(giver), Some(old_code)) = (&event.friend_openid, &event.old_code) {
                let gone = Change::SetStatus(status::GIFT_SUCC);
                update_card_tx(tx, giver, card_id, old_code, event, &gone)?;
            }
        }
        update_card_tx(tx, &event.openid, card_id, code, event, &change)
    }

    /// Every card known for `openid`, whatever its status and freshness.
    pub fn cards(&self, openid: &str) -> Result<Vec<HeldCard>, PipelineError> {
        Ok(self.load(openid)?.cards)
    }

    /// What is known about one code.
    pub fn card(&self, card_id: &str, code: &str) -> Result<Option<HeldCard>, PipelineError> {
        let Some(openid) = self.tree.get(code_key(card_id, code))? else {
            return Ok(None);
        };
        let openid = String::from_utf8_lossy(&openid);
        let user = self.load(&openid)?;
        Ok(user
            .cards
            .into_iter()
            .find(|c| c.card_id == card_id && c.code == code))
    }

    /// The user's cards if cardbot can vouch for the whole list: synced from the API
    /// within `max_age_secs`; `None` means ask the API.
    pub fn fresh_cards(
        &self,
        openid: &str,
        now: i64,
        max_age_secs: u64,
    ) -> Result<Option<Vec<HeldCard>>, PipelineError> {
        let user = self.load(openid)?;
        let fresh = user
            .synced_at
            .is_some_and(|at| within(at, now, max_age_secs));
        Ok(fresh.then_some(user.cards))
    }

    /// One code if its status was set by an event or a sync within `max_age_secs`.
    pub fn fresh_card(
        &self,
        card_id: &str,
        code: &str,
        now: i64,
        max_age_secs: u64,
    ) -> Result<Option<HeldCard>, PipelineError> {
        let card = self.card(card_id, code)?;
        Ok(card.filter(|card| within(card.updated_at, now, max_age_secs)))
    }

    /// Replaces the user's list with what the API answered at `now`.
    pub fn record_synced(
        &self,
        openid: &str,
        cards: &[CardSync],
        now: i64,
    ) -> Result<(), PipelineError> {
        run_tx(&self.tree, |tx| {
            self.record_synced_tx(tx, openid, cards, now)
        })
    }

    /// [`HeldCards::record_synced`] inside the caller's transaction.
    ///
    /// A listed code without a status keeps the one events gave it (the API's list may
    /// include redeemed or deleted codes) or becomes NORMAL. A code the API no longer
    /// lists is dropped if it was thought held, and kept as history otherwise. Anything
    /// an event changed after `now` wins over the API's older answer.
    pub fn record_synced_tx<E: From<PipelineError>>(
        &self,
        tx: &TransactionalTree,
        openid: &str,
        cards: &[CardSync],
        now: i64,
    ) -> ConflictableTransactionResult<(), E> {
        let key = user_key(openid);
        let mut user: UserCards = load_tx(tx, TREE, &key)?.unwrap_or_default();

        let listed = |known: &HeldCard| {
            cards
                .iter()
                .any(|c| c.card_id == known.card_id && c.code == known.code)
        };
        let dropped = |known: &HeldCard| {
            may_be_held(&known.status) && known.updated_at <= now && !listed(known)
        };
        for gone in user.cards.iter().filter(|known| dropped(known)) {
            tx.remove(code_key(&gone.card_id, &gone.code))?;
        }
        user.cards.retain(|known| !dropped(known));

        for synced in cards {
            let index = match position(&user, &synced.card_id, &synced.code) {
                Some(index) if user.cards[index].updated_at > now => continue,
                Some(index) => index,
                None => {
                    let (card_id, code) = (&synced.card_id, &synced.code);
                    let card = HeldCard::new(openid, card_id, code, status::NORMAL, now);
                    user.cards.push(card);
                    user.cards.len() - 1
                }
            };
            let card = &mut user.cards[index];
            if let Some(status) = &synced.status {
                card.status = status.clone();
            }
            card.updated_at = now;
            card.source = CardSource::Api;
            tx.insert(code_key(&synced.card_id, &synced.code), openid.as_bytes())?;
        }
        user.synced_at = Some(now);

        store_tx(tx, TREE, &key, &user)
    }

    fn load(&self, openid: &str) -> Result<UserCards, PipelineError> {
        match self.tree.get(user_key(openid))? {
            Some(bytes) => super::decode(TREE, &bytes),
            None => Ok(UserCards::default()),
        }
    }
}

/// What a card event does, or `None` for events that tell nothing about a held code.
fn change_of(event: &Event) -> Option<Change> {
    let change = match event.kind.as_str() {
        "user_get_card" => Change::Received,
        "user_gifting_card"
            if event.fields.get("IsReturnBack").map(String::as_str) == Some("1") =>
        {
            Change::SetStatus(status::NORMAL)
        }
        "user_gifting_card" => Change::SetStatus(status::GIFTING),
        "user_del_card" => Change::SetStatus(status::DELETE),
        "user_consume_card" => Change::Consumed,
        "user_view_card"
        | "user_enter_session_from_card"
        | "user_pay_from_pay_cell"
        | "update_member_card"
        | "submit_membercard_user_info" => Change::Confirmed,
        _ => return None,
    };
    Some(change)
}

/// Applies `change` to one code of `openid`; `false` if the event was older than what
/// is known or changed nothing.
fn update_card_tx<E: From<PipelineError>>(
    tx: &TransactionalTree,
    openid: &str,
    card_id: &str,
    code: &str,
    event: &Event,
    change: &Change,
) -> ConflictableTransactionResult<bool, E> {
    let key = user_key(openid);
    let mut user: UserCards = load_tx(tx, TREE, &key)?.unwrap_or_default();
    let at = event.create_time;

    let index = match position(&user, card_id, code) {
        Some(index) if user.cards[index].updated_at > at => return Ok(false),
        Some(index) => index,
        None => {
            user.cards
                .push(HeldCard::new(openid, card_id, code, status::NORMAL, at));
            user.cards.len() - 1
        }
    };
    let card = &mut user.cards[index];
    match change {
        Change::Received => {
            card.status = status::NORMAL.to_string();
            card.received_at = Some(at);
            card.outer_str = event.outer_str.clone();
            card.outer_id = event.outer_id;
            card.given_by = event
                .friend_openid
                .clone()
                .filter(|_| event.is_give_by_friend == Some(true));
        }
        Change::SetStatus(status) => card.status = status.to_string(),
        Change::Consumed => {
            card.status = status::CONSUMED.to_string();
            card.consume_source = event.consume_source.clone();
            card.staff_openid = event.staff_openid.clone();
            card.location_name = event.location_name.clone();
        }
        // Seeing the card confirms a held one; it does not revive a settled one.
        Change::Confirmed if card.status != status::NORMAL => return Ok(false),
        Change::Confirmed => {}
    }
    card.updated_at = at;
    card.source = CardSource::Event;

    trim_history(tx, &mut user)?;
    tx.insert(code_key(card_id, code), openid.as_bytes())?;
    store_tx(tx, TREE, &key, &user)?;
    Ok(true)
}

/// Keeps a user's record bounded by dropping the longest-settled codes no longer held.
fn trim_history<E>(
    tx: &TransactionalTree,
    user: &mut UserCards,
) -> ConflictableTransactionResult<(), E> {
    while user.cards.len() > MAX_CARDS_PER_USER {
        let oldest = user
            .cards
            .iter()
            .enumerate()
            .filter(|(_, card)| !may_be_held(&card.status))
            .min_by_key(|(_, card)| card.updated_at)
            .map(|(index, _)| index);
        let Some(index) = oldest else {
            break;
        };
        let card = user.cards.remove(index);
        tx.remove(code_key(&card.card_id, &card.code))?;
    }
    Ok(())
}

fn position(user: &UserCards, card_id: &str, code: &str) -> Option<usize> {
    user.cards
        .iter()
        .position(|c| c.card_id == card_id && c.code == code)
}

fn within(at: i64, now: i64, max_age_secs: u64) -> bool {
    now.saturating_sub(at) <= i64::try_from(max_age_secs).unwrap_or(i64::MAX)
}

fn user_key(openid: &str) -> Vec<u8> {
    [b"u\0", openid.as_bytes()].concat()
}

fn code_key(card_id: &str, code: &str) -> Vec<u8> {
    [b"c\0", card_id.as_bytes(), b"\0", code.as_bytes()].concat()
}

#[cfg(test)]
#[path = "held_cards_tests.rs"]
mod tests;
