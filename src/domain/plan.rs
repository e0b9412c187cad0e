//! Where a delivery goes: decided once, when its event is planned at
//! intake, and stored with the delivery, so that a retry, a replay and
//! another replica send exactly there whatever the routes say by then.

use serde::{Deserialize, Serialize};

/// One place a delivery sends to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Destination {
    /// A Slack channel (`#name`, or a channel id).
    Slack { channel: String },
    /// An operator-file webhook: its method and URL as the file gives
    /// them (a secret URL only as the `$VARIABLE` that holds it).
    Webhook {
        name: String,
        method: String,
        url: String,
    },
}

/// A destination while the plan is made: whether the subscriber chose it
/// itself, and which routes added it (a route's `once_per` takes out
/// only what that route added).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDestination {
    pub destination: Destination,
    /// The subscriber's own choice (not removed by a route's `once_per`).
    pub own: bool,
    /// The operator routes that added it, by name.
    pub routes: Vec<String>,
}

impl PlannedDestination {
    pub fn own(destination: Destination) -> Self {
        PlannedDestination {
            destination,
            own: true,
            routes: Vec::new(),
        }
    }

    /// Whether only routes among `duplicates` sent it here.
    fn only_by(&self, duplicates: &[&str]) -> bool {
        !self.own
            && !self.routes.is_empty()
            && self
                .routes
                .iter()
                .all(|route| duplicates.contains(&route.as_str()))
    }
}

/// Takes out the destinations that only routes in `duplicates` added (the
/// event is a duplicate under those routes' `once_per`); answers whether
/// any went.
pub fn drop_duplicated(destinations: &mut Vec<PlannedDestination>, duplicates: &[&str]) -> bool {
    let before = destinations.len();
    destinations.retain(|d| !d.only_by(duplicates));
    destinations.len() != before
}

/// The destinations as stored (JSON, in the plan's order).
pub fn stored(destinations: &[Destination]) -> String {
    serde_json::to_string(destinations).unwrap_or_else(|_| "[]".into())
}

/// The destinations read back; `None` for a row planned before plans were
/// stored, or one that does not read.
pub fn read_stored(text: Option<&str>) -> Option<Vec<Destination>> {
    serde_json::from_str(text?).ok()
}

/// The Slack channels among `destinations`, in order.
pub fn slack_channels(destinations: &[Destination]) -> Vec<String> {
    destinations
        .iter()
        .filter_map(|d| match d {
            Destination::Slack { channel } => Some(channel.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack(channel: &str, own: bool, routes: &[&str]) -> PlannedDestination {
        PlannedDestination {
            destination: Destination::Slack {
                channel: channel.into(),
            },
            own,
            routes: routes.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn a_duplicate_takes_out_only_what_its_routes_alone_added() {
        let mut planned = vec![
            slack("#team", true, &[]),
            slack("#both", true, &["once"]),
            slack("#once", false, &["once"]),
            slack("#shared", false, &["once", "other"]),
        ];
        assert!(drop_duplicated(&mut planned, &["once"]));
        let left: Vec<Destination> = planned.into_iter().map(|d| d.destination).collect();
        assert_eq!(
            slack_channels(&left),
            ["#team", "#both", "#shared"].map(String::from)
        );
        assert_eq!(
            stored(&left[..1]),
            r##"[{"type":"slack","channel":"#team"}]"##
        );
        assert_eq!(read_stored(Some(&stored(&left))), Some(left));
        assert_eq!(read_stored(None), None);
    }
}
