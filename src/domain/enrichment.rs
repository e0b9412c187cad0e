//! Deployment enrichment (BEHAVIOUR.md §2): derives the URLs, names, monitor
//! keyword, importance and team every subscriber relies on.

use super::event::Deployment;

/// Default `UTR_KEYWORD`: the text a healthy `_monitor` page contains.
pub const DEFAULT_MONITOR_KEYWORD: &str = "APPLICATION_STATUS: OK";

/// The app and api host of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterHosts {
    pub app: String,
    pub api: String,
}

impl ClusterHosts {
    pub fn new(app: impl Into<String>, api: impl Into<String>) -> Self {
        ClusterHosts {
            app: app.into(),
            api: api.into(),
        }
    }
}

/// A Slack channel containing `marker` belongs to `team`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMarker {
    pub marker: String,
    pub team: String,
}

impl TeamMarker {
    pub fn new(marker: impl Into<String>, team: impl Into<String>) -> Self {
        TeamMarker {
            marker: marker.into(),
            team: team.into(),
        }
    }

    /// The spec's table, in the order markers are tried.
    pub fn default_table() -> Vec<TeamMarker> {
        [
            "team-pipeline",
            "team-studadm",
            "team-e-larande",
            "team-integration",
            "team-kth-webb",
            "team-digitalexam",
        ]
        .into_iter()
        .map(|team| TeamMarker::new(team, team))
        .chain([TeamMarker::new("team-kursinfo", "team-kursinformation")])
        .collect()
    }
}

/// Everything enrichment depends on; the service fills it from the
/// environment, tests build it by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrichmentSettings {
    pub active: ClusterHosts,
    pub stage: ClusterHosts,
    pub integral: ClusterHosts,
    pub integral_stage: ClusterHosts,
    pub monitor_keyword: String,
    pub team_markers: Vec<TeamMarker>,
}

impl Default for EnrichmentSettings {
    fn default() -> Self {
        EnrichmentSettings {
            active: ClusterHosts::new("https://app.kth.se", "https://api.kth.se"),
            stage: ClusterHosts::new(
                "https://app-r.referens.sys.kth.se",
                "https://api-r.referens.sys.kth.se",
            ),
            integral: ClusterHosts::new(
                "https://integral.everest.sys.kth.se/",
                "https://integral.everest.sys.kth.se/",
            ),
            integral_stage: ClusterHosts::new(
                "https://integral-r.referens.sys.kth.se",
                "https://integral-r.referens.sys.kth.se",
            ),
            monitor_keyword: DEFAULT_MONITOR_KEYWORD.to_string(),
            team_markers: TeamMarker::default_table(),
        }
    }
}

impl EnrichmentSettings {
    /// The hosts of a cluster; an unknown cluster uses the `active` hosts.
    pub fn hosts_for(&self, cluster: &str) -> &ClusterHosts {
        match cluster {
            "stage" => &self.stage,
            "integral" => &self.integral,
            "integral-stage" => &self.integral_stage,
            _ => &self.active,
        }
    }

    /// The api host for paths under `/api/`, else the app host.
    pub fn host_for_path(&self, cluster: &str, path: &str) -> &str {
        let hosts = self.hosts_for(cluster);
        if path.starts_with("/api/") {
            &hosts.api
        } else {
            &hosts.app
        }
    }
}

/// `host` without trailing `/`, then each part without trailing whitespace.
pub fn join(host: &str, parts: &[&str]) -> String {
    let mut out = host.trim_end_matches('/').to_string();
    for part in parts {
        out.push_str(part.trim_end());
    }
    out
}

/// Drops reverse-proxy rule suffixes: `/api/webtex;ReplacePathRegex` ->
/// `/api/webtex`. Paths not starting with `/` are only trimmed.
pub fn clean_application_path(path: &str) -> String {
    let path = path.trim();
    if !path.starts_with('/') {
        return path.to_string();
    }
    match path.split_once(';') {
        Some((before, _)) => before.trim().to_string(),
        None => path.to_string(),
    }
}

/// Only http(s) monitor URLs can be monitored; anything else is ignored.
pub fn is_counting_monitor_url(url: &str) -> bool {
    url.starts_with("http")
}

/// The deployment's host: `None` when it has no `applicationPath` or no
/// cluster (or the configured host is empty). Returned as configured, so it
/// may end in `/`; build URLs with [`join`].
pub fn deployment_host(d: &Deployment, settings: &EnrichmentSettings) -> Option<String> {
    let path = present(d.application_path.as_deref())?;
    let cluster = present(Some(d.cluster.as_str()))?;
    let host = settings.host_for_path(cluster, &clean_application_path(path));
    present(Some(host)).map(str::to_string)
}

/// A deployment after enrichment (§2). The enriched fields are plain
/// strings, never absent (empty where there is nothing to say); the rest of
/// the deployment is `sent`, reachable through `Deref`. `sent`'s own copies
/// of the enriched fields are always `None`: read them from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrichedDeployment {
    pub sent: Deployment,
    pub application_url: String,
    pub monitor_url: String,
    pub about_url: String,
    pub friendly_name: String,
    pub monitor_pattern: String,
    pub importance: String,
    pub team: String,
}

impl std::ops::Deref for EnrichedDeployment {
    type Target = Deployment;

    fn deref(&self) -> &Deployment {
        &self.sent
    }
}

impl std::ops::DerefMut for EnrichedDeployment {
    fn deref_mut(&mut self) -> &mut Deployment {
        &mut self.sent
    }
}

impl EnrichedDeployment {
    /// An enriched deployment as the journal stored it: its enriched
    /// fields are taken as they are, never computed again (so a later
    /// configuration change cannot alter what subscribers see).
    pub fn from_stored(deployment: Deployment) -> Self {
        let mut sent = deployment;
        let take = |field: &mut Option<String>| field.take().unwrap_or_default();
        EnrichedDeployment {
            application_url: take(&mut sent.application_url),
            monitor_url: take(&mut sent.monitor_url),
            about_url: take(&mut sent.about_url),
            friendly_name: take(&mut sent.friendly_name),
            monitor_pattern: take(&mut sent.monitor_pattern),
            importance: take(&mut sent.importance),
            team: take(&mut sent.team),
            sent,
        }
    }

    /// The whole deployment again, enriched fields included.
    pub fn into_deployment(self) -> Deployment {
        let mut d = self.sent;
        d.application_url = Some(self.application_url);
        d.monitor_url = Some(self.monitor_url);
        d.about_url = Some(self.about_url);
        d.friendly_name = Some(self.friendly_name);
        d.monitor_pattern = Some(self.monitor_pattern);
        d.importance = Some(self.importance);
        d.team = Some(self.team);
        d
    }

    /// camelCase JSON with every enriched field, as stored and sent.
    pub fn to_json(&self) -> serde_json::Value {
        self.clone().into_deployment().to_json()
    }
}

/// Applies §2 steps 1 to 8 in order. Fields the sender set are kept, except
/// `applicationPath` and `importance`, which are always cleaned. Idempotent.
pub fn enrich(mut d: Deployment, settings: &EnrichmentSettings) -> EnrichedDeployment {
    // 1. applicationPath
    if let Some(path) = &d.application_path {
        d.application_path = Some(clean_application_path(path));
    }

    // 2. importance
    let importance = normalised_importance(d.importance.as_deref());

    let host = deployment_host(&d, settings);
    let path = d.application_path.clone().unwrap_or_default();
    let url_on_host = |route: Option<&str>| match &host {
        Some(host) => match route {
            Some(route) => join(host, &[&path, &route_after(&path, route)]),
            None => join(host, &[&path]),
        },
        None => String::new(),
    };

    // 3. applicationUrl
    let application_url = sent_or(&mut d.application_url, || url_on_host(None));

    // 4. monitorUrl
    let monitor_url = sent_or(&mut d.monitor_url, || url_on_host(Some("_monitor")));
    let counting_monitor_url =
        Some(monitor_url.as_str()).filter(|url| is_counting_monitor_url(url));

    // 5. aboutUrl: on the deployment's own host, whatever host the monitor
    // URL names.
    let has_monitor_route = counting_monitor_url.is_some_and(|url| url.ends_with("/_monitor"));
    let about_url = sent_or(&mut d.about_url, || {
        if has_monitor_route {
            url_on_host(Some("_about"))
        } else {
            String::new()
        }
    });

    // 6. friendlyName
    let friendly_name = sent_or(&mut d.friendly_name, || {
        present(d.public_name_english.as_deref())
            .or(present(d.public_name_swedish.as_deref()))
            .unwrap_or(&d.application_name)
            .to_string()
    });

    // 7. monitorPattern: whether the monitor URL was computed or sent.
    let has_counting_monitor_url = counting_monitor_url.is_some();
    let monitor_pattern = sent_or(&mut d.monitor_pattern, || {
        if has_counting_monitor_url {
            settings.monitor_keyword.clone()
        } else {
            String::new()
        }
    });

    // 8. team
    let team = match d.team.take() {
        Some(team) if !team.is_empty() => team,
        _ => team_from_channels(d.deployment_slack_channels(), &settings.team_markers)
            .unwrap_or_default(),
    };

    d.importance = None;
    EnrichedDeployment {
        sent: d,
        application_url,
        monitor_url,
        about_url,
        friendly_name,
        monitor_pattern,
        importance,
        team,
    }
}

/// The value the sender set (moved out of the deployment), or the computed
/// one when it set none or an empty one.
fn sent_or(field: &mut Option<String>, compute: impl FnOnce() -> String) -> String {
    match field.take() {
        Some(value) if !value.is_empty() => value,
        _ => compute(),
    }
}

/// `_monitor` after a path ending in `/`, else `/_monitor` (same for `_about`).
fn route_after(path: &str, name: &str) -> String {
    if path.ends_with('/') {
        name.to_string()
    } else {
        format!("/{name}")
    }
}

fn normalised_importance(importance: Option<&str>) -> String {
    let importance = importance.unwrap_or_default().trim().to_lowercase();
    match importance.as_str() {
        "low" | "medium" | "high" => importance,
        _ => "low".to_string(),
    }
}

/// Channels in alphabetical order, markers in table order per channel: the
/// first marker contained in a channel names the team.
fn team_from_channels(mut channels: Vec<&str>, markers: &[TeamMarker]) -> Option<String> {
    channels.sort_unstable();
    channels.iter().find_map(|channel| {
        markers
            .iter()
            .find(|m| !m.marker.is_empty() && channel.contains(m.marker.as_str()))
            .map(|m| m.team.clone())
    })
}

/// An empty string counts as absent for every enrichment decision.
fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const DEPLOYMENTS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/deployments.json"
    ));
    const DEPLOYMENT: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/deployment.json"
    ));

    const ENRICHED_KEYS: [&str; 7] = [
        "aboutUrl",
        "monitorUrl",
        "applicationUrl",
        "friendlyName",
        "monitorPattern",
        "importance",
        "team",
    ];

    /// The samples with `expected-enriched-values` split off.
    fn samples() -> Vec<(Value, Value)> {
        let all: Vec<Value> = serde_json::from_str(DEPLOYMENTS).expect("fixture is JSON");
        all.into_iter()
            .map(|mut sample| {
                let expected = sample
                    .as_object_mut()
                    .and_then(|o| o.remove("expected-enriched-values"))
                    .expect("sample has expected-enriched-values");
                (sample, expected)
            })
            .collect()
    }

    fn enriched(body: Value, settings: &EnrichmentSettings) -> EnrichedDeployment {
        enrich(
            Deployment::from_json(body).expect("valid deployment"),
            settings,
        )
    }

    fn deployment(body: Value) -> EnrichedDeployment {
        enriched(body, &EnrichmentSettings::default())
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn fixture_samples_enrich_to_expected_values() {
        let samples = samples();
        assert_eq!(samples.len(), 25);
        let settings = EnrichmentSettings::default();
        let mut mismatches = Vec::new();
        for (index, (body, expected)) in samples.into_iter().enumerate() {
            let json = enriched(body, &settings).to_json();
            for key in ENRICHED_KEYS {
                if json.get(key) != expected.get(key) {
                    mismatches.push(format!(
                        "sample {index} {key}: got {:?}, expected {:?}",
                        json.get(key),
                        expected.get(key)
                    ));
                }
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[test]
    fn enrichment_is_idempotent_for_every_sample() {
        let settings = EnrichmentSettings::default();
        for (index, (body, _)) in samples().into_iter().enumerate() {
            let once = enriched(body, &settings);
            let twice = enrich(once.clone().into_deployment(), &settings);
            assert_eq!(once, twice, "sample {index}");
        }
    }

    #[test]
    fn canonical_sample() {
        let body: Value = serde_json::from_str(DEPLOYMENT).expect("fixture is JSON");
        let d = deployment(body);
        assert_eq!(d.application_url, "https://app.kth.se/kth-azure-app");
        assert_eq!(d.monitor_url, "https://app.kth.se/kth-azure-app/_monitor");
        assert_eq!(d.about_url, "https://app.kth.se/kth-azure-app/_about");
        assert_eq!(d.friendly_name, "Monitor application");
        assert_eq!(d.monitor_pattern, DEFAULT_MONITOR_KEYWORD);
        assert_eq!(d.importance, "high");
        assert_eq!(d.team, "team-studadm");
        assert_eq!(d.created, some(""));
        assert!(d.wants_accessibility_test());
        assert_eq!(
            deployment_host(&d, &EnrichmentSettings::default()).as_deref(),
            Some("https://app.kth.se")
        );
    }

    #[test]
    fn join_strips_host_slashes_and_part_trailing_whitespace() {
        assert_eq!(
            join("https://h/", &["/a ", "/_monitor\n"]),
            "https://h/a/_monitor"
        );
        assert_eq!(join("https://h//", &[]), "https://h");
        assert_eq!(join("", &["/a"]), "/a");
    }

    #[test]
    fn application_path_cleaning() {
        assert_eq!(
            clean_application_path("/api/webtex;ReplacePathRegex"),
            "/api/webtex"
        );
        assert_eq!(clean_application_path(" /a ;b;c"), "/a");
        assert_eq!(clean_application_path("/a/"), "/a/");
        // Not a path: no proxy suffix to remove.
        assert_eq!(clean_application_path("a;b"), "a;b");
        assert_eq!(clean_application_path(""), "");
    }

    #[test]
    fn hosts_by_cluster_and_path() {
        let s = EnrichmentSettings::default();
        assert_eq!(s.hosts_for("nowhere"), &s.active);
        assert_eq!(s.hosts_for("integral-stage"), &s.integral_stage);
        assert_eq!(
            s.host_for_path("stage", "/api/x"),
            "https://api-r.referens.sys.kth.se"
        );
        // `/api` alone is not under `/api/`.
        assert_eq!(
            s.host_for_path("stage", "/api"),
            "https://app-r.referens.sys.kth.se"
        );
        assert_eq!(s.host_for_path("active", "/x"), "https://app.kth.se");
    }

    #[test]
    fn counting_monitor_urls() {
        assert!(is_counting_monitor_url("https://x/_monitor"));
        assert!(is_counting_monitor_url("http://x"));
        assert!(!is_counting_monitor_url("/_monitor"));
        assert!(!is_counting_monitor_url(""));
    }

    #[test]
    fn default_team_markers_in_order() {
        let markers = TeamMarker::default_table();
        let pairs: Vec<(&str, &str)> = markers
            .iter()
            .map(|m| (m.marker.as_str(), m.team.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("team-pipeline", "team-pipeline"),
                ("team-studadm", "team-studadm"),
                ("team-e-larande", "team-e-larande"),
                ("team-integration", "team-integration"),
                ("team-kth-webb", "team-kth-webb"),
                ("team-digitalexam", "team-digitalexam"),
                ("team-kursinfo", "team-kursinformation"),
            ]
        );
    }

    #[test]
    fn proxy_rule_path_is_cleaned_and_uses_api_host() {
        let d = deployment(json!({
            "applicationName": "webtex", "cluster": "active",
            "applicationPath": " /api/webtex;ReplacePathRegex "
        }));
        assert_eq!(d.application_path, some("/api/webtex"));
        assert_eq!(d.application_url, "https://api.kth.se/api/webtex");
        assert_eq!(d.monitor_url, "https://api.kth.se/api/webtex/_monitor");
        assert_eq!(d.about_url, "https://api.kth.se/api/webtex/_about");
    }

    #[test]
    fn path_ending_in_slash_gets_no_double_slash() {
        let d = deployment(json!({
            "applicationName": "a", "cluster": "stage", "applicationPath": "/app/a/"
        }));
        assert_eq!(
            d.application_url,
            "https://app-r.referens.sys.kth.se/app/a/"
        );
        assert_eq!(
            d.monitor_url,
            "https://app-r.referens.sys.kth.se/app/a/_monitor"
        );
        assert_eq!(
            d.about_url,
            "https://app-r.referens.sys.kth.se/app/a/_about"
        );
    }

    #[test]
    fn integral_host_trailing_slash_is_dropped() {
        let d = deployment(json!({
            "applicationName": "i", "cluster": "integral", "applicationPath": "/i"
        }));
        assert_eq!(d.application_url, "https://integral.everest.sys.kth.se/i");
        assert_eq!(
            d.monitor_url,
            "https://integral.everest.sys.kth.se/i/_monitor"
        );
    }

    #[test]
    fn custom_hosts_keyword_and_markers() {
        let settings = EnrichmentSettings {
            active: ClusterHosts::new("http://app.test/", "http://api.test"),
            stage: ClusterHosts::new("http://stage-app.test", "http://stage-api.test"),
            monitor_keyword: "ALL GOOD".to_string(),
            team_markers: vec![
                TeamMarker::new("ops", "operations"),
                TeamMarker::new("team-pipeline", "pipeline-people"),
            ],
            ..EnrichmentSettings::default()
        };
        let d = enriched(
            json!({
                "applicationName": "a", "cluster": "unknown", "applicationPath": "/api/a",
                "slackChannels": "#team-pipeline-ops,#a-team-pipeline"
            }),
            &settings,
        );
        assert_eq!(d.application_url, "http://api.test/api/a");
        assert_eq!(d.monitor_url, "http://api.test/api/a/_monitor");
        assert_eq!(d.monitor_pattern, "ALL GOOD");
        // `#a-team-pipeline` sorts first; `ops` is tried first but absent there.
        assert_eq!(d.team, "pipeline-people");

        let d = enriched(
            json!({"applicationName": "a", "cluster": "stage", "applicationPath": "/a",
                   "slackChannels": "#devops"}),
            &settings,
        );
        assert_eq!(d.application_url, "http://stage-app.test/a");
        assert_eq!(d.team, "operations");

        // An operator's table replaces the default one entirely.
        let d = enriched(
            json!({"applicationName": "a", "cluster": "stage", "slackChannels": "#team-studadm"}),
            &settings,
        );
        assert_eq!(d.team, "");
    }

    #[test]
    fn no_path_or_no_cluster_gives_empty_urls() {
        let d = deployment(json!({"applicationName": "a", "cluster": "active"}));
        assert_eq!(d.application_url, "");
        assert_eq!(d.monitor_url, "");
        assert_eq!(d.about_url, "");
        assert_eq!(d.monitor_pattern, "");
        assert_eq!(deployment_host(&d, &EnrichmentSettings::default()), None);

        // Built in code with no cluster (parsing would refuse it).
        let d = enrich(
            Deployment {
                application_name: "a".into(),
                application_path: some("/a"),
                ..Deployment::default()
            },
            &EnrichmentSettings::default(),
        );
        assert_eq!(deployment_host(&d, &EnrichmentSettings::default()), None);
        assert_eq!(d.application_url, "");
        assert_eq!(d.monitor_url, "");
        assert_eq!(d.about_url, "");
        assert_eq!(d.monitor_pattern, "");
        assert_eq!(d.friendly_name, "a");
        assert_eq!(d.importance, "low");
        assert_eq!(d.team, "");
    }

    #[test]
    fn sent_monitor_url_without_path_still_gets_keyword_but_no_about() {
        let d = deployment(json!({
            "applicationName": "a", "cluster": "active",
            "monitorUrl": "https://elsewhere.test/_monitor"
        }));
        assert_eq!(d.monitor_pattern, DEFAULT_MONITOR_KEYWORD);
        // No host of its own to put `_about` on.
        assert_eq!(d.about_url, "");
    }

    #[test]
    fn about_url_uses_own_host_when_monitor_is_elsewhere() {
        let d = deployment(json!({
            "applicationName": "a", "cluster": "active", "applicationPath": "/a",
            "monitorUrl": "https://elsewhere.test/x/_monitor"
        }));
        assert_eq!(d.monitor_url, "https://elsewhere.test/x/_monitor");
        assert_eq!(d.about_url, "https://app.kth.se/a/_about");
    }

    #[test]
    fn non_http_monitor_url_does_not_count() {
        let d = deployment(json!({
            "applicationName": "a", "cluster": "active", "applicationPath": "/a",
            "monitorUrl": "/a/_monitor"
        }));
        assert_eq!(d.monitor_url, "/a/_monitor");
        assert_eq!(d.about_url, "");
        assert_eq!(d.monitor_pattern, "");
    }

    #[test]
    fn sent_values_are_kept_and_empty_ones_are_filled() {
        let d = deployment(json!({
            "applicationName": "a", "cluster": "active", "applicationPath": "/a",
            "applicationUrl": "https://public.test/a", "aboutUrl": "https://about.test",
            "friendlyName": "A", "monitorPattern": "", "team": "",
            "monitorUrl": "", "publicNameEnglish": "", "publicNameSwedish": "Svenska",
            "slackChannels": "#team-e-larande"
        }));
        assert_eq!(d.application_url, "https://public.test/a");
        assert_eq!(d.about_url, "https://about.test");
        assert_eq!(d.friendly_name, "A");
        assert_eq!(d.monitor_url, "https://app.kth.se/a/_monitor");
        assert_eq!(d.monitor_pattern, DEFAULT_MONITOR_KEYWORD);
        assert_eq!(d.team, "team-e-larande");
        assert_eq!(d.public_name_english, some(""));

        let d = deployment(json!({
            "applicationName": "a", "cluster": "active",
            "publicNameEnglish": "", "publicNameSwedish": "Svenska"
        }));
        assert_eq!(d.friendly_name, "Svenska");
    }

    #[test]
    fn importance_is_always_normalised() {
        for (sent, expected) in [
            (json!("HIGH"), "high"),
            (json!(" Medium "), "medium"),
            (json!("urgent"), "low"),
            (json!(""), "low"),
            (json!(null), "low"),
            (json!(3), "low"),
        ] {
            let d = deployment(json!({
                "applicationName": "a", "cluster": "active", "importance": sent
            }));
            assert_eq!(d.importance, expected, "sent {sent}");
        }
    }

    #[test]
    fn team_from_channels_in_alphabetical_order() {
        let d = deployment(json!({
            "applicationName": "a", "cluster": "active",
            "slackChannels": "#b-team-pipeline,#a-team-kursinfo"
        }));
        assert_eq!(d.team, "team-kursinformation");

        // Only `#` channels count, even when a bare name would match first.
        let d = deployment(json!({
            "applicationName": "a", "cluster": "active",
            "slackChannels": ["a-team-pipeline", "#z-team-studadm"]
        }));
        assert_eq!(d.team, "team-studadm");

        let d = deployment(json!({
            "applicationName": "a", "cluster": "active", "slackChannels": "#devops"
        }));
        assert_eq!(d.team, "");
    }

    #[test]
    fn enriched_json_always_carries_the_seven_keys() {
        let json = deployment(json!({"applicationName": "a", "cluster": "active"})).to_json();
        for key in ENRICHED_KEYS {
            assert!(json.get(key).is_some_and(Value::is_string), "{key}");
        }
    }
}
