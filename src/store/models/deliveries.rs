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

mod outcomes;
mod state;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use serde::Serialize;

use crate::store::AnyConnection;
use crate::store::schema::deliveries;
use crate::with_connection;

pub use outcomes::{OutcomeWrite, write_outcomes};
use state::sql_states;
pub use state::{DeliveryState, UnknownState};

/// Escapes what a backend cannot store (PostgreSQL refuses NUL in text):
/// text Alvares records from destinations goes through here.
pub fn storable(text: &str) -> String {
    if text.contains('\0') {
        text.replace('\0', "\\u0000")
    } else {
        text.to_owned()
    }
}

/// A last resort for text a backend still refused: every control
/// character escaped and the length bounded.
pub fn escaped_and_truncated(text: &str) -> String {
    const MOST: usize = 2000;
    let mut out = String::new();
    for c in text.chars().take(MOST) {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = deliveries)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewDelivery {
    pub event_id: String,
    pub subscriber: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub lease_epoch: i64,
    pub lease_owner: Option<String>,
    pub due_at: i64,
    pub progress: String,
    pub outcome: Option<String>,
    pub last_error: Option<String>,
    pub updated_at: i64,
    /// Where it goes, as planned at intake (JSON; see `domain::plan`).
    pub destinations: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = deliveries)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: String,
    pub subscriber: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub lease_epoch: i64,
    pub due_at: i64,
    pub progress: String,
    pub outcome: Option<String>,
    pub last_error: Option<String>,
    pub updated_at: i64,
    pub deferred_since: Option<i64>,
    pub destinations: Option<String>,
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
    #[diesel(sql_type = Nullable<BigInt>)]
    pub deferred_since: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub destinations: Option<String>,
}

/// Inserts and answers the new ids, in the order of `rows`.
pub fn insert_all_returning_ids(
    conn: &mut AnyConnection,
    rows: &[NewDelivery],
) -> QueryResult<Vec<i64>> {
    // SQLite: one cached statement per row (see `events::insert_all`).
    if let AnyConnection::Sqlite(c) = conn {
        return rows
            .iter()
            .map(|row| {
                diesel::insert_into(deliveries::table)
                    .values(row)
                    .returning(deliveries::id)
                    .get_result(c)
            })
            .collect();
    }
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

/// Claims up to `limit` due deliveries of one subscriber for `owner`: the
/// unfinished ones whose time has come (a retry's wait is over, or an
/// in-flight lease ran out).
pub fn claim_due(
    conn: &mut AnyConnection,
    subscriber: &str,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> QueryResult<Vec<ClaimedRow>> {
    let unfinished = sql_states(&DeliveryState::UNFINISHED);
    let in_flight = DeliveryState::InFlight.code();
    // Select the ids first, then update by id: an UPDATE … WHERE id IN
    // (SELECT … LIMIT n FOR UPDATE SKIP LOCKED) can claim more than n rows
    // under some plans.
    match conn {
        AnyConnection::Postgresql(c) => diesel::sql_query(format!(
            "WITH picked AS ( \
                SELECT id FROM deliveries \
                WHERE subscriber = $1 AND state IN ({unfinished}) AND due_at <= $2 \
                ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE deliveries AS d \
             SET state = {in_flight}, lease_owner = $4, lease_epoch = d.lease_epoch + 1, \
                 due_at = $5, updated_at = $2 \
             FROM picked WHERE d.id = picked.id \
             RETURNING d.id, d.event_id, d.lease_epoch, d.attempts, d.progress, d.deferred_since, d.destinations",
        ))
        .bind::<Text, _>(subscriber)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(limit)
        .bind::<Text, _>(owner)
        .bind::<BigInt, _>(lease_until)
        .load(c),
        // SQLite has one writer (this process, inside an immediate
        // transaction), so no row lock is needed.
        AnyConnection::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE deliveries \
             SET state = {in_flight}, lease_owner = ?4, lease_epoch = lease_epoch + 1, \
                 due_at = ?5, updated_at = ?2 \
             WHERE id IN ( \
                SELECT id FROM deliveries \
                WHERE subscriber = ?1 AND state IN ({unfinished}) AND due_at <= ?2 \
                ORDER BY due_at, id LIMIT ?3) \
             RETURNING id, event_id, lease_epoch, attempts, progress, deferred_since, destinations",
        ))
        .bind::<Text, _>(subscriber)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(limit)
        .bind::<Text, _>(owner)
        .bind::<BigInt, _>(lease_until)
        .load(c),
    }
}

/// Puts `subscriber`'s retrying deliveries in line: each due at its
/// event's acceptance time, so that claims (by due time, then id) take
/// them in acceptance order, and all of them are due as soon as the
/// subscriber's circuit lets them go. Answers how many moved.
pub fn put_in_line(conn: &mut AnyConnection, subscriber: &str, now: i64) -> QueryResult<usize> {
    let retrying = DeliveryState::Retrying.code();
    match conn {
        AnyConnection::Postgresql(c) => diesel::sql_query(format!(
            "UPDATE deliveries AS d SET due_at = e.received_at, updated_at = $2 \
             FROM events AS e \
             WHERE e.id = d.event_id AND d.subscriber = $1 AND d.state = {retrying} \
             AND d.due_at > e.received_at",
        ))
        .bind::<Text, _>(subscriber)
        .bind::<BigInt, _>(now)
        .execute(c),
        AnyConnection::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE deliveries SET due_at = e.received_at, updated_at = ?2 \
             FROM events AS e \
             WHERE e.id = deliveries.event_id AND deliveries.subscriber = ?1 \
             AND deliveries.state = {retrying} AND deliveries.due_at > e.received_at",
        ))
        .bind::<Text, _>(subscriber)
        .bind::<BigInt, _>(now)
        .execute(c),
    }
}

/// Pushes back the lease expiry of everything `owner` holds.
pub fn renew_leases(conn: &mut AnyConnection, owner: &str, lease_until: i64) -> QueryResult<usize> {
    use deliveries::dsl as d;
    with_connection!(conn, |c| diesel::update(
        d::deliveries
            .filter(d::state.eq(DeliveryState::InFlight))
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
                .filter(d::state.eq(DeliveryState::InFlight)),
        )
        .set((
            d::state.eq(DeliveryState::Pending),
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
        d::deliveries.filter(d::state.eq(DeliveryState::InFlight))
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
            .filter(d::state.eq_any([DeliveryState::Delivered, DeliveryState::Skipped]))
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
            .filter(d::state.eq(DeliveryState::Failed))
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
                    d::state.eq(DeliveryState::Pending),
                    d::attempts.eq(0),
                    d::due_at.eq(now),
                    d::outcome.eq(&no_text),
                    d::lease_owner.eq(&no_text),
                    d::deferred_since.eq(None::<i64>),
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
            .filter(d::state.eq(DeliveryState::Failed))
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
pub fn counts_by_state(conn: &mut AnyConnection) -> QueryResult<Vec<(String, DeliveryState, i64)>> {
    use deliveries::dsl as d;
    with_connection!(conn, |c| d::deliveries
        .group_by((d::subscriber, d::state))
        .select((d::subscriber, d::state, diesel::dsl::count_star()))
        .load(c))
}

/// For each subscriber, when its oldest delivery that is due now became
/// due (pending or retrying; in flight is being worked on).
pub fn oldest_due(conn: &mut AnyConnection, now: i64) -> QueryResult<Vec<(String, Option<i64>)>> {
    use deliveries::dsl as d;
    with_connection!(conn, |c| d::deliveries
        .filter(d::state.eq_any([DeliveryState::Pending, DeliveryState::Retrying]))
        .filter(d::due_at.le(now))
        .group_by(d::subscriber)
        .select((d::subscriber, diesel::dsl::min(d::due_at)))
        .load(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_destinations_is_made_storable() {
        assert_eq!(storable("a\0b"), "a\\u0000b");
        assert_eq!(storable("plain"), "plain");
        assert_eq!(escaped_and_truncated("x\u{1b}[31m\ny"), "x\\u001b[31m\ny");
        assert_eq!(escaped_and_truncated(&"z".repeat(5000)).len(), 2000);
    }
}
