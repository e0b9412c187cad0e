//! The API document is the contract (issue 20): what a client generated
//! from `/api/openapi.json` sends is what the service takes, and every
//! error is the one JSON body. Each defect schemathesis found is here with
//! its exact answer, and the document's patterns are checked against the
//! code that reads the values (`.ci/schemathesis.sh` runs schemathesis
//! itself against the release binary).

use alvares::domain::bounds::EventBounds;
use alvares::domain::event::Deployment;
use alvares::domain::matching::Conditions;
use alvares::domain::text::WHITESPACE;
use alvares::routes::docs::document_for;
use alvares::routes::operator::silence_request::{self, DURATION_PATTERN, GLOB_PATTERN};
use alvares::routes::params::{TimeForms, dead_letter_cursor, time};
use serde_json::{Value, json};

use crate::helpers::{TestApp, fixture, spawn_app};

const TOKEN: &str = "contract-test-admin-token";

/// One answer: status, `Content-Type` and the JSON body.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, String, Value) {
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.address))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")));
    for header in headers {
        request = request.insert_header(*header);
    }
    let mut response = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    }
    .expect("request sent");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("Content-Type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.body().limit(4 << 20).await.expect("a body");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|error| {
        panic!(
            "{path}: not JSON ({error}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, content_type, body)
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let (status, content_type, body) = call(app, "GET", path, None, &[]).await;
    assert_eq!(content_type, "application/json", "{path}");
    (status, body)
}

fn invalid_query(field: &str, problem: &str) -> Value {
    json!({"error": "invalid_query", "message": format!("{field}: {problem}"), "field": field})
}

/// The served document, as JSON.
fn document() -> Value {
    serde_json::to_value(document_for(&EventBounds::default())).unwrap()
}

/// Whether the document lists `status` for `method path`.
fn documents(document: &Value, method: &str, path: &str, status: u16) -> bool {
    document["paths"][path][method]["responses"][status.to_string()].is_object()
}

#[actix_web::test]
async fn a_duplicated_query_parameter_is_a_documented_json_400_naming_it() {
    let app = spawn_app(&[("ADMIN_TOKEN", TOKEN)]).await;
    let document = document();
    for (path, route, field) in [
        ("/admin/events?limit=1&limit=2", "/admin/events", "limit"),
        (
            "/api/v1/deployments?since=1&since=2",
            "/api/v1/deployments",
            "since",
        ),
        (
            "/api/v1/insights?bucket=day&bucket=week",
            "/api/v1/insights",
            "bucket",
        ),
        (
            "/admin/dead-letters/replay?subscriber=a&subscriber=b",
            "/admin/dead-letters/replay",
            "subscriber",
        ),
    ] {
        let method = if route.ends_with("replay") {
            "POST"
        } else {
            "GET"
        };
        let (status, content_type, body) = call(&app, method, path, None, &[]).await;
        assert_eq!(
            (status, content_type.as_str()),
            (400, "application/json"),
            "{path}"
        );
        assert_eq!(
            body,
            invalid_query(field, "is given more than once; give it once"),
            "{path}"
        );
        assert!(
            documents(&document, &method.to_lowercase(), route, 400),
            "{route}"
        );
    }
}

#[actix_web::test]
async fn empty_since_until_cursor_and_subscriber_are_absent() {
    let app = spawn_app(&[("ADMIN_TOKEN", TOKEN)]).await;
    let (status, _) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    for path in [
        "/api/v1/deployments?since=&cursor=",
        "/api/v1/clusters/active/latest?cursor=",
        "/api/v1/insights?since=&until=",
        "/admin/dead-letters?subscriber=&cursor=",
        "/admin/events?cursor=",
    ] {
        let (status, body) = get(&app, path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (_, page) = get(&app, "/api/v1/deployments?since=&cursor=").await;
    assert_eq!(page["deployments"].as_array().unwrap().len(), 1, "{page}");
    // The replay's subscriber is required: the schema says at least one
    // character.
    let (status, _, body) = call(
        &app,
        "POST",
        "/admin/dead-letters/replay?subscriber=",
        None,
        &[],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body, invalid_query("subscriber", "is required"));
    let parameter = &document()["paths"]["/admin/dead-letters/replay"]["post"]["parameters"][0];
    assert_eq!(parameter["name"], "subscriber");
    assert_eq!(
        (&parameter["required"], &parameter["schema"]["minLength"]),
        (&json!(true), &json!(1))
    );
}

#[actix_web::test]
async fn bucket_and_kind_take_exactly_their_enums() {
    let app = spawn_app(&[("ADMIN_TOKEN", TOKEN)]).await;
    for bucket in ["", "Week", "%20week", "month"] {
        let (status, body) = get(&app, &format!("/api/v1/insights?bucket={bucket}")).await;
        assert_eq!(status, 400, "{bucket:?}");
        assert_eq!(body, invalid_query("bucket", "must be day or week"));
    }
    let (status, figures) = get(&app, "/api/v1/insights?bucket=week").await;
    assert_eq!((status, &figures["bucket"]), (200, &json!("week")));
    for kind in ["", "Error", "errors"] {
        let (status, body) = get(&app, &format!("/admin/events?kind={kind}")).await;
        assert_eq!(status, 400, "{kind:?}");
        assert_eq!(
            body,
            invalid_query("kind", "must be deployment, error or recommendation")
        );
    }
    let (status, _) = get(&app, "/admin/events?kind=error").await;
    assert_eq!(status, 200);
    let document = document();
    assert_eq!(
        document["components"]["schemas"]["BucketName"]["enum"],
        json!(["day", "week"])
    );
    let kind = &document["paths"]["/admin/events"]["get"]["parameters"][0];
    assert_eq!(kind["name"], "kind");
    assert_eq!(kind["schema"]["$ref"], "#/components/schemas/EventKind");
}

#[actix_web::test]
async fn times_are_strict_and_far_ones_are_written_not_a_panic() {
    let app = spawn_app(&[("ADMIN_TOKEN", TOKEN)]).await;
    let instant = "must be an RFC 3339 time (2026-11-25T10:00:00Z) or Unix milliseconds (up to \
                   15 digits)";
    for since in [
        "2026-11-25%2010:00:00Z",
        "2026-11-25T10:00:00",
        "-5",
        "%2B5",
        "2026-11-25",
    ] {
        let (status, body) = get(&app, &format!("/api/v1/deployments?since={since}")).await;
        assert_eq!(status, 400, "{since}");
        assert_eq!(body, invalid_query("since", instant), "{since}");
    }
    for since in [
        "2026-11-25T10:00:00Z",
        "2026-11-25t10:00:00.5%2B01:00",
        "1000",
    ] {
        let (status, body) = get(&app, &format!("/api/v1/deployments?since={since}")).await;
        assert_eq!(status, 200, "{since}: {body}");
    }
    let (status, body) = get(&app, "/api/v1/insights?until=2026-02-30").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        invalid_query(
            "until",
            "must be an RFC 3339 time (2026-11-25T10:00:00Z), a date (2026-11-25) or Unix \
             milliseconds (up to 15 digits)"
        )
    );
    // Past year 9999 (15 digits of milliseconds; the day after
    // 9999-12-31): written as the latest time RFC 3339 can write.
    for period in [
        "since=999999999999999&until=999999999999999",
        "since=9999-12-31&until=9999-12-31",
    ] {
        let (status, figures) = get(&app, &format!("/api/v1/insights?{period}")).await;
        assert_eq!(status, 200, "{period}: {figures}");
        assert_eq!(figures["until"], "9999-12-31T23:59:59.999Z", "{period}");
    }
    let (status, figures) = get(&app, "/api/v1/insights?since=0&until=0").await;
    assert_eq!(status, 200);
    assert_eq!(figures["since"], "1970-01-01T00:00:00.000Z");
}

#[actix_web::test]
async fn a_reversed_insights_period_answers_empty_figures() {
    let app = spawn_app(&[]).await;
    let (status, _) = app
        .put_event("deployment", &fixture("deployment.json"))
        .await;
    assert_eq!(status, 202);
    let (status, figures) = get(&app, "/api/v1/insights?since=2026-11-02&until=2026-11-01").await;
    assert_eq!(status, 200, "{figures}");
    assert_eq!(figures["since"], "2026-11-02T00:00:00.000Z");
    assert_eq!(figures["until"], "2026-11-02T00:00:00.000Z");
    assert_eq!(figures["deployments"], json!([]));
    assert_eq!(
        figures["changeFailureRate"],
        json!({"deployments": 0, "failed": 0, "rate": null, "teams": []})
    );
    assert_eq!(
        figures["timeToRestore"],
        json!({"restored": 0, "unrestored": 0, "medianSeconds": null, "meanSeconds": null})
    );
}

#[actix_web::test]
async fn the_dead_letters_cursor_is_a_delivery_id() {
    let app = spawn_app(&[("ADMIN_TOKEN", TOKEN)]).await;
    for cursor in ["abc", "-1", "%2B1", "1.0"] {
        let (status, body) = get(&app, &format!("/admin/dead-letters?cursor={cursor}")).await;
        assert_eq!(status, 400, "{cursor}");
        assert_eq!(
            body,
            invalid_query("cursor", "must be a nextCursor from a previous page")
        );
    }
    let (status, _) = get(&app, "/admin/dead-letters?cursor=12").await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn a_silence_body_is_read_as_its_schema_says() {
    let app = spawn_app(&[("ADMIN_TOKEN", TOKEN)]).await;
    let document = document();
    let silence = |extra: Value| {
        let mut body = json!({"matchers": {"cluster": "active"}, "duration": "2h",
            "comment": "freeze", "createdBy": "ops"});
        for (key, value) in extra.as_object().unwrap() {
            if value == "<absent>" {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        body
    };
    let matchers = "give 1 to 20 fields to match, each a pattern or a list of 1 to 100 of them";
    let text = "give 1 to 1000 characters, not all blank, without NUL";
    let refused = [
        (
            json!({"matchers": {}}),
            400,
            invalid_query("matchers", matchers),
        ),
        (
            json!({"matchers": {"cluster": []}}),
            400,
            invalid_query("matchers", matchers),
        ),
        (
            json!({"matchers": {"cluster": "a**b"}}),
            400,
            invalid_query(
                "matchers",
                "cluster: pattern \"a**b\": Pattern syntax error near position 0: recursive \
                 wildcards must form a single path component",
            ),
        ),
        (
            json!({"comment": " \t "}),
            400,
            invalid_query("comment", text),
        ),
        (
            json!({"createdBy": "x".repeat(1001)}),
            400,
            invalid_query("createdBy", text),
        ),
        (
            json!({"endsAt": "2099-01-01T00:00:00Z"}),
            400,
            invalid_query("endsAt", "give endsAt or duration (one of them)"),
        ),
        (
            json!({"duration": "2 hours"}),
            400,
            invalid_query("duration", "e.g. 2h, 90m or 1d 12h (units s, m, h, d, w)"),
        ),
        (
            json!({"duration": "<absent>", "endsAt": "2099-01-01 00:00:00Z"}),
            400,
            invalid_query(
                "endsAt",
                "must be an RFC 3339 time, e.g. 2026-12-01T18:00:00Z",
            ),
        ),
        (
            json!({"note": "x"}),
            400,
            invalid_query(
                "note",
                "is not a field of a silence (matchers, startsAt, endsAt, duration, comment, \
                 createdBy)",
            ),
        ),
        (
            json!({"duration": "91d"}),
            409,
            json!({"error": "conflict", "message": "endsAt: a silence lasts at most 90 days"}),
        ),
        (
            json!({"duration": "<absent>", "endsAt": "2020-01-01T00:00:00Z"}),
            409,
            json!({"error": "conflict", "message": "endsAt: the silence would be over before \
                it starts: it must end after its start and after now"}),
        ),
        (
            json!({"matchers": {"cluster": "x".repeat(257)}}),
            422,
            json!({"error": "limit_exceeded", "message": "matchers: cluster: a pattern is at \
                most 256 characters, not 257", "field": "matchers"}),
        ),
    ];
    for (extra, status, expected) in refused {
        let body = silence(extra);
        let (got, content_type, answer) =
            call(&app, "POST", "/admin/silences", Some(body.clone()), &[]).await;
        assert_eq!(
            (got, content_type.as_str()),
            (status, "application/json"),
            "{body}"
        );
        assert_eq!(answer, expected, "{body}");
        assert!(
            documents(&document, "post", "/admin/silences", status),
            "{status}"
        );
    }
    let (status, _, created) = call(
        &app,
        "POST",
        "/admin/silences",
        Some(silence(
            json!({"matchers": {"applicationName": ["kth-*", "[ab]?/**"]}}),
        )),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["matchers"],
        json!({"applicationName": ["kth-*", "[ab]?/**"]})
    );
    // What the schema says about it.
    let schema = &document["components"]["schemas"]["NewSilence"];
    assert_eq!(
        schema["oneOf"],
        json!([{"required": ["endsAt"]}, {"required": ["duration"]}])
    );
    assert_eq!(schema["additionalProperties"], json!(false));
    let matchers = &schema["properties"]["matchers"];
    assert_eq!(
        (&matchers["minProperties"], &matchers["maxProperties"]),
        (&json!(1), &json!(20))
    );
    let comment = &schema["properties"]["comment"];
    assert_eq!(
        (&comment["minLength"], &comment["maxLength"]),
        (&json!(1), &json!(1000))
    );
    assert_eq!(
        schema["properties"]["duration"]["pattern"],
        DURATION_PATTERN
    );
}

#[actix_web::test]
async fn nul_blank_and_bounds_at_intake_are_refused_by_name() {
    let app = spawn_app(&[]).await;
    let deployment = |extra: Value| {
        let mut body = fixture("deployment.json");
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let nul = "must not contain a NUL character (\\u0000)";
    let refused = [
        (
            json!({"applicationName": "app\u{0}"}),
            "applicationName",
            nul.to_owned(),
        ),
        (
            json!({"somethingNew": {"deep": ["a\u{0}"]}}),
            "somethingNew",
            nul.to_owned(),
        ),
        (
            json!({"cluster": " \"\" \u{85} "}),
            "cluster",
            "is required".to_owned(),
        ),
        (
            json!({"cluster": "\u{3000}"}),
            "cluster",
            "is required".to_owned(),
        ),
        (
            json!({"version": format!(" {} ", "1".repeat(255))}),
            "version",
            "must be at most 256 characters, not 257".to_owned(),
        ),
        (
            json!({"slackChannels": (0..21).map(|_| "#same").collect::<Vec<_>>()}),
            "slackChannels",
            "at most 20 channels (MAX_CHANNELS_PER_EVENT), not 21".to_owned(),
        ),
    ];
    for (extra, field, problem) in refused {
        let body = deployment(extra);
        let (status, answer) = app.put_event("deployment", &body).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(
            answer,
            json!({"error": "invalid_event", "message": format!("{field}: {problem}"), "field": field}),
            "{body}"
        );
    }
    for (kind, body) in [
        ("error", json!({"message": " \n "})),
        ("recommendation", json!({"message": "\u{2028}"})),
    ] {
        let (status, answer) = app.put_event(kind, &body).await;
        assert_eq!(status, 422);
        assert_eq!(
            answer,
            json!({"error": "invalid_event", "message": "message: is required", "field": "message"})
        );
    }
    // U+FEFF is not whitespace to Rust (nor to the document's pattern),
    // though it is to a regex's `\s`: taken.
    let (status, _) = app
        .put_event("deployment", &deployment(json!({"cluster": "\u{feff}"})))
        .await;
    assert_eq!(status, 202);
    // A message keeps its quotes: `""` is not blank.
    let (status, _) = app.put_event("error", &json!({"message": "\"\""})).await;
    assert_eq!(status, 202);
}

#[actix_web::test]
async fn an_idempotency_key_is_visible_ascii_as_its_pattern_says() {
    let app = spawn_app(&[]).await;
    let header = &document()["paths"]["/api/v1/deployment"]["put"]["parameters"][0];
    assert_eq!(header["name"], "Idempotency-Key");
    assert_eq!(header["schema"]["pattern"], "^[!-~]{1,255}$");
    let body = fixture("deployment.json");
    for (key, status) in [
        ("a-b_c.1~!", 202),
        (&*"k".repeat(255), 202),
        (&*"k".repeat(256), 422),
        ("a b", 422),
    ] {
        let (got, _, answer) = call(
            &app,
            "PUT",
            "/api/v1/deployment",
            Some(body.clone()),
            &[("Idempotency-Key", key)],
        )
        .await;
        assert_eq!(got, status, "{key:?}: {answer}");
    }
}

/// A validator of one `pattern`, as JSON Schema reads it.
fn matcher(pattern: &str) -> impl Fn(&str) -> bool + use<> {
    let validator = jsonschema::validator_for(&json!({"type": "string", "pattern": pattern}))
        .unwrap_or_else(|error| panic!("{pattern} does not compile: {error}"));
    move |text: &str| validator.is_valid(&json!(text))
}

/// Every string of up to `length` characters from `alphabet`.
fn strings(alphabet: &[char], length: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..length {
        last = last
            .iter()
            .flat_map(|prefix| alphabet.iter().map(move |c| format!("{prefix}{c}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    all
}

/// The schema of a parameter of an operation in the served document.
fn parameter_pattern(document: &Value, path: &str, name: &str) -> String {
    document["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|parameter| parameter["name"] == name)
        .and_then(|parameter| parameter["schema"]["pattern"].as_str())
        .unwrap_or_else(|| panic!("{path} has no pattern for {name}"))
        .to_owned()
}

/// Times near the edges of every rule: leap days, month ends, offsets,
/// fractions, and what is not a time.
fn time_candidates() -> Vec<String> {
    let mut candidates: Vec<String> = [
        "",
        "0",
        "1000",
        "999999999999999",
        "1000000000000000",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1.5",
        "2026-11-25T10:00:00Z",
        "2026-11-25t10:00:00z",
        "2026-11-25T10:00:00.123456Z",
        "2026-11-25T10:00:00.Z",
        "2026-11-25T10:00:00+01:00",
        "2026-11-25T10:00:00-23:59",
        "2026-11-25T10:00:00+24:00",
        "2026-11-25T10:00:00+0100",
        "2026-11-25T10:00Z",
        "2026-11-25T24:00:00Z",
        "2026-11-25T23:60:00Z",
        "2026-11-25T23:59:60Z",
        "2026-11-25 10:00:00Z",
        "2026-11-25T10:00:00",
        "2026-11-25",
        "2026-11-5",
        "20261125",
        "0000-01-01",
        "9999-12-31",
        "9999-12-31T23:59:59.999Z",
        "2026-11-25T10:00:00Z\n",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for year in [1900, 2000, 2023, 2024, 2100, 2400] {
        for month in 0..=13 {
            for day in [0, 1, 28, 29, 30, 31, 32] {
                let date = format!("{year:04}-{month:02}-{day:02}");
                candidates.push(format!("{date}T00:00:00Z"));
                candidates.push(date);
            }
        }
    }
    candidates
}

#[test]
fn the_documents_patterns_take_exactly_what_the_code_takes() {
    let document = document();
    // Times.
    for (path, forms) in [
        ("/api/v1/deployments", TimeForms::Instant),
        (
            "/api/v1/insights",
            TimeForms::InstantOrDate { end_of_day: false },
        ),
    ] {
        let takes = matcher(&parameter_pattern(&document, path, "since"));
        for candidate in time_candidates() {
            // Empty is absent, which the handler decides before reading.
            let read = candidate.is_empty() || time("since", &candidate, forms).is_ok();
            assert_eq!(takes(&candidate), read, "{path} since={candidate:?}");
        }
    }
    // The dead letters' cursor.
    let takes = matcher(&parameter_pattern(
        &document,
        "/admin/dead-letters",
        "cursor",
    ));
    for candidate in [
        "",
        "0",
        "42",
        "-1",
        "+1",
        "1.0",
        "x",
        "999999999999999999",
        "1000000000000000000",
    ] {
        let read = candidate.is_empty() || dead_letter_cursor(candidate).is_ok();
        assert_eq!(takes(candidate), read, "cursor={candidate:?}");
    }
    // Globs, every string of up to five of the characters that matter.
    let takes = matcher(GLOB_PATTERN);
    for candidate in strings(&['a', '*', '?', '[', ']', '!', '/'], 5) {
        let spec = [("f".to_owned(), vec![candidate.clone()])]
            .into_iter()
            .collect();
        let read = Conditions::parse(&spec).is_ok();
        assert_eq!(takes(&candidate), read, "glob {candidate:?}");
    }
    // Durations, as a silence reads them.
    let takes = matcher(DURATION_PATTERN);
    for candidate in strings(&['1', 'h', 'm', ' ', 'x'], 5) {
        let body = json!({"matchers": {"a": "b"}, "duration": candidate, "comment": "c",
            "createdBy": "d"});
        let refused_duration = match silence_request::read(body.to_string().as_bytes(), 0) {
            Err(error) => error.to_string().starts_with("duration:"),
            Ok(_) => false,
        };
        assert_eq!(
            takes(&candidate),
            !refused_duration,
            "duration {candidate:?}"
        );
    }
    // Blank, for an identifier (whitespace and quotes go) and for free
    // text (only whitespace goes): every whitespace character, and some
    // that a regex's `\s` takes for one but Rust does not.
    let schemas = &document["components"]["schemas"];
    let cluster = matcher(
        schemas["DeploymentEvent"]["properties"]["cluster"]["pattern"]
            .as_str()
            .unwrap(),
    );
    let message = matcher(
        schemas["PipelineErrorEvent"]["properties"]["message"]["pattern"]
            .as_str()
            .unwrap(),
    );
    let mut characters: Vec<char> = WHITESPACE
        .iter()
        .flat_map(|(from, to)| *from..=*to)
        .collect();
    characters.extend(['\u{feff}', '\u{1c}', '\u{180e}', '"', 'a', '\0']);
    for c in characters {
        for text in [c.to_string(), format!(" {c} "), format!("\"{c}\"")] {
            let body = json!({"applicationName": "app", "cluster": text});
            let read = Deployment::from_json(body).is_ok();
            assert_eq!(cluster(&text), read, "cluster {text:?}");
            let free = text.trim();
            let read = !free.is_empty() && !text.contains('\0');
            assert_eq!(message(&text), read, "message {text:?}");
        }
    }
}

#[test]
fn the_served_document_carries_the_channel_bound_in_force() {
    let at = |max_channels| {
        let document = serde_json::to_value(document_for(&EventBounds { max_channels })).unwrap();
        document["components"]["schemas"]["PipelineErrorEvent"]["properties"]["slackChannels"]
            ["anyOf"]
            .clone()
    };
    assert_eq!(at(20)[1]["maxItems"], 20);
    assert_eq!(at(3)[1]["maxItems"], 3);
    // A comma-separated string: at most that many parts.
    let parts = matcher(at(3)[0]["pattern"].as_str().unwrap());
    assert!(parts("#a,#b,#c") && parts("") && parts(",,"));
    assert!(!parts("#a,#b,#c,") && !parts(&"x".repeat(257)) && !parts("#a\u{0}"));
}
