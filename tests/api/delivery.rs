//! How deliveries keep their pace: rate limits, Retry-After, the retry
//! schedule across a restart, the circuit breaker, and a hanging
//! destination that delays no other subscriber.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alvares::subscribers::registrations;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use alvares::clock::ManualClock;

use crate::helpers::{
    TestApp, TestDatabase, eventually, fixture, hook, slack_bodies, spawn_app, spawn_app_clocked,
    spawn_app_on, wait_for_slack,
};
use crate::on_both_backends;
use crate::outbound::next_request;

/// Notes when each request came, and answers with `answer(n)`.
struct Recording<F: Fn(usize) -> ResponseTemplate + Send + Sync> {
    arrivals: Arc<Mutex<Vec<Instant>>>,
    answer: F,
}

impl<F: Fn(usize) -> ResponseTemplate + Send + Sync> Respond for Recording<F> {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let mut arrivals = self.arrivals.lock().unwrap();
        arrivals.push(Instant::now());
        (self.answer)(arrivals.len())
    }
}

async fn recording_slack(
    answer: impl Fn(usize) -> ResponseTemplate + Send + Sync + 'static,
) -> (MockServer, Arc<Mutex<Vec<Instant>>>) {
    let server = MockServer::start().await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(Recording {
            arrivals: arrivals.clone(),
            answer,
        })
        .mount(&server)
        .await;
    (server, arrivals)
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_string("ok")
}

#[actix_web::test]
async fn a_burst_to_one_channel_is_spaced_by_the_limit_and_nothing_is_dropped() {
    let (slack, arrivals) = recording_slack(|_| ok()).await;
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("RATE_LIMITS", "slack=5/s:burst=2"),
    ])
    .await;
    for n in 0..20 {
        let (status, _) = app
            .put_event(
                "recommendation",
                &json!({"message": format!("m{n}"), "slackChannels": "#busy"}),
            )
            .await;
        assert_eq!(status, 202);
    }
    let received = wait_for_slack(&app, &slack, 20).await;
    let mut texts: Vec<String> = received
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    texts.sort_by_key(|t| t[1..].parse::<u32>().unwrap());
    assert_eq!(texts, (0..20).map(|n| format!("m{n}")).collect::<Vec<_>>());
    // Two at once (the burst), then one every 200 ms.
    let arrivals = arrivals.lock().unwrap().clone();
    let first = arrivals[0];
    for (index, at) in arrivals.iter().enumerate().skip(2) {
        let earliest = Duration::from_millis(200 * (index as u64 - 1));
        assert!(
            at.duration_since(first) + Duration::from_millis(30) >= earliest,
            "message {index} came {:?} after the first, before its turn at {earliest:?}",
            at.duration_since(first)
        );
    }
    let total = arrivals[19].duration_since(first);
    // About 3.8 s at 5/s; a busy machine may add some.
    assert!(total < Duration::from_secs(10), "took {total:?}");
    assert!(app.actor("slack-recommendation").deferred > 0);
}

#[actix_web::test]
async fn a_long_retry_after_waits_in_the_journal_without_charging_an_attempt() {
    let (slack, arrivals) = recording_slack(|n| {
        if n == 1 {
            ResponseTemplate::new(429).insert_header("Retry-After", "3")
        } else {
            ok()
        }
    })
    .await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    let (_, answer) = app
        .put_event(
            "recommendation",
            &json!({"message": "later", "slackChannels": "#slow"}),
        )
        .await;
    let view = app.finished_event(answer["id"].as_str().unwrap()).await;
    assert_eq!(view["deliveries"][0]["state"], "delivered");
    assert_eq!(
        view["deliveries"][0]["attempts"], 1,
        "the pause is not an attempt"
    );
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 2);
    assert!(arrivals[1] - arrivals[0] >= Duration::from_secs(3));
    assert_eq!(app.actor("slack-recommendation").deferred, 1);
}

on_both_backends!(the_retry_schedule_is_followed_and_survives_a_restart);

async fn the_retry_schedule_is_followed_and_survives_a_restart(database: Arc<TestDatabase>) {
    let (slack, arrivals) = recording_slack(|_| ResponseTemplate::new(503)).await;
    let vars = [("SLACK_WEB_HOOK", hook(&slack))];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = spawn_app_on(database.clone(), &vars, registrations()).await;
    let (_, answer) = first
        .put_event(
            "recommendation",
            &json!({"message": "m", "slackChannels": "#down"}),
        )
        .await;
    let id = answer["id"].as_str().unwrap().to_owned();
    // Attempt 2 comes about 1 s (±20 %) after attempt 1.
    eventually("the second attempt", Duration::from_secs(5), || async {
        (arrivals.lock().unwrap().len() >= 2).then_some(())
    })
    .await;
    // The second attempt's outcome is recorded just after Slack answers it.
    let view = eventually("attempt 2 recorded", Duration::from_secs(5), || async {
        let (_, view) = first.get(&format!("/api/v1/events/{id}")).await;
        (view["deliveries"][0]["attempts"] == 2).then_some(view)
    })
    .await;
    let delivery = &view["deliveries"][0];
    assert_eq!(delivery["state"], "retrying");
    assert_eq!(delivery["attempts"], 2);
    assert_eq!(delivery["lastError"], "#down: Slack answered HTTP 503");
    assert!(delivery["nextAttemptAt"].is_string());
    first.stop().await;
    let second_attempt = arrivals.lock().unwrap()[1];
    let gap = second_attempt - arrivals.lock().unwrap()[0];
    assert!(
        gap >= Duration::from_millis(750) && gap <= Duration::from_secs(3),
        "{gap:?}"
    );

    // A new process continues the schedule: attempt 3 about 5 s after
    // attempt 2, not at once and not from the start.
    let second = spawn_app_on(database, &vars, registrations()).await;
    eventually("the third attempt", Duration::from_secs(10), || async {
        (arrivals.lock().unwrap().len() >= 3).then_some(())
    })
    .await;
    let third = arrivals.lock().unwrap()[2] - second_attempt;
    assert!(
        third >= Duration::from_secs(4),
        "attempt 3 came {third:?} after attempt 2"
    );
    let view = eventually("attempt 3 recorded", Duration::from_secs(5), || async {
        let (_, view) = second.get(&format!("/api/v1/events/{id}")).await;
        (view["deliveries"][0]["attempts"] == 3).then_some(view)
    })
    .await;
    assert_eq!(view["deliveries"][0]["state"], "retrying");
}

#[actix_web::test]
async fn the_circuit_opens_after_repeated_failures_and_closes_after_a_good_probe() {
    // Slack fails the first three requests, then recovers.
    let (slack, arrivals) = recording_slack(|n| {
        if n <= 3 {
            ResponseTemplate::new(500)
        } else {
            ok()
        }
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
    for n in 0..3 {
        let (_, answer) = app
            .put_event(
                "recommendation",
                &json!({"message": format!("m{n}"), "slackChannels": format!("#c{n}")}),
            )
            .await;
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    let opened = eventually("the circuit to open", Duration::from_secs(5), || async {
        let report = app.actor("slack-recommendation");
        (report.state == alvares::engine::ActorState::CircuitOpen).then_some(report)
    })
    .await;
    let circuit = opened.circuit.unwrap();
    assert_eq!(circuit.failures, 3);
    assert!(circuit.open_until_ms.is_some());
    // Two seconds on, every retry is due (after one second) but the circuit
    // is open for four: sweeps go by and nothing is sent.
    clock.advance(Duration::from_secs(2));
    sweeps_go_by(&app, 3).await;
    assert_eq!(arrivals.lock().unwrap().len(), 3);
    for id in &ids {
        let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
        assert_eq!(view["deliveries"][0]["state"], "retrying");
        assert_eq!(view["deliveries"][0]["attempts"], 1);
    }
    // After the cool-down a probe succeeds, the circuit closes and the
    // held deliveries go out.
    clock.advance(Duration::from_secs(3));
    for id in &ids {
        let view = app.finished_event(id).await;
        assert_eq!(view["deliveries"][0]["state"], "delivered");
    }
    let report = app.actor("slack-recommendation");
    assert_eq!(
        report.circuit.unwrap().state,
        alvares::engine::circuit::CircuitState::Closed
    );
    assert_eq!(report.state, alvares::engine::ActorState::Running);
    assert_eq!(arrivals.lock().unwrap().len(), 6);
}

/// Answers 500 until `healthy` is set, then 200.
struct Recovering {
    healthy: Arc<AtomicBool>,
}

impl Respond for Recovering {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        if self.healthy.load(Ordering::SeqCst) {
            ok()
        } else {
            ResponseTemplate::new(500)
        }
    }
}

/// The texts Slack received, in arrival order.
async fn texts(slack: &MockServer) -> Vec<String> {
    slack_bodies(slack)
        .await
        .iter()
        .map(|body| body["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn recommend(app: &TestApp, text: &str) -> String {
    let (status, answer) = app
        .put_event(
            "recommendation",
            &json!({"message": text, "slackChannels": "#line"}),
        )
        .await;
    assert_eq!(status, 202);
    answer["id"].as_str().unwrap().to_owned()
}

/// Waits until the event's delivery waits in line for the circuit: held
/// by it in the journal, or never handed out while it is open.
async fn held_by_the_circuit(app: &TestApp, id: &str) {
    eventually(
        "the delivery to be held",
        Duration::from_secs(5),
        || async {
            let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
            let delivery = &view["deliveries"][0];
            let held = delivery["state"] == "retrying"
                && delivery["lastError"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("the circuit is open"));
            (held || delivery["state"] == "pending").then_some(())
        },
    )
    .await;
}

/// Slack fails until the circuit opens (the failed deliveries' retries are
/// due a minute later, long after the cool-down), more events pile up
/// behind it, and Slack recovers: the probe succeeds, and the whole backlog
/// goes out at once, in acceptance order, the clock never reaching any
/// retry's time.
#[actix_web::test]
async fn after_a_good_probe_the_backlog_goes_out_at_once_in_acceptance_order() {
    let healthy = Arc::new(AtomicBool::new(false));
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(Recovering {
            healthy: healthy.clone(),
        })
        .mount(&slack)
        .await;
    let clock = ManualClock::new();
    let app = spawn_app_clocked(
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("CIRCUIT_FAILURES", "3"),
            ("CIRCUIT_COOLDOWN_SECONDS", "4"),
            ("RETRY_SCHEDULE", "1m,1h"),
            ("RETRY_JITTER_PERCENT", "0"),
            // One at a time: the order Slack sees is the order they go.
            ("SUBSCRIBER_CONCURRENCY", "1"),
        ],
        clock.clone(),
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(recommend(&app, &format!("m{n}")).await);
    }
    eventually("the circuit to open", Duration::from_secs(5), || async {
        (app.actor("slack-recommendation").state == alvares::engine::ActorState::CircuitOpen)
            .then_some(())
    })
    .await;
    for n in 3..7 {
        let id = recommend(&app, &format!("m{n}")).await;
        held_by_the_circuit(&app, &id).await;
        ids.push(id);
    }
    assert_eq!(texts(&slack).await, ["m0", "m1", "m2"]);
    healthy.store(true, Ordering::SeqCst);
    // The cool-down ends: one probe, then everything, oldest first.
    clock.advance(Duration::from_secs(4));
    wait_for_slack(&app, &slack, 10).await;
    assert_eq!(
        texts(&slack).await,
        ["m0", "m1", "m2", "m0", "m1", "m2", "m3", "m4", "m5", "m6"]
    );
    for (n, id) in ids.iter().enumerate() {
        let view = app.finished_event(id).await;
        assert_eq!(view["deliveries"][0]["state"], "delivered", "{view}");
        assert_eq!(view["deliveries"][0]["attempts"], if n < 3 { 2 } else { 1 });
    }
    let report = app.actor("slack-recommendation");
    assert_eq!(
        report.circuit.unwrap().state,
        alvares::engine::circuit::CircuitState::Closed
    );
}

/// A Slack webhook the test answers by hand: each request comes to the
/// test with its text, and is answered with the status the test sends
/// back, when it sends it.
struct HandSlack {
    url: String,
    requests: tokio::sync::mpsc::UnboundedReceiver<(String, tokio::sync::oneshot::Sender<u16>)>,
}

impl HandSlack {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (to_test, requests) = tokio::sync::mpsc::unbounded_channel();
        actix_web::rt::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let to_test = to_test.clone();
                actix_web::rt::spawn(async move {
                    let mut pending = Vec::new();
                    while let Some(body) = next_request(&mut socket, &mut pending).await {
                        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let text = body["text"].as_str().unwrap_or_default().to_owned();
                        let (answer, status) = tokio::sync::oneshot::channel();
                        if to_test.send((text, answer)).is_err() {
                            return;
                        }
                        let Ok(status) = status.await else {
                            return;
                        };
                        let answer = format!(
                            "HTTP/1.1 {status} {}\r\nContent-Length: 2\r\n\r\nok",
                            if status == 200 { "OK" } else { "Failed" }
                        );
                        if socket.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        HandSlack { url, requests }
    }

    /// The next request Slack got: its text, and where to answer it.
    async fn next(&mut self) -> (String, tokio::sync::oneshot::Sender<u16>) {
        tokio::time::timeout(Duration::from_secs(5), self.requests.recv())
            .await
            .expect("a request within 5 s")
            .expect("the mock runs")
    }

    /// Answers the next request, which must be `text`, with `status`.
    async fn answer(&mut self, text: &str, status: u16) {
        let (got, answer) = self.next().await;
        assert_eq!(got, text);
        answer.send(status).unwrap();
    }
}

/// Slack hangs on one message while others fail and open the circuit, and
/// the deliveries queued behind them are held; then the hanging message is
/// answered. That answer closes the circuit, and the held deliveries go out
/// at once, not when the open circuit's cool-down would have ended (the
/// clock never moves).
#[actix_web::test]
async fn a_late_answer_that_closes_the_circuit_lets_the_held_deliveries_go_at_once() {
    let mut slack = HandSlack::start().await;
    let clock = ManualClock::new();
    let app = spawn_app_clocked(
        &[
            ("SLACK_WEB_HOOK", &slack.url),
            ("CIRCUIT_FAILURES", "2"),
            ("CIRCUIT_COOLDOWN_SECONDS", "60"),
            ("RETRY_JITTER_PERCENT", "0"),
            ("SUBSCRIBER_CONCURRENCY", "2"),
        ],
        clock.clone(),
    )
    .await;
    let slow = recommend(&app, "slow").await;
    let (_, hanging) = slack.next().await;
    // Queued behind the second slot while the circuit is closed.
    let mut ids = Vec::new();
    for text in ["f0", "f1", "m0", "m1", "m2"] {
        ids.push(recommend(&app, text).await);
    }
    slack.answer("f0", 500).await;
    slack.answer("f1", 500).await;
    for id in &ids[2..] {
        held_by_the_circuit(&app, id).await;
    }
    assert_eq!(
        app.actor("slack-recommendation").state,
        alvares::engine::ActorState::CircuitOpen
    );
    hanging.send(200).unwrap();
    let mut after = Vec::new();
    for _ in 0..5 {
        let (text, answer) = slack.next().await;
        answer.send(200).unwrap();
        after.push(text);
    }
    after.sort();
    assert_eq!(after, ["f0", "f1", "m0", "m1", "m2"]);
    for id in ids.iter().chain([&slow]) {
        let view = app.finished_event(id).await;
        assert_eq!(view["deliveries"][0]["state"], "delivered", "{view}");
    }
}

/// Waits until the sweeper has swept `rounds` more times: whatever was due
/// had its chance to be claimed.
pub async fn sweeps_go_by(app: &TestApp, rounds: u64) {
    let from = app.actor("sweeper").rounds;
    eventually("sweeps to go by", Duration::from_secs(5), || async {
        (app.actor("sweeper").rounds >= from + rounds).then_some(())
    })
    .await;
}

#[actix_web::test]
async fn a_hanging_destination_does_not_delay_the_store() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&slack)
        .await;
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("SUBSCRIBER_TIMEOUT_SECONDS", "30"),
    ])
    .await;
    for n in 0..10 {
        let mut body = fixture("deployment.json");
        body["applicationName"] = json!(format!("app-{n}"));
        let started = Instant::now();
        let (_, answer) = app.put_event("deployment", &body).await;
        let id = answer["id"].as_str().unwrap().to_owned();
        // Stored within the normal latency while Slack hangs.
        eventually(
            "the deployment to be stored",
            Duration::from_secs(2),
            || async {
                let (status, _) = app.get(&format!("/api/v1/deployments/{id}")).await;
                (status == 200).then_some(())
            },
        )
        .await;
        // Well within the 30 s Slack hangs for (2 s leaves room for a busy CI).
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    // The row is visible a moment before its delivery is counted.
    eventually("ten deliveries counted", Duration::from_secs(2), || async {
        (app.actor("database").delivered == 10).then_some(())
    })
    .await;
    assert_eq!(app.actor("database").delivered, 10);
    assert_eq!(app.actor("slack-deployment").in_flight, 10);
}

/// Four Slack subscribers post to one channel at once: together they keep
/// the channel's pace (`slack-channel` in `RATE_LIMITS`), and a 429 from
/// Slack pauses the channel for all of them.
#[actix_web::test]
async fn subscribers_posting_to_one_channel_share_its_pace_and_its_pauses() {
    let (slack, arrivals) = recording_slack(|n| {
        if n == 1 {
            ResponseTemplate::new(429).insert_header("Retry-After", "2")
        } else {
            ok()
        }
    })
    .await;
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("RATE_LIMITS", "slack=none,slack-channel=4/s:burst=2"),
    ])
    .await;
    for n in 0..4 {
        for (kind, body) in [
            (
                "deployment",
                json!({"applicationName": format!("d{n}"), "cluster": "active", "slackChannels": "#shared"}),
            ),
            (
                "error",
                json!({"message": format!("e{n}"), "slackChannels": "#shared"}),
            ),
            (
                "recommendation",
                json!({"message": format!("r{n}"), "slackChannels": "#shared"}),
            ),
        ] {
            assert_eq!(app.put_event(kind, &body).await.0, 202);
        }
    }
    // 4 deployments × 2 subscribers, 4 errors, 4 recommendations; the first
    // message is answered 429 and sent again.
    let received = wait_for_slack(&app, &slack, 17).await;
    let senders: BTreeSet<&str> = received
        .iter()
        .map(|m| m["username"].as_str().unwrap())
        .collect();
    assert_eq!(
        senders,
        ["Alvares", "Alvares Error", "Cluster Deployment"].into()
    );
    let arrivals = arrivals.lock().unwrap().clone();
    // During the pause the 429 asked for, nobody posted to the channel but
    // the one message already on its way with it (the burst is two).
    let paused_until = arrivals[0] + Duration::from_millis(1980);
    let during: Vec<Duration> = arrivals[1..]
        .iter()
        .filter(|at| **at < paused_until)
        .map(|at| *at - arrivals[0])
        .collect();
    assert!(during.len() <= 1, "messages during the pause: {during:?}");
    // After the pause: never more than the burst plus the rate in any
    // second, whichever subscriber sent them.
    for (index, start) in arrivals.iter().enumerate().skip(1) {
        let in_window = arrivals[index..]
            .iter()
            .filter(|at| **at < *start + Duration::from_secs(1))
            .count();
        assert!(
            in_window <= 6,
            "{in_window} messages within one second from message {index}"
        );
    }
}
