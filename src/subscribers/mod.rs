//! Subscribers: one per integration, each run by its own supervised actor.
//!
//! A subscriber implements [`Subscriber`] (its id, the event kinds it takes,
//! how it reads its configuration, how it delivers one event) and is added
//! to [`registrations`], the one alphabetised list. Everything else — the
//! actor, its queue, concurrency, retries, panics and restarts, health — is
//! shared, in [`actor`].

pub mod actor;
pub mod application_endpoint;
pub mod circuit;
pub mod database;
pub mod detectify;
pub mod lighthouse;
pub mod rate_limit;
pub mod slack;
pub mod slack_deployment;
pub mod slack_error;
pub mod slack_recommendation;
pub mod uptimerobot;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix::{Arbiter, Recipient, Supervisor};

use crate::config::{ConfigError, Settings};
use crate::domain::event::EventKind;
use crate::error::DeliveryError;
use crate::pipeline::health::ActorHealth;
use crate::pipeline::messages::{Deliver, Drain, PublishedEvent};
use crate::pipeline::slots::Slots;
use crate::store::journal::Journal;
use actor::{ActorLimits, SubscriberActor};
use rate_limit::{Limiter, RateLimit};

/// Every subscriber this build knows, alphabetised by id.
pub fn registrations() -> Vec<Registration> {
    vec![
        Registration::of::<application_endpoint::ApplicationEndpoint>(),
        Registration::of::<database::Database>(),
        Registration::of::<detectify::Detectify>(),
        Registration::of::<lighthouse::Lighthouse>(),
        Registration::of::<slack_deployment::SlackDeployment>(),
        Registration::of::<slack_error::SlackError>(),
        Registration::of::<slack_recommendation::SlackRecommendation>(),
        Registration::of::<uptimerobot::UptimeRobot>(),
    ]
}

/// One integration.
pub trait Subscriber: Send + Sized + 'static {
    /// Stable id, used in configuration, logs, health and admin routes.
    const ID: &'static str;
    /// The Python service's module name, still accepted in
    /// `DISABLED_SUBSCRIBERS`.
    const LEGACY_NAME: &'static str;
    /// The event kinds this subscriber takes; it never sees the others.
    const KINDS: &'static [EventKind];
    /// The `RATE_LIMITS` group it belongs to besides its id (all Slack
    /// subscribers are `slack`).
    const RATE_GROUP: &'static str = "";

    /// The pace its destinations allow, unless `RATE_LIMITS` says otherwise.
    fn default_rate_limit() -> Option<RateLimit> {
        None
    }

    /// Reads this subscriber's variables. `Ok(None)` means "not
    /// configured": the subscriber is listed as `unconfigured` and skips.
    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError>;

    /// Delivers one event. Runs on the subscriber's own actor thread, so the
    /// future need not be `Send`. Steps already recorded in `progress` (by
    /// an earlier attempt) are not repeated.
    fn deliver(
        &self,
        context: &DeliveryContext,
        event: &PublishedEvent,
        progress: &Progress,
    ) -> impl Future<Output = Result<DeliveryOutcome, DeliveryError>>;

    /// How long one whole delivery may take (several calls, rate-limit
    /// pauses) before it is abandoned and retried. Each call has its own,
    /// shorter timeout.
    fn delivery_deadline(&self, call_timeout: Duration) -> Duration {
        call_timeout * 12
    }
}

/// What a subscriber may use when it is created.
pub struct Setup<'a> {
    pub settings: &'a Settings,
    /// For subscribers that write to the database (through the one writer).
    pub journal: &'a Journal,
}

/// What a finished delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Sent; the text says what, for the log ("2 Slack messages").
    Delivered(String),
    /// Nothing to do for this event; the text says why.
    Skipped(String),
}

/// What a subscriber's deliveries share: the actor's HTTP client (awc's
/// client is not `Send`, so each actor makes its own), the call timeout and
/// the subscriber's rate limiter (one bucket per destination).
pub struct DeliveryContext {
    pub http: awc::Client,
    pub timeout: Duration,
    pub limiter: Arc<Limiter>,
}

impl DeliveryContext {
    pub fn new(timeout: Duration, limiter: Arc<Limiter>) -> Self {
        let http = awc::Client::builder()
            .timeout(timeout)
            .add_default_header(("User-Agent", concat!("alvares/", env!("CARGO_PKG_VERSION"))))
            .finish();
        DeliveryContext {
            http,
            timeout,
            limiter,
        }
    }
}

/// The steps of one delivery that already succeeded (for example the Slack
/// channels already posted to), so that a retry repeats none of them.
#[derive(Debug, Default)]
pub struct Progress(RefCell<BTreeSet<String>>);

impl Progress {
    /// Progress as the journal stores it: one step a line.
    pub fn from_text(text: &str) -> Self {
        Progress(RefCell::new(
            text.lines()
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }

    pub fn to_text(&self) -> String {
        self.0
            .borrow()
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn is_done(&self, step: &str) -> bool {
        self.0.borrow().contains(step)
    }

    pub fn mark_done(&self, step: &str) {
        self.0.borrow_mut().insert(step.to_owned());
    }
}

/// A subscriber's entry in the registration list.
pub struct Registration {
    pub id: &'static str,
    pub legacy_name: &'static str,
    pub kinds: &'static [EventKind],
    pub rate_group: &'static str,
    pub default_rate_limit: Option<RateLimit>,
    start: StartFn,
}

type StartFn = fn(
    &Setup<'_>,
    ActorLimits,
    Arc<ActorHealth>,
    Arc<Slots>,
    Arc<Limiter>,
) -> Result<Option<StartedActor>, ConfigError>;

/// A subscriber actor running on its own thread.
pub struct StartedActor {
    pub recipient: Recipient<Deliver>,
    pub drain: Recipient<Drain>,
    pub arbiter: Arbiter,
}

impl Registration {
    pub fn of<S: Subscriber>() -> Self {
        Registration {
            id: S::ID,
            legacy_name: S::LEGACY_NAME,
            kinds: S::KINDS,
            rate_group: if S::RATE_GROUP.is_empty() {
                S::ID
            } else {
                S::RATE_GROUP
            },
            default_rate_limit: S::default_rate_limit(),
            start: start_actor::<S>,
        }
    }

    /// Reads the subscriber's configuration and, when it is configured,
    /// starts its supervised actor on a thread of its own (a subscriber that
    /// blocks or panics cannot stall the others).
    pub fn start(
        &self,
        setup: &Setup<'_>,
        limits: ActorLimits,
        health: Arc<ActorHealth>,
        slots: Arc<Slots>,
        limiter: Arc<Limiter>,
    ) -> Result<Option<StartedActor>, ConfigError> {
        (self.start)(setup, limits, health, slots, limiter)
    }
}

fn start_actor<S: Subscriber>(
    setup: &Setup<'_>,
    limits: ActorLimits,
    health: Arc<ActorHealth>,
    slots: Arc<Slots>,
    limiter: Arc<Limiter>,
) -> Result<Option<StartedActor>, ConfigError> {
    let Some(subscriber) = S::from_config(setup)? else {
        return Ok(None);
    };
    let journal = setup.journal.clone();
    let arbiter = Arbiter::new();
    let addr = Supervisor::start_in_arbiter(&arbiter.handle(), move |_| {
        SubscriberActor::new(subscriber, limits, health, journal, slots, limiter)
    });
    Ok(Some(StartedActor {
        recipient: addr.clone().recipient(),
        drain: addr.recipient(),
        arbiter,
    }))
}
