//! The journal: one thread, one connection, every write.
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
//! This file is the handle and the commands it sends; the writer's jobs
//! each have a file: `writer` (the group-commit loop), `split` (a refused
//! batch written again member by member), `writes` (what each command
//! writes, through `store::models`) and `housekeeping` (what the writer
//! does between batches).

mod housekeeping;
mod split;
mod writer;
mod writes;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::models::deliveries::{self, OutcomeWrite, ReplayTarget};
use super::models::deployments::DeploymentRow;
use super::models::events::{EventRow, NewEvent};
use super::models::failures::FailureRow;
use super::models::replicas::{Coordination, ReplicaRow};
use super::models::silences::SilenceRow;
use super::models::subscriber_settings::SubscriberSetting;
use super::status::{OpenedFile, StoreStatus, WriterObserver};
use super::wal::WalKeeper;
use super::{Backend, DbPool, StoreError};
use crate::clock::SharedClock;
use crate::domain::{Destination, PlannedDestination};
use writer::Writer;

pub use super::models::once_per::OnceClaim;
pub use housekeeping::{Pruned, prune_finished};

/// Requests written in one transaction at most.
pub const MOST_PER_BATCH: usize = 1024;
/// Requests that may wait for the writer before intake answers 503.
const CHANNEL_CAPACITY: usize = 65_536;
/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

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
        if let Some(wal) = &wal {
            wal.prepare(&mut connection)?;
        }
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
