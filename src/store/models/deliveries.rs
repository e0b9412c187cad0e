//! `deliveries`: one row per (event, subscriber) that has work to do, and
//! the state machine it follows:
//!
//! ```text
//! pending ─claim─▶ in_flight ─▶ delivered | skipped | failed
//!                  │    ▲
//!                  ▼    │ claim (when due)
//!                 retrying
//! ```
//!
//! An in-flight row is leased: `lease_owner` is the process working on it,
//! `due_at` is when the lease expires (renewed while the owner lives), and
//! `lease_epoch` goes up with every claim. Every outcome write matches the
//! epoch it was claimed with, so a late write from a stale owner changes
//! nothing.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use serde::Serialize;

use crate::store::AnyConnection;
use crate::store::schema::deliveries;
use crate::with_connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending = 0,
    InFlight = 1,
    Retrying = 2,
    Delivered = 3,
    Skipped = 4,
    Failed = 5,
}

impl DeliveryState {
    pub fn from_i16(value: i16) -> Self {
        match value {
            1 => DeliveryState::InFlight,
            2 => DeliveryState::Retrying,
            3 => DeliveryState::Delivered,
            4 => DeliveryState::Skipped,
            5 => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryState::Delivered | DeliveryState::Skipped | DeliveryState::Failed
        )
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = deliveries)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewDelivery {
    pub event_id: String,
    pub subscriber: String,
    pub state: i16,
    pub attempts: i32,
    pub lease_epoch: i64,
    pub lease_owner: Option<String>,
    pub due_at: i64,
    pub progress: String,
    pub outcome: Option<String>,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = deliveries)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: String,
    pub subscriber: String,
    pub state: i16,
    pub attempts: i32,
    pub lease_epoch: i64,
    pub due_at: i64,
    pub progress: String,
    pub outcome: Option<String>,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// A delivery claimed by this process.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClaimedRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub event_id: String,
    #[diesel(sql_type = BigInt)]
    pub lease_epoch: i64,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Text)]
    pub progress: String,
}

/// The outcome of one attempt, to be written if the lease still holds.
#[derive(Debug, Clone)]
pub struct OutcomeWrite {
    pub id: i64,
    pub lease_epoch: i64,
    pub state: DeliveryState,
    pub attempts: i32,
    /// Next try (retrying); ignored for final states.
    pub due_at: i64,
    pub progress: String,
    pub outcome: Option<String>,
    pub last_error: Option<String>,
}

/// Inserts and answers the new ids, in the order of `rows`.
pub fn insert_all_returning_ids(
    conn: &mut AnyConnection,
    rows: &[NewDelivery],
) -> QueryResult<Vec<i64>> {
    with_connection!(conn, |c| {
        let mut ids = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(1000) {
            let inserted: Vec<(i64, String, String)> = diesel::insert_into(deliveries::table)
                .values(chunk)
                .returning((deliveries::id, deliveries::event_id, deliveries::subscriber))
                .get_results(c)?;
            // RETURNING order is not promised by every backend: match by key.
            let by_key: std::collections::HashMap<(&str, &str), i64> = inserted
                .iter()
                .map(|(id, event, subscriber)| ((event.as_str(), subscriber.as_str()), *id))
                .collect();
            for row in chunk {
                let id = by_key
                    .get(&(row.event_id.as_str(), row.subscriber.as_str()))
                    .copied()
                    .ok_or(diesel::result::Error::NotFound)?;
                ids.push(id);
            }
        }
        Ok(ids)
    })
}

/// Writes outcomes, each only if its lease still holds (same epoch, still
/// in flight), in one statement per few hundred rows. Answers the ids that
/// were written; the others were stale attempts.
pub fn write_outcomes(
    conn: &mut AnyConnection,
    writes: &[OutcomeWrite],
    now: i64,
) -> QueryResult<Vec<i64>> {
    let mut written = Vec::with_capacity(writes.len());
    for chunk in writes.chunks(400) {
        let ids: Vec<WrittenId> = match conn {
            AnyConnection::Postgresql(c) => bind_outcomes(
                diesel::sql_query(outcome_sql(chunk.len(), true)).into_boxed(),
                chunk,
                now,
            )
            .load(c)?,
            AnyConnection::Sqlite(c) => bind_outcomes(
                diesel::sql_query(outcome_sql(chunk.len(), false)).into_boxed(),
                chunk,
                now,
            )
            .load(c)?,
        };
        written.extend(ids.into_iter().map(|row| row.id));
    }
    Ok(written)
}

#[derive(QueryableByName)]
struct WrittenId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// `UPDATE … FROM (VALUES …)`: PostgreSQL names the columns in the alias
/// and needs typed placeholders; SQLite calls them column1, column2, ….
fn outcome_sql(rows: usize, postgres: bool) -> String {
    let mut values = Vec::with_capacity(rows);
    let mut n = 1;
    for _ in 0..rows {
        if postgres {
            let types = [
                "int8", "int8", "int2", "int4", "int8", "text", "text", "text",
            ];
            let row: Vec<String> = types
                .iter()
                .map(|t| {
                    n += 1;
                    format!("${n}::{t}")
                })
                .collect();
            values.push(format!("({})", row.join(", ")));
        } else {
            values.push("(?, ?, ?, ?, ?, ?, ?, ?)".to_owned());
        }
    }
    let values = values.join(", ");
    if postgres {
        format!(
            "UPDATE deliveries AS d SET state = v.state, attempts = v.attempts, due_at = v.due_at, \
             progress = v.progress, outcome = v.outcome, last_error = v.last_error, \
             lease_owner = NULL, updated_at = $1 \
             FROM (VALUES {values}) AS v(id, lease_epoch, state, attempts, due_at, progress, outcome, last_error) \
             WHERE d.id = v.id AND d.lease_epoch = v.lease_epoch AND d.state = 1 \
             RETURNING d.id"
        )
    } else {
        format!(
            "UPDATE deliveries SET state = v.column3, attempts = v.column4, due_at = v.column5, \
             progress = v.column6, outcome = v.column7, last_error = v.column8, \
             lease_owner = NULL, updated_at = ?1 \
             FROM (SELECT * FROM (VALUES {values})) AS v \
             WHERE deliveries.id = v.column1 AND deliveries.lease_epoch = v.column2 \
             AND deliveries.state = 1 \
             RETURNING deliveries.id"
        )
    }
}

fn bind_outcomes<'a, DB>(
    mut query: diesel::query_builder::BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>,
    writes: &'a [OutcomeWrite],
    now: i64,
) -> diesel::query_builder::BoxedSqlQuery<'a, DB, diesel::query_builder::SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<diesel::sql_types::SmallInt>
        + diesel::sql_types::HasSqlType<Integer>
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Nullable<Text>>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    i16: diesel::serialize::ToSql<diesel::sql_types::SmallInt, DB>,
    i32: diesel::serialize::ToSql<Integer, DB>,
    String: diesel::serialize::ToSql<Text, DB>,
    Option<String>: diesel::serialize::ToSql<diesel::sql_types::Nullable<Text>, DB>,
{
    query = query.bind::<BigInt, _>(now);
    for write in writes {
        query = query
            .bind::<BigInt, _>(write.id)
            .bind::<BigInt, _>(write.lease_epoch)
            .bind::<diesel::sql_types::SmallInt, _>(write.state as i16)
            .bind::<Integer, _>(write.attempts)
            .bind::<BigInt, _>(write.due_at)
            .bind::<Text, _>(write.progress.clone())
            .bind::<diesel::sql_types::Nullable<Text>, _>(write.outcome.clone())
            .bind::<diesel::sql_types::Nullable<Text>, _>(write.last_error.clone());
    }
    query
}

/// Claims up to `limit` due deliveries of one subscriber for `owner`.
pub fn claim_due(
    conn: &mut AnyConnection,
    subscriber: &str,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> QueryResult<Vec<ClaimedRow>> {
    // Select the ids first, then update by id: an UPDATE … WHERE id IN
    // (SELECT … LIMIT n FOR UPDATE SKIP LOCKED) can claim more than n rows
    // under some plans.
    match conn {
        AnyConnection::Postgresql(c) => diesel::sql_query(
            "WITH picked AS ( \
                SELECT id FROM deliveries \
                WHERE subscriber = $1 AND state IN (0, 1, 2) AND due_at <= $2 \
                ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE deliveries AS d \
             SET state = 1, lease_owner = $4, lease_epoch = d.lease_epoch + 1, \
                 due_at = $5, updated_at = $2 \
             FROM picked WHERE d.id = picked.id \
             RETURNING d.id, d.event_id, d.lease_epoch, d.attempts, d.progress",
        )
        .bind::<Text, _>(subscriber)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(limit)
        .bind::<Text, _>(owner)
        .bind::<BigInt, _>(lease_until)
        .load(c),
        // SQLite has one writer (this process, inside an immediate
        // transaction), so no row lock is needed.
        AnyConnection::Sqlite(c) => diesel::sql_query(
            "UPDATE deliveries \
             SET state = 1, lease_owner = ?4, lease_epoch = lease_epoch + 1, \
                 due_at = ?5, updated_at = ?2 \
             WHERE id IN ( \
                SELECT id FROM deliveries \
                WHERE subscriber = ?1 AND state IN (0, 1, 2) AND due_at <= ?2 \
                ORDER BY due_at, id LIMIT ?3) \
             RETURNING id, event_id, lease_epoch, attempts, progress",
        )
        .bind::<Text, _>(subscriber)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(limit)
        .bind::<Text, _>(owner)
        .bind::<BigInt, _>(lease_until)
        .load(c),
    }
}

/// Pushes back the lease expiry of everything `owner` holds.
pub fn renew_leases(conn: &mut AnyConnection, owner: &str, lease_until: i64) -> QueryResult<usize> {
    use deliveries::dsl as d;
    with_connection!(conn, |c| diesel::update(
        d::deliveries
            .filter(d::state.eq(DeliveryState::InFlight as i16))
            .filter(d::lease_owner.eq(owner))
    )
    .set(d::due_at.eq(lease_until))
    .execute(c))
}

/// Gives a leased delivery back, due at `due_at`, without charging an
/// attempt (a full queue, a disabled subscriber's backlog, shutdown).
pub fn release(
    conn: &mut AnyConnection,
    id: i64,
    lease_epoch: i64,
    due_at: i64,
    now: i64,
) -> QueryResult<bool> {
    use deliveries::dsl as d;
    let lease_owner: Option<String> = None;
    with_connection!(conn, |c| {
        let updated = diesel::update(
            d::deliveries
                .filter(d::id.eq(id))
                .filter(d::lease_epoch.eq(lease_epoch))
                .filter(d::state.eq(DeliveryState::InFlight as i16)),
        )
        .set((
            d::state.eq(DeliveryState::Pending as i16),
            d::due_at.eq(due_at),
            d::lease_owner.eq(&lease_owner),
            d::updated_at.eq(now),
        ))
        .execute(c)?;
        Ok(updated == 1)
    })
}

/// On a single-node (SQLite) start: whatever the previous process held is
/// due now, since no other process can be working on it.
pub fn expire_all_leases(conn: &mut AnyConnection, now: i64) -> QueryResult<usize> {
    use deliveries::dsl as d;
    with_connection!(conn, |c| diesel::update(
        d::deliveries.filter(d::state.eq(DeliveryState::InFlight as i16))
    )
    .set(d::due_at.eq(now))
    .execute(c))
}

pub fn for_event(conn: &mut AnyConnection, event_id: &str) -> QueryResult<Vec<DeliveryRow>> {
    use deliveries::dsl as d;
    with_connection!(conn, |c| d::deliveries
        .filter(d::event_id.eq(event_id))
        .order(d::subscriber.asc())
        .select(DeliveryRow::as_select())
        .load(c))
}

pub fn for_events(conn: &mut AnyConnection, event_ids: &[String]) -> QueryResult<Vec<DeliveryRow>> {
    use deliveries::dsl as d;
    with_connection!(conn, |c| d::deliveries
        .filter(d::event_id.eq_any(event_ids))
        .order(d::subscriber.asc())
        .select(DeliveryRow::as_select())
        .load(c))
}

/// Deletes up to `batch` finished (delivered or skipped) deliveries last
/// changed before `before_ms`. Failed ones are kept for replay.
pub fn prune_finished(conn: &mut AnyConnection, before_ms: i64, batch: i64) -> QueryResult<usize> {
    use deliveries::dsl as d;
    with_connection!(conn, |c| {
        let ids: Vec<i64> = d::deliveries
            .filter(d::state.eq_any([
                DeliveryState::Delivered as i16,
                DeliveryState::Skipped as i16,
            ]))
            .filter(d::updated_at.lt(before_ms))
            .select(d::id)
            .limit(batch)
            .load(c)?;
        diesel::delete(d::deliveries.filter(d::id.eq_any(&ids))).execute(c)
    })
}

/// Which dead letters to send again.
#[derive(Debug, Clone)]
pub enum ReplayTarget {
    Delivery(i64),
    Subscriber(String),
}

/// Puts failed deliveries back to pending, due now, with a fresh retry
/// schedule (the last error stays until the next attempt). Answers how many.
pub fn replay(conn: &mut AnyConnection, target: &ReplayTarget, now: i64) -> QueryResult<usize> {
    use deliveries::dsl as d;
    let no_text: Option<String> = None;
    with_connection!(conn, |c| {
        let failed = d::deliveries
            .filter(d::state.eq(DeliveryState::Failed as i16))
            .into_boxed();
        let failed = match target {
            ReplayTarget::Delivery(id) => failed.filter(d::id.eq(*id)),
            ReplayTarget::Subscriber(subscriber) => {
                failed.filter(d::subscriber.eq(subscriber.clone()))
            }
        };
        let ids: Vec<i64> = failed.select(d::id).load(c)?;
        let mut replayed = 0;
        for chunk in ids.chunks(1000) {
            replayed += diesel::update(d::deliveries.filter(d::id.eq_any(chunk)))
                .set((
                    d::state.eq(DeliveryState::Pending as i16),
                    d::attempts.eq(0),
                    d::due_at.eq(now),
                    d::outcome.eq(&no_text),
                    d::lease_owner.eq(&no_text),
                    d::updated_at.eq(now),
                ))
                .execute(c)?;
        }
        Ok(replayed)
    })
}

/// Failed deliveries, newest first, older than `before` (a delivery id).
pub fn dead_letters(
    conn: &mut AnyConnection,
    subscriber: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    use deliveries::dsl as d;
    with_connection!(conn, |c| {
        let mut query = d::deliveries
            .filter(d::state.eq(DeliveryState::Failed as i16))
            .select(DeliveryRow::as_select())
            .order(d::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(subscriber) = subscriber {
            query = query.filter(d::subscriber.eq(subscriber.to_owned()));
        }
        if let Some(before) = before {
            query = query.filter(d::id.lt(before));
        }
        query.load(c)
    })
}

/// How many deliveries each subscriber has in each state.
pub fn counts_by_state(conn: &mut AnyConnection) -> QueryResult<Vec<(String, i16, i64)>> {
    use deliveries::dsl as d;
    with_connection!(conn, |c| d::deliveries
        .group_by((d::subscriber, d::state))
        .select((d::subscriber, d::state, diesel::dsl::count_star()))
        .load(c))
}
