//! The one actor type that runs every subscriber.
//!
//! Each subscriber gets its own `SubscriberActor<S>` on its own thread,
//! under an actix `Supervisor`. The actor keeps a bounded queue, runs up to
//! `concurrency` deliveries at once (so one slow call does not hold up the
//! next event), retries transient failures, and turns a panic or a fatal
//! error into a stop, which the supervisor answers with a restart. Work that
//! was in flight when the actor stopped is queued again on restart, except
//! the delivery that caused the stop.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Supervised, WrapFuture,
};
use futures_util::FutureExt;

use super::{DeliveryContext, DeliveryOutcome, Progress, Subscriber};
use crate::error::DeliveryError;
use crate::pipeline::health::ActorHealth;
use crate::pipeline::messages::{Deliver, PublishedEvent};

/// Waits before the 2nd, 3rd and 4th attempt of a transiently failed
/// delivery. (The durable journal will keep a longer schedule.)
pub const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
];

#[derive(Debug, Clone, Copy)]
pub struct ActorLimits {
    pub concurrency: usize,
    pub queue_capacity: usize,
    pub timeout: Duration,
}

/// One event on its way to this subscriber.
struct Job {
    event: Arc<PublishedEvent>,
    /// Attempts already made.
    attempts: u32,
    progress: Rc<Progress>,
}

pub struct SubscriberActor<S: Subscriber> {
    subscriber: Rc<S>,
    limits: ActorLimits,
    health: Arc<ActorHealth>,
    context: Rc<DeliveryContext>,
    waiting: VecDeque<Job>,
    running: HashMap<u64, Job>,
    retrying: HashMap<u64, (Job, Instant)>,
    next_job: u64,
    /// Why the actor last stopped, reported with the restart.
    stop_cause: Option<String>,
}

impl<S: Subscriber> SubscriberActor<S> {
    pub fn new(subscriber: S, limits: ActorLimits, health: Arc<ActorHealth>) -> Self {
        SubscriberActor {
            subscriber: Rc::new(subscriber),
            limits,
            health,
            context: Rc::new(DeliveryContext::new(limits.timeout)),
            waiting: VecDeque::new(),
            running: HashMap::new(),
            retrying: HashMap::new(),
            next_job: 0,
            stop_cause: None,
        }
    }

    fn held(&self) -> usize {
        self.waiting.len() + self.running.len() + self.retrying.len()
    }

    fn update_gauges(&self) {
        ActorHealth::set_gauge(
            &self.health.queued,
            self.waiting.len() + self.retrying.len(),
        );
        ActorHealth::set_gauge(&self.health.in_flight, self.running.len());
    }

    /// Starts waiting jobs while there is room.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        while self.running.len() < self.limits.concurrency {
            let Some(job) = self.waiting.pop_front() else {
                break;
            };
            self.start(job, ctx);
        }
        self.update_gauges();
    }

    fn start(&mut self, job: Job, ctx: &mut Context<Self>) {
        let key = self.next_job;
        self.next_job += 1;
        let subscriber = self.subscriber.clone();
        let context = self.context.clone();
        let event = job.event.clone();
        let progress = job.progress.clone();
        self.running.insert(key, job);
        let deadline = subscriber.delivery_deadline(self.limits.timeout);
        let delivery = async move {
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
            delivery
                .into_actor(self)
                .map(move |result, actor, ctx| actor.finish(key, result, ctx)),
        );
    }

    fn finish(
        &mut self,
        key: u64,
        result: std::thread::Result<Result<DeliveryOutcome, DeliveryError>>,
        ctx: &mut Context<Self>,
    ) {
        let Some(mut job) = self.running.remove(&key) else {
            return;
        };
        job.attempts += 1;
        let id = S::ID;
        let event_id = job.event.id;
        match result {
            Ok(Ok(DeliveryOutcome::Delivered(what))) => {
                ActorHealth::count(&self.health.delivered);
                log::info!("{id}: event {event_id} delivered: {what}");
            }
            Ok(Ok(DeliveryOutcome::Skipped(why))) => {
                ActorHealth::count(&self.health.skipped);
                log::info!("{id}: event {event_id} skipped: {why}");
            }
            Ok(Err(DeliveryError::Transient {
                reason,
                retry_after,
            })) => self.retry_or_give_up(job, reason, retry_after, ctx),
            Ok(Err(DeliveryError::Permanent(reason))) => {
                ActorHealth::count(&self.health.failed);
                self.health
                    .record_error(format!("event {event_id}: {reason}"));
                log::error!("{id}: event {event_id} failed permanently: {reason}");
            }
            Ok(Err(DeliveryError::Fatal(reason))) => {
                self.fail_and_restart(event_id, format!("fatal error: {reason}"), ctx);
            }
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                self.fail_and_restart(event_id, format!("panicked: {message}"), ctx);
            }
        }
        if self.stop_cause.is_none() {
            self.pump(ctx);
        }
    }

    fn retry_or_give_up(
        &mut self,
        job: Job,
        reason: String,
        retry_after: Option<Duration>,
        ctx: &mut Context<Self>,
    ) {
        let id = S::ID;
        let event_id = job.event.id;
        let attempts = job.attempts;
        let Some(delay) = RETRY_DELAYS.get(attempts as usize - 1) else {
            ActorHealth::count(&self.health.failed);
            self.health.record_error(format!(
                "event {event_id}: gave up after {attempts} attempts: {reason}"
            ));
            log::error!("{id}: event {event_id} failed after {attempts} attempts: {reason}");
            return;
        };
        let delay = retry_after.map_or(*delay, |after| after.max(*delay));
        ActorHealth::count(&self.health.retried);
        self.health
            .record_error(format!("event {event_id}: {reason}"));
        log::warn!(
            "{id}: event {event_id} attempt {attempts} failed ({reason}); retrying in {}s",
            delay.as_secs_f64()
        );
        let key = self.next_job;
        self.next_job += 1;
        self.retrying.insert(key, (job, Instant::now() + delay));
        self.schedule_retry(key, delay, ctx);
    }

    fn schedule_retry(&mut self, key: u64, delay: Duration, ctx: &mut Context<Self>) {
        ctx.run_later(delay, move |actor, ctx| {
            if let Some((job, _)) = actor.retrying.remove(&key) {
                actor.waiting.push_back(job);
                actor.pump(ctx);
            }
        });
    }

    fn fail_and_restart(
        &mut self,
        event_id: crate::pipeline::messages::EventId,
        cause: String,
        ctx: &mut Context<Self>,
    ) {
        let id = S::ID;
        ActorHealth::count(&self.health.failed);
        self.health
            .record_error(format!("event {event_id}: {cause}"));
        log::error!("{id}: event {event_id} {cause}; restarting the subscriber");
        self.stop_cause = Some(cause);
        ctx.stop();
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
        ctx.set_mailbox_capacity(self.limits.queue_capacity.max(16));
        self.health.set_restarting(false);
        // Timers do not survive a restart: set the pending retries again.
        let now = Instant::now();
        let due: Vec<(u64, Duration)> = self
            .retrying
            .iter()
            .map(|(key, (_, at))| (*key, at.saturating_duration_since(now)))
            .collect();
        for (key, delay) in due {
            self.schedule_retry(key, delay, ctx);
        }
        self.pump(ctx);
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
        // context; queue them again, ahead of newer work.
        let mut interrupted: Vec<(u64, Job)> = self.running.drain().collect();
        interrupted.sort_by_key(|(key, _)| std::cmp::Reverse(*key));
        for (_, job) in interrupted {
            self.waiting.push_front(job);
        }
        // A fresh client: the old one may be what was broken.
        self.context = Rc::new(DeliveryContext::new(self.limits.timeout));
        log::warn!(
            "{}: restarted ({} restarts so far)",
            S::ID,
            self.health
                .restarts
                .load(std::sync::atomic::Ordering::Relaxed)
        );
    }
}

impl<S: Subscriber> Handler<Deliver> for SubscriberActor<S> {
    type Result = ();

    fn handle(&mut self, message: Deliver, ctx: &mut Self::Context) {
        ActorHealth::count(&self.health.received);
        let event_id = message.0.id;
        if self.held() >= self.limits.queue_capacity {
            ActorHealth::count(&self.health.dropped);
            self.health.record_error(format!(
                "event {event_id}: dropped, the queue of {} is full",
                self.limits.queue_capacity
            ));
            log::error!(
                "{}: event {event_id} dropped, the queue of {} is full",
                S::ID,
                self.limits.queue_capacity
            );
            return;
        }
        self.waiting.push_back(Job {
            event: message.0,
            attempts: 0,
            progress: Rc::new(Progress::default()),
        });
        self.pump(ctx);
    }
}
