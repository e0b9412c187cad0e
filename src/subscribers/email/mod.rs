//! `email-<name>`: messages by email, over SMTP (lettre), with STARTTLS
//! or TLS and a login from the environment (see `config`). Each event is
//! one message with a plain-text and an HTML part, rendered from the
//! kind's templates (`payload`), to the entry's `to` and, for an event of
//! a team it names, that team's recipients.
//!
//! ```toml
//! [[destinations]]
//! name = "platform"
//! type = "email"
//! url_env = "PLATFORM_SMTP_URL"    # smtp://user:password@mail.example.org:587
//! from = "Alvares <alvares@example.org>"
//! to = ["platform@example.org"]
//! teams = { team-x = "team-x@example.org" }
//! kinds = ["deployment", "error"]
//! ```
//!
//! The server's answer decides the outcome as an HTTP status does
//! elsewhere: a 4xx reply (greylisting, a full mailbox) or a connection
//! that fails is retried, a 5xx reply (no such recipient, refused login)
//! fails.

pub mod config;
pub mod conformance;
pub mod payload;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::Value;

use crate::chat::MessageValues;
use crate::config::file::MailAddressing;
use crate::config::{ConfigError, OperatorConfig, RateLimit};
use crate::domain::EnrichedEvent;
use crate::error::DeliveryError;
use crate::subscribers::{
    Declared, DeliveryContext, DeliveryOutcome, Registration, Setup, Subscriber, Work, declared,
};
use config::{MailServer, MailTls};
use payload::Mail;

/// A mail server takes what its operator allows; this keeps a burst of
/// deployments from looking like spam (the file's `rate_limit` sets
/// another).
pub const EMAIL_RATE_LIMIT: RateLimit = RateLimit::new(1, 1, 10);

/// Every email destination the operator file declares.
pub fn registrations(operator: &OperatorConfig) -> Vec<Registration> {
    declared::registrations::<Email>(operator, Email::new)
}

pub struct Email {
    declared: Declared,
    values: MessageValues,
}

impl Email {
    fn new(name: &str, setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        let Some(declared) = Declared::of(Self::ID, name, setup) else {
            return Ok(None);
        };
        Ok(Some(Email {
            declared,
            values: MessageValues::new(setup)?,
        }))
    }

    /// The message `work` makes with the template context `values`, to
    /// its recipients; or why it sends none.
    async fn mail(
        &self,
        work: &Work<'_, EnrichedEvent>,
        operator: &OperatorConfig,
        addressing: &MailAddressing,
        values: crate::engine::TemplateContext,
    ) -> Result<Result<Mail, String>, DeliveryError> {
        let team = work.json.get("team").and_then(Value::as_str);
        let to = payload::recipients(addressing, team);
        if to.is_empty() {
            return Ok(Err(format!(
                "no recipient: to is empty and teams names no {}",
                team.map_or("team (the event has none)".to_owned(), |t| format!(
                    "team {t}"
                ))
            )));
        }
        let kind = work.event.kind().as_str();
        let render = |part: &str| {
            let name = format!("email-{part}-{kind}");
            let templates = operator.templates.clone();
            let values = values.clone();
            async move {
                templates
                    .render_async(&name, &values)
                    .await
                    .map_err(|error| DeliveryError::Permanent(error.to_string()))
            }
        };
        let text = render("text").await?;
        let html = render("html").await?;
        Ok(Ok(Mail::new(
            addressing,
            to,
            (&text, html),
            (work.id.to_string(), kind, self.declared.id),
        )))
    }

    /// The transport to `server`, each command bounded by `timeout`.
    fn transport(
        server: &MailServer,
        from_domain: &str,
        timeout: std::time::Duration,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
        let tls = |wrap: fn(TlsParameters) -> Tls| {
            TlsParameters::new(server.host.clone())
                .map(wrap)
                .map_err(|error| {
                    DeliveryError::Permanent(format!("TLS to {}: {error}", server.shown()))
                })
        };
        let tls = match server.tls {
            MailTls::Starttls => tls(Tls::Required)?,
            MailTls::Implicit => tls(Tls::Wrapper)?,
            MailTls::Plain => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&server.host)
            .port(server.port)
            .tls(tls)
            .timeout(Some(timeout))
            .hello_name(ClientId::Domain(from_domain.to_owned()));
        if let Some((user, password)) = &server.login {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(builder.build())
    }
}

/// What the server's refusal says, without the password (a server may
/// quote what it was sent), cut to a line.
fn refusal(server: &MailServer, error: &lettre::transport::smtp::Error) -> String {
    // lettre writes "permanent error (550): 5.1.1 …"; shown as the reply.
    let written = error.to_string();
    let mut text = match (error.status(), written.split_once("): ")) {
        (Some(code), Some((_, reply))) => format!("{code} {reply}"),
        _ => written,
    };
    if let Some((_, password)) = server.login.as_ref().filter(|(_, p)| !p.is_empty()) {
        text = text.replace(password.as_str(), "[redacted]");
    }
    let text: String = text.replace(['\r', '\n'], " ").chars().take(300).collect();
    format!("SMTP {}: {text}", server.shown())
}

impl Subscriber for Email {
    /// Each destination's id is `email-<name>`.
    const ID: &'static str = "email";
    const LEGACY_NAME: &'static str = "";
    type Input = EnrichedEvent;

    crate::subscribers::declared_items!();

    async fn deliver(
        &self,
        context: &DeliveryContext,
        work: Work<'_, EnrichedEvent>,
    ) -> Result<DeliveryOutcome, DeliveryError> {
        let in_force = match self.declared.in_force(work.destinations) {
            Ok(in_force) => in_force,
            Err(skipped) => return Ok(skipped),
        };
        let Some(addressing) = in_force.declared.mail.clone() else {
            return Err(DeliveryError::Permanent("not a mail destination".into()));
        };
        let url_source = &in_force.planned;
        let server = MailServer::parse(self.declared.variable(url_source.trim_start_matches('$'))?)
            .map_err(|why| DeliveryError::Permanent(format!("{url_source} {why}")))?;
        let values = self.values.of(&work).await?;
        let mail = match self
            .mail(&work, &in_force.operator, &addressing, values)
            .await?
        {
            Ok(mail) => mail,
            Err(why) => return Ok(DeliveryOutcome::Skipped(why)),
        };
        let message = mail.message().map_err(DeliveryError::Permanent)?;
        let domain = mail.message_id.rsplit('@').next().unwrap_or_default();
        let transport = Self::transport(&server, domain, context.timeout)?;
        // Each command is bounded; so is the whole exchange (a server that
        // answers a byte at a time cannot hold the delivery).
        let sent = tokio::time::timeout(context.timeout * 2, transport.send(message))
            .await
            .map_err(|_| {
                DeliveryError::transient(format!(
                    "SMTP {}: no answer within {:?}",
                    server.shown(),
                    context.timeout * 2
                ))
            })?;
        match sent {
            Ok(response) => Ok(DeliveryOutcome::Delivered(format!(
                "SMTP {} answered {} for {} recipient{}",
                server.shown(),
                response.code(),
                mail.to.len(),
                if mail.to.len() == 1 { "" } else { "s" }
            ))),
            Err(error) if error.is_permanent() || error.is_client() => {
                Err(DeliveryError::Permanent(refusal(&server, &error)))
            }
            Err(error) => Err(DeliveryError::transient(refusal(&server, &error))),
        }
    }

    /// The message it would send (the server only as its variable).
    fn preview(&self, work: Work<'_, EnrichedEvent>) -> Option<Result<Vec<Value>, DeliveryError>> {
        let (operator, declared) = self.declared.current()?;
        let addressing = declared.mail.clone()?;
        let values = self.values.preview(&work);
        let team = work.json.get("team").and_then(Value::as_str);
        let to = payload::recipients(&addressing, team);
        let kind = work.event.kind().as_str();
        let render = |part: &str| {
            operator
                .templates
                .render(&format!("email-{part}-{kind}"), &values)
                .map_err(|error| DeliveryError::Permanent(error.to_string()))
        };
        let parts = render("text").and_then(|text| Ok((text, render("html")?)));
        Some(parts.map(|(text, html)| {
            let mail = Mail::new(
                &addressing,
                to,
                (&text, html),
                (work.id.to_string(), kind, self.declared.id),
            );
            let mut shown = mail.preview();
            shown["server"] = declared.url_source.clone().into();
            vec![shown]
        }))
    }
}
