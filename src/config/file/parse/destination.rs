//! One `[[destinations]]` entry, validated like a webhook (it is one, of a
//! known type): the parts a typed destination has and a webhook lacks.

use std::collections::BTreeMap;

use toml::Spanned;

use super::super::lines::shown;
use super::super::spec::DestinationSpec;
use super::super::{
    Credential, DestinationType, FileError, MailAddressing, Webhook, destination_type,
};
use super::{Parsing, at, conditions, once_per, valid_name};
use crate::config::{HttpUrl, Secret};

impl Parsing<'_> {
    /// One `[[destinations]]` entry: a known type, its URL from the
    /// environment; it posts what the type's templates render.
    pub(super) fn destination(&self, spec: DestinationSpec) -> Result<Webhook, FileError> {
        let name = spec.name.get_ref().clone();
        let name_line = self.lines.at(&spec.name);
        if !valid_name(&name) {
            return Err(at(
                name_line,
                format!(
                    "destinations: the name \"{}\" must be lower-case letters, digits and dashes",
                    shown(&name)
                ),
            ));
        }
        let Some(known) = destination_type(spec.type_name.get_ref()) else {
            let mut types: Vec<&str> = inventory::iter::<DestinationType>()
                .map(|known| known.name)
                .collect();
            types.sort_unstable();
            return Err(at(
                self.lines.at(&spec.type_name),
                format!(
                    "destination {name}: no destination type is named \"{}\" (known: {})",
                    shown(spec.type_name.get_ref()),
                    types.join(", ")
                ),
            ));
        };
        let (url, url_source, key_variable) =
            self.destination_credential(&name, name_line, known.credential, &spec)?;
        let mail = self.mail_addressing(&name, name_line, known.credential, &spec)?;
        let repositories = self.repositories(&name, name_line, known.credential, &spec)?;
        let rate_limit = self.rate_limit(&name, spec.rate_limit.as_ref())?;
        let when = conditions(spec.when, &self.lines)
            .map_err(|(line, e)| at(line.or(name_line), format!("destination {name}: when.{e}")))?;
        let once_per = once_per(spec.once_per, &self.lines)
            .map_err(|(line, e)| at(line, format!("destination {name}: once_per: {e}")))?;
        Ok(Webhook {
            id: format!("{}-{name}", known.name),
            destination_type: Some(known.name),
            url: Secret::new(url),
            url_source,
            key_variable,
            mail,
            repositories,
            // A mail server is not an HTTP one.
            method: if matches!(known.credential, Credential::MailServer { .. }) {
                "SMTP"
            } else {
                "POST"
            }
            .to_owned(),
            headers: BTreeMap::new(),
            header_variables: Vec::new(),
            // Its templates are the type's, one per kind.
            template: String::new(),
            kinds: spec.kinds,
            when,
            routed: spec.routed,
            signing_key: None,
            secret_env: None,
            once_per,
            rate_limit: Some(rate_limit.unwrap_or(known.default_rate_limit)),
            name,
        })
    }

    /// The variables its type takes (`url_env`, `key_env` or both; one it
    /// does not take is refused): its URL (none for a key alone), where it
    /// goes as shown, and the key's variable.
    fn destination_credential(
        &self,
        name: &str,
        name_line: Option<usize>,
        credential: Credential,
        spec: &DestinationSpec,
    ) -> Result<(String, String, Option<String>), FileError> {
        let type_name = spec.type_name.get_ref();
        let (wants_url, wants_key) = match credential {
            Credential::Url | Credential::MailServer { .. } => (true, false),
            Credential::Key { .. } | Credential::KeyAndRepositories { .. } => (false, true),
            Credential::UrlAndKey => (true, true),
        };
        let fields = [
            (wants_url, &spec.url_env, "url_env"),
            (wants_key, &spec.key_env, "key_env"),
        ];
        // One it does not take first: that is the mistake to name.
        for (wanted, given, field) in fields {
            if let (false, Some(given)) = (wanted, given) {
                return Err(at(
                    self.lines.at(given),
                    format!("destination {name}: a {type_name} destination takes no {field}"),
                ));
            }
        }
        for (wanted, given, field) in fields {
            if wanted && given.is_none() {
                return Err(at(
                    name_line,
                    format!(
                        "destination {name}: give {field} (a {type_name} destination's secret)"
                    ),
                ));
            }
        }
        let key_variable = spec.key_env.as_ref().map(|key| key.get_ref().clone());
        if let Some(key) = &spec.key_env {
            self.webhook_variable(name, "key_env", key)?;
        }
        let Some(variable) = &spec.url_env else {
            let (Credential::Key { endpoint } | Credential::KeyAndRepositories { endpoint }) =
                credential
            else {
                unreachable!("a type that takes no URL takes a key")
            };
            return Ok((String::new(), endpoint.to_owned(), key_variable));
        };
        let value = self.webhook_variable(name, "url_env", variable)?;
        if let Credential::MailServer { check_url, .. } = credential {
            check_url(value).map_err(|why| {
                at(
                    self.lines.at(variable),
                    format!("destination {name}: ${}: {why}", variable.get_ref()),
                )
            })?;
        } else if value.parse::<HttpUrl>().is_err() {
            return Err(at(
                self.lines.at(variable),
                format!(
                    "destination {name}: ${} is not an http(s) URL",
                    variable.get_ref()
                ),
            ));
        }
        Ok((
            value.to_owned(),
            format!("${}", variable.get_ref()),
            key_variable,
        ))
    }
}

/// The most addresses one `to` (or one team's) may name: a list, not a
/// mailing list's membership.
pub const MOST_RECIPIENTS: usize = 50;

impl Parsing<'_> {
    /// A mail destination's `from`, `to` and `teams` (each address checked
    /// by its type, at least one recipient); a type that sends no mail
    /// takes none of them.
    fn mail_addressing(
        &self,
        name: &str,
        name_line: Option<usize>,
        credential: Credential,
        spec: &DestinationSpec,
    ) -> Result<Option<MailAddressing>, FileError> {
        let type_name = spec.type_name.get_ref();
        let Credential::MailServer { check_address, .. } = credential else {
            let given = [
                spec.from.as_ref().map(|from| (self.lines.at(from), "from")),
                spec.to.first().map(|to| (self.lines.at(to), "to")),
                spec.teams
                    .keys()
                    .next()
                    .map(|team| (self.lines.at(team), "teams")),
            ];
            if let Some((line, field)) = given.into_iter().flatten().next() {
                return Err(at(
                    line,
                    format!("destination {name}: a {type_name} destination takes no {field}"),
                ));
            }
            return Ok(None);
        };
        let address = |field: &str, value: &Spanned<String>| {
            value
                .get_ref()
                .split(',')
                .try_for_each(|one| check_address(one.trim()))
                .map_err(|why| {
                    at(
                        self.lines.at(value),
                        format!("destination {name}: {field}: {why}"),
                    )
                })
        };
        let Some(from) = &spec.from else {
            return Err(at(
                name_line,
                format!("destination {name}: give from (the sender's address)"),
            ));
        };
        if from.get_ref().contains(',') {
            return Err(at(
                self.lines.at(from),
                format!("destination {name}: from is one address"),
            ));
        }
        address("from", from)?;
        if spec.to.is_empty() && spec.teams.is_empty() {
            return Err(at(
                name_line,
                format!("destination {name}: give to, teams or both (who gets its messages)"),
            ));
        }
        let addresses = |text: &str| text.split(',').count();
        if spec
            .to
            .iter()
            .map(|to| addresses(to.get_ref()))
            .sum::<usize>()
            > MOST_RECIPIENTS
        {
            return Err(at(
                name_line,
                format!("destination {name}: to names more than {MOST_RECIPIENTS} addresses"),
            ));
        }
        for to in &spec.to {
            address("to", to)?;
        }
        for (team, to) in &spec.teams {
            address(&format!("teams.{}", shown(team.get_ref())), to)?;
            if addresses(to.get_ref()) > MOST_RECIPIENTS {
                return Err(at(
                    self.lines.at(to),
                    format!(
                        "destination {name}: teams.{} names more than {MOST_RECIPIENTS} addresses",
                        shown(team.get_ref())
                    ),
                ));
            }
        }
        Ok(Some(MailAddressing {
            from: from.get_ref().clone(),
            to: spec.to.iter().map(|to| to.get_ref().clone()).collect(),
            teams: spec
                .teams
                .iter()
                .map(|(team, to)| (team.get_ref().clone(), to.get_ref().clone()))
                .collect(),
        }))
    }
}

impl Parsing<'_> {
    /// The `repositories` of a type that acts on them (at least one, each
    /// `owner/name`); any other type takes none.
    fn repositories(
        &self,
        name: &str,
        name_line: Option<usize>,
        credential: Credential,
        spec: &DestinationSpec,
    ) -> Result<BTreeMap<String, String>, FileError> {
        let type_name = spec.type_name.get_ref();
        if !matches!(credential, Credential::KeyAndRepositories { .. }) {
            if let Some(first) = spec.repositories.keys().next() {
                return Err(at(
                    self.lines.at(first),
                    format!("destination {name}: a {type_name} destination takes no repositories"),
                ));
            }
            return Ok(BTreeMap::new());
        }
        if spec.repositories.is_empty() {
            return Err(at(
                name_line,
                format!(
                    "destination {name}: give repositories (each application's repository, \
                     application = \"owner/name\")"
                ),
            ));
        }
        let part = |text: &str| {
            !text.is_empty()
                && text.len() <= 100
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && text != "."
                && text != ".."
        };
        let mut repositories = BTreeMap::new();
        for (application, repository) in &spec.repositories {
            let valid = repository
                .get_ref()
                .split_once('/')
                .is_some_and(|(owner, repo)| part(owner) && part(repo));
            if !valid {
                return Err(at(
                    self.lines.at(repository),
                    format!(
                        "destination {name}: repositories.{}: \"{}\" is not owner/name",
                        shown(application.get_ref()),
                        shown(repository.get_ref())
                    ),
                ));
            }
            repositories.insert(application.get_ref().clone(), repository.get_ref().clone());
        }
        Ok(repositories)
    }
}
