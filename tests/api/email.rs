//! Email destinations against a real SMTP server: aiosmtpd (Debian's
//! `python3-aiosmtpd`) started by each test (`tests/smtp/server.py`),
//! which requires a login and writes every message it accepts, parsed by
//! Python's `email` package, for the test to read. Without aiosmtpd a test
//! says it was skipped, unless `REQUIRE_SMTP_TESTS` is set (CI), in which
//! case it fails.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, spawn_app};
use crate::log_watch::LogWatch;

const USER: &str = "alvares";
pub const PASSWORD: &str = "smtp-password-s3cret-0123";
/// Debian's interpreter, which has aiosmtpd (another on `PATH` may not).
const PYTHON: &str = "/usr/bin/python3";

/// The SMTP server, stopped when dropped.
pub struct SmtpServer {
    child: Child,
    port: u16,
    out: tempfile::TempDir,
}

impl SmtpServer {
    /// A server requiring `USER` and `PASSWORD`; `None` (the test skips)
    /// when aiosmtpd is not installed and `REQUIRE_SMTP_TESTS` is unset.
    pub fn start() -> Option<Self> {
        let installed = Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            assert!(
                std::env::var_os("REQUIRE_SMTP_TESTS").is_none(),
                "REQUIRE_SMTP_TESTS is set but {PYTHON} has no aiosmtpd (apt-get install python3-aiosmtpd)"
            );
            eprintln!("skipped: aiosmtpd not found, so email was not tested");
            return None;
        }
        let out = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/server.py");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .args(["--out", out.path().to_str().unwrap()])
            .args(["--user", USER, "--password", PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("the SMTP server did not start: {line:?}"))
            .parse()
            .unwrap();
        Some(SmtpServer { child, port, out })
    }

    pub fn url(&self, password: &str) -> String {
        format!("smtp://{USER}:{password}@127.0.0.1:{}?tls=none", self.port)
    }

    /// The messages it accepted, once it has `count`, in order.
    pub async fn messages(&self, count: usize) -> Vec<Value> {
        eventually("the messages", Duration::from_secs(10), || async {
            let mut files: Vec<_> = std::fs::read_dir(self.out.path())
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension().is_some_and(|e| e == "json"))
                .collect();
            files.sort();
            (files.len() >= count).then(|| {
                files
                    .iter()
                    .map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
                    .collect()
            })
        })
        .await
    }

    fn received(&self) -> usize {
        std::fs::read_dir(self.out.path()).unwrap().count()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn operator_file(to: &str) -> String {
    format!(
        r#"
[[destinations]]
name = "platform"
type = "email"
url_env = "PLATFORM_SMTP_URL"
from = "Alvares <alvares@example.org>"
to = ["{to}"]
teams = {{ team-pipeline = "pipeline@example.org, Ops@Example.org" }}
"#
    )
}

async fn app_with(file: &str, url: &str) -> (TestApp, tempfile::TempDir) {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("alvares.toml");
    std::fs::write(&path, file).unwrap();
    let app = spawn_app(&[
        ("ALVARES_CONFIG", path.to_str().unwrap()),
        ("PLATFORM_SMTP_URL", url),
        ("GRAYLOG_HOST", "https://graylog.example"),
        ("RETRY_JITTER_PERCENT", "0"),
    ])
    .await;
    (app, folder)
}

/// The delivery of event `id` to `email-platform` once it is in `state`.
async fn delivery_in(app: &TestApp, id: &str, states: &[&str]) -> (Value, Value) {
    eventually("the email delivery", Duration::from_secs(15), || async {
        let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
        let delivery = view["deliveries"]
            .as_array()?
            .iter()
            .find(|d| d["subscriber"] == "email-platform")?
            .clone();
        states
            .contains(&delivery["state"].as_str()?)
            .then_some((delivery, view))
    })
    .await
}

/// A part's text, its lines ended as in a file (SMTP sends CRLF).
fn part(message: &Value, content_type: &str) -> String {
    message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["contentType"] == content_type)
        .unwrap_or_else(|| panic!("no {content_type} part in {message}"))["body"]
        .as_str()
        .unwrap()
        .replace("\r\n", "\n")
}

#[actix_web::test]
async fn each_kind_arrives_as_one_message_with_a_text_and_an_html_part() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let (app, _folder) = app_with(&operator_file("ops@example.org"), &smtp.url(PASSWORD)).await;
    let (status, answer) = app
        .put_event(
            "deployment",
            &json!({"applicationName": "kth-azure-app", "cluster": "active",
                    "version": "2.0.11_abc123", "applicationPath": "/kth-azure-app",
                    "slackChannels": "#team-pipeline"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let (delivery, _) = delivery_in(&app, &id, &["delivered"]).await;
    let message = &smtp.messages(1).await[0];
    assert_eq!(
        delivery["outcome"],
        format!("SMTP 127.0.0.1:{} answered 250 for 2 recipients", smtp.port)
    );
    // The envelope: the team's recipients added to `to`, each once.
    assert_eq!(message["mailFrom"], "alvares@example.org");
    assert_eq!(
        message["rcptTos"],
        json!(["ops@example.org", "pipeline@example.org"])
    );
    assert_eq!(message["login"], USER);
    let headers = &message["headers"];
    assert_eq!(headers["From"], "Alvares <alvares@example.org>");
    assert_eq!(headers["To"], "ops@example.org, pipeline@example.org");
    assert_eq!(
        headers["Subject"],
        "kth-azure-app 2.0.11_abc123 deployed in active"
    );
    assert_eq!(
        headers["Message-ID"],
        format!("<{id}.email-platform@example.org>")
    );
    assert_eq!(headers["Auto-Submitted"], "auto-generated");
    assert_eq!(headers["X-Alvares-Event"], id.as_str());
    assert_eq!(headers["X-Alvares-Kind"], "deployment");
    assert!(headers["Date"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(message["contentType"], "multipart/alternative");
    let logs = "https://graylog.example/search?rangetype=relative&fields=message%2Csource&width=2560&highlightMessage=&relative=3600&q=source%3Aactive+AND+image_name%3A/.%2A%3A2.0.11_abc123.%2A/";
    assert_eq!(
        part(message, "text/plain"),
        format!(
            "Application: kth-azure-app\nVersion:     2.0.11_abc123\nCluster:     active\n\
             Team:        team-pipeline\n\nthe first deployment of kth-azure-app to active\n\n\
             Search logs: {logs}\n"
        )
    );
    let html = part(message, "text/html");
    assert!(
        html.contains("<h2>kth-azure-app deployed in active</h2>"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<a href=\"{}\">Search logs</a>",
            logs.replace('&', "&amp;")
        )),
        "{html}"
    );

    // An error and a recommendation: one message each, their own subject.
    for (kind, body) in [
        (
            "error",
            json!({"message": "An error occured", "stackTrace": "line 1\nline 2",
                   "applicationName": "kth-azure-app", "cluster": "active"}),
        ),
        (
            "recommendation",
            json!({"message": "Please add a config a."}),
        ),
    ] {
        let (status, answer) = app.put_event(kind, &body).await;
        assert_eq!(status, 202, "{answer}");
        delivery_in(&app, answer["id"].as_str().unwrap(), &["delivered"]).await;
    }
    let messages = smtp.messages(3).await;
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages[1]["headers"]["Subject"],
        "Error in kth-azure-app (active)"
    );
    assert_eq!(messages[1]["rcptTos"], json!(["ops@example.org"]));
    assert_eq!(
        part(&messages[1], "text/plain"),
        "An error occured\n\nline 1\nline 2\n"
    );
    assert!(
        part(&messages[1], "text/html").contains("<pre>line 1\nline 2</pre>"),
        "{}",
        messages[1]
    );
    assert_eq!(messages[2]["headers"]["Subject"], "Recommendation");
    assert_eq!(part(&messages[2], "text/plain"), "Please add a config a.\n");
}

#[actix_web::test]
async fn event_text_is_data_in_the_html_part_and_as_written_in_the_text_part() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let (app, _folder) = app_with(&operator_file("ops@example.org"), &smtp.url(PASSWORD)).await;
    let hostile = r#"<a href="https://evil.example">click</a> & <script>alert('x')</script> <!channel> @everyone"#;
    let (status, answer) = app
        .put_event(
            "error",
            &json!({"message": hostile, "applicationName": "<b>app</b>", "cluster": "active"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    delivery_in(&app, answer["id"].as_str().unwrap(), &["delivered"]).await;
    let message = &smtp.messages(1).await[0];
    assert_eq!(
        message["headers"]["Subject"],
        "Error in <b>app</b> (active)"
    );
    assert_eq!(part(message, "text/plain"), format!("{hostile}\n"));
    let html = part(message, "text/html");
    assert!(
        html.contains("<h2>Error in &lt;b&gt;app&lt;/b&gt; (active)</h2>"),
        "{html}"
    );
    assert!(
        html.contains(
            "&lt;a href=&quot;https://evil.example&quot;&gt;click&lt;/a&gt; &amp; \
             &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &lt;!channel&gt; @everyone"
        ),
        "{html}"
    );
    assert!(
        !html.contains("<script>") && !html.contains("<a href=\"https://evil"),
        "{html}"
    );
}

#[actix_web::test]
async fn a_4xx_reply_is_retried_a_5xx_fails_and_the_password_stays_out() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let log = LogWatch::start(&[PASSWORD.to_owned()]);
    for (to, password, state, expected) in [
        (
            "greylisted@example.org",
            PASSWORD,
            "retrying",
            "451 4.7.1 Greylisted, try again later",
        ),
        (
            "unknown@example.org",
            PASSWORD,
            "failed",
            "550 5.1.1 No such user here",
        ),
        // A refused login: the server's 535, and a wrong password is
        // never shown either.
        ("ops@example.org", "wrong-password-9876", "failed", "535"),
    ] {
        let (app, _folder) = app_with(&operator_file(to), &smtp.url(password)).await;
        let (status, answer) = app
            .put_event("recommendation", &json!({"message": "advice"}))
            .await;
        assert_eq!(status, 202, "{answer}");
        let (delivery, view) = delivery_in(
            &app,
            answer["id"].as_str().unwrap(),
            &["retrying", "failed", "delivered"],
        )
        .await;
        assert_eq!(delivery["state"], state, "{to}: {delivery}");
        let error = delivery["lastError"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("SMTP 127.0.0.1:{}: ", smtp.port))
                && error.contains(expected),
            "{to}: {error}"
        );
        let report = serde_json::to_string(&app.actor("email-platform")).unwrap();
        for text in [view.to_string(), report, app.metrics().await] {
            assert!(!text.contains(PASSWORD), "{text}");
            assert!(!text.contains("wrong-password-9876"), "{text}");
        }
        app.stop().await;
    }
    assert_eq!(smtp.received(), 0);
    assert_eq!(log.hits(), Vec::<String>::new());
}

#[actix_web::test]
async fn the_file_refuses_a_password_in_the_clear_and_an_address_that_is_none() {
    use alvares::config::{Env, OperatorConfig};
    let env = |url: &str| Env::from_map([("SMTP_URL".to_owned(), url.to_owned())].into());
    let file = |from: &str| {
        format!(
            "[[destinations]]\nname = \"ops\"\ntype = \"email\"\nurl_env = \"SMTP_URL\"\nfrom = \"{from}\"\nto = [\"ops@example.org\"]\n"
        )
    };
    let error = OperatorConfig::parse(
        &file("alvares@example.org"),
        &env("smtp://u:hunter2@mail.example.org?tls=none"),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "line 4: destination ops: $SMTP_URL: would send its password unencrypted to mail.example.org: use smtp:// (STARTTLS) or smtps://"
    );
    let error = OperatorConfig::parse(&file("alvares"), &env("smtps://u:p@mail.example.org"))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("line 5: destination ops: from: \"alvares\" is not an email address"),
        "{error}"
    );
    let error = OperatorConfig::parse(
        "[[destinations]]\nname = \"ops\"\ntype = \"teams\"\nurl_env = \"SMTP_URL\"\nto = [\"ops@example.org\"]\n",
        &env("https://teams.example/hook"),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "line 5: destination ops: a teams destination takes no to"
    );
}

#[actix_web::test]
async fn a_server_that_never_answers_holds_a_delivery_no_longer_than_its_bound() {
    // Accepts the connection and says nothing: no greeting ever comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("alvares.toml");
    std::fs::write(&path, operator_file("ops@example.org")).unwrap();
    let url = format!("smtp://{USER}:{PASSWORD}@127.0.0.1:{port}?tls=none");
    let app = spawn_app(&[
        ("ALVARES_CONFIG", path.to_str().unwrap()),
        ("PLATFORM_SMTP_URL", &url),
        ("SUBSCRIBER_TIMEOUT_SECONDS", "1"),
        ("RETRY_JITTER_PERCENT", "0"),
    ])
    .await;
    let (status, answer) = app
        .put_event("recommendation", &json!({"message": "advice"}))
        .await;
    assert_eq!(status, 202, "{answer}");
    let (delivery, _) = delivery_in(
        &app,
        answer["id"].as_str().unwrap(),
        &["retrying", "failed", "delivered"],
    )
    .await;
    assert_eq!(delivery["state"], "retrying", "{delivery}");
    let error = delivery["lastError"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("SMTP 127.0.0.1:{port}: ")),
        "{error}"
    );
    assert!(!error.contains(PASSWORD), "{error}");
    drop(silent);
}
