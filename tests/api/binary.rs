//! The real binary as a child process, for the tests that crash, kill or
//! signal it: starting it, a stream of deployments from a few senders, and
//! the check that follows a restart (every accepted event delivered, and a
//! message repeated only if the journal had not committed its outcome).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use alvares::config::Settings;
use alvares::store::Store;
use alvares::store::models::deliveries::{self, DeliveryState};
use serde_json::{Value, json};

use crate::helpers::{TestDatabase, eventually, free_port, hook, slack_bodies};

const BINARY: &str = env!("CARGO_BIN_EXE_alvares");

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

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Sends SIGHUP (reload the operator file).
    pub fn sighup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
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

/// The settings the crash tests share: Slack unpaced, short leases.
pub fn environment(
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
        // The tests poll the read routes; the budget has a test of its own.
        ("HEAVY_READS_PER_SECOND", "1000000".into()),
    ]
}

/// The application names in the Slack messages received so far.
pub async fn delivered_names(slack: &wiremock::MockServer) -> Vec<String> {
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
pub type Accepted = (String, Option<String>);

/// A stream of deployments: what was accepted so far, the switch that stops
/// the senders, and the senders.
pub struct Stream {
    pub accepted: Rc<RefCell<Vec<Accepted>>>,
    stop: Rc<Cell<bool>>,
    senders: Vec<actix_web::rt::task::JoinHandle<()>>,
}

impl Stream {
    /// Sends deployments named `<label>-<sender>-<n>` to `base` from
    /// `senders` senders, one after the other each, until stopped.
    pub fn start(client: &awc::Client, base: &str, label: &str, senders: usize) -> Stream {
        let accepted: Rc<RefCell<Vec<Accepted>>> = Rc::default();
        let stop = Rc::new(Cell::new(false));
        let senders = (0..senders)
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
                            Err(_) => {
                                actix_web::rt::time::sleep(Duration::from_millis(20)).await
                            }
                        }
                    }
                })
            })
            .collect();
        Stream {
            accepted,
            stop,
            senders,
        }
    }

    pub fn count(&self) -> usize {
        self.accepted.borrow().len()
    }

    /// Stops the senders; answers the names accepted.
    async fn finish(self) -> BTreeSet<String> {
        self.stop.set(true);
        for sender in self.senders {
            sender.await.unwrap();
        }
        self.accepted
            .borrow()
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// What a restart after a crash came to.
pub struct Recovery {
    /// The process started again, still running.
    pub again: Service,
    pub accepted: BTreeSet<String>,
    pub accepted_at_crash: usize,
    /// Every Slack message's application name, duplicates included.
    pub names: Vec<String>,
    pub duplicates: usize,
    /// Slack deliveries the journal had committed when the process died.
    pub committed_at_crash: usize,
    /// From the restart being ready to every accepted event in Slack.
    pub delivered_after: Duration,
}

/// After the first process died mid-`stream`: starts the binary again on
/// the same database while the senders go on (`more` events), then checks
/// that every accepted event reached Slack, and that a message was sent
/// again only if it had been sent before the crash and its outcome was not
/// yet committed (read from the database at the crash), and then only
/// once.
pub async fn restart_and_check(
    database: &TestDatabase,
    slack: &wiremock::MockServer,
    client: &awc::Client,
    (env, log): (&[(&str, String)], &Path),
    stream: Stream,
    more: usize,
) -> Recovery {
    let accepted_at_crash = stream.count();
    let sent_before_crash: HashSet<String> = delivered_names(slack).await.into_iter().collect();
    let committed = committed_slack_deliveries(database, &stream.accepted.borrow());

    let again = Service::start(env, log);
    again.ready(client).await;
    let restarted = Instant::now();
    eventually(
        "events accepted after the restart",
        Duration::from_secs(20),
        || async { (stream.count() >= accepted_at_crash + more).then_some(()) },
    )
    .await;
    let accepted = stream.finish().await;
    let names = eventually(
        "every accepted event to reach Slack",
        Duration::from_secs(60),
        || async {
            let names = delivered_names(slack).await;
            let seen: BTreeSet<&String> = names.iter().collect();
            accepted
                .iter()
                .all(|name| seen.contains(name))
                .then_some(names)
        },
    )
    .await;
    let delivered_after = restarted.elapsed();
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for name in &names {
        *counts.entry(name).or_default() += 1;
    }
    for (name, count) in &counts {
        if *count > 1 {
            assert_eq!(*count, 2, "{name} sent {count} times");
            assert!(
                sent_before_crash.contains(*name),
                "{name} repeated without being sent before the crash"
            );
            assert!(
                !committed.contains(*name),
                "{name} repeated although its delivery was committed"
            );
        }
    }
    let duplicates = counts.values().map(|n| n - 1).sum();
    Recovery {
        again,
        accepted,
        accepted_at_crash,
        names,
        duplicates,
        committed_at_crash: committed.len(),
        delivered_after,
    }
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
