//! Named fail points in the real binary (compiled in only for tests, set
//! with `FAILPOINTS`): the process crashes at a chosen point and starts
//! again on the same database, or a core actor panics once and its
//! supervisor restarts it. Every accepted event is delivered in the end;
//! duplicates appear only where the README says they can (a message sent
//! just before a crash, whose outcome was not yet recorded), and are
//! counted and reported.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::binary::{Service, Stream, delivered_names, environment, restart_and_check};
use crate::helpers::{TestDatabase, eventually, mock_slack};
use crate::on_both_backends;

const BINARY: &str = env!("CARGO_BIN_EXE_alvares");
const SENDERS: usize = 4;

/// Crashes the binary at `point` (`FAILPOINTS=<spec>`), starts it again on
/// the same database, and checks what the restart delivered (see
/// `restart_and_check`). Answers the number of duplicates.
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
    let stream = Stream::start(&client, &crashing.base, point, SENDERS);
    let status = crashing.ended().await;
    assert!(
        !status.success(),
        "{point}: the process crashed ({status:?})"
    );
    let recovery = restart_and_check(database, &slack, &client, (&env, &log), stream, 20).await;
    let backend = if database.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    eprintln!(
        "fail point {point} on {backend}: {} accepted ({} before the crash), \
         {} Slack messages, {} duplicates, {} deliveries committed at the crash",
        recovery.accepted.len(),
        recovery.accepted_at_crash,
        recovery.names.len(),
        recovery.duplicates,
        recovery.committed_at_crash
    );
    recovery.duplicates
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
/// and deliveries go on, and the process keeps running. (The digest runs
/// only when `DIGEST_CHANNELS` is set.)
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
        ("digest", "digest-look"),
    ] {
        let database = TestDatabase::sqlite();
        let slack = mock_slack().await;
        let folder = tempfile::tempdir().unwrap();
        let log = folder.path().join("alvares.log");
        let mut env = environment(&database, &slack);
        env.push(("FAILPOINTS", format!("{point}=1*panic")));
        if actor == "digest" {
            env.push(("DIGEST_CHANNELS", "team-a=#a-dev".into()));
        }
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
    service.sigterm();
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
