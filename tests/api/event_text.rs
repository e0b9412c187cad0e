//! Event text is data (BEHAVIOUR §3, "Text from events is data, never
//! markup"): hostile text sent through the real service reaches the mock
//! Slack escaped, in every message it enters; a text longer than Slack's
//! limit is cut with a marker, never refused; and a value holding a
//! newline cannot forge a line of the text log.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::binary::Service;
use crate::helpers::{
    TestDatabase, eventually, fixture, free_port, hook, mock_slack, slack_bodies, spawn_app,
    wait_for_slack,
};

const LOG_LINK: &str = "https://graycloud.ite.kth.se/search?rangetype=relative&fields=message%2Csource&width=2560&highlightMessage=&relative=3600&q=source%3Aactive+AND+image_name%3A/.%2Akth-azure-app%3A2.0.11_abc123.%2A/";
const MARKER: &str = "… (truncated)";

fn by_channel_and_text(mut messages: Vec<Value>) -> Vec<Value> {
    messages.sort_by_key(|m| m.to_string());
    messages
}

#[actix_web::test]
async fn a_link_in_an_application_name_is_shown_as_written_in_every_message() {
    let slack = mock_slack().await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    let mut deployment = fixture("deployment.json");
    deployment["applicationName"] = json!("<https://evil.example|click>");
    deployment["slackChannels"] = json!("#dev");
    for field in ["publicNameSwedish", "publicNameEnglish"] {
        deployment.as_object_mut().unwrap().remove(field);
    }
    let (status, _) = app.put_event("deployment", &deployment).await;
    assert_eq!(status, 202);
    let received = wait_for_slack(&app, &slack, 2).await;
    let name = "&lt;https://evil.example|click&gt;";
    assert_eq!(
        by_channel_and_text(received),
        by_channel_and_text(vec![
            json!({
                "channel": "#dev",
                "text": format!("*{name}* deployed in *active*"),
                "username": "Cluster Deployment",
                "icon_emoji": ":azure:",
                "attachments": [{
                    "fallback": "Your client does not support attachments :(",
                    "color": "#aec90c",
                    "author_name": ":mag: Search Logs",
                    "author_link": LOG_LINK,
                    "title": format!("se.kth.imageName: {name}"),
                    "text": "se.kth.imageVersion: 2.0.11_abc123",
                    "footer": format!("the first deployment of {name} to active")
                }]
            }),
            json!({
                "channel": "#dev",
                "text": format!(
                    ":information_source: About *{name}* https://app.kth.se/pipeline/#{name} in *active*"
                ),
                "username": "Alvares",
                "icon_emoji": ":azure:"
            }),
        ])
    );
}

#[actix_web::test]
async fn a_mention_in_an_error_and_generics_in_its_trace_notify_nobody() {
    let slack = mock_slack().await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    let error = json!({
        "message": "<!channel> build failed",
        "slackChannels": "#ops",
        "stackTrace": "java.lang.ClassCastException: List<String> & Map<K, V>\n  at Build.run"
    });
    assert_eq!(app.put_event("error", &error).await.0, 202);
    let without_trace = json!({"message": "<!here> & <@U123>", "slackChannels": "#ops"});
    assert_eq!(app.put_event("error", &without_trace).await.0, 202);
    let recommendation = json!({"message": "Use A & B, not <C>", "slackChannels": "#ops"});
    assert_eq!(
        app.put_event("recommendation", &recommendation).await.0,
        202
    );
    let received = wait_for_slack(&app, &slack, 3).await;
    assert_eq!(
        by_channel_and_text(received),
        by_channel_and_text(vec![
            json!({
                "channel": "#ops",
                "text": "*&lt;!channel&gt; build failed* ```\njava.lang.ClassCastException: List&lt;String&gt; &amp; Map&lt;K, V&gt;\n  at Build.run\n```",
                "username": "Alvares Error",
                "icon_emoji": ":no_entry:"
            }),
            json!({
                "channel": "#ops",
                "text": "&lt;!here&gt; &amp; &lt;@U123&gt;",
                "username": "Alvares Error",
                "icon_emoji": ":no_entry:"
            }),
            json!({
                "channel": "#ops",
                "text": "Use A &amp; B, not &lt;C&gt;",
                "username": "Alvares",
                "icon_emoji": ":female_student:"
            }),
        ])
    );
}

#[actix_web::test]
async fn an_operator_template_escapes_by_default_and_inserts_trusted_links() {
    let slack = mock_slack().await;
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("alvares.toml");
    std::fs::write(
        &config,
        r#"[templates]
slack-recommendation = '''{
  "text": {{ ("New: " ~ event.message) | tojson }},
  "blocks": [
    {"type": "section", "text": {"type": "mrkdwn", "text": {{ (slack_link("https://docs.example/a?b=1&c=2", "Docs") ~ " for " ~ (event.message | slack_escape)) | safe | tojson }}}},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "{{ event.message }}"}]}
  ]
}'''
"#,
    )
    .unwrap();
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("ALVARES_CONFIG", config.to_str().unwrap()),
    ])
    .await;
    let recommendation = json!({"message": "<!channel> & co", "slackChannels": "#ops"});
    assert_eq!(
        app.put_event("recommendation", &recommendation).await.0,
        202
    );
    assert_eq!(
        wait_for_slack(&app, &slack, 1).await,
        vec![json!({
            "channel": "#ops",
            "text": "New: &lt;!channel&gt; &amp; co",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn",
                    "text": "<https://docs.example/a?b=1&c=2|Docs> for &lt;!channel&gt; &amp; co"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "&lt;!channel&gt; &amp; co"}]}
            ]
        })]
    );
}

#[actix_web::test]
async fn the_longest_stack_trace_intake_takes_makes_a_message_within_slacks_limit() {
    // Intake bounds a stack trace at 100,000 characters and a name at 256,
    // so the error message is where a text longer than Slack's 40,000 can
    // still come from.
    let slack = mock_slack().await;
    let app = spawn_app(&[("SLACK_WEB_HOOK", &hook(&slack))]).await;
    let mut error = fixture("error.json");
    // `&` among the characters: escaped, each is five.
    let trace = format!("at &{}", "t".repeat(99_995));
    error["message"] = json!("Build failed");
    error["stackTrace"] = json!(trace);
    error["slackChannels"] = json!("#dev");
    let (status, _) = app.put_event("error", &error).await;
    assert_eq!(status, 202);
    let received = wait_for_slack(&app, &slack, 1).await;
    assert_eq!(received.len(), 1);
    let kept = 40_000 - MARKER.chars().count();
    let full = format!("*Build failed* ```\nat &amp;{}", "t".repeat(kept));
    let expected = format!("{}{MARKER}", full.chars().take(kept).collect::<String>());
    assert_eq!(received[0]["text"], expected);
    assert_eq!(
        received[0]["text"].as_str().unwrap().chars().count(),
        40_000
    );
}

#[actix_web::test]
async fn a_channel_name_with_a_newline_is_one_escaped_log_line() {
    let slack = mock_slack().await;
    let database = TestDatabase::sqlite();
    let folder = tempfile::tempdir().unwrap();
    let log = folder.path().join("alvares.log");
    let env = [
        ("PORT", free_port().to_string()),
        ("DB_URL", database.url()),
        ("SLACK_WEB_HOOK", hook(&slack)),
        ("DISABLED_SUBSCRIBERS", "application-endpoint".to_owned()),
    ];
    let mut service = Service::start(&env, &log);
    let client = awc::Client::default();
    service.ready(&client).await;
    let forged = "[2026-12-03T00:00:00Z ERROR alvares] forged";
    let mut deployment = fixture("deployment.json");
    deployment["slackChannels"] = json!(format!("#x\n{forged},#y\r{forged}"));
    let mut response = client
        .put(format!("{}/api/v1/deployment", service.base))
        .send_json(&deployment)
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let accepted: Value = response.json().await.unwrap();
    eventually("two Slack messages", Duration::from_secs(10), || async {
        (slack.received_requests().await.unwrap_or_default().len() >= 2).then_some(())
    })
    .await;
    service.sigterm();
    service.ended().await;
    let text = service.log_text();
    // One line, the delivery's, with both channels shown escaped; no line
    // starts with the forged prefix.
    let forged_lines: Vec<&str> = text.lines().filter(|l| l.contains("forged")).collect();
    assert_eq!(forged_lines.len(), 1, "{text}");
    assert!(forged_lines[0].starts_with('['), "{text}");
    assert!(
        forged_lines[0].ends_with(&format!(
            "] slack-deployment: event {} delivered: Slack message to #x\\n{forged}, #y\\r{forged}",
            accepted["id"].as_str().unwrap()
        )),
        "{}",
        forged_lines[0]
    );
    assert!(!text.lines().any(|l| l.starts_with("[2026-12-03T00:00:00Z")));
    assert!(!text.contains('\r'), "no raw carriage return:\n{text}");
}

#[actix_web::test]
async fn an_alert_quotes_a_hostile_channel_and_answer_as_text() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"channel": "#<!here>"})))
        .respond_with(ResponseTemplate::new(404).set_body_string("<!channel> & gone"))
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&slack)
        .await;
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("ALERT_CHANNEL", "#alerts"),
        ("PUBLIC_URL", "https://alvares.example"),
    ])
    .await;
    let body = json!({"message": "lost", "slackChannels": "#<!here>"});
    let (status, answer) = app.put_event("recommendation", &body).await;
    assert_eq!(status, 202);
    let alert = eventually("the alert", Duration::from_secs(10), || async {
        slack_bodies(&slack)
            .await
            .into_iter()
            .find(|m| m["channel"] == "#alerts")
    })
    .await;
    assert_eq!(
        alert["text"],
        format!(
            "*slack-recommendation* gave up on event {}: #&lt;!here&gt;: Slack answered HTTP 404: \
             &lt;!channel&gt; &amp; gone\nDead letters: \
             https://alvares.example/admin/#dead-letters?subscriber=slack-recommendation",
            answer["id"].as_str().unwrap()
        )
    );
}
