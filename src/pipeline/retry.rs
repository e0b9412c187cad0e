//! When a failed delivery is tried again.
//!
//! Transient failures (network error, timeout, 5xx, 429) follow
//! [`SCHEDULE`], each wait varied by ±20 % so that many retries do not land
//! together; a destination's own `Retry-After` is honoured when longer.
//! After the last wait the delivery has failed for good.

use std::time::Duration;

use rand::Rng;

/// Waits before the 2nd, 3rd, … attempt: 1 s, 5 s, 30 s, 2 min, 10 min,
/// 30 min, 1 h, 3 h — nine attempts over about 4 h 45 min.
pub const SCHEDULE: [Duration; 8] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(3 * 60 * 60),
];

/// The wait before the next attempt after `attempts` failed attempts, or
/// `None` when the schedule is used up.
pub fn next_wait(attempts: u32, retry_after: Option<Duration>) -> Option<Duration> {
    let base = *SCHEDULE.get(attempts.checked_sub(1)? as usize)?;
    let jitter = rand::rng().random_range(0.8..=1.2);
    let wait = base.mul_f64(jitter);
    Some(retry_after.map_or(wait, |after| after.max(wait)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_follow_the_schedule_within_the_jitter() {
        for (index, base) in SCHEDULE.iter().enumerate() {
            let wait = next_wait(index as u32 + 1, None).unwrap();
            assert!(
                wait >= base.mul_f64(0.8) && wait <= base.mul_f64(1.2),
                "{index}: {wait:?}"
            );
        }
        assert_eq!(next_wait(9, None), None);
        assert_eq!(next_wait(0, None), None);
    }

    #[test]
    fn a_longer_retry_after_wins() {
        assert_eq!(
            next_wait(1, Some(Duration::from_secs(20))),
            Some(Duration::from_secs(20))
        );
    }
}
