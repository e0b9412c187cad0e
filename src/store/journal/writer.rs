//! The group-commit loop: the writer takes whatever is waiting, writes it
//! in one transaction and answers each request after the commit. A panic
//! or a refused value fails the batch, never the writer.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::writes::{Written, append_events, run_other, write_outcomes};
use super::{
    Append, AppendOutcome, Command, JournalError, JournalSettings, MOST_PER_BATCH, Release, Reply,
    Ticket,
};
use crate::clock::SharedClock;
use crate::logging::panic_message;
use crate::store::models::deliveries::{self, OutcomeWrite};
use crate::store::models::deployments::{self, DeploymentRow};
use crate::store::status::{OpenedFile, StoreStatus, WriterObserver};
use crate::store::wal::WalKeeper;
use crate::store::{AnyConnection, Backend, DbConnection, DbPool};

/// Outcomes kept for the next batch while the database is unreachable;
/// beyond this their leases simply run out (the deliveries are redone).
const MOST_CARRIED_OUTCOMES: usize = 100_000;

/// The writer thread's state: its connection and what it carries between
/// batches.
pub(super) struct Writer {
    pub(super) receiver: Receiver<Command>,
    pub(super) pool: DbPool,
    pub(super) connection: Option<DbConnection>,
    pub(super) backend: Backend,
    pub(super) owner: Arc<str>,
    pub(super) settings: JournalSettings,
    pub(super) waiting: Arc<AtomicUsize>,
    pub(super) observer: Arc<dyn WriterObserver>,
    pub(super) status: Arc<StoreStatus>,
    pub(super) clock: SharedClock,
    /// Outcomes whose batch could not reach the database; written with the
    /// next batch (bounded).
    pub(super) carried_outcomes: Vec<OutcomeWrite>,
    /// Deliveries leased for a request nobody waits for any more; given
    /// back with the next batch.
    pub(super) orphans: Vec<Ticket>,
    pub(super) last_renewal: Instant,
    pub(super) last_prune: Instant,
    pub(super) watched: Option<OpenedFile>,
    pub(super) last_watch: Instant,
    pub(super) wal: Option<WalKeeper>,
}

/// One batch's commands, sorted by kind.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) appends: Vec<(Append, Reply<AppendOutcome>)>,
    pub(super) deployments: Vec<(DeploymentRow, Reply<()>)>,
    pub(super) outcomes: Vec<OutcomeWrite>,
    pub(super) releases: Vec<Release>,
    /// Claims, admin changes, coordination: written one by one in order.
    pub(super) others: Vec<Command>,
}

impl Batch {
    fn add(&mut self, command: Command) {
        match command {
            Command::Append(append, reply) => self.appends.push((append, reply)),
            Command::StoreDeployment(row, reply) => self.deployments.push((row, reply)),
            Command::Outcome(write) => self.outcomes.push(write),
            Command::Release(release) => self.releases.push(release),
            other => self.others.push(other),
        }
    }

    fn len(&self) -> usize {
        self.appends.len()
            + self.deployments.len()
            + self.outcomes.len()
            + self.releases.len()
            + self.others.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Answers every waiting member with `error`. Outcomes and releases
    /// have nobody waiting: they are answered by being kept or dropped.
    pub(super) fn fail(self, error: &JournalError) -> (Vec<OutcomeWrite>, Vec<Release>) {
        for (_, reply) in self.appends {
            let _ = reply.send(Err(error.clone()));
        }
        for (_, reply) in self.deployments {
            let _ = reply.send(Err(error.clone()));
        }
        for command in self.others {
            fail_command(command, error);
        }
        (self.outcomes, self.releases)
    }
}

pub(super) fn fail_command(command: Command, error: &JournalError) {
    let error = error.clone();
    match command {
        Command::Append(_, reply) => drop(reply.send(Err(error))),
        Command::StoreDeployment(_, reply) => drop(reply.send(Err(error))),
        Command::Claim { reply, .. } => drop(reply.send(Err(error))),
        Command::SaveSwitch(_, reply) => drop(reply.send(Err(error))),
        Command::StoreFailure(_, reply) => drop(reply.send(Err(error))),
        Command::Replay(_, reply) => drop(reply.send(Err(error))),
        Command::Coordinate(_, reply) => drop(reply.send(Err(error))),
        Command::SaveSilence(_, reply) => drop(reply.send(Err(error))),
        Command::ExpireSilence { reply, .. } => drop(reply.send(Err(error))),
        Command::Leave(reply) => drop(reply.send(Err(error))),
        Command::Flush(reply) => drop(reply.send(Err(error))),
        Command::Outcome(_) | Command::Release(_) => {}
        Command::PutInLine(subscriber) => {
            log::warn!("journal: {subscriber}'s deliveries not put in line ({error})")
        }
    }
}

/// A connection that is gone (as opposed to a value the database refused):
/// retrying the members one by one would not help.
pub(super) fn is_connection_problem(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        ) | DieselError::BrokenTransactionManager
    )
}

/// Why a batch could not be written together.
pub(super) enum BatchError {
    /// No connection, or it broke: nothing can be written now.
    Connection(String),
    /// A value was refused: the members are tried one by one.
    Member(String),
}

impl Writer {
    pub(super) fn run(mut self) {
        let tick = (self.settings.lease / 3).min(Duration::from_millis(250));
        loop {
            let mut batch = Batch::default();
            let mut taken = 0;
            match self.receiver.recv_timeout(tick) {
                Ok(command) => {
                    batch.add(command);
                    taken += 1;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while taken < MOST_PER_BATCH {
                match self.receiver.try_recv() {
                    Ok(command) => {
                        batch.add(command);
                        taken += 1;
                    }
                    Err(_) => break,
                }
            }
            let left = self
                .waiting
                .fetch_sub(taken, Ordering::Relaxed)
                .saturating_sub(taken);
            self.observer.queue_depth(left);
            batch.outcomes.append(&mut self.carried_outcomes);
            let now = self.clock.now_ms();
            batch
                .releases
                .extend(self.orphans.drain(..).map(|ticket| Release {
                    id: ticket.delivery_id,
                    lease_epoch: ticket.lease_epoch,
                    due_at: now,
                }));
            if !batch.is_empty() {
                self.write(batch);
            }
            self.housekeeping();
        }
        log::info!("journal: writer stopped");
    }

    pub(super) fn connection(&mut self) -> Result<&mut DbConnection, BatchError> {
        if self.connection.is_none() {
            let mut connection = self
                .pool
                .get()
                .map_err(|error| BatchError::Connection(error.to_string()))?;
            if let Some(wal) = &self.wal {
                wal.prepare(&mut connection)
                    .map_err(|error| BatchError::Connection(error.to_string()))?;
            }
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut().expect("just set"))
    }

    fn write(&mut self, batch: Batch) {
        if let Some(reason) = self.status.lost() {
            let _ = batch.fail(&JournalError::StoreLost(reason));
            return;
        }
        let started = Instant::now();
        let size = batch.len();
        // The writer is a core actor: a panic in one batch fails that
        // batch, and the writer goes on with a fresh connection.
        let together = std::panic::catch_unwind(AssertUnwindSafe(|| self.write_together(&batch)));
        match together {
            Ok(Ok(written)) => {
                self.answer(batch, written);
                self.status.committed();
                self.observer.batch_written(size, started.elapsed());
            }
            Ok(Err(BatchError::Connection(error))) => {
                self.connection = None;
                self.status.commit_failed(&error);
                self.observer.batch_failed(&error);
                log::error!("journal: a batch could not be written: {error}");
                let (mut outcomes, _releases) = batch.fail(&JournalError::Storage(error));
                // Outcomes wait for the database; releases simply let their
                // leases run out.
                outcomes.truncate(MOST_CARRIED_OUTCOMES);
                self.carried_outcomes = outcomes;
            }
            Ok(Err(BatchError::Member(error))) => {
                log::warn!(
                    "journal: a batch of {size} was refused ({error}); writing its members one by one"
                );
                self.write_one_by_one(batch);
            }
            Err(panic) => {
                let cause = format!("panicked: {}", panic_message(panic.as_ref()));
                log::error!("journal: the writer {cause}; its batch failed, writing goes on");
                self.connection = None;
                self.observer.recovered(&cause);
                let _ = batch.fail(&JournalError::Storage("internal error".into()));
            }
        }
    }

    /// The fast path: every member in one transaction.
    fn write_together(&mut self, batch: &Batch) -> Result<Vec<Written>, BatchError> {
        let now = self.clock.now_ms();
        let owner = self.owner.clone();
        let lease_until = now + self.settings.lease.as_millis() as i64;
        self.in_transaction(|c| {
            let mut written = Vec::with_capacity(2 + batch.others.len());
            let appends: Vec<&Append> = batch.appends.iter().map(|(a, _)| a).collect();
            written.push(Written::Appended(append_events(
                c,
                &owner,
                now,
                lease_until,
                &appends,
            )?));
            fail::fail_point!("journal-mid-batch", |_| std::process::abort());
            let rows: Vec<&DeploymentRow> = batch.deployments.iter().map(|(r, _)| r).collect();
            deployments::insert_all(c, &rows)?;
            write_outcomes(c, &batch.outcomes, now)?;
            for release in &batch.releases {
                deliveries::release(c, release.id, release.lease_epoch, release.due_at, now)?;
            }
            for command in &batch.others {
                written.push(run_other(c, command, &owner, now, lease_until)?);
            }
            Ok(written)
        })
    }

    /// Sends a committed batch's answers.
    fn answer(&mut self, batch: Batch, written: Vec<Written>) {
        let mut written = written.into_iter();
        if let Some(Written::Appended(outcomes)) = written.next() {
            for ((_, reply), outcome) in batch.appends.into_iter().zip(outcomes) {
                // Nobody waits any more (intake timed out): give the leased
                // deliveries back rather than hold them until the lease ends.
                if let Err(Ok(AppendOutcome::Recorded { pushed, .. })) = reply.send(Ok(outcome)) {
                    self.orphans.extend(pushed);
                }
            }
        }
        for (_, reply) in batch.deployments {
            let _ = reply.send(Ok(()));
        }
        for (command, written) in batch.others.into_iter().zip(written) {
            self.answer_other(command, written);
        }
    }

    pub(super) fn answer_other(&mut self, command: Command, written: Written) {
        match (command, written) {
            (Command::Claim { reply, .. }, Written::Claimed(claimed)) => {
                if let Err(Ok(claimed)) = reply.send(Ok(claimed)) {
                    self.orphans.extend(claimed.into_iter().map(|c| c.ticket));
                }
            }
            (Command::SaveSwitch(_, reply), _) => drop(reply.send(Ok(()))),
            (Command::StoreFailure(_, reply), _) => drop(reply.send(Ok(()))),
            (Command::Replay(_, reply), Written::Count(n)) => drop(reply.send(Ok(n))),
            (Command::Leave(reply), Written::Count(n)) => drop(reply.send(Ok(n))),
            (Command::Coordinate(_, reply), Written::Coordinated(round)) => {
                drop(reply.send(Ok(round)))
            }
            (Command::SaveSilence(_, reply), _) => drop(reply.send(Ok(()))),
            (Command::ExpireSilence { reply, .. }, Written::Answer(found)) => {
                drop(reply.send(Ok(found)))
            }
            (Command::Flush(reply), _) => drop(reply.send(Ok(()))),
            (Command::PutInLine(_), _) => {}
            (command, _) => fail_command(
                command,
                &JournalError::Storage("internal error: a mismatched answer".into()),
            ),
        }
    }

    /// Runs `work` in one write transaction (`BEGIN IMMEDIATE` on SQLite, so
    /// the write lock is taken up front rather than on upgrade).
    pub(super) fn in_transaction<T>(
        &mut self,
        work: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T>,
    ) -> Result<T, BatchError> {
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let connection = self.connection()?;
        let broken = |error: DieselError| BatchError::Connection(error.to_string());
        connection.batch_execute(begin).map_err(broken)?;
        match work(connection) {
            Ok(value) => {
                connection.batch_execute("COMMIT").map_err(broken)?;
                Ok(value)
            }
            Err(error) => {
                let rolled_back = connection.batch_execute("ROLLBACK").is_ok();
                if is_connection_problem(&error) || !rolled_back {
                    Err(BatchError::Connection(error.to_string()))
                } else {
                    Err(BatchError::Member(error.to_string()))
                }
            }
        }
    }
}
