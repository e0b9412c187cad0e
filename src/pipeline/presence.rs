//! A replica's own PostgreSQL session, beside the pools, for two things the
//! pools cannot do (their connections come and go):
//!
//! - **Presence.** The session holds a session-level advisory lock (see
//!   `store::models::replicas`); the coordinator writes it into this
//!   replica's row only while it is held. When the process dies, the
//!   database ends the session and the lock goes with it, and the other
//!   replicas take this one's subscribers at their next round.
//! - **Wake-ups.** It `LISTEN`s on [`WORK_CHANNEL`], where the journal writer
//!   of any replica `NOTIFY`s each subscriber it recorded pending work for.
//!   The owner wakes its sweeper for that subscriber at once, instead of at
//!   its next tick.
//!
//! A lost session is opened again after a pause; meanwhile the replica holds
//! no presence (its lease alone keeps its subscribers) and picks work up at
//! its sweeper's ticks. The session is plain TCP: where the server demands
//! TLS, or `DB_URL` has options only libpq takes, it stays closed and the
//! coordinator's health says so.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::routing::{Routing, current};
use crate::config::Secret;
use crate::engine::ActorHealth;
use crate::store::models::replicas::{PRESENCE_LOCKS, WORK_CHANNEL, presence_key};
/// Longest wait for the session to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause before opening a lost session again (doubling up to the longest).
const FIRST_PAUSE: Duration = Duration::from_millis(500);
const LONGEST_PAUSE: Duration = Duration::from_secs(10);
/// Wake-ups received and not yet handled, at most.
const MOST_WAITING_WAKE_UPS: usize = 1_024;

/// Whether this replica's presence lock is held right now.
#[derive(Debug, Clone, Default)]
pub struct Presence {
    held: Arc<AtomicBool>,
    key: i64,
}

impl Presence {
    /// The lock's second key while it is held.
    pub fn held_key(&self) -> Option<i64> {
        self.held.load(Ordering::Acquire).then_some(self.key)
    }

    /// PostgreSQL (a URL): the session of replica `replica`, opened and kept
    /// open for the life of the process. Must run inside the actix system.
    pub fn open(
        url: Option<Secret<String>>,
        replica: &str,
        routing: &Routing,
        health: &Arc<ActorHealth>,
    ) -> Option<Self> {
        let url = url?;
        Some(Self::start(
            url.expose(),
            presence_key(replica),
            routing.clone(),
            health.clone(),
        ))
    }

    fn start(url: &str, key: i64, routing: Routing, health: Arc<ActorHealth>) -> Self {
        let presence = Presence {
            held: Arc::default(),
            key,
        };
        let held = presence.held.clone();
        let mut config: tokio_postgres::Config = match url.parse() {
            Ok(config) => config,
            Err(error) => {
                // libpq takes options this client does not (sslmode=verify-full,
                // sslrootcert, …): said once, and the lease does the work.
                let why = format!(
                    "presence session off: DB_URL has options it cannot take ({error}); \
                     replicas hand over on the lease and claim on the sweeper's tick"
                );
                health.record_error(why.clone());
                log::warn!("presence: {why}");
                return presence;
            }
        };
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .application_name("alvares-presence");
        actix::spawn(async move {
            let mut pause = FIRST_PAUSE;
            loop {
                match hold(&config, key, &held, &routing).await {
                    Ok(()) => pause = FIRST_PAUSE,
                    Err(error) => {
                        health.record_error(format!("presence session: {error}"));
                        log::warn!(
                            "presence: the database session for presence and wake-ups failed \
                             ({error}); opening it again in {}ms",
                            pause.as_millis()
                        );
                    }
                }
                held.store(false, Ordering::Release);
                actix::clock::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        });
        presence
    }
}

/// Opens the session, takes the lock, listens, and wakes the sweeper for
/// each announced subscriber until the session ends.
async fn hold(
    config: &tokio_postgres::Config,
    key: i64,
    held: &AtomicBool,
    routing: &Routing,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    // The connection is driven here: its messages are the notifications.
    // Bounded: a wake-up that does not fit is dropped (the tick finds the
    // work), so a flood of notifications cannot grow memory.
    let (sender, mut notifications) = tokio::sync::mpsc::channel(MOST_WAITING_WAKE_UPS);
    let driving = actix::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(notification)) => {
                    if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) =
                        sender.try_send(notification)
                    {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    });
    let key = i32::try_from(key).expect("presence keys are 31 bits");
    let row = client
        .query_one(
            "SELECT pg_try_advisory_lock($1, $2)",
            &[&PRESENCE_LOCKS, &key],
        )
        .await?;
    let locked: bool = row.get(0);
    client
        .batch_execute(&format!("LISTEN {WORK_CHANNEL}"))
        .await?;
    if locked {
        held.store(true, Ordering::Release);
        log::info!("presence: holding this replica's presence lock and listening for work");
    } else {
        // Another session holds this key (a replica whose id hashes the
        // same): this one stays on its lease alone.
        log::warn!("presence: the presence lock is taken by another session; relying on the lease");
    }
    while let Some(notification) = notifications.recv().await {
        if notification.channel() == WORK_CHANNEL {
            wake(routing, notification.payload());
        }
    }
    drop(client);
    match driving.await {
        Ok(result) => result,
        // The driver task was cancelled: the system is stopping.
        Err(_) => Ok(()),
    }
}

/// Another replica (or this one) recorded work for `subscriber`: claimed at
/// once if it is delivered here.
fn wake(routing: &Routing, subscriber: &str) {
    if let Some(route) = current(routing).route(subscriber)
        && route.is_active_here()
    {
        route.slots.work_waits();
    }
}
