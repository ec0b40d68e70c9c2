//! Prometheus: instant and range queries against any Prometheus HTTP API, and
//! `correlate`, which ranks candidate series by how they moved around a
//! symptom's onset.

mod data;

pub use data::*;
