//! Each subscriber's pace: a token bucket per destination (a Slack channel,
//! an API), and pauses a destination asked for (429 + `Retry-After`).
//!
//! A delivery takes its turn by reserving a token, even one that is only
//! available later, so waiters are served in order and exactly at the
//! configured spacing. A turn that is a short wait away is waited for in
//! place; a longer one gives the delivery back to the journal, due when its
//! turn comes, without charging an attempt — a backlog for one busy channel
//! waits in the database, not in memory, and does not hold up other
//! channels.
//!
//! Hand-written rather than `governor`: the admin API shows each bucket's
//! current tokens, which needs a look without taking one.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::DeliveryError;

/// Longest wait for a turn spent inside a delivery.
pub const LONGEST_INLINE_WAIT: Duration = Duration::from_secs(2);
/// Buckets idle this long are forgotten (they would be full anyway).
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// `1/s`, `10/m`, `100/h`, optionally `:burst=N` (default 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl RateLimit {
    pub const fn new(count: u32, period_seconds: u32, burst: u32) -> Self {
        RateLimit {
            per_second: count as f64 / period_seconds as f64,
            burst,
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.per_second >= 1.0 {
            write!(f, "{}/s", self.per_second)?;
        } else {
            write!(f, "{}/m", self.per_second * 60.0)?;
        }
        write!(f, ":burst={}", self.burst)
    }
}

impl FromStr for RateLimit {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.trim().split(':');
        let rate = parts.next().unwrap_or_default();
        let (count, period) = rate
            .split_once('/')
            .ok_or_else(|| format!("{rate}: expected <count>/<s|m|h>"))?;
        let count: f64 = count
            .trim()
            .parse()
            .map_err(|_| format!("{rate}: the count is not a number"))?;
        let seconds = match period.trim() {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => return Err(format!("{other}: expected s, m or h")),
        };
        if count <= 0.0 || !count.is_finite() {
            return Err(format!("{rate}: the count must be positive"));
        }
        let mut burst = 1;
        for option in parts {
            let value = option
                .trim()
                .strip_prefix("burst=")
                .ok_or_else(|| format!("{option}: expected burst=N"))?;
            burst = value
                .parse()
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| format!("{option}: expected a positive burst"))?;
        }
        Ok(RateLimit {
            per_second: count / seconds,
            burst,
        })
    }
}

/// `RATE_LIMITS`: `name=limit` items, comma-separated, where a name is a
/// subscriber id or a group (`slack` covers every Slack subscriber) and a
/// limit is a [`RateLimit`] or `none`. An id wins over its group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimits(HashMap<String, Option<RateLimit>>);

impl FromStr for RateLimits {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut limits = HashMap::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, limit) = item
                .split_once('=')
                .ok_or_else(|| format!("{item}: expected name=limit"))?;
            let limit = match limit.trim() {
                "none" | "off" => None,
                other => Some(other.parse()?),
            };
            limits.insert(name.trim().to_owned(), limit);
        }
        Ok(RateLimits(limits))
    }
}

impl RateLimits {
    /// The limit for a subscriber: by id, else by group, else its default.
    pub fn resolve(&self, id: &str, group: &str, default: Option<RateLimit>) -> Option<RateLimit> {
        self.0
            .get(id)
            .or_else(|| self.0.get(group))
            .copied()
            .unwrap_or(default)
    }
}

#[derive(Debug)]
struct Bucket {
    /// May go below zero: turns already promised to waiting deliveries.
    tokens: f64,
    updated: Instant,
    paused_until: Option<Instant>,
}

/// One subscriber's buckets. Shared with the admin API for reporting.
#[derive(Debug)]
pub struct Limiter {
    limit: Option<RateLimit>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// What the admin API shows of a limiter.
#[derive(Debug, Clone, Serialize)]
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
    pub fn new(limit: Option<RateLimit>) -> Self {
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for this destination's turn, or answers `RateLimited` when the
    /// turn is further away than [`LONGEST_INLINE_WAIT`].
    pub async fn take_turn(&self, destination: &str) -> Result<(), DeliveryError> {
        match self.reserve(destination, Instant::now()) {
            Ok(Duration::ZERO) => Ok(()),
            Ok(wait) => {
                actix_rt::time::sleep(wait).await;
                Ok(())
            }
            Err(wait) => Err(DeliveryError::RateLimited {
                reason: format!("{destination} is rate limited"),
                wait,
            }),
        }
    }

    /// Waits for this destination's turn however far away it is, for
    /// calls in the middle of a sequence that cannot be handed back.
    pub async fn wait_for_turn(&self, destination: &str) {
        let wait = match self.reserve_within(destination, Instant::now(), Duration::MAX) {
            Ok(wait) | Err(wait) => wait,
        };
        if !wait.is_zero() {
            actix_rt::time::sleep(wait).await;
        }
    }

    /// Reserves a turn: `Ok(wait)` (taken, go after `wait`) or `Err(wait)`
    /// (not taken: the turn is `wait` away, too long to wait in place).
    pub fn reserve(&self, destination: &str, now: Instant) -> Result<Duration, Duration> {
        self.reserve_within(destination, now, LONGEST_INLINE_WAIT)
    }

    fn reserve_within(
        &self,
        destination: &str,
        now: Instant,
        longest: Duration,
    ) -> Result<Duration, Duration> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(Duration::ZERO);
        };
        if buckets.len() > 1000 {
            buckets.retain(|_, b| now.duration_since(b.updated) < FORGET_AFTER);
        }
        let limit = self.limit;
        let bucket = buckets.entry(destination.to_owned()).or_insert(Bucket {
            tokens: limit.map_or(0.0, |l| f64::from(l.burst)),
            updated: now,
            paused_until: None,
        });
        let paused = bucket
            .paused_until
            .map_or(Duration::ZERO, |until| until.saturating_duration_since(now));
        let Some(limit) = limit else {
            return if paused > longest {
                Err(paused)
            } else {
                Ok(paused)
            };
        };
        refill(bucket, limit, now);
        let turn_in = if bucket.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - bucket.tokens) / limit.per_second)
        };
        let wait = turn_in.max(paused);
        if wait > longest {
            return Err(wait);
        }
        bucket.tokens -= 1.0;
        Ok(wait)
    }

    /// The destination asked us to stay away for `pause` (429).
    pub fn pause(&self, destination: &str, pause: Duration) {
        let now = Instant::now();
        if let Ok(mut buckets) = self.buckets.lock() {
            let bucket = buckets.entry(destination.to_owned()).or_insert(Bucket {
                tokens: self.limit.map_or(0.0, |l| f64::from(l.burst)),
                updated: now,
                paused_until: None,
            });
            bucket.paused_until = Some(now + pause);
        }
    }

    pub fn report(&self) -> LimiterReport {
        let now = Instant::now();
        let mut report = LimiterReport {
            setting: self.limit.map_or("none".to_owned(), |l| l.to_string()),
            tokens: BTreeMap::new(),
            paused_ms: BTreeMap::new(),
        };
        if let Ok(mut buckets) = self.buckets.lock() {
            for (destination, bucket) in buckets.iter_mut() {
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

fn refill(bucket: &mut Bucket, limit: RateLimit, now: Instant) {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(f64::from(limit.burst));
    bucket.updated = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_resolve_by_id_then_group() {
        let limits: RateLimits = "slack=1/s:burst=3, uptimerobot=10/m, slack-error=none"
            .parse()
            .unwrap();
        assert_eq!(
            limits.resolve("slack-deployment", "slack", None),
            Some(RateLimit {
                per_second: 1.0,
                burst: 3
            })
        );
        assert_eq!(limits.resolve("slack-error", "slack", None), None);
        let per_minute = limits.resolve("uptimerobot", "uptimerobot", None).unwrap();
        assert!((per_minute.per_second - 10.0 / 60.0).abs() < 1e-9);
        let default = Some(RateLimit::new(1, 1, 1));
        assert_eq!(limits.resolve("detectify", "detectify", default), default);
        assert!("slack=fast".parse::<RateLimits>().is_err());
        assert!("slack=1/d".parse::<RateLimits>().is_err());
        assert!("slack=1/s:burst=0".parse::<RateLimits>().is_err());
    }

    #[test]
    fn turns_are_spaced_by_the_rate_after_the_burst() {
        let limiter = Limiter::new(Some(RateLimit::new(1, 1, 2)));
        let start = Instant::now();
        assert_eq!(limiter.reserve("#a", start), Ok(Duration::ZERO));
        assert_eq!(limiter.reserve("#a", start), Ok(Duration::ZERO));
        // The third waits one second, the fourth two; the fifth is too far.
        assert_eq!(limiter.reserve("#a", start), Ok(Duration::from_secs(1)));
        assert_eq!(limiter.reserve("#a", start), Ok(Duration::from_secs(2)));
        assert_eq!(limiter.reserve("#a", start), Err(Duration::from_secs(3)));
        // Another destination has its own bucket.
        assert_eq!(limiter.reserve("#b", start), Ok(Duration::ZERO));
        let report = limiter.report();
        assert_eq!(report.setting, "1/s:burst=2");
        assert!(report.tokens["#a"] < -1.9 && report.tokens["#b"] > 0.9);
    }

    #[test]
    fn a_pause_holds_the_destination_even_without_a_limit() {
        let limiter = Limiter::new(None);
        limiter.pause("#a", Duration::from_secs(30));
        assert!(limiter.reserve("#a", Instant::now()).is_err());
        assert_eq!(limiter.reserve("#b", Instant::now()), Ok(Duration::ZERO));
        assert!(limiter.report().paused_ms["#a"] > 29_000);
    }
}
