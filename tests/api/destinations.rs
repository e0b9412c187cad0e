//! Destinations of each type (`[[destinations]]`), against mocks that
//! answer as the vendor documents:
//! - Teams, a Workflows webhook ("When a Teams webhook request is
//!   received"): a POST of a message with an Adaptive Card attachment,
//!   answered `202 Accepted` with an empty body (Microsoft Learn, "Create
//!   incoming webhooks with Workflows for Microsoft Teams");
//! - Discord, `POST /api/webhooks/{id}/{token}`: answered `204 No
//!   Content`; past its limit `429` with `{"message", "retry_after",
//!   "global"}` (Discord's documentation, "Execute Webhook", "Rate Limits");
//! - Mattermost, `POST /hooks/{key}`: answered `200` with the text `ok`
//!   (Mattermost's documentation, "Incoming webhooks");
//! - Google Chat, `POST /v1/spaces/{space}/messages?key=…&token=…`:
//!   answered `200` with the message it created (Google's documentation,
//!   "Send messages to Google Chat with incoming webhooks").

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, eventually, fixture, spawn_app};

const TOKEN: &str = "teams-admin-token";
const INVOKE: &str = "/workflows/4f7a/triggers/manual/paths/invoke";
const SIG: &str = "teams-signature-0123456789abcdef";

async fn workflows() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(INVOKE))
        .and(query_param("sig", SIG))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    server
}

fn url(server: &MockServer) -> String {
    format!(
        "{}{INVOKE}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}",
        server.uri()
    )
}

async fn app_with(file: &str, teams: &MockServer) -> (TestApp, tempfile::TempDir) {
    app_with_vars(file, &[("PLATFORM_TEAMS_URL", &url(teams))]).await
}

async fn app_with_vars(file: &str, vars: &[(&str, &str)]) -> (TestApp, tempfile::TempDir) {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("alvares.toml");
    std::fs::write(&path, file).unwrap();
    let mut all = vec![
        ("ALVARES_CONFIG", path.to_str().unwrap()),
        ("ADMIN_TOKEN", TOKEN),
    ];
    all.extend_from_slice(vars);
    let app = spawn_app(&all).await;
    (app, folder)
}

/// The bodies the mock received, in order.
async fn cards(teams: &MockServer, count: usize) -> Vec<Value> {
    bodies(teams, count).await
}

/// The JSON bodies `server` received, once it has `count`.
async fn bodies(server: &MockServer, count: usize) -> Vec<Value> {
    let teams = server;
    eventually("the Teams messages", Duration::from_secs(10), || async {
        let received = teams.received_requests().await.unwrap_or_default();
        (received.len() >= count).then(|| {
            received
                .iter()
                .map(|r| {
                    assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
                    serde_json::from_slice(&r.body).unwrap()
                })
                .collect()
        })
    })
    .await
}

/// The delivery of event `id` to `subscriber`, once it is delivered.
async fn delivered(app: &TestApp, id: &str, subscriber: &str) -> Value {
    eventually(
        &format!("{subscriber} delivered"),
        Duration::from_secs(10),
        || async {
            let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
            view["deliveries"]
                .as_array()?
                .iter()
                .find(|d| d["subscriber"] == subscriber && d["state"] == "delivered")
                .cloned()
        },
    )
    .await
}

/// `GET /admin/config`, which must answer 200.
async fn admin_config(app: &TestApp) -> Value {
    let mut response = app
        .http
        .get(format!("{}/admin/config", app.address))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

/// A Workflows message around `content`'s body and actions.
fn message(body: Value, actions: Option<Value>) -> Value {
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(actions) = actions {
        content["actions"] = actions;
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": content,
        }]
    })
}

#[actix_web::test]
async fn a_teams_destination_gets_each_kind_it_takes_as_an_adaptive_card() {
    let teams = workflows().await;
    let file = r#"
[[destinations]]
name = "platform"
type = "teams"
url_env = "PLATFORM_TEAMS_URL"
kinds = ["deployment", "error"]
"#;
    let (app, _folder) = app_with(file, &teams).await;

    let (status, _) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    let deployment = cards(&teams, 1).await.remove(0);
    let logs = "https://graycloud.ite.kth.se/search?rangetype=relative&fields=message%2Csource\
                &width=2560&highlightMessage=&relative=3600&q=source%3Aactive+AND+image_name%3A\
                /.%2Akth-azure-app%3A2.0.11_abc123.%2A/";
    assert_eq!(
        deployment,
        message(
            json!([
                {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
                 "text": "kth-azure-app deployed in active"},
                {"type": "FactSet", "facts": [
                    {"title": "Application", "value": "kth-azure-app"},
                    {"title": "Version", "value": "2.0.11\\_abc123"},
                    {"title": "Cluster", "value": "active"},
                    // Enriched: the team its channels name.
                    {"title": "Team", "value": "team-studadm"}
                ]},
                {"type": "TextBlock", "wrap": true, "isSubtle": true,
                 "text": "the first deployment of kth-azure-app to active"}
            ]),
            Some(json!([{"type": "Action.OpenUrl", "title": "Search logs", "url": logs}])),
        )
    );

    // Event text is data: Markdown and would-be mentions arrive escaped.
    let error = json!({
        "message": "[click](https://evil.example) **now** <at>General</at>",
        "stackTrace": "java.lang.IllegalStateException: List<String>\n  at Main.run(Main.java:1)",
        "applicationName": "kth-azure-app", "cluster": "active",
    });
    let (status, accepted) = app.put_event("error", &error).await;
    assert_eq!(status, 202);
    let error_id = accepted["id"].as_str().unwrap().to_owned();
    let error = cards(&teams, 2).await.remove(1);
    assert_eq!(
        error,
        message(
            json!([
                {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "color": "Attention",
                 "wrap": true,
                 "text": "\\[click\\]\\(https://evil.example\\) \\*\\*now\\*\\* \\<at\\>General\\</at\\>"},
                {"type": "FactSet", "facts": [
                    {"title": "Application", "value": "kth-azure-app"},
                    {"title": "Cluster", "value": "active"}
                ]},
                {"type": "TextBlock", "fontType": "Monospace", "wrap": true,
                 "text": "java.lang.IllegalStateException: List\\<String\\>\n  at Main.run\\(Main.java:1\\)"}
            ]),
            None,
        )
    );

    // Not one of its kinds: a recommendation is not its business.
    let (status, recommendation) = app
        .put_event("recommendation", &json!({"message": "tidy up"}))
        .await;
    assert_eq!(status, 202);
    let id = recommendation["id"].as_str().unwrap().to_owned();
    let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
    assert!(
        view["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["subscriber"] != "teams-platform"),
        "{view}"
    );
    eventually("settled", Duration::from_secs(10), || async {
        app.settled(&["teams-platform"]).await.then_some(())
    })
    .await;
    assert_eq!(teams.received_requests().await.unwrap().len(), 2);

    // Its outcome names the variable, never the signed URL.
    let outcome = delivered(&app, &error_id, "teams-platform").await;
    assert_eq!(outcome["outcome"], "POST $PLATFORM_TEAMS_URL answered 202");

    // Shown with its type and the variable holding its URL.
    let config = admin_config(&app).await;
    let shown = &config["webhooks"][0];
    assert_eq!(shown["name"], "platform");
    assert_eq!(shown["type"], "teams");
    assert_eq!(shown["subscriber"], "teams-platform");
    assert_eq!(shown["url"], "$PLATFORM_TEAMS_URL");
    assert_eq!(shown["method"], "POST");
    assert!(!config.to_string().contains(SIG), "{config}");
}

#[actix_web::test]
async fn a_routed_teams_destination_takes_only_what_a_route_names() {
    let teams = workflows().await;
    let file = r#"
[[routes]]
name = "production to the platform team"
kinds = ["deployment"]
when = { cluster = "active" }
destinations = ["platform"]

[[destinations]]
name = "platform"
type = "teams"
url_env = "PLATFORM_TEAMS_URL"
routed = true
"#;
    let (app, _folder) = app_with(file, &teams).await;
    let mut stage = fixture("deployment.json");
    stage["cluster"] = json!("stage");
    let (status, _) = app.put_event("deployment", &stage).await;
    assert_eq!(status, 202);
    let (status, _) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    let received = cards(&teams, 1).await;
    eventually("settled", Duration::from_secs(10), || async {
        app.settled(&["teams-platform"]).await.then_some(())
    })
    .await;
    let received_now = teams.received_requests().await.unwrap();
    assert_eq!(received_now.len(), 1);
    assert_eq!(
        received[0]["attachments"][0]["content"]["body"][0]["text"],
        "kth-azure-app deployed in active"
    );
}

#[test]
fn a_destination_of_an_unknown_type_or_with_a_webhooks_fields_is_refused_naming_its_line() {
    let env = alvares::config::Env::from_map(
        [(
            "PLATFORM_TEAMS_URL".to_owned(),
            "https://teams.example/x".to_owned(),
        )]
        .into(),
    );
    let refusal = |text: &str| {
        alvares::config::OperatorConfig::parse(text, &env)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        refusal(
            "[[destinations]]\nname = \"p\"\ntype = \"teamz\"\nurl_env = \"PLATFORM_TEAMS_URL\"\n"
        ),
        "line 3: destination p: no destination type is named \"teamz\" (known: discord, email, github, google-chat, grafana, mattermost, opsgenie, pagerduty, teams)"
    );
    assert!(
        refusal(
            "[[destinations]]\nname = \"p\"\ntype = \"teams\"\nurl = \"https://teams.example/x\"\n"
        )
        .starts_with("line 4: unknown field `url`"),
    );
    assert_eq!(
        refusal(
            "[[webhooks]]\nname = \"p\"\nurl = \"https://h.example/\"\n\n\
             [[destinations]]\nname = \"p\"\ntype = \"teams\"\nurl_env = \"PLATFORM_TEAMS_URL\"\n"
        ),
        "line 6: destinations: p is named twice (first on line 2; webhooks and destinations \
         share their names)"
    );
    assert_eq!(
        refusal("[[routes]]\nname = \"r\"\ndestinations = [\"nobody\"]\n"),
        "line 3: route r: no destination is named nobody"
    );
}

const DISCORD_TOKEN: &str = "discord-webhook-token-0123456789";

#[actix_web::test]
async fn a_discord_destination_sends_embeds_that_mention_nobody_and_waits_out_a_429() {
    let discord = MockServer::start().await;
    let hook = format!("/api/webhooks/1181234567890/{DISCORD_TOKEN}");
    // The first error hits the limit: no Retry-After, the wait in the body.
    Mock::given(method("POST"))
        .and(path(hook.as_str()))
        .and(body_partial_json(json!({"username": "Alvares Error"})))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-limit", "5")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-scope", "shared")
                .set_body_json(json!({
                    "message": "You are being rate limited.",
                    "retry_after": 0.3,
                    "global": false
                })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&discord)
        .await;
    Mock::given(method("POST"))
        .and(path(hook.as_str()))
        .respond_with(ResponseTemplate::new(204))
        .mount(&discord)
        .await;
    let file = r#"
[[destinations]]
name = "ops"
type = "discord"
url_env = "OPS_DISCORD_URL"
kinds = ["error"]
"#;
    let url = format!("{}{hook}", discord.uri());
    let (app, _folder) = app_with_vars(file, &[("OPS_DISCORD_URL", &url)]).await;
    let error = json!({
        "message": "@everyone <@&123> build ~~failed~~ [see](https://evil.example)",
        "stackTrace": "at Main.run(Main.java:1)",
        "applicationName": "kth-azure-app", "cluster": "active",
    });
    let (status, accepted) = app.put_event("error", &error).await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().unwrap().to_owned();
    let sent = bodies(&discord, 2).await;
    let expected = json!({
        "username": "Alvares Error",
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": "@everyone \\<@&123\\> build \\~\\~failed\\~\\~ \\[see\\]\\(https://evil.example\\)",
            "color": 15158332,
            "description": "at Main.run\\(Main.java:1\\)",
            "fields": [
                {"name": "Application", "value": "kth-azure-app", "inline": true},
                {"name": "Cluster", "value": "active", "inline": true}
            ]
        }]
    });
    // The refused message, then the same again after the body's wait.
    assert_eq!(sent, [expected.clone(), expected]);
    let outcome = delivered(&app, &id, "discord-ops").await;
    assert_eq!(outcome["outcome"], "POST $OPS_DISCORD_URL answered 204");
    assert_eq!(discord.received_requests().await.unwrap().len(), 2);
}

#[actix_web::test]
async fn a_mattermost_destination_gets_slacks_shape_with_no_mention_in_event_text() {
    let mattermost = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/mattermost-hook-key-0123456789"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&mattermost)
        .await;
    let file = r#"
[[destinations]]
name = "dev"
type = "mattermost"
url_env = "DEV_MATTERMOST_URL"
"#;
    let url = format!("{}/hooks/mattermost-hook-key-0123456789", mattermost.uri());
    let (app, _folder) = app_with_vars(file, &[("DEV_MATTERMOST_URL", &url)]).await;
    let (status, _) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    let deployment = bodies(&mattermost, 1).await.remove(0);
    let logs = "https://graycloud.ite.kth.se/search?rangetype=relative&fields=message%2Csource\
                &width=2560&highlightMessage=&relative=3600&q=source%3Aactive+AND+image_name%3A\
                /.%2Akth-azure-app%3A2.0.11_abc123.%2A/";
    assert_eq!(
        deployment,
        json!({
            "username": "Cluster Deployment",
            "text": "kth-azure-app deployed in active",
            "attachments": [{
                "fallback": "kth-azure-app deployed in active",
                "color": "#aec90c",
                "title": "Search logs",
                "title_link": logs,
                "fields": [
                    {"short": true, "title": "Version", "value": "2.0.11\\_abc123"},
                    {"short": true, "title": "Cluster", "value": "active"},
                    {"short": true, "title": "Team", "value": "team-studadm"}
                ],
                "footer": "the first deployment of kth-azure-app to active"
            }]
        })
    );
    let (status, _) = app
        .put_event(
            "recommendation",
            &json!({"message": "@channel please **upgrade**"}),
        )
        .await;
    assert_eq!(status, 202);
    let recommendation = bodies(&mattermost, 2).await.remove(1);
    assert_eq!(
        recommendation,
        json!({"username": "Alvares", "text": "@\u{2060}channel please \\*\\*upgrade\\*\\*"})
    );
}

#[actix_web::test]
async fn a_google_chat_destination_sends_a_card_with_event_text_as_text() {
    let chat = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/spaces/AAAAplatform/messages"))
        .and(query_param("token", "google-chat-token-0123456789abcdef"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "spaces/AAAAplatform/messages/abc.abc",
            "sender": {"name": "users/114022495153014004089", "type": "BOT"},
            "createTime": "2026-12-04T10:00:00.000000Z"
        })))
        .mount(&chat)
        .await;
    let file = r#"
[[destinations]]
name = "platform"
type = "google-chat"
url_env = "PLATFORM_CHAT_URL"
"#;
    let url = format!(
        "{}/v1/spaces/AAAAplatform/messages?key=AIzaSyKey0123456789&token=google-chat-token-0123456789abcdef",
        chat.uri()
    );
    let (app, _folder) = app_with_vars(file, &[("PLATFORM_CHAT_URL", &url)]).await;
    let (status, accepted) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().unwrap();
    let logs = "https://graycloud.ite.kth.se/search?rangetype=relative&fields=message%2Csource\
                &width=2560&highlightMessage=&relative=3600&q=source%3Aactive+AND+image_name%3A\
                /.%2Akth-azure-app%3A2.0.11_abc123.%2A/";
    assert_eq!(
        bodies(&chat, 1).await.remove(0),
        json!({"cardsV2": [{"cardId": format!("deployment-{id}"), "card": {
            "header": {"title": "kth-azure-app deployed in active", "subtitle": "2.0.11_abc123"},
            "sections": [{"widgets": [
                {"decoratedText": {"topLabel": "Cluster", "text": "active"}},
                {"decoratedText": {"topLabel": "Team", "text": "team-studadm"}},
                {"textParagraph": {"text": "the first deployment of kth-azure-app to active"}},
                {"buttonList": {"buttons": [
                    {"text": "Search logs", "onClick": {"openLink": {"url": logs}}}
                ]}}
            ]}]
        }}]})
    );
    let (status, accepted) = app
        .put_event(
            "recommendation",
            &json!({"message": "<a href=\"https://evil.example\">renew</a> <users/all>"}),
        )
        .await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().unwrap();
    assert_eq!(
        bodies(&chat, 2).await.remove(1),
        json!({"cardsV2": [{"cardId": format!("recommendation-{id}"), "card": {
            "header": {"title": "Recommendation"},
            "sections": [{"widgets": [{"textParagraph": {"text":
                "&lt;a href=\"https://evil.example\"&gt;renew&lt;/a&gt; &lt;users/all&gt;"}}]}]
        }}]})
    );
}

#[test]
fn check_config_lists_a_destination_with_its_type_and_never_its_url() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(
        &file,
        "[[destinations]]\nname = \"platform\"\ntype = \"teams\"\n\
         url_env = \"PLATFORM_TEAMS_URL\"\nkinds = [\"deployment\"]\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_alvares"))
        .arg("check-config")
        .arg(&file)
        .env_clear()
        .env(
            "PLATFORM_TEAMS_URL",
            format!("https://prod.example{INVOKE}?api-version=1&sig={SIG}"),
        )
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "Webhooks and destinations (1):\n  platform (teams-platform, a teams destination): \
             POST $PLATFORM_TEAMS_URL for deployments where every event\n"
        ),
        "{out}"
    );
    assert!(!out.contains(SIG), "{out}");
}

/// PagerDuty's Events API v2 (`POST /v2/enqueue`): `202` with
/// `{"status": "success", "message": "Event processed", "dedup_key": …}`
/// (PagerDuty's documentation, "Send an Alert Event").
#[actix_web::test]
async fn a_pagerduty_alert_is_triggered_by_an_error_and_resolved_by_the_next_deployment() {
    let pagerduty = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "status": "success",
            "message": "Event processed",
            "dedup_key": "alvares/active/kth-azure-app"
        })))
        .mount(&pagerduty)
        .await;
    let file = r#"
[[destinations]]
name = "platform"
type = "pagerduty"
key_env = "PLATFORM_PAGERDUTY_KEY"
kinds = ["deployment", "error"]
"#;
    let key = "R0UT1NGKEY0123456789abcdefabcdef";
    let (app, _folder) = app_with_vars(
        file,
        &[
            ("PLATFORM_PAGERDUTY_KEY", key),
            ("PAGERDUTY_EVENTS_URL", &pagerduty.uri()),
        ],
    )
    .await;
    let (status, accepted) = app
        .put_event(
            "error",
            &json!({"message": "readiness probe failed", "applicationName": "kth-azure-app",
                    "cluster": "active", "importance": "high"}),
        )
        .await;
    assert_eq!(status, 202);
    let error_id = accepted["id"].as_str().unwrap().to_owned();
    let trigger = bodies(&pagerduty, 1).await.remove(0);
    assert_eq!(
        trigger,
        json!({
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": "alvares/active/kth-azure-app",
            "payload": {
                "summary": "kth-azure-app in active: readiness probe failed",
                "source": "active",
                "severity": "critical",
                "component": "kth-azure-app",
                "group": "active",
                "custom_details": {"message": "readiness probe failed", "event": error_id}
            }
        })
    );
    // The fix goes out: the same alert is resolved.
    let (status, accepted) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    let deployment_id = accepted["id"].as_str().unwrap().to_owned();
    let resolve = bodies(&pagerduty, 2).await.remove(1);
    assert_eq!(
        resolve,
        json!({"routing_key": key, "event_action": "resolve",
               "dedup_key": "alvares/active/kth-azure-app"})
    );
    let outcome = delivered(&app, &deployment_id, "pagerduty-platform").await;
    assert_eq!(
        outcome["outcome"],
        "resolve alvares/active/kth-azure-app: PagerDuty answered 202"
    );
    assert!(!outcome.to_string().contains(key), "{outcome}");
    // Shown by the variable holding its key, never the key.
    let config = admin_config(&app).await;
    assert_eq!(config["webhooks"][0]["type"], "pagerduty");
    assert_eq!(config["webhooks"][0]["key"], "$PLATFORM_PAGERDUTY_KEY");
    assert_eq!(config["webhooks"][0]["url"], "PagerDuty Events API v2");
    assert!(!config.to_string().contains(key), "{config}");
}

#[test]
fn a_destination_takes_the_variable_its_type_takes() {
    let env = alvares::config::Env::from_map(
        [
            ("KEY".to_owned(), "k".repeat(32)),
            ("URL".to_owned(), "https://teams.example/x".to_owned()),
        ]
        .into(),
    );
    let refusal = |text: &str| {
        alvares::config::OperatorConfig::parse(text, &env)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        refusal("[[destinations]]\nname = \"p\"\ntype = \"pagerduty\"\nurl_env = \"URL\"\n"),
        "line 4: destination p: a pagerduty destination takes no url_env"
    );
    assert_eq!(
        refusal("[[destinations]]\nname = \"p\"\ntype = \"teams\"\nkey_env = \"KEY\"\n"),
        "line 4: destination p: a teams destination takes no key_env"
    );
    assert_eq!(
        refusal("[[destinations]]\nname = \"p\"\ntype = \"pagerduty\"\n"),
        "line 2: destination p: give key_env (a pagerduty destination's secret)"
    );
}

/// Opsgenie's Alert API: create `POST /v2/alerts`, close `POST
/// /v2/alerts/{alias}/close?identifierType=alias`, both with
/// `Authorization: GenieKey …` and answered `202` with `{"result": "Request
/// will be processed", "took": …, "requestId": …}` (Opsgenie's
/// documentation, "Alert API").
#[actix_web::test]
async fn an_opsgenie_alert_is_created_by_an_error_and_closed_by_the_next_deployment() {
    let opsgenie = MockServer::start().await;
    let key = "0f3c2a1b-opsgenie-api-key-4d5e6f7a8b9c";
    let accepted = ResponseTemplate::new(202).set_body_json(json!({
        "result": "Request will be processed",
        "took": 0.302,
        "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"
    }));
    Mock::given(method("POST"))
        .and(path("/v2/alerts"))
        .and(wiremock::matchers::header(
            "authorization",
            format!("GenieKey {key}").as_str(),
        ))
        .respond_with(accepted.clone())
        .mount(&opsgenie)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/alerts/alvares:active:kth-azure-app/close"))
        .and(query_param("identifierType", "alias"))
        .and(wiremock::matchers::header(
            "authorization",
            format!("GenieKey {key}").as_str(),
        ))
        .respond_with(accepted)
        .mount(&opsgenie)
        .await;
    let file = r#"
[[destinations]]
name = "platform"
type = "opsgenie"
key_env = "PLATFORM_OPSGENIE_KEY"
kinds = ["deployment", "error"]
"#;
    let (app, _folder) = app_with_vars(
        file,
        &[
            ("PLATFORM_OPSGENIE_KEY", key),
            ("OPSGENIE_API_URL", &opsgenie.uri()),
        ],
    )
    .await;
    let (status, accepted) = app
        .put_event(
            "error",
            &json!({"message": "readiness probe failed", "applicationName": "kth-azure-app",
                    "cluster": "active", "stackTrace": "at probe"}),
        )
        .await;
    assert_eq!(status, 202);
    let error_id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(
        bodies(&opsgenie, 1).await.remove(0),
        json!({
            "message": "kth-azure-app in active: readiness probe failed",
            "alias": "alvares:active:kth-azure-app",
            "description": "readiness probe failed\n\nat probe",
            "source": "Alvares",
            "priority": "P3",
            "details": {"event": error_id},
            "tags": ["kth-azure-app", "active"],
            "entity": "kth-azure-app"
        })
    );
    let (status, _) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        bodies(&opsgenie, 2).await.remove(1),
        json!({"source": "Alvares", "note": "kth-azure-app 2.0.11_abc123 deployed in active"})
    );
    let received = opsgenie.received_requests().await.unwrap();
    assert_eq!(
        received[1].url.path(),
        "/v2/alerts/alvares%3Aactive%3Akth-azure-app/close"
    );
}

/// Grafana's Annotations API: `POST /api/annotations` with a service
/// account token, answered `200` with `{"message": "Annotation added",
/// "id": …}` (Grafana's documentation, "Annotations HTTP API").
#[actix_web::test]
async fn a_grafana_destination_marks_each_deployment_and_error_on_the_dashboards() {
    let grafana = MockServer::start().await;
    let token = "glsa_annotationsWriter_0123456789abcdef";
    Mock::given(method("POST"))
        .and(path("/api/annotations"))
        .and(wiremock::matchers::header(
            "authorization",
            format!("Bearer {token}").as_str(),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"message": "Annotation added", "id": 1})),
        )
        .mount(&grafana)
        .await;
    let file = r#"
[[destinations]]
name = "ops"
type = "grafana"
url_env = "OPS_GRAFANA_URL"
key_env = "OPS_GRAFANA_TOKEN"
kinds = ["deployment", "error"]
"#;
    let (app, _folder) = app_with_vars(
        file,
        &[
            ("OPS_GRAFANA_URL", &grafana.uri()),
            ("OPS_GRAFANA_TOKEN", token),
        ],
    )
    .await;
    let (status, accepted) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().unwrap().to_owned();
    let annotation = bodies(&grafana, 1).await.remove(0);
    let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
    let received = humantime::parse_rfc3339(view["receivedAt"].as_str().unwrap()).unwrap();
    let received_ms = received
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(
        annotation,
        json!({
            "time": received_ms,
            "tags": ["alvares", "deployment", "application:kth-azure-app", "cluster:active",
                     "team:team-studadm", "version:2.0.11_abc123"],
            "text": "kth-azure-app 2.0.11_abc123 deployed in active"
        })
    );
    let (status, _) = app
        .put_event(
            "error",
            &json!({"message": "readiness probe failed", "applicationName": "kth-azure-app",
                    "cluster": "active"}),
        )
        .await;
    assert_eq!(status, 202);
    let error = bodies(&grafana, 2).await.remove(1);
    assert_eq!(
        error["tags"],
        json!([
            "alvares",
            "error",
            "application:kth-azure-app",
            "cluster:active"
        ])
    );
    assert_eq!(error["text"], "readiness probe failed");
    let outcome = delivered(&app, &id, "grafana-ops").await;
    assert_eq!(
        outcome["outcome"],
        "POST $OPS_GRAFANA_URL/api/annotations answered 200"
    );
}

/// `examples/alvares.toml`, every destination type at once: each event causes
/// exactly one request at each destination that takes it, and none at the
/// others.
#[actix_web::test]
async fn the_example_file_sends_each_event_to_exactly_its_destinations() {
    let vendors = MockServer::start().await;
    for (route, status) in [
        ("/teams", 202),
        ("/api/webhooks/1181234567890/discord-example-token", 204),
        ("/hooks/mattermost-example-key", 200),
        ("/v1/spaces/AAAAexample/messages", 200),
        ("/pagerduty/v2/enqueue", 202),
        ("/opsgenie/v2/alerts", 202),
        (
            "/opsgenie/v2/alerts/alvares%3Aactive%3Akth-azure-app/close",
            202,
        ),
        ("/grafana/api/annotations", 200),
        ("/incidents", 202),
    ] {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(status).set_body_string("{}"))
            .mount(&vendors)
            .await;
    }
    // GitHub, on its own (it reads as well as posts): the deployment it
    // creates, its statuses, and the listing it reads.
    let github = MockServer::start().await;
    let deployments = "/repos/kth/kth-azure-app/deployments";
    for (verb, route, status, answer) in [
        ("POST", deployments.to_owned(), 201, json!({"id": 7})),
        (
            "POST",
            format!("{deployments}/7/statuses"),
            201,
            json!({"id": 1}),
        ),
        ("GET", deployments.to_owned(), 200, json!([{"id": 7}])),
    ] {
        Mock::given(method(verb))
            .and(path(route))
            .respond_with(ResponseTemplate::new(status).set_body_json(answer))
            .mount(&github)
            .await;
    }
    let github_calls = |count: usize| {
        let github = &github;
        async move {
            eventually("the GitHub calls", Duration::from_secs(10), || async {
                let received = github.received_requests().await.unwrap_or_default();
                (received.len() >= count).then(|| {
                    received
                        .iter()
                        .map(|r| format!("{} {}", r.method, r.url.path()))
                        .collect::<Vec<_>>()
                })
            })
            .await
        }
    };
    // The mail server: a real one when aiosmtpd is installed; else a
    // closed port, and the email is not checked.
    let smtp = crate::email::SmtpServer::start();
    let smtp_url = smtp.as_ref().map_or_else(
        || "smtp://127.0.0.1:9?tls=none".to_owned(),
        |smtp| smtp.url(crate::email::PASSWORD),
    );
    let mut vars =
        crate::helpers::example_destination_variables(&vendors.uri(), &github.uri(), &smtp_url);
    vars.extend([
        ("ALVARES_CONFIG", crate::helpers::EXAMPLE.to_owned()),
        // The file's signed webhook, which its route sends kth- errors.
        (
            "INCIDENTS_WEBHOOK_URL",
            format!("{}/incidents", vendors.uri()),
        ),
        (
            "INCIDENTS_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        ),
        // It would ask the application's own (real) host.
        ("DISABLED_SUBSCRIBERS", "application-endpoint".to_owned()),
    ]);
    let all: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app(&all).await;
    let paths = |received: &[wiremock::Request]| -> Vec<String> {
        let mut paths: Vec<String> = received.iter().map(|r| r.url.path().to_owned()).collect();
        paths.sort();
        paths
    };
    let (status, _) = app.put_event("error", &json!({
        "message": "readiness probe failed", "applicationName": "kth-azure-app", "cluster": "active",
    })).await;
    assert_eq!(status, 202);
    bodies(&vendors, 7).await;
    let mut expected_error = vec![
        "/api/webhooks/1181234567890/discord-example-token",
        "/grafana/api/annotations",
        "/hooks/mattermost-example-key",
        "/incidents",
        "/opsgenie/v2/alerts",
        "/pagerduty/v2/enqueue",
        "/teams",
    ];
    expected_error.sort();
    wait_settled(&app).await;
    assert_eq!(
        paths(&vendors.received_requests().await.unwrap()),
        expected_error
    );
    assert_eq!(
        github_calls(2).await,
        [
            format!("GET {deployments}"),
            format!("POST {deployments}/7/statuses")
        ]
    );
    if let Some(smtp) = &smtp {
        let mail = &smtp.messages(1).await[0];
        assert_eq!(mail["rcptTos"], json!(["platform@example.org"]));
        assert_eq!(
            mail["headers"]["Subject"],
            "Error in kth-azure-app (active)"
        );
    }

    let (status, _) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    bodies(&vendors, 13).await;
    wait_settled(&app).await;
    let mut expected: Vec<&str> = expected_error.clone();
    expected.extend([
        "/grafana/api/annotations",
        "/hooks/mattermost-example-key",
        "/opsgenie/v2/alerts/alvares%3Aactive%3Akth-azure-app/close",
        "/pagerduty/v2/enqueue",
        "/teams",
        "/v1/spaces/AAAAexample/messages",
    ]);
    expected.sort();
    assert_eq!(paths(&vendors.received_requests().await.unwrap()), expected);
    assert_eq!(
        github_calls(5).await[2..],
        [
            format!("POST {deployments}"),
            format!("POST {deployments}/7/statuses"),
            format!("GET {deployments}"),
        ]
    );
    // A deployment is no email of this destination's.
    if let Some(smtp) = &smtp {
        assert_eq!(smtp.messages(1).await.len(), 1);
    }
}

async fn wait_settled(app: &TestApp) {
    eventually(
        "every destination settled",
        Duration::from_secs(15),
        || async {
            app.settled(&[
                "teams-platform",
                "discord-ops",
                "mattermost-dev",
                "google-chat-platform-chat",
                "pagerduty-platform-pager",
                "opsgenie-platform-alerts",
                "grafana-ops-dashboards",
                "github-deployments",
            ])
            .await
            .then_some(())
        },
    )
    .await;
}
