//! `once_per`: the first event of each noise-control key, until its window
//! ends.

use diesel::prelude::*;

use crate::store::AnyConnection;
use crate::store::schema::once_per;
use crate::with_connection;

/// Claims `key` for `event_id` until `expires_at` unless a live claim
/// holds it; answers the event that holds it now (`event_id` when this
/// claim won). Safe across replicas: the insert waits on a racing one's
/// commit and then finds its row.
pub fn claim(
    conn: &mut AnyConnection,
    key: &str,
    event_id: &str,
    now: i64,
    expires_at: i64,
) -> QueryResult<String> {
    with_connection!(conn, |c| {
        diesel::delete(
            once_per::table
                .filter(once_per::key.eq(key))
                .filter(once_per::expires_at.le(now)),
        )
        .execute(c)?;
        diesel::insert_into(once_per::table)
            .values((
                once_per::key.eq(key),
                once_per::event_id.eq(event_id),
                once_per::expires_at.eq(expires_at),
            ))
            .on_conflict_do_nothing()
            .execute(c)?;
        once_per::table
            .filter(once_per::key.eq(key))
            .select(once_per::event_id)
            .first::<String>(c)
    })
}

/// Forgets the claims whose window ended.
pub fn forget_expired(conn: &mut AnyConnection, now: i64) -> QueryResult<usize> {
    with_connection!(conn, |c| diesel::delete(
        once_per::table.filter(once_per::expires_at.le(now))
    )
    .execute(c))
}
