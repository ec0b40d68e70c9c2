//! An in-memory time-series store with a PromQL evaluator behind the Prometheus HTTP API.
