//! Issue "What the history says", item 4: the weekly digest. Two replicas
//! on one PostgreSQL and one injected clock moved past the digest hour send
//! exactly one message per team, with the week's figures beside the week
//! before's; a replica started later offers it again and changes nothing.

use std::sync::Arc;
use std::time::Duration;

use alvares::clock::{Clock, ManualClock};
use alvares::subscribers::registrations;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestDatabase, eventually, hook, mock_slack, slack_bodies, spawn_app, spawn_app_full,
    wait_for_slack,
};

/// Monday 2026-11-02 00:00 UTC.
const T0: i64 = 1_793_577_600_000;
const HOUR: i64 = 3_600_000;
const TOKEN: &str = "digest-admin-token";

/// Moves the clock forward to `ms`.
fn move_to(clock: &ManualClock, ms: i64) {
    let by = ms - clock.now_ms();
    assert!(by >= 0, "the clock only moves forward");
    clock.advance(Duration::from_millis(by as u64));
}

/// Sends an event at `hour` after `T0` and waits until it is stored.
async fn send_at(app: &TestApp, clock: &ManualClock, hour: i64, kind: &str, body: Value) {
    move_to(clock, T0 + hour * HOUR);
    let (status, answer) = app.put_event(kind, &body).await;
    assert_eq!(status, 202, "{answer}");
    app.finished_event(answer["id"].as_str().unwrap()).await;
}

fn deployment(application: &str, team: &str) -> Value {
    json!({"applicationName": application, "cluster": "active", "version": "1", "team": team})
}

fn error(application: &str) -> Value {
    json!({"message": "failed", "applicationName": application, "cluster": "active"})
}

fn digest(channel: &str, text: &str) -> Value {
    json!({"channel": channel, "text": text, "username": "Alvares", "icon_emoji": ":female_student:"})
}

#[actix_web::test]
async fn two_replicas_send_one_digest_per_team_per_week() {
    let Some(database) = TestDatabase::postgres() else {
        return;
    };
    let database = Arc::new(database);
    let slack = mock_slack().await;
    // Tuesday 10:00 of the first week: after its digest's day.
    let clock = ManualClock::starting_at(T0 + 34 * HOUR);
    let env = [
        ("SLACK_WEB_HOOK", hook(&slack)),
        ("DIGEST_CHANNELS", "team-a=#a-dev, team-b=#b-dev".to_owned()),
        ("DIGEST_DAY", "mon".to_owned()),
        ("DIGEST_HOUR", "9".to_owned()),
        ("ADMIN_TOKEN", TOKEN.to_owned()),
        (
            "DISABLED_SUBSCRIBERS",
            "application-endpoint,slack-deployment,slack-error".to_owned(),
        ),
    ];
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = spawn_app_full(database.clone(), &vars, registrations(), clock.clone()).await;

    // The week of 2 November, team-a: two deployments, the first failed
    // (an error 2 h after it) and restored 3 h after the error; team-b: one.
    send_at(
        &first,
        &clock,
        34,
        "deployment",
        deployment("alpha", "team-a"),
    )
    .await;
    send_at(&first, &clock, 36, "error", error("alpha")).await;
    send_at(
        &first,
        &clock,
        39,
        "deployment",
        deployment("alpha", "team-a"),
    )
    .await;
    send_at(
        &first,
        &clock,
        40,
        "deployment",
        deployment("gamma", "team-b"),
    )
    .await;
    // The week of 9 November (from Tuesday 10:00, after that week's digest
    // day): team-a four deployments, one failed and restored after 2 h;
    // team-b none.
    send_at(
        &first,
        &clock,
        202,
        "deployment",
        deployment("alpha", "team-a"),
    )
    .await;
    send_at(
        &first,
        &clock,
        203,
        "deployment",
        deployment("beta", "team-a"),
    )
    .await;
    send_at(&first, &clock, 204, "error", error("beta")).await;
    send_at(
        &first,
        &clock,
        206,
        "deployment",
        deployment("beta", "team-a"),
    )
    .await;
    send_at(
        &first,
        &clock,
        210,
        "deployment",
        deployment("alpha", "team-a"),
    )
    .await;
    assert!(
        slack_bodies(&slack).await.is_empty(),
        "no digest before its hour"
    );

    // A second replica; then Monday 16 November 09:30.
    let second = spawn_app_full(database.clone(), &vars, registrations(), clock.clone()).await;
    move_to(&clock, T0 + (14 * 24 + 9) * HOUR + HOUR / 2);
    let mut bodies = wait_for_slack(&first, &slack, 2).await;
    bodies.sort_by_key(|b| b["channel"].as_str().unwrap().to_owned());
    assert_eq!(
        bodies,
        [
            digest(
                "#a-dev",
                "*Weekly digest for team-a*, week of 2026-11-09\n\
                 • deployments: 4 (+2 on the week before, 2)\n\
                 • change-failure rate: 25 % (the week before: 50 %)\n\
                 • median time to restore: 2 hours (the week before: 3 hours)"
            ),
            digest(
                "#b-dev",
                "*Weekly digest for team-b*, week of 2026-11-09\n\
                 • deployments: 0 (-1 on the week before, 1)\n\
                 • change-failure rate: – (the week before: 0 %)\n\
                 • median time to restore: – (the week before: –)"
            ),
        ]
    );

    // Later that day, and with a third replica started fresh: still one
    // digest per team in the journal, and no further message.
    move_to(&clock, T0 + (14 * 24 + 20) * HOUR);
    let third = spawn_app_full(database.clone(), &vars, registrations(), clock.clone()).await;
    let recorded = recorded_digests(&third).await;
    assert_eq!(recorded.len(), 2, "{recorded:#?}");
    wait_for_slack(&second, &slack, 2).await;
    assert_eq!(recorded_digests(&first).await.len(), 2);
    for app in [first, second, third] {
        app.stop().await;
    }
}

/// The digests the journal holds (recommendations naming a team).
async fn recorded_digests(app: &TestApp) -> Vec<Value> {
    let response = app
        .http
        .get(format!(
            "{}/admin/events?kind=recommendation&limit=50",
            app.address
        ))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await;
    let body: Value = response.unwrap().json().await.unwrap();
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["digestTeam"].is_string())
        .cloned()
        .collect()
}

/// The digest runs inside the pipeline: on the health board (`/healthz`,
/// `/admin/actors`) as `digest`, looking at its schedule; not there when
/// `DIGEST_CHANNELS` is not set.
#[actix_web::test]
async fn the_digest_is_on_the_health_board_when_configured() {
    let slack = mock_slack().await;
    let hook = hook(&slack);
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook),
        ("DIGEST_CHANNELS", "team-a=#a-dev"),
        ("ADMIN_TOKEN", TOKEN),
    ])
    .await;
    let (status, alive) = app.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(alive["actors"]["digest"], "running", "{alive}");
    let overview = admin_get(&app, "/admin/actors").await;
    let ids: Vec<&str> = overview["actors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|actor| actor["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.last(),
        Some(&"digest"),
        "after the subscribers: {ids:?}"
    );
    let digest = eventually("the digest to look", Duration::from_secs(10), || async {
        let digest = admin_get(&app, "/admin/actors/digest").await;
        (digest["rounds"].as_u64() >= Some(1)).then_some(digest)
    })
    .await;
    assert_eq!(
        (
            &digest["role"],
            &digest["state"],
            &digest["restarts"],
            &digest["lastError"]
        ),
        (&json!("digest"), &json!("running"), &json!(0), &Value::Null),
        "{digest}"
    );
    app.stop().await;

    let without = spawn_app(&[("SLACK_WEB_HOOK", &hook), ("ADMIN_TOKEN", TOKEN)]).await;
    let (_, alive) = without.get("/healthz").await;
    assert!(alive["actors"]["intake"].is_string(), "{alive}");
    assert!(alive["actors"].get("digest").is_none(), "{alive}");
    let response = without
        .http
        .get(format!("{}/admin/actors/digest", without.address))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    without.stop().await;
}

async fn admin_get(app: &TestApp, path: &str) -> Value {
    let response = app
        .http
        .get(format!("{}{path}", app.address))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await;
    let mut response = response.unwrap();
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.json().await.unwrap()
}
