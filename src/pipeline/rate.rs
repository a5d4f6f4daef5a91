//! A global send rate limit: requests are spaced evenly, never bursting past the rate.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Spaces callers `1 / rate` apart; a rate of 0 lets everyone through.
#[derive(Debug)]
pub struct RateLimit {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl RateLimit {
    /// At most `rate` calls of [`RateLimit::wait`] return per second.
    pub fn per_second(rate: u32) -> RateLimit {
        RateLimit {
            interval: (rate > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(rate))),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this caller's slot.
    pub async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = match self.next.lock() {
            Ok(mut next) => {
                let slot = (*next).max(Instant::now());
                *next = slot + interval;
                slot
            }
            Err(_) => return,
        };
        tokio::time::sleep_until(slot).await;
    }
}
