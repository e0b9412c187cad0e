//! Writing attempts' outcomes: many rows in one statement, each only if
//! its lease still holds.

use diesel::prelude::*;
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Integer, Nullable, SmallInt, Text};

use super::{DeliveryState, escaped_and_truncated};
use crate::store::AnyConnection;

/// The outcome of one attempt, to be written if the lease still holds.
#[derive(Debug, Clone, PartialEq)]
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
    /// Since when it has been deferred without an attempt, if it is.
    pub deferred_since: Option<i64>,
}

impl OutcomeWrite {
    /// The same write with every text made storable at any cost (escaped
    /// and truncated), for when a backend refused it as it was.
    pub fn escaped(&self) -> Self {
        OutcomeWrite {
            progress: escaped_and_truncated(&self.progress),
            outcome: self.outcome.as_deref().map(escaped_and_truncated),
            last_error: self.last_error.as_deref().map(escaped_and_truncated),
            ..self.clone()
        }
    }
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
    if let AnyConnection::Sqlite(c) = conn {
        // One prepared statement per row, compiled once and kept: SQLite
        // has no round trip to save, and new SQL per batch size cost more
        // to compile than the rows did to write.
        for write in writes {
            if write_one_sqlite(c, write, now)? == 1 {
                written.push(write.id);
            }
        }
        return Ok(written);
    }
    for chunk in writes.chunks(300) {
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

/// One outcome, if its lease still holds: 1 if written.
fn write_one_sqlite(
    c: &mut diesel::SqliteConnection,
    write: &OutcomeWrite,
    now: i64,
) -> QueryResult<usize> {
    use crate::store::schema::deliveries::dsl as d;
    diesel::update(
        d::deliveries
            .filter(d::id.eq(write.id))
            .filter(d::lease_epoch.eq(write.lease_epoch))
            .filter(d::state.eq(DeliveryState::InFlight.code())),
    )
    .set((
        d::state.eq(write.state.code()),
        d::attempts.eq(write.attempts),
        d::due_at.eq(write.due_at),
        d::progress.eq(&write.progress),
        d::outcome.eq(&write.outcome),
        d::last_error.eq(&write.last_error),
        d::deferred_since.eq(write.deferred_since),
        d::lease_owner.eq(None::<String>),
        d::updated_at.eq(now),
    ))
    .execute(c)
}

#[derive(QueryableByName)]
struct WrittenId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// `UPDATE … FROM (VALUES …)`: PostgreSQL names the columns in the alias
/// and needs typed placeholders; SQLite calls them column1, column2, ….
fn outcome_sql(rows: usize, postgres: bool) -> String {
    let in_flight = DeliveryState::InFlight.code();
    let mut values = Vec::with_capacity(rows);
    let mut n = 1;
    for _ in 0..rows {
        if postgres {
            let types = [
                "int8", "int8", "int2", "int4", "int8", "text", "text", "text", "int8",
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
            values.push("(?, ?, ?, ?, ?, ?, ?, ?, ?)".to_owned());
        }
    }
    let values = values.join(", ");
    if postgres {
        format!(
            "UPDATE deliveries AS d SET state = v.state, attempts = v.attempts, due_at = v.due_at, \
             progress = v.progress, outcome = v.outcome, last_error = v.last_error, \
             deferred_since = v.deferred_since, lease_owner = NULL, updated_at = $1 \
             FROM (VALUES {values}) AS v(id, lease_epoch, state, attempts, due_at, progress, outcome, last_error, deferred_since) \
             WHERE d.id = v.id AND d.lease_epoch = v.lease_epoch AND d.state = {in_flight} \
             RETURNING d.id"
        )
    } else {
        format!(
            "UPDATE deliveries SET state = v.column3, attempts = v.column4, due_at = v.column5, \
             progress = v.column6, outcome = v.column7, last_error = v.column8, \
             deferred_since = v.column9, lease_owner = NULL, updated_at = ?1 \
             FROM (SELECT * FROM (VALUES {values})) AS v \
             WHERE deliveries.id = v.column1 AND deliveries.lease_epoch = v.column2 \
             AND deliveries.state = {in_flight} \
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
        + diesel::sql_types::HasSqlType<SmallInt>
        + diesel::sql_types::HasSqlType<Integer>
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<Nullable<Text>>
        + diesel::sql_types::HasSqlType<Nullable<BigInt>>,
    i64: ToSql<BigInt, DB>,
    i16: ToSql<SmallInt, DB>,
    DeliveryState: ToSql<SmallInt, DB>,
    i32: ToSql<Integer, DB>,
    String: ToSql<Text, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
{
    query = query.bind::<BigInt, _>(now);
    for write in writes {
        query = query
            .bind::<BigInt, _>(write.id)
            .bind::<BigInt, _>(write.lease_epoch)
            .bind::<SmallInt, _>(write.state)
            .bind::<Integer, _>(write.attempts)
            .bind::<BigInt, _>(write.due_at)
            .bind::<Text, _>(write.progress.clone())
            .bind::<Nullable<Text>, _>(write.outcome.clone())
            .bind::<Nullable<Text>, _>(write.last_error.clone())
            .bind::<Nullable<BigInt>, _>(write.deferred_since);
    }
    query
}
