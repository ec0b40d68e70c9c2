//! The shapes of the Prometheus tools' `data`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A series' labels.
pub type Labels = BTreeMap<String, String>;

/// `prometheus.query`: an instant vector (a scalar comes as one series without labels).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InstantResult {
    /// Evaluation time, unix seconds.
    pub time: f64,
    /// The samples.
    pub series: Vec<LabeledValue>,
}

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabeledValue {
    /// Its labels.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

/// `prometheus.query_range`: a matrix.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RangeResult {
    /// The series.
    pub series: Vec<LabeledSeries>,
}

/// One series of a matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabeledSeries {
    /// Its labels.
    pub labels: Labels,
    /// (unix seconds, value), in time order.
    pub points: Vec<(f64, f64)>,
}

/// `prometheus.correlate`: candidate series ranked by how strongly and how
/// early they moved around the symptom's onset.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Correlation {
    /// When the symptom started to move, unix seconds (detected, or as given).
    pub onset: f64,
    /// Candidates, strongest first.
    pub ranked: Vec<Candidate>,
}

/// One candidate series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The candidate query it came from.
    pub query: String,
    /// The series' labels.
    pub labels: Labels,
    /// Overall score, higher is more suspicious.
    pub score: f64,
    /// Robust z-score of the post-onset window against the baseline (median/MAD).
    pub z: f64,
    /// When the series changed (change point), unix seconds, if it did.
    pub change_at: Option<f64>,
    /// How many seconds before the symptom's onset it changed (negative: after).
    pub lead_secs: Option<f64>,
    /// Pearson correlation with the symptom over the window.
    pub correlation: f64,
}
