//! Benchmark for `GET /api/v1/insights`: `seed` fills a database (the one
//! `DB_URL` names, as the service reads it) with a synthetic history of
//! deployments and failures, written straight into the tables; `time`
//! asks a running service for one team's figures over the default 90 days
//! several times and prints the median and the slowest answer.
//!
//! ```text
//! DB_URL=/tmp/insights.db cargo run --release --bin seed_insights -- seed --deployments 1000000
//! DB_URL=/tmp/insights.db ./target/release/alvares &
//! cargo run --release --bin seed_insights -- time --url http://127.0.0.1:3010 --team team-07
//! ```
//!
//! The history: `--teams` teams of `--apps` applications each, deployed
//! to three clusters at random times over the `--days` days before now
//! (uniformly, so one team's 90 days hold about
//! deployments / teams × 90 / days rows), and after `--failure-percent` of
//! the deployments an error for the same application and cluster 1 minute
//! to 36 hours later. Seeded random numbers: the same options make the same
//! history (up to "now").

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alvares::config::{Env, StoreConfig};
use alvares::store::models::deployments::{self, DeploymentRow};
use alvares::store::models::failures::{self, FailureRow};
use alvares::store::{AnyConnection, Store};
use clap::{Parser, Subcommand};
use diesel::Connection;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Parser, Debug)]
#[command(name = "seed_insights", about = "Seeds and times the insights query")]
struct Options {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Writes the synthetic history into the database `DB_URL` names
    /// (migrated first; existing rows are kept).
    Seed {
        #[arg(long, default_value_t = 1_000_000)]
        deployments: u64,
        #[arg(long, default_value_t = 20)]
        teams: u32,
        /// Applications per team.
        #[arg(long, default_value_t = 25)]
        apps: u32,
        #[arg(long, default_value_t = 365)]
        days: u64,
        #[arg(long, default_value_t = 5)]
        failure_percent: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Times `GET /api/v1/insights?team=…` on a running service.
    Time {
        #[arg(long, default_value = "http://127.0.0.1:3010")]
        url: String,
        #[arg(long, default_value = "team-07")]
        team: String,
        #[arg(long, default_value_t = 20)]
        requests: usize,
    },
}

const CLUSTERS: [&str; 3] = ["active", "stage", "integral"];
/// Rows per transaction while seeding.
const PER_COMMIT: usize = 10_000;

fn main() {
    let options = Options::parse();
    let result = match options.command {
        Command::Seed {
            deployments,
            teams,
            apps,
            days,
            failure_percent,
            seed,
        } => seed_history(History {
            deployments,
            teams: teams.max(1),
            apps: apps.max(1),
            days: days.max(1),
            failure_percent,
            seed,
        }),
        Command::Time {
            url,
            team,
            requests,
        } => time_queries(&url, &team, requests.max(1)),
    };
    if let Err(error) = result {
        eprintln!("seed_insights: {error}");
        std::process::exit(1);
    }
}

struct History {
    deployments: u64,
    teams: u32,
    apps: u32,
    days: u64,
    failure_percent: u32,
    seed: u64,
}

fn seed_history(history: History) -> Result<(), String> {
    let config: StoreConfig = Env::from_process()
        .load()
        .map_err(|error| error.to_string())?;
    // Opening the store migrates it, as the service would.
    let store = Store::open(&config).map_err(|error| error.to_string())?;
    let mut connection = store.pool.get().map_err(|error| error.to_string())?;
    let now = now_ms();
    let span = history.days as i64 * 86_400_000;
    let mut rng = StdRng::seed_from_u64(history.seed);
    let started = Instant::now();
    let mut batch: Vec<DeploymentRow> = Vec::with_capacity(PER_COMMIT);
    let mut failed: Vec<FailureRow> = Vec::new();
    let (mut written, mut failures_written) = (0u64, 0u64);
    for n in 0..history.deployments {
        let team = rng.random_range(0..history.teams);
        let app = rng.random_range(0..history.apps);
        let cluster = CLUSTERS[rng.random_range(0..CLUSTERS.len())];
        let received_at = now - rng.random_range(0..span);
        let application = format!("app-{team:02}-{app:02}");
        batch.push(row(
            &mut rng,
            &application,
            cluster,
            &format!("team-{team:02}"),
            received_at,
            n,
        ));
        if rng.random_range(0..100) < history.failure_percent {
            let at = received_at + rng.random_range(60_000..36 * 3_600_000);
            if at < now {
                failed.push(FailureRow {
                    id: id_at(&mut rng, at),
                    received_at: at,
                    application,
                    cluster: cluster.to_owned(),
                });
            }
        }
        if batch.len() == PER_COMMIT || n + 1 == history.deployments {
            write(&mut connection, &batch, &failed)?;
            written += batch.len() as u64;
            failures_written += failed.len() as u64;
            batch.clear();
            failed.clear();
            if written % 100_000 == 0 {
                eprintln!("{written} deployments, {failures_written} failures");
            }
        }
    }
    eprintln!(
        "seeded {written} deployments and {failures_written} failures in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One transaction: the deployments (through the history's own insert)
/// and the failures.
fn write(
    connection: &mut AnyConnection,
    rows: &[DeploymentRow],
    failed: &[FailureRow],
) -> Result<(), String> {
    connection
        .transaction(|c| {
            let rows: Vec<&DeploymentRow> = rows.iter().collect();
            deployments::insert_all(c, &rows)?;
            for failure in failed {
                failures::insert(c, failure)?;
            }
            diesel::QueryResult::Ok(())
        })
        .map_err(|error| error.to_string())
}

/// A deployment as the database subscriber would store it, with an
/// enriched body of the usual size.
fn row(
    rng: &mut StdRng,
    application: &str,
    cluster: &str,
    team: &str,
    received_at: i64,
    n: u64,
) -> DeploymentRow {
    let version = format!("1.{}.{n}_{:06x}", n % 50, rng.random_range(0..0xff_ffffu32));
    let url = format!("https://app.example.com/{application}");
    let body = serde_json::json!({
        "applicationName": application, "cluster": cluster, "version": version,
        "imageName": application, "team": team, "importance": "medium",
        "slackChannels": [format!("#{team}")], "applicationUrl": url,
        "monitorUrl": format!("{url}/_monitor"), "aboutUrl": format!("{url}/_about"),
        "friendlyName": application, "applicationPath": format!("/{application}"),
        "publicNameEnglish": application, "descriptionEnglish": "A seeded application",
    });
    DeploymentRow {
        id: id_at(rng, received_at),
        received_at,
        application: application.to_owned(),
        cluster: cluster.to_owned(),
        version,
        image: application.to_owned(),
        team: team.to_owned(),
        importance: "medium".to_owned(),
        application_url: url.clone(),
        monitor_url: format!("{url}/_monitor"),
        about_url: format!("{url}/_about"),
        friendly_name: application.to_owned(),
        body: body.to_string(),
    }
}

/// A UUID v7 for that time, as intake would have given (ids sort by time).
fn id_at(rng: &mut StdRng, ms: i64) -> String {
    let ms = ms.max(0) as u64;
    let mut bytes: [u8; 16] = rng.random();
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).to_string()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn time_queries(url: &str, team: &str, requests: usize) -> Result<(), String> {
    let address = format!("{}/api/v1/insights?team={team}", url.trim_end_matches('/'));
    actix_web::rt::System::new().block_on(async move {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish();
        let mut times = Vec::with_capacity(requests);
        let mut summary = String::new();
        for _ in 0..requests {
            let start = Instant::now();
            let mut response = client
                .get(&address)
                .send()
                .await
                .map_err(|error| format!("{address}: {error}"))?;
            let body = response
                .body()
                .limit(64 << 20)
                .await
                .map_err(|error| format!("{address}: {error}"))?;
            times.push(start.elapsed());
            if !response.status().is_success() {
                return Err(format!(
                    "{address}: {} {}",
                    response.status(),
                    String::from_utf8_lossy(&body)
                ));
            }
            let answer: serde_json::Value =
                serde_json::from_slice(&body).map_err(|error| error.to_string())?;
            summary = format!(
                "{} deployments, {} failed, {} restored, {} applications",
                answer["changeFailureRate"]["deployments"],
                answer["changeFailureRate"]["failed"],
                answer["timeToRestore"]["restored"],
                answer["lastDeployments"].as_array().map_or(0, Vec::len),
            );
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let median = if times.len() % 2 == 1 {
            ms(times[times.len() / 2])
        } else {
            (ms(times[times.len() / 2 - 1]) + ms(times[times.len() / 2])) / 2.0
        };
        println!("{address}: {summary}");
        println!(
            "{requests} requests: median {median:.1} ms, min {:.1} ms, max {:.1} ms",
            ms(times[0]),
            ms(times[times.len() - 1])
        );
        Ok(())
    })
}
