//! What `throwaway` reads: its token (unconfigured without it) and where
//! to send.

use alvares::config::variables::{VariablesOf, receives, secret};
use alvares::config::{ConfigError, HttpUrl, Secret};
use alvares::subscribers::Setup;
use envconfig::Envconfig;

use super::Throwaway;

#[derive(Envconfig)]
pub struct ThrowawayConfig {
    #[envconfig(from = "THROWAWAY_TOKEN")]
    pub token: Option<Secret<String>>,
    #[envconfig(from = "THROWAWAY_BASE_URL", default = "https://throwaway.invalid")]
    pub base_url: HttpUrl,
}

impl Throwaway {
    pub(super) fn read(setup: &Setup<'_>) -> Result<Option<Self>, ConfigError> {
        let config: ThrowawayConfig = setup.settings.env.load()?;
        Ok(config.token.map(|token| Throwaway {
            token,
            base_url: config.base_url.as_str().trim_end_matches('/').to_owned(),
        }))
    }
}

// The variables it reads, declared as a built-in integration declares
// its own.
inventory::submit! {
    VariablesOf(&[
        secret("THROWAWAY_TOKEN"),
        receives("THROWAWAY_BASE_URL", "THROWAWAY_TOKEN is sent there"),
    ])
}

#[test]
fn its_variables_are_declared_from_its_folder() {
    use alvares::config::variables::{FileUse, variable};
    assert!(matches!(
        variable("THROWAWAY_BASE_URL").map(|v| v.file),
        Some(FileUse::ReceivesSecret(_))
    ));
    assert!(matches!(
        variable("THROWAWAY_TOKEN").map(|v| v.file),
        Some(FileUse::Secret(_))
    ));
}
