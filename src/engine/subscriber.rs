//! What an integration implements, and what the engine hands it.
//!
//! An integration is a type implementing [`Subscriber`]: its id, the event
//! kind it takes (its [`Input`]), how it reads its configuration and how it
//! delivers one event. Everything else — the actor, queueing, concurrency,
//! timeouts, retries, deferral, the circuit breaker, panics and restarts,
//! health — is the engine's.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::conformance::{Conformance, ConformanceBench};
use super::health::ActorHealth;
use super::outbound::{self, Answer, Body, CallError, CallRules, Reading};
use super::rate_limit::Limiter;
use crate::clock::SharedClock;
use crate::config::{ConfigError, OperatorConfig, OperatorView, RateLimit, Settings};
use crate::domain::history::DeploymentHistory;
use crate::domain::{
    Destination, EnrichedDeployment, EnrichedEvent, EventId, EventKind, PipelineError,
    PlannedDestination, Recommendation,
};
use crate::error::DeliveryError;
use crate::store::journal::Journal;

/// One integration.
pub trait Subscriber: Send + Sync + Sized + 'static {
    /// Stable id, used in configuration, logs, health and admin routes.
    const ID: &'static str;
    /// The Python service's module name, still accepted in
    /// `DISABLED_SUBSCRIBERS`.
    const LEGACY_NAME: &'static str;
    /// What it is handed: `EnrichedDeployment`, `PipelineError`,
    /// `Recommendation`, or `EnrichedEvent` for every kind. The engine
    /// picks it out of the event once; the subscriber never sees others.
    type Input: Input;
    /// The event kinds it gets deliveries of: its input's, unless it takes
    /// only some of them (the database takes deployments and errors).
    const KINDS: &'static [EventKind] = <Self::Input as Input>::KINDS;
    /// The `RATE_LIMITS` group it belongs to besides its id (every Slack
    /// subscriber is in `slack`).
    const RATE_GROUP: &'static str = "";
    /// Whether it sends the kind's main message: the operator's routes
    /// then choose its channels, and their `once_per` rules apply to it.
    const ROUTED: bool = false;

    /// Its id: [`Self::ID`], except for a subscriber declared in the
    /// operator file (a webhook), whose id is its name's.
    fn id(&self) -> &'static str {
        Self::ID
    }

    /// Its own pace, unless `RATE_LIMITS` names its id or group.
    fn default_rate_limit() -> Option<RateLimit> {
        None
    }

    /// Reads this subscriber's variables. `Ok(None)` means "not
    /// configured": the subscriber is listed as `unconfigured` and skips.
    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError>;

    /// Where it sends this event: decided once, when the event is planned
    /// at intake (`pipeline::routing`), and kept with the delivery, which
    /// then goes exactly there (`work.destinations`). Pure, no I/O. None
    /// by default: a subscriber whose destination is its API's.
    fn destinations(
        &self,
        event: &Self::Input,
        planning: &Planning<'_>,
    ) -> Vec<PlannedDestination> {
        let _ = (event, planning);
        Vec::new()
    }

    /// Delivers one event. Runs on the subscriber's own actor thread, so the
    /// future need not be `Send`. Steps already recorded in `work.progress`
    /// (by an earlier attempt) are not repeated.
    fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, Self::Input>,
    ) -> impl Future<Output = Result<DeliveryOutcome, DeliveryError>>;

    /// What it would send for this event, without sending it (`alvares
    /// render`): each request body as JSON, made by the same code as
    /// [`Self::deliver`]. `None` for a subscriber with nothing to preview.
    fn preview(
        &self,
        work: Work<'_, Self::Input>,
    ) -> Option<Result<Vec<serde_json::Value>, DeliveryError>> {
        let _ = work;
        None
    }

    /// How the shared conformance test configures it against a mock
    /// destination (its folder's `conformance.rs`).
    fn conformance(bench: &ConformanceBench<'_>) -> Conformance;

    /// How long one whole delivery may take (several calls, rate-limit
    /// pauses) before it is abandoned and retried. Each call, connect,
    /// headers and body together, ends within `call_timeout` on its own
    /// (the outbound layer bounds it), so a one-call delivery takes at
    /// most that; this backstop is for deliveries of many calls (one per
    /// Slack channel, a lookup and an update).
    fn delivery_deadline(&self, call_timeout: Duration) -> Duration {
        call_timeout * 12
    }
}

/// The part of an event a subscriber takes.
pub trait Input: 'static {
    const KINDS: &'static [EventKind];
    fn pick(event: &EnrichedEvent) -> Option<&Self>;
    fn kind(&self) -> EventKind;
}

impl Input for EnrichedDeployment {
    const KINDS: &'static [EventKind] = &[EventKind::Deployment];
    fn pick(event: &EnrichedEvent) -> Option<&Self> {
        match event {
            EnrichedEvent::Deployment(deployment) => Some(deployment),
            _ => None,
        }
    }
    fn kind(&self) -> EventKind {
        EventKind::Deployment
    }
}

impl Input for PipelineError {
    const KINDS: &'static [EventKind] = &[EventKind::Error];
    fn pick(event: &EnrichedEvent) -> Option<&Self> {
        match event {
            EnrichedEvent::Error(error) => Some(error),
            _ => None,
        }
    }
    fn kind(&self) -> EventKind {
        EventKind::Error
    }
}

impl Input for Recommendation {
    const KINDS: &'static [EventKind] = &[EventKind::Recommendation];
    fn pick(event: &EnrichedEvent) -> Option<&Self> {
        match event {
            EnrichedEvent::Recommendation(recommendation) => Some(recommendation),
            _ => None,
        }
    }
    fn kind(&self) -> EventKind {
        EventKind::Recommendation
    }
}

impl Input for EnrichedEvent {
    const KINDS: &'static [EventKind] = &EventKind::ALL;
    fn pick(event: &EnrichedEvent) -> Option<&Self> {
        Some(event)
    }
    fn kind(&self) -> EventKind {
        EnrichedEvent::kind(self)
    }
}

/// What a subscriber's destinations are chosen from when an event is
/// planned: the event (as stored) and the operator's routes in force then.
pub struct Planning<'a> {
    pub kind: EventKind,
    pub json: &'a Value,
    pub operator: &'a OperatorConfig,
}

/// One delivery's work: the event (the part the subscriber takes, and the
/// whole as stored), its id, when it was accepted, where it was planned to
/// go, and the steps earlier attempts already did.
pub struct Work<'a, I> {
    pub id: EventId,
    /// Unix milliseconds.
    pub received_at: i64,
    pub event: &'a I,
    /// The event as stored, made once for every subscriber.
    pub json: &'a Arc<Value>,
    /// Where it goes, as planned at intake.
    pub destinations: &'a [Destination],
    pub progress: &'a Progress,
}

impl<I: Input> Work<'_, I> {
    /// What a template sees: `event` (as stored), `id`, `kind` and
    /// `received_at` (RFC 3339); the subscriber adds its own values.
    pub fn template_context(&self) -> TemplateContext {
        let received_at = std::time::UNIX_EPOCH
            + Duration::from_millis(u64::try_from(self.received_at).unwrap_or_default());
        TemplateContext {
            event: Arc::clone(self.json),
            id: self.id.to_string(),
            kind: self.event.kind().as_str(),
            received_at: humantime::format_rfc3339_millis(received_at).to_string(),
            values: serde_json::Map::new(),
        }
    }
}

/// A template's context: the shared event (never copied) and the values a
/// subscriber adds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TemplateContext {
    #[serde(serialize_with = "shared")]
    event: Arc<Value>,
    id: String,
    kind: &'static str,
    received_at: String,
    #[serde(flatten)]
    values: serde_json::Map<String, Value>,
}

fn shared<S: serde::Serializer>(value: &Arc<Value>, serializer: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(value.as_ref(), serializer)
}

impl TemplateContext {
    pub fn insert(&mut self, name: &str, value: impl Into<Value>) {
        self.values.insert(name.to_owned(), value.into());
    }
}

/// The shared services integrations use (a chat client, say), by type:
/// the engine hands them on without knowing what they are.
#[derive(Default, Clone)]
pub struct Services(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl Services {
    pub fn insert<T: Any + Send + Sync>(&mut self, service: Arc<T>) {
        self.0.insert(TypeId::of::<T>(), service);
    }

    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let service = self.0.get(&TypeId::of::<T>())?.clone();
        service.downcast::<T>().ok()
    }
}

/// What a subscriber may use when it is created.
pub struct Setup<'a> {
    pub settings: &'a Settings,
    /// For subscribers that write to the database (through the one
    /// writer); `None` in a preview (`alvares render`).
    pub journal: Option<&'a Journal>,
    /// The shared services that are configured (the Slack client…).
    pub services: &'a Services,
    pub clock: &'a SharedClock,
    /// The subscriber's own health, where a reason it is not configured
    /// shows.
    pub health: &'a ActorHealth,
    /// The operator's routes and templates in force (they change on a
    /// reload: read them at delivery).
    pub operator: &'a OperatorView,
    /// The deployment history, for what a deployment changes; `None` in a
    /// preview.
    pub history: Option<&'a Arc<dyn DeploymentHistory>>,
}

impl Setup<'_> {
    /// Says why the subscriber stays unconfigured although its variables
    /// are set (in the log and in its health's last error).
    pub fn unconfigured_because(&self, reason: String) {
        log::warn!("{}: not configured: {reason}", self.health.id);
        self.health
            .record_error(format!("not configured: {reason}"));
    }
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
/// client is not `Send`, so each actor makes its own; it never follows
/// redirects), the call timeout, the subscriber's own pace and the clock.
pub struct DeliveryContext {
    pub http: awc::Client,
    pub timeout: Duration,
    pub limiter: Arc<Limiter>,
    pub clock: SharedClock,
    /// The longest pause a 429 may ask for (`MAX_RETRY_AFTER_SECONDS`).
    pub max_retry_after: Duration,
}

impl DeliveryContext {
    pub fn new(
        timeout: Duration,
        limiter: Arc<Limiter>,
        clock: SharedClock,
        max_retry_after: Duration,
    ) -> Self {
        let http = awc::Client::builder()
            .timeout(timeout)
            .disable_redirects()
            .add_default_header(("User-Agent", concat!("alvares/", env!("CARGO_PKG_VERSION"))))
            .finish();
        DeliveryContext {
            http,
            timeout,
            limiter,
            clock,
            max_retry_after,
        }
    }

    /// Sends a request built on [`Self::http`] and classifies the answer
    /// by its status (see [`outbound`]): a 2xx is the answer whatever its
    /// body, of which a prefix is kept. `default_wait` is the wait a 429
    /// without a `Retry-After` stands for. The call ends within
    /// [`Self::timeout`].
    pub async fn send(
        &self,
        request: awc::ClientRequest,
        body: Body<'_>,
        default_wait: Duration,
    ) -> Result<Answer, CallError> {
        self.call(request, body, default_wait, Reading::Status)
            .await
    }

    /// Like [`Self::send`], for a destination whose answer is its body
    /// (JSON to read): a 2xx's body must arrive whole within the timeout,
    /// and is read up to [`outbound::MOST_ANSWER_BYTES`].
    pub async fn send_and_read(
        &self,
        request: awc::ClientRequest,
        body: Body<'_>,
        default_wait: Duration,
    ) -> Result<Answer, CallError> {
        self.call(request, body, default_wait, Reading::Body).await
    }

    async fn call(
        &self,
        request: awc::ClientRequest,
        body: Body<'_>,
        default_wait: Duration,
        reading: Reading,
    ) -> Result<Answer, CallError> {
        let rules = CallRules {
            default_wait,
            max_wait: self.max_retry_after,
            reading,
        };
        outbound::send(request, body, self.timeout, &rules).await
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

    /// Keeps a fact an attempt established (one line, `key=value`), so that
    /// a retry uses the same one.
    pub fn note(&self, key: &str, value: &str) {
        let value = value.replace('\n', " ");
        let mut steps = self.0.borrow_mut();
        steps.retain(|step| !step.starts_with(&format!("{key}=")));
        steps.insert(format!("{key}={value}"));
    }

    /// A fact an earlier attempt noted.
    pub fn noted(&self, key: &str) -> Option<String> {
        let prefix = format!("{key}=");
        self.0
            .borrow()
            .iter()
            .find_map(|step| step.strip_prefix(&prefix).map(str::to_owned))
    }
}
