//! The routing policy the file sets: which routes an event matches, the
//! channels of its Slack messages, which webhooks take it, and the
//! `once_per` claims it makes.

use serde_json::Value;

use super::{OnceClaim, OncePer, OperatorConfig, Route, Webhook};
use crate::domain::EventKind;

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

    /// The channels of an event's main Slack message: the built-in choice
    /// (none of it when a matching route says `only`), then each matching
    /// route's channels not already there, less every matching route's
    /// `never_channels`.
    pub fn slack_channels(
        &self,
        kind: EventKind,
        event: &Value,
        built_in: Vec<String>,
    ) -> Vec<String> {
        let routes: Vec<&Route> = self.routes_for(kind, event).collect();
        let mut channels = if routes.iter().any(|route| route.only) {
            Vec::new()
        } else {
            built_in
        };
        for channel in routes.iter().flat_map(|route| &route.slack_channels) {
            if !channels.contains(channel) {
                channels.push(channel.clone());
            }
        }
        channels.retain(|channel| !routes.iter().any(|r| r.never_channels.contains(channel)));
        channels
    }

    /// Any other Slack message's channels: only `never_channels` apply.
    pub fn without_never_channels(
        &self,
        kind: EventKind,
        event: &Value,
        mut channels: Vec<String>,
    ) -> Vec<String> {
        let routes: Vec<&Route> = self.routes_for(kind, event).collect();
        channels.retain(|channel| !routes.iter().any(|r| r.never_channels.contains(channel)));
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

    /// The noise-control claims an event makes: for each matching route
    /// with `once_per`, its key over the kind's main message (`routed`)
    /// and the route's webhooks; for each webhook with `once_per`, its key
    /// over that webhook.
    pub fn once_per_claims(
        &self,
        kind: EventKind,
        event: &Value,
        routed: &[&'static str],
    ) -> Vec<OnceClaim> {
        let mut claims = Vec::new();
        for route in self.routes_for(kind, event) {
            if let Some(once) = &route.once_per {
                let mut subscribers: Vec<String> = routed.iter().map(|s| (*s).to_owned()).collect();
                subscribers.extend(route.webhooks.iter().map(|name| format!("webhook-{name}")));
                claims.push(OnceClaim {
                    key: format!("route {}: {}", route.name, once.key(event)),
                    window: once.window,
                    subscribers,
                });
            }
        }
        for webhook in &self.webhooks {
            if let Some(once) = &webhook.once_per {
                claims.push(OnceClaim {
                    key: format!("webhook {}: {}", webhook.name, once.key(event)),
                    window: once.window,
                    subscribers: vec![webhook.id.clone()],
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
        let active = json!({"cluster": "active"});
        assert_eq!(
            config.slack_channels(EventKind::Deployment, &active, built_in.clone()),
            ["#prod"]
        );
        let stage = json!({"cluster": "stage"});
        assert_eq!(
            config.slack_channels(EventKind::Deployment, &stage, built_in.clone()),
            ["#team"]
        );
        assert_eq!(
            config.without_never_channels(EventKind::Error, &stage, built_in),
            ["#team"]
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
        assert_eq!(
            claims,
            [OnceClaim {
                key: "route versions: a\u{1f}1".into(),
                window: Duration::from_secs(3600),
                subscribers: vec!["slack-deployment".into(), "webhook-ops".into()],
            }]
        );
    }
}
