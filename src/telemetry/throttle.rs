//! A cap on how many lines of one kind are logged per second, so that a flood of bad
//! requests cannot fill the disk; the lines left out are counted on the next one.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The length of one counting window.
const WINDOW: Duration = Duration::from_secs(1);

/// Whether to log a line now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it, saying how many lines were left out since the last one logged.
    Log { suppressed: u64 },
    /// Leave it out; it is counted on the next line logged.
    Suppress,
}

/// At most `per_second` lines in each one-second window.
// TODO: report the lines left out by the last burst of a flood without waiting for the
// next line of the kind, because that needs a timer per throttle and the metrics
// already count every refusal.
#[derive(Debug)]
pub struct LogThrottle {
    per_second: u32,
    state: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogThrottle {
    pub fn new(per_second: u32) -> LogThrottle {
        LogThrottle {
            per_second,
            state: Mutex::new(Window::default()),
        }
    }

    /// Decides about one line at `now`.
    pub fn check(&self, now: Instant) -> Verdict {
        // A panic elsewhere while holding the lock leaves plain counters behind.
        let mut window = self.state.lock().unwrap_or_else(PoisonError::into_inner);

        let expired = window
            .started
            .is_none_or(|started| now.saturating_duration_since(started) >= WINDOW);
        if expired {
            window.started = Some(now);
            window.logged = 0;
        }

        if window.logged < self.per_second {
            window.logged += 1;
            Verdict::Log {
                suppressed: std::mem::take(&mut window.suppressed),
            }
        } else {
            window.suppressed += 1;
            Verdict::Suppress
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_cap_are_left_out_and_counted_on_the_next_one() {
        let throttle = LogThrottle::new(2);
        let start = Instant::now();

        let verdicts: Vec<Verdict> = [0, 10, 20, 30, 999, 1000, 1001]
            .into_iter()
            .map(|ms| throttle.check(start + Duration::from_millis(ms)))
            .collect();

        assert_eq!(
            verdicts,
            [
                Verdict::Log { suppressed: 0 },
                Verdict::Log { suppressed: 0 },
                Verdict::Suppress,
                Verdict::Suppress,
                Verdict::Suppress,
                Verdict::Log { suppressed: 3 },
                Verdict::Log { suppressed: 0 },
            ]
        );
    }
}
