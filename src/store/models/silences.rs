//! `silences`: what admins silenced, from when until when, and by whom.

use diesel::prelude::*;

use crate::store::AnyConnection;
use crate::store::schema::silences;
use crate::with_connection;

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = silences)]
pub struct SilenceRow {
    pub id: String,
    /// JSON: field → patterns.
    pub matchers: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub comment: String,
    pub created_by: String,
    pub created_at: i64,
    pub expired_by: Option<String>,
    /// Deliveries it skipped.
    pub silenced: i64,
}

pub fn insert(conn: &mut AnyConnection, row: &SilenceRow) -> QueryResult<usize> {
    with_connection!(conn, |c| diesel::insert_into(silences::table)
        .values(row)
        .execute(c))
}

/// Ends a silence now, if it has not ended; answers whether it did.
pub fn expire(conn: &mut AnyConnection, id: &str, now: i64, by: &str) -> QueryResult<bool> {
    with_connection!(conn, |c| diesel::update(
        silences::table
            .filter(silences::id.eq(id))
            .filter(silences::ends_at.gt(now))
    )
    .set((silences::ends_at.eq(now), silences::expired_by.eq(Some(by)),))
    .execute(c)
    .map(|n| n > 0))
}

/// The silences that have not ended, soonest first.
pub fn not_ended(conn: &mut AnyConnection, now: i64) -> QueryResult<Vec<SilenceRow>> {
    with_connection!(conn, |c| silences::table
        .filter(silences::ends_at.gt(now))
        .order(silences::ends_at.asc())
        .select(SilenceRow::as_select())
        .load(c))
}

/// How many silences have not ended (pending or active).
pub fn count_not_ended(conn: &mut AnyConnection, now: i64) -> QueryResult<i64> {
    with_connection!(conn, |c| silences::table
        .filter(silences::ends_at.gt(now))
        .count()
        .get_result(c))
}

/// The latest silences, ended or not, newest first.
pub fn recent(conn: &mut AnyConnection, limit: i64) -> QueryResult<Vec<SilenceRow>> {
    with_connection!(conn, |c| silences::table
        .order(silences::created_at.desc())
        .limit(limit)
        .select(SilenceRow::as_select())
        .load(c))
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<SilenceRow>> {
    with_connection!(conn, |c| silences::table
        .filter(silences::id.eq(id))
        .select(SilenceRow::as_select())
        .first(c)
        .optional())
}

/// Counts deliveries a silence skipped.
pub fn count_silenced(conn: &mut AnyConnection, id: &str, deliveries: i64) -> QueryResult<usize> {
    with_connection!(conn, |c| diesel::update(
        silences::table.filter(silences::id.eq(id))
    )
    .set(silences::silenced.eq(silences::silenced + deliveries))
    .execute(c))
}

/// Forgets silences that ended before `before`.
pub fn forget_ended_before(conn: &mut AnyConnection, before: i64) -> QueryResult<usize> {
    with_connection!(conn, |c| diesel::delete(
        silences::table.filter(silences::ends_at.lt(before))
    )
    .execute(c))
}

impl SilenceRow {
    /// The silence as routing applies it; a row whose matchers no longer
    /// parse is an error naming it.
    pub fn to_silence(&self) -> Result<crate::domain::silence::Silence, String> {
        let matchers: std::collections::BTreeMap<String, Vec<String>> =
            serde_json::from_str(&self.matchers)
                .map_err(|error| format!("silence {}: matchers: {error}", self.id))?;
        Ok(crate::domain::silence::Silence {
            id: self.id.clone(),
            matchers: crate::domain::matching::Conditions::parse(&matchers)
                .map_err(|error| format!("silence {}: {error}", self.id))?,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            comment: self.comment.clone(),
            created_by: self.created_by.clone(),
        })
    }
}
