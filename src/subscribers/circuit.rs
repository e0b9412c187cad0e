//! A circuit breaker per subscriber: after repeated transient failures its
//! destination is left alone for a cool-down (deliveries wait in the
//! journal, no attempt charged), then one delivery probes it; success
//! closes the circuit, failure opens it again for twice as long.

use std::time::{Duration, Instant};

use serde::Serialize;

/// The longest cool-down, however often the probe fails.
const LONGEST_COOLDOWN: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

/// Whether a delivery may go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// Wait this long (the circuit is open, or a probe is under way).
    Hold(Duration),
}

#[derive(Debug)]
pub struct Circuit {
    failures_to_open: u32,
    first_cooldown: Duration,
    state: CircuitState,
    failures: u32,
    cooldown: Duration,
    open_until: Option<Instant>,
}

impl Circuit {
    pub fn new(failures_to_open: u32, cooldown: Duration) -> Self {
        Circuit {
            failures_to_open,
            first_cooldown: cooldown,
            state: CircuitState::Closed,
            failures: 0,
            cooldown,
            open_until: None,
        }
    }

    pub fn state(&self) -> CircuitState {
        self.state
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn open_until(&self) -> Option<Instant> {
        self.open_until
    }

    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            CircuitState::Closed => Admission::Go,
            CircuitState::Open => {
                let until = self.open_until.unwrap_or(now);
                if now >= until {
                    // Cool-down over: this delivery is the probe.
                    self.state = CircuitState::HalfOpen;
                    Admission::Go
                } else {
                    Admission::Hold(until - now)
                }
            }
            // One probe at a time; the others wait for its verdict.
            CircuitState::HalfOpen => Admission::Hold(Duration::from_secs(1)),
        }
    }

    /// The destination answered (even with a permanent error).
    pub fn success(&mut self) {
        self.state = CircuitState::Closed;
        self.failures = 0;
        self.cooldown = self.first_cooldown;
        self.open_until = None;
    }

    /// A transient failure (network, timeout, 5xx).
    pub fn failure(&mut self, now: Instant) {
        self.failures += 1;
        match self.state {
            CircuitState::HalfOpen => {
                self.cooldown = (self.cooldown * 2).min(LONGEST_COOLDOWN);
                self.open(now);
            }
            CircuitState::Closed if self.failures >= self.failures_to_open => self.open(now),
            _ => {}
        }
    }

    fn open(&mut self, now: Instant) {
        self.state = CircuitState::Open;
        self.open_until = Some(now + self.cooldown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_repeated_failures_then_probes_and_closes() {
        let start = Instant::now();
        let mut circuit = Circuit::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            circuit.failure(start);
        }
        assert_eq!(circuit.admit(start), Admission::Go);
        circuit.failure(start);
        assert_eq!(circuit.state(), CircuitState::Open);
        assert_eq!(
            circuit.admit(start),
            Admission::Hold(Duration::from_secs(10))
        );
        let later = start + Duration::from_secs(10);
        assert_eq!(circuit.admit(later), Admission::Go);
        assert_eq!(circuit.state(), CircuitState::HalfOpen);
        assert_eq!(
            circuit.admit(later),
            Admission::Hold(Duration::from_secs(1))
        );
        circuit.success();
        assert_eq!(circuit.state(), CircuitState::Closed);
        assert_eq!(circuit.admit(later), Admission::Go);
    }

    #[test]
    fn a_failed_probe_doubles_the_cool_down() {
        let start = Instant::now();
        let mut circuit = Circuit::new(1, Duration::from_secs(10));
        circuit.failure(start);
        let probe_time = start + Duration::from_secs(10);
        assert_eq!(circuit.admit(probe_time), Admission::Go);
        circuit.failure(probe_time);
        assert_eq!(circuit.state(), CircuitState::Open);
        assert_eq!(
            circuit.admit(probe_time),
            Admission::Hold(Duration::from_secs(20))
        );
    }
}
