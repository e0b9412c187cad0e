//! The actors: a subscriber that panics or fails fatally is restarted and
//! counted, and neither intake nor any other subscriber notices; a slow
//! subscriber delays no one else.

use std::time::Duration;

use alvares::config::ConfigError;
use alvares::domain::EnrichedDeployment;
use alvares::error::DeliveryError;
use alvares::subscribers::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, Registration, Setup,
    Subscriber, Work, registrations,
};
use serde_json::json;

use crate::helpers::{eventually, hook, mock_slack, spawn_app_with, wait_for_slack};

/// Panics on the deployment of `boom`, fails fatally on the first attempt
/// at `fatal`, takes 400 ms over `slow`, and delivers everything else.
struct Fragile {
    fatal_seen: std::sync::atomic::AtomicBool,
}

impl Subscriber for Fragile {
    const ID: &'static str = "test-fragile";
    const LEGACY_NAME: &'static str = "tests.fragile";
    type Input = EnrichedDeployment;

    /// Runs as it is: configured always, calling nobody (it is in no
    /// integration list, so the conformance test never runs it).
    fn conformance(_bench: &ConformanceBench<'_>) -> Conformance {
        Conformance {
            runs_unconfigured: true,
            ..Conformance::default()
        }
    }

    fn from_config(_setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(Some(Fragile {
            fatal_seen: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    async fn deliver(
        &self,
        _context: &DeliveryContext,
        work: Work<'_, EnrichedDeployment>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        match work.event.application_name.as_str() {
            "boom" => panic!("test subscriber told to panic"),
            "fatal"
                if !self
                    .fatal_seen
                    .swap(true, std::sync::atomic::Ordering::SeqCst) =>
            {
                Err(DeliveryError::Fatal("test subscriber is broken".into()))
            }
            "slow" => {
                actix_web::rt::time::sleep(Duration::from_millis(400)).await;
                Ok(DeliveryOutcome::Delivered("slowly".into()))
            }
            _ => Ok(DeliveryOutcome::Delivered("done".into())),
        }
    }
}

/// Never finishes a delivery.
struct Hanging;

impl Subscriber for Hanging {
    const ID: &'static str = "test-hanging";
    const LEGACY_NAME: &'static str = "tests.hanging";
    type Input = EnrichedDeployment;

    /// Runs as it is: configured always, calling nobody (it is in no
    /// integration list, so the conformance test never runs it).
    fn conformance(_bench: &ConformanceBench<'_>) -> Conformance {
        Conformance {
            runs_unconfigured: true,
            ..Conformance::default()
        }
    }

    fn from_config(_setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        Ok(Some(Hanging))
    }

    async fn deliver(
        &self,
        _context: &DeliveryContext,
        _work: Work<'_, EnrichedDeployment>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        std::future::pending().await
    }
}

fn deployment(name: &str) -> serde_json::Value {
    json!({"applicationName": name, "cluster": "active", "slackChannels": "#dev"})
}

fn with<S: Subscriber>() -> Vec<Registration> {
    let mut list = registrations();
    list.push(Registration::of::<S>());
    list
}

#[actix_web::test]
async fn a_panicking_subscriber_is_restarted_and_the_others_keep_delivering() {
    let slack = mock_slack().await;
    let app = spawn_app_with(
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("DISABLED_SUBSCRIBERS", "application-endpoint"),
        ],
        with::<Fragile>(),
    )
    .await;
    for name in ["before", "boom", "after"] {
        let (status, _) = app.put_event("deployment", &deployment(name)).await;
        assert_eq!(status, 202, "{name}");
    }
    // Slack got all three deployments, the panicking one included (in
    // any order: slack-deployment runs them at once).
    let received = wait_for_slack(&app, &slack, 3).await;
    let mut texts: Vec<&str> = received
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    texts.sort_unstable();
    assert_eq!(
        texts,
        [
            "*after* deployed in *active*",
            "*before* deployed in *active*",
            "*boom* deployed in *active*"
        ]
    );
    let fragile = eventually("the restart", Duration::from_secs(5), || async {
        let report = app.actor("test-fragile");
        (report.restarts == 1 && report.delivered == 2).then_some(report)
    })
    .await;
    assert_eq!(fragile.failed, 1);
    assert_eq!(
        fragile.last_restart_cause.as_deref(),
        Some("panicked: test subscriber told to panic")
    );
    assert_eq!(app.actor("slack-deployment").restarts, 0);
    assert_eq!(app.actor("slack-deployment").delivered, 3);
    // Intake never noticed.
    let (status, _) = app.put_event("deployment", &deployment("later")).await;
    assert_eq!(status, 202);
    eventually(
        "delivery after the restart",
        Duration::from_secs(5),
        || async { (app.actor("test-fragile").delivered == 3).then_some(()) },
    )
    .await;
}

#[actix_web::test]
async fn a_fatal_error_restarts_the_subscriber_and_interrupted_work_is_redone() {
    let app = spawn_app_with(&[], with::<Fragile>()).await;
    // `slow` is still running when `fatal` stops the actor.
    app.put_event("deployment", &deployment("slow")).await;
    app.put_event("deployment", &deployment("fatal")).await;
    // `slow` is redone after the restart; `fatal` is retried (about 1 s
    // later) and then delivered.
    let report = eventually(
        "the restart and both deliveries",
        Duration::from_secs(5),
        || async {
            let report = app.actor("test-fragile");
            (report.restarts == 1 && report.delivered == 2).then_some(report)
        },
    )
    .await;
    assert_eq!((report.retried, report.failed), (1, 0));
    assert_eq!(
        report.last_restart_cause.as_deref(),
        Some("fatal error: test subscriber is broken")
    );
    assert_eq!(report.state, alvares::engine::ActorState::Running);
}

#[actix_web::test]
async fn a_hanging_subscriber_does_not_delay_the_others() {
    let slack = mock_slack().await;
    let app = spawn_app_with(
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("DISABLED_SUBSCRIBERS", "application-endpoint"),
        ],
        with::<Hanging>(),
    )
    .await;
    let started = std::time::Instant::now();
    for i in 0..5 {
        let (status, _) = app
            .put_event("deployment", &deployment(&format!("app-{i}")))
            .await;
        assert_eq!(status, 202);
    }
    wait_for_slack(&app, &slack, 5).await;
    // All five Slack messages went out while every hanging delivery waits.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.actor("test-hanging").in_flight, 5);
}
