//! Alert intake: one module per alert source, each turning its wire format
//! into a source-neutral [`pagerless_model::AlertBatch`] for the store.

pub mod alertmanager;

use axum::http::StatusCode;

use crate::ApiError;

/// Why a delivery was refused. Every variant is the sender's fault and will
/// fail again unchanged, so each maps to a 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// The body is not JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The payload's version is not one this source's parser knows.
    #[error("unsupported payload version {found}: this endpoint takes version \"{expected}\"")]
    UnsupportedVersion {
        /// The version the payload declared, as JSON (`"3"`), or `none` when absent.
        found: String,
        /// The version this parser understands.
        expected: &'static str,
    },
    /// JSON, but not the shape the source sends: a field missing or of the wrong type.
    #[error("invalid payload at {path}: {message}")]
    Invalid {
        /// Where in the document, e.g. `alerts[0].fingerprint`.
        path: String,
        /// What was wrong there.
        message: String,
    },
    /// The body is larger than `server.max_body_bytes`.
    #[error("body too large: {0}")]
    TooLarge(String),
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        let (status, code) = match &e {
            IntakeError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            IntakeError::UnsupportedVersion { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unsupported_version")
            }
            IntakeError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_payload"),
            IntakeError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
        };
        ApiError::new(status, code, e.to_string())
    }
}
