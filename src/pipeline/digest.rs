//! The weekly digest (`DIGEST_CHANNELS`): once a week, at the configured
//! day and hour (UTC), each team's channel is told its delivery figures
//! for the week just ended and how they changed from the week before.
//!
//! A digest is a recommendation for the team's channel, handed to intake
//! like one the pipeline sent, so it is recorded in the journal and
//! delivered (paced, retried, dead-lettered) like any other event. Its
//! idempotency key names the team and the week: every replica, and a
//! restarted one, may offer it, and the journal keeps only the first —
//! exactly one per team per week. It is offered during the 24 hours after
//! the digest time (the span of an idempotency key), never later.
//!
//! The pipeline starts it (when `DIGEST_CHANNELS` is set) under a
//! supervisor, shows it on the health board as `digest`, and quiesces it
//! at shutdown like every core actor.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, SpawnHandle, Supervised,
    Supervisor, WrapFuture,
};
use sha2::{Digest as _, Sha256};

use super::intake::IntakeActor;
use super::messages::{Accept, IdempotencyKey, IntakeError, Quiesce};
use crate::clock::SharedClock;
use crate::config::DigestConfig;
use crate::domain::{Event, Recommendation};
use crate::engine::ActorHealth;
use crate::engine::guard::guarded;
use crate::store::DbPool;
use crate::store::insights::{Outcome, Scope, outcomes};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// Monday 1970-01-05 00:00 UTC: weeks start on Mondays (ISO 8601).
const FIRST_MONDAY_MS: i64 = 4 * DAY_MS;
/// How often the schedule is looked at (cheap until a digest is due).
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How long after the digest time it is still offered.
const OFFERED_FOR_MS: i64 = DAY_MS;

/// The Monday (00:00 UTC, Unix ms) of the week whose digest is due at
/// `now`, when `now` is within a day after that week's digest time.
pub fn due_week(config: &DigestConfig, now: i64) -> Option<i64> {
    let this_monday = now - (now - FIRST_MONDAY_MS).rem_euclid(WEEK_MS);
    // A late digest time's day runs into the next week.
    [this_monday, this_monday - WEEK_MS]
        .into_iter()
        .find(|monday| {
            let at = monday + i64::from(config.weekday) * DAY_MS + i64::from(config.hour) * HOUR_MS;
            now >= at && now < at + OFFERED_FOR_MS
        })
}

/// One team's figures for one week.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeekFigures {
    pub deployments: i64,
    pub failed: i64,
    /// Milliseconds from the error to the restoring deployment, sorted.
    pub restore_times: Vec<i64>,
}

impl WeekFigures {
    /// From the insights query's grouped rows (defined in the README's
    /// Insights section).
    pub fn of(rows: &[Outcome]) -> Self {
        let mut figures = WeekFigures::default();
        for row in rows {
            figures.deployments += row.deployments;
            if let Some(failed_at) = row.failed_at {
                figures.failed += row.deployments;
                if let Some(restored_at) = row.restored_at {
                    figures.restore_times.extend(std::iter::repeat_n(
                        restored_at - failed_at,
                        row.deployments as usize,
                    ));
                }
            }
        }
        figures.restore_times.sort_unstable();
        figures
    }

    fn rate(&self) -> Option<f64> {
        (self.deployments > 0).then(|| self.failed as f64 / self.deployments as f64)
    }

    fn median_restore(&self) -> Option<i64> {
        let times = &self.restore_times;
        match times.len() {
            0 => None,
            n if n % 2 == 1 => Some(times[n / 2]),
            n => Some((times[n / 2 - 1] + times[n / 2]) / 2),
        }
    }
}

/// The digest's text: the week just ended, beside the week before.
pub fn digest_text(team: &str, week: i64, this: &WeekFigures, before: &WeekFigures) -> String {
    let percent =
        |rate: Option<f64>| rate.map_or("–".to_owned(), |r| format!("{:.0} %", r * 100.0));
    let restore = |ms: Option<i64>| {
        ms.map_or("–".to_owned(), |ms| {
            crate::domain::history::in_words(Duration::from_millis(ms.max(0) as u64))
        })
    };
    let change = this.deployments - before.deployments;
    format!(
        "*Weekly digest for {team}*, week of {start}\n\
         • deployments: {deployments} ({change:+} on the week before, {before_deployments})\n\
         • change-failure rate: {rate} (the week before: {before_rate})\n\
         • median time to restore: {restore} (the week before: {before_restore})",
        start = date(week - WEEK_MS),
        deployments = this.deployments,
        before_deployments = before.deployments,
        rate = percent(this.rate()),
        before_rate = percent(before.rate()),
        restore = restore(this.median_restore()),
        before_restore = restore(before.median_restore()),
    )
}

/// `YYYY-MM-DD` (UTC).
fn date(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()[..10].to_owned()
}

pub struct DigestActor {
    config: DigestConfig,
    failure_window_ms: i64,
    pool: DbPool,
    intake: Addr<IntakeActor>,
    clock: SharedClock,
    health: Arc<ActorHealth>,
    /// (team, week) this process has seen recorded.
    recorded: HashSet<(String, i64)>,
    busy: bool,
    quiet: bool,
    ticking: Option<SpawnHandle>,
}

/// What the digest is made from.
pub struct DigestParts {
    pub config: DigestConfig,
    pub failure_window_hours: u32,
    /// Where the week's figures are read.
    pub pool: DbPool,
    pub intake: Addr<IntakeActor>,
    pub clock: SharedClock,
    pub health: Arc<ActorHealth>,
}

/// Starts the digest actor under a supervisor.
pub fn start(parts: DigestParts) -> Addr<DigestActor> {
    Supervisor::start(move |_| DigestActor::new(parts))
}

impl DigestActor {
    pub fn new(parts: DigestParts) -> Self {
        let DigestParts {
            config,
            failure_window_hours,
            pool,
            intake,
            clock,
            health,
        } = parts;
        DigestActor {
            config,
            failure_window_ms: i64::from(failure_window_hours) * HOUR_MS,
            pool,
            intake,
            clock,
            health,
            recorded: HashSet::new(),
            busy: false,
            quiet: false,
            ticking: None,
        }
    }

    fn look(&mut self, ctx: &mut Context<Self>) {
        fail::fail_point!("digest-look");
        if self.busy || self.quiet {
            return;
        }
        ActorHealth::count(&self.health.rounds);
        let Some(week) = due_week(&self.config, self.clock.now_ms()) else {
            return;
        };
        let teams: Vec<(String, String)> = self
            .config
            .teams
            .iter()
            .filter(|(team, _)| !self.recorded.contains(&(team.clone(), week)))
            .cloned()
            .collect();
        if teams.is_empty() {
            return;
        }
        self.busy = true;
        let (pool, intake, window) = (
            self.pool.clone(),
            self.intake.clone(),
            self.failure_window_ms,
        );
        let health = self.health.clone();
        let work = async move {
            let mut recorded = Vec::new();
            for (team, channel) in teams {
                match offer(&pool, &intake, window, &team, &channel, week).await {
                    Ok(()) => {
                        ActorHealth::count(&health.delivered);
                        recorded.push((team, week));
                    }
                    Err(error) => {
                        ActorHealth::count(&health.failed);
                        health.record_error(format!("{team}'s digest was not recorded: {error}"));
                        log::warn!("digest: {team}'s digest was not recorded: {error}");
                    }
                }
            }
            recorded
        };
        ctx.spawn(work.into_actor(self).map(|recorded, actor, _| {
            actor.busy = false;
            actor.recorded.extend(recorded);
        }));
    }
}

/// Computes one team's digest and hands it to intake; `Ok` once the
/// journal holds it (from this replica or an earlier offer).
async fn offer(
    pool: &DbPool,
    intake: &Addr<IntakeActor>,
    failure_window_ms: i64,
    team: &str,
    channel: &str,
    week: i64,
) -> Result<(), String> {
    let scope = |since: i64| Scope {
        team: Some(team.to_owned()),
        application: None,
        cluster: None,
        since,
        until: since + WEEK_MS,
        failure_window_ms,
    };
    let (this, before) = (scope(week - WEEK_MS), scope(week - 2 * WEEK_MS));
    let pool = pool.clone();
    let (this, before) = tokio::task::spawn_blocking(move || {
        let mut connection = pool.get().map_err(|error| error.to_string())?;
        let this = outcomes(&mut connection, &this).map_err(|error| error.to_string())?;
        let before = outcomes(&mut connection, &before).map_err(|error| error.to_string())?;
        Ok::<_, String>((WeekFigures::of(&this), WeekFigures::of(&before)))
    })
    .await
    .map_err(|_| "the figures' query stopped".to_owned())??;
    let message = digest_text(team, week, &this, &before);
    let key = format!("digest:{team}:{}", date(week));
    let body_hash = Sha256::digest(format!("{channel}\n{message}").as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let event = Event::Recommendation(Recommendation {
        message,
        slack_channels: vec![channel.to_owned()],
        extra: serde_json::Map::from_iter([("digestTeam".to_owned(), team.into())]),
    });
    let answer = intake
        .send(Accept {
            event,
            idempotency: Some(IdempotencyKey { key, body_hash }),
            request_id: None,
        })
        .await
        .map_err(|_| "intake is restarting".to_owned())?;
    match answer {
        Ok(accepted) => {
            if !accepted.repeated {
                log::info!(
                    "digest: {team}'s weekly digest recorded as event {}",
                    accepted.id
                );
            }
            Ok(())
        }
        // Another replica recorded it first, with figures read a moment
        // earlier: that one stands.
        Err(IntakeError::KeyReused) => Ok(()),
        Err(error) => Err(error.to_string()),
    }
}

impl Actor for DigestActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.health.set_restarting(false);
        self.busy = false;
        if self.quiet {
            return;
        }
        let health = self.health.clone();
        guarded(&health, ctx, |ctx| self.look(ctx));
        self.ticking = Some(ctx.run_interval(LOOK_EVERY, |actor, ctx| {
            let health = actor.health.clone();
            guarded(&health, ctx, |ctx| actor.look(ctx));
        }));
    }
}

impl Supervised for DigestActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        log::warn!("digest: restarted by its supervisor");
    }
}

impl Handler<Quiesce> for DigestActor {
    type Result = ();

    fn handle(&mut self, _: Quiesce, ctx: &mut Self::Context) {
        self.quiet = true;
        if let Some(ticking) = self.ticking.take() {
            ctx.cancel_future(ticking);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 2026-11-30 00:00 UTC.
    const MONDAY: i64 = 1_795_996_800_000;

    fn config(weekday: u32, hour: u32) -> DigestConfig {
        DigestConfig {
            teams: vec![("team-a".into(), "#a".into())],
            weekday,
            hour,
        }
    }

    #[test]
    fn due_within_a_day_after_the_digest_time_only() {
        let monday_nine = config(0, 9);
        assert_eq!(due_week(&monday_nine, MONDAY + 9 * HOUR_MS - 1), None);
        assert_eq!(due_week(&monday_nine, MONDAY + 9 * HOUR_MS), Some(MONDAY));
        assert_eq!(
            due_week(&monday_nine, MONDAY + 33 * HOUR_MS - 1),
            Some(MONDAY)
        );
        assert_eq!(due_week(&monday_nine, MONDAY + 33 * HOUR_MS), None);
        assert_eq!(
            due_week(&monday_nine, MONDAY + WEEK_MS + 10 * HOUR_MS),
            Some(MONDAY + WEEK_MS)
        );
        // Sunday 23:00: the day after runs into the next week.
        let sunday_late = config(6, 23);
        let at = MONDAY + 6 * DAY_MS + 23 * HOUR_MS;
        assert_eq!(due_week(&sunday_late, at - 1), None);
        assert_eq!(due_week(&sunday_late, at), Some(MONDAY));
        assert_eq!(
            due_week(&sunday_late, at + 23 * HOUR_MS),
            Some(MONDAY),
            "into the next week"
        );
        assert_eq!(due_week(&sunday_late, at + DAY_MS), None);
    }

    #[test]
    fn the_text_compares_with_the_week_before() {
        let this = WeekFigures {
            deployments: 4,
            failed: 1,
            restore_times: vec![3 * HOUR_MS],
        };
        let before = WeekFigures {
            deployments: 6,
            failed: 0,
            restore_times: vec![],
        };
        assert_eq!(
            digest_text("team-a", MONDAY, &this, &before),
            "*Weekly digest for team-a*, week of 2026-11-23\n\
             • deployments: 4 (-2 on the week before, 6)\n\
             • change-failure rate: 25 % (the week before: 0 %)\n\
             • median time to restore: 3 hours (the week before: –)"
        );
    }
}
