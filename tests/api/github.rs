//! GitHub deployments, against a mock that answers as GitHub's REST API
//! documents ("REST API endpoints for deployments", "… for deployment
//! statuses", "Rate limits for the REST API"): `POST
//! /repos/{owner}/{repo}/deployments` answered `201` with the deployment
//! (`id`, …), `POST …/deployments/{id}/statuses` answered `201`, `GET
//! …/deployments?environment=…&task=…` answered `200` with the list, newest
//! first; past the primary limit, `403` with `x-ratelimit-remaining: 0`
//! and `x-ratelimit-reset` (a Unix time).

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, eventually, spawn_app};

const TOKEN: &str = "github_pat_11ABCDEFG0123456789_secret";
const DEPLOYMENTS: &str = "/repos/kth/kth-azure-app/deployments";

const FILE: &str = r#"
[[destinations]]
name = "deployments"
type = "github"
key_env = "GITHUB_DEPLOYMENTS_TOKEN"
repositories = { kth-azure-app = "kth/kth-azure-app" }
kinds = ["deployment", "error"]
"#;

async fn app_with(github: &MockServer) -> (TestApp, tempfile::TempDir) {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(&file, FILE).unwrap();
    let app = spawn_app(&[
        ("ALVARES_CONFIG", file.to_str().unwrap()),
        ("GITHUB_DEPLOYMENTS_TOKEN", TOKEN),
        ("GITHUB_API_URL", &github.uri()),
        ("GRAYLOG_HOST", "https://graylog.example"),
        ("RETRY_JITTER_PERCENT", "0"),
    ])
    .await;
    (app, folder)
}

/// GitHub's answer to a created deployment.
fn created(id: u64, sha: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "id": id, "sha": sha, "ref": sha, "task": "deploy:kth-azure-app",
        "environment": "active", "creator": {"login": "alvares"},
    }))
}

/// A listing of deployments (ids newest first).
fn listing(ids: &[u64]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        ids.iter()
            .map(|id| json!({"id": id, "environment": "active", "task": "deploy:kth-azure-app"}))
            .collect::<Vec<_>>(),
    )
}

async fn mount(github: &MockServer, mock: Mock) {
    mock.mount(github).await;
}

/// Every request the mock received: method, path and query, and body.
async fn calls(github: &MockServer) -> Vec<(String, Value)> {
    github
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(
                r.headers.get("authorization").unwrap(),
                &format!("Bearer {TOKEN}")
            );
            assert_eq!(
                r.headers.get("accept").unwrap(),
                "application/vnd.github+json"
            );
            assert_eq!(r.headers.get("x-github-api-version").unwrap(), "2022-11-28");
            let target = match r.url.query() {
                Some(query) => format!("{} {}?{query}", r.method, r.url.path()),
                None => format!("{} {}", r.method, r.url.path()),
            };
            (
                target,
                serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            )
        })
        .collect()
}

async fn outcome(app: &TestApp, id: &str) -> Value {
    eventually("the GitHub delivery", Duration::from_secs(15), || async {
        let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
        view["deliveries"]
            .as_array()?
            .iter()
            .find(|d| {
                d["subscriber"] == "github-deployments"
                    && ["delivered", "skipped", "failed", "retrying"]
                        .contains(&d["state"].as_str().unwrap_or_default())
            })
            .cloned()
    })
    .await
}

/// A deployment of `version`: its event id and its GitHub delivery.
async fn deploy(app: &TestApp, version: &str) -> (String, Value) {
    let (status, answer) = app
        .put_event(
            "deployment",
            &json!({"applicationName": "kth-azure-app", "cluster": "active",
                    "version": version, "imageName": "kth-azure-app"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let delivery = outcome(app, &id).await;
    (id, delivery)
}

#[actix_web::test]
async fn a_deployment_succeeds_its_replacement_makes_it_inactive_and_an_error_fails_the_current() {
    let github = MockServer::start().await;
    mount(
        &github,
        Mock::given(method("POST"))
            .and(path(DEPLOYMENTS))
            .and(body_partial_json(json!({"ref": "abc1234"})))
            .respond_with(created(1001, "abc1234")),
    )
    .await;
    mount(
        &github,
        Mock::given(method("POST"))
            .and(path(DEPLOYMENTS))
            .and(body_partial_json(json!({"ref": "def5678"})))
            .respond_with(created(1002, "def5678")),
    )
    .await;
    for id in [1001, 1002] {
        mount(
            &github,
            Mock::given(method("POST"))
                .and(path(format!("{DEPLOYMENTS}/{id}/statuses")))
                .respond_with(
                    ResponseTemplate::new(201).set_body_json(json!({"id": 1, "state": "success"})),
                ),
        )
        .await;
    }
    mount(
        &github,
        Mock::given(method("GET"))
            .and(path(DEPLOYMENTS))
            .and(query_param("environment", "active"))
            .and(query_param("task", "deploy:kth-azure-app"))
            .respond_with(listing(&[1001])),
    )
    .await;
    let (app, _folder) = app_with(&github).await;

    let (event, first) = deploy(&app, "2.0.11_abc1234").await;
    assert_eq!(first["state"], "delivered", "{first}");
    assert_eq!(
        first["outcome"],
        "deployment 1001 of abc1234 in active: success"
    );
    let logs = "https://graylog.example/search?rangetype=relative&fields=message%2Csource&width=2560&highlightMessage=&relative=3600&q=source%3Aactive+AND+image_name%3A/.%2Akth-azure-app%3A2.0.11_abc1234.%2A/";
    let query = "environment=active&task=deploy%3Akth-azure-app&per_page=10";
    assert_eq!(
        calls(&github).await,
        [
            (
                format!("POST {DEPLOYMENTS}"),
                json!({
                    "ref": "abc1234", "task": "deploy:kth-azure-app", "environment": "active",
                    "description": "kth-azure-app 2.0.11_abc1234", "auto_merge": false,
                    "required_contexts": [], "payload": {"alvares": {"event": event}},
                })
            ),
            (
                format!("POST {DEPLOYMENTS}/1001/statuses"),
                json!({
                    "state": "success", "environment": "active",
                    "description": "kth-azure-app 2.0.11_abc1234 deployed", "auto_inactive": false,
                    "log_url": logs,
                })
            ),
            (format!("GET {DEPLOYMENTS}?{query}"), Value::Null),
        ]
    );

    // The replacement: its own deployment, and the first one inactive.
    github.reset().await;
    mount(
        &github,
        Mock::given(method("POST"))
            .and(path(DEPLOYMENTS))
            .and(body_partial_json(json!({"ref": "def5678"})))
            .respond_with(created(1002, "def5678")),
    )
    .await;
    for id in [1001, 1002] {
        mount(
            &github,
            Mock::given(method("POST"))
                .and(path(format!("{DEPLOYMENTS}/{id}/statuses")))
                .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 2}))),
        )
        .await;
    }
    mount(
        &github,
        Mock::given(method("GET"))
            .and(path(DEPLOYMENTS))
            .respond_with(listing(&[1002, 1001])),
    )
    .await;
    let (_, second) = deploy(&app, "2.0.12_def5678").await;
    assert_eq!(
        second["outcome"],
        "deployment 1002 of def5678 in active: success; 1001 inactive"
    );
    let seen = calls(&github).await;
    assert_eq!(
        seen.iter()
            .map(|(target, _)| target.as_str())
            .collect::<Vec<_>>(),
        [
            format!("POST {DEPLOYMENTS}").as_str(),
            &format!("POST {DEPLOYMENTS}/1002/statuses"),
            &format!("GET {DEPLOYMENTS}?{query}"),
            &format!("POST {DEPLOYMENTS}/1001/statuses"),
        ]
    );
    assert_eq!(seen[1].1["state"], "success");
    assert_eq!(
        seen[3].1,
        json!({"state": "inactive", "environment": "active",
               "description": "replaced by 2.0.12_def5678", "auto_inactive": false})
    );

    // An error of that application and cluster: the current one fails.
    github.reset().await;
    mount(
        &github,
        Mock::given(method("GET"))
            .and(path(DEPLOYMENTS))
            .respond_with(listing(&[1002, 1001])),
    )
    .await;
    mount(
        &github,
        Mock::given(method("POST"))
            .and(path(format!("{DEPLOYMENTS}/1002/statuses")))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 3}))),
    )
    .await;
    let (status, answer) = app
        .put_event(
            "error",
            &json!({"message": "readiness probe failed",
                                    "applicationName": "kth-azure-app", "cluster": "active"}),
        )
        .await;
    assert_eq!(status, 202);
    let failed = outcome(&app, answer["id"].as_str().unwrap()).await;
    assert_eq!(failed["outcome"], "deployment 1002 in active: failure");
    let seen = calls(&github).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[1],
        (
            format!("POST {DEPLOYMENTS}/1002/statuses"),
            json!({
                "state": "failure", "environment": "active",
                "description": "readiness probe failed", "auto_inactive": false,
            })
        )
    );

    // Nothing to do: a version with no commit id, an unmapped application.
    github.reset().await;
    let (_, skipped) = deploy(&app, "2.0.13").await;
    assert_eq!(skipped["state"], "skipped");
    assert_eq!(
        skipped["outcome"],
        "its version \"2.0.13\" ends in no commit id"
    );
    let (_, answer) = app
        .put_event(
            "deployment",
            &json!({"applicationName": "other", "cluster": "active", "version": "1_abc1234"}),
        )
        .await;
    let other = outcome(&app, answer["id"].as_str().unwrap()).await;
    assert_eq!(
        other["outcome"],
        "repositories names no repository of other"
    );
    assert!(github.received_requests().await.unwrap().is_empty());
}

#[actix_web::test]
async fn past_the_rate_limit_it_waits_for_the_reset_and_sends_nothing_meanwhile() {
    let github = MockServer::start().await;
    mount(
        &github,
        Mock::given(method("POST"))
            .and(path(DEPLOYMENTS))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .respond_with(created(1001, "abc1234")),
    )
    .await;
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 30;
    mount(&github, Mock::given(method("POST")).and(path(format!("{DEPLOYMENTS}/1001/statuses")))
        .respond_with(ResponseTemplate::new(403)
            .insert_header("x-ratelimit-limit", "5000")
            .insert_header("x-ratelimit-remaining", "0")
            .insert_header("x-ratelimit-reset", reset.to_string().as_str())
            .set_body_json(json!({"message": "API rate limit exceeded for user ID 1.",
                                  "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"})))).await;
    let (app, _folder) = app_with(&github).await;
    let (_, delivery) = deploy(&app, "2.0.11_abc1234").await;
    assert_eq!(delivery["state"], "retrying", "{delivery}");
    let error = delivery["lastError"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "POST {DEPLOYMENTS}/1001/statuses: rate limited (HTTP 403); retry in "
        )),
        "{error}"
    );
    let wait: u64 = error
        .rsplit("retry in ")
        .next()
        .unwrap()
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!((28..=30).contains(&wait), "{error}");
    assert!(!delivery.to_string().contains(TOKEN));
    // Nothing more was sent: the deployment once, its status once.
    let statuses = format!("{DEPLOYMENTS}/1001/statuses");
    let posts = |received: &[wiremock::Request], route: &str| {
        received
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == route)
            .count()
    };
    let received = github.received_requests().await.unwrap();
    assert_eq!(
        (posts(&received, DEPLOYMENTS), posts(&received, &statuses)),
        (1, 1)
    );
}

#[actix_web::test]
async fn a_retry_goes_on_from_the_step_that_failed_and_creates_no_second_deployment() {
    let github = MockServer::start().await;
    let statuses = format!("{DEPLOYMENTS}/1001/statuses");
    Mock::given(method("POST"))
        .and(path(DEPLOYMENTS))
        .respond_with(created(1001, "abc1234"))
        .mount(&github)
        .await;
    // The first status fails (GitHub's 502), the retry's is taken.
    Mock::given(method("POST"))
        .and(path(statuses.as_str()))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .and(path(statuses.as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .mount(&github)
        .await;
    Mock::given(method("GET"))
        .and(path(DEPLOYMENTS))
        .respond_with(listing(&[1001]))
        .mount(&github)
        .await;
    let (app, _folder) = app_with(&github).await;
    let (id, first) = deploy(&app, "2.0.11_abc1234").await;
    assert_eq!(first["state"], "retrying", "{first}");
    let delivered = eventually("the retry", Duration::from_secs(15), || async {
        let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
        view["deliveries"]
            .as_array()?
            .iter()
            .find(|d| d["subscriber"] == "github-deployments" && d["state"] == "delivered")
            .cloned()
    })
    .await;
    assert_eq!(
        delivered["outcome"],
        "deployment 1001 of abc1234 in active: success"
    );
    let received = github.received_requests().await.unwrap();
    let posts = |route: &str| {
        received
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == route)
            .count()
    };
    assert_eq!((posts(DEPLOYMENTS), posts(&statuses)), (1, 2));
}
