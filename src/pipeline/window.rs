//! The customer-service window: which of the user's recent actions still allow a
//! `message/custom/send`, and how many sends each has left (PROTOCOL §3.8).
//!
//! Tree `pipeline.windows`: openid → the user's open windows as JSON.

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use super::{load_tx, run_tx, store_tx, PipelineError};
use crate::config::WindowConfig;
use crate::wechat::event::{Event, WindowOpening};

/// The sled tree of this module.
pub const TREE: &str = "pipeline.windows";

/// Windows kept per user; a flood of clicks drops the windows that expire first.
const MAX_WINDOWS_PER_USER: usize = 16;

/// What opened a window, which decides its quota and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// The user sent a message: `message_quota` within `message_window_secs`.
    Message,
    /// A menu click, follow or scan: `interaction_quota` within `interaction_window_secs`.
    Interaction,
}

/// The union of a user's open windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WindowStatus {
    /// A send now would be inside a window with quota left.
    pub open: bool,
    /// Sends left, summed over the open windows.
    pub remaining: u32,
    /// When the last window with quota left closes, unix seconds; 0 when none is open.
    pub expires_at: i64,
}

/// Why WeChat refused a send, correcting what the tracker believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// 45015: the window passed or the user unfollowed; every window is dropped.
    WindowClosed,
    /// 45047: the quota is used up; the windows stay but have nothing left.
    QuotaUsed,
}

impl CloseReason {
    /// The correction a `message/custom/send` errcode calls for, if any.
    pub fn from_errcode(errcode: i64) -> Option<CloseReason> {
        match errcode {
            45015 => Some(CloseReason::WindowClosed),
            45047 => Some(CloseReason::QuotaUsed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OpenWindow {
    kind: WindowKind,
    opened_at: i64,
    expires_at: i64,
    remaining: u32,
    used: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct UserWindows {
    windows: Vec<OpenWindow>,
}

impl UserWindows {
    fn drop_expired(&mut self, now: i64) {
        self.windows.retain(|window| window.expires_at > now);
    }

    fn open(&mut self, kind: WindowKind, opened_at: i64, secs: u64, quota: u32) {
        let expires_at = opened_at.saturating_add(secs as i64);
        if kind == WindowKind::Message {
            // Only a newer message renews the window; a late-handled older one must not
            // hand back quota that was already spent.
            let newer = self
                .windows
                .iter()
                .any(|w| w.kind == kind && w.opened_at > opened_at);
            if newer {
                return;
            }
            self.windows
                .retain(|window| window.kind != WindowKind::Message);
        }
        self.windows.push(OpenWindow {
            kind,
            opened_at,
            expires_at,
            remaining: quota,
            used: 0,
        });

        while self.windows.len() > MAX_WINDOWS_PER_USER {
            if let Some(first) = self.soonest(|_| true) {
                self.windows.remove(first);
            }
        }
    }

    /// The index of the window closing first among those `wanted`.
    fn soonest(&self, wanted: impl Fn(&OpenWindow) -> bool) -> Option<usize> {
        self.windows
            .iter()
            .enumerate()
            .filter(|(_, window)| wanted(window))
            .min_by_key(|(_, window)| window.expires_at)
            .map(|(index, _)| index)
    }

    fn consume(&mut self, now: i64) -> bool {
        match self.soonest(|w| w.expires_at > now && w.remaining > 0) {
            Some(index) => {
                let window = &mut self.windows[index];
                window.remaining -= 1;
                window.used += 1;
                true
            }
            None => false,
        }
    }

    fn give_back(&mut self, now: i64) -> bool {
        match self.soonest(|w| w.expires_at > now && w.used > 0) {
            Some(index) => {
                let window = &mut self.windows[index];
                window.used -= 1;
                window.remaining += 1;
                true
            }
            None => false,
        }
    }

    fn close(&mut self, reason: CloseReason) {
        match reason {
            CloseReason::WindowClosed => self.windows.clear(),
            CloseReason::QuotaUsed => self.windows.iter_mut().for_each(|w| w.remaining = 0),
        }
    }

    fn status(&self, now: i64) -> WindowStatus {
        let usable = self
            .windows
            .iter()
            .filter(|w| w.expires_at > now && w.remaining > 0);
        let (remaining, expires_at) = usable.fold((0u32, 0i64), |(sum, latest), window| {
            (
                sum.saturating_add(window.remaining),
                latest.max(window.expires_at),
            )
        });
        WindowStatus {
            open: remaining > 0,
            remaining,
            expires_at,
        }
    }
}

/// Each user's customer-service windows, learnt from the events WeChat pushes.
#[derive(Debug, Clone)]
pub struct Windows {
    tree: sled::Tree,
    config: WindowConfig,
}

impl Windows {
    /// Opens the `pipeline.windows` tree.
    pub fn open(db: &sled::Db, config: &WindowConfig) -> Result<Windows, PipelineError> {
        Ok(Windows {
            tree: db.open_tree(TREE)?,
            config: config.clone(),
        })
    }

    /// The tree, to include in a multi-tree transaction with the `*_tx` methods.
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Which window `event` opens, if any; `None` also for events without a user.
    pub fn window_kind(&self, event: &Event) -> Option<WindowKind> {
        match event.window_opening()? {
            WindowOpening::Message => Some(WindowKind::Message),
            WindowOpening::Interaction => Some(WindowKind::Interaction),
            WindowOpening::UserCardEvent => self
                .config
                .card_events_open_window
                .then_some(WindowKind::Interaction),
        }
    }

    /// Opens or renews the window `event` opens; an unfollow drops every window.
    pub fn observe(&self, event: &Event, now: i64) -> Result<(), PipelineError> {
        run_tx(&self.tree, |tx| self.observe_tx(tx, event, now))
    }

    /// [`Windows::observe`] inside the caller's transaction.
    ///
    /// The window opens at the event's `CreateTime`, when WeChat starts counting, or at
    /// `now` if that time is missing or in the future.
    pub fn observe_tx<E: From<PipelineError>>(
        &self,
        tx: &TransactionalTree,
        event: &Event,
        now: i64,
    ) -> ConflictableTransactionResult<(), E> {
        if event.kind == "unsubscribe" && !event.openid.is_empty() {
            return self.close_tx(tx, &event.openid, CloseReason::WindowClosed);
        }
        let Some(kind) = self.window_kind(event) else {
            return Ok(());
        };
        let opened_at = if event.create_time > 0 && event.create_time <= now {
            event.create_time
        } else {
            now
        };
        let (secs, quota) = match kind {
            WindowKind::Message => (self.config.message_window_secs, self.config.message_quota),
            WindowKind::Interaction => (
                self.config.interaction_window_secs,
                self.config.interaction_quota,
            ),
        };

        self.update_tx(tx, &event.openid, now, |windows| {
            windows.open(kind, opened_at, secs, quota);
        })
    }

    /// What the user's windows allow now.
    pub fn status(&self, openid: &str, now: i64) -> Result<WindowStatus, PipelineError> {
        run_tx(&self.tree, |tx| self.status_tx(tx, openid, now))
    }

    /// [`Windows::status`] inside the caller's transaction.
    pub fn status_tx<E: From<PipelineError>>(
        &self,
        tx: &TransactionalTree,
        openid: &str,
        now: i64,
    ) -> ConflictableTransactionResult<WindowStatus, E> {
        let windows: UserWindows = load_tx(tx, TREE, openid.as_bytes())?.unwrap_or_default();
        Ok(windows.status(now))
    }

    /// Takes one send from the window that closes first and still has quota; `false`
    /// when no window allows a send.
    pub fn consume(&self, openid: &str, now: i64) -> Result<bool, PipelineError> {
        run_tx(&self.tree, |tx| self.consume_tx(tx, openid, now))
    }

    /// [`Windows::consume`] inside the caller's transaction.
    pub fn consume_tx<E: From<PipelineError>>(
        &self,
        tx: &TransactionalTree,
        openid: &str,
        now: i64,
    ) -> ConflictableTransactionResult<bool, E> {
        self.update_tx(tx, openid, now, |windows| windows.consume(now))
    }

    /// Returns a consumed send that was never attempted to the open window closing
    /// first that had one taken; `false` when no such window is still open.
    pub fn give_back(&self, openid: &str, now: i64) -> Result<bool, PipelineError> {
        run_tx(&self.tree, |tx| self.give_back_tx(tx, openid, now))
    }

    /// [`Windows::give_back`] inside the caller's transaction.
    pub fn give_back_tx<E: From<PipelineError>>(
        &self,
        tx: &TransactionalTree,
        openid: &str,
        now: i64,
    ) -> ConflictableTransactionResult<bool, E> {
        self.update_tx(tx, openid, now, |windows| windows.give_back(now))
    }

    /// Corrects the tracker after WeChat refused a send with 45015 or 45047.
    pub fn close(&self, openid: &str, reason: CloseReason) -> Result<(), PipelineError> {
        run_tx(&self.tree, |tx| self.close_tx(tx, openid, reason))
    }

    /// [`Windows::close`] inside the caller's transaction.
    pub fn close_tx<E: From<PipelineError>>(
        &self,
        tx: &TransactionalTree,
        openid: &str,
        reason: CloseReason,
    ) -> ConflictableTransactionResult<(), E> {
        self.update_tx(tx, openid, i64::MIN, |windows| windows.close(reason))
    }

    /// Removes the records of users whose windows have all closed; returns how many.
    pub fn prune(&self, now: i64) -> Result<usize, PipelineError> {
        let mut removed = 0;
        for item in self.tree.iter() {
            let (key, value) = item?;
            let windows: UserWindows = super::decode(TREE, &value)?;
            if windows
                .windows
                .iter()
                .all(|window| window.expires_at <= now)
            {
                // Only removes the record if nobody opened a window meanwhile.
                let swapped = self
                    .tree
                    .compare_and_swap(&key, Some(value), None::<&[u8]>)?;
                removed += usize::from(swapped.is_ok());
            }
        }
        Ok(removed)
    }

    /// Loads the user's windows, drops closed ones, applies `change` and writes back.
    fn update_tx<T, E: From<PipelineError>>(
        &self,
        tx: &TransactionalTree,
        openid: &str,
        now: i64,
        change: impl FnOnce(&mut UserWindows) -> T,
    ) -> ConflictableTransactionResult<T, E> {
        let key = openid.as_bytes();
        let mut windows: UserWindows = load_tx(tx, TREE, key)?.unwrap_or_default();

        windows.drop_expired(now);
        let outcome = change(&mut windows);

        if windows.windows.is_empty() {
            tx.remove(key)?;
        } else {
            store_tx(tx, TREE, key, &windows)?;
        }
        Ok(outcome)
    }
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;

impl crate::rules::window::WindowView for Windows {
    fn window(&self, openid: &str, now: i64) -> Result<crate::rules::window::WindowInfo, String> {
        let status = self.status(openid, now).map_err(|err| err.to_string())?;
        Ok(crate::rules::window::WindowInfo {
            open: status.open,
            remaining: status.remaining,
            expires_at: status.expires_at,
        })
    }
}
