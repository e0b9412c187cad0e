//! Which subscribers this replica delivers for. With several replicas on
//! one PostgreSQL database each subscriber has one owner at a time (see
//! `store::models::replicas`); intake pushes, and the sweeper claims, only
//! for subscribers this replica owns. The coordinator updates it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug)]
pub struct Ownership {
    owned: HashMap<&'static str, AtomicBool>,
}

impl Ownership {
    pub fn new(ids: &[&'static str], owned_from_start: bool) -> Self {
        Ownership {
            owned: ids
                .iter()
                .map(|id| (*id, AtomicBool::new(owned_from_start)))
                .collect(),
        }
    }

    pub fn owns(&self, subscriber: &str) -> bool {
        self.owned
            .get(subscriber)
            .is_some_and(|owned| owned.load(Ordering::Relaxed))
    }

    /// Sets the owned set; answers the subscribers gained and lost.
    pub fn set(&self, owned: &[String]) -> (Vec<&'static str>, Vec<&'static str>) {
        let mut gained = Vec::new();
        let mut lost = Vec::new();
        for (id, flag) in &self.owned {
            let now = owned.iter().any(|o| o == id);
            if flag.swap(now, Ordering::Relaxed) != now {
                if now {
                    gained.push(*id);
                } else {
                    lost.push(*id);
                }
            }
        }
        gained.sort_unstable();
        lost.sort_unstable();
        (gained, lost)
    }

    pub fn ids(&self) -> Vec<&'static str> {
        let mut ids: Vec<&'static str> = self.owned.keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}
