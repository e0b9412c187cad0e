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
//!
//! Every read let in runs under `READ_TIMEOUT_MS` ([`bounded`]): on
//! PostgreSQL as the statement timeout, on SQLite by a check the heavy
//! queries make on the rows they read ([`alvares_in_time`]), which ends the
//! statement once the time is up. So a read holds its connection (and the
//! WAL) for a bounded time, whatever its filters.

use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::serialize::{IsNull, Output, ToSql};
use diesel::sql_types::{BigInt, Integer};
use diesel::sqlite::Sqlite;

use super::{AnyConnection, DbPool};
use crate::clock::SharedClock;

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
    /// `per_second` heavy reads started this second already.
    OverBudget { per_second: usize },
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
        ClosedGate {
            gate: self.clone(),
            hurry: None,
        }
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
pub struct ClosedGate {
    gate: Arc<ReadGate>,
    /// The reads running meanwhile go at normal priority.
    hurry: Option<super::read_threads::Hurry>,
}

impl std::fmt::Debug for ClosedGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClosedGate")
            .field("gate", &self.gate)
            .field("hurried", &self.hurry.is_some())
            .finish()
    }
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
    /// Where heavy reads run: low-priority threads (the metrics' gauges
    /// run on the blocking pool, so a scrape is not starved by dashboards).
    pub threads: Arc<super::read_threads::ReadThreads>,
    /// How long one read may run (`READ_TIMEOUT_MS`).
    pub timeout: Duration,
    /// Heavy reads let in per second (`HEAVY_READS_PER_SECOND`).
    pub budget: Arc<ReadBudget>,
    /// What the budget's seconds are counted on (the application's clock).
    pub clock: SharedClock,
}

impl ReadRoutes {
    /// Both gates closed (for a WAL truncation), and the reads still
    /// running hurried (see [`super::read_threads::hurry`]).
    pub fn close(&self) -> [ClosedGate; 2] {
        let mut heavy = self.heavy.close();
        heavy.hurry = Some(self.threads.hurry());
        [heavy, self.metrics.close()]
    }
}

/// How many heavy reads may start in one second (a window of the clock's
/// whole seconds). The gate bounds reads at once, but short reads at once
/// can still follow each other without pause: clients that never wait
/// pulled 260 MB/s of answers through the cores the deliveries need
/// (README, "Dashboards beside deliveries"). The budget bounds that volume
/// whatever the clients do.
#[derive(Debug)]
pub struct ReadBudget {
    per_second: usize,
    /// The current second (Unix) and the reads it let in.
    window: Mutex<(i64, usize)>,
}

impl ReadBudget {
    pub fn new(per_second: usize) -> Arc<Self> {
        Arc::new(ReadBudget {
            per_second: per_second.max(1),
            window: Mutex::new((i64::MIN, 0)),
        })
    }

    pub fn per_second(&self) -> usize {
        self.per_second
    }

    /// Counts one read starting at `now_ms`, or refuses it: the second's
    /// budget is spent.
    pub fn take(&self, now_ms: i64) -> Result<(), Refused> {
        let second = now_ms.div_euclid(1000);
        // Two numbers, consistent after any panic.
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if window.0 != second {
            *window = (second, 0);
        }
        if window.1 >= self.per_second {
            return Err(Refused::OverBudget {
                per_second: self.per_second,
            });
        }
        window.1 += 1;
        Ok(())
    }
}

/// A read that did not end well.
#[derive(Debug)]
pub enum ReadFailed {
    /// It ran past its time limit and was stopped.
    TimedOut,
    Query(diesel::result::Error),
}

diesel::define_sql_function! {
    /// 1 while the read running on this thread is within its time limit;
    /// past it, an error that ends the statement. Heavy queries call it on
    /// the rows they read (SQLite only: PostgreSQL has a statement timeout).
    fn alvares_in_time(at: BigInt) -> Integer;
}

/// The SQLite function's name, for queries written as text.
pub const IN_TIME_FUNCTION: &str = "alvares_in_time";
/// The clock is read once per this many rows (a row costs far less).
const ROWS_PER_CHECK: u32 = 256;

thread_local! {
    /// When the read running on this thread must end (none: no limit).
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Whether [`DEADLINE`] passed during the read.
    static EXPIRED: Cell<bool> = const { Cell::new(false) };
    static ROWS: Cell<u32> = const { Cell::new(0) };
}

/// What [`alvares_in_time`] answers: 1, or the error that stops the query.
#[derive(Debug)]
pub struct InTime;

impl ToSql<Integer, Sqlite> for InTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> diesel::serialize::Result {
        if still_in_time() {
            out.set_value(1);
            Ok(IsNull::No)
        } else {
            Err("the read ran past its time limit".into())
        }
    }
}

fn still_in_time() -> bool {
    if EXPIRED.get() {
        return false;
    }
    let rows = ROWS.get().wrapping_add(1);
    ROWS.set(rows);
    if !rows.is_multiple_of(ROWS_PER_CHECK) {
        return true;
    }
    super::read_threads::hurry();
    match DEADLINE.get() {
        Some(deadline) if Instant::now() >= deadline => {
            EXPIRED.set(true);
            false
        }
        _ => true,
    }
}

/// Registers [`alvares_in_time`] on a SQLite connection (every one gets it,
/// so the heavy queries run on any; without a deadline it always answers 1).
pub fn register_in_time(connection: &mut diesel::SqliteConnection) -> diesel::QueryResult<()> {
    alvares_in_time_utils::register_impl(connection, |_: i64| InTime)
}

/// The condition a heavy query adds on the rows it reads (`column`: any
/// integer column of them): the time check on SQLite, nothing on
/// PostgreSQL.
pub fn row_check(connection: &AnyConnection, column: &str) -> String {
    match connection {
        AnyConnection::Sqlite(_) => format!(" AND {IN_TIME_FUNCTION}({column}) = 1"),
        AnyConnection::Postgresql(_) => String::new(),
    }
}

/// The same as a whole condition, for diesel's `sql` (`TRUE` on
/// PostgreSQL).
pub fn row_condition(connection: &AnyConnection, column: &str) -> String {
    match connection {
        AnyConnection::Sqlite(_) => format!("{IN_TIME_FUNCTION}({column}) = 1"),
        AnyConnection::Postgresql(_) => "TRUE".to_owned(),
    }
}

/// Runs one read on `connection`, stopped once `deadline` passes.
pub fn bounded<T>(
    connection: &mut AnyConnection,
    deadline: Instant,
    work: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T>,
) -> Result<T, ReadFailed> {
    DEADLINE.set(Some(deadline));
    EXPIRED.set(false);
    ROWS.set(0);
    let result = within(connection, deadline).and_then(|()| work(connection));
    let expired = EXPIRED.replace(false);
    DEADLINE.set(None);
    match result {
        Ok(value) => Ok(value),
        Err(_) if expired => Err(ReadFailed::TimedOut),
        // PostgreSQL: "canceling statement due to statement timeout".
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("statement timeout") =>
        {
            Err(ReadFailed::TimedOut)
        }
        Err(error) => Err(ReadFailed::Query(error)),
    }
}

/// Before each statement of a read run by [`bounded`]: on PostgreSQL the
/// statement may take what is left of the read's time; once none is
/// left, the read ends.
pub fn within(connection: &mut AnyConnection, deadline: Instant) -> diesel::QueryResult<()> {
    super::read_threads::hurry();
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        EXPIRED.set(true);
        return Err(diesel::result::Error::QueryBuilderError(
            "the read ran past its time limit".into(),
        ));
    }
    if let AnyConnection::Postgresql(pg) = connection {
        pg.batch_execute(&format!(
            "SET statement_timeout = {}",
            left.as_millis().max(1)
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::{Connection, QueryableByName, RunQueryDsl};

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    /// Counts `rows` generated rows, each checked against the time limit.
    fn count(connection: &mut AnyConnection, rows: u64) -> diesel::QueryResult<i64> {
        let check = row_check(connection, "i");
        let AnyConnection::Sqlite(sqlite) = connection else {
            unreachable!("a SQLite connection")
        };
        diesel::sql_query(format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
             SELECT count(*) AS n FROM n WHERE 1 = 1{check}"
        ))
        .get_result::<Count>(sqlite)
        .map(|count| count.n)
    }

    #[test]
    fn a_sqlite_read_is_stopped_at_its_deadline_and_the_next_one_runs() {
        let mut connection = AnyConnection::establish(":memory:").unwrap();
        let AnyConnection::Sqlite(sqlite) = &mut connection else {
            unreachable!("a SQLite connection")
        };
        register_in_time(sqlite).unwrap();
        // Without a deadline the check lets every row through.
        assert_eq!(count(&mut connection, 10_000).unwrap(), 10_000);

        // A billion rows would take minutes: the check stops it at 20 ms.
        let started = Instant::now();
        let deadline = started + Duration::from_millis(20);
        let result = bounded(&mut connection, deadline, |c| count(c, 1_000_000_000));
        assert!(matches!(result, Err(ReadFailed::TimedOut)), "{result:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );

        // The limit was the read's: the next one runs in full.
        let next = bounded(
            &mut connection,
            Instant::now() + Duration::from_secs(60),
            |c| count(c, 10_000),
        );
        assert_eq!(next.unwrap(), 10_000);
        // A read whose time is up before it starts does not start.
        let late = bounded(&mut connection, Instant::now(), |c| count(c, 1));
        assert!(matches!(late, Err(ReadFailed::TimedOut)));
    }

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

    #[test]
    fn the_budget_lets_in_so_many_reads_a_second_and_renews_each_second() {
        let budget = ReadBudget::new(2);
        assert_eq!(budget.take(10_000), Ok(()));
        assert_eq!(budget.take(10_500), Ok(()));
        let spent = Err(Refused::OverBudget { per_second: 2 });
        assert_eq!(budget.take(10_999), spent);
        assert_eq!(budget.take(11_000), Ok(()), "a new second");
        assert_eq!(budget.take(11_001), Ok(()));
        assert_eq!(budget.take(11_002), spent);
    }
}
