//! What became of a message the rules chose, as the per-rule counters see it.

use super::counters::metric;

/// One message's outcome; each is counted once, where the outbox records it.
// TODO: count outcomes per card too, so `--by rule --card ID` can answer; entries now
// carry their event's card (`event_card_id`), but the counter keys have no card yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageOutcome {
    /// WeChat accepted it.
    Sent,
    /// It waits for the user to open a customer-service window.
    Held,
    /// Delivery policy dropped it: a contact cap, or no window with `drop` asked.
    Suppressed,
    /// It became a dead letter for any other reason.
    Failed,
}

impl MessageOutcome {
    /// The metric it counts under.
    pub fn metric(self) -> &'static str {
        match self {
            MessageOutcome::Sent => metric::SENT,
            MessageOutcome::Held => metric::HELD,
            MessageOutcome::Suppressed => metric::SUPPRESSED,
            MessageOutcome::Failed => metric::FAILED,
        }
    }
}
