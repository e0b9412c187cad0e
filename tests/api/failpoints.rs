//! Named fail points in the real binary (compiled in only for tests, set
//! with `FAILPOINTS`): the process crashes at a chosen point and starts
//! again on the same database, or a core actor panics once and its
//! supervisor restarts it. Every accepted event is delivered in the end;
//! duplicates appear only where the README says they can (a message sent
//! just before a crash, whose outcome was not yet recorded), and are
//! counted and reported.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use alvares::config::Settings;
use alvares::store::Store;
use alvares::store::models::deliveries::{self, DeliveryState};
use serde_json::{Value, json};

use crate::helpers::{TestDatabase, eventually, free_port, hook, mock_slack, slack_bodies};
use crate::on_both_backends;

const BINARY: &str = env!("CARGO_BIN_EXE_alvares");
const SENDERS: usize = 4;

/// The real binary, its address and its log.
pub struct Service {
    child: Child,
    pub base: String,
    pub log: PathBuf,
    /// Where it runs (so nothing it might leave lands in the repository).
    _folder: tempfile::TempDir,
}

impl Service {
    pub fn start(env: &[(&str, String)], log: &Path) -> Service {
        let folder = tempfile::tempdir().unwrap();
        let port = env
            .iter()
            .find(|(k, _)| *k == "PORT")
            .map(|(_, v)| v.clone())
            .expect("a PORT");
        let stderr = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(BINARY)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(folder.path())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("the binary starts");
        Service {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log: log.to_owned(),
            _folder: folder,
        }
    }

    pub async fn ready(&self, client: &awc::Client) {
        eventually("the service to answer", Duration::from_secs(20), || async {
            let response = client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .ok()?;
            (response.status().as_u16() == 200).then_some(())
        })
        .await;
    }

    /// Waits for the process to end by itself.
    pub async fn ended(&mut self) -> ExitStatus {
        let child = std::cell::RefCell::new(&mut self.child);
        eventually("the process to end", Duration::from_secs(30), || async {
            child.borrow_mut().try_wait().ok().flatten()
        })
        .await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn environment(
    database: &TestDatabase,
    slack: &wiremock::MockServer,
) -> Vec<(&'static str, String)> {
    vec![
        ("PORT", free_port().to_string()),
        ("DB_URL", database.url()),
        ("DB_POOL_SIZE", "3".into()),
        ("SLACK_WEB_HOOK", hook(slack)),
        ("DISABLED_SUBSCRIBERS", "application-endpoint".into()),
        ("LEASE_SECONDS", "3".into()),
        ("RATE_LIMITS", "slack=none".into()),
        ("ADMIN_TOKEN", "fail-admin".into()),
        ("RUST_LOG", "warn".into()),
    ]
}

/// The application names in the Slack messages received so far.
async fn delivered_names(slack: &wiremock::MockServer) -> Vec<String> {
    slack_bodies(slack)
        .await
        .iter()
        .filter_map(|body| {
            let text = body["text"].as_str()?;
            Some(text.strip_prefix('*')?.split('*').next()?.to_owned())
        })
        .collect()
}

/// An accepted event: its application name, and its id when the answer's
/// body arrived.
type Accepted = (String, Option<String>);

/// The events accepted so far, the switch that stops the senders, and the
/// senders.
type Stream = (
    Rc<RefCell<Vec<Accepted>>>,
    Rc<Cell<bool>>,
    Vec<actix_web::rt::task::JoinHandle<()>>,
);

/// Sends deployments from a few senders until `stop` is set; answers the
/// events that were accepted (202).
fn send_stream(client: &awc::Client, base: &str, label: &str) -> Stream {
    let accepted: Rc<RefCell<Vec<Accepted>>> = Rc::default();
    let stop = Rc::new(Cell::new(false));
    let senders = (0..SENDERS)
        .map(|sender| {
            let (client, base, accepted, stop) =
                (client.clone(), base.to_owned(), accepted.clone(), stop.clone());
            let label = label.to_owned();
            actix_web::rt::spawn(async move {
                for n in 0.. {
                    if stop.get() {
                        break;
                    }
                    let name = format!("{label}-{sender}-{n}");
                    let body = json!({"applicationName": name, "cluster": "active", "slackChannels": "#fail"});
                    match client
                        .put(format!("{base}/api/v1/deployment"))
                        .send_json(&body)
                        .await
                    {
                        Ok(mut response) if response.status().as_u16() == 202 => {
                            // Accepted even if the crash cut the body off.
                            let answer: Value = response.json().await.unwrap_or_default();
                            let id = answer["id"].as_str().map(str::to_owned);
                            accepted.borrow_mut().push((name, id));
                        }
                        Ok(_) => {}
                        // The process is gone (or restarting): back off a
                        // little before the next name.
                        Err(_) => actix_web::rt::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            })
        })
        .collect();
    (accepted, stop, senders)
}

/// Crashes the binary at `point` (`FAILPOINTS=<spec>`), starts it again on
/// the same database, and checks that every accepted event reached Slack and
/// that a message was sent again only if it had been sent before the crash
/// and its outcome was not yet committed. Answers the number of duplicates.
async fn crash_and_recover(
    database: &TestDatabase,
    point: &str,
    spec: &str,
    extra: &[(&'static str, &str)],
) -> usize {
    let slack = mock_slack().await;
    let folder = tempfile::tempdir().unwrap();
    let log = folder.path().join("alvares.log");
    let mut env = environment(database, &slack);
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();

    let mut crashing = Service::start(
        &[env.clone(), vec![("FAILPOINTS", format!("{point}={spec}"))]].concat(),
        &log,
    );
    crashing.ready(&client).await;
    let (accepted, stop, senders) = send_stream(&client, &crashing.base, point);
    let status = crashing.ended().await;
    assert!(
        !status.success(),
        "{point}: the process crashed ({status:?})"
    );
    let accepted_at_crash = accepted.borrow().len();
    // What the crash left: the messages Slack had received, and the
    // deliveries whose outcome (delivered) the journal had committed.
    let sent_before_crash: HashSet<String> = delivered_names(&slack).await.into_iter().collect();
    let committed = committed_slack_deliveries(database, &accepted.borrow());

    let again = Service::start(&env, &log);
    again.ready(&client).await;
    // The senders go on against the new process for a little while.
    eventually(
        "events accepted after the restart",
        Duration::from_secs(20),
        || async { (accepted.borrow().len() >= accepted_at_crash + 20).then_some(()) },
    )
    .await;
    stop.set(true);
    for sender in senders {
        sender.await.unwrap();
    }
    let accepted: BTreeSet<String> = accepted.borrow().iter().map(|(n, _)| n.clone()).collect();
    let names = eventually(
        &format!("{point}: every accepted event to reach Slack"),
        Duration::from_secs(60),
        || async {
            let names = delivered_names(&slack).await;
            let seen: BTreeSet<&String> = names.iter().collect();
            accepted
                .iter()
                .all(|name| seen.contains(name))
                .then_some(names)
        },
    )
    .await;
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for name in &names {
        *counts.entry(name).or_default() += 1;
    }
    // Only a message sent before the crash whose outcome was not committed
    // is sent again, and only once: never one the journal recorded as
    // delivered, never one first sent after the restart.
    for (name, count) in &counts {
        if *count > 1 {
            assert_eq!(*count, 2, "{point}: {name} sent {count} times");
            assert!(
                sent_before_crash.contains(*name),
                "{point}: {name} repeated without being sent before the crash"
            );
            assert!(
                !committed.contains(*name),
                "{point}: {name} repeated although its delivery was committed"
            );
        }
    }
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    let backend = if database.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    eprintln!(
        "fail point {point} on {backend}: {} accepted ({accepted_at_crash} before the crash), \
         {} Slack messages, {duplicates} duplicates, {} deliveries committed at the crash",
        accepted.len(),
        names.len(),
        committed.len()
    );
    duplicates
}

/// The application names whose Slack deployment message the journal had
/// recorded as delivered, read straight from the database.
fn committed_slack_deliveries(database: &TestDatabase, accepted: &[Accepted]) -> HashSet<String> {
    let settings = Settings::from_map([("DB_URL", database.url()), ("DB_POOL_SIZE", "2".into())])
        .expect("settings");
    let store = Store::open(&settings.store).expect("the store opens");
    let mut connection = store.pool.get().expect("a connection");
    let names: HashMap<&str, &str> = accepted
        .iter()
        .filter_map(|(name, id)| Some((id.as_deref()?, name.as_str())))
        .collect();
    let ids: Vec<String> = names.keys().map(|id| (*id).to_owned()).collect();
    deliveries::for_events(&mut connection, &ids)
        .expect("the deliveries")
        .into_iter()
        .filter(|row| row.subscriber == "slack-deployment" && row.state == DeliveryState::Delivered)
        .map(|row| names[row.event_id.as_str()].to_owned())
        .collect()
}

on_both_backends!(
    a_crash_after_a_send_before_its_outcome_repeats_only_that_message,
    a_crash_in_the_middle_of_a_batch_loses_no_accepted_event,
    a_crash_between_a_claim_and_its_hand_over_loses_nothing,
);

/// After a Slack message is sent and before its outcome is committed: the
/// message is sent again after the restart (at-least-once); nothing else
/// repeats beyond what was in flight.
async fn a_crash_after_a_send_before_its_outcome_repeats_only_that_message(
    database: Arc<TestDatabase>,
) {
    let duplicates = crash_and_recover(
        &database,
        "delivery-after-send",
        "30*off->return",
        &[("DISABLED_SUBSCRIBERS", "application-endpoint,database")],
    )
    .await;
    assert!(
        duplicates >= 1,
        "the message sent before the crash is sent again"
    );
}

/// In the middle of a batch (events inserted, not committed): those
/// requests were never answered 202, and nothing accepted is lost.
async fn a_crash_in_the_middle_of_a_batch_loses_no_accepted_event(database: Arc<TestDatabase>) {
    crash_and_recover(&database, "journal-mid-batch", "40*off->return", &[]).await;
}

/// Between a sweeper's claim and its hand-over to the subscriber: the
/// claimed deliveries are taken up again after the restart.
async fn a_crash_between_a_claim_and_its_hand_over_loses_nothing(database: Arc<TestDatabase>) {
    // Two slots: most deliveries wait in the journal for the sweeper.
    crash_and_recover(
        &database,
        "sweeper-after-claim",
        "3*off->return",
        &[("SUBSCRIBER_QUEUE_CAPACITY", "2")],
    )
    .await;
}

/// Each core actor panics once (its fail point set to `1*panic`): its
/// supervisor restarts it, the restart is counted with its cause, intake
/// and deliveries go on, and the process keeps running.
#[actix_web::test]
async fn each_core_actor_that_panics_is_restarted_and_work_goes_on() {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    for (actor, point) in [
        ("intake", "intake-handle"),
        ("enricher", "enricher-handle"),
        ("registry", "registry-handle"),
        ("sweeper", "sweeper-sweep"),
        ("coordinator", "coordinator-round"),
    ] {
        let database = TestDatabase::sqlite();
        let slack = mock_slack().await;
        let folder = tempfile::tempdir().unwrap();
        let log = folder.path().join("alvares.log");
        let mut env = environment(&database, &slack);
        env.push(("FAILPOINTS", format!("{point}=1*panic")));
        let service = Service::start(&env, &log);
        eventually("the service to answer", Duration::from_secs(20), || async {
            let response = client
                .get(format!("{}/healthz", service.base))
                .send()
                .await
                .ok()?;
            (response.status().as_u16() == 200).then_some(())
        })
        .await;
        let mut accepted = Vec::new();
        for n in 0..10 {
            let name = format!("{actor}-{n}");
            let body =
                json!({"applicationName": name, "cluster": "active", "slackChannels": "#core"});
            let response = client
                .put(format!("{}/api/v1/deployment", service.base))
                .send_json(&body)
                .await
                .unwrap();
            match response.status().as_u16() {
                202 => accepted.push(name),
                // The one request whose handler panicked.
                503 if ["intake", "enricher"].contains(&actor) => {}
                other => panic!("{actor}: {name} answered {other}"),
            }
        }
        assert!(accepted.len() >= 9, "{actor}: {accepted:?}");
        eventually(
            &format!("{actor}: every accepted event delivered"),
            Duration::from_secs(20),
            || async {
                let names: BTreeSet<String> = delivered_names(&slack).await.into_iter().collect();
                accepted.iter().all(|n| names.contains(n)).then_some(())
            },
        )
        .await;
        let report = eventually(
            &format!("{actor}: the restart to be counted"),
            Duration::from_secs(10),
            || async {
                let mut response = client
                    .get(format!("{}/admin/actors/{actor}", service.base))
                    .insert_header(("Authorization", "Bearer fail-admin"))
                    .send()
                    .await
                    .ok()?;
                let report: Value = response.json().await.ok()?;
                (report["restarts"] == 1).then_some(report)
            },
        )
        .await;
        assert_eq!(
            report["lastRestartCause"]
                .as_str()
                .unwrap()
                .split(':')
                .next()
                .unwrap(),
            "panicked",
            "{actor}: {report}"
        );
        assert_eq!(report["state"], "running", "{actor}");
        let (status, ready) = {
            let mut response = client
                .get(format!("{}/readyz", service.base))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        };
        assert_eq!(
            (status, ready),
            (200, json!({"status": "ready"})),
            "{actor}"
        );
        let log = service.log_text();
        assert!(
            log.contains(&format!("{actor}: panicked")),
            "{actor}: the log says why:\n{log}"
        );
    }
}

/// Every exit leaves a line saying why: a stop signal (and a clean stop),
/// and a configuration that cannot start.
#[actix_web::test]
async fn every_exit_says_why() {
    let client = awc::Client::default();
    let database = TestDatabase::sqlite();
    let slack = mock_slack().await;
    let folder = tempfile::tempdir().unwrap();
    let log = folder.path().join("alvares.log");
    let mut env = environment(&database, &slack);
    env.retain(|(k, _)| *k != "RUST_LOG");
    let mut service = Service::start(&env, &log);
    service.ready(&client).await;
    let status = Command::new("kill")
        .args(["-TERM", &service.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = service.ended().await;
    assert!(exit.success(), "{exit:?}");
    let text = service.log_text();
    for line in [
        "SIGTERM received",
        "alvares: stopped taking requests",
        "alvares: stopped cleanly (exit status 0)",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }

    let output = Command::new(BINARY)
        .env_clear()
        .env("PORT", "not-a-port")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "alvares: configuration error: PORT has an invalid value: expected a port number (1-65535)"
    );
}
