//! No secret ever reaches the log: the real binary runs with known secrets
//! in its configuration, through failures that get logged, with DEBUG on.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{eventually, fixture, free_port};

const BINARY: &str = env!("CARGO_BIN_EXE_alvares");

/// Stops the child and returns everything it logged.
fn stop_and_read_log(mut child: Child) -> String {
    let _ = child.kill();
    let _ = child.wait();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    log + &out
}

async fn run_with_secrets(env: &[(&str, &str)], slack: &MockServer, secrets: &[&str]) {
    let port = free_port();
    let database = tempfile::tempdir().unwrap();
    let child = Command::new(BINARY)
        .env_clear()
        .env("PORT", port.to_string())
        .env("DB_URL", database.path().join("alvares.db"))
        .env("DEBUG", "true")
        .env("INGEST_TOKEN", "ingest-secret-4711")
        .env("DB_PASSWORD", "db-secret-0815")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = awc::Client::default();
    let url = format!("http://127.0.0.1:{port}/api/v1/deployment");
    let accepted = eventually("the service to start", Duration::from_secs(10), || async {
        let response = client
            .put(&url)
            .insert_header(("Authorization", "Bearer ingest-secret-4711"))
            .send_json(&fixture("deployment.json"))
            .await;
        let mut response = response.ok()?;
        (response.status().as_u16() == 202).then_some(())?;
        response.json::<serde_json::Value>().await.ok()
    })
    .await;
    // A refused attempt with a wrong token is logged too.
    let refused = client
        .put(&url)
        .insert_header(("Authorization", "Bearer wrong-token"))
        .send_json(&fixture("deployment.json"))
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    // Slack refuses every message: the failures get logged.
    eventually("Slack to be called", Duration::from_secs(10), || async {
        (slack.received_requests().await.unwrap_or_default().len() >= 4).then_some(())
    })
    .await;
    // Every delivery of the event has ended (and so been logged) before
    // the log is read.
    let view_url = format!(
        "http://127.0.0.1:{port}/api/v1/events/{}",
        accepted["id"].as_str().unwrap()
    );
    eventually("every delivery to end", Duration::from_secs(10), || async {
        let mut response = client.get(&view_url).send().await.ok()?;
        let view: serde_json::Value = response.json().await.ok()?;
        view["deliveries"]
            .as_array()?
            .iter()
            .all(|d| {
                ["delivered", "skipped", "failed"].contains(&d["state"].as_str().unwrap_or(""))
            })
            .then_some(())
    })
    .await;
    let log = stop_and_read_log(child);
    let id = accepted["id"].as_str().unwrap();
    assert!(
        log.contains(&format!("event {id}")),
        "the log names the event:\n{log}"
    );
    assert!(log.contains("failed permanently"), "{log}");
    for secret in secrets
        .iter()
        .chain(&["ingest-secret-4711", "db-secret-0815", "wrong-token"])
    {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
}

#[actix_web::test]
async fn webhook_url_ingest_token_and_password_never_reach_the_log() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/hook-secret-9f8e7d"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no_service"))
        .mount(&slack)
        .await;
    let hook = format!("{}/services/T000/B000/hook-secret-9f8e7d", slack.uri());
    run_with_secrets(
        &[("SLACK_WEB_HOOK", &hook)],
        &slack,
        &["hook-secret-9f8e7d"],
    )
    .await;
}

#[actix_web::test]
async fn slack_token_never_reaches_the_log() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "invalid_auth"})),
        )
        .mount(&slack)
        .await;
    let api = format!("{}/api", slack.uri());
    run_with_secrets(
        &[
            ("SLACK_TOKEN", "xoxb-token-secret-1234"),
            ("SLACK_API_BASE_URL", &api),
        ],
        &slack,
        &["xoxb-token-secret-1234"],
    )
    .await;
}

#[actix_web::test]
async fn uptimerobot_and_detectify_keys_never_reach_the_log() {
    // One mock refuses everything: Slack's webhook, UptimeRobot's calls and
    // Detectify's profile listing, so that every failure gets logged.
    let mock = MockServer::start().await;
    Mock::given(path("/hook"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no_service"))
        .mount(&mock)
        .await;
    Mock::given(path("/v2/getMonitors"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "stat": "fail",
            "error": {"type": "invalid_parameter", "message": "api_key utr-secret-key-31 is wrong"}
        })))
        .mount(&mock)
        .await;
    Mock::given(path("/rest/v2/profiles/"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&mock)
        .await;
    let hook = format!("{}/hook", mock.uri());
    let utr = format!("{}/v2", mock.uri());
    let detectify = format!("{}/rest/v2", mock.uri());
    run_with_secrets(
        &[
            ("SLACK_WEB_HOOK", &hook),
            ("UTR_API_KEY", "utr-secret-key-31"),
            ("UTR_API_BASE_URL", &utr),
            ("UTR_CLUSTERS", "active"),
            ("DETECTIFY_API_KEYS", "det-secret-key-41,det-secret-key-42"),
            ("DETECTIFY_CLUSTERS", "active"),
            ("DETECTIFY_API_BASE_URL", &detectify),
            ("DETECTIFY_API_SECRET", "c2lnbmluZy1zZWNyZXQtNTE="),
        ],
        &mock,
        &[
            "utr-secret-key-31",
            "det-secret-key-41",
            "det-secret-key-42",
            "c2lnbmluZy1zZWNyZXQtNTE=",
            "signing-secret-51",
        ],
    )
    .await;
}
