//! What each command writes, in the writer's transaction, through the
//! model files of `store::models`.

use std::collections::HashMap;
use std::sync::Arc;

use super::{
    Append, AppendOutcome, Claimed, Command, Coordinated, IDEMPOTENCY_WINDOW, PlannedDelivery,
    Ticket,
};
use crate::domain::plan::{self, Destination, PlannedDestination};
use crate::store::AnyConnection;
use crate::store::models::deliveries::{
    self, ClaimedRow, DeliveryState, NewDelivery, OutcomeWrite,
};
use crate::store::models::events::{self, EventRow, NewEvent};
use crate::store::models::{failures, once_per, replicas, silences, subscriber_settings};

/// What one command wrote, to be answered after the commit.
pub(super) enum Written {
    Appended(Vec<AppendOutcome>),
    Stored,
    Claimed(Vec<Claimed>),
    Count(usize),
    Coordinated(Coordinated),
    Answer(bool),
    Done,
}

/// Writes one of the batch's ordered commands: a claim, an admin change,
/// coordination.
pub(super) fn run_other(
    c: &mut AnyConnection,
    command: &Command,
    owner: &str,
    now: i64,
    lease_until: i64,
) -> diesel::QueryResult<Written> {
    Ok(match command {
        Command::Claim {
            subscriber, limit, ..
        } => Written::Claimed(claim(c, subscriber, owner, now, lease_until, *limit)?),
        Command::SaveSwitch(setting, _) => {
            subscriber_settings::save(c, setting)?;
            Written::Done
        }
        Command::Replay(target, _) => {
            let replayed = deliveries::replay(c, target, now)?;
            if let deliveries::ReplayTarget::Subscriber(subscriber) = target
                && replayed > 0
            {
                replicas::announce_work(c, &[subscriber.as_str()])?;
            }
            Written::Count(replayed)
        }
        Command::Coordinate(round, _) => {
            let coordination = replicas::coordinate(
                c,
                &round.me,
                &round.subscribers,
                now,
                round.lease_ms,
                round.single_node,
            )?;
            Written::Coordinated(Coordinated {
                coordination,
                switches: subscriber_settings::all(c)?,
                silences: silences::not_ended(c, now)?,
            })
        }
        Command::SaveSilence(row, _) => {
            silences::insert(c, row)?;
            Written::Done
        }
        Command::StoreFailure(row, _) => {
            failures::insert(c, row)?;
            Written::Done
        }
        Command::ExpireSilence { id, by, .. } => Written::Answer(silences::expire(c, id, now, by)?),
        Command::Leave(_) => Written::Count(replicas::leave(c, owner)?),
        Command::Flush(_) => Written::Done,
        Command::PutInLine(subscriber) => {
            Written::Count(deliveries::put_in_line(c, subscriber, now)?)
        }
        // Written with their kind, not here.
        Command::Append(..)
        | Command::StoreDeployment(..)
        | Command::Outcome(_)
        | Command::Release(_) => Written::Stored,
    })
}

/// Writes outcomes, each fenced by its lease; a stale one (another process
/// took the delivery over) is ignored with a log line.
pub(super) fn write_outcomes(
    c: &mut AnyConnection,
    outcomes: &[OutcomeWrite],
    now: i64,
) -> diesel::QueryResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let written = deliveries::write_outcomes(c, outcomes, now)?;
    if written.len() < outcomes.len() {
        for write in outcomes.iter().filter(|w| !written.contains(&w.id)) {
            log::warn!(
                "journal: stale outcome for delivery {} (lease {} was lost); ignored",
                write.id,
                write.lease_epoch
            );
        }
    }
    Ok(())
}

/// Inserts new events and their deliveries; answers duplicates of an
/// idempotency key with the original event.
pub(super) fn append_events(
    connection: &mut AnyConnection,
    owner: &str,
    now: i64,
    lease_until: i64,
    appends: &[&Append],
) -> diesel::QueryResult<Vec<AppendOutcome>> {
    if appends.is_empty() {
        return Ok(Vec::new());
    }
    // Keys seen before (within the window), and in this batch.
    let keys: Vec<String> = appends
        .iter()
        .filter_map(|append| append.event.idempotency_key.clone())
        .collect();
    let window_start = now - IDEMPOTENCY_WINDOW.as_millis() as i64;
    let mut known = events::keyed_since(connection, &keys, window_start)?;
    let mut outcomes: Vec<Option<AppendOutcome>> = Vec::with_capacity(appends.len());
    // Events as inserted: the planned one, or a copy recording duplicates.
    let mut new_events: Vec<std::borrow::Cow<'_, NewEvent>> = Vec::with_capacity(appends.len());
    let mut new_deliveries = Vec::new();
    // Parallel to `new_deliveries`: which append and which plan each is.
    let mut planned: Vec<(usize, &PlannedDelivery, Arc<Vec<Destination>>)> = Vec::new();
    let mut dropped: Vec<Vec<&'static str>> = vec![Vec::new(); appends.len()];
    for (index, append) in appends.iter().enumerate() {
        if let Some(key) = &append.event.idempotency_key {
            if let Some((original_id, hash)) = known.get(key) {
                outcomes.push(Some(if *hash == append.event.body_hash {
                    AppendOutcome::Duplicate {
                        original_id: original_id.clone(),
                    }
                } else {
                    AppendOutcome::KeyReused
                }));
                continue;
            }
            known.insert(
                key.clone(),
                (append.event.id.clone(), append.event.body_hash.clone()),
            );
        }
        outcomes.push(None);
        let once_per::Duplicates {
            subscribers: mut duplicates,
            routes,
        } = once_per::duplicates(connection, &append.event.id, &append.once, now)?;
        // A route's duplicate takes out what the route added; a delivery
        // left with nowhere to go is skipped as the duplicate.
        let names: Vec<&str> = routes.iter().map(|(route, _)| route.as_str()).collect();
        let mut destinations: Vec<Vec<PlannedDestination>> = Vec::new();
        for planned in &append.deliveries {
            let mut kept = planned.destinations.clone();
            if plan::drop_duplicated(&mut kept, &names)
                && kept.is_empty()
                && !duplicates.iter().any(|(s, _)| *s == planned.subscriber)
            {
                duplicates.push((planned.subscriber, routes[0].1.clone()));
            }
            destinations.push(kept);
        }
        if duplicates.is_empty() {
            new_events.push(std::borrow::Cow::Borrowed(&append.event));
        } else {
            let mut event = append.event.clone();
            let mut skipped: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&event.skipped).unwrap_or_default();
            for (subscriber, first) in &duplicates {
                skipped.insert((*subscriber).into(), format!("duplicate of {first}").into());
            }
            event.skipped = serde_json::Value::Object(skipped).to_string();
            new_events.push(std::borrow::Cow::Owned(event));
        }
        for silence in &append.silenced_by {
            silences::count_silenced(connection, silence, 1)?;
        }
        for (plan, kept) in append.deliveries.iter().zip(destinations) {
            if duplicates
                .iter()
                .any(|(subscriber, _)| *subscriber == plan.subscriber)
            {
                dropped[index].push(plan.subscriber);
                continue;
            }
            let kept: Vec<Destination> = kept.into_iter().map(|d| d.destination).collect();
            new_deliveries.push(NewDelivery {
                destinations: Some(plan::stored(&kept)),
                event_id: append.event.id.clone(),
                subscriber: plan.subscriber.to_owned(),
                state: if plan.push {
                    DeliveryState::InFlight
                } else {
                    DeliveryState::Pending
                },
                attempts: 0,
                lease_epoch: i64::from(plan.push),
                lease_owner: plan.push.then(|| owner.to_owned()),
                // A pending delivery is due since its event was accepted:
                // its place in line (see `deliveries::put_in_line`).
                due_at: if plan.push {
                    lease_until
                } else {
                    append.event.received_at
                },
                progress: String::new(),
                outcome: None,
                last_error: None,
                updated_at: now,
            });
            planned.push((index, plan, Arc::new(kept)));
        }
    }
    let new_events: Vec<&NewEvent> = new_events.iter().map(|event| event.as_ref()).collect();
    events::insert_all(connection, &new_events)?;
    let ids = deliveries::insert_all_returning_ids(connection, &new_deliveries)?;
    // Pending work (another replica's subscriber, or a full one's) wakes
    // its owner as soon as it is committed (PostgreSQL: SQLite has one).
    if matches!(connection, AnyConnection::Postgresql(_)) {
        let mut waiting: Vec<&str> = planned
            .iter()
            .filter(|(_, plan, _)| !plan.push)
            .map(|(_, plan, _)| plan.subscriber)
            .collect();
        waiting.sort_unstable();
        waiting.dedup();
        replicas::announce_work(connection, &waiting)?;
    } // Tickets for the pushed deliveries, by append.
    let mut pushed: Vec<Vec<Ticket>> = vec![Vec::new(); appends.len()];
    for ((index, plan, destinations), id) in planned.into_iter().zip(ids) {
        if plan.push {
            pushed[index].push(Ticket {
                delivery_id: id,
                subscriber: plan.subscriber,
                lease_epoch: 1,
                attempts: 0,
                progress: String::new(),
                deferred_since: None,
                destinations: Some(destinations),
            });
        }
    }
    Ok(outcomes
        .into_iter()
        .zip(pushed)
        .zip(dropped)
        .map(|((outcome, pushed), dropped)| {
            outcome.unwrap_or(AppendOutcome::Recorded { pushed, dropped })
        })
        .collect())
}

fn claim(
    connection: &mut AnyConnection,
    subscriber: &'static str,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> diesel::QueryResult<Vec<Claimed>> {
    let rows: Vec<ClaimedRow> = deliveries::claim_due(
        connection,
        subscriber,
        owner,
        now,
        lease_until,
        limit as i64,
    )?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut event_ids: Vec<String> = rows.iter().map(|r| r.event_id.clone()).collect();
    event_ids.sort();
    event_ids.dedup();
    let bodies: HashMap<String, Arc<EventRow>> = events::find_many(connection, &event_ids)?
        .into_iter()
        .map(|row| (row.id.clone(), Arc::new(row)))
        .collect();
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .filter_map(|row| {
            let event = bodies.get(&row.event_id)?.clone();
            Some(Claimed {
                ticket: Ticket {
                    delivery_id: row.id,
                    subscriber,
                    lease_epoch: row.lease_epoch,
                    attempts: row.attempts,
                    progress: row.progress,
                    deferred_since: row.deferred_since,
                    destinations: plan::read_stored(row.destinations.as_deref()).map(Arc::new),
                },
                event,
            })
        })
        .collect();
    // Oldest event first.
    claimed.sort_by(|a, b| a.event.id.cmp(&b.event.id));
    Ok(claimed)
}
