//! The `alvares` binary's commands.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::FIXTURES;

const BINARY: &str = env!("CARGO_BIN_EXE_alvares");

fn run(args: &[&str], env: &[(&str, &str)], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(BINARY)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn enrich_prints_the_enriched_fixture() {
    let input = std::fs::read_to_string(format!("{FIXTURES}/deployment.json")).unwrap();
    let (code, stdout, stderr) = run(&["enrich"], &[], &input);
    assert_eq!(code, 0, "{stderr}");
    let enriched: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        enriched["applicationUrl"],
        "https://app.kth.se/kth-azure-app"
    );
    assert_eq!(
        enriched["monitorUrl"],
        "https://app.kth.se/kth-azure-app/_monitor"
    );
    assert_eq!(
        enriched["aboutUrl"],
        "https://app.kth.se/kth-azure-app/_about"
    );
    assert_eq!(enriched["friendlyName"], "Monitor application");
    assert_eq!(enriched["monitorPattern"], "APPLICATION_STATUS: OK");
    assert_eq!(enriched["importance"], "high");
    assert_eq!(enriched["team"], "team-studadm");
}

#[test]
fn enrich_uses_the_same_configuration_as_the_service() {
    let input = r#"{"applicationName": "a", "cluster": "active", "applicationPath": "/a"}"#;
    let (code, stdout, _) = run(
        &["enrich"],
        &[
            ("ACTIVE_APP_HOST", "https://apps.example.org/"),
            ("UTR_KEYWORD", "UP"),
        ],
        input,
    );
    assert_eq!(code, 0);
    let enriched: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        enriched["monitorUrl"],
        "https://apps.example.org/a/_monitor"
    );
    assert_eq!(enriched["monitorPattern"], "UP");
}

#[test]
fn enrich_names_the_bad_field() {
    let (code, stdout, stderr) = run(&["enrich"], &[], r#"{"applicationName": "a"}"#);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "alvares enrich: invalid deployment: field cluster: is required\n"
    );
}

#[test]
fn help_explains_both_commands() {
    let (code, stdout, _) = run(&["--help"], &[], "");
    assert_eq!(code, 0);
    assert!(stdout.contains("serve"), "{stdout}");
    assert!(stdout.contains("enrich"), "{stdout}");
    assert!(stdout.contains("PORT (default 3010)"), "{stdout}");
}

#[test]
fn a_bad_value_stops_start_up_naming_the_variable() {
    let (code, _, stderr) = run(&[], &[("PORT", "not-a-port")], "");
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "alvares: configuration error: PORT has an invalid value: expected a port number (1-65535)\n"
    );
    let (code, _, stderr) = run(&["serve"], &[("SLACK_API_BASE_URL", "slack.com/api")], "");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("SLACK_API_BASE_URL has an invalid value: expected an http(s) URL"),
        "{stderr}"
    );
}

/// Runs a command whose reader has gone before it writes (as with
/// `alvares check-config | head`): the reading end of its stdout is closed
/// first, then its stdin (read whole before anything is written) is given.
fn run_with_stdout_closed(args: &[&str], env: &[(&str, &str)], stdin: &str) -> (i32, String) {
    let mut child = Command::new(BINARY)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A closed pipe on stdout is no failure and no panic (it was exit status
/// 101 with "failed printing to stdout"): the command ends with status 0.
#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let deployment = std::fs::read_to_string(format!("{FIXTURES}/deployment.json")).unwrap();
    let (code, stderr) = run_with_stdout_closed(&["enrich"], &[], &deployment);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let mut env = crate::helpers::example_destinations_off(&[]);
    env.extend([
        (
            "INCIDENTS_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        ),
        (
            "INCIDENTS_WEBHOOK_URL",
            "https://incidents.example/hooks/alvares".to_owned(),
        ),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let example = crate::helpers::EXAMPLE;
    let (code, stderr) = run_with_stdout_closed(&["check-config", example], &env, "");
    assert_eq!((code, stderr.as_str()), (0, ""));
    // An error still fails, on stderr.
    let (code, stderr) = run_with_stdout_closed(&["check-config", "/no/such/file.toml"], &[], "");
    assert_eq!(code, 1);
    assert!(stderr.starts_with("alvares check-config: "), "{stderr}");
}

/// The built-in templates come from the integrations' folders (each
/// submits its own): the binary has every one of them.
#[test]
fn check_config_names_every_built_in_template_the_binary_carries() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alvares.toml");
    std::fs::write(&file, "[templates]\nslack-deploymnt = \"{}\"\n").unwrap();
    let (code, stdout, stderr) = run(&["check-config", file.to_str().unwrap()], &[], "");
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "templates.slack-deploymnt: no such template (the built-in ones are \
             application-endpoint, discord-deployment, discord-error, discord-recommendation, \
             email-html-deployment, email-html-error, email-html-recommendation, \
             email-text-deployment, email-text-error, email-text-recommendation, \
             google-chat-deployment, google-chat-error, google-chat-recommendation, \
             mattermost-deployment, mattermost-error, mattermost-recommendation, \
             slack-deployment, slack-error, slack-recommendation, \
             teams-deployment, teams-error, teams-recommendation, uptimerobot)"
        ),
        "{stderr}"
    );
    assert_eq!(
        alvares::templates::built_in_names(),
        [
            "application-endpoint",
            "discord-deployment",
            "discord-error",
            "discord-recommendation",
            "email-html-deployment",
            "email-html-error",
            "email-html-recommendation",
            "email-text-deployment",
            "email-text-error",
            "email-text-recommendation",
            "google-chat-deployment",
            "google-chat-error",
            "google-chat-recommendation",
            "mattermost-deployment",
            "mattermost-error",
            "mattermost-recommendation",
            "slack-deployment",
            "slack-error",
            "slack-recommendation",
            "teams-deployment",
            "teams-error",
            "teams-recommendation",
            "uptimerobot"
        ]
    );
}
