//! A subscriber's capacity: how many of its deliveries may be held in
//! memory (queued or running) at once. Intake and the sweeper take a slot
//! before handing a delivery to the subscriber; everything beyond waits in
//! the journal, not in memory.

use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct Slots {
    free: AtomicUsize,
    capacity: usize,
}

impl Slots {
    pub fn new(capacity: usize) -> Self {
        Slots {
            free: AtomicUsize::new(capacity),
            capacity,
        }
    }

    pub fn try_take(&self) -> bool {
        self.take_up_to(1) == 1
    }

    /// Takes as many as are free, up to `wanted`.
    pub fn take_up_to(&self, wanted: usize) -> usize {
        let mut free = self.free.load(Ordering::Relaxed);
        loop {
            let taken = free.min(wanted);
            if taken == 0 {
                return 0;
            }
            match self.free.compare_exchange_weak(
                free,
                free - taken,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return taken,
                Err(current) => free = current,
            }
        }
    }

    pub fn give_back(&self, count: usize) {
        if count > 0 {
            let before = self.free.fetch_add(count, Ordering::AcqRel);
            debug_assert!(
                before + count <= self.capacity,
                "more slots given back than taken"
            );
        }
    }

    pub fn free(&self) -> usize {
        self.free.load(Ordering::Relaxed)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_taken_and_given_back() {
        let slots = Slots::new(3);
        assert!(slots.try_take());
        assert_eq!(slots.take_up_to(5), 2);
        assert!(!slots.try_take());
        slots.give_back(2);
        assert_eq!(slots.free(), 2);
    }
}
