//! A circuit breaker per subscriber: after repeated transient failures its
//! destination is left alone for a cool-down (deliveries wait in the
//! journal, no attempt charged), then one delivery probes it.
//!
//! Every state has an exit for every verdict, and time alone always leads
//! to a probe, so no sequence of outcomes can leave the circuit stuck:
//!
//! ```text
//! state      │ reachable │ unreachable              │ no verdict       │ time passes
//! ───────────┼───────────┼──────────────────────────┼──────────────────┼─────────────────────────
//! closed(n)  │ closed(0) │ closed(n+1), open at max │ closed(n)        │ —
//! open       │ closed(0) │ open (unchanged)         │ open             │ at `until`: a probe goes
//! half-open  │ closed(0) │ open, cool-down doubled  │ half-open, probe │ probe out longer than its
//!  (probe)   │           │  (at most 5 min)         │  slot freed      │  deadline: a new probe
//! ```
//!
//! *Reachable* is any answer from the destination (delivered, skipped, a
//! permanent refusal). *Unreachable* is a transient failure: network,
//! timeout, 5xx, a fatal error. *No verdict* is everything that says
//! nothing about the destination: a rate-limit deferral (which may come
//! from our own limiter), a panic, a delivery handed back at a restart.
//!
//! What the deliveries waiting for the destination do ([`Change`] tells
//! the actor when to act):
//!
//! ```text
//! change                    │ deliveries waiting for this destination
//! ──────────────────────────┼──────────────────────────────────────────────────────────
//! opens (closed → open,     │ put in line: due at their event's acceptance time, those
//!  failed probe → open)     │  already waiting for a retry included (Change::Opened)
//! while not closed          │ held in line: the sweeper claims none but the probe
//!                           │  (admits ≤ 1), so the probe is the oldest; one held or
//!                           │  failing meanwhile joins the line at its place
//! closes (probe or a late   │ the whole line is due already: it goes out at once,
//!  answer: → closed(0))     │  oldest first, never at a cool-down's end (Change::Closed)
//! ```

use std::time::{Duration, Instant};

use serde::Serialize;

/// The longest cool-down, however often the probe fails.
pub const LONGEST_COOLDOWN: Duration = Duration::from_secs(300);

/// A circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    /// For the `alvares_circuit_state` gauge.
    pub fn as_number(self) -> i64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Open => 2,
        }
    }
}

/// What one finished delivery says about its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Reachable,
    Unreachable,
    NoVerdict,
}

/// What one verdict did to the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Unchanged,
    /// It opened: from closed at the failure limit, or a failed probe.
    Opened,
    /// It closed after being open or half-open.
    Closed,
}

/// Whether a delivery may go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// This delivery is the half-open circuit's probe.
    Probe,
    /// Wait this long (the circuit is open, or a probe is under way).
    Hold(Duration),
}

#[derive(Debug, Clone)]
pub struct Circuit {
    failures_to_open: u32,
    first_cooldown: Duration,
    /// How long a probe may stay out before another may go (a probe whose
    /// verdict never comes must not hold the circuit half-open forever).
    probe_deadline: Duration,
    state: CircuitState,
    failures: u32,
    cooldown: Duration,
    open_until: Option<Instant>,
    /// When the half-open circuit's probe went out, while it is out.
    probe_since: Option<Instant>,
}

impl Circuit {
    pub fn new(failures_to_open: u32, cooldown: Duration, probe_deadline: Duration) -> Self {
        Circuit {
            failures_to_open: failures_to_open.max(1),
            first_cooldown: cooldown,
            probe_deadline,
            state: CircuitState::Closed,
            failures: 0,
            cooldown,
            open_until: None,
            probe_since: None,
        }
    }

    /// The state as it stands at `now`: an open circuit whose cool-down is
    /// over lets a probe through, so it counts as half-open.
    pub fn state_at(&self, now: Instant) -> CircuitState {
        match (self.state, self.open_until) {
            (CircuitState::Open, Some(until)) if now >= until => CircuitState::HalfOpen,
            (state, _) => state,
        }
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether deliveries go freely (not open, not probing).
    pub fn is_closed(&self) -> bool {
        self.state == CircuitState::Closed
    }

    pub fn open_until(&self) -> Option<Instant> {
        self.open_until
    }

    /// How many deliveries may be claimed for this destination now: all of
    /// them when closed, one (the probe) when a probe may go, else none.
    pub fn admits(&self, now: Instant) -> usize {
        match self.state_at(now) {
            CircuitState::Closed => usize::MAX,
            CircuitState::Open => 0,
            CircuitState::HalfOpen => match self.probe_since {
                Some(since) if now < since + self.probe_deadline => 0,
                _ => 1,
            },
        }
    }

    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            CircuitState::Closed => Admission::Go,
            CircuitState::Open => {
                let until = self.open_until.unwrap_or(now);
                if now >= until {
                    self.state = CircuitState::HalfOpen;
                    self.probe_since = Some(now);
                    Admission::Probe
                } else {
                    Admission::Hold(until - now)
                }
            }
            CircuitState::HalfOpen => match self.probe_since {
                // Back when the probe's verdict is likely in, at the latest
                // when the probe counts as lost.
                Some(since) if now < since + self.probe_deadline => {
                    Admission::Hold((since + self.probe_deadline - now).min(self.first_cooldown))
                }
                // No probe out, or it was lost: this one probes.
                _ => {
                    self.probe_since = Some(now);
                    Admission::Probe
                }
            },
        }
    }

    /// Records what a finished delivery said, and answers what that
    /// changed. `probe` tells whether it was the half-open circuit's probe
    /// (a late answer from before the circuit opened is not).
    pub fn record(&mut self, verdict: Verdict, probe: bool, now: Instant) -> Change {
        let was = self.state;
        self.apply(verdict, probe, now);
        match (was, self.state) {
            (CircuitState::Open, CircuitState::Open) => Change::Unchanged,
            (_, CircuitState::Open) => Change::Opened,
            (CircuitState::Closed, CircuitState::Closed) => Change::Unchanged,
            (_, CircuitState::Closed) => Change::Closed,
            _ => Change::Unchanged,
        }
    }

    fn apply(&mut self, verdict: Verdict, probe: bool, now: Instant) {
        match verdict {
            Verdict::Reachable => {
                self.state = CircuitState::Closed;
                self.failures = 0;
                self.cooldown = self.first_cooldown;
                self.open_until = None;
                self.probe_since = None;
            }
            Verdict::Unreachable => {
                self.failures = self.failures.saturating_add(1);
                match self.state {
                    CircuitState::HalfOpen if probe => {
                        self.cooldown = (self.cooldown * 2).min(LONGEST_COOLDOWN);
                        self.open(now);
                    }
                    CircuitState::Closed if self.failures >= self.failures_to_open => {
                        self.open(now)
                    }
                    _ => {}
                }
            }
            Verdict::NoVerdict => {
                if probe && self.state == CircuitState::HalfOpen {
                    // The probe told nothing: let the next delivery probe.
                    self.probe_since = None;
                }
            }
        }
    }

    /// A restart dropped whatever was in flight, the probe included.
    pub fn forget_probe(&mut self) {
        self.probe_since = None;
    }

    fn open(&mut self, now: Instant) {
        self.state = CircuitState::Open;
        self.open_until = Some(now + self.cooldown);
        self.probe_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEADLINE: Duration = Duration::from_secs(120);

    #[test]
    fn opens_after_repeated_failures_then_probes_and_closes() {
        let start = Instant::now();
        let mut circuit = Circuit::new(3, Duration::from_secs(10), DEADLINE);
        for _ in 0..2 {
            circuit.record(Verdict::Unreachable, false, start);
        }
        assert_eq!(circuit.admit(start), Admission::Go);
        assert_eq!(
            circuit.record(Verdict::Unreachable, false, start),
            Change::Opened
        );
        assert_eq!(circuit.state_at(start), CircuitState::Open);
        assert_eq!(
            circuit.admit(start),
            Admission::Hold(Duration::from_secs(10))
        );
        // A late failure of a delivery that was already out changes nothing.
        assert_eq!(
            circuit.record(Verdict::Unreachable, false, start),
            Change::Unchanged
        );
        let later = start + Duration::from_secs(10);
        assert_eq!(circuit.state_at(later), CircuitState::HalfOpen);
        assert_eq!(circuit.admit(later), Admission::Probe);
        assert_eq!(
            circuit.admit(later),
            Admission::Hold(Duration::from_secs(10))
        );
        assert_eq!(
            circuit.record(Verdict::Reachable, true, later),
            Change::Closed
        );
        assert_eq!(circuit.state_at(later), CircuitState::Closed);
        assert_eq!(circuit.admit(later), Admission::Go);
        assert_eq!(
            circuit.record(Verdict::Reachable, false, later),
            Change::Unchanged
        );
    }

    #[test]
    fn a_failed_probe_doubles_the_cool_down() {
        let start = Instant::now();
        let mut circuit = Circuit::new(1, Duration::from_secs(10), DEADLINE);
        circuit.record(Verdict::Unreachable, false, start);
        let probe_time = start + Duration::from_secs(10);
        assert_eq!(circuit.admit(probe_time), Admission::Probe);
        assert_eq!(
            circuit.record(Verdict::Unreachable, true, probe_time),
            Change::Opened
        );
        assert_eq!(circuit.state_at(probe_time), CircuitState::Open);
        assert_eq!(
            circuit.admit(probe_time),
            Admission::Hold(Duration::from_secs(20))
        );
    }

    #[test]
    fn a_rate_limited_probe_lets_the_next_delivery_probe() {
        let start = Instant::now();
        let mut circuit = Circuit::new(1, Duration::from_secs(10), DEADLINE);
        circuit.record(Verdict::Unreachable, false, start);
        let later = start + Duration::from_secs(10);
        assert_eq!(circuit.admit(later), Admission::Probe);
        circuit.record(Verdict::NoVerdict, true, later);
        assert_eq!(circuit.admits(later), 1);
        assert_eq!(circuit.admit(later), Admission::Probe);
        circuit.record(Verdict::Reachable, true, later);
        assert_eq!(circuit.state_at(later), CircuitState::Closed);
    }

    #[test]
    fn a_lost_probe_is_replaced_after_its_deadline() {
        let start = Instant::now();
        let mut circuit = Circuit::new(1, Duration::from_secs(10), DEADLINE);
        circuit.record(Verdict::Unreachable, false, start);
        let probe_time = start + Duration::from_secs(10);
        assert_eq!(circuit.admit(probe_time), Admission::Probe);
        assert_eq!(circuit.admits(probe_time + DEADLINE / 2), 0);
        assert_eq!(circuit.admit(probe_time + DEADLINE), Admission::Probe);
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// A delivery asks to go; if it may, it finishes with `verdict`
        /// either at once or after the other steps (kept out).
        Deliver {
            verdict: u8,
            keep_out: bool,
        },
        /// An earlier delivery that was kept out finishes.
        Finish {
            verdict: u8,
        },
        Wait {
            seconds: u16,
        },
        Restart,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..3, any::<bool>())
                .prop_map(|(verdict, keep_out)| Step::Deliver { verdict, keep_out }),
            (0u8..3).prop_map(|verdict| Step::Finish { verdict }),
            (0u16..400).prop_map(|seconds| Step::Wait { seconds }),
            Just(Step::Restart),
        ]
    }

    fn verdict(n: u8) -> Verdict {
        match n {
            0 => Verdict::Reachable,
            1 => Verdict::Unreachable,
            _ => Verdict::NoVerdict,
        }
    }

    /// Records a verdict and checks the change it reports: `Opened` exactly
    /// when the circuit went to open from another state, `Closed` exactly
    /// when it went to closed from another.
    fn recorded(
        circuit: &mut Circuit,
        verdict: Verdict,
        probe: bool,
        now: Instant,
    ) -> Result<(), TestCaseError> {
        let was = circuit.state;
        let change = circuit.record(verdict, probe, now);
        let is = circuit.state;
        let expected = if was != is && is == CircuitState::Open {
            Change::Opened
        } else if was != is && is == CircuitState::Closed {
            Change::Closed
        } else {
            Change::Unchanged
        };
        prop_assert_eq!(change, expected, "{:?} → {:?} on {:?}", was, is, verdict);
        if change == Change::Closed {
            prop_assert_eq!(verdict, Verdict::Reachable);
        }
        if change == Change::Opened {
            prop_assert_eq!(verdict, Verdict::Unreachable);
        }
        Ok(())
    }

    proptest! {
        /// Whatever happened before, once outcomes stop coming a delivery
        /// is let through within the longest cool-down plus the probe
        /// deadline: no state is a dead end. And the state health shows
        /// (`state_at`) agrees with what admission does.
        #[test]
        fn every_state_leads_to_a_delivery_within_bounded_time(
            steps in proptest::collection::vec(step(), 0..60),
            failures_to_open in 1u32..6,
            cooldown in 1u64..120,
        ) {
            let start = Instant::now();
            let mut now = start;
            let mut circuit =
                Circuit::new(failures_to_open, Duration::from_secs(cooldown), DEADLINE);
            let mut out: Vec<bool> = Vec::new();
            for step in steps {
                match step {
                    Step::Deliver { verdict: v, keep_out } => {
                        let admission = circuit.admit(now);
                        let probe = admission == Admission::Probe;
                        match admission {
                            Admission::Hold(wait) => {
                                prop_assert!(wait <= LONGEST_COOLDOWN.max(DEADLINE));
                                prop_assert_ne!(circuit.state_at(now), CircuitState::Closed);
                            }
                            _ if keep_out => out.push(probe),
                            _ => recorded(&mut circuit, verdict(v), probe, now)?,
                        }
                    }
                    Step::Finish { verdict: v } => {
                        if let Some(probe) = out.pop() {
                            recorded(&mut circuit, verdict(v), probe, now)?;
                        }
                    }
                    Step::Wait { seconds } => now += Duration::from_secs(u64::from(seconds)),
                    Step::Restart => {
                        out.clear();
                        circuit.forget_probe();
                    }
                }
                let state = circuit.state_at(now);
                prop_assert_eq!(state == CircuitState::Closed, circuit.admits(now) == usize::MAX);
                prop_assert_eq!(state == CircuitState::Closed, circuit.is_closed());
                if state == CircuitState::Open {
                    prop_assert_eq!(circuit.admits(now), 0);
                }
                // Held in line: nothing but the probe is claimed.
                if state != CircuitState::Closed {
                    prop_assert!(circuit.admits(now) <= 1);
                }
            }
            // Nothing finishes any more: time alone must open the way.
            let bound = LONGEST_COOLDOWN + DEADLINE;
            let mut waited = Duration::ZERO;
            loop {
                match circuit.admit(now) {
                    Admission::Go | Admission::Probe => break,
                    Admission::Hold(wait) => {
                        waited += wait;
                        now += wait;
                        prop_assert!(waited <= bound, "held for {waited:?}");
                    }
                }
            }
        }
    }
}
