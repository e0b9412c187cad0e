//! Issue 18, defect 7 ("Dashboards can starve deliveries"): the read
//! routes have a connection budget of their own behind a gate (503 with
//! `Retry-After` past `READ_CONCURRENCY`, never a delivery's connection),
//! every listing pages, `READ_TOKEN` guards the read API, the SQLite
//! write-ahead log starts empty after a restart, a read is stopped at
//! `READ_TIMEOUT_MS`, and the insights' answers are kept for
//! `INSIGHTS_CACHE_SECONDS`.

use std::sync::Arc;
use std::time::Duration;

use alvares::config::Settings;
use alvares::store::Store;
use alvares::store::wal::wal_size;
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestDatabase, eventually, fixture, hook, mock_slack, slack_bodies, spawn_app,
    spawn_app_clocked, spawn_app_full,
};
use crate::on_both_backends;

const ADMIN_TOKEN: &str = "reads-test-admin-token";
const READ_TOKEN: &str = "reads-test-read-token";

/// Status, headers of interest and JSON body of a GET.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    www_authenticate: Option<String>,
    body: Value,
}

async fn get(app: &TestApp, path: &str, bearer: Option<&str>) -> Answer {
    let mut request = app.http.get(format!("{}{path}", app.address));
    if let Some(token) = bearer {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request.send().await.expect("request sent");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let (retry_after, www_authenticate) = (header("Retry-After"), header("WWW-Authenticate"));
    let bytes = response.body().limit(16 << 20).await.expect("a body");
    Answer {
        status: response.status().as_u16(),
        retry_after,
        www_authenticate,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn deployment(application: &str, cluster: &str, version: &str) -> Value {
    let mut event = fixture("deployment.json");
    event["applicationName"] = json!(application);
    event["cluster"] = json!(cluster);
    event["version"] = json!(version);
    event["slackChannels"] = json!("#deploys");
    event
}

/// Sends a deployment and waits until every subscriber is done with it (so
/// the history holds it); answers its id.
async fn deploy(app: &TestApp, event: &Value) -> String {
    let (status, answer) = app.put_event("deployment", event).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    app.finished_event(&id).await;
    id
}

/// The heavy read routes, each as a dashboard would ask.
const HEAVY: [&str; 5] = [
    "/api/v1/deployments?limit=500",
    "/api/v1/insights",
    "/api/v1/clusters/active/latest",
    "/admin/events",
    "/admin/dead-letters",
];

#[actix_web::test]
async fn heavy_reads_past_the_limit_are_answered_503_with_retry_after() {
    let app = spawn_app(&[
        ("READ_CONCURRENCY", "2"),
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        (
            "DISABLED_SUBSCRIBERS",
            "slack-deployment,application-endpoint",
        ),
    ])
    .await;
    let id = deploy(&app, &deployment("alpha", "active", "1")).await;
    for path in HEAVY {
        assert_eq!(
            get(&app, path, Some(ADMIN_TOKEN)).await.status,
            200,
            "{path}"
        );
    }

    // Two reads running (held here): a third is refused at once.
    let held = app.reads.heavy.try_enter(2).expect("the gate is free");
    for path in HEAVY {
        let answer = get(&app, path, Some(ADMIN_TOKEN)).await;
        assert_eq!(answer.status, 503, "{path}");
        assert_eq!(answer.retry_after.as_deref(), Some("1"), "{path}");
        assert_eq!(
            answer.body,
            json!({"error": "unavailable", "message": "too many reads at once (at most 2); try again"}),
            "{path}"
        );
    }
    // Point lookups and health are not heavy reads: they still answer.
    let (status, _) = app.get(&format!("/api/v1/events/{id}")).await;
    assert_eq!(status, 200);
    let (status, _) = app.get(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(status, 200);
    let (status, _) = app.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(get(&app, "/metrics", None).await.status, 200);
    drop(held);

    // One read running: the insights still answer, on one connection.
    let one = app.reads.heavy.try_enter(1).unwrap();
    let answer = get(&app, "/api/v1/insights", None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["changeFailureRate"]["deployments"], 1);
    drop(one);

    // While the write-ahead log is truncated, heavy reads are paused.
    let closed = app.reads.close();
    let answer = get(&app, "/api/v1/deployments", None).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.retry_after.as_deref(), Some("1"));
    assert_eq!(
        answer.body,
        json!({"error": "unavailable", "message": "reads are paused for a moment while the database's log is truncated; try again"})
    );
    drop(closed);
    assert_eq!(get(&app, "/api/v1/deployments", None).await.status, 200);
    assert_eq!(app.reads.heavy.running(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn metrics_read_the_journal_two_scrapes_at_a_time() {
    let app = spawn_app(&[]).await;
    let held = app.reads.metrics.try_enter(2).expect("the gate is free");
    let answer = get(&app, "/metrics", None).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.retry_after.as_deref(), Some("1"));
    assert_eq!(
        answer.body,
        json!({"error": "unavailable", "message": "too many reads at once (at most 2); try again"})
    );
    // The heavy read routes have their own gate.
    assert_eq!(get(&app, "/api/v1/deployments", None).await.status, 200);
    drop(held);
    assert_eq!(get(&app, "/metrics", None).await.status, 200);
    app.stop().await;
}

#[actix_web::test]
async fn the_read_token_guards_the_read_api() {
    let app = spawn_app(&[
        ("READ_TOKEN", READ_TOKEN),
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        (
            "DISABLED_SUBSCRIBERS",
            "slack-deployment,application-endpoint",
        ),
    ])
    .await;
    // Intake is not the read API.
    let (status, answer) = app
        .put_event("deployment", &deployment("alpha", "active", "1"))
        .await;
    assert_eq!(status, 202);
    let id = answer["id"].as_str().unwrap();
    let refused =
        json!({"error": "unauthorized", "message": "Authorization: Bearer <token> is required"});
    let reads = [
        "/api/v1/deployments".to_owned(),
        format!("/api/v1/deployments/{id}"),
        "/api/v1/clusters/active/latest".to_owned(),
        format!("/api/v1/events/{id}"),
        "/api/v1/insights".to_owned(),
    ];
    for path in &reads {
        for bearer in [None, Some("a wrong token"), Some("")] {
            let answer = get(&app, path, bearer).await;
            assert_eq!(answer.status, 401, "{path} {bearer:?}");
            assert_eq!(answer.body, refused, "{path} {bearer:?}");
            assert_eq!(answer.www_authenticate.as_deref(), Some("Bearer"));
        }
        // The token is never repeated in an answer.
        let answer = get(&app, path, Some("a wrong token")).await;
        assert!(!answer.body.to_string().contains(READ_TOKEN));
    }
    for path in &reads {
        for token in [READ_TOKEN, ADMIN_TOKEN] {
            let answer = get(&app, path, Some(token)).await;
            assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        }
    }
    // Health, metrics and the description stay open.
    for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json"] {
        assert_eq!(get(&app, path, None).await.status, 200, "{path}");
    }
    // The read token opens no admin route.
    assert_eq!(
        get(&app, "/admin/events", Some(READ_TOKEN)).await.status,
        401
    );
    app.stop().await;
}

async fn the_latest_of_a_cluster_pages_by_application(database: Arc<TestDatabase>) {
    let app = spawn_app_full(
        database,
        &[(
            "DISABLED_SUBSCRIBERS",
            "slack-deployment,application-endpoint",
        )],
        alvares::subscribers::registrations(),
        alvares::clock::SystemClock::shared(),
    )
    .await;
    let a = deploy(&app, &deployment("app-a", "active", "1")).await;
    deploy(&app, &deployment("app-b", "active", "1")).await;
    let b2 = deploy(&app, &deployment("app-b", "active", "2")).await;
    deploy(&app, &deployment("app-c", "stage", "1")).await;
    let c = deploy(&app, &deployment("app-c", "active", "1")).await;
    let page = |body: &Value| -> Vec<(String, String)> {
        body["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["deployment"]["applicationName"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    d["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let pair = |name: &str, id: &str| (name.to_owned(), id.to_owned());

    let (status, first) = app.get("/api/v1/clusters/active/latest?limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(first["cluster"], "active");
    assert_eq!(page(&first), [pair("app-a", &a), pair("app-b", &b2)]);
    assert_eq!(first["nextCursor"], "app-b");
    let (_, second) = app
        .get("/api/v1/clusters/active/latest?limit=2&cursor=app-b")
        .await;
    assert_eq!(page(&second), [pair("app-c", &c)]);
    assert_eq!(second["nextCursor"], Value::Null);
    // The default page holds them all here.
    let (_, all) = app.get("/api/v1/clusters/active/latest").await;
    assert_eq!(page(&all).len(), 3);
    assert_eq!(all["nextCursor"], Value::Null);
    // A page exactly full points on, and the next one is empty.
    let (_, full) = app.get("/api/v1/clusters/active/latest?limit=3").await;
    assert_eq!(full["nextCursor"], "app-c");
    let (_, empty) = app
        .get("/api/v1/clusters/active/latest?limit=3&cursor=app-c")
        .await;
    assert_eq!(
        empty,
        json!({"cluster": "active", "deployments": [], "nextCursor": null})
    );

    let (status, body) = app.get("/api/v1/clusters/active/latest?limit=501").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_query", "message": "limit: must be a whole number from 1 to 500", "field": "limit"})
    );
    app.stop().await;
}

on_both_backends!(the_latest_of_a_cluster_pages_by_application);

/// With every connection of the read routes taken and their gate full, a
/// deployment's Slack message still reads its change context from the
/// history and is delivered.
async fn deliveries_read_the_history_on_their_own_connections(database: Arc<TestDatabase>) {
    let slack = mock_slack().await;
    let app = spawn_app_full(
        database,
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("DISABLED_SUBSCRIBERS", "application-endpoint"),
            ("READ_CONCURRENCY", "2"),
        ],
        alvares::subscribers::registrations(),
        alvares::clock::SystemClock::shared(),
    )
    .await;
    deploy(&app, &deployment("kth-azure-app", "active", "2.0.10_f00d")).await;

    let permits = app.reads.heavy.try_enter(2).unwrap();
    let metrics_permits = app.reads.metrics.try_enter(2).unwrap();
    let size = app.reads.pool.max_size();
    assert_eq!(size, 4);
    let connections: Vec<_> = (0..size)
        .map(|_| app.reads.pool.get().expect("a read connection"))
        .collect();
    assert!(
        app.reads
            .pool
            .get_timeout(Duration::from_millis(10))
            .is_err()
    );

    let (status, answer) = app
        .put_event(
            "deployment",
            &deployment("kth-azure-app", "active", "2.0.11_abc123"),
        )
        .await;
    assert_eq!(status, 202);
    // (Not `wait_for_slack`: it reads `/metrics`, whose connections are
    // taken here too.)
    let bodies = eventually("the second message", Duration::from_secs(10), || async {
        let bodies = slack_bodies(&slack).await;
        (bodies.len() >= 2).then_some(bodies)
    })
    .await;
    assert_eq!(bodies.len(), 2);
    assert_eq!(
        bodies[1]["attachments"][0]["footer"],
        "2.0.11_abc123, replacing 2.0.10_f00d after 0 minutes"
    );
    let event = app.finished_event(answer["id"].as_str().unwrap()).await;
    let slack_delivery = event["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == "slack-deployment")
        .unwrap()
        .clone();
    // At the first attempt: no lookup waited for a connection and failed.
    assert_eq!(
        (&slack_delivery["state"], &slack_delivery["attempts"]),
        (&json!("delivered"), &json!(1))
    );
    drop((connections, permits, metrics_permits));
    app.stop().await;
}

on_both_backends!(deliveries_read_the_history_on_their_own_connections);

/// A write-ahead log left large by the last run (here: a copy of the
/// files while a connection that never checkpoints has them open, as a
/// killed process leaves them) is copied into the database and cut to zero
/// bytes when the store opens.
#[test]
fn the_wal_left_by_the_last_run_is_truncated_at_start_up() {
    let folder = tempfile::tempdir().unwrap();
    let original = folder.path().join("original.db");
    let mut writer = SqliteConnection::establish(original.to_str().unwrap()).unwrap();
    writer
        .batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; \
             CREATE TABLE filler (n INTEGER, text TEXT);",
        )
        .unwrap();
    for n in 0..80 {
        diesel::sql_query(format!(
            "INSERT INTO filler VALUES ({n}, hex(randomblob(65536)))"
        ))
        .execute(&mut writer)
        .unwrap();
    }
    let restarted = folder.path().join("alvares.db");
    std::fs::copy(&original, &restarted).unwrap();
    std::fs::copy(
        alvares::store::wal::wal_path(&original),
        alvares::store::wal::wal_path(&restarted),
    )
    .unwrap();
    drop(writer);
    assert!(wal_size(&restarted) > 8 << 20, "{}", wal_size(&restarted));

    let settings = Settings::from_map([("DB_URL", restarted.display().to_string())]).unwrap();
    let store = Store::open(&settings.store).expect("the store opens");
    assert_eq!(wal_size(&restarted), 0);
    // Nothing was lost: the rows are in the database file now.
    let mut connection = store.pool.get().unwrap();
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count: Count = alvares::with_connection!(&mut *connection, |c| diesel::sql_query(
        "SELECT count(*) AS n FROM filler WHERE length(text) = 131072"
    )
    .get_result(c))
    .unwrap();
    assert_eq!(count.n, 80);
}

/// Waits for nothing but the answer: a read that finished released its
/// permit (the gate counts reads really running).
#[actix_web::test]
async fn a_finished_read_gives_its_permit_back() {
    let app = spawn_app(&[("READ_CONCURRENCY", "1")]).await;
    for _ in 0..5 {
        assert_eq!(get(&app, "/api/v1/deployments", None).await.status, 200);
        eventually(
            "the permit to come back",
            Duration::from_secs(5),
            || async { (app.reads.heavy.running() == 0).then_some(()) },
        )
        .await;
    }
    app.stop().await;
}

/// Writes `count` deployments straight into the history (received a
/// second apart before `now_ms`, ids in the same order), the same
/// statement on both backends.
fn seed_history(database: &TestDatabase, count: u32, now_ms: i64) {
    let statement = format!(
        "INSERT INTO deployments (id, received_at, application, cluster, version, image, team, \
           importance, application_url, monitor_url, about_url, friendly_name, body) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
         SELECT 'seeded-' || (100000 + i), {now_ms} - ({count} + 1 - i) * 1000, \
           'app-' || (i % 500), 'active', '1', '', \
           'team-' || (i % 20), '', '', '', '', '', '{{}}' FROM n"
    );
    let url = database.url();
    if url.starts_with("postgres") {
        let mut pg = diesel::PgConnection::establish(&url).unwrap();
        pg.batch_execute(&statement).unwrap();
    } else {
        let mut sqlite = SqliteConnection::establish(&url).unwrap();
        // Its log is copied into the database at once, so the service does
        // not pause reads for a truncation.
        sqlite
            .batch_execute(&format!(
                "PRAGMA busy_timeout = 10000; {statement}; PRAGMA wal_checkpoint(TRUNCATE);"
            ))
            .unwrap();
    }
}

/// A heavy read past `READ_TIMEOUT_MS` (1 ms here, over 50,000
/// deployments) is stopped and answered 503 naming the limit, and its
/// permit comes back.
async fn a_read_past_its_time_limit_is_stopped_and_answered_503(database: Arc<TestDatabase>) {
    let app = spawn_app_full(
        database.clone(),
        &[("READ_TIMEOUT_MS", "1"), ("INSIGHTS_CACHE_SECONDS", "0")],
        alvares::subscribers::registrations(),
        alvares::clock::SystemClock::shared(),
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    seed_history(&database, 50_000, now);
    // (Had the journal writer seen the log meanwhile, it opens the gate
    // again within its next check.)
    eventually("the gate to be open", Duration::from_secs(5), || async {
        app.reads.heavy.try_enter(1).ok().map(drop)
    })
    .await;
    // The insights, and a listing that groups the whole history.
    for path in [
        "/api/v1/insights",
        "/api/v1/clusters/active/latest?limit=500",
    ] {
        let answer = get(&app, path, None).await;
        assert_eq!(answer.status, 503, "{path}: {}", answer.body);
        assert_eq!(
            answer.body,
            json!({
                "error": "unavailable",
                "message": "the read took longer than its limit of 1 ms (READ_TIMEOUT_MS) and was \
                            stopped; ask for less (a shorter period, a team, application or \
                            cluster) or try again later"
            }),
            "{path}"
        );
        assert_eq!(answer.retry_after, None, "{path}");
        eventually(
            "the permit to come back",
            Duration::from_secs(5),
            || async { (app.reads.heavy.running() == 0).then_some(()) },
        )
        .await;
    }
    // A point lookup is no heavy read: it has no such limit.
    let answer = get(&app, "/api/v1/deployments/seeded-150000", None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["id"], "seeded-150000");
    app.stop().await;
}

on_both_backends!(a_read_past_its_time_limit_is_stopped_and_answered_503);

/// The same question within `INSIGHTS_CACHE_SECONDS` gets the answer
/// already given, without a read (even with the gate full); once the
/// period has passed on the clock it is computed again.
#[actix_web::test]
async fn insights_answers_are_kept_for_the_cache_period() {
    let clock = alvares::clock::ManualClock::new();
    let app = spawn_app_clocked(
        &[
            ("INSIGHTS_CACHE_SECONDS", "5"),
            (
                "DISABLED_SUBSCRIBERS",
                "slack-deployment,application-endpoint",
            ),
        ],
        clock.clone(),
    )
    .await;
    let first = get(&app, "/api/v1/insights?team=team-a", None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["changeFailureRate"]["deployments"], 0);
    let mut event = deployment("alpha", "active", "1");
    event["team"] = json!("team-a");
    deploy(&app, &event).await;
    clock.advance(Duration::from_millis(4_999));

    let held = app
        .reads
        .heavy
        .try_enter(app.reads.heavy.limit())
        .expect("the gate is free");
    let again = get(&app, "/api/v1/insights?team=team-a", None).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body, first.body);
    // Another question is not in the cache: it needs the gate.
    let other = get(&app, "/api/v1/insights?team=team-b", None).await;
    assert_eq!(other.status, 503);
    drop(held);

    clock.advance(Duration::from_millis(1));
    let fresh = get(&app, "/api/v1/insights?team=team-a", None).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.body["changeFailureRate"]["deployments"], 1);
    assert_ne!(fresh.body["until"], first.body["until"]);
    app.stop().await;
}

/// `HEAVY_READS_PER_SECOND` bounds the reads let in each second, whatever
/// the gate has free: beyond it a 503 with `Retry-After`, and the next
/// second lets reads in again (the insights count as one read).
#[actix_web::test]
async fn heavy_reads_beyond_the_budget_of_a_second_are_answered_503() {
    let clock = alvares::clock::ManualClock::new();
    let app = spawn_app_clocked(&[("HEAVY_READS_PER_SECOND", "2")], clock.clone()).await;
    // Start at the beginning of a second: the budget counts whole seconds.
    let into_second = alvares::clock::Clock::now_ms(&*clock).rem_euclid(1000);
    clock.advance(Duration::from_millis((1000 - into_second) as u64));
    let first = get(&app, "/api/v1/deployments", None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    clock.advance(Duration::from_millis(999));
    let second = get(&app, "/api/v1/insights", None).await;
    assert_eq!(second.status, 200, "{}", second.body);
    for path in ["/api/v1/deployments", "/api/v1/insights"] {
        let refused = get(&app, path, None).await;
        assert_eq!(refused.status, 503, "{path}: {}", refused.body);
        assert_eq!(
            refused.body,
            json!({
                "error": "unavailable",
                "message": "more than 2 reads a second (HEAVY_READS_PER_SECOND); try again in a second"
            }),
            "{path}"
        );
        assert_eq!(refused.retry_after.as_deref(), Some("1"), "{path}");
    }
    assert_eq!(app.reads.heavy.running(), 0, "a refused read holds nothing");
    clock.advance(Duration::from_millis(1));
    let next_second = get(&app, "/api/v1/deployments", None).await;
    assert_eq!(next_second.status, 200, "{}", next_second.body);
    app.stop().await;
}
