//! BEHAVIOUR §3 `uptimerobot`: the exact calls against a mock UptimeRobot
//! (v2, form-encoded) for each way a monitor is found or made, its failure
//! shapes (`stat: fail`, 429), the conditions, and the Slack message after.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{
    TestApp, eventually, fixture, hook, mock_slack, slack_bodies, spawn_app, wait_for_slack,
};

const KEY: &str = "utr-key-secret-5150";
const MONITOR_URL: &str = "https://app.kth.se/kth-azure-app/_monitor";

fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The calls UptimeRobot received: method name and form body.
async fn calls(server: &MockServer) -> Vec<(String, Vec<(String, String)>)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            assert_eq!(r.method.as_str(), "POST");
            assert!(
                r.headers
                    .get("content-type")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("application/x-www-form-urlencoded")
            );
            (r.url.path().trim_start_matches("/v2/").to_owned(), form(r))
        })
        .collect()
}

/// A mock UptimeRobot: `getMonitors` finds `by_url` when searched by a URL
/// and `by_name` when searched by anything else; the alert
/// contacts are `contacts`; edits and creations succeed.
async fn mock_uptimerobot(by_url: Value, by_name: Value, contacts: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/getMonitors"))
        .respond_with(move |request: &Request| {
            let search = form(request)
                .into_iter()
                .find(|(k, _)| k == "search")
                .map(|(_, v)| v)
                .unwrap_or_default();
            let monitors = if search.starts_with("https://") {
                by_url.clone()
            } else {
                by_name.clone()
            };
            ResponseTemplate::new(200).set_body_json(json!({"stat": "ok", "monitors": monitors}))
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/getAlertContacts"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"stat": "ok", "alert_contacts": contacts})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/editMonitor"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"stat": "ok", "monitor": {"id": 777}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/newMonitor"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"stat": "ok", "monitor": {"id": 999, "status": 1}})),
        )
        .mount(&server)
        .await;
    server
}

fn contacts() -> Value {
    json!([
        {"id": "0100", "friendly_name": "#team-studadm", "type": 2},
        {"id": "0101", "friendly_name": "#team-studadm-alerts", "type": 11},
        {"id": "0202", "friendly_name": "#team-pipeline", "type": 11}
    ])
}

async fn app_for(utr: &MockServer, slack: &MockServer, extra: &[(&str, &str)]) -> TestApp {
    let base = format!("{}/v2", utr.uri());
    let hook = hook(slack);
    let mut vars = vec![
        ("UTR_API_KEY", KEY),
        ("UTR_API_BASE_URL", base.as_str()),
        ("UTR_CLUSTERS", "active,stage"),
        ("SLACK_WEB_HOOK", hook.as_str()),
        (
            "DISABLED_SUBSCRIBERS",
            "slack-deployment,application-endpoint",
        ),
    ];
    vars.extend_from_slice(extra);
    spawn_app(&vars).await
}

fn delivery<'a>(view: &'a Value, subscriber: &str) -> &'a Value {
    view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == subscriber)
        .unwrap_or_else(|| panic!("no delivery to {subscriber}: {view}"))
}

fn slack_message(channel: &str, url: &str) -> Value {
    json!({
        "channel": channel,
        "text": format!(":uptime:  *Monitor application* in *active* is monitored using {url}"),
        "username": "Alvares",
        "icon_emoji": ":azure:"
    })
}

async fn put(app: &TestApp, deployment: &Value) -> String {
    let (status, body) = app.put_event("deployment", deployment).await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_monitor_found_by_url_is_edited_then_the_channels_are_told() {
    let utr = mock_uptimerobot(
        json!([{"id": 777, "url": MONITOR_URL, "friendly_name": "Old name"}]),
        json!([]),
        contacts(),
    )
    .await;
    let slack = mock_slack().await;
    let app = app_for(&utr, &slack, &[]).await;
    let id = put(&app, &fixture("deployment.json")).await;
    let view = app.finished_event(&id).await;
    let uptimerobot = delivery(&view, "uptimerobot");
    assert_eq!(uptimerobot["state"], "delivered", "{uptimerobot}");
    assert_eq!(
        uptimerobot["outcome"],
        "monitor 777 edited (found by URL); Slack message to #team-studadm, #developers"
    );
    assert_eq!(
        calls(&utr).await,
        vec![
            (
                "getMonitors".into(),
                pairs(&[
                    ("api_key", KEY),
                    ("format", "json"),
                    ("search", MONITOR_URL)
                ])
            ),
            (
                "getAlertContacts".into(),
                pairs(&[("api_key", KEY), ("format", "json")])
            ),
            (
                "editMonitor".into(),
                pairs(&[
                    ("api_key", KEY),
                    ("format", "json"),
                    ("id", "777"),
                    ("friendly_name", "Monitor application"),
                    ("url", MONITOR_URL),
                    ("keyword_type", "2"),
                    ("keyword_value", "APPLICATION_STATUS: OK"),
                    ("alert_contacts", "0101_0_0"),
                ])
            ),
        ]
    );
    assert_eq!(
        wait_for_slack(&app, &slack, 2).await,
        vec![
            slack_message("#team-studadm", MONITOR_URL),
            slack_message("#developers", MONITOR_URL)
        ]
    );
}

#[actix_web::test]
async fn a_monitor_found_by_name_is_edited_with_the_team_pipeline_contact() {
    let utr = mock_uptimerobot(
        json!([]),
        json!([{"id": "888", "url": "https://old.example/_monitor", "friendly_name": "Monitor application"}]),
        contacts(),
    )
    .await;
    let slack = mock_slack().await;
    // The old name of the key; the public host replaces the cluster host.
    let base = format!("{}/v2", utr.uri());
    let app = spawn_app(&[
        ("UPTIMEROBOT_API_KEY", KEY),
        ("UTR_API_BASE_URL", &base),
        ("UTR_CLUSTERS", "active"),
        ("UTR_KTH_APP_HOST", "https://www.kth.se"),
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("SLACK_CHANNEL_OVERRIDE", "#monitoring"),
        (
            "DISABLED_SUBSCRIBERS",
            "slack-deployment,application-endpoint",
        ),
    ])
    .await;
    let mut deployment = fixture("deployment.json");
    deployment["slackChannels"] = json!("#dev-null");
    let id = put(&app, &deployment).await;
    let view = app.finished_event(&id).await;
    assert_eq!(
        delivery(&view, "uptimerobot")["outcome"],
        "monitor 888 edited (found by name); Slack message to #monitoring"
    );
    let public = "https://www.kth.se/kth-azure-app/_monitor";
    let calls = calls(&utr).await;
    let names: Vec<&str> = calls.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        names,
        [
            "getMonitors",
            "getMonitors",
            "getAlertContacts",
            "editMonitor"
        ]
    );
    assert_eq!(
        calls[0].1,
        pairs(&[("api_key", KEY), ("format", "json"), ("search", public)])
    );
    assert_eq!(
        calls[1].1,
        pairs(&[
            ("api_key", KEY),
            ("format", "json"),
            ("search", "Monitor application")
        ])
    );
    assert_eq!(
        calls[3].1,
        pairs(&[
            ("api_key", KEY),
            ("format", "json"),
            ("id", "888"),
            ("friendly_name", "Monitor application"),
            ("url", public),
            ("keyword_type", "2"),
            ("keyword_value", "APPLICATION_STATUS: OK"),
            ("alert_contacts", "0202_0_0"),
        ])
    );
    assert_eq!(
        wait_for_slack(&app, &slack, 1).await,
        vec![slack_message("#monitoring", public)]
    );
}

#[actix_web::test]
async fn without_a_monitor_one_is_created_without_a_contact_when_there_is_none() {
    let utr = mock_uptimerobot(json!([]), json!([]), json!([])).await;
    let slack = mock_slack().await;
    let app = app_for(&utr, &slack, &[]).await;
    let id = put(&app, &fixture("deployment.json")).await;
    let view = app.finished_event(&id).await;
    assert_eq!(
        delivery(&view, "uptimerobot")["outcome"],
        format!(
            "monitor 999 created for {MONITOR_URL}; Slack message to #team-studadm, #developers"
        )
    );
    let calls = calls(&utr).await;
    let names: Vec<&str> = calls.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        names,
        [
            "getMonitors",
            "getMonitors",
            "getAlertContacts",
            "newMonitor"
        ]
    );
    assert_eq!(
        calls[3].1,
        pairs(&[
            ("api_key", KEY),
            ("format", "json"),
            ("friendly_name", "Monitor application"),
            ("url", MONITOR_URL),
            ("type", "2"),
            ("keyword_type", "2"),
            ("keyword_value", "APPLICATION_STATUS: OK"),
        ])
    );
    wait_for_slack(&app, &slack, 2).await;
}

#[actix_web::test]
async fn stat_fail_with_http_200_is_a_failure_whose_message_shows_in_health() {
    let utr = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/getMonitors"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "stat": "fail",
            "error": {"type": "invalid_parameter", "parameter_name": "api_key", "message": "api_key not found."}
        })))
        .mount(&utr)
        .await;
    let slack = mock_slack().await;
    let app = app_for(&utr, &slack, &[]).await;
    let id = put(&app, &fixture("deployment.json")).await;
    let view = app.finished_event(&id).await;
    let uptimerobot = delivery(&view, "uptimerobot");
    assert_eq!(uptimerobot["state"], "failed");
    let expected = "UptimeRobot getMonitors failed: api_key not found. (invalid_parameter)";
    assert_eq!(uptimerobot["lastError"], expected);
    let report = app.actor("uptimerobot");
    assert_eq!((report.failed, report.retried), (1, 0));
    assert!(report.last_error.unwrap().message.ends_with(expected));
    assert!(!view.to_string().contains(KEY));
    // Nothing more was tried, and nobody was told about a monitor.
    assert_eq!(calls(&utr).await.len(), 1);
    assert!(slack_bodies(&slack).await.is_empty());
}

#[actix_web::test]
async fn a_429_is_retried_after_retry_after_and_the_message_is_not_lost() {
    let utr = mock_uptimerobot(
        json!([{"id": 777, "url": MONITOR_URL}]),
        json!([]),
        contacts(),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/v2/getMonitors"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "2")
                .insert_header("X-RateLimit-Remaining", "0"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&utr)
        .await;
    let slack = mock_slack().await;
    let app = app_for(&utr, &slack, &[]).await;
    let id = put(&app, &fixture("deployment.json")).await;
    let retrying = eventually("the retry", Duration::from_secs(5), || async {
        let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
        let uptimerobot = delivery(&view, "uptimerobot").clone();
        (uptimerobot["state"] == "retrying").then_some(uptimerobot)
    })
    .await;
    assert_eq!(
        retrying["lastError"],
        "UptimeRobot getMonitors: rate limited (HTTP 429); retry in 2s"
    );
    let started = std::time::Instant::now();
    let view = app.finished_event(&id).await;
    assert!(started.elapsed() > Duration::from_millis(1000));
    let uptimerobot = delivery(&view, "uptimerobot");
    assert_eq!(uptimerobot["state"], "delivered");
    assert_eq!(uptimerobot["attempts"], 2);
    let names: Vec<String> = calls(&utr).await.into_iter().map(|(m, _)| m).collect();
    assert_eq!(
        names,
        [
            "getMonitors",
            "getMonitors",
            "getAlertContacts",
            "editMonitor"
        ]
    );
    assert_eq!(wait_for_slack(&app, &slack, 2).await.len(), 2);
}

#[actix_web::test]
async fn a_retry_after_a_slack_failure_does_not_call_uptimerobot_again() {
    let utr = mock_uptimerobot(
        json!([{"id": 777, "url": MONITOR_URL}]),
        json!([]),
        contacts(),
    )
    .await;
    let slack = mock_slack().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&slack)
        .await;
    let app = app_for(&utr, &slack, &[]).await;
    let id = put(&app, &fixture("deployment.json")).await;
    let view = app.finished_event(&id).await;
    let uptimerobot = delivery(&view, "uptimerobot");
    assert_eq!(uptimerobot["state"], "delivered", "{uptimerobot}");
    assert_eq!(uptimerobot["attempts"], 2);
    assert_eq!(
        uptimerobot["outcome"],
        format!(
            "monitor for {MONITOR_URL} kept by an earlier attempt; Slack message to #team-studadm, #developers"
        )
    );
    assert_eq!(calls(&utr).await.len(), 3, "UptimeRobot was called once");
    // The failed message was sent again; the one that went through was not.
    let channels: Vec<Value> = wait_for_slack(&app, &slack, 3)
        .await
        .iter()
        .map(|m| m["channel"].clone())
        .collect();
    assert_eq!(
        channels,
        [
            json!("#team-studadm"),
            json!("#developers"),
            json!("#team-studadm")
        ]
    );
}

#[actix_web::test]
async fn deployments_that_do_not_qualify_are_skipped_without_a_call() {
    let utr = mock_uptimerobot(json!([]), json!([]), json!([])).await;
    let slack = mock_slack().await;
    let app = app_for(
        &utr,
        &slack,
        &[("UTR_EXCLUDED_APPS", "other,kth-azure-app")],
    )
    .await;
    let cases = [
        (
            json!({"cluster": "integral"}),
            "cluster integral is not in UTR_CLUSTERS",
        ),
        (
            json!({}),
            "application kth-azure-app is in UTR_EXCLUDED_APPS",
        ),
        (
            json!({"applicationName": "kth-azure-app-2", "applicationPath": null}),
            "the deployment has no applicationPath",
        ),
        (
            json!({"applicationName": "kth-azure-app-2", "monitorUrl": "ftp://x/_monitor"}),
            "the deployment has no http(s) monitor URL",
        ),
    ];
    for (change, why) in cases {
        let mut deployment = fixture("deployment.json");
        for (field, value) in change.as_object().unwrap() {
            deployment[field] = value.clone();
        }
        let id = put(&app, &deployment).await;
        let view = app.finished_event(&id).await;
        let uptimerobot = delivery(&view, "uptimerobot");
        assert_eq!(uptimerobot["state"], "skipped");
        assert_eq!(uptimerobot["outcome"], why);
    }
    assert!(calls(&utr).await.is_empty());
    assert!(slack_bodies(&slack).await.is_empty());
}

#[actix_web::test]
async fn without_a_key_uptimerobot_is_unconfigured() {
    let app = spawn_app(&[("UTR_CLUSTERS", "active")]).await;
    assert_eq!(
        app.actor("uptimerobot").state,
        alvares::engine::ActorState::Unconfigured
    );
}
