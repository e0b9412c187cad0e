//! `deployments`: the history dashboards read, one row per enriched
//! deployment, kept when the journal is pruned.

use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde::Serialize;

use super::deliveries::escaped_and_truncated;
use crate::domain::EnrichedDeployment;
use crate::store::AnyConnection;
use crate::store::reads::row_condition;
use crate::store::schema::deployments;
use crate::with_connection;

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = deployments)]
#[diesel(treat_none_as_default_value = false)]
pub struct DeploymentRow {
    pub id: String,
    pub received_at: i64,
    pub application: String,
    pub cluster: String,
    pub version: String,
    pub image: String,
    pub team: String,
    pub importance: String,
    pub application_url: String,
    pub monitor_url: String,
    pub about_url: String,
    pub friendly_name: String,
    pub body: String,
}

impl DeploymentRow {
    /// The columns dashboards filter on, plus the whole enriched JSON.
    pub fn from_enriched(
        event_id: &str,
        received_at: i64,
        deployment: &EnrichedDeployment,
    ) -> Self {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        DeploymentRow {
            id: event_id.to_owned(),
            received_at,
            application: deployment.application_name.clone(),
            cluster: deployment.cluster.clone(),
            version: text(&deployment.version),
            image: text(&deployment.image_name),
            team: deployment.team.clone(),
            importance: deployment.importance.clone(),
            application_url: deployment.application_url.clone(),
            monitor_url: deployment.monitor_url.clone(),
            about_url: deployment.about_url.clone(),
            friendly_name: deployment.friendly_name.clone(),
            body: deployment.to_json().to_string(),
        }
    }

    /// The same row with its text escaped and truncated, for the retry of
    /// a deployment a backend refused as it was.
    pub fn escaped(&self) -> Self {
        let e = |text: &str| escaped_and_truncated(text);
        DeploymentRow {
            id: self.id.clone(),
            received_at: self.received_at,
            application: e(&self.application),
            cluster: e(&self.cluster),
            version: e(&self.version),
            image: e(&self.image),
            team: e(&self.team),
            importance: e(&self.importance),
            application_url: e(&self.application_url),
            monitor_url: e(&self.monitor_url),
            about_url: e(&self.about_url),
            friendly_name: e(&self.friendly_name),
            body: self.body.replace('\0', "\\u0000"),
        }
    }

    pub fn to_view(&self) -> DeploymentView {
        DeploymentView {
            id: self.id.clone(),
            received_at: self.received_at,
            deployment: serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A stored deployment as the query routes show it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentView {
    pub id: String,
    /// Unix milliseconds.
    pub received_at: i64,
    pub deployment: serde_json::Value,
}

/// Inserts, ignoring rows already stored (a redelivery stores nothing new).
pub fn insert_all(conn: &mut AnyConnection, rows: &[&DeploymentRow]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    match conn {
        // One prepared statement, compiled once and kept: a multi-row
        // insert is new SQL for each batch size (as for events).
        AnyConnection::Sqlite(c) => {
            let mut inserted = 0;
            for row in rows {
                inserted += diesel::insert_into(deployments::table)
                    .values(*row)
                    .on_conflict(deployments::id)
                    .do_nothing()
                    .execute(c)?;
            }
            Ok(inserted)
        }
        AnyConnection::Postgresql(c) => {
            let mut inserted = 0;
            // 13 columns a row: stays under PostgreSQL's bind limit.
            for chunk in rows.chunks(500) {
                inserted += diesel::insert_into(deployments::table)
                    .values(chunk.to_vec())
                    .on_conflict(deployments::id)
                    .do_nothing()
                    .execute(c)?;
            }
            Ok(inserted)
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct DeploymentFilter {
    pub cluster: Option<String>,
    pub application: Option<String>,
    pub team: Option<String>,
    /// Unix milliseconds: received at or after.
    pub since: Option<i64>,
    /// An id from an earlier page: only older rows.
    pub before: Option<String>,
    pub limit: i64,
}

/// Newest first.
pub fn search(
    conn: &mut AnyConnection,
    filter: &DeploymentFilter,
) -> QueryResult<Vec<DeploymentRow>> {
    // SQLite: each row read is checked against the read's time limit (a
    // filter can make this scan the whole history).
    let in_time = row_condition(conn, "deployments.received_at");
    with_connection!(conn, |c| {
        let mut query = deployments::table
            .select(DeploymentRow::as_select())
            .filter(diesel::dsl::sql::<Bool>(&in_time))
            .order(deployments::id.desc())
            .limit(filter.limit)
            .into_boxed();
        if let Some(cluster) = &filter.cluster {
            query = query.filter(deployments::cluster.eq(cluster.clone()));
        }
        if let Some(application) = &filter.application {
            query = query.filter(deployments::application.eq(application.clone()));
        }
        if let Some(team) = &filter.team {
            query = query.filter(deployments::team.eq(team.clone()));
        }
        if let Some(since) = filter.since {
            query = query.filter(deployments::received_at.ge(since));
        }
        if let Some(before) = &filter.before {
            query = query.filter(deployments::id.lt(before.clone()));
        }
        query.load(c)
    })
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<DeploymentRow>> {
    with_connection!(conn, |c| deployments::table
        .find(id)
        .select(DeploymentRow::as_select())
        .first(c)
        .optional())
}

/// The deployment of `application` to `cluster` just before the one with
/// id `before_id` (ids sort by time): its version and when. One indexed
/// lookup (`deployments_cluster`: cluster, application, id).
pub fn previous_in_cluster(
    conn: &mut AnyConnection,
    application: &str,
    cluster: &str,
    before_id: &str,
) -> QueryResult<Option<(String, i64)>> {
    with_connection!(conn, |c| deployments::table
        .filter(deployments::cluster.eq(cluster))
        .filter(deployments::application.eq(application))
        .filter(deployments::id.lt(before_id))
        .order(deployments::id.desc())
        .select((deployments::version, deployments::received_at))
        .first(c)
        .optional())
}

/// The latest deployment of each application in a cluster, by name: a
/// page of `limit` applications after `after` (an application name). One
/// walk of the `deployments_cluster` index (cluster, application, id) that
/// stops after the page.
pub fn latest_in_cluster(
    conn: &mut AnyConnection,
    cluster: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<DeploymentRow>> {
    // Each application's latest id, a page of them (written twice: diesel
    // cannot group a boxed query).
    macro_rules! latest_ids {
        ($applications:expr, $c:expr) => {
            $applications
                .group_by(deployments::application)
                .select(diesel::dsl::max(deployments::id))
                .order(deployments::application.asc())
                .limit(limit)
                .load::<Option<String>>($c)
        };
    }
    let in_time = row_condition(conn, "deployments.received_at");
    with_connection!(conn, |c| {
        let in_cluster = deployments::table.filter(deployments::cluster.eq(cluster));
        // SQLite: the rows read are checked against the read's time limit.
        let in_cluster = in_cluster.filter(diesel::dsl::sql::<Bool>(&in_time));
        let latest_ids = match after {
            Some(after) => latest_ids!(in_cluster.filter(deployments::application.gt(after)), c)?,
            None => latest_ids!(in_cluster, c)?,
        };
        let ids: Vec<String> = latest_ids.into_iter().flatten().collect();
        deployments::table
            .filter(deployments::id.eq_any(&ids))
            .order(deployments::application.asc())
            .select(DeploymentRow::as_select())
            .load(c)
    })
}
