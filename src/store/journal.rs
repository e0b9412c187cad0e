//! The journal writer: one thread, one connection, every write.
//!
//! Writes are typed [`Command`]s queued on a bounded channel. The writer
//! takes whatever is waiting (up to [`MOST_PER_BATCH`]) and writes it in one
//! transaction: new events with their deliveries, stored deployments,
//! delivery outcomes, releases, claims, admin changes and coordination.
//! Only after the commit does each waiting request get its answer, so an
//! event is answered 202 only once it is durable, and many concurrent
//! requests share one commit (group commit). A batch forms by itself while
//! the previous one is being committed; no timer is needed.
//!
//! A batch shares a transaction, not a fate. When it fails for a reason
//! other than a lost connection, its members are written again one by one,
//! each behind a savepoint, so one member's bad value fails that member
//! only and everyone else's is committed. An outcome or deployment that
//! still cannot be stored is tried once more with its text escaped and
//! truncated, and is never carried into later batches. (Writing every
//! member behind its own savepoint from the start costs two more round
//! trips per member on every batch; the split only costs on failure. See
//! the README's performance section for the figures.)
//!
//! Between batches the writer renews this process's leases, prunes
//! finished journal entries past their retention, forgets idempotency keys
//! older than a day, checks that the SQLite file it writes is still the
//! one at its path, and keeps the SQLite write-ahead log bounded
//! (`store::wal`).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use tokio::sync::oneshot;

use super::models::deliveries::{
    self, ClaimedRow, DeliveryState, NewDelivery, OutcomeWrite, ReplayTarget, escaped_and_truncated,
};
use super::models::deployments::{self, DeploymentRow};
use super::models::events::{self, EventRow, NewEvent};
use super::models::failures::{self, FailureRow};
use super::models::once_per;
use super::models::replicas::{self, Coordination, ReplicaRow};
use super::models::silences::{self, SilenceRow};
use super::models::subscriber_settings::{self, SubscriberSetting};
use super::status::{OpenedFile, StoreStatus, WriterObserver};
use super::wal::WalKeeper;
use super::{AnyConnection, Backend, DbConnection, DbPool, StoreError};
use crate::clock::SharedClock;
use crate::domain::plan::{self, Destination, PlannedDestination};

/// Requests written in one transaction at most.
pub const MOST_PER_BATCH: usize = 1024;
/// Requests that may wait for the writer before intake answers 503.
const CHANNEL_CAPACITY: usize = 65_536;
/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// Rows deleted per pruning statement, so no transaction grows large.
const PRUNE_BATCH: i64 = 1000;
/// Outcomes kept for the next batch while the database is unreachable;
/// beyond this their leases simply run out (the deliveries are redone).
const MOST_CARRIED_OUTCOMES: usize = 100_000;
/// How often the SQLite file's identity is checked.
const WATCH_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct JournalSettings {
    /// How long a claim holds before another process may take it over.
    pub lease: Duration,
    /// Finished journal entries older than this are pruned.
    pub retention: Duration,
    /// How often retention runs.
    pub prune_every: Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    #[error("the journal is full")]
    Full,
    #[error("the journal writer has stopped")]
    Stopped,
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("{0}")]
    StoreLost(String),
}

/// A delivery planned at intake.
#[derive(Debug, Clone)]
pub struct PlannedDelivery {
    pub subscriber: &'static str,
    /// Where it goes (stored with it, less what a `once_per` duplicate
    /// takes out).
    pub destinations: Vec<PlannedDestination>,
    /// Leased to this process right away and handed to the subscriber
    /// after the commit (it had a free slot); otherwise left pending for the
    /// sweeper.
    pub push: bool,
}

#[derive(Debug)]
pub struct Append {
    pub event: NewEvent,
    pub deliveries: Vec<PlannedDelivery>,
    /// `once_per` rules: decided in the commit, so that of two events with
    /// one key (on any replica) exactly one is first.
    pub once: Vec<OnceClaim>,
    /// Silences that skipped deliveries of this event, for their counts.
    pub silenced_by: Vec<String>,
}

/// One `once_per` rule over an event's planned deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceClaim {
    pub key: String,
    pub window_ms: i64,
    /// Whose whole delivery a duplicate skips.
    pub subscribers: Vec<&'static str>,
    /// The route whose added destinations a duplicate takes out.
    pub route: Option<String>,
}

/// What a subscriber actor needs to work on, and later report, a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub delivery_id: i64,
    pub subscriber: &'static str,
    pub lease_epoch: i64,
    /// Attempts already made.
    pub attempts: i32,
    /// Steps already done by earlier attempts, one per line.
    pub progress: String,
    /// Since when it has been deferred without an attempt, if it is.
    pub deferred_since: Option<i64>,
    /// Where it goes, as planned; `None` for a delivery planned before
    /// plans were stored.
    pub destinations: Option<Arc<Vec<Destination>>>,
}

#[derive(Debug)]
pub enum AppendOutcome {
    /// Committed; these deliveries are leased to this process. `dropped`:
    /// planned deliveries not made, being duplicates under `once_per`.
    Recorded {
        pushed: Vec<Ticket>,
        dropped: Vec<&'static str>,
    },
    /// The idempotency key was used for the same body: the original id.
    Duplicate { original_id: String },
    /// The idempotency key was used for a different body.
    KeyReused,
}

/// A claimed delivery with the event it is for.
#[derive(Debug)]
pub struct Claimed {
    pub ticket: Ticket,
    pub event: Arc<EventRow>,
}

/// A leased delivery given back, due at `due_at`, no attempt charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub id: i64,
    pub lease_epoch: i64,
    pub due_at: i64,
}

/// This replica's coordination round: heartbeat and subscriber ownership.
#[derive(Debug, Clone)]
pub struct CoordinationRound {
    pub me: ReplicaRow,
    pub subscribers: Vec<&'static str>,
    pub lease_ms: i64,
    pub single_node: bool,
}

/// What a coordination round read back: this replica's share of the
/// subscribers, the stored switches and the silences not yet ended.
#[derive(Debug)]
pub struct Coordinated {
    pub coordination: Coordination,
    pub switches: Vec<SubscriberSetting>,
    pub silences: Vec<SilenceRow>,
}

/// Where the writer answers a request.
type Reply<T> = oneshot::Sender<Result<T, JournalError>>;

/// One write, typed. Each is written in the writer's next transaction and
/// answered (where it has an answer) after the commit.
enum Command {
    Append(Append, Reply<AppendOutcome>),
    StoreDeployment(DeploymentRow, Reply<()>),
    StoreFailure(FailureRow, Reply<()>),
    Outcome(OutcomeWrite),
    Release(Release),
    Claim {
        subscriber: &'static str,
        limit: usize,
        reply: Reply<Vec<Claimed>>,
    },
    SaveSwitch(SubscriberSetting, Reply<()>),
    Replay(ReplayTarget, Reply<usize>),
    Coordinate(CoordinationRound, Reply<Coordinated>),
    SaveSilence(SilenceRow, Reply<()>),
    ExpireSilence {
        id: String,
        by: String,
        reply: Reply<bool>,
    },
    Leave(Reply<usize>),
    Flush(Reply<()>),
    /// A subscriber's circuit opened: its deliveries waiting for a retry
    /// are put in line (nobody waits for the answer).
    PutInLine(&'static str),
}

/// The handle every part of the pipeline writes through. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    sender: SyncSender<Command>,
    owner: Arc<str>,
    waiting: Arc<AtomicUsize>,
    lease: Duration,
    status: Arc<StoreStatus>,
}

impl Journal {
    /// Starts the writer thread on a connection of its own (`pool` is the
    /// writer's). `sqlite_file` is the SQLite database file to watch (none
    /// on PostgreSQL); `wal` keeps its write-ahead log bounded.
    pub fn start(
        pool: DbPool,
        backend: Backend,
        sqlite_file: Option<PathBuf>,
        wal: Option<WalKeeper>,
        settings: JournalSettings,
        observer: Arc<dyn WriterObserver>,
        clock: SharedClock,
    ) -> Result<(Journal, JoinHandle<()>), StoreError> {
        // Random per process start, never a host name: a restarted process
        // must not think it still holds its old leases.
        let owner: Arc<str> = uuid::Uuid::now_v7().to_string().into();
        let mut connection = pool.get()?;
        if backend == Backend::Sqlite {
            // Single node: whatever the last process held is due now.
            let expired = deliveries::expire_all_leases(&mut connection, clock.now_ms())?;
            if expired > 0 {
                log::info!(
                    "journal: {expired} deliveries left in flight by the last run are due again"
                );
            }
        }
        let watched = match sqlite_file {
            Some(path) => Some(OpenedFile::open(&path).map_err(|error| {
                StoreError::Open(format!("cannot watch {}: {error}", path.display()))
            })?),
            None => None,
        };
        let (sender, receiver) = sync_channel(CHANNEL_CAPACITY);
        let waiting = Arc::new(AtomicUsize::new(0));
        let status = Arc::new(StoreStatus::default());
        let now = Instant::now();
        let writer = Writer {
            receiver,
            pool,
            connection: Some(connection),
            backend,
            owner: owner.clone(),
            settings: settings.clone(),
            waiting: waiting.clone(),
            observer,
            status: status.clone(),
            clock,
            carried_outcomes: Vec::new(),
            orphans: Vec::new(),
            last_renewal: now,
            last_prune: now - settings.prune_every + Duration::from_secs(60),
            watched,
            last_watch: now,
            wal,
        };
        let thread = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run())
            .map_err(|error| {
                StoreError::Open(format!("cannot start the journal writer: {error}"))
            })?;
        Ok((
            Journal {
                sender,
                owner,
                waiting,
                lease: settings.lease,
                status,
            },
            thread,
        ))
    }

    /// This process's lease owner id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Readiness as the store sees it.
    pub fn status(&self) -> &Arc<StoreStatus> {
        &self.status
    }

    fn submit(&self, command: Command) -> Result<(), JournalError> {
        if let Some(reason) = self.status.lost() {
            return Err(JournalError::StoreLost(reason));
        }
        // Counted before the send, so the writer never takes away more than
        // was added.
        self.waiting.fetch_add(1, Ordering::Relaxed);
        match self.sender.try_send(command) {
            Ok(()) => Ok(()),
            Err(error) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                Err(match error {
                    TrySendError::Full(_) => JournalError::Full,
                    TrySendError::Disconnected(_) => JournalError::Stopped,
                })
            }
        }
    }

    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.submit(command(reply))?;
        answer.await.map_err(|_| JournalError::Stopped)?
    }

    /// Records an event and its deliveries; answers after the commit.
    pub async fn append(&self, append: Append) -> Result<AppendOutcome, JournalError> {
        self.ask(|reply| Command::Append(append, reply)).await
    }

    /// Stores a deployment in the history (idempotent by event id).
    pub async fn store_deployment(&self, row: DeploymentRow) -> Result<(), JournalError> {
        self.ask(|reply| Command::StoreDeployment(row, reply)).await
    }

    /// Stores an error event in the failure history (idempotent by event
    /// id). Written among the batch's ordered commands: errors are few.
    pub async fn store_failure(&self, row: FailureRow) -> Result<(), JournalError> {
        self.ask(|reply| Command::StoreFailure(row, reply)).await
    }

    /// Claims up to `limit` due deliveries of a subscriber.
    pub async fn claim(
        &self,
        subscriber: &'static str,
        limit: usize,
    ) -> Result<Vec<Claimed>, JournalError> {
        self.ask(|reply| Command::Claim {
            subscriber,
            limit,
            reply,
        })
        .await
    }

    /// Stores an admin's on/off switch.
    pub async fn save_switch(&self, setting: SubscriberSetting) -> Result<(), JournalError> {
        self.ask(|reply| Command::SaveSwitch(setting, reply)).await
    }

    /// Puts dead letters back to pending; answers how many.
    pub async fn replay(&self, target: ReplayTarget) -> Result<usize, JournalError> {
        self.ask(|reply| Command::Replay(target, reply)).await
    }

    /// Heartbeat and subscriber ownership, with the stored switches.
    pub async fn coordinate(&self, round: CoordinationRound) -> Result<Coordinated, JournalError> {
        self.ask(|reply| Command::Coordinate(round, reply)).await
    }

    /// Stores a new silence.
    pub async fn save_silence(&self, row: SilenceRow) -> Result<(), JournalError> {
        self.ask(|reply| Command::SaveSilence(row, reply)).await
    }

    /// Ends a silence now; answers whether there was one still running.
    pub async fn expire_silence(&self, id: String, by: String) -> Result<bool, JournalError> {
        self.ask(|reply| Command::ExpireSilence { id, by, reply })
            .await
    }

    /// A clean shutdown hands this replica's subscribers over at once.
    pub async fn leave(&self) -> Result<usize, JournalError> {
        self.ask(Command::Leave).await
    }

    /// Answers once everything submitted before it is committed.
    pub async fn flush(&self) -> Result<(), JournalError> {
        self.ask(Command::Flush).await
    }

    /// Records an attempt's outcome. Not awaited: if it cannot be written
    /// the lease runs out and the delivery is done again (at-least-once).
    pub fn record_outcome(&self, write: OutcomeWrite) {
        let id = write.id;
        if let Err(error) = self.submit(Command::Outcome(write)) {
            log::warn!(
                "journal: outcome of delivery {id} not recorded ({error}); it will be redone"
            );
        }
    }

    /// Puts `subscriber`'s deliveries waiting for a retry in line, due at
    /// their event's acceptance time: its circuit opened, and decides from
    /// now on when they go. Not awaited: if it cannot be written they wait
    /// for their own due times.
    pub fn put_in_line(&self, subscriber: &'static str) {
        if let Err(error) = self.submit(Command::PutInLine(subscriber)) {
            log::warn!(
                "journal: {subscriber}'s deliveries not put in line ({error}); they keep their due times"
            );
        }
    }

    /// Gives a leased delivery back, due at `due_at`, no attempt charged.
    pub fn release(&self, ticket: &Ticket, due_at: i64) {
        let release = Release {
            id: ticket.delivery_id,
            lease_epoch: ticket.lease_epoch,
            due_at,
        };
        if let Err(error) = self.submit(Command::Release(release)) {
            log::warn!(
                "journal: delivery {} not released ({error}); its lease will run out",
                ticket.delivery_id
            );
        }
    }
}

struct Writer {
    receiver: Receiver<Command>,
    pool: DbPool,
    connection: Option<DbConnection>,
    backend: Backend,
    owner: Arc<str>,
    settings: JournalSettings,
    waiting: Arc<AtomicUsize>,
    observer: Arc<dyn WriterObserver>,
    status: Arc<StoreStatus>,
    clock: SharedClock,
    /// Outcomes whose batch could not reach the database; written with the
    /// next batch (bounded).
    carried_outcomes: Vec<OutcomeWrite>,
    /// Deliveries leased for a request nobody waits for any more; given
    /// back with the next batch.
    orphans: Vec<Ticket>,
    last_renewal: Instant,
    last_prune: Instant,
    watched: Option<OpenedFile>,
    last_watch: Instant,
    wal: Option<WalKeeper>,
}

/// One batch's commands, sorted by kind.
#[derive(Default)]
struct Batch {
    appends: Vec<(Append, Reply<AppendOutcome>)>,
    deployments: Vec<(DeploymentRow, Reply<()>)>,
    outcomes: Vec<OutcomeWrite>,
    releases: Vec<Release>,
    /// Claims, admin changes, coordination: written one by one in order.
    others: Vec<Command>,
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
    fn fail(self, error: &JournalError) -> (Vec<OutcomeWrite>, Vec<Release>) {
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

fn fail_command(command: Command, error: &JournalError) {
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

/// What one command wrote, to be answered after the commit.
enum Written {
    Appended(Vec<AppendOutcome>),
    Stored,
    Claimed(Vec<Claimed>),
    Count(usize),
    Coordinated(Coordinated),
    Answer(bool),
    Done,
}

/// A connection that is gone (as opposed to a value the database refused):
/// retrying the members one by one would not help.
fn is_connection_problem(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        ) | DieselError::BrokenTransactionManager
    )
}

fn is_unique_violation(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Why a batch could not be written together.
enum BatchError {
    /// No connection, or it broke: nothing can be written now.
    Connection(String),
    /// A value was refused: the members are tried one by one.
    Member(String),
}

impl Writer {
    fn run(mut self) {
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

    fn connection(&mut self) -> Result<&mut DbConnection, BatchError> {
        if self.connection.is_none() {
            let connection = self
                .pool
                .get()
                .map_err(|error| BatchError::Connection(error.to_string()))?;
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
                let cause = format!("panicked: {}", panic_text(panic.as_ref()));
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

    /// The slow path after a refused batch: each member behind its own
    /// savepoint in one transaction, so a refused member fails alone.
    fn write_one_by_one(&mut self, batch: Batch) {
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

    fn answer_other(&mut self, command: Command, written: Written) {
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
    fn in_transaction<T>(
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

    fn housekeeping(&mut self) {
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

fn run_other(
    c: &mut AnyConnection,
    command: &Command,
    owner: &str,
    now: i64,
    lease_until: i64,
) -> diesel::QueryResult<Written> {
    Ok(match command {
        Command::Claim {
            subscriber, limit, ..
        } => Written::Claimed(claim(c, subscriber, owner, now, lease_until, *limit)?),
        Command::SaveSwitch(setting, _) => {
            subscriber_settings::save(c, setting)?;
            Written::Done
        }
        Command::Replay(target, _) => Written::Count(deliveries::replay(c, target, now)?),
        Command::Coordinate(round, _) => {
            let coordination = replicas::coordinate(
                c,
                &round.me,
                &round.subscribers,
                now,
                round.lease_ms,
                round.single_node,
            )?;
            Written::Coordinated(Coordinated {
                coordination,
                switches: subscriber_settings::all(c)?,
                silences: silences::not_ended(c, now)?,
            })
        }
        Command::SaveSilence(row, _) => {
            silences::insert(c, row)?;
            Written::Done
        }
        Command::StoreFailure(row, _) => {
            failures::insert(c, row)?;
            Written::Done
        }
        Command::ExpireSilence { id, by, .. } => Written::Answer(silences::expire(c, id, now, by)?),
        Command::Leave(_) => Written::Count(replicas::leave(c, owner)?),
        Command::Flush(_) => Written::Done,
        Command::PutInLine(subscriber) => {
            Written::Count(deliveries::put_in_line(c, subscriber, now)?)
        }
        // Written with their kind, not here.
        Command::Append(..)
        | Command::StoreDeployment(..)
        | Command::Outcome(_)
        | Command::Release(_) => Written::Stored,
    })
}

/// Writes outcomes, each fenced by its lease; a stale one (another process
/// took the delivery over) is ignored with a log line.
fn write_outcomes(
    c: &mut AnyConnection,
    outcomes: &[OutcomeWrite],
    now: i64,
) -> diesel::QueryResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let written = deliveries::write_outcomes(c, outcomes, now)?;
    if written.len() < outcomes.len() {
        for write in outcomes.iter().filter(|w| !written.contains(&w.id)) {
            log::warn!(
                "journal: stale outcome for delivery {} (lease {} was lost); ignored",
                write.id,
                write.lease_epoch
            );
        }
    }
    Ok(())
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

/// Inserts new events and their deliveries; answers duplicates of an
/// idempotency key with the original event.
fn append_events(
    connection: &mut AnyConnection,
    owner: &str,
    now: i64,
    lease_until: i64,
    appends: &[&Append],
) -> diesel::QueryResult<Vec<AppendOutcome>> {
    if appends.is_empty() {
        return Ok(Vec::new());
    }
    // Keys seen before (within the window), and in this batch.
    let keys: Vec<String> = appends
        .iter()
        .filter_map(|append| append.event.idempotency_key.clone())
        .collect();
    let mut known: HashMap<String, (String, Option<String>)> = HashMap::new();
    if !keys.is_empty() {
        let window_start = now - IDEMPOTENCY_WINDOW.as_millis() as i64;
        for row in events::find_by_keys(connection, &keys)? {
            let Some(key) = row.idempotency_key else {
                continue;
            };
            if row.received_at >= window_start {
                known.insert(key, (row.id, row.body_hash));
            }
        }
        // Keys older than the window are free again.
        events::forget_keys_before(connection, window_start)?;
    }
    let mut outcomes: Vec<Option<AppendOutcome>> = Vec::with_capacity(appends.len());
    // Events as inserted: the planned one, or a copy recording duplicates.
    let mut new_events: Vec<std::borrow::Cow<'_, NewEvent>> = Vec::with_capacity(appends.len());
    let mut new_deliveries = Vec::new();
    // Parallel to `new_deliveries`: which append and which plan each is.
    let mut planned: Vec<(usize, &PlannedDelivery, Arc<Vec<Destination>>)> = Vec::new();
    let mut dropped: Vec<Vec<&'static str>> = vec![Vec::new(); appends.len()];
    for (index, append) in appends.iter().enumerate() {
        if let Some(key) = &append.event.idempotency_key {
            if let Some((original_id, hash)) = known.get(key) {
                outcomes.push(Some(if *hash == append.event.body_hash {
                    AppendOutcome::Duplicate {
                        original_id: original_id.clone(),
                    }
                } else {
                    AppendOutcome::KeyReused
                }));
                continue;
            }
            known.insert(
                key.clone(),
                (append.event.id.clone(), append.event.body_hash.clone()),
            );
        }
        outcomes.push(None);
        let (mut duplicates, routes) = claim_once(connection, append, now)?;
        // A route's duplicate takes out what the route added; a delivery
        // left with nowhere to go is skipped as the duplicate.
        let mut destinations: Vec<Vec<PlannedDestination>> = Vec::new();
        for planned in &append.deliveries {
            let mut kept = planned.destinations.clone();
            let names: Vec<&str> = routes.iter().map(|(route, _)| route.as_str()).collect();
            if plan::drop_duplicated(&mut kept, &names)
                && kept.is_empty()
                && !duplicates.iter().any(|(s, _)| *s == planned.subscriber)
            {
                duplicates.push((planned.subscriber, routes[0].1.clone()));
            }
            destinations.push(kept);
        }
        if duplicates.is_empty() {
            new_events.push(std::borrow::Cow::Borrowed(&append.event));
        } else {
            let mut event = append.event.clone();
            let mut skipped: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&event.skipped).unwrap_or_default();
            for (subscriber, first) in &duplicates {
                skipped.insert((*subscriber).into(), format!("duplicate of {first}").into());
            }
            event.skipped = serde_json::Value::Object(skipped).to_string();
            new_events.push(std::borrow::Cow::Owned(event));
        }
        for silence in &append.silenced_by {
            silences::count_silenced(connection, silence, 1)?;
        }
        for (plan, kept) in append.deliveries.iter().zip(destinations) {
            if duplicates
                .iter()
                .any(|(subscriber, _)| *subscriber == plan.subscriber)
            {
                dropped[index].push(plan.subscriber);
                continue;
            }
            let kept: Vec<Destination> = kept.into_iter().map(|d| d.destination).collect();
            new_deliveries.push(NewDelivery {
                destinations: Some(plan::stored(&kept)),
                event_id: append.event.id.clone(),
                subscriber: plan.subscriber.to_owned(),
                state: if plan.push {
                    DeliveryState::InFlight
                } else {
                    DeliveryState::Pending
                },
                attempts: 0,
                lease_epoch: i64::from(plan.push),
                lease_owner: plan.push.then(|| owner.to_owned()),
                // A pending delivery is due since its event was accepted:
                // its place in line (see `deliveries::put_in_line`).
                due_at: if plan.push {
                    lease_until
                } else {
                    append.event.received_at
                },
                progress: String::new(),
                outcome: None,
                last_error: None,
                updated_at: now,
            });
            planned.push((index, plan, Arc::new(kept)));
        }
    }
    let new_events: Vec<&NewEvent> = new_events.iter().map(|event| event.as_ref()).collect();
    events::insert_all(connection, &new_events)?;
    let ids = deliveries::insert_all_returning_ids(connection, &new_deliveries)?;
    // Tickets for the pushed deliveries, by append.
    let mut pushed: Vec<Vec<Ticket>> = vec![Vec::new(); appends.len()];
    for ((index, plan, destinations), id) in planned.into_iter().zip(ids) {
        if plan.push {
            pushed[index].push(Ticket {
                delivery_id: id,
                subscriber: plan.subscriber,
                lease_epoch: 1,
                attempts: 0,
                progress: String::new(),
                deferred_since: None,
                destinations: Some(destinations),
            });
        }
    }
    Ok(outcomes
        .into_iter()
        .zip(pushed)
        .zip(dropped)
        .map(|((outcome, pushed), dropped)| {
            outcome.unwrap_or(AppendOutcome::Recorded { pushed, dropped })
        })
        .collect())
}

/// Applies an event's `once_per` rules: answers the subscribers whose
/// delivery is a duplicate, and the routes whose additions are, each with
/// the event that came first.
type Duplicates = (Vec<(&'static str, String)>, Vec<(String, String)>);

fn claim_once(
    connection: &mut AnyConnection,
    append: &Append,
    now: i64,
) -> diesel::QueryResult<Duplicates> {
    let mut duplicates = Vec::new();
    let mut routes = Vec::new();
    for claim in &append.once {
        let first = once_per::claim(
            connection,
            &claim.key,
            &append.event.id,
            now,
            now + claim.window_ms,
        )?;
        if first != append.event.id {
            if let Some(route) = &claim.route {
                routes.push((route.clone(), first.clone()));
            }
            for subscriber in &claim.subscribers {
                if !duplicates.iter().any(|(s, _)| s == subscriber) {
                    duplicates.push((*subscriber, first.clone()));
                }
            }
        }
    }
    Ok((duplicates, routes))
}

fn claim(
    connection: &mut AnyConnection,
    subscriber: &'static str,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> diesel::QueryResult<Vec<Claimed>> {
    let rows: Vec<ClaimedRow> = deliveries::claim_due(
        connection,
        subscriber,
        owner,
        now,
        lease_until,
        limit as i64,
    )?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut event_ids: Vec<String> = rows.iter().map(|r| r.event_id.clone()).collect();
    event_ids.sort();
    event_ids.dedup();
    let bodies: HashMap<String, Arc<EventRow>> = events::find_many(connection, &event_ids)?
        .into_iter()
        .map(|row| (row.id.clone(), Arc::new(row)))
        .collect();
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .filter_map(|row| {
            let event = bodies.get(&row.event_id)?.clone();
            Some(Claimed {
                ticket: Ticket {
                    delivery_id: row.id,
                    subscriber,
                    lease_epoch: row.lease_epoch,
                    attempts: row.attempts,
                    progress: row.progress,
                    deferred_since: row.deferred_since,
                    destinations: plan::read_stored(row.destinations.as_deref()).map(Arc::new),
                },
                event,
            })
        })
        .collect();
    // Oldest event first.
    claimed.sort_by(|a, b| a.event.id.cmp(&b.event.id));
    Ok(claimed)
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// For the escaped retry of a refused deployment.
impl DeploymentRow {
    pub fn escaped(&self) -> Self {
        let e = |text: &str| escaped_and_truncated(text);
        DeploymentRow {
            id: self.id.clone(),
            received_at: self.received_at,
            application: e(&self.application),
            cluster: e(&self.cluster),
            version: e(&self.version),
            image: e(&self.image),
            team: e(&self.team),
            importance: e(&self.importance),
            application_url: e(&self.application_url),
            monitor_url: e(&self.monitor_url),
            about_url: e(&self.about_url),
            friendly_name: e(&self.friendly_name),
            body: self.body.replace('\0', "\\u0000"),
        }
    }
}
