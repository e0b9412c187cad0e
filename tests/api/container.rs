//! What the container image and the deployment examples rely on:
//! `alvares healthcheck` against the real binary; every example manifest
//! parses and keeps the facts the service depends on (grace period,
//! non-root user, probes); the Dockerfile builds with the command CI runs.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use yaml_rust2::{Yaml, YamlLoader};

use crate::helpers::free_port;

const BINARY: &str = env!("CARGO_BIN_EXE_alvares");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Secrets the service and the probe both see; neither may print them.
const SECRETS: [(&str, &str); 3] = [
    ("ADMIN_TOKEN", "admin-secret-5150"),
    ("INGEST_TOKEN", "ingest-secret-1337"),
    ("DB_PASSWORD", "db-secret-2112"),
];

/// The real binary serving on `port` with its own SQLite file; killed and
/// reaped when dropped, also when an assertion fails.
struct Service {
    child: Child,
    _data: tempfile::TempDir,
}

impl Service {
    fn start(port: u16) -> Self {
        let data = tempfile::tempdir().unwrap();
        let child = Command::new(BINARY)
            .arg("serve")
            .env_clear()
            .env("PORT", port.to_string())
            .env("DB_URL", data.path().join("alvares.db"))
            .env("HTTP_WORKERS", "1")
            .env("RUST_LOG", "warn")
            .envs(SECRETS)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Service { child, _data: data }
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the service exited early: {status}");
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `alvares healthcheck` with `env` only: exit code, stdout, stderr.
fn healthcheck(env: &[(&str, String)]) -> (i32, String, String) {
    let output = Command::new(BINARY)
        .arg("healthcheck")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn env_with_secrets(port: u16) -> Vec<(&'static str, String)> {
    let mut env = vec![("PORT", port.to_string())];
    env.extend(SECRETS.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

fn assert_no_secret(output: &str) {
    for (_, secret) in SECRETS {
        assert!(!output.contains(secret), "{secret} printed: {output}");
    }
}

#[test]
fn healthcheck_passes_against_the_running_service() {
    let port = free_port();
    let mut service = Service::start(port);
    let env = env_with_secrets(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last;
    loop {
        service.assert_running();
        last = healthcheck(&env);
        if last.0 == 0 || Instant::now() > deadline {
            break;
        }
        // Between attempts only: the loop ends on success or the deadline.
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, stdout, stderr) = last;
    assert_eq!(code, 0, "healthcheck did not pass within 30 s: {stderr}");
    assert!(stdout.contains("200"), "{stdout}");
    assert_no_secret(&stdout);
    assert_no_secret(&stderr);
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let port = free_port();
    let (code, stdout, stderr) = healthcheck(&env_with_secrets(port));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "one line says why: {stderr}");
    assert!(
        stderr.starts_with(&format!(
            "alvares healthcheck: unhealthy: could not connect to 127.0.0.1:{port}: "
        )),
        "{stderr}"
    );
    assert_no_secret(&stderr);
}

#[test]
fn healthcheck_with_a_bad_configuration_is_unhealthy_not_docker_reserved_2() {
    let (code, _, stderr) = healthcheck(&[("PORT", "not-a-port".to_owned())]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("PORT has an invalid value"), "{stderr}");
}

// ---- the example manifests -------------------------------------------

/// Every `*.yml` / `*.yaml` file under examples/, parsed (a file may hold
/// several documents), by path relative to examples/.
fn example_manifests() -> BTreeMap<String, Vec<Yaml>> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) {
                found.push(path);
            }
        }
    }
    let examples = Path::new(ROOT).join("examples");
    let mut files = Vec::new();
    walk(&examples, &mut files);
    files
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(&examples).unwrap().display().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let documents = YamlLoader::load_from_str(&text)
                .unwrap_or_else(|error| panic!("examples/{name} is not valid YAML: {error}"));
            (name, documents)
        })
        .collect()
}

/// The one document of `file` whose `kind` is `kind`.
fn document<'a>(manifests: &'a BTreeMap<String, Vec<Yaml>>, file: &str, kind: &str) -> &'a Yaml {
    let documents = manifests
        .get(file)
        .unwrap_or_else(|| panic!("examples/{file} is missing"));
    let mut matching = documents
        .iter()
        .filter(|d| d["kind"].as_str() == Some(kind));
    let found = matching
        .next()
        .unwrap_or_else(|| panic!("no {kind} in examples/{file}"));
    assert!(
        matching.next().is_none(),
        "several {kind}s in examples/{file}"
    );
    found
}

fn text(value: &Yaml) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected text, found {value:?}"))
}

/// A Kubernetes `env` list entry by name.
fn env_entry<'a>(container: &'a Yaml, name: &str) -> &'a Yaml {
    container["env"]
        .as_vec()
        .expect("an env list")
        .iter()
        .find(|entry| entry["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in the container's env"))
}

/// `15s`, `2m` → seconds (the forms the examples use).
fn seconds(duration: &str) -> i64 {
    if let Some(n) = duration.strip_suffix('s') {
        n.parse().unwrap()
    } else if let Some(n) = duration.strip_suffix('m') {
        n.parse::<i64>().unwrap() * 60
    } else {
        panic!("unexpected duration {duration:?}")
    }
}

#[test]
fn every_example_manifest_parses() {
    let manifests = example_manifests();
    for file in [
        "docker-compose.yml",
        "kubernetes/deployment.yaml",
        "kubernetes/service.yaml",
        "kubernetes/pdb.yaml",
        "kubernetes/servicemonitor.yaml",
        "prometheus/alerts.yml",
        "prometheus/alerts.test.yml",
    ] {
        assert!(manifests.contains_key(file), "examples/{file} is missing");
    }
    for (file, documents) in &manifests {
        assert!(!documents.is_empty(), "examples/{file} holds no document");
        for document in documents {
            assert!(
                document.as_hash().is_some(),
                "examples/{file}: every document is a mapping, found {document:?}"
            );
        }
    }
}

#[test]
fn the_deployment_outlasts_the_grace_runs_as_10001_and_probes_health_and_readiness() {
    let manifests = example_manifests();
    let deployment = document(&manifests, "kubernetes/deployment.yaml", "Deployment");
    assert_eq!(deployment["spec"]["replicas"].as_i64(), Some(2));
    let pod = &deployment["spec"]["template"]["spec"];
    let container = pod["containers"]
        .as_vec()
        .expect("a containers list")
        .iter()
        .find(|c| c["name"].as_str() == Some("alvares"))
        .expect("the alvares container");

    // The kubelet's SIGKILL must not cut the shutdown grace short.
    let grace: i64 = text(&env_entry(container, "SHUTDOWN_GRACE_SECONDS")["value"])
        .parse()
        .unwrap();
    let termination = pod["terminationGracePeriodSeconds"].as_i64().unwrap();
    assert!(
        termination > grace + 2,
        "terminationGracePeriodSeconds {termination} must exceed SHUTDOWN_GRACE_SECONDS {grace} + 2"
    );

    // Non-root as 10001, at pod level and (where set) container level.
    let pod_security = &pod["securityContext"];
    assert_eq!(pod_security["runAsNonRoot"].as_bool(), Some(true));
    for key in ["runAsUser", "runAsGroup", "fsGroup"] {
        assert_eq!(pod_security[key].as_i64(), Some(10001), "pod {key}");
    }
    assert_eq!(
        pod_security["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
    let security = &container["securityContext"];
    for key in ["runAsUser", "runAsGroup"] {
        let value = &security[key];
        assert!(
            value.is_badvalue() || value.as_i64() == Some(10001),
            "container {key}: {value:?}"
        );
    }
    assert_ne!(security["runAsNonRoot"].as_bool(), Some(false));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    let dropped: Vec<&str> = security["capabilities"]["drop"]
        .as_vec()
        .expect("capabilities.drop")
        .iter()
        .map(text)
        .collect();
    assert_eq!(dropped, ["ALL"]);

    // A read-only root: /tmp is an emptyDir.
    let tmp = container["volumeMounts"]
        .as_vec()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["mountPath"].as_str() == Some("/tmp"))
        .expect("/tmp mounted");
    let volume = pod["volumes"]
        .as_vec()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == tmp["name"])
        .expect("the /tmp volume");
    assert!(!volume["emptyDir"].is_badvalue(), "{volume:?}");

    // Probes on the service's port.
    let port = container["ports"][0]["containerPort"].as_i64();
    assert_eq!(port, Some(3010));
    let port_name = text(&container["ports"][0]["name"]);
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(path), "{probe}");
        assert!(
            get["port"].as_str() == Some(port_name) || get["port"].as_i64() == port,
            "{probe} port {:?}",
            get["port"]
        );
    }

    // Secrets from the Secret `alvares`; the replica's name from the pod.
    for name in [
        "DB_URL",
        "DB_PASSWORD",
        "SLACK_TOKEN",
        "ADMIN_TOKEN",
        "INGEST_TOKEN",
    ] {
        let reference = &env_entry(container, name)["valueFrom"]["secretKeyRef"];
        assert_eq!(reference["name"].as_str(), Some("alvares"), "{name}");
        assert_eq!(reference["key"].as_str(), Some(name), "{name}");
    }
    assert_eq!(
        env_entry(container, "HOSTNAME")["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.name")
    );
    assert_eq!(
        container["resources"]["limits"]["memory"].as_str(),
        Some("256Mi")
    );

    // The Service, the budget and the scrape agree with the Deployment.
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let service = document(&manifests, "kubernetes/service.yaml", "Service");
    for (key, value) in service["spec"]["selector"].as_hash().unwrap() {
        assert_eq!(&labels[text(key)], value, "Service selector {key:?}");
    }
    let service_port = &service["spec"]["ports"][0];
    assert_eq!(service_port["targetPort"].as_str(), Some(port_name));
    let budget = document(&manifests, "kubernetes/pdb.yaml", "PodDisruptionBudget");
    assert_eq!(budget["spec"]["minAvailable"].as_i64(), Some(1));
    let monitor = document(
        &manifests,
        "kubernetes/servicemonitor.yaml",
        "ServiceMonitor",
    );
    assert_eq!(
        monitor["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1")
    );
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["path"].as_str(), Some("/metrics"));
    assert_eq!(endpoint["interval"].as_str(), Some("30s"));
    assert_eq!(endpoint["port"], service_port["name"]);
}

#[test]
fn compose_runs_two_alvares_replicas_on_one_postgres() {
    let manifests = example_manifests();
    let compose = &manifests["docker-compose.yml"][0];
    let services = compose["services"].as_hash().expect("services");
    let postgres: Vec<&str> = services
        .iter()
        .filter(|(_, s)| {
            s["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("postgres:15"))
        })
        .map(|(name, _)| text(name))
        .collect();
    assert_eq!(postgres, ["postgres"]);
    assert!(
        text(&compose["services"]["postgres"]["healthcheck"]["test"][1]).contains("pg_isready")
    );
    let alvares: Vec<(&str, &Yaml)> = services
        .iter()
        .filter(|(_, s)| !s["build"].is_badvalue())
        .map(|(name, s)| (text(name), s))
        .collect();
    assert_eq!(alvares.len(), 2, "two replicas built from the Dockerfile");
    let mut hostnames = HashSet::new();
    let mut host_ports = Vec::new();
    for (name, service) in alvares {
        assert_eq!(
            service["build"]["dockerfile"].as_str(),
            Some("Dockerfile"),
            "{name}"
        );
        let env = &service["environment"];
        assert_eq!(
            env["DB_URL"].as_str(),
            Some("postgres://alvares@postgres:5432/alvares"),
            "{name}"
        );
        assert!(
            text(&env["DB_PASSWORD"]).contains("${DB_PASSWORD"),
            "{name}"
        );
        assert!(
            text(&env["ADMIN_TOKEN"]).contains("${ADMIN_TOKEN"),
            "{name}"
        );
        assert!(
            hostnames.insert(text(&env["HOSTNAME"]).to_owned()),
            "{name}"
        );
        assert_eq!(
            service["depends_on"]["postgres"]["condition"].as_str(),
            Some("service_healthy"),
            "{name}"
        );
        let grace: i64 = text(&env["SHUTDOWN_GRACE_SECONDS"]).parse().unwrap();
        let stop = seconds(text(&service["stop_grace_period"]));
        assert!(stop > grace + 2, "{name}: stop_grace_period {stop} s");
        host_ports.push(text(&service["ports"][0]).to_owned());
    }
    host_ports.sort();
    assert_eq!(host_ports, ["3010:3010", "3011:3010"]);
}

#[test]
fn the_alert_rules_name_the_agreed_alerts() {
    let manifests = example_manifests();
    let groups = manifests["prometheus/alerts.yml"][0]["groups"]
        .as_vec()
        .expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"].as_str(), Some("alvares"));
    let alerts: Vec<&str> = groups[0]["rules"]
        .as_vec()
        .expect("rules")
        .iter()
        .map(|rule| text(&rule["alert"]))
        .collect();
    assert_eq!(
        alerts,
        [
            "AlvaresDeadLettersGrowing",
            "AlvaresBacklogStale",
            "AlvaresCircuitOpen",
            "AlvaresReplicaMissing",
            "AlvaresDown",
        ]
    );
    for rule in groups[0]["rules"].as_vec().unwrap() {
        let severity = text(&rule["labels"]["severity"]);
        assert!(["warning", "critical"].contains(&severity), "{severity}");
        assert!(!rule["annotations"]["summary"].is_badvalue());
        assert!(!rule["annotations"]["description"].is_badvalue());
    }
}

// ---- the Dockerfile ------------------------------------------------------

/// The Dockerfile's instructions: comments and blank lines dropped,
/// continued lines joined.
fn dockerfile_instructions() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part.trim_end());
                current.push(' ');
            }
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current).trim().to_owned());
            }
        }
    }
    instructions
}

#[test]
fn the_dockerfile_runs_as_10001_under_tini_with_a_volume_and_a_health_check() {
    let instructions = dockerfile_instructions();
    let has = |expected: &str| instructions.iter().any(|i| i == expected);
    for expected in [
        "USER 10001:10001",
        r#"VOLUME ["/data"]"#,
        "STOPSIGNAL SIGTERM",
        "EXPOSE 3010",
        r#"ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/alvares"]"#,
        r#"CMD ["serve"]"#,
    ] {
        assert!(has(expected), "no `{expected}` in the Dockerfile");
    }
    let runtime = instructions
        .iter()
        .rev()
        .find(|i| i.starts_with("FROM "))
        .unwrap();
    assert_eq!(runtime, "FROM debian:bookworm-slim");
    let health = instructions
        .iter()
        .find(|i| i.starts_with("HEALTHCHECK "))
        .expect("a HEALTHCHECK");
    assert!(
        health.ends_with(r#"CMD ["/usr/local/bin/alvares", "healthcheck"]"#),
        "{health}"
    );
    let installs = instructions
        .iter()
        .find(|i| i.starts_with("RUN apt-get update"))
        .expect("the runtime packages");
    assert!(installs.contains(" tini"), "{installs}");
    assert!(installs.contains(" ca-certificates"), "{installs}");
    assert!(
        !instructions.iter().any(|i| i.contains("curl")),
        "the image has no curl"
    );
    let env = instructions
        .iter()
        .find(|i| i.starts_with("ENV ") && i.contains("DB_URL="))
        .expect("ENV DB_URL");
    assert!(env.contains("DB_URL=/data/alvares.db"), "{env}");
    // The examples use the image's grace period.
    assert!(env.contains("SHUTDOWN_GRACE_SECONDS=8"), "{env}");
}

#[test]
fn the_dockerfile_builds_with_the_command_ci_runs() {
    let builds: Vec<String> = dockerfile_instructions()
        .into_iter()
        .filter(|i| i.contains("cargo build"))
        .collect();
    assert_eq!(
        builds.len(),
        1,
        "one cargo build in the Dockerfile: {builds:?}"
    );
    let command = builds[0]
        .strip_prefix("RUN ")
        .expect("a RUN instruction")
        .trim();
    assert_eq!(command, "cargo build --release --locked --bin alvares");
    let ci = std::fs::read_to_string(Path::new(ROOT).join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|line| line.trim() == command),
        ".ci/run does not run the Dockerfile's `{command}`"
    );
}
