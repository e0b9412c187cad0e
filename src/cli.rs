//! The command line: `alvares [serve]` and `alvares enrich`.

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::domain::enrichment::enrich;
use crate::domain::event::Deployment;

#[derive(Parser, Debug)]
#[command(
    name = "alvares",
    version,
    about = "Turns what the deployment pipeline reports into Slack messages and other integrations' work",
    long_about = "Turns what the deployment pipeline reports into Slack messages and other \
integrations' work.\n\nWith no command, or `serve`, runs the service on PORT (default 3010). \
`enrich` previews what a deployment's labels produce. Both read the same environment variables \
(see the README)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Run the service (the default): accept events on /api/v1/... and
    /// deliver them to the subscribers.
    Serve,
    /// Read one deployment JSON on stdin and print the enriched deployment
    /// JSON on stdout, using the same configuration as the service.
    Enrich,
}

/// The `enrich` command's work: JSON text in, pretty enriched JSON out, or
/// the error to print.
pub fn enrich_json(settings: &Settings, input: &str) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_str(input).map_err(|error| format!("not valid JSON: {error}"))?;
    let deployment = Deployment::from_json(value).map_err(|error| {
        if error.field.is_empty() {
            format!("invalid deployment: {}", error.problem)
        } else {
            format!(
                "invalid deployment: field {}: {}",
                error.field, error.problem
            )
        }
    })?;
    let enriched = enrich(deployment, &settings.enrichment);
    serde_json::to_string_pretty(&enriched.to_json()).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrich_prints_the_enriched_deployment() {
        let settings = Settings::from_map([("UTR_KEYWORD", "ALIVE")]).unwrap();
        let output = enrich_json(
            &settings,
            r#"{"applicationName":"app","cluster":"stage","applicationPath":"/app","x-extra":1}"#,
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_str(&output).unwrap();
        assert_eq!(
            value["monitorUrl"],
            "https://app-r.referens.sys.kth.se/app/_monitor"
        );
        assert_eq!(value["monitorPattern"], "ALIVE");
        assert_eq!(value["x-extra"], 1);
    }

    #[test]
    fn enrich_names_the_bad_field() {
        let settings = Settings::from_map(Vec::<(String, String)>::new()).unwrap();
        assert_eq!(
            enrich_json(&settings, r#"{"applicationName":"app"}"#).unwrap_err(),
            "invalid deployment: field cluster: is required"
        );
        assert!(
            enrich_json(&settings, "{")
                .unwrap_err()
                .starts_with("not valid JSON")
        );
    }
}
