//! The operator file: `examples/alvares.toml` checked by `alvares
//! check-config` and driving the service end to end (routes, replaced
//! templates, a signed webhook, `once_per`); reloads by `POST /admin/reload`
//! and by SIGHUP; silences; `alvares render`.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use alvares::clock::ManualClock;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    EXAMPLE, TestApp, eventually, example_destinations_off, fixture, free_port, hook, mock_slack,
    slack_bodies, spawn_app, spawn_app_clocked, wait_for_slack,
};

const BINARY: &str = env!("CARGO_BIN_EXE_alvares");
const TOKEN: &str = "operator-admin-token";
/// The specification's own example secret.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const LOGS: &str = "https://graycloud.ite.kth.se/search?rangetype=relative&fields=message%2Csource&width=2560&highlightMessage=&relative=3600&q=source%3Aactive+AND+image_name%3A/.%2Akth-azure-app%3A2.0.11_abc123.%2A/";

fn check_config(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(BINARY)
        .arg("check-config")
        .args(args)
        .env_clear()
        .env(
            "INCIDENTS_WEBHOOK_URL",
            "https://incidents.example/hooks/alvares",
        )
        .env("INCIDENTS_WEBHOOK_SECRET", SECRET)
        .envs(example_destinations_off(&[]))
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_config_accepts_the_example_and_says_what_it_does() {
    let (code, out, err) = check_config(&[EXAMPLE]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Routes (3):"), "{out}");
    assert!(
        out.contains(
            "studadm production: deployments where cluster = active and team = team-studadm: \
             also to Slack #studadm-prod; once per applicationName + version + cluster per 1h"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "incidents (webhook-incidents): POST $INCIDENTS_WEBHOOK_URL for errors, only when a \
             route names it, signed with $INCIDENTS_WEBHOOK_SECRET"
        ),
        "{out}"
    );
    assert!(
        out.contains("Templates replaced: slack-deployment, slack-error"),
        "{out}"
    );
    // The secret values are never printed.
    assert!(!out.contains("MfKQ9r8") && !out.contains("incidents.example"));

    let (code, out, _) = check_config(&[EXAMPLE, "--json"]);
    assert_eq!(code, 0);
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["routes"].as_array().unwrap().len(), 3);
    assert_eq!(summary["webhooks"][0]["url"], "$INCIDENTS_WEBHOOK_URL");
    assert_eq!(summary["webhooks"][0]["rateLimit"], "30/m:burst=1");
    assert_eq!(
        summary["settings"],
        json!({"SLACK_CHANNELS": "#deployments"})
    );
}

#[test]
fn check_config_refuses_a_bad_file_naming_its_line() {
    let folder = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[routes]]\nname = \"x\"\nslack_chanels = [\"#a\"]\n",
            "line 3: unknown field `slack_chanels`",
        ),
        (
            "[templates]\nslack-error = '''\n{\n\"text\": {{ event.message | tojson }\n}'''\n",
            "line 4: template slack-error line 2: unexpected `}`",
        ),
        (
            "[settings]\nSLACK_TOKEN = \"xoxb-1\"\n",
            "line 2: SLACK_TOKEN is a secret: set it in the environment, not in the file",
        ),
        (
            "[[webhooks]]\nname = \"ops\"\nurl_env = \"NOT_SET_ANYWHERE\"\n",
            "line 3: webhook ops: url_env names NOT_SET_ANYWHERE, which is not set",
        ),
    ];
    for (text, expected) in cases {
        let file = folder.path().join("alvares.toml");
        std::fs::write(&file, text).unwrap();
        let (code, out, err) = check_config(&[file.to_str().unwrap()]);
        assert_eq!(code, 1, "{text}: {out}");
        assert!(err.contains(expected), "{text}: {err}");
    }
}

/// The example file's service: Slack and the incident tool are mocks.
/// Its destinations are switched off: their test is in `destinations.rs`.
async fn example_app(slack: &MockServer, incidents: &MockServer, file: &str) -> TestApp {
    let mut vars = example_destinations_off(&["application-endpoint"]);
    vars.extend([
        ("ALVARES_CONFIG", file.to_owned()),
        ("SLACK_WEB_HOOK", hook(slack)),
        (
            "INCIDENTS_WEBHOOK_URL",
            format!("{}/incidents", incidents.uri()),
        ),
        ("INCIDENTS_WEBHOOK_SECRET", SECRET.to_owned()),
        ("ADMIN_TOKEN", TOKEN.to_owned()),
    ]);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app(&vars).await
}

async fn incident_tool() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    server
}

/// Why the event view says `subscriber` skipped the event (null when it
/// did not).
fn skipped_because(view: &Value, subscriber: &str) -> Value {
    view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == subscriber && d["state"] == "skipped")
        .map_or(Value::Null, |d| d["outcome"].clone())
}

fn by_channel(bodies: &[Value]) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = bodies
        .iter()
        .map(|b| (b["channel"].as_str().unwrap_or("").to_owned(), b.clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[actix_web::test]
async fn the_example_routes_each_event_to_exactly_its_destinations_with_their_bodies() {
    let slack = mock_slack().await;
    let incidents = incident_tool().await;
    let app = example_app(&slack, &incidents, EXAMPLE).await;

    // A studadm deployment to active: SLACK_CHANNELS (from the file), its
    // own channels, and the route's channel, in the replaced template.
    let (status, _) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    let bodies = wait_for_slack(&app, &slack, 4).await;
    let deployed = |channel: &str| {
        json!({
            "channel": channel,
            "text": ":rocket: *Monitor application* 2.0.11_abc123 is live in *active*",
            "username": "Cluster Deployment",
            "icon_emoji": ":azure:",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text":
                format!("*kth-azure-app* 2.0.11_abc123 in *active*\n<https://app.kth.se/kth-azure-app|Open> · <{LOGS}|Logs>")}}]
        })
    };
    assert_eq!(
        by_channel(&bodies),
        [
            "#deployments",
            "#developers",
            "#studadm-prod",
            "#team-studadm"
        ]
        .iter()
        .map(|c| (c.to_string(), deployed(c)))
        .collect::<Vec<_>>()
    );

    // The same deployment again within the hour: the route's `once_per`
    // takes out only the route's channel; the deployment's own channels
    // and SLACK_CHANNELS are told again.
    let (status, again) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    let view = app.finished_event(again["id"].as_str().unwrap()).await;
    assert!(skipped_because(&view, "slack-deployment").is_null());
    let bodies = wait_for_slack(&app, &slack, 7).await;
    assert_eq!(
        by_channel(&bodies[4..]),
        ["#deployments", "#developers", "#team-studadm"]
            .iter()
            .map(|c| (c.to_string(), deployed(c)))
            .collect::<Vec<_>>()
    );

    // An error of a kth- application: its channel and #ops-alerts in the
    // replaced template, and the signed incident.
    let error = json!({"message": "Build failed", "applicationName": "kth-azure-app",
        "slackChannels": "#team-pipeline-logs"});
    let (status, accepted) = app.put_event("error", &error).await;
    assert_eq!(status, 202);
    let error_id = accepted["id"].as_str().unwrap().to_owned();
    let bodies = wait_for_slack(&app, &slack, 9).await;
    let failed = |channel: &str| {
        json!({"channel": channel, "text": ":x: Build failed", "username": "Pipeline",
            "icon_emoji": ":no_entry:"})
    };
    assert_eq!(
        by_channel(&bodies[7..]),
        vec![
            ("#ops-alerts".to_owned(), failed("#ops-alerts")),
            (
                "#team-pipeline-logs".to_owned(),
                failed("#team-pipeline-logs")
            ),
        ]
    );
    let view = app.finished_event(&error_id).await;
    let received_at = view["receivedAt"].as_str().unwrap().to_owned();
    let requests = incidents.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let incident = &requests[0];
    assert_eq!(
        serde_json::from_slice::<Value>(&incident.body).unwrap(),
        json!({"title": "Pipeline failed for kth-azure-app", "detail": "Build failed",
            "event": error_id, "at": received_at})
    );
    assert_eq!(incident.headers["x-source"], "alvares");
    assert_eq!(incident.headers["content-type"], "application/json");
    assert_eq!(incident.headers["webhook-id"], error_id.as_str());
    // An independent implementation (the `standardwebhooks` crate) accepts
    // the signature, and refuses it for a body changed on the way.
    let verifier = standardwebhooks::Webhook::new(SECRET).unwrap();
    verifier
        .verify(&incident.body, &incident.headers)
        .expect("the signature verifies");
    let mut tampered = incident.body.clone();
    tampered[10] ^= 1;
    assert!(verifier.verify(&tampered, &incident.headers).is_err());

    // An error of another application: its own channel only, no incident.
    let other = json!({"message": "Lint failed", "applicationName": "other-app",
        "slackChannels": "#other"});
    let (_, accepted) = app.put_event("error", &other).await;
    let view = app.finished_event(accepted["id"].as_str().unwrap()).await;
    assert_eq!(
        skipped_because(&view, "webhook-incidents"),
        "no route sends it here"
    );
    let bodies = wait_for_slack(&app, &slack, 10).await;
    assert_eq!(
        bodies[9],
        json!({"channel": "#other", "text": ":x: Lint failed", "username": "Pipeline",
            "icon_emoji": ":no_entry:"})
    );
    assert_eq!(incidents.received_requests().await.unwrap().len(), 1);

    // A recommendation never reaches #general, in the built-in template.
    let recommendation = json!({"message": "Add a README", "slackChannels": "#general,#dev"});
    let (status, _) = app.put_event("recommendation", &recommendation).await;
    assert_eq!(status, 202);
    let bodies = wait_for_slack(&app, &slack, 11).await;
    assert_eq!(
        bodies[10],
        json!({"channel": "#dev", "text": "Add a README", "username": "Alvares",
            "icon_emoji": ":female_student:"})
    );

    // The configuration in force, as the admin API shows it.
    let (status, config) = admin(&app, "GET", "/admin/config").await;
    assert_eq!(status, 200);
    assert_eq!(config["file"], EXAMPLE);
    assert_eq!(
        config["webhooks"][0]["signedWith"],
        "$INCIDENTS_WEBHOOK_SECRET"
    );
    assert!(!config.to_string().contains("MfKQ9r8"));
    assert!(!config.to_string().contains(&incidents.uri()));
}

async fn admin(app: &TestApp, verb: &str, route: &str) -> (u16, Value) {
    admin_with(app, verb, route, None).await
}

async fn admin_with(app: &TestApp, verb: &str, route: &str, body: Option<Value>) -> (u16, Value) {
    let request = app
        .http
        .request(
            awc::http::Method::from_bytes(verb.as_bytes()).unwrap(),
            format!("{}{route}", app.address),
        )
        .insert_header(("Authorization", format!("Bearer {TOKEN}")));
    let mut response = match body {
        Some(body) => request.send_json(&body).await.unwrap(),
        None => request.send().await.unwrap(),
    };
    let status = response.status().as_u16();
    let bytes = response.body().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A recommendation sent to `#dev`, and the channels Slack got for it.
async fn channels_of_next(app: &TestApp, slack: &MockServer, before: usize) -> BTreeSet<String> {
    let recommendation = json!({"message": "Tidy up", "slackChannels": "#dev"});
    let (status, accepted) = app.put_event("recommendation", &recommendation).await;
    assert_eq!(status, 202);
    app.finished_event(accepted["id"].as_str().unwrap()).await;
    let bodies = slack_bodies(slack).await;
    bodies[before..]
        .iter()
        .map(|b| b["channel"].as_str().unwrap().to_owned())
        .collect()
}

const ROUTE_TO_REVIEW: &str =
    "[[routes]]\nname = \"review\"\nkinds = [\"recommendation\"]\nslack_channels = [\"#review\"]\n";
const ROUTE_TO_AUDIT: &str =
    "[[routes]]\nname = \"audit\"\nkinds = [\"recommendation\"]\nslack_channels = [\"#audit\"]\n";

#[actix_web::test]
async fn post_admin_reload_puts_a_changed_file_in_force_and_refuses_a_broken_one() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(&file, ROUTE_TO_REVIEW).unwrap();
    let slack = mock_slack().await;
    let app = spawn_app(&[
        ("ALVARES_CONFIG", file.to_str().unwrap()),
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("ADMIN_TOKEN", TOKEN),
    ])
    .await;
    assert_eq!(
        channels_of_next(&app, &slack, 0).await,
        ["#dev", "#review"].map(String::from).into()
    );

    std::fs::write(&file, ROUTE_TO_AUDIT).unwrap();
    let (status, report) = admin(&app, "POST", "/admin/reload").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["routes"], 1);
    assert_eq!(
        channels_of_next(&app, &slack, 2).await,
        ["#audit", "#dev"].map(String::from).into()
    );

    // A broken file: refused with its line, the routes in force stay.
    std::fs::write(&file, format!("{ROUTE_TO_REVIEW}never_channels = \"#x\"\n")).unwrap();
    let (status, refused) = admin(&app, "POST", "/admin/reload").await;
    assert_eq!(status, 422);
    assert_eq!(refused["error"], "invalid_config");
    assert_eq!(refused["line"], 5);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("the configuration file was refused, the one in force stays: line 5: "),
        "{refused}"
    );
    assert_eq!(
        channels_of_next(&app, &slack, 4).await,
        ["#audit", "#dev"].map(String::from).into()
    );
    let (_, config) = admin(&app, "GET", "/admin/config").await;
    assert_eq!(config["routes"][0]["name"], "audit");
}

#[actix_web::test]
async fn reload_without_a_file_is_a_conflict() {
    let app = spawn_app(&[("ADMIN_TOKEN", TOKEN)]).await;
    let (status, body) = admin(&app, "POST", "/admin/reload").await;
    assert_eq!(status, 409);
    assert_eq!(
        body,
        json!({"error": "conflict", "message":
            "there is no configuration file to reload (ALVARES_CONFIG is not set)"})
    );
}

/// The real binary, killed when the test ends however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn sighup_reloads_the_file() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(&file, ROUTE_TO_REVIEW).unwrap();
    let slack = mock_slack().await;
    let port = free_port();
    let child = Running(
        Command::new(BINARY)
            .env_clear()
            .env("PORT", port.to_string())
            .env("DB_URL", folder.path().join("alvares.db"))
            .env("ALVARES_CONFIG", &file)
            .env("SLACK_WEB_HOOK", hook(&slack))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts"),
    );
    let http = awc::Client::default();
    let base = format!("http://127.0.0.1:{port}");
    let send = |n: usize| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let body = json!({"message": format!("Tidy up {n}"), "slackChannels": "#dev"});
            let response = http
                .put(format!("{base}/api/v1/recommendation"))
                .send_json(&body)
                .await;
            response.map(|r| r.status().as_u16()).unwrap_or(0)
        }
    };
    eventually("the service to answer", Duration::from_secs(20), || async {
        (send(1).await == 202).then_some(())
    })
    .await;
    let channels_of = |n: usize| {
        let slack = &slack;
        async move {
            slack_bodies(slack)
                .await
                .iter()
                .filter(|b| b["text"] == format!("Tidy up {n}"))
                .map(|b| b["channel"].as_str().unwrap().to_owned())
                .collect::<BTreeSet<String>>()
        }
    };
    let want = |channels: [&str; 2]| channels.map(String::from).into();
    eventually("the first route", Duration::from_secs(10), || async {
        (channels_of(1).await == want(["#dev", "#review"])).then_some(())
    })
    .await;

    std::fs::write(&file, ROUTE_TO_AUDIT).unwrap();
    let hangup = Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(hangup.success());
    // Events after the reload follow the new route (the signal is handled
    // on the service's own time: the test waits for the first one that does).
    let mut n = 2;
    eventually(
        "an event following the new route",
        Duration::from_secs(10),
        || {
            n += 1;
            let this = n;
            let send = &send;
            let channels_of = &channels_of;
            async move {
                assert_eq!(send(this).await, 202);
                // Either route posts each event to two channels: wait for
                // both posts of this one, then see which route it took.
                let delivered = eventually(
                    "both posts of one event",
                    Duration::from_secs(5),
                    || async {
                        let channels = channels_of(this).await;
                        (channels.len() == 2).then_some(channels)
                    },
                )
                .await;
                (delivered == want(["#audit", "#dev"])).then_some(())
            }
        },
    )
    .await;
}

#[actix_web::test]
async fn a_silence_skips_matching_deliveries_until_it_ends() {
    let clock = ManualClock::new();
    let slack = mock_slack().await;
    let app = spawn_app_clocked(
        &[
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("DISABLED_SUBSCRIBERS", "application-endpoint"),
            ("ADMIN_TOKEN", TOKEN),
        ],
        clock.clone(),
    )
    .await;
    let (status, silence) = admin_with(
        &app,
        "POST",
        "/admin/silences",
        Some(json!({
            "matchers": {"applicationName": "kth-*", "subscriber": "slack-deployment"},
            "duration": "2h",
            "comment": "planned migration",
            "createdBy": "ops@kth.se",
        })),
    )
    .await;
    assert_eq!(status, 201, "{silence}");
    let id = silence["id"].as_str().unwrap().to_owned();
    assert_eq!(silence["state"], "active");
    assert_eq!(
        silence["matchers"],
        json!({"applicationName": ["kth-*"], "subscriber": ["slack-deployment"]})
    );

    // Silenced: recorded as skipped, nothing sent; listed with its count.
    let (_, accepted) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    let view = app.finished_event(accepted["id"].as_str().unwrap()).await;
    assert_eq!(
        skipped_because(&view, "slack-deployment"),
        format!("silenced by {id}")
    );
    wait_for_slack(&app, &slack, 0).await;
    let (_, list) = admin(&app, "GET", "/admin/silences").await;
    assert_eq!(list["silences"][0]["id"], id.as_str());
    assert_eq!(list["silences"][0]["silenced"], 1);
    // Another application is not silenced.
    let mut other = fixture("deployment.json");
    other["applicationName"] = "lms-web".into();
    app.put_event("deployment", &other).await;
    wait_for_slack(&app, &slack, 2).await;

    // Two hours later it has ended by itself.
    clock.advance(Duration::from_secs(2 * 3600));
    let (_, accepted) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    let view = app.finished_event(accepted["id"].as_str().unwrap()).await;
    assert!(
        skipped_because(&view, "slack-deployment").is_null(),
        "{view}"
    );
    wait_for_slack(&app, &slack, 4).await;
}

#[actix_web::test]
async fn a_silence_can_be_ended_early_and_bad_ones_are_refused() {
    let slack = mock_slack().await;
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("DISABLED_SUBSCRIBERS", "application-endpoint"),
        ("ADMIN_TOKEN", TOKEN),
    ])
    .await;
    let refused = [
        (
            json!({"matchers": {}, "duration": "1h", "comment": "c", "createdBy": "me"}),
            "matchers",
        ),
        (
            json!({"matchers": {"cluster": "["}, "duration": "1h", "comment": "c", "createdBy": "me"}),
            "matchers",
        ),
        (
            json!({"matchers": {"cluster": "active"}, "comment": "c", "createdBy": "me"}),
            "endsAt",
        ),
        (
            json!({"matchers": {"cluster": "active"}, "duration": "1h", "comment": " ", "createdBy": "me"}),
            "comment",
        ),
    ];
    for (body, field) in refused {
        let (status, answer) =
            admin_with(&app, "POST", "/admin/silences", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"], "invalid_query");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    // Longer than 90 days: a 409, as the document says.
    let body = json!({"matchers": {"cluster": "active"}, "duration": "1000d", "comment": "c", "createdBy": "me"});
    let (status, answer) = admin_with(&app, "POST", "/admin/silences", Some(body)).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        answer,
        json!({"error": "conflict", "message": "endsAt: a silence lasts at most 90 days"})
    );
    let in_a_day = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + Duration::from_secs(86_400),
    )
    .to_string();
    let (_, silence) = admin_with(
        &app,
        "POST",
        "/admin/silences",
        Some(
            json!({"matchers": {"cluster": "active"}, "endsAt": in_a_day,
            "comment": "freeze", "createdBy": "ops"}),
        ),
    )
    .await;
    let id = silence["id"].as_str().unwrap().to_owned();
    let (_, accepted) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    let view = app.finished_event(accepted["id"].as_str().unwrap()).await;
    assert_eq!(
        skipped_because(&view, "slack-deployment"),
        format!("silenced by {id}")
    );

    let (status, ended) = admin(&app, "DELETE", &format!("/admin/silences/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(ended["state"], "ended");
    assert_eq!(ended["expiredBy"], "admin API");
    let (_, accepted) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    app.finished_event(accepted["id"].as_str().unwrap()).await;
    wait_for_slack(&app, &slack, 2).await;
    let (status, _) = admin(&app, "DELETE", "/admin/silences/no-such-silence").await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn once_per_lets_the_same_key_through_again_after_its_window() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(
        &file,
        "[[routes]]\nname = \"versions\"\nkinds = [\"deployment\"]\n\
         once_per = { fields = [\"applicationName\", \"version\"], window = \"30m\" }\n",
    )
    .unwrap();
    let clock = ManualClock::new();
    let slack = mock_slack().await;
    let app = spawn_app_clocked(
        &[
            ("ALVARES_CONFIG", file.to_str().unwrap()),
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("DISABLED_SUBSCRIBERS", "application-endpoint"),
        ],
        clock.clone(),
    )
    .await;
    let deployment = fixture("deployment.json");
    for _ in 0..3 {
        app.put_event("deployment", &deployment).await;
    }
    // Two channels, once.
    wait_for_slack(&app, &slack, 2).await;
    // Another version is another key.
    let mut next = deployment.clone();
    next["version"] = "2.0.12_def456".into();
    app.put_event("deployment", &next).await;
    wait_for_slack(&app, &slack, 4).await;
    // Past the window the first key goes through again.
    clock.advance(Duration::from_secs(31 * 60));
    let (_, accepted) = app.put_event("deployment", &deployment).await;
    let view = app.finished_event(accepted["id"].as_str().unwrap()).await;
    assert!(skipped_because(&view, "slack-deployment").is_null());
    wait_for_slack(&app, &slack, 6).await;
}

#[test]
fn render_prints_what_would_be_sent() {
    let run = |subscriber: &str, kind: Option<&str>, input: &Value| {
        let mut command = Command::new(BINARY);
        command
            .args(["render", "--subscriber", subscriber])
            .env_clear()
            .env("ALVARES_CONFIG", EXAMPLE)
            .env("INCIDENTS_WEBHOOK_URL", "https://incidents.example/hook")
            .env("INCIDENTS_WEBHOOK_SECRET", SECRET)
            .envs(example_destinations_off(&[]))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(kind) = kind {
            command.args(["--kind", kind]);
        }
        let mut child = command.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(
        "slack-error",
        None,
        &json!({"message": "Build failed",
        "applicationName": "kth-x", "slackChannels": "#team"}),
    );
    assert_eq!(code, 0, "{err}");
    let bodies: Vec<Value> = serde_json::Deserializer::from_str(&out)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        bodies,
        [
            json!({"channel": "#team", "text": ":x: Build failed", "username": "Pipeline", "icon_emoji": ":no_entry:"}),
            json!({"channel": "#ops-alerts", "text": ":x: Build failed", "username": "Pipeline", "icon_emoji": ":no_entry:"}),
        ]
    );
    let (code, out, err) = run(
        "webhook-incidents",
        Some("error"),
        &json!({"message": "Build failed",
        "applicationName": "kth-x"}),
    );
    assert_eq!(code, 0, "{err}");
    let request: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(request["url"], "$INCIDENTS_WEBHOOK_URL");
    assert_eq!(request["body"]["title"], "Pipeline failed for kth-x");
    let (code, _, err) = run(
        "webhook-incidents",
        Some("error"),
        &json!({"message": "m",
        "applicationName": "other"}),
    );
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "alvares render: webhook-incidents would send nothing: no route sends it here"
    );
    let (code, _, err) = run("slack-deployment", None, &json!({"applicationName": "a"}));
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "alvares render: invalid deployment: field cluster: is required"
    );
}

#[actix_web::test]
async fn a_silence_never_holds_back_the_history() {
    let slack = mock_slack().await;
    let app = spawn_app(&[
        ("SLACK_WEB_HOOK", &hook(&slack)),
        ("DISABLED_SUBSCRIBERS", "application-endpoint"),
        ("ADMIN_TOKEN", TOKEN),
    ])
    .await;
    let (status, silence) = admin_with(
        &app,
        "POST",
        "/admin/silences",
        Some(json!({
            "matchers": {"applicationName": "kth-azure-app"},
            "duration": "1h",
            "comment": "noisy",
            "createdBy": "ops",
        })),
    )
    .await;
    assert_eq!(status, 201, "{silence}");
    let id = silence["id"].as_str().unwrap().to_owned();
    let (_, accepted) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    let event = accepted["id"].as_str().unwrap().to_owned();
    let view = app.finished_event(&event).await;
    assert_eq!(
        skipped_because(&view, "slack-deployment"),
        format!("silenced by {id}")
    );
    assert!(skipped_because(&view, "database").is_null(), "{view}");
    let stored = view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == "database")
        .map(|d| d["state"].clone());
    assert_eq!(stored, Some(json!("delivered")), "{view}");
    let (status, history) = app.get("/api/v1/deployments").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = history["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![event.as_str()]);
    // The silence counts what it held back: the Slack message, not the history.
    let (_, list) = admin(&app, "GET", "/admin/silences").await;
    assert_eq!(list["silences"][0]["silenced"], 1);
    wait_for_slack(&app, &slack, 0).await;
}

#[actix_web::test]
async fn silences_are_bounded_in_patterns_and_in_number() {
    let app = spawn_app(&[("ADMIN_TOKEN", TOKEN)]).await;
    let with = |matchers: Value| json!({"matchers": matchers, "duration": "1h", "comment": "c", "createdBy": "ops"});
    let many: Vec<String> = (0..60).map(|n| format!("app-{n}")).collect();
    let (status, answer) = admin_with(
        &app,
        "POST",
        "/admin/silences",
        Some(with(
            json!({"applicationName": many, "cluster": many[..41]}),
        )),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        answer,
        json!({
            "error": "limit_exceeded",
            "message": "matchers: at most 100 patterns in all, not 101",
            "field": "matchers"
        })
    );
    let (status, answer) = admin_with(
        &app,
        "POST",
        "/admin/silences",
        Some(with(json!({"cluster": format!("{}*", "a".repeat(256))}))),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        answer,
        json!({
            "error": "limit_exceeded",
            "message": "matchers: cluster: a pattern is at most 256 characters, not 257",
            "field": "matchers"
        })
    );
    // 100 patterns are fine.
    let (status, answer) = admin_with(
        &app,
        "POST",
        "/admin/silences",
        Some(with(
            json!({"applicationName": many, "cluster": many[..40]}),
        )),
    )
    .await;
    assert_eq!(status, 201, "{answer}");

    // Up to 1,000 pending or active at once (made in parallel, below the
    // bound throughout).
    let create = |n: usize| {
        admin_with(
            &app,
            "POST",
            "/admin/silences",
            Some(with(json!({"applicationName": format!("app-{n}-*")}))),
        )
    };
    for chunk in (1..1_000).collect::<Vec<_>>().chunks(50) {
        let answers = futures_util::future::join_all(chunk.iter().map(|&n| create(n))).await;
        for (status, answer) in answers {
            assert_eq!(status, 201, "{answer}");
        }
    }
    let (status, answer) = create(1_000).await;
    assert_eq!(status, 422);
    assert_eq!(
        answer,
        json!({
            "error": "limit_exceeded",
            "message": "at most 1000 silences may be pending or active at once; end one first"
        })
    );
    // Ending one makes room.
    let (_, list) = admin(&app, "GET", "/admin/silences").await;
    let id = list["silences"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = admin(&app, "DELETE", &format!("/admin/silences/{id}")).await;
    assert_eq!(status, 200);
    let (status, answer) = create(1_000).await;
    assert_eq!(status, 201, "{answer}");
}
