//! `failures`: the error events that name their application and cluster,
//! kept (like the deployment history) when the journal is pruned, for the
//! change-failure rate and time to restore (`store::insights`).

use diesel::prelude::*;

use crate::store::AnyConnection;
use crate::store::schema::failures;
use crate::with_connection;

#[derive(Debug, Clone, PartialEq, Eq, Insertable, Queryable, Selectable)]
#[diesel(table_name = failures)]
pub struct FailureRow {
    /// The error event's id.
    pub id: String,
    /// Unix milliseconds.
    pub received_at: i64,
    pub application: String,
    pub cluster: String,
}

/// Inserts, ignoring a row already stored (a redelivery stores nothing new).
pub fn insert(conn: &mut AnyConnection, row: &FailureRow) -> QueryResult<usize> {
    with_connection!(conn, |c| diesel::insert_into(failures::table)
        .values(row)
        .on_conflict(failures::id)
        .do_nothing()
        .execute(c))
}
