//! One `[[destinations]]` entry, validated like a webhook (it is one, of a
//! known type): the parts a typed destination has and a webhook lacks.

use std::collections::BTreeMap;

use super::super::lines::shown;
use super::super::spec::DestinationSpec;
use super::super::{Credential, DestinationType, FileError, Webhook, destination_type};
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
            method: "POST".to_owned(),
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
            Credential::Url => (true, false),
            Credential::Key { .. } => (false, true),
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
            let Credential::Key { endpoint } = credential else {
                unreachable!("a type that takes no URL takes a key")
            };
            return Ok((String::new(), endpoint.to_owned(), key_variable));
        };
        let value = self.webhook_variable(name, "url_env", variable)?;
        if value.parse::<HttpUrl>().is_err() {
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
