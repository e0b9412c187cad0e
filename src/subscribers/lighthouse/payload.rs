//! The scanner's command line, the report's score and the upload's names,
//! built without I/O.

use std::time::SystemTime;

use serde_json::Value;

use crate::domain::{Deployment, EnrichedDeployment};

/// How a scan is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// `docker run --rm -e URL=<url> -v <dir>:/report <image>`.
    Docker { image: String },
    /// `LIGHTHOUSE_COMMAND`'s words, `{url}` and `{report_dir}` replaced.
    Template(Vec<String>),
}

impl Runner {
    /// `None` for a template without a single word.
    pub fn template(command: &str) -> Option<Runner> {
        let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        (!words.is_empty()).then_some(Runner::Template(words))
    }

    /// The program the runner starts (`docker`, or the template's first
    /// word).
    pub fn program(&self) -> String {
        match self {
            Runner::Docker { .. } => "docker".into(),
            Runner::Template(words) => words.first().cloned().unwrap_or_default(),
        }
    }

    /// The argument vector (never a shell line): the URL is always inside
    /// one argument, whatever characters it holds. `container` names the
    /// Docker container so a stopped scan's container can be removed.
    pub fn argv(&self, url: &str, report_dir: &str, container: &str) -> Vec<String> {
        match self {
            Runner::Docker { image } => vec![
                "docker".into(),
                "run".into(),
                "--rm".into(),
                "--name".into(),
                container.into(),
                "-e".into(),
                format!("URL={url}"),
                "-v".into(),
                format!("{report_dir}:/report"),
                image.clone(),
            ],
            Runner::Template(words) => words
                .iter()
                .map(|word| {
                    word.replace("{report_dir}", report_dir)
                        .replace("{url}", url)
                })
                .collect(),
        }
    }
}

/// Whether `program` can be started: a path to an executable file, or a
/// name found in one of `path`'s folders.
pub fn is_executable_on_path(program: &str, path: Option<&std::ffi::OsStr>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |candidate: &std::path::Path| {
        candidate
            .metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(std::path::Path::new(program));
    }
    path.is_some_and(|path| std::env::split_paths(path).any(|dir| executable(&dir.join(program))))
}

/// The URLs to scan: `accessibilityUrls`, else `applicationUrl`.
pub fn urls(deployment: &EnrichedDeployment) -> Vec<String> {
    if !deployment.accessibility_urls.is_empty() {
        return deployment.accessibility_urls.clone();
    }
    Some(deployment.application_url.trim().to_owned())
        .filter(|url| !url.is_empty())
        .into_iter()
        .collect()
}

/// Only an absolute http(s) URL with a host, without spaces or control
/// characters, is handed to the scanner.
pub fn checked_url(url: &str) -> Result<&str, String> {
    let refused = || format!("refused to scan {url:?}: not an absolute http(s) URL");
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refused());
    }
    let parsed = url::Url::parse(url).map_err(|_| refused())?;
    match parsed.scheme() {
        "http" | "https" if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        _ => Err(refused()),
    }
}

/// The categories that make the total score.
const SCORED: [&str; 4] = ["accessibility", "performance", "best-practices", "seo"];

/// The sum of the four category scores (each 0..1; missing or null is 0).
pub fn total_score(report: &Value) -> f64 {
    SCORED
        .iter()
        .filter_map(|category| report["categories"][category]["score"].as_f64())
        .sum()
}

/// The Lighthouse result embedded in an HTML report
/// (`window.__LIGHTHOUSE_JSON__ = {…};`).
pub fn embedded_report(html: &str) -> Option<Value> {
    const MARKER: &str = "__LIGHTHOUSE_JSON__";
    let mut rest = html;
    while let Some(at) = rest.find(MARKER) {
        rest = &rest[at + MARKER.len()..];
        let Some(json) = rest.trim_start().strip_prefix('=') else {
            continue;
        };
        let mut values = serde_json::Deserializer::from_str(json).into_iter::<Value>();
        if let Some(Ok(value @ Value::Object(_))) = values.next() {
            return Some(value);
        }
    }
    None
}

/// `report_<applicationName>_<cluster>_<YYYY-MM-DD_HH-MM>.html`, in UTC.
pub fn file_name(deployment: &Deployment, at: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_seconds(at).to_string();
    // 2026-11-25T16:56:02Z
    let minute = format!("{}_{}-{}", &stamp[..10], &stamp[11..13], &stamp[14..16]);
    format!(
        "report_{}_{}_{minute}.html",
        deployment.application_name, deployment.cluster
    )
}

pub fn title(deployment: &EnrichedDeployment) -> String {
    let name = Some(deployment.friendly_name.as_str())
        .filter(|name| !name.trim().is_empty())
        .unwrap_or(&deployment.application_name);
    format!("{name} - Performance and Accessibility Audit")
}

/// The upload's comment, Slack text: the URL comes from the event, so it
/// is escaped.
pub fn comment(url: &str, score: f64) -> String {
    format!(
        "This report was created by scanning {} and the total score for this report was {score:.2}/4.0",
        crate::domain::slack_text::escape(url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::enrichment::{EnrichmentSettings, enrich};
    use std::time::{Duration, UNIX_EPOCH};

    const FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/lighthouse-report.html"
    ));

    fn sample() -> EnrichedDeployment {
        let json = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/deployment.json"
        ));
        let deployment = Deployment::from_json(serde_json::from_str(json).unwrap()).unwrap();
        enrich(deployment, &EnrichmentSettings::default())
    }

    #[test]
    fn the_fixture_report_scores_3_04() {
        let report = embedded_report(FIXTURE).expect("the fixture embeds its result");
        let score = total_score(&report);
        assert!((score - 3.04).abs() < 1e-9, "{score}");
        assert_eq!(
            comment("https://app.kth.se/kth-azure-app", score),
            "This report was created by scanning https://app.kth.se/kth-azure-app and the total score for this report was 3.04/4.0"
        );
    }

    #[test]
    fn missing_or_null_categories_count_zero() {
        let report = serde_json::json!({"categories": {
            "accessibility": {"score": 0.5}, "seo": {"score": null}, "pwa": {"score": 1.0}
        }});
        assert_eq!(total_score(&report), 0.5);
        assert_eq!(embedded_report("<html>no result</html>"), None);
        assert_eq!(
            comment("https://x.test/?a=<!channel>&b", 1.0),
            "This report was created by scanning https://x.test/?a=&lt;!channel&gt;&amp;b and the total score for this report was 1.00/4.0"
        );
    }

    #[test]
    fn the_docker_runner_keeps_the_url_in_one_argument() {
        let runner = Runner::Docker {
            image: "kthse/kth-lighthouse:latest".into(),
        };
        assert_eq!(
            runner.argv("https://x.example/$(touch /tmp/p); ls", "/tmp/r1", "c1"),
            [
                "docker",
                "run",
                "--rm",
                "--name",
                "c1",
                "-e",
                "URL=https://x.example/$(touch /tmp/p); ls",
                "-v",
                "/tmp/r1:/report",
                "kthse/kth-lighthouse:latest"
            ]
        );
    }

    #[test]
    fn templates_replace_inside_words() {
        let runner = Runner::template("  /bin/sh scan.sh --url={url} {report_dir}/out ").unwrap();
        assert_eq!(
            runner.argv("https://a.example/`id`", "/tmp/r", "c"),
            [
                "/bin/sh",
                "scan.sh",
                "--url=https://a.example/`id`",
                "/tmp/r/out"
            ]
        );
        assert_eq!(Runner::template("  "), None);
    }

    #[test]
    fn only_http_urls_are_scanned() {
        assert!(checked_url("https://app.kth.se/x?y=1").is_ok());
        assert!(checked_url("http://localhost:3000/").is_ok());
        for bad in [
            "ftp://x.example/",
            "/relative",
            "-e URL=x",
            "https://x.example/ $(id)",
            "file:///etc/passwd",
            "javascript:alert(1)",
        ] {
            assert!(checked_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_follow_the_spec() {
        let at = UNIX_EPOCH + Duration::from_secs(1_764_089_762); // 2025-11-25T16:56:02Z
        assert_eq!(
            file_name(&sample(), at),
            "report_kth-azure-app_active_2025-11-25_16-56.html"
        );
        assert_eq!(
            title(&sample()),
            "Monitor application - Performance and Accessibility Audit"
        );
    }

    #[test]
    fn url_choice_prefers_accessibility_urls() {
        let mut deployment = sample();
        assert_eq!(urls(&deployment), ["https://app.kth.se/kth-azure-app"]);
        deployment.accessibility_urls = vec!["https://a".into(), "https://b".into()];
        assert_eq!(urls(&deployment), ["https://a", "https://b"]);
    }
}
