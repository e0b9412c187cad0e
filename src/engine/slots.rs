//! A subscriber's capacity: how many of its deliveries may be held in
//! memory (queued or running) at once. Intake and the sweeper take a slot
//! before handing a delivery to the subscriber; everything beyond waits in
//! the journal, not in memory. When deliveries wait there for want of a
//! slot (a backlog), the slot given back next wakes whoever drains it (the
//! sweeper), so a backlog drains at the subscriber's own speed rather than
//! a claim per tick.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

#[derive(Debug)]
pub struct Slots {
    free: AtomicUsize,
    capacity: usize,
    /// Deliveries may be waiting in the journal for a slot.
    backlog: AtomicBool,
    /// Notified when a slot comes back while there is a backlog (shared by
    /// every subscriber's slots: one waiter drains them all).
    wake: Arc<Notify>,
}

impl Slots {
    pub fn new(capacity: usize, wake: Arc<Notify>) -> Self {
        Slots {
            free: AtomicUsize::new(capacity),
            capacity,
            backlog: AtomicBool::new(false),
            wake,
        }
    }

    /// Takes one slot; without one, the delivery waits in the journal and
    /// the backlog is marked.
    pub fn try_take(&self) -> bool {
        let taken = self.take_up_to(1) == 1;
        if !taken {
            self.mark_backlog();
        }
        taken
    }

    /// Deliveries wait in the journal: the next slot given back wakes the
    /// drainer.
    pub fn mark_backlog(&self) {
        self.backlog.store(true, Ordering::Release);
    }

    /// Work for this subscriber waits in the journal now (another replica
    /// accepted it, or this one has just taken the subscriber over): marks
    /// the backlog and wakes the drainer at once rather than at its next
    /// tick.
    pub fn work_waits(&self) {
        self.mark_backlog();
        self.wake.notify_one();
    }

    /// Whether a backlog was marked, clearing the mark: the caller drains it
    /// (and marks it again if its claim shows more may wait).
    pub fn take_backlog(&self) -> bool {
        self.backlog.swap(false, Ordering::AcqRel)
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
            if self.backlog.load(Ordering::Acquire) {
                self.wake.notify_one();
            }
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

    #[actix_web::test]
    async fn work_waiting_wakes_the_drainer_with_the_backlog_marked() {
        let wake = Arc::new(Notify::new());
        let slots = Slots::new(3, wake.clone());
        slots.work_waits();
        // The permit is stored: a drainer that starts waiting later wakes.
        tokio::time::timeout(std::time::Duration::from_secs(5), wake.notified())
            .await
            .expect("woken");
        assert!(slots.take_backlog());
        assert!(!slots.take_backlog());
    }

    #[test]
    fn slots_are_taken_and_given_back() {
        let slots = Slots::new(3, Arc::default());
        assert!(slots.try_take());
        assert_eq!(slots.take_up_to(5), 2);
        assert!(!slots.try_take());
        slots.give_back(2);
        assert_eq!(slots.free(), 2);
    }

    /// A slot given back wakes the drainer only while a backlog is marked.
    #[test]
    fn a_slot_given_back_wakes_the_drainer_only_with_a_backlog() {
        let wake = Arc::new(Notify::new());
        let slots = Slots::new(1, wake.clone());
        let woken = || {
            let notified = wake.notified();
            futures_util::pin_mut!(notified);
            // A stored permit completes the future at its first poll.
            futures_util::FutureExt::now_or_never(notified).is_some()
        };
        assert!(slots.try_take());
        slots.give_back(1);
        assert!(!woken(), "no backlog: nobody is woken");
        assert!(slots.try_take());
        assert!(!slots.try_take(), "full: the delivery waits in the journal");
        assert!(!woken(), "nothing came back yet");
        slots.give_back(1);
        assert!(woken(), "the slot came back while deliveries wait");
        assert!(slots.take_backlog());
        assert!(!slots.take_backlog(), "taking the mark clears it");
    }
}
