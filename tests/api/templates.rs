//! Templates cannot hang, flood or block a subscriber: a render has a
//! budget of instructions (fuel), nesting, output bytes and time; one that
//! runs out fails its delivery for good, naming the template and the
//! limit, and the subscriber's next event goes out. A render never runs on
//! the actor's thread; an actor stuck anyway shows in health, and SIGTERM
//! still ends the process within the grace. `check-config`, start-up and
//! reloads render every template against sample events first.

use std::process::Command;
use std::time::{Duration, Instant};

use alvares::clock::ManualClock;
use alvares::engine::ActorState;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::binary::Service;
use crate::helpers::{
    eventually, free_port, hook, mock_slack, slack_bodies, spawn_app, spawn_app_clocked,
};

const BINARY: &str = env!("CARGO_BIN_EXE_alvares");
const TOKEN: &str = "templates-admin-token";

/// Hostile template bodies, each with the limit it reaches.
const HOSTILE: [(&str, &str); 4] = [
    (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "ran out of fuel (1000000 instructions)",
    ),
    (
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(30) }}",
        "ran out of fuel (1000000 instructions)",
    ),
    (
        "{% for i in range(100000) %}{{ \"x\" * 100 }}{% endfor %}",
        "rendered more than 1048576 bytes",
    ),
    ("{{ \"x\" * 20000000 }}", "rendered more than 1048576 bytes"),
];

/// A slack-recommendation template that spins on the recommendation
/// whose message is `spin-<n>` (hostile template n), and is an ordinary
/// message otherwise: the samples pass, so the file is accepted.
fn spinning_file() -> String {
    let mut template = String::new();
    for (n, (body, _)) in HOSTILE.iter().enumerate() {
        let keyword = if n == 0 { "if" } else { "elif" };
        template.push_str(&format!(
            "{{%- {keyword} event.message == \"spin-{n}\" -%}}{body}\n"
        ));
    }
    template.push_str("{%- else -%}{\"text\": {{ event.message | tojson }}}\n{%- endif -%}\n");
    format!("[templates]\nslack-recommendation = '''\n{template}'''\n")
}

async fn delivery_of(app: &crate::helpers::TestApp, id: &str) -> Value {
    let event = app.finished_event(id).await;
    event["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == "slack-recommendation")
        .cloned()
        .unwrap()
}

#[actix_web::test]
async fn a_template_that_spins_fails_its_delivery_and_the_next_event_goes_out() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(&file, spinning_file()).unwrap();
    let slack = mock_slack().await;
    let app = spawn_app(&[
        ("ALVARES_CONFIG", file.to_str().unwrap()),
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("SUBSCRIBER_TIMEOUT_SECONDS", "5"),
    ])
    .await;
    for (n, (_, limit)) in HOSTILE.iter().enumerate() {
        let sent = Instant::now();
        let (status, spin) = app
            .put_event(
                "recommendation",
                &json!({"message": format!("spin-{n}"), "slackChannels": "#dev"}),
            )
            .await;
        assert_eq!(status, 202);
        let (_, next) = app
            .put_event(
                "recommendation",
                &json!({"message": format!("after {n}"), "slackChannels": "#dev"}),
            )
            .await;
        // The next event reaches Slack within the timeout plus a retry's
        // worth, whatever the one before it does.
        eventually(
            &format!("the event after spin-{n} to reach Slack"),
            Duration::from_secs(5 + 2),
            || async {
                slack_bodies(&slack)
                    .await
                    .iter()
                    .any(|body| body["text"] == format!("after {n}"))
                    .then_some(())
            },
        )
        .await;
        assert!(
            sent.elapsed() < Duration::from_secs(7),
            "{:?}",
            sent.elapsed()
        );
        let failed = delivery_of(&app, spin["id"].as_str().unwrap()).await;
        assert_eq!(failed["state"], "failed", "spin-{n}: {failed}");
        assert_eq!(failed["attempts"], 1, "spin-{n}: a limit is not retried");
        let error = failed["lastError"].as_str().unwrap();
        assert!(
            error.starts_with("template slack-recommendation") && error.ends_with(limit),
            "spin-{n}: {error}"
        );
        let delivered = delivery_of(&app, next["id"].as_str().unwrap()).await;
        assert_eq!(delivered["state"], "delivered");
    }
    // Only the ordinary messages were ever sent, none of the hostile ones.
    let texts: Vec<Value> = slack_bodies(&slack)
        .await
        .iter()
        .map(|b| b["text"].clone())
        .collect();
    assert_eq!(
        texts,
        (0..HOSTILE.len())
            .map(|n| json!(format!("after {n}")))
            .collect::<Vec<_>>()
    );
    let report = app.actor("slack-recommendation");
    assert_eq!(report.state, ActorState::Running);
    assert_eq!(report.failed, HOSTILE.len() as u64);
}

/// An attempt running past its deadline shows as `busy-past-deadline` in
/// `/healthz`, with how long it has run, and as `running` again once it
/// ends. (The clock is the test's: Slack's answer is simply held.)
#[actix_web::test]
async fn health_shows_a_subscriber_busy_past_its_deadline() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(body_partial_json(json!({"channel": "#held"})))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&slack)
        .await;
    let clock = ManualClock::new();
    let app = spawn_app_clocked(
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("SUBSCRIBER_TIMEOUT_SECONDS", "5"),
        ],
        clock.clone(),
    )
    .await;
    let (status, _) = app
        .put_event(
            "recommendation",
            &json!({"message": "held", "slackChannels": "#held"}),
        )
        .await;
    assert_eq!(status, 202);
    eventually("the send to start", Duration::from_secs(5), || async {
        (!slack.received_requests().await?.is_empty()).then_some(())
    })
    .await;
    // Within the deadline (12 × the timeout): running.
    clock.advance(Duration::from_secs(59));
    let report = app.actor("slack-recommendation");
    assert_eq!(report.state, ActorState::Running);
    assert_eq!(report.longest_attempt_ms, Some(59_000));
    clock.advance(Duration::from_secs(2));
    let report = app.actor("slack-recommendation");
    assert_eq!(report.state, ActorState::BusyPastDeadline);
    assert_eq!(report.longest_attempt_ms, Some(61_000));
    let (status, health) = app.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(
        health["actors"]["slack-recommendation"],
        "busy-past-deadline"
    );
    // Slack answers: nothing runs any more.
    eventually("the attempt to end", Duration::from_secs(10), || async {
        let report = app.actor("slack-recommendation");
        (report.state == ActorState::Running && report.longest_attempt_ms.is_none()).then_some(())
    })
    .await;
}

/// A delivery whose actor thread is blocked (the fail point sleeps on it,
/// as a CPU-bound step would): health shows it, and SIGTERM still ends the
/// process within the grace plus 2 s.
#[actix_web::test]
async fn sigterm_ends_the_process_in_time_with_a_delivery_stuck_on_its_thread() {
    let slack = mock_slack().await;
    let folder = tempfile::tempdir().unwrap();
    let log = folder.path().join("alvares.log");
    let grace = 2;
    let env = vec![
        ("PORT", free_port().to_string()),
        (
            "DB_URL",
            folder.path().join("alvares.db").display().to_string(),
        ),
        ("SLACK_WEB_HOOK", hook(&slack)),
        ("SHUTDOWN_GRACE_SECONDS", grace.to_string()),
        // A deadline of 12 s (12 × the timeout).
        ("SUBSCRIBER_TIMEOUT_SECONDS", "1".to_owned()),
        (
            "FAILPOINTS",
            "delivery-blocks-thread=sleep(120000)".to_owned(),
        ),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let mut service = Service::start(&env, &log);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    service.ready(&client).await;
    let mut response = client
        .put(format!("{}/api/v1/recommendation", service.base))
        .send_json(&json!({"message": "stuck", "slackChannels": "#dev"}))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let _ = response.body().await;
    let base = service.base.clone();
    eventually(
        "health to show the stuck subscriber",
        Duration::from_secs(30),
        || async {
            let mut answer = client.get(format!("{base}/healthz")).send().await.ok()?;
            let health: Value = answer.json().await.ok()?;
            (health["actors"]["slack-recommendation"] == "busy-past-deadline").then_some(())
        },
    )
    .await;
    let signalled = Instant::now();
    service.sigterm();
    let status = service.ended().await;
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(grace + 2),
        "{took:?}: {}",
        service.log_text()
    );
    assert!(status.success(), "{status:?}");
    assert!(
        service
            .log_text()
            .contains("shutdown: slack-recommendation did not answer within the grace"),
        "{}",
        service.log_text()
    );
    assert!(slack.received_requests().await.unwrap().is_empty());
}

fn check_config(file: &std::path::Path) -> (i32, String) {
    let output = Command::new(BINARY)
        .arg("check-config")
        .arg(file)
        .env_clear()
        .env("OPS_HOOK_URL", "https://ops.example/hook")
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_config_refuses_each_hostile_template_naming_it_and_its_limit() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    for (body, limit) in HOSTILE {
        // As a built-in's replacement: rendered with the sample error.
        std::fs::write(
            &file,
            format!(
                "[settings]\nSLACK_CHANNELS = \"#dev\"\n\n[templates]\nslack-error = '''{body}'''\n"
            ),
        )
        .unwrap();
        let (code, err) = check_config(&file);
        assert_eq!(code, 1, "{body}: {err}");
        assert!(
            err.contains("line 5: template slack-error"),
            "{body}: {err}"
        );
        assert!(
            err.contains(&format!("with the sample error: {limit}")),
            "{body}: {err}"
        );
        // As a webhook's body: rendered with the sample of each kind it takes.
        std::fs::write(
            &file,
            format!(
                "[[webhooks]]\nname = \"ops\"\nurl_env = \"OPS_HOOK_URL\"\nkinds = [\"deployment\"]\nbody = '''{body}'''\n"
            ),
        )
        .unwrap();
        let (code, err) = check_config(&file);
        assert_eq!(code, 1, "{body}: {err}");
        assert!(
            err.contains("line 5: template webhook:ops"),
            "{body}: {err}"
        );
        assert!(
            err.contains(&format!("with the sample deployment: {limit}")),
            "{body}: {err}"
        );
    }
    // What the sample lacks is no reason to refuse: the example's incident
    // webhook reads an error's applicationName, which the sample has not.
    std::fs::write(
        &file,
        "[[webhooks]]\nname = \"ops\"\nurl_env = \"OPS_HOOK_URL\"\nkinds = [\"error\"]\nbody = '''{{ event.applicationName | tojson }}'''\n",
    )
    .unwrap();
    let (code, err) = check_config(&file);
    assert_eq!(code, 0, "{err}");
}

/// A reload renders the samples too: a hostile template is refused and
/// the one in force stays.
#[actix_web::test]
async fn a_reload_refuses_a_template_that_runs_out() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(&file, "[settings]\nSLACK_CHANNELS = \"#dev\"\n").unwrap();
    let slack = mock_slack().await;
    let app = spawn_app(&[
        ("ALVARES_CONFIG", file.to_str().unwrap()),
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("ADMIN_TOKEN", TOKEN),
    ])
    .await;
    std::fs::write(
        &file,
        format!(
            "[templates]\nslack-recommendation = '''{}'''\n",
            HOSTILE[0].0
        ),
    )
    .unwrap();
    let mut response = app
        .http
        .post(format!("{}/admin/reload", app.address))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let refused: Value = response.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_config");
    assert_eq!(
        refused["message"],
        "the configuration file was refused, the one in force stays: line 2: template \
         slack-recommendation line 1: with the sample recommendation: ran out of fuel \
         (1000000 instructions)"
    );
}
