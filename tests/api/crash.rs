//! The crash test: the real binary takes a steady stream of deployments,
//! is killed with SIGKILL mid-stream, and is started again on the same
//! database. Every event that was answered 202 must reach Slack at least
//! once, a message is repeated only if its outcome was not committed, and
//! the history holds each accepted deployment once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::binary::{Service, Stream, environment, restart_and_check};
use crate::helpers::{TestDatabase, eventually, mock_slack};
use crate::on_both_backends;

on_both_backends!(every_accepted_event_survives_a_kill);

const SENDERS: usize = 8;

async fn every_accepted_event_survives_a_kill(database: Arc<TestDatabase>) {
    let slack = mock_slack().await;
    let folder = tempfile::tempdir().unwrap();
    let log = folder.path().join("alvares.log");
    let env = environment(&database, &slack);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();

    let mut first = Service::start(&env, &log);
    first.ready(&client).await;
    // A steady stream from several senders, each name used once.
    let stream = Stream::start(&client, &first.base, "crash", SENDERS);
    eventually(
        "a few hundred accepted events",
        Duration::from_secs(20),
        || async { (stream.count() >= 300).then_some(()) },
    )
    .await;
    first.kill();

    // Start again on the same database while the senders keep going.
    let recovery = restart_and_check(&database, &slack, &client, (&env, &log), stream, 50).await;
    let backend = if database.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    eprintln!(
        "crash test on {backend}: {} events accepted ({} before the kill), {} Slack messages, \
         {} duplicates, {} deliveries committed at the kill, all delivered {:.1}s after the restart",
        recovery.accepted.len(),
        recovery.accepted_at_crash,
        recovery.names.len(),
        recovery.duplicates,
        recovery.committed_at_crash,
        recovery.delivered_after.as_secs_f64()
    );

    // The history holds every accepted deployment, each once.
    let base = &recovery.again.base;
    eventually(
        "every accepted deployment to be stored",
        Duration::from_secs(30),
        || async {
            let stored = stored_names(&client, base).await;
            recovery
                .accepted
                .iter()
                .all(|name| stored.contains(name))
                .then_some(())
        },
    )
    .await;
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
