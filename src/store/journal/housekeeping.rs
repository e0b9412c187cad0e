//! Between batches the writer renews this process's leases, prunes
//! finished journal entries past their retention, forgets idempotency keys
//! older than a day, checks that the SQLite file it writes is still the
//! one at its path, and keeps the SQLite write-ahead log bounded
//! (`store::wal`).

use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::result::Error as DieselError;

use super::writer::{BatchError, Writer};
use super::{IDEMPOTENCY_WINDOW, JournalError};
use crate::store::AnyConnection;
use crate::store::models::{deliveries, events, once_per, silences};

/// Rows deleted per pruning statement, so no transaction grows large.
const PRUNE_BATCH: i64 = 1000;
/// How often the SQLite file's identity is checked.
const WATCH_EVERY: Duration = Duration::from_millis(250);

impl Writer {
    pub(super) fn housekeeping(&mut self) {
        self.watch_the_file();
        self.keep_the_wal_bounded();
        if self.last_renewal.elapsed() >= self.settings.lease / 3 {
            self.last_renewal = Instant::now();
            let owner = self.owner.clone();
            let lease_until = self.clock.now_ms() + self.settings.lease.as_millis() as i64;
            let result = self.in_transaction(|c| deliveries::renew_leases(c, &owner, lease_until));
            if let Err(BatchError::Connection(error) | BatchError::Member(error)) = result {
                log::warn!("journal: could not renew leases: {error}");
                self.connection = None;
            }
        }
        if self.last_prune.elapsed() >= self.settings.prune_every {
            self.last_prune = Instant::now();
            self.prune();
        }
    }

    /// A SQLite file deleted or replaced under the running process: every
    /// later write would be lost, so the store stops taking them.
    fn watch_the_file(&mut self) {
        if self.last_watch.elapsed() < WATCH_EVERY || self.status.lost().is_some() {
            return;
        }
        self.last_watch = Instant::now();
        if let Some(watched) = &self.watched
            && let Err(reason) = watched.check()
        {
            log::error!("journal: {reason}");
            self.status.set_lost(reason.clone());
            self.observer.batch_failed(&reason);
        }
    }

    fn keep_the_wal_bounded(&mut self) {
        if self.status.lost().is_some() {
            return;
        }
        let Some(mut wal) = self.wal.take() else {
            return;
        };
        if let Ok(connection) = self.connection() {
            wal.tick(connection);
        }
        self.wal = Some(wal);
    }

    /// Deletes finished entries past their retention, in small batches.
    fn prune(&mut self) {
        let retention = self.settings.retention;
        let now = self.clock.now_ms();
        let result = match self.connection() {
            Ok(connection) => prune_finished(connection, now, retention),
            Err(BatchError::Connection(error) | BatchError::Member(error)) => {
                Err(JournalError::Storage(error))
            }
        };
        match result {
            Ok(pruned) if pruned != Pruned::default() => log::info!(
                "journal: pruned {} deliveries and {} events older than {} days; forgot {} idempotency keys",
                pruned.deliveries,
                pruned.events,
                retention.as_secs() / 86_400,
                pruned.keys
            ),
            Ok(_) => {}
            Err(error) => {
                log::warn!("journal: pruning failed: {error}");
                self.connection = None;
            }
        }
    }
}

/// What one pruning pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: usize,
    pub events: usize,
    pub keys: usize,
}

/// Deletes delivered and skipped deliveries, and events left without any,
/// older than `retention`; forgets idempotency keys older than a day.
/// Failed deliveries (and so their events) are kept for replay; the
/// deployment history is never pruned. Each batch is its own transaction.
pub fn prune_finished(
    connection: &mut AnyConnection,
    now: i64,
    retention: Duration,
) -> Result<Pruned, JournalError> {
    let storage = |error: DieselError| JournalError::Storage(error.to_string());
    let before = now - retention.as_millis() as i64;
    let mut pruned = Pruned::default();
    loop {
        let (deliveries, events) = connection
            .transaction(|c| {
                let deliveries = deliveries::prune_finished(c, before, PRUNE_BATCH)?;
                let events = events::prune_finished(c, before, PRUNE_BATCH)?;
                Ok::<_, DieselError>((deliveries, events))
            })
            .map_err(storage)?;
        pruned.deliveries += deliveries;
        pruned.events += events;
        if deliveries == 0 && events == 0 {
            break;
        }
    }
    pruned.keys =
        events::forget_keys_before(connection, now - IDEMPOTENCY_WINDOW.as_millis() as i64)
            .map_err(storage)?;
    // Noise control: claims past their window, silences ended long ago.
    once_per::forget_expired(connection, now).map_err(storage)?;
    silences::forget_ended_before(connection, now - retention.as_millis() as i64)
        .map_err(storage)?;
    Ok(pruned)
}
