//! The admin console: how its files are served, and an end-to-end run in a
//! real headless Chromium (Debian's `chromium` and `chromium-driver`)
//! driven through WebDriver. Screenshots of each view land in
//! `target/console-screenshots/`.
//!
//! Without `/usr/bin/chromedriver` (or `chromedriver` on `PATH`) the browser
//! test says it was skipped, unless `REQUIRE_BROWSER_TESTS` is set (CI), in
//! which case it fails.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, TestDatabase, eventually, hook, spawn_app, spawn_app_full};

const TOKEN: &str = "console-admin-token";
const DEADLINE: Duration = Duration::from_secs(20);
const MARKUP: &str = "<img src=x onerror=\"document.title='owned'\">";

#[actix_web::test]
async fn the_console_is_served_from_the_binary_without_external_assets() {
    let app = spawn_app(&[]).await;
    let client = &awc::Client::builder().disable_redirects().finish();

    let response = client
        .get(format!("{}/admin", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(response.headers().get("location").unwrap(), "/admin/");

    let script = "application/javascript; charset=utf-8";
    let mut files = vec![
        (String::new(), "text/html; charset=utf-8"),
        ("console.css".to_owned(), "text/css; charset=utf-8"),
        ("console.js".to_owned(), script),
    ];
    // The modules console.js imports.
    for (name, _) in alvares::routes::console::MODULES {
        files.push((format!("console.{name}.js"), script));
    }
    for (file, content_type) in files {
        let mut response = client
            .get(format!("{}/admin/{file}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "/admin/{file}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(header("content-type"), content_type, "/admin/{file}");
        assert_eq!(header("cache-control"), "no-cache", "/admin/{file}");
        assert!(
            header("content-security-policy").contains("default-src 'none'"),
            "/admin/{file}"
        );
        let body = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
        assert!(!body.is_empty());
        for external in ["http://", "https://", "//cdn", "@import"] {
            assert!(
                !body.contains(external),
                "/admin/{file} refers to an external asset ({external})"
            );
        }
        if file.ends_with(".js") {
            assert!(
                !body.contains("innerHTML") && !body.contains("insertAdjacentHTML"),
                "the console puts API data into the page as text only"
            );
        }
    }
    // Every module console.js (or a module) imports is served.
    let imports = imported_files(&sources(&app).await);
    assert!(!imports.is_empty());
    for import in imports {
        let response = client
            .get(format!("{}/admin/{import}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "/admin/{import}");
    }
    let response = client
        .get(format!("{}/admin/console.nothing.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    // The page is public; the API it calls is not.
    let (status, _) = app.get("/admin/actors").await;
    assert_eq!(status, 403);
}

/// The text of console.js and of every module.
async fn sources(app: &TestApp) -> String {
    let client = awc::Client::default();
    let mut text = String::new();
    let names = std::iter::once("console.js".to_owned()).chain(
        alvares::routes::console::MODULES
            .iter()
            .map(|(name, _)| format!("console.{name}.js")),
    );
    for name in names {
        let mut response = client
            .get(format!("{}/admin/{name}", app.address))
            .send()
            .await
            .unwrap();
        text.push_str(std::str::from_utf8(&response.body().await.unwrap()).unwrap());
    }
    text
}

/// The files named by `from './<file>'` in the scripts.
fn imported_files(text: &str) -> std::collections::BTreeSet<String> {
    text.split("from './")
        .skip(1)
        .filter_map(|rest| rest.split_once('\'').map(|(file, _)| file.to_owned()))
        .collect()
}

#[actix_web::test]
async fn an_operator_steers_the_router_from_the_console_in_a_real_browser() {
    let Some(driver) = Chromedriver::start() else {
        return;
    };
    let slack = MockServer::start().await;
    // #gone does not exist until the test "creates" it: a permanent
    // failure, dead-lettered (for slack-deployment and application-endpoint,
    // which both post to the deployment's channels).
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(body_partial_json(json!({"channel": "#gone"})))
        .respond_with(ResponseTemplate::new(404).set_body_string("channel_not_found"))
        .with_priority(1)
        .mount(&slack)
        .await;
    slack_answers_ok(&slack).await;
    let app = spawn_app(&[("ADMIN_TOKEN", TOKEN), ("SLACK_WEB_HOOK", &hook(&slack))]).await;
    let browser = driver.browser().await;
    let shots = screenshot_folder();

    // Sign-in: a wrong token shows the API's answer.
    browser
        .goto(&format!("{}/admin", app.address))
        .await
        .unwrap();
    let url = browser.current_url().await.unwrap();
    assert!(url.as_str().ends_with("/admin/"), "{url}");
    type_into(&browser, "#token", "not-the-token").await;
    click(&browser, "#sign-in").await;
    let refused = until(
        &browser,
        "the sign-in error",
        "const e = document.getElementById('sign-in-error'); return !e.hidden && e.textContent;",
    )
    .await;
    assert!(
        refused
            .as_str()
            .unwrap()
            .contains("HTTP 401 unauthorized: Authorization: Bearer <token> is required"),
        "{refused}"
    );
    screenshot(&browser, &shots, "sign-in").await;

    let field = browser.find(Locator::Css("#token")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(TOKEN).await.unwrap();
    click(&browser, "#sign-in").await;

    // Actors: every actor, live.
    until(
        &browser,
        "the actors",
        "return document.querySelectorAll('[data-actor]').length >= 13 \
         && actorState('slack-deployment') === 'running';",
    )
    .await;
    let kept = run(
        &browser,
        "return sessionStorage.getItem('alvares.adminToken');",
    )
    .await;
    assert_eq!(kept, json!(TOKEN), "the token is kept in the session");
    screenshot(&browser, &shots, "actors").await;

    // Switch slack-deployment off.
    click(&browser, "[data-actor='slack-deployment'] .actor-switch").await;
    let said = until(
        &browser,
        "slack-deployment switched off",
        "return actorState('slack-deployment') === 'disabled' \
         && actorAction('slack-deployment').startsWith('Switched off') \
         && actorAction('slack-deployment');",
    )
    .await;
    assert!(said.as_str().unwrap().contains("now disabled"), "{said}");

    // Payloads are network data: markup in one stays text.
    let (status, _) = app
        .put_event(
            "error",
            &json!({"message": MARKUP, "slackChannels": "#team"}),
        )
        .await;
    assert_eq!(status, 202);

    // A deployment while it is off: skipped for it, and why.
    let skipped_id = deploy(&app, "#team").await;
    let view = app.finished_event(&skipped_id).await;
    assert_eq!(delivery_state(&view, "slack-deployment"), "skipped");
    click(&browser, "#tabs a[data-view='events']").await;
    open_event(&browser, &skipped_id).await;
    let detail = until(
        &browser,
        "slack-deployment skipped in the events view",
        &delivery_script(&skipped_id, "slack-deployment", "skipped"),
    )
    .await;
    assert_eq!(detail, json!("skipped: disabled"));
    let escaped = browser
        .execute(
            "return document.title === 'Alvares admin console' \
                && document.querySelectorAll('#events img').length === 0 \
                && document.getElementById('events').textContent.includes(arguments[0]);",
            vec![json!(MARKUP)],
        )
        .await
        .unwrap();
    assert_eq!(
        escaped,
        json!(true),
        "API data is shown as text, not markup"
    );
    screenshot(&browser, &shots, "events").await;

    // The filter narrows the list to that application.
    type_into(&browser, "#filter-application", "nobody-deploys-this").await;
    click(&browser, "#events-filter button[type='submit']").await;
    until(
        &browser,
        "the filter to empty the list",
        "return document.querySelectorAll('details.event').length === 0 \
         && document.getElementById('events').textContent.includes('No events match');",
    )
    .await;
    browser
        .find(Locator::Css("#filter-application"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    click(&browser, "#events-filter button[type='submit']").await;

    // On again.
    click(&browser, "#tabs a[data-view='actors']").await;
    click(&browser, "[data-actor='slack-deployment'] .actor-switch").await;
    until(
        &browser,
        "slack-deployment switched on",
        "return actorState('slack-deployment') === 'running' \
         && actorAction('slack-deployment').startsWith('Switched on');",
    )
    .await;

    // A deployment to a channel Slack does not know: a dead letter.
    let failed_id = deploy(&app, "#gone").await;
    let view = app.finished_event(&failed_id).await;
    assert_eq!(delivery_state(&view, "slack-deployment"), "failed");
    // The actor's dead-letter count links to its dead letters.
    click(
        &browser,
        "[data-actor='slack-deployment'] a[data-stat='deadLettered']",
    )
    .await;
    let chosen = until(
        &browser,
        "the dead letters of slack-deployment",
        "return location.hash === '#dead-letters' \
            && document.getElementById('dead-letters-subscriber').value;",
    )
    .await;
    assert_eq!(chosen, json!("slack-deployment"));
    let error = until(
        &browser,
        "the dead letter",
        &format!(
            "const d = document.querySelector(\".dead-letter[data-subscriber='slack-deployment']\"); \
             return d && d.textContent.includes('{failed_id}') && d.querySelector('.error-text').textContent;"
        ),
    )
    .await;
    assert_eq!(
        error,
        json!("#gone: Slack answered HTTP 404: channel_not_found")
    );
    screenshot(&browser, &shots, "dead-letters").await;

    // The channel exists now: replay slack-deployment's one, then all of
    // application-endpoint's; both are delivered.
    slack.reset().await;
    slack_answers_ok(&slack).await;
    click(
        &browser,
        ".dead-letter[data-subscriber='slack-deployment'] button.replay",
    )
    .await;
    let result = until(
        &browser,
        "the replay's result",
        "const r = document.getElementById('dead-letters-result'); \
         return !r.hidden \
             && !document.querySelector(\".dead-letter[data-subscriber='slack-deployment']\") \
             && r.textContent;",
    )
    .await;
    assert!(
        result
            .as_str()
            .unwrap()
            .starts_with("Replayed 1 dead letter (slack-deployment"),
        "{result}"
    );
    browser
        .find(Locator::Css("#dead-letters-subscriber"))
        .await
        .unwrap()
        .select_by_value("application-endpoint")
        .await
        .unwrap();
    click(&browser, "#replay-all:enabled").await;
    let result = until(
        &browser,
        "the replay-all result",
        "const r = document.getElementById('dead-letters-result'); \
         return r.textContent.includes('of application-endpoint') \
             && document.querySelectorAll('.dead-letter').length === 0 && r.textContent;",
    )
    .await;
    assert_eq!(
        result,
        json!("Replayed 1 dead letter of application-endpoint.")
    );
    let view = app.finished_event(&failed_id).await;
    assert_eq!(delivery_state(&view, "slack-deployment"), "delivered");
    assert_eq!(delivery_state(&view, "application-endpoint"), "delivered");
    click(&browser, "#tabs a[data-view='events']").await;
    open_event(&browser, &failed_id).await;
    until(
        &browser,
        "the replayed delivery in the events view",
        &delivery_script(&failed_id, "slack-deployment", "delivered"),
    )
    .await;
    screenshot(&browser, &shots, "events-replayed").await;

    // The same console on a phone-sized screen.
    browser.set_window_size(390, 844).await.unwrap();
    click(&browser, "#tabs a[data-view='actors']").await;
    until(
        &browser,
        "the actors on a phone",
        "return actorState('slack-deployment') === 'running';",
    )
    .await;
    assert_no_sideways_scrolling(&browser).await;
    screenshot(&browser, &shots, "actors-phone").await;
    click(&browser, "#tabs a[data-view='events']").await;
    until(
        &browser,
        "the events on a phone",
        &delivery_script(&failed_id, "slack-deployment", "delivered"),
    )
    .await;
    assert_no_sideways_scrolling(&browser).await;
    screenshot(&browser, &shots, "events-phone").await;

    // Signing out forgets the token.
    click(&browser, "#sign-out").await;
    until(
        &browser,
        "the sign-in form after signing out",
        "return !document.getElementById('view-sign-in').hidden \
            && sessionStorage.getItem('alvares.adminToken') === null;",
    )
    .await;

    browser.close().await.unwrap();
}

/// The insights view over 60 days of history sent through intake on a
/// manual clock: what it shows is worked out by hand below.
///
/// Deployments (day after the start, at the start's time of day):
/// web (team-a) to active every 5 days from day 0 to 55 and to stage on
/// days 2, 22, 42; api (team-a) to active on days 1, 8, 15; search (team-b)
/// to active every 7 days from day 3 to 59 and to stage on days 30, 50;
/// batch (team-c) to active on day 4 and to stage on day 6: 31 in all.
/// Errors: web active 2 h after days 10 and 30 (restored 118 h later each),
/// search active 3 h after days 17 and 38 (restored after 165 h), batch
/// active 1 h after day 4 (never restored). Now is day 60.
#[actix_web::test]
async fn the_insights_view_charts_the_history_in_a_real_browser() {
    let Some(driver) = Chromedriver::start() else {
        return;
    };
    const DAY: i64 = 86_400_000;
    const HOUR: i64 = 3_600_000;
    let start = alvares::clock::unix_ms(std::time::SystemTime::now()) - 60 * DAY;
    let clock = alvares::clock::ManualClock::starting_at(start);
    let app = spawn_app_full(
        std::sync::Arc::new(TestDatabase::sqlite()),
        &[("ADMIN_TOKEN", TOKEN)],
        alvares::subscribers::registrations(),
        clock.clone(),
    )
    .await;
    let mut history: Vec<(i64, &str, Value)> = Vec::new();
    let mut deploy_at = |day: i64, application: &str, cluster: &str, team: &str| {
        history.push((
            day * DAY,
            "deployment",
            json!({"applicationName": application, "cluster": cluster,
                   "version": format!("1.{day}.0"), "team": team}),
        ));
    };
    for day in (0..=55).step_by(5) {
        deploy_at(day, "web", "active", "team-a");
    }
    for day in [2, 22, 42] {
        deploy_at(day, "web", "stage", "team-a");
    }
    for day in [1, 8, 15] {
        deploy_at(day, "api", "active", "team-a");
    }
    for day in (3..=59).step_by(7) {
        deploy_at(day, "search", "active", "team-b");
    }
    for day in [30, 50] {
        deploy_at(day, "search", "stage", "team-b");
    }
    deploy_at(4, "batch", "active", "team-c");
    deploy_at(6, "batch", "stage", "team-c");
    for (at, application) in [
        (10 * DAY + 2 * HOUR, "web"),
        (30 * DAY + 2 * HOUR, "web"),
        (17 * DAY + 3 * HOUR, "search"),
        (38 * DAY + 3 * HOUR, "search"),
        (4 * DAY + HOUR, "batch"),
    ] {
        history.push((
            at,
            "error",
            json!({"message": "failed", "applicationName": application, "cluster": "active"}),
        ));
    }
    history.sort_by_key(|(at, ..)| *at);
    let mut now = 0;
    for (at, kind, body) in &history {
        clock.advance(Duration::from_millis((at - now) as u64));
        now = *at;
        let (status, answer) = app.put_event(kind, body).await;
        assert_eq!(status, 202, "{answer}");
        app.finished_event(answer["id"].as_str().unwrap()).await;
    }
    clock.advance(Duration::from_millis((60 * DAY - now) as u64));

    let browser = driver.browser().await;
    let shots = screenshot_folder();
    browser
        .goto(&format!("{}/admin/#insights", app.address))
        .await
        .unwrap();
    type_into(&browser, "#token", TOKEN).await;
    click(&browser, "#sign-in").await;
    let summary = until(
        &browser,
        "the insights summary",
        "return !document.getElementById('view-insights').hidden             && document.getElementById('insights-summary').textContent;",
    )
    .await;
    assert_eq!(
        summary,
        json!(
            "31 deployments5 failedchange-failure rate 16.1 %\
             time to restore: median 5.9 days, mean 5.9 days (4 restored, 1 not yet)"
        )
    );
    // Every deployment is in a bar of the per-day chart, coloured by cluster.
    let charted = run(
        &browser,
        "const bars = [...document.querySelectorAll('#insights-per-day rect')];              return [bars.reduce((n, bar) => n + Number(bar.dataset.count), 0),                      [...new Set(bars.map((bar) => bar.dataset.cluster))].sort(),                      document.getElementById('insights-per-day-legend').textContent];",
    )
    .await;
    assert_eq!(charted, json!([31, ["active", "stage"], "activestage"]));
    let rates = run(
        &browser,
        "return [...document.querySelectorAll('#insights-failure-rate text')]                  .map((t) => t.textContent);",
    )
    .await;
    assert_eq!(
        rates,
        json!([
            "team-a",
            "11.1 % (2/18)",
            "team-b",
            "18.2 % (2/11)",
            "team-c",
            "50.0 % (1/2)"
        ])
    );
    let stale_script = "return [...document.querySelectorAll('#insights-stale-list tbody tr')]          .map((row) => [...row.children].filter((_, i) => i !== 4).map((td) => td.textContent).join(' '));";
    let stale = run(&browser, stale_script).await;
    assert_eq!(
        stale,
        json!([
            "batch active 1.4.0 team-c 56",
            "batch stage 1.6.0 team-c 54",
            "api active 1.15.0 team-a 45"
        ])
    );
    screenshot(&browser, &shots, "insights").await;

    // A shorter threshold lists more applications.
    browser
        .find(Locator::Css("#insights-stale"))
        .await
        .unwrap()
        .select_by_value("7")
        .await
        .unwrap();
    let stale = run(&browser, stale_script).await;
    assert_eq!(
        stale,
        json!([
            "batch active 1.4.0 team-c 56",
            "batch stage 1.6.0 team-c 54",
            "api active 1.15.0 team-a 45",
            "web stage 1.42.0 team-a 18",
            "search stage 1.50.0 team-b 10"
        ])
    );

    // One team's figures.
    type_into(&browser, "#insights-team", "team-b").await;
    click(&browser, "#insights-apply").await;
    let summary = until(
        &browser,
        "team-b's figures",
        "const s = document.getElementById('insights-summary').textContent;          return s.startsWith('11 deployments') && s;",
    )
    .await;
    assert_eq!(
        summary,
        json!(
            "11 deployments2 failedchange-failure rate 18.2 %\
             time to restore: median 6.9 days, mean 6.9 days (2 restored, 0 not yet)"
        )
    );
    let rates = run(
        &browser,
        "return [...document.querySelectorAll('#insights-failure-rate text')]                  .map((t) => t.textContent);",
    )
    .await;
    assert_eq!(rates, json!(["team-b", "18.2 % (2/11)"]));

    // On a phone: no sideways scrolling.
    browser.set_window_size(390, 844).await.unwrap();
    assert_no_sideways_scrolling(&browser).await;
    screenshot(&browser, &shots, "insights-phone").await;
    browser.close().await.unwrap();
}

/// The routes-and-silences view: the example file's routes and webhook as in
/// force (secrets only by their variable), a silence made from the form that
/// then silences a matching deployment, and ended early from its card.
#[actix_web::test]
async fn an_operator_sees_the_routes_and_silences_a_noisy_application_in_a_real_browser() {
    let Some(driver) = Chromedriver::start() else {
        return;
    };
    let slack = MockServer::start().await;
    slack_answers_ok(&slack).await;
    let mut vars = crate::helpers::example_destinations_off(&[]);
    vars.extend([
        ("ADMIN_TOKEN", TOKEN.to_owned()),
        ("SLACK_WEB_HOOK", hook(&slack)),
        ("ALVARES_CONFIG", crate::helpers::EXAMPLE.to_owned()),
        (
            "INCIDENTS_WEBHOOK_URL",
            "http://127.0.0.1:9/incidents".to_owned(),
        ),
        (
            "INCIDENTS_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        ),
    ]);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app(&vars).await;
    let browser = driver.browser().await;
    let shots = screenshot_folder();
    browser
        .goto(&format!("{}/admin/#operator", app.address))
        .await
        .unwrap();
    type_into(&browser, "#token", TOKEN).await;
    click(&browser, "#sign-in").await;
    click(&browser, "#tabs a[data-view='operator']").await;

    let routes = until(
        &browser,
        "the example's routes",
        "const r = [...document.querySelectorAll('[data-route]')]; \
         return r.length === 3 && r.map((n) => n.dataset.route).join('|');",
    )
    .await;
    assert_eq!(
        routes,
        json!("studadm production|kth errors to ops|no recommendations in general")
    );
    let webhook = until(
        &browser,
        "the example's webhook",
        "const w = document.querySelector(\"[data-webhook='incidents']\"); return w && w.textContent;",
    )
    .await;
    let webhook = webhook.as_str().unwrap();
    assert!(
        webhook.contains("POST $INCIDENTS_WEBHOOK_URL")
            && webhook.contains("signed with $INCIDENTS_WEBHOOK_SECRET"),
        "{webhook}"
    );
    let page = run(&browser, "return document.body.textContent;").await;
    assert!(
        !page.as_str().unwrap().contains("whsec_") && !page.as_str().unwrap().contains(":9/"),
        "a secret reached the page"
    );

    // Silence console-app for two hours from the form.
    for (field, value) in [
        ("#silence-pattern", "console-*"),
        ("#silence-comment", "noisy rollout"),
        ("#silence-by", "oncall"),
    ] {
        type_into(&browser, field, value).await;
    }
    click(&browser, "#silence-create").await;
    let card = until(
        &browser,
        "the new silence",
        "const c = document.querySelector(\"[data-silence-id][data-state='active']\"); \
         return c && c.dataset.silenceId;",
    )
    .await;
    let silence = card.as_str().unwrap().to_owned();

    let id = deploy(&app, "#console").await;
    let view = app.finished_event(&id).await;
    let silenced_by = format!("silenced by {silence}");
    let silenced: Vec<&str> = view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["state"] == "skipped" && d["outcome"] == silenced_by.as_str())
        .map(|d| d["subscriber"].as_str().unwrap())
        .collect();
    assert!(silenced.contains(&"slack-deployment"), "{view}");
    let counted = until(
        &browser,
        "the silenced count",
        &format!(
            "const c = document.querySelector(\"[data-silence-id='{silence}']\"); \
             return c && c.textContent.includes('· {} deliveries silenced') && c.textContent;",
            silenced.len()
        ),
    )
    .await;
    assert!(
        counted
            .as_str()
            .unwrap()
            .contains("applicationName = console-*")
            && counted.as_str().unwrap().contains("by oncall"),
        "{counted}"
    );
    screenshot(&browser, &shots, "operator").await;

    // End it early: the next deployment is delivered again.
    click(&browser, &format!("[data-silence-id='{silence}'] button")).await;
    until(
        &browser,
        "the ended silence",
        &format!("return Boolean(document.querySelector(\"[data-silence-id='{silence}'][data-state='ended']\"));"),
    )
    .await;
    let id = deploy(&app, "#console").await;
    let view = app.finished_event(&id).await;
    assert_eq!(delivery_state(&view, "slack-deployment"), "delivered");

    browser.set_window_size(390, 844).await.unwrap();
    assert_no_sideways_scrolling(&browser).await;
    browser.close().await.unwrap();
}

async fn slack_answers_ok(slack: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .with_priority(10)
        .mount(slack)
        .await;
}

/// PUTs a deployment of `console-app` to `channel`; answers its id.
async fn deploy(app: &TestApp, channel: &str) -> String {
    let (status, answer) = app
        .put_event(
            "deployment",
            &json!({
                "applicationName": "console-app",
                "cluster": "stage",
                "version": "1.2.3_abc",
                "slackChannels": channel,
            }),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

fn delivery_state(view: &Value, subscriber: &str) -> String {
    view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == subscriber)
        .and_then(|d| d["state"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Waits for the event in the list (the view refreshes itself) and opens it.
async fn open_event(browser: &Client, id: &str) {
    until(
        browser,
        &format!("event {id} in the events view"),
        &format!("return Boolean(document.querySelector(\"details[data-event-id='{id}']\"));"),
    )
    .await;
    click(browser, &format!("details[data-event-id='{id}'] > summary")).await;
}

/// A script answering the detail of a subscriber's delivery of an event
/// once it is in `state` (and the event is open).
fn delivery_script(id: &str, subscriber: &str, state: &str) -> String {
    format!(
        "const e = document.querySelector(\"details[data-event-id='{id}']\"); \
         const r = e && e.open && e.querySelector(\"tr[data-subscriber='{subscriber}']\"); \
         return r && r.dataset.state === '{state}' \
             && r.querySelector('.delivery-detail').textContent;"
    )
}

async fn click(browser: &Client, css: &str) {
    let element = browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
    element
        .click()
        .await
        .unwrap_or_else(|e| panic!("could not click {css}: {e}"));
}

async fn type_into(browser: &Client, css: &str, text: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("could not type into {css}: {e}"));
}

/// On a phone-sized window the page fits its width.
async fn assert_no_sideways_scrolling(browser: &Client) {
    let fits = run(
        browser,
        "return document.documentElement.scrollWidth <= window.innerWidth;",
    )
    .await;
    assert_eq!(fits, json!(true), "no sideways scrolling on a phone");
}

/// Runs a script in the page and answers what it returns.
async fn run(browser: &Client, script: &str) -> Value {
    browser
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("the script failed: {e}\n{script}"))
}

/// Polls a script in the page until it answers something truthy (not
/// `null`, `false`, `""` or `0`), and answers that.
async fn until(browser: &Client, what: &str, script: &str) -> Value {
    let script = format!(
        "const actorCard = (id) => document.querySelector(`[data-actor='${{id}}']`); \
         const actorState = (id) => actorCard(id) && actorCard(id).dataset.state; \
         const actorAction = (id) => (actorCard(id) && actorCard(id).querySelector('.actor-action').textContent) || ''; \
         {script}"
    );
    eventually(what, DEADLINE, || async {
        let value = browser.execute(&script, vec![]).await.ok()?;
        let truthy = match &value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::String(s) => !s.is_empty(),
            Value::Number(n) => n.as_f64() != Some(0.0),
            _ => true,
        };
        truthy.then_some(value)
    })
    .await
}

/// `target/console-screenshots/` (next to the build's own `tmp`).
fn screenshot_folder() -> PathBuf {
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target folder")
        .join("console-screenshots");
    std::fs::create_dir_all(&folder).expect("the screenshot folder");
    folder
}

async fn screenshot(browser: &Client, folder: &Path, name: &str) {
    browser
        .execute("window.scrollTo(0, 0);", vec![])
        .await
        .expect("scrolled to the top");
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(folder.join(format!("{name}.png")), png).expect("the screenshot is saved");
}

/// A chromedriver on a free local port in a process group of its own;
/// dropping it stops the group (chromedriver and the Chromium it started,
/// even when the test failed before closing the session) and removes the
/// browser profile.
struct Chromedriver {
    process: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Chromedriver {
    /// `None` (and the test says it was skipped) when chromedriver is not
    /// installed, unless `REQUIRE_BROWSER_TESTS` is set.
    fn start() -> Option<Self> {
        let Some(binary) = find_chromedriver() else {
            assert!(
                std::env::var_os("REQUIRE_BROWSER_TESTS").is_none(),
                "REQUIRE_BROWSER_TESTS is set but chromedriver is not installed \
                 (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipped: chromedriver not found");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let process = Command::new(binary)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Chromedriver {
            process,
            url: format!("http://127.0.0.1:{port}"),
            profile: tempfile::tempdir().expect("a browser profile folder"),
        };
        let start = std::time::Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < DEADLINE,
                "chromedriver did not listen on port {port} within {DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(driver)
    }

    /// A new headless Chromium with a profile of its own.
    async fn browser(&self) -> Client {
        let mut options = json!({
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", self.profile.path().display()),
            ]
        });
        if Path::new("/usr/bin/chromium").exists() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a WebDriver session with headless Chromium")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The group's id is chromedriver's own pid.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.process.id())])
            .status();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn find_chromedriver() -> Option<PathBuf> {
    let installed = PathBuf::from("/usr/bin/chromedriver");
    if installed.exists() {
        return Some(installed);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromedriver"))
            .find(|candidate| candidate.is_file())
    })
}
