//! The command line: `alvares [serve]`, `alvares enrich`,
//! `alvares healthcheck`, `alvares check-config [FILE]` and
//! `alvares render --subscriber ID`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::clock::SystemClock;
use crate::config::file::ConfigSummary;
use crate::config::{Env, OperatorConfig, Settings};
use crate::domain::enrichment::enrich;
use crate::domain::event::{Deployment, Event, EventKind};
use crate::domain::{EnrichedEvent, EventId, PublishedEvent};
use crate::engine::{ActorHealth, Preview, Role, Services, Setup};
use crate::slack::SlackClient;

#[derive(Parser, Debug)]
#[command(
    name = "alvares",
    version,
    about = "Turns what the deployment pipeline reports into Slack messages and other integrations' work",
    long_about = "Turns what the deployment pipeline reports into Slack messages and other \
integrations' work.\n\nWith no command, or `serve`, runs the service on PORT (default 3010). \
`enrich` previews what a deployment's labels produce. `render` prints what a subscriber would send \
for an event. `check-config` validates an operator file (ALVARES_CONFIG). `healthcheck` asks the \
service running on this machine for GET /healthz (a container's health check: exit 0 when it \
answers 200 within 3 s, 1 otherwise). All read the same environment variables (see the README)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the service (the default): accept events on /api/v1/... and
    /// deliver them to the subscribers.
    Serve,
    /// Read one deployment JSON on stdin and print the enriched deployment
    /// JSON on stdout, using the same configuration as the service.
    Enrich,
    /// Ask the service on 127.0.0.1:PORT for GET /healthz: exit 0 when it
    /// answers 200 within 3 s, 1 (with the reason on stderr) otherwise.
    /// For a container's HEALTHCHECK; needs no curl.
    Healthcheck,
    /// Validate an operator file (default: $ALVARES_CONFIG) and print its
    /// routes, webhooks and templates; exit 1 naming the line on error.
    CheckConfig {
        file: Option<PathBuf>,
        /// Print the configuration as JSON (as GET /admin/config shows it).
        #[arg(long)]
        json: bool,
    },
    /// Read one event JSON on stdin and print what a subscriber would send
    /// for it (each request body as JSON), with the service's enrichment,
    /// routes and templates. Nothing is sent.
    Render {
        /// The subscriber's id, e.g. slack-deployment or webhook-ops.
        #[arg(long)]
        subscriber: String,
        /// The event's kind when the subscriber takes several (webhooks):
        /// deployment, error or recommendation.
        #[arg(long)]
        kind: Option<String>,
    },
}

/// The `check-config` command's work: the summary to print, or the error
/// naming the file and line.
pub fn check_config(file: Option<&Path>, env: &Env, json: bool) -> Result<String, String> {
    let path = match file {
        Some(path) => path.to_owned(),
        None => PathBuf::from(
            env.get("ALVARES_CONFIG")
                .ok_or("name a file, or set ALVARES_CONFIG to the operator file to check")?,
        ),
    };
    let config =
        OperatorConfig::load(&path, env).map_err(|error| format!("{}: {error}", path.display()))?;
    let summary = config.summary();
    if json {
        return serde_json::to_string_pretty(&summary).map_err(|error| error.to_string());
    }
    Ok(describe(&path, &summary))
}

/// The configuration in words.
fn describe(path: &Path, summary: &ConfigSummary) -> String {
    let kinds = |kinds: &[EventKind]| {
        if kinds.len() == EventKind::ALL.len() {
            "every event".to_owned()
        } else {
            kinds
                .iter()
                .map(|k| format!("{k}s"))
                .collect::<Vec<_>>()
                .join(" and ")
        }
    };
    let mut out = format!("{} is valid.\n", path.display());
    out.push_str(&format!("\nRoutes ({}):\n", summary.routes.len()));
    for route in &summary.routes {
        let mut does = Vec::new();
        if !route.slack_channels.is_empty() {
            does.push(format!(
                "{} Slack {}",
                if route.only { "only to" } else { "also to" },
                route.slack_channels.join(", ")
            ));
        } else if route.only {
            does.push("to no Slack channel".to_owned());
        }
        if !route.never_channels.is_empty() {
            does.push(format!("never to {}", route.never_channels.join(", ")));
        }
        if !route.webhooks.is_empty() {
            does.push(format!("to webhook {}", route.webhooks.join(", ")));
        }
        if let Some(once) = &route.once_per {
            does.push(format!(
                "once per {} per {}",
                once.fields.join(" + "),
                once.window
            ));
        }
        let when = if route.when == "every event" {
            String::new()
        } else {
            format!(" where {}", route.when)
        };
        out.push_str(&format!(
            "  {}: {}{when}: {}\n",
            route.name,
            kinds(&route.kinds),
            does.join("; ")
        ));
    }
    out.push_str(&format!(
        "\nWebhooks and destinations ({}):\n",
        summary.webhooks.len()
    ));
    for webhook in &summary.webhooks {
        let of_type = if webhook.destination_type == "webhook" {
            String::new()
        } else {
            let article = if webhook
                .destination_type
                .starts_with(['a', 'e', 'i', 'o', 'u'])
            {
                "an"
            } else {
                "a"
            };
            format!(", {article} {} destination", webhook.destination_type)
        };
        let mail = webhook
            .mail
            .as_ref()
            .map(|mail| {
                let teams: Vec<String> = mail
                    .teams
                    .iter()
                    .map(|(team, to)| format!("{team}: {to}"))
                    .collect();
                format!(
                    ", from {} to {}{}",
                    mail.from,
                    if mail.to.is_empty() {
                        "its team".to_owned()
                    } else {
                        mail.to.join(", ")
                    },
                    if teams.is_empty() {
                        String::new()
                    } else {
                        format!(" (and by team: {})", teams.join("; "))
                    }
                )
            })
            .unwrap_or_default();
        let repositories: Vec<String> = webhook
            .repositories
            .iter()
            .map(|(application, repository)| format!("{application} in {repository}"))
            .collect();
        let mail = if repositories.is_empty() {
            mail
        } else {
            format!("{mail}, on {}", repositories.join(", "))
        };
        out.push_str(&format!(
            "  {} ({}{of_type}): {} {}{mail} for {}{}{}{}\n",
            webhook.name,
            webhook.subscriber,
            webhook.method,
            webhook.url,
            kinds(&webhook.kinds),
            if webhook.routed {
                ", only when a route names it".to_owned()
            } else {
                format!(" where {}", webhook.when)
            },
            webhook
                .signed_with
                .as_ref()
                .map(|v| format!(", signed with {v}"))
                .unwrap_or_default(),
            webhook
                .once_per
                .as_ref()
                .map(|o| format!(", once per {} per {}", o.fields.join(" + "), o.window))
                .unwrap_or_default(),
        ));
    }
    out.push_str(&format!(
        "\nTemplates replaced: {}\n",
        if summary.templates.replaced.is_empty() {
            "none".to_owned()
        } else {
            summary.templates.replaced.join(", ")
        }
    ));
    out.push_str(&format!(
        "Settings from the file: {}\n",
        summary.settings.len()
    ));
    for (name, value) in &summary.settings {
        out.push_str(&format!("  {name} = {value}\n"));
    }
    out
}

/// Where `render` pretends Slack is when it is not configured here: the
/// message is the same, and nothing is sent.
const PREVIEW_WEB_HOOK: &str = "https://hooks.slack.com/services/render-preview";

/// The `render` command's work: each body the subscriber would send, as
/// pretty JSON, or why it would send nothing.
pub fn render_json(
    env: Env,
    subscriber: &str,
    kind: Option<&str>,
    input: &str,
) -> Result<String, String> {
    let slack_configured = env.get("SLACK_WEB_HOOK").is_some() || env.get("SLACK_TOKEN").is_some();
    let env = if slack_configured {
        env
    } else {
        env.with_defaults(&[("SLACK_WEB_HOOK".to_owned(), PREVIEW_WEB_HOOK.to_owned())].into())
    };
    let settings =
        Settings::from_env(env).map_err(|error| format!("configuration error: {error}"))?;
    let mut registrations = crate::subscribers::registrations();
    registrations.extend(crate::subscribers::declared(&settings.operator));
    let registration = registrations
        .iter()
        .find(|r| r.id == subscriber)
        .ok_or_else(|| {
            let ids: Vec<&str> = registrations.iter().map(|r| r.id).collect();
            format!(
                "no subscriber has the id {subscriber}; valid ids: {}",
                ids.join(", ")
            )
        })?;
    let kind = match (kind, registration.kinds) {
        (Some(kind), _) => serde_json::from_value::<EventKind>(kind.into())
            .map_err(|_| format!("--kind {kind}: expected deployment, error or recommendation"))?,
        (None, [only]) => *only,
        (None, _) => return Err(format!("{subscriber} takes several kinds: give --kind")),
    };
    let value: serde_json::Value =
        serde_json::from_str(input).map_err(|error| format!("not valid JSON: {error}"))?;
    let event = Event::parse(kind, value)
        .map_err(|error| format!("invalid {kind}: field {}: {}", error.field, error.problem))?;
    let event = EnrichedEvent::enrich(event, &settings.enrichment);
    if let Some(webhook) = settings
        .operator
        .webhooks
        .iter()
        .find(|w| w.id == subscriber)
        && !settings
            .operator
            .webhook_takes(webhook, kind, &event.to_json())
    {
        return Err(format!(
            "{subscriber} would send nothing: no route sends it here"
        ));
    }
    let clock = SystemClock::shared();
    let published = PublishedEvent::new(EventId::new(), clock.now_ms(), event);
    let slack = SlackClient::from_settings(&settings, clock.clone())
        .map_err(|error| format!("configuration error: {error}"))?;
    let mut services = Services::default();
    if let Some(slack) = slack {
        services.insert(slack);
    }
    let health = ActorHealth::new(registration.id, Role::Subscriber, clock.clone());
    let operator = crate::config::OperatorView::fixed(Arc::clone(&settings.operator));
    let setup = Setup {
        settings: &settings,
        journal: None,
        services: &services,
        clock: &clock,
        health: &health,
        operator: &operator,
        history: None,
    };
    match registration.preview(&setup, &published) {
        Preview::Sends(bodies) => Ok(bodies
            .iter()
            .map(|body| serde_json::to_string_pretty(body).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")),
        Preview::Nothing(why) => Err(format!("{subscriber} would send nothing: {why}")),
        Preview::Fails(why) => Err(format!("{subscriber} would fail: {why}")),
    }
}

/// The `enrich` command's work: JSON text in, pretty enriched JSON out, or
/// the error to print.
pub fn enrich_json(settings: &Settings, input: &str) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_str(input).map_err(|error| format!("not valid JSON: {error}"))?;
    let deployment = Deployment::from_json(value).map_err(|error| {
        if error.field.is_empty() {
            format!("invalid deployment: {}", error.problem)
        } else {
            format!(
                "invalid deployment: field {}: {}",
                error.field, error.problem
            )
        }
    })?;
    let enriched = enrich(deployment, &settings.enrichment);
    serde_json::to_string_pretty(&enriched.to_json()).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrich_prints_the_enriched_deployment() {
        let settings = Settings::from_map([("UTR_KEYWORD", "ALIVE")]).unwrap();
        let output = enrich_json(
            &settings,
            r#"{"applicationName":"app","cluster":"stage","applicationPath":"/app","x-extra":1}"#,
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_str(&output).unwrap();
        assert_eq!(
            value["monitorUrl"],
            "https://app-r.referens.sys.kth.se/app/_monitor"
        );
        assert_eq!(value["monitorPattern"], "ALIVE");
        assert_eq!(value["x-extra"], 1);
    }

    #[test]
    fn enrich_names_the_bad_field() {
        let settings = Settings::from_map(Vec::<(String, String)>::new()).unwrap();
        assert_eq!(
            enrich_json(&settings, r#"{"applicationName":"app"}"#).unwrap_err(),
            "invalid deployment: field cluster: is required"
        );
        assert!(
            enrich_json(&settings, "{")
                .unwrap_err()
                .starts_with("not valid JSON")
        );
    }
}
