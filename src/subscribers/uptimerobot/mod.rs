//! `uptimerobot`: keeps a keyword monitor on each deployed application's
//! monitor page (found by URL, else by name, else created), then tells the
//! deployment's channels which URL is monitored.
//!
//! Failures: `"stat": "fail"` (HTTP 200 included) is permanent unless the
//! API calls it an internal error or a rate limit; 429, 5xx and network
//! errors are transient (429 with the API's `Retry-After` or
//! `X-RateLimit-Reset`). The API key is never part of an error text.

pub mod config;
pub mod conformance;
pub mod payload;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::config::{ConfigError, OperatorView, RateLimit, Secret};
use crate::domain::{EnrichedDeployment, EnrichmentSettings, plan};
use crate::engine::outbound::{Body, CallError};
use crate::error::DeliveryError;
use crate::slack::{SlackClient, SlackMessage, Unrendered};
use crate::subscribers::{
    Conformance, ConformanceBench, DeliveryContext, DeliveryOutcome, PlannedDestination, Planning,
    Setup, Subscriber, Work,
};
use config::UptimeRobotConfig;
use payload::{Form, MonitorRules, MonitorTarget, PublicHosts};

/// The step recorded once the monitor is in place, so that a retry after a
/// failed Slack message does not call UptimeRobot again.
const MONITOR_STEP: &str = "monitor";

pub struct UptimeRobot {
    api_key: Secret<String>,
    base_url: String,
    rules: MonitorRules,
    public_hosts: PublicHosts,
    hosts: EnrichmentSettings,
    /// `None` when Slack is not configured: monitors are still kept.
    slack: Option<Arc<SlackClient>>,
    operator: OperatorView,
}

impl Subscriber for UptimeRobot {
    const ID: &'static str = "uptimerobot";
    const LEGACY_NAME: &'static str = "modules.subscribers.uptimerobot.uptimerobot";
    type Input = EnrichedDeployment;

    /// UptimeRobot's free plan: 10 requests a minute.
    fn default_rate_limit() -> Option<RateLimit> {
        Some(RateLimit::new(10, 60, 10))
    }

    fn conformance(bench: &ConformanceBench<'_>) -> Conformance {
        conformance::conformance(bench)
    }

    fn from_config(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        let config: UptimeRobotConfig = setup.settings.env.load()?;
        let Some(api_key) = config.api_key.or(config.legacy_api_key) else {
            return Ok(None);
        };
        let host = |url: Option<crate::config::HttpUrl>| url.map(|u| u.as_str().to_owned());
        Ok(Some(UptimeRobot {
            api_key,
            base_url: config
                .api_base_url
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            rules: MonitorRules {
                clusters: config.clusters.0,
                excluded_apps: config.excluded_apps.0,
            },
            public_hosts: PublicHosts {
                app: host(config.kth_app_host),
                api: host(config.kth_api_host),
                app_stage: host(config.kth_app_host_stage),
                api_stage: host(config.kth_api_host_stage),
            },
            hosts: setup.settings.enrichment.clone(),
            slack: setup.services.get::<SlackClient>(),
            operator: setup.operator.clone(),
        }))
    }

    /// The deployment's own channels (routes only take channels out), when
    /// Slack is configured.
    fn destinations(
        &self,
        deployment: &EnrichedDeployment,
        planning: &Planning<'_>,
    ) -> Vec<PlannedDestination> {
        let Some(slack) = &self.slack else {
            return Vec::new();
        };
        let own: Vec<String> = deployment
            .deployment_slack_channels()
            .into_iter()
            .map(str::to_owned)
            .collect();
        slack.plan_channels(planning, Self::ROUTED, own)
    }

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, EnrichedDeployment>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let (deployment, progress) = (work.event, work.progress);
        let target = match payload::target(deployment, &self.rules, &self.hosts, &self.public_hosts)
        {
            Ok(target) => target,
            Err(why) => return Ok(DeliveryOutcome::Skipped(why)),
        };
        let monitored = if progress.is_done(MONITOR_STEP) {
            format!("monitor for {} kept by an earlier attempt", target.url)
        } else {
            let done = self.keep_monitor(context, &target, deployment).await?;
            progress.mark_done(MONITOR_STEP);
            done
        };
        let Some(slack) = &self.slack else {
            return Ok(DeliveryOutcome::Delivered(format!(
                "{monitored}; no Slack message (Slack is not configured)"
            )));
        };
        let messages = self
            .messages(&work, &target)
            .render()
            .await
            .map_err(|error| error.prefixed(&format!("{monitored}, but ")))?;
        if messages.is_empty() {
            return Ok(DeliveryOutcome::Delivered(format!(
                "{monitored}; no Slack channel to tell"
            )));
        }
        match slack.post_all(context, progress, &messages).await {
            Ok(DeliveryOutcome::Delivered(sent)) => {
                Ok(DeliveryOutcome::Delivered(format!("{monitored}; {sent}")))
            }
            Ok(DeliveryOutcome::Skipped(why)) => {
                Ok(DeliveryOutcome::Delivered(format!("{monitored}; {why}")))
            }
            Err(error) => Err(error.prefixed(&format!("{monitored}, but "))),
        }
    }

    /// The Slack message saying which URL is monitored (the monitor itself
    /// is not previewed).
    fn preview(
        &self,
        work: Work<'_, EnrichedDeployment>,
    ) -> Option<Result<Vec<Value>, DeliveryError>> {
        self.slack.as_ref()?;
        let target =
            payload::target(work.event, &self.rules, &self.hosts, &self.public_hosts).ok()?;
        Some(
            self.messages(&work, &target)
                .render_waiting()
                .map(|m| SlackMessage::as_json(&m)),
        )
    }
}

impl UptimeRobot {
    /// The message to each planned channel.
    fn messages(&self, work: &Work<'_, EnrichedDeployment>, target: &MonitorTarget) -> Unrendered {
        let operator = self.operator.borrow().clone();
        let channels = plan::slack_channels(work.destinations);
        let mut values = work.template_context();
        values.insert(
            "monitor",
            serde_json::json!({"url": target.url, "friendly_name": target.friendly_name}),
        );
        SlackMessage::rendered(&operator.templates, Self::ID, values, &channels)
    }

    /// Finds the monitor by URL, else by name, and edits it; else creates
    /// one. Answers what it did.
    async fn keep_monitor(
        &self,
        context: &DeliveryContext,
        target: &MonitorTarget,
        deployment: &EnrichedDeployment,
    ) -> Result<String, DeliveryError> {
        let key = self.api_key.expose();
        let by_url = self
            .call(
                context,
                "getMonitors",
                &payload::search_form(key, &target.url),
            )
            .await?;
        let found = match payload::found_monitor(&by_url, "url", &target.url) {
            Some(id) => Some((id, "URL")),
            None => {
                let by_name = self
                    .call(
                        context,
                        "getMonitors",
                        &payload::search_form(key, &target.friendly_name),
                    )
                    .await?;
                payload::found_monitor(&by_name, "friendly_name", &target.friendly_name)
                    .map(|id| (id, "name"))
            }
        };
        let contacts = self
            .call(
                context,
                "getAlertContacts",
                &payload::alert_contacts_form(key),
            )
            .await?;
        let team = deployment.team.as_str();
        let contact = payload::alert_contact(&contacts, team);
        match found {
            Some((id, how)) => {
                let form = payload::edit_monitor_form(key, &id, target, contact.as_deref());
                self.call(context, "editMonitor", &form).await?;
                Ok(format!("monitor {id} edited (found by {how})"))
            }
            None => {
                let form = payload::new_monitor_form(key, target, contact.as_deref());
                let answer = self.call(context, "newMonitor", &form).await?;
                let id = match &answer["monitor"]["id"] {
                    Value::Null => "?".to_owned(),
                    Value::String(id) => id.clone(),
                    other => other.to_string(),
                };
                Ok(format!("monitor {id} created for {}", target.url))
            }
        }
    }

    /// One form-encoded POST; answers the JSON of a `"stat": "ok"` answer.
    async fn call(
        &self,
        context: &DeliveryContext,
        method: &str,
        form: &Form,
    ) -> Result<Value, DeliveryError> {
        // The free plan allows 10 requests a minute.
        context.limiter.take_turn("api").await?;
        let url = format!("{}/{method}", self.base_url);
        let what = format!("UptimeRobot {method}");
        // UptimeRobot's window is a minute: a 429 without a time means that.
        let answer = context
            .send_and_read(
                context.http.post(url),
                Body::Form(form),
                Duration::from_secs(60),
            )
            .await
            .map_err(|error: CallError| error.delivery_error(&what))?;
        payload::read_answer(&answer.body).map_err(|failure| {
            // The API's words, never the key (some messages quote input).
            let words = failure
                .to_string()
                .replace(self.api_key.expose(), "[redacted]");
            let reason = format!("{what} failed: {words}");
            if failure.is_transient() {
                DeliveryError::transient(reason)
            } else {
                DeliveryError::permanent(reason)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use awc::http::header::{HeaderMap, HeaderName, HeaderValue};
    use std::time::UNIX_EPOCH;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn the_wait_comes_from_retry_after_then_the_reset_time() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        // A 429 without a time stands for the free plan's one-minute window.
        let wait = |pairs| {
            crate::engine::outbound::rate_limit_wait(&headers(pairs), now, Duration::from_secs(60))
        };
        assert_eq!(
            wait(&[("retry-after", "7"), ("x-ratelimit-reset", "1800000030")]),
            Duration::from_secs(7)
        );
        assert_eq!(
            wait(&[("x-ratelimit-reset", "1800000030")]),
            Duration::from_secs(30)
        );
        assert_eq!(
            wait(&[("x-ratelimit-reset", "12")]),
            Duration::from_secs(12)
        );
        assert_eq!(wait(&[]), Duration::from_secs(60));
    }
}
