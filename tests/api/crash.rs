//! The crash test: the real binary takes a steady stream of deployments,
//! is killed with SIGKILL mid-stream, and is started again on the same
//! database. Every event that was answered 202 must reach Slack at least
//! once; the duplicates are counted and reported.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestDatabase, eventually, free_port, hook, mock_slack, slack_bodies};
use crate::on_both_backends;

on_both_backends!(every_accepted_event_survives_a_kill);

const BINARY: &str = env!("CARGO_BIN_EXE_alvares");
const SENDERS: usize = 8;

fn start(env: &[(String, String)], log: &std::path::Path) -> Child {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(BINARY)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the binary starts")
}

async fn wait_until_ready(client: &awc::Client, base: &str) {
    eventually("the service to answer", Duration::from_secs(20), || async {
        let response = client.get(format!("{base}/healthz")).send().await.ok()?;
        (response.status().as_u16() == 200).then_some(())
    })
    .await;
}

/// The application names in the Slack messages received so far.
async fn delivered_names(slack: &wiremock::MockServer) -> Vec<String> {
    slack_bodies(slack)
        .await
        .iter()
        .filter_map(|body| {
            let text = body["text"].as_str()?;
            let name = text.strip_prefix('*')?.split('*').next()?;
            Some(name.to_owned())
        })
        .collect()
}

async fn every_accepted_event_survives_a_kill(database: Arc<TestDatabase>) {
    let slack = mock_slack().await;
    let folder = tempfile::tempdir().unwrap();
    let log = folder.path().join("alvares.log");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env: Vec<(String, String)> = [
        ("PORT", port.to_string()),
        ("DB_URL", database.url()),
        ("DB_POOL_SIZE", "3".to_owned()),
        ("SLACK_WEB_HOOK", hook(&slack)),
        ("DISABLED_SUBSCRIBERS", "application-endpoint".to_owned()),
        ("LEASE_SECONDS", "3".to_owned()),
        ("RATE_LIMITS", "slack=none".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();

    let mut first = start(&env, &log);
    wait_until_ready(&client, &base).await;

    // A steady stream from several senders, each name used once.
    let accepted: Rc<RefCell<Vec<String>>> = Rc::default();
    let stop = Rc::new(Cell::new(false));
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let (client, base, accepted, stop) =
            (client.clone(), base.clone(), accepted.clone(), stop.clone());
        senders.push(actix_web::rt::spawn(async move {
            for n in 0.. {
                if stop.get() {
                    break;
                }
                let name = format!("crash-{sender}-{n}");
                let body = json!({"applicationName": name, "cluster": "active", "slackChannels": "#crash"});
                match client.put(format!("{base}/api/v1/deployment")).send_json(&body).await {
                    Ok(response) if response.status().as_u16() == 202 => {
                        accepted.borrow_mut().push(name);
                    }
                    Ok(_) => {}
                    // The process is gone: wait for it to come back.
                    Err(_) => actix_web::rt::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }));
    }
    eventually(
        "a few hundred accepted events",
        Duration::from_secs(20),
        || async { (accepted.borrow().len() >= 300).then_some(()) },
    )
    .await;
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    let accepted_at_kill = accepted.borrow().len();

    // Start again on the same database while the senders keep going.
    let mut second = start(&env, &log);
    wait_until_ready(&client, &base).await;
    eventually(
        "events accepted after the restart",
        Duration::from_secs(20),
        || async { (accepted.borrow().len() >= accepted_at_kill + 50).then_some(()) },
    )
    .await;
    stop.set(true);
    for sender in senders {
        sender.await.unwrap();
    }
    let accepted: BTreeSet<String> = accepted.borrow().iter().cloned().collect();
    assert!(
        accepted.len() > accepted_at_kill,
        "the restarted service took events too"
    );

    let started = Instant::now();
    let names = eventually(
        "every accepted event to reach Slack",
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
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    let backend = if database.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    eprintln!(
        "crash test on {backend}: {} events accepted ({accepted_at_kill} before the kill), \
         {} Slack messages, {duplicates} duplicates, all delivered {:.1}s after the restart settled",
        accepted.len(),
        names.len(),
        started.elapsed().as_secs_f64()
    );
    // Duplicates can only come from deliveries in flight at the kill.
    assert!(duplicates <= 256, "{duplicates} duplicates");

    // The history holds every accepted deployment, each once.
    eventually(
        "every accepted deployment to be stored",
        Duration::from_secs(30),
        || async {
            let stored = stored_names(&client, &base).await;
            accepted
                .iter()
                .all(|name| stored.contains(name))
                .then_some(())
        },
    )
    .await;
    second.kill().unwrap();
    second.wait().unwrap();
}

/// Every application name in the deployment history, paging through it;
/// fails the test if one is stored twice.
async fn stored_names(client: &awc::Client, base: &str) -> BTreeSet<String> {
    let mut stored = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}/api/v1/deployments?limit=500&cursor={c}"),
            None => format!("{base}/api/v1/deployments?limit=500"),
        };
        let mut response = client.get(url).send().await.unwrap();
        let page: Value = response.json().limit(64 << 20).await.unwrap();
        for item in page["deployments"].as_array().unwrap() {
            let name = item["deployment"]["applicationName"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(stored.insert(name.clone()), "{name} was stored twice");
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return stored,
        }
    }
}
