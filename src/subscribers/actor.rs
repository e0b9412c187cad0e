//! The one actor type that runs every subscriber.
//!
//! Each subscriber gets its own `SubscriberActor<S>` on its own thread,
//! under an actix `Supervisor`. It receives deliveries this process has
//! leased in the journal (at most its slots' worth), runs up to
//! `concurrency` at once (one slow call does not hold up the next event),
//! and records each attempt's outcome in the journal: delivered, skipped,
//! retrying at a later time, or failed. A panic or a fatal error stops the
//! actor and the supervisor restarts it; deliveries that were interrupted
//! are queued again, except the one that caused the stop.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Supervised, WrapFuture,
};
use futures_util::FutureExt;

use super::circuit::{Admission, Circuit};
use super::rate_limit::Limiter;
use super::{DeliveryContext, DeliveryOutcome, Progress, Subscriber};
use crate::error::DeliveryError;
use crate::pipeline::health::CircuitReport;
use crate::pipeline::health::{ActorHealth, now_ms};
use crate::pipeline::messages::{Deliver, Drain, PublishedEvent};
use crate::pipeline::retry;
use crate::pipeline::slots::Slots;
use crate::store::journal::{Journal, Ticket};
use crate::store::models::deliveries::{DeliveryState, OutcomeWrite};

#[derive(Debug, Clone, Copy)]
pub struct ActorLimits {
    pub concurrency: usize,
    pub timeout: Duration,
    pub circuit_failures: u32,
    pub circuit_cooldown: Duration,
}

/// Restarts closer together than this count as "in a row" for the backoff.
const RESTART_WINDOW: Duration = Duration::from_secs(300);
/// The longest pause before a subscriber that keeps failing resumes work.
const LONGEST_RESTART_BACKOFF: Duration = Duration::from_secs(60);

/// One leased delivery held by this actor.
struct Job {
    ticket: Ticket,
    /// When the current attempt started.
    started: Option<Instant>,
    event: Arc<PublishedEvent>,
    progress: Rc<Progress>,
}

type AttemptResult = std::thread::Result<Result<DeliveryOutcome, DeliveryError>>;

pub struct SubscriberActor<S: Subscriber> {
    subscriber: Rc<S>,
    limits: ActorLimits,
    health: Arc<ActorHealth>,
    journal: Journal,
    slots: Arc<Slots>,
    limiter: Arc<Limiter>,
    context: Rc<DeliveryContext>,
    circuit: Circuit,
    waiting: VecDeque<Job>,
    running: HashMap<u64, Job>,
    next_job: u64,
    /// Why the actor last stopped, reported with the restart.
    stop_cause: Option<String>,
    /// Recent restarts, for the restart backoff.
    restarts: VecDeque<Instant>,
    /// No work starts before this (restart backoff).
    resume_at: Option<Instant>,
    /// Shutting down: nothing new starts.
    draining: bool,
    /// Answers the shutdown once the running deliveries are done.
    drain_reply: Option<tokio::sync::oneshot::Sender<usize>>,
}

impl<S: Subscriber> SubscriberActor<S> {
    pub fn new(
        subscriber: S,
        limits: ActorLimits,
        health: Arc<ActorHealth>,
        journal: Journal,
        slots: Arc<Slots>,
        limiter: Arc<Limiter>,
    ) -> Self {
        SubscriberActor {
            subscriber: Rc::new(subscriber),
            limits,
            health,
            journal,
            slots,
            context: Rc::new(DeliveryContext::new(limits.timeout, limiter.clone())),
            limiter,
            circuit: Circuit::new(limits.circuit_failures, limits.circuit_cooldown),
            waiting: VecDeque::new(),
            running: HashMap::new(),
            next_job: 0,
            stop_cause: None,
            restarts: VecDeque::new(),
            resume_at: None,
            draining: false,
            drain_reply: None,
        }
    }

    /// Gives every delivery still held back to the journal, due now, and
    /// answers the shutdown. (A late outcome of one of them is fenced off.)
    fn finish_draining(&mut self) {
        let Some(reply) = self.drain_reply.take() else {
            return;
        };
        let now = now_ms();
        let held: Vec<Job> = self
            .waiting
            .drain(..)
            .chain(self.running.drain().map(|(_, job)| job))
            .collect();
        for job in &held {
            self.journal.release(&job.ticket, now);
        }
        self.slots.give_back(held.len());
        self.update_gauges();
        let _ = reply.send(held.len());
    }

    fn report_circuit(&self) {
        let now = Instant::now();
        self.health.set_circuit(CircuitReport {
            state: self.circuit.state(),
            failures: self.circuit.failures(),
            open_until_ms: self
                .circuit
                .open_until()
                .map(|until| now_ms() + until.saturating_duration_since(now).as_millis() as i64),
        });
    }

    /// Gives a job back to the journal, due after `wait`, no attempt
    /// charged (its turn has not come: rate limit, open circuit).
    fn defer(&mut self, job: Job, wait: Duration, reason: String) {
        ActorHealth::count(&self.health.deferred);
        log::debug!(
            "{}: event {} deferred {:.1}s: {reason}",
            S::ID,
            job.event.id,
            wait.as_secs_f64()
        );
        self.journal.record_outcome(OutcomeWrite {
            id: job.ticket.delivery_id,
            lease_epoch: job.ticket.lease_epoch,
            state: DeliveryState::Retrying,
            attempts: job.ticket.attempts,
            due_at: now_ms() + wait.as_millis() as i64,
            progress: job.progress.to_text(),
            outcome: None,
            last_error: Some(reason),
        });
        self.slots.give_back(1);
    }

    fn update_gauges(&self) {
        ActorHealth::set_gauge(&self.health.queued, self.waiting.len());
        ActorHealth::set_gauge(&self.health.in_flight, self.running.len());
    }

    /// Starts waiting jobs while there is room.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.draining || self.resume_at.is_some_and(|at| at > Instant::now()) {
            self.update_gauges();
            return;
        }
        while self.running.len() < self.limits.concurrency {
            let Some(job) = self.waiting.pop_front() else {
                break;
            };
            match self.circuit.admit(Instant::now()) {
                Admission::Go => self.start(job, ctx),
                Admission::Hold(wait) => {
                    let reason = format!(
                        "the circuit is open after {} failures in a row; waiting for a probe",
                        self.circuit.failures()
                    );
                    self.defer(job, wait, reason);
                }
            }
        }
        self.report_circuit();
        self.update_gauges();
    }

    fn start(&mut self, job: Job, ctx: &mut Context<Self>) {
        let key = self.next_job;
        self.next_job += 1;
        let subscriber = self.subscriber.clone();
        let context = self.context.clone();
        let event = job.event.clone();
        let progress = job.progress.clone();
        let mut job = job;
        job.started = Some(Instant::now());
        self.running.insert(key, job);
        let deadline = subscriber.delivery_deadline(self.limits.timeout);
        let attempt = async move {
            // A panic inside one integration is caught here, at the actor
            // boundary, and becomes a restart instead of killing the thread.
            let attempt =
                AssertUnwindSafe(subscriber.deliver(&context, &event, &progress)).catch_unwind();
            match actix_rt::time::timeout(deadline, attempt).await {
                Ok(result) => result,
                Err(_) => Ok(Err(DeliveryError::transient(format!(
                    "the delivery did not finish within {}s",
                    deadline.as_secs()
                )))),
            }
        };
        ctx.spawn(
            attempt
                .into_actor(self)
                .map(move |result, actor, ctx| actor.finish(key, result, ctx)),
        );
    }

    fn finish(&mut self, key: u64, result: AttemptResult, ctx: &mut Context<Self>) {
        let Some(job) = self.running.remove(&key) else {
            return;
        };
        if let Some(started) = job.started {
            self.health.latency.observe(started.elapsed().as_secs_f64());
        }
        let id = S::ID;
        let event_id = job.event.id;
        let attempts = job.ticket.attempts + 1;
        let mut write = OutcomeWrite {
            id: job.ticket.delivery_id,
            lease_epoch: job.ticket.lease_epoch,
            state: DeliveryState::Delivered,
            attempts,
            due_at: now_ms(),
            progress: job.progress.to_text(),
            outcome: None,
            last_error: None,
        };
        let mut restart_cause = None;
        match &result {
            Ok(Err(DeliveryError::Transient { .. } | DeliveryError::Fatal(_))) => {
                self.circuit.failure(Instant::now());
            }
            Ok(Err(DeliveryError::RateLimited { .. })) => {}
            // Answered, even if with a refusal: the destination is there.
            _ => self.circuit.success(),
        }
        match result {
            Ok(Err(DeliveryError::RateLimited { reason, wait })) => {
                self.defer(job, wait, reason);
                self.pump(ctx);
                return;
            }
            Ok(Ok(DeliveryOutcome::Delivered(what))) => {
                ActorHealth::count(&self.health.delivered);
                log::info!("{id}: event {event_id} delivered: {what}");
                write.outcome = Some(what);
            }
            Ok(Ok(DeliveryOutcome::Skipped(why))) => {
                ActorHealth::count(&self.health.skipped);
                log::info!("{id}: event {event_id} skipped: {why}");
                write.state = DeliveryState::Skipped;
                write.outcome = Some(why);
            }
            Ok(Err(DeliveryError::Transient {
                reason,
                retry_after,
            })) => self.retry_or_fail(&mut write, reason, retry_after, event_id),
            Ok(Err(DeliveryError::Permanent(reason))) => {
                ActorHealth::count(&self.health.failed);
                self.health
                    .record_error(format!("event {event_id}: {reason}"));
                log::error!("{id}: event {event_id} failed permanently: {reason}");
                write.state = DeliveryState::Failed;
                write.last_error = Some(reason);
            }
            Ok(Err(DeliveryError::Fatal(reason))) => {
                // The subscriber is broken, not the event: try it again.
                let cause = format!("fatal error: {reason}");
                self.retry_or_fail(&mut write, cause.clone(), None, event_id);
                restart_cause = Some(cause);
            }
            Err(panic) => {
                // A panic is a bug that the same event would hit again.
                let cause = format!("panicked: {}", panic_message(panic.as_ref()));
                ActorHealth::count(&self.health.failed);
                self.health
                    .record_error(format!("event {event_id}: {cause}"));
                write.state = DeliveryState::Failed;
                write.last_error = Some(cause.clone());
                restart_cause = Some(cause);
            }
        }
        self.journal.record_outcome(write);
        self.slots.give_back(1);
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

    /// Schedules the next attempt, or gives up when the schedule is used up.
    fn retry_or_fail(
        &mut self,
        write: &mut OutcomeWrite,
        reason: String,
        retry_after: Option<Duration>,
        event_id: crate::pipeline::messages::EventId,
    ) {
        let id = S::ID;
        let attempts = write.attempts;
        self.health
            .record_error(format!("event {event_id}: {reason}"));
        match retry::next_wait(attempts as u32, retry_after) {
            Some(wait) => {
                ActorHealth::count(&self.health.retried);
                log::warn!(
                    "{id}: event {event_id} attempt {attempts} failed ({reason}); next attempt in {:.1}s",
                    wait.as_secs_f64()
                );
                write.state = DeliveryState::Retrying;
                write.due_at = now_ms() + wait.as_millis() as i64;
                write.last_error = Some(reason);
            }
            None => {
                ActorHealth::count(&self.health.failed);
                log::error!("{id}: event {event_id} failed after {attempts} attempts: {reason}");
                write.state = DeliveryState::Failed;
                write.last_error = Some(format!("gave up after {attempts} attempts: {reason}"));
            }
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_owned()
    }
}

impl<S: Subscriber> Actor for SubscriberActor<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Deliveries arrive only with a slot, so the mailbox never needs
        // more room than the slots.
        ctx.set_mailbox_capacity(self.slots.capacity().max(16));
        match self.resume_at {
            Some(at) if at > Instant::now() => {
                // Restart backoff: stay "restarting" until it is over.
                ctx.run_later(at - Instant::now(), |actor, ctx| {
                    actor.resume_at = None;
                    actor.health.set_restarting(false);
                    actor.pump(ctx);
                });
            }
            _ => {
                self.resume_at = None;
                self.health.set_restarting(false);
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
        self.health.set_restarting(true);
        self.health.record_restart(cause);
        // The deliveries that were running were dropped with the old
        // context; they are still leased to us, so queue them again first.
        let mut interrupted: Vec<(u64, Job)> = self.running.drain().collect();
        interrupted.sort_by_key(|(key, _)| std::cmp::Reverse(*key));
        for (_, job) in interrupted {
            self.waiting.push_front(job);
        }
        // A fresh client: the old one may be what was broken.
        self.context = Rc::new(DeliveryContext::new(
            self.limits.timeout,
            self.limiter.clone(),
        ));
        // Back off when restarts come in a row: 0 s, 1 s, 2 s, 4 s … 60 s.
        let now = Instant::now();
        self.restarts.push_back(now);
        while self
            .restarts
            .front()
            .is_some_and(|at| now.duration_since(*at) > RESTART_WINDOW)
        {
            self.restarts.pop_front();
        }
        let in_a_row = self.restarts.len() as u32;
        let backoff = if in_a_row <= 1 {
            Duration::ZERO
        } else {
            Duration::from_secs(1 << (in_a_row - 2).min(6)).min(LONGEST_RESTART_BACKOFF)
        };
        self.resume_at = Some(now + backoff);
        log::warn!(
            "{}: restarted ({} restarts so far); resuming in {}s",
            S::ID,
            self.health
                .restarts
                .load(std::sync::atomic::Ordering::Relaxed),
            backoff.as_secs()
        );
    }
}

impl<S: Subscriber> Handler<Deliver> for SubscriberActor<S> {
    type Result = ();

    fn handle(&mut self, message: Deliver, ctx: &mut Self::Context) {
        ActorHealth::count(&self.health.received);
        let progress = Rc::new(Progress::from_text(&message.ticket.progress));
        self.waiting.push_back(Job {
            started: None,
            ticket: message.ticket,
            event: message.event,
            progress,
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
