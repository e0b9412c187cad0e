//! Graceful shutdown of the real binary on SIGTERM: running deliveries get
//! their grace period; what is left is in the journal for the next start.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{eventually, free_port};

const BINARY: &str = env!("CARGO_BIN_EXE_alvares");

/// The child process, killed when the test ends however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(env: &[(&str, String)]) -> Running {
    Running(start_child(env))
}

fn start_child(env: &[(&str, String)]) -> Child {
    Command::new(BINARY)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn put(client: &awc::Client, base: &str, body: Value) -> String {
    eventually("the service to accept", Duration::from_secs(20), || async {
        let mut response = client
            .put(format!("{base}/api/v1/recommendation"))
            .send_json(&body)
            .await
            .ok()?;
        (response.status().as_u16() == 202).then_some(())?;
        let answer: Value = response.json().await.ok()?;
        answer["id"].as_str().map(str::to_owned)
    })
    .await
}

async fn event(client: &awc::Client, base: &str, id: &str) -> Option<Value> {
    let mut response = client
        .get(format!("{base}/api/v1/events/{id}"))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

#[actix_web::test]
async fn sigterm_lets_running_deliveries_finish_and_leaves_the_rest_for_the_next_start() {
    let slack = MockServer::start().await;
    // #slow answers after 3 s (within the 6 s grace, and well after the
    // HTTP server has stopped); #stuck after 30 s.
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(wiremock::matchers::body_partial_json(
            json!({"channel": "#stuck"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(wiremock::matchers::body_partial_json(
            json!({"channel": "#slow"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .with_priority(2)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(10)
        .mount(&slack)
        .await;
    let folder = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [
        ("PORT", port.to_string()),
        (
            "DB_URL",
            folder.path().join("alvares.db").display().to_string(),
        ),
        ("SLACK_WEB_HOOK", format!("{}/hook", slack.uri())),
        ("SHUTDOWN_GRACE_SECONDS", "6".to_owned()),
        ("SUBSCRIBER_TIMEOUT_SECONDS", "60".to_owned()),
    ];
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();

    let mut first = start(&env);
    let slow = put(
        &client,
        &base,
        json!({"message": "slow", "slackChannels": "#slow"}),
    )
    .await;
    let stuck = put(
        &client,
        &base,
        json!({"message": "stuck", "slackChannels": "#stuck"}),
    )
    .await;
    eventually("both sends to start", Duration::from_secs(5), || async {
        (slack.received_requests().await?.len() >= 2).then_some(())
    })
    .await;
    let signalled = Instant::now();
    sigterm(&first.0);
    let status = first.0.wait().unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status:?}");
    // It did not wait for the stuck one (30 s) past the 6 s grace. That it
    // waited for the slow one shows below: delivered, and not sent again.
    assert!(took < Duration::from_secs(10), "{took:?}");

    // The next start: the slow delivery was recorded as delivered and is
    // not sent again; the stuck one was handed back and is sent at once.
    let second = start(&env);
    let view = eventually(
        "the stuck delivery to be redone",
        Duration::from_secs(10),
        || async {
            let view = event(&client, &base, &stuck).await?;
            (view["deliveries"][0]["state"] == "delivered").then_some(view)
        },
    )
    .await;
    assert_eq!(
        view["deliveries"][0]["attempts"], 1,
        "a handed-back delivery is not charged"
    );
    let slow_view = event(&client, &base, &slow).await.unwrap();
    assert_eq!(slow_view["deliveries"][0]["state"], "delivered");
    let requests = slack.received_requests().await.unwrap();
    let channels: Vec<String> = requests
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["channel"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(channels.iter().filter(|c| *c == "#slow").count(), 1);
    assert_eq!(channels.iter().filter(|c| *c == "#stuck").count(), 2);
    drop(second);
}

/// A second SIGTERM during the grace ends the process at once, exit status
/// 1 with its reason logged; the delivery it cut off is redone at the next
/// start.
#[actix_web::test]
async fn a_second_sigterm_exits_at_once_and_the_next_start_redoes_what_ran() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(10)
        .mount(&slack)
        .await;
    let folder = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [
        ("PORT", port.to_string()),
        (
            "DB_URL",
            folder.path().join("alvares.db").display().to_string(),
        ),
        ("SLACK_WEB_HOOK", format!("{}/hook", slack.uri())),
        // A grace far longer than the test waits: only the second signal
        // can end the process in time.
        ("SHUTDOWN_GRACE_SECONDS", "300".to_owned()),
        ("SUBSCRIBER_TIMEOUT_SECONDS", "60".to_owned()),
    ];
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let log = folder.path().join("first.log");
    let mut first = Running(
        Command::new(BINARY)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let stuck = put(
        &client,
        &base,
        json!({"message": "stuck", "slackChannels": "#stuck"}),
    )
    .await;
    eventually("the send to start", Duration::from_secs(10), || async {
        (slack.received_requests().await?.len() == 1).then_some(())
    })
    .await;
    sigterm(&first.0);
    // Two signals sent together could arrive as one: the second goes once
    // the first has stopped the HTTP server.
    eventually("intake to stop", Duration::from_secs(10), || async {
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err()
            .then_some(())
    })
    .await;
    sigterm(&first.0);
    let child = std::cell::RefCell::new(&mut first.0);
    let status = eventually("the process to end", Duration::from_secs(20), || async {
        child.borrow_mut().try_wait().ok().flatten()
    })
    .await;
    assert_eq!(status.code(), Some(1), "{status:?}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("a second SIGTERM received; exiting without waiting for deliveries"),
        "{logged}"
    );

    let second = start(&env);
    let view = eventually(
        "the cut-off delivery to be redone",
        Duration::from_secs(20),
        || async {
            let view = event(&client, &base, &stuck).await?;
            (view["deliveries"][0]["state"] == "delivered").then_some(view)
        },
    )
    .await;
    assert_eq!(view["deliveries"][0]["subscriber"], "slack-recommendation");
    assert_eq!(slack.received_requests().await.unwrap().len(), 2);
    drop(second);
}
