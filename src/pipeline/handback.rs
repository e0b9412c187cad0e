//! The hand-back: deliveries that could not be handed on (a mailbox was
//! full, an actor was restarting) go back to the journal, due now with no
//! attempt charged, and their slots are freed.

use super::routing::{Routing, current};
use crate::clock::SharedClock;
use crate::store::journal::{Journal, Ticket};

/// Gives deliveries that could not be handed on back to the journal (due
/// now, no attempt charged) and frees their slots.
#[derive(Clone)]
pub struct Handback {
    journal: Journal,
    routing: Routing,
    clock: SharedClock,
}

impl Handback {
    pub fn new(journal: Journal, routing: Routing, clock: SharedClock) -> Self {
        Handback {
            journal,
            routing,
            clock,
        }
    }

    pub fn give_back(&self, tickets: &[Ticket]) {
        let now = self.clock.now_ms();
        for ticket in tickets {
            self.journal.release(ticket, now);
            self.free_slot(ticket.subscriber);
        }
    }

    pub fn free_slot(&self, subscriber: &str) {
        if let Some(route) = current(&self.routing).route(subscriber) {
            route.slots.give_back(1);
        }
    }
}
