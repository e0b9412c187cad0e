//! What a deployment changes, from the stored deployment history: the
//! version it replaces in its cluster and how long that one ran, or that it
//! is the first there, or the same version again. The store answers the
//! query; subscribers read it through [`DeploymentHistory`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The deployment before this one of the same application in the same
/// cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousDeployment {
    pub version: String,
    /// Unix milliseconds.
    pub deployed_at: i64,
}

/// The deployment history, as subscribers may read it. Blocking: call it
/// off the actor's thread (`spawn_blocking`).
pub trait DeploymentHistory: Send + Sync {
    /// The latest deployment of `application` to `cluster` accepted before
    /// the event `before_id` (ids sort by time).
    fn previous(
        &self,
        application: &str,
        cluster: &str,
        before_id: &str,
    ) -> Result<Option<PreviousDeployment>, String>;
}

/// What a deployment changes, as templates see it (`change`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `first`, `redeploy` (the same version again) or `upgrade`.
    pub kind: ChangeKind,
    pub previous_version: Option<String>,
    /// How long the previous deployment ran, in words ("3 days").
    pub ran_for: Option<String>,
    /// The whole sentence, e.g. "2.0.11, replacing 2.0.10 after 3 days".
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    First,
    Redeploy,
    Upgrade,
}

impl Change {
    pub fn of(
        application: &str,
        cluster: &str,
        version: &str,
        received_at: i64,
        previous: Option<&PreviousDeployment>,
    ) -> Self {
        let Some(previous) = previous else {
            return Change {
                kind: ChangeKind::First,
                previous_version: None,
                ran_for: None,
                text: format!("the first deployment of {application} to {cluster}"),
            };
        };
        let ran =
            Duration::from_millis(u64::try_from(received_at - previous.deployed_at).unwrap_or(0));
        let ran_for = in_words(ran);
        if previous.version == version {
            Change {
                kind: ChangeKind::Redeploy,
                previous_version: Some(previous.version.clone()),
                text: format!("{version} deployed again (it had run for {ran_for})"),
                ran_for: Some(ran_for),
            }
        } else {
            Change {
                kind: ChangeKind::Upgrade,
                previous_version: Some(previous.version.clone()),
                text: format!("{version}, replacing {} after {ran_for}", previous.version),
                ran_for: Some(ran_for),
            }
        }
    }
}

/// A duration as a person says it: minutes under two hours, hours under
/// two days, days after.
pub fn in_words(duration: Duration) -> String {
    let minutes = duration.as_secs() / 60;
    let (count, unit) = if minutes < 120 {
        (minutes, "minute")
    } else if minutes < 48 * 60 {
        (minutes / 60, "hour")
    } else {
        (minutes / (24 * 60), "day")
    };
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn each_kind_of_change_in_words() {
        let previous = PreviousDeployment {
            version: "2.0.10_f00d".into(),
            deployed_at: 0,
        };
        assert_eq!(
            Change::of(
                "app",
                "active",
                "2.0.11_abc123",
                3 * DAY + 5,
                Some(&previous)
            )
            .text,
            "2.0.11_abc123, replacing 2.0.10_f00d after 3 days"
        );
        assert_eq!(
            Change::of("app", "active", "2.0.10_f00d", DAY / 24, Some(&previous)).text,
            "2.0.10_f00d deployed again (it had run for 60 minutes)"
        );
        assert_eq!(
            Change::of("app", "active", "1", 0, None).text,
            "the first deployment of app to active"
        );
    }

    #[test]
    fn durations_in_words() {
        let minutes = |m: u64| in_words(Duration::from_secs(m * 60));
        assert_eq!(minutes(0), "0 minutes");
        assert_eq!(minutes(1), "1 minute");
        assert_eq!(minutes(119), "119 minutes");
        assert_eq!(minutes(120), "2 hours");
        assert_eq!(minutes(47 * 60 + 59), "47 hours");
        assert_eq!(minutes(48 * 60), "2 days");
    }
}
