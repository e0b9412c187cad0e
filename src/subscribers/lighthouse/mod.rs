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
pub mod payload;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use awc::http::StatusCode;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::slack::config::SlackConfig;
use super::slack::sender::{describe_send_error, retry_after};
use super::slack_deployment::payload::channels as deployment_channels;
use super::{DeliveryContext, DeliveryOutcome, Progress, Setup, Subscriber};
use crate::config::{ConfigError, Secret};
use crate::domain::event::{Deployment, Event, EventKind};
use crate::error::DeliveryError;
use crate::pipeline::messages::PublishedEvent;
use config::LighthouseConfig;
use payload::Runner;

/// How long a resolved channel list is trusted when a name is missing from
/// it (a channel created since is found after this).
const CHANNEL_LIST_MAX_AGE: Duration = Duration::from_secs(60);
/// `conversations.list` pages read at most.
const MOST_CHANNEL_PAGES: usize = 50;
/// How much of the scanner's error output is quoted.
const QUOTED_STDERR_CHARS: usize = 300;

pub struct Lighthouse {
    runner: Runner,
    scan_limit: Duration,
    /// One scan at a time: a scan is a whole headless browser.
    one_scan: Semaphore,
    api_base_url: String,
    token: Secret<String>,
    channel_override: Option<String>,
    configured_channels: Vec<String>,
    /// Channel name (without `#`) to id, and when it was read.
    channel_ids: RefCell<Option<(Instant, HashMap<String, String>)>>,
}

/// A finished scan.
struct Scan {
    html: Vec<u8>,
    score: f64,
}

impl Subscriber for Lighthouse {
    const ID: &'static str = "lighthouse";
    const LEGACY_NAME: &'static str = "modules.subscribers.lighthouse.lighthouse";
    const KINDS: &'static [EventKind] = &[EventKind::Deployment];

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        let slack: SlackConfig = setup.settings.env.load()?;
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
        let Some(token) = slack.token else {
            return Ok(None);
        };
        Ok(Some(Lighthouse {
            runner,
            scan_limit: Duration::from_secs(config.timeout_seconds),
            one_scan: Semaphore::new(1),
            api_base_url: slack.api_base_url.as_str().trim_end_matches('/').to_owned(),
            token,
            channel_override: slack.channel_override,
            configured_channels: slack.channels.0,
            channel_ids: RefCell::new(None),
        }))
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        event: &PublishedEvent,
        progress: &Progress,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let Event::Deployment(deployment) = &event.event else {
            return Ok(DeliveryOutcome::Skipped("not a deployment".into()));
        };
        if !deployment.wants_accessibility_test() {
            return Ok(DeliveryOutcome::Skipped(
                "testAccessibility is not true".into(),
            ));
        }
        let channels = match &self.channel_override {
            Some(channel) => vec![channel.clone()],
            None => deployment_channels(&self.configured_channels, deployment),
        };
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
            let mut uploaded = Vec::new();
            for channel in left {
                match self.upload(context, deployment, url, &scan, channel).await {
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

    /// The external upload flow for one channel.
    async fn upload(
        &self,
        context: &DeliveryContext,
        deployment: &Deployment,
        url: &str,
        scan: &Scan,
        channel: &str,
    ) -> Result<(), DeliveryError> {
        let channel_id = self.channel_id(context, channel).await?;
        let file_name = payload::file_name(deployment, SystemTime::now());
        let answer = self
            .web_api(
                context,
                "files.getUploadURLExternal",
                Body::Form(vec![
                    ("filename", file_name),
                    ("length", scan.html.len().to_string()),
                ]),
            )
            .await?;
        let (Some(upload_url), Some(file_id)) =
            (answer["upload_url"].as_str(), answer["file_id"].as_str())
        else {
            return Err(DeliveryError::permanent(
                "Slack files.getUploadURLExternal answered without upload_url or file_id",
            ));
        };
        let mut response = context
            .http
            .post(upload_url)
            .content_type("application/octet-stream")
            .send_body(scan.html.clone())
            .await
            .map_err(|error| {
                DeliveryError::transient(format!(
                    "uploading the report: {}",
                    describe_send_error(&error, context.timeout)
                ))
            })?;
        let status = response.status();
        let _ = response.body().limit(64 * 1024).await;
        if status != StatusCode::OK {
            let reason = format!("uploading the report: HTTP {}", status.as_u16());
            return Err(
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    DeliveryError::transient(reason)
                } else {
                    DeliveryError::permanent(reason)
                },
            );
        }
        let body = payload::complete_upload(
            file_id,
            &payload::title(deployment),
            &channel_id,
            &payload::comment(url, scan.score),
        );
        self.web_api(context, "files.completeUploadExternal", Body::Json(body))
            .await?;
        Ok(())
    }

    /// A channel's id: `#name` looked up in `conversations.list` (read
    /// again when a name is missing and the list is over a minute old); a
    /// value without `#` that names no channel is taken as an id.
    async fn channel_id(
        &self,
        context: &DeliveryContext,
        channel: &str,
    ) -> Result<String, DeliveryError> {
        let name = channel.trim_start_matches('#');
        let cached = |this: &Self| -> (Option<String>, bool) {
            match &*this.channel_ids.borrow() {
                Some((read_at, ids)) => (
                    ids.get(name).cloned(),
                    read_at.elapsed() < CHANNEL_LIST_MAX_AGE,
                ),
                None => (None, false),
            }
        };
        let (found, fresh) = cached(self);
        if let Some(id) = found {
            return Ok(id);
        }
        if !fresh {
            let ids = self.read_channel_list(context).await?;
            *self.channel_ids.borrow_mut() = Some((Instant::now(), ids));
            if let (Some(id), _) = cached(self) {
                return Ok(id);
            }
        }
        if !channel.starts_with('#') {
            return Ok(channel.to_owned());
        }
        Err(DeliveryError::permanent(format!(
            "channel {channel} not found by conversations.list (is the Slack app in it?)"
        )))
    }

    async fn read_channel_list(
        &self,
        context: &DeliveryContext,
    ) -> Result<HashMap<String, String>, DeliveryError> {
        let mut ids = HashMap::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MOST_CHANNEL_PAGES {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("limit", "1000")
                .append_pair("exclude_archived", "true")
                .append_pair("types", "public_channel,private_channel");
            if let Some(cursor) = &cursor {
                query.append_pair("cursor", cursor);
            }
            let answer = self
                .web_api(context, "conversations.list", Body::Query(query.finish()))
                .await?;
            let (page, next) = payload::channel_page(&answer);
            ids.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(ids)
    }

    /// One Web API call with the bot token; `"ok": false` is a failure.
    async fn web_api(
        &self,
        context: &DeliveryContext,
        method: &str,
        body: Body,
    ) -> Result<Value, DeliveryError> {
        let url = format!("{}/{method}", self.api_base_url);
        let bearer = ("Authorization", format!("Bearer {}", self.token.expose()));
        let sent = match body {
            Body::Query(query) => {
                context
                    .http
                    .get(format!("{url}?{query}"))
                    .insert_header(bearer)
                    .send()
                    .await
            }
            Body::Form(form) => {
                context
                    .http
                    .post(url)
                    .insert_header(bearer)
                    .send_form(&form)
                    .await
            }
            Body::Json(json) => {
                context
                    .http
                    .post(url)
                    .insert_header(bearer)
                    .send_json(&json)
                    .await
            }
        };
        let mut response = sent.map_err(|error| {
            DeliveryError::transient(format!(
                "Slack {method}: {}",
                describe_send_error(&error, context.timeout)
            ))
        })?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(DeliveryError::Transient {
                reason: format!("Slack {method}: rate limited (HTTP 429)"),
                retry_after: Some(retry_after(response.headers())),
            });
        }
        let bytes = response
            .body()
            .limit(4 * 1024 * 1024)
            .await
            .unwrap_or_default();
        if let Some(error) = DeliveryError::from_status(&format!("Slack {method}"), status) {
            return Err(error);
        }
        let answer: Value = serde_json::from_slice(&bytes).map_err(|_| {
            DeliveryError::transient(format!("Slack {method}: the answer is not JSON"))
        })?;
        if answer["ok"] == true {
            return Ok(answer);
        }
        let error = answer["error"].as_str().unwrap_or("unknown_error");
        let reason = format!("Slack {method} answered ok:false ({error})");
        Err(match error {
            "ratelimited" | "rate_limited" => DeliveryError::Transient {
                reason,
                retry_after: Some(retry_after(response.headers())),
            },
            "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                DeliveryError::transient(reason)
            }
            _ => DeliveryError::permanent(reason),
        })
    }
}

enum Body {
    Query(String),
    Form(Vec<(&'static str, String)>),
    Json(Value),
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
