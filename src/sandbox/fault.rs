//! Faults injected on request: an errcode, a delay or both, for the next calls of one
//! API path, so that retries, dead letters and timeouts can be watched locally.

use std::time::Duration;

use crate::config::SandboxFault;

/// What a call hit by a fault does instead of answering normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    /// Answer this errcode, unless 0.
    pub(crate) errcode: i64,
    pub(crate) delay: Duration,
}

/// The pending faults, in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pending: Vec<Pending>,
}

#[derive(Debug)]
struct Pending {
    fault: SandboxFault,
    /// Calls still to hit; `None` hits every call.
    left: Option<u32>,
}

impl Faults {
    /// Adds a fault behind those already pending for the same path.
    pub(crate) fn add(&mut self, fault: SandboxFault) {
        let left = (fault.times > 0).then_some(fault.times);
        self.pending.push(Pending { fault, left });
    }

    /// Removes every pending fault.
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    /// The faults still pending, with the calls each has left (0 for every call).
    pub(crate) fn list(&self) -> Vec<SandboxFault> {
        self.pending
            .iter()
            .map(|pending| SandboxFault {
                times: pending.left.unwrap_or(0),
                ..pending.fault.clone()
            })
            .collect()
    }

    /// The fault a call of `path` hits, spending one of its calls.
    pub(crate) fn hit(&mut self, path: &str) -> Option<Hit> {
        let index = self
            .pending
            .iter()
            .position(|pending| pending.fault.path == path)?;
        let pending = &mut self.pending[index];
        let hit = Hit {
            errcode: pending.fault.errcode,
            delay: Duration::from_millis(pending.fault.latency_ms),
        };
        if let Some(left) = &mut pending.left {
            *left -= 1;
            if *left == 0 {
                self.pending.remove(index);
            }
        }
        Some(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(errcode: i64, times: u32) -> SandboxFault {
        SandboxFault {
            path: "/cgi-bin/message/custom/send".to_string(),
            errcode,
            times,
            latency_ms: 0,
        }
    }

    #[test]
    fn a_fault_hits_its_number_of_calls_then_the_next_one_applies() {
        let mut faults = Faults::default();
        faults.add(fault(-1, 2));
        faults.add(fault(45009, 1));
        let path = "/cgi-bin/message/custom/send";

        let hits: Vec<Option<i64>> = (0..4)
            .map(|_| faults.hit(path).map(|h| h.errcode))
            .collect();

        assert_eq!(hits, vec![Some(-1), Some(-1), Some(45009), None]);
    }

    #[test]
    fn a_fault_of_zero_times_hits_every_call_of_its_path_only() {
        let mut faults = Faults::default();
        faults.add(fault(-1, 0));

        assert!(faults.hit("/card/get").is_none());
        for _ in 0..3 {
            assert!(faults.hit("/cgi-bin/message/custom/send").is_some());
        }
    }
}
