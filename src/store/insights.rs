//! The queries behind the delivery-performance figures
//! (`GET /api/v1/insights`): aggregated in the database (GROUP BY), so an
//! answer costs a few indexed queries however long the history is.
//!
//! The SQL is the same on both backends except for its placeholders
//! (`?` on SQLite, `$1` on PostgreSQL), so it is written once as text;
//! numbers (times, bucket sizes) are parsed integers written into it,
//! and every text value from the request is bound. On SQLite each query
//! checks its rows against the read's time limit (`reads::row_check`).

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::sqlite::Sqlite;

use super::AnyConnection;
use super::reads::row_check;

const DAY_MS: i64 = 86_400_000;
/// Monday 1970-01-05 00:00 UTC: weeks start on Mondays (ISO 8601).
const FIRST_MONDAY_MS: i64 = 4 * DAY_MS;

/// How deployments are counted over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// UTC days.
    Day,
    /// ISO weeks: Monday 00:00 UTC to the next Monday.
    Week,
}

impl Bucket {
    /// (length, offset): a bucket starts at `offset + k * length`.
    fn span(self) -> (i64, i64) {
        match self {
            Bucket::Day => (DAY_MS, 0),
            Bucket::Week => (7 * DAY_MS, FIRST_MONDAY_MS),
        }
    }
}

/// What the figures are about: deployments received in `[since, until)`,
/// of one team, application and cluster when given.
#[derive(Debug, Clone)]
pub struct Scope {
    pub team: Option<String>,
    pub application: Option<String>,
    pub cluster: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since: i64,
    /// Unix milliseconds, exclusive.
    pub until: i64,
    /// An error this long or less after a deployment can mark it failed.
    pub failure_window_ms: i64,
}

/// Deployments to one cluster in one bucket.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct BucketCount {
    /// The bucket's start, Unix milliseconds.
    #[diesel(sql_type = BigInt)]
    pub bucket: i64,
    #[diesel(sql_type = Text)]
    pub cluster: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// A team's deployments in the scope, grouped by how they ended: all its
/// unfailed deployments in one row (`failed_at` null), each failed one by
/// its first error and the deployment that followed it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Outcome {
    #[diesel(sql_type = Text)]
    pub team: String,
    /// The first error that marked these deployments failed (ms).
    #[diesel(sql_type = Nullable<BigInt>)]
    pub failed_at: Option<i64>,
    /// For a failed deployment, the next deployment of that application
    /// to that cluster (ms); null while there is none.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub restored_at: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub deployments: i64,
}

/// The latest deployment of an application to a cluster.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct LastDeployment {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub application: String,
    #[diesel(sql_type = Text)]
    pub cluster: String,
    #[diesel(sql_type = Text)]
    pub version: String,
    #[diesel(sql_type = Text)]
    pub team: String,
    #[diesel(sql_type = BigInt)]
    pub received_at: i64,
}

/// SQL text with its bound values, placeholders in the backend's style.
struct Sql {
    postgres: bool,
    binds: Vec<String>,
}

impl Sql {
    fn new(conn: &AnyConnection) -> Self {
        Sql {
            postgres: matches!(conn, AnyConnection::Postgresql(_)),
            binds: Vec::new(),
        }
    }

    fn bind(&mut self, value: &str) -> String {
        self.binds.push(value.to_owned());
        if self.postgres {
            format!("${}", self.binds.len())
        } else {
            "?".to_owned()
        }
    }

    /// ` AND d.team = ? …` for the scope's team, application and cluster.
    fn filters(&mut self, scope: &Scope, alias: &str) -> String {
        let mut text = String::new();
        for (column, value) in [
            ("team", &scope.team),
            ("application", &scope.application),
            ("cluster", &scope.cluster),
        ] {
            if let Some(value) = value {
                let placeholder = self.bind(value);
                text.push_str(&format!(" AND {alias}.{column} = {placeholder}"));
            }
        }
        text
    }

    fn load<T>(self, conn: &mut AnyConnection, text: &str) -> QueryResult<Vec<T>>
    where
        T: QueryableByName<Pg> + QueryableByName<Sqlite> + 'static,
    {
        match conn {
            AnyConnection::Postgresql(c) => {
                let mut query = diesel::sql_query(text).into_boxed::<Pg>();
                for value in self.binds {
                    query = query.bind::<Text, _>(value);
                }
                query.load(c)
            }
            AnyConnection::Sqlite(c) => {
                let mut query = diesel::sql_query(text).into_boxed::<Sqlite>();
                for value in self.binds {
                    query = query.bind::<Text, _>(value);
                }
                query.load(c)
            }
        }
    }
}

/// Deployments per bucket and cluster, oldest bucket first.
pub fn per_bucket(
    conn: &mut AnyConnection,
    scope: &Scope,
    bucket: Bucket,
) -> QueryResult<Vec<BucketCount>> {
    let (length, offset) = bucket.span();
    let mut sql = Sql::new(conn);
    let filters = sql.filters(scope, "d");
    let check = row_check(conn, "d.received_at");
    let text = format!(
        "SELECT (d.received_at - {offset}) / {length} * {length} + {offset} AS bucket, \
                d.cluster AS cluster, COUNT(*) AS count \
         FROM deployments d \
         WHERE d.received_at >= {since} AND d.received_at < {until}{filters}{check} \
         GROUP BY (d.received_at - {offset}) / {length}, d.cluster \
         ORDER BY bucket, cluster",
        since = scope.since,
        until = scope.until,
    );
    sql.load(conn, &text)
}

/// Each deployment in the scope, marked failed or not, grouped by team
/// (see [`Outcome`]). A deployment is failed when an error for its
/// application and cluster arrived after it (or in the same millisecond),
/// within the failure window and before the application's next deployment
/// to that cluster; it is restored by that next deployment.
///
/// Set-based, so it costs one sort of the period's rows rather than an
/// index probe per deployment: the deployments (of any team, up to now)
/// and errors since `since` of each application and cluster in the scope
/// are put on one timeline (numbered pairs, so the sorts compare integers,
/// not text under a collation); a running count of deployments numbers the
/// runs (a deployment and the errors until the next one), so each error
/// falls in the run of the deployment it belongs to; the next run's
/// deployment is the restoring one.
pub fn outcomes(conn: &mut AnyConnection, scope: &Scope) -> QueryResult<Vec<Outcome>> {
    let mut sql = Sql::new(conn);
    let filters = sql.filters(scope, "d");
    // Which of the timeline's deployments are the scope's: in the period
    // and of the team (the pairs already fix application and cluster).
    let team = match &scope.team {
        Some(team) => format!(" AND d.team = {}", sql.bind(team)),
        None => String::new(),
    };
    let (check_d, check_f) = (
        row_check(conn, "d.received_at"),
        row_check(conn, "f.received_at"),
    );
    let text = format!(
        "WITH pairs AS ( \
           SELECT x.application, x.cluster, \
                  ROW_NUMBER() OVER (ORDER BY x.application, x.cluster) AS pair \
           FROM (SELECT DISTINCT d.application, d.cluster FROM deployments d \
                 WHERE d.received_at >= {since} AND d.received_at < {until}{filters}{check_d}) x \
         ), timeline AS ( \
           SELECT p.pair, d.received_at AS at, 0 AS is_failure, d.team, \
                  CASE WHEN d.received_at < {until}{team} THEN 1 ELSE 0 END AS chosen \
           FROM deployments d \
           JOIN pairs p ON d.application = p.application AND d.cluster = p.cluster \
           WHERE d.received_at >= {since}{check_d} \
           UNION ALL \
           SELECT p.pair, f.received_at, 1, NULL, 0 \
           FROM failures f \
           JOIN pairs p ON f.application = p.application AND f.cluster = p.cluster \
           WHERE f.received_at >= {since}{check_f} \
         ), numbered AS ( \
           SELECT t.pair, t.at, t.is_failure, t.team, t.chosen, \
                  SUM(1 - t.is_failure) OVER ( \
                    PARTITION BY t.pair ORDER BY t.at, t.is_failure \
                    ROWS UNBOUNDED PRECEDING) AS run \
           FROM timeline t \
         ), runs AS ( \
           SELECT pair, run, \
                  MIN(CASE WHEN is_failure = 0 THEN at END) AS deployed_at, \
                  MAX(CASE WHEN is_failure = 0 THEN team END) AS team, \
                  MAX(chosen) AS chosen, \
                  MIN(CASE WHEN is_failure = 1 THEN at END) AS first_error_at \
           FROM numbered WHERE run > 0 \
           GROUP BY pair, run \
         ), marked AS ( \
           SELECT team, chosen, \
                  CASE WHEN first_error_at <= deployed_at + {window} \
                       THEN first_error_at END AS failed_at, \
                  LEAD(deployed_at) OVER (PARTITION BY pair ORDER BY run) AS next_at \
           FROM runs \
         ) \
         SELECT team, failed_at, \
                CASE WHEN failed_at IS NULL THEN NULL ELSE next_at END AS restored_at, \
                COUNT(*) AS deployments \
         FROM marked WHERE chosen = 1 \
         GROUP BY failed_at, CASE WHEN failed_at IS NULL THEN NULL ELSE next_at END, team \
         ORDER BY team, failed_at",
        since = scope.since,
        until = scope.until,
        window = scope.failure_window_ms,
    );
    sql.load(conn, &text)
}

/// The latest deployment before `until` of each application and cluster
/// in the scope (however long ago: `since` does not apply), by
/// application then cluster.
pub fn last_deployments(
    conn: &mut AnyConnection,
    scope: &Scope,
) -> QueryResult<Vec<LastDeployment>> {
    let mut sql = Sql::new(conn);
    let inner = sql.filters(scope, "l");
    let check = row_check(conn, "l.received_at");
    // The outer rows are found by application, cluster and time (one probe
    // each); filtering them by team in SQL would make SQLite scan the
    // team's whole history instead, so a same-millisecond row of another
    // team is dropped below.
    let text = format!(
        "SELECT d.id, d.application, d.cluster, d.version, d.team, d.received_at \
         FROM (SELECT l.application, l.cluster, MAX(l.received_at) AS latest \
               FROM deployments l \
               WHERE l.received_at < {until}{inner}{check} \
               GROUP BY l.application, l.cluster) m \
         JOIN deployments d \
           ON d.application = m.application AND d.cluster = m.cluster \
          AND d.received_at = m.latest \
         ORDER BY d.application, d.cluster, d.id",
        until = scope.until,
    );
    let mut rows: Vec<LastDeployment> = sql.load(conn, &text)?;
    if let Some(team) = &scope.team {
        rows.retain(|row| &row.team == team);
    }
    // Two deployments received in the same millisecond: the later id
    // (ids are UUID v7, in arrival order) is the latest.
    let mut latest: Vec<LastDeployment> = Vec::with_capacity(rows.len());
    for row in rows.drain(..) {
        match latest.last_mut() {
            Some(last) if last.application == row.application && last.cluster == row.cluster => {
                *last = row
            }
            _ => latest.push(row),
        }
    }
    Ok(latest)
}
