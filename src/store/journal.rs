//! The journal writer: one thread, one connection, every write.
//!
//! Requests queue on a bounded channel. The writer takes whatever is
//! waiting (up to [`MOST_PER_BATCH`]) and writes it in one transaction:
//! new events with their deliveries, stored deployments, delivery outcomes
//! and claims. Only after the commit does each waiting request get its
//! answer, so an event is answered 202 only once it is durable, and many
//! concurrent requests share one commit (group commit). A batch forms by
//! itself while the previous one is being committed; no timer is needed.
//!
//! Between batches the writer also renews this process's leases, prunes
//! finished journal entries past their retention and forgets idempotency
//! keys older than a day.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::SimpleConnection;
use tokio::sync::oneshot;

use super::models::deliveries::{self, ClaimedRow, DeliveryState, NewDelivery, OutcomeWrite};
use super::models::deployments::{self, DeploymentRow};
use super::models::events::{self, EventRow, NewEvent};
use super::{AnyConnection, Backend, DbConnection, DbPool, StoreError};
use crate::pipeline::health::{ActorHealth, now_ms};

/// Requests written in one transaction at most.
pub const MOST_PER_BATCH: usize = 1024;
/// Requests that may wait for the writer before intake answers 503.
const CHANNEL_CAPACITY: usize = 65_536;
/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// Rows deleted per pruning statement, so no transaction grows large.
const PRUNE_BATCH: i64 = 1000;

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
}

/// A delivery planned at intake.
#[derive(Debug, Clone)]
pub struct PlannedDelivery {
    pub subscriber: &'static str,
    /// Leased to this process right away and handed to the subscriber
    /// after the commit (it had a free slot); otherwise left pending for the
    /// sweeper.
    pub push: bool,
}

#[derive(Debug)]
pub struct Append {
    pub event: NewEvent,
    pub deliveries: Vec<PlannedDelivery>,
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
}

#[derive(Debug)]
pub enum AppendOutcome {
    /// Committed; these deliveries are leased to this process.
    Recorded { pushed: Vec<Ticket> },
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

/// Where the writer answers a request.
type Reply<T> = oneshot::Sender<Result<T, JournalError>>;

struct ClaimRequest {
    subscriber: &'static str,
    limit: usize,
    reply: Reply<Vec<Claimed>>,
}

/// Any other write (admin switches, replays), run in the writer's next
/// transaction; it answers through its own channel after the commit.
struct Write {
    work: Work,
    fail: Box<dyn FnOnce(JournalError) + Send>,
}

/// The write itself; answers what to send once it is committed.
type Work = Box<dyn FnOnce(&mut AnyConnection) -> diesel::QueryResult<Answer> + Send>;

/// Sends a committed write's answer.
type Answer = Box<dyn FnOnce() + Send>;

enum Request {
    Write(Write),
    Append(Append, Reply<AppendOutcome>),
    StoreDeployment(DeploymentRow, Reply<()>),
    Outcome(OutcomeWrite),
    Release {
        id: i64,
        lease_epoch: i64,
        due_at: i64,
    },
    Claim(ClaimRequest),
}

/// The handle every part of the pipeline writes through. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    sender: SyncSender<Request>,
    owner: Arc<str>,
    waiting: Arc<AtomicUsize>,
    lease: Duration,
}

impl Journal {
    /// Starts the writer thread on a connection of its own.
    pub fn start(
        pool: DbPool,
        backend: Backend,
        settings: JournalSettings,
        health: Arc<ActorHealth>,
    ) -> Result<(Journal, JoinHandle<()>), StoreError> {
        // Random per process start, never a host name: a restarted process
        // must not think it still holds its old leases.
        let owner: Arc<str> = uuid::Uuid::now_v7().to_string().into();
        let mut connection = pool.get()?;
        if backend == Backend::Sqlite {
            // Single node: whatever the last process held is due now.
            let expired = deliveries::expire_all_leases(&mut connection, now_ms())?;
            if expired > 0 {
                log::info!(
                    "journal: {expired} deliveries left in flight by the last run are due again"
                );
            }
        }
        let (sender, receiver) = sync_channel(CHANNEL_CAPACITY);
        let waiting = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            receiver,
            pool,
            connection: Some(connection),
            backend,
            owner: owner.clone(),
            settings: settings.clone(),
            waiting: waiting.clone(),
            health,
            unwritten_outcomes: Vec::new(),
            orphans: Vec::new(),
            last_renewal: Instant::now(),
            last_prune: Instant::now() - settings.prune_every + Duration::from_secs(60),
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

    fn submit(&self, request: Request) -> Result<(), JournalError> {
        // Counted before the send, so the writer never takes away more than
        // was added.
        self.waiting.fetch_add(1, Ordering::Relaxed);
        match self.sender.try_send(request) {
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

    /// Records an event and its deliveries; answers after the commit.
    pub async fn append(&self, append: Append) -> Result<AppendOutcome, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Request::Append(append, reply))?;
        answer.await.map_err(|_| JournalError::Stopped)?
    }

    /// Stores a deployment in the history (idempotent by event id).
    pub async fn store_deployment(&self, row: DeploymentRow) -> Result<(), JournalError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Request::StoreDeployment(row, reply))?;
        answer.await.map_err(|_| JournalError::Stopped)?
    }

    /// Claims up to `limit` due deliveries of a subscriber.
    pub async fn claim(
        &self,
        subscriber: &'static str,
        limit: usize,
    ) -> Result<Vec<Claimed>, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Request::Claim(ClaimRequest {
            subscriber,
            limit,
            reply,
        }))?;
        answer.await.map_err(|_| JournalError::Stopped)?
    }

    /// Records an attempt's outcome. Not awaited: if it cannot be written
    /// the lease runs out and the delivery is done again (at-least-once).
    pub fn record_outcome(&self, write: OutcomeWrite) {
        let id = write.id;
        if let Err(error) = self.submit(Request::Outcome(write)) {
            log::warn!(
                "journal: outcome of delivery {id} not recorded ({error}); it will be redone"
            );
        }
    }

    /// Gives a leased delivery back, due at `due_at`, no attempt charged.
    pub fn release(&self, ticket: &Ticket, due_at: i64) {
        let request = Request::Release {
            id: ticket.delivery_id,
            lease_epoch: ticket.lease_epoch,
            due_at,
        };
        if let Err(error) = self.submit(request) {
            log::warn!(
                "journal: delivery {} not released ({error}); its lease will run out",
                ticket.delivery_id
            );
        }
    }

    /// Runs `work` in the writer's next transaction (all writes go through
    /// the one writer, which SQLite needs) and answers after the commit.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T> + Send + 'static,
    ) -> Result<T, JournalError> {
        let (reply, answer) = oneshot::channel::<Result<T, JournalError>>();
        let reply = Arc::new(std::sync::Mutex::new(Some(reply)));
        let on_commit = reply.clone();
        let write = Write {
            work: Box::new(move |connection| {
                let value = work(connection)?;
                Ok(Box::new(move || {
                    if let Some(reply) = on_commit.lock().ok().and_then(|mut r| r.take()) {
                        let _ = reply.send(Ok(value));
                    }
                }) as Answer)
            }),
            fail: Box::new(move |error| {
                if let Some(reply) = reply.lock().ok().and_then(|mut r| r.take()) {
                    let _ = reply.send(Err(error));
                }
            }),
        };
        self.submit(Request::Write(write))?;
        answer.await.map_err(|_| JournalError::Stopped)?
    }

    /// Answers once everything submitted before it is committed.
    pub async fn flush(&self) -> Result<(), JournalError> {
        self.write(|_| Ok(())).await
    }
}

struct Writer {
    receiver: Receiver<Request>,
    pool: DbPool,
    connection: Option<DbConnection>,
    backend: Backend,
    owner: Arc<str>,
    settings: JournalSettings,
    waiting: Arc<AtomicUsize>,
    health: Arc<ActorHealth>,
    /// Outcomes whose transaction failed; written with the next batch.
    unwritten_outcomes: Vec<OutcomeWrite>,
    /// Deliveries leased for a request nobody waits for any more; given
    /// back with the next batch.
    orphans: Vec<Ticket>,
    last_renewal: Instant,
    last_prune: Instant,
}

/// One batch's requests, sorted by kind.
#[derive(Default)]
struct Batch {
    writes: Vec<Write>,
    appends: Vec<(Append, Reply<AppendOutcome>)>,
    deployments: Vec<(DeploymentRow, Reply<()>)>,
    outcomes: Vec<OutcomeWrite>,
    releases: Vec<(i64, i64, i64)>,
    claims: Vec<ClaimRequest>,
}

impl Batch {
    fn add(&mut self, request: Request) {
        match request {
            Request::Write(write) => self.writes.push(write),
            Request::Append(append, reply) => self.appends.push((append, reply)),
            Request::StoreDeployment(row, reply) => self.deployments.push((row, reply)),
            Request::Outcome(write) => self.outcomes.push(write),
            Request::Release {
                id,
                lease_epoch,
                due_at,
            } => self.releases.push((id, lease_epoch, due_at)),
            Request::Claim(claim) => self.claims.push(claim),
        }
    }

    fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.appends.is_empty()
            && self.deployments.is_empty()
            && self.outcomes.is_empty()
            && self.releases.is_empty()
            && self.claims.is_empty()
    }
}

/// What a committed batch answers.
struct Answers {
    writes: Vec<Answer>,
    appends: Vec<AppendOutcome>,
    claims: Vec<Vec<Claimed>>,
}

impl Writer {
    fn run(mut self) {
        let tick = (self.settings.lease / 3).min(Duration::from_secs(1));
        loop {
            let mut batch = Batch::default();
            let mut taken = 0;
            match self.receiver.recv_timeout(tick) {
                Ok(request) => {
                    batch.add(request);
                    taken += 1;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while taken < MOST_PER_BATCH {
                match self.receiver.try_recv() {
                    Ok(request) => {
                        batch.add(request);
                        taken += 1;
                    }
                    Err(_) => break,
                }
            }
            let left = self
                .waiting
                .fetch_sub(taken, Ordering::Relaxed)
                .saturating_sub(taken);
            ActorHealth::set_gauge(&self.health.queued, left);
            batch.outcomes.append(&mut self.unwritten_outcomes);
            let now = now_ms();
            batch.releases.extend(
                self.orphans
                    .drain(..)
                    .map(|ticket| (ticket.delivery_id, ticket.lease_epoch, now)),
            );
            if !batch.is_empty() {
                self.write(batch);
            }
            self.housekeeping();
        }
        log::info!("journal: writer stopped");
    }

    fn connection(&mut self) -> Result<&mut DbConnection, JournalError> {
        if self.connection.is_none() {
            let connection = self
                .pool
                .get()
                .map_err(|error| JournalError::Storage(error.to_string()))?;
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut().expect("just set"))
    }

    fn write(&mut self, batch: Batch) {
        let started = Instant::now();
        let Batch {
            writes,
            appends,
            deployments,
            outcomes,
            releases,
            claims,
        } = batch;
        let mut failures = Vec::with_capacity(writes.len());
        let mut works = Vec::with_capacity(writes.len());
        for write in writes {
            works.push(write.work);
            failures.push(write.fail);
        }
        let result = self.in_transaction(|connection, owner, lease| {
            let mut answers = Vec::with_capacity(works.len());
            for work in works {
                answers.push(work(connection)?);
            }
            let mut batch = write_batch(
                connection,
                owner,
                lease,
                &appends,
                &deployments,
                &outcomes,
                &releases,
                &claims,
            )?;
            batch.writes = answers;
            Ok(batch)
        });
        match result {
            Ok(answers) => {
                ActorHealth::count(&self.health.delivered);
                for answer in answers.writes {
                    answer();
                }
                for ((_, reply), outcome) in appends.into_iter().zip(answers.appends) {
                    // Nobody waits any more (intake timed out): give the
                    // leased deliveries back rather than hold them forever.
                    if let Err(Ok(AppendOutcome::Recorded { pushed })) = reply.send(Ok(outcome)) {
                        self.orphans.extend(pushed);
                    }
                }
                for (_, reply) in deployments {
                    let _ = reply.send(Ok(()));
                }
                for (claim, claimed) in claims.into_iter().zip(answers.claims) {
                    if let Err(Ok(claimed)) = claim.reply.send(Ok(claimed)) {
                        self.orphans.extend(claimed.into_iter().map(|c| c.ticket));
                    }
                }
                log::trace!("journal: batch written in {:?}", started.elapsed());
            }
            Err(error) => {
                ActorHealth::count(&self.health.failed);
                self.health.record_error(error.to_string());
                log::error!("journal: a batch could not be written: {error}");
                // Drop the connection: it may be what broke.
                self.connection = None;
                for fail in failures {
                    fail(error.clone());
                }
                for (_, reply) in appends {
                    let _ = reply.send(Err(error.clone()));
                }
                for (_, reply) in deployments {
                    let _ = reply.send(Err(error.clone()));
                }
                for claim in claims {
                    let _ = claim.reply.send(Err(error.clone()));
                }
                self.unwritten_outcomes = outcomes;
            }
        }
    }

    /// Runs `work` in one write transaction (`BEGIN IMMEDIATE` on SQLite, so
    /// the write lock is taken up front rather than on upgrade).
    fn in_transaction<T>(
        &mut self,
        work: impl FnOnce(&mut AnyConnection, &str, Duration) -> diesel::QueryResult<T>,
    ) -> Result<T, JournalError> {
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let owner = self.owner.clone();
        let lease = self.settings.lease;
        let connection = self.connection()?;
        let storage = |error: diesel::result::Error| JournalError::Storage(error.to_string());
        connection.batch_execute(begin).map_err(storage)?;
        match work(connection, &owner, lease) {
            Ok(value) => {
                connection.batch_execute("COMMIT").map_err(storage)?;
                Ok(value)
            }
            Err(error) => {
                let _ = connection.batch_execute("ROLLBACK");
                Err(storage(error))
            }
        }
    }

    fn housekeeping(&mut self) {
        if self.last_renewal.elapsed() >= self.settings.lease / 3 {
            self.last_renewal = Instant::now();
            let result = self.in_transaction(|connection, owner, lease| {
                deliveries::renew_leases(connection, owner, now_ms() + lease.as_millis() as i64)
            });
            if let Err(error) = result {
                log::warn!("journal: could not renew leases: {error}");
                self.connection = None;
            }
        }
        if self.last_prune.elapsed() >= self.settings.prune_every {
            self.last_prune = Instant::now();
            self.prune();
        }
    }

    /// Deletes finished entries past their retention, in small batches.
    fn prune(&mut self) {
        let retention = self.settings.retention;
        let result = match self.connection() {
            Ok(connection) => prune_finished(connection, now_ms(), retention),
            Err(error) => Err(error),
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
    let storage = |error: diesel::result::Error| JournalError::Storage(error.to_string());
    let before = now - retention.as_millis() as i64;
    let mut pruned = Pruned::default();
    loop {
        let (deliveries, events) = connection
            .transaction(|c| {
                let deliveries = deliveries::prune_finished(c, before, PRUNE_BATCH)?;
                let events = events::prune_finished(c, before, PRUNE_BATCH)?;
                Ok::<_, diesel::result::Error>((deliveries, events))
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
    Ok(pruned)
}

#[allow(clippy::too_many_arguments)]
fn write_batch(
    connection: &mut AnyConnection,
    owner: &str,
    lease: Duration,
    appends: &[(Append, Reply<AppendOutcome>)],
    deployments_to_store: &[(DeploymentRow, Reply<()>)],
    outcomes: &[OutcomeWrite],
    releases: &[(i64, i64, i64)],
    claims: &[ClaimRequest],
) -> diesel::QueryResult<Answers> {
    let now = now_ms();
    let lease_until = now + lease.as_millis() as i64;
    let append_outcomes = append_events(connection, owner, now, lease_until, appends)?;
    if !deployments_to_store.is_empty() {
        let rows: Vec<DeploymentRow> = deployments_to_store
            .iter()
            .map(|(row, _)| row.clone())
            .collect();
        deployments::insert_all(connection, &rows)?;
    }
    if !outcomes.is_empty() {
        let written = deliveries::write_outcomes(connection, outcomes, now)?;
        if written.len() < outcomes.len() {
            for write in outcomes.iter().filter(|w| !written.contains(&w.id)) {
                log::warn!(
                    "journal: stale outcome for delivery {} (lease {} was lost); ignored",
                    write.id,
                    write.lease_epoch
                );
            }
        }
    }
    for (id, lease_epoch, due_at) in releases {
        deliveries::release(connection, *id, *lease_epoch, *due_at, now)?;
    }
    let mut claimed = Vec::with_capacity(claims.len());
    for request in claims {
        claimed.push(claim(
            connection,
            request.subscriber,
            owner,
            now,
            lease_until,
            request.limit,
        )?);
    }
    Ok(Answers {
        writes: Vec::new(),
        appends: append_outcomes,
        claims: claimed,
    })
}

/// Inserts new events and their deliveries; answers duplicates of an
/// idempotency key with the original event.
fn append_events(
    connection: &mut AnyConnection,
    owner: &str,
    now: i64,
    lease_until: i64,
    appends: &[(Append, Reply<AppendOutcome>)],
) -> diesel::QueryResult<Vec<AppendOutcome>> {
    // Keys seen before (within the window), and in this batch.
    let keys: Vec<String> = appends
        .iter()
        .filter_map(|(append, _)| append.event.idempotency_key.clone())
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
    let mut new_events = Vec::with_capacity(appends.len());
    let mut new_deliveries = Vec::new();
    // Parallel to `new_deliveries`: which append and which plan each is.
    let mut planned: Vec<(usize, &PlannedDelivery)> = Vec::new();
    for (index, (append, _)) in appends.iter().enumerate() {
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
        new_events.push(append.event.clone());
        for plan in &append.deliveries {
            planned.push((index, plan));
            new_deliveries.push(NewDelivery {
                event_id: append.event.id.clone(),
                subscriber: plan.subscriber.to_owned(),
                state: if plan.push {
                    DeliveryState::InFlight as i16
                } else {
                    DeliveryState::Pending as i16
                },
                attempts: 0,
                lease_epoch: i64::from(plan.push),
                lease_owner: plan.push.then(|| owner.to_owned()),
                due_at: if plan.push { lease_until } else { now },
                progress: String::new(),
                outcome: None,
                last_error: None,
                updated_at: now,
            });
        }
    }
    events::insert_all(connection, &new_events)?;
    let ids = deliveries::insert_all_returning_ids(connection, &new_deliveries)?;
    // Tickets for the pushed deliveries, by append.
    let mut pushed: Vec<Vec<Ticket>> = vec![Vec::new(); appends.len()];
    for ((index, plan), id) in planned.into_iter().zip(ids) {
        if plan.push {
            pushed[index].push(Ticket {
                delivery_id: id,
                subscriber: plan.subscriber,
                lease_epoch: 1,
                attempts: 0,
                progress: String::new(),
            });
        }
    }
    Ok(outcomes
        .into_iter()
        .zip(pushed)
        .map(|(outcome, pushed)| outcome.unwrap_or(AppendOutcome::Recorded { pushed }))
        .collect())
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
                },
                event,
            })
        })
        .collect();
    // Oldest event first.
    claimed.sort_by(|a, b| a.event.id.cmp(&b.event.id));
    Ok(claimed)
}
