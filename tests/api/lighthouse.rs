//! BEHAVIOUR §3 `lighthouse`: a fake scanner (a small script run through
//! `LIGHTHOUSE_COMMAND`) and a mock Slack Web API. The exact upload flow on
//! success; a failing, a hanging and a report-less scanner; a refused
//! upload; URLs that would inject a shell command; and the report folder
//! removed in every case.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{FIXTURES, TestApp, eventually, fixture, spawn_app};

const TOKEN: &str = "xoxb-lighthouse-secret-77";
const APP_URL: &str = "https://app.kth.se/kth-azure-app";

/// A scanner script in a folder of its own, logging each run to `log`.
struct FakeScanner {
    folder: tempfile::TempDir,
}

impl FakeScanner {
    /// `body` runs after the script has logged its pid, URL and folder.
    fn new(body: &str) -> Self {
        let folder = tempfile::tempdir().unwrap();
        let log = folder.path().join("log");
        let script = format!(
            "printf 'start %s %s\\n' \"$$\" \"$2\" >> '{log}'\n\
             printf 'url=%s\\n' \"$1\" >> '{log}'\n\
             {body}\n",
            log = log.display()
        );
        std::fs::write(folder.path().join("scan.sh"), script).unwrap();
        FakeScanner { folder }
    }

    /// Copies the fixture report, as the real scanner writes its report.
    fn writing_the_fixture() -> Self {
        Self::new(&format!(
            "cp '{FIXTURES}/lighthouse-report.html' \"$2/report.html\""
        ))
    }

    fn command(&self) -> String {
        format!(
            "/bin/sh {} {{url}} {{report_dir}}",
            self.folder.path().join("scan.sh").display()
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.folder.path().join("log")).unwrap_or_default()
    }

    /// `(pid, report folder)` of each run so far.
    fn runs(&self) -> Vec<(u32, PathBuf)> {
        self.log()
            .lines()
            .filter_map(|line| line.strip_prefix("start "))
            .map(|rest| {
                let (pid, dir) = rest.split_once(' ').unwrap();
                (pid.parse().unwrap(), PathBuf::from(dir))
            })
            .collect()
    }

    /// The URL arguments the scanner was given, one per run.
    fn urls(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| line.strip_prefix("url="))
            .map(str::to_owned)
            .collect()
    }

    /// Every run's report folder is gone.
    async fn assert_folders_removed(&self) {
        let runs = self.runs();
        assert!(!runs.is_empty(), "the scanner never ran");
        for (_, dir) in runs {
            assert!(
                dir.starts_with(std::env::temp_dir()),
                "{} is not a temporary folder",
                dir.display()
            );
            eventually(
                &format!("{} to be removed", dir.display()),
                Duration::from_secs(2),
                || async { (!dir.exists()).then_some(()) },
            )
            .await;
        }
    }
}

/// A mock Slack Web API: two pages of channels, and an upload flow that
/// succeeds unless a test mounts something else first.
async fn mock_slack_api() -> MockServer {
    let slack = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/conversations.list"))
        .and(query_param("cursor", "page-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "channels": [{"id": "C111", "name": "team-studadm"}, {"id": "C222", "name": "developers"}],
            "response_metadata": {"next_cursor": ""}
        })))
        .with_priority(1)
        .mount(&slack)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/conversations.list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "channels": [{"id": "C000", "name": "general"}],
            "response_metadata": {"next_cursor": "page-2"}
        })))
        .with_priority(2)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/files.getUploadURLExternal"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "upload_url": format!("{}/upload/v1/F0123", slack.uri()),
            "file_id": "F0123"
        })))
        .with_priority(10)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/upload/v1/F0123"))
        .respond_with(ResponseTemplate::new(200).set_body_string("OK"))
        .with_priority(10)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/files.completeUploadExternal"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "files": [{"id": "F0123"}]})),
        )
        .with_priority(10)
        .mount(&slack)
        .await;
    slack
}

async fn app_for(slack: &MockServer, scanner: &FakeScanner, extra: &[(&str, &str)]) -> TestApp {
    let api = format!("{}/api", slack.uri());
    let command = scanner.command();
    let mut vars = vec![
        ("SLACK_TOKEN", TOKEN),
        ("SLACK_API_BASE_URL", api.as_str()),
        ("LIGHTHOUSE_COMMAND", command.as_str()),
        (
            "DISABLED_SUBSCRIBERS",
            "slack-deployment,application-endpoint",
        ),
    ];
    vars.extend_from_slice(extra);
    spawn_app(&vars).await
}

async fn put(app: &TestApp, deployment: &Value) -> String {
    let (status, body) = app.put_event("deployment", deployment).await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn lighthouse_delivery(view: &Value) -> Value {
    view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == "lighthouse")
        .unwrap()
        .clone()
}

async fn final_delivery(app: &TestApp, id: &str) -> Value {
    let view = app.finished_event(id).await;
    assert!(!view.to_string().contains(TOKEN));
    lighthouse_delivery(&view)
}

/// The first attempt's outcome of a delivery that is retried.
async fn retrying_delivery(app: &TestApp, id: &str) -> Value {
    eventually("the retry", Duration::from_secs(10), || async {
        let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
        let delivery = lighthouse_delivery(&view);
        (delivery["state"] == "retrying").then_some(delivery)
    })
    .await
}

/// `(method, path?query)` of each call Slack received, and the requests.
async fn slack_calls(slack: &MockServer) -> (Vec<String>, Vec<wiremock::Request>) {
    let requests = slack.received_requests().await.unwrap_or_default();
    let calls = requests
        .iter()
        .map(|r| match r.url.query() {
            Some(query) => format!("{} {}?{query}", r.method, r.url.path()),
            None => format!("{} {}", r.method, r.url.path()),
        })
        .collect();
    (calls, requests)
}

fn form(request: &wiremock::Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

const LIST: &str = "GET /api/conversations.list?limit=1000&exclude_archived=true&types=public_channel%2Cprivate_channel";

#[actix_web::test]
async fn a_scan_is_uploaded_to_each_channel_with_its_score() {
    let scanner = FakeScanner::writing_the_fixture();
    let slack = mock_slack_api().await;
    let app = app_for(&slack, &scanner, &[]).await;
    let id = put(&app, &fixture("deployment.json")).await;
    let delivery = final_delivery(&app, &id).await;
    assert_eq!(delivery["state"], "delivered", "{delivery}");
    assert_eq!(
        delivery["outcome"],
        format!("report for {APP_URL} (score 3.04/4.0) uploaded to #team-studadm, #developers")
    );
    assert_eq!(scanner.urls(), [APP_URL]);
    scanner.assert_folders_removed().await;

    let (calls, requests) = slack_calls(&slack).await;
    assert_eq!(
        calls,
        [
            LIST.to_owned(),
            format!("{LIST}&cursor=page-2"),
            "POST /api/files.getUploadURLExternal".into(),
            "POST /upload/v1/F0123".into(),
            "POST /api/files.completeUploadExternal".into(),
            // The channel list is cached: the second channel needs no lookup.
            "POST /api/files.getUploadURLExternal".into(),
            "POST /upload/v1/F0123".into(),
            "POST /api/files.completeUploadExternal".into(),
        ]
    );
    let report = std::fs::read(format!("{FIXTURES}/lighthouse-report.html")).unwrap();
    for (index, request) in requests.iter().enumerate() {
        let authorization = request.headers.get("authorization");
        if request.url.path().starts_with("/upload/") {
            assert!(authorization.is_none(), "the token went to the upload URL");
            assert_eq!(request.body, report, "the uploaded bytes are the report");
        } else {
            assert_eq!(
                authorization.unwrap().to_str().unwrap(),
                format!("Bearer {TOKEN}"),
                "call {index}"
            );
        }
    }
    let get_url = form(&requests[2]);
    assert_eq!(get_url.len(), 2);
    let (field, file_name) = &get_url[0];
    assert_eq!(field, "filename");
    let stamp = file_name
        .strip_prefix("report_kth-azure-app_active_")
        .and_then(|rest| rest.strip_suffix(".html"))
        .unwrap_or_else(|| panic!("file name {file_name}"));
    // YYYY-MM-DD_HH-MM
    assert_eq!(stamp.len(), 16, "{stamp}");
    for (at, c) in stamp.chars().enumerate() {
        match at {
            4 | 7 | 13 => assert_eq!(c, '-', "{stamp}"),
            10 => assert_eq!(c, '_', "{stamp}"),
            _ => assert!(c.is_ascii_digit(), "{stamp}"),
        }
    }
    assert_eq!(get_url[1], ("length".into(), report.len().to_string()));
    let comment = format!(
        "This report was created by scanning {APP_URL} and the total score for this report was 3.04/4.0"
    );
    for (request, channel_id) in [(&requests[4], "C111"), (&requests[7], "C222")] {
        assert_eq!(
            serde_json::from_slice::<Value>(&request.body).unwrap(),
            json!({
                "files": [{"id": "F0123", "title": "Monitor application - Performance and Accessibility Audit"}],
                "channel_id": channel_id,
                "initial_comment": comment
            })
        );
    }
}

#[actix_web::test]
async fn a_scanner_that_exits_non_zero_is_a_failed_scan_not_a_zero_score() {
    // A report is written, but the exit code says the scan failed.
    let scanner = FakeScanner::new(&format!(
        "cp '{FIXTURES}/lighthouse-report.html' \"$2/report.html\"\n\
         echo 'chrome crashed' >&2\nexit 1"
    ));
    let slack = mock_slack_api().await;
    let app = app_for(&slack, &scanner, &[]).await;
    let id = put(&app, &fixture("deployment.json")).await;
    let delivery = retrying_delivery(&app, &id).await;
    assert_eq!(
        delivery["lastError"],
        format!("the scan of {APP_URL} failed (exit code 1): chrome crashed")
    );
    scanner.assert_folders_removed().await;
    assert!(slack.received_requests().await.unwrap().is_empty());
}

#[actix_web::test]
async fn a_scanner_that_writes_no_report_fails_permanently() {
    let scanner = FakeScanner::new("exit 0");
    let slack = mock_slack_api().await;
    let app = app_for(&slack, &scanner, &[]).await;
    let id = put(&app, &fixture("deployment.json")).await;
    let delivery = final_delivery(&app, &id).await;
    assert_eq!(delivery["state"], "failed");
    assert_eq!(
        delivery["lastError"],
        format!("the scanner wrote no report for {APP_URL}")
    );
    scanner.assert_folders_removed().await;
    assert!(slack.received_requests().await.unwrap().is_empty());
}

#[actix_web::test]
async fn a_hung_scanner_is_killed_at_the_time_limit() {
    let scanner = FakeScanner::new("sleep 5");
    let slack = mock_slack_api().await;
    let app = app_for(&slack, &scanner, &[("LIGHTHOUSE_TIMEOUT_SECONDS", "1")]).await;
    let id = put(&app, &fixture("deployment.json")).await;
    let delivery = retrying_delivery(&app, &id).await;
    assert_eq!(
        delivery["lastError"],
        format!("the scan of {APP_URL} did not finish within 1s; the scanner was stopped")
    );
    let (pid, _) = scanner.runs()[0].clone();
    // The scanner process is gone (or a zombie about to be reaped) long
    // before its sleep would have ended.
    eventually(
        "the scanner to be killed",
        Duration::from_secs(2),
        || async {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
            matches!(state, None | Some("Z")).then_some(())
        },
    )
    .await;
    scanner.assert_folders_removed().await;
    assert!(slack.received_requests().await.unwrap().is_empty());
}

#[actix_web::test]
async fn a_refused_upload_fails_permanently_and_the_folder_is_still_removed() {
    let scanner = FakeScanner::writing_the_fixture();
    let slack = mock_slack_api().await;
    Mock::given(method("POST"))
        .and(path("/api/files.completeUploadExternal"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "not_in_channel"})),
        )
        .with_priority(1)
        .mount(&slack)
        .await;
    let app = app_for(
        &slack,
        &scanner,
        &[("SLACK_CHANNEL_OVERRIDE", "#developers")],
    )
    .await;
    let id = put(&app, &fixture("deployment.json")).await;
    let delivery = final_delivery(&app, &id).await;
    assert_eq!(delivery["state"], "failed");
    assert_eq!(
        delivery["lastError"],
        "#developers: Slack files.completeUploadExternal answered ok:false (not_in_channel)"
    );
    scanner.assert_folders_removed().await;
    let (calls, requests) = slack_calls(&slack).await;
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert_eq!(
        serde_json::from_slice::<Value>(&requests[4].body).unwrap()["channel_id"],
        "C222"
    );
}

#[actix_web::test]
async fn urls_that_would_inject_a_shell_command_are_refused_or_passed_inertly() {
    let marker = std::env::temp_dir().join(format!("pwned-{}", uuid::Uuid::now_v7().simple()));
    let marker = marker.display().to_string();
    let with_spaces = format!("https://x.example/$(touch {marker}-1)");
    let not_http = format!("javascript:$(touch${{IFS}}{marker}-2)");
    let inert = format!(
        "https://x.example/;touch${{IFS}}{marker}-3;`touch${{IFS}}{marker}-4`$(touch${{IFS}}{marker}-5)"
    );
    let scanner = FakeScanner::writing_the_fixture();
    let slack = mock_slack_api().await;
    let app = app_for(
        &slack,
        &scanner,
        &[("SLACK_CHANNEL_OVERRIDE", "#developers")],
    )
    .await;
    let mut deployment = fixture("deployment.json");
    deployment["accessibilityUrls"] = json!([with_spaces, not_http, inert]);
    let id = put(&app, &deployment).await;
    let delivery = final_delivery(&app, &id).await;
    assert_eq!(delivery["state"], "failed");
    let error = delivery["lastError"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "refused to scan {with_spaces:?}: not an absolute http(s) URL; refused to scan {not_http:?}: not an absolute http(s) URL (done: report for {inert} (score 3.04/4.0) uploaded to #developers)"
        )),
        "{error}"
    );
    // Only the http(s) URL ran, as one argument, character for character.
    assert_eq!(scanner.urls(), std::slice::from_ref(&inert));
    for n in 1..=5 {
        assert!(
            !Path::new(&format!("{marker}-{n}")).exists(),
            "a shell ran the URL"
        );
    }
    scanner.assert_folders_removed().await;
}

#[actix_web::test]
async fn without_test_accessibility_nothing_runs_and_without_a_token_it_is_unconfigured() {
    let scanner = FakeScanner::writing_the_fixture();
    let slack = mock_slack_api().await;
    let app = app_for(&slack, &scanner, &[]).await;
    let mut deployment = fixture("deployment.json");
    deployment["testAccessibility"] = json!(false);
    let id = put(&app, &deployment).await;
    let delivery = final_delivery(&app, &id).await;
    assert_eq!(delivery["state"], "skipped");
    assert_eq!(delivery["outcome"], "testAccessibility is not true");
    assert!(scanner.runs().is_empty());

    let unconfigured = spawn_app(&[("LIGHTHOUSE_COMMAND", &scanner.command())]).await;
    assert_eq!(
        unconfigured.actor("lighthouse").state,
        alvares::engine::ActorState::Unconfigured
    );
}

#[actix_web::test]
async fn scans_run_one_at_a_time_and_report_json_beside_the_html_gives_the_score() {
    // Each run writes the fixture HTML and a report.json with other scores.
    let scanner = FakeScanner::new(&format!(
        "echo begin >> \"$(dirname \"$0\")/order\"\n\
         sleep 0.3\n\
         cp '{FIXTURES}/lighthouse-report.html' \"$2/report.html\"\n\
         printf '%s' '{{\"categories\":{{\"accessibility\":{{\"score\":1}},\"performance\":{{\"score\":0.5}},\"seo\":{{\"score\":null}}}}}}' > \"$2/report.json\"\n\
         echo end >> \"$(dirname \"$0\")/order\""
    ));
    let slack = mock_slack_api().await;
    let app = app_for(
        &slack,
        &scanner,
        &[("SLACK_CHANNEL_OVERRIDE", "#developers")],
    )
    .await;
    let first = put(&app, &fixture("deployment.json")).await;
    let second = put(&app, &fixture("deployment.json")).await;
    for id in [first, second] {
        let delivery = final_delivery(&app, &id).await;
        assert_eq!(
            delivery["outcome"],
            format!("report for {APP_URL} (score 1.50/4.0) uploaded to #developers")
        );
    }
    let order = std::fs::read_to_string(scanner.folder.path().join("order")).unwrap();
    assert_eq!(order, "begin\nend\nbegin\nend\n", "scans overlapped");
    scanner.assert_folders_removed().await;
}
