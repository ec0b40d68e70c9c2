//! An in-memory time-series store with a PromQL evaluator behind the Prometheus HTTP API.
//!
//! The lab appends samples on its virtual clock into a [`SeriesStore`]; agents then
//! query it through [`http::router`] exactly as they would query a real Prometheus
//! 2.42. Key decision: fidelity over breadth. The evaluator implements a subset of
//! PromQL and refuses the rest with [`PromqlError::Unsupported`] instead of
//! guessing; the `conformance` feature checks answers against a real Prometheus.
//!
//! Supported: selectors with all four matcher kinds, `offset` (also negative),
//! range selectors, the 5-minute lookback; `rate`, `irate`, `increase`, `delta`,
//! `idelta`, `{avg,min,max,sum,count,last,quantile,stddev}_over_time`,
//! `histogram_quantile` (classic buckets), `abs`, `ceil`, `floor`, `round`,
//! `clamp`, `clamp_min`, `clamp_max`, `time`, `timestamp`, `vector`, `scalar`,
//! `sort`, `sort_desc`, `label_replace`, `absent`; `sum`, `avg`, `min`, `max`,
//! `count`, `group`, `stddev`, `quantile`, `topk`, `bottomk` with `by`/`without`;
//! arithmetic, comparison (with and without `bool`) and set operators with
//! `on`/`ignoring`/`group_left`/`group_right`; literals and parentheses.
//!
//! Refused with [`PromqlError::Unsupported`]: subqueries, the `@` modifier, every
//! other function and aggregation (`count_values`, `stdvar`, `deriv`, …),
//! `atan2`, and syntax newer than 2.42 that the parser accepts (`or` inside
//! matchers, `fill` modifiers). The store has no native histograms and writes no
//! staleness markers: a series that stops is visible for the lookback period.

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
