//! The conformance test every integration passes, run over the tests'
//! integration list (`helpers::integrations`: the service's, webhooks
//! included, and a test-only one), each configured by its own conformance
//! data, so a new integration is covered with no edit here. It checks:
//! - it takes exactly the event kinds it declares, and skips them all when
//!   unconfigured;
//! - through the shared HTTP layer, over every kind it takes, a 5xx is
//!   retried, a 4xx fails and a redirect fails;
//! - no configured secret reaches an error, the event view, health,
//!   metrics or the log, even when the destination echoes it back;
//! - a panic inside it restarts its actor alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use alvares::config::{Env, OperatorConfig};
use alvares::engine::{Conformance, ConformanceBench, Integration, Registration};
use alvares::subscribers::builtins;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    CORE_ACTORS, FIXTURES, TestApp, conformance_of, eventually, integrations, spawn_app_with,
};
use crate::log_watch::LogWatch;

/// Every kind there is, each with a body every integration can act on.
fn events(extra: &serde_json::Map<String, Value>) -> Vec<(&'static str, Value)> {
    let mut events = vec![
        (
            "deployment",
            json!({
                "applicationName": "conform", "cluster": "active", "version": "1.0",
                "applicationPath": "/conform", "slackChannels": "#conform"
            }),
        ),
        (
            "error",
            // Naming its application and cluster: the database stores it
            // in the failure history.
            json!({"message": "failed", "slackChannels": "#conform",
                   "applicationName": "conform", "cluster": "active"}),
        ),
        (
            "recommendation",
            json!({"message": "advice", "slackChannels": "#conform"}),
        ),
    ];
    for (_, body) in &mut events {
        body.as_object_mut().unwrap().extend(extra.clone());
    }
    events
}

/// The subscribers an event view names, with their deliveries.
fn deliveries_in(view: &Value) -> BTreeMap<String, Value> {
    view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["subscriber"].as_str().unwrap().to_owned(), d.clone()))
        .collect()
}

/// One integration set up for a run against `mock`: its conformance data
/// (with its files written) and the subscribers it makes.
struct Case {
    conformance: Conformance,
    subscribers: Vec<Registration>,
    vars: Vec<(String, String)>,
    _scratch: tempfile::TempDir,
}

impl Case {
    fn new(integration: &Integration, base: &str) -> Self {
        let scratch = tempfile::tempdir().unwrap();
        let conformance = integration.conformance(&ConformanceBench {
            base,
            scratch: scratch.path(),
            fixtures: Path::new(FIXTURES),
        });
        for (path, content) in &conformance.files {
            std::fs::write(path, content).unwrap();
        }
        let mut vars = conformance.variables.clone();
        let operator = match &conformance.operator_file {
            Some(text) => {
                let file = scratch.path().join("alvares.toml");
                std::fs::write(&file, text).unwrap();
                vars.push(("ALVARES_CONFIG".into(), file.display().to_string()));
                let env = Env::from_map(vars.iter().cloned().collect());
                OperatorConfig::parse(text, &env).expect("the conformance operator file is valid")
            }
            None => OperatorConfig::default(),
        };
        let subscribers = integration.registrations(&operator);
        assert!(
            !subscribers.is_empty(),
            "{} makes a subscriber",
            integration.id()
        );
        // Every other built-in subscriber off, but for what runs
        // unconfigured (the history), which works beside it.
        let others: Vec<&str> = builtins(&integrations())
            .iter()
            .filter(|r| !conformance_of(r).runs_unconfigured)
            .map(|r| r.id)
            .filter(|id| !subscribers.iter().any(|s| s.id == *id))
            .collect();
        vars.push(("DISABLED_SUBSCRIBERS".into(), others.join(",")));
        vars.push(("RETRY_JITTER_PERCENT".into(), "0".into()));
        Case {
            conformance,
            subscribers,
            vars,
            _scratch: scratch,
        }
    }

    async fn spawn(&self) -> TestApp {
        let vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        spawn_app_with(&vars, builtins(&integrations())).await
    }

    fn takes(subscriber: &Registration, kind: &str) -> bool {
        subscriber.kinds.iter().any(|k| k.as_str() == kind)
    }
}

#[actix_web::test]
async fn every_integration_takes_its_kinds_and_skips_when_unconfigured() {
    // Nothing configured: only what runs unconfigured (the history) does.
    let subscribers = builtins(&integrations());
    let app = spawn_app_with(&[], subscribers.clone()).await;
    for (kind, body) in events(&serde_json::Map::new()) {
        let (status, answer) = app.put_event(kind, &body).await;
        assert_eq!(status, 202);
        let view = app.finished_event(answer["id"].as_str().unwrap()).await;
        let deliveries = deliveries_in(&view);
        let expected: BTreeSet<&str> = subscribers
            .iter()
            .filter(|r| Case::takes(r, kind))
            .map(|r| r.id)
            .collect();
        assert_eq!(
            deliveries
                .keys()
                .map(String::as_str)
                .collect::<BTreeSet<_>>(),
            expected,
            "{kind}"
        );
        for registration in subscribers.iter().filter(|r| Case::takes(r, kind)) {
            let delivery = &deliveries[registration.id];
            if conformance_of(registration).runs_unconfigured {
                assert_eq!(delivery["state"], "delivered", "{delivery}");
            } else {
                assert_eq!(delivery["state"], "skipped", "{delivery}");
                assert_eq!(delivery["outcome"], "not configured", "{delivery}");
            }
        }
    }
    for registration in &subscribers {
        let expected = if conformance_of(registration).runs_unconfigured {
            alvares::engine::ActorState::Running
        } else {
            alvares::engine::ActorState::Unconfigured
        };
        assert_eq!(
            app.actor(registration.id).state,
            expected,
            "{}",
            registration.id
        );
    }
}

/// A mock that answers every request with `status` and a body that
/// quotes every secret it could have been sent.
async fn echoing(status: u16, secrets: &[String]) -> MockServer {
    let mock = MockServer::start().await;
    let body = format!("refused: {}", secrets.join(" "));
    let mut answer = ResponseTemplate::new(status).set_body_string(body);
    if status == 301 {
        answer = answer.insert_header(
            "Location",
            format!("{}/moved/{}", mock.uri(), secrets.join("/")),
        );
    }
    Mock::given(any()).respond_with(answer).mount(&mock).await;
    mock
}

/// The delivery `subscriber` made of `event` once its first attempt is
/// over, with the whole event view.
async fn first_attempt(app: &TestApp, subscriber: &str, event: &str) -> (Value, Value) {
    eventually(
        &format!("{subscriber}'s first attempt"),
        Duration::from_secs(15),
        || async {
            let (_, view) = app.get(&format!("/api/v1/events/{event}")).await;
            let delivery = deliveries_in(&view).remove(subscriber)?;
            ["retrying", "failed", "delivered"]
                .contains(&delivery["state"].as_str()?)
                .then_some((delivery, view))
        },
    )
    .await
}

/// A mock's base URL before the mock exists: the conformance data is read
/// once for its secrets, then again with the real address.
const NO_MOCK_YET: &str = "http://127.0.0.1:9";

#[actix_web::test]
async fn every_integration_classifies_answers_alike_over_its_kinds_and_keeps_secrets_out() {
    for integration in integrations() {
        let secrets = Case::new(&integration, NO_MOCK_YET).conformance.secrets;
        if !Case::new(&integration, NO_MOCK_YET).conformance.calls_out {
            continue;
        }
        for (status, expected) in [(503, "retrying"), (400, "failed"), (301, "failed")] {
            let mock = echoing(status, &secrets).await;
            let case = Case::new(&integration, &mock.uri());
            let log = LogWatch::start(&case.conformance.secrets);
            let app = case.spawn().await;
            for (kind, body) in events(&case.conformance.event_fields) {
                let (code, answer) = app.put_event(kind, &body).await;
                assert_eq!(code, 202, "{kind}: {answer}");
                let event = answer["id"].as_str().unwrap();
                for subscriber in &case.subscribers {
                    let id = subscriber.id;
                    if !Case::takes(subscriber, kind) {
                        // Planned at intake: the view lists it at once.
                        let (_, view) = app.get(&format!("/api/v1/events/{event}")).await;
                        assert!(
                            !deliveries_in(&view).contains_key(id),
                            "{id} takes no {kind}: {view}"
                        );
                        continue;
                    }
                    let (delivery, view) = first_attempt(&app, id, event).await;
                    assert_eq!(
                        delivery["state"], expected,
                        "{id}, {kind}, on HTTP {status}: {delivery}"
                    );
                    let error = delivery["lastError"].as_str().unwrap_or_default();
                    assert!(
                        error.contains(&format!("HTTP {status}")),
                        "{id} names the status: {error}"
                    );
                    // Nothing the destination echoed, nor the request, leaks
                    // out: not in the event view, health or metrics.
                    let report = serde_json::to_string(&app.actor(id)).unwrap();
                    let metrics = app.metrics().await;
                    for text in [delivery.to_string(), view.to_string(), report, metrics] {
                        for secret in &case.conformance.secrets {
                            assert!(
                                !text.contains(secret.as_str()),
                                "{id} on HTTP {status} leaked {secret}: {text}"
                            );
                        }
                    }
                }
            }
            // Nor into the log, at DEBUG.
            assert_eq!(log.hits(), Vec::<String>::new(), "{}", integration.id());
            // Stopped before its mock goes: a retry of this case must not
            // reach the next case's mock on a reused port (and log that
            // mock's secrets, which this case's redactor never knew).
            app.stop().await;
            drop(mock);
        }
    }
}

#[actix_web::test]
async fn a_panic_in_any_integration_restarts_its_actor_alone() {
    let mock = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&mock)
        .await;
    for integration in integrations() {
        let case = Case::new(&integration, &mock.uri());
        let app = case.spawn().await;
        let subscriber = &case.subscribers[0];
        let id = subscriber.id;
        let (kind, mut body) = events(&case.conformance.event_fields)
            .into_iter()
            .find(|(kind, _)| Case::takes(subscriber, kind))
            .unwrap();
        // Its own marker: the fail point panics on this event only, in this
        // subscriber only (every subscriber evaluates it, so it is not
        // counted; it is removed once the panic is seen, before the retry
        // a second later).
        let marker = format!("panic-marker-{id}");
        body["slackChannels"] = json!(format!("#{marker}"));
        fail::cfg("delivery-panics", &format!("return({id}@{marker})")).unwrap();
        let (status, answer) = app.put_event(kind, &body).await;
        assert_eq!(status, 202);
        let report = eventually(
            &format!("{id} to restart"),
            Duration::from_secs(10),
            || async {
                let report = app.actor(id);
                (report.restarts >= 1).then_some(report)
            },
        )
        .await;
        fail::remove("delivery-panics");
        assert_eq!(report.restarts, 1, "{id}");
        assert_eq!(
            report.last_restart_cause.as_deref(),
            Some("panicked: told to panic by the delivery-panics fail point"),
            "{id}"
        );
        // Alone: no other actor restarted, and the history, when it takes
        // the kind, stored the same event.
        let builtin = builtins(&integrations());
        let others = CORE_ACTORS
            .iter()
            .copied()
            .chain(builtin.iter().map(|r| r.id))
            .filter(|other| *other != id);
        for other in others {
            assert_eq!(app.actor(other).restarts, 0, "{other} beside {id}");
        }
        let event = answer["id"].as_str().unwrap();
        if id != "database" && kind != "recommendation" {
            let (delivery, _) = first_attempt(&app, "database", event).await;
            assert_eq!(delivery["state"], "delivered", "{id}: {delivery}");
        }
        // Intake never noticed.
        let (status, _) = app.put_event(kind, &body).await;
        assert_eq!(status, 202, "{id}");
    }
}
