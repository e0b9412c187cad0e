//! What a secret looks like, so that none gets into the operator file
//! unnoticed: known token prefixes, chat webhook URLs, URLs carrying
//! credentials, and headers that carry them. What is found is named by its
//! place in the file and what it looks like, never by its value.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// Token prefixes and what they are. A prefix counts at the start of a
/// word and followed by at least [`LEAST_TOKEN_TAIL`] token characters.
const TOKEN_PREFIXES: &[(&str, &str)] = &[
    ("xoxb-", "a Slack bot token"),
    ("xoxp-", "a Slack user token"),
    ("xoxa-", "a Slack token"),
    ("xoxr-", "a Slack refresh token"),
    ("xoxs-", "a Slack token"),
    ("xoxe-", "a Slack token"),
    ("xoxe.", "a Slack token"),
    ("xapp-", "a Slack app token"),
    ("whsec_", "a webhook signing secret"),
    ("ghp_", "a GitHub token"),
    ("gho_", "a GitHub token"),
    ("ghu_", "a GitHub token"),
    ("ghs_", "a GitHub token"),
    ("ghr_", "a GitHub token"),
    ("github_pat_", "a GitHub token"),
    ("glpat-", "a GitLab token"),
    ("npm_", "an npm token"),
    ("sk_live_", "a Stripe key"),
    ("rk_live_", "a Stripe key"),
    ("AKIA", "an AWS access key"),
];
const LEAST_TOKEN_TAIL: usize = 8;

/// Hosts whose URLs are themselves the credential.
const WEBHOOK_HOSTS: &[(&str, &str)] = &[
    ("hooks.slack.com/", "a Slack webhook URL"),
    ("hooks.slack-gov.com/", "a Slack webhook URL"),
    ("discord.com/api/webhooks/", "a Discord webhook URL"),
    ("discordapp.com/api/webhooks/", "a Discord webhook URL"),
    (".webhook.office.com/", "a Microsoft Teams webhook URL"),
];

/// Query parameters that carry a credential in a URL.
const SECRET_PARAMETERS: &[&str] = &[
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "password",
    "sig",
    "signature",
];

fn token_character(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// What `value` looks like when it looks like a secret.
pub fn looks_like_secret(value: &str) -> Option<&'static str> {
    for (host, what) in WEBHOOK_HOSTS {
        if value.contains(host) {
            return Some(what);
        }
    }
    for (prefix, what) in TOKEN_PREFIXES {
        for (at, _) in value.match_indices(prefix) {
            let starts_word = value[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !token_character(c));
            let tail = value[at + prefix.len()..]
                .chars()
                .take_while(|c| token_character(*c))
                .count();
            if starts_word && tail >= LEAST_TOKEN_TAIL {
                return Some(what);
            }
        }
    }
    if value.contains("-----BEGIN") && value.contains("PRIVATE KEY") {
        return Some("a private key");
    }
    if looks_like_jwt(value) {
        return Some("a JSON web token");
    }
    if let Ok(url) = url::Url::parse(value.trim())
        && matches!(url.scheme(), "http" | "https")
    {
        if url.password().is_some() {
            return Some("a URL with a password");
        }
        if url
            .query_pairs()
            .any(|(name, _)| SECRET_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()))
        {
            return Some("a URL with a credential in its query");
        }
    }
    None
}

/// `eyJ…` (base64 of `{"`) header and payload, dot-separated.
fn looks_like_jwt(value: &str) -> bool {
    let base64url = |part: &str| {
        part.len() >= 8
            && part.starts_with("eyJ")
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    value.split(|c: char| !token_character(c)).any(|word| {
        let mut parts = word.split('.');
        matches!((parts.next(), parts.next()), (Some(header), Some(payload))
            if base64url(header) && base64url(payload))
    })
}

/// Whether a header's value is a credential by the header's name.
pub fn is_secret_header(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    ["authorization", "proxy-authorization", "cookie", "x-auth"].contains(&name.as_str())
        || ["api-key", "apikey", "-token", "-secret", "-password"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
}

/// A secret found in the file: where (a byte offset) and what, in words
/// that never quote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub at: usize,
    pub message: String,
}

/// The first secret (by position) anywhere in a parsed file: any string
/// value or key that looks like one, and `headers` of a webhook that carry
/// one by their name.
pub fn find_secret(root: &DeTable<'_>) -> Option<Found> {
    let mut first = None;
    walk_table(root, &mut Vec::new(), &mut first);
    first
}

fn record(first: &mut Option<Found>, span: Range<usize>, message: impl FnOnce() -> String) {
    if first.as_ref().is_none_or(|found| span.start < found.at) {
        *first = Some(Found {
            at: span.start,
            message: message(),
        });
    }
}

fn walk_table(table: &DeTable<'_>, path: &mut Vec<String>, first: &mut Option<Found>) {
    let in_headers = path.len() == 3 && path[0] == "webhooks" && path[2] == "headers";
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        if in_headers && is_secret_header(key.get_ref()) {
            record(first, key.span(), || {
                format!(
                    "{} is a secret header: give it in headers_env (the variable that \
                     holds its value), not in the file",
                    describe(path)
                )
            });
        } else if let Some(what) = looks_like_secret(key.get_ref()) {
            record(first, key.span(), || {
                format!(
                    "the key {} looks like {what}: keep it out of the file",
                    describe(path)
                )
            });
        }
        walk_value(value.get_ref(), value.span(), path, first);
        path.pop();
    }
}

fn walk_value(
    value: &DeValue<'_>,
    span: Range<usize>,
    path: &mut Vec<String>,
    first: &mut Option<Found>,
) {
    match value {
        DeValue::String(text) => {
            if let Some(what) = looks_like_secret(text) {
                record(first, span, || {
                    format!("{} looks like {what}: {}", describe(path), advice(path))
                });
            }
        }
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(format!("[{index}]"));
                walk_value(item.get_ref(), item.span(), path, first);
                path.pop();
            }
        }
        DeValue::Table(table) => walk_table(table, path, first),
        _ => {}
    }
}

/// `webhooks[0].headers.X-Team`: where a value sits.
fn describe(path: &[String]) -> String {
    let mut text = String::new();
    for part in path {
        if part.starts_with('[') {
            text.push_str(part);
            continue;
        }
        if !text.is_empty() {
            text.push('.');
        }
        if !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            text.push_str(part);
        } else {
            text.push_str(&format!("{part:?}"));
        }
    }
    text
}

/// Where the secret belongs instead.
fn advice(path: &[String]) -> &'static str {
    let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
    match (path.last().map(String::as_str), parent) {
        (Some("url"), _) => "give it by url_env (the variable that holds it), not in the file",
        (_, Some("headers")) => {
            "give it in headers_env (the variable that holds it), not in the file"
        }
        _ => "keep it in the environment, not in the file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_recognised_and_ordinary_text_is_not() {
        let cases = [
            (
                "https://hooks.slack.com/services/T0/B0/abc",
                Some("a Slack webhook URL"),
            ),
            ("xoxb-1234-5678-abcdefgh", Some("a Slack bot token")),
            ("Bearer xoxp-12345678", Some("a Slack user token")),
            ("xapp-1-A0-123-abcdef", Some("a Slack app token")),
            (
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                Some("a webhook signing secret"),
            ),
            ("ghp_0123456789abcdefghij", Some("a GitHub token")),
            ("github_pat_11ABCDEFG0123", Some("a GitHub token")),
            ("AKIAIOSFODNN7EXAMPLE", Some("an AWS access key")),
            (
                "https://user:pw@example.com/hook",
                Some("a URL with a password"),
            ),
            (
                "https://chat.example/hook?key=abc&token=x",
                Some("a URL with a credential in its query"),
            ),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig",
                Some("a JSON web token"),
            ),
            ("#deployments", None),
            ("https://hooks.example/a", None),
            ("https://graycloud.ite.kth.se/search?q=source", None),
            ("xoxb-1", None),
            ("the inbox-xoxb-12345678", None),
            ("{{ event.message | tojson }}", None),
        ];
        for (text, expected) in cases {
            assert_eq!(looks_like_secret(text), expected, "{text}");
        }
    }

    #[test]
    fn credential_headers_are_recognised_by_name() {
        for name in [
            "Authorization",
            "proxy-authorization",
            "Cookie",
            "X-Api-Key",
            "Api-Key",
            "X-Gitlab-Token",
            "X-Client-Secret",
        ] {
            assert!(is_secret_header(name), "{name}");
        }
        for name in ["X-Team", "Content-Type", "X-Source", "Accept"] {
            assert!(!is_secret_header(name), "{name}");
        }
    }

    #[test]
    fn the_first_secret_is_named_by_its_place_never_its_value() {
        let text = "[[webhooks]]\nname = \"a\"\nurl = \"https://hooks.slack.com/services/T/B/xyz\"\n\
                    headers = { X-Api-Key = \"k\" }\n";
        let root = DeTable::parse(text).unwrap();
        let found = find_secret(root.get_ref()).unwrap();
        assert_eq!(&text[found.at..found.at + 8], "\"https:/");
        assert_eq!(
            found.message,
            "webhooks[0].url looks like a Slack webhook URL: give it by url_env (the variable \
             that holds it), not in the file"
        );
        assert!(!found.message.contains("xyz"));
    }
}
