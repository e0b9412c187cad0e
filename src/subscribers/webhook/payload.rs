//! What a webhook sends: the body from its template, signed per Standard
//! Webhooks.
//!
//! Standard Webhooks signing (<https://www.standardwebhooks.com>): the
//! receiver checks `webhook-signature` against its copy of the `whsec_`
//! secret with any of the specification's libraries.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::OperatorConfig;
use crate::config::file::Webhook;
use crate::domain::EnrichedEvent;
use crate::error::DeliveryError;
use crate::subscribers::Work;

/// The three headers of a signed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
}

/// Signs `body` as message `id` sent at `timestamp` (Unix seconds) with
/// `key` (the secret's bytes): `v1,` and the base64 HMAC-SHA256 of
/// `"{id}.{timestamp}.{body}"`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> SignedHeaders {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    SignedHeaders {
        id: id.to_owned(),
        timestamp: timestamp.to_string(),
        signature: format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ),
    }
}

/// What the webhook's template sees.
pub fn template_context(work: &Work<'_, EnrichedEvent>) -> crate::engine::TemplateContext {
    work.template_context()
}

/// The body from the webhook's template, rendered while this thread waits
/// (a preview); a template that fails fails the delivery for good, naming
/// its line.
pub fn render(
    operator: &OperatorConfig,
    webhook: &Webhook,
    work: &Work<'_, EnrichedEvent>,
) -> Result<String, DeliveryError> {
    operator
        .templates
        .render(&webhook.template, &template_context(work))
        .map_err(|error| DeliveryError::Permanent(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example (its README's test vector).
    #[test]
    fn the_specifications_example_signs_alike() {
        let key = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let signed = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signed.signature,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
