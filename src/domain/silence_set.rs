//! Every silence in force, compiled once when the silences change into one
//! index per field, so that asking which silence holds back a delivery
//! costs about the same with one silence or a thousand (patterns are not
//! tried one by one per event and subscriber).
//!
//! The patterns keep their meaning (the `glob` crate's, as silences were
//! matched before): `?` any character, `*` any text, `**` a whole path
//! component, `[…]`/`[!…]` a character class. Each pattern goes where it is
//! cheapest: an exact value into a hash map, `prefix*` and `*suffix` into
//! maps by their fixed part, and any other glob under the longest fixed
//! text inside it: one Aho-Corasick automaton per field finds which of
//! those texts a value holds, and only the globs holding one are tried.
//! (Globs with no fixed text at all, such as `?*`, are tried in turn.)

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use serde_json::Value;

use super::EventKind;
use super::matching::value_texts;
use super::silence::Silence;

/// A silence's place in the set.
type Index = u32;

/// Values keyed by a fixed part of the text (its start or its end), with
/// the keys' lengths, so that a text is looked up once per length (at most
/// `MAX_PATTERN_CHARS` of them) whatever the number of keys.
#[derive(Debug)]
struct ByAffix<T> {
    from_start: bool,
    map: HashMap<String, T>,
    lengths: Vec<usize>,
}

impl<T> ByAffix<T> {
    fn new(from_start: bool) -> Self {
        ByAffix {
            from_start,
            map: HashMap::new(),
            lengths: Vec::new(),
        }
    }

    fn entry(&mut self, affix: String) -> &mut T
    where
        T: Default,
    {
        if !self.lengths.contains(&affix.len()) {
            self.lengths.push(affix.len());
        }
        self.map.entry(affix).or_default()
    }

    /// Every value whose key starts (or ends) `text`.
    fn lookup<'a>(&'a self, text: &'a str) -> impl Iterator<Item = &'a T> + 'a {
        self.lengths.iter().filter_map(move |&length| {
            let affix = if self.from_start {
                text.get(..length)
            } else {
                text.len()
                    .checked_sub(length)
                    .and_then(|start| text.get(start..))
            };
            affix.and_then(|affix| self.map.get(affix))
        })
    }
}

/// Globs that are neither a fixed text nor `prefix*`/`*suffix`.
#[derive(Debug, Default)]
struct Globs {
    /// Finds the fixed texts of the globs in a value.
    finder: Option<AhoCorasick>,
    /// By the finder's pattern id: the globs holding that fixed text.
    holding: Vec<Vec<(glob::Pattern, Index)>>,
    /// Globs without any fixed text.
    unfixed: Vec<(glob::Pattern, Index)>,
}

impl Globs {
    fn matches(&self, text: &str, hit: &mut impl FnMut(Index)) {
        let try_each = |globs: &[(glob::Pattern, Index)], hit: &mut dyn FnMut(Index)| {
            for (pattern, owner) in globs {
                if pattern.matches(text) {
                    hit(*owner);
                }
            }
        };
        if let Some(finder) = &self.finder {
            let mut found: Vec<usize> = finder
                .find_overlapping_iter(text)
                .map(|found| found.pattern().as_usize())
                .collect();
            found.sort_unstable();
            found.dedup();
            for id in found {
                try_each(&self.holding[id], hit);
            }
        }
        try_each(&self.unfixed, hit);
    }
}

/// One field's patterns, from every silence that tests the field.
#[derive(Debug)]
struct FieldIndex {
    field: String,
    exact: HashMap<String, Vec<Index>>,
    /// `prefix*` by prefix, `*suffix` by suffix.
    prefix: ByAffix<Vec<Index>>,
    suffix: ByAffix<Vec<Index>>,
    globs: Globs,
}

impl FieldIndex {
    /// Calls `hit` with each silence one of whose patterns matches `text`
    /// (a silence may come more than once).
    fn matches(&self, text: &str, hit: &mut impl FnMut(Index)) {
        let owners = self
            .exact
            .get(text)
            .into_iter()
            .chain(self.prefix.lookup(text))
            .chain(self.suffix.lookup(text));
        for owners in owners {
            owners.iter().copied().for_each(&mut *hit);
        }
        self.globs.matches(text, hit);
    }
}

/// The silences in force, compiled.
#[derive(Debug, Default)]
pub struct SilenceSet {
    silences: Vec<Silence>,
    /// How many fields each silence tests (all must match).
    needed: Vec<u32>,
    /// Whether a silence tests `subscriber`.
    by_subscriber: Vec<bool>,
    /// The fields of the event (and `kind`), then `subscriber` apart.
    fields: Vec<FieldIndex>,
    subscriber: Option<FieldIndex>,
}

/// Why a set of silences could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the silences' patterns could not be compiled: {0}")]
pub struct CompileError(String);

impl SilenceSet {
    /// Compiles the silences, keeping their order: when several match, the
    /// first one is named.
    pub fn new(silences: Vec<Silence>) -> Result<Self, CompileError> {
        let mut builders: Vec<(String, Builder)> = Vec::new();
        let mut needed = Vec::with_capacity(silences.len());
        let mut by_subscriber = Vec::with_capacity(silences.len());
        for (index, silence) in silences.iter().enumerate() {
            let index = Index::try_from(index).map_err(|_| CompileError("too many".into()))?;
            needed.push(silence.matchers.0.len() as u32);
            by_subscriber.push(
                silence
                    .matchers
                    .0
                    .iter()
                    .any(|matcher| matcher.field == "subscriber"),
            );
            for matcher in &silence.matchers.0 {
                let at = match builders.iter().position(|(f, _)| *f == matcher.field) {
                    Some(at) => at,
                    None => {
                        builders.push((matcher.field.clone(), Builder::default()));
                        builders.len() - 1
                    }
                };
                let builder = &mut builders[at].1;
                for pattern in &matcher.patterns {
                    builder.add(pattern.as_str(), index);
                }
            }
        }
        let mut fields = Vec::new();
        let mut subscriber = None;
        for (field, builder) in builders {
            let index = builder.build(field)?;
            if index.field == "subscriber" {
                subscriber = Some(index);
            } else {
                fields.push(index);
            }
        }
        Ok(SilenceSet {
            silences,
            needed,
            by_subscriber,
            fields,
            subscriber,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.silences.is_empty()
    }

    pub fn len(&self) -> usize {
        self.silences.len()
    }

    pub fn silences(&self) -> &[Silence] {
        &self.silences
    }

    /// The event's fields matched once; then each subscriber is asked
    /// about with [`EventSilences::silencing`].
    pub fn for_event(&self, now_ms: i64, kind: EventKind, event: &Value) -> EventSilences<'_> {
        if self.silences.is_empty() {
            return EventSilences {
                set: self,
                candidates: Vec::new(),
            };
        }
        let mut hits = vec![0u32; self.silences.len()];
        // The field a silence last counted for: one count per field.
        let mut counted = vec![usize::MAX; self.silences.len()];
        let kind_value = Value::String(kind.as_str().into());
        for (position, index) in self.fields.iter().enumerate() {
            let value = if index.field == "kind" {
                Some(&kind_value)
            } else {
                event.get(&index.field)
            };
            for text in value_texts(value) {
                index.matches(&text, &mut |silence| {
                    let silence = silence as usize;
                    if counted[silence] != position {
                        counted[silence] = position;
                        hits[silence] += 1;
                    }
                });
            }
        }
        let candidates = (0..self.silences.len())
            .filter(|&silence| {
                let missing = self.needed[silence] - hits[silence];
                let allowed = u32::from(self.by_subscriber[silence]);
                missing <= allowed && self.silences[silence].is_active(now_ms)
            })
            .map(|silence| silence as Index)
            .collect();
        EventSilences {
            set: self,
            candidates,
        }
    }
}

/// One event's silences: those whose every condition but `subscriber`
/// holds, in the set's order.
pub struct EventSilences<'a> {
    set: &'a SilenceSet,
    candidates: Vec<Index>,
}

impl<'a> EventSilences<'a> {
    /// The first silence that holds back this event's delivery to
    /// `subscriber`.
    pub fn silencing(&self, subscriber: &str) -> Option<&'a Silence> {
        if self.candidates.is_empty() {
            return None;
        }
        let mut subscriber_hits = Vec::new();
        if let Some(index) = &self.set.subscriber {
            index.matches(subscriber, &mut |silence| subscriber_hits.push(silence));
        }
        self.candidates
            .iter()
            .copied()
            .find(|&silence| {
                !self.set.by_subscriber[silence as usize] || subscriber_hits.contains(&silence)
            })
            .map(|silence| &self.set.silences[silence as usize])
    }
}

/// Collects one field's patterns by where each goes.
struct Builder {
    exact: HashMap<String, Vec<Index>>,
    prefix: ByAffix<Vec<Index>>,
    suffix: ByAffix<Vec<Index>>,
    /// The other globs by their longest fixed text (empty: none).
    by_fixed: HashMap<String, Vec<(glob::Pattern, Index)>>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            exact: HashMap::new(),
            prefix: ByAffix::new(true),
            suffix: ByAffix::new(false),
            by_fixed: HashMap::new(),
        }
    }
}

impl Builder {
    fn add(&mut self, pattern: &str, owner: Index) {
        let (Some(tokens), Ok(glob)) = (parse(pattern), glob::Pattern::new(pattern)) else {
            // Refused when the silence was made; nothing can match it.
            return;
        };
        match classify(&tokens) {
            Shape::Never => {}
            Shape::Exact(text) => self.exact.entry(text).or_default().push(owner),
            Shape::Prefix(text) => self.prefix.entry(text).push(owner),
            Shape::Suffix(text) => self.suffix.entry(text).push(owner),
            Shape::Other => self
                .by_fixed
                .entry(longest_fixed(&tokens))
                .or_default()
                .push((glob, owner)),
        }
    }

    fn build(mut self, field: String) -> Result<FieldIndex, CompileError> {
        let unfixed = self.by_fixed.remove("").unwrap_or_default();
        let (texts, holding): (Vec<String>, Vec<_>) = self.by_fixed.into_iter().unzip();
        let finder = if texts.is_empty() {
            None
        } else {
            Some(AhoCorasick::new(&texts).map_err(|error| CompileError(error.to_string()))?)
        };
        Ok(FieldIndex {
            field,
            exact: self.exact,
            prefix: self.prefix,
            suffix: self.suffix,
            globs: Globs {
                finder,
                holding,
                unfixed,
            },
        })
    }
}

/// The longest run of fixed characters in a pattern (the first of equal
/// ones): a text the pattern matches holds it.
fn longest_fixed(tokens: &[Token]) -> String {
    let mut longest: &[Token] = &[];
    for run in tokens.split(|token| !matches!(token, Token::Char(_))) {
        if run.len() > longest.len() {
            longest = run;
        }
    }
    longest
        .iter()
        .filter_map(|token| match token {
            Token::Char(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// A pattern's parts, as the `glob` crate reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyChar,
    AnySequence,
    /// `**` (with the `/` after it): empty, any text ending in `/`, or all
    /// that is left (the rest of the pattern then matching nothing).
    AnyRecursive,
    /// `[…]` or `[!…]`: inclusive ranges (a single character is one).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// The tokens of a pattern, or `None` where `glob::Pattern::new` refuses
/// it. Mirrors that parser rule for rule.
fn parse(pattern: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '?' => {
                tokens.push(Token::AnyChar);
                i += 1;
            }
            '*' => {
                let start = i;
                while i < chars.len() && chars[i] == '*' {
                    i += 1;
                }
                match i - start {
                    1 => tokens.push(Token::AnySequence),
                    2 => {
                        // Only as a whole path component.
                        if start != 0 && chars[start - 1] != '/' {
                            return None;
                        }
                        if i < chars.len() && chars[i] == '/' {
                            i += 1;
                        } else if i != chars.len() {
                            return None;
                        }
                        tokens.push(Token::AnyRecursive);
                    }
                    _ => return None,
                }
            }
            '[' => {
                let (negated, body_start) = if i + 4 <= chars.len() && chars[i + 1] == '!' {
                    (true, i + 2)
                } else if i + 3 <= chars.len() && chars[i + 1] != '!' {
                    (false, i + 1)
                } else {
                    return None;
                };
                // The first character of the body may be `]` itself.
                let close =
                    chars[body_start + 1..].iter().position(|&c| c == ']')? + body_start + 1;
                tokens.push(Token::Class {
                    negated,
                    ranges: class_ranges(&chars[body_start..close]),
                });
                i = close + 1;
            }
            c => {
                tokens.push(Token::Char(c));
                i += 1;
            }
        }
    }
    Some(tokens)
}

/// `a-z` is a range (reversed, it holds nothing); anything else one
/// character.
fn class_ranges(body: &[char]) -> Vec<(char, char)> {
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if i + 3 <= body.len() && body[i + 1] == '-' {
            ranges.push((body[i], body[i + 2]));
            i += 3;
        } else {
            ranges.push((body[i], body[i]));
            i += 1;
        }
    }
    ranges
}

enum Shape {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Other,
    /// A class that holds no character: matches nothing.
    Never,
}

fn classify(tokens: &[Token]) -> Shape {
    let empty_class = tokens.iter().any(|token| {
        matches!(token, Token::Class { negated: false, ranges }
            if ranges.iter().all(|(low, high)| low > high))
    });
    if empty_class {
        return Shape::Never;
    }
    let literal = |tokens: &[Token]| -> Option<String> {
        tokens
            .iter()
            .map(|token| match token {
                Token::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    };
    if let Some(text) = literal(tokens) {
        return Shape::Exact(text);
    }
    if let Some((Token::AnySequence, head)) = tokens.split_last()
        && let Some(text) = literal(head)
    {
        return Shape::Prefix(text);
    }
    if let Some((Token::AnySequence, tail)) = tokens.split_first()
        && let Some(text) = literal(tail)
    {
        return Shape::Suffix(text);
    }
    Shape::Other
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::domain::matching::Conditions;

    fn silence(id: &str, matchers: &[(&str, &[&str])], starts_at: i64, ends_at: i64) -> Silence {
        let spec: BTreeMap<String, Vec<String>> = matchers
            .iter()
            .map(|(field, patterns)| {
                (
                    (*field).to_owned(),
                    patterns.iter().map(|p| (*p).to_owned()).collect(),
                )
            })
            .collect();
        Silence {
            id: id.into(),
            matchers: Conditions::parse(&spec).expect("valid patterns"),
            starts_at,
            ends_at,
            comment: String::new(),
            created_by: String::new(),
        }
    }

    /// What routing did before: every silence tried in turn.
    fn one_by_one<'a>(
        silences: &'a [Silence],
        now: i64,
        kind: EventKind,
        event: &Value,
        subscriber: &str,
    ) -> Option<&'a str> {
        silences
            .iter()
            .find(|s| s.silences(now, kind, event, subscriber))
            .map(|s| s.id.as_str())
    }

    fn compiled<'a>(
        set: &'a SilenceSet,
        now: i64,
        kind: EventKind,
        event: &Value,
        subscriber: &str,
    ) -> Option<&'a str> {
        set.for_event(now, kind, event)
            .silencing(subscriber)
            .map(|s| s.id.as_str())
    }

    fn single_pattern_matches(pattern: &str, text: &str) -> bool {
        let set =
            SilenceSet::new(vec![silence("s", &[("f", &[pattern])], 0, 10)]).expect("compiles");
        compiled(&set, 1, EventKind::Error, &json!({"f": text}), "x").is_some()
    }

    #[test]
    fn each_shape_of_pattern_matches_as_glob_does() {
        let cases = [
            ("kth-app", "kth-app", true),
            ("kth-app", "kth-apps", false),
            ("kth-*", "kth-app", true),
            ("kth-*", "kth-", true),
            ("kth-*", "lms-kth-", false),
            ("*-web", "lms-web", true),
            ("*-web", "lms-web2", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a*b*c", "a/x/b--c", true),
            ("[ab]x", "bx", true),
            ("[!ab]x", "bx", false),
            ("[!ab]x", "cx", true),
            ("[a-c]", "b", true),
            ("[c-a]", "b", false),
            ("[]]", "]", true),
            ("[!]]", "]", false),
            ("[*]", "*", true),
            ("[*]", "x", false),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
            ("a/**", "a/x", true),
            ("a/**", "a/x/", true),
            ("**/b", "xb", false),
            ("**/b", "x/b", true),
            ("**/*", "anything", true),
            ("{a,b}", "a", false),
            ("{a,b}", "{a,b}", true),
            ("a\\b", "a\\b", true),
            ("^a$", "^a$", true),
            ("å*", "åäö", true),
        ];
        for (pattern, text, expected) in cases {
            let glob = glob::Pattern::new(pattern).unwrap().matches(text);
            assert_eq!(glob, expected, "glob itself: {pattern} ~ {text}");
            assert_eq!(
                single_pattern_matches(pattern, text),
                expected,
                "{pattern} ~ {text}"
            );
        }
    }

    #[test]
    fn patterns_glob_refuses_are_refused_by_the_parser_too() {
        for pattern in ["[", "[!]", "a**", "**a", "***", "[a", "[!a"] {
            assert!(glob::Pattern::new(pattern).is_err(), "{pattern}");
            assert_eq!(parse(pattern), None, "{pattern}");
        }
    }

    #[test]
    fn the_first_silence_in_force_whose_every_field_matches_is_named() {
        let set = SilenceSet::new(vec![
            silence("pending", &[("applicationName", &["kth-*"])], 50, 100),
            silence(
                "deployments-to-slack",
                &[
                    ("applicationName", &["kth-*"]),
                    ("kind", &["deployment"]),
                    ("subscriber", &["slack-*"]),
                ],
                0,
                100,
            ),
            silence("active-cluster", &[("cluster", &["active"])], 0, 100),
            silence("channels", &[("slackChannels", &["#ops"])], 0, 100),
        ])
        .unwrap();
        let event = json!({"applicationName": "kth-app", "cluster": "stage", "slackChannels": ["#dev", "#ops"]});
        let at = |now, kind, subscriber| compiled(&set, now, kind, &event, subscriber);
        assert_eq!(
            at(10, EventKind::Deployment, "slack-deployment"),
            Some("deployments-to-slack")
        );
        assert_eq!(at(10, EventKind::Deployment, "database"), Some("channels"));
        assert_eq!(
            at(10, EventKind::Error, "slack-error"),
            Some("channels"),
            "kind must match"
        );
        assert_eq!(at(60, EventKind::Error, "x"), Some("pending"));
        assert_eq!(at(100, EventKind::Error, "x"), None, "all ended");
        let other = json!({"applicationName": "lms", "cluster": "active", "slackChannels": "#ops"});
        assert_eq!(
            compiled(&set, 10, EventKind::Deployment, &other, "x"),
            Some("active-cluster")
        );
        assert!(SilenceSet::new(Vec::new()).unwrap().is_empty());
    }

    #[test]
    fn a_thousand_silences_of_a_hundred_patterns_compile_and_answer_quickly() {
        let silences: Vec<Silence> = (0..1_000)
            .map(|n| {
                let patterns: Vec<String> = (0..100)
                    .map(|p| match p % 4 {
                        _ if p % 10 == 0 => format!("?pp-{n}-{p}*"),
                        _ if p % 10 == 5 => format!("*[!z]-{n}-{p}-*"),
                        0 => format!("app-{n}-{p}"),
                        1 => format!("app-{n}-{p}-*"),
                        2 => format!("*-{n}-{p}"),
                        _ => format!("app-{n}-[0-9]{p}*x"),
                    })
                    .collect();
                let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
                silence(&format!("s{n}"), &[("applicationName", &patterns)], 0, 100)
            })
            .collect();
        let started = std::time::Instant::now();
        let set = SilenceSet::new(silences).unwrap();
        let compiled_in = started.elapsed();
        let event = json!({"applicationName": "app-999-99-7x"});
        let started = std::time::Instant::now();
        for _ in 0..100 {
            assert_eq!(
                compiled(&set, 1, EventKind::Deployment, &event, "slack-deployment"),
                None
            );
        }
        let per_event = started.elapsed() / 100;
        let hit = json!({"applicationName": "app-999-97-x"});
        assert_eq!(
            compiled(&set, 1, EventKind::Deployment, &hit, "database"),
            Some("s999")
        );
        eprintln!("compiled 100,000 patterns in {compiled_in:?}; {per_event:?} per event");
    }

    fn pattern() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[ab/*?\\[\\]!-]{0,6}").unwrap()
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[ab/!\\[\\]-]{0,6}").unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Any pattern `glob` accepts means the same compiled.
        #[test]
        fn a_compiled_pattern_matches_what_glob_matches(pattern in pattern(), text in text()) {
            let parsed = glob::Pattern::new(&pattern);
            prop_assert_eq!(parse(&pattern).is_some(), parsed.is_ok(), "{}", pattern);
            if let Ok(glob) = parsed {
                prop_assert_eq!(
                    single_pattern_matches(&pattern, &text),
                    glob.matches(&text),
                    "{} ~ {}", pattern, text
                );
            }
        }

        /// Whole silences: the compiled set names the same silence as
        /// trying each in turn did.
        #[test]
        fn the_set_names_the_silence_trying_each_would(
            specs in proptest::collection::vec(
                (
                    proptest::collection::vec("(kth|lms|\\*)-[ab?]{0,2}\\*?", 1..3),
                    proptest::option::of(proptest::collection::vec("active|stage|[as]\\*", 1..3)),
                    proptest::option::of(proptest::collection::vec("deployment|error|\\*", 1..2)),
                    proptest::option::of(proptest::collection::vec("slack-\\*|database|\\*-error", 1..3)),
                    0i64..20,
                    10i64..30,
                ),
                0..8,
            ),
            application in "(kth|lms)-[ab]{0,2}",
            cluster in "active|stage",
            kind in prop_oneof![Just(EventKind::Deployment), Just(EventKind::Error)],
            subscriber in "slack-deployment|slack-error|database",
            now in 0i64..30,
        ) {
            let silences: Vec<Silence> = specs
                .iter()
                .enumerate()
                .map(|(n, (names, clusters, kinds, subscribers, starts, ends))| {
                    let mut spec = BTreeMap::new();
                    spec.insert("applicationName".to_owned(), names.clone());
                    if let Some(clusters) = clusters {
                        spec.insert("cluster".to_owned(), clusters.clone());
                    }
                    if let Some(kinds) = kinds {
                        spec.insert("kind".to_owned(), kinds.clone());
                    }
                    if let Some(subscribers) = subscribers {
                        spec.insert("subscriber".to_owned(), subscribers.clone());
                    }
                    Silence {
                        id: format!("s{n}"),
                        matchers: Conditions::parse(&spec).unwrap(),
                        starts_at: *starts,
                        ends_at: *ends,
                        comment: String::new(),
                        created_by: String::new(),
                    }
                })
                .collect();
            let event = json!({"applicationName": application, "cluster": cluster, "slackChannels": ["#a"]});
            let set = SilenceSet::new(silences.clone()).unwrap();
            prop_assert_eq!(
                compiled(&set, now, kind, &event, &subscriber),
                one_by_one(&silences, now, kind, &event, &subscriber)
            );
        }
    }
}
