//! The admin API and the operations endpoints: authentication, actors,
//! switches that survive a restart, dead letters and their replay.

use std::sync::Arc;
use std::time::Duration;

use alvares::subscribers::registrations;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, TestDatabase, eventually, hook, mock_slack, spawn_app, spawn_app_on, wait_for_slack,
};
use crate::on_both_backends;

const TOKEN: &str = "admin-secret-token";

async fn admin(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let request = app
        .http
        .request(method, format!("{}{path}", app.address))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")));
    let mut response = match body {
        Some(body) => request.send_json(&body).await.unwrap(),
        None => request.send().await.unwrap(),
    };
    let status = response.status().as_u16();
    let bytes = response.body().limit(1 << 24).await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[actix_web::test]
async fn admin_routes_are_off_without_a_token_and_need_the_right_bearer() {
    let off = spawn_app(&[]).await;
    let (status, body) = off.get("/admin/actors").await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({
            "error": "forbidden",
            "message": "the admin API is off: set ADMIN_TOKEN and send it as Authorization: Bearer <token>"
        })
    );

    let on = spawn_app(&[("ADMIN_TOKEN", TOKEN)]).await;
    for path in [
        "/admin/actors",
        "/admin/dead-letters",
        "/admin/events",
        "/admin/actors/intake",
    ] {
        let (status, body) = on.get(path).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["error"], "unauthorized");
    }
    let mut wrong = on
        .http
        .get(format!("{}/admin/actors", on.address))
        .insert_header(("Authorization", "Bearer not-the-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert!(!body.to_string().contains("not-the-token"));
    let (status, _) = admin(&on, "GET", "/admin/actors", None).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn actors_report_state_counters_rate_limits_and_unknown_ids_are_404() {
    let slack = mock_slack().await;
    let app = spawn_app(&[
        ("ADMIN_TOKEN", TOKEN),
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("RATE_LIMITS", "slack=2/s:burst=4"),
        ("DISABLED_SUBSCRIBERS", "slack-error"),
    ])
    .await;
    app.put_event(
        "recommendation",
        &json!({"message": "m", "slackChannels": "#a"}),
    )
    .await;
    wait_for_slack(&app, &slack, 1).await;
    let (status, body) = admin(&app, "GET", "/admin/actors", None).await;
    assert_eq!(status, 200);
    assert!(body["replica"].as_str().is_some_and(|r| !r.is_empty()));
    let actors = body["actors"].as_array().unwrap();
    let ids: Vec<&str> = actors.iter().map(|a| a["id"].as_str().unwrap()).collect();
    // The core actors, then every registered subscriber.
    let expected: Vec<&str> = crate::helpers::CORE_ACTORS
        .into_iter()
        .chain(alvares::subscribers::registrations().iter().map(|r| r.id))
        .collect();
    assert_eq!(ids, expected);
    let recommendation = eventually(
        "the delivery to be counted",
        Duration::from_secs(5),
        || async {
            let (_, body) = admin(&app, "GET", "/admin/actors/slack-recommendation", None).await;
            (body["delivered"] == 1).then_some(body)
        },
    )
    .await;
    assert_eq!(recommendation["state"], "running");
    assert_eq!(recommendation["restarts"], 0);
    assert_eq!(recommendation["failed"], 0);
    assert_eq!(recommendation["deadLettered"], 0);
    assert_eq!(recommendation["backlog"], 0);
    assert_eq!(recommendation["inFlight"], 0);
    assert_eq!(recommendation["circuit"]["state"], "closed");
    assert_eq!(recommendation["rateLimit"]["setting"], "2/s:burst=4");
    let tokens = recommendation["rateLimit"]["tokens"]["#a"]
        .as_f64()
        .unwrap();
    assert!((3.0..=4.0).contains(&tokens), "{tokens}");
    let (_, disabled) = admin(&app, "GET", "/admin/actors/slack-error", None).await;
    assert_eq!(disabled["state"], "disabled");
    let (status, body) = admin(&app, "GET", "/admin/actors/nobody", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": "not_found", "message": "no actor has the id nobody"})
    );
}

on_both_backends!(a_switch_takes_effect_for_the_next_event_and_survives_a_restart);

async fn a_switch_takes_effect_for_the_next_event_and_survives_a_restart(
    database: Arc<TestDatabase>,
) {
    let slack = mock_slack().await;
    let hook_url = hook(&slack);
    let vars = [
        ("ADMIN_TOKEN", TOKEN),
        ("SLACK_WEB_HOOK", hook_url.as_str()),
    ];
    let first = spawn_app_on(database.clone(), &vars, registrations()).await;
    let (status, body) = admin(
        &first,
        "PUT",
        "/admin/subscribers/slack-recommendation",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["state"], "disabled");
    let (_, answer) = first
        .put_event(
            "recommendation",
            &json!({"message": "while off", "slackChannels": "#a"}),
        )
        .await;
    let view = first.finished_event(answer["id"].as_str().unwrap()).await;
    assert_eq!(view["deliveries"][0]["state"], "skipped");
    assert_eq!(view["deliveries"][0]["outcome"], "disabled");

    // Errors: unknown subscriber, bad body.
    let (status, body) = admin(
        &first,
        "PUT",
        "/admin/subscribers/nobody",
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!((status, body["error"].clone()), (404, json!("not_found")));
    let (status, body) = admin(
        &first,
        "PUT",
        "/admin/subscribers/slack-error",
        Some(json!({"enabled": "yes"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "enabled");
    first.stop().await;

    // A new process on the same database keeps the switch.
    let second = spawn_app_on(database, &vars, registrations()).await;
    let (_, body) = admin(&second, "GET", "/admin/actors/slack-recommendation", None).await;
    assert_eq!(body["state"], "disabled");
    let (status, _) = admin(
        &second,
        "PUT",
        "/admin/subscribers/slack-recommendation",
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, answer) = second
        .put_event(
            "recommendation",
            &json!({"message": "back on", "slackChannels": "#a"}),
        )
        .await;
    let view = second.finished_event(answer["id"].as_str().unwrap()).await;
    assert_eq!(view["deliveries"][0]["state"], "delivered");
    let received = wait_for_slack(&second, &slack, 1).await;
    assert_eq!(received[0]["text"], "back on");
}

on_both_backends!(a_permanent_failure_is_dead_lettered_and_replayed);

async fn a_permanent_failure_is_dead_lettered_and_replayed(database: Arc<TestDatabase>) {
    let slack = MockServer::start().await;
    // #gone does not exist until the test "fixes" it.
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(body_partial_json(json!({"channel": "#gone"})))
        .respond_with(ResponseTemplate::new(404).set_body_string("channel_not_found"))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .with_priority(10)
        .mount(&slack)
        .await;
    let app = spawn_app_on(
        database,
        &[("ADMIN_TOKEN", TOKEN), ("SLACK_WEB_HOOK", &hook(&slack))],
        registrations(),
    )
    .await;
    let mut ids = Vec::new();
    for message in ["one", "two", "three"] {
        let (_, answer) = app
            .put_event(
                "recommendation",
                &json!({"message": message, "slackChannels": "#gone"}),
            )
            .await;
        let id = answer["id"].as_str().unwrap().to_owned();
        let view = app.finished_event(&id).await;
        assert_eq!(view["deliveries"][0]["state"], "failed");
        ids.push(id);
    }
    let (status, page) = admin(&app, "GET", "/admin/dead-letters", None).await;
    assert_eq!(status, 200);
    let letters = page["deadLetters"].as_array().unwrap();
    assert_eq!(letters.len(), 3);
    // Newest first.
    assert_eq!(letters[0]["eventId"], ids[2].as_str());
    assert_eq!(letters[0]["subscriber"], "slack-recommendation");
    assert_eq!(letters[0]["kind"], "recommendation");
    assert_eq!(letters[0]["attempts"], 1);
    assert_eq!(
        letters[0]["lastError"],
        "#gone: Slack answered HTTP 404: channel_not_found"
    );
    let (_, one_page) = admin(&app, "GET", "/admin/dead-letters?limit=2", None).await;
    let cursor = one_page["nextCursor"].as_str().unwrap().to_owned();
    let (_, next_page) = admin(
        &app,
        "GET",
        &format!("/admin/dead-letters?limit=2&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(next_page["deadLetters"][0]["eventId"], ids[0].as_str());

    // Replay one, then the rest of the subscriber's.
    let newest = letters[0]["id"].as_i64().unwrap();
    let (status, body) = admin(
        &app,
        "POST",
        &format!("/admin/dead-letters/{newest}/replay"),
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!({"replayed": 1})));
    let view = app.finished_event(&ids[2]).await;
    assert_eq!(view["deliveries"][0]["state"], "delivered");
    let (status, body) = admin(
        &app,
        "POST",
        "/admin/dead-letters/replay?subscriber=slack-recommendation",
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!({"replayed": 2})));
    for id in &ids[..2] {
        let view = app.finished_event(id).await;
        assert_eq!(view["deliveries"][0]["state"], "delivered");
    }
    let (_, page) = admin(&app, "GET", "/admin/dead-letters", None).await;
    assert_eq!(page["deadLetters"], json!([]));
    // Unknown ids.
    let (status, _) = admin(
        &app,
        "POST",
        &format!("/admin/dead-letters/{newest}/replay"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = admin(
        &app,
        "POST",
        "/admin/dead-letters/replay?subscriber=nobody",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = admin(&app, "POST", "/admin/dead-letters/replay", None).await;
    assert_eq!((status, body["field"].clone()), (400, json!("subscriber")));
}

#[actix_web::test]
async fn recent_events_list_each_subscribers_outcome_and_filter() {
    let app = spawn_app(&[("ADMIN_TOKEN", TOKEN)]).await;
    for (name, cluster) in [("a", "active"), ("b", "stage"), ("a", "stage")] {
        let (_, answer) = app
            .put_event(
                "deployment",
                &json!({"applicationName": name, "cluster": cluster}),
            )
            .await;
        app.finished_event(answer["id"].as_str().unwrap()).await;
    }
    app.put_event("error", &json!({"message": "x"})).await;
    let (status, body) = admin(&app, "GET", "/admin/events?limit=10", None).await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["error", "deployment", "deployment", "deployment"]);
    let (_, body) = admin(
        &app,
        "GET",
        "/admin/events?kind=deployment&application=a",
        None,
    )
    .await;
    let clusters: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["stage", "active"]);
    let (_, body) = admin(&app, "GET", "/admin/events?cluster=stage&limit=1", None).await;
    assert_eq!(body["events"][0]["event"]["applicationName"], "a");
    assert_eq!(body["events"][0]["deliveries"][1]["subscriber"], "database");
    assert_eq!(body["events"][0]["deliveries"][1]["state"], "delivered");
    assert!(body["nextCursor"].is_string());
}

#[actix_web::test]
async fn readyz_and_metrics_answer_without_auth() {
    let slack = mock_slack().await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    let (status, body) = app.get("/readyz").await;
    assert_eq!((status, body), (200, json!({"status": "ready"})));
    app.put_event(
        "recommendation",
        &json!({"message": "m", "slackChannels": "#a"}),
    )
    .await;
    wait_for_slack(&app, &slack, 1).await;
    let metrics = eventually("the delivery in the metrics", Duration::from_secs(5), || async {
        let mut response = app
            .http
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .ok()?;
        let text = String::from_utf8(response.body().await.ok()?.to_vec()).ok()?;
        text.contains("alvares_deliveries_total{subscriber=\"slack-recommendation\",outcome=\"delivered\"} 1")
            .then_some(text)
    })
    .await;
    for line in [
        "alvares_events_received_total{kind=\"recommendation\"} 1",
        "alvares_actor_restarts_total{actor=\"intake\"} 0",
        "alvares_queue_depth{actor=\"slack-recommendation\"} 0",
        "# TYPE alvares_intake_duration_seconds histogram",
        "alvares_delivery_duration_seconds_count{subscriber=\"slack-recommendation\"} 1",
        "alvares_retries_total{subscriber=\"slack-recommendation\"} 0",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
}

/// The admin routes that take a body answer one past the limit as intake
/// does: 413 with the JSON error body (it was actix's `text/plain`).
#[actix_web::test]
async fn an_admin_body_over_the_limit_is_a_413_with_the_json_error_body() {
    let app = spawn_app(&[("ADMIN_TOKEN", TOKEN)]).await;
    for (verb, route) in [
        ("PUT", "/admin/subscribers/slack-error"),
        ("POST", "/admin/silences"),
    ] {
        let body = json!({"enabled": false, "padding": "x".repeat(300_000)}).to_string();
        let mut response = app
            .http
            .request(
                awc::http::Method::from_bytes(verb.as_bytes()).unwrap(),
                format!("{}{route}", app.address),
            )
            .insert_header(("Authorization", format!("Bearer {TOKEN}")))
            .insert_header(("Content-Type", "application/json"))
            .send_body(body)
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 413, "{route}");
        assert_eq!(
            response.headers().get("Content-Type").unwrap(),
            "application/json",
            "{route}"
        );
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            answer,
            json!({"error": "payload_too_large", "message": "the body is larger than the limit of 65536 bytes"}),
            "{route}"
        );
    }
    // Just under the limit is read as before.
    let padded = format!("{}{}", " ".repeat(60_000), json!({"enabled": false}));
    let mut response = app
        .http
        .put(format!("{}/admin/subscribers/slack-error", app.address))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .insert_header(("Content-Type", "application/json"))
        .send_body(padded)
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["id"], "slack-error", "{view}");
}
