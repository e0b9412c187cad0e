//! The read routes' budget, apart from the journal writer's connection and
//! the deliveries' own reads: a pool of their own and a gate that lets at
//! most `READ_CONCURRENCY` heavy reads (insights, listings) and one
//! `/metrics` gauge read run at once. Past the gate a read is refused at
//! once (the route answers 503 with `Retry-After`), never queued behind a
//! delivery's connection.
//!
//! The journal writer closes the gates while it truncates the SQLite WAL
//! (see `store::wal`): reads already running finish, new ones are refused
//! until the checkpoint is done, so readers cannot postpone it forever.

use std::sync::{Arc, Mutex, MutexGuard};

use super::DbPool;

/// Counts reads running through one gate.
#[derive(Debug)]
pub struct ReadGate {
    limit: usize,
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    running: usize,
    /// Closings in force (the WAL keeper's).
    closed: usize,
}

/// Why a read was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `limit` reads are running.
    Busy { limit: usize },
    /// The WAL is being truncated.
    Closed,
}

impl ReadGate {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(ReadGate {
            limit: limit.max(1),
            state: Mutex::new(GateState::default()),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Reads running now.
    pub fn running(&self) -> usize {
        self.state().running
    }

    fn state(&self) -> MutexGuard<'_, GateState> {
        // The state is two counters, consistent after any panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lets in a read that uses `connections` connections at once, or
    /// refuses it at once.
    pub fn try_enter(self: &Arc<Self>, connections: usize) -> Result<ReadPermit, Refused> {
        let mut state = self.state();
        if state.closed > 0 {
            return Err(Refused::Closed);
        }
        if state.running + connections > self.limit {
            return Err(Refused::Busy { limit: self.limit });
        }
        state.running += connections;
        Ok(ReadPermit {
            gate: self.clone(),
            connections,
        })
    }

    /// Refuses new reads until the answer is dropped; the reads already
    /// running go on.
    pub fn close(self: &Arc<Self>) -> ClosedGate {
        self.state().closed += 1;
        ClosedGate { gate: self.clone() }
    }
}

/// A read let in; its connections go back to the gate when dropped.
#[derive(Debug)]
pub struct ReadPermit {
    gate: Arc<ReadGate>,
    connections: usize,
}

impl ReadPermit {
    pub fn connections(&self) -> usize {
        self.connections
    }
}

impl Drop for ReadPermit {
    fn drop(&mut self) {
        self.gate.state().running -= self.connections;
    }
}

/// A gate closed to new reads; it opens again when dropped.
#[derive(Debug)]
pub struct ClosedGate {
    gate: Arc<ReadGate>,
}

impl ClosedGate {
    /// Whether the reads that were running when it closed have ended.
    pub fn drained(&self) -> bool {
        self.gate.running() == 0
    }
}

impl Drop for ClosedGate {
    fn drop(&mut self) {
        self.gate.state().closed -= 1;
    }
}

/// What the read routes read with: their own pool (`READ_CONCURRENCY`
/// connections and one for the metrics) and the two gates in front of it.
#[derive(Clone)]
pub struct ReadRoutes {
    pub pool: DbPool,
    /// Insights and listings.
    pub heavy: Arc<ReadGate>,
    /// The journal's gauges `/metrics` reads.
    pub metrics: Arc<ReadGate>,
}

impl ReadRoutes {
    /// Both gates closed (for a WAL truncation).
    pub fn close(&self) -> [ClosedGate; 2] {
        [self.heavy.close(), self.metrics.close()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_lets_in_up_to_its_limit_and_no_more() {
        let gate = ReadGate::new(4);
        let three = gate.try_enter(3).unwrap();
        assert_eq!(gate.try_enter(3).unwrap_err(), Refused::Busy { limit: 4 });
        let one = gate.try_enter(1).unwrap();
        assert_eq!(gate.try_enter(1).unwrap_err(), Refused::Busy { limit: 4 });
        drop(three);
        assert_eq!(gate.running(), 1);
        assert!(gate.try_enter(3).is_ok());
        drop(one);
        assert_eq!(gate.running(), 0);
    }

    #[test]
    fn a_closed_gate_refuses_new_reads_and_drains_the_running_ones() {
        let gate = ReadGate::new(4);
        let running = gate.try_enter(1).unwrap();
        let closed = gate.close();
        assert_eq!(gate.try_enter(1).unwrap_err(), Refused::Closed);
        assert!(!closed.drained());
        drop(running);
        assert!(closed.drained());
        drop(closed);
        assert!(gate.try_enter(4).is_ok());
    }
}
