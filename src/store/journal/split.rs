//! A batch shares a transaction, not a fate. When it fails for a reason
//! other than a lost connection, its members are written again one by one,
//! each behind a savepoint, so one member's bad value fails that member
//! only and everyone else's is committed. An outcome or deployment that
//! still cannot be stored is tried once more with its text escaped and
//! truncated, and is never carried into later batches. (Writing every
//! member behind its own savepoint from the start costs two more round
//! trips per member on every batch; the split only costs on failure. See
//! the README's performance section for the figures.)

use diesel::connection::SimpleConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::writer::{Batch, BatchError, Writer, fail_command, is_connection_problem};
use super::writes::{append_events, run_other, write_outcomes};
use super::{AppendOutcome, JournalError};
use crate::store::AnyConnection;
use crate::store::models::{deliveries, deployments};

fn is_unique_violation(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

impl Writer {
    /// The slow path after a refused batch: each member behind its own
    /// savepoint in one transaction, so a refused member fails alone.
    pub(super) fn write_one_by_one(&mut self, batch: Batch) {
        let now = self.clock.now_ms();
        let owner = self.owner.clone();
        let lease_until = now + self.settings.lease.as_millis() as i64;
        let Batch {
            appends,
            deployments: rows,
            outcomes,
            releases,
            others,
        } = batch;
        let mut append_results = Vec::with_capacity(appends.len());
        let mut deployment_results = Vec::with_capacity(rows.len());
        let mut other_results = Vec::with_capacity(others.len());
        let mut refused = 0usize;
        let mut first_error = None;
        let result = self.in_transaction(|c| {
            let mut note = |error: &DieselError| {
                refused += 1;
                first_error.get_or_insert_with(|| error.to_string());
            };
            for (append, _) in &appends {
                let mut outcome = savepoint(c, |c| {
                    append_events(c, &owner, now, lease_until, &[append]).map(|mut o| o.remove(0))
                })?;
                // Lost a race for an idempotency key with another replica:
                // written again, it finds the key and answers the original.
                if let Err(error) = &outcome
                    && is_unique_violation(error)
                {
                    outcome = savepoint(c, |c| {
                        append_events(c, &owner, now, lease_until, &[append])
                            .map(|mut o| o.remove(0))
                    })?;
                }
                if let Err(error) = &outcome {
                    note(error);
                }
                append_results.push(outcome);
            }
            for (row, _) in &rows {
                let mut stored = savepoint(c, |c| deployments::insert_all(c, &[row]))?;
                if let Err(error) = &stored {
                    log::error!(
                        "journal: deployment {} refused as it was ({error}); storing it with its text escaped",
                        row.id
                    );
                    let escaped = row.escaped();
                    stored = savepoint(c, |c| deployments::insert_all(c, &[&escaped]))?;
                }
                if let Err(error) = &stored {
                    note(error);
                }
                deployment_results.push(stored.map(|_| ()));
            }
            for write in &outcomes {
                let result = savepoint(c, |c| write_outcomes(c, std::slice::from_ref(write), now))?;
                if let Err(error) = result {
                    log::error!(
                        "journal: outcome of delivery {} refused as it was ({error}); recording it escaped",
                        write.id
                    );
                    let escaped = write.escaped();
                    if let Err(error) = savepoint(c, |c| write_outcomes(c, &[escaped], now))? {
                        note(&error);
                        log::error!(
                            "journal: outcome of delivery {} could not be recorded at all ({error}); \
                             its lease will run out and it will be done again",
                            write.id
                        );
                    }
                }
            }
            for release in &releases {
                let result = savepoint(c, |c| {
                    deliveries::release(c, release.id, release.lease_epoch, release.due_at, now)
                })?;
                if let Err(error) = result {
                    note(&error);
                    log::warn!(
                        "journal: delivery {} not released ({error}); its lease will run out",
                        release.id
                    );
                }
            }
            for command in &others {
                let result = savepoint(c, |c| run_other(c, command, &owner, now, lease_until))?;
                if let Err(error) = &result {
                    note(error);
                }
                other_results.push(result);
            }
            Ok(())
        });
        let members = appends.len() + rows.len() + outcomes.len() + releases.len() + others.len();
        match result {
            Err(BatchError::Connection(error) | BatchError::Member(error)) => {
                self.connection = None;
                self.status.commit_failed(&error);
                self.observer.batch_failed(&error);
                log::error!("journal: a batch could not be written one by one either: {error}");
                let batch = Batch {
                    appends,
                    deployments: rows,
                    outcomes: Vec::new(),
                    releases: Vec::new(),
                    others,
                };
                let _ = batch.fail(&JournalError::Storage(error));
            }
            Ok(()) => {
                if let Some(error) = &first_error {
                    self.observer.batch_failed(error);
                }
                if refused == members {
                    // Nothing at all could be written: the store is failing,
                    // not a member.
                    self.status
                        .commit_failed(first_error.as_deref().unwrap_or("every write refused"));
                } else {
                    self.status.committed();
                }
                for ((_, reply), outcome) in appends.into_iter().zip(append_results) {
                    let answer = outcome.map_err(|error| JournalError::Storage(error.to_string()));
                    if let Err(Ok(AppendOutcome::Recorded { pushed, .. })) = reply.send(answer) {
                        self.orphans.extend(pushed);
                    }
                }
                for ((_, reply), stored) in rows.into_iter().zip(deployment_results) {
                    let _ = reply.send(stored.map_err(|e| JournalError::Storage(e.to_string())));
                }
                for (command, result) in others.into_iter().zip(other_results) {
                    match result {
                        Ok(written) => self.answer_other(command, written),
                        Err(error) => {
                            fail_command(command, &JournalError::Storage(error.to_string()))
                        }
                    }
                }
            }
        }
    }
}

/// Runs `work` behind a savepoint: its own failure is answered as a value
/// (and rolled back to the savepoint); only a broken connection fails the
/// whole transaction.
fn savepoint<T>(
    c: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<Result<T, DieselError>> {
    c.batch_execute("SAVEPOINT member")?;
    match work(c) {
        Ok(value) => {
            c.batch_execute("RELEASE SAVEPOINT member")?;
            Ok(Ok(value))
        }
        Err(error) if is_connection_problem(&error) => Err(error),
        Err(error) => {
            c.batch_execute("ROLLBACK TO SAVEPOINT member")?;
            c.batch_execute("RELEASE SAVEPOINT member")?;
            Ok(Err(error))
        }
    }
}
