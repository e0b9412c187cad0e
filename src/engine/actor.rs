//! The one actor type that runs every subscriber.
//!
//! Each subscriber gets its own `SubscriberActor<S>` on its own thread,
//! under an actix `Supervisor`. It receives deliveries this process has
//! leased in the journal (at most its slots' worth), runs up to
//! `concurrency` at once (one slow call does not hold up the next event),
//! and records each attempt's outcome in the journal through the delivery
//! state machine ([`super::retry::decide`]). A panic or a fatal error stops
//! the actor and the supervisor restarts it; deliveries that were
//! interrupted are queued again, except the one that caused the stop.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Supervised, WrapFuture,
};
use futures_util::FutureExt;

use super::attempt::{AttemptResult, judge};
use super::circuit::{Admission, Change, Circuit};
use super::health::ActorHealth;
use super::restart::RestartBackoff;
use super::retry::{AttemptOutcome, Decision, NextState, decide, in_line, random_roll};
use super::subscriber::{DeliveryContext, DeliveryOutcome, Input, Progress, Subscriber, Work};
use crate::domain::{EventId, PublishedEvent};
use crate::error::DeliveryError;
use crate::logging::LogContext;
use crate::store::journal::Ticket;
use crate::store::models::deliveries::{DeliveryState, OutcomeWrite, storable};

pub use super::parts::{ActorLimits, ActorParts, DeadLettered, Deliver, Drain};

/// One leased delivery held by this actor.
struct Job {
    ticket: Ticket,
    /// When the current attempt started.
    started: Option<Instant>,
    event: Arc<PublishedEvent>,
    progress: Rc<Progress>,
    /// Whether this attempt is the half-open circuit's probe.
    probe: bool,
}

pub struct SubscriberActor<S: Subscriber> {
    /// The subscriber's id (a webhook's is not a constant).
    id: &'static str,
    subscriber: Arc<S>,
    parts: ActorParts,
    context: Rc<DeliveryContext>,
    circuit: Circuit,
    waiting: VecDeque<Job>,
    running: HashMap<u64, Job>,
    next_job: u64,
    /// Why the actor last stopped, reported with the restart.
    stop_cause: Option<String>,
    /// Recent restarts, and how long the next one waits.
    backoff: RestartBackoff,
    /// No work starts before this (restart backoff).
    resume_at: Option<Instant>,
    /// Shutting down: nothing new starts.
    draining: bool,
    /// Answers the shutdown once the running deliveries are done.
    drain_reply: Option<tokio::sync::oneshot::Sender<usize>>,
}

impl<S: Subscriber> SubscriberActor<S> {
    pub fn new(subscriber: Arc<S>, parts: ActorParts) -> Self {
        let limits = parts.limits;
        let deadline = subscriber.delivery_deadline(limits.timeout);
        parts.health.set_deadline(deadline);
        SubscriberActor {
            id: subscriber.id(),
            context: Rc::new(new_context(&parts)),
            circuit: Circuit::new(
                limits.circuit_failures,
                limits.circuit_cooldown,
                deadline + Duration::from_secs(5),
            ),
            subscriber,
            parts,
            waiting: VecDeque::new(),
            running: HashMap::new(),
            next_job: 0,
            stop_cause: None,
            backoff: RestartBackoff::default(),
            resume_at: None,
            draining: false,
            drain_reply: None,
        }
    }

    fn now(&self) -> Instant {
        self.parts.clock.instant()
    }

    /// Gives every delivery still held back to the journal, due now, and
    /// answers the shutdown. (A late outcome of one of them is fenced off.)
    fn finish_draining(&mut self) {
        let Some(reply) = self.drain_reply.take() else {
            return;
        };
        let now = self.parts.clock.now_ms();
        let held: Vec<Job> = self
            .waiting
            .drain(..)
            .chain(self.running.drain().map(|(_, job)| job))
            .collect();
        for job in &held {
            self.parts.journal.release(&job.ticket, now);
        }
        self.parts.health.attempts_ended();
        self.parts.slots.give_back(held.len());
        self.update_gauges();
        let _ = reply.send(held.len());
    }

    fn update_gauges(&self) {
        ActorHealth::set_gauge(&self.parts.health.queued, self.waiting.len());
        ActorHealth::set_gauge(&self.parts.health.in_flight, self.running.len());
        self.parts.health.set_circuit(&self.circuit);
    }

    /// Records what the state machine decided for a job, and frees its slot.
    fn record(&mut self, job: &Job, decision: Decision) {
        let state = match decision.state {
            NextState::Delivered => DeliveryState::Delivered,
            NextState::Skipped => DeliveryState::Skipped,
            NextState::Retrying => DeliveryState::Retrying,
            NextState::Failed => DeliveryState::Failed,
        };
        self.parts.journal.record_outcome(OutcomeWrite {
            id: job.ticket.delivery_id,
            lease_epoch: job.ticket.lease_epoch,
            state,
            attempts: decision.attempts,
            due_at: decision.due_at,
            progress: job.progress.to_text(),
            outcome: decision.outcome.as_deref().map(storable),
            last_error: decision.last_error.as_deref().map(storable),
            deferred_since: decision.deferred_since,
        });
        self.parts.slots.give_back(1);
        if state == DeliveryState::Failed
            && let Some(alerts) = &self.parts.dead_letters
        {
            let told = alerts.try_send(DeadLettered {
                subscriber: self.id,
                event_id: job.event.id,
                error: decision.last_error.unwrap_or_default(),
            });
            if told.is_err() {
                log::warn!(
                    "{}: a dead letter could not be announced (alerts are busy)",
                    self.id
                );
            }
        }
    }

    /// Gives a job back to the journal, no attempt charged (its turn has
    /// not come): due after `wait` (a rate limit), or at its place in line
    /// when `wait` is `None` (the circuit is not closed) — unless it has
    /// been deferred for too long, when it becomes a dead letter.
    fn defer(&mut self, job: Job, wait: Option<Duration>, reason: String) {
        let event_id = job.event.id;
        let reason = self.parts.redactor.redact(&reason);
        let decision = decide(
            &self.parts.policy,
            job.ticket.attempts,
            job.ticket.deferred_since,
            self.parts.clock.now_ms(),
            AttemptOutcome::Deferred {
                reason: reason.clone(),
                wait: wait.unwrap_or_default(),
            },
            0.5,
        );
        let decision = match wait {
            Some(_) => decision,
            None => in_line(decision, job.event.received_at),
        };
        if decision.state == NextState::Failed {
            ActorHealth::count(&self.parts.health.failed);
            let error = decision.last_error.clone().unwrap_or_default();
            self.parts
                .health
                .record_error(format!("event {event_id}: {error}"));
            log::error!("{}: event {event_id} failed: {error}", self.id);
        } else {
            ActorHealth::count(&self.parts.health.deferred);
            log::debug!(
                "{}: event {event_id} deferred {:.1}s: {reason}",
                self.id,
                (decision.due_at - self.parts.clock.now_ms()).max(0) as f64 / 1000.0
            );
        }
        self.record(&job, decision);
    }

    /// Starts waiting jobs while there is room.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.draining || self.resume_at.is_some_and(|at| at > self.now()) {
            self.update_gauges();
            return;
        }
        while self.running.len() < self.parts.limits.concurrency {
            let Some(mut job) = self.waiting.pop_front() else {
                break;
            };
            match self.circuit.admit(self.now()) {
                Admission::Go => self.start(job, ctx),
                Admission::Probe => {
                    job.probe = true;
                    self.start(job, ctx);
                }
                // Held in line: the circuit, not a due time, decides when
                // it goes (the whole line is due once a probe succeeds).
                Admission::Hold(_) => {
                    let reason = format!(
                        "the circuit is open after {} failures in a row; waiting for a probe",
                        self.circuit.failures()
                    );
                    self.defer(job, None, reason);
                }
            }
        }
        self.update_gauges();
    }

    fn start(&mut self, mut job: Job, ctx: &mut Context<Self>) {
        let key = self.next_job;
        self.next_job += 1;
        let subscriber = self.subscriber.clone();
        let context = self.context.clone();
        let event = job.event.clone();
        let progress = job.progress.clone();
        let destinations = job.ticket.destinations.clone();
        job.started = Some(Instant::now());
        self.parts.health.attempt_started(key, self.now());
        self.running.insert(key, job);
        let deadline = subscriber.delivery_deadline(self.parts.limits.timeout);
        let about = LogContext {
            request_id: None,
            event_id: Some(event.id.to_string()),
            subscriber: Some(self.id),
        };
        let id = self.id;
        let attempt = async move {
            let Some(input) = S::Input::pick(&event.event) else {
                return Ok(Ok(DeliveryOutcome::Skipped(format!(
                    "{} takes no {} events",
                    id,
                    event.kind()
                ))));
            };
            // A step that blocks the actor's thread (`sleep(ms)` in the
            // tests): what health and shutdown must cope with.
            fail::fail_point!("delivery-blocks-thread");
            let work = Work {
                id: event.id,
                received_at: event.received_at,
                event: input,
                json: &event.json,
                destinations: destinations.as_deref().map_or(&[], Vec::as_slice),
                progress: &progress,
            };
            // A panic inside one integration is caught here, at the actor
            // boundary, and becomes a restart instead of killing the thread.
            let panics = told_to_panic(id, &event.json);
            let attempt = AssertUnwindSafe(async move {
                if panics {
                    panic!("told to panic by the delivery-panics fail point");
                }
                subscriber.deliver(&context, work).await
            })
            .catch_unwind();
            match actix_rt::time::timeout(deadline, attempt).await {
                Ok(result) => result,
                Err(_) => Ok(Err(DeliveryError::Transient {
                    reason: format!("the delivery did not finish within {}s", deadline.as_secs()),
                    retry_after: None,
                })),
            }
        };
        let finishing = about.clone();
        ctx.spawn(
            about
                .scope(attempt)
                .into_actor(self)
                .map(move |result, actor, ctx| {
                    finishing.in_scope(|| actor.finish(key, result, ctx))
                }),
        );
    }

    fn finish(&mut self, key: u64, result: AttemptResult, ctx: &mut Context<Self>) {
        let Some(job) = self.running.remove(&key) else {
            return;
        };
        self.parts.health.attempt_ended(key);
        if let Some(started) = job.started {
            self.parts
                .health
                .latency
                .observe(started.elapsed().as_secs_f64());
        }
        let id = self.id;
        let event_id = job.event.id;
        let (outcome, verdict, restart_cause) = judge(result);
        let outcome = outcome.redacted(&self.parts.redactor);
        let restart_cause = restart_cause.map(|cause| self.parts.redactor.redact(&cause));
        let change = self.circuit.record(verdict, job.probe, self.now());
        self.report_circuit(change);
        if let AttemptOutcome::Deferred { reason, wait } = outcome {
            self.defer(job, Some(wait), reason);
            self.pump(ctx);
            return;
        }
        let delivered = matches!(outcome, AttemptOutcome::Delivered(_));
        self.count_and_log(&outcome, event_id);
        let decision = decide(
            &self.parts.policy,
            job.ticket.attempts,
            job.ticket.deferred_since,
            self.parts.clock.now_ms(),
            outcome,
            random_roll(),
        );
        // A retry while the circuit is not closed waits in line, for the
        // circuit rather than for its scheduled time.
        let decision = if self.circuit.is_closed() {
            decision
        } else {
            in_line(decision, job.event.received_at)
        };
        self.report_decision(&decision, event_id);
        if delivered {
            // A crash here, after the destination has it and before the
            // journal does, is what makes delivery at-least-once.
            fail::fail_point!("delivery-after-send", |_| std::process::abort());
        }
        self.record(&job, decision);
        if change == Change::Opened {
            // After this outcome's write: the line includes it.
            self.parts.journal.put_in_line(self.id);
        }
        if self.draining && self.running.is_empty() {
            self.finish_draining();
        }
        if let Some(cause) = restart_cause {
            log::error!("{id}: event {event_id} {cause}; restarting the subscriber");
            self.stop_cause = Some(cause);
            ctx.stop();
        } else {
            self.pump(ctx);
        }
    }

    fn count_and_log(&self, outcome: &AttemptOutcome, event_id: EventId) {
        let health = &self.parts.health;
        let id = self.id;
        match outcome {
            AttemptOutcome::Delivered(what) => {
                ActorHealth::count(&health.delivered);
                log::info!("{id}: event {event_id} delivered: {what}");
            }
            AttemptOutcome::Skipped(why) => {
                ActorHealth::count(&health.skipped);
                log::info!("{id}: event {event_id} skipped: {why}");
            }
            AttemptOutcome::Permanent(reason) | AttemptOutcome::Panicked(reason) => {
                ActorHealth::count(&health.failed);
                health.record_error(format!("event {event_id}: {reason}"));
                log::error!("{id}: event {event_id} failed permanently: {reason}");
            }
            AttemptOutcome::Transient { reason, .. }
            | AttemptOutcome::TimedOut(reason)
            | AttemptOutcome::Fatal(reason) => {
                health.record_error(format!("event {event_id}: {reason}"));
            }
            AttemptOutcome::Deferred { .. } => {}
        }
    }

    /// Logs the circuit opening and closing.
    fn report_circuit(&self, change: Change) {
        match change {
            Change::Opened => log::warn!(
                "{}: circuit open after {} failures in a row; deliveries wait in line for a probe",
                self.id,
                self.circuit.failures()
            ),
            Change::Closed => log::info!(
                "{}: circuit closed; the deliveries in line go out, oldest first",
                self.id
            ),
            Change::Unchanged => {}
        }
    }

    /// Counts and logs a retry or a schedule used up.
    fn report_decision(&self, decision: &Decision, event_id: EventId) {
        let id = self.id;
        let reason = decision.last_error.as_deref().unwrap_or_default();
        match decision.state {
            NextState::Retrying if !self.circuit.is_closed() => {
                ActorHealth::count(&self.parts.health.retried);
                log::warn!(
                    "{id}: event {event_id} attempt {} failed ({reason}); it waits in line for the circuit",
                    decision.attempts
                );
            }
            NextState::Retrying => {
                ActorHealth::count(&self.parts.health.retried);
                log::warn!(
                    "{id}: event {event_id} attempt {} failed ({reason}); next attempt in {:.1}s",
                    decision.attempts,
                    (decision.due_at - self.parts.clock.now_ms()).max(0) as f64 / 1000.0
                );
            }
            NextState::Failed if reason.starts_with("gave up after") => {
                ActorHealth::count(&self.parts.health.failed);
                log::error!("{id}: event {event_id} failed: {reason}");
            }
            _ => {}
        }
    }
}

fn new_context(parts: &ActorParts) -> DeliveryContext {
    DeliveryContext::new(
        parts.limits.timeout,
        parts.limiter.clone(),
        parts.clock.clone(),
        parts.policy.max_retry_after,
    )
}

impl<S: Subscriber> Actor for SubscriberActor<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Deliveries arrive only with a slot, so the mailbox never needs
        // more room than the slots.
        ctx.set_mailbox_capacity(self.parts.slots.capacity().max(16));
        match self.resume_at {
            Some(at) if at > self.now() => {
                // Restart backoff: stay "restarting" until it is over.
                ctx.run_later(at - self.now(), |actor, ctx| {
                    actor.resume_at = None;
                    actor.parts.health.set_restarting(false);
                    actor.pump(ctx);
                });
            }
            _ => {
                self.resume_at = None;
                self.parts.health.set_restarting(false);
                self.pump(ctx);
            }
        }
    }
}

impl<S: Subscriber> Supervised for SubscriberActor<S> {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        let cause = self
            .stop_cause
            .take()
            .unwrap_or_else(|| "stopped".to_owned());
        self.parts.health.set_restarting(true);
        self.parts.health.record_restart(cause);
        // The deliveries that were running were dropped with the old
        // context; they are still leased to us, so queue them again first.
        let mut interrupted: Vec<(u64, Job)> = self.running.drain().collect();
        self.parts.health.attempts_ended();
        interrupted.sort_by_key(|(key, _)| std::cmp::Reverse(*key));
        for (_, mut job) in interrupted {
            job.probe = false;
            self.waiting.push_front(job);
        }
        // The probe, if one was out, was dropped too.
        self.circuit.forget_probe();
        // A fresh client: the old one may be what was broken.
        self.context = Rc::new(new_context(&self.parts));
        let now = self.now();
        let backoff = self.backoff.restarted(now);
        self.resume_at = Some(now + backoff);
        log::warn!(
            "{}: restarted ({} restarts so far); resuming in {}s",
            self.id,
            self.parts
                .health
                .restarts
                .load(std::sync::atomic::Ordering::Relaxed),
            backoff.as_secs()
        );
    }
}

impl<S: Subscriber> Handler<Deliver> for SubscriberActor<S> {
    type Result = ();

    fn handle(&mut self, message: Deliver, ctx: &mut Self::Context) {
        ActorHealth::count(&self.parts.health.received);
        let progress = Rc::new(Progress::from_text(&message.ticket.progress));
        self.waiting.push_back(Job {
            started: None,
            ticket: message.ticket,
            event: message.event,
            progress,
            probe: false,
        });
        self.pump(ctx);
    }
}

impl<S: Subscriber> Handler<Drain> for SubscriberActor<S> {
    type Result = actix::ResponseFuture<usize>;

    fn handle(&mut self, message: Drain, ctx: &mut Self::Context) -> Self::Result {
        self.draining = true;
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.drain_reply = Some(reply);
        if self.running.is_empty() {
            self.finish_draining();
        } else {
            // Whatever is still running at the deadline is given back.
            ctx.run_later(
                message.until.saturating_duration_since(Instant::now()),
                |actor, _| actor.finish_draining(),
            );
        }
        Box::pin(async move { answer.await.unwrap_or(0) })
    }
}

/// Whether the `delivery-panics` fail point (compiled in for the tests
/// only) makes this delivery panic inside the integration: its value is
/// `<subscriber id>@<marker>`, and the event must hold the marker, so one
/// test's panics hit its own events only.
fn told_to_panic(id: &str, json: &serde_json::Value) -> bool {
    let _ = (id, json);
    fail::fail_point!("delivery-panics", |value: Option<String>| {
        value
            .as_deref()
            .and_then(|value| value.split_once('@'))
            .is_some_and(|(who, marker)| who == id && json.to_string().contains(marker))
    });
    false
}
