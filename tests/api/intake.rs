//! BEHAVIOUR §1: routes, answers and tolerant parsing.

use serde_json::{Value, json};

use crate::helpers::{fixture, spawn_app};

fn is_uuid_v7(id: &Value) -> bool {
    id.as_str()
        .and_then(|text| uuid::Uuid::parse_str(text).ok())
        .is_some_and(|uuid| uuid.get_version_num() == 7)
}

#[actix_web::test]
async fn every_route_accepts_put_and_post_with_202_and_an_id() {
    let app = spawn_app(&[]).await;
    let events = [
        ("deployment", fixture("deployment.json")),
        ("error", fixture("error.json")),
        ("recommendation", fixture("recommendations.json")[0].clone()),
    ];
    let mut ids = Vec::new();
    for (kind, body) in &events {
        for method in ["PUT", "POST"] {
            let (status, answer) = app
                .send(method, kind, "application/json", body.to_string(), None)
                .await;
            assert_eq!(status, 202, "{method} {kind}: {answer}");
            assert_eq!(answer["kind"], *kind);
            assert!(is_uuid_v7(&answer["id"]), "{answer}");
            ids.push(answer["id"].as_str().unwrap().to_owned());
        }
    }
    // Time-ordered ids: later events sort after earlier ones.
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert_eq!(app.actor("intake").received, 6);
}

#[actix_web::test]
async fn a_body_that_is_not_json_is_a_400() {
    let app = spawn_app(&[]).await;
    let (status, body) = app
        .send(
            "PUT",
            "deployment",
            "application/json",
            "{not json".into(),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "bad_request");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("the body is not valid JSON: "),
        "{body}"
    );
    assert!(body.get("field").is_none());
}

#[actix_web::test]
async fn a_body_that_is_not_application_json_is_a_400() {
    let app = spawn_app(&[]).await;
    let (status, body) = app
        .send(
            "PUT",
            "deployment",
            "text/plain",
            fixture("deployment.json").to_string(),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "bad_request", "message": "Content-Type must be application/json"})
    );
    // A charset parameter is fine.
    let (status, _) = app
        .send(
            "PUT",
            "deployment",
            "application/json; charset=utf-8",
            fixture("deployment.json").to_string(),
            None,
        )
        .await;
    assert_eq!(status, 202);
}

#[actix_web::test]
async fn a_body_over_the_limit_is_a_413() {
    let app = spawn_app(&[("MAX_BODY_BYTES", "100")]).await;
    let mut body = fixture("deployment.json");
    body["descriptionEnglish"] = json!("x".repeat(200));
    let (status, answer) = app.put_event("deployment", &body).await;
    assert_eq!(status, 413);
    assert_eq!(
        answer,
        json!({"error": "payload_too_large", "message": "the body is larger than the limit of 100 bytes"})
    );
}

#[actix_web::test]
async fn the_default_limit_is_256_kib() {
    let app = spawn_app(&[]).await;
    let mut body = fixture("deployment.json");
    body["descriptionEnglish"] = json!("x".repeat(262_144));
    let (status, _) = app.put_event("deployment", &body).await;
    assert_eq!(status, 413);
    body["descriptionEnglish"] = json!("x".repeat(200_000));
    let (status, _) = app.put_event("deployment", &body).await;
    assert_eq!(status, 202);
}

#[actix_web::test]
async fn a_wrong_shape_is_a_422_naming_the_field() {
    let app = spawn_app(&[]).await;
    let cases = [
        (
            "deployment",
            json!({"cluster": "active"}),
            "applicationName",
            "applicationName: is required",
        ),
        (
            "deployment",
            json!({"applicationName": "app", "cluster": null}),
            "cluster",
            "cluster: is required",
        ),
        (
            "deployment",
            json!({"applicationName": "app", "cluster": "active", "version": {"major": 1}}),
            "version",
            "version: must be a string, not an object",
        ),
        (
            "deployment",
            json!({"applicationName": "app", "cluster": "active", "imageName": ["a"]}),
            "imageName",
            "imageName: must be a string, not an array",
        ),
        (
            "error",
            json!({"stackTrace": "trace"}),
            "message",
            "message: is required",
        ),
        (
            "recommendation",
            json!({"message": "   "}),
            "message",
            "message: is required",
        ),
    ];
    for (kind, body, field, message) in cases {
        let (status, answer) = app.put_event(kind, &body).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(
            answer,
            json!({"error": "invalid_event", "message": message, "field": field}),
            "{body}"
        );
    }
    let (status, answer) = app
        .put_event("deployment", &json!(["not", "an", "object"]))
        .await;
    assert_eq!(status, 422);
    assert_eq!(answer["error"], "invalid_event");
}

#[actix_web::test]
async fn tolerant_parsing_accepts_what_real_senders_send() {
    let app = spawn_app(&[]).await;
    let body = json!({
        "applicationName": " \"kth-azure-app\" ",
        "cluster": "active",
        "version": 2,
        "testAccessibility": true,
        "importance": null,
        "created": 1566822400.53,
        "slackChannels": ["#a", "#b", "#a"],
        "somethingNew": {"kept": true}
    });
    let (status, answer) = app.put_event("deployment", &body).await;
    assert_eq!(status, 202, "{answer}");
    let (status, _) = app
        .put_event(
            "error",
            &json!({"message": "failed", "slackChannels": "#a, #b", "stackTrace": null}),
        )
        .await;
    assert_eq!(status, 202);
}

#[actix_web::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app(&[]).await;
    let (status, body) = app.put_event("deploy", &json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"error": "not_found", "message": "not found"}));
    let (status, body) = app
        .send(
            "DELETE",
            "deployment",
            "application/json",
            "{}".into(),
            None,
        )
        .await;
    assert_eq!(status, 405);
    assert_eq!(body["error"], "method_not_allowed");
}

#[actix_web::test]
async fn with_an_ingest_token_a_bearer_token_is_required() {
    let app = spawn_app(&[("INGEST_TOKEN", "s3cret-ingest")]).await;
    let body = fixture("deployment.json").to_string();
    let (status, answer) = app
        .send("PUT", "deployment", "application/json", body.clone(), None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        answer,
        json!({"error": "unauthorized", "message": "Authorization: Bearer <token> is required"})
    );
    let (status, _) = app
        .send(
            "PUT",
            "deployment",
            "application/json",
            body.clone(),
            Some("wrong"),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .send(
            "PUT",
            "deployment",
            "application/json",
            body,
            Some("s3cret-ingest"),
        )
        .await;
    assert_eq!(status, 202);
}

#[actix_web::test]
async fn health_lists_every_actor_and_unconfigured_subscribers() {
    let app = spawn_app(&[]).await;
    let (status, body) = app.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "status": "ok",
            "actors": {
                "intake": "running",
                "enricher": "running",
                "registry": "running",
                "sweeper": "running",
                "coordinator": "running",
                "journal-writer": "running",
                "application-endpoint": "unconfigured",
                "database": "running",
                "detectify": "unconfigured",
                "flottsbro": "unconfigured",
                "lighthouse": "unconfigured",
                "slack-deployment": "unconfigured",
                "slack-error": "unconfigured",
                "slack-recommendation": "unconfigured",
                "uptimerobot": "unconfigured"
            }
        })
    );
}
