//! `GET /api/v1/insights`: delivery-performance figures from the stored
//! history (deployments and failures): deployments per bucket and cluster,
//! change-failure rate, time to restore and each application's last
//! deployment. The database aggregates (`store::insights`); this module
//! reads the parameters, turns grouped rows into the figures and shapes the
//! answer. Each figure is defined in the handler's description (and the
//! README's "Insights" section).

use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::docs::answers::{Internal, InvalidQuery, Unauthorized, Unavailable};
pub use super::insights_cache::AnswerCache;
use super::params::{
    TimeForms, filter, given, one_of, period_since_schema, period_until_schema, time,
};
use super::read_access::Reader;
use super::state::AppState;
use super::store::{enter, json_answer, on_reads, rfc3339, within_budget};
use crate::error::ApiError;
use crate::store::insights::{self, Bucket, Outcome, Scope};
use crate::store::reads::within;

const DAY_MS: i64 = 86_400_000;
/// The period when `since` is not given: this many days before `until`.
const DEFAULT_DAYS: i64 = 90;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InsightsQuery {
    /// Only deployments of this team.
    team: Option<String>,
    /// Only deployments of this application (`applicationName`).
    application: Option<String>,
    /// Only deployments to this cluster.
    cluster: Option<String>,
    #[param(schema_with = period_since_schema)]
    since: Option<String>,
    #[param(schema_with = period_until_schema)]
    until: Option<String>,
    /// `day` (UTC days, the default) or `week` (ISO weeks, from Monday
    /// 00:00 UTC).
    #[param(value_type = Option<BucketName>)]
    bucket: Option<String>,
}

/// How the deployments are counted: per UTC day or per ISO week.
// Only described: the handler reads the parameter as text (`one_of`).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum BucketName {
    Day,
    Week,
}

/// Delivery-performance figures for a period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Insights {
    /// Start of the period, inclusive (RFC 3339).
    #[schema(format = DateTime)]
    pub since: String,
    /// End of the period, exclusive (RFC 3339).
    #[schema(format = DateTime)]
    pub until: String,
    /// `day` or `week`.
    pub bucket: String,
    /// The filters applied (null: all).
    pub team: Option<String>,
    pub application: Option<String>,
    pub cluster: Option<String>,
    /// `FAILURE_WINDOW_HOURS`: how long after a deployment an error still
    /// marks it failed.
    pub failure_window_hours: u32,
    /// Deployments received in the period, per bucket and cluster, oldest
    /// bucket first, then by cluster; buckets without deployments are left
    /// out.
    pub deployments: Vec<BucketCount>,
    pub change_failure_rate: ChangeFailureRate,
    pub time_to_restore: TimeToRestore,
    /// The latest deployment before `until` of each application and
    /// cluster that the filters select, however long ago (`since` does not
    /// apply), by application then cluster.
    pub last_deployments: Vec<LastDeployment>,
}

/// Deployments to one cluster in one bucket.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketCount {
    /// The bucket's start (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub bucket: String,
    pub cluster: String,
    pub count: i64,
}

/// The share of the period's deployments that failed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeFailureRate {
    /// Deployments received in the period.
    pub deployments: i64,
    /// Of those, the failed ones.
    pub failed: i64,
    /// `failed / deployments`, from 0 to 1; null without deployments.
    pub rate: Option<f64>,
    /// The same per team (the deployment's team), by team name.
    pub teams: Vec<TeamFailureRate>,
}

/// One team's change-failure rate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamFailureRate {
    pub team: String,
    pub deployments: i64,
    pub failed: i64,
    pub rate: Option<f64>,
}

/// How long failed deployments took to be followed by a new one.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeToRestore {
    /// Failed deployments in the period followed by a later deployment of
    /// the same application to the same cluster.
    pub restored: i64,
    /// Failed deployments not followed by one yet (not in the figures).
    pub unrestored: i64,
    /// The median, in seconds, of the restored ones' time from the first
    /// error to the next deployment (the mean of the middle two for an
    /// even count); null when none was restored.
    pub median_seconds: Option<f64>,
    /// The mean of the same times, in seconds; null when none.
    pub mean_seconds: Option<f64>,
}

/// An application's latest deployment to a cluster.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastDeployment {
    pub application: String,
    pub cluster: String,
    /// Its version (empty when the deployment had none).
    pub version: String,
    pub team: String,
    /// When it was received (RFC 3339).
    #[schema(format = DateTime)]
    pub received_at: String,
    /// The deployment's event id (`GET /api/v1/deployments/{id}`).
    #[schema(format = "uuid")]
    pub id: String,
}

/// Delivery-performance figures
///
/// Figures from the stored history for the deployments received in the
/// period `[since, until)` that the filters select (all optional;
/// default period: the 90 days before now).
///
/// - **deployments**: how many deployments were received per bucket (UTC
///   day, or ISO week from Monday 00:00 UTC) and cluster.
/// - **changeFailureRate**: a deployment is *failed* when an error event
///   naming the same `applicationName` and `cluster` (as fields of the
///   error's body) was received after it (or in the same millisecond), at
///   most `FAILURE_WINDOW_HOURS`
///   (default 24) after it, and before the next deployment of that
///   application to that cluster (an error belongs to the latest
///   deployment before it). The rate is failed deployments divided by
///   deployments, overall and per team (the deployment's team); errors
///   received after `until` count too.
/// - **timeToRestore**: for each failed deployment, the time from the first
///   error that marked it failed to the next deployment of that application
///   to that cluster (received at any time, also after `until`); median and
///   mean in seconds over the restored ones, with how many are restored and
///   how many are not yet.
/// - **lastDeployments**: each application and cluster's latest deployment
///   received before `until` (however long ago), with its version and team.
///
/// The same question (the same parameters) within
/// `INSIGHTS_CACHE_SECONDS` (default 5) gets the answer already given; a
/// computation running past `READ_TIMEOUT_MS` is stopped and answered 503.
#[utoipa::path(
    get,
    path = "/api/v1/insights",
    params(InsightsQuery),
    security((), ("readToken" = [])),
    responses(
        (status = 200, description = "The figures", body = Insights),
        (status = 400, response = InvalidQuery),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn insights(
    _: Reader,
    state: web::Data<AppState>,
    params: web::Query<InsightsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (reads, clock, settings) = (&state.reads, &state.clock, &state.insights);
    let cache = &state.insights_cache;
    let params = params.into_inner();
    let (since_text, until_text) = (given(params.since), given(params.until));
    let bucket = match params.bucket.as_deref() {
        None => Bucket::Day,
        Some(text) => match one_of("bucket", text, &["day", "week"])? {
            "week" => Bucket::Week,
            _ => Bucket::Day,
        },
    };
    let until = match &until_text {
        Some(text) => time("until", text, TimeForms::InstantOrDate { end_of_day: true })?,
        None => clock.now_ms(),
    };
    let since = match &since_text {
        Some(text) => time(
            "since",
            text,
            TimeForms::InstantOrDate { end_of_day: false },
        )?,
        None => until - DEFAULT_DAYS * DAY_MS,
    };
    // A period that ends before it starts (or where it starts) holds no
    // deployments: the figures are empty, as for any period without any.
    let scope = Scope {
        team: filter(params.team),
        application: filter(params.application),
        cluster: filter(params.cluster),
        since,
        until,
        failure_window_ms: i64::from(settings.failure_window_hours) * 3_600_000,
    };
    // The question as asked (a period left out is "up to now" whenever).
    let key = serde_json::json!([
        scope.team,
        scope.application,
        scope.cluster,
        since_text,
        until_text,
        bucket == Bucket::Week
    ])
    .to_string();
    let now = clock.now_ms();
    if let Some(body) = cache.get(&key, now) {
        return Ok(json_answer(body));
    }
    within_budget(reads).await?;
    let deadline = Instant::now() + reads.timeout;
    // The three queries run at once, each on a connection of its own, when
    // the read gate has three to spare: the answer takes as long as the
    // slowest, not the sum. (They may see a deployment stored in between
    // differently; figures over months are not changed by it.) Otherwise
    // they run one after the other on one connection.
    let (for_buckets, for_outcomes, for_last) = (scope.clone(), scope.clone(), scope.clone());
    let (buckets, outcomes, last) = match reads.heavy.try_enter(3) {
        Ok(permit) => {
            let permit = std::sync::Arc::new(permit);
            futures_util::try_join!(
                on_reads(reads, permit.clone(), deadline, move |c| {
                    insights::per_bucket(c, &for_buckets, bucket)
                }),
                on_reads(reads, permit.clone(), deadline, move |c| {
                    insights::outcomes(c, &for_outcomes)
                }),
                on_reads(reads, permit, deadline, move |c| {
                    insights::last_deployments(c, &for_last)
                }),
            )?
        }
        Err(_) => {
            let permit = enter(&reads.heavy, 1).await?;
            on_reads(reads, permit, deadline, move |c| {
                let buckets = insights::per_bucket(c, &for_buckets, bucket)?;
                within(c, deadline)?;
                let outcomes = insights::outcomes(c, &for_outcomes)?;
                within(c, deadline)?;
                Ok((buckets, outcomes, insights::last_deployments(c, &for_last)?))
            })
            .await?
        }
    };
    let answer = Insights {
        since: rfc3339(since),
        until: rfc3339(until),
        bucket: match bucket {
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
        .to_owned(),
        team: scope.team,
        application: scope.application,
        cluster: scope.cluster,
        failure_window_hours: settings.failure_window_hours,
        deployments: buckets
            .into_iter()
            .map(|row| BucketCount {
                bucket: rfc3339(row.bucket),
                cluster: row.cluster,
                count: row.count,
            })
            .collect(),
        change_failure_rate: change_failure_rate(&outcomes),
        time_to_restore: time_to_restore(&outcomes),
        last_deployments: last
            .into_iter()
            .map(|row| LastDeployment {
                application: row.application,
                cluster: row.cluster,
                version: row.version,
                team: row.team,
                received_at: rfc3339(row.received_at),
                id: row.id,
            })
            .collect(),
    };
    let body = web::Bytes::from(serde_json::to_vec(&answer).map_err(ApiError::internal)?);
    cache.put(key, body.clone(), now);
    Ok(json_answer(body))
}

/// Overall and per team, from the grouped rows (ordered by team).
fn change_failure_rate(outcomes: &[Outcome]) -> ChangeFailureRate {
    let mut teams: Vec<TeamFailureRate> = Vec::new();
    for row in outcomes {
        if teams.last().is_none_or(|last| last.team != row.team) {
            teams.push(TeamFailureRate {
                team: row.team.clone(),
                deployments: 0,
                failed: 0,
                rate: None,
            });
        }
        let Some(team) = teams.last_mut() else {
            continue;
        };
        team.deployments += row.deployments;
        if row.failed_at.is_some() {
            team.failed += row.deployments;
        }
    }
    for team in &mut teams {
        team.rate = rate(team.failed, team.deployments);
    }
    let deployments = teams.iter().map(|t| t.deployments).sum();
    let failed = teams.iter().map(|t| t.failed).sum();
    ChangeFailureRate {
        deployments,
        failed,
        rate: rate(failed, deployments),
        teams,
    }
}

fn rate(failed: i64, deployments: i64) -> Option<f64> {
    (deployments > 0).then(|| failed as f64 / deployments as f64)
}

/// Median and mean of first error → next deployment, over the failed
/// deployments that have a next one.
fn time_to_restore(outcomes: &[Outcome]) -> TimeToRestore {
    let mut times: Vec<i64> = Vec::new();
    let mut unrestored = 0;
    for row in outcomes {
        let Some(failed_at) = row.failed_at else {
            continue;
        };
        match row.restored_at {
            Some(restored_at) => times.extend(std::iter::repeat_n(
                restored_at - failed_at,
                row.deployments as usize,
            )),
            None => unrestored += row.deployments,
        }
    }
    times.sort_unstable();
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let median = match times.len() {
        0 => None,
        n if n % 2 == 1 => Some(seconds(times[n / 2])),
        n => Some(seconds(times[n / 2 - 1] + times[n / 2]) / 2.0),
    };
    let mean = (!times.is_empty()).then(|| seconds(times.iter().sum::<i64>()) / times.len() as f64);
    TimeToRestore {
        restored: times.len() as i64,
        unrestored,
        median_seconds: median,
        mean_seconds: mean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(team: &str, failed_at: Option<i64>, restored_at: Option<i64>, n: i64) -> Outcome {
        Outcome {
            team: team.into(),
            failed_at,
            restored_at,
            deployments: n,
        }
    }

    #[test]
    fn rates_and_restore_times_from_grouped_rows() {
        let rows = [
            outcome("a", None, None, 3),
            outcome("a", Some(1_000), Some(4_000), 1),
            outcome("b", None, None, 1),
            outcome("b", Some(10_000), Some(11_000), 1),
            outcome("b", Some(20_000), None, 1),
            outcome("b", Some(30_000), Some(40_000), 1),
        ];
        let cfr = change_failure_rate(&rows);
        assert_eq!((cfr.deployments, cfr.failed, cfr.rate), (8, 4, Some(0.5)));
        let teams: Vec<_> = cfr
            .teams
            .iter()
            .map(|t| (t.team.as_str(), t.deployments, t.failed, t.rate))
            .collect();
        assert_eq!(teams, [("a", 4, 1, Some(0.25)), ("b", 4, 3, Some(0.75))]);
        let restore = time_to_restore(&rows);
        assert_eq!((restore.restored, restore.unrestored), (3, 1));
        // 1 s, 3 s, 10 s.
        assert_eq!(restore.median_seconds, Some(3.0));
        assert_eq!(restore.mean_seconds, Some(14.0 / 3.0));
    }

    #[test]
    fn no_deployments_no_figures() {
        let cfr = change_failure_rate(&[]);
        assert_eq!((cfr.deployments, cfr.failed, cfr.rate), (0, 0, None));
        let restore = time_to_restore(&[outcome("a", Some(1), None, 2)]);
        assert_eq!(
            (
                restore.restored,
                restore.unrestored,
                restore.median_seconds,
                restore.mean_seconds
            ),
            (0, 2, None, None)
        );
    }
}
