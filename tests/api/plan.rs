//! The delivery plan, made once at intake and stored with the deliveries:
//! a reload between an event's intake and its retry changes nothing for
//! it, the event view shows where each delivery goes, and a route's
//! `once_per` takes out only that route's channels.

use std::sync::Arc;
use std::time::Duration;

use alvares::clock::ManualClock;
use alvares::subscribers::registrations;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, TestDatabase, eventually, fixture, hook, mock_slack, slack_bodies, spawn_app_full,
    wait_for_slack,
};
use crate::on_both_backends;

const TOKEN: &str = "plan-admin-token";

fn channels(bodies: &[Value]) -> Vec<String> {
    bodies
        .iter()
        .map(|body| body["channel"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn count(bodies: &[Value], channel: &str) -> usize {
    channels(bodies).iter().filter(|c| *c == channel).count()
}

async fn reload(app: &TestApp) -> u16 {
    app.http
        .post(format!("{}/admin/reload", app.address))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn channel(channel: &str) -> Value {
    json!({"type": "slack", "channel": channel})
}

fn delivery<'a>(view: &'a Value, subscriber: &str) -> &'a Value {
    view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == subscriber)
        .unwrap_or_else(|| panic!("no {subscriber} delivery in {view:#}"))
}

on_both_backends!(a_retry_goes_where_the_event_was_planned_whatever_the_routes_say_by_then);

async fn a_retry_goes_where_the_event_was_planned_whatever_the_routes_say_by_then(
    database: Arc<TestDatabase>,
) {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    let route = |channel: &str| {
        format!(
            "[[routes]]\nname = \"advice\"\nkinds = [\"recommendation\"]\nslack_channels = [\"{channel}\"]\n"
        )
    };
    std::fs::write(&file, route("#a")).unwrap();
    let slack = MockServer::start().await;
    // `#a` fails once; everything else is taken.
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(body_partial_json(json!({"channel": "#a"})))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .with_priority(10)
        .mount(&slack)
        .await;
    let clock = ManualClock::new();
    let app = spawn_app_full(
        database,
        &[
            ("ALVARES_CONFIG", file.to_str().unwrap()),
            ("ADMIN_TOKEN", TOKEN),
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("RETRY_JITTER_PERCENT", "0"),
        ],
        registrations(),
        clock.clone(),
    )
    .await;
    let (status, accepted) = app
        .put_event(
            "recommendation",
            &json!({"message": "Tidy up", "slackChannels": "#own"}),
        )
        .await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().unwrap().to_owned();
    let view = eventually("the first attempt", Duration::from_secs(10), || async {
        let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
        (view["deliveries"][0]["state"] == "retrying").then_some(view)
    })
    .await;
    let planned = json!([channel("#own"), channel("#a")]);
    assert_eq!(view["deliveries"][0]["destinations"], planned);
    assert_eq!(
        view["deliveries"][0]["lastError"],
        "#a: Slack answered HTTP 503"
    );

    // The routes change before the retry is due.
    std::fs::write(&file, route("#b")).unwrap();
    assert_eq!(reload(&app).await, 200);
    clock.advance(Duration::from_secs(2));
    let view = app.finished_event(&id).await;
    let retried = &view["deliveries"][0];
    assert_eq!(retried["state"], "delivered");
    assert_eq!(retried["attempts"], 2);
    assert_eq!(retried["destinations"], planned);
    // `#own` once, `#a` twice (failed, then sent); `#b` never.
    let bodies = slack_bodies(&slack).await;
    assert_eq!(channels(&bodies), ["#own", "#a", "#a"]);

    // The next event follows the new routes.
    let (_, next) = app
        .put_event(
            "recommendation",
            &json!({"message": "Again", "slackChannels": "#own"}),
        )
        .await;
    let view = app.finished_event(next["id"].as_str().unwrap()).await;
    assert_eq!(
        view["deliveries"][0]["destinations"],
        json!([channel("#own"), channel("#b")])
    );
    let bodies = wait_for_slack(&app, &slack, 5).await;
    assert_eq!(channels(&bodies[3..]), ["#own", "#b"]);
}

on_both_backends!(a_routes_once_per_takes_out_only_the_routes_channels);

async fn a_routes_once_per_takes_out_only_the_routes_channels(database: Arc<TestDatabase>) {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(
        &file,
        "[[routes]]\nname = \"versions\"\nkinds = [\"deployment\"]\nslack_channels = [\"#once\"]\n\
         once_per = { fields = [\"applicationName\", \"version\"], window = \"1h\" }\n",
    )
    .unwrap();
    let slack = mock_slack().await;
    let app = spawn_app_full(
        database,
        &[
            ("ALVARES_CONFIG", file.to_str().unwrap()),
            ("SLACK_WEB_HOOK", &hook(&slack)),
            ("DISABLED_SUBSCRIBERS", "application-endpoint"),
        ],
        registrations(),
        ManualClock::new(),
    )
    .await;
    let deployment = fixture("deployment.json");
    let mut views = Vec::new();
    for _ in 0..3 {
        let (status, accepted) = app.put_event("deployment", &deployment).await;
        assert_eq!(status, 202);
        views.push(app.finished_event(accepted["id"].as_str().unwrap()).await);
    }
    // The deployment's own two channels get every one; `#once` one.
    let bodies = wait_for_slack(&app, &slack, 7).await;
    assert_eq!(count(&bodies, "#team-studadm"), 3);
    assert_eq!(count(&bodies, "#developers"), 3);
    assert_eq!(count(&bodies, "#once"), 1);
    let own = json!([channel("#team-studadm"), channel("#developers")]);
    let first = delivery(&views[0], "slack-deployment");
    assert_eq!(first["state"], "delivered");
    assert_eq!(
        first["destinations"],
        json!([
            channel("#team-studadm"),
            channel("#developers"),
            channel("#once")
        ])
    );
    for repeated in &views[1..] {
        let delivery = delivery(repeated, "slack-deployment");
        assert_eq!(delivery["state"], "delivered");
        assert_eq!(delivery["destinations"], own);
    }
}
