//! The original suite's check of the fixtures against an external
//! JSON-schema validation service (BEHAVIOUR §4): runs only when
//! `VALIDATE_DEPLOYMENT_URL` is set and `SKIP_VALIDATION_TESTS` is not.

use alvares::config::{Env, SchemaValidationConfig};

use crate::helpers::fixture;

#[actix_web::test]
async fn fixtures_pass_the_external_schema_validation() {
    // The suite's own switch, so it is read from the process environment.
    let config: SchemaValidationConfig = Env::from_process().load().expect("valid switch");
    let Some(url) = config.deployment_url.filter(|_| config.skip.is_none()) else {
        eprintln!(
            "skipped: set VALIDATE_DEPLOYMENT_URL (and leave SKIP_VALIDATION_TESTS unset) to run"
        );
        return;
    };
    let client = awc::Client::default();
    let mut samples = vec![fixture("deployment.json")];
    for mut sample in fixture("deployments.json").as_array().unwrap().clone() {
        sample
            .as_object_mut()
            .unwrap()
            .remove("expected-enriched-values");
        samples.push(sample);
    }
    for (index, sample) in samples.iter().enumerate() {
        let response = client
            .post(url.as_str())
            .send_json(sample)
            .await
            .expect("the validation service answers");
        assert!(
            response.status().is_success(),
            "sample {index} was refused with {}",
            response.status()
        );
    }
}
