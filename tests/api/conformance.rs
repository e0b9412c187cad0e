//! The conformance test every integration passes: it takes exactly the
//! event kinds it declares, skips everything when unconfigured, classifies
//! a destination's answer through the shared HTTP layer (5xx retried, 4xx
//! failed, a redirect failed), and never lets a configured secret into an
//! error — even when the destination echoes it back.

use std::collections::BTreeSet;

use alvares::subscribers::registrations;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{FIXTURES, TestApp, spawn_app};

const SLACK_TOKEN: &str = "xoxb-conformance-token-1";
const HOOK_SECRET: &str = "hook-path-secret-2";
const UTR_KEY: &str = "utr-conformance-key-3";
const DETECTIFY_KEY: &str = "det-conformance-key-4";
const FLOTTSBRO_KEY: &str = "flottsbro-conformance-key-5";

/// Every kind there is, with a body that makes each integration call out.
fn events() -> [(&'static str, Value); 3] {
    [
        (
            "deployment",
            json!({
                "applicationName": "conform", "cluster": "active", "version": "1.0",
                "applicationPath": "/conform", "slackChannels": "#conform",
                "detectifyProfileTokens": "token-a", "testAccessibility": true
            }),
        ),
        (
            "error",
            // Naming its application and cluster: the database stores it
            // in the failure history.
            json!({"message": "failed", "slackChannels": "#conform",
                   "applicationName": "conform", "cluster": "active"}),
        ),
        (
            "recommendation",
            json!({"message": "advice", "slackChannels": "#conform"}),
        ),
    ]
}

/// The subscribers an event view names.
fn subscribers_in(view: &Value) -> BTreeSet<String> {
    view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["subscriber"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn every_integration_takes_its_kinds_and_skips_when_unconfigured() {
    // Nothing configured: only the history is.
    let app = spawn_app(&[]).await;
    for (kind, body) in events() {
        let (status, answer) = app.put_event(kind, &body).await;
        assert_eq!(status, 202);
        let view = app.finished_event(answer["id"].as_str().unwrap()).await;
        let expected: BTreeSet<String> = registrations()
            .iter()
            .filter(|r| r.kinds.iter().any(|k| k.as_str() == kind))
            .map(|r| r.id.to_owned())
            .collect();
        assert_eq!(subscribers_in(&view), expected, "{kind}");
        for delivery in view["deliveries"].as_array().unwrap() {
            if delivery["subscriber"] == "database" {
                assert_eq!(delivery["state"], "delivered");
            } else {
                assert_eq!(delivery["state"], "skipped", "{delivery}");
                assert_eq!(delivery["outcome"], "not configured", "{delivery}");
            }
        }
    }
    for registration in registrations() {
        if registration.id != "database" {
            assert_eq!(
                app.actor(registration.id).state,
                alvares::engine::ActorState::Unconfigured,
                "{}",
                registration.id
            );
        }
    }
}

/// One integration's configuration against `mock`, everything else off.
fn configured(id: &str, mock: &MockServer, scanner: &str) -> Vec<(&'static str, String)> {
    let others: Vec<&str> = registrations()
        .iter()
        .map(|r| r.id)
        .filter(|other| *other != id)
        .collect();
    let mut vars = vec![
        ("DISABLED_SUBSCRIBERS", others.join(",")),
        ("RETRY_JITTER_PERCENT", "0".to_owned()),
    ];
    let base = mock.uri();
    match id {
        "uptimerobot" => vars.extend([
            ("UTR_API_KEY", UTR_KEY.to_owned()),
            ("UTR_API_BASE_URL", format!("{base}/v2")),
            ("UTR_CLUSTERS", "active".to_owned()),
        ]),
        "flottsbro" => vars.extend([
            ("FLOTTSBRO_API_KEY", FLOTTSBRO_KEY.to_owned()),
            ("FLOTTSBRO_API_BASE_URL", format!("{base}/api/pipeline")),
        ]),
        "detectify" => vars.extend([
            ("DETECTIFY_API_KEYS", DETECTIFY_KEY.to_owned()),
            ("DETECTIFY_API_BASE_URL", format!("{base}/rest/v2")),
            ("DETECTIFY_CLUSTERS", "active".to_owned()),
        ]),
        "lighthouse" => vars.extend([
            ("SLACK_TOKEN", SLACK_TOKEN.to_owned()),
            ("SLACK_API_BASE_URL", format!("{base}/api")),
            ("LIGHTHOUSE_COMMAND", scanner.to_owned()),
        ]),
        _ => vars.push(("SLACK_WEB_HOOK", format!("{base}/services/{HOOK_SECRET}"))),
    }
    vars
}

/// A mock that answers every request with `status` and a body that
/// quotes every secret it could have been sent.
async fn echoing(status: u16) -> MockServer {
    let mock = MockServer::start().await;
    let body = format!(
        "refused: token {SLACK_TOKEN} hook /services/{HOOK_SECRET} api_key={UTR_KEY} key {DETECTIFY_KEY} {FLOTTSBRO_KEY}"
    );
    let mut answer = ResponseTemplate::new(status).set_body_string(body);
    if status == 301 {
        answer = answer.insert_header(
            "Location",
            format!("{}/moved/{SLACK_TOKEN}?api_key={UTR_KEY}", mock.uri()),
        );
    }
    Mock::given(any()).respond_with(answer).mount(&mock).await;
    mock
}

/// The subscriber's delivery of a new event once its first attempt is
/// over, with the whole event view.
async fn delivery_of(app: &TestApp, id: &str, kind: &str, body: &Value) -> (Value, Value) {
    let (status, answer) = app.put_event(kind, body).await;
    assert_eq!(status, 202);
    let event = answer["id"].as_str().unwrap().to_owned();
    crate::helpers::eventually(
        &format!("{id}'s first attempt"),
        std::time::Duration::from_secs(15),
        || async {
            let (_, view) = app.get(&format!("/api/v1/events/{event}")).await;
            let delivery = view["deliveries"]
                .as_array()?
                .iter()
                .find(|d| d["subscriber"] == id)?
                .clone();
            ["retrying", "failed", "delivered"]
                .contains(&delivery["state"].as_str()?)
                .then_some((delivery, view))
        },
    )
    .await
}

/// The secrets an integration is configured with.
fn secrets_of(id: &str) -> &'static [&'static str] {
    match id {
        "uptimerobot" => &[UTR_KEY],
        "detectify" => &[DETECTIFY_KEY],
        "flottsbro" => &[FLOTTSBRO_KEY],
        "lighthouse" => &[SLACK_TOKEN],
        _ => &[HOOK_SECRET],
    }
}

#[actix_web::test]
async fn every_integration_classifies_answers_alike_and_keeps_secrets_out_of_errors() {
    let scanner_folder = tempfile::tempdir().unwrap();
    let script = scanner_folder.path().join("scan.sh");
    std::fs::write(
        &script,
        format!("cp '{FIXTURES}/lighthouse-report.html' \"$2/report.html\"\n"),
    )
    .unwrap();
    let scanner = format!("/bin/sh {} {{url}} {{report_dir}}", script.display());
    for registration in registrations() {
        let id = registration.id;
        if id == "database" {
            continue;
        }
        let kind = registration.kinds[0].as_str();
        let body = events().into_iter().find(|(k, _)| *k == kind).unwrap().1;
        for (status, expected) in [(503, "retrying"), (400, "failed"), (301, "failed")] {
            let mock = echoing(status).await;
            let vars = configured(id, &mock, &scanner);
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let app = spawn_app(&vars).await;
            let (delivery, view) = delivery_of(&app, id, kind, &body).await;
            assert_eq!(
                delivery["state"], expected,
                "{id} on HTTP {status}: {delivery}"
            );
            let error = delivery["lastError"].as_str().unwrap_or_default();
            assert!(
                error.contains(&format!("HTTP {status}")),
                "{id} names the status: {error}"
            );
            // Nothing the destination echoed, nor the request, leaks out:
            // not in the event view, the dead letters, health or metrics.
            let report = serde_json::to_string(&app.actor(id)).unwrap();
            let metrics = app.metrics().await;
            for text in [delivery.to_string(), view.to_string(), report, metrics] {
                for secret in secrets_of(id) {
                    assert!(
                        !text.contains(secret),
                        "{id} on HTTP {status} leaked {secret}: {text}"
                    );
                }
            }
        }
    }
}
