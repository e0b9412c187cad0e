//! BEHAVIOUR §3 `detectify`: the exact calls against a mock Detectify API
//! (v2): a stopped scan is started, a running one left alone, each status
//! code's meaning in the delivery's error, signed requests, and one failing
//! key or token not stopping the others.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, eventually, fixture, spawn_app};

const KEY: &str = "detectify-key-secret-1";
const OTHER_KEY: &str = "detectify-key-secret-2";
/// The fixture deployment's tokens.
const TOKEN_A: &str = "abc123xyz456";
const TOKEN_B: &str = "987mnb654vcx";

/// `GET /profiles/` for `key` lists `tokens`.
async fn profiles(server: &MockServer, key: &str, tokens: &[&str]) {
    let listed: Vec<Value> = tokens
        .iter()
        .map(|t| json!({"name": format!("profile {t}"), "endpoint": "app.kth.se", "token": t}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/rest/v2/profiles/"))
        .and(header("X-Detectify-Key", key))
        .respond_with(ResponseTemplate::new(200).set_body_json(listed))
        .mount(server)
        .await;
}

async fn scan_state(server: &MockServer, token: &str, answer: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/rest/v2/scans/{token}/")))
        .respond_with(answer)
        .mount(server)
        .await;
}

async fn start_scan(server: &MockServer, token: &str, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(format!("/rest/v2/scans/{token}/")))
        .respond_with(answer)
        .mount(server)
        .await;
}

fn state(state: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"profile": "p", "state": state}))
}

fn status(code: u16) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({"error": {"code": code, "message": "x"}}))
}

async fn app_for(server: &MockServer, keys: &str, extra: &[(&str, &str)]) -> TestApp {
    let base = format!("{}/rest/v2", server.uri());
    let mut vars = vec![
        ("DETECTIFY_API_KEYS", keys),
        ("DETECTIFY_CLUSTERS", "active,stage"),
        ("DETECTIFY_API_BASE_URL", base.as_str()),
    ];
    vars.extend_from_slice(extra);
    spawn_app(&vars).await
}

/// Method, path and key of every call Detectify received.
async fn calls(server: &MockServer) -> Vec<(String, String, String)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.url.path().to_owned(),
                r.headers
                    .get("X-Detectify-Key")
                    .map(|k| k.to_str().unwrap().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn call(method: &str, path: &str, key: &str) -> (String, String, String) {
    (method.into(), path.into(), key.into())
}

async fn detectify_delivery(app: &TestApp) -> (String, Value) {
    let (status, body) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    let id = body["id"].as_str().unwrap().to_owned();
    let view = app.finished_event(&id).await;
    let delivery = view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == "detectify")
        .unwrap()
        .clone();
    assert!(!view.to_string().contains("detectify-key-secret"));
    (id, delivery)
}

#[actix_web::test]
async fn a_stopped_scan_is_started_and_a_running_one_left_alone() {
    let detectify = MockServer::start().await;
    profiles(&detectify, KEY, &[TOKEN_A, TOKEN_B, "someone-elses"]).await;
    scan_state(&detectify, TOKEN_A, state("stopped")).await;
    scan_state(&detectify, TOKEN_B, state("running")).await;
    start_scan(&detectify, TOKEN_A, ResponseTemplate::new(202)).await;
    let app = app_for(&detectify, KEY, &[]).await;
    let (_, delivery) = detectify_delivery(&app).await;
    assert_eq!(delivery["state"], "delivered");
    assert_eq!(
        delivery["outcome"],
        format!(
            "scan of {TOKEN_A} started (key 1); scan of {TOKEN_B} left alone (running) (key 1)"
        )
    );
    assert_eq!(
        calls(&detectify).await,
        vec![
            call("GET", "/rest/v2/profiles/", KEY),
            call("GET", &format!("/rest/v2/scans/{TOKEN_A}/"), KEY),
            call("POST", &format!("/rest/v2/scans/{TOKEN_A}/"), KEY),
            call("GET", &format!("/rest/v2/scans/{TOKEN_B}/"), KEY),
        ]
    );
}

#[actix_web::test]
async fn tokens_the_key_cannot_see_are_not_touched() {
    let detectify = MockServer::start().await;
    profiles(&detectify, KEY, &["someone-elses"]).await;
    let app = app_for(&detectify, KEY, &[]).await;
    let (_, delivery) = detectify_delivery(&app).await;
    assert_eq!(delivery["state"], "skipped");
    assert_eq!(
        delivery["outcome"],
        "no API key can see the deployment's profile tokens"
    );
    assert_eq!(
        calls(&detectify).await,
        vec![call("GET", "/rest/v2/profiles/", KEY)]
    );
}

#[actix_web::test]
async fn an_invalid_key_fails_permanently_and_does_not_stop_the_other_key() {
    let detectify = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rest/v2/profiles/"))
        .and(header("X-Detectify-Key", KEY))
        .respond_with(status(401))
        .mount(&detectify)
        .await;
    profiles(&detectify, OTHER_KEY, &[TOKEN_A]).await;
    scan_state(&detectify, TOKEN_A, state("stopped")).await;
    start_scan(&detectify, TOKEN_A, ResponseTemplate::new(202)).await;
    let app = app_for(&detectify, &format!("{KEY},{OTHER_KEY}"), &[]).await;
    let (_, delivery) = detectify_delivery(&app).await;
    assert_eq!(delivery["state"], "failed");
    assert_eq!(
        delivery["lastError"],
        format!(
            "key 1: list profiles: invalid API key (HTTP 401) (done: scan of {TOKEN_A} started (key 2))"
        )
    );
    assert_eq!(
        calls(&detectify).await,
        vec![
            call("GET", "/rest/v2/profiles/", KEY),
            call("GET", "/rest/v2/profiles/", OTHER_KEY),
            call("GET", &format!("/rest/v2/scans/{TOKEN_A}/"), OTHER_KEY),
            call("POST", &format!("/rest/v2/scans/{TOKEN_A}/"), OTHER_KEY),
        ]
    );
}

#[actix_web::test]
async fn a_missing_token_does_not_stop_the_other_token() {
    let detectify = MockServer::start().await;
    profiles(&detectify, KEY, &[TOKEN_A, TOKEN_B]).await;
    scan_state(&detectify, TOKEN_A, status(404)).await;
    scan_state(&detectify, TOKEN_B, state("stopped")).await;
    start_scan(&detectify, TOKEN_B, ResponseTemplate::new(202)).await;
    let app = app_for(&detectify, KEY, &[]).await;
    let (_, delivery) = detectify_delivery(&app).await;
    assert_eq!(delivery["state"], "failed");
    assert_eq!(
        delivery["lastError"],
        format!(
            "key 1, token {TOKEN_A}: read scan state: token not found (HTTP 404) (done: scan of {TOKEN_B} started (key 1))"
        )
    );
    assert_eq!(calls(&detectify).await.len(), 4);
}

#[actix_web::test]
async fn an_already_running_scan_409_is_not_a_failure() {
    let detectify = MockServer::start().await;
    profiles(&detectify, KEY, &[TOKEN_A]).await;
    scan_state(&detectify, TOKEN_A, state("stopped")).await;
    start_scan(&detectify, TOKEN_A, status(409)).await;
    let app = app_for(&detectify, KEY, &[]).await;
    let (_, delivery) = detectify_delivery(&app).await;
    assert_eq!(delivery["state"], "delivered");
    assert_eq!(
        delivery["outcome"],
        format!("scan of {TOKEN_A} already running (key 1)")
    );
}

#[actix_web::test]
async fn an_unverified_domain_423_fails_permanently_with_its_meaning() {
    let detectify = MockServer::start().await;
    profiles(&detectify, KEY, &[TOKEN_A]).await;
    scan_state(&detectify, TOKEN_A, state("stopped")).await;
    start_scan(&detectify, TOKEN_A, status(423)).await;
    let app = app_for(&detectify, KEY, &[]).await;
    let (_, delivery) = detectify_delivery(&app).await;
    assert_eq!(delivery["state"], "failed");
    assert_eq!(
        delivery["lastError"],
        format!("key 1, token {TOKEN_A}: start scan: domain not verified (HTTP 423)")
    );
    let report = app.actor("detectify");
    assert_eq!((report.failed, report.retried), (1, 0));
    assert!(
        report
            .last_error
            .unwrap()
            .message
            .ends_with("domain not verified (HTTP 423)")
    );
}

#[actix_web::test]
async fn a_server_error_is_retried_and_the_retry_repeats_only_what_failed() {
    let detectify = MockServer::start().await;
    profiles(&detectify, KEY, &[TOKEN_A, TOKEN_B]).await;
    // Token A's state read fails once with a 503, then works.
    Mock::given(method("GET"))
        .and(path(format!("/rest/v2/scans/{TOKEN_A}/")))
        .respond_with(status(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&detectify)
        .await;
    scan_state(&detectify, TOKEN_A, state("stopped")).await;
    scan_state(&detectify, TOKEN_B, state("stopped")).await;
    start_scan(&detectify, TOKEN_A, ResponseTemplate::new(202)).await;
    start_scan(&detectify, TOKEN_B, ResponseTemplate::new(202)).await;
    let app = app_for(&detectify, KEY, &[]).await;
    let (status_code, body) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status_code, 202);
    let id = body["id"].as_str().unwrap().to_owned();
    let retrying = eventually("the retry", Duration::from_secs(5), || async {
        let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
        let delivery = view["deliveries"]
            .as_array()?
            .iter()
            .find(|d| d["subscriber"] == "detectify")?
            .clone();
        (delivery["state"] == "retrying").then_some(delivery)
    })
    .await;
    assert_eq!(
        retrying["lastError"],
        format!(
            "key 1, token {TOKEN_A}: read scan state: Detectify server error (HTTP 503) (done: scan of {TOKEN_B} started (key 1))"
        )
    );
    let view = app.finished_event(&id).await;
    let delivery = view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == "detectify")
        .unwrap();
    assert_eq!(delivery["state"], "delivered");
    assert_eq!(delivery["attempts"], 2);
    let token_a = format!("/rest/v2/scans/{TOKEN_A}/");
    let token_b = format!("/rest/v2/scans/{TOKEN_B}/");
    assert_eq!(
        calls(&detectify).await,
        vec![
            call("GET", "/rest/v2/profiles/", KEY),
            call("GET", &token_a, KEY),
            call("GET", &token_b, KEY),
            call("POST", &token_b, KEY),
            // The retry: token B's scan is not started twice.
            call("GET", "/rest/v2/profiles/", KEY),
            call("GET", &token_a, KEY),
            call("POST", &token_a, KEY),
        ]
    );
}

#[actix_web::test]
async fn with_a_secret_every_request_is_signed() {
    let secret = b"a-test-signing-secret";
    let encoded = BASE64.encode(secret);
    let detectify = MockServer::start().await;
    profiles(&detectify, KEY, &[TOKEN_A]).await;
    scan_state(&detectify, TOKEN_A, state("stopped")).await;
    start_scan(&detectify, TOKEN_A, ResponseTemplate::new(202)).await;
    let app = app_for(&detectify, KEY, &[("DETECTIFY_API_SECRET", &encoded)]).await;
    let (_, delivery) = detectify_delivery(&app).await;
    assert_eq!(delivery["state"], "delivered");
    let requests = detectify.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for request in &requests {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .unwrap_or_else(|| panic!("{name} missing"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        let timestamp = header("X-Detectify-Timestamp");
        let seconds: u64 = timestamp.parse().unwrap();
        assert!(now.abs_diff(seconds) < 60, "timestamp {seconds} vs {now}");
        let message = format!(
            "{};{};{KEY};{timestamp};",
            request.method,
            request.url.path()
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(message.as_bytes());
        let expected = BASE64.encode(mac.finalize().into_bytes());
        assert_eq!(header("X-Detectify-Signature"), expected, "{message}");
    }
}

#[actix_web::test]
async fn without_a_secret_nothing_is_signed_and_other_clusters_are_skipped() {
    let detectify = MockServer::start().await;
    profiles(&detectify, KEY, &[]).await;
    let app = app_for(&detectify, KEY, &[]).await;
    let (_, delivery) = detectify_delivery(&app).await;
    assert_eq!(delivery["state"], "skipped");
    let requests = detectify.received_requests().await.unwrap();
    assert!(requests[0].headers.get("X-Detectify-Signature").is_none());

    let mut deployment = fixture("deployment.json");
    deployment["cluster"] = json!("integral");
    let (_, body) = app.put_event("deployment", &deployment).await;
    let view = app.finished_event(body["id"].as_str().unwrap()).await;
    let delivery = view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == "detectify")
        .unwrap();
    assert_eq!(
        delivery["outcome"],
        "cluster integral is not in DETECTIFY_CLUSTERS"
    );
    assert_eq!(detectify.received_requests().await.unwrap().len(), 1);
}
