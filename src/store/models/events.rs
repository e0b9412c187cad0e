//! `events`: every accepted event, enriched, as its subscribers see it.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::store::AnyConnection;
use crate::store::schema::events;
use crate::with_connection;

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewEvent {
    pub id: String,
    pub kind: String,
    pub received_at: i64,
    pub body: String,
    pub skipped: String,
    pub idempotency_key: Option<String>,
    pub body_hash: Option<String>,
    /// Deployments only: what the admin event list filters on.
    pub application: Option<String>,
    pub cluster: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: String,
    pub kind: String,
    pub received_at: i64,
    pub body: String,
    pub skipped: String,
}

/// An earlier event that used the same idempotency key.
#[derive(Debug, Clone, Queryable)]
pub struct KeyedEvent {
    pub id: String,
    pub received_at: i64,
    pub idempotency_key: Option<String>,
    pub body_hash: Option<String>,
}

/// SQLite: one row per statement, the same statement each time, prepared
/// once and kept (a multi-row insert is new SQL for each batch size, and
/// compiling it cost more than the rows). PostgreSQL: multi-row, one round
/// trip per 500.
pub fn insert_all(conn: &mut AnyConnection, rows: &[&NewEvent]) -> QueryResult<usize> {
    match conn {
        AnyConnection::Sqlite(c) => {
            let mut inserted = 0;
            for row in rows {
                inserted += diesel::insert_into(events::table).values(*row).execute(c)?;
            }
            Ok(inserted)
        }
        AnyConnection::Postgresql(c) => {
            let mut inserted = 0;
            for chunk in rows.chunks(500) {
                inserted += diesel::insert_into(events::table)
                    .values(chunk.to_vec())
                    .execute(c)?;
            }
            Ok(inserted)
        }
    }
}

pub fn find_by_keys(conn: &mut AnyConnection, keys: &[String]) -> QueryResult<Vec<KeyedEvent>> {
    with_connection!(conn, |c| events::table
        .filter(events::idempotency_key.eq_any(keys))
        .select((
            events::id,
            events::received_at,
            events::idempotency_key,
            events::body_hash
        ))
        .load(c))
}

/// Frees keys older than the idempotency window, so they can be used again.
pub fn forget_keys_before(conn: &mut AnyConnection, before_ms: i64) -> QueryResult<usize> {
    with_connection!(conn, |c| diesel::update(
        events::table
            .filter(events::idempotency_key.is_not_null())
            .filter(events::received_at.lt(before_ms))
    )
    .set(events::idempotency_key.eq(None::<String>))
    .execute(c))
}

/// The events that used one of `keys` since `window_start`, by key: their
/// id and body hash. Keys older than the window are freed, so they can be
/// used again.
pub fn keyed_since(
    conn: &mut AnyConnection,
    keys: &[String],
    window_start: i64,
) -> QueryResult<HashMap<String, (String, Option<String>)>> {
    let mut known = HashMap::new();
    if keys.is_empty() {
        return Ok(known);
    }
    for row in find_by_keys(conn, keys)? {
        let Some(key) = row.idempotency_key else {
            continue;
        };
        if row.received_at >= window_start {
            known.insert(key, (row.id, row.body_hash));
        }
    }
    // Keys older than the window are free again.
    forget_keys_before(conn, window_start)?;
    Ok(known)
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<EventRow>> {
    with_connection!(conn, |c| events::table
        .find(id)
        .select(EventRow::as_select())
        .first(c)
        .optional())
}

pub fn find_many(conn: &mut AnyConnection, ids: &[String]) -> QueryResult<Vec<EventRow>> {
    with_connection!(conn, |c| events::table
        .filter(events::id.eq_any(ids))
        .select(EventRow::as_select())
        .load(c))
}

/// Which events the admin list shows.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub kind: Option<String>,
    pub application: Option<String>,
    pub cluster: Option<String>,
    /// An event id from an earlier page: only older events.
    pub before: Option<String>,
    pub limit: i64,
}

/// Newest first.
pub fn recent(conn: &mut AnyConnection, filter: &EventFilter) -> QueryResult<Vec<EventRow>> {
    // SQLite: each row read is checked against the read's time limit.
    let in_time = crate::store::reads::row_condition(conn, "events.received_at");
    with_connection!(conn, |c| {
        let mut query = events::table
            .select(EventRow::as_select())
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&in_time))
            .order(events::id.desc())
            .limit(filter.limit)
            .into_boxed();
        if let Some(kind) = &filter.kind {
            query = query.filter(events::kind.eq(kind.clone()));
        }
        if let Some(application) = &filter.application {
            query = query.filter(events::application.eq(application.clone()));
        }
        if let Some(cluster) = &filter.cluster {
            query = query.filter(events::cluster.eq(cluster.clone()));
        }
        if let Some(before) = &filter.before {
            query = query.filter(events::id.lt(before.clone()));
        }
        query.load(c)
    })
}

/// Deletes up to `batch` events received before `before_ms` that have no
/// delivery left (their finished deliveries were pruned first).
pub fn prune_finished(conn: &mut AnyConnection, before_ms: i64, batch: i64) -> QueryResult<usize> {
    use crate::store::schema::deliveries;
    with_connection!(conn, |c| {
        let ids: Vec<String> = events::table
            .filter(events::received_at.lt(before_ms))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                deliveries::table.filter(deliveries::event_id.eq(events::id)),
            )))
            .select(events::id)
            .limit(batch)
            .load(c)?;
        diesel::delete(events::table.filter(events::id.eq_any(&ids))).execute(c)
    })
}
