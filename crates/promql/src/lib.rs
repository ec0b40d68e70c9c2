//! An in-memory time-series store with a PromQL evaluator behind the Prometheus HTTP API.
//!
//! The lab appends samples on its virtual clock into a [`SeriesStore`]; agents then
//! query it through [`http::router`] exactly as they would query a real Prometheus
//! 2.42. Key decision: fidelity over breadth. The evaluator implements a subset of
//! PromQL and refuses the rest with [`PromqlError::Unsupported`] instead of
//! guessing; the `conformance` feature checks answers against a real Prometheus.

pub mod error;
pub mod eval;
pub mod export;
pub mod http;
pub mod store;
pub mod value;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::PromqlError;
pub use eval::{instant_query, range_query};
pub use export::{write_exposition, write_openmetrics};
pub use http::{PromApi, router};
pub use store::{AppendOutcome, Labels, SeriesStore};
pub use value::{
    InstantSample, QueryValue, RangeSeries, format_float, format_timestamp, parse_float,
};
