//! BEHAVIOUR §1: routes, answers and tolerant parsing.

use serde_json::{Value, json};

use std::collections::BTreeSet;

use crate::helpers::{fixture, hook, mock_slack, spawn_app, wait_for_slack};

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
    // An unknown field: the known ones have bounds of their own.
    body["buildLog"] = json!("x".repeat(262_144));
    let (status, _) = app.put_event("deployment", &body).await;
    assert_eq!(status, 413);
    body["buildLog"] = json!("x".repeat(200_000));
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
    // The core actors running, then every registered subscriber: the
    // history running, everything else unconfigured.
    let mut actors = serde_json::Map::new();
    for core in crate::helpers::CORE_ACTORS {
        actors.insert(core.into(), json!("running"));
    }
    for (id, state) in crate::helpers::unconfigured_states() {
        actors.insert(id.into(), json!(state));
    }
    assert_eq!(body, json!({"status": "ok", "actors": actors}));
    assert_eq!(
        body["actors"]["database"], "running",
        "the history runs unconfigured"
    );
    assert_eq!(body["actors"]["slack-deployment"], "unconfigured");
}

fn channels(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("#channel-{n}")).collect()
}

#[actix_web::test]
async fn a_deployment_naming_3000_channels_is_a_422_and_nothing_is_recorded() {
    let slack = mock_slack().await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    let mut body = fixture("deployment.json");
    body["slackChannels"] = json!(channels(3_000));
    let (status, answer) = app.put_event("deployment", &body).await;
    assert_eq!(status, 422);
    assert_eq!(
        answer,
        json!({
            "error": "invalid_event",
            "message": "slackChannels: at most 20 channels (MAX_CHANNELS_PER_EVENT), not 3000",
            "field": "slackChannels"
        })
    );
    // As a comma-separated string, and for the other kinds, the same.
    body["slackChannels"] = json!(channels(21).join(","));
    let (status, answer) = app.put_event("deployment", &body).await;
    assert_eq!(status, 422);
    assert_eq!(answer["field"], "slackChannels");
    for kind in ["error", "recommendation"] {
        let (status, answer) = app
            .put_event(
                kind,
                &json!({"message": "m", "slackChannels": channels(3_000)}),
            )
            .await;
        assert_eq!(status, 422, "{kind}");
        assert_eq!(answer["field"], "slackChannels", "{kind}");
    }
    // Refused before the journal: nothing recorded, nothing to deliver.
    assert_eq!(app.actor("intake").received, 0);
    let (_, history) = app.get("/api/v1/deployments").await;
    assert_eq!(history["deployments"], json!([]), "{history}");
    wait_for_slack(&app, &slack, 0).await;
}

#[actix_web::test]
async fn twenty_channels_are_accepted_and_each_gets_exactly_one_message() {
    let slack = mock_slack().await;
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("SLACK_CHANNELS", "#all-deployments"),
        ("DISABLED_SUBSCRIBERS", "application-endpoint"),
    ])
    .await;
    let mut body = fixture("deployment.json");
    // Twenty as sent, five of them duplicates: each channel gets one
    // message.
    let mut sent = channels(15);
    sent.extend(channels(5));
    body["slackChannels"] = json!(sent);
    let (status, answer) = app.put_event("deployment", &body).await;
    assert_eq!(status, 202, "{answer}");
    let messages = wait_for_slack(&app, &slack, 16).await;
    let reached: BTreeSet<&str> = messages
        .iter()
        .map(|message| message["channel"].as_str().unwrap())
        .collect();
    let mut wanted: BTreeSet<String> = channels(15).into_iter().collect();
    wanted.insert("#all-deployments".into());
    assert_eq!(reached, wanted.iter().map(String::as_str).collect());
}

#[actix_web::test]
async fn max_channels_per_event_sets_the_bound() {
    let app = spawn_app(&[("MAX_CHANNELS_PER_EVENT", "2")]).await;
    let body = json!({"message": "m", "slackChannels": "#a,#b,#c"});
    let (status, answer) = app.put_event("error", &body).await;
    assert_eq!(status, 422);
    assert_eq!(
        answer["message"],
        "slackChannels: at most 2 channels (MAX_CHANNELS_PER_EVENT), not 3"
    );
    // Counted as sent: a duplicate is an item too.
    let (status, answer) = app
        .put_event(
            "error",
            &json!({"message": "m", "slackChannels": "#a,#b,#a"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        answer["message"],
        "slackChannels: at most 2 channels (MAX_CHANNELS_PER_EVENT), not 3"
    );
    let (status, _) = app
        .put_event("error", &json!({"message": "m", "slackChannels": "#a,#a"}))
        .await;
    assert_eq!(status, 202);
}

#[actix_web::test]
async fn a_200_kb_application_name_is_a_422_naming_it() {
    let slack = mock_slack().await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    let mut body = fixture("deployment.json");
    body["applicationName"] = json!("x".repeat(200_000));
    let (status, answer) = app.put_event("deployment", &body).await;
    assert_eq!(status, 422);
    assert_eq!(
        answer,
        json!({
            "error": "invalid_event",
            "message": "applicationName: must be at most 256 characters, not 200000",
            "field": "applicationName"
        })
    );
    let mut body = fixture("error.json");
    body["stackTrace"] = json!("t".repeat(150_000));
    let (status, answer) = app.put_event("error", &body).await;
    assert_eq!(status, 422);
    assert_eq!(
        answer,
        json!({
            "error": "invalid_event",
            "message": "stackTrace: must be at most 100000 characters, not 150000",
            "field": "stackTrace"
        })
    );
    let mut body = fixture("deployment.json");
    body["accessibilityUrls"] = json!(
        (0..21)
            .map(|n| format!("https://x.test/{n}"))
            .collect::<Vec<_>>()
    );
    let (status, answer) = app.put_event("deployment", &body).await;
    assert_eq!(status, 422);
    assert_eq!(
        answer,
        json!({
            "error": "invalid_event",
            "message": "accessibilityUrls: at most 20 items, not 21",
            "field": "accessibilityUrls"
        })
    );
    assert_eq!(app.actor("intake").received, 0);
    wait_for_slack(&app, &slack, 0).await;
}

#[actix_web::test]
async fn an_idempotency_key_is_visible_ascii_only() {
    let app = spawn_app(&[]).await;
    let send = |key: &'static str| {
        let request = app
            .http
            .put(format!("{}/api/v1/recommendation", app.address))
            .insert_header(("Idempotency-Key", key));
        async move {
            let mut response = request
                .send_json(&json!({"message": "m", "slackChannels": "#a"}))
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let refused = json!({
        "error": "invalid_event",
        "message": "Idempotency-Key: must be 1 to 255 visible ASCII characters",
        "field": "Idempotency-Key"
    });
    for key in ["deploy 42", "deploy\t42", "clé"] {
        let (status, answer) = send(key).await;
        assert_eq!(status, 422, "{key:?}");
        assert_eq!(answer, refused, "{key:?}");
    }
    let long: &'static str = Box::leak("k".repeat(256).into_boxed_str());
    assert_eq!(send(long).await, (422, refused));
    let visible: &'static str = Box::leak(
        (0x21u8..=0x7e)
            .map(char::from)
            .collect::<String>()
            .into_boxed_str(),
    );
    let (status, answer) = send(visible).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(app.actor("intake").received, 1);
}
