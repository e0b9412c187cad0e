//! The operator file read safely: secrets and where they are sent stay in
//! the environment, setting names are exact, every refusal names its line
//! (through `check-config` and `POST /admin/reload` alike), only a regular
//! file within `MAX_CONFIG_BYTES` is read (a FIFO never hangs anything),
//! and a reload, however large or slow, blocks neither intake nor SIGTERM.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::binary::Service;
use crate::helpers::{TestApp, eventually, fixture, free_port, mock_slack, spawn_app};

const BINARY: &str = env!("CARGO_BIN_EXE_alvares");
const TOKEN: &str = "operator-file-admin-token";
/// In every secret below: it must never be shown.
const SECRET_PART: &str = "s3cr3tp4th";

/// Files refused, each with the error it must name (line included).
fn refused_files() -> Vec<(String, &'static str)> {
    vec![
        (
            "[settings]\nSLACK_CHANNELS = \"#deploys\"\nSLACK_API_BASE_URL = \"http://elsewhere.example/api\"\n"
                .into(),
            "line 3: SLACK_API_BASE_URL can only be set in the environment: SLACK_TOKEN is sent there",
        ),
        (
            "[settings]\nUTR_API_BASE_URL = \"http://elsewhere.example/v2\"\n".into(),
            "line 2: UTR_API_BASE_URL can only be set in the environment: UTR_API_KEY is sent there",
        ),
        (
            format!(
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://hooks.slack.com/services/T1/B2/{SECRET_PART}\"\n"
            ),
            "line 3: webhooks[0].url looks like a Slack webhook URL: give it by url_env (the \
             variable that holds it), not in the file",
        ),
        (
            "[[webhooks]]\nname = \"ops\"\nurl = \"https://ops.example/hook\"\n\
             headers = { X-Api-Key = \"s3cr3tp4th-key\" }\n"
                .into(),
            "line 4: webhooks[0].headers.X-Api-Key is a secret header: give it in headers_env \
             (the variable that holds its value), not in the file",
        ),
        (
            format!("[settings]\nslack_token = \"xoxb-1234-{SECRET_PART}\"\n"),
            "line 2: settings.slack_token looks like a Slack bot token: keep it in the \
             environment, not in the file",
        ),
        (
            "[settings]\nDEBUG = true\nSLACK_CHANELS = \"#deploys\"\n".into(),
            "line 3: unknown setting `SLACK_CHANELS`; did you mean `SLACK_CHANNELS`?",
        ),
        (
            "[settings]\nDb_Url = \"/tmp/s3cr3tp4th.db\"\n".into(),
            "line 2: unknown setting `Db_Url`; did you mean `DB_URL`? (DB_URL is a secret: set \
             it in the environment, not in the file)",
        ),
        (
            "[[routes]]\nname = \"prod\"\n\n[[routes]]\nname = \"prod\"\n".into(),
            "line 5: routes: prod is named twice (first on line 2)",
        ),
        (
            "[[webhooks]]\nname = \"ops\"\nurl = \"https://ops.example/a\"\n\
             [[webhooks]]\nname = \"ops\"\nurl = \"https://ops.example/b\"\n"
                .into(),
            "line 5: webhooks: ops is named twice (first on line 2)",
        ),
        (
            "[[routes]]\nname = \"apps\"\nwhen = { applicationName = [\n  \"kth-*\",\n  \"lms-[\"] }\n"
                .into(),
            "line 5: route apps: when.applicationName: pattern \"lms-[\": Pattern syntax error \
             near position 4: invalid range pattern",
        ),
    ]
}

fn line_of(expected: &str) -> u64 {
    expected
        .strip_prefix("line ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

fn check_config(file: &Path) -> (i32, String, String) {
    let output = Command::new(BINARY)
        .arg("check-config")
        .arg(file)
        .env_clear()
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_config_refuses_secrets_their_destinations_and_unknown_names_at_their_line() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    for (text, expected) in refused_files() {
        std::fs::write(&file, &text).unwrap();
        let (code, out, err) = check_config(&file);
        assert_eq!(code, 1, "{text}: {out}");
        assert_eq!(
            err,
            format!("alvares check-config: {}: {expected}\n", file.display()),
            "{text}"
        );
        assert!(!out.contains(SECRET_PART) && !err.contains(SECRET_PART));
    }
}

async fn admin(app: &TestApp, verb: &str, route: &str) -> (u16, Value) {
    // A long timeout: a debug build on a busy machine validates a large
    // file slowly, and this is no timing test.
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(300))
        .finish();
    let mut response = client
        .request(
            awc::http::Method::from_bytes(verb.as_bytes()).unwrap(),
            format!("{}{route}", app.address),
        )
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.body().limit(64 << 20).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

const GOOD: &str = "[settings]\nSLACK_CHANNELS = \"#deploys\"\n\n[[routes]]\nname = \"review\"\n\
                    kinds = [\"recommendation\"]\nslack_channels = [\"#review\"]\n";

#[actix_web::test]
async fn reload_refuses_the_same_files_with_a_422_naming_the_line() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(&file, GOOD).unwrap();
    let app = spawn_app(&[
        ("ALVARES_CONFIG", file.to_str().unwrap()),
        ("ADMIN_TOKEN", TOKEN),
    ])
    .await;
    let (_, in_force) = admin(&app, "GET", "/admin/config").await;
    for (text, expected) in refused_files() {
        std::fs::write(&file, &text).unwrap();
        let (status, body) = admin(&app, "POST", "/admin/reload").await;
        assert_eq!(status, 422, "{text}");
        assert_eq!(
            body,
            json!({
                "error": "invalid_config",
                "message": format!(
                    "the configuration file was refused, the one in force stays: {expected}"
                ),
                "line": line_of(expected),
            }),
            "{text}"
        );
        // What is in force is unchanged, and shows no secret.
        let (status, config) = admin(&app, "GET", "/admin/config").await;
        assert_eq!(status, 200);
        assert_eq!(config, in_force);
        assert!(!config.to_string().contains(SECRET_PART));
    }
}

/// Waits for a child process to end by itself, killing it past `deadline`.
fn ended_within(child: &mut std::process::Child, deadline: Duration) -> Option<i32> {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mkfifo(path: &Path) {
    // The test's own fixture: a named pipe nobody writes to.
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success());
}

#[actix_web::test]
async fn a_fifo_at_the_configuration_path_is_refused_and_hangs_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let fifo = folder.path().join("fifo.toml");
    mkfifo(&fifo);
    let refusal = format!(
        "{} is a FIFO (named pipe): the configuration must be a regular file",
        fifo.display()
    );
    let run = |args: &[&str]| {
        let mut child = Command::new(BINARY)
            .args(args)
            .env_clear()
            .env("ALVARES_CONFIG", &fifo)
            .env("PORT", free_port().to_string())
            .env("DB_URL", folder.path().join("alvares.db"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(stdin) = child.stdin.as_mut() {
            use std::io::Write;
            let _ = stdin.write_all(fixture("deployment.json").to_string().as_bytes());
        }
        drop(child.stdin.take());
        let code = ended_within(&mut child, Duration::from_secs(20));
        let mut err = String::new();
        use std::io::Read;
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (code, err)
    };
    assert_eq!(
        run(&["check-config"]),
        (
            Some(1),
            format!("alvares check-config: {}: {refusal}\n", fifo.display())
        )
    );
    assert_eq!(
        run(&["render", "--subscriber", "slack-deployment"]),
        (
            Some(1),
            format!(
                "alvares render: configuration error: ALVARES_CONFIG has an invalid value: {refusal}\n"
            )
        )
    );
    assert_eq!(
        run(&["serve"]),
        (
            Some(2),
            format!(
                "alvares: configuration error: ALVARES_CONFIG has an invalid value: {refusal}\n"
            )
        )
    );

    // A running service whose file became a FIFO refuses the reload, and
    // keeps answering.
    let file = folder.path().join("alvares.toml");
    std::fs::write(&file, GOOD).unwrap();
    let app = spawn_app(&[
        ("ALVARES_CONFIG", file.to_str().unwrap()),
        ("ADMIN_TOKEN", TOKEN),
    ])
    .await;
    std::fs::remove_file(&file).unwrap();
    mkfifo(&file);
    let (status, body) = admin(&app, "POST", "/admin/reload").await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({"error": "invalid_config", "message": format!(
            "the configuration file was refused, the one in force stays: {} is a FIFO (named \
             pipe): the configuration must be a regular file",
            file.display()
        )})
    );
    assert_eq!(app.get("/healthz").await.0, 200);
    let (status, _) = app
        .put_event("recommendation", &json!({"message": "still here"}))
        .await;
    assert_eq!(status, 202);
}

#[actix_web::test]
async fn a_file_larger_than_max_config_bytes_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(&file, GOOD).unwrap();
    let app = spawn_app(&[
        ("ALVARES_CONFIG", file.to_str().unwrap()),
        ("ADMIN_TOKEN", TOKEN),
        ("MAX_CONFIG_BYTES", "1024"),
    ])
    .await;
    std::fs::write(&file, format!("{GOOD}{}", "# padding\n".repeat(100))).unwrap();
    let (status, body) = admin(&app, "POST", "/admin/reload").await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({"error": "invalid_config", "message": format!(
            "the configuration file was refused, the one in force stays: {} is larger than \
             MAX_CONFIG_BYTES (1024 bytes)",
            file.display()
        )})
    );
}

/// A file of `routes` routes, about 125 bytes each.
fn many_routes(routes: usize) -> String {
    let mut text = String::from("[settings]\nSLACK_CHANNELS = \"#deploys\"\n\n");
    for n in 0..routes {
        text.push_str(&format!(
            "[[routes]]\nname = \"route {n}\"\nkinds = [\"deployment\"]\n\
             when = {{ applicationName = \"app-{n}-*\", cluster = \"active\" }}\n\
             slack_channels = [\"#team-{n}\"]\n\n"
        ));
    }
    text
}

#[actix_web::test]
async fn twenty_thousand_routes_reload_while_intake_keeps_accepting() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(&file, GOOD).unwrap();
    let app = spawn_app(&[
        ("ALVARES_CONFIG", file.to_str().unwrap()),
        ("ADMIN_TOKEN", TOKEN),
    ])
    .await;
    let text = many_routes(20_000);
    assert!(text.len() > 2_400_000, "{}", text.len());
    std::fs::write(&file, &text).unwrap();
    let reload = admin(&app, "POST", "/admin/reload");
    let intake = async {
        let mut statuses = Vec::new();
        for n in 0..20 {
            let recommendation = json!({"message": format!("during the reload {n}")});
            statuses.push(app.put_event("recommendation", &recommendation).await.0);
        }
        statuses
    };
    let ((status, report), statuses) = futures_util::join!(reload, intake);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["routes"], 20_000);
    assert_eq!(statuses, vec![202; 20]);
    let (_, config) = admin(&app, "GET", "/admin/config").await;
    assert_eq!(config["routes"].as_array().unwrap().len(), 20_000);
    assert_eq!(config["routes"][19_999]["name"], "route 19999");
}

/// A reload held up (a fail point sleeps for a minute in it) blocks
/// neither intake on the one HTTP worker, nor a second reload's request,
/// nor SIGTERM: the process stops on its own, cleanly.
#[actix_web::test]
async fn a_slow_reload_blocks_neither_intake_nor_sigterm() {
    let slack = mock_slack().await;
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(&file, GOOD).unwrap();
    let log = folder.path().join("alvares.log");
    let env = vec![
        ("PORT", free_port().to_string()),
        (
            "DB_URL",
            folder.path().join("alvares.db").display().to_string(),
        ),
        ("SLACK_WEB_HOOK", crate::helpers::hook(&slack)),
        ("ALVARES_CONFIG", file.display().to_string()),
        ("ADMIN_TOKEN", TOKEN.into()),
        ("HTTP_WORKERS", "1".into()),
        ("SHUTDOWN_GRACE_SECONDS", "2".into()),
        ("RUST_LOG", "info".into()),
        ("FAILPOINTS", "config-reload=sleep(60000)".into()),
    ];
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(90))
        .finish();
    let mut service = Service::start(&env, &log);
    service.ready(&client).await;
    service.sighup();
    eventually("the reload to start", Duration::from_secs(10), || async {
        service
            .log_text()
            .contains("reading the configuration file again")
            .then_some(())
    })
    .await;
    // A reload asked for meanwhile waits for its turn, not on the worker.
    let base = service.base.clone();
    let second = {
        let client = client.clone();
        actix_web::rt::spawn(async move {
            client
                .post(format!("{base}/admin/reload"))
                .insert_header(("Authorization", format!("Bearer {TOKEN}")))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    for n in 0..5 {
        let response = client
            .put(format!("{}/api/v1/recommendation", service.base))
            .timeout(Duration::from_secs(5))
            .send_json(&json!({"message": format!("during the reload {n}")}))
            .await
            .expect("intake answers during the reload");
        assert_eq!(response.status().as_u16(), 202);
    }
    assert!(!second.is_finished(), "the second reload waits its turn");
    service.sigterm();
    let status = service.ended().await;
    assert_eq!(status.code(), Some(0), "{}", service.log_text());
    assert!(service.log_text().contains("stopped cleanly"));
}
