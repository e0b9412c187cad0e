//! `detectify`: after a deployment, starts a Detectify scan of each of the
//! deployment's profiles that is not already being scanned.
//!
//! For each key in `DETECTIFY_API_KEYS`: list the key's profiles, and for
//! each of the deployment's tokens among them read the scan state and start
//! a scan when it is `stopped`. A failure for one token or key does not
//! stop the others; the delivery is transient when any failure is (5xx,
//! 429, network), else permanent when anything failed. Keys are named by
//! position ("key 2"), never by value.

pub mod config;
pub mod conformance;
pub mod payload;

use std::time::Duration;

use awc::http::Method;
use serde_json::Value;

use crate::config::{ConfigError, RateLimit, Secret};
use crate::domain::EnrichedDeployment;
use crate::engine::outbound::{Body, CallError};
use crate::error::DeliveryError;
use crate::subscribers::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, Setup, Subscriber, Work,
};
use config::DetectifyConfig;
use payload::{Failure, Summary};

pub struct Detectify {
    keys: Vec<Secret<String>>,
    clusters: Vec<String>,
    base_url: String,
    /// The decoded signing secret, when requests are signed.
    signing_secret: Option<Secret<Vec<u8>>>,
}

/// An answer worth reading, or a failure already worded (with its status,
/// when the API answered one).
type CallResult = Result<Value, (Option<u16>, Failure)>;

impl Subscriber for Detectify {
    const ID: &'static str = "detectify";
    const LEGACY_NAME: &'static str = "modules.subscribers.detectify.detectify";
    type Input = EnrichedDeployment;

    /// Detectify's API: about one request a second.
    fn default_rate_limit() -> Option<RateLimit> {
        Some(RateLimit::new(1, 1, 1))
    }

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        let config: DetectifyConfig = setup.settings.env.load()?;
        let keys: Vec<Secret<String>> = config
            .api_keys
            .expose()
            .0
            .iter()
            .cloned()
            .map(Secret::new)
            .collect();
        if keys.is_empty() {
            return Ok(None);
        }
        let signing_secret = match config.api_secret {
            None => None,
            Some(secret) => Some(Secret::new(
                payload::decode_secret(secret.expose()).ok_or_else(|| {
                    ConfigError::invalid("DETECTIFY_API_SECRET", "expected base64")
                })?,
            )),
        };
        Ok(Some(Detectify {
            keys,
            clusters: config.clusters.0,
            base_url: config
                .api_base_url
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            signing_secret,
        }))
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, EnrichedDeployment>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let (deployment, progress) = (work.event, work.progress);
        if !self.clusters.contains(&deployment.cluster) {
            return Ok(DeliveryOutcome::Skipped(format!(
                "cluster {} is not in DETECTIFY_CLUSTERS",
                deployment.cluster
            )));
        }
        let tokens = &deployment.detectify_profile_tokens;
        if tokens.is_empty() {
            return Ok(DeliveryOutcome::Skipped(
                "the deployment has no detectifyProfileTokens".into(),
            ));
        }
        let mut summary = Summary::default();
        for (index, key) in self.keys.iter().enumerate() {
            let name = format!("key {}", index + 1);
            let step = |token: &str| format!("detectify:{name}:{token}");
            if tokens.iter().all(|token| progress.is_done(&step(token))) {
                continue;
            }
            let visible = match self.call(context, Method::GET, "/profiles/", key).await {
                Ok(answer) => payload::profile_tokens(&answer),
                Err((_, failure)) => {
                    summary.failures.push(Failure {
                        text: format!("{name}: list profiles: {}", failure.text),
                        ..failure
                    });
                    continue;
                }
            };
            for token in tokens.iter().filter(|t| visible.contains(t)) {
                if progress.is_done(&step(token)) {
                    continue;
                }
                match self.start_if_stopped(context, key, token).await {
                    Ok(done) => {
                        progress.mark_done(&step(token));
                        summary.done.push(format!("{done} ({name})"));
                    }
                    Err(failure) => summary.failures.push(Failure {
                        text: format!("{name}, token {token}: {}", failure.text),
                        ..failure
                    }),
                }
            }
        }
        summary.into_result()
    }
}

impl Detectify {
    /// Reads the scan state and starts a scan when it is `stopped`.
    async fn start_if_stopped(
        &self,
        context: &DeliveryContext,
        key: &Secret<String>,
        token: &str,
    ) -> Result<String, Failure> {
        let path = format!("/scans/{token}/");
        let state = match self.call(context, Method::GET, &path, key).await {
            Ok(answer) => payload::scan_state(&answer).unwrap_or("unknown").to_owned(),
            Err((_, failure)) => {
                return Err(Failure {
                    text: format!("read scan state: {}", failure.text),
                    ..failure
                });
            }
        };
        if state != "stopped" {
            return Ok(format!("scan of {token} left alone ({state})"));
        }
        match self.call(context, Method::POST, &path, key).await {
            Ok(_) => Ok(format!("scan of {token} started")),
            Err((Some(409), _)) => Ok(format!("scan of {token} already running")),
            Err((_, failure)) => Err(Failure {
                text: format!("start scan: {}", failure.text),
                ..failure
            }),
        }
    }

    /// One call with the key (and the signature when a secret is set).
    async fn call(
        &self,
        context: &DeliveryContext,
        method: Method,
        path: &str,
        key: &Secret<String>,
    ) -> CallResult {
        // One request a second; a call in the middle of a key's sequence
        // waits for its turn rather than being handed back.
        context.limiter.wait_for_turn("api").await;
        let url = format!("{}{path}", self.base_url);
        let mut request = context
            .http
            .request(method.clone(), url.as_str())
            .insert_header(("X-Detectify-Key", key.expose().as_str()));
        if let Some(secret) = &self.signing_secret {
            let sent_path = url::Url::parse(&url)
                .map(|u| u.path().to_owned())
                .unwrap_or_else(|_| path.to_owned());
            let timestamp = (context.clock.now_ms() / 1000).max(0) as u64;
            let signature = payload::signature(
                secret.expose(),
                method.as_str(),
                &sent_path,
                key.expose(),
                timestamp,
                "",
            );
            request = request
                .insert_header(("X-Detectify-Signature", signature))
                .insert_header(("X-Detectify-Timestamp", timestamp.to_string()));
        }
        let failure = |status: Option<u16>, text: String, transient, retry_after| {
            Err((
                status,
                Failure {
                    text,
                    transient,
                    retry_after,
                },
            ))
        };
        match context
            .send_and_read(request, Body::Empty, Duration::from_secs(1))
            .await
        {
            Ok(answer) => Ok(answer.json().unwrap_or(Value::Null)),
            Err(CallError::Network(problem)) => failure(None, problem, true, None),
            Err(error @ CallError::Redirect { .. }) => {
                failure(error.status(), error.describe("Detectify"), false, None)
            }
            Err(CallError::RateLimited { wait, .. }) => failure(
                Some(429),
                format!("{} (HTTP 429)", payload::status_meaning(429)),
                true,
                Some(wait.max(Duration::from_secs(1))),
            ),
            Err(CallError::Refused { status, .. }) => failure(
                Some(status),
                format!("{} (HTTP {status})", payload::status_meaning(status)),
                status >= 500,
                None,
            ),
        }
    }
}
