//! The shape of the logs tool's `data`.

use serde::{Deserialize, Serialize};

/// `logs.search`: lines matching a pattern.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Matches {
    /// The pattern.
    pub pattern: String,
    /// Matching lines, oldest first.
    pub lines: Vec<Match>,
    /// Whether more matched than were returned.
    pub truncated: bool,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// The file.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// The text.
    pub text: String,
}

/// `logs.patterns`: each source's log shape around a time, against its own past.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LogPatterns {
    /// The reference time (the alert's onset), RFC 3339.
    pub at: String,
    /// The current window, `[at - before_secs, at + after_secs]`.
    pub current: TimeWindow,
    /// The baseline window, `[at - baseline_secs, at - gap_secs)`, split in
    /// 5-minute buckets.
    pub baseline: TimeWindow,
    /// One entry per source read, by name.
    pub sources: Vec<SourceShape>,
    /// Calls inferred from traces: in a trace, a source whose lines span
    /// the time of another's called it (directly or through others). Kept
    /// when seen in at least 3 traces and over 3 times as often as the
    /// reverse.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<InferredCall>,
    /// Sources that could not be read, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<UnreadableSource>,
    /// When no source has a line in the current window: the time of the
    /// latest line before it (from the baseline's start), RFC 3339. Every
    /// source silent at once is a gap in collection (a shipper stopped or
    /// lags) rather than a change in the services; the minutes up to that
    /// line are the freshest logs there are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_before: Option<String>,
}

/// A call between two sources, inferred from traces.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InferredCall {
    /// The calling source.
    pub caller: String,
    /// The called source.
    pub callee: String,
    /// Traces in which the caller's lines span the callee's.
    pub traces: u64,
}

/// A time window, RFC 3339 bounds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimeWindow {
    /// The start.
    pub start: String,
    /// The end.
    pub end: String,
}

/// One source's shape in the current window against its baseline.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SourceShape {
    /// The source's name.
    pub source: String,
    /// Counts in the current window.
    pub current: CurrentShape,
    /// Counts in the baseline window.
    pub baseline: BaselineShape,
    /// Baseline errors per minute with lines: the median over the baseline's
    /// non-empty buckets.
    pub error_rate_per_min: f64,
    /// Baseline rare spans per minute with lines: the median over the
    /// baseline's non-empty buckets.
    pub rare_span_rate_per_min: f64,
    /// `(errors - expected) / sqrt(expected + 1)`, expected being
    /// `error_rate_per_min` times the current minutes with lines.
    pub error_z: f64,
    /// The same for rare spans.
    pub rare_z: f64,
    /// How far this source's share of all the lines read fell below its
    /// usual share (the median over the baseline buckets that hold lines of
    /// any source): `(expected - lines) / sqrt(expected + 1)`, expected being
    /// that share of the current window's lines. A service that fails
    /// before it logs, or that stops being called, logs less than its
    /// neighbours; 0 without a baseline.
    #[serde(default)]
    pub volume_drop_z: f64,
    /// How far this source fell out of its callers' traces: a service that
    /// fails before it logs, while its callers carry on, is missing from
    /// traces it used to be part of. Absent when no caller's traces say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absence: Option<Absence>,
    /// The most frequent rare span patterns of the current window, errors first.
    pub new_patterns: Vec<NewPattern>,
}

/// A source missing from the traces of a caller that used to reach it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Absence {
    /// The calling source whose traces it fell out of (the strongest drop).
    pub caller: String,
    /// The share of the caller's baseline traces that reached it (smoothed:
    /// `(reached + 1) / (traces + 2)`).
    pub baseline_share: f64,
    /// The caller's traces in the current window.
    pub caller_traces: u64,
    /// Of those, the traces that reached this source.
    pub reached: u64,
    /// `(expected - reached) / sqrt(expected·(1 - share) + 1)`, expected
    /// being the baseline share of the caller's current traces.
    pub z: f64,
}

/// A source's counts in the current window.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CurrentShape {
    /// Timestamped lines (continuation lines are part of the line before).
    pub lines: u64,
    /// Lines at ERROR, CRITICAL or FATAL.
    pub errors: u64,
    /// Lines at WARN (WARNING).
    pub warnings: u64,
    /// Spans that start in the window (a line without a span id is its own span).
    pub spans: u64,
    /// Of those, spans whose pattern is rare in the baseline.
    pub rare_spans: u64,
    /// Distinct minutes with at least one line.
    pub minutes: u64,
    /// Traces (by the lines' trace ids) in which this source logged an error.
    #[serde(default)]
    pub error_traces: u64,
    /// Of those, the traces whose first error, across every source read,
    /// is this source's: errors travel up the call chain, so the first
    /// one is nearest the cause, and the later ones relay it.
    #[serde(default)]
    pub first_errors: u64,
}

/// A source's counts in the baseline window.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BaselineShape {
    /// Timestamped lines.
    pub lines: u64,
    /// Lines at ERROR, CRITICAL or FATAL.
    pub errors: u64,
    /// Spans whose pattern is rare in the baseline itself.
    pub rare_spans: u64,
    /// Distinct minutes with at least one line.
    pub minutes: u64,
    /// 5-minute buckets with at least one line of this source; 0 means there
    /// is no baseline, every pattern counts as rare and the z-scores mean little.
    pub buckets: u64,
}

/// A rare span pattern seen in the current window.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NewPattern {
    /// The span's templates (level and logger/location), sorted, joined by `|`.
    pub pattern: String,
    /// Spans with this pattern in the current window.
    pub count: u64,
    /// The most severe level among its lines (`ERROR`, `WARN`, `INFO`, ...;
    /// empty when no line has a level).
    pub level: String,
    /// In how many baseline buckets the pattern appeared (0: never before).
    pub baseline_buckets: u64,
    /// A current line of the pattern's most severe template, cut to 300 characters.
    pub example: String,
}

/// A source that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UnreadableSource {
    /// The source's name.
    pub source: String,
    /// Why.
    pub error: String,
}
