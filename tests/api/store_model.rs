//! The journal's model, driven directly on both backends: claims, leases
//! and their fencing, release, replay, pruning, idempotency under racing
//! writers, and a refused member of a shared batch failing alone.

use std::sync::Arc;
use std::time::Duration;

use alvares::clock::{Clock, ManualClock, SharedClock};
use alvares::config::Settings;
use alvares::engine::{ActorHealth, Role};
use alvares::store::journal::{
    Append, AppendOutcome, Journal, JournalError, JournalSettings, OnceClaim, PlannedDelivery,
    Ticket, prune_finished,
};
use alvares::store::models::deliveries::{
    self, DeliveryRow, DeliveryState, OutcomeWrite, ReplayTarget,
};
use alvares::store::models::deployments::{self, DeploymentRow};
use alvares::store::models::events::NewEvent;
use alvares::store::{DbPool, Store};
use futures_util::future::join_all;

use crate::helpers::TestDatabase;
use crate::on_both_backends;

const SUBSCRIBER: &str = "test-subscriber";
const LEASE: Duration = Duration::from_secs(3);

on_both_backends!(
    claims_take_at_most_what_is_asked_and_never_a_row_twice,
    a_late_outcome_after_a_takeover_is_ignored,
    release_and_replay_move_a_delivery_back_without_charging_it,
    pruning_keeps_dead_letters_and_the_history,
    racing_writers_with_one_idempotency_key_record_one_event,
    racing_writers_with_one_once_per_key_deliver_once,
    a_refused_member_of_a_batch_fails_alone,
);

struct Model {
    store: Store,
    health: Arc<ActorHealth>,
}

impl Model {
    fn open(database: &TestDatabase) -> Self {
        let settings =
            Settings::from_map([("DB_URL", database.url()), ("DB_POOL_SIZE", "4".into())])
                .expect("settings");
        Model {
            store: Store::open(&settings.store).expect("the store opens"),
            health: ActorHealth::new("journal-writer", Role::Journal, ManualClock::new()),
        }
    }

    /// A journal writer (one "process") on its own clock.
    fn journal(&self, clock: SharedClock) -> Journal {
        Journal::start(
            self.store.pool.clone(),
            self.store.backend,
            self.store.sqlite_file.clone(),
            None,
            JournalSettings {
                lease: LEASE,
                retention: Duration::from_secs(86_400),
                prune_every: Duration::from_secs(3600),
            },
            self.health.clone(),
            clock,
        )
        .expect("the journal starts")
        .0
    }

    fn pool(&self) -> &DbPool {
        &self.store.pool
    }

    fn rows(&self, event_id: &str) -> Vec<DeliveryRow> {
        let mut connection = self.pool().get().unwrap();
        deliveries::for_event(&mut connection, event_id).unwrap()
    }
}

fn event(id: &str, received_at: i64, key: Option<(&str, &str)>) -> NewEvent {
    NewEvent {
        id: id.to_owned(),
        kind: "recommendation".into(),
        received_at,
        body: r#"{"message":"m","slackChannels":[]}"#.into(),
        skipped: "{}".into(),
        idempotency_key: key.map(|(k, _)| k.to_owned()),
        body_hash: key.map(|(_, h)| h.to_owned()),
        application: None,
        cluster: None,
    }
}

fn pending(id: &str, at: i64) -> Append {
    Append {
        event: event(id, at, None),
        deliveries: vec![PlannedDelivery {
            subscriber: SUBSCRIBER,
            destinations: Vec::new(),
            push: false,
        }],
        once: Vec::new(),
        silenced_by: Vec::new(),
    }
}

fn id(n: usize) -> String {
    format!("01970000-0000-7000-8000-{n:012}")
}

fn outcome(ticket: &Ticket, state: DeliveryState, text: &str) -> OutcomeWrite {
    OutcomeWrite {
        id: ticket.delivery_id,
        lease_epoch: ticket.lease_epoch,
        state,
        attempts: ticket.attempts + 1,
        due_at: 0,
        progress: String::new(),
        outcome: Some(text.to_owned()),
        last_error: None,
        deferred_since: None,
    }
}

async fn append_many(journal: &Journal, count: usize, at: i64) {
    for n in 0..count {
        let outcome = journal.append(pending(&id(n), at)).await.unwrap();
        assert!(matches!(outcome, AppendOutcome::Recorded { .. }));
    }
}

async fn claims_take_at_most_what_is_asked_and_never_a_row_twice(database: Arc<TestDatabase>) {
    let model = Model::open(&database);
    let clock = ManualClock::new();
    let journal = model.journal(clock.clone());
    append_many(&journal, 20, clock.now_ms()).await;
    let mut sizes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let claimed = journal.claim(SUBSCRIBER, 7).await.unwrap();
        sizes.push(claimed.len());
        for item in claimed {
            assert_eq!(item.ticket.lease_epoch, 1);
            assert!(seen.insert(item.ticket.delivery_id), "claimed twice");
        }
    }
    assert_eq!(sizes, [7, 7, 6, 0]);
    if !database.is_postgres() {
        // SQLite is single-node: one writer claims.
        return;
    }

    // Two writers ("replicas") claiming at once share the rows: none twice,
    // none beyond what each asked for.
    let other_events = 60;
    for n in 100..100 + other_events {
        journal
            .append(pending(&id(n), clock.now_ms()))
            .await
            .unwrap();
    }
    let other = model.journal(clock.clone());
    let mut claimed_ids = Vec::new();
    for _ in 0..8 {
        let (a, b) = futures_util::join!(journal.claim(SUBSCRIBER, 5), other.claim(SUBSCRIBER, 5));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.len() <= 5 && b.len() <= 5);
        claimed_ids.extend(a.into_iter().chain(b).map(|c| c.ticket.delivery_id));
    }
    let unique: std::collections::BTreeSet<i64> = claimed_ids.iter().copied().collect();
    assert_eq!(unique.len(), claimed_ids.len(), "a row was claimed twice");
    // 60 rows, 8 rounds of two claims of 5: all of them, none twice.
    assert_eq!(claimed_ids.len(), other_events);
}

async fn a_late_outcome_after_a_takeover_is_ignored(database: Arc<TestDatabase>) {
    let model = Model::open(&database);
    let (first_clock, second_clock) = (ManualClock::new(), ManualClock::new());
    let first = model.journal(first_clock.clone());
    append_many(&first, 1, first_clock.now_ms()).await;
    let mine = first.claim(SUBSCRIBER, 1).await.unwrap().remove(0).ticket;
    let second = model.journal(second_clock.clone());
    if database.is_postgres() {
        // Another replica: the lease holds until it runs out (the first
        // process's clock stands still, so it renews nothing new).
        assert!(
            second.claim(SUBSCRIBER, 1).await.unwrap().is_empty(),
            "still leased"
        );
        second_clock.advance(LEASE + Duration::from_secs(1));
    }
    // (On SQLite a new process takes over whatever the last one held.)
    let taken = second.claim(SUBSCRIBER, 1).await.unwrap().remove(0).ticket;
    assert_eq!(taken.delivery_id, mine.delivery_id);
    assert_eq!(taken.lease_epoch, mine.lease_epoch + 1);
    // The first process wakes up and reports: fenced off.
    first.record_outcome(outcome(&mine, DeliveryState::Delivered, "late"));
    first.flush().await.unwrap();
    let row = model.rows(&id(0)).remove(0);
    assert_eq!((row.state, row.lease_epoch), (DeliveryState::InFlight, 2));
    second.record_outcome(outcome(&taken, DeliveryState::Delivered, "by the second"));
    second.flush().await.unwrap();
    let row = model.rows(&id(0)).remove(0);
    assert_eq!(row.state, DeliveryState::Delivered);
    assert_eq!(row.outcome.as_deref(), Some("by the second"));
}

async fn release_and_replay_move_a_delivery_back_without_charging_it(database: Arc<TestDatabase>) {
    let model = Model::open(&database);
    let clock = ManualClock::new();
    let journal = model.journal(clock.clone());
    append_many(&journal, 2, clock.now_ms()).await;
    let ticket = journal.claim(SUBSCRIBER, 1).await.unwrap().remove(0).ticket;
    // Due again in a second (well within the other claim's lease).
    let due = clock.now_ms() + 1000;
    journal.release(&ticket, due);
    journal.flush().await.unwrap();
    let row = model.rows(&id(0)).remove(0);
    assert_eq!(
        (row.state, row.attempts, row.due_at),
        (DeliveryState::Pending, 0, due)
    );
    // Not due yet: the other one is claimed; then, due, this one again.
    let next = journal.claim(SUBSCRIBER, 2).await.unwrap();
    assert_eq!(next.len(), 1);
    clock.advance(Duration::from_secs(1));
    let again = journal.claim(SUBSCRIBER, 1).await.unwrap().remove(0).ticket;
    assert_eq!(again.delivery_id, ticket.delivery_id);
    assert_eq!(again.lease_epoch, ticket.lease_epoch + 1);

    // A dead letter comes back with a fresh schedule; a live one does not.
    let mut dead = outcome(&again, DeliveryState::Failed, "x");
    dead.attempts = 9;
    dead.last_error = Some("gave up".into());
    journal.record_outcome(dead);
    let replayed = journal
        .replay(ReplayTarget::Delivery(again.delivery_id))
        .await
        .unwrap();
    assert_eq!(replayed, 1);
    let row = model.rows(&id(0)).remove(0);
    assert_eq!((row.state, row.attempts), (DeliveryState::Pending, 0));
    assert_eq!(
        journal
            .replay(ReplayTarget::Subscriber(SUBSCRIBER.into()))
            .await
            .unwrap(),
        0,
        "nothing else is dead"
    );
}

async fn pruning_keeps_dead_letters_and_the_history(database: Arc<TestDatabase>) {
    let model = Model::open(&database);
    let clock = ManualClock::new();
    let journal = model.journal(clock.clone());
    append_many(&journal, 2, clock.now_ms()).await;
    let claimed = journal.claim(SUBSCRIBER, 2).await.unwrap();
    journal.record_outcome(outcome(&claimed[0].ticket, DeliveryState::Delivered, "ok"));
    journal.record_outcome(outcome(&claimed[1].ticket, DeliveryState::Failed, "no"));
    journal
        .store_deployment(DeploymentRow {
            id: id(7),
            received_at: clock.now_ms(),
            application: "a".into(),
            cluster: "active".into(),
            version: String::new(),
            image: String::new(),
            team: String::new(),
            importance: "low".into(),
            application_url: String::new(),
            monitor_url: String::new(),
            about_url: String::new(),
            friendly_name: "a".into(),
            body: "{}".into(),
        })
        .await
        .unwrap();
    journal.flush().await.unwrap();
    let mut connection = model.pool().get().unwrap();
    // Not old enough yet.
    let now = clock.now_ms();
    let pruned = prune_finished(&mut connection, now, Duration::from_secs(3600)).unwrap();
    assert_eq!(pruned.deliveries, 0);
    let later = now + 2 * 3_600_000;
    let pruned = prune_finished(&mut connection, later, Duration::from_secs(3600)).unwrap();
    assert_eq!((pruned.deliveries, pruned.events), (1, 1));
    // Claims come oldest event first.
    assert_eq!(claimed[0].event.id, id(0));
    assert!(model.rows(&id(0)).is_empty(), "the delivered one is gone");
    assert_eq!(
        model.rows(&id(1))[0].state,
        DeliveryState::Failed,
        "kept for replay"
    );
    assert!(
        deployments::find(&mut connection, &id(7))
            .unwrap()
            .is_some()
    );
}

async fn racing_writers_with_one_idempotency_key_record_one_event(database: Arc<TestDatabase>) {
    let model = Model::open(&database);
    let clock = ManualClock::new();
    let (a, b) = (model.journal(clock.clone()), model.journal(clock.clone()));
    let now = clock.now_ms();
    let keyed = |n| Append {
        event: event(&id(n), now, Some(("deploy-42", "hash-1"))),
        deliveries: vec![PlannedDelivery {
            subscriber: SUBSCRIBER,
            destinations: Vec::new(),
            push: false,
        }],
        once: Vec::new(),
        silenced_by: Vec::new(),
    };
    let (first, second) = futures_util::join!(a.append(keyed(1)), b.append(keyed(2)));
    let outcomes = [first.unwrap(), second.unwrap()];
    let recorded: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, AppendOutcome::Recorded { .. }))
        .collect();
    assert_eq!(recorded.len(), 1, "{outcomes:?}");
    let original = if model.rows(&id(1)).is_empty() {
        id(2)
    } else {
        id(1)
    };
    assert!(
        outcomes.iter().any(
            |o| matches!(o, AppendOutcome::Duplicate { original_id } if *original_id == original)
        ),
        "{outcomes:?}"
    );
    // The same key with another body is refused.
    let mut reused = keyed(3);
    reused.event.body_hash = Some("hash-2".into());
    assert!(matches!(
        a.append(reused).await.unwrap(),
        AppendOutcome::KeyReused
    ));
}

/// Two replicas record events with one `once_per` key at once: exactly
/// one gets the delivery, the other's is skipped as its duplicate, and
/// after the window the key is free again.
async fn racing_writers_with_one_once_per_key_deliver_once(database: Arc<TestDatabase>) {
    let model = Model::open(&database);
    let clock = ManualClock::new();
    let (a, b) = (model.journal(clock.clone()), model.journal(clock.clone()));
    let now = clock.now_ms();
    let once = |n| {
        let mut append = pending(&id(n), now);
        append.once = vec![OnceClaim {
            key: "route prod: kth-azure-app\u{1f}2.0.11".into(),
            window_ms: 3_600_000,
            subscribers: vec![SUBSCRIBER],
            route: None,
        }];
        append
    };
    let (first, second) = futures_util::join!(a.append(once(1)), b.append(once(2)));
    let outcomes = [first.unwrap(), second.unwrap()];
    let dropped: Vec<&Vec<&str>> = outcomes
        .iter()
        .map(|o| match o {
            AppendOutcome::Recorded { dropped, .. } => dropped,
            other => panic!("not recorded: {other:?}"),
        })
        .collect();
    assert_eq!(
        dropped.iter().filter(|d| d.is_empty()).count(),
        1,
        "exactly one is first: {outcomes:?}"
    );
    let (winner, loser) = if model.rows(&id(1)).is_empty() {
        (id(2), id(1))
    } else {
        (id(1), id(2))
    };
    assert_eq!(model.rows(&winner).len(), 1);
    assert!(model.rows(&loser).is_empty());
    let mut connection = model.pool().get().unwrap();
    let skipped = alvares::store::models::events::find(&mut connection, &loser)
        .unwrap()
        .unwrap()
        .skipped;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&skipped).unwrap(),
        serde_json::json!({ SUBSCRIBER: format!("duplicate of {winner}") })
    );
    // Within the window: still a duplicate. After it: delivered again.
    clock.advance(Duration::from_secs(3599));
    let mut later = once(3);
    later.event.received_at = clock.now_ms();
    assert!(matches!(
        a.append(later).await.unwrap(),
        AppendOutcome::Recorded { dropped, .. } if dropped == [SUBSCRIBER]
    ));
    clock.advance(Duration::from_secs(2));
    assert!(matches!(
        a.append(once(4)).await.unwrap(),
        AppendOutcome::Recorded { dropped, .. } if dropped.is_empty()
    ));
    assert_eq!(model.rows(&id(4)).len(), 1);
}

async fn a_refused_member_of_a_batch_fails_alone(database: Arc<TestDatabase>) {
    let model = Model::open(&database);
    let clock = ManualClock::new();
    let journal = model.journal(clock.clone());
    let now = clock.now_ms();
    append_many(&journal, 1, now).await;
    let failures_before = model
        .health
        .failed
        .load(std::sync::atomic::Ordering::SeqCst);
    // One member repeats an event id that exists (the database refuses it);
    // the others share its batch.
    let mut batch = vec![journal.append(pending(&id(0), now))];
    for n in 1..=10 {
        batch.push(journal.append(pending(&id(n), now)));
    }
    let results = join_all(batch).await;
    assert!(
        matches!(&results[0], Err(JournalError::Storage(_))),
        "{:?}",
        results[0]
    );
    for (n, result) in results.iter().enumerate().skip(1) {
        assert!(
            matches!(result, Ok(AppendOutcome::Recorded { .. })),
            "member {n}: {result:?}"
        );
        assert_eq!(model.rows(&id(n)).len(), 1);
    }
    assert!(
        model
            .health
            .failed
            .load(std::sync::atomic::Ordering::SeqCst)
            > failures_before
    );
    // Nothing lingers to poison the next batch.
    assert!(matches!(
        journal.append(pending(&id(11), now)).await.unwrap(),
        AppendOutcome::Recorded { .. }
    ));
    assert!(model.store.pool.get().is_ok());
    if database.is_postgres() {
        // PostgreSQL cannot store NUL in text: the row is stored escaped,
        // with a log line, and its batch mates are unharmed.
        let row = |n: usize, application: &str| DeploymentRow {
            id: id(n),
            received_at: now,
            application: application.into(),
            cluster: "active".into(),
            version: String::new(),
            image: String::new(),
            team: String::new(),
            importance: "low".into(),
            application_url: String::new(),
            monitor_url: String::new(),
            about_url: String::new(),
            friendly_name: "f".into(),
            body: "{}".into(),
        };
        let (bad, good) = futures_util::join!(
            journal.store_deployment(row(20, "nul\0here")),
            journal.store_deployment(row(21, "fine"))
        );
        bad.unwrap();
        good.unwrap();
        let mut connection = model.pool().get().unwrap();
        let stored = deployments::find(&mut connection, &id(20))
            .unwrap()
            .unwrap();
        assert_eq!(stored.application, "nul\\u0000here");
        assert!(
            deployments::find(&mut connection, &id(21))
                .unwrap()
                .is_some()
        );
    }
}
