//! Why one send to one sink failed, and whether trying again can help. The
//! dispatcher's retry decisions match on these variants, never on strings.
//! No variant carries a secret: sinks scrub tokens and webhook URLs from
//! every text they put here.

use std::time::Duration;

/// A send that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The request could not be sent or its answer not read (DNS, refused
    /// connection, TLS, reset). Worth retrying.
    #[error("{sink}: could not reach the server: {detail}")]
    Transport {
        /// The sink's name.
        sink: String,
        /// What failed, without URLs or secrets.
        detail: String,
    },
    /// No answer within the per-request timeout. Worth retrying.
    #[error("{sink}: no answer within the per-request timeout")]
    Timeout {
        /// The sink's name.
        sink: String,
    },
    /// The server answered with an HTTP status other than 2xx. Retried on
    /// 408, 429 and 5xx; any other 4xx means the request itself is wrong.
    #[error("{sink}: the server answered HTTP {status}: {body}")]
    Status {
        /// The sink's name.
        sink: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body, secrets removed.
        body: String,
        /// How long the server asked to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
    /// The server answered 2xx but said the message was not delivered (Slack's
    /// `{"ok": false, "error": "..."}`, Teams' "Webhook message delivery failed").
    #[error("{sink}: the server refused the message: {error}")]
    Rejected {
        /// The sink's name.
        sink: String,
        /// The server's error code or text.
        error: String,
        /// Whether the server's error is transient (rate limits, internal errors).
        retriable: bool,
    },
    /// The message could not be built (a header value with a line break, say).
    #[error("{sink}: could not build the request: {detail}")]
    Request {
        /// The sink's name.
        sink: String,
        /// What was wrong.
        detail: String,
    },
}

impl NotifyError {
    /// The sink the error is about.
    pub fn sink(&self) -> &str {
        match self {
            NotifyError::Transport { sink, .. }
            | NotifyError::Timeout { sink, .. }
            | NotifyError::Status { sink, .. }
            | NotifyError::Rejected { sink, .. }
            | NotifyError::Request { sink, .. } => sink,
        }
    }

    /// Whether sending the same message again may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            NotifyError::Transport { .. } | NotifyError::Timeout { .. } => true,
            NotifyError::Status { status, .. } => {
                *status == 408 || *status == 429 || *status >= 500
            }
            NotifyError::Rejected { retriable, .. } => *retriable,
            NotifyError::Request { .. } => false,
        }
    }

    /// How long the server asked to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            NotifyError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
