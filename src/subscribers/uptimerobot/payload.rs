//! UptimeRobot's requests and answers, built and read without I/O.

use serde_json::{Map, Value};

use crate::domain::enrichment::{EnrichmentSettings, deployment_host, is_counting_monitor_url};
use crate::domain::{Deployment, EnrichedDeployment};

/// A form-encoded body, fields in the order they are sent.
pub type Form = Vec<(&'static str, String)>;

/// Which deployments are monitored (`UTR_CLUSTERS`, `UTR_EXCLUDED_APPS`).
#[derive(Debug, Clone, Default)]
pub struct MonitorRules {
    pub clusters: Vec<String>,
    pub excluded_apps: Vec<String>,
}

/// `UTR_KTH_*_HOST[_STAGE]`: public hosts that replace the cluster hosts.
#[derive(Debug, Clone, Default)]
pub struct PublicHosts {
    pub app: Option<String>,
    pub api: Option<String>,
    pub app_stage: Option<String>,
    pub api_stage: Option<String>,
}

/// What one deployment's monitor looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorTarget {
    pub url: String,
    pub friendly_name: String,
    pub keyword: String,
}

/// The monitor for a deployment, or why it is not monitored.
pub fn target(
    deployment: &EnrichedDeployment,
    rules: &MonitorRules,
    hosts: &EnrichmentSettings,
    public: &PublicHosts,
) -> Result<MonitorTarget, String> {
    if present(deployment.application_path.as_deref()).is_none() {
        return Err("the deployment has no applicationPath".into());
    }
    let cluster = &deployment.cluster;
    if !rules.clusters.iter().any(|c| c == cluster) {
        return Err(format!("cluster {cluster} is not in UTR_CLUSTERS"));
    }
    let name = &deployment.application_name;
    if rules.excluded_apps.iter().any(|app| app == name) {
        return Err(format!("application {name} is in UTR_EXCLUDED_APPS"));
    }
    let monitor_url = deployment.monitor_url.as_str();
    if !is_counting_monitor_url(monitor_url) {
        return Err("the deployment has no http(s) monitor URL".into());
    }
    let friendly_name = present(Some(deployment.friendly_name.as_str()))
        .unwrap_or(name)
        .to_owned();
    Ok(MonitorTarget {
        url: public_monitor_url(monitor_url, deployment, hosts, public),
        friendly_name,
        keyword: deployment.monitor_pattern.clone(),
    })
}

/// The monitor URL with the cluster host replaced by the public host
/// configured for it (the `_STAGE` variables for the `stage` cluster, the
/// others for every other cluster). A URL on another host is kept as is.
pub fn public_monitor_url(
    monitor_url: &str,
    deployment: &Deployment,
    hosts: &EnrichmentSettings,
    public: &PublicHosts,
) -> String {
    let Some(cluster_host) = deployment_host(deployment, hosts) else {
        return monitor_url.to_owned();
    };
    let path = deployment.application_path.as_deref().unwrap_or_default();
    let is_api = path.starts_with("/api/");
    let stage = deployment.cluster == "stage";
    let replacement = match (is_api, stage) {
        (false, false) => &public.app,
        (true, false) => &public.api,
        (false, true) => &public.app_stage,
        (true, true) => &public.api_stage,
    };
    let (Some(replacement), Some(rest)) = (
        replacement,
        monitor_url.strip_prefix(cluster_host.trim_end_matches('/')),
    ) else {
        return monitor_url.to_owned();
    };
    format!("{}{rest}", replacement.trim_end_matches('/'))
}

fn with_key(api_key: &str, fields: Form) -> Form {
    let mut form: Form = vec![("api_key", api_key.to_owned()), ("format", "json".into())];
    form.extend(fields);
    form
}

/// `getMonitors` searching for a URL or a friendly name.
pub fn search_form(api_key: &str, search: &str) -> Form {
    with_key(api_key, vec![("search", search.to_owned())])
}

/// `getAlertContacts`.
pub fn alert_contacts_form(api_key: &str) -> Form {
    with_key(api_key, Vec::new())
}

/// `newMonitor`: a keyword monitor that alerts when the keyword is missing.
pub fn new_monitor_form(api_key: &str, target: &MonitorTarget, contact: Option<&str>) -> Form {
    let mut fields: Form = vec![
        ("friendly_name", target.friendly_name.clone()),
        ("url", target.url.clone()),
        ("type", "2".into()),
        ("keyword_type", "2".into()),
        ("keyword_value", target.keyword.clone()),
    ];
    if let Some(contact) = contact {
        fields.push(("alert_contacts", contact.to_owned()));
    }
    with_key(api_key, fields)
}

/// `editMonitor`: as `newMonitor` plus `id`, without `type` (the API
/// refuses to change a monitor's type).
pub fn edit_monitor_form(
    api_key: &str,
    id: &str,
    target: &MonitorTarget,
    contact: Option<&str>,
) -> Form {
    let mut fields: Form = vec![
        ("id", id.to_owned()),
        ("friendly_name", target.friendly_name.clone()),
        ("url", target.url.clone()),
        ("keyword_type", "2".into()),
        ("keyword_value", target.keyword.clone()),
    ];
    if let Some(contact) = contact {
        fields.push(("alert_contacts", contact.to_owned()));
    }
    with_key(api_key, fields)
}

/// An answer with `"stat": "fail"` (or no `"stat": "ok"`): the API's own
/// words for what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub kind: String,
    pub message: String,
}

impl ApiFailure {
    /// Only the API's internal errors and rate limits are worth retrying;
    /// a bad key or parameter fails the same way next time.
    pub fn is_transient(&self) -> bool {
        let words = format!("{} {}", self.kind, self.message).to_ascii_lowercase();
        ["internal", "rate", "limit", "timeout", "unavailable"]
            .iter()
            .any(|word| words.contains(word))
    }
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.message.is_empty(), self.kind.is_empty()) {
            (false, false) => write!(f, "{} ({})", self.message, self.kind),
            (false, true) => f.write_str(&self.message),
            (true, false) => f.write_str(&self.kind),
            (true, true) => f.write_str("no reason given"),
        }
    }
}

/// Reads an answer: its JSON when `stat` is `ok`, else the failure.
pub fn read_answer(body: &[u8]) -> Result<Value, ApiFailure> {
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiFailure {
            kind: "unreadable_answer".into(),
            message: "the answer is not JSON".into(),
        });
    };
    if answer["stat"] == "ok" {
        return Ok(answer);
    }
    let error = &answer["error"];
    Err(ApiFailure {
        kind: error["type"].as_str().unwrap_or_default().to_owned(),
        message: error["message"].as_str().unwrap_or_default().to_owned(),
    })
}

/// The id of the monitor a search found: the one with exactly this URL or
/// name when there is one, else the first (the API's search also matches
/// parts of URLs and names).
pub fn found_monitor(answer: &Value, field: &str, wanted: &str) -> Option<String> {
    let monitors = answer["monitors"].as_array()?;
    let exact = monitors.iter().find(|m| m[field] == wanted);
    exact.or(monitors.first()).and_then(|m| text_of(&m["id"]))
}

/// The alert contact for a team, in the API's `<id>_<threshold>_<recurrence>`
/// form: among Slack contacts (type 11) named `#…`, the first whose name
/// contains the team, else `#team-pipeline`, else none.
pub fn alert_contact(answer: &Value, team: &str) -> Option<String> {
    let contacts: Vec<(String, String)> = answer["alert_contacts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|c| text_of(&c["type"]).as_deref() == Some("11"))
        .filter_map(|c| Some((text_of(&c["id"])?, c["friendly_name"].as_str()?.to_owned())))
        .filter(|(_, name)| name.starts_with('#'))
        .collect();
    let team = team.trim().trim_start_matches('#');
    let by_team = (!team.is_empty())
        .then(|| contacts.iter().find(|(_, name)| name[1..].contains(team)))
        .flatten();
    by_team
        .or_else(|| contacts.iter().find(|(_, name)| name == "#team-pipeline"))
        .map(|(id, _)| format!("{id}_0_0"))
}

/// A number or a string, as text (the API sends ids either way).
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The Slack notice of a new monitor; it sees `monitor` (`url`, `friendly_name`) besides the event.
pub const TEMPLATE: &str = r#"{
  "text": {{ (":uptime:  *" ~ monitor.friendly_name ~ "* in *" ~ event.cluster ~ "* is monitored using " ~ monitor.url) | tojson }},
  "username": "Alvares",
  "icon_emoji": ":azure:"
}"#;

inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "uptimerobot",
        kind: crate::domain::EventKind::Deployment,
        source: TEMPLATE,
        sample_values,
    }
}

/// The monitor `uptimerobot` made.
fn sample_values(event: &Value, context: &mut Map<String, Value>) {
    let application = event["applicationName"].as_str().unwrap_or_default();
    context.insert(
        "monitor".into(),
        serde_json::json!({"url": "https://app.kth.se/sample/_monitor", "friendly_name": application}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::enrichment::enrich;
    use serde_json::json;

    fn sample() -> EnrichedDeployment {
        let json = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/deployment.json"
        ));
        let deployment = Deployment::from_json(serde_json::from_str(json).unwrap()).unwrap();
        enrich(deployment, &EnrichmentSettings::default())
    }

    fn rules() -> MonitorRules {
        MonitorRules {
            clusters: vec!["active".into(), "stage".into()],
            excluded_apps: vec!["kth-azure".into()],
        }
    }

    fn target_of(
        deployment: &EnrichedDeployment,
        public: &PublicHosts,
    ) -> Result<MonitorTarget, String> {
        target(deployment, &rules(), &EnrichmentSettings::default(), public)
    }

    #[test]
    fn the_sample_is_monitored_at_its_monitor_url() {
        assert_eq!(
            target_of(&sample(), &PublicHosts::default()),
            Ok(MonitorTarget {
                url: "https://app.kth.se/kth-azure-app/_monitor".into(),
                friendly_name: "Monitor application".into(),
                keyword: "APPLICATION_STATUS: OK".into(),
            })
        );
    }

    #[test]
    fn each_condition_names_itself() {
        let mut no_path = sample();
        no_path.application_path = None;
        assert_eq!(
            target_of(&no_path, &PublicHosts::default()),
            Err("the deployment has no applicationPath".into())
        );
        let mut other_cluster = sample();
        other_cluster.cluster = "integral".into();
        assert_eq!(
            target_of(&other_cluster, &PublicHosts::default()),
            Err("cluster integral is not in UTR_CLUSTERS".into())
        );
        let mut excluded = sample();
        excluded.application_name = "kth-azure".into();
        assert_eq!(
            target_of(&excluded, &PublicHosts::default()),
            Err("application kth-azure is in UTR_EXCLUDED_APPS".into())
        );
        let mut no_monitor = sample();
        no_monitor.monitor_url = "ftp://x".into();
        assert_eq!(
            target_of(&no_monitor, &PublicHosts::default()),
            Err("the deployment has no http(s) monitor URL".into())
        );
    }

    #[test]
    fn public_hosts_replace_the_cluster_host() {
        let public = PublicHosts {
            app: Some("https://www.kth.se/".into()),
            api: Some("https://api.public.kth.se".into()),
            app_stage: Some("https://www-r.kth.se".into()),
            api_stage: None,
        };
        assert_eq!(
            target_of(&sample(), &public).unwrap().url,
            "https://www.kth.se/kth-azure-app/_monitor"
        );
        let mut api = sample().into_deployment();
        api.application_path = Some("/api/thing".into());
        api.monitor_url = None;
        let api = enrich(api, &EnrichmentSettings::default());
        assert_eq!(
            target_of(&api, &public).unwrap().url,
            "https://api.public.kth.se/api/thing/_monitor"
        );
        let mut stage = sample().into_deployment();
        stage.cluster = "stage".into();
        stage.monitor_url = None;
        let stage = enrich(stage, &EnrichmentSettings::default());
        assert_eq!(
            target_of(&stage, &public).unwrap().url,
            "https://www-r.kth.se/kth-azure-app/_monitor"
        );
        // A monitor URL the sender put on another host is kept.
        let mut elsewhere = sample();
        elsewhere.monitor_url = "https://status.example.com/_monitor".into();
        assert_eq!(
            target_of(&elsewhere, &public).unwrap().url,
            "https://status.example.com/_monitor"
        );
    }

    #[test]
    fn forms_carry_exactly_the_spec_fields() {
        let target = target_of(&sample(), &PublicHosts::default()).unwrap();
        let pairs = |form: Form| -> Vec<(String, String)> {
            form.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
        };
        let owned = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            pairs(new_monitor_form("K", &target, Some("42_0_0"))),
            owned(&[
                ("api_key", "K"),
                ("format", "json"),
                ("friendly_name", "Monitor application"),
                ("url", "https://app.kth.se/kth-azure-app/_monitor"),
                ("type", "2"),
                ("keyword_type", "2"),
                ("keyword_value", "APPLICATION_STATUS: OK"),
                ("alert_contacts", "42_0_0"),
            ])
        );
        assert_eq!(
            pairs(edit_monitor_form("K", "777", &target, None)),
            owned(&[
                ("api_key", "K"),
                ("format", "json"),
                ("id", "777"),
                ("friendly_name", "Monitor application"),
                ("url", "https://app.kth.se/kth-azure-app/_monitor"),
                ("keyword_type", "2"),
                ("keyword_value", "APPLICATION_STATUS: OK"),
            ])
        );
        assert_eq!(
            pairs(search_form("K", "x")),
            owned(&[("api_key", "K"), ("format", "json"), ("search", "x")])
        );
    }

    #[test]
    fn stat_fail_is_a_failure_with_the_api_words() {
        let failure = read_answer(
            br#"{"stat":"fail","error":{"type":"invalid_parameter","parameter_name":"api_key","message":"api_key is wrong."}}"#,
        )
        .unwrap_err();
        assert_eq!(failure.to_string(), "api_key is wrong. (invalid_parameter)");
        assert!(!failure.is_transient());
        let internal =
            read_answer(br#"{"stat":"fail","error":{"type":"internal_error"}}"#).unwrap_err();
        assert!(internal.is_transient());
        assert!(read_answer(b"<html>").is_err());
        assert!(read_answer(br#"{"stat":"ok","monitors":[]}"#).is_ok());
    }

    #[test]
    fn search_prefers_the_exact_match() {
        let answer = json!({"stat": "ok", "monitors": [
            {"id": 1, "url": "https://a/x-old/_monitor", "friendly_name": "X old"},
            {"id": "2", "url": "https://a/x/_monitor", "friendly_name": "X"}
        ]});
        assert_eq!(
            found_monitor(&answer, "url", "https://a/x/_monitor"),
            Some("2".into())
        );
        assert_eq!(
            found_monitor(&answer, "friendly_name", "Y"),
            Some("1".into())
        );
        assert_eq!(found_monitor(&json!({"monitors": []}), "url", "u"), None);
    }

    #[test]
    fn alert_contact_by_team_then_team_pipeline_then_none() {
        let answer = json!({"stat": "ok", "alert_contacts": [
            {"id": "1", "friendly_name": "#team-studadm", "type": 2},
            {"id": "2", "friendly_name": "team-studadm-alerts", "type": 11},
            {"id": "3", "friendly_name": "#team-pipeline", "type": 11},
            {"id": 4, "friendly_name": "#team-studadm-alerts", "type": "11"}
        ]});
        assert_eq!(alert_contact(&answer, "team-studadm"), Some("4_0_0".into()));
        assert_eq!(
            alert_contact(&answer, "#team-studadm"),
            Some("4_0_0".into())
        );
        assert_eq!(alert_contact(&answer, "team-other"), Some("3_0_0".into()));
        assert_eq!(alert_contact(&answer, ""), Some("3_0_0".into()));
        assert_eq!(alert_contact(&json!({"alert_contacts": []}), "x"), None);
    }

    #[test]
    fn slack_text_has_two_spaces_after_the_emoji() {
        let target = target_of(&sample(), &PublicHosts::default()).unwrap();
        let values = serde_json::json!({
            "event": {"cluster": "active"},
            "monitor": {"url": target.url, "friendly_name": target.friendly_name},
        });
        let fields = crate::templates::Templates::default()
            .render_json("uptimerobot", &values)
            .unwrap();
        assert_eq!(
            fields["text"],
            ":uptime:  *Monitor application* in *active* is monitored using https://app.kth.se/kth-azure-app/_monitor"
        );
    }
}
