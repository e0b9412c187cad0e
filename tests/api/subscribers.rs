//! `DISABLED_SUBSCRIBERS` and unconfigured subscribers.

use std::time::Duration;

use alvares::config::Settings;
use alvares::engine::ActorState;
use alvares::startup::Application;
use alvares::subscribers::registrations;

use crate::helpers::{eventually, fixture, hook, mock_slack, spawn_app, wait_for_slack};

#[actix_web::test]
async fn disabled_subscribers_accept_ids_and_old_module_names() {
    let slack = mock_slack().await;
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        (
            "DISABLED_SUBSCRIBERS",
            "application-endpoint, modules.subscribers.slack.slack_error",
        ),
    ])
    .await;
    assert_eq!(
        app.actor("application-endpoint").state,
        ActorState::Disabled
    );
    assert_eq!(app.actor("slack-error").state, ActorState::Disabled);
    assert_eq!(app.actor("slack-deployment").state, ActorState::Running);
    app.put_event("error", &fixture("error.json")).await;
    app.put_event("deployment", &fixture("deployment.json"))
        .await;
    // Only slack-deployment's two messages go out.
    let received = wait_for_slack(&app, &slack, 2).await;
    assert!(
        received
            .iter()
            .all(|m| m["username"] == "Cluster Deployment")
    );
    eventually("skips counted", Duration::from_secs(2), || async {
        (app.actor("slack-error").skipped == 1 && app.actor("application-endpoint").skipped == 1)
            .then_some(())
    })
    .await;
}

#[actix_web::test]
async fn an_unknown_subscriber_name_stops_start_up_listing_the_valid_ids() {
    let settings =
        Settings::from_map([("DISABLED_SUBSCRIBERS", "slack-deployment,uptime")]).unwrap();
    let error = Application::build_with(settings, registrations(), "127.0.0.1:0")
        .await
        .err()
        .expect("start-up fails");
    assert_eq!(
        error.to_string(),
        "configuration error: DISABLED_SUBSCRIBERS names unknown subscriber(s) uptime; valid ids: \
         application-endpoint, database, detectify, flottsbro, lighthouse, slack-deployment, slack-error, \
         slack-recommendation, uptimerobot"
    );
}

#[actix_web::test]
async fn an_unconfigured_subscriber_reports_itself_and_skips() {
    let app = spawn_app(&[]).await;
    app.put_event(
        "recommendation",
        &serde_json::json!({"message": "m", "slackChannels": "#a"}),
    )
    .await;
    let report = eventually("the skip", Duration::from_secs(2), || async {
        let report = app.actor("slack-recommendation");
        (report.skipped == 1).then_some(report)
    })
    .await;
    assert_eq!(report.state, ActorState::Unconfigured);
    assert_eq!((report.delivered, report.failed), (0, 0));
}
