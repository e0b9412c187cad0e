//! The insights' recent answers, kept apart from the route so that the
//! application state can hold them without importing the route.

use std::collections::VecDeque;
use std::sync::Mutex;

use actix_web::web;

/// Answers at most this many questions from memory...
const CACHED_ANSWERS: usize = 64;
/// ...and at most this many bytes of them (a larger answer is not kept).
const CACHED_BYTES: usize = 4 << 20;

/// The insights' recent answers, by question, for `INSIGHTS_CACHE_SECONDS`:
/// dashboards polling the same figures cost one computation per period,
/// not one per poll (each costs seconds of database work on a long
/// history). Bounded in entries and bytes; the oldest go first.
pub struct AnswerCache {
    ttl_ms: i64,
    answers: Mutex<VecDeque<Cached>>,
}

struct Cached {
    key: String,
    at_ms: i64,
    body: web::Bytes,
}

impl AnswerCache {
    pub fn new(seconds: u64) -> Self {
        AnswerCache {
            ttl_ms: i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
            answers: Mutex::new(VecDeque::new()),
        }
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, VecDeque<Cached>> {
        // A list of finished answers: consistent after any panic.
        self.answers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The answer to `key` given less than the period before `now_ms`.
    pub fn get(&self, key: &str, now_ms: i64) -> Option<web::Bytes> {
        if self.ttl_ms == 0 {
            return None;
        }
        let answers = self.answers();
        answers
            .iter()
            .rev()
            .find(|cached| cached.key == key)
            .filter(|cached| now_ms - cached.at_ms < self.ttl_ms && now_ms >= cached.at_ms)
            .map(|cached| cached.body.clone())
    }

    pub fn put(&self, key: String, body: web::Bytes, now_ms: i64) {
        if self.ttl_ms == 0 || body.len() > CACHED_BYTES {
            return;
        }
        let mut answers = self.answers();
        answers.retain(|cached| cached.key != key && now_ms - cached.at_ms < self.ttl_ms);
        answers.push_back(Cached {
            key,
            at_ms: now_ms,
            body,
        });
        let mut bytes: usize = answers.iter().map(|cached| cached.body.len()).sum();
        while answers.len() > CACHED_ANSWERS || bytes > CACHED_BYTES {
            let Some(oldest) = answers.pop_front() else {
                break;
            };
            bytes -= oldest.body.len();
        }
    }
}
