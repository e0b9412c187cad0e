//! Graceful shutdown of the real binary on SIGTERM: running deliveries get
//! their grace period; what is left is in the journal for the next start.
//! A second SIGTERM ends the process at once.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::binary::Service;
use crate::helpers::{eventually, free_port};

/// A Slack webhook that answers `#stuck`'s first message after 30 s and
/// everything else at once.
async fn slack_with_a_stuck_channel() -> MockServer {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(body_partial_json(json!({"channel": "#stuck"})))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(10)
        .mount(&slack)
        .await;
    slack
}

/// The service's settings: its own SQLite file in `folder`, Slack's
/// webhook, and the grace.
fn environment(folder: &Path, slack: &MockServer, grace: u64) -> Vec<(&'static str, String)> {
    vec![
        ("PORT", free_port().to_string()),
        ("DB_URL", folder.join("alvares.db").display().to_string()),
        ("SLACK_WEB_HOOK", format!("{}/hook", slack.uri())),
        ("SHUTDOWN_GRACE_SECONDS", grace.to_string()),
        ("SUBSCRIBER_TIMEOUT_SECONDS", "60".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
}

async fn put(client: &awc::Client, base: &str, body: Value) -> String {
    eventually("the service to accept", Duration::from_secs(20), || async {
        let mut response = client
            .put(format!("{base}/api/v1/recommendation"))
            .send_json(&body)
            .await
            .ok()?;
        (response.status().as_u16() == 202).then_some(())?;
        let answer: Value = response.json().await.ok()?;
        answer["id"].as_str().map(str::to_owned)
    })
    .await
}

async fn event(client: &awc::Client, base: &str, id: &str) -> Option<Value> {
    let mut response = client
        .get(format!("{base}/api/v1/events/{id}"))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish()
}

#[actix_web::test]
async fn sigterm_lets_running_deliveries_finish_and_leaves_the_rest_for_the_next_start() {
    let slack = slack_with_a_stuck_channel().await;
    // #slow answers after 3 s (within the 6 s grace, and well after the
    // HTTP server has stopped); #stuck after 30 s.
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(body_partial_json(json!({"channel": "#slow"})))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .with_priority(2)
        .mount(&slack)
        .await;
    let folder = tempfile::tempdir().unwrap();
    let log = folder.path().join("alvares.log");
    let env = environment(folder.path(), &slack, 6);
    let client = client();

    let mut first = Service::start(&env, &log);
    let base = first.base.clone();
    let slow = put(
        &client,
        &base,
        json!({"message": "slow", "slackChannels": "#slow"}),
    )
    .await;
    let stuck = put(
        &client,
        &base,
        json!({"message": "stuck", "slackChannels": "#stuck"}),
    )
    .await;
    eventually("both sends to start", Duration::from_secs(5), || async {
        (slack.received_requests().await?.len() >= 2).then_some(())
    })
    .await;
    let signalled = Instant::now();
    first.sigterm();
    let status = first.ended().await;
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status:?}");
    // It did not wait for the stuck one (30 s) past the 6 s grace. That it
    // waited for the slow one shows below: delivered, and not sent again.
    assert!(took < Duration::from_secs(10), "{took:?}");

    // The next start: the slow delivery was recorded as delivered and is
    // not sent again; the stuck one was handed back and is sent at once.
    let _second = Service::start(&env, &log);
    let view = eventually(
        "the stuck delivery to be redone",
        Duration::from_secs(10),
        || async {
            let view = event(&client, &base, &stuck).await?;
            (view["deliveries"][0]["state"] == "delivered").then_some(view)
        },
    )
    .await;
    assert_eq!(
        view["deliveries"][0]["attempts"], 1,
        "a handed-back delivery is not charged"
    );
    let slow_view = event(&client, &base, &slow).await.unwrap();
    assert_eq!(slow_view["deliveries"][0]["state"], "delivered");
    let requests = slack.received_requests().await.unwrap();
    let channels: Vec<String> = requests
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["channel"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(channels.iter().filter(|c| *c == "#slow").count(), 1);
    assert_eq!(channels.iter().filter(|c| *c == "#stuck").count(), 2);
}

/// A second SIGTERM during the grace ends the process at once, exit status
/// 1 with its reason logged; the delivery it cut off is redone at the next
/// start.
#[actix_web::test]
async fn a_second_sigterm_exits_at_once_and_the_next_start_redoes_what_ran() {
    let slack = slack_with_a_stuck_channel().await;
    let folder = tempfile::tempdir().unwrap();
    let log = folder.path().join("alvares.log");
    // A grace far longer than the test waits: only the second signal can
    // end the process in time.
    let env = environment(folder.path(), &slack, 300);
    let client = client();
    let mut first = Service::start(&env, &log);
    let base = first.base.clone();
    let stuck = put(
        &client,
        &base,
        json!({"message": "stuck", "slackChannels": "#stuck"}),
    )
    .await;
    eventually("the send to start", Duration::from_secs(10), || async {
        (slack.received_requests().await?.len() == 1).then_some(())
    })
    .await;
    first.sigterm();
    // Two signals sent together could arrive as one: the second goes once
    // the first has stopped the HTTP server.
    eventually("intake to stop", Duration::from_secs(10), || async {
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err()
            .then_some(())
    })
    .await;
    first.sigterm();
    let status = first.ended().await;
    assert_eq!(status.code(), Some(1), "{status:?}");
    let logged = first.log_text();
    assert!(
        logged.contains("a second SIGTERM received; exiting without waiting for deliveries"),
        "{logged}"
    );

    let _second = Service::start(&env, &log);
    let view = eventually(
        "the cut-off delivery to be redone",
        Duration::from_secs(20),
        || async {
            let view = event(&client, &base, &stuck).await?;
            (view["deliveries"][0]["state"] == "delivered").then_some(view)
        },
    )
    .await;
    assert_eq!(view["deliveries"][0]["subscriber"], "slack-recommendation");
    assert_eq!(slack.received_requests().await.unwrap().len(), 2);
}
