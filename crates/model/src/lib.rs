//! The vocabulary of pagerless: alerts, incidents and the ids that name them.
//!
//! Key decision: these are plain serde types with no I/O, so every other crate
//! (intake, store, server, CLI) speaks the same words and tests build them from
//! plain values. Wire formats of particular alert sources (Alertmanager's
//! webhook, say) are not here: intake turns them into an [`AlertBatch`].

mod alert;
mod environment;
mod gitops;
mod guard;
mod incident;
mod investigation;
mod scope;
pub mod transport;

pub use alert::{Alert, AlertBatch, AlertId, AlertStatus, IncomingAlert, Labels};
pub use environment::Environment;
pub use gitops::{Comment, Fate, LocalPullRequest, PullRequest, PullRequestStatus, ValidationRun};
pub use guard::{
    ActionRecord, Approval, ApprovalStatus, AuditEntry, AuditInput, AuditVerification,
};
pub use incident::{
    Incident, IncidentDetail, IncidentFilter, IncidentId, IncidentStatus, IngestOutcome,
    ParseIdError, Severity,
};
pub use investigation::{
    ActionKind, ActionRequest, Culprit, Diagnosis, Evidence, Fix, Investigation, Observation,
    Outcome, Plan, Step, Suspect, Target, TargetKind, ToolCall,
};
pub use scope::{LabelMapping, Scope};
pub use transport::Transport;
