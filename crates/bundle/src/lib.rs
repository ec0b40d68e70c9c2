//! Evaluation bundles: one directory per case holding what an investigation
//! may know (the alert, a window of metrics as OpenMetrics text, logs, a call
//! graph) and, apart, the right answer (`label.json`). The format is
//! specified in `docs/bundles.md`; importers turn public datasets into it.
//!
//! Key decision: the answer lives in its own file that exactly one function
//! opens ([`Label::read`]), and investigations run on a copy made by
//! [`copy_without_label`], so no investigation can peek at it by accident.
//! Alerts of imported cases are derived from the symptom series alone.

pub mod alert_rule;
mod bundle;
mod csv;
mod error;
pub mod nezha;
pub mod openmetrics;

pub use alert_rule::{Firing, FiringKind, MinuteSample, RuleSettings, evaluate};
pub use bundle::{
    BUNDLE_FILE, Bundle, BundleAlert, Edge, FaultType, LABEL_FILE, Label, Topology, Window,
    copy_without_label,
};
pub use error::BundleError;
pub use openmetrics::{MetricKind, OpenMetricsWriter, Sample, read_openmetrics};
