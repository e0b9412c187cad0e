//! Telling operators, in Slack (`ALERT_CHANNEL`), when a delivery becomes a
//! dead letter and when a subscriber's circuit stays open longer than
//! `ALERT_AFTER_SECONDS` — through the same Slack client and channel pace
//! as every other message. At most one message per subscriber per
//! `ALERT_AFTER_SECONDS`, so an outage does not flood the channel: what
//! happened meanwhile is counted in the next one.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Supervised, WrapFuture};

use super::health::HealthBoard;
use crate::clock::SharedClock;
use crate::domain::slack_text::escape;
use crate::engine::guard::guarded;
use crate::engine::rate_limit::Limiter;
use crate::engine::{ActorHealth, ActorState, DeadLettered, DeliveryContext, Progress};
use crate::slack::{SlackClient, SlackMessage};

/// How often open circuits are looked at.
const LOOK_EVERY: Duration = Duration::from_secs(1);

pub struct AlertActor {
    slack: Arc<SlackClient>,
    channel: String,
    /// The console's address, for links.
    console: String,
    window_ms: i64,
    /// Every actor's health, once the pipeline has built it.
    board: Option<HealthBoard>,
    clock: SharedClock,
    context: Rc<DeliveryContext>,
    /// When each subscriber was last announced.
    last_sent: HashMap<String, i64>,
    /// Dead letters not announced (inside the window), per subscriber.
    held_back: HashMap<String, usize>,
    /// Since when each subscriber's circuit has been seen open, and
    /// whether that was announced.
    open_since: HashMap<String, (i64, bool)>,
    health: Arc<ActorHealth>,
}

impl AlertActor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        slack: Arc<SlackClient>,
        channel: String,
        console: String,
        window: Duration,
        timeout: Duration,
        clock: SharedClock,
        health: Arc<ActorHealth>,
    ) -> Self {
        let limiter = Arc::new(Limiter::new("alerts", None, 1, clock.clone()));
        AlertActor {
            context: Rc::new(DeliveryContext::new(
                timeout,
                limiter,
                clock.clone(),
                window,
            )),
            slack,
            channel,
            console: console.trim_end_matches('/').to_owned(),
            window_ms: window.as_millis() as i64,
            board: None,
            clock,
            last_sent: HashMap::new(),
            held_back: HashMap::new(),
            open_since: HashMap::new(),
            health,
        }
    }

    /// Whether `subscriber` may be announced now (once per window).
    fn may_send(&self, subscriber: &str, now: i64) -> bool {
        self.last_sent
            .get(subscriber)
            .is_none_or(|last| now - last >= self.window_ms)
    }

    fn dead_letters_link(&self, subscriber: &str) -> String {
        format!(
            "{}/admin/#dead-letters?subscriber={subscriber}",
            self.console
        )
    }

    fn send(&mut self, subscriber: &str, text: String, ctx: &mut Context<Self>) {
        self.last_sent
            .insert(subscriber.to_owned(), self.clock.now_ms());
        let subscriber = subscriber.to_owned();
        let channel = self.slack.overridden(vec![self.channel.clone()]).remove(0);
        let message = SlackMessage::to_each(&[channel], &text, "Alvares", ":rotating_light:");
        let (slack, context) = (self.slack.clone(), self.context.clone());
        let health = self.health.clone();
        let post = async move {
            let progress = Progress::default();
            slack.post_all(&context, &progress, &message).await
        };
        ctx.spawn(post.into_actor(self).map(move |result, _, _| match result {
            Ok(_) => ActorHealth::count(&health.delivered),
            Err(error) => {
                ActorHealth::count(&health.failed);
                health.record_error(format!("alert about {subscriber} not sent: {error}"));
                log::error!("alerts: the alert about {subscriber} could not be sent: {error}");
            }
        }));
    }

    fn on_dead_letter(&mut self, message: DeadLettered, ctx: &mut Context<Self>) {
        ActorHealth::count(&self.health.received);
        let now = self.clock.now_ms();
        let subscriber = message.subscriber;
        if !self.may_send(subscriber, now) {
            *self.held_back.entry(subscriber.to_owned()).or_default() += 1;
            ActorHealth::count(&self.health.skipped);
            return;
        }
        let more = self.held_back.remove(subscriber).unwrap_or(0);
        let since = if more > 0 {
            format!(" ({more} more since the last alert)")
        } else {
            String::new()
        };
        // The error can quote an event (a channel's name, a template's
        // value): Slack text, escaped.
        let text = format!(
            "*{}* gave up on event {}{since}: {}\nDead letters: {}",
            escape(subscriber),
            message.event_id,
            escape(&message.error),
            escape(&self.dead_letters_link(subscriber))
        );
        self.send(subscriber, text, ctx);
    }

    /// Announces circuits open for longer than the window, once per
    /// opening.
    fn look_at_circuits(&mut self, ctx: &mut Context<Self>) {
        ActorHealth::count(&self.health.rounds);
        let now = self.clock.now_ms();
        let Some(board) = self.board.clone() else {
            return;
        };
        for report in board.snapshot() {
            let open = report.state == ActorState::CircuitOpen
                || report.state == ActorState::CircuitHalfOpen;
            if !open {
                self.open_since.remove(&report.id);
                continue;
            }
            let (since, told) = *self
                .open_since
                .entry(report.id.clone())
                .or_insert((now, false));
            if told || now - since < self.window_ms {
                continue;
            }
            let subscriber = report.id.clone();
            if !self.may_send(&subscriber, now) {
                continue;
            }
            self.open_since.insert(report.id.clone(), (since, true));
            let last_error = report
                .last_error
                .map(|e| e.message)
                .unwrap_or_else(|| "no error recorded".into());
            let text = format!(
                "*{}*'s circuit has been open for {} (its destination keeps failing; deliveries wait): {}\nActors: {}/admin/",
                escape(&subscriber),
                humantime::format_duration(Duration::from_secs(((now - since) / 1000) as u64)),
                escape(&last_error),
                escape(&self.console)
            );
            self.send(&subscriber, text, ctx);
        }
    }
}

/// Pipeline → alerts: every actor's health, to watch circuits in.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct WatchHealth(pub HealthBoard);

impl Handler<WatchHealth> for AlertActor {
    type Result = ();

    fn handle(&mut self, message: WatchHealth, _ctx: &mut Self::Context) {
        self.board = Some(message.0);
    }
}

impl Actor for AlertActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.health.set_restarting(false);
        ctx.run_interval(LOOK_EVERY, |actor, ctx| {
            let health = actor.health.clone();
            guarded(&health, ctx, |ctx| actor.look_at_circuits(ctx));
        });
    }
}

impl Supervised for AlertActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        log::warn!("alerts: restarted by its supervisor");
    }
}

impl Handler<DeadLettered> for AlertActor {
    type Result = ();

    fn handle(&mut self, message: DeadLettered, ctx: &mut Self::Context) {
        let health = self.health.clone();
        guarded(&health, ctx, |ctx| self.on_dead_letter(message, ctx));
    }
}
