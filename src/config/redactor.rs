//! Takes the configured secrets out of any text that leaves the process:
//! an error a destination answered may quote what it was sent. Which
//! variables hold secrets, and how, is [`variables::secrecy`]'s to say.

use std::fmt;

use super::env::Env;
use super::variables::{self, SecretShape};
use crate::domain::text::split_list;

/// Shorter values cannot be told from ordinary text.
const SHORTEST_SECRET: usize = 6;

/// Every secret the configuration holds (tokens, keys, passwords, webhook
/// URLs).
#[derive(Clone, Default)]
pub struct Redactor(Vec<String>);

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.0.len())
    }
}

impl Redactor {
    /// The values of the variables that hold secrets.
    pub fn from_env(env: &Env) -> Self {
        Self::from_env_naming(env, &[])
    }

    /// As [`Self::from_env`], plus the variables the operator file names
    /// as holding secrets (a webhook's `url_env`, `secret_env` and
    /// `headers_env`): each is taken as a webhook URL would be.
    pub fn from_env_naming(env: &Env, also: &[String]) -> Self {
        let mut secrets = Vec::new();
        for (name, value) in env.vars() {
            let shape = if also.iter().any(|named| named == name) {
                Some(SecretShape::Webhook)
            } else {
                variables::secrecy(name)
            };
            if let Some(shape) = shape {
                secrets.extend(parts(shape, value));
            }
        }
        secrets.retain(|s| s.len() >= SHORTEST_SECRET);
        // Longest first, so a secret that contains another goes whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor(secrets)
    }

    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.0 {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "[redacted]");
            }
        }
        text
    }
}

/// A webhook URL's query values this long are secrets (a signature, a
/// token); shorter ones are versions and flags (`api-version=1`).
const QUERY_SECRET_LENGTH: usize = 16;

/// The texts of `value` that are secret, each of which an answer may quote
/// on its own.
fn parts(shape: SecretShape, value: &str) -> Vec<String> {
    match shape {
        SecretShape::Whole => vec![value.to_owned()],
        SecretShape::List => split_list(value),
        SecretShape::Webhook => {
            let mut parts = vec![value.to_owned()];
            // A header's value (`headers_env`) may be `<scheme> <credential>`
            // (`Bearer …`): an answer may quote the credential alone.
            if let Some((_, credential)) = value.trim().rsplit_once(' ') {
                parts.push(credential.to_owned());
            }
            // A webhook's secret is its path: an answer may quote it alone.
            if let Ok(url) = url::Url::parse(value)
                && url.path().len() > 1
            {
                parts.push(url.path().to_owned());
                if let Some(last) = url.path_segments().and_then(|mut s| s.next_back()) {
                    parts.push(last.to_owned());
                }
            }
            // Or a query value: a Teams Workflows URL is signed by its `sig`.
            if let Ok(url) = url::Url::parse(value) {
                parts.extend(
                    url.query_pairs()
                        .map(|(_, value)| value.into_owned())
                        .filter(|value| value.len() >= QUERY_SECRET_LENGTH),
                );
            }
            parts
        }
        SecretShape::Connection => {
            let Ok(url) = url::Url::parse(value) else {
                return Vec::new();
            };
            let mut parts = vec![value.to_owned()];
            if let Some(password) = url.password() {
                parts.push(password.to_owned());
                let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
                parts.push(decoded.into_owned());
            }
            parts
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_pairs(pairs: &[(&str, &str)]) -> Redactor {
        Redactor::from_env(&Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ))
    }

    #[test]
    fn a_database_urls_password_is_taken_out_whole_and_alone() {
        let redactor = from_pairs(&[(
            "DB_URL",
            "postgres://alvares:pw%2Fin-the-url@db.example/alvares",
        )]);
        assert_eq!(
            redactor.redact(
                "connecting to postgres://alvares:pw%2Fin-the-url@db.example/alvares: \
                 password pw%2Fin-the-url (pw/in-the-url) refused"
            ),
            "connecting to [redacted]: password [redacted] ([redacted]) refused"
        );
        // A file path holds no secret: it stays readable.
        let sqlite = from_pairs(&[("DB_URL", "/var/lib/alvares/alvares.db")]);
        assert_eq!(
            sqlite.redact("cannot open /var/lib/alvares/alvares.db"),
            "cannot open /var/lib/alvares/alvares.db"
        );
    }

    #[test]
    fn undeclared_variables_are_secret_by_their_names_ending() {
        let redactor = from_pairs(&[
            ("GITHUB_TOKEN", "gh-token-123456"),
            ("SOME_API_KEYS", "first-key-1,second-key-2"),
            ("BUILD_NUMBER", "12345678"),
        ]);
        assert_eq!(
            redactor.redact("gh-token-123456 second-key-2 12345678"),
            "[redacted] [redacted] 12345678"
        );
    }

    #[test]
    fn the_files_webhook_variables_are_taken_as_webhook_urls() {
        let env = Env::from_map(
            [(
                "OPS_HOOK".to_owned(),
                "https://hooks.example/in/ops-path-secret".to_owned(),
            )]
            .into(),
        );
        let redactor = Redactor::from_env_naming(&env, &["OPS_HOOK".to_owned()]);
        assert_eq!(
            redactor.redact("no route ops-path-secret"),
            "no route [redacted]"
        );
        assert_eq!(
            Redactor::from_env(&env).redact("ops-path-secret"),
            "ops-path-secret"
        );
    }

    #[test]
    fn a_webhook_urls_long_query_values_are_taken_out_alone() {
        let url = "https://prod.example/workflows/a1/triggers/manual/paths/invoke\
                   ?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbCdEfGhIjKlMnOpQrStUv";
        let parts = parts(SecretShape::Webhook, url);
        assert!(
            parts.contains(&"AbCdEfGhIjKlMnOpQrStUv".to_owned()),
            "{parts:?}"
        );
        assert!(
            parts.contains(&"/triggers/manual/run".to_owned()),
            "{parts:?}"
        );
        assert!(!parts.contains(&"1.0".to_owned()), "{parts:?}");
        assert!(!parts.contains(&"1".to_owned()), "{parts:?}");
    }

    #[test]
    fn a_header_credential_is_taken_out_without_its_scheme_too() {
        let env = Env::from_map(
            [(
                "OPS_AUTH".to_owned(),
                "Bearer ops-header-credential".to_owned(),
            )]
            .into(),
        );
        let redactor = Redactor::from_env_naming(&env, &["OPS_AUTH".to_owned()]);
        assert_eq!(
            redactor.redact("sent Bearer ops-header-credential; bad token ops-header-credential"),
            "sent [redacted]; bad token [redacted]"
        );
    }
}
