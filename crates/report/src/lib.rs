//! The KPIs of pagerless — how fast incidents recover, how many it handled
//! without a human, the toil it saved, how often its pull requests were right,
//! what the guard and the executors did — computed from the store over a
//! window of time, for `pagerless report` and the server's `/metrics`.
//!
//! Key decision: KPIs are computed on demand from the records pagerless keeps
//! anyway (incidents, investigations, the audit log, approvals, pull
//! requests), not counted by instruments as things happen. A report over any
//! past window is then reproducible, survives restarts and replicas, and can
//! never disagree with `pagerless audit show`. A ratio whose denominator is
//! zero is `None` (JSON `null`, omitted from the exposition), never 0.
//! Every KPI is defined in [`Kpis`] and in `docs/kpis.md`.

mod error;
mod exposition;
mod kpis;
mod since;
#[cfg(test)]
mod tests;

pub use error::ReportError;
pub use exposition::{CONTENT_TYPE, openmetrics};
pub use kpis::{ActionCount, ApprovalLatency, KpiSettings, Kpis, compute};
pub use since::parse_since;
