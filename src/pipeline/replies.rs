//! Passive replies: a callback request waiting, within its budget, for the rules of
//! its own event to choose an answer that rides on the HTTP response.
//!
//! The callback registers under the event's dedup key before it stores the event; the
//! worker takes the registration when it has decided. Whoever removes the entry owns
//! the outcome, so a reply is either answered on the request or queued as a
//! customer-service message, never both and never neither.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::rules::Reply;

/// The registrations of callback requests waiting for a reply.
#[derive(Debug, Clone, Default)]
pub struct ReplyWaiters {
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Vec<Reply>>>>>,
}

/// A callback's side of a registration.
#[derive(Debug)]
pub struct ReplyTicket {
    key: String,
    receiver: oneshot::Receiver<Vec<Reply>>,
    waiters: ReplyWaiters,
}

impl ReplyWaiters {
    /// Registers a request waiting for the event with `dedup_key`.
    pub fn register(&self, dedup_key: &str) -> ReplyTicket {
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.insert(dedup_key.to_string(), sender);
        }
        ReplyTicket {
            key: dedup_key.to_string(),
            receiver,
            waiters: self.clone(),
        }
    }

    /// The worker's side: takes the waiting request, if it is still waiting.
    pub fn take(&self, dedup_key: &str) -> Option<oneshot::Sender<Vec<Reply>>> {
        self.waiting.lock().ok()?.remove(dedup_key)
    }

    fn withdraw(&self, dedup_key: &str) -> bool {
        self.waiting
            .lock()
            .map(|mut waiting| waiting.remove(dedup_key).is_some())
            .unwrap_or(false)
    }
}

impl ReplyTicket {
    /// Waits up to `budget` for the replies. Once the worker has taken the ticket, it
    /// waits for its answer (which follows its commit) up to `grace` more.
    pub async fn wait(mut self, budget: Duration, grace: Duration) -> Vec<Reply> {
        if let Ok(answer) = tokio::time::timeout(budget, &mut self.receiver).await {
            return answer.unwrap_or_default();
        }
        if self.waiters.withdraw(&self.key) {
            return Vec::new();
        }
        match tokio::time::timeout(grace, self.receiver).await {
            Ok(answer) => answer.unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// Gives up without waiting (the event turned out to be a retry).
    pub fn cancel(self) {
        self.waiters.withdraw(&self.key);
    }
}
