//! Slack's text rules, in one place: how event text is made data in a
//! Slack message (the three characters Slack reads as control sequences
//! escaped as Slack documents) and how a message is kept within Slack's
//! documented limits (text cut with a visible marker, never refused).

use std::borrow::Cow;

use serde_json::{Map, Value};

/// What ends a text that was cut.
pub const TRUNCATION_MARKER: &str = "… (truncated)";
/// A message's `text` (and each text of its attachments): Slack truncates
/// messages longer than this.
pub const MESSAGE_TEXT_LIMIT: usize = 40_000;
/// Block Kit: a section's text.
pub const SECTION_TEXT_LIMIT: usize = 3_000;
/// Block Kit: each of a section's fields.
pub const SECTION_FIELD_LIMIT: usize = 2_000;
/// Block Kit: a header's text.
pub const HEADER_TEXT_LIMIT: usize = 150;
/// Block Kit: a markdown block's text.
pub const MARKDOWN_TEXT_LIMIT: usize = 12_000;

/// The entities [`escape`] writes; a cut never falls inside one.
const ENTITIES: [&str; 3] = ["&amp;", "&lt;", "&gt;"];

/// `&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`: text that Slack shows as
/// written, so `<!channel>` notifies nobody and `<https://x|click>` links
/// nowhere. Nothing else is touched (no HTML escaping of quotes).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A Slack link, `<url|label>`, with the label escaped and the characters
/// that would end the URL (`<`, `>`, `|`, a space) percent-encoded: the
/// form for links Alvares builds itself. A URL's `&` is sent as it is
/// (Slack takes it so, and a link's query needs it).
pub fn link(url: &str, label: Option<&str>) -> String {
    match label {
        Some(label) => link_with_markup(url, &escape(label)),
        None => format!("<{}>", link_url(url)),
    }
}

/// [`link`] with a label that is already markup (escaped text, `*bold*`).
pub fn link_with_markup(url: &str, label: &str) -> String {
    format!("<{}|{label}>", link_url(url))
}

fn link_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '|' => out.push_str("%7C"),
            ' ' => out.push_str("%20"),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to at most `limit` characters, ending with
/// [`TRUNCATION_MARKER`] when it was cut. The cut never splits a
/// character, an entity (`&amp;`) or a `<…>` link or mention.
pub fn truncated(text: &str, limit: usize) -> Cow<'_, str> {
    // Fewer bytes than the limit is fewer characters too.
    if text.len() <= limit || text.chars().count() <= limit {
        return Cow::Borrowed(text);
    }
    let keep = limit.saturating_sub(TRUNCATION_MARKER.chars().count());
    let mut cut = text
        .char_indices()
        .nth(keep)
        .map_or(text.len(), |(at, _)| at);
    // Inside an entity: cut before its `&`.
    if let Some(at) = text[..cut].rfind('&')
        && let Some(entity) = ENTITIES.iter().find(|e| text[at..].starts_with(**e))
        && at + entity.len() > cut
    {
        cut = at;
    }
    // Inside `<…>` (Alvares's own links; event text has no `<` left):
    // cut before it rather than leave half a link.
    if let Some(open) = text[..cut].rfind('<')
        && text[open..cut].find('>').is_none()
    {
        cut = open;
    }
    Cow::Owned(format!("{}{TRUNCATION_MARKER}", &text[..cut]))
}

/// Keeps a message's fields within Slack's documented limits: its `text`
/// and every text of its attachments at [`MESSAGE_TEXT_LIMIT`], Block Kit
/// texts at their block's limit. Whatever is longer is cut with the
/// marker; nothing is dropped.
pub fn within_limits(fields: &mut Map<String, Value>) {
    if let Some(text) = fields.get_mut("text") {
        limit_string(text, MESSAGE_TEXT_LIMIT);
    }
    if let Some(Value::Array(attachments)) = fields.get_mut("attachments") {
        for attachment in attachments {
            limit_every_string(attachment, MESSAGE_TEXT_LIMIT);
        }
    }
    if let Some(Value::Array(blocks)) = fields.get_mut("blocks") {
        for block in blocks {
            limit_block(block);
        }
    }
}

fn limit_block(block: &mut Value) {
    let Value::Object(block) = block else {
        return;
    };
    let limit = match block.get("type").and_then(Value::as_str) {
        Some("header") => HEADER_TEXT_LIMIT,
        Some("markdown") => MARKDOWN_TEXT_LIMIT,
        _ => SECTION_TEXT_LIMIT,
    };
    match block.get_mut("text") {
        // A markdown block's text is a string; other blocks' a text object.
        Some(text @ Value::String(_)) => limit_string(text, limit),
        Some(Value::Object(object)) => {
            if let Some(text) = object.get_mut("text") {
                limit_string(text, limit);
            }
        }
        _ => {}
    }
    for list in ["fields", "elements"] {
        if let Some(Value::Array(items)) = block.get_mut(list) {
            for item in items {
                if let Some(text) = item.get_mut("text")
                    && text.is_string()
                {
                    limit_string(text, SECTION_FIELD_LIMIT);
                }
            }
        }
    }
}

fn limit_every_string(value: &mut Value, limit: usize) {
    match value {
        Value::String(_) => limit_string(value, limit),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| limit_every_string(item, limit)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|item| limit_every_string(item, limit)),
        _ => {}
    }
}

fn limit_string(value: &mut Value, limit: usize) {
    if let Value::String(text) = value
        && let Cow::Owned(cut) = truncated(text, limit)
    {
        *text = cut;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_three_control_characters_are_escaped() {
        assert_eq!(
            escape("<!channel> build failed"),
            "&lt;!channel&gt; build failed"
        );
        assert_eq!(
            escape("<https://evil.example|click>"),
            "&lt;https://evil.example|click&gt;"
        );
        assert_eq!(
            escape("List<String> & \"it's\" *b*"),
            "List&lt;String&gt; &amp; \"it's\" *b*"
        );
        assert!(matches!(escape("plain: \"x\" 'y'"), Cow::Borrowed(_)));
    }

    #[test]
    fn links_escape_their_parts() {
        assert_eq!(
            link("https://x.test/a?b=1&c=2|d <e>", Some("<!here> & co")),
            "<https://x.test/a?b=1&c=2%7Cd%20%3Ce%3E|&lt;!here&gt; &amp; co>"
        );
        assert_eq!(link("https://x.test/", None), "<https://x.test/>");
    }

    #[test]
    fn a_long_text_is_cut_to_the_limit_with_the_marker() {
        assert_eq!(truncated("short", 20), "short");
        let long = "x".repeat(50);
        let cut = truncated(&long, 20);
        assert_eq!(cut, format!("{}{TRUNCATION_MARKER}", "x".repeat(7)));
        assert_eq!(cut.chars().count(), 20);
        // Multibyte characters are counted and never split.
        let long = "é".repeat(50);
        let cut = truncated(&long, 20);
        assert_eq!(cut, format!("{}{TRUNCATION_MARKER}", "é".repeat(7)));
    }

    #[test]
    fn a_cut_never_splits_an_entity_or_a_link() {
        // The 8th character is inside `&amp;`: the cut goes before it.
        let text = format!("abcdef{}{}", "&amp;", "y".repeat(40));
        assert_eq!(truncated(&text, 20), format!("abcdef{TRUNCATION_MARKER}"));
        // An entity that ends right at the cut is kept.
        let text = format!("ab{}{}", "&lt;", "y".repeat(40));
        assert_eq!(truncated(&text, 19), format!("ab&lt;{TRUNCATION_MARKER}"));
        let text = format!("a <https://x.test|x> {}", "y".repeat(40));
        assert_eq!(truncated(&text, 20), format!("a {TRUNCATION_MARKER}"));
    }

    #[test]
    fn every_text_of_a_message_is_kept_within_its_limit() {
        let long = "z".repeat(50_000);
        let mut fields = json!({
            "text": long,
            "username": "Alvares",
            "attachments": [{"title": long, "fields": [{"value": long}], "color": "#aec90c"}],
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": long}},
                {"type": "section", "text": {"type": "mrkdwn", "text": long},
                 "fields": [{"type": "mrkdwn", "text": long}]},
                {"type": "markdown", "text": long},
                {"type": "divider"}
            ]
        })
        .as_object()
        .unwrap()
        .clone();
        within_limits(&mut fields);
        let cut = |limit: usize| {
            format!(
                "{}{TRUNCATION_MARKER}",
                "z".repeat(limit - TRUNCATION_MARKER.chars().count())
            )
        };
        assert_eq!(fields["text"], cut(MESSAGE_TEXT_LIMIT));
        assert_eq!(fields["username"], "Alvares");
        assert_eq!(fields["attachments"][0]["title"], cut(MESSAGE_TEXT_LIMIT));
        assert_eq!(
            fields["attachments"][0]["fields"][0]["value"],
            cut(MESSAGE_TEXT_LIMIT)
        );
        assert_eq!(fields["attachments"][0]["color"], "#aec90c");
        assert_eq!(fields["blocks"][0]["text"]["text"], cut(HEADER_TEXT_LIMIT));
        assert_eq!(fields["blocks"][1]["text"]["text"], cut(SECTION_TEXT_LIMIT));
        assert_eq!(
            fields["blocks"][1]["fields"][0]["text"],
            cut(SECTION_FIELD_LIMIT)
        );
        assert_eq!(fields["blocks"][2]["text"], cut(MARKDOWN_TEXT_LIMIT));
        assert_eq!(fields["blocks"][3], json!({"type": "divider"}));
    }
}
