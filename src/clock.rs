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

const DAY_MS: i64 = 86_400_000;
/// The earliest time RFC 3339 can write (its years have four digits):
/// 0000-01-01T00:00:00.000Z.
pub const EARLIEST_MS: i64 = -62_167_219_200_000;
/// The latest: 9999-12-31T23:59:59.999Z.
pub const LATEST_MS: i64 = 253_402_300_799_999;

/// Unix milliseconds as RFC 3339 (UTC, milliseconds), as every answer
/// shows a time. A time outside what RFC 3339 can write (before year 0,
/// after year 9999) is shown as the nearest one it can: never a panic.
pub fn rfc3339(ms: i64) -> String {
    let ms = ms.clamp(EARLIEST_MS, LATEST_MS);
    let (days, in_day) = (ms.div_euclid(DAY_MS), ms.rem_euclid(DAY_MS));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// A strict RFC 3339 date-time (section 5.6): `2026-11-25T10:00:00Z`,
/// `2026-11-25T10:00:00.250+01:00`; `T` and `Z` in either case, any
/// number of fraction digits (milliseconds kept), a real calendar day,
/// hours to 23, minutes and seconds to 59. Unix milliseconds, or `None`
/// for anything else (no spaces, no missing offset).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let (date, rest) = bytes.split_at_checked(10)?;
    let days = parse_date_bytes(date)?;
    let (&separator, rest) = rest.split_first()?;
    if !matches!(separator, b'T' | b't') || rest.len() < 9 {
        return None;
    }
    let (clock, mut rest) = rest.split_at(8);
    if clock[2] != b':' || clock[5] != b':' {
        return None;
    }
    let hour = two_digits(&clock[0..2]).filter(|h| *h <= 23)?;
    let minute = two_digits(&clock[3..5]).filter(|m| *m <= 59)?;
    let second = two_digits(&clock[6..8]).filter(|s| *s <= 59)?;
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for position in 0..3 {
            let digit = fraction.get(position).filter(|_| position < digits);
            millis = millis * 10 + digit.map_or(0, |d| i64::from(d - b'0'));
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = two_digits(&[*h1, *h2]).filter(|h| *h <= 23)?;
            let minutes = two_digits(&[*m1, *m2]).filter(|m| *m <= 59)?;
            let offset = (hours * 60 + minutes) * 60_000;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    Some(days * DAY_MS + ((hour * 60 + minute) * 60 + second) * 1000 + millis - offset)
}

/// A full date (`2026-11-25`, a real calendar day) as its 00:00 UTC in
/// Unix milliseconds.
pub fn parse_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    (bytes.len() == 10).then_some(())?;
    parse_date_bytes(bytes).map(|days| days * DAY_MS)
}

/// `YYYY-MM-DD` as days since 1970-01-01.
fn parse_date_bytes(date: &[u8]) -> Option<i64> {
    if date.len() != 10 || date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    let year = two_digits(&date[0..2])? * 100 + two_digits(&date[2..4])?;
    let month = two_digits(&date[5..7]).filter(|m| (1..=12).contains(m))?;
    let day = two_digits(&date[8..10]).filter(|d| (1..=days_in_month(year, month)).contains(d))?;
    Some(days_from_civil(year, month, day))
}

fn two_digits(pair: &[u8]) -> Option<i64> {
    match pair {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Some(i64::from(a - b'0') * 10 + i64::from(b - b'0'))
        }
        _ => None,
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_over_the_whole_range_rfc_3339_can_write() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_793_577_600_250), "2026-11-02T00:00:00.250Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(EARLIEST_MS), "0000-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(LATEST_MS), "9999-12-31T23:59:59.999Z");
        // Past either end: the nearest, not a panic.
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(i64::MIN), "0000-01-01T00:00:00.000Z");
        // The same as humantime wherever humantime can write the time.
        for ms in [1, 999, 86_399_999, 1_700_000_000_123, 4_102_444_800_000] {
            let time = UNIX_EPOCH + Duration::from_millis(ms as u64);
            assert_eq!(
                rfc3339(ms),
                humantime::format_rfc3339_millis(time).to_string()
            );
        }
    }

    #[test]
    fn rfc_3339_is_read_strictly() {
        let at = |text: &str| parse_rfc3339(text);
        assert_eq!(at("2026-11-02T00:00:00Z"), Some(1_793_577_600_000));
        assert_eq!(at("2026-11-02t00:00:00z"), Some(1_793_577_600_000));
        assert_eq!(at("2026-11-02T00:00:00.25Z"), Some(1_793_577_600_250));
        assert_eq!(
            at("2026-11-02T00:00:00.123456789Z"),
            Some(1_793_577_600_123)
        );
        assert_eq!(at("2026-11-02T01:30:00+01:30"), Some(1_793_577_600_000));
        assert_eq!(at("2026-11-01T23:00:00-01:00"), Some(1_793_577_600_000));
        assert_eq!(at("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(at("0000-01-01T00:00:00Z"), Some(EARLIEST_MS));
        assert_eq!(at("9999-12-31T23:59:59.999Z"), Some(LATEST_MS));
        assert_eq!(at("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        for wrong in [
            "",
            "2026-11-02",
            "2026-11-02 00:00:00Z",
            "2026-11-02T00:00:00",
            "2026-11-02T00:00Z",
            " 2026-11-02T00:00:00Z",
            "2026-11-02T00:00:00Z ",
            "2026-11-02T00:00:00.Z",
            "2026-11-02T24:00:00Z",
            "2026-11-02T12:60:00Z",
            "2026-11-02T12:00:60Z",
            "2026-11-02T12:00:00+24:00",
            "2026-11-02T12:00:00+0100",
            "2026-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-11-00T00:00:00Z",
            "+2026-11-02T00:00:00Z",
            "2026-11-02T00:00:00Zx",
            "２026-11-02T00:00:00Z",
        ] {
            assert_eq!(at(wrong), None, "{wrong:?}");
        }
        assert_eq!(parse_date("2000-02-29"), Some(951_782_400_000));
        assert_eq!(parse_date("2001-02-29"), None);
        assert_eq!(parse_date("2001-02-2"), None);
    }

    #[test]
    fn every_day_is_read_back_as_written() {
        // Four centuries (every leap-year rule) around 1970, and the ends.
        let days = (-146_097..146_097).chain(2_932_800..2_932_897);
        for day in days.step_by(7).chain([-719_528, 2_932_896]) {
            let ms = day * DAY_MS + 45_296_789;
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms), "{}", rfc3339(ms));
        }
    }

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
