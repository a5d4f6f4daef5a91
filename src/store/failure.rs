//! Whether the store still works. sled 0.34 keeps failing every write once one I/O
//! error hit it, so the first such error marks the store failed for the process.

use tokio::sync::watch;

/// The store's health, shared by everything that holds the store.
#[derive(Debug, Clone)]
pub struct Failure {
    reason: watch::Sender<Option<String>>,
}

impl Default for Failure {
    fn default() -> Self {
        Failure {
            reason: watch::Sender::new(None),
        }
    }
}

impl Failure {
    /// Marks the store failed; only the first reason is kept and logged.
    pub fn record(&self, reason: &str) {
        let first = self.reason.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason.to_string());
            true
        });
        if first {
            tracing::error!(
                error = %reason,
                "store failed: every later write will fail until cardbot restarts"
            );
        }
    }

    /// Why the store failed, if it did.
    pub fn reason(&self) -> Option<String> {
        self.reason.borrow().clone()
    }

    /// Resolves once the store has failed, with the reason.
    pub async fn wait(&self) -> String {
        let mut receiver = self.reason.subscribe();
        loop {
            if let Some(reason) = receiver.borrow_and_update().clone() {
                return reason;
            }
            // The sender lives in `self`, so the channel cannot close while we wait.
            if receiver.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Whether `err` leaves sled unable to write for the rest of the process: an I/O
/// error, corruption or a bug sled reports; not a missing tree or a bad argument.
pub fn is_fatal(err: &sled::Error) -> bool {
    matches!(
        err,
        sled::Error::Io(_) | sled::Error::Corruption { .. } | sled::Error::ReportableBug(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_is_kept() {
        let failure = Failure::default();

        failure.record("disk full");
        failure.record("later");

        assert_eq!(failure.reason().as_deref(), Some("disk full"));
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_the_store_fails() {
        let failure = Failure::default();
        let waiter = tokio::spawn({
            let failure = failure.clone();
            async move { failure.wait().await }
        });

        failure.record("file too large");

        assert_eq!(waiter.await.unwrap(), "file too large");
    }

    #[test]
    fn only_io_corruption_and_bugs_are_fatal() {
        let io = sled::Error::Io(std::io::Error::other("efbig"));
        let missing = sled::Error::CollectionNotFound(sled::IVec::from("tree"));

        assert!(is_fatal(&io));
        assert!(!is_fatal(&missing));
    }
}
