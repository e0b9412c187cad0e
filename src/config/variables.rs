//! Every environment variable Alvares reads, declared once with what the
//! operator file may do with it. The file's `[settings]` give defaults for
//! variables that hold no secret and send none anywhere; the rest only the
//! environment can set. A destination added later lists its base URL here
//! as [`FileUse::ReceivesSecret`] and is protected by that declaration
//! (a test checks that every variable read in `src/` is listed).
//!
//! It is also where the redactor learns which values are secrets, and how
//! each holds them ([`secrecy`]): the one owner of that fact.

/// What the operator file's `[settings]` may do with a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileUse {
    /// A default the environment can override.
    Allowed,
    /// Holds a secret (a token, key, password or webhook URL), shaped so.
    Secret(SecretShape),
    /// Where a secret goes: whoever sets it could obtain the secret.
    /// The text says which secret and how.
    ReceivesSecret(&'static str),
    /// Means something only before the file is read, or only to the
    /// test suite.
    EnvironmentOnly(&'static str),
}

/// How a secret variable's value holds its secrets, so that the redactor
/// takes out each part an answer might quote alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretShape {
    /// The value is the secret.
    Whole,
    /// Comma-separated secrets, each one on its own.
    List,
    /// A URL that is itself the credential: whole, and its path alone.
    Webhook,
    /// A database URL: whole and its password when it is a URL; a file
    /// path holds no secret.
    Connection,
}

/// The endings that make an undeclared variable's value a secret (one
/// the environment holds for someone else, e.g. a program Alvares runs).
/// Declared variables with these endings must be declared secret (a test
/// checks it).
const SECRET_SUFFIXES: &[(&str, SecretShape)] = &[
    ("_KEY", SecretShape::Whole),
    ("_KEYS", SecretShape::List),
    ("_TOKEN", SecretShape::Whole),
    ("_SECRET", SecretShape::Whole),
    ("_PASSWORD", SecretShape::Whole),
    ("_WEB_HOOK", SecretShape::Webhook),
];

/// One variable Alvares reads.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    pub name: &'static str,
    pub file: FileUse,
}

pub const fn allowed(name: &'static str) -> Variable {
    Variable {
        name,
        file: FileUse::Allowed,
    }
}

pub const fn secret(name: &'static str) -> Variable {
    shaped(name, SecretShape::Whole)
}

pub const fn shaped(name: &'static str, shape: SecretShape) -> Variable {
    Variable {
        name,
        file: FileUse::Secret(shape),
    }
}

pub const fn receives(name: &'static str, why: &'static str) -> Variable {
    Variable {
        name,
        file: FileUse::ReceivesSecret(why),
    }
}

pub const fn environment(name: &'static str, why: &'static str) -> Variable {
    Variable {
        name,
        file: FileUse::EnvironmentOnly(why),
    }
}

/// The variables one integration reads, declared in its own `config.rs`
/// (`inventory::submit!`), so that adding an integration touches no file
/// here.
pub struct VariablesOf(pub &'static [Variable]);

inventory::collect!(VariablesOf);

/// Every variable: the service's own and each integration's.
pub fn all() -> impl Iterator<Item = &'static Variable> {
    VARIABLES.iter().chain(
        inventory::iter::<VariablesOf>
            .into_iter()
            .flat_map(|declared| declared.0.iter()),
    )
}

/// The service's own variables (not an integration's), grouped as the
/// README's configuration table.
pub const VARIABLES: &[Variable] = &[
    environment("ALVARES_CONFIG", "it names the file itself"),
    environment(
        "MAX_CONFIG_BYTES",
        "it bounds the file before the file is read",
    ),
    allowed("PORT"),
    allowed("DEBUG"),
    allowed("LOG_FORMAT"),
    allowed("HTTP_WORKERS"),
    allowed("HOSTNAME"),
    secret("INGEST_TOKEN"),
    allowed("MAX_BODY_BYTES"),
    allowed("MAX_CHANNELS_PER_EVENT"),
    allowed("BODY_TIMEOUT_SECONDS"),
    allowed("DISABLED_SUBSCRIBERS"),
    allowed("SUBSCRIBER_TIMEOUT_SECONDS"),
    allowed("SUBSCRIBER_CONCURRENCY"),
    allowed("SUBSCRIBER_QUEUE_CAPACITY"),
    allowed("RATE_LIMITS"),
    allowed("CIRCUIT_FAILURES"),
    allowed("CIRCUIT_COOLDOWN_SECONDS"),
    allowed("RETRY_SCHEDULE"),
    allowed("RETRY_JITTER_PERCENT"),
    allowed("MAX_RETRY_AFTER_SECONDS"),
    allowed("MAX_DEFER_SECONDS"),
    allowed("RATE_LIMIT_DESTINATIONS"),
    secret("ADMIN_TOKEN"),
    secret("READ_TOKEN"),
    allowed("READ_CONCURRENCY"),
    allowed("READ_TIMEOUT_MS"),
    allowed("HEAVY_READS_PER_SECOND"),
    allowed("FAILURE_WINDOW_HOURS"),
    allowed("INSIGHTS_CACHE_SECONDS"),
    allowed("DIGEST_CHANNELS"),
    allowed("DIGEST_DAY"),
    allowed("DIGEST_HOUR"),
    allowed("ALERT_CHANNEL"),
    allowed("ALERT_AFTER_SECONDS"),
    allowed("PUBLIC_URL"),
    allowed("SHUTDOWN_GRACE_SECONDS"),
    allowed("ACTIVE_APP_HOST"),
    allowed("ACTIVE_API_HOST"),
    allowed("STAGE_APP_HOST"),
    allowed("STAGE_API_HOST"),
    allowed("INTEGRAL_APP_HOST"),
    allowed("INTEGRAL_API_HOST"),
    allowed("INTEGRAL_STAGE_APP_HOST"),
    allowed("INTEGRAL_STAGE_API_HOST"),
    allowed("UTR_KEYWORD"),
    allowed("TEAM_MARKERS"),
    shaped("SLACK_WEB_HOOK", SecretShape::Webhook),
    secret("SLACK_TOKEN"),
    receives("SLACK_API_BASE_URL", "SLACK_TOKEN is sent there"),
    allowed("SLACK_CHANNEL_OVERRIDE"),
    allowed("SLACK_CHANNELS"),
    // The host of a postgres:// URL receives DB_PASSWORD, and the URL may
    // hold a password itself.
    shaped("DB_URL", SecretShape::Connection),
    secret("DB_PASSWORD"),
    allowed("DB_POOL_SIZE"),
    allowed("DB_DELIVERY_POOL_SIZE"),
    allowed("SQLITE_SYNCHRONOUS"),
    allowed("LEASE_SECONDS"),
    allowed("JOURNAL_RETENTION_DAYS"),
    environment("SKIP_VALIDATION_TESTS", "it is the test suite's switch"),
    environment("VALIDATE_DEPLOYMENT_URL", "it is the test suite's switch"),
];

/// The declaration of `name` (exact: names are case-sensitive).
pub fn variable(name: &str) -> Option<&'static Variable> {
    all().find(|v| v.name == name)
}

/// Whether a variable's value holds secrets, and how: as declared, or
/// for an undeclared variable by its name's ending.
pub fn secrecy(name: &str) -> Option<SecretShape> {
    match variable(name) {
        Some(Variable {
            file: FileUse::Secret(shape),
            ..
        }) => Some(*shape),
        Some(_) => None,
        None => secret_by_name(name),
    }
}

fn secret_by_name(name: &str) -> Option<SecretShape> {
    SECRET_SUFFIXES
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map(|(_, shape)| *shape)
}

/// The declared variable nearest to a name that is not one: the fewest
/// edits ignoring case, when there are few enough to be a typo.
pub fn nearest(name: &str) -> Option<&'static Variable> {
    let wanted = name.to_ascii_uppercase();
    let most = (wanted.chars().count() / 3).clamp(1, 3);
    all()
        .map(|v| (edit_distance(&wanted, v.name), v))
        .filter(|(distance, _)| *distance <= most)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, v)| v)
}

/// Levenshtein distance: insertions, deletions and substitutions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_and_wrong_case_find_the_variable_meant() {
        let nearest_name = |name: &str| nearest(name).map(|v| v.name);
        assert_eq!(nearest_name("SLACK_CHANELS"), Some("SLACK_CHANNELS"));
        assert_eq!(nearest_name("slack_token"), Some("SLACK_TOKEN"));
        assert_eq!(nearest_name("Db_Url"), Some("DB_URL"));
        assert_eq!(nearest_name("PORTT"), Some("PORT"));
        assert_eq!(nearest_name("COMPLETELY_DIFFERENT"), None);
        assert_eq!(edit_distance("KITTEN", "SITTING"), 3);
        assert_eq!(edit_distance("", "AB"), 2);
    }

    /// Every variable an envconfig struct in the sources reads is declared here, so
    /// a new variable cannot slip into the file's `[settings]` unjudged.
    #[test]
    fn every_variable_read_in_the_sources_is_declared() {
        fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    found.push(path);
                }
            }
        }
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut undeclared = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for piece in text.split("envconfig(from = \"").skip(1) {
                let name = piece.split('"').next().unwrap();
                if variable(name).is_none() {
                    undeclared.push(name.to_owned());
                }
            }
        }
        assert_eq!(
            undeclared,
            Vec::<String>::new(),
            "declare them in VARIABLES or the integration's config.rs"
        );
    }

    #[test]
    fn every_base_url_and_secret_is_kept_from_the_file() {
        for v in all() {
            if v.name.ends_with("_BASE_URL") {
                assert!(
                    matches!(v.file, FileUse::ReceivesSecret(_)),
                    "{} receives a key",
                    v.name
                );
            }
            if let Some(shape) = secret_by_name(v.name) {
                assert_eq!(v.file, FileUse::Secret(shape), "{}", v.name);
            }
        }
    }
}
