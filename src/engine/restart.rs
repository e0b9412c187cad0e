//! A subscriber actor's restart backoff: restarts in a row wait 0 s, 1 s,
//! 2 s, 4 s … 60 s before work resumes, so a subscriber that keeps failing
//! does not spin.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Restarts closer together than this count as "in a row" for the backoff.
const RESTART_WINDOW: Duration = Duration::from_secs(300);
/// The longest pause before a subscriber that keeps failing resumes work.
const LONGEST_RESTART_BACKOFF: Duration = Duration::from_secs(60);

/// The recent restarts of one actor.
#[derive(Debug, Default)]
pub struct RestartBackoff {
    restarts: VecDeque<Instant>,
}

impl RestartBackoff {
    /// Counts a restart at `now`; answers how long to wait before resuming.
    pub fn restarted(&mut self, now: Instant) -> Duration {
        self.restarts.push_back(now);
        while self
            .restarts
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) > RESTART_WINDOW)
        {
            self.restarts.pop_front();
        }
        let in_a_row = self.restarts.len() as u32;
        if in_a_row <= 1 {
            Duration::ZERO
        } else {
            Duration::from_secs(1 << (in_a_row - 2).min(6)).min(LONGEST_RESTART_BACKOFF)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_in_a_row_wait_longer_up_to_a_minute_and_a_quiet_spell_resets() {
        let start = Instant::now();
        let mut backoff = RestartBackoff::default();
        let waits: Vec<u64> = (0..10)
            .map(|n| backoff.restarted(start + Duration::from_secs(n)).as_secs())
            .collect();
        assert_eq!(waits, [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // Five minutes without one: the next restart is the first in a row.
        let later = start + Duration::from_secs(9) + RESTART_WINDOW + Duration::from_secs(1);
        assert_eq!(backoff.restarted(later), Duration::ZERO);
    }
}
