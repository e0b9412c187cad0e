//! Issue "What the history says", item 1: the deployment message says what
//! the deployment replaces in its cluster, read from the stored history
//! under a moved clock, on both backends; a retry sends the same text.

use std::sync::Arc;
use std::time::Duration;

use alvares::clock::ManualClock;
use serde_json::{Value, json};

use alvares::subscribers::registrations;

use crate::helpers::{
    TestApp, TestDatabase, fixture, hook, mock_slack, slack_bodies, spawn_app_full, wait_for_slack,
};
use crate::on_both_backends;

const DAY: Duration = Duration::from_secs(86_400);

fn deployment(application: &str, cluster: &str, version: &str) -> Value {
    let mut event = fixture("deployment.json");
    event["applicationName"] = json!(application);
    event["cluster"] = json!(cluster);
    event["version"] = json!(version);
    event["slackChannels"] = json!("#deploys");
    event
}

/// Sends a deployment and waits until every subscriber finished with it, so
/// that the history holds it before the next one.
async fn deploy(app: &TestApp, event: &Value) {
    let (status, answer) = app.put_event("deployment", event).await;
    assert_eq!(status, 202, "{answer}");
    app.finished_event(answer["id"].as_str().unwrap()).await;
}

/// The footers of the deployment messages received so far, in order.
fn footers(bodies: &[Value]) -> Vec<String> {
    bodies
        .iter()
        .filter(|body| body["username"] == "Cluster Deployment")
        .map(|body| {
            body["attachments"][0]["footer"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn each_message_says_what_it_replaces(database: Arc<TestDatabase>) {
    let slack = mock_slack().await;
    let clock = ManualClock::new();
    let app = spawn_app_full(
        database,
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("DISABLED_SUBSCRIBERS", "application-endpoint"),
        ],
        registrations(),
        clock.clone(),
    )
    .await;

    deploy(&app, &deployment("kth-azure-app", "active", "2.0.10_f00d")).await;
    clock.advance(3 * DAY + Duration::from_secs(3_600));
    deploy(
        &app,
        &deployment("kth-azure-app", "active", "2.0.11_abc123"),
    )
    .await;
    // Another cluster has its own history.
    deploy(&app, &deployment("kth-azure-app", "stage", "2.0.11_abc123")).await;
    clock.advance(Duration::from_secs(45 * 60));
    deploy(
        &app,
        &deployment("kth-azure-app", "active", "2.0.11_abc123"),
    )
    .await;

    let bodies = wait_for_slack(&app, &slack, 4).await;
    assert_eq!(
        footers(&bodies),
        [
            "the first deployment of kth-azure-app to active",
            "2.0.11_abc123, replacing 2.0.10_f00d after 3 days",
            "the first deployment of kth-azure-app to stage",
            "2.0.11_abc123 deployed again (it had run for 45 minutes)",
        ]
    );
    // The rest of the message is the built-in one.
    assert_eq!(bodies[1]["channel"], "#deploys");
    assert_eq!(
        bodies[1]["attachments"][0]["text"],
        "se.kth.imageVersion: 2.0.11_abc123"
    );
    app.stop().await;
}

on_both_backends!(each_message_says_what_it_replaces);

/// The change is read at the first attempt and kept with the delivery: a
/// retry after a newer deployment still names the version it replaced then.
#[actix_web::test]
async fn a_retry_sends_the_text_of_the_first_attempt() {
    use wiremock::matchers::method;
    use wiremock::{Mock, ResponseTemplate};

    let slack = mock_slack().await;
    let clock = ManualClock::new();
    let app = spawn_app_full(
        Arc::new(TestDatabase::sqlite()),
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("DISABLED_SUBSCRIBERS", "application-endpoint"),
        ],
        registrations(),
        clock.clone(),
    )
    .await;
    deploy(&app, &deployment("kth-azure-app", "active", "1.0.0")).await;
    clock.advance(DAY * 2);

    // Slack fails the next message once, with a 500.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&slack)
        .await;
    let (_, answer) = app
        .put_event(
            "deployment",
            &deployment("kth-azure-app", "active", "2.0.0"),
        )
        .await;
    let retried = answer["id"].as_str().unwrap().to_owned();
    crate::helpers::eventually("the failed attempt", Duration::from_secs(10), || async {
        let (_, view) = app.get(&format!("/api/v1/events/{retried}")).await;
        let slack = view["deliveries"]
            .as_array()?
            .iter()
            .find(|d| d["subscriber"] == "slack-deployment")?
            .clone();
        let database = view["deliveries"]
            .as_array()?
            .iter()
            .find(|d| d["subscriber"] == "database")?
            .clone();
        (slack["state"] == "retrying" && database["state"] == "delivered").then_some(())
    })
    .await;
    // A newer deployment lands in the history before the retry.
    deploy(&app, &deployment("kth-azure-app", "active", "3.0.0")).await;
    clock.advance(Duration::from_secs(3_600));
    app.finished_event(&retried).await;

    let bodies = slack_bodies(&slack).await;
    let footers = footers(&bodies);
    assert_eq!(
        footers,
        [
            "the first deployment of kth-azure-app to active",
            // The failed attempt, the newer deployment, the retry.
            "2.0.0, replacing 1.0.0 after 2 days",
            "3.0.0, replacing 2.0.0 after 0 minutes",
            "2.0.0, replacing 1.0.0 after 2 days",
        ]
    );
    app.stop().await;
}
