//! Load generator for Alvares: PUTs the fixture deployment (a new
//! application name each time) from N connections and reports accepted/s,
//! latency percentiles and errors. With `--sink-port`, it also runs a mock
//! Slack webhook that counts what the subscribers deliver and reports the
//! end-to-end delay from the 202 to the message.
//!
//! ```text
//! cargo run --release --bin loadgen -- --url http://127.0.0.1:3010 --connections 32 --seconds 10
//! cargo run --release --bin loadgen -- --url … --rate 1000 --seconds 20 --sink-port 4010
//! cargo run --release --bin loadgen -- --url … --path /nothing --expect-status 404
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::Value;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "loadgen",
    about = "Drives deployments at Alvares and measures it"
)]
struct Options {
    /// Alvares's base URL; several, comma-separated, spread the connections
    /// over replicas.
    #[arg(long, default_value = "http://127.0.0.1:3010")]
    url: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// How long to send.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Total requests per second (steady pace); unset: as fast as possible.
    #[arg(long)]
    rate: Option<u64>,
    /// Client threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The deployment JSON to send.
    #[arg(long, default_value = "tests/fixtures/deployment.json")]
    fixture: String,
    /// The path to send to (`/nothing` measures the service's 404, the
    /// cheapest answer it gives, for comparison).
    #[arg(long, default_value = "/api/v1/deployment")]
    path: String,
    /// The status that counts as answered.
    #[arg(long, default_value_t = 202)]
    expect_status: u16,
    /// Run a mock Slack webhook on this port (point SLACK_WEB_HOOK at
    /// http://127.0.0.1:<port>/hook) and report end-to-end delays.
    #[arg(long)]
    sink_port: Option<u16>,
    /// With a sink: how long to wait for the last deliveries.
    #[arg(long, default_value_t = 60)]
    drain_seconds: u64,
    /// With a sink: the messages each event makes (subscribers × channels);
    /// the sink keeps listening until every accepted event has its first and
    /// all the messages have arrived, or the drain time is up.
    #[arg(long, default_value_t = 1)]
    messages_per_event: u64,
}

/// What the senders share.
struct Shared {
    accepted: AtomicU64,
    errors: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    /// Application name → when it was sent and when its 202 arrived (only
    /// with a sink).
    accepted_at: Mutex<HashMap<String, (Instant, Instant)>>,
    stop: AtomicBool,
}

/// What the sink saw.
struct Sink {
    messages: AtomicU64,
    /// Application name → when its first message arrived, and how many
    /// named it.
    seen: Mutex<HashMap<String, (Instant, u64)>>,
}

fn main() {
    let options = Options::parse();
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(&options.fixture).expect("the fixture file is readable"),
    )
    .expect("the fixture is JSON");
    let shared = Arc::new(Shared {
        accepted: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        latency: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()),
        accepted_at: Mutex::new(HashMap::new()),
        stop: AtomicBool::new(false),
    });
    let sink = options.sink_port.map(start_sink);

    let started = Instant::now();
    let threads: Vec<_> = (0..options.threads.max(1))
        .map(|thread| {
            let (options, shared, template) = (options.clone(), shared.clone(), template.clone());
            std::thread::spawn(move || {
                actix_rt::System::new().block_on(send_load(thread, options, shared, template))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(options.seconds));
    shared.stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = shared.accepted.load(Ordering::Relaxed);
    let latency = shared.latency.lock().unwrap();
    println!(
        "sent for {elapsed:.1}s over {} connections{}",
        options.connections,
        options
            .rate
            .map(|r| format!(" at {r}/s"))
            .unwrap_or_default()
    );
    println!("accepted: {accepted} ({:.0}/s)", accepted as f64 / elapsed);
    println!("errors: {}", shared.errors.load(Ordering::Relaxed));
    println!(
        "latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latency.value_at_quantile(0.50) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.max() as f64 / 1000.0
    );
    if let Some(sink) = sink {
        report_sink(
            &sink,
            &shared,
            options.drain_seconds,
            options.messages_per_event,
        );
    }
}

async fn send_load(thread: usize, options: Options, shared: Arc<Shared>, template: Value) {
    let per_thread = options.connections.div_ceil(options.threads.max(1));
    let period = options
        .rate
        .map(|rate| Duration::from_secs_f64(options.connections as f64 / rate.max(1) as f64));
    let tasks: Vec<_> = (0..per_thread)
        .map(|task| {
            let (options, shared, template) = (options.clone(), shared.clone(), template.clone());
            actix_rt::spawn(async move {
                let client = awc::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .finish();
                let bases: Vec<&str> = options.url.split(',').map(str::trim).collect();
                let base = bases[(thread * per_thread + task) % bases.len()];
                let url = format!("{}{}", base.trim_end_matches('/'), options.path);
                let start = Instant::now();
                let mut body = template;
                for n in 0u64.. {
                    if shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Some(period) = period {
                        // Open-loop pacing: each connection sends on its own
                        // schedule, whatever the previous answer took.
                        let due =
                            start + period.mul_f64(n as f64 + task as f64 / per_thread as f64);
                        let now = Instant::now();
                        if due > now {
                            actix_rt::time::sleep(due - now).await;
                        }
                    }
                    let name = format!("load-{thread}-{task}-{n}");
                    body["applicationName"] = Value::String(name.clone());
                    let sent = Instant::now();
                    let result = client
                        .put(&url)
                        .insert_header(("Content-Type", "application/json"))
                        .send_body(body.to_string())
                        .await;
                    let took = sent.elapsed();
                    match result {
                        Ok(mut response) if response.status().as_u16() == options.expect_status => {
                            let _ = response.body().await;
                            shared.accepted.fetch_add(1, Ordering::Relaxed);
                            let _ = shared
                                .latency
                                .lock()
                                .unwrap()
                                .record(took.as_micros().max(1) as u64);
                            if options.sink_port.is_some() {
                                let answered = sent + took;
                                shared
                                    .accepted_at
                                    .lock()
                                    .unwrap()
                                    .insert(name, (sent, answered));
                            }
                        }
                        _ => {
                            shared.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

fn start_sink(port: u16) -> Arc<Sink> {
    let sink = Arc::new(Sink {
        messages: AtomicU64::new(0),
        seen: Mutex::new(HashMap::new()),
    });
    let state = sink.clone();
    let (ready, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let state = web::Data::new(state);
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .route("/hook", web::post().to(receive))
            })
            .workers(1)
            .bind(("127.0.0.1", port))
            .expect("the sink port is free")
            .run();
            ready.send(()).unwrap();
            server.await
        })
    });
    wait.recv().unwrap();
    sink
}

/// The mock Slack webhook: counts messages per event, notes the first.
async fn receive(body: web::Json<Value>, sink: web::Data<Arc<Sink>>) -> HttpResponse {
    let now = Instant::now();
    sink.messages.fetch_add(1, Ordering::Relaxed);
    if let Some(name) = body["text"]
        .as_str()
        .and_then(|text| text.split('*').nth(1))
    {
        sink.seen
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_insert((now, 0))
            .1 += 1;
    }
    HttpResponse::Ok().body("ok")
}

fn report_sink(sink: &Sink, shared: &Shared, drain_seconds: u64, per_event: u64) {
    // The sink keeps answering until every accepted event has all its
    // messages (or the drain time is up): a message that comes late must
    // find it listening, not a closed port.
    let deadline = Instant::now() + Duration::from_secs(drain_seconds);
    let expected = shared.accepted_at.lock().unwrap().len();
    // Not every message names its event (the fixture's application-endpoint
    // messages do not), so "all" is counted as a total.
    let complete = || {
        let seen = sink.seen.lock().unwrap();
        let accepted = shared.accepted_at.lock().unwrap();
        let first = accepted
            .keys()
            .filter(|name| seen.contains_key(*name))
            .count();
        first == expected && sink.messages.load(Ordering::Relaxed) >= expected as u64 * per_event
    };
    while !complete() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let completed = complete();
    let seen = sink.seen.lock().unwrap();
    let first_seen: HashMap<&String, Instant> =
        seen.iter().map(|(name, (at, _))| (name, *at)).collect();
    let accepted = shared.accepted_at.lock().unwrap();
    let mut delay = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
    let mut from_send = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
    let mut delivered = 0;
    for (name, (sent, answered)) in accepted.iter() {
        if let Some(seen) = first_seen.get(name) {
            delivered += 1;
            // A message may arrive before the client has read its 202.
            let micros = seen.saturating_duration_since(*answered).as_micros().max(1) as u64;
            let _ = delay.record(micros);
            let micros = seen.saturating_duration_since(*sent).as_micros().max(1) as u64;
            let _ = from_send.record(micros);
        }
    }
    println!(
        "sink: {} messages (expected {}{}); {delivered} of {expected} accepted events delivered",
        sink.messages.load(Ordering::Relaxed),
        expected as u64 * per_event,
        if completed { "" } else { ", drain time up" }
    );
    println!(
        "end-to-end (202 → first message): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        delay.value_at_quantile(0.50) as f64 / 1000.0,
        delay.value_at_quantile(0.99) as f64 / 1000.0,
        delay.max() as f64 / 1000.0
    );
    println!(
        "end-to-end (request sent → first message): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        from_send.value_at_quantile(0.50) as f64 / 1000.0,
        from_send.value_at_quantile(0.99) as f64 / 1000.0,
        from_send.max() as f64 / 1000.0
    );
}
