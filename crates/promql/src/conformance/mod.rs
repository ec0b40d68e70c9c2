//! Conformance against the real thing: start a Prometheus loaded with a store's
//! samples and compare its answers with this crate's evaluator.
//!
//! Key decision: the real Prometheus gets the very same samples through
//! `promtool tsdb create-blocks-from openmetrics` (backfilled blocks are visible
//! as soon as it starts), so any disagreement is the evaluator's. Missing
//! `prometheus` or `promtool` binaries are a panic, never a silent pass.

mod compare;
mod server;

pub use compare::{Comparison, Query, compare, floats_agree, values_agree};
pub use server::PrometheusServer;

/// Why a real Prometheus could not be started or asked.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// Writing the OpenMetrics file, the config or spawning a process failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `promtool tsdb create-blocks-from openmetrics` failed.
    #[error("promtool failed ({status}): {stderr}")]
    Promtool {
        /// Its exit status.
        status: String,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// Prometheus exited or did not become ready in time.
    #[error("prometheus did not become ready on port {port}: {log}")]
    NotReady {
        /// The port it was told to listen on.
        port: u16,
        /// The tail of its log.
        log: String,
    },
    /// The HTTP request to Prometheus failed.
    #[error("request to prometheus failed: {0}")]
    Http(#[from] reqwest::Error),
    /// Prometheus answered with something that is not its API's JSON shape.
    #[error("unexpected response from prometheus: {0}")]
    BadResponse(String),
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ConformanceError {
    let context = context.into();
    move |source| ConformanceError::Io { context, source }
}
