//! Three replicas of the real binary on one PostgreSQL database: any of them
//! accepts, the work is shared and not repeated, a killed replica loses
//! nothing, a subscriber's Slack pace holds across all of them, and a switch
//! made on one is honoured by the others.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{TestDatabase, eventually, free_port};

const BINARY: &str = env!("CARGO_BIN_EXE_alvares");
const TOKEN: &str = "replica-admin";
const CHANNELS: usize = 6;
/// `slack=4/s:burst=2`: at most 2 + 4 messages in any one second.
const MOST_PER_SECOND: usize = 6;

/// (when, channel, text) of every Slack message.
type Arrivals = Arc<Mutex<Vec<(Instant, String, String)>>>;

struct RecordingSlack(Arrivals);

impl Respond for RecordingSlack {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        self.0.lock().unwrap().push((
            Instant::now(),
            body["channel"].as_str().unwrap_or_default().to_owned(),
            body["text"].as_str().unwrap_or_default().to_owned(),
        ));
        ResponseTemplate::new(200).set_body_string("ok")
    }
}

struct Replica {
    base: String,
    child: Child,
}

fn start(index: usize, port: u16, env: &[(&str, String)]) -> Replica {
    let child = Command::new(BINARY)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PORT", port.to_string())
        .env("HOSTNAME", format!("replica-{index}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Replica {
        base: format!("http://127.0.0.1:{port}"),
        child,
    }
}

/// A mock Slack webhook at `/hook` recording every message.
async fn recording_slack() -> (MockServer, Arrivals) {
    let slack = MockServer::start().await;
    let arrivals: Arrivals = Arc::default();
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(RecordingSlack(arrivals.clone()))
        .mount(&slack)
        .await;
    (slack, arrivals)
}

/// One replica per port, `replica-1`, `replica-2`, ….
fn start_all(ports: &[u16], env: &[(&str, String)]) -> Vec<Replica> {
    ports
        .iter()
        .enumerate()
        .map(|(index, port)| start(index + 1, *port, env))
        .collect()
}

async fn admin(
    client: &awc::Client,
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Option<Value> {
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let request = client
        .request(method, format!("{base}{path}"))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")));
    let mut response = match body {
        Some(body) => request.send_json(&body).await.ok()?,
        None => request.send().await.ok()?,
    };
    response.json().limit(1 << 24).await.ok()
}

/// The live replicas (by host) and who owns slack-deployment, as one
/// replica sees it.
async fn cluster(
    client: &awc::Client,
    base: &str,
) -> Option<(BTreeMap<String, Vec<String>>, Value)> {
    let body = admin(client, base, "GET", "/admin/actors", None).await?;
    let live: BTreeMap<String, Vec<String>> = body["replicas"]
        .as_array()?
        .iter()
        .filter(|r| r["live"] == true)
        .map(|r| {
            let owns = r["owns"]
                .as_array()
                .map(|o| {
                    o.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (r["host"].as_str().unwrap_or_default().to_owned(), owns)
        })
        .collect();
    Some((live, body))
}

#[actix_web::test]
async fn three_replicas_share_the_work_survive_a_kill_and_hold_the_pace() {
    let Some(database) = TestDatabase::postgres() else {
        return;
    };
    let (slack, arrivals) = recording_slack().await;
    let env = [
        ("DB_URL", database.url()),
        ("DB_POOL_SIZE", "3".to_owned()),
        ("SLACK_WEB_HOOK", format!("{}/hook", slack.uri())),
        ("DISABLED_SUBSCRIBERS", "application-endpoint".to_owned()),
        ("RATE_LIMITS", "slack=4/s:burst=2".to_owned()),
        ("LEASE_SECONDS", "3".to_owned()),
        ("ADMIN_TOKEN", TOKEN.to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut replicas = start_all(&ports, &env);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();

    // All three live, every subscriber owned by exactly one of them.
    let (live, body) = eventually(
        "three live replicas sharing the subscribers",
        Duration::from_secs(30),
        || async {
            let (live, body) = cluster(&client, &replicas[0].base).await?;
            let owned: usize = live.values().map(Vec::len).sum();
            // Balanced: 3 of the nine subscribers each.
            let balanced = live.values().all(|owns| owns.len() == 3);
            (live.len() == 3 && owned == 9 && balanced).then_some((live, body))
        },
    )
    .await;
    assert_eq!(
        live.keys().cloned().collect::<Vec<_>>(),
        [
            format!("replica-1:{}", ports[0]),
            format!("replica-2:{}", ports[1]),
            format!("replica-3:{}", ports[2])
        ]
    );
    assert!(body["replica"].as_str().is_some());
    let owner_host = live
        .iter()
        .find(|(_, owns)| owns.iter().any(|s| s == "slack-deployment"))
        .map(|(host, _)| host.clone())
        .unwrap();
    let victim = ports
        .iter()
        .position(|port| owner_host.ends_with(&format!(":{port}")))
        .unwrap();

    // Deployments at all three; the owner of slack-deployment is killed
    // half way.
    let mut accepted = BTreeSet::new();
    let mut killed_at = None;
    // A steady stream of about 33 events a second.
    let mut pace = actix_web::rt::time::interval(Duration::from_millis(30));
    for n in 0..90 {
        pace.tick().await;
        if n == 45 {
            replicas[victim].child.kill().unwrap();
            replicas[victim].child.wait().unwrap();
            killed_at = Some(Instant::now());
        }
        let target = if killed_at.is_some() && n % 3 == victim {
            (victim + 1) % 3
        } else {
            n % 3
        };
        let name = format!("rep-{n}");
        let body = json!({"applicationName": name, "cluster": "active", "slackChannels": format!("#c{}", n % CHANNELS)});
        let response = client
            .put(format!("{}/api/v1/deployment", replicas[target].base))
            .send_json(&body)
            .await;
        if response.is_ok_and(|r| r.status().as_u16() == 202) {
            accepted.insert(name);
        }
    }
    let killed_at = killed_at.unwrap();
    let survivor = &replicas[(victim + 1) % 3].base;

    // Takeover: another live replica owns slack-deployment.
    let takeover = eventually(
        "slack-deployment to be taken over",
        Duration::from_secs(20),
        || async {
            let (live, _) = cluster(&client, survivor).await?;
            let taken = live.len() == 2
                && live.iter().any(|(host, owns)| {
                    host != &owner_host && owns.iter().any(|s| s == "slack-deployment")
                });
            taken.then(|| killed_at.elapsed())
        },
    )
    .await;

    // Every accepted deployment reaches Slack; repeats are counted.
    let started = Instant::now();
    eventually(
        "every accepted deployment in Slack",
        Duration::from_secs(60),
        || async {
            let names: BTreeSet<String> = arrivals
                .lock()
                .unwrap()
                .iter()
                .filter_map(|(_, _, text)| text.split('*').nth(1).map(str::to_owned))
                .collect();
            accepted
                .iter()
                .all(|name| names.contains(name))
                .then_some(())
        },
    )
    .await;
    let all = arrivals.lock().unwrap().clone();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (_, _, text) in &all {
        *counts.entry(text.clone()).or_default() += 1;
    }
    let repeats: usize = counts.values().map(|n| n - 1).sum();
    eprintln!(
        "replicas: {} accepted, {} Slack messages, {repeats} repeats, slack-deployment taken over \
         {:.1}s after the kill, all delivered {:.1}s after the takeover",
        accepted.len(),
        all.len(),
        takeover.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(accepted.len(), 90, "any replica accepts");
    // Only the killed replica's in-flight sends can repeat: at most its
    // concurrency (16).
    assert!(repeats <= 16, "{repeats} repeats");
    assert!(
        takeover <= Duration::from_secs(10),
        "takeover took {takeover:?}"
    );

    // The pace of one channel held across the replicas.
    let mut by_channel: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
    for (at, channel, _) in &all {
        by_channel.entry(channel.clone()).or_default().push(*at);
    }
    for (channel, mut times) in by_channel {
        times.sort();
        for (i, start) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                // A little under a second: arrival jitter is not a breach.
                .take_while(|t| t.duration_since(*start) < Duration::from_millis(900))
                .count();
            assert!(
                in_window <= MOST_PER_SECOND,
                "{channel}: {in_window} messages within one second"
            );
        }
    }

    // A switch made on one replica is honoured by the others.
    let first = &replicas[victim].base;
    let [a, b] = [(victim + 1) % 3, (victim + 2) % 3].map(|i| replicas[i].base.clone());
    let _ = first;
    let switched = admin(
        &client,
        &a,
        "PUT",
        "/admin/subscribers/slack-deployment",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(switched.unwrap()["state"], "disabled");
    eventually(
        "the switch to reach the other replica",
        Duration::from_secs(5),
        || async {
            let body = admin(&client, &b, "GET", "/admin/actors/slack-deployment", None).await?;
            (body["state"] == "disabled").then_some(())
        },
    )
    .await;
    let mut response = client
        .put(format!("{b}/api/v1/deployment"))
        .send_json(&json!({"applicationName": "after-switch", "cluster": "active", "slackChannels": "#c0"}))
        .await
        .unwrap();
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let view = eventually("the event's outcome", Duration::from_secs(10), || async {
        let mut response = client
            .get(format!("{a}/api/v1/events/{id}"))
            .send()
            .await
            .ok()?;
        let view: Value = response.json().await.ok()?;
        let outcome = view["deliveries"]
            .as_array()?
            .iter()
            .find(|d| d["subscriber"] == "slack-deployment")?
            .clone();
        (outcome["state"] == "skipped").then_some(outcome)
    })
    .await;
    assert_eq!(view["outcome"], "disabled");

    for (index, replica) in replicas.iter_mut().enumerate() {
        if index != victim {
            let _ = replica.child.kill();
            let _ = replica.child.wait();
        }
    }
}

/// The percentile `p` (0–100) of some durations.
fn percentile(mut values: Vec<Duration>, p: usize) -> Duration {
    values.sort();
    values[(values.len() * p / 100).min(values.len() - 1)]
}

/// Each deployment's delay from its request to its Slack message, by name.
fn delays(arrivals: &Arrivals, sent: &BTreeMap<String, Instant>) -> Option<Vec<Duration>> {
    let arrived: BTreeMap<String, Instant> = arrivals
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(at, _, text)| Some((text.split('*').nth(1)?.to_owned(), *at)))
        .collect();
    sent.iter()
        .map(|(name, at)| Some(arrived.get(name)?.saturating_duration_since(*at)))
        .collect()
}

/// Two replicas with the sweeper's ticks turned off, so that only wake-ups
/// move work: a deployment accepted by the replica that does not deliver
/// Slack reaches Slack because PostgreSQL wakes the owner (`NOTIFY`), and
/// after the owner is killed with SIGKILL — its lease has 30 s to run —
/// the survivor owns Slack within 2 s (its presence lock went with its
/// session) and delivers what was accepted meanwhile.
#[actix_web::test]
async fn the_owner_is_woken_at_once_and_a_killed_one_is_replaced_within_two_seconds() {
    let Some(database) = TestDatabase::postgres() else {
        return;
    };
    let (slack, arrivals) = recording_slack().await;
    let env = [
        ("DB_URL", database.url()),
        ("DB_POOL_SIZE", "3".to_owned()),
        ("SLACK_WEB_HOOK", format!("{}/hook", slack.uri())),
        ("DISABLED_SUBSCRIBERS", "application-endpoint".to_owned()),
        ("RATE_LIMITS", "slack=1000/s:burst=1000".to_owned()),
        ("ADMIN_TOKEN", TOKEN.to_owned()),
        ("FAILPOINTS", "sweeper-ticks-off=return".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let ports: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let mut replicas = start_all(&ports, &env);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let live = eventually(
        "two live replicas sharing the subscribers",
        Duration::from_secs(30),
        || async {
            let (live, _) = cluster(&client, &replicas[0].base).await?;
            let owned: usize = live.values().map(Vec::len).sum();
            (live.len() == 2 && owned == 9).then_some(live)
        },
    )
    .await;
    let owner = ports
        .iter()
        .position(|port| {
            live.iter().any(|(host, owns)| {
                host.ends_with(&format!(":{port}")) && owns.iter().any(|s| s == "slack-deployment")
            })
        })
        .unwrap();
    let other = 1 - owner;
    // Both rows name a presence lock before anything is measured.
    eventually("both presences held", Duration::from_secs(10), || async {
        let body = admin(&client, &replicas[other].base, "GET", "/admin/actors", None).await?;
        let rows = body["replicas"].as_array()?;
        (rows.len() == 2 && rows.iter().all(|r| r["presence"] == true)).then_some(())
    })
    .await;

    // 40 deployments at the owner, then 40 at the other one, 25 ms apart.
    let mut sent: [BTreeMap<String, Instant>; 2] = Default::default();
    let mut pace = actix_web::rt::time::interval(Duration::from_millis(25));
    for (round, target) in [owner, other].into_iter().enumerate() {
        for n in 0..40 {
            pace.tick().await;
            let name = format!("wake-{round}-{n}");
            let at = Instant::now();
            let response = client
                .put(format!("{}/api/v1/deployment", replicas[target].base))
                .send_json(
                    &json!({"applicationName": name, "cluster": "active", "slackChannels": "#c0"}),
                )
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 202);
            sent[round].insert(name, at);
        }
    }
    let [direct, woken] = eventually(
        "every deployment in Slack, with no sweeper ticks",
        Duration::from_secs(20),
        || async { Some([delays(&arrivals, &sent[0])?, delays(&arrivals, &sent[1])?]) },
    )
    .await;
    let woken_p50 = percentile(woken.clone(), 50);
    let (direct_p99, woken_p99) = (percentile(direct, 99), percentile(woken, 99));
    eprintln!(
        "replicas: end-to-end p99 {:.1} ms through the owner, {:.1} ms through the other \
         replica (woken by NOTIFY)",
        direct_p99.as_secs_f64() * 1000.0,
        woken_p99.as_secs_f64() * 1000.0
    );
    // With the sweeper's ticks off, only a wake-up could deliver these at
    // all; at once means well under the 200 ms tick it replaces. The p99 of
    // 40 is their slowest: one stall of the suite's parallel tests on two
    // cores (263 ms once) is not a late wake-up, so it has more room.
    assert!(woken_p50 < Duration::from_millis(100), "{woken_p50:?}");
    assert!(woken_p99 < Duration::from_millis(500), "{woken_p99:?}");

    // The owner dies; what the other accepts waits for it no longer than 2 s.
    replicas[owner].child.kill().unwrap();
    replicas[owner].child.wait().unwrap();
    let killed_at = Instant::now();
    let mut after: BTreeMap<String, Instant> = BTreeMap::new();
    for n in 0..10 {
        let name = format!("after-kill-{n}");
        let response = client
            .put(format!("{}/api/v1/deployment", replicas[other].base))
            .send_json(
                &json!({"applicationName": name, "cluster": "active", "slackChannels": "#c1"}),
            )
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
        after.insert(name, Instant::now());
    }
    let survivor = replicas[other].base.clone();
    let takeover = eventually(
        "slack-deployment to be taken over",
        Duration::from_secs(10),
        || async {
            let (live, _) = cluster(&client, &survivor).await?;
            let taken = live.len() == 1 && live.values().next().is_some_and(|owns| owns.len() == 9);
            taken.then(|| killed_at.elapsed())
        },
    )
    .await;
    let delivered = eventually(
        "what was accepted after the kill in Slack",
        Duration::from_secs(10),
        || async { delays(&arrivals, &after).map(|_| killed_at.elapsed()) },
    )
    .await;
    eprintln!(
        "replicas: after SIGKILL, every subscriber owned again in {:.2} s and the waiting \
         deployments delivered {:.2} s after the kill (LEASE_SECONDS 30)",
        takeover.as_secs_f64(),
        delivered.as_secs_f64()
    );
    assert!(
        takeover <= Duration::from_secs(2),
        "takeover took {takeover:?}"
    );
    assert!(
        delivered <= Duration::from_secs(3),
        "delivered after {delivered:?}"
    );
    let _ = replicas[other].child.kill();
    let _ = replicas[other].child.wait();
}
