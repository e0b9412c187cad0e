//! Validating the file: its text becomes an [`OperatorConfig`], in time
//! linear in its size, or the first problem, named at its line (from the
//! parser's spans). Parts are checked in the file's order of sections:
//! settings, templates, webhooks, routes, then every template compiled and
//! tried against samples.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use toml::Spanned;

use super::lines::{Lines, TemplateOrigin, shown};
use super::spec::{FileSpec, OncePerSpec, Patterns, RouteSpec, WebhookSpec};
use super::{Conditions, FileError, OncePer, OperatorConfig, Route, SigningKey, Webhook};
use crate::config::secret_text::find_secret;
use crate::config::variables::{self, FileUse};
use crate::config::{Env, HttpUrl, Secret};
use crate::templates::{DEFAULT_WEBHOOK_BODY, TemplateUse, Templates};

mod destination;

/// A problem at a line (when one is known).
type Placed = (Option<usize>, String);

fn at(line: Option<usize>, message: String) -> FileError {
    FileError { line, message }
}

/// The file's text and where its lines start, while it is checked.
struct Parsing<'a> {
    text: &'a str,
    lines: Lines,
    env: &'a Env,
}

/// The templates' sources by name, and where each starts in the file.
#[derive(Default)]
struct TemplateSources {
    source: BTreeMap<String, String>,
    origins: BTreeMap<String, TemplateOrigin>,
}

impl OperatorConfig {
    /// Validates a file's text; secrets come from `env`.
    pub fn parse(text: &str, env: &Env) -> Result<Self, FileError> {
        let parsing = Parsing {
            text,
            lines: Lines::new(text),
            env,
        };
        let spec = parsing.spec()?;
        let settings = parsing.settings(spec.settings)?;
        let mut templates = TemplateSources::default();
        parsing.replaced_templates(spec.templates, &mut templates)?;
        let mut webhooks = Vec::new();
        let mut webhook_lines: HashMap<String, usize> = HashMap::new();
        for spec in spec.webhooks {
            let line = parsing.lines.of(spec.name.span().start);
            if let Some(first) = webhook_lines.insert(spec.name.get_ref().clone(), line) {
                return Err(at(
                    Some(line),
                    format!(
                        "webhooks: {} is named twice (first on line {first})",
                        spec.name.get_ref()
                    ),
                ));
            }
            webhooks.push(parsing.webhook(spec, &mut templates)?);
        }
        for spec in spec.destinations {
            let line = parsing.lines.of(spec.name.span().start);
            if let Some(first) = webhook_lines.insert(spec.name.get_ref().clone(), line) {
                return Err(at(
                    Some(line),
                    format!(
                        "destinations: {} is named twice (first on line {first}; webhooks \
                         and destinations share their names)",
                        spec.name.get_ref()
                    ),
                ));
            }
            webhooks.push(parsing.destination(spec)?);
        }
        let routes = parsing.routes(spec.routes, &webhook_lines)?;
        let templates = templates.compile(&webhooks)?;
        Ok(OperatorConfig {
            source: None,
            settings,
            routes,
            templates,
            webhooks,
        })
    }
}

impl Parsing<'_> {
    /// The file as written, once it parses and holds no secret.
    fn spec(&self) -> Result<FileSpec, FileError> {
        let syntax = |error: toml::de::Error| FileError {
            line: error.span().map(|span| self.lines.of(span.start)),
            message: error.message().to_owned(),
        };
        let document = toml::de::DeTable::parse(self.text).map_err(syntax)?;
        if let Some(found) = find_secret(document.get_ref()) {
            return Err(at(Some(self.lines.of(found.at)), found.message));
        }
        FileSpec::deserialize(toml::de::Deserializer::from(document)).map_err(syntax)
    }

    /// `[settings]`: variables the file may give, each value as text.
    fn settings(
        &self,
        spec: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    ) -> Result<BTreeMap<String, String>, FileError> {
        let mut settings = BTreeMap::new();
        for (name, value) in spec {
            let line = self.lines.at(&name);
            setting_allowed(name.get_ref()).map_err(|message| at(line, message))?;
            let value = match value.into_inner() {
                toml::Value::String(text) => text,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        toml::Value::String(text) => text.clone(),
                        other => other.type_str().to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => {
                    return Err(at(
                        line,
                        format!(
                            "settings.{}: expected a value, not a {}",
                            name.get_ref(),
                            other.type_str()
                        ),
                    ));
                }
            };
            settings.insert(name.into_inner(), value);
        }
        Ok(settings)
    }

    /// `[templates]`: built-in templates the file replaces.
    fn replaced_templates(
        &self,
        spec: BTreeMap<Spanned<String>, Spanned<String>>,
        templates: &mut TemplateSources,
    ) -> Result<(), FileError> {
        for (name, source) in spec {
            if !crate::templates::built_in_names().contains(&name.get_ref().as_str()) {
                return Err(at(
                    self.lines.at(&name),
                    format!(
                        "templates.{}: no such template (the built-in ones are {})",
                        shown(name.get_ref()),
                        crate::templates::built_in_names().join(", ")
                    ),
                ));
            }
            templates.add(name.into_inner(), &source, self);
        }
        Ok(())
    }

    /// One `[[webhooks]]` entry; its body template joins `templates`.
    fn webhook(
        &self,
        spec: WebhookSpec,
        templates: &mut TemplateSources,
    ) -> Result<Webhook, FileError> {
        let name = spec.name.get_ref().clone();
        let name_line = self.lines.at(&spec.name);
        if !valid_name(&name) {
            return Err(at(
                name_line,
                format!(
                    "webhooks: the name \"{}\" must be lower-case letters, digits and dashes",
                    shown(&name)
                ),
            ));
        }
        let (url, url_source, url_line) = self.webhook_url(&name, &spec, name_line)?;
        if url.parse::<HttpUrl>().is_err() {
            return Err(at(
                url_line,
                format!("webhook {name}: the URL ({url_source}) is not an http(s) URL"),
            ));
        }
        let method = self.webhook_method(&name, spec.method.as_ref())?;
        let signing_key = self.signing_key(&name, spec.secret_env.as_ref())?;
        let headers = self.webhook_headers(&name, &spec)?;
        let template = crate::templates::webhook_template_name(&name);
        match &spec.body {
            Some(body) => templates.add(template.clone(), body, self),
            None => {
                templates
                    .source
                    .insert(template.clone(), DEFAULT_WEBHOOK_BODY.to_owned());
            }
        }
        let rate_limit = self.rate_limit(&name, spec.rate_limit.as_ref())?;
        let when = conditions(spec.when, &self.lines)
            .map_err(|(line, e)| at(line.or(name_line), format!("webhook {name}: when.{e}")))?;
        let once_per = once_per(spec.once_per, &self.lines)
            .map_err(|(line, e)| at(line, format!("webhook {name}: once_per: {e}")))?;
        Ok(Webhook {
            id: format!("webhook-{name}"),
            destination_type: None,
            key_variable: None,
            mail: None,
            repositories: BTreeMap::new(),
            url: Secret::new(url),
            url_source,
            method,
            headers,
            header_variables: spec
                .headers_env
                .values()
                .map(|v| v.get_ref().clone())
                .collect(),
            template,
            kinds: spec.kinds,
            when,
            routed: spec.routed,
            signing_key,
            secret_env: spec.secret_env.map(Spanned::into_inner),
            once_per,
            rate_limit,
            name,
        })
    }

    /// The variables a webhook names hold its own secrets, never
    /// Alvares's (a file could otherwise send SLACK_TOKEN anywhere).
    fn own_variable(
        &self,
        webhook: &str,
        what: &str,
        variable: &Spanned<String>,
    ) -> Result<(), FileError> {
        if variables::variable(variable.get_ref()).is_some() {
            return Err(at(
                self.lines.at(variable),
                format!(
                    "webhook {webhook}: {what} names {}, one of Alvares's own variables: \
                     give the webhook a variable of its own",
                    variable.get_ref()
                ),
            ));
        }
        Ok(())
    }

    /// The value of the variable a webhook's `what` names.
    fn webhook_variable(
        &self,
        webhook: &str,
        what: &str,
        variable: &Spanned<String>,
    ) -> Result<&str, FileError> {
        self.own_variable(webhook, what, variable)?;
        self.env.get(variable.get_ref()).ok_or_else(|| {
            at(
                self.lines.at(variable),
                format!(
                    "webhook {webhook}: {what} names {}, which is not set",
                    variable.get_ref()
                ),
            )
        })
    }

    /// The URL, where it is shown from (itself or `$VARIABLE`), its line.
    fn webhook_url(
        &self,
        name: &str,
        spec: &WebhookSpec,
        name_line: Option<usize>,
    ) -> Result<(String, String, Option<usize>), FileError> {
        match (&spec.url, &spec.url_env) {
            (Some(url), None) => Ok((
                url.get_ref().clone(),
                url.get_ref().clone(),
                self.lines.at(url),
            )),
            (None, Some(variable)) => {
                let value = self.webhook_variable(name, "url_env", variable)?;
                Ok((
                    value.to_owned(),
                    format!("${}", variable.get_ref()),
                    self.lines.at(variable),
                ))
            }
            _ => Err(at(
                name_line,
                format!("webhook {name}: give url or url_env (one of them)"),
            )),
        }
    }

    fn webhook_method(
        &self,
        name: &str,
        method: Option<&Spanned<String>>,
    ) -> Result<String, FileError> {
        let Some(method) = method else {
            return Ok("POST".to_owned());
        };
        let upper = method.get_ref().to_ascii_uppercase();
        if !["POST", "PUT", "PATCH"].contains(&upper.as_str()) {
            return Err(at(
                self.lines.at(method),
                format!("webhook {name}: method must be POST, PUT or PATCH"),
            ));
        }
        Ok(upper)
    }

    /// The key of `secret_env`'s `whsec_` secret, when the webhook signs.
    fn signing_key(
        &self,
        name: &str,
        secret_env: Option<&Spanned<String>>,
    ) -> Result<Option<SigningKey>, FileError> {
        let Some(variable) = secret_env else {
            return Ok(None);
        };
        let value = self.webhook_variable(name, "secret_env", variable)?;
        match SigningKey::from_secret(value) {
            Some(key) => Ok(Some(key)),
            None => Err(at(
                self.lines.at(variable),
                format!(
                    "webhook {name}: {} must be a whsec_ secret (base64 after the prefix)",
                    variable.get_ref()
                ),
            )),
        }
    }

    fn rate_limit(
        &self,
        name: &str,
        limit: Option<&Spanned<String>>,
    ) -> Result<Option<crate::config::RateLimit>, FileError> {
        let Some(limit) = limit else { return Ok(None) };
        let parsed = limit.get_ref().parse().map_err(|error: String| {
            at(
                self.lines.at(limit),
                format!("webhook {name}: rate_limit: {error}"),
            )
        })?;
        Ok(Some(parsed))
    }

    /// `headers`, and `headers_env` with each variable's value.
    fn webhook_headers(
        &self,
        name: &str,
        spec: &WebhookSpec,
    ) -> Result<BTreeMap<String, String>, FileError> {
        let mut headers = spec.headers.clone();
        for (header, variable) in &spec.headers_env {
            let what = format!("headers_env.{header}");
            let value = self.webhook_variable(name, &what, variable)?;
            headers.insert(header.clone(), value.to_owned());
        }
        Ok(headers)
    }

    /// `[[routes]]`, each named once, its webhooks declared.
    fn routes(
        &self,
        specs: Vec<RouteSpec>,
        webhook_lines: &HashMap<String, usize>,
    ) -> Result<Vec<Route>, FileError> {
        let mut routes = Vec::with_capacity(specs.len());
        let mut route_lines: HashMap<String, usize> = HashMap::with_capacity(specs.len());
        for spec in specs {
            let line = self.lines.of(spec.name.span().start);
            if let Some(first) = route_lines.insert(spec.name.get_ref().clone(), line) {
                return Err(at(
                    Some(line),
                    format!(
                        "routes: {} is named twice (first on line {first})",
                        shown(spec.name.get_ref())
                    ),
                ));
            }
            routes.push(self.route(spec, webhook_lines)?);
        }
        Ok(routes)
    }

    fn route(
        &self,
        spec: RouteSpec,
        webhook_lines: &HashMap<String, usize>,
    ) -> Result<Route, FileError> {
        let name = spec.name.get_ref().clone();
        let name_line = self.lines.at(&spec.name);
        for (named, what) in spec
            .webhooks
            .iter()
            .map(|n| (n, "webhook"))
            .chain(spec.destinations.iter().map(|n| (n, "destination")))
        {
            if !webhook_lines.contains_key(named.get_ref()) {
                return Err(at(
                    self.lines.at(named),
                    format!(
                        "route {name}: no {what} is named {}",
                        shown(named.get_ref())
                    ),
                ));
            }
        }
        for channel in spec.slack_channels.iter().chain(&spec.never_channels) {
            if channel.get_ref().trim().is_empty() {
                return Err(at(
                    self.lines.at(channel),
                    format!("route {name}: an empty channel"),
                ));
            }
        }
        let when = conditions(spec.when, &self.lines)
            .map_err(|(line, e)| at(line.or(name_line), format!("route {name}: when.{e}")))?;
        let once_per = once_per(spec.once_per, &self.lines)
            .map_err(|(line, e)| at(line, format!("route {name}: once_per: {e}")))?;
        let texts = |items: Vec<Spanned<String>>| -> Vec<String> {
            items.into_iter().map(Spanned::into_inner).collect()
        };
        Ok(Route {
            name,
            kinds: spec.kinds,
            when,
            slack_channels: texts(spec.slack_channels),
            only: spec.only,
            never_channels: texts(spec.never_channels),
            webhooks: texts(spec.webhooks)
                .into_iter()
                .chain(texts(spec.destinations))
                .collect(),
            once_per,
        })
    }
}

impl TemplateSources {
    fn add(&mut self, name: String, source: &Spanned<String>, parsing: &Parsing<'_>) {
        self.origins.insert(
            name.clone(),
            TemplateOrigin::of(parsing.text, &parsing.lines, source),
        );
        self.source.insert(name, source.get_ref().clone());
    }

    /// The error's line in the file: the template's own line, counted
    /// from where its text starts.
    fn line_of(&self, name: &str, line: Option<usize>) -> Option<usize> {
        self.origins.get(name).map(|origin| origin.line(line))
    }

    /// Every template compiled, then rendered against the sample events
    /// of the kinds it is used for (see `templates::samples`): one that
    /// reaches a limit or fails is refused, naming it and its line.
    fn compile(&self, webhooks: &[Webhook]) -> Result<Templates, FileError> {
        let templates = Templates::compile(&self.source).map_err(|error| FileError {
            line: self.line_of(&error.name, error.line),
            message: error.to_string(),
        })?;
        // A destination's templates are its type's built-ins, checked as such.
        let uses: Vec<TemplateUse> = webhooks
            .iter()
            .filter(|webhook| webhook.destination_type.is_none())
            .map(|webhook| TemplateUse {
                name: webhook.template.clone(),
                kinds: webhook.kinds.clone(),
            })
            .collect();
        templates
            .check_against_samples(&uses)
            .map_err(|error| FileError {
                line: self.line_of(&error.name, error.line),
                message: error.to_string(),
            })?;
        Ok(templates)
    }
}

/// Whether the file's `[settings]` may give `name`: a variable Alvares
/// reads (exactly so named) that holds no secret and sends none anywhere.
fn setting_allowed(name: &str) -> Result<(), String> {
    let refusal = |variable: &variables::Variable| match variable.file {
        FileUse::Allowed => None,
        FileUse::Secret(_) => Some(format!(
            "{} is a secret: set it in the environment, not in the file",
            variable.name
        )),
        FileUse::ReceivesSecret(why) | FileUse::EnvironmentOnly(why) => Some(format!(
            "{} can only be set in the environment: {why}",
            variable.name
        )),
    };
    match variables::variable(name) {
        Some(variable) => refusal(variable).map_or(Ok(()), Err),
        None => Err(match variables::nearest(name) {
            Some(nearest) => format!(
                "unknown setting `{}`; did you mean `{}`?{}",
                shown(name),
                nearest.name,
                refusal(nearest)
                    .map(|why| format!(" ({why})"))
                    .unwrap_or_default()
            ),
            None => format!(
                "unknown setting `{}`: not a variable Alvares reads (names are exact, as in the \
                 README's configuration table)",
                shown(name)
            ),
        }),
    }
}

/// `when` conditions, each glob checked at its own line.
fn conditions(
    spec: BTreeMap<Spanned<String>, Spanned<Patterns>>,
    lines: &Lines,
) -> Result<Conditions, Placed> {
    let mut plain = BTreeMap::new();
    for (field, patterns) in spec {
        let field_line = lines.at(&field);
        let field = field.into_inner();
        let value_line = lines.at(&patterns);
        let list: Vec<(Option<usize>, String)> = match patterns.into_inner() {
            Patterns::One(one) => vec![(value_line, one)],
            Patterns::Any(many) => many
                .into_iter()
                .map(|p| (lines.at(&p), p.into_inner()))
                .collect(),
        };
        for (line, pattern) in &list {
            if let Err(error) = glob::Pattern::new(pattern) {
                return Err((*line, format!("{field}: pattern {pattern:?}: {error}")));
            }
        }
        if list.is_empty() {
            return Err((
                value_line.or(field_line),
                format!("{field}: give at least one value"),
            ));
        }
        plain.insert(field, list.into_iter().map(|(_, p)| p).collect::<Vec<_>>());
    }
    Conditions::parse(&plain).map_err(|error| (None, error))
}

fn once_per(spec: Option<Spanned<OncePerSpec>>, lines: &Lines) -> Result<Option<OncePer>, Placed> {
    let Some(spec) = spec else { return Ok(None) };
    let line = lines.at(&spec);
    let spec = spec.into_inner();
    if spec.fields.is_empty() {
        return Err((line, "fields: name at least one field".into()));
    }
    let window = humantime::parse_duration(&spec.window)
        .map_err(|error| (line, format!("window {:?}: {error}", spec.window)))?;
    if window.is_zero() {
        return Err((line, "window: must be longer than zero".into()));
    }
    Ok(Some(OncePer {
        fields: spec.fields,
        window,
    }))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> OperatorConfig {
        let env = Env::from_map([("HOOK".to_owned(), "https://hooks.example/a".to_owned())].into());
        OperatorConfig::parse(text, &env).unwrap()
    }

    fn refusal(text: &str) -> String {
        let env = Env::from_map(
            [
                ("HOOK".to_owned(), "https://hooks.example/a".to_owned()),
                (
                    "SLACK_TOKEN".to_owned(),
                    "xoxb-from-the-environment".to_owned(),
                ),
            ]
            .into(),
        );
        let error = OperatorConfig::parse(text, &env).unwrap_err();
        error.to_string()
    }

    #[test]
    fn a_secret_header_must_come_from_the_environment() {
        assert_eq!(
            refusal(
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/\"\n\
                 headers = { \"X-Team\" = \"ops\", Authorization = \"Bearer x\" }\n"
            ),
            "line 4: webhooks[0].headers.Authorization is a secret header: give it in \
             headers_env (the variable that holds its value), not in the file"
        );
        assert_eq!(
            refusal(
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/\"\n\n\
                 [webhooks.headers]\nX-Team = \"ops\"\nX-Api-Key = \"k-123\"\n"
            ),
            "line 7: webhooks[0].headers.X-Api-Key is a secret header: give it in \
             headers_env (the variable that holds its value), not in the file"
        );
    }

    #[test]
    fn where_a_secret_is_sent_only_the_environment_says() {
        for (name, why) in [
            ("SLACK_API_BASE_URL", "SLACK_TOKEN is sent there"),
            ("UTR_API_BASE_URL", "UTR_API_KEY is sent there"),
            (
                "DETECTIFY_API_BASE_URL",
                "DETECTIFY_API_KEYS are sent there",
            ),
            ("FLOTTSBRO_API_BASE_URL", "FLOTTSBRO_API_KEY is sent there"),
            (
                "LIGHTHOUSE_COMMAND",
                "the program runs with every secret of the environment",
            ),
            (
                "MAX_CONFIG_BYTES",
                "it bounds the file before the file is read",
            ),
        ] {
            assert_eq!(
                refusal(&format!(
                    "# where\n[settings]\nSLACK_CHANNELS = \"#a\"\n{name} = \"http://elsewhere/\"\n"
                )),
                format!("line 4: {name} can only be set in the environment: {why}")
            );
        }
        assert_eq!(
            refusal("[settings]\nSLACK_TOKEN = \"xoxb-1\"\n"),
            "line 2: SLACK_TOKEN is a secret: set it in the environment, not in the file"
        );
        // Nor may a webhook take Alvares's own secrets elsewhere.
        assert_eq!(
            refusal(
                "[[webhooks]]\nname = \"ops\"\nurl = \"http://elsewhere/\"\n\
                 headers_env = { X-Stolen = \"SLACK_TOKEN\" }\n"
            ),
            "line 4: webhook ops: headers_env.X-Stolen names SLACK_TOKEN, one of Alvares's own \
             variables: give the webhook a variable of its own"
        );
        assert_eq!(
            refusal("[[webhooks]]\nname = \"ops\"\n\nurl_env = \"SLACK_TOKEN\"\n"),
            "line 4: webhook ops: url_env names SLACK_TOKEN, one of Alvares's own variables: \
             give the webhook a variable of its own"
        );
    }

    #[test]
    fn a_secret_anywhere_in_the_file_is_refused_without_showing_it() {
        let cases = [
            (
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://hooks.slack.com/services/T1/B2/s3cr3tp4th\"\n",
                "line 3: webhooks[0].url looks like a Slack webhook URL: give it by url_env (the \
                 variable that holds it), not in the file",
            ),
            (
                "[settings]\nslack_token = \"xoxb-1234567890-s3cr3tp4th\"\n",
                "line 2: settings.slack_token looks like a Slack bot token: keep it in the \
                 environment, not in the file",
            ),
            (
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/\"\n\
                 headers = { X-Team = \"Bearer ghp_s3cr3tp4th0123\" }\n",
                "line 4: webhooks[0].headers.X-Team looks like a GitHub token: give it in \
                 headers_env (the variable that holds it), not in the file",
            ),
            (
                "[templates]\nslack-error = '''\n{\"text\": \"see\",\n\"x\": \"xapp-1-A0-s3cr3tp4th\"}'''\n",
                "line 2: templates.slack-error looks like a Slack app token: keep it in the \
                 environment, not in the file",
            ),
            (
                "[[routes]]\nname = \"r\"\nslack_channels = [\"#a\", \"whsec_s3cr3tp4th0123\"]\n",
                "line 3: routes[0].slack_channels[1] looks like a webhook signing secret: keep it \
                 in the environment, not in the file",
            ),
        ];
        for (text, expected) in cases {
            let message = refusal(text);
            assert_eq!(message, expected);
            assert!(!message.contains("s3cr3tp4th"), "{message}");
        }
    }

    #[test]
    fn setting_names_are_exact_and_the_nearest_is_offered() {
        assert_eq!(
            refusal("[settings]\nPORT = 3011\nSLACK_CHANELS = \"#a\"\n"),
            "line 3: unknown setting `SLACK_CHANELS`; did you mean `SLACK_CHANNELS`?"
        );
        assert_eq!(
            refusal("[settings]\nDb_Url = \"/tmp/x.db\"\n"),
            "line 2: unknown setting `Db_Url`; did you mean `DB_URL`? (DB_URL is a secret: set \
             it in the environment, not in the file)"
        );
        let message = refusal("[settings]\nslack_token = \"not-a-token-shape\"\n");
        assert_eq!(
            message,
            "line 2: unknown setting `slack_token`; did you mean `SLACK_TOKEN`? (SLACK_TOKEN is \
             a secret: set it in the environment, not in the file)"
        );
        assert!(!message.contains("not-a-token-shape"));
        assert_eq!(
            refusal("[settings]\nWHATEVER_ELSE_ENTIRELY = 1\n"),
            "line 2: unknown setting `WHATEVER_ELSE_ENTIRELY`: not a variable Alvares reads \
             (names are exact, as in the README's configuration table)"
        );
        let config = config("[settings]\nSLACK_CHANNELS = [\"#a\", \"#b\"]\nPORT = 3011\n");
        assert_eq!(config.settings["SLACK_CHANNELS"], "#a,#b");
        assert_eq!(config.settings["PORT"], "3011");
    }

    #[test]
    fn lines_are_where_the_problem_is() {
        // A duplicate webhook at the duplicate, not at the first.
        assert_eq!(
            refusal(
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/a\"\n\n\
                 [[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/b\"\n"
            ),
            "line 6: webhooks: ops is named twice (first on line 2)"
        );
        // A duplicate route likewise.
        assert_eq!(
            refusal(
                "[[routes]]\nname = \"a\"\n[[routes]]\nname = \"b\"\n[[routes]]\nname = \"a\"\n"
            ),
            "line 6: routes: a is named twice (first on line 2)"
        );
        // A bad glob at its own line, in a list over several lines.
        assert_eq!(
            refusal(
                "[[routes]]\nname = \"apps\"\n[routes.when]\napplicationName = [\n  \"kth-*\",\n  \"lms-[\",\n]\n"
            ),
            "line 6: route apps: when.applicationName: pattern \"lms-[\": Pattern syntax error \
             near position 4: invalid range pattern"
        );
        // A missing webhook at the reference, a bad window at once_per.
        assert_eq!(
            refusal("[[routes]]\nname = \"r\"\nkinds = [\"error\"]\nwebhooks = [\n\"nope\"]\n"),
            "line 5: route r: no webhook is named nope"
        );
        assert_eq!(
            refusal(
                "[[routes]]\nname = \"r\"\n\nonce_per = { fields = [\"version\"], window = \"0s\" }\n"
            ),
            "line 4: route r: once_per: window: must be longer than zero"
        );
        // A template's own line, counted from where its text starts.
        assert!(
            refusal(
                "[[webhooks]]\nname = \"ops\"\nurl = \"https://h.example/\"\nbody = '''\n{\n\"a\": {{ id }\n}'''\n"
            )
            .starts_with("line 6: template webhook:ops line 2: "),
        );
    }

    #[test]
    fn a_large_file_is_validated_with_exact_lines_to_its_end() {
        let mut text = String::new();
        for n in 0..20_000 {
            text.push_str(&format!(
                "[[routes]]\nname = \"route {n}\"\nkinds = [\"deployment\"]\n\
                 when = {{ applicationName = \"app-{n}-*\", cluster = [\"active\", \"stage\"] }}\n\
                 slack_channels = [\"#team-{n}\"]\n\n"
            ));
        }
        let config = config(&text);
        assert_eq!(config.routes.len(), 20_000);
        assert_eq!(config.routes[19_999].name, "route 19999");
        text.push_str("[[routes]]\nname = \"route 7\"\n");
        assert_eq!(
            refusal(&text),
            "line 120002: routes: route 7 is named twice (first on line 44)"
        );
    }
}
