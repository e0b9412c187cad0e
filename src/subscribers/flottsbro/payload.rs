//! Where a deployment goes in flottsbro, built without I/O.

use url::form_urlencoded::byte_serialize;

/// `<base>/v1/latest/<cluster>`, the cluster percent-encoded (it is data
/// from the pipeline).
pub fn latest_url(base: &str, cluster: &str) -> String {
    let cluster: String = byte_serialize(cluster.as_bytes()).collect();
    format!("{}/v1/latest/{cluster}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_names_the_path() {
        assert_eq!(
            latest_url("https://api-r.referens.sys.kth.se/api/pipeline/", "active"),
            "https://api-r.referens.sys.kth.se/api/pipeline/v1/latest/active"
        );
        assert_eq!(
            latest_url("http://x", "a/b c"),
            "http://x/v1/latest/a%2Fb+c"
        );
    }
}
