//! Time, as every part of Alvares reads it.
//!
//! Nothing reads the system clock directly: the journal's timestamps (Unix
//! milliseconds), retry and deferral deadlines, circuit cool-downs, rate
//! limits and restart backoff all come from one [`Clock`]. The service runs
//! on [`SystemClock`]; tests hand in a [`ManualClock`] and move it, so they
//! can assert that something did *not* happen (no retry before its time,
//! no probe before the cool-down) without sleeping and hoping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + fmt::Debug {
    /// Wall-clock time in Unix milliseconds: what the journal stores.
    fn now_ms(&self) -> i64;
    /// A monotonic instant, for in-memory deadlines.
    fn instant(&self) -> Instant;
}

/// The clock every component shares.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        unix_ms(SystemTime::now())
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until a test moves it. It starts at the real
/// time, so stored timestamps look ordinary.
#[derive(Debug)]
pub struct ManualClock {
    start_ms: i64,
    start_instant: Instant,
    offset_ms: AtomicI64,
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(ManualClock {
            start_ms: unix_ms(SystemTime::now()),
            start_instant: Instant::now(),
            offset_ms: AtomicI64::new(0),
        })
    }

    /// A manual clock standing at `ms` (Unix milliseconds), for tests whose
    /// figures depend on calendar days.
    pub fn starting_at(ms: i64) -> Arc<Self> {
        Arc::new(ManualClock {
            start_ms: ms,
            start_instant: Instant::now(),
            offset_ms: AtomicI64::new(0),
        })
    }

    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    /// How far the clock has been moved.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::SeqCst).max(0) as u64)
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.start_ms + self.offset_ms.load(Ordering::SeqCst)
    }

    fn instant(&self) -> Instant {
        self.start_instant + self.elapsed()
    }
}

/// Unix milliseconds of a system time (0 before 1970).
pub fn unix_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix milliseconds as RFC 3339 (UTC, milliseconds), as every answer
/// shows a time.
pub fn rfc3339(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new();
        let (ms, instant) = (clock.now_ms(), clock.instant());
        assert_eq!(clock.now_ms(), ms);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now_ms(), ms + 1500);
        assert_eq!(clock.instant() - instant, Duration::from_millis(1500));
    }
}
