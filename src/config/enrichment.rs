//! What enrichment is told: each cluster's hosts, the monitor keyword
//! and the team markers.

use envconfig::Envconfig;

use super::env::{ConfigError, Env, HttpUrl, List};
use crate::domain::enrichment::{ClusterHosts, EnrichmentSettings, TeamMarker};

#[derive(Envconfig, Debug)]
struct HostsConfig {
    #[envconfig(from = "ACTIVE_APP_HOST", default = "https://app.kth.se")]
    active_app: HttpUrl,
    #[envconfig(from = "ACTIVE_API_HOST", default = "https://api.kth.se")]
    active_api: HttpUrl,
    #[envconfig(from = "STAGE_APP_HOST", default = "https://app-r.referens.sys.kth.se")]
    stage_app: HttpUrl,
    #[envconfig(from = "STAGE_API_HOST", default = "https://api-r.referens.sys.kth.se")]
    stage_api: HttpUrl,
    #[envconfig(
        from = "INTEGRAL_APP_HOST",
        default = "https://integral.everest.sys.kth.se/"
    )]
    integral_app: HttpUrl,
    #[envconfig(
        from = "INTEGRAL_API_HOST",
        default = "https://integral.everest.sys.kth.se/"
    )]
    integral_api: HttpUrl,
    #[envconfig(
        from = "INTEGRAL_STAGE_APP_HOST",
        default = "https://integral-r.referens.sys.kth.se"
    )]
    integral_stage_app: HttpUrl,
    #[envconfig(
        from = "INTEGRAL_STAGE_API_HOST",
        default = "https://integral-r.referens.sys.kth.se"
    )]
    integral_stage_api: HttpUrl,
    #[envconfig(from = "UTR_KEYWORD", default = "APPLICATION_STATUS: OK")]
    monitor_keyword: String,
    /// Replaces the team marker table: `marker` or `marker=team`, in order.
    #[envconfig(from = "TEAM_MARKERS")]
    team_markers: Option<List>,
}

pub(super) fn from_env(env: &Env) -> Result<EnrichmentSettings, ConfigError> {
    enrichment_settings(env.load()?)
}

fn enrichment_settings(hosts: HostsConfig) -> Result<EnrichmentSettings, ConfigError> {
    let pair = |app: HttpUrl, api: HttpUrl| ClusterHosts {
        app: app.into_string(),
        api: api.into_string(),
    };
    let team_markers = match hosts.team_markers {
        None => EnrichmentSettings::default().team_markers,
        Some(List(items)) => items
            .iter()
            .map(|item| parse_team_marker(item))
            .collect::<Result<_, _>>()?,
    };
    Ok(EnrichmentSettings {
        active: pair(hosts.active_app, hosts.active_api),
        stage: pair(hosts.stage_app, hosts.stage_api),
        integral: pair(hosts.integral_app, hosts.integral_api),
        integral_stage: pair(hosts.integral_stage_app, hosts.integral_stage_api),
        monitor_keyword: hosts.monitor_keyword,
        team_markers,
    })
}

/// `team-kursinfo=team-kursinformation` or just `team-pipeline`.
fn parse_team_marker(item: &str) -> Result<TeamMarker, ConfigError> {
    let (marker, team) = match item.split_once('=') {
        Some((marker, team)) => (marker.trim(), team.trim()),
        None => (item, item),
    };
    if marker.is_empty() || team.is_empty() {
        return Err(ConfigError::invalid(
            "TEAM_MARKERS",
            "expected comma-separated `marker` or `marker=team` items",
        ));
    }
    Ok(TeamMarker {
        marker: marker.to_owned(),
        team: team.to_owned(),
    })
}
