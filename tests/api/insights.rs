//! `GET /api/v1/insights`: a history of deployments and errors sent
//! through the real intake on a manual clock (so every event's time is
//! known), and every figure of the answer checked against values worked
//! out by hand below. On SQLite and, with `TEST_DATABASE_URL`, PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use alvares::clock::ManualClock;
use alvares::subscribers::registrations;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDatabase, spawn_app_full};
use crate::on_both_backends;

/// Monday 2026-11-02 00:00:00 UTC, in Unix milliseconds.
const T0: i64 = 1_793_577_600_000;
const HOUR: i64 = 3_600_000;

/// What the test sends, at hours after `T0`.
enum Sent {
    /// application, cluster, version, team
    Deployment(&'static str, &'static str, &'static str, &'static str),
    /// application, cluster
    Error(&'static str, &'static str),
}

use Sent::{Deployment, Error};

/// The history. With the default 24-hour failure window:
///
/// | deployment | failed by (first error) | restored by |
/// |---|---|---|
/// | D1 alpha 1.0 active, h1 | E1 h3 (E2 h5 too) | D3 h6: 3 h |
/// | D2 alpha 1.0 stage, h2 | no: E9 h27 is 25 h later | |
/// | D3 alpha 1.1 active, h6 | E8 h20 | none yet |
/// | D4 beta 2.0 active, h10 | no: E3 h14 came after D9 | |
/// | D9 beta 2.1 active, h12 | E3 h14 | none yet |
/// | D5 gamma 3.0 active, h50 | E4 h51 | D6 h52: 1 h |
/// | D6 gamma 3.1 active, h52 | E5 h53 | D7 h170: 117 h |
/// | D7 gamma 3.2 active, h170 | no | |
/// | D8 alpha 1.1 stage, h172 | E7 h173 | none yet |
///
/// E6 (gamma stage, h60) follows no deployment of gamma to stage.
const HISTORY: [(i64, Sent); 18] = [
    (1, Deployment("alpha", "active", "1.0", "team-a")),
    (2, Deployment("alpha", "stage", "1.0", "team-a")),
    (3, Error("alpha", "active")),
    (5, Error("alpha", "active")),
    (6, Deployment("alpha", "active", "1.1", "team-a")),
    (10, Deployment("beta", "active", "2.0", "team-a")),
    (12, Deployment("beta", "active", "2.1", "team-a")),
    (14, Error("beta", "active")),
    (20, Error("alpha", "active")),
    (27, Error("alpha", "stage")),
    (50, Deployment("gamma", "active", "3.0", "team-b")),
    (51, Error("gamma", "active")),
    (52, Deployment("gamma", "active", "3.1", "team-b")),
    (53, Error("gamma", "active")),
    (60, Error("gamma", "stage")),
    (170, Deployment("gamma", "active", "3.2", "team-b")),
    (172, Deployment("alpha", "stage", "1.1", "team-a")),
    (173, Error("alpha", "stage")),
];

/// "2026-11-02T05:00:00.000Z" for hour 5.
fn at(hour: i64) -> String {
    alvares::routes::store::rfc3339(T0 + hour * HOUR)
}

async fn seed(app: &TestApp, clock: &ManualClock) {
    let mut now = 0;
    for (hour, sent) in &HISTORY {
        clock.advance(Duration::from_millis(((hour - now) * HOUR) as u64));
        now = *hour;
        let (kind, body) = match sent {
            Deployment(application, cluster, version, team) => (
                "deployment",
                json!({"applicationName": application, "cluster": cluster,
                       "version": version, "team": team}),
            ),
            Error(application, cluster) => (
                "error",
                json!({"message": "the pipeline step failed",
                       "applicationName": application, "cluster": cluster}),
            ),
        };
        let (status, answer) = app.put_event(kind, &body).await;
        assert_eq!(status, 202, "{answer}");
        let event = app
            .finished_event(answer["id"].as_str().expect("an id"))
            .await;
        let database = event["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["subscriber"] == "database")
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(database["state"], "delivered", "{event:#}");
    }
    // An error naming no application and a recommendation: neither is in
    // the figures (the database skips the first and never gets the second).
    clock.advance(Duration::from_millis((7 * HOUR) as u64));
    let (_, answer) = app
        .put_event("error", &json!({"message": "no application named"}))
        .await;
    let event = app.finished_event(answer["id"].as_str().unwrap()).await;
    let database = event["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == "database")
        .cloned()
        .unwrap();
    assert_eq!(database["state"], "skipped");
    assert_eq!(
        database["outcome"],
        "the error names no applicationName and cluster"
    );
    let (_, answer) = app
        .put_event("recommendation", &json!({"message": "upgrade"}))
        .await;
    let event = app.finished_event(answer["id"].as_str().unwrap()).await;
    assert!(
        !event["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["subscriber"] == "database"),
        "{event:#}"
    );
    // Now: hour 200.
    clock.advance(Duration::from_millis((20 * HOUR) as u64));
}

fn last(application: &str, cluster: &str, version: &str, team: &str, hour: i64) -> Value {
    json!({"application": application, "cluster": cluster, "version": version,
           "team": team, "receivedAt": at(hour)})
}

/// Expected figures as the answer carries them: through JSON text, so a
/// float is compared after the same printing and parsing.
fn reparsed(value: Value) -> Value {
    serde_json::from_str(&value.to_string()).unwrap()
}

/// The answer without the deployments' ids (checked separately).
fn without_ids(mut answer: Value) -> Value {
    for row in answer["lastDeployments"].as_array_mut().unwrap() {
        assert_eq!(row["id"].as_str().map(str::len), Some(36), "{row}");
        row.as_object_mut().unwrap().remove("id");
    }
    answer
}

on_both_backends!(every_figure_matches_the_history_worked_out_by_hand);

async fn every_figure_matches_the_history_worked_out_by_hand(database: Arc<TestDatabase>) {
    let clock = ManualClock::starting_at(T0);
    let app = spawn_app_full(database, &[], registrations(), clock.clone()).await;
    seed(&app, &clock).await;

    // Everything, by day: the default period is the 90 days up to now.
    let (status, answer) = app.get("/api/v1/insights").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        without_ids(answer),
        reparsed(json!({
            "since": at(200 - 90 * 24),
            "until": at(200),
            "bucket": "day",
            "team": null, "application": null, "cluster": null,
            "failureWindowHours": 24,
            "deployments": [
                // Monday: D1, D3, D4, D9 and D2.
                {"bucket": at(0), "cluster": "active", "count": 4},
                {"bucket": at(0), "cluster": "stage", "count": 1},
                // Wednesday: D5, D6.
                {"bucket": at(48), "cluster": "active", "count": 2},
                // The next Monday: D7 and D8.
                {"bucket": at(168), "cluster": "active", "count": 1},
                {"bucket": at(168), "cluster": "stage", "count": 1},
            ],
            "changeFailureRate": {
                // Failed: D1, D3, D9, D8 (team-a); D5, D6 (team-b).
                "deployments": 9, "failed": 6, "rate": 6.0 / 9.0,
                "teams": [
                    {"team": "team-a", "deployments": 6, "failed": 4, "rate": 4.0 / 6.0},
                    {"team": "team-b", "deployments": 3, "failed": 2, "rate": 2.0 / 3.0},
                ],
            },
            "timeToRestore": {
                // 1 h (D5), 3 h (D1), 117 h (D6); D3, D9, D8 not yet.
                "restored": 3, "unrestored": 3,
                "medianSeconds": 10_800.0,
                "meanSeconds": (3_600.0 + 10_800.0 + 421_200.0) / 3.0,
            },
            "lastDeployments": [
                last("alpha", "active", "1.1", "team-a", 6),
                last("alpha", "stage", "1.1", "team-a", 172),
                last("beta", "active", "2.1", "team-a", 12),
                last("gamma", "active", "3.2", "team-b", 170),
            ],
        }))
    );

    // One team, by week (ISO weeks start on Monday, as T0 is).
    let (status, answer) = app.get("/api/v1/insights?team=team-b&bucket=week").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        without_ids(answer),
        reparsed(json!({
            "since": at(200 - 90 * 24),
            "until": at(200),
            "bucket": "week",
            "team": "team-b", "application": null, "cluster": null,
            "failureWindowHours": 24,
            "deployments": [
                {"bucket": at(0), "cluster": "active", "count": 2},
                {"bucket": at(168), "cluster": "active", "count": 1},
            ],
            "changeFailureRate": {
                "deployments": 3, "failed": 2, "rate": 2.0 / 3.0,
                "teams": [
                    {"team": "team-b", "deployments": 3, "failed": 2, "rate": 2.0 / 3.0},
                ],
            },
            "timeToRestore": {
                "restored": 2, "unrestored": 0,
                "medianSeconds": (3_600.0 + 421_200.0) / 2.0,
                "meanSeconds": (3_600.0 + 421_200.0) / 2.0,
            },
            "lastDeployments": [last("gamma", "active", "3.2", "team-b", 170)],
        }))
    );

    // One cluster over dates: `until=2026-11-05` takes in that whole day.
    // Only D2 (not failed) is in the period; D8 is after it, so the last
    // deployment of alpha to stage before its end is D2.
    let (status, answer) = app
        .get("/api/v1/insights?cluster=stage&since=2026-11-02&until=2026-11-05")
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        without_ids(answer),
        reparsed(json!({
            "since": at(0),
            "until": at(4 * 24),
            "bucket": "day",
            "team": null, "application": null, "cluster": "stage",
            "failureWindowHours": 24,
            "deployments": [{"bucket": at(0), "cluster": "stage", "count": 1}],
            "changeFailureRate": {
                "deployments": 1, "failed": 0, "rate": 0.0,
                "teams": [{"team": "team-a", "deployments": 1, "failed": 0, "rate": 0.0}],
            },
            "timeToRestore": {
                "restored": 0, "unrestored": 0, "medianSeconds": null, "meanSeconds": null,
            },
            "lastDeployments": [last("alpha", "stage", "1.0", "team-a", 2)],
        }))
    );

    // One application from hour 5 (RFC 3339) to hour 11 (milliseconds):
    // D4 alone, not failed (E3 came after D9).
    let (status, answer) = app
        .get(&format!(
            "/api/v1/insights?application=beta&since=2026-11-02T05:00:00Z&until={}",
            T0 + 11 * HOUR
        ))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["deployments"],
        json!([{"bucket": at(0), "cluster": "active", "count": 1}])
    );
    assert_eq!(
        answer["changeFailureRate"],
        reparsed(json!({"deployments": 1, "failed": 0, "rate": 0.0,
               "teams": [{"team": "team-a", "deployments": 1, "failed": 0, "rate": 0.0}]}))
    );
    assert_eq!(
        without_ids(answer)["lastDeployments"],
        json!([last("beta", "active", "2.0", "team-a", 10)])
    );
}

on_both_backends!(a_longer_failure_window_counts_later_errors);

async fn a_longer_failure_window_counts_later_errors(database: Arc<TestDatabase>) {
    let clock = ManualClock::starting_at(T0);
    let app = spawn_app_full(
        database,
        &[("FAILURE_WINDOW_HOURS", "26")],
        registrations(),
        clock.clone(),
    )
    .await;
    seed(&app, &clock).await;
    // E9 (25 h after D2) now fails D2, restored by D8 after 145 h; E3 still
    // belongs to D9 (it came after D9), so D4 is still not failed.
    let (status, answer) = app.get("/api/v1/insights?team=team-a").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["failureWindowHours"], 26);
    assert_eq!(
        answer["changeFailureRate"],
        reparsed(json!({"deployments": 6, "failed": 5, "rate": 5.0 / 6.0,
               "teams": [{"team": "team-a", "deployments": 6, "failed": 5, "rate": 5.0 / 6.0}]}))
    );
    assert_eq!(
        answer["timeToRestore"],
        reparsed(json!({"restored": 2, "unrestored": 3,
               "medianSeconds": (10_800.0 + 522_000.0) / 2.0,
               "meanSeconds": (10_800.0 + 522_000.0) / 2.0}))
    );
}

#[actix_web::test]
async fn bad_parameters_are_answered_400_naming_them() {
    let app = crate::helpers::spawn_app(&[]).await;
    for (query, field) in [
        ("bucket=month", "bucket"),
        ("since=yesterday", "since"),
        ("until=2026-13-45", "until"),
        ("since=2026-11-05%2000:00:00Z", "since"),
        ("bucket=", "bucket"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/insights?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"], "invalid_query", "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let (_, body) = app.get("/api/v1/insights?bucket=month").await;
    assert_eq!(body["message"], "bucket: must be day or week");
    // A period that ends before it starts holds no deployments (the
    // contract test has its figures).
    let (status, body) = app
        .get("/api/v1/insights?since=2026-11-05&until=2026-11-02")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deployments"], json!([]));
}
