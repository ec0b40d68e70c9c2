//! Incidents: groups of alerts that pagerless investigates, mitigates and resolves as one.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Alert, Environment, Labels};

/// The store's id of an incident. Shown and accepted as a plain number (`42`),
/// and accepted with an `inc-` prefix too (`inc-42`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(pub i64);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An id that is not a positive number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an incident id: expected a positive number such as 42 or inc-42")]
pub struct ParseIdError(pub String);

impl FromStr for IncidentId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let digits = t
            .strip_prefix("inc-")
            .or_else(|| t.strip_prefix("INC-"))
            .unwrap_or(t);
        match digits.parse::<i64>() {
            Ok(n) if n > 0 => Ok(IncidentId(n)),
            _ => Err(ParseIdError(s.to_owned())),
        }
    }
}

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    /// Alerts are firing and nothing has been done yet.
    Open,
    /// A mitigation is in place and verified; the permanent fix may still be pending.
    Mitigated,
    /// Every alert of the incident has resolved.
    Resolved,
    /// Handed to a human, with the reason recorded.
    Escalated,
}

impl IncidentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [IncidentStatus; 4] = [
        IncidentStatus::Open,
        IncidentStatus::Mitigated,
        IncidentStatus::Resolved,
        IncidentStatus::Escalated,
    ];

    /// The lowercase name used in JSON, the store and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Mitigated => "mitigated",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Escalated => "escalated",
        }
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IncidentStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IncidentStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown incident status `{s}`: expected open, mitigated, resolved or escalated"
                )
            })
    }
}

/// How bad an incident is, read from the `severity` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// No severity label, or one pagerless does not know.
    Unknown,
    /// Informational.
    Info,
    /// Needs attention soon.
    Warning,
    /// Users are hurting now.
    Critical,
}

impl Severity {
    /// Maps the usual label values: `critical`, `page`, `high`, `error`, `p1` are critical;
    /// `warning`, `warn`, `medium`, `p2`, `p3` are warnings; `info`, `low`, `none`, `p4`,
    /// `p5` are info; anything else is unknown.
    pub fn from_label(value: &str) -> Self {
        match value.trim().to_ascii_lowercase().as_str() {
            "critical" | "crit" | "page" | "high" | "error" | "p1" | "sev1" => Severity::Critical,
            "warning" | "warn" | "medium" | "p2" | "p3" | "sev2" | "sev3" => Severity::Warning,
            "info" | "low" | "none" | "p4" | "p5" | "sev4" => Severity::Info,
            _ => Severity::Unknown,
        }
    }

    /// The lowercase name used in JSON and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A group of alerts handled as one problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// The store's id.
    pub id: IncidentId,
    /// Where the incident is in its life.
    pub status: IncidentStatus,
    /// A one-line title: the first alert's name and summary.
    pub title: String,
    /// The alert source that opened it (e.g. `alertmanager`).
    pub source: String,
    /// The source's group key that opened the incident.
    pub group_key: String,
    /// The environment, from the alerts' labels or the configured default.
    pub environment: Environment,
    /// The cluster, when a label names it.
    pub cluster: Option<String>,
    /// The Kubernetes namespace, when a label names it.
    pub namespace: Option<String>,
    /// The service, when a label names it.
    pub service: Option<String>,
    /// The highest severity among its alerts.
    pub severity: Severity,
    /// The labels of the first alert that opened it.
    pub labels: Labels,
    /// When the earliest of its alerts started firing.
    pub started_at: DateTime<Utc>,
    /// When pagerless received the first delivery (the start of MTTR).
    pub detected_at: DateTime<Utc>,
    /// When anything about the incident last changed.
    pub updated_at: DateTime<Utc>,
    /// When its last alert resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// How many alert instances it holds.
    pub alert_count: i64,
    /// How many of them are still firing.
    pub firing_count: i64,
}

/// An incident with its alerts, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDetail {
    /// The incident.
    #[serde(flatten)]
    pub incident: Incident,
    /// Its alerts.
    pub alerts: Vec<Alert>,
}

/// Which incidents to list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IncidentFilter {
    /// Only incidents with this status.
    pub status: Option<IncidentStatus>,
    /// Only incidents in this environment.
    pub environment: Option<Environment>,
    /// Only incidents of this service.
    pub service: Option<String>,
    /// At most this many, newest first. `None` means the store's default (100).
    pub limit: Option<u32>,
}

/// What writing one [`crate::AlertBatch`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IngestOutcome {
    /// Alert instances seen for the first time.
    pub alerts_new: u32,
    /// Alert instances already known whose state changed (firing → resolved).
    pub alerts_updated: u32,
    /// Alert instances already known and unchanged: repeat deliveries.
    pub alerts_repeated: u32,
    /// Every incident the batch touched.
    pub incidents: Vec<IncidentId>,
    /// Incidents the batch opened.
    pub incidents_opened: Vec<IncidentId>,
    /// Incidents the batch resolved.
    pub incidents_resolved: Vec<IncidentId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_plain_and_prefixed() {
        assert_eq!("42".parse::<IncidentId>(), Ok(IncidentId(42)));
        assert_eq!("inc-7".parse::<IncidentId>(), Ok(IncidentId(7)));
        assert!("0".parse::<IncidentId>().is_err());
        let err = "abc".parse::<IncidentId>().unwrap_err();
        assert!(err.to_string().contains("expected a positive number"));
    }

    #[test]
    fn severity_labels_map() {
        assert_eq!(Severity::from_label("Critical"), Severity::Critical);
        assert_eq!(Severity::from_label("page"), Severity::Critical);
        assert_eq!(Severity::from_label("warn"), Severity::Warning);
        assert_eq!(Severity::from_label("bogus"), Severity::Unknown);
        assert!(Severity::Critical > Severity::Warning);
    }

    #[test]
    fn status_round_trips() {
        for st in IncidentStatus::ALL {
            assert_eq!(st.as_str().parse::<IncidentStatus>(), Ok(st));
        }
        assert!("closed".parse::<IncidentStatus>().is_err());
    }
}
