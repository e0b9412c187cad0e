//! Links Alvares builds for a deployment, shared by every destination
//! that shows them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::domain::Deployment;

/// Everything but letters, digits and `-._~/` is encoded in the log query
/// (`*` becomes `%2A`, `:` becomes `%3A`, `/` stays).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The Graylog search for this image version's logs in this cluster.
pub fn log_search_link(graylog_host: &str, deployment: &Deployment) -> String {
    let image = deployment.image_name.as_deref().unwrap_or_default();
    let version = deployment.version.as_deref().unwrap_or_default();
    let pattern = format!("/.*{image}:{version}.*/");
    format!(
        "{}/search?rangetype=relative&fields=message%2Csource&width=2560&highlightMessage=&relative=3600&q=source%3A{}+AND+image_name%3A{}",
        graylog_host.trim_end_matches('/'),
        utf8_percent_encode(&deployment.cluster, QUERY_VALUE),
        utf8_percent_encode(&pattern, QUERY_VALUE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Deployment {
        let json = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/deployment.json"
        ));
        Deployment::from_json(serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn log_link_for_the_sample_matches_the_spec() {
        assert_eq!(
            log_search_link("https://graycloud.ite.kth.se/", &sample()),
            "https://graycloud.ite.kth.se/search?rangetype=relative&fields=message%2Csource&width=2560&highlightMessage=&relative=3600&q=source%3Aactive+AND+image_name%3A/.%2Akth-azure-app%3A2.0.11_abc123.%2A/"
        );
    }
}
