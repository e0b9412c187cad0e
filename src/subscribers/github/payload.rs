//! What a GitHub destination sends, built without I/O: deployments and
//! their statuses (GitHub's REST API, "REST API endpoints for deployments"
//! and "… for deployment statuses").
//!
//! A deployment is created for the commit its version ends in
//! (`2.0.11_abc123` → `abc123`), in the environment of its cluster, with
//! the task `deploy:<application>`, so that the deployments of several
//! applications of one repository (a monorepo) are told apart.

use crate::domain::text::cut;
use serde_json::{Value, json};

/// GitHub keeps at most 140 characters of a status's description.
pub const DESCRIPTION_LIMIT: usize = 140;

/// The commit id a version ends in: the part after its last `_`, 6 to 40
/// hexadecimal digits (BEHAVIOUR.md's own example, `2.0.11_abc123`, has
/// six).
pub fn commit_of(version: &str) -> Option<&str> {
    let (_, commit) = version.rsplit_once('_')?;
    (6..=40)
        .contains(&commit.len())
        .then_some(commit)
        .filter(|commit| commit.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The deployments' task of `application`.
pub fn task(application: &str) -> String {
    format!("deploy:{application}")
}

/// `POST /repos/{owner}/{repo}/deployments`: the deployment of `commit`.
/// No merge of the default branch and no required status checks: it
/// records what went out, it starts nothing.
pub fn deployment(
    application: &str,
    version: &str,
    commit: &str,
    cluster: &str,
    event: &str,
) -> Value {
    json!({
        "ref": commit,
        "task": task(application),
        "environment": cluster,
        "description": cut(&format!("{application} {version}"), DESCRIPTION_LIMIT),
        "auto_merge": false,
        "required_contexts": [],
        "payload": {"alvares": {"event": event}},
    })
}

/// `POST /repos/{owner}/{repo}/deployments/{id}/statuses`: `state`
/// (`success`, `inactive`, `failure`) with `description`. GitHub would
/// make older deployments inactive on a success itself; Alvares does it
/// (`auto_inactive: false`) for the one its replacement replaced, so that
/// what it did is in its journal.
pub fn status(state: &str, cluster: &str, description: &str, log_url: Option<&str>) -> Value {
    let mut status = json!({
        "state": state,
        "environment": cluster,
        "description": cut(description, DESCRIPTION_LIMIT),
        "auto_inactive": false,
    });
    if let Some(log_url) = log_url {
        status["log_url"] = log_url.into();
    }
    status
}

/// The query listing the deployments of `application` in `cluster`,
/// newest first (GitHub's order).
pub fn listing(application: &str, cluster: &str, per_page: u8) -> String {
    serde_urlencoded::to_string([
        ("environment", cluster),
        ("task", &task(application)),
        ("per_page", &per_page.to_string()),
    ])
    .unwrap_or_default()
}

/// The ids of a listing's deployments, in its order.
pub fn ids(listing: &Value) -> Vec<u64> {
    listing
        .as_array()
        .map(|deployments| {
            deployments
                .iter()
                .filter_map(|deployment| deployment.get("id")?.as_u64())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_ends_in_a_commit_id_or_names_none() {
        assert_eq!(commit_of("2.0.11_abc123f"), Some("abc123f"));
        assert_eq!(
            commit_of("1.0_0123456789abcdef0123456789abcdef01234567"),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(commit_of("2.0.11_abc123"), Some("abc123"));
        for none in ["2.0.11", "2.0.11_abc12", "2.0.11_xyz1234", "2.0.11_", ""] {
            assert_eq!(commit_of(none), None, "{none}");
        }
    }

    #[test]
    fn the_deployment_and_its_status_say_what_went_out() {
        assert_eq!(
            deployment("app", "2.0.11_abc123f", "abc123f", "active", "e1"),
            json!({"ref": "abc123f", "task": "deploy:app", "environment": "active",
                   "description": "app 2.0.11_abc123f", "auto_merge": false,
                   "required_contexts": [], "payload": {"alvares": {"event": "e1"}}})
        );
        let failure = status("failure", "active", &"e".repeat(500), None);
        assert_eq!(
            failure["description"].as_str().unwrap().chars().count(),
            DESCRIPTION_LIMIT
        );
        assert_eq!(failure.get("log_url"), None);
        assert_eq!(
            listing("my app", "active", 2),
            "environment=active&task=deploy%3Amy+app&per_page=2"
        );
    }
}
