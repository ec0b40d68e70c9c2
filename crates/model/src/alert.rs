//! Alerts as pagerless keeps them, and the source-neutral batch that intake hands to the store.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Environment, IncidentId, Severity};

/// Label or annotation names to values, sorted by name so that output is stable.
pub type Labels = BTreeMap<String, String>;

/// The store's id of one alert instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlertId(pub i64);

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Whether an alert is still firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The alert's condition holds.
    Firing,
    /// The alert's condition no longer holds.
    Resolved,
}

impl AlertStatus {
    /// The lowercase name used in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }

    /// Parses the lowercase name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "firing" => Some(AlertStatus::Firing),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert as received from a source, already classified into a scope.
///
/// An alert *instance* is identified by its `fingerprint` (a hash of its labels,
/// computed by the source) together with `starts_at`: the same labels firing
/// again after a resolution are a new instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncomingAlert {
    /// The source's fingerprint of the alert's label set.
    pub fingerprint: String,
    /// Firing or resolved, as the source says now.
    pub status: AlertStatus,
    /// The alert's labels (`alertname`, `severity`, `service`, ...).
    pub labels: Labels,
    /// The alert's annotations (`summary`, `description`, `runbook_url`, ...).
    pub annotations: Labels,
    /// When the alert's condition started to hold.
    pub starts_at: DateTime<Utc>,
    /// When the condition stopped holding; `None` while firing with no end known.
    pub ends_at: Option<DateTime<Utc>>,
    /// Link back to the expression that raised the alert, when the source gives one.
    pub generator_url: Option<String>,
    /// The environment the alert belongs to (from its labels or the default).
    pub environment: Environment,
    /// The cluster label's value, when present.
    pub cluster: Option<String>,
    /// The namespace label's value, when present.
    pub namespace: Option<String>,
    /// The service the alert is about, when a label names it.
    pub service: Option<String>,
    /// The alert's severity, from its `severity` label.
    pub severity: Severity,
}

impl IncomingAlert {
    /// The alert's name: its `alertname` label, or `unnamed`.
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("unnamed")
    }
}

/// A group of alerts delivered together, the unit that intake writes atomically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertBatch {
    /// The alert source, e.g. `alertmanager`.
    pub source: String,
    /// The source's key for the group these alerts belong to (Alertmanager's `groupKey`).
    pub group_key: String,
    /// When pagerless received the delivery.
    pub received_at: DateTime<Utc>,
    /// The alerts, in the order the source sent them. Never empty.
    pub alerts: Vec<IncomingAlert>,
    /// The delivery exactly as received, kept for audit and replay.
    pub raw: serde_json::Value,
}

/// One alert instance as pagerless keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The store's id of this alert instance.
    pub id: AlertId,
    /// The incident the alert belongs to.
    pub incident_id: IncidentId,
    /// The source's fingerprint of the alert's label set.
    pub fingerprint: String,
    /// Firing or resolved. Once resolved, a late re-delivery of the firing state does not revive it.
    pub status: AlertStatus,
    /// The alert's labels.
    pub labels: Labels,
    /// The alert's annotations.
    pub annotations: Labels,
    /// When the alert's condition started to hold.
    pub starts_at: DateTime<Utc>,
    /// When the condition stopped holding, once resolved.
    pub ends_at: Option<DateTime<Utc>>,
    /// Link back to the expression that raised the alert.
    pub generator_url: Option<String>,
    /// When pagerless first received this alert instance.
    pub first_seen_at: DateTime<Utc>,
    /// When pagerless last received this alert instance.
    pub last_seen_at: DateTime<Utc>,
    /// How many deliveries carried this alert instance (repeats are counted, not duplicated).
    pub deliveries: i64,
}
