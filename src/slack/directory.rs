//! Channel names to ids (`conversations.list`, cached).

use std::collections::HashMap;

use serde_json::Value;

use super::client::{SlackClient, WebApiBody};
use super::{CHANNEL_LIST_MAX_AGE, MOST_CHANNEL_PAGES};
use crate::engine::DeliveryContext;
use crate::error::DeliveryError;

impl SlackClient {
    /// A channel's id: `#name` looked up in `conversations.list` (read
    /// again when a name is missing and the list is over a minute old); a
    /// value without `#` that names no channel is taken as an id.
    pub async fn channel_id(
        &self,
        context: &DeliveryContext,
        channel: &str,
    ) -> Result<String, DeliveryError> {
        let name = channel.trim_start_matches('#');
        let cached = || -> (Option<String>, bool) {
            match &*self
                .channel_ids
                .lock()
                .expect("the channel cache is never poisoned")
            {
                Some((read_at, ids)) => (
                    ids.get(name).cloned(),
                    self.clock.instant().saturating_duration_since(*read_at) < CHANNEL_LIST_MAX_AGE,
                ),
                None => (None, false),
            }
        };
        let (found, fresh) = cached();
        if let Some(id) = found {
            return Ok(id);
        }
        if !fresh {
            let ids = self.read_channel_list(context).await?;
            *self
                .channel_ids
                .lock()
                .expect("the channel cache is never poisoned") = Some((self.clock.instant(), ids));
            if let (Some(id), _) = cached() {
                return Ok(id);
            }
        }
        if !channel.starts_with('#') {
            return Ok(channel.to_owned());
        }
        Err(DeliveryError::permanent(format!(
            "channel {channel} not found by conversations.list (is the Slack app in it?)"
        )))
    }

    async fn read_channel_list(
        &self,
        context: &DeliveryContext,
    ) -> Result<HashMap<String, String>, DeliveryError> {
        let mut ids = HashMap::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MOST_CHANNEL_PAGES {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("limit", "1000")
                .append_pair("exclude_archived", "true")
                .append_pair("types", "public_channel,private_channel");
            if let Some(cursor) = &cursor {
                query.append_pair("cursor", cursor);
            }
            let answer = self
                .web_api(
                    context,
                    "conversations.list",
                    WebApiBody::Query(query.finish()),
                )
                .await?;
            let (page, next) = channel_page(&answer);
            ids.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(ids)
    }
}

/// One page of `conversations.list`: `(name, id)` pairs and the cursor of
/// the next page (`None` on the last).
pub fn channel_page(answer: &Value) -> (Vec<(String, String)>, Option<String>) {
    let channels = answer["channels"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| Some((c["name"].as_str()?.to_owned(), c["id"].as_str()?.to_owned())))
        .collect();
    let cursor = answer["response_metadata"]["next_cursor"]
        .as_str()
        .filter(|cursor| !cursor.is_empty())
        .map(str::to_owned);
    (channels, cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_pages() {
        let page = serde_json::json!({"ok": true, "channels": [{"id": "C1", "name": "dev"}],
            "response_metadata": {"next_cursor": "abc"}});
        assert_eq!(
            channel_page(&page),
            (vec![("dev".into(), "C1".into())], Some("abc".into()))
        );
        let last = serde_json::json!({"ok": true, "channels": [], "response_metadata": {"next_cursor": ""}});
        assert_eq!(channel_page(&last).1, None);
    }
}
