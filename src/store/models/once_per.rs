//! `once_per`: the first event of each noise-control key, until its window
//! ends.

use diesel::prelude::*;

use crate::store::AnyConnection;
use crate::store::schema::once_per;
use crate::with_connection;

/// One `once_per` rule over an event's planned deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceClaim {
    pub key: String,
    pub window_ms: i64,
    /// Whose whole delivery a duplicate skips.
    pub subscribers: Vec<&'static str>,
    /// The route whose added destinations a duplicate takes out.
    pub route: Option<String>,
}

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

/// An event's duplicates under `once_per`: the subscribers whose whole
/// delivery is one, and the routes whose added destinations are, each
/// with the event that came first.
#[derive(Debug, Default)]
pub struct Duplicates {
    pub subscribers: Vec<(&'static str, String)>,
    pub routes: Vec<(String, String)>,
}

/// Applies an event's `once_per` rules: answers what is a duplicate.
pub fn duplicates(
    conn: &mut AnyConnection,
    event_id: &str,
    claims: &[OnceClaim],
    now: i64,
) -> QueryResult<Duplicates> {
    let mut duplicates = Vec::new();
    let mut routes = Vec::new();
    for once in claims {
        let first = claim(conn, &once.key, event_id, now, now + once.window_ms)?;
        if first != event_id {
            if let Some(route) = &once.route {
                routes.push((route.clone(), first.clone()));
            }
            for subscriber in &once.subscribers {
                if !duplicates.iter().any(|(s, _)| s == subscriber) {
                    duplicates.push((*subscriber, first.clone()));
                }
            }
        }
    }
    Ok(Duplicates {
        subscribers: duplicates,
        routes,
    })
}
