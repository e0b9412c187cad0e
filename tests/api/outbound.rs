//! Answers are read by their status, and one call ends within the call
//! timeout: a 2xx with a huge body is delivered once, a body trickled
//! after the headers is cut at `SUBSCRIBER_TIMEOUT_SECONDS`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, eventually, spawn_app};

/// An operator file declaring webhook `sink`, for recommendations, at
/// `$SINK_URL`.
fn sink_file() -> (tempfile::TempDir, String) {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(
        &file,
        "[[webhooks]]\nname = \"sink\"\nurl_env = \"SINK_URL\"\nkinds = [\"recommendation\"]\n",
    )
    .unwrap();
    let file = file.to_str().unwrap().to_owned();
    (folder, file)
}

async fn sink_app(file: &str, url: &str, timeout: &str) -> TestApp {
    spawn_app(&[
        ("ALVARES_CONFIG", file),
        ("SINK_URL", url),
        ("SUBSCRIBER_TIMEOUT_SECONDS", timeout),
        // One attempt is what these tests look at.
        ("RETRY_SCHEDULE", "1h"),
        ("RETRY_JITTER_PERCENT", "0"),
    ])
    .await
}

async fn recommend(app: &TestApp) -> String {
    let (status, answer) = app
        .put_event(
            "recommendation",
            &json!({"message": "m", "slackChannels": "#c"}),
        )
        .await;
    assert_eq!(status, 202);
    answer["id"].as_str().unwrap().to_owned()
}

fn delivery_of(view: &Value, subscriber: &str) -> Value {
    view["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscriber"] == subscriber)
        .cloned()
        .unwrap_or_else(|| panic!("no delivery for {subscriber}: {view}"))
}

#[actix_web::test]
async fn a_webhook_answering_200_with_10_mb_is_delivered_once() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/sink"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(10 * 1024 * 1024)))
        .mount(&receiver)
        .await;
    let (_folder, file) = sink_file();
    let app = sink_app(&file, &format!("{}/sink", receiver.uri()), "5").await;
    let id = recommend(&app).await;
    let view = app.finished_event(&id).await;
    let delivery = delivery_of(&view, "webhook-sink");
    assert_eq!(delivery["state"], "delivered", "{view}");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(
        delivery["outcome"],
        "POST $SINK_URL answered 200 (the answer's first 64 KiB were read)"
    );
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}

/// Over 4 MiB, a Slack Web API answer is decided by its leading `ok`:
/// delivered once, never retried.
#[actix_web::test]
async fn a_slack_web_api_answer_over_4_mib_with_ok_true_is_delivered_once() {
    let slack = MockServer::start().await;
    let long = format!(
        r#"{{"ok":true,"channel":"C1","message":{{"text":"{}"}}}}"#,
        "x".repeat(5 * 1024 * 1024)
    );
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(long, "application/json"))
        .mount(&slack)
        .await;
    let api = format!("{}/api", slack.uri());
    let app = spawn_app(&[
        ("SLACK_TOKEN", "xoxb-test-token"),
        ("SLACK_API_BASE_URL", &api),
        ("RETRY_SCHEDULE", "1h"),
    ])
    .await;
    let id = recommend(&app).await;
    let view = app.finished_event(&id).await;
    let delivery = delivery_of(&view, "slack-recommendation");
    assert_eq!(delivery["state"], "delivered", "{view}");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(slack.received_requests().await.unwrap().len(), 1);
}

/// One request the trickling receiver took: when it came, and when the
/// client hung up on it.
#[derive(Debug, Clone, Copy)]
struct Visit {
    arrived: Instant,
    hung_up: Option<Instant>,
}

/// A receiver that answers `head` (status line and headers, with a
/// `Content-Length` it never reaches) at once, then `first` and one space
/// every 100 ms until the client hangs up.
async fn trickling_receiver(
    head: &'static str,
    first: &'static str,
) -> (String, Arc<Mutex<Vec<Visit>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sink", listener.local_addr().unwrap());
    let visits = Arc::new(Mutex::new(Vec::new()));
    let seen = visits.clone();
    actix_web::rt::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            actix_web::rt::spawn(async move {
                if next_request(&mut socket, &mut Vec::new()).await.is_none() {
                    return;
                }
                let index = {
                    let mut visits = seen.lock().unwrap();
                    visits.push(Visit {
                        arrived: Instant::now(),
                        hung_up: None,
                    });
                    visits.len() - 1
                };
                let mut answer = Vec::from(head.as_bytes());
                answer.extend_from_slice(first.as_bytes());
                let mut sent = socket.write_all(&answer).await;
                while sent.is_ok() {
                    // The trickle itself, not a synchronisation.
                    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
                    sent = socket.write_all(b" ").await;
                    if sent.is_ok() {
                        sent = socket.flush().await;
                    }
                }
                seen.lock().unwrap()[index].hung_up = Some(Instant::now());
            });
        }
    });
    (url, visits)
}

/// Reads one HTTP/1.1 request from `socket`: its head, then as many body
/// bytes as its `Content-Length` says. Answers the body; what arrived
/// beyond it stays in `pending` for the next request on the connection.
/// `None` when the client hangs up first.
pub async fn next_request(socket: &mut TcpStream, pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut buffer = [0u8; 16 * 1024];
    let body_start = loop {
        if let Some(at) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&buffer[..n]),
        }
    };
    let head = String::from_utf8_lossy(&pending[..body_start]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while pending.len() < body_start + length {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&buffer[..n]),
        }
    }
    let body = pending[body_start..body_start + length].to_vec();
    pending.drain(..body_start + length);
    Some(body)
}

/// Waits until the receiver's first visit has been hung up on, and
/// answers how long it lasted.
async fn first_visit_length(visits: &Arc<Mutex<Vec<Visit>>>) -> Duration {
    eventually("the client to hang up", Duration::from_secs(8), || async {
        let visit = *visits.lock().unwrap().first()?;
        Some(visit.hung_up? - visit.arrived)
    })
    .await
}

#[actix_web::test]
async fn a_200_whose_body_trickles_is_delivered_and_cut_at_the_timeout() {
    let (url, visits) = trickling_receiver(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n",
        "accepted",
    )
    .await;
    let (_folder, file) = sink_file();
    let app = sink_app(&file, &url, "1").await;
    let id = recommend(&app).await;
    let view = eventually("the delivery to end", Duration::from_secs(8), || async {
        let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
        (delivery_of(&view, "webhook-sink")["state"] == "delivered").then_some(view)
    })
    .await;
    let delivery = delivery_of(&view, "webhook-sink");
    assert_eq!(delivery["attempts"], 1);
    let outcome = delivery["outcome"].as_str().unwrap();
    let note = outcome
        .strip_prefix(
            "POST $SINK_URL answered 200 (the answer's body was still arriving at the 1s timeout after ",
        )
        .and_then(|rest| rest.strip_suffix(" bytes)"))
        .unwrap_or_else(|| panic!("{outcome}"));
    let read: usize = note.parse().unwrap();
    assert!((8..100).contains(&read), "{outcome}");
    // The call was cut at the timeout, not held for the delivery's
    // deadline (12 times that).
    let lasted = first_visit_length(&visits).await;
    assert!(lasted < Duration::from_millis(2500), "lasted {lasted:?}");
    assert_eq!(visits.lock().unwrap().len(), 1);
}

#[actix_web::test]
async fn a_503_whose_body_trickles_is_cut_at_the_timeout_and_retried() {
    let (url, visits) = trickling_receiver(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n",
        "busy",
    )
    .await;
    let (_folder, file) = sink_file();
    let app = sink_app(&file, &url, "1").await;
    let id = recommend(&app).await;
    let delivery = eventually("the attempt to end", Duration::from_secs(8), || async {
        let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
        let delivery = delivery_of(&view, "webhook-sink");
        (delivery["attempts"] == 1).then_some(delivery)
    })
    .await;
    assert_eq!(delivery["state"], "retrying");
    assert_eq!(delivery["lastError"], "webhook-sink: HTTP 503: busy");
    let lasted = first_visit_length(&visits).await;
    assert!(lasted < Duration::from_millis(2500), "lasted {lasted:?}");
}

/// A receiver that keeps each connection for one answer only: the first
/// request on a connection is answered `200 ok` (the connection kept
/// alive, as HTTP/1.1 lets the client assume); a second one on the same
/// connection is met by closing it unanswered, as a receiver whose
/// keep-alive ran out does just as the request arrives. That request was
/// never answered, so it is sent again at once on a new connection — not
/// after a retry's wait (an hour here).
#[actix_web::test]
async fn a_request_on_a_connection_the_receiver_closed_is_sent_again_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sink", listener.local_addr().unwrap());
    // (answered, closed unanswered)
    let seen = Arc::new(Mutex::new((0usize, 0usize)));
    let count = seen.clone();
    actix_web::rt::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = count.clone();
            actix_web::rt::spawn(async move {
                let mut pending = Vec::new();
                if next_request(&mut socket, &mut pending).await.is_none() {
                    return;
                }
                count.lock().unwrap().0 += 1;
                let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                if socket.write_all(answer).await.is_err() {
                    return;
                }
                if next_request(&mut socket, &mut pending).await.is_some() {
                    count.lock().unwrap().1 += 1;
                }
                // Dropped: closed.
            });
        }
    });
    let (_folder, file) = sink_file();
    let app = sink_app(&file, &url, "5").await;
    for n in 1..=3 {
        let id = recommend(&app).await;
        let delivery = eventually("the delivery to end", Duration::from_secs(8), || async {
            let (_, view) = app.get(&format!("/api/v1/events/{id}")).await;
            let delivery = delivery_of(&view, "webhook-sink");
            (delivery["attempts"] == 1).then_some(delivery)
        })
        .await;
        assert_eq!(delivery["state"], "delivered", "delivery {n}: {delivery}");
        // Every delivery after the first met a closed connection first.
        assert_eq!(*seen.lock().unwrap(), (n, n - 1), "delivery {n}");
    }
}
