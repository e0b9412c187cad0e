//! A pace per destination (a Slack channel, an API): token buckets, and the
//! pauses a destination asked for (429 + `Retry-After`).
//!
//! A delivery takes its turn by reserving a token, even one that is only
//! available later, so waiters are served in order and exactly at the
//! configured spacing. A turn that is a short wait away is waited for in
//! place; a longer one gives the delivery back to the journal, due when its
//! turn comes, without charging an attempt — a backlog for one busy channel
//! waits in the database, not in memory, and does not hold up other
//! channels.
//!
//! Memory is bounded whatever destinations events name: a bucket that is
//! full and not paused carries no information and is forgotten, and at
//! most `RATE_LIMIT_DESTINATIONS` destinations are tracked at once; past
//! that, deliveries to new destinations wait their turn in the journal.
//!
//! Hand-written rather than `governor`: the admin API shows each bucket's
//! current tokens, which needs a look without taking one, and the clock is
//! Alvares's own (tests move it).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::clock::SharedClock;
use crate::config::RateLimit;
use crate::error::DeliveryError;

/// Longest wait for a turn spent inside a delivery.
pub const LONGEST_INLINE_WAIT: Duration = Duration::from_secs(2);
/// Idle buckets are looked for at most this often.
const EVICT_EVERY: Duration = Duration::from_secs(1);
/// The ceiling's log line is written at most this often.
const CEILING_LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Bucket {
    /// May go below zero: turns already promised to waiting deliveries.
    tokens: f64,
    updated: Instant,
    paused_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct Buckets {
    by_destination: HashMap<String, Bucket>,
    last_eviction: Option<Instant>,
    last_ceiling_log: Option<Instant>,
}

/// One pace: a subscriber's own, or a destination's shared by several
/// subscribers (a Slack channel). Shared with the admin API for reporting.
#[derive(Debug)]
pub struct Limiter {
    /// Whose pace this is, for log lines.
    name: String,
    limit: Option<RateLimit>,
    most_destinations: usize,
    clock: SharedClock,
    buckets: Mutex<Buckets>,
}

/// What the admin API shows of a limiter.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimiterReport {
    /// The setting, e.g. `1/s:burst=3`, or `none`.
    pub setting: String,
    /// Tokens available now, per destination (negative: turns promised).
    pub tokens: BTreeMap<String, f64>,
    /// Destinations paused by a 429, with the milliseconds left.
    pub paused_ms: BTreeMap<String, u64>,
}

impl Limiter {
    pub fn new(
        name: impl Into<String>,
        limit: Option<RateLimit>,
        most_destinations: usize,
        clock: SharedClock,
    ) -> Self {
        Limiter {
            name: name.into(),
            limit,
            most_destinations: most_destinations.max(1),
            clock,
            buckets: Mutex::new(Buckets::default()),
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.instant()
    }

    /// Waits for this destination's turn, or answers `RateLimited` when the
    /// turn is further away than [`LONGEST_INLINE_WAIT`].
    pub async fn take_turn(&self, destination: &str) -> Result<(), DeliveryError> {
        match self.reserve(destination, self.now(), LONGEST_INLINE_WAIT) {
            Ok(wait) => {
                wait_in_place(wait).await;
                Ok(())
            }
            Err(wait) => Err(self.rate_limited(destination, wait)),
        }
    }

    /// Waits for this destination's turn however far away it is, for calls
    /// in the middle of a sequence that cannot be handed back.
    pub async fn wait_for_turn(&self, destination: &str) {
        let wait = match self.reserve(destination, self.now(), Duration::MAX) {
            Ok(wait) | Err(wait) => wait,
        };
        wait_in_place(wait).await;
    }

    pub fn rate_limited(&self, destination: &str, wait: Duration) -> DeliveryError {
        DeliveryError::RateLimited {
            reason: format!("{destination} is rate limited"),
            wait,
        }
    }

    /// Reserves a turn: `Ok(wait)` (taken, go after `wait`) or `Err(wait)`
    /// (not taken: the turn is `wait` away, longer than `longest`).
    pub fn reserve(
        &self,
        destination: &str,
        now: Instant,
        longest: Duration,
    ) -> Result<Duration, Duration> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(Duration::ZERO);
        };
        self.evict_idle(&mut buckets, now, false);
        let Some(limit) = self.limit else {
            // No pace: only a pause the destination asked for holds it.
            let paused = buckets
                .by_destination
                .get(destination)
                .and_then(|b| b.paused_until)
                .map_or(Duration::ZERO, |until| until.saturating_duration_since(now));
            return if paused > longest {
                Err(paused)
            } else {
                Ok(paused)
            };
        };
        if !buckets.by_destination.contains_key(destination)
            && buckets.by_destination.len() >= self.most_destinations
        {
            self.evict_idle(&mut buckets, now, true);
            if buckets.by_destination.len() >= self.most_destinations {
                self.log_ceiling(&mut buckets, now);
                // A bucket frees once it has refilled.
                let refill = Duration::from_secs_f64(f64::from(limit.burst) / limit.per_second);
                return Err(refill.clamp(Duration::from_secs(1), Duration::from_secs(60)));
            }
        }
        let bucket = buckets
            .by_destination
            .entry(destination.to_owned())
            .or_insert_with(|| full_bucket(limit, now));
        refill(bucket, limit, now);
        // Turns start when a pause ends (`updated` may be in the future),
        // then come at the configured spacing.
        let mut wait = bucket.updated.saturating_duration_since(now);
        if bucket.tokens < 1.0 {
            wait += Duration::from_secs_f64((1.0 - bucket.tokens) / limit.per_second);
        }
        if wait > longest {
            return Err(wait);
        }
        bucket.tokens -= 1.0;
        Ok(wait)
    }

    /// Gives back a turn reserved but not used (another pace said no).
    pub fn refund(&self, destination: &str) {
        let Some(limit) = self.limit else { return };
        if let Ok(mut buckets) = self.buckets.lock()
            && let Some(bucket) = buckets.by_destination.get_mut(destination)
        {
            bucket.tokens = (bucket.tokens + 1.0).min(f64::from(limit.burst));
        }
    }

    /// The destination asked us to stay away for `pause` (429).
    pub fn pause(&self, destination: &str, pause: Duration) {
        let now = self.now();
        if let Ok(mut buckets) = self.buckets.lock() {
            let limit = self.limit;
            let bucket = buckets
                .by_destination
                .entry(destination.to_owned())
                .or_insert_with(|| match limit {
                    Some(limit) => full_bucket(limit, now),
                    None => Bucket {
                        tokens: 0.0,
                        updated: now,
                        paused_until: None,
                    },
                });
            let until = now + pause;
            bucket.paused_until = Some(bucket.paused_until.map_or(until, |u| u.max(until)));
            if let Some(limit) = limit {
                // Nothing refills during the pause, and after it one goes
                // at a time at the configured spacing (no burst into a
                // destination that just said "too many").
                refill(bucket, limit, now);
                bucket.updated = bucket.updated.max(until);
                bucket.tokens = bucket.tokens.min(1.0);
            }
        }
    }

    /// How long the destination is still paused (zero when it is not).
    pub fn paused_for(&self, destination: &str) -> Duration {
        let now = self.now();
        self.buckets
            .lock()
            .ok()
            .and_then(|b| {
                b.by_destination
                    .get(destination)
                    .and_then(|b| b.paused_until)
            })
            .map_or(Duration::ZERO, |until| until.saturating_duration_since(now))
    }

    /// Destinations tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .map(|b| b.by_destination.len())
            .unwrap_or(0)
    }

    /// Forgets every bucket that carries no information: full (or without
    /// a pace) and not paused. Also runs by itself as turns are taken.
    pub fn forget_idle(&self) {
        let now = self.now();
        if let Ok(mut buckets) = self.buckets.lock() {
            self.evict_idle(&mut buckets, now, true);
        }
    }

    fn evict_idle(&self, buckets: &mut Buckets, now: Instant, force: bool) {
        let due = buckets
            .last_eviction
            .is_none_or(|last| now.saturating_duration_since(last) >= EVICT_EVERY);
        if !(force || due) || buckets.by_destination.is_empty() {
            return;
        }
        buckets.last_eviction = Some(now);
        let limit = self.limit;
        buckets.by_destination.retain(|_, bucket| {
            if bucket.paused_until.is_some_and(|until| until > now) {
                return true;
            }
            match limit {
                None => false,
                Some(limit) => {
                    refill(bucket, limit, now);
                    bucket.tokens < f64::from(limit.burst)
                }
            }
        });
    }

    fn log_ceiling(&self, buckets: &mut Buckets, now: Instant) {
        let due = buckets
            .last_ceiling_log
            .is_none_or(|last| now.saturating_duration_since(last) >= CEILING_LOG_EVERY);
        if due {
            buckets.last_ceiling_log = Some(now);
            log::warn!(
                "{}: the rate limiter tracks its most destinations at once ({}, \
                 RATE_LIMIT_DESTINATIONS); deliveries to further destinations wait in the journal",
                self.name,
                self.most_destinations
            );
        }
    }

    pub fn report(&self) -> LimiterReport {
        let now = self.now();
        let mut report = LimiterReport {
            setting: self.limit.map_or("none".to_owned(), |l| l.to_string()),
            tokens: BTreeMap::new(),
            paused_ms: BTreeMap::new(),
        };
        if let Ok(mut buckets) = self.buckets.lock() {
            // A look is a chance to forget idle buckets too, so an idle
            // limiter shrinks even when no turn is taken.
            self.evict_idle(&mut buckets, now, false);
            for (destination, bucket) in buckets.by_destination.iter_mut() {
                if let Some(limit) = self.limit {
                    refill(bucket, limit, now);
                    report
                        .tokens
                        .insert(destination.clone(), (bucket.tokens * 100.0).round() / 100.0);
                }
                if let Some(until) = bucket.paused_until.filter(|u| *u > now) {
                    report
                        .paused_ms
                        .insert(destination.clone(), (until - now).as_millis() as u64);
                }
            }
        }
        report
    }
}

/// Reserves a turn in each pace, all or none: a turn taken in one pace is
/// given back when another says the wait is too long. Answers the longest
/// wait, or the error to defer the delivery with.
pub fn reserve_all(
    paces: &[(&Limiter, &str)],
    now: Instant,
    longest: Duration,
) -> Result<Duration, DeliveryError> {
    let mut waits = Vec::with_capacity(paces.len());
    for (index, (limiter, destination)) in paces.iter().enumerate() {
        match limiter.reserve(destination, now, longest) {
            Ok(wait) => waits.push(wait),
            Err(wait) => {
                for (taken, destination) in &paces[..index] {
                    taken.refund(destination);
                }
                return Err(limiter.rate_limited(destination, wait));
            }
        }
    }
    Ok(waits.into_iter().max().unwrap_or_default())
}

/// Sleeps for a reserved turn's wait (real time: the turn is reserved, so
/// the wait only spaces the calls out).
pub async fn wait_in_place(wait: Duration) {
    if !wait.is_zero() {
        actix_rt::time::sleep(wait).await;
    }
}

fn full_bucket(limit: RateLimit, now: Instant) -> Bucket {
    Bucket {
        tokens: f64::from(limit.burst),
        updated: now,
        paused_until: None,
    }
}

/// Adds the tokens earned since the bucket was last brought up to date;
/// none while a pause lasts (`updated` is then when the pause ends).
fn refill(bucket: &mut Bucket, limit: RateLimit, now: Instant) {
    if now <= bucket.updated {
        return;
    }
    let elapsed = (now - bucket.updated).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(f64::from(limit.burst));
    bucket.updated = now;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn limiter(limit: Option<RateLimit>, most: usize) -> (Limiter, std::sync::Arc<ManualClock>) {
        let clock = ManualClock::new();
        (Limiter::new("test", limit, most, clock.clone()), clock)
    }

    #[test]
    fn turns_are_spaced_by_the_rate_after_the_burst() {
        let (limiter, clock) = limiter(Some(RateLimit::new(1, 1, 2)), 100);
        let start = clock.instant();
        let reserve = |d| limiter.reserve(d, start, LONGEST_INLINE_WAIT);
        assert_eq!(reserve("#a"), Ok(Duration::ZERO));
        assert_eq!(reserve("#a"), Ok(Duration::ZERO));
        // The third waits one second, the fourth two; the fifth is too far.
        assert_eq!(reserve("#a"), Ok(Duration::from_secs(1)));
        assert_eq!(reserve("#a"), Ok(Duration::from_secs(2)));
        assert_eq!(reserve("#a"), Err(Duration::from_secs(3)));
        // Another destination has its own bucket.
        assert_eq!(reserve("#b"), Ok(Duration::ZERO));
        let report = limiter.report();
        assert_eq!(report.setting, "1/s:burst=2");
        assert!(report.tokens["#a"] < -1.9 && report.tokens["#b"] > 0.9);
    }

    #[test]
    fn a_pause_holds_the_destination_even_without_a_limit() {
        let (limiter, clock) = limiter(None, 100);
        limiter.pause("#a", Duration::from_secs(30));
        let now = clock.instant();
        assert!(limiter.reserve("#a", now, LONGEST_INLINE_WAIT).is_err());
        assert_eq!(
            limiter.reserve("#b", now, LONGEST_INLINE_WAIT),
            Ok(Duration::ZERO)
        );
        assert!(limiter.report().paused_ms["#a"] >= 30_000);
        // Without a pace, nothing but the pause was tracked.
        assert_eq!(limiter.tracked(), 1);
        clock.advance(Duration::from_secs(31));
        limiter.forget_idle();
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn after_a_pause_turns_resume_one_at_a_time_at_the_spacing() {
        let (limiter, clock) = limiter(Some(RateLimit::new(4, 1, 2)), 100);
        let now = clock.instant();
        limiter.pause("#a", Duration::from_secs(2));
        let waits: Vec<Duration> = (0..4)
            .map(|_| limiter.reserve("#a", now, Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(
            waits,
            [2000, 2250, 2500, 2750].map(Duration::from_millis),
            "spaced after the pause, not all at its end"
        );
    }

    #[test]
    fn full_buckets_are_forgotten_and_the_number_tracked_has_a_ceiling() {
        let (limiter, clock) = limiter(Some(RateLimit::new(1, 1, 3)), 1000);
        let now = clock.instant();
        for n in 0..1000 {
            assert!(
                limiter
                    .reserve(&format!("#c{n}"), now, LONGEST_INLINE_WAIT)
                    .is_ok()
            );
        }
        assert_eq!(limiter.tracked(), 1000);
        // At the ceiling, a new destination waits until buckets refill.
        assert_eq!(
            limiter.reserve("#new", now, LONGEST_INLINE_WAIT),
            Err(Duration::from_secs(3))
        );
        assert_eq!(limiter.tracked(), 1000);
        // A known destination still gets its turn.
        assert!(limiter.reserve("#c1", now, LONGEST_INLINE_WAIT).is_ok());
        // One second on, the refilled buckets (all but #c1) are forgotten.
        clock.advance(Duration::from_secs(1));
        assert!(
            limiter
                .reserve("#new", clock.instant(), LONGEST_INLINE_WAIT)
                .is_ok()
        );
        assert_eq!(limiter.tracked(), 2);
        clock.advance(Duration::from_secs(5));
        limiter.forget_idle();
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn reserving_in_several_paces_is_all_or_none() {
        let (own, clock) = limiter(Some(RateLimit::new(1, 1, 1)), 100);
        let shared = Limiter::new("shared", Some(RateLimit::new(1, 10, 1)), 100, clock.clone());
        let now = clock.instant();
        let paces = [(&own, "#a"), (&shared, "#a")];
        assert_eq!(
            reserve_all(&paces, now, LONGEST_INLINE_WAIT).unwrap(),
            Duration::ZERO
        );
        // The shared pace says ten seconds: the own turn is given back.
        clock.advance(Duration::from_secs(1));
        let now = clock.instant();
        assert!(matches!(
            reserve_all(&paces, now, LONGEST_INLINE_WAIT),
            Err(DeliveryError::RateLimited { .. })
        ));
        assert_eq!(own.report().tokens["#a"], 1.0);
    }
}
