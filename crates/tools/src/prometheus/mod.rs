//! Prometheus: instant and range queries against any Prometheus HTTP API, and
//! `correlate`, which ranks candidate series by how they moved around a
//! symptom's onset.
//!
//! The tools speak `/api/v1/query` and `/api/v1/query_range` only (the
//! client also lists label values and reads raw samples, for recording); values
//! arrive as strings (`"NaN"`, `"+Inf"` included). A query Prometheus rejects
//! is a non-retriable [`crate::ToolError::Backend`] carrying Prometheus' own
//! error text; an unreachable server or a 5xx is a retriable one.

mod client;
mod config;
mod correlate;
mod data;
mod query;
mod stats;

use std::sync::Arc;

pub use client::{PrometheusClient, PrometheusError, parse_value};
pub use config::PrometheusConfig;
pub use correlate::Correlate;
pub use data::*;
pub use query::{DEFAULT_STEP_SECS, Query, QueryRange};

use crate::{Tool, ToolError};

/// The Prometheus tools: `prometheus.query`, `prometheus.query_range`, `prometheus.correlate`.
pub fn tools(config: &PrometheusConfig) -> Result<Vec<Arc<dyn Tool>>, ToolError> {
    let client = PrometheusClient::new(config).map_err(|e| ToolError::Backend {
        tool: "prometheus".to_owned(),
        message: e.to_string(),
        retriable: false,
    })?;
    let client = Arc::new(client);
    Ok(vec![
        Arc::new(Query::new(Arc::clone(&client))),
        Arc::new(QueryRange::new(Arc::clone(&client))),
        Arc::new(Correlate::new(client)),
    ])
}
