//! What an email destination reads: its `[[destinations]]` entry (`type =
//! "email"`, `url_env` naming the variable that holds the mail server's
//! URL with its login, `from`, `to`, `teams`, kinds, when, pace), declared
//! here as a type the operator file knows, with the checks of its URL and
//! addresses.
//!
//! The server's URL:
//! - `smtp://user:password@host[:587]`: STARTTLS, required (a server that
//!   does not offer it is refused before the login is sent);
//! - `smtps://user:password@host[:465]`: TLS from the first byte;
//! - `smtp://host[:25]?tls=none`: no TLS, for a relay beside the service.
//!   A login over it is refused unless the host is a loopback address, so
//!   a password never crosses a network in the clear.
//!
//! The user and password are percent-decoded (`%40` for `@`).

use std::net::IpAddr;

use lettre::message::Mailbox;
use percent_encoding::percent_decode_str;

use super::{EMAIL_RATE_LIMIT, Email};
use crate::subscribers::Subscriber;

inventory::submit! {
    crate::config::file::DestinationType {
        name: Email::ID,
        default_rate_limit: EMAIL_RATE_LIMIT,
        credential: crate::config::file::Credential::MailServer {
            check_url: check_server,
            check_address,
        },
    }
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTls {
    /// STARTTLS after the greeting, required.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Implicit,
    /// None (`?tls=none`).
    Plain,
}

/// A mail server, read from its URL.
#[derive(Clone, PartialEq, Eq)]
pub struct MailServer {
    pub host: String,
    pub port: u16,
    pub tls: MailTls,
    /// User and password.
    pub login: Option<(String, String)>,
}

/// Never the password.
impl std::fmt::Debug for MailServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.login.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl MailServer {
    /// The server `text` names. An error names the host at most: the URL
    /// holds the password.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim())
            .map_err(|error| format!("is not a mail server URL ({error})"))?;
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or("names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let mut tls = match url.scheme() {
            "smtp" => MailTls::Starttls,
            "smtps" => MailTls::Implicit,
            _ => return Err("is not an smtp:// or smtps:// URL".into()),
        };
        for (name, value) in url.query_pairs() {
            match (name.as_ref(), value.as_ref(), tls) {
                ("tls", "starttls", MailTls::Starttls) => {}
                ("tls", "none", MailTls::Starttls) => tls = MailTls::Plain,
                ("tls", _, _) => {
                    return Err(format!(
                        "(host {host}): tls is starttls or none, and only for smtp://"
                    ));
                }
                (other, _, _) => {
                    return Err(format!("(host {host}): takes no parameter \"{other}\""));
                }
            }
        }
        if url.path() != "" && url.path() != "/" {
            return Err(format!("(host {host}): takes no path"));
        }
        let decoded = |text: &str| percent_decode_str(text).decode_utf8_lossy().into_owned();
        let login = match (url.username(), url.password()) {
            ("", None) => None,
            ("", Some(_)) => return Err(format!("(host {host}): a password needs a user")),
            (user, password) => Some((decoded(user), decoded(password.unwrap_or_default()))),
        };
        if login.is_some() && tls == MailTls::Plain && !is_loopback(&host) {
            return Err(format!(
                "would send its password unencrypted to {host}: use smtp:// (STARTTLS) or smtps://"
            ));
        }
        let port = url.port().unwrap_or(match tls {
            MailTls::Starttls => 587,
            MailTls::Implicit => 465,
            MailTls::Plain => 25,
        });
        Ok(MailServer {
            host,
            port,
            tls,
            login,
        })
    }

    /// `host:port`, as outcomes and errors name it.
    pub fn shown(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The operator file's check of the server's URL.
pub fn check_server(text: &str) -> Result<(), String> {
    MailServer::parse(text).map(drop)
}

/// The operator file's check of one address (`a@example.org` or
/// `Name <a@example.org>`).
pub fn check_address(text: &str) -> Result<(), String> {
    text.parse::<Mailbox>().map(drop).map_err(|error| {
        format!(
            "\"{}\" is not an email address ({error})",
            text.chars().take(120).collect::<String>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str, port: u16, tls: MailTls, login: Option<(&str, &str)>) -> MailServer {
        MailServer {
            host: host.into(),
            port,
            tls,
            login: login.map(|(u, p)| (u.into(), p.into())),
        }
    }

    #[test]
    fn each_scheme_has_its_protection_and_port() {
        assert_eq!(
            MailServer::parse("smtp://alvares:p%40ss@mail.example.org").unwrap(),
            server(
                "mail.example.org",
                587,
                MailTls::Starttls,
                Some(("alvares", "p@ss"))
            )
        );
        assert_eq!(
            MailServer::parse("smtps://a%2Bb@mail.example.org:2465").unwrap(),
            server(
                "mail.example.org",
                2465,
                MailTls::Implicit,
                Some(("a+b", ""))
            )
        );
        assert_eq!(
            MailServer::parse("smtp://relay.internal?tls=none").unwrap(),
            server("relay.internal", 25, MailTls::Plain, None)
        );
        assert_eq!(
            MailServer::parse("smtp://u:p@127.0.0.1:2525?tls=none").unwrap(),
            server("127.0.0.1", 2525, MailTls::Plain, Some(("u", "p")))
        );
    }

    #[test]
    fn what_is_refused_is_named_without_the_password() {
        for (url, expected) in [
            (
                "https://mail.example.org",
                "is not an smtp:// or smtps:// URL",
            ),
            (
                "smtp://u:hunter2@mail.example.org?tls=none",
                "would send its password unencrypted to mail.example.org: use smtp:// (STARTTLS) or smtps://",
            ),
            (
                "smtps://u:hunter2@mail.example.org?tls=none",
                "(host mail.example.org): tls is starttls or none, and only for smtp://",
            ),
            (
                "smtp://u:hunter2@mail.example.org?port=1",
                "(host mail.example.org): takes no parameter \"port\"",
            ),
            (
                "smtp://:hunter2@mail.example.org",
                "(host mail.example.org): a password needs a user",
            ),
            (
                "smtp://u:hunter2@mail.example.org/inbox",
                "(host mail.example.org): takes no path",
            ),
            (
                "not a url hunter2",
                "is not a mail server URL (relative URL without a base)",
            ),
        ] {
            let error = MailServer::parse(url).unwrap_err();
            assert_eq!(error, expected, "{url}");
            assert!(!error.contains("hunter2"));
        }
        let debug = format!("{:?}", MailServer::parse("smtp://u:hunter2@h").unwrap());
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn addresses_are_checked() {
        assert_eq!(check_address("ops@example.org"), Ok(()));
        assert_eq!(check_address("Ops <ops@example.org>"), Ok(()));
        assert!(
            check_address("ops")
                .unwrap_err()
                .starts_with("\"ops\" is not an email address")
        );
    }
}
