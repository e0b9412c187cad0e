//! `spawn_app` and what tests share: one application per test on port 0
//! with its own database (a temporary SQLite file, or a PostgreSQL database
//! created for the test and dropped afterwards), a mock Slack per test, and
//! polling with a deadline instead of sleeps.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use std::sync::Arc;

use alvares::clock::{ManualClock, SharedClock, SystemClock};
use alvares::config::Settings;
use alvares::engine::ActorReport;
use alvares::pipeline::health::HealthBoard;
use alvares::startup::Application;
use alvares::subscribers::{
    Conformance, ConformanceBench, Integration, Registration, registrations,
};
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}"))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Where a test's data lives.
pub enum TestDatabase {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        TestDatabase::Sqlite(tempfile::tempdir().expect("a temporary folder"))
    }

    /// A fresh PostgreSQL database, when `TEST_DATABASE_URL` is set; `None`
    /// (the test says it was skipped) when it is not. A set but unreachable
    /// URL fails the test.
    pub fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            // CI sets this so that a PostgreSQL test cannot pass by skipping.
            if std::env::var_os("REQUIRE_POSTGRES_TESTS").is_some() {
                panic!("REQUIRE_POSTGRES_TESTS is set but TEST_DATABASE_URL is not");
            }
            eprintln!("skipped: TEST_DATABASE_URL is not set, so this PostgreSQL test did not run");
            return None;
        };
        let name = format!("alvares_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but unreachable: {e}"));
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create the test database");
        Some(TestDatabase::Postgres { admin_url, name })
    }

    /// The `DB_URL` the application gets.
    pub fn url(&self) -> String {
        match self {
            TestDatabase::Sqlite(dir) => dir.path().join("alvares.db").display().to_string(),
            TestDatabase::Postgres { admin_url, name } => {
                let mut url = url::Url::parse(admin_url).unwrap();
                url.set_path(name);
                url.to_string()
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDatabase::Postgres { .. })
    }

    /// PostgreSQL only: refuses new connections and closes the open ones
    /// (storage "goes away"), or lets connections in again.
    pub fn set_reachable(&self, reachable: bool) {
        let TestDatabase::Postgres { admin_url, name } = self else {
            panic!("only a PostgreSQL test database can be taken away");
        };
        let mut admin = PgConnection::establish(admin_url).expect("admin connection");
        diesel::sql_query(format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS {reachable}"
        ))
        .execute(&mut admin)
        .expect("alter database");
        if !reachable {
            diesel::sql_query(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ))
            .execute(&mut admin)
            .expect("terminate connections");
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name } = self
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub health: HealthBoard,
    pub http: awc::Client,
    pub server: actix_web::dev::ServerHandle,
    /// The read routes' pool and gates (to hold their permits).
    pub reads: alvares::store::reads::ReadRoutes,
    running: actix_web::rt::task::JoinHandle<Result<(), alvares::startup::StartupError>>,
    /// Kept so the database outlives the application.
    _database: std::sync::Arc<TestDatabase>,
}

/// The application with every registered subscriber, the given variables
/// (never the process environment) and a SQLite database of its own.
pub async fn spawn_app(vars: &[(&str, &str)]) -> TestApp {
    spawn_app_with(vars, registrations()).await
}

pub async fn spawn_app_with(vars: &[(&str, &str)], subscribers: Vec<Registration>) -> TestApp {
    spawn_app_on(
        std::sync::Arc::new(TestDatabase::sqlite()),
        vars,
        subscribers,
    )
    .await
}

/// The application on a given database (several apps may use one in turn).
pub async fn spawn_app_on(
    database: std::sync::Arc<TestDatabase>,
    vars: &[(&str, &str)],
    subscribers: Vec<Registration>,
) -> TestApp {
    spawn_app_full(database, vars, subscribers, SystemClock::shared()).await
}

/// The application on a clock the test moves: nothing that waits for time
/// (a retry, a cool-down, a deferral) happens until the test says so.
pub async fn spawn_app_clocked(vars: &[(&str, &str)], clock: Arc<ManualClock>) -> TestApp {
    spawn_app_full(
        Arc::new(TestDatabase::sqlite()),
        vars,
        registrations(),
        clock,
    )
    .await
}

pub async fn spawn_app_full(
    database: std::sync::Arc<TestDatabase>,
    vars: &[(&str, &str)],
    subscribers: Vec<Registration>,
    clock: SharedClock,
) -> TestApp {
    let mut map: HashMap<String, String> = HashMap::from([
        ("HTTP_WORKERS".into(), "1".into()),
        ("DB_POOL_SIZE".into(), "3".into()),
        ("DB_URL".into(), database.url()),
        // Tests read the figures right after writing them; the cache has a
        // test of its own.
        ("INSIGHTS_CACHE_SECONDS".into(), "0".into()),
        // Tests poll the read routes on a clock that may not move; the
        // budget has a test of its own.
        ("HEAVY_READS_PER_SECOND".into(), "1000000".into()),
        // Tests send many messages to a few channels; the pacing tests set
        // their own limits.
        (
            "RATE_LIMITS".into(),
            "slack=none,uptimerobot=none,detectify=none".into(),
        ),
    ]);
    for (key, value) in vars {
        map.insert((*key).into(), (*value).into());
    }
    let settings = Settings::from_map(map).expect("test settings are valid");
    let application = Application::build_with_clock(settings, subscribers, "127.0.0.1:0", clock)
        .await
        .expect("the application starts");
    let address = format!("http://127.0.0.1:{}", application.port());
    let health = application.health().clone();
    let server = application.server_handle();
    let reads = application.reads().clone();
    let running = actix_web::rt::spawn(application.run_until_stopped());
    TestApp {
        address,
        health,
        // Idle connections are dropped after 2 s, before the server's own
        // keep-alive (5 s) closes them: a request sent on one just as the
        // server closes it fails with "Disconnected" (a flake in the slow
        // browser test).
        http: awc::Client::builder()
            .connector(awc::Connector::new().conn_keep_alive(Duration::from_secs(2)))
            .timeout(Duration::from_secs(10))
            .finish(),
        server,
        reads,
        running,
        _database: database,
    }
}

impl TestApp {
    /// PUTs a JSON body to an intake route; answers status and JSON body.
    pub async fn put_event(&self, kind: &str, body: &Value) -> (u16, Value) {
        self.send("PUT", kind, "application/json", body.to_string(), None)
            .await
    }

    pub async fn send(
        &self,
        method_name: &str,
        kind: &str,
        content_type: &str,
        body: String,
        bearer: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}/api/v1/{kind}", self.address);
        let method = awc::http::Method::from_bytes(method_name.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, url)
            .insert_header(("Content-Type", content_type));
        if let Some(token) = bearer {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        let mut response = request.send_body(body).await.expect("request sent");
        let status = response.status().as_u16();
        let bytes = response.body().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// GETs a path; answers status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let mut response = self
            .http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let bytes = response
            .body()
            .limit(16 * 1024 * 1024)
            .await
            .unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let mut response = self
            .http
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("metrics answer");
        String::from_utf8(response.body().limit(4 << 20).await.unwrap().to_vec()).unwrap()
    }

    /// One sample of `/metrics`, by its name with labels as written.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = self.metrics().await;
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// Whether none of `subscribers` has work left: nothing in the journal
    /// for them (pending, retrying, in flight) and nothing in their actors.
    pub async fn settled(&self, subscribers: &[&str]) -> bool {
        let text = self.metrics().await;
        subscribers.iter().all(|id| {
            ["alvares_backlog", "alvares_in_flight"].iter().all(|name| {
                let series = format!("{name}{{subscriber=\"{id}\"}} 0");
                text.lines().any(|line| line == series)
            }) && self.actor(id).queued == 0
        })
    }

    pub fn actor(&self, id: &str) -> ActorReport {
        self.health
            .report(id)
            .unwrap_or_else(|| panic!("no actor {id}"))
    }

    /// Shuts the application down as SIGTERM would (for restart tests) and
    /// waits until it has let go of its database.
    pub async fn stop(self) {
        self.server.stop(true).await;
        self.running
            .await
            .expect("the application task")
            .expect("a clean shutdown");
    }

    /// Waits until every delivery of the event has finished, and answers
    /// the event view.
    pub async fn finished_event(&self, id: &str) -> Value {
        eventually(
            &format!("event {id} to finish"),
            Duration::from_secs(15),
            || async {
                let (status, body) = self.get(&format!("/api/v1/events/{id}")).await;
                let done = status == 200
                    && body["deliveries"].as_array()?.iter().all(|d| {
                        ["delivered", "skipped", "failed"]
                            .contains(&d["state"].as_str().unwrap_or(""))
                    });
                done.then_some(body)
            },
        )
        .await
    }
}

/// A port nothing listens on, for starting the real binary.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it returns `Some`, failing the test at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A mock Slack: webhook at `/hook`, Web API at `/api/chat.postMessage`,
/// both answering success unless a test mounts something else first.
pub async fn mock_slack() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true})))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

/// The JSON bodies Slack received so far, in arrival order.
pub async fn slack_bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| serde_json::from_slice(&request.body).unwrap_or(Value::Null))
        .collect()
}

/// Every integration the tests know: the service's list and one that
/// lives in the tests only (`throwaway`). Registering it is this one line;
/// the conformance test then covers it.
pub fn integrations() -> Vec<Integration> {
    let mut list = alvares::subscribers::integrations();
    list.push(Integration::builtin::<crate::throwaway::Throwaway>());
    list
}

/// How the conformance data configures `registration` (for what it tells
/// of it: the files it names are not written).
pub fn conformance_of(registration: &Registration) -> Conformance {
    let nowhere = std::path::Path::new("/nonexistent");
    registration.conformance(&ConformanceBench {
        base: "http://127.0.0.1:9",
        scratch: nowhere,
        fixtures: nowhere,
    })
}

/// The built-in subscribers that post to Slack: those a Slack variable
/// configures.
fn posting_to_slack() -> Vec<&'static str> {
    registrations()
        .into_iter()
        .filter(|registration| {
            conformance_of(registration)
                .variables
                .iter()
                .any(|(name, _)| name.starts_with("SLACK_"))
        })
        .map(|registration| registration.id)
        .collect()
}

/// The core actors, in the order health and `/admin/actors` list them
/// (before the subscribers, alphabetised).
pub const CORE_ACTORS: [&str; 6] = [
    "intake",
    "enricher",
    "registry",
    "sweeper",
    "coordinator",
    "journal-writer",
];

/// The state health gives each built-in subscriber when nothing is
/// configured.
pub fn unconfigured_states() -> Vec<(&'static str, &'static str)> {
    registrations()
        .into_iter()
        .map(|registration| {
            let state = if conformance_of(&registration).runs_unconfigured {
                "running"
            } else {
                "unconfigured"
            };
            (registration.id, state)
        })
        .collect()
}

/// Waits until Slack has received `count` messages and every subscriber
/// that posts to Slack has finished all its work (nothing waiting in the
/// journal or running: so no further message can come), then checks that
/// exactly `count` came and returns them.
pub async fn wait_for_slack(app: &TestApp, server: &MockServer, count: usize) -> Vec<Value> {
    eventually(
        &format!("{count} Slack messages"),
        Duration::from_secs(10),
        || async { (slack_bodies(server).await.len() >= count).then_some(()) },
    )
    .await;
    eventually(
        "the Slack subscribers to finish their work",
        Duration::from_secs(10),
        || async { app.settled(&posting_to_slack()).await.then_some(()) },
    )
    .await;
    let settled = slack_bodies(server).await;
    assert_eq!(
        settled.len(),
        count,
        "more Slack messages than expected: {settled:#?}"
    );
    settled
}

/// The example operator file, which declares one destination of each type.
pub const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/alvares.toml");

/// The example's destinations, by subscriber id.
pub const EXAMPLE_DESTINATIONS: [&str; 9] = [
    "teams-platform",
    "discord-ops",
    "mattermost-dev",
    "google-chat-platform-chat",
    "email-platform-mail",
    "pagerduty-platform-pager",
    "opsgenie-platform-alerts",
    "github-deployments",
    "grafana-ops-dashboards",
];

/// The variables the example's destinations name (their secrets, and the
/// APIs' base URLs): the chat, paging and Grafana ones at `vendors`, the
/// GitHub API at `github`, the mail server's URL `smtp`.
pub fn example_destination_variables(
    vendors: &str,
    github: &str,
    smtp: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_API_URL", github.to_owned()),
        (
            "GITHUB_DEPLOYMENTS_TOKEN",
            "github_pat_example_0123456789".to_owned(),
        ),
        (
            "PLATFORM_TEAMS_URL",
            format!("{vendors}/teams?sig=teams-example-signature-0123"),
        ),
        (
            "OPS_DISCORD_URL",
            format!("{vendors}/api/webhooks/1181234567890/discord-example-token"),
        ),
        (
            "DEV_MATTERMOST_URL",
            format!("{vendors}/hooks/mattermost-example-key"),
        ),
        (
            "PLATFORM_CHAT_URL",
            format!(
                "{vendors}/v1/spaces/AAAAexample/messages?key=k&token=google-example-token-0123"
            ),
        ),
        ("PLATFORM_SMTP_URL", smtp.to_owned()),
        (
            "PLATFORM_PAGERDUTY_KEY",
            "pagerduty-example-routing-key".to_owned(),
        ),
        ("PAGERDUTY_EVENTS_URL", format!("{vendors}/pagerduty")),
        (
            "PLATFORM_OPSGENIE_KEY",
            "opsgenie-example-api-key".to_owned(),
        ),
        ("OPSGENIE_API_URL", format!("{vendors}/opsgenie")),
        ("OPS_GRAFANA_URL", format!("{vendors}/grafana")),
        (
            "OPS_GRAFANA_TOKEN",
            "glsa_example_token_0123456789".to_owned(),
        ),
    ]
}

/// The example's destinations' variables for a test about the rest of
/// the file: every one at a closed port, and `DISABLED_SUBSCRIBERS`
/// switching them off (with `also`, the test's own), so nothing is tried.
pub fn example_destinations_off(also: &[&str]) -> Vec<(&'static str, String)> {
    let closed = "http://127.0.0.1:9";
    let mut variables =
        example_destination_variables(closed, closed, "smtp://127.0.0.1:9?tls=none");
    let mut off: Vec<&str> = also.to_vec();
    off.extend(EXAMPLE_DESTINATIONS);
    variables.push(("DISABLED_SUBSCRIBERS", off.join(",")));
    variables
}

/// The webhook URL of a mock Slack.
pub fn hook(server: &MockServer) -> String {
    format!("{}/hook", server.uri())
}

/// Runs a storage test on SQLite and, when `TEST_DATABASE_URL` is set, on
/// PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name(std::sync::Arc::new($crate::helpers::TestDatabase::sqlite())).await;
                }

                #[actix_web::test]
                async fn postgres() {
                    if let Some(database) = $crate::helpers::TestDatabase::postgres() {
                        super::$name(std::sync::Arc::new(database)).await;
                    }
                }
            }
        )*
    };
}
