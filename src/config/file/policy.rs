//! The routing policy the file sets: which routes an event matches, the
//! channels of its Slack messages, which webhooks take it, and the
//! `once_per` claims it makes.

use serde_json::Value;

use super::{OnceClaim, OncePer, OperatorConfig, Route, Webhook};
use crate::domain::{Destination, EventKind, PlannedDestination};

impl OncePer {
    /// The key of an event: its fields' values, in order.
    pub fn key(&self, event: &Value) -> String {
        self.fields
            .iter()
            .map(|field| match event.get(field) {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\u{1f}")
    }
}

impl Route {
    pub fn matches(&self, kind: EventKind, event: &Value) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&kind))
            && self.when.match_event(kind, event, None)
    }
}

impl Webhook {
    pub fn takes(&self, kind: EventKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }
}

impl OperatorConfig {
    /// The routes an event matches, in the file's order.
    pub fn routes_for<'a>(
        &'a self,
        kind: EventKind,
        event: &'a Value,
    ) -> impl Iterator<Item = &'a Route> + 'a {
        self.routes
            .iter()
            .filter(move |route| route.matches(kind, event))
    }

    /// The channels of an event's Slack message, each with where it came
    /// from: the subscriber's own choice (`built_in`), then, for the
    /// kind's main message (`routed`), each matching route's channels not
    /// already there (none of the built-in when a route says `only`);
    /// less every matching route's `never_channels`, which apply to every
    /// Slack message.
    pub fn planned_slack_channels(
        &self,
        kind: EventKind,
        event: &Value,
        routed: bool,
        built_in: Vec<String>,
    ) -> Vec<PlannedDestination> {
        let routes: Vec<&Route> = self.routes_for(kind, event).collect();
        let slack = |channel: String| Destination::Slack { channel };
        let mut channels: Vec<PlannedDestination> = if routed && routes.iter().any(|r| r.only) {
            Vec::new()
        } else {
            built_in
                .into_iter()
                .map(|c| PlannedDestination::own(slack(c)))
                .collect()
        };
        for route in routes.iter().filter(|_| routed) {
            for channel in &route.slack_channels {
                let named = slack(channel.clone());
                match channels.iter_mut().find(|c| c.destination == named) {
                    Some(known) => known.routes.push(route.name.clone()),
                    None => channels.push(PlannedDestination {
                        destination: named,
                        own: false,
                        routes: vec![route.name.clone()],
                    }),
                }
            }
        }
        channels.retain(|planned| {
            !routes.iter().any(|r| {
                r.never_channels
                    .iter()
                    .any(|never| planned.destination == slack(never.clone()))
            })
        });
        channels
    }

    /// Whether a webhook gets an event: one of its kinds, and either a
    /// matching route names it or it is not `routed` and its own `when`
    /// holds.
    pub fn webhook_takes(&self, webhook: &Webhook, kind: EventKind, event: &Value) -> bool {
        webhook.takes(kind)
            && ((!webhook.routed && webhook.when.match_event(kind, event, None))
                || self
                    .routes_for(kind, event)
                    .any(|route| route.webhooks.contains(&webhook.name)))
    }

    /// A webhook's destination for an event, when it gets it: its own
    /// (not `routed`, its `when` holds) and/or added by the routes naming
    /// it.
    pub fn planned_webhook(
        &self,
        webhook: &Webhook,
        kind: EventKind,
        event: &Value,
    ) -> Vec<PlannedDestination> {
        if !webhook.takes(kind) {
            return Vec::new();
        }
        let own = !webhook.routed && webhook.when.match_event(kind, event, None);
        let routes: Vec<String> = self
            .routes_for(kind, event)
            .filter(|route| route.webhooks.contains(&webhook.name))
            .map(|route| route.name.clone())
            .collect();
        if !own && routes.is_empty() {
            return Vec::new();
        }
        vec![PlannedDestination {
            destination: Destination::Webhook {
                name: webhook.name.clone(),
                method: webhook.method.clone(),
                url: webhook.url_source.clone(),
            },
            own,
            routes,
        }]
    }

    /// The noise-control claims an event makes: for each matching route
    /// with `once_per`, its key over what the route adds (its channels and
    /// webhooks), or over the kind's main message (`routed`) when it adds
    /// nothing; for each webhook with `once_per`, its key over that
    /// webhook.
    pub fn once_per_claims(
        &self,
        kind: EventKind,
        event: &Value,
        routed: &[&'static str],
    ) -> Vec<OnceClaim> {
        let mut claims = Vec::new();
        for route in self.routes_for(kind, event) {
            if let Some(once) = &route.once_per {
                let adds = !route.slack_channels.is_empty() || !route.webhooks.is_empty();
                claims.push(OnceClaim {
                    key: format!("route {}: {}", route.name, once.key(event)),
                    window: once.window,
                    subscribers: if adds {
                        Vec::new()
                    } else {
                        routed.iter().map(|s| (*s).to_owned()).collect()
                    },
                    route: adds.then(|| route.name.clone()),
                });
            }
        }
        for webhook in &self.webhooks {
            if let Some(once) = &webhook.once_per {
                claims.push(OnceClaim {
                    key: format!("webhook {}: {}", webhook.name, once.key(event)),
                    window: once.window,
                    subscribers: vec![webhook.id.clone()],
                    route: None,
                });
            }
        }
        claims
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::config::Env;

    fn config(text: &str) -> OperatorConfig {
        let env = Env::from_map([("HOOK".to_owned(), "https://hooks.example/a".to_owned())].into());
        OperatorConfig::parse(text, &env).unwrap()
    }

    #[test]
    fn only_replaces_the_built_in_channels_and_never_takes_channels_out() {
        let config = config(
            r##"
[[routes]]
name = "prod"
when = { cluster = "active" }
slack_channels = ["#prod", "#general"]
only = true

[[routes]]
name = "quiet"
never_channels = ["#general"]
"##,
        );
        let built_in = vec!["#team".to_owned(), "#general".to_owned()];
        let channels = |event: &Value, routed: bool, built_in: &[String]| -> Vec<String> {
            let planned = config.planned_slack_channels(
                EventKind::Deployment,
                event,
                routed,
                built_in.to_vec(),
            );
            let planned: Vec<Destination> = planned.into_iter().map(|p| p.destination).collect();
            crate::domain::plan::slack_channels(&planned)
        };
        let active = json!({"cluster": "active"});
        assert_eq!(channels(&active, true, &built_in), ["#prod"]);
        let stage = json!({"cluster": "stage"});
        assert_eq!(channels(&stage, true, &built_in), ["#team"]);
        // Not the main message: only never_channels apply.
        assert_eq!(channels(&stage, false, &built_in), ["#team"]);
        assert_eq!(
            channels(&active, false, &built_in),
            ["#team"],
            "only and slack_channels are for the main message"
        );
        // Each channel says where it came from.
        let planned = config.planned_slack_channels(
            EventKind::Deployment,
            &active,
            true,
            vec!["#prod".into()],
        );
        assert_eq!(
            planned,
            [PlannedDestination {
                destination: Destination::Slack {
                    channel: "#prod".into()
                },
                own: false,
                routes: vec!["prod".into()],
            }]
        );
    }

    #[test]
    fn a_routed_webhook_takes_only_what_a_route_names() {
        let config = config(
            r#"
[[routes]]
name = "errors of kth apps"
kinds = ["error"]
when = { applicationName = ["kth-*", "lms-?"] }
webhooks = ["ops"]

[[webhooks]]
name = "ops"
url_env = "HOOK"
routed = true

[[webhooks]]
name = "all"
url = "https://hooks.example/all"
kinds = ["deployment"]
when = { importance = "high" }
"#,
        );
        let ops = config.webhook("ops").unwrap();
        let all = config.webhook("all").unwrap();
        let kth = json!({"applicationName": "kth-web"});
        let lms = json!({"applicationName": "lms-a"});
        let other = json!({"applicationName": "other"});
        assert!(config.webhook_takes(ops, EventKind::Error, &kth));
        assert!(config.webhook_takes(ops, EventKind::Error, &lms));
        assert!(!config.webhook_takes(ops, EventKind::Error, &other));
        assert!(!config.webhook_takes(ops, EventKind::Deployment, &kth));
        assert!(config.webhook_takes(all, EventKind::Deployment, &json!({"importance": "high"})));
        assert!(!config.webhook_takes(all, EventKind::Deployment, &json!({"importance": "low"})));
        assert!(!config.webhook_takes(all, EventKind::Error, &json!({"importance": "high"})));
        // The URL from the environment is a secret the redactor knows.
        assert_eq!(config.secret_variables(), ["HOOK"]);
    }

    fn config_text_without_webhooks() -> OperatorConfig {
        config(
            r#"
[[routes]]
name = "versions"
once_per = { fields = ["applicationName", "version"], window = "1h" }
"#,
        )
    }

    #[test]
    fn once_per_claims_name_the_routed_subscriber_and_the_routes_webhooks() {
        let config = config(
            r#"
[[routes]]
name = "versions"
once_per = { fields = ["applicationName", "version"], window = "1h" }
webhooks = ["ops"]

[[webhooks]]
name = "ops"
url = "https://hooks.example/ops"
routed = true
"#,
        );
        let event = json!({"applicationName": "a", "version": "1"});
        let claims = config.once_per_claims(EventKind::Deployment, &event, &["slack-deployment"]);
        // The route adds a webhook: its rule is over what it adds.
        assert_eq!(
            claims,
            [OnceClaim {
                key: "route versions: a\u{1f}1".into(),
                window: Duration::from_secs(3600),
                subscribers: Vec::new(),
                route: Some("versions".into()),
            }]
        );
        // A route that adds nothing: its rule is over the main message.
        let bare = config_text_without_webhooks();
        assert_eq!(
            bare.once_per_claims(EventKind::Deployment, &event, &["slack-deployment"]),
            [OnceClaim {
                key: "route versions: a\u{1f}1".into(),
                window: Duration::from_secs(3600),
                subscribers: vec!["slack-deployment".into()],
                route: None,
            }]
        );
    }
}
