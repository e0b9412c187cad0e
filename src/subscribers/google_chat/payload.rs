//! What a Google Chat destination posts: a message holding one card
//! (`cardsV2`; Google's documentation, "Cards v2" and "Format text in
//! Google Chat apps": a card's texts take a small HTML subset). Event
//! text is HTML-escaped; a message is kept well within Chat's 32,000
//! bytes (a trace cut at 12,000 characters, a message at 2,000).

use std::borrow::Cow;

use crate::domain::EventKind;

/// The deployment card; it sees `logs_url` and `change` besides the event.
pub const DEPLOYMENT: &str = r##"{
  "cardsV2": [{
    "cardId": {{ ("deployment-" ~ id) | safe | tojson }},
    "card": {
      "header": {
        "title": {{ (event.applicationName ~ " deployed in " ~ event.cluster) | tojson }},
        "subtitle": {{ (event.version | default("")) | tojson }}
      },
      "sections": [{
        "widgets": [
          {"decoratedText": {"topLabel": "Cluster", "text": {{ event.cluster | tojson }}}}
          {%- if event.team is defined and event.team %},
          {"decoratedText": {"topLabel": "Team", "text": {{ event.team | tojson }}}}
          {%- endif %}
          {%- if change is defined and change %},
          {"textParagraph": {"text": {{ change.text | tojson }}}}
          {%- endif %},
          {"buttonList": {"buttons": [
            {"text": "Search logs", "onClick": {"openLink": {"url": {{ logs_url | safe | tojson }}}}}
          ]}}
        ]
      }]
    }
  }]
}"##;

/// The error card: the message, where it happened, and its trace.
pub const ERROR: &str = r##"{
  "cardsV2": [{
    "cardId": {{ ("error-" ~ id) | safe | tojson }},
    "card": {
      "header": {
        "title": {{ (event.message if event.message | length <= 2000 else event.message[:2000] ~ "… (truncated)") | tojson }}
        {%- if event.applicationName is defined and event.applicationName %},
        "subtitle": {{ (event.applicationName ~ ((" in " ~ event.cluster) if event.cluster is defined and event.cluster else "")) | tojson }}
        {%- endif %}
      }
      {%- if event.stackTrace is defined and event.stackTrace %},
      "sections": [{
        "widgets": [
          {"textParagraph": {"text": {{ (event.stackTrace if event.stackTrace | length <= 12000 else event.stackTrace[:12000] ~ "… (truncated)") | tojson }}}}
        ]
      }]
      {%- endif %}
    }
  }]
}"##;

/// The recommendation card.
pub const RECOMMENDATION: &str = r##"{
  "cardsV2": [{
    "cardId": {{ ("recommendation-" ~ id) | safe | tojson }},
    "card": {
      "header": {"title": "Recommendation"},
      "sections": [{
        "widgets": [
          {"textParagraph": {"text": {{ (event.message if event.message | length <= 2000 else event.message[:2000] ~ "… (truncated)") | tojson }}}}
        ]
      }]
    }
  }]
}"##;

inventory::submit! {
    crate::templates::TemplateMarkup { prefix: "google-chat-", escape, renders_json: true }
}
inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "google-chat-deployment",
        kind: EventKind::Deployment,
        source: DEPLOYMENT,
        sample_values: crate::templates::deployment_message_sample_values,
    }
}
inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "google-chat-error",
        kind: EventKind::Error,
        source: ERROR,
        sample_values: crate::templates::no_sample_values,
    }
}
inventory::submit! {
    crate::templates::BuiltInTemplate {
        name: "google-chat-recommendation",
        kind: EventKind::Recommendation,
        source: RECOMMENDATION,
        sample_values: crate::templates::no_sample_values,
    }
}

/// Event text as a card shows it written: `&`, `<` and `>` as entities, so
/// `<a href=…>` and `<b>` in an event are text.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>']) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::Templates;
    use serde_json::Value;
    use serde_json::json;

    #[test]
    fn html_in_event_text_is_shown_as_written() {
        assert_eq!(
            escape("<a href=\"https://evil.example\">click</a> & <b>now</b>"),
            "&lt;a href=\"https://evil.example\"&gt;click&lt;/a&gt; &amp; &lt;b&gt;now&lt;/b&gt;"
        );
        assert_eq!(escape("*plain* text"), "*plain* text");
    }

    #[test]
    fn an_error_card_names_its_application_and_cluster_and_holds_its_trace() {
        let values = json!({
            "id": "e1",
            "event": {"message": "<b>failed</b>", "applicationName": "app", "cluster": "stage",
                      "stackTrace": "List<String>"},
        });
        let rendered = Templates::default()
            .render_json("google-chat-error", &values)
            .unwrap();
        assert_eq!(
            Value::Object(rendered),
            json!({"cardsV2": [{"cardId": "error-e1", "card": {
                "header": {"title": "&lt;b&gt;failed&lt;/b&gt;", "subtitle": "app in stage"},
                "sections": [{"widgets": [{"textParagraph": {"text": "List&lt;String&gt;"}}]}]
            }}]})
        );
    }
}
