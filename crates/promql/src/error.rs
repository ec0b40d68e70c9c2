//! The crate's error type: why a query could not be answered.

/// Why a query failed. The HTTP layer maps [`PromqlError::Parse`] and
/// [`PromqlError::BadParameter`] to 400 `bad_data`, the rest to 422 `execution`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromqlError {
    /// The query text is not valid PromQL.
    #[error("parse error: {0}")]
    Parse(String),
    /// The query is valid PromQL but uses something this evaluator does not
    /// implement (named in the message); it never answers such a query wrongly.
    #[error("unsupported by this evaluator: {0}")]
    Unsupported(String),
    /// Evaluation failed the way Prometheus fails it (for example many-to-many
    /// matching); the message is Prometheus' own text.
    #[error("{0}")]
    Execution(String),
    /// A request parameter (time, step, range) is invalid; the message is
    /// Prometheus' own text, naming the parameter.
    #[error("{0}")]
    BadParameter(String),
}

impl PromqlError {
    /// Whether the query could succeed if sent to a real Prometheus instead.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Self::Unsupported(_))
    }
}
