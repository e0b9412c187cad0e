//! What one attempt's outcome does to its delivery: the delivery state
//! machine, as a pure function of the outcome, the delivery's history and
//! the time.
//!
//! ```text
//! outcome                      │ next state                │ attempts │ when
//! ─────────────────────────────┼───────────────────────────┼──────────┼───────────────────────────
//! delivered                    │ delivered (final)         │ +1       │
//! skipped                      │ skipped (final)           │ +1       │
//! transient, timeout, fatal    │ retrying                  │ +1       │ schedule wait ±jitter, or a
//!                              │ or failed when used up    │          │ longer capped Retry-After
//! permanent, panic             │ failed (final)            │ +1       │
//! rate limited / circuit open  │ retrying (deferred)       │ same     │ the wait, capped
//!                              │ or failed when deferred   │          │
//!                              │ past MAX_DEFER_SECONDS    │          │
//! ```
//!
//! While the subscriber's circuit is not closed, a `retrying` delivery
//! waits *in line* instead ([`in_line`]): due at its event's acceptance
//! time, whatever the wait above. The circuit then decides when it goes
//! (the sweeper claims only its probe, the oldest), and once it closes the
//! line goes out at once, oldest first (see [`super::circuit`]). The
//! attempts and the deferral stay bounded as above: only the due time
//! moves, and only earlier.
//!
//! Every outcome leads to a final state or to `retrying` with a due time at
//! most the longest scheduled wait (or `MAX_RETRY_AFTER_SECONDS`) away, and
//! both the attempts and the time spent deferred are bounded, so every
//! delivery ends. (In the journal, `pending` and `in_flight` lead here
//! through a claim; a lease that runs out makes `in_flight` claimable again,
//! and a release makes it `pending`.)

use std::time::Duration;

use rand::Rng;

use crate::config::SubscribersConfig;

/// When failed and deferred deliveries are tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Waits before the 2nd, 3rd, … attempt; after the last the delivery
    /// has failed for good.
    pub schedule: Vec<Duration>,
    /// Each wait varies by ± this fraction (0.2 = 20 %).
    pub jitter: f64,
    /// The longest wait a destination's `Retry-After` can ask for.
    pub max_retry_after: Duration,
    /// The longest a delivery may be deferred (rate limit, open circuit)
    /// before it becomes a dead letter.
    pub max_defer: Duration,
}

impl RetryPolicy {
    pub fn from_config(config: &SubscribersConfig) -> Self {
        RetryPolicy {
            schedule: config.retry_schedule.0.clone(),
            jitter: f64::from(config.retry_jitter_percent) / 100.0,
            max_retry_after: Duration::from_secs(config.max_retry_after_seconds),
            max_defer: Duration::from_secs(config.max_defer_seconds),
        }
    }

    /// Attempts a delivery gets at most.
    pub fn most_attempts(&self) -> i32 {
        self.schedule.len() as i32 + 1
    }

    /// The wait before the next attempt after `attempts` failed ones, or
    /// `None` when the schedule is used up. `roll` is in 0..=1 (0.5: no
    /// jitter). A longer `Retry-After` wins, up to its cap.
    pub fn next_wait(
        &self,
        attempts: i32,
        retry_after: Option<Duration>,
        roll: f64,
    ) -> Option<Duration> {
        let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
        let base = *self.schedule.get(index)?;
        let factor = 1.0 + self.jitter * (2.0 * roll.clamp(0.0, 1.0) - 1.0);
        let wait = base.mul_f64(factor);
        Some(match retry_after {
            Some(after) => after.min(self.max_retry_after).max(wait),
            None => wait,
        })
    }

    /// The longest a `retrying` delivery can be due after its outcome.
    pub fn longest_wait(&self) -> Duration {
        let longest = self.schedule.iter().max().copied().unwrap_or_default();
        longest.mul_f64(1.0 + self.jitter).max(self.max_retry_after)
    }
}

/// How one attempt ended, as the delivery state machine sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Delivered(String),
    Skipped(String),
    /// Network error, 5xx, 429 with its `Retry-After`.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The whole delivery ran past its deadline.
    TimedOut(String),
    /// The subscriber itself is broken; retried after its restart.
    Fatal(String),
    Permanent(String),
    Panicked(String),
    /// Not its turn (rate limit, a destination's pause, an open circuit):
    /// deferred, no attempt charged.
    Deferred {
        reason: String,
        wait: Duration,
    },
}

impl AttemptOutcome {
    /// The same outcome with configured secrets taken out of its text.
    pub fn redacted(self, redactor: &crate::config::Redactor) -> Self {
        let r = |text: String| redactor.redact(&text);
        match self {
            AttemptOutcome::Delivered(what) => AttemptOutcome::Delivered(r(what)),
            AttemptOutcome::Skipped(why) => AttemptOutcome::Skipped(r(why)),
            AttemptOutcome::Transient {
                reason,
                retry_after,
            } => AttemptOutcome::Transient {
                reason: r(reason),
                retry_after,
            },
            AttemptOutcome::TimedOut(reason) => AttemptOutcome::TimedOut(r(reason)),
            AttemptOutcome::Fatal(reason) => AttemptOutcome::Fatal(r(reason)),
            AttemptOutcome::Permanent(reason) => AttemptOutcome::Permanent(r(reason)),
            AttemptOutcome::Panicked(reason) => AttemptOutcome::Panicked(r(reason)),
            AttemptOutcome::Deferred { reason, wait } => AttemptOutcome::Deferred {
                reason: r(reason),
                wait,
            },
        }
    }
}

/// The delivery's state after an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextState {
    Delivered,
    Skipped,
    Retrying,
    Failed,
}

/// What to write for a delivery after one outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub state: NextState,
    pub attempts: i32,
    /// When a retrying delivery is due (Unix ms); `now` for final states.
    pub due_at: i64,
    pub outcome: Option<String>,
    pub last_error: Option<String>,
    /// Since when the delivery has been deferred without an attempt.
    pub deferred_since: Option<i64>,
}

impl Decision {
    pub fn is_final(&self) -> bool {
        self.state != NextState::Retrying
    }
}

/// The delivery state machine (see the module doc). `attempts` were made
/// before this outcome; `deferred_since` is when the current run of
/// deferrals began; `roll` (0..=1) draws the jitter.
pub fn decide(
    policy: &RetryPolicy,
    attempts: i32,
    deferred_since: Option<i64>,
    now: i64,
    outcome: AttemptOutcome,
    roll: f64,
) -> Decision {
    let made = attempts.saturating_add(1);
    let done = |state, outcome: Option<String>, last_error: Option<String>| Decision {
        state,
        attempts: made,
        due_at: now,
        outcome,
        last_error,
        deferred_since: None,
    };
    let retry = |reason: String, retry_after: Option<Duration>| match policy.next_wait(
        made,
        retry_after,
        roll,
    ) {
        Some(wait) => Decision {
            state: NextState::Retrying,
            attempts: made,
            due_at: now + wait.as_millis() as i64,
            outcome: None,
            last_error: Some(reason),
            deferred_since: None,
        },
        None => done(
            NextState::Failed,
            None,
            Some(format!("gave up after {made} attempts: {reason}")),
        ),
    };
    match outcome {
        AttemptOutcome::Delivered(what) => done(NextState::Delivered, Some(what), None),
        AttemptOutcome::Skipped(why) => done(NextState::Skipped, Some(why), None),
        AttemptOutcome::Transient {
            reason,
            retry_after,
        } => retry(reason, retry_after),
        AttemptOutcome::TimedOut(reason) | AttemptOutcome::Fatal(reason) => retry(reason, None),
        AttemptOutcome::Permanent(reason) | AttemptOutcome::Panicked(reason) => {
            done(NextState::Failed, None, Some(reason))
        }
        AttemptOutcome::Deferred { reason, wait } => {
            let since = deferred_since.unwrap_or(now);
            let limit = policy.max_defer.as_millis() as i64;
            if now - since >= limit {
                return Decision {
                    state: NextState::Failed,
                    attempts,
                    due_at: now,
                    outcome: None,
                    last_error: Some(format!(
                        "deferred for more than {} (MAX_DEFER_SECONDS) without a turn: {reason}",
                        humantime::format_duration(policy.max_defer)
                    )),
                    deferred_since: Some(since),
                };
            }
            // Never past the deferral limit, so the limit is checked in time.
            let wait = wait
                .min(policy.max_retry_after)
                .min(Duration::from_millis((since + limit - now) as u64));
            Decision {
                state: NextState::Retrying,
                attempts,
                due_at: now + wait.as_millis() as i64,
                outcome: None,
                last_error: Some(reason),
                deferred_since: Some(since),
            }
        }
    }
}

/// The decision for a delivery waiting for a circuit that is not closed:
/// a retry is due at `place` (its event's acceptance time, Unix ms), so
/// that the line is in acceptance order and all of it is due the moment
/// the circuit closes. A final decision, or one due earlier, is kept.
pub fn in_line(decision: Decision, place: i64) -> Decision {
    if decision.state != NextState::Retrying {
        return decision;
    }
    Decision {
        due_at: decision.due_at.min(place),
        ..decision
    }
}

/// A jitter roll from the thread's random source.
pub fn random_roll() -> f64 {
    rand::rng().random_range(0.0..=1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            schedule: [1, 5, 30, 120, 600, 1800, 3600, 10800]
                .map(Duration::from_secs)
                .to_vec(),
            jitter: 0.2,
            max_retry_after: Duration::from_secs(3600),
            max_defer: Duration::from_secs(86_400),
        }
    }

    #[test]
    fn waits_follow_the_schedule_within_the_jitter() {
        let policy = policy();
        for (index, base) in policy.schedule.iter().enumerate() {
            let attempts = index as i32 + 1;
            assert_eq!(
                policy.next_wait(attempts, None, 0.0),
                Some(base.mul_f64(0.8))
            );
            assert_eq!(
                policy.next_wait(attempts, None, 1.0),
                Some(base.mul_f64(1.2))
            );
            assert_eq!(policy.next_wait(attempts, None, 0.5), Some(*base));
        }
        assert_eq!(policy.next_wait(9, None, 0.5), None);
        assert_eq!(policy.next_wait(0, None, 0.5), None);
    }

    #[test]
    fn a_longer_retry_after_wins_up_to_its_cap() {
        let policy = policy();
        assert_eq!(
            policy.next_wait(1, Some(Duration::from_secs(20)), 0.5),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            policy.next_wait(1, Some(Duration::from_secs(99_999_999)), 0.5),
            Some(Duration::from_secs(3600))
        );
    }

    #[test]
    fn deferral_past_the_limit_is_a_dead_letter() {
        let policy = policy();
        let start = 1_000_000;
        let deferred = |since, now| {
            decide(
                &policy,
                2,
                since,
                now,
                AttemptOutcome::Deferred {
                    reason: "#a is rate limited".into(),
                    wait: Duration::from_secs(99_999_999),
                },
                0.5,
            )
        };
        let first = deferred(None, start);
        assert_eq!(first.state, NextState::Retrying);
        assert_eq!(first.attempts, 2, "a deferral is not an attempt");
        assert_eq!(first.due_at, start + 3_600_000, "the pause is capped");
        assert_eq!(first.deferred_since, Some(start));
        let last = deferred(Some(start), start + 86_400_000);
        assert_eq!(last.state, NextState::Failed);
        assert_eq!(
            last.last_error.as_deref(),
            Some(
                "deferred for more than 1day (MAX_DEFER_SECONDS) without a turn: #a is rate limited"
            )
        );
    }

    #[test]
    fn in_line_a_retry_is_due_at_its_place_and_a_final_state_is_kept() {
        let policy = policy();
        let now = 1_700_000_060_000;
        let place = 1_700_000_000_000;
        let failed = decide(
            &policy,
            0,
            None,
            now,
            AttemptOutcome::Transient {
                reason: "HTTP 503".into(),
                retry_after: None,
            },
            0.5,
        );
        assert_eq!(failed.due_at, now + 1000);
        let held = in_line(failed.clone(), place);
        assert_eq!(
            held,
            Decision {
                due_at: place,
                ..failed
            }
        );
        let delivered = decide(
            &policy,
            0,
            None,
            now,
            AttemptOutcome::Delivered("sent".into()),
            0.5,
        );
        assert_eq!(in_line(delivered.clone(), place), delivered);
    }

    fn outcome() -> impl Strategy<Value = AttemptOutcome> {
        let text = Just("x".to_owned());
        let wait = (0u64..200_000_000).prop_map(Duration::from_millis);
        prop_oneof![
            text.clone().prop_map(AttemptOutcome::Delivered),
            text.clone().prop_map(AttemptOutcome::Skipped),
            (text.clone(), proptest::option::of(wait.clone())).prop_map(|(reason, retry_after)| {
                AttemptOutcome::Transient {
                    reason,
                    retry_after,
                }
            }),
            text.clone().prop_map(AttemptOutcome::TimedOut),
            text.clone().prop_map(AttemptOutcome::Fatal),
            text.clone().prop_map(AttemptOutcome::Permanent),
            text.clone().prop_map(AttemptOutcome::Panicked),
            (text, wait).prop_map(|(reason, wait)| AttemptOutcome::Deferred { reason, wait }),
        ]
    }

    proptest! {
        /// Driven by any sequence of outcomes, each taken when the delivery
        /// comes due, a delivery ends in a final state: the attempts are
        /// bounded by the schedule, a retry is never due further away than
        /// the longest wait, and deferrals end by MAX_DEFER_SECONDS.
        #[test]
        fn every_delivery_ends(
            outcomes in proptest::collection::vec(outcome(), 1..400),
            rolls in proptest::collection::vec(0.0f64..=1.0, 400),
        ) {
            let policy = policy();
            let mut now: i64 = 1_700_000_000_000;
            let (mut attempts, mut deferred_since) = (0, None);
            let started = now;
            for (step, outcome) in outcomes.into_iter().enumerate() {
                let decision = decide(&policy, attempts, deferred_since, now, outcome, rolls[step]);
                prop_assert!(decision.attempts <= policy.most_attempts());
                if decision.is_final() {
                    return Ok(());
                }
                let wait = decision.due_at - now;
                prop_assert!(wait >= 0);
                prop_assert!(wait as u128 <= policy.longest_wait().as_millis());
                if let Some(since) = decision.deferred_since {
                    prop_assert!(decision.due_at - since <= policy.max_defer.as_millis() as i64);
                }
                attempts = decision.attempts;
                deferred_since = decision.deferred_since;
                now = decision.due_at;
            }
            // Not ended yet: only because the sequence ran out, never
            // beyond what the bounds allow.
            let most_time = policy.longest_wait().as_millis() as i64 * i64::from(policy.most_attempts())
                + policy.max_defer.as_millis() as i64 * i64::from(policy.most_attempts());
            prop_assert!(now - started <= most_time);
        }

        /// Deferred forever, a delivery still dies within MAX_DEFER_SECONDS
        /// (plus one capped wait).
        #[test]
        fn deferral_alone_ends_within_the_limit(waits in proptest::collection::vec(0u64..10_000_000, 1..2000)) {
            let policy = policy();
            let start: i64 = 1_700_000_000_000;
            let mut now = start;
            let mut since = None;
            for wait in waits.iter().cycle() {
                let decision = decide(&policy, 0, since, now, AttemptOutcome::Deferred {
                    reason: "paused".into(),
                    wait: Duration::from_millis(*wait),
                }, 0.5);
                if decision.state == NextState::Failed {
                    prop_assert!(now - start >= policy.max_defer.as_millis() as i64);
                    return Ok(());
                }
                prop_assert!(now - start < policy.max_defer.as_millis() as i64);
                since = decision.deferred_since;
                // Steps of at least a minute keep the case short.
                now = decision.due_at.max(now + 60_000);
            }
        }
    }
}
