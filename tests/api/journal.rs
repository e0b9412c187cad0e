//! The journal and the deployment store, on SQLite and on PostgreSQL: the
//! query routes, each subscriber's recorded outcome, idempotency, restarts
//! that finish pending deliveries, and storage that goes away.

use std::sync::Arc;
use std::time::Duration;

use alvares::subscribers::registrations;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, TestDatabase, eventually, fixture, hook, mock_slack, slack_bodies, spawn_app_on,
    wait_for_slack,
};
use crate::on_both_backends;

on_both_backends!(
    query_routes_answer_with_the_stored_enriched_deployments,
    the_event_route_tells_what_each_subscriber_did,
    an_idempotency_key_repeats_the_original_answer,
    a_restart_finishes_pending_deliveries_and_keeps_the_history,
);

fn deployment(name: &str, cluster: &str, channels: &str) -> Value {
    json!({
        "applicationName": name,
        "cluster": cluster,
        "version": "1.0.0",
        "imageName": name,
        "applicationPath": format!("/{name}"),
        "slackChannels": channels,
        "x-build": {"number": 7}
    })
}

/// PUTs deployments one by one and waits until each is stored.
async fn store_deployments(app: &TestApp, bodies: &[Value]) -> Vec<String> {
    let mut ids = Vec::new();
    for body in bodies {
        let (status, answer) = app.put_event("deployment", body).await;
        assert_eq!(status, 202, "{answer}");
        let id = answer["id"].as_str().unwrap().to_owned();
        app.finished_event(&id).await;
        ids.push(id);
    }
    ids
}

fn names(page: &Value) -> Vec<String> {
    page["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["deployment"]["applicationName"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn query_routes_answer_with_the_stored_enriched_deployments(database: Arc<TestDatabase>) {
    let app = spawn_app_on(database, &[], registrations()).await;
    let ids = store_deployments(
        &app,
        &[
            deployment("alpha", "active", "#team-pipeline-x"),
            deployment("beta", "stage", "#team-studadm-y"),
            deployment("alpha", "active", "#team-pipeline-x"),
            deployment("gamma", "active", "#team-studadm-y"),
        ],
    )
    .await;

    // Newest first, enriched, unknown fields kept.
    let (status, page) = app.get("/api/v1/deployments").await;
    assert_eq!(status, 200);
    assert_eq!(names(&page), ["gamma", "alpha", "beta", "alpha"]);
    assert_eq!(page["nextCursor"], Value::Null);
    let newest = &page["deployments"][0];
    assert_eq!(newest["id"], ids[3].as_str());
    assert_eq!(
        newest["deployment"]["monitorUrl"],
        "https://app.kth.se/gamma/_monitor"
    );
    assert_eq!(newest["deployment"]["team"], "team-studadm");
    assert_eq!(newest["deployment"]["x-build"], json!({"number": 7}));
    assert!(newest["receivedAt"].as_str().unwrap().ends_with('Z'));

    // Filters.
    let (_, page) = app.get("/api/v1/deployments?cluster=active").await;
    assert_eq!(names(&page), ["gamma", "alpha", "alpha"]);
    let (_, page) = app.get("/api/v1/deployments?application=alpha").await;
    assert_eq!(names(&page), ["alpha", "alpha"]);
    let (_, page) = app.get("/api/v1/deployments?team=team-studadm").await;
    assert_eq!(names(&page), ["gamma", "beta"]);
    let since = page["deployments"][1]["receivedAt"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, page) = app.get(&format!("/api/v1/deployments?since={since}")).await;
    assert!(
        names(&page).len() >= 3 && names(&page)[0] == "gamma",
        "{page}"
    );

    // Cursor pagination.
    let (_, first) = app.get("/api/v1/deployments?limit=3").await;
    assert_eq!(names(&first), ["gamma", "alpha", "beta"]);
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(cursor, ids[1]);
    let (_, second) = app
        .get(&format!("/api/v1/deployments?limit=3&cursor={cursor}"))
        .await;
    assert_eq!(names(&second), ["alpha"]);
    assert_eq!(second["deployments"][0]["id"], ids[0].as_str());

    // One deployment; the latest of each application in a cluster.
    let (status, one) = app.get(&format!("/api/v1/deployments/{}", ids[1])).await;
    assert_eq!(status, 200);
    assert_eq!(one["deployment"]["applicationName"], "beta");
    assert_eq!(
        one["deployment"]["applicationUrl"],
        "https://app-r.referens.sys.kth.se/beta"
    );
    let (status, latest) = app.get("/api/v1/clusters/active/latest").await;
    assert_eq!(status, 200);
    assert_eq!(latest["cluster"], "active");
    let latest_ids: Vec<&str> = latest["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(latest_ids, [ids[2].as_str(), ids[3].as_str()]);

    // Errors.
    let (status, body) = app.get("/api/v1/deployments/no-such-id").await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "not_found", "message": "not found"}))
    );
    let (status, body) = app.get("/api/v1/deployments?limit=0").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_query", "message": "limit: must be a whole number from 1 to 500", "field": "limit"})
    );
    let (status, body) = app.get("/api/v1/deployments?since=yesterday").await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "since");
}

async fn the_event_route_tells_what_each_subscriber_did(database: Arc<TestDatabase>) {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(404).set_body_string("channel_not_found"))
        .mount(&slack)
        .await;
    let app = spawn_app_on(
        database,
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("DISABLED_SUBSCRIBERS", "application-endpoint"),
        ],
        registrations(),
    )
    .await;
    let (_, answer) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    let id = answer["id"].as_str().unwrap();
    let view = app.finished_event(id).await;
    assert_eq!(view["id"], id);
    assert_eq!(view["kind"], "deployment");
    assert_eq!(view["event"]["friendlyName"], "Monitor application");
    let outcomes: Vec<(String, String, Value, Value)> = view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["subscriber"].as_str().unwrap().to_owned(),
                d["state"].as_str().unwrap().to_owned(),
                d["outcome"].clone(),
                d["lastError"].clone(),
            )
        })
        .collect();
    // Every subscriber that takes deployments, alphabetised: the one
    // switched off, the history, the failing Slack message, and every other
    // one unconfigured.
    let expected: Vec<(String, String, Value, Value)> = registrations()
        .iter()
        .filter(|r| r.kinds.iter().any(|k| k.as_str() == "deployment"))
        .map(|r| {
            let (state, outcome, error) = match r.id {
                "application-endpoint" => ("skipped", json!("disabled"), Value::Null),
                "database" => (
                    "delivered",
                    json!("stored in the deployment history"),
                    Value::Null,
                ),
                "slack-deployment" => (
                    "failed",
                    Value::Null,
                    json!(
                        "#team-studadm: Slack answered HTTP 404: channel_not_found; #developers: Slack answered HTTP 404: channel_not_found"
                    ),
                ),
                _ => ("skipped", json!("not configured"), Value::Null),
            };
            (r.id.to_owned(), state.to_owned(), outcome, error)
        })
        .collect();
    assert_eq!(outcomes, expected);
    assert!(expected.len() >= 7, "{expected:?}");
    let (status, _) = app
        .get("/api/v1/events/01890000-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, 404);
}

async fn an_idempotency_key_repeats_the_original_answer(database: Arc<TestDatabase>) {
    let slack = mock_slack().await;
    let app = spawn_app_on(
        database,
        &[("SLACK_WEB_HOOK", &hook(&slack))],
        registrations(),
    )
    .await;
    let send = |body: Value, key: &'static str| {
        let request = app
            .http
            .put(format!("{}/api/v1/recommendation", app.address))
            .insert_header(("Idempotency-Key", key));
        async move {
            let mut response = request.send_json(&body).await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let body = json!({"message": "once", "slackChannels": "#a"});
    let (status, first) = send(body.clone(), "deploy-42").await;
    assert_eq!(status, 202);
    let (status, second) = send(body.clone(), "deploy-42").await;
    assert_eq!(status, 202);
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["repeated"], true);
    let (status, conflict) = send(json!({"message": "other"}), "deploy-42").await;
    assert_eq!(status, 422);
    assert_eq!(
        conflict,
        json!({
            "error": "invalid_event",
            "message": "Idempotency-Key: was already used for a different body in the last 24 hours",
            "field": "Idempotency-Key"
        })
    );
    // A different key is a different event.
    let (status, third) = send(body, "deploy-43").await;
    assert_eq!(status, 202);
    assert_ne!(third["id"], first["id"]);
    assert_eq!(wait_for_slack(&app, &slack, 2).await.len(), 2);
}

async fn a_restart_finishes_pending_deliveries_and_keeps_the_history(database: Arc<TestDatabase>) {
    // Slack is down during the first run.
    let down = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&down)
        .await;
    let vars = |slack: &MockServer| {
        vec![
            ("SLACK_WEB_HOOK".to_owned(), hook(slack)),
            (
                "DISABLED_SUBSCRIBERS".to_owned(),
                "application-endpoint".to_owned(),
            ),
            ("LEASE_SECONDS".to_owned(), "3".to_owned()),
        ]
    };
    let pairs = vars(&down);
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let first = spawn_app_on(database.clone(), &pairs, registrations()).await;
    let (_, answer) = first
        .put_event(
            "recommendation",
            &json!({"message": "survive", "slackChannels": "#ops"}),
        )
        .await;
    let id = answer["id"].as_str().unwrap().to_owned();
    let (_, stored) = first
        .put_event("deployment", &deployment("kept", "active", ""))
        .await;
    let stored_id = stored["id"].as_str().unwrap().to_owned();
    first.finished_event(&stored_id).await;
    eventually(
        "the first attempt to fail",
        Duration::from_secs(5),
        || async {
            let (_, view) = first.get(&format!("/api/v1/events/{id}")).await;
            (view["deliveries"][0]["state"] == "retrying").then_some(())
        },
    )
    .await;
    first.stop().await;

    // Slack is back; a new process on the same database finishes the work.
    let up = mock_slack().await;
    let pairs = vars(&up);
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let second = spawn_app_on(database, &pairs, registrations()).await;
    // The retry is due after its backoff and the first run's lease (3 s):
    // more than wait_for_slack's 10 s once under the whole suite's load.
    eventually("the retried message", Duration::from_secs(30), || async {
        (!slack_bodies(&up).await.is_empty()).then_some(())
    })
    .await;
    let received = wait_for_slack(&second, &up, 1).await;
    assert_eq!(received[0]["text"], "survive");
    let view = second.finished_event(&id).await;
    assert_eq!(view["deliveries"][0]["state"], "delivered");
    // One or two failed attempts in the first run, then the successful one.
    assert!(
        view["deliveries"][0]["attempts"].as_i64().unwrap() >= 2,
        "{view}"
    );
    let (status, kept) = second
        .get(&format!("/api/v1/deployments/{stored_id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(kept["deployment"]["applicationName"], "kept");
}

#[actix_web::test]
async fn intake_answers_503_when_storage_is_unreachable() {
    let Some(database) = TestDatabase::postgres() else {
        return;
    };
    let database = Arc::new(database);
    let app = spawn_app_on(database.clone(), &[], registrations()).await;
    let (status, answer) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    // Stored before storage goes away, so the count below is exact.
    app.finished_event(answer["id"].as_str().unwrap()).await;
    // Take the database away: no new connections, existing ones closed.
    database.set_reachable(false);
    let (status, body) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({"error": "unavailable", "message": "storage is unavailable; try again"})
    );
    // Nothing half-recorded: once the failed batch is over and storage is
    // back, only the first deployment exists.
    eventually(
        "the journal to report the failure",
        Duration::from_secs(10),
        || async { (app.actor("journal-writer").failed >= 1).then_some(()) },
    )
    .await;
    database.set_reachable(true);
    let (_, page) = eventually("storage to come back", Duration::from_secs(15), || async {
        let (status, _) = app.put_event("error", &json!({"message": "back"})).await;
        (status == 202).then_some(())?;
        let (status, page) = app.get("/api/v1/deployments").await;
        (status == 200).then_some((status, page))
    })
    .await;
    assert_eq!(page["deployments"].as_array().unwrap().len(), 1);
}

on_both_backends!(retention_prunes_finished_entries_and_keeps_history_and_failures);

async fn retention_prunes_finished_entries_and_keeps_history_and_failures(
    database: Arc<TestDatabase>,
) {
    use alvares::store::AnyConnection;
    use alvares::store::journal::{Pruned, prune_finished};
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};

    let slack = mock_slack().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(wiremock::matchers::body_partial_json(
            json!({"channel": "#broken"}),
        ))
        .respond_with(ResponseTemplate::new(404).set_body_string("channel_not_found"))
        .with_priority(1)
        .mount(&slack)
        .await;
    let app = spawn_app_on(
        database.clone(),
        &[("SLACK_WEB_HOOK", &hook(&slack))],
        registrations(),
    )
    .await;
    let (_, delivered) = app
        .put_event("deployment", &deployment("old-app", "active", "#ok"))
        .await;
    let delivered = delivered["id"].as_str().unwrap().to_owned();
    let (_, failed) = app
        .put_event(
            "recommendation",
            &json!({"message": "m", "slackChannels": "#broken"}),
        )
        .await;
    let failed = failed["id"].as_str().unwrap().to_owned();
    app.finished_event(&delivered).await;
    app.finished_event(&failed).await;

    // Make everything a month old, then prune with 14 days' retention.
    let mut connection = AnyConnection::establish(&database.url()).unwrap();
    if let AnyConnection::Sqlite(sqlite) = &mut connection {
        sqlite.batch_execute("PRAGMA busy_timeout = 10000").unwrap();
    }
    diesel::sql_query("UPDATE deliveries SET updated_at = 1000")
        .execute(&mut connection)
        .unwrap();
    diesel::sql_query("UPDATE events SET received_at = 1000")
        .execute(&mut connection)
        .unwrap();
    let now = 40 * 86_400_000;
    let pruned = prune_finished(&mut connection, now, Duration::from_secs(14 * 86_400)).unwrap();
    // slack-deployment, application-endpoint and database for the deployment.
    assert_eq!(
        pruned,
        Pruned {
            deliveries: 3,
            events: 1,
            keys: 0
        }
    );

    let (status, _) = app.get(&format!("/api/v1/events/{delivered}")).await;
    assert_eq!(status, 404, "the delivered event is pruned");
    let (status, view) = app.get(&format!("/api/v1/events/{failed}")).await;
    assert_eq!(status, 200, "the failed delivery is kept for replay");
    assert_eq!(view["deliveries"][0]["state"], "failed");
    let (status, _) = app.get(&format!("/api/v1/deployments/{delivered}")).await;
    assert_eq!(status, 200, "the deployment history is kept");
    // A second pass finds nothing more.
    let again = prune_finished(&mut connection, now, Duration::from_secs(14 * 86_400)).unwrap();
    assert_eq!(again, Pruned::default());
}

on_both_backends!(every_migration_can_be_reverted_and_applied_again);

async fn every_migration_can_be_reverted_and_applied_again(database: Arc<TestDatabase>) {
    use alvares::store::{AnyConnection, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
    use diesel::Connection;
    use diesel_migrations::MigrationHarness;

    let mut connection = AnyConnection::establish(&database.url()).unwrap();
    let (applied, reverted, again) = match &mut connection {
        AnyConnection::Postgresql(pg) => (
            pg.run_pending_migrations(POSTGRES_MIGRATIONS)
                .unwrap()
                .len(),
            pg.revert_all_migrations(POSTGRES_MIGRATIONS).unwrap().len(),
            pg.run_pending_migrations(POSTGRES_MIGRATIONS)
                .unwrap()
                .len(),
        ),
        AnyConnection::Sqlite(sqlite) => (
            sqlite
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .unwrap()
                .len(),
            sqlite
                .revert_all_migrations(SQLITE_MIGRATIONS)
                .unwrap()
                .len(),
            sqlite
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .unwrap()
                .len(),
        ),
    };
    assert_eq!((applied, reverted, again), (8, 8, 8));
    // The application starts on the re-created schema.
    let app = spawn_app_on(database, &[], registrations()).await;
    let (status, _) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
}

on_both_backends!(the_event_view_shows_what_subscribers_saw_after_a_settings_change);

/// The journal keeps the enriched event: after the enrichment settings
/// change (a restart with other cluster hosts), the event view still shows
/// the URLs its subscribers were given.
async fn the_event_view_shows_what_subscribers_saw_after_a_settings_change(
    database: Arc<TestDatabase>,
) {
    let slack = mock_slack().await;
    let hook_url = hook(&slack);
    let before = [
        ("SLACK_WEB_HOOK", hook_url.as_str()),
        ("ACTIVE_APP_HOST", "https://before.example"),
        ("DISABLED_SUBSCRIBERS", "application-endpoint"),
    ];
    let first = spawn_app_on(database.clone(), &before, registrations()).await;
    let (_, answer) = first
        .put_event(
            "deployment",
            &json!({"applicationName": "moving", "cluster": "active",
                    "applicationPath": "/moving", "slackChannels": "#m"}),
        )
        .await;
    let id = answer["id"].as_str().unwrap().to_owned();
    let view = first.finished_event(&id).await;
    assert_eq!(
        view["event"]["monitorUrl"],
        "https://before.example/moving/_monitor"
    );
    first.stop().await;

    let after = [("ACTIVE_APP_HOST", "https://after.example")];
    let second = spawn_app_on(database, &after, registrations()).await;
    let (status, view) = second.get(&format!("/api/v1/events/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        view["event"]["monitorUrl"],
        "https://before.example/moving/_monitor"
    );
    assert_eq!(
        view["event"]["applicationUrl"],
        "https://before.example/moving"
    );
    assert_eq!(
        view["event"]["aboutUrl"],
        "https://before.example/moving/_about"
    );
    // What the subscribers were sent, and what the history keeps, agree.
    let (_, stored) = second.get(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(stored["deployment"], view["event"]);
}
