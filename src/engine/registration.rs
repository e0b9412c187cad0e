//! A subscriber's entry in the registration list, and how its supervised
//! actor is started on a thread of its own.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use actix::{Arbiter, Recipient, Supervisor};
use actix_rt::ArbiterHandle;

use super::actor::{ActorParts, Deliver, Drain, SubscriberActor};
use super::conformance::{Conformance, ConformanceBench};
use super::subscriber::{Input, Planning, Progress, Setup, Subscriber, Work};
use crate::config::{ConfigError, OperatorConfig, RateLimit};
use crate::domain::{Destination, EnrichedEvent, EventKind, PlannedDestination, PublishedEvent};

/// A subscriber's entry in the registration list.
#[derive(Clone)]
pub struct Registration {
    pub id: &'static str,
    /// The Python service's module name (`""` for a declared subscriber).
    pub legacy_name: &'static str,
    pub kinds: &'static [EventKind],
    /// Its `RATE_LIMITS` group (its id when it has none).
    pub rate_group: &'static str,
    pub default_rate_limit: Option<RateLimit>,
    /// Whether it sends its kind's main message (see `Subscriber::ROUTED`).
    pub routed: bool,
    /// Declared in the operator file (a webhook): a reload adds or
    /// removes it.
    pub declared: bool,
    start: StartFn,
    preview: PreviewFn,
    conformance: fn(&ConformanceBench<'_>) -> Conformance,
}

/// One entry of the integration list (`subscribers::integrations`): a
/// built-in subscriber, or a type the operator file declares subscribers
/// of (a webhook each).
#[derive(Clone)]
pub enum Integration {
    Builtin(Registration),
    Declared {
        /// The type's name (`webhook`).
        kind: &'static str,
        /// The subscribers an operator file declares of it.
        declare: fn(&OperatorConfig) -> Vec<Registration>,
        conformance: fn(&ConformanceBench<'_>) -> Conformance,
    },
}

impl Integration {
    pub fn builtin<S: Subscriber>() -> Self {
        Integration::Builtin(Registration::of::<S>())
    }

    /// A declared type: `declare` makes its subscribers of an operator
    /// file.
    pub fn declared<S: Subscriber>(declare: fn(&OperatorConfig) -> Vec<Registration>) -> Self {
        Integration::Declared {
            kind: S::ID,
            declare,
            conformance: S::conformance,
        }
    }

    /// Its id (a declared type's name).
    pub fn id(&self) -> &'static str {
        match self {
            Integration::Builtin(registration) => registration.id,
            Integration::Declared { kind, .. } => kind,
        }
    }

    /// How the conformance test runs it.
    pub fn conformance(&self, bench: &ConformanceBench<'_>) -> Conformance {
        match self {
            Integration::Builtin(registration) => registration.conformance(bench),
            Integration::Declared { conformance, .. } => conformance(bench),
        }
    }

    /// Its subscribers: the built-in one, or those `operator` declares.
    pub fn registrations(&self, operator: &OperatorConfig) -> Vec<Registration> {
        match self {
            Integration::Builtin(registration) => vec![registration.clone()],
            Integration::Declared { declare, .. } => declare(operator),
        }
    }
}

type StartFn =
    Arc<dyn Fn(&Setup<'_>, ActorParts) -> Result<Option<StartedActor>, ConfigError> + Send + Sync>;
type PreviewFn = Arc<dyn Fn(&Setup<'_>, &PublishedEvent) -> Preview + Send + Sync>;

/// What `alvares render` shows for one subscriber.
#[derive(Debug)]
pub enum Preview {
    /// The request bodies it would send.
    Sends(Vec<serde_json::Value>),
    /// It would not send anything, and why.
    Nothing(String),
    /// It would fail, and why.
    Fails(String),
}

/// A subscriber actor running on its own thread.
#[derive(Clone)]
pub struct StartedActor {
    pub deliver: Recipient<Deliver>,
    pub drain: Recipient<Drain>,
    pub arbiter: ArbiterHandle,
    /// Its choice of destinations, asked when an event is planned.
    pub planner: Arc<dyn Plans>,
}

/// A subscriber's choice of destinations for any event (see
/// [`Subscriber::destinations`]), callable from the planning thread.
pub trait Plans: Send + Sync {
    fn destinations(
        &self,
        event: &EnrichedEvent,
        planning: &Planning<'_>,
    ) -> Vec<PlannedDestination>;
}

struct Planner<S>(Arc<S>);

impl<S: Subscriber> Plans for Planner<S> {
    fn destinations(
        &self,
        event: &EnrichedEvent,
        planning: &Planning<'_>,
    ) -> Vec<PlannedDestination> {
        S::Input::pick(event)
            .map(|input| self.0.destinations(input, planning))
            .unwrap_or_default()
    }
}

impl StartedActor {
    /// Whether the actor still takes messages (its supervisor keeps it so
    /// unless something killed its thread).
    pub fn is_alive(&self) -> bool {
        self.deliver.connected()
    }
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
            routed: S::ROUTED,
            declared: false,
            start: Arc::new(|setup, parts| start_actor(S::from_config(setup)?, parts)),
            preview: Arc::new(|setup, event| preview(S::from_config(setup), setup, event)),
            conformance: S::conformance,
        }
    }

    /// A subscriber declared in the operator file, made by `make` (which
    /// answers `None` when it cannot be configured).
    pub fn declared<S: Subscriber>(
        id: &str,
        kinds: &[EventKind],
        rate_limit: Option<RateLimit>,
        make: impl Fn(&Setup<'_>) -> Result<Option<S>, ConfigError> + Send + Sync + 'static,
    ) -> Self {
        let id = intern(id);
        let make = Arc::new(make);
        let make_preview = make.clone();
        Registration {
            id,
            legacy_name: "",
            kinds: EventKind::static_subset(kinds),
            rate_group: id,
            default_rate_limit: rate_limit,
            routed: false,
            declared: true,
            start: Arc::new(move |setup, parts| start_actor(make(setup)?, parts)),
            preview: Arc::new(move |setup, event| preview(make_preview(setup), setup, event)),
            conformance: S::conformance,
        }
    }

    /// Reads the subscriber's configuration and, when it is configured,
    /// starts its supervised actor on a thread of its own (a subscriber that
    /// blocks or panics cannot stall the others).
    pub fn start(
        &self,
        setup: &Setup<'_>,
        parts: ActorParts,
    ) -> Result<Option<StartedActor>, ConfigError> {
        (self.start)(setup, parts)
    }
}

impl Registration {
    /// How the conformance test runs it.
    pub fn conformance(&self, bench: &ConformanceBench<'_>) -> Conformance {
        (self.conformance)(bench)
    }

    /// What it would send for `event`, with the configuration in `setup`.
    pub fn preview(&self, setup: &Setup<'_>, event: &PublishedEvent) -> Preview {
        (self.preview)(setup, event)
    }
}

fn preview<S: Subscriber>(
    made: Result<Option<S>, ConfigError>,
    setup: &Setup<'_>,
    event: &PublishedEvent,
) -> Preview {
    let subscriber = match made {
        Ok(Some(subscriber)) => subscriber,
        Ok(None) => return Preview::Nothing("it is not configured".into()),
        Err(error) => return Preview::Fails(error.to_string()),
    };
    let Some(input) = S::Input::pick(&event.event) else {
        return Preview::Nothing(format!("it takes no {} events", event.kind()));
    };
    let progress = Progress::default();
    // Planned as intake would, with the configuration in force.
    let operator = setup.operator.borrow().clone();
    let planning = Planning {
        kind: event.kind(),
        json: &event.json,
        operator: &operator,
    };
    let destinations: Vec<Destination> = subscriber
        .destinations(input, &planning)
        .into_iter()
        .map(|planned| planned.destination)
        .collect();
    let work = Work {
        id: event.id,
        received_at: event.received_at,
        event: input,
        json: &event.json,
        destinations: &destinations,
        progress: &progress,
    };
    match subscriber.preview(work) {
        None => Preview::Nothing("it has no message to preview".into()),
        Some(Ok(bodies)) if bodies.is_empty() => {
            Preview::Nothing("no channel or destination to send to".into())
        }
        Some(Ok(bodies)) => Preview::Sends(bodies),
        Some(Err(error)) => Preview::Fails(error.to_string()),
    }
}

fn start_actor<S: Subscriber>(
    subscriber: Option<S>,
    parts: ActorParts,
) -> Result<Option<StartedActor>, ConfigError> {
    let Some(subscriber) = subscriber else {
        return Ok(None);
    };
    parts.health.attach_limiter(Arc::clone(&parts.limiter));
    let subscriber = Arc::new(subscriber);
    let planner = Arc::new(Planner(Arc::clone(&subscriber)));
    let arbiter = Arbiter::new();
    let addr = Supervisor::start_in_arbiter(&arbiter.handle(), move |_| {
        SubscriberActor::new(subscriber, parts)
    });
    Ok(Some(StartedActor {
        deliver: addr.clone().recipient(),
        drain: addr.recipient(),
        arbiter: arbiter.handle(),
        planner,
    }))
}

/// The one `&'static` copy of a declared subscriber's id. Ids are
/// `&'static str` everywhere (tickets, routes, logs); a declared one is
/// leaked once per distinct name for the life of the process, so the leak
/// is bounded by the names an operator ever declares.
pub fn intern(id: &str) -> &'static str {
    static IDS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut ids = IDS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let ids = ids.get_or_insert_with(HashSet::new);
    if let Some(known) = ids.get(id) {
        return known;
    }
    let leaked: &'static str = Box::leak(id.to_owned().into_boxed_str());
    ids.insert(leaked);
    leaked
}
