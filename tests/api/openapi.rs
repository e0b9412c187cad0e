//! The OpenAPI document (`GET /api/openapi.json`) and the documentation
//! page (`GET /api/docs`): the document lists exactly the routes the
//! router mounts, and real answers validate against its schemas.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use alvares::routes::mounted;
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, eventually, fixture, spawn_app};

const ADMIN_TOKEN: &str = "openapi-test-admin-token";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "options", "head", "trace",
];

/// One answer: status, `Content-Type`, headers and the raw body.
struct Answer {
    status: u16,
    content_type: String,
    allow: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

async fn request(
    app: &TestApp,
    method_name: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let method = awc::http::Method::from_bytes(method_name.as_bytes()).unwrap();
    let mut request = app.http.request(method, format!("{}{path}", app.address));
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    }
    .expect("request sent");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("Content-Type").unwrap_or_default();
    let allow = header("Allow");
    let body = response
        .body()
        .limit(16 * 1024 * 1024)
        .await
        .expect("a body")
        .to_vec();
    Answer {
        status: response.status().as_u16(),
        content_type,
        allow,
        body,
    }
}

async fn document(app: &TestApp) -> Value {
    let answer = request(app, "GET", "/api/openapi.json", None, None).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.content_type.starts_with("application/json"),
        "{}",
        answer.content_type
    );
    answer.json()
}

/// Every (METHOD, path) the document lists.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(|method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

#[actix_web::test]
async fn the_document_lists_exactly_the_mounted_routes() {
    let app = spawn_app(&[]).await;
    let document = document(&app).await;
    let mounted: BTreeSet<(String, String)> = mounted().into_iter().collect();
    for expected in [
        ("PUT", "/api/v1/deployment"),
        ("POST", "/api/v1/recommendation"),
        ("GET", "/api/v1/events/{id}"),
        ("PUT", "/admin/subscribers/{id}"),
        ("GET", "/admin/console.js"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/docs"),
    ] {
        assert!(
            mounted.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} is not in {mounted:?}"
        );
    }
    let documented = documented(&document);
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "mounted, not documented: {undocumented:?}"
    );
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        unmounted.is_empty(),
        "documented, not mounted: {unmounted:?}"
    );

    // The router itself: every path is mounted, taking exactly its methods
    // (any other is a 405 naming them). The probe is a method the path
    // does not take (a silence is ended with DELETE).
    let mut methods: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (method, path) in &mounted {
        methods.entry(path).or_default().insert(method);
    }
    for (path, methods) in methods {
        let concrete = path.replace("{id}", "1").replace("{cluster}", "active");
        // A method the path does not take.
        let other = ["DELETE", "PATCH"]
            .into_iter()
            .find(|m| !methods.contains(m))
            .unwrap();
        let answer = request(&app, other, &concrete, None, None).await;
        assert_eq!(answer.status, 405, "{other} {concrete}");
        let allow: BTreeSet<&str> = answer
            .allow
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .collect();
        assert_eq!(allow, methods, "Allow of {path}");
    }
}

#[actix_web::test]
async fn the_document_is_openapi_3_1_with_the_crate_version_and_no_secret() {
    let app = spawn_app(&[
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        ("INGEST_TOKEN", "openapi-test-ingest-token"),
    ])
    .await;
    let answer = request(&app, "GET", "/api/openapi.json", None, None).await;
    let text = String::from_utf8(answer.body.clone()).expect("UTF-8");
    let document: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(document["info"]["title"], "Alvares");
    for secret in [ADMIN_TOKEN, "openapi-test-ingest-token"] {
        assert!(!text.contains(secret), "the document holds a secret");
    }

    let schemes = &document["components"]["securitySchemes"];
    for name in ["adminToken", "ingestToken", "readToken"] {
        assert_eq!(schemes[name]["type"], "http", "{name}");
        assert_eq!(schemes[name]["scheme"], "bearer", "{name}");
    }
    for (method, path) in documented(&document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        let security = &operation["security"];
        if path.starts_with("/admin/") && !path.starts_with("/admin/console.") && path != "/admin/"
        {
            assert_eq!(security, &json!([{"adminToken": []}]), "{method} {path}");
        } else if path.starts_with("/api/v1/") && method != "GET" {
            assert_eq!(
                security,
                &json!([{}, {"ingestToken": []}]),
                "{method} {path}"
            );
        } else if path.starts_with("/api/v1/") {
            assert_eq!(security, &json!([{}, {"readToken": []}]), "{method} {path}");
        } else {
            assert!(security.is_null(), "{method} {path}: {security}");
        }
        assert!(
            operation["summary"].is_string(),
            "{method} {path} has no summary"
        );
        // Each operation is under one of the areas the document describes.
        let tag = operation["tags"][0].as_str().unwrap_or_default();
        assert!(
            document["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["name"] == tag),
            "{method} {path} is tagged {tag:?}"
        );
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
    }
    let ids: Vec<&str> = documented(&document)
        .iter()
        .map(|(method, path)| {
            document["paths"][path][method.to_lowercase()]["operationId"]
                .as_str()
                .expect("an operation id")
        })
        .collect();
    let unique: BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "operation ids repeat: {ids:?}");
}

/// Validates JSON against schemas of one OpenAPI document, following its
/// `$ref`s. Strict: an object schema that does not say otherwise admits no
/// property it does not list, so an undocumented field fails too.
struct Schemas {
    document: Value,
}

impl Schemas {
    fn new(mut document: Value) -> Self {
        close_objects(&mut document["components"]);
        Schemas { document }
    }

    /// Follows a `#/…` reference within the document.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value["$ref"].as_str() {
            Some(reference) => {
                let pointer = reference.strip_prefix('#').expect("a local $ref");
                self.document
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("{reference} does not resolve"))
            }
            None => value,
        }
    }

    /// The JSON schema of an operation's answer with `status`.
    fn answer(&self, method: &str, path: &str, status: u16) -> Value {
        let operation = &self.document["paths"][path][method.to_lowercase()];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let response = &operation["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {path} does not document {status}"
        );
        self.resolve(response)["content"]["application/json"]["schema"].clone()
    }

    /// The schema of a reusable response (`components.responses`).
    fn response(&self, name: &str) -> Value {
        self.document["components"]["responses"][name]["content"]["application/json"]["schema"]
            .clone()
    }

    /// `Err` with every error, when `value` does not match `schema`.
    fn check(&self, schema: &Value, value: &Value) -> Result<(), String> {
        assert!(schema.is_object(), "no schema: {schema}");
        // The schema with the document's components beside it, so that
        // its `#/components/…` references resolve.
        let mut root = schema.clone();
        root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        root["components"] = self.document["components"].clone();
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .map_err(|error| format!("the schema does not compile: {error}"))?;
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn assert_matches(&self, what: &str, schema: &Value, value: &Value) {
        if let Err(errors) = self.check(schema, value) {
            panic!("{what} does not match its documented schema: {errors}\nbody: {value:#}");
        }
    }
}

/// Adds `additionalProperties: false` to every object schema with
/// properties that does not set it (the event shapes allow other fields
/// and say so).
fn close_objects(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), json!(false));
            }
            for (_, child) in map.iter_mut() {
                close_objects(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// Sends a request and validates its JSON answer against what the
/// document says the operation (`method` on the path pattern) answers
/// with that status. Answers the body.
async fn checked(
    app: &TestApp,
    schemas: &Schemas,
    (method, pattern): (&str, &str),
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    status: u16,
) -> Value {
    let answer = request(app, method, path, token, body).await;
    assert_eq!(
        answer.status,
        status,
        "{method} {path}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(
        answer.content_type.starts_with("application/json"),
        "{method} {path} answered {}",
        answer.content_type
    );
    let value = answer.json();
    let schema = schemas.answer(method, pattern, status);
    schemas.assert_matches(&format!("{method} {path} ({status})"), &schema, &value);
    value
}

#[actix_web::test]
async fn real_answers_validate_against_the_documented_schemas() {
    // Slack answers 404: every Slack delivery fails at once, a dead letter.
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no_service"))
        .mount(&slack)
        .await;
    let hook = format!("{}/hook", slack.uri());
    let app = spawn_app(&[("ADMIN_TOKEN", ADMIN_TOKEN), ("SLACK_WEB_HOOK", &hook)]).await;
    let schemas = Schemas::new(document(&app).await);
    let admin = Some(ADMIN_TOKEN);

    // The validation is not vacuous: a wrong shape fails.
    let page = schemas.answer("GET", "/api/v1/deployments", 200);
    assert!(
        schemas
            .check(&page, &json!({"deployments": [], "nextCursor": null}))
            .is_ok()
    );
    for wrong in [
        json!({"deployments": "none", "nextCursor": null}),
        json!({"deployments": [{"id": "x"}], "nextCursor": null}),
        json!({"deployments": [], "nextCursor": null, "undocumented": 1}),
    ] {
        assert!(schemas.check(&page, &wrong).is_err(), "{wrong} passed");
    }

    // Intake, all three kinds.
    let deployment = checked(
        &app,
        &schemas,
        ("PUT", "/api/v1/deployment"),
        "/api/v1/deployment",
        None,
        Some(fixture("deployment.json")),
        202,
    )
    .await;
    let error = checked(
        &app,
        &schemas,
        ("POST", "/api/v1/error"),
        "/api/v1/error",
        None,
        Some(fixture("error.json")),
        202,
    )
    .await;
    let mut advice = fixture("recommendations.json")[0].clone();
    advice
        .as_object_mut()
        .unwrap()
        .remove("expected-enriched-values");
    let recommendation = checked(
        &app,
        &schemas,
        ("PUT", "/api/v1/recommendation"),
        "/api/v1/recommendation",
        None,
        Some(advice),
        202,
    )
    .await;
    let deployment_id = deployment["id"].as_str().expect("an id").to_owned();
    for accepted in [&deployment, &error, &recommendation] {
        app.finished_event(accepted["id"].as_str().unwrap()).await;
    }
    eventually("a dead letter", Duration::from_secs(10), || async {
        let answer = request(&app, "GET", "/admin/dead-letters", admin, None).await;
        (answer.status == 200 && !answer.json()["deadLetters"].as_array()?.is_empty()).then_some(())
    })
    .await;

    // Every read route.
    let events_of = format!("/api/v1/events/{deployment_id}");
    let one_deployment = format!("/api/v1/deployments/{deployment_id}");
    for (pattern, path, token) in [
        ("/api/v1/deployments", "/api/v1/deployments", None),
        (
            "/api/v1/deployments",
            "/api/v1/deployments?cluster=active&limit=1",
            None,
        ),
        ("/api/v1/deployments/{id}", one_deployment.as_str(), None),
        (
            "/api/v1/clusters/{cluster}/latest",
            "/api/v1/clusters/active/latest",
            None,
        ),
        ("/api/v1/events/{id}", events_of.as_str(), None),
        ("/api/v1/insights", "/api/v1/insights", None),
        (
            "/api/v1/insights",
            "/api/v1/insights?team=no-such-team&bucket=week&since=2026-01-01",
            None,
        ),
        ("/healthz", "/healthz", None),
        ("/readyz", "/readyz", None),
        ("/admin/actors", "/admin/actors", admin),
        (
            "/admin/actors/{id}",
            "/admin/actors/slack-deployment",
            admin,
        ),
        ("/admin/actors/{id}", "/admin/actors/intake", admin),
        ("/admin/dead-letters", "/admin/dead-letters", admin),
        (
            "/admin/dead-letters",
            "/admin/dead-letters?subscriber=slack-error&limit=1",
            admin,
        ),
        ("/admin/events", "/admin/events", admin),
        ("/admin/events", "/admin/events?kind=error", admin),
    ] {
        checked(&app, &schemas, ("GET", pattern), path, token, None, 200).await;
    }

    // The answers seen hold what the test is about: a dead letter, a
    // failed delivery, a subscriber's circuit.
    let letters = request(&app, "GET", "/admin/dead-letters", admin, None)
        .await
        .json();
    assert!(
        letters["deadLetters"][0]["lastError"].is_string(),
        "{letters}"
    );
    let actor = request(&app, "GET", "/admin/actors/slack-deployment", admin, None)
        .await
        .json();
    assert!(actor["circuit"].is_object(), "{actor}");

    // The admin writes.
    checked(
        &app,
        &schemas,
        ("PUT", "/admin/subscribers/{id}"),
        "/admin/subscribers/uptimerobot",
        admin,
        Some(json!({"enabled": false})),
        200,
    )
    .await;
    let letter = letters["deadLetters"][0]["id"].as_i64().expect("an id");
    checked(
        &app,
        &schemas,
        ("POST", "/admin/dead-letters/{id}/replay"),
        &format!("/admin/dead-letters/{letter}/replay"),
        admin,
        None,
        200,
    )
    .await;
    checked(
        &app,
        &schemas,
        ("POST", "/admin/dead-letters/replay"),
        "/admin/dead-letters/replay?subscriber=slack-error",
        admin,
        None,
        200,
    )
    .await;

    // Error answers.
    let not_found = checked(
        &app,
        &schemas,
        ("GET", "/api/v1/events/{id}"),
        "/api/v1/events/no-such-event",
        None,
        None,
        404,
    )
    .await;
    assert_eq!(not_found["error"], "not_found");
    checked(
        &app,
        &schemas,
        ("GET", "/admin/actors/{id}"),
        "/admin/actors/no-such-actor",
        admin,
        None,
        404,
    )
    .await;
    let invalid = checked(
        &app,
        &schemas,
        ("PUT", "/api/v1/deployment"),
        "/api/v1/deployment",
        None,
        Some(json!({"cluster": "active"})),
        422,
    )
    .await;
    assert_eq!(invalid["field"], "applicationName");
    checked(
        &app,
        &schemas,
        ("GET", "/api/v1/deployments"),
        "/api/v1/deployments?limit=0",
        None,
        None,
        400,
    )
    .await;
    let bad_bucket = checked(
        &app,
        &schemas,
        ("GET", "/api/v1/insights"),
        "/api/v1/insights?bucket=month",
        None,
        None,
        400,
    )
    .await;
    assert_eq!(bad_bucket["field"], "bucket");
    let unauthorized = checked(
        &app,
        &schemas,
        ("GET", "/admin/actors"),
        "/admin/actors",
        Some("a wrong token"),
        None,
        401,
    )
    .await;
    assert_eq!(unauthorized["error"], "unauthorized");
    checked(
        &app,
        &schemas,
        ("GET", "/admin/events"),
        "/admin/events",
        None,
        None,
        401,
    )
    .await;

    // The answers no operation lists: an unknown path, a wrong method.
    let answer = request(&app, "GET", "/no/such/path", None, None).await;
    assert_eq!(answer.status, 404);
    let error_body = json!({"$ref": "#/components/schemas/ErrorBody"});
    schemas.assert_matches("an unknown path's 404", &error_body, &answer.json());
    let answer = request(&app, "PATCH", "/api/v1/deployment", None, None).await;
    assert_eq!(answer.status, 405);
    schemas.assert_matches(
        "a wrong method's 405",
        &schemas.response("MethodNotAllowed"),
        &answer.json(),
    );
}

#[actix_web::test]
async fn the_admin_api_switched_off_answers_the_documented_403() {
    let app = spawn_app(&[]).await;
    let schemas = Schemas::new(document(&app).await);
    let answer = checked(
        &app,
        &schemas,
        ("GET", "/admin/dead-letters"),
        "/admin/dead-letters",
        Some("anything"),
        None,
        403,
    )
    .await;
    assert_eq!(answer["error"], "forbidden");
}

#[actix_web::test]
async fn the_docs_page_is_one_self_contained_page() {
    let app = spawn_app(&[]).await;
    let mut response = app
        .http
        .get(format!("{}/api/docs", app.address))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status().as_u16(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("Content-Type").starts_with("text/html"));
    let policy = header("Content-Security-Policy");
    let html = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();

    // Nothing from another host: no absolute URL at all, and a policy
    // that allows only this origin.
    for scheme in ["http://", "https://", "src=\"//", "href=\"//"] {
        assert!(!html.contains(scheme), "the page refers to {scheme}…");
        assert!(!policy.contains(scheme), "the policy allows {scheme}…");
    }
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert!(
        html.contains("/api/openapi.json"),
        "the page reads the document"
    );
    assert!(
        !html.contains("<script src"),
        "one page: its script is inline"
    );
    assert!(
        !html.contains("<link"),
        "one page: its stylesheet is inline"
    );

    // The policy lets exactly the page's own script and stylesheet run.
    let inline = |open: &str, close: &str| {
        let start = html.find(open).unwrap_or_else(|| panic!("no {open}")) + open.len();
        let end = start + html[start..].find(close).unwrap();
        let digest = Sha256::digest(&html.as_bytes()[start..end]);
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    };
    assert!(
        policy.contains(&format!("script-src {}", inline("<script>", "</script>"))),
        "{policy}"
    );
    assert!(
        policy.contains(&format!("style-src {}", inline("<style>", "</style>"))),
        "{policy}"
    );
}
