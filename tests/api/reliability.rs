//! Trust at the seams: one bad value never stops intake, no breaker state
//! is a dead end, destinations cannot hold the service hostage, memory
//! stays bounded whatever events name, and a store that vanishes or cannot
//! commit is noticed. Time-dependent checks run on a manual clock: they
//! assert states, never sleep and hope.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alvares::clock::{Clock, ManualClock};
use alvares::engine::ActorState;
use alvares::subscribers::registrations;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::delivery::sweeps_go_by;
use crate::helpers::{
    TestApp, TestDatabase, eventually, hook, mock_slack, slack_bodies, spawn_app,
    spawn_app_clocked, spawn_app_on,
};
use crate::on_both_backends;

/// Answers the n-th request (from 1) with `answer(n, request)`.
struct Scripted<F>(AtomicUsize, F);

impl<F: Fn(usize, &Request) -> ResponseTemplate + Send + Sync> Respond for Scripted<F> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        (self.1)(n, request)
    }
}

async fn scripted_slack(
    answer: impl Fn(usize, &Request) -> ResponseTemplate + Send + Sync + 'static,
) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(Scripted(AtomicUsize::new(0), answer))
        .mount(&server)
        .await;
    server
}

fn channel_of(request: &Request) -> String {
    serde_json::from_slice::<Value>(&request.body).unwrap()["channel"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn event_view(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/events/{id}")).await.1
}

on_both_backends!(nul_bytes_from_a_destination_or_in_events_leave_intake_working);

/// A destination answering with NUL bytes, and events carrying NUL
/// characters among valid ones: the bad events are refused naming their
/// field, the destination's answer is recorded escaped, and every valid
/// deployment is accepted, stored and delivered.
async fn nul_bytes_from_a_destination_or_in_events_leave_intake_working(
    database: Arc<TestDatabase>,
) {
    let slack = scripted_slack(|_, request| {
        if channel_of(request) == "#bad" {
            ResponseTemplate::new(400).set_body_bytes(b"bad\0request\0".to_vec())
        } else {
            ResponseTemplate::new(200).set_body_string("ok")
        }
    })
    .await;
    let hook_url = hook(&slack);
    let app = spawn_app_on(
        database,
        &[
            ("SLACK_WEB_HOOK", &hook_url),
            ("DISABLED_SUBSCRIBERS", "application-endpoint"),
        ],
        registrations(),
    )
    .await;
    let (status, bad) = app
        .put_event(
            "deployment",
            &json!({"applicationName": "to-bad", "cluster": "active", "slackChannels": "#bad"}),
        )
        .await;
    assert_eq!(status, 202);
    let mut valid = Vec::new();
    for n in 0..30 {
        if n % 3 == 1 {
            let (status, answer) = app
                .put_event(
                    "deployment",
                    &json!({"applicationName": format!("nul\u{0}{n}"), "cluster": "active"}),
                )
                .await;
            assert_eq!(status, 422);
            assert_eq!(
                answer,
                json!({
                    "error": "invalid_event",
                    "message": "applicationName: must not contain a NUL character (\\u0000)",
                    "field": "applicationName"
                })
            );
            let (status, answer) = app
                .put_event(
                    "error",
                    &json!({"message": "m", "x-extra": {"deep": ["a\u{0}"]}}),
                )
                .await;
            assert_eq!((status, answer["field"].clone()), (422, json!("x-extra")));
            continue;
        }
        let name = format!("valid-{n}");
        let (status, answer) = app
            .put_event(
                "deployment",
                &json!({"applicationName": name, "cluster": "active", "slackChannels": "#ok"}),
            )
            .await;
        assert_eq!(status, 202, "{answer}");
        valid.push((name, answer["id"].as_str().unwrap().to_owned()));
    }
    // The destination's NUL bytes are recorded, escaped.
    let view = app.finished_event(bad["id"].as_str().unwrap()).await;
    let slack_delivery = view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == "slack-deployment")
        .unwrap()
        .clone();
    assert_eq!(slack_delivery["state"], "failed");
    assert_eq!(
        slack_delivery["lastError"],
        "#bad: Slack answered HTTP 400: bad\\u0000request\\u0000"
    );
    // Every valid deployment is stored and delivered, and intake still works.
    for (name, id) in &valid {
        let view = app.finished_event(id).await;
        for delivery in view["deliveries"].as_array().unwrap() {
            if ["database", "slack-deployment"].contains(&delivery["subscriber"].as_str().unwrap())
            {
                assert_eq!(delivery["state"], "delivered", "{name}: {view}");
            }
        }
        let (status, _) = app.get(&format!("/api/v1/deployments/{id}")).await;
        assert_eq!(status, 200, "{name} stored");
    }
    let texts: BTreeSet<String> = slack_bodies(&slack)
        .await
        .iter()
        .filter_map(|b| b["text"].as_str().map(str::to_owned))
        .collect();
    for (name, _) in &valid {
        assert!(texts.contains(&format!("*{name}* deployed in *active*")));
    }
    let (status, _) = app
        .put_event(
            "deployment",
            &json!({"applicationName": "after", "cluster": "active"}),
        )
        .await;
    assert_eq!(status, 202);
    let (status, body) = app.get("/readyz").await;
    assert_eq!((status, body), (200, json!({"status": "ready"})));
}

/// Slack fails until the circuit opens, then rate-limits the probe for
/// longer than a delivery waits in place, then recovers: the circuit does
/// not stay half-open, health says what it is, and every message is
/// delivered after the recovery.
#[actix_web::test]
async fn a_rate_limited_probe_does_not_hold_the_circuit_half_open() {
    let slack = scripted_slack(|n, _| match n {
        1..=3 => ResponseTemplate::new(500),
        4 => ResponseTemplate::new(429).insert_header("Retry-After", "5"),
        _ => ResponseTemplate::new(200).set_body_string("ok"),
    })
    .await;
    let clock = ManualClock::new();
    let app = spawn_app_clocked(
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("CIRCUIT_FAILURES", "3"),
            ("CIRCUIT_COOLDOWN_SECONDS", "4"),
            ("RETRY_JITTER_PERCENT", "0"),
        ],
        clock.clone(),
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let (_, answer) = app
            .put_event(
                "recommendation",
                &json!({"message": format!("m{n}"), "slackChannels": "#one"}),
            )
            .await;
        ids.push(answer["id"].as_str().unwrap().to_owned());
        if n == 2 {
            eventually("the circuit to open", Duration::from_secs(5), || async {
                (app.actor("slack-recommendation").state == ActorState::CircuitOpen).then_some(())
            })
            .await;
        }
    }
    // The cool-down is over: a probe goes, and is rate-limited for 5 s.
    clock.advance(Duration::from_secs(5));
    eventually(
        "the probe to be rate-limited",
        Duration::from_secs(5),
        || async { (slack.received_requests().await?.len() == 4).then_some(()) },
    )
    .await;
    // Not stuck: each delivery in turn may probe, meets the channel's
    // pause and waits in the journal for it to end; health shows the
    // circuit as it is.
    for id in &ids {
        eventually("the deferral", Duration::from_secs(5), || async {
            let view = event_view(&app, id).await;
            (view["deliveries"][0]["state"] == "retrying"
                && view["deliveries"][0]["lastError"] == "#one is rate limited")
                .then_some(())
        })
        .await;
    }
    sweeps_go_by(&app, 3).await;
    let report = app.actor("slack-recommendation");
    assert_eq!(report.state, ActorState::CircuitHalfOpen);
    assert_eq!(slack.received_requests().await.unwrap().len(), 4);
    // The pause is over and Slack has recovered: everything goes out.
    clock.advance(Duration::from_secs(6));
    for id in &ids {
        let view = app.finished_event(id).await;
        assert_eq!(view["deliveries"][0]["state"], "delivered", "{view}");
    }
    assert_eq!(app.actor("slack-recommendation").state, ActorState::Running);
    let texts: Vec<String> = slack_bodies(&slack)
        .await
        .iter()
        .skip(4)
        .map(|b| b["text"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = texts.clone();
    sorted.sort();
    assert_eq!(sorted, ["m0", "m1", "m2", "m3"]);
}

/// A 429 asking for three years pauses the channel for an hour
/// (`MAX_RETRY_AFTER_SECONDS`), and the backlog goes out after it.
#[actix_web::test]
async fn a_huge_retry_after_pauses_the_channel_for_at_most_an_hour() {
    let slack = scripted_slack(|n, _| match n {
        1 => ResponseTemplate::new(429).insert_header("Retry-After", "99999999"),
        _ => ResponseTemplate::new(200).set_body_string("ok"),
    })
    .await;
    let clock = ManualClock::new();
    let app = spawn_app_clocked(
        &[("SLACK_WEB_HOOK", &hook(&slack)), ("ADMIN_TOKEN", "t")],
        clock.clone(),
    )
    .await;
    let start = clock.now_ms();
    let (_, first) = app
        .put_event(
            "recommendation",
            &json!({"message": "first", "slackChannels": "#paused"}),
        )
        .await;
    let first = first["id"].as_str().unwrap().to_owned();
    let view = eventually("the deferral", Duration::from_secs(5), || async {
        let view = event_view(&app, &first).await;
        (view["deliveries"][0]["state"] == "retrying").then_some(view)
    })
    .await;
    let next = &view["deliveries"][0];
    assert_eq!(next["attempts"], 0, "a pause is not an attempt");
    assert_eq!(
        next["nextAttemptAt"],
        alvares::routes::store::rfc3339(start + 3_600_000)
    );
    // A second message to the same channel waits behind the pause.
    let (_, second) = app
        .put_event(
            "recommendation",
            &json!({"message": "second", "slackChannels": "#paused"}),
        )
        .await;
    let second = second["id"].as_str().unwrap().to_owned();
    eventually("the second deferral", Duration::from_secs(5), || async {
        let view = event_view(&app, &second).await;
        (view["deliveries"][0]["state"] == "retrying").then_some(())
    })
    .await;
    clock.advance(Duration::from_secs(3599));
    sweeps_go_by(&app, 3).await;
    assert_eq!(slack.received_requests().await.unwrap().len(), 1);
    clock.advance(Duration::from_secs(1));
    for id in [&first, &second] {
        let view = app.finished_event(id).await;
        assert_eq!(view["deliveries"][0]["state"], "delivered");
    }
    assert_eq!(slack.received_requests().await.unwrap().len(), 3);
}

/// A destination that answers 429 for ever: the delivery is deferred, never
/// charged an attempt, until `MAX_DEFER_SECONDS` have passed; then it is a
/// dead letter saying so.
#[actix_web::test]
async fn a_destination_that_always_answers_429_makes_a_dead_letter() {
    let slack =
        scripted_slack(|_, _| ResponseTemplate::new(429).insert_header("Retry-After", "30")).await;
    let clock = ManualClock::new();
    let app = spawn_app_clocked(
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("MAX_DEFER_SECONDS", "60"),
        ],
        clock.clone(),
    )
    .await;
    let (_, answer) = app
        .put_event(
            "recommendation",
            &json!({"message": "never", "slackChannels": "#busy"}),
        )
        .await;
    let id = answer["id"].as_str().unwrap().to_owned();
    for requests in 1..=2 {
        eventually("a 429", Duration::from_secs(5), || async {
            (slack.received_requests().await?.len() == requests).then_some(())
        })
        .await;
        eventually("the deferral", Duration::from_secs(5), || async {
            let view = event_view(&app, &id).await;
            (view["deliveries"][0]["state"] == "retrying").then_some(())
        })
        .await;
        clock.advance(Duration::from_secs(31));
    }
    let view = app.finished_event(&id).await;
    let delivery = &view["deliveries"][0];
    assert_eq!(delivery["state"], "failed");
    assert_eq!(delivery["attempts"], 0);
    assert_eq!(
        delivery["lastError"],
        "deferred for more than 1m (MAX_DEFER_SECONDS) without a turn: #busy is rate limited"
    );
}

/// Redirects are never followed: a webhook (and UptimeRobot) answering 301
/// is a failed delivery naming where it pointed, not a delivered one.
#[actix_web::test]
async fn a_redirect_is_a_failure_naming_its_location() {
    let slack = MockServer::start().await;
    let elsewhere = format!("{}/elsewhere?token=hidden", slack.uri());
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(301).insert_header("Location", elsewhere.as_str()))
        .mount(&slack)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&slack)
        .await;
    let uptime = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/getMonitors"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("Location", "https://login.example.com/"),
        )
        .mount(&uptime)
        .await;
    let utr = format!("{}/v2", uptime.uri());
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("UTR_API_KEY", "u1234-key"),
        ("UTR_API_BASE_URL", &utr),
        ("UTR_CLUSTERS", "active"),
        ("DISABLED_SUBSCRIBERS", "application-endpoint"),
    ])
    .await;
    let (_, answer) = app
        .put_event(
            "deployment",
            &json!({"applicationName": "moved", "cluster": "active", "applicationPath": "/moved",
                    "slackChannels": "#moved"}),
        )
        .await;
    let view = app.finished_event(answer["id"].as_str().unwrap()).await;
    let outcome = |id: &str| {
        view["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["subscriber"] == id)
            .unwrap()
            .clone()
    };
    let slack_delivery = outcome("slack-deployment");
    assert_eq!(slack_delivery["state"], "failed");
    assert_eq!(
        slack_delivery["lastError"],
        format!(
            "#moved: Slack answered HTTP 301 redirect to {}/elsewhere; redirects are not followed",
            slack.uri()
        )
    );
    let uptime_delivery = outcome("uptimerobot");
    assert_eq!(uptime_delivery["state"], "failed");
    assert_eq!(
        uptime_delivery["lastError"],
        "UptimeRobot getMonitors: HTTP 302 redirect to https://login.example.com/; redirects are not followed"
    );
    assert_eq!(slack.received_requests().await.unwrap().len(), 1);
}

/// 20,000 recommendations, each to a channel of its own: every message is
/// delivered, and the rate limiters never track more destinations than
/// their ceiling (idle ones are forgotten).
#[actix_web::test]
async fn twenty_thousand_channels_keep_the_rate_limiters_bounded() {
    const EVENTS: usize = 20_000;
    const CEILING: usize = 500;
    let slack = MockServer::start().await;
    let received = Arc::new(AtomicUsize::new(0));
    struct Count(Arc<AtomicUsize>);
    impl Respond for Count {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            self.0.fetch_add(1, Ordering::SeqCst);
            ResponseTemplate::new(200)
        }
    }
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(Count(received.clone()))
        .mount(&slack)
        .await;
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("RATE_LIMITS", "slack=1000/s:burst=1"),
        ("RATE_LIMIT_DESTINATIONS", "500"),
        ("HTTP_WORKERS", "2"),
    ])
    .await;
    let largest = Arc::new(Mutex::new(0usize));
    let tracked = |app: &TestApp| {
        app.actor("slack-recommendation")
            .rate_limit
            .map_or(0, |r| r.tokens.len())
    };
    let senders: Vec<_> = (0..16)
        .map(|sender| {
            let http = app.http.clone();
            let url = format!("{}/api/v1/recommendation", app.address);
            actix_web::rt::spawn(async move {
                for n in (sender..EVENTS).step_by(16) {
                    let body = json!({"message": "m", "slackChannels": format!("#ch-{n}")});
                    let response = http.put(&url).send_json(&body).await.unwrap();
                    assert_eq!(response.status().as_u16(), 202);
                }
            })
        })
        .collect();
    let watcher = {
        let largest = largest.clone();
        let received = received.clone();
        let health = app.health.clone();
        actix_web::rt::spawn(async move {
            while received.load(Ordering::SeqCst) < EVENTS {
                let now = health
                    .report("slack-recommendation")
                    .and_then(|r| r.rate_limit)
                    .map_or(0, |r| r.tokens.len());
                {
                    let mut largest = largest.lock().unwrap();
                    *largest = (*largest).max(now);
                }
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    for sender in senders {
        sender.await.unwrap();
    }
    eventually("every message", Duration::from_secs(120), || async {
        (received.load(Ordering::SeqCst) >= EVENTS).then_some(())
    })
    .await;
    watcher.await.unwrap();
    let largest = *largest.lock().unwrap();
    eprintln!("20,000 channels: the limiter tracked at most {largest} at once");
    assert!(largest <= CEILING, "tracked {largest} destinations");
    assert_eq!(received.load(Ordering::SeqCst), EVENTS);
    // Idle, every bucket refills and is forgotten.
    eventually(
        "idle buckets to be forgotten",
        Duration::from_secs(5),
        || async { (tracked(&app) == 0).then_some(()) },
    )
    .await;
}

/// Deleting the SQLite file under the running service: intake answers 503,
/// `/readyz` says why, and no empty file takes its place. (The writer looks at the file every 250 ms; the
/// deadline here leaves room for a busy machine, and the time it took is
/// printed.)
#[actix_web::test]
async fn deleting_the_sqlite_file_stops_intake_and_readiness() {
    let database = Arc::new(TestDatabase::sqlite());
    let app = spawn_app_on(database.clone(), &[], registrations()).await;
    let body = json!({"applicationName": "a", "cluster": "active"});
    assert_eq!(app.put_event("deployment", &body).await.0, 202);
    std::fs::remove_file(database.url()).unwrap();
    let deleted = std::time::Instant::now();
    let (status, ready) = eventually("readiness to fail", Duration::from_secs(10), || async {
        let (status, body) = app.get("/readyz").await;
        (status == 503).then_some((status, body))
    })
    .await;
    eprintln!("the deleted file was noticed after {:?}", deleted.elapsed());
    assert_eq!(status, 503);
    let reason = ready["reasons"][0].as_str().unwrap();
    assert!(
        reason.starts_with("storage: the SQLite file") && reason.contains("was deleted"),
        "{reason}"
    );
    let (status, answer) = app.put_event("deployment", &body).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"], "unavailable");
    // The pool's connections open the file, never create it: nothing
    // brought an empty database back in its place.
    assert!(!std::path::Path::new(&database.url()).exists());
}

/// With PostgreSQL gone, `/readyz` is 503 and intake refuses; once it is
/// back and a commit succeeds, both work again.
#[actix_web::test]
async fn readiness_follows_whether_postgres_commits() {
    let Some(database) = TestDatabase::postgres() else {
        return;
    };
    let database = Arc::new(database);
    let app = spawn_app_on(database.clone(), &[], registrations()).await;
    database.set_reachable(false);
    eventually("readiness to fail", Duration::from_secs(10), || async {
        let (status, body) = app.get("/readyz").await;
        (status == 503 && body["reasons"][0].as_str()?.starts_with("storage")).then_some(())
    })
    .await;
    let body = json!({"applicationName": "a", "cluster": "active"});
    let (status, answer) = app.put_event("deployment", &body).await;
    assert_eq!(status, 503, "{answer}");
    database.set_reachable(true);
    eventually(
        "readiness to come back",
        Duration::from_secs(15),
        || async {
            let (status, _) = app.get("/readyz").await;
            (status == 200).then_some(())
        },
    )
    .await;
    assert_eq!(app.put_event("deployment", &body).await.0, 202);
}

/// A client that sends its headers and then trickles its body is answered
/// 408 after `BODY_TIMEOUT_SECONDS` and its connection closed.
#[actix_web::test]
async fn a_body_that_does_not_arrive_is_answered_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(&[("BODY_TIMEOUT_SECONDS", "1")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(
            b"PUT /api/v1/deployment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"applicationName\"",
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    actix_web::rt::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the connection is closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.ends_with(
            r#"{"error":"request_timeout","message":"the request body did not arrive within 1s"}"#
        ),
        "{answer}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    // The service goes on.
    let body = json!({"applicationName": "a", "cluster": "active"});
    assert_eq!(app.put_event("deployment", &body).await.0, 202);
}

#[actix_web::test]
async fn the_bearer_scheme_is_read_in_any_case() {
    let app = spawn_app(&[("INGEST_TOKEN", "s3cret"), ("ADMIN_TOKEN", "adm1n")]).await;
    let body = json!({"applicationName": "a", "cluster": "active"}).to_string();
    for (header, expected) in [
        ("Bearer s3cret", 202),
        ("bearer s3cret", 202),
        ("BEARER  s3cret", 202),
        ("Basic s3cret", 401),
        ("s3cret", 401),
    ] {
        let response = app
            .http
            .put(format!("{}/api/v1/deployment", app.address))
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("Authorization", header))
            .send_body(body.clone())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{header}");
    }
    let response = app
        .http
        .get(format!("{}/admin/actors", app.address))
        .insert_header(("Authorization", "bEaReR adm1n"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[actix_web::test]
async fn a_wrong_method_on_any_known_path_is_405_with_allow() {
    let app = spawn_app(&[]).await;
    for (method_name, route, allow) in [
        ("DELETE", "/api/v1/deployment", "PUT, POST"),
        ("POST", "/api/v1/deployments", "GET"),
        ("PUT", "/api/v1/events/x", "GET"),
        ("POST", "/healthz", "GET"),
        ("DELETE", "/metrics", "GET"),
        ("GET", "/admin/subscribers/slack-error", "PUT"),
        ("GET", "/admin/dead-letters/1/replay", "POST"),
    ] {
        let method = awc::http::Method::from_bytes(method_name.as_bytes()).unwrap();
        let mut response = app
            .http
            .request(method, format!("{}{route}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method_name} {route}");
        assert_eq!(
            response.headers().get("allow").unwrap().to_str().unwrap(),
            allow
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": "method_not_allowed", "message": format!("{} answers {allow}", route_pattern(route))})
        );
    }
}

/// The route pattern a path belongs to, as 405 bodies name it.
fn route_pattern(route: &str) -> &str {
    match route {
        "/api/v1/events/x" => "/api/v1/events/{id}",
        "/admin/subscribers/slack-error" => "/admin/subscribers/{id}",
        "/admin/dead-letters/1/replay" => "/admin/dead-letters/{id}/replay",
        other => other,
    }
}

/// Free text keeps its quotes all the way to Slack and the journal.
#[actix_web::test]
async fn free_text_keeps_its_quotes() {
    let slack = mock_slack().await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    let (status, answer) = app
        .put_event(
            "error",
            &json!({"message": " Please set \"PORT\" ", "slackChannels": "\"#ops\""}),
        )
        .await;
    assert_eq!(status, 202);
    let received = crate::helpers::wait_for_slack(&app, &slack, 1).await;
    assert_eq!(received[0]["text"], "Please set \"PORT\"");
    assert_eq!(received[0]["channel"], "#ops");
    let view = app.finished_event(answer["id"].as_str().unwrap()).await;
    assert_eq!(view["event"]["message"], "Please set \"PORT\"");
}

/// Every field of a deployment is a label value: public names and
/// descriptions lose the quotes at their ends, as stored and as enriched.
#[actix_web::test]
async fn a_deployments_public_names_lose_the_quotes_at_their_ends() {
    let app = spawn_app(&[]).await;
    let (status, answer) = app
        .put_event(
            "deployment",
            &json!({
                "applicationName": "kurswebb", "cluster": "active",
                "publicNameSwedish": "\"Kurswebb\"",
                "publicNameEnglish": " \"Course web\" ",
                "descriptionEnglish": "\"Courses, \"all\" of them\""
            }),
        )
        .await;
    assert_eq!(status, 202);
    let view = app.finished_event(answer["id"].as_str().unwrap()).await;
    assert_eq!(view["event"]["publicNameSwedish"], "Kurswebb");
    assert_eq!(view["event"]["publicNameEnglish"], "Course web");
    assert_eq!(
        view["event"]["descriptionEnglish"],
        "Courses, \"all\" of them"
    );
    assert_eq!(view["event"]["friendlyName"], "Course web");
}
