//! `flottsbro` against a mock of its API: each enriched deployment is
//! POSTed as JSON to `/v1/latest/<cluster>` with the `api_key` header; 2xx
//! is delivered, 5xx and 429 are retried, another 4xx fails.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{eventually, fixture, spawn_app};

const KEY: &str = "flottsbro-secret-key-81";

async fn flottsbro(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/pipeline/v1/latest/active"))
        .and(header("api_key", KEY))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

fn vars(server: &MockServer) -> Vec<(&'static str, String)> {
    vec![
        ("FLOTTSBRO_API_KEY", KEY.to_owned()),
        (
            "FLOTTSBRO_API_BASE_URL",
            format!("{}/api/pipeline", server.uri()),
        ),
        ("RETRY_JITTER_PERCENT", "0".to_owned()),
    ]
}

async fn outcome(status: u16) -> (Value, MockServer) {
    let server = flottsbro(status).await;
    let vars = vars(&server);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app(&vars).await;
    let (_, answer) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    let id = answer["id"].as_str().unwrap().to_owned();
    let delivery = eventually("the first attempt", Duration::from_secs(10), || async {
        let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
        let delivery = view["deliveries"]
            .as_array()?
            .iter()
            .find(|d| d["subscriber"] == "flottsbro")?
            .clone();
        (delivery["attempts"] == 1).then_some(delivery)
    })
    .await;
    (delivery, server)
}

#[actix_web::test]
async fn each_deployment_is_posted_as_the_latest_of_its_cluster() {
    let (delivery, server) = outcome(201).await;
    assert_eq!(delivery["state"], "delivered");
    assert_eq!(
        delivery["outcome"],
        "stored as the latest of kth-azure-app in active"
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    // The enriched deployment, as every subscriber sees it.
    assert_eq!(body["applicationName"], "kth-azure-app");
    assert_eq!(
        body["monitorUrl"],
        "https://app.kth.se/kth-azure-app/_monitor"
    );
    assert_eq!(body["team"], "team-studadm");
    assert_eq!(
        body["slackChannels"],
        json!(["#team-studadm", "#developers"])
    );
}

#[actix_web::test]
async fn server_errors_and_429_are_retried_other_refusals_fail() {
    for (status, state) in [
        (503, "retrying"),
        (429, "retrying"),
        (400, "failed"),
        (404, "failed"),
    ] {
        let (delivery, _) = outcome(status).await;
        assert_eq!(delivery["state"], state, "HTTP {status}: {delivery}");
        let error = delivery["lastError"].as_str().unwrap();
        assert!(error.starts_with("flottsbro: "), "{error}");
        assert!(!error.contains(KEY));
    }
}

#[actix_web::test]
async fn without_a_key_it_is_unconfigured_and_its_old_name_disables_it() {
    let app = spawn_app(&[]).await;
    assert_eq!(
        app.actor("flottsbro").state,
        alvares::engine::ActorState::Unconfigured
    );
    let server = flottsbro(200).await;
    let mut vars = vars(&server);
    vars.push((
        "DISABLED_SUBSCRIBERS",
        "modules.subscribers.flottsbro.flottsbro".to_owned(),
    ));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app(&vars).await;
    assert_eq!(
        app.actor("flottsbro").state,
        alvares::engine::ActorState::Disabled
    );
}
