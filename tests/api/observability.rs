//! What operators' tools read: request ids and the access log, JSON logs
//! for log shippers (no secret in any line), and metrics that a real
//! Prometheus parser reads with their types, whose gauges move as a backlog
//! and a dead letter appear.

use std::process::Command;
use std::time::Duration;

use alvares::clock::ManualClock;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::binary::Service;
use crate::helpers::{TestDatabase, eventually, fixture, free_port, hook, spawn_app_clocked};

#[actix_web::test]
async fn requests_carry_ids_into_json_logs_without_secrets() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T1/B2/hook-secret-x9y8"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&slack)
        .await;
    let hook_url = format!("{}/services/T1/B2/hook-secret-x9y8", slack.uri());
    let database = TestDatabase::sqlite();
    let folder = tempfile::tempdir().unwrap();
    let log = folder.path().join("alvares.log");
    let env = [
        ("PORT", free_port().to_string()),
        ("DB_URL", database.url()),
        ("LOG_FORMAT", "json".to_owned()),
        ("DEBUG", "true".to_owned()),
        ("SLACK_WEB_HOOK", hook_url),
        ("INGEST_TOKEN", "ingest-secret-5150".to_owned()),
        ("ADMIN_TOKEN", "admin-secret-6160".to_owned()),
    ];
    let mut service = Service::start(&env, &log);
    let client = awc::Client::default();
    eventually("the service to answer", Duration::from_secs(20), || async {
        let response = client
            .get(format!("{}/healthz", service.base))
            .send()
            .await
            .ok()?;
        (response.status().as_u16() == 200).then_some(())
    })
    .await;
    // The caller's id comes back; without one, a new id is made.
    let mut response = client
        .put(format!("{}/api/v1/deployment", service.base))
        .insert_header(("X-Request-Id", "abc"))
        .insert_header(("Authorization", "Bearer ingest-secret-5150"))
        .send_json(&fixture("deployment.json"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(response.headers().get("x-request-id").unwrap(), "abc");
    let accepted: Value = response.json().await.unwrap();
    let event_id = accepted["id"].as_str().unwrap().to_owned();
    let response = client
        .get(format!(
            "{}/api/v1/deployments?cluster=active&token=query-secret-7",
            service.base
        ))
        .send()
        .await
        .unwrap();
    let made = response
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(made.len(), 36, "a UUID: {made}");
    eventually(
        "the deployment to be delivered",
        Duration::from_secs(10),
        || async {
            let mut response = client
                .get(format!("{}/api/v1/events/{event_id}", service.base))
                .send()
                .await
                .ok()?;
            let view: Value = response.json().await.ok()?;
            view["deliveries"]
                .as_array()?
                .iter()
                .filter(|d| d["subscriber"] == "slack-deployment")
                .all(|d| d["state"] == "delivered")
                .then_some(())
        },
    )
    .await;
    service.sigterm();
    service.ended().await;

    let text = service.log_text();
    let lines: Vec<Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(lines.len() > 10);
    for line in &lines {
        for field in ["timestamp", "level", "target", "message"] {
            assert!(line[field].is_string(), "{field} in {line}");
        }
        for field in ["request_id", "event_id", "subscriber"] {
            assert!(line.get(field).is_some(), "{field} in {line}");
        }
    }
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "alvares::access")
        .collect();
    let intake = access
        .iter()
        .find(|l| l["request_id"] == "abc")
        .expect("the access line of request abc");
    assert!(
        intake["message"]
            .as_str()
            .unwrap()
            .starts_with("PUT /api/v1/deployment 202 "),
        "{intake}"
    );
    // Its parts are fields too, typed, for a shipper to index.
    assert_eq!(intake["method"], "PUT");
    assert_eq!(intake["path"], "/api/v1/deployment");
    assert_eq!(intake["status"], 202);
    let duration = intake["duration_ms"].as_f64().expect("a number");
    assert!(duration >= 0.0, "{intake}");
    assert!(
        intake["message"]
            .as_str()
            .unwrap()
            .ends_with(&format!(" {duration:.1}ms")),
        "the field is the message's figure: {intake}"
    );
    let query = access
        .iter()
        .find(|l| l["request_id"] == made.as_str())
        .unwrap();
    assert!(
        query["message"]
            .as_str()
            .unwrap()
            .starts_with("GET /api/v1/deployments 200 "),
        "no query string in the access line: {query}"
    );
    assert_eq!(query["path"], "/api/v1/deployments");
    assert_eq!(query["status"], 200);
    // The delivery's lines name the event and the subscriber.
    assert!(lines.iter().any(|l| l["event_id"] == event_id.as_str()
        && l["subscriber"] == "slack-deployment"
        && l["message"].as_str().unwrap().contains("delivered")));
    for secret in [
        "hook-secret-x9y8",
        "ingest-secret-5150",
        "admin-secret-6160",
        "query-secret-7",
    ] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
}

/// Builds a backlog, an old due delivery and a dead letter, and reads them
/// in `/metrics`; the whole output passes `promtool check metrics` (CI sets
/// `REQUIRE_PROMTOOL`, so it cannot pass by skipping).
#[actix_web::test]
async fn the_gauges_show_a_backlog_and_a_dead_letter_and_promtool_reads_them() {
    let slack = MockServer::start().await;
    // Errors fail for good; recommendations hang (one at a time fits).
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"channel": "#dead"})))
        .respond_with(ResponseTemplate::new(404).set_body_string("channel_not_found"))
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&slack)
        .await;
    let clock = ManualClock::new();
    let app = spawn_app_clocked(
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("SUBSCRIBER_QUEUE_CAPACITY", "1"),
            ("SUBSCRIBER_TIMEOUT_SECONDS", "120"),
        ],
        clock.clone(),
    )
    .await;
    for n in 0..4 {
        let body = json!({"message": format!("slow {n}"), "slackChannels": "#slow"});
        assert_eq!(app.put_event("recommendation", &body).await.0, 202);
    }
    let body = json!({"message": "dead", "slackChannels": "#dead"});
    assert_eq!(app.put_event("error", &body).await.0, 202);
    clock.advance(Duration::from_secs(60));
    let series = |name: &str, id: &str| format!("{name}{{subscriber=\"{id}\"}}");
    eventually("the gauges", Duration::from_secs(10), || async {
        let backlog = app
            .metric(&series("alvares_backlog", "slack-recommendation"))
            .await?;
        let dead = app
            .metric(&series("alvares_dead_letters", "slack-error"))
            .await?;
        (backlog == 4.0 && dead == 1.0).then_some(())
    })
    .await;
    assert_eq!(
        app.metric(&series("alvares_in_flight", "slack-recommendation"))
            .await,
        Some(1.0)
    );
    assert_eq!(
        app.metric(&series(
            "alvares_oldest_due_age_seconds",
            "slack-recommendation"
        ))
        .await,
        Some(60.0),
        "three wait for the slot, due since the clock was moved"
    );
    assert_eq!(
        app.metric(&series("alvares_circuit_state", "slack-recommendation"))
            .await,
        Some(0.0)
    );
    assert_eq!(
        app.metric("alvares_build_info{version=\"0.1.0\"}").await,
        Some(1.0)
    );
    // The heartbeat follows the moved clock at the next round.
    eventually(
        "this replica to count as live",
        Duration::from_secs(5),
        || async {
            (app.metric("alvares_replicas{state=\"live\"}").await == Some(1.0)).then_some(())
        },
    )
    .await;
    let response = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = app.metrics().await;
    check_with_promtool(&text);
}

/// `promtool check metrics` on the text, when promtool is installed.
fn check_with_promtool(text: &str) {
    use std::io::Write;
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match promtool {
        Ok(child) => child,
        Err(_) if std::env::var_os("REQUIRE_PROMTOOL").is_none() => {
            eprintln!("skipped: promtool not found, so the metrics were not checked with it");
            return;
        }
        Err(error) => panic!("REQUIRE_PROMTOOL is set but promtool cannot run: {error}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Twenty dead letters in a minute: one alert, through the same Slack
/// client, naming the subscriber, the event, the error and the console.
#[actix_web::test]
async fn dead_letters_are_announced_once_per_window() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"channel": "#gone"})))
        .respond_with(ResponseTemplate::new(404).set_body_string("channel_not_found"))
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&slack)
        .await;
    let app = crate::helpers::spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("ALERT_CHANNEL", "#alerts"),
        ("ALERT_AFTER_SECONDS", "60"),
        ("PUBLIC_URL", "https://alvares.example"),
    ])
    .await;
    let mut first = None;
    for n in 0..20 {
        let body = json!({"message": format!("lost {n}"), "slackChannels": "#gone"});
        let (status, answer) = app.put_event("recommendation", &body).await;
        assert_eq!(status, 202);
        first.get_or_insert(answer["id"].as_str().unwrap().to_owned());
    }
    eventually(
        "every dead letter told to alerts",
        Duration::from_secs(10),
        || async {
            let alerts = app.actor("alerts");
            (alerts.received == 20 && alerts.delivered + alerts.failed == 1).then_some(())
        },
    )
    .await;
    let alerts: Vec<Value> = crate::helpers::slack_bodies(&slack)
        .await
        .into_iter()
        .filter(|m| m["channel"] == "#alerts")
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let text = alerts[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("*slack-recommendation* gave up on event "),
        "{text}"
    );
    assert!(
        text.ends_with(
            ": #gone: Slack answered HTTP 404: channel_not_found\nDead letters: \
             https://alvares.example/admin/#dead-letters?subscriber=slack-recommendation"
        ),
        "{text}"
    );
    assert_eq!(alerts[0]["username"], "Alvares");
    assert_eq!(
        app.actor("alerts").skipped,
        19,
        "held back inside the window"
    );
}

/// A circuit open for longer than `ALERT_AFTER_SECONDS` is announced once.
#[actix_web::test]
async fn a_circuit_open_too_long_is_announced() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"channel": "#down"})))
        .respond_with(ResponseTemplate::new(503))
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&slack)
        .await;
    let clock = ManualClock::new();
    let app = spawn_app_clocked(
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("ALERT_CHANNEL", "#alerts"),
            ("ALERT_AFTER_SECONDS", "10"),
            ("CIRCUIT_FAILURES", "1"),
        ],
        clock.clone(),
    )
    .await;
    let body = json!({"message": "m", "slackChannels": "#down"});
    assert_eq!(app.put_event("recommendation", &body).await.0, 202);
    eventually("the circuit to open", Duration::from_secs(5), || async {
        (app.actor("slack-recommendation").state == alvares::engine::ActorState::CircuitOpen)
            .then_some(())
    })
    .await;
    // Once the alerts actor has seen it open, ten seconds later it says so.
    let seen = app.actor("alerts").rounds;
    eventually("alerts to look", Duration::from_secs(5), || async {
        (app.actor("alerts").rounds > seen).then_some(())
    })
    .await;
    clock.advance(Duration::from_secs(11));
    let message = eventually("the alert", Duration::from_secs(5), || async {
        crate::helpers::slack_bodies(&slack)
            .await
            .into_iter()
            .find(|m| m["channel"] == "#alerts")
    })
    .await;
    let text = message["text"].as_str().unwrap();
    assert!(
        text.starts_with("*slack-recommendation*'s circuit has been open for 11s"),
        "{text}"
    );
}
