//! `replicas` and `subscriber_owners`: the replicas sharing one database
//! (heartbeats), and which replica delivers each subscriber's work. One
//! owner per subscriber at a time keeps a destination's pace across
//! replicas; an owner that stops renewing loses its subscribers when the
//! lease runs out, and a live replica takes them.
//!
//! On PostgreSQL each replica also holds a session-level advisory lock (its
//! *presence*, see `pipeline::presence`) and says which in its row. A
//! replica whose lock is gone while its row still names one has lost its
//! database session — its process died — and the others take its
//! subscribers, and its in-flight deliveries, at the next round instead of
//! when its lease runs out. The lease stays for the replica that is alive
//! but cannot reach the database: its session may outlive the partition,
//! and it stops delivering when its lease is over.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::Serialize;

use crate::store::AnyConnection;
use crate::store::models::deliveries::DeliveryState;
use crate::store::schema::{deliveries, replicas, subscriber_owners};
use crate::with_connection;

#[derive(Debug, Clone, Insertable, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = replicas)]
pub struct ReplicaRow {
    pub id: String,
    pub host: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
    /// The second key of the presence lock this replica's session holds
    /// now ([`PRESENCE_LOCKS`] is the first); none while it holds none.
    pub presence: Option<i64>,
}

/// The channel pending work is announced on (`NOTIFY`); the payload is the
/// subscriber's id. Each replica's presence session listens on it.
pub const WORK_CHANNEL: &str = "alvares_work";

/// The first key of every replica's presence lock (`pg_advisory_lock(int,
/// int)`), so that Alvares's locks cannot be mistaken for another
/// program's.
pub const PRESENCE_LOCKS: i32 = 0x416c_7672;

/// The second key of a replica's presence lock: from its id (FNV-1a),
/// positive, so that `pg_locks.objid` shows the same number. Two replicas
/// sharing a key would only make a dead one look alive until its lease
/// runs out.
pub fn presence_key(replica: &str) -> i64 {
    let hash = replica.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    i64::from(hash & 0x7fff_ffff)
}

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = subscriber_owners)]
pub struct OwnerRow {
    pub subscriber: String,
    pub owner: String,
    pub expires_at: i64,
}

/// One coordination round's result for this replica.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coordination {
    /// The subscribers this replica delivers for now.
    pub owned: Vec<String>,
    pub live_replicas: usize,
}

/// Heartbeats, renews this replica's subscribers, takes unowned, expired
/// or departed ones up to its fair share and gives up any beyond it
/// (another replica joined). Runs in one transaction of the journal writer.
pub fn coordinate(
    conn: &mut AnyConnection,
    me: &ReplicaRow,
    subscribers: &[&str],
    now: i64,
    lease_ms: i64,
    single_node: bool,
) -> QueryResult<Coordination> {
    let departed = match conn {
        AnyConnection::Postgresql(pg) => departed(pg, &me.id)?,
        AnyConnection::Sqlite(_) => Vec::new(),
    };
    with_connection!(conn, |c| {
        if single_node {
            // SQLite: this process holds the file lock, so any other
            // replica row is a leftover of an earlier run.
            diesel::delete(replicas::table.filter(replicas::id.ne(&me.id))).execute(c)?;
            diesel::delete(subscriber_owners::table.filter(subscriber_owners::owner.ne(&me.id)))
                .execute(c)?;
        }
        diesel::insert_into(replicas::table)
            .values(me)
            .on_conflict(replicas::id)
            .do_update()
            .set((
                replicas::heartbeat_at.eq(now),
                replicas::presence.eq(me.presence),
            ))
            .execute(c)?;
        if !departed.is_empty() {
            // Their sessions ended: they are gone, not silent.
            diesel::delete(replicas::table.filter(replicas::id.eq_any(&departed))).execute(c)?;
        }
        // Replicas silent for a long time are forgotten.
        diesel::delete(replicas::table.filter(replicas::heartbeat_at.lt(now - 10 * lease_ms)))
            .execute(c)?;
        let live: i64 = replicas::table
            .filter(replicas::heartbeat_at.ge(now - lease_ms))
            .count()
            .get_result(c)?;
        let live = live.max(1) as usize;
        let share = subscribers.len().div_ceil(live);

        // Renew what is mine.
        diesel::update(subscriber_owners::table.filter(subscriber_owners::owner.eq(&me.id)))
            .set(subscriber_owners::expires_at.eq(now + lease_ms))
            .execute(c)?;
        let mut owned: Vec<String> = subscriber_owners::table
            .filter(subscriber_owners::owner.eq(&me.id))
            .select(subscriber_owners::subscriber)
            .order(subscriber_owners::subscriber.asc())
            .load(c)?;
        // Give up what is beyond my share, last names first.
        while owned.len() > share {
            let extra = owned.pop().expect("longer than share");
            diesel::delete(
                subscriber_owners::table
                    .filter(subscriber_owners::subscriber.eq(&extra))
                    .filter(subscriber_owners::owner.eq(&me.id)),
            )
            .execute(c)?;
        }
        // Take unowned or expired ones while under my share. Each take is
        // one conditional statement, so two replicas never both win.
        for subscriber in subscribers {
            if owned.len() >= share {
                break;
            }
            if owned.iter().any(|s| s == subscriber) {
                continue;
            }
            let row = OwnerRow {
                subscriber: (*subscriber).to_owned(),
                owner: me.id.clone(),
                expires_at: now + lease_ms,
            };
            let mut taken = diesel::insert_into(subscriber_owners::table)
                .values(&row)
                .on_conflict_do_nothing()
                .execute(c)?;
            if taken == 0 && !departed.is_empty() {
                taken = diesel::update(
                    subscriber_owners::table
                        .filter(subscriber_owners::subscriber.eq(*subscriber))
                        .filter(subscriber_owners::owner.eq_any(&departed)),
                )
                .set((
                    subscriber_owners::owner.eq(&me.id),
                    subscriber_owners::expires_at.eq(now + lease_ms),
                ))
                .execute(c)?;
                if taken == 1 {
                    // What the departed replica was sending will never be
                    // finished there: it is due again now (at least once).
                    diesel::update(
                        deliveries::table
                            .filter(deliveries::subscriber.eq(*subscriber))
                            .filter(deliveries::state.eq(DeliveryState::InFlight))
                            .filter(deliveries::lease_owner.eq_any(&departed)),
                    )
                    .set(deliveries::due_at.eq(now))
                    .execute(c)?;
                }
            }
            if taken == 0 {
                taken = diesel::update(
                    subscriber_owners::table
                        .filter(subscriber_owners::subscriber.eq(*subscriber))
                        .filter(subscriber_owners::expires_at.lt(now)),
                )
                .set((
                    subscriber_owners::owner.eq(&me.id),
                    subscriber_owners::expires_at.eq(now + lease_ms),
                ))
                .execute(c)?;
            }
            if taken == 1 {
                owned.push((*subscriber).to_owned());
            }
        }
        owned.sort();
        Ok(Coordination {
            owned,
            live_replicas: live,
        })
    })
}

/// The replicas whose rows name a presence lock that no session holds in
/// this database any more: their processes are gone.
fn departed(conn: &mut diesel::PgConnection, me: &str) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Departed {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let rows: Vec<Departed> = diesel::sql_query(
        "SELECT r.id FROM replicas r \
         WHERE r.presence IS NOT NULL AND r.id <> $1 AND NOT EXISTS ( \
            SELECT 1 FROM pg_locks l \
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
              AND l.classid = $2::oid AND l.objid = r.presence::oid)",
    )
    .bind::<diesel::sql_types::Text, _>(me)
    .bind::<diesel::sql_types::Integer, _>(PRESENCE_LOCKS)
    .load(conn)?;
    Ok(rows.into_iter().map(|row| row.id).collect())
}

/// PostgreSQL: tells every replica's presence session that `subscribers`
/// have pending work, so their owner claims it now (`NOTIFY`, delivered
/// when the transaction commits, only if it does). Nothing on SQLite: one
/// process owns everything there.
pub fn announce_work(conn: &mut AnyConnection, subscribers: &[&str]) -> QueryResult<()> {
    let AnyConnection::Postgresql(pg) = conn else {
        return Ok(());
    };
    if subscribers.is_empty() {
        return Ok(());
    }
    diesel::sql_query(format!(
        "SELECT pg_notify('{WORK_CHANNEL}', s) FROM unnest($1::text[]) AS s"
    ))
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(subscribers)
    .execute(pg)?;
    Ok(())
}

/// A replica that shuts down cleanly hands its subscribers over at once
/// instead of making the others wait for its lease to run out.
pub fn leave(conn: &mut AnyConnection, me: &str) -> QueryResult<usize> {
    with_connection!(conn, |c| {
        let owned =
            diesel::delete(subscriber_owners::table.filter(subscriber_owners::owner.eq(me)))
                .execute(c)?;
        diesel::delete(replicas::table.filter(replicas::id.eq(me))).execute(c)?;
        Ok(owned)
    })
}

/// A replica as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaView {
    pub id: String,
    pub host: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
    pub live: bool,
    /// Whether its row names a presence lock (its session holds it).
    pub presence: bool,
    /// Subscribers it delivers for.
    pub owns: Vec<String>,
    /// Deliveries it holds leased right now.
    pub leased: i64,
}

pub fn overview(
    conn: &mut AnyConnection,
    now: i64,
    lease_ms: i64,
) -> QueryResult<Vec<ReplicaView>> {
    with_connection!(conn, |c| {
        let rows: Vec<ReplicaRow> = replicas::table
            .order(replicas::started_at.asc())
            .select(ReplicaRow::as_select())
            .load(c)?;
        let owners: Vec<OwnerRow> = subscriber_owners::table
            .filter(subscriber_owners::expires_at.ge(now))
            .order(subscriber_owners::subscriber.asc())
            .select(OwnerRow::as_select())
            .load(c)?;
        let leases: Vec<(Option<String>, i64)> = deliveries::table
            .filter(deliveries::state.eq(crate::store::models::deliveries::DeliveryState::InFlight))
            .group_by(deliveries::lease_owner)
            .select((deliveries::lease_owner, diesel::dsl::count_star()))
            .load(c)?;
        let leases: BTreeMap<String, i64> = leases
            .into_iter()
            .filter_map(|(owner, count)| owner.map(|o| (o, count)))
            .collect();
        Ok(rows
            .into_iter()
            .map(|row| ReplicaView {
                live: row.heartbeat_at >= now - lease_ms,
                presence: row.presence.is_some(),
                owns: owners
                    .iter()
                    .filter(|o| o.owner == row.id)
                    .map(|o| o.subscriber.clone())
                    .collect(),
                leased: leases.get(&row.id).copied().unwrap_or(0),
                id: row.id,
                host: row.host,
                started_at: row.started_at,
                heartbeat_at: row.heartbeat_at,
            })
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SQLITE_MIGRATIONS;
    use diesel::Connection;
    use diesel_migrations::MigrationHarness;
    use proptest::prelude::*;

    const SUBSCRIBERS: [&str; 5] = ["a", "b", "c", "d", "e"];
    const LEASE_MS: i64 = 3_000;

    fn database() -> AnyConnection {
        let mut sqlite = diesel::SqliteConnection::establish(":memory:").unwrap();
        sqlite.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
        AnyConnection::Sqlite(sqlite)
    }

    fn replica(n: usize, now: i64) -> ReplicaRow {
        ReplicaRow {
            id: format!("replica-{n}"),
            host: format!("host-{n}"),
            started_at: now,
            heartbeat_at: now,
            presence: None,
        }
    }

    #[test]
    fn presence_keys_are_positive_and_differ_by_replica() {
        let keys: std::collections::BTreeSet<i64> = (0..1_000)
            .map(|n| presence_key(&format!("replica-{n}")))
            .collect();
        assert_eq!(keys.len(), 1_000);
        assert!(
            keys.iter()
                .all(|key| (0..=i64::from(i32::MAX)).contains(key))
        );
        assert_eq!(presence_key("a"), presence_key("a"));
    }

    fn owners(c: &mut AnyConnection, now: i64) -> Vec<OwnerRow> {
        with_connection!(c, |c| subscriber_owners::table
            .filter(subscriber_owners::expires_at.ge(now))
            .select(OwnerRow::as_select())
            .load(c)
            .unwrap())
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Replica `n` runs a coordination round.
        Round(usize),
        /// Replica `n` shuts down cleanly.
        Leave(usize),
        /// Time passes (a replica that does not run rounds is dead).
        Wait(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0usize..3).prop_map(Step::Round),
            1 => (0usize..3).prop_map(Step::Leave),
            2 => (0i64..5_000).prop_map(Step::Wait),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever replicas joined, died or left, a subscriber never has
        /// two live owners, and once the survivors have run their rounds
        /// for a lease's length, every subscriber has an owner again: no
        /// lease is a dead end.
        #[test]
        fn every_subscriber_gets_one_live_owner(steps in proptest::collection::vec(step(), 1..40)) {
            let mut c = database();
            let mut now: i64 = 1_700_000_000_000;
            for step in steps {
                match step {
                    Step::Round(n) => {
                        coordinate(&mut c, &replica(n, now), &SUBSCRIBERS, now, LEASE_MS, false).unwrap();
                    }
                    Step::Leave(n) => {
                        leave(&mut c, &format!("replica-{n}")).unwrap();
                    }
                    Step::Wait(ms) => now += ms,
                }
                let live = owners(&mut c, now);
                let mut seen = std::collections::BTreeSet::new();
                for owner in &live {
                    prop_assert!(seen.insert(owner.subscriber.clone()), "two owners of {}", owner.subscriber);
                }
            }
            // The last replica standing (say replica 0, started again) runs
            // its rounds; the dead ones' leases run out.
            let survivor = 0;
            for _ in 0..3 {
                now += LEASE_MS;
                coordinate(&mut c, &replica(survivor, now), &SUBSCRIBERS, now, LEASE_MS, false).unwrap();
            }
            let live = owners(&mut c, now);
            prop_assert_eq!(live.len(), SUBSCRIBERS.len());
            let expected = format!("replica-{survivor}");
            prop_assert!(live.iter().all(|o| o.owner == expected));
        }
    }
}
