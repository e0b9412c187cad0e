//! `lighthouse`: audits a deployed application's pages with Lighthouse and
//! uploads each HTML report, with its total score, to Slack.
//!
//! The scanner runs as an argument vector (never through a shell: the URL
//! is network data, and is checked to be an http(s) URL first), one scan at
//! a time, in a fresh temporary folder that is removed in every case, and
//! is killed when it runs past `LIGHTHOUSE_TIMEOUT_SECONDS`. A scanner that
//! exits non-zero or times out is a transient failure (the application may
//! still be starting); a scanner that cannot be started or writes no
//! readable report is a permanent one. The report goes through Slack's
//! external upload flow, once per channel; channel names are resolved to
//! ids through `conversations.list`, cached.

pub mod config;
pub mod conformance;
pub mod payload;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::Semaphore;

use crate::config::ConfigError;
use crate::domain::{EnrichedDeployment, plan};
use crate::error::DeliveryError;
use crate::slack::{FileUpload, SlackClient};
use crate::subscribers::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, PlannedDestination, Planning,
    Setup, Subscriber, Work,
};
use config::LighthouseConfig;
use payload::Runner;

/// How much of the scanner's error output is quoted.
const QUOTED_STDERR_CHARS: usize = 300;

pub struct Lighthouse {
    runner: Runner,
    scan_limit: Duration,
    /// One scan at a time: a scan is a whole headless browser.
    one_scan: Semaphore,
    slack: Arc<SlackClient>,
}

/// A finished scan.
struct Scan {
    html: Vec<u8>,
    score: f64,
}

impl Subscriber for Lighthouse {
    const ID: &'static str = "lighthouse";
    const LEGACY_NAME: &'static str = "modules.subscribers.lighthouse.lighthouse";
    type Input = EnrichedDeployment;

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        let config: LighthouseConfig = setup.settings.env.load()?;
        let runner = match &config.command {
            Some(command) => Runner::template(command).ok_or_else(|| {
                ConfigError::invalid("LIGHTHOUSE_COMMAND", "expected a command line")
            })?,
            None => Runner::Docker {
                image: config.image,
            },
        };
        if config.timeout_seconds == 0 {
            return Err(ConfigError::invalid(
                "LIGHTHOUSE_TIMEOUT_SECONDS",
                "expected a positive number of seconds",
            ));
        }
        let slack = setup.services.get::<SlackClient>();
        let Some(slack) = slack.filter(|slack| slack.has_web_api()) else {
            return Ok(None);
        };
        // A runner that is not there would fail every deployment: say so
        // once, at start-up, instead of dead-lettering them one by one.
        let program = runner.program();
        if !payload::is_executable_on_path(&program, std::env::var_os("PATH").as_deref()) {
            setup.unconfigured_because(format!(
                "the scanner runner {program} is not on PATH (set LIGHTHOUSE_COMMAND)"
            ));
            return Ok(None);
        }
        Ok(Some(Lighthouse {
            runner,
            scan_limit: Duration::from_secs(config.timeout_seconds),
            one_scan: Semaphore::new(1),
            slack,
        }))
    }

    /// `SLACK_CHANNELS` and the deployment's channels (routes only take
    /// channels out).
    fn destinations(
        &self,
        deployment: &EnrichedDeployment,
        planning: &Planning<'_>,
    ) -> Vec<PlannedDestination> {
        let built_in = self.slack.deployment_channels(deployment);
        self.slack.plan_channels(planning, Self::ROUTED, built_in)
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, EnrichedDeployment>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let (deployment, progress) = (work.event, work.progress);
        if !deployment.wants_accessibility_test() {
            return Ok(DeliveryOutcome::Skipped(
                "testAccessibility is not true".into(),
            ));
        }
        let channels = plan::slack_channels(work.destinations);
        if channels.is_empty() {
            return Ok(DeliveryOutcome::Skipped(
                "no Slack channel to post the report to".into(),
            ));
        }
        let urls = payload::urls(deployment);
        if urls.is_empty() {
            return Ok(DeliveryOutcome::Skipped(
                "no accessibilityUrls and no applicationUrl to scan".into(),
            ));
        }
        let mut done: Vec<String> = Vec::new();
        let mut failures: Vec<DeliveryError> = Vec::new();
        for raw in &urls {
            let url = match payload::checked_url(raw) {
                Ok(url) => url,
                Err(refused) => {
                    failures.push(DeliveryError::permanent(refused));
                    continue;
                }
            };
            let step = |channel: &str| format!("lighthouse:{url}:{channel}");
            let left: Vec<&String> = channels
                .iter()
                .filter(|c| !progress.is_done(&step(c)))
                .collect();
            if left.is_empty() {
                continue;
            }
            let scan = match self.scan(url).await {
                Ok(scan) => scan,
                Err(error) => {
                    failures.push(error);
                    continue;
                }
            };
            let at = UNIX_EPOCH + Duration::from_millis(context.clock.now_ms().max(0) as u64);
            let file_name = payload::file_name(deployment, at);
            let title = payload::title(deployment);
            let comment = payload::comment(url, scan.score);
            let upload = FileUpload {
                file_name: &file_name,
                title: &title,
                bytes: &scan.html,
                comment: &comment,
            };
            let mut uploaded = Vec::new();
            for channel in left {
                match self.slack.upload(context, channel, &upload).await {
                    Ok(()) => {
                        progress.mark_done(&step(channel));
                        uploaded.push(channel.as_str());
                    }
                    Err(error) => failures.push(error.prefixed(&format!("{channel}: "))),
                }
            }
            if !uploaded.is_empty() {
                done.push(format!(
                    "report for {url} (score {:.2}/4.0) uploaded to {}",
                    scan.score,
                    uploaded.join(", ")
                ));
            }
        }
        summarise(done, failures)
    }

    /// Every step is bounded on its own (the scan by its limit, each call
    /// by the call timeout); this backstop leaves room for a few URLs and
    /// for waiting behind another delivery's scan.
    fn delivery_deadline(&self, call_timeout: Duration) -> Duration {
        (self.scan_limit + call_timeout * 8) * 4
    }
}

impl Lighthouse {
    /// Runs one scan in a fresh folder, removed afterwards in every case
    /// (also when the delivery is abandoned: the folder and the child
    /// process are dropped with the future).
    async fn scan(&self, url: &str) -> Result<Scan, DeliveryError> {
        let _permit = self
            .one_scan
            .acquire()
            .await
            .map_err(|_| DeliveryError::Fatal("the scan limiter is closed".into()))?;
        let folder = tempfile::Builder::new()
            .prefix("alvares-lighthouse-")
            .tempdir()
            .map_err(|error| {
                DeliveryError::transient(format!(
                    "could not make a report folder ({})",
                    error.kind()
                ))
            })?;
        let result = self.run_scanner(url, folder.path()).await;
        let shown = folder.path().display().to_string();
        if let Err(error) = folder.close() {
            log::warn!("lighthouse: could not remove the report folder {shown}: {error}");
        }
        result
    }

    async fn run_scanner(&self, url: &str, folder: &Path) -> Result<Scan, DeliveryError> {
        if let Runner::Docker { .. } = self.runner {
            // The container's user is not ours: let it write the report.
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o733));
        }
        let container = format!("alvares-lighthouse-{}", uuid::Uuid::now_v7().simple());
        let argv = self
            .runner
            .argv(url, &folder.display().to_string(), &container);
        let mut command = tokio::process::Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = command.spawn().map_err(|error| {
            DeliveryError::permanent(format!(
                "could not start the scanner {} ({})",
                argv[0],
                error.kind()
            ))
        })?;
        let output = match actix_rt::time::timeout(self.scan_limit, child.wait_with_output()).await
        {
            Ok(Ok(output)) => output,
            Ok(Err(error)) => {
                return Err(DeliveryError::transient(format!(
                    "waiting for the scanner of {url} failed ({})",
                    error.kind()
                )));
            }
            Err(_) => {
                // The child was dropped with the future, and so killed.
                if let Runner::Docker { .. } = self.runner {
                    remove_container(&container).await;
                }
                return Err(DeliveryError::transient(format!(
                    "the scan of {url} did not finish within {}s; the scanner was stopped",
                    self.scan_limit.as_secs()
                )));
            }
        };
        if !output.status.success() {
            let how = match output.status.code() {
                Some(code) => format!("exit code {code}"),
                None => "killed by a signal".to_owned(),
            };
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stderr = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
            let tail: String = stderr
                .chars()
                .rev()
                .take(QUOTED_STDERR_CHARS)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(DeliveryError::transient(format!(
                "the scan of {url} failed ({how}){}",
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {tail}")
                }
            )));
        }
        read_report(url, folder).await
    }
}

/// Reads the report the scanner wrote: `report.html` (what is uploaded)
/// and its score, from `report.json` when the scanner wrote one beside it,
/// else from the result embedded in the HTML.
async fn read_report(url: &str, folder: &Path) -> Result<Scan, DeliveryError> {
    let Ok(html) = tokio::fs::read(folder.join("report.html")).await else {
        return Err(DeliveryError::permanent(format!(
            "the scanner wrote no report for {url}"
        )));
    };
    let beside = tokio::fs::read(folder.join("report.json"))
        .await
        .ok()
        .and_then(|json| serde_json::from_slice::<Value>(&json).ok());
    let result = beside.or_else(|| payload::embedded_report(&String::from_utf8_lossy(&html)));
    let Some(result) = result else {
        return Err(DeliveryError::permanent(format!(
            "the report for {url} holds no readable Lighthouse result"
        )));
    };
    Ok(Scan {
        score: payload::total_score(&result),
        html,
    })
}

/// Removes the container of a stopped scan (killing `docker run` leaves
/// the container running). Best effort, bounded.
async fn remove_container(name: &str) {
    let removal = tokio::process::Command::new("docker")
        .args(["rm", "--force", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status();
    match actix_rt::time::timeout(Duration::from_secs(30), removal).await {
        Ok(Ok(status)) if status.success() => {}
        _ => log::warn!("lighthouse: could not remove the stopped scan's container {name}"),
    }
}

/// Transient when any failure is (the retry redoes only what is left),
/// else permanent when anything failed, else what was uploaded.
fn summarise(
    done: Vec<String>,
    failures: Vec<DeliveryError>,
) -> Result<DeliveryOutcome, DeliveryError> {
    if failures.is_empty() {
        return Ok(if done.is_empty() {
            DeliveryOutcome::Delivered("every report was uploaded by an earlier attempt".into())
        } else {
            DeliveryOutcome::Delivered(done.join("; "))
        });
    }
    let mut reason = failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if !done.is_empty() {
        reason = format!("{reason} (done: {})", done.join("; "));
    }
    let retry_after = failures
        .iter()
        .filter_map(|f| match f {
            DeliveryError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        })
        .max();
    if failures
        .iter()
        .any(|f| !matches!(f, DeliveryError::Permanent(_)))
    {
        Err(DeliveryError::Transient {
            reason,
            retry_after,
        })
    } else {
        Err(DeliveryError::Permanent(reason))
    }
}
