//! BEHAVIOUR §3, the Slack subscribers: the exact message for every
//! fixture, per channel, over both transports; the override rule; and what
//! Slack's answers mean (429, ok:false, 5xx, slow answers).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{TestApp, eventually, fixture, hook, mock_slack, spawn_app, wait_for_slack};

const LOG_LINK: &str = "https://graycloud.ite.kth.se/search?rangetype=relative&fields=message%2Csource&width=2560&highlightMessage=&relative=3600&q=source%3Aactive+AND+image_name%3A/.%2Akth-azure-app%3A2.0.11_abc123.%2A/";

fn deployment_message(channel: &str) -> Value {
    json!({
        "channel": channel,
        "text": "*kth-azure-app* deployed in *active*",
        "username": "Cluster Deployment",
        "icon_emoji": ":azure:",
        "attachments": [{
            "fallback": "Your client does not support attachments :(",
            "color": "#aec90c",
            "author_name": ":mag: Search Logs",
            "author_link": LOG_LINK,
            "title": "se.kth.imageName: kth-azure-app",
            "text": "se.kth.imageVersion: 2.0.11_abc123",
            "footer": "the first deployment of kth-azure-app to active"
        }]
    })
}

fn endpoint_message(channel: &str) -> Value {
    json!({
        "channel": channel,
        "text": ":information_source: About *Monitor application* https://app.kth.se/pipeline/#kth-azure-app in *active*",
        "username": "Alvares",
        "icon_emoji": ":azure:"
    })
}

fn error_message(channel: &str) -> Value {
    json!({
        "channel": channel,
        "text": "*An error occured* ```\nThis is a multiline\nstack trace\n```",
        "username": "Alvares Error",
        "icon_emoji": ":no_entry:"
    })
}

fn recommendation_message(channel: &str, text: &str) -> Value {
    json!({
        "channel": channel,
        "text": text,
        "username": "Alvares",
        "icon_emoji": ":female_student:"
    })
}

/// Messages from different subscribers arrive in any order; compare sorted.
fn sorted(mut messages: Vec<Value>) -> Vec<Value> {
    messages.sort_by_key(|m| m.to_string());
    messages
}

#[actix_web::test]
async fn the_fixture_deployment_gives_the_exact_messages_per_channel() {
    let slack = mock_slack().await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    let (status, _) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    let received = wait_for_slack(&app, &slack, 4).await;
    assert_eq!(
        sorted(received),
        sorted(vec![
            deployment_message("#team-studadm"),
            deployment_message("#developers"),
            endpoint_message("#team-studadm"),
            endpoint_message("#developers"),
        ])
    );
    assert_eq!(app.actor("slack-deployment").delivered, 1);
    assert_eq!(app.actor("application-endpoint").delivered, 1);
}

#[actix_web::test]
async fn configured_channels_come_first_for_deployments_and_errors_without_channels() {
    let slack = mock_slack().await;
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("SLACK_CHANNELS", "#deploys,#developers"),
    ])
    .await;
    app.put_event("deployment", &fixture("deployment.json"))
        .await;
    let received = wait_for_slack(&app, &slack, 5).await;
    let deployment_channels: Vec<&str> = received
        .iter()
        .filter(|m| m["username"] == "Cluster Deployment")
        .map(|m| m["channel"].as_str().unwrap())
        .collect();
    assert_eq!(
        deployment_channels,
        ["#deploys", "#developers", "#team-studadm"]
    );

    let mut error = fixture("error.json");
    error.as_object_mut().unwrap().remove("slackChannels");
    app.put_event("error", &error).await;
    let received = wait_for_slack(&app, &slack, 7).await;
    assert_eq!(
        received[5..].to_vec(),
        vec![error_message("#deploys"), error_message("#developers")]
    );
}

#[actix_web::test]
async fn the_fixture_error_and_recommendations_give_the_exact_messages() {
    let slack = mock_slack().await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    app.put_event("error", &fixture("error.json")).await;
    assert_eq!(
        wait_for_slack(&app, &slack, 2).await,
        vec![
            error_message("#team-pipeline-logs"),
            error_message("#ita-ops")
        ]
    );
    for recommendation in fixture("recommendations.json").as_array().unwrap() {
        let mut body = recommendation.clone();
        body.as_object_mut()
            .unwrap()
            .remove("expected-enriched-values");
        let (status, _) = app.put_event("recommendation", &body).await;
        assert_eq!(status, 202);
    }
    let received = wait_for_slack(&app, &slack, 6).await;
    assert_eq!(
        sorted(received[2..].to_vec()),
        sorted(vec![
            recommendation_message("#team-pipeline-build-logs", "Please add a config a."),
            recommendation_message("#ita-ops", "Please add a config a."),
            recommendation_message(
                "#team-pipeline-build-logs",
                "We recommend you add this too.."
            ),
            recommendation_message("#ita-ops", "We recommend you add this too.."),
        ])
    );
}

#[actix_web::test]
async fn the_override_is_the_only_channel_of_every_message() {
    let slack = mock_slack().await;
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("SLACK_CHANNELS", "#deploys"),
        ("SLACK_CHANNEL_OVERRIDE", "#override"),
    ])
    .await;
    app.put_event("deployment", &fixture("deployment.json"))
        .await;
    app.put_event("error", &fixture("error.json")).await;
    app.put_event(
        "recommendation",
        &json!({"message": "no channels of its own"}),
    )
    .await;
    let received = wait_for_slack(&app, &slack, 4).await;
    assert_eq!(
        sorted(received),
        sorted(vec![
            deployment_message("#override"),
            endpoint_message("#override"),
            error_message("#override"),
            recommendation_message("#override", "no channels of its own"),
        ])
    );
}

#[actix_web::test]
async fn with_a_token_messages_go_through_chat_post_message() {
    let slack = mock_slack().await;
    let api = format!("{}/api", slack.uri());
    let app = spawn_app(&[
        ("SLACK_TOKEN", "xoxb-test-token"),
        ("SLACK_API_BASE_URL", &api),
        ("SLACK_WEB_HOOK", &hook(&slack)),
    ])
    .await;
    app.put_event("error", &fixture("error.json")).await;
    wait_for_slack(&app, &slack, 2).await;
    let requests = slack.received_requests().await.unwrap();
    for request in &requests {
        assert_eq!(request.url.path(), "/api/chat.postMessage");
        assert_eq!(
            request.headers.get("authorization").unwrap(),
            "Bearer xoxb-test-token"
        );
        assert!(
            request
                .headers
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
    }
    let bodies: Vec<Value> = requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(
        bodies,
        vec![
            error_message("#team-pipeline-logs"),
            error_message("#ita-ops")
        ]
    );
}

#[actix_web::test]
async fn ok_false_is_a_permanent_failure_even_with_http_200() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-test-token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "channel_not_found"})),
        )
        .mount(&slack)
        .await;
    let api = format!("{}/api", slack.uri());
    let app = spawn_app(&[
        ("SLACK_TOKEN", "xoxb-test-token"),
        ("SLACK_API_BASE_URL", &api),
    ])
    .await;
    let (_, answer) = app
        .put_event(
            "recommendation",
            &json!({"message": "hi", "slackChannels": "#gone"}),
        )
        .await;
    let report = eventually("the failure", Duration::from_secs(5), || async {
        let report = app.actor("slack-recommendation");
        (report.failed == 1).then_some(report)
    })
    .await;
    assert_eq!(report.delivered, 0);
    assert_eq!(report.retried, 0);
    let last_error = report.last_error.unwrap().message;
    assert!(
        last_error.ends_with("#gone: Slack answered ok:false (channel_not_found)"),
        "{last_error}"
    );
    // Not retried: the delivery is a dead letter, a final state that only
    // an admin's replay leaves.
    assert_not_retried(&app, &answer, &slack).await;
}

/// Answers 429 with `Retry-After: 1` to the first request, 200 after, and
/// notes when each request came.
struct RateLimitedOnce {
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Respond for RateLimitedOnce {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let mut arrivals = self.arrivals.lock().unwrap();
        arrivals.push(Instant::now());
        if arrivals.len() == 1 {
            ResponseTemplate::new(429).insert_header("Retry-After", "1")
        } else {
            ResponseTemplate::new(200).set_body_string("ok")
        }
    }
}

#[actix_web::test]
async fn a_429_pauses_the_channel_for_retry_after_and_the_message_is_sent_again() {
    let slack = MockServer::start().await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(RateLimitedOnce {
            arrivals: arrivals.clone(),
        })
        .mount(&slack)
        .await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    app.put_event(
        "recommendation",
        &json!({"message": "hi", "slackChannels": "#busy"}),
    )
    .await;
    let received = wait_for_slack(&app, &slack, 2).await;
    assert_eq!(received[0], received[1]);
    assert_eq!(received[1], recommendation_message("#busy", "hi"));
    let arrivals = arrivals.lock().unwrap().clone();
    let gap = arrivals[1] - arrivals[0];
    assert!(gap >= Duration::from_secs(1), "resent after {gap:?}");
    let report = app.actor("slack-recommendation");
    assert_eq!((report.delivered, report.failed), (1, 0));
}

#[actix_web::test]
async fn a_5xx_is_retried_and_only_unsent_channels_are_sent_again() {
    let slack = MockServer::start().await;
    // #flaky fails once; #fine never fails.
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(wiremock::matchers::body_partial_json(
            json!({"channel": "#flaky"}),
        ))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .with_priority(10)
        .mount(&slack)
        .await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    app.put_event(
        "recommendation",
        &json!({"message": "hi", "slackChannels": "#fine,#flaky"}),
    )
    .await;
    let received = wait_for_slack(&app, &slack, 3).await;
    let channels: Vec<&str> = received
        .iter()
        .map(|m| m["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["#fine", "#flaky", "#flaky"]);
    let report = app.actor("slack-recommendation");
    assert_eq!((report.delivered, report.retried, report.failed), (1, 1, 0));
}

#[actix_web::test]
async fn a_4xx_from_the_webhook_is_not_retried() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(404).set_body_string("channel_not_found"))
        .mount(&slack)
        .await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    let (_, answer) = app
        .put_event(
            "recommendation",
            &json!({"message": "hi", "slackChannels": "#x"}),
        )
        .await;
    let report = eventually("the failure", Duration::from_secs(5), || async {
        let report = app.actor("slack-recommendation");
        (report.failed == 1).then_some(report)
    })
    .await;
    assert_eq!(
        report
            .last_error
            .unwrap()
            .message
            .split_once(": ")
            .unwrap()
            .1,
        "#x: Slack answered HTTP 404: channel_not_found"
    );
    assert_not_retried(&app, &answer, &slack).await;
}

/// A permanent failure is final: the delivery is `failed` after its one
/// attempt, and Slack got exactly one request.
async fn assert_not_retried(app: &TestApp, answer: &Value, slack: &MockServer) {
    let view = app.finished_event(answer["id"].as_str().unwrap()).await;
    assert_eq!(view["deliveries"][0]["state"], "failed");
    assert_eq!(view["deliveries"][0]["attempts"], 1);
    assert_eq!(view["deliveries"][0]["nextAttemptAt"], Value::Null);
    assert_eq!(slack.received_requests().await.unwrap().len(), 1);
}

#[actix_web::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(4)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .with_priority(10)
        .mount(&slack)
        .await;
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("SUBSCRIBER_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    app.put_event(
        "recommendation",
        &json!({"message": "hi", "slackChannels": "#x"}),
    )
    .await;
    let report = eventually("the retried delivery", Duration::from_secs(8), || async {
        let report = app.actor("slack-recommendation");
        (report.delivered == 1).then_some(report)
    })
    .await;
    assert_eq!(report.retried, 1);
    assert!(
        report
            .last_error
            .unwrap()
            .message
            .ends_with("#x: no answer within 1s")
    );
}
