//! Detectify's signature, answers and status meanings, without I/O.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::error::DeliveryError;
use crate::subscribers::DeliveryOutcome;

/// `X-Detectify-Signature`: base64 of HMAC-SHA256, keyed with the decoded
/// secret, over `METHOD;PATH;KEY;TIMESTAMP;BODY`.
pub fn signature(
    secret: &[u8],
    method: &str,
    path: &str,
    key: &str,
    timestamp: u64,
    body: &str,
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(format!("{method};{path};{key};{timestamp};{body}").as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// Decodes `DETECTIFY_API_SECRET`.
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    BASE64.decode(secret.trim()).ok()
}

/// What Detectify means by a status (BEHAVIOUR §3).
pub fn status_meaning(status: u16) -> &'static str {
    match status {
        400 => "malformed profile token",
        401 => "invalid API key",
        403 => "key lacks access",
        404 => "token not found",
        409 => "scan already running",
        423 => "domain not verified",
        429 => "rate limited",
        500..=599 => "Detectify server error",
        _ => "unexpected answer",
    }
}

/// The profile tokens of a `GET /profiles/` answer (a list of profiles).
pub fn profile_tokens(answer: &Value) -> Vec<String> {
    let profiles = answer
        .as_array()
        .or_else(|| answer["profiles"].as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    profiles
        .iter()
        .filter_map(|profile| profile["token"].as_str())
        .map(str::to_owned)
        .collect()
}

/// The `state` of a `GET /scans/<token>/` answer.
pub fn scan_state(answer: &Value) -> Option<&str> {
    answer["state"].as_str()
}

/// One failed call, worded for the log and health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub text: String,
    pub transient: bool,
    pub retry_after: Option<Duration>,
}

/// What a delivery did, token by token and key by key.
#[derive(Debug, Default)]
pub struct Summary {
    pub done: Vec<String>,
    pub failures: Vec<Failure>,
}

impl Summary {
    /// Transient when any failure is worth retrying (5xx, 429, network),
    /// else permanent when anything failed, else what was done.
    pub fn into_result(self) -> Result<DeliveryOutcome, DeliveryError> {
        if self.failures.is_empty() {
            return Ok(if self.done.is_empty() {
                DeliveryOutcome::Skipped(
                    "no API key can see the deployment's profile tokens".into(),
                )
            } else {
                DeliveryOutcome::Delivered(self.done.join("; "))
            });
        }
        let mut reason = self
            .failures
            .iter()
            .map(|f| f.text.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        if !self.done.is_empty() {
            reason = format!("{reason} (done: {})", self.done.join("; "));
        }
        if self.failures.iter().any(|f| f.transient) {
            Err(DeliveryError::Transient {
                reason,
                retry_after: self.failures.iter().filter_map(|f| f.retry_after).max(),
            })
        } else {
            Err(DeliveryError::Permanent(reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signature_matches_an_independent_computation() {
        // HMAC-SHA256(key = "secret", "GET;/rest/v2/profiles/;K;1700000000;")
        // computed with `openssl dgst -sha256 -hmac secret -binary | base64`.
        let secret = decode_secret("c2VjcmV0").unwrap();
        assert_eq!(secret, b"secret");
        assert_eq!(
            signature(&secret, "GET", "/rest/v2/profiles/", "K", 1_700_000_000, ""),
            "3dr4lYOi7HQcLkDB4Wqy0f6m/TBxROmoUwV9tipDHYY="
        );
        assert_eq!(decode_secret("not base64!"), None);
    }

    #[test]
    fn statuses_have_the_spec_meanings() {
        let meanings: Vec<&str> = [400, 401, 403, 404, 409, 423, 502]
            .into_iter()
            .map(status_meaning)
            .collect();
        assert_eq!(
            meanings,
            [
                "malformed profile token",
                "invalid API key",
                "key lacks access",
                "token not found",
                "scan already running",
                "domain not verified",
                "Detectify server error"
            ]
        );
    }

    #[test]
    fn answers_are_read() {
        let profiles = json!([{"name": "a", "token": "t1"}, {"name": "b", "token": "t2"}]);
        assert_eq!(profile_tokens(&profiles), ["t1", "t2"]);
        assert!(profile_tokens(&json!({})).is_empty());
        assert_eq!(scan_state(&json!({"state": "stopped"})), Some("stopped"));
    }

    #[test]
    fn any_transient_failure_makes_the_whole_delivery_transient() {
        let failure = |text: &str, transient| Failure {
            text: text.into(),
            transient,
            retry_after: None,
        };
        let summary = Summary {
            done: vec!["scan started for t1 (key 1)".into()],
            failures: vec![failure("key 2: invalid API key (HTTP 401)", false)],
        };
        assert_eq!(
            summary.into_result(),
            Err(DeliveryError::Permanent(
                "key 2: invalid API key (HTTP 401) (done: scan started for t1 (key 1))".into()
            ))
        );
        let summary = Summary {
            done: vec![],
            failures: vec![failure("a", false), failure("b", true)],
        };
        assert_eq!(summary.into_result().unwrap_err().kind(), "transient");
        assert_eq!(
            Summary::default().into_result(),
            Ok(DeliveryOutcome::Skipped(
                "no API key can see the deployment's profile tokens".into()
            ))
        );
    }
}
