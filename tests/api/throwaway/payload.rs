//! The note `throwaway` posts, built without I/O.

use alvares::domain::Recommendation;
use serde_json::{Value, json};

pub fn note(recommendation: &Recommendation) -> Value {
    json!({ "note": recommendation.message })
}
