//! `github-<name>`: GitHub deployments (the REST API, with a token from
//! the environment). A deployment whose version ends in a commit id
//! (`2.0.11_abc123f`) of an application the entry maps to a repository
//! becomes a GitHub deployment of that commit in the environment of its
//! cluster, with the status `success` (its log link attached); the one it
//! replaced there gets `inactive`. An error of that application and
//! cluster marks the current one `failure`. Recommendations are skipped.
//!
//! ```toml
//! [[destinations]]
//! name = "deployments"
//! type = "github"
//! key_env = "GITHUB_DEPLOYMENTS_TOKEN"   # fine-grained: Deployments read and write
//! repositories = { kth-azure-app = "kth/kth-azure-app" }
//! kinds = ["deployment", "error"]
//! ```
//!
//! Each step is noted in the delivery's progress (the deployment's id,
//! `success`, `inactive`), so a retry creates no second deployment. The
//! API's limits are honoured: a 403 or 429 with `X-RateLimit-Remaining: 0`
//! waits for `X-RateLimit-Reset`, one with `Retry-After` for that (the
//! outbound layer reads both).

pub mod config;
pub mod conformance;
pub mod payload;

use std::time::Duration;

use awc::http::Method;
use serde_json::Value;

use crate::config::{ConfigError, OperatorConfig, RateLimit};
use crate::domain::links::log_search_link;
use crate::domain::{EnrichedDeployment, EnrichedEvent};
use crate::engine::outbound::{Answer, Body};
use crate::error::DeliveryError;
use crate::subscribers::{
    Declared, DeliveryContext, DeliveryOutcome, Registration, Setup, Subscriber, Work, declared,
};
use config::GitHubConfig;

/// GitHub allows 80 content-creating requests a minute (its secondary
/// limit, "Rate limits for the REST API"); a deployment makes up to three.
pub const GITHUB_RATE_LIMIT: RateLimit = RateLimit::new(1, 3, 5);

/// The wait a rate-limited answer that names none stands for.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// Every GitHub destination the operator file declares.
pub fn registrations(operator: &OperatorConfig) -> Vec<Registration> {
    declared::registrations::<GitHub>(operator, GitHub::new)
}

pub struct GitHub {
    declared: Declared,
    api_url: String,
    graylog_host: String,
}

/// One call to the API.
struct Call<'a> {
    method: Method,
    path: String,
    body: Option<&'a Value>,
}

impl GitHub {
    fn new(name: &str, setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(declared) = Declared::of(Self::ID, name, setup) else {
            return Ok(None);
        };
        let config: GitHubConfig = setup.settings.env.load()?;
        Ok(Some(GitHub {
            declared,
            api_url: config.api_url.as_str().trim_end_matches('/').to_owned(),
            graylog_host: config.graylog_host.as_str().to_owned(),
        }))
    }

    /// Makes `call` with `token`; its answer read as JSON.
    async fn call(
        &self,
        context: &DeliveryContext,
        token: &str,
        call: Call<'_>,
    ) -> Result<Answer, DeliveryError> {
        let request = context
            .http
            .request(
                call.method.clone(),
                format!("{}{}", self.api_url, call.path),
            )
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Accept", "application/vnd.github+json"))
            .insert_header(("X-GitHub-Api-Version", "2022-11-28"));
        let body = call.body.map_or(Body::Empty, |body| Body::Json(body));
        context
            .send_and_read(request, body, DEFAULT_WAIT)
            .await
            .map_err(|error| error.delivery_error(&format!("{} {}", call.method, call.path)))
    }

    /// The newest deployment of `application` in `cluster` but `except`.
    async fn newest(
        &self,
        context: &DeliveryContext,
        token: &str,
        deployments: &str,
        (application, cluster): (&str, &str),
        except: Option<u64>,
    ) -> Result<Option<u64>, DeliveryError> {
        let path = format!(
            "{deployments}?{}",
            payload::listing(application, cluster, 10)
        );
        let answer = self
            .call(
                context,
                token,
                Call {
                    method: Method::GET,
                    path,
                    body: None,
                },
            )
            .await?;
        let listed = answer.json().unwrap_or_default();
        Ok(payload::ids(&listed)
            .into_iter()
            .find(|id| except.is_none_or(|except| *id < except)))
    }

    /// A deployment: created (once), `success`, and the one it replaced
    /// `inactive`.
    async fn deployed(
        &self,
        context: &DeliveryContext,
        work: &Work<'_, EnrichedEvent>,
        deployment: &EnrichedDeployment,
        (repository, token): (&str, &str),
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let (application, cluster) = (&deployment.application_name, &deployment.cluster);
        let version = deployment.version.as_deref().unwrap_or_default();
        let Some(commit) = payload::commit_of(version) else {
            return Ok(DeliveryOutcome::Skipped(format!(
                "its version \"{version}\" ends in no commit id"
            )));
        };
        let deployments = format!("/repos/{repository}/deployments");
        let progress = work.progress;
        let id = match progress.noted("deployment").and_then(|id| id.parse().ok()) {
            Some(id) => id,
            None => {
                let body = payload::deployment(
                    application,
                    version,
                    commit,
                    cluster,
                    &work.id.to_string(),
                );
                let answer = self
                    .call(
                        context,
                        token,
                        Call {
                            method: Method::POST,
                            path: deployments.clone(),
                            body: Some(&body),
                        },
                    )
                    .await?;
                let id = answer
                    .json()
                    .and_then(|created| created.get("id")?.as_u64())
                    .ok_or_else(|| {
                        DeliveryError::transient(format!(
                            "POST {deployments}: HTTP {}, but no deployment id in the answer",
                            answer.status.as_u16()
                        ))
                    })?;
                progress.note("deployment", &id.to_string());
                id
            }
        };
        if !progress.is_done("success") {
            let logs = log_search_link(&self.graylog_host, deployment);
            let body = payload::status(
                "success",
                cluster,
                &format!("{application} {version} deployed"),
                Some(&logs),
            );
            let path = format!("{deployments}/{id}/statuses");
            self.call(
                context,
                token,
                Call {
                    method: Method::POST,
                    path,
                    body: Some(&body),
                },
            )
            .await?;
            progress.mark_done("success");
        }
        if !progress.is_done("inactive") {
            let replaced = self
                .newest(
                    context,
                    token,
                    &deployments,
                    (application, cluster),
                    Some(id),
                )
                .await?;
            if let Some(replaced) = replaced {
                let body =
                    payload::status("inactive", cluster, &format!("replaced by {version}"), None);
                let path = format!("{deployments}/{replaced}/statuses");
                self.call(
                    context,
                    token,
                    Call {
                        method: Method::POST,
                        path,
                        body: Some(&body),
                    },
                )
                .await?;
                progress.note("replaced", &replaced.to_string());
            }
            progress.mark_done("inactive");
        }
        let replaced = progress
            .noted("replaced")
            .map(|replaced| format!("; {replaced} inactive"))
            .unwrap_or_default();
        Ok(DeliveryOutcome::Delivered(format!(
            "deployment {id} of {commit} in {cluster}: success{replaced}"
        )))
    }

    /// An error: the current deployment of its application and cluster
    /// marked `failure`.
    async fn failed(
        &self,
        context: &DeliveryContext,
        work: &Work<'_, EnrichedEvent>,
        (repository, token): (&str, &str),
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let text = |field: &str| {
            work.json
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let (application, cluster, message) =
            (text("applicationName"), text("cluster"), text("message"));
        let deployments = format!("/repos/{repository}/deployments");
        let Some(current) = self
            .newest(context, token, &deployments, (application, cluster), None)
            .await?
        else {
            return Ok(DeliveryOutcome::Skipped(format!(
                "GitHub has no deployment of {application} in {cluster}"
            )));
        };
        let body = payload::status("failure", cluster, message, None);
        let path = format!("{deployments}/{current}/statuses");
        self.call(
            context,
            token,
            Call {
                method: Method::POST,
                path,
                body: Some(&body),
            },
        )
        .await?;
        Ok(DeliveryOutcome::Delivered(format!(
            "deployment {current} in {cluster}: failure"
        )))
    }

    /// The repository `work`'s application is in, or why there is none.
    fn repository(
        work: &Work<'_, EnrichedEvent>,
        repositories: &std::collections::BTreeMap<String, String>,
    ) -> Result<String, String> {
        if matches!(work.event, EnrichedEvent::Recommendation(_)) {
            return Err("a recommendation changes no deployment".into());
        }
        let text = |field: &str| {
            work.json
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let (application, cluster) = (text("applicationName"), text("cluster"));
        if application.is_empty() || cluster.is_empty() {
            return Err("it names no application and cluster".into());
        }
        repositories
            .get(application)
            .cloned()
            .ok_or_else(|| format!("repositories names no repository of {application}"))
    }
}

impl Subscriber for GitHub {
    /// Each destination's id is `github-<name>`.
    const ID: &'static str = "github";
    const LEGACY_NAME: &'static str = "";
    type Input = EnrichedEvent;

    crate::subscribers::declared_items!();

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, EnrichedEvent>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let in_force = match self.declared.in_force(work.destinations) {
            Ok(in_force) => in_force,
            Err(skipped) => return Ok(skipped),
        };
        let repository = match Self::repository(&work, &in_force.declared.repositories) {
            Ok(repository) => repository,
            Err(why) => return Ok(DeliveryOutcome::Skipped(why)),
        };
        let token = self.declared.key(&in_force.declared)?;
        match work.event {
            EnrichedEvent::Deployment(deployment) => {
                self.deployed(context, &work, deployment, (&repository, token))
                    .await
            }
            _ => self.failed(context, &work, (&repository, token)).await,
        }
    }

    /// The first call it would make (the token never shown).
    fn preview(&self, work: Work<'_, EnrichedEvent>) -> Option<Result<Vec<Value>, DeliveryError>> {
        let (_, declared) = self.declared.current()?;
        let Ok(repository) = Self::repository(&work, &declared.repositories) else {
            return Some(Ok(Vec::new()));
        };
        let deployments = format!("/repos/{repository}/deployments");
        Some(Ok(match work.event {
            EnrichedEvent::Deployment(deployment) => {
                let version = deployment.version.as_deref().unwrap_or_default();
                payload::commit_of(version)
                    .map(|commit| {
                        serde_json::json!({
                            "method": "POST",
                            "path": deployments,
                            "body": payload::deployment(&deployment.application_name, version, commit, &deployment.cluster, &work.id.to_string()),
                        })
                    })
                    .into_iter()
                    .collect()
            }
            _ => {
                let text = |field: &str| {
                    work.json
                        .get(field)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                };
                vec![serde_json::json!({
                    "method": "POST",
                    "path": format!("{deployments}/<the newest deployment>/statuses"),
                    "body": payload::status("failure", text("cluster"), text("message"), None),
                })]
            }
        }))
    }
}
