//! What an email destination sends: one message per event, a plain-text
//! and an HTML part (`multipart/alternative`), built without I/O.
//!
//! Each kind has two templates, replaceable in `[templates]`:
//! `email-text-<kind>` renders the plain-text part, whose first line is
//! the subject (the rest, after it, is the body), and `email-html-<kind>`
//! renders the HTML part. Event text is data in both: the HTML templates
//! escape every value from an event (`&<>"'`), the plain-text ones write
//! it as it is (plain text has no markup). A stack trace is cut at 50,000
//! characters and a message at 10,000, with a visible marker.
//!
//! Every message carries `Auto-Submitted: auto-generated` (RFC 3834: no
//! out-of-office reply comes back) and a `Message-ID` made of the event
//! and the destination, so a message sent again after a lost answer is
//! recognisably the same one.

use std::borrow::Cow;

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Mailboxes, MultiPart, SinglePart};
use serde_json::{Value, json};

use crate::config::file::MailAddressing;
use crate::domain::EventKind;
use crate::domain::text::cut;

/// The deployment's text part; it sees `logs_url` and `change`.
pub const TEXT_DEPLOYMENT: &str = r#"{{ event.applicationName }}{% if event.version is defined and event.version %} {{ event.version }}{% endif %} deployed in {{ event.cluster }}

Application: {{ event.applicationName }}
{%- if event.version is defined and event.version %}
Version:     {{ event.version }}
{%- endif %}
Cluster:     {{ event.cluster }}
{%- if event.team is defined and event.team %}
Team:        {{ event.team }}
{%- endif %}
{%- if change is defined and change %}

{{ change.text }}
{%- endif %}

Search logs: {{ logs_url }}
"#;

/// The deployment's HTML part.
pub const HTML_DEPLOYMENT: &str = r#"<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2>{{ event.applicationName }} deployed in {{ event.cluster }}</h2>
<table>
<tr><th align="left">Application</th><td>{{ event.applicationName }}</td></tr>
{%- if event.version is defined and event.version %}
<tr><th align="left">Version</th><td>{{ event.version }}</td></tr>
{%- endif %}
<tr><th align="left">Cluster</th><td>{{ event.cluster }}</td></tr>
{%- if event.team is defined and event.team %}
<tr><th align="left">Team</th><td>{{ event.team }}</td></tr>
{%- endif %}
</table>
{%- if change is defined and change %}
<p>{{ change.text }}</p>
{%- endif %}
<p><a href="{{ logs_url }}">Search logs</a></p>
</body></html>
"#;

/// The error's text part: where it happened, the message, its trace.
pub const TEXT_ERROR: &str = r#"Error{% if event.applicationName is defined and event.applicationName %} in {{ event.applicationName }}{% endif %}{% if event.cluster is defined and event.cluster %} ({{ event.cluster }}){% endif %}

{{ event.message if event.message | length <= 10000 else event.message[:10000] ~ "… (truncated)" }}
{%- if event.stackTrace is defined and event.stackTrace %}

{{ event.stackTrace if event.stackTrace | length <= 50000 else event.stackTrace[:50000] ~ "… (truncated)" }}
{%- endif %}
"#;

/// The error's HTML part.
pub const HTML_ERROR: &str = r#"<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2>Error{% if event.applicationName is defined and event.applicationName %} in {{ event.applicationName }}{% endif %}{% if event.cluster is defined and event.cluster %} ({{ event.cluster }}){% endif %}</h2>
<p style="white-space: pre-wrap">{{ event.message if event.message | length <= 10000 else event.message[:10000] ~ "… (truncated)" }}</p>
{%- if event.stackTrace is defined and event.stackTrace %}
<pre>{{ event.stackTrace if event.stackTrace | length <= 50000 else event.stackTrace[:50000] ~ "… (truncated)" }}</pre>
{%- endif %}
</body></html>
"#;

/// The recommendation's text part.
pub const TEXT_RECOMMENDATION: &str = r#"Recommendation{% if event.applicationName is defined and event.applicationName %} for {{ event.applicationName }}{% endif %}

{{ event.message if event.message | length <= 10000 else event.message[:10000] ~ "… (truncated)" }}
"#;

/// The recommendation's HTML part.
pub const HTML_RECOMMENDATION: &str = r#"<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2>Recommendation{% if event.applicationName is defined and event.applicationName %} for {{ event.applicationName }}{% endif %}</h2>
<p style="white-space: pre-wrap">{{ event.message if event.message | length <= 10000 else event.message[:10000] ~ "… (truncated)" }}</p>
</body></html>
"#;

/// Plain text has no markup: event text goes in as it is.
fn as_it_is(text: &str) -> Cow<'_, str> {
    Cow::Borrowed(text)
}

/// Event text as HTML shows it written.
pub fn html_escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

inventory::submit! {
    crate::templates::TemplateMarkup { prefix: "email-text-", escape: as_it_is, renders_json: false }
}
inventory::submit! {
    crate::templates::TemplateMarkup { prefix: "email-html-", escape: html_escape, renders_json: false }
}

macro_rules! built_in {
    ($name:literal, $kind:expr, $source:expr, $values:expr) => {
        inventory::submit! {
            crate::templates::BuiltInTemplate {
                name: $name,
                kind: $kind,
                source: $source,
                sample_values: $values,
            }
        }
    };
}
built_in!(
    "email-text-deployment",
    EventKind::Deployment,
    TEXT_DEPLOYMENT,
    crate::templates::deployment_message_sample_values
);
built_in!(
    "email-html-deployment",
    EventKind::Deployment,
    HTML_DEPLOYMENT,
    crate::templates::deployment_message_sample_values
);
built_in!(
    "email-text-error",
    EventKind::Error,
    TEXT_ERROR,
    crate::templates::no_sample_values
);
built_in!(
    "email-html-error",
    EventKind::Error,
    HTML_ERROR,
    crate::templates::no_sample_values
);
built_in!(
    "email-text-recommendation",
    EventKind::Recommendation,
    TEXT_RECOMMENDATION,
    crate::templates::no_sample_values
);
built_in!(
    "email-html-recommendation",
    EventKind::Recommendation,
    HTML_RECOMMENDATION,
    crate::templates::no_sample_values
);

/// A subject longer than this is cut (RFC 5322 advises lines under 78
/// characters; clients show about this much).
pub const SUBJECT_LIMIT: usize = 200;

/// One message, rendered and addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `<event>.<destination>@<the sender's domain>`, without brackets.
    pub message_id: String,
    pub event: String,
    pub kind: &'static str,
}

impl Mail {
    /// The message of `text` (subject, a blank line, body) and `html`,
    /// from `addressing` to `to`, about `event` of `kind`, sent by
    /// destination `destination`.
    pub fn new(
        addressing: &MailAddressing,
        to: Vec<String>,
        (text, html): (&str, String),
        (event, kind, destination): (String, &'static str, &str),
    ) -> Self {
        let (subject, body) = text.split_once('\n').unwrap_or((text, ""));
        let subject = cut(subject.trim(), SUBJECT_LIMIT);
        let domain = addressing
            .from
            .parse::<Mailbox>()
            .map(|mailbox| mailbox.email.domain().to_owned())
            .unwrap_or_else(|_| "alvares.invalid".to_owned());
        Mail {
            from: addressing.from.clone(),
            to,
            subject,
            // A text part ends its last line.
            text: format!("{}\n", body.trim_start_matches('\n').trim_end_matches('\n')),
            html,
            message_id: format!("{event}.{destination}@{domain}"),
            event,
            kind,
        }
    }

    /// The MIME message. Its addresses were checked when the file was
    /// read; one that fails now is the error.
    pub fn message(&self) -> Result<Message, String> {
        let from: Mailbox = self
            .from
            .parse()
            .map_err(|error| format!("from: {error}"))?;
        let to: Mailboxes = self
            .to
            .join(", ")
            .parse()
            .map_err(|error| format!("to: {error}"))?;
        let mut builder = Message::builder()
            .from(from)
            .subject(self.subject.clone())
            .message_id(Some(format!("<{}>", self.message_id)));
        for mailbox in to {
            builder = builder.to(mailbox);
        }
        for (name, value) in [
            ("Auto-Submitted", "auto-generated".to_owned()),
            ("X-Alvares-Event", self.event.clone()),
            ("X-Alvares-Kind", self.kind.to_owned()),
        ] {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(name),
                value,
            ));
        }
        builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(self.text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(self.html.clone()),
                    ),
            )
            .map_err(|error| error.to_string())
    }

    /// As `alvares render` shows it.
    pub fn preview(&self) -> Value {
        json!({
            "from": self.from,
            "to": self.to,
            "subject": self.subject,
            "messageId": self.message_id,
            "text": self.text,
            "html": self.html,
        })
    }
}

/// Who gets an event of team `team`: everyone in `to`, and the team's own
/// recipients, each once, in order.
pub fn recipients(addressing: &MailAddressing, team: Option<&str>) -> Vec<String> {
    let team = team
        .and_then(|team| addressing.teams.get(team))
        .map(String::as_str)
        .unwrap_or_default();
    let mut all: Vec<String> = Vec::new();
    for address in addressing
        .to
        .iter()
        .flat_map(|to| to.split(','))
        .chain(team.split(','))
        .map(str::trim)
        .filter(|address| !address.is_empty())
    {
        if !all.iter().any(|known| known.eq_ignore_ascii_case(address)) {
            all.push(address.to_owned());
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::Templates;

    fn addressing() -> MailAddressing {
        MailAddressing {
            from: "Alvares <alvares@example.org>".into(),
            to: vec!["ops@example.org".into()],
            teams: [(
                "team-x".to_owned(),
                "x@example.org, OPS@example.org".to_owned(),
            )]
            .into(),
        }
    }

    #[test]
    fn a_team_adds_its_own_recipients_once() {
        assert_eq!(
            recipients(&addressing(), Some("team-x")),
            ["ops@example.org", "x@example.org"]
        );
        assert_eq!(
            recipients(&addressing(), Some("team-y")),
            ["ops@example.org"]
        );
        let only_teams = MailAddressing {
            to: Vec::new(),
            ..addressing()
        };
        assert_eq!(recipients(&only_teams, None), Vec::<String>::new());
    }

    #[test]
    fn the_deployment_parts_carry_its_facts_change_and_log_link() {
        let values = json!({
            "event": {"applicationName": "kth-azure-app", "cluster": "active",
                      "version": "2.0.11_abc123", "team": "team-pipeline"},
            "logs_url": "https://graylog.example/search?q=a&b",
            "change": {"text": "upgraded from 2.0.10 after 3 days"},
        });
        let templates = Templates::default();
        let text = templates.render("email-text-deployment", &values).unwrap();
        assert_eq!(
            text,
            "kth-azure-app 2.0.11_abc123 deployed in active\n\n\
             Application: kth-azure-app\n\
             Version:     2.0.11_abc123\n\
             Cluster:     active\n\
             Team:        team-pipeline\n\n\
             upgraded from 2.0.10 after 3 days\n\n\
             Search logs: https://graylog.example/search?q=a&b"
        );
        let html = templates.render("email-html-deployment", &values).unwrap();
        assert!(
            html.contains("<tr><th align=\"left\">Version</th><td>2.0.11_abc123</td></tr>"),
            "{html}"
        );
        assert!(
            html.contains("<p>upgraded from 2.0.10 after 3 days</p>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://graylog.example/search?q=a&amp;b\">Search logs</a>"),
            "{html}"
        );
    }

    #[test]
    fn event_text_is_data_in_html_and_as_it_is_in_text() {
        let values = json!({"event": {
            "message": "<b>bold</b> & \"quoted\" <script>alert(1)</script>",
            "applicationName": "app", "cluster": "active",
            "stackTrace": "at List<String>.get"}});
        let templates = Templates::default();
        let html = templates.render("email-html-error", &values).unwrap();
        assert!(html.contains(
            "<p style=\"white-space: pre-wrap\">&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; \
             &lt;script&gt;alert(1)&lt;/script&gt;</p>"
        ), "{html}");
        assert!(
            html.contains("<pre>at List&lt;String&gt;.get</pre>"),
            "{html}"
        );
        let text = templates.render("email-text-error", &values).unwrap();
        assert_eq!(
            text,
            "Error in app (active)\n\n<b>bold</b> & \"quoted\" <script>alert(1)</script>\n\n\
             at List<String>.get"
        );
    }

    #[test]
    fn the_first_line_is_the_subject_and_the_id_names_event_and_destination() {
        let mail = Mail::new(
            &addressing(),
            vec!["ops@example.org".into()],
            ("Error in app\n\nit broke\n", "<p>it broke</p>".into()),
            ("0192f5c4".into(), "error", "email-ops"),
        );
        assert_eq!(mail.subject, "Error in app");
        assert_eq!(mail.text, "it broke\n");
        let bare = Mail::new(
            &addressing(),
            vec![],
            ("S\n\nno newline", String::new()),
            ("e".into(), "error", "d"),
        );
        assert_eq!(bare.text, "no newline\n");
        assert_eq!(mail.message_id, "0192f5c4.email-ops@example.org");
        let long = format!("{}\n", "s".repeat(500));
        let cut = Mail::new(
            &addressing(),
            vec![],
            (&long, String::new()),
            ("e".into(), "error", "d"),
        );
        assert_eq!(cut.subject.chars().count(), SUBJECT_LIMIT);
        assert!(cut.subject.ends_with('…'));
    }

    #[test]
    fn the_message_has_both_parts_and_its_headers() {
        let mail = Mail::new(
            &addressing(),
            vec!["ops@example.org".into(), "x@example.org".into()],
            ("Subject here\n\nplain body\n", "<p>html body</p>".into()),
            ("0192f5c4".into(), "deployment", "email-ops"),
        );
        let formatted = String::from_utf8(mail.message().unwrap().formatted()).unwrap();
        for expected in [
            "From: Alvares <alvares@example.org>\r\n",
            "To: ops@example.org, x@example.org\r\n",
            "Subject: Subject here\r\n",
            "Message-ID: <0192f5c4.email-ops@example.org>\r\n",
            "Auto-Submitted: auto-generated\r\n",
            "X-Alvares-Event: 0192f5c4\r\n",
            "X-Alvares-Kind: deployment\r\n",
            "Content-Type: multipart/alternative;",
            "Content-Type: text/plain; charset=utf-8\r\n",
            "Content-Type: text/html; charset=utf-8\r\n",
            "plain body",
            "<p>html body</p>",
        ] {
            assert!(formatted.contains(expected), "{expected:?} in {formatted}");
        }
    }
}
