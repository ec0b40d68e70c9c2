//! What pagerless tells a human about an incident: a [`Notice`], its kind, and
//! its plain-text rendering. Sinks turn the same notice into their own format
//! (Block Kit, an Adaptive Card, a PagerDuty event); nothing here does I/O.

use chrono::{DateTime, Utc};
use pagerless_model::{Approval, Incident, IncidentId, PullRequest, Severity};
use serde::{Deserialize, Serialize};

/// Why a human is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// pagerless mitigated or fixed the incident and nobody was paged: a
    /// summary to read when convenient.
    ResolvedByAgent,
    /// pagerless stopped and a human must act now.
    Escalation,
    /// A write waits for a human's approval.
    ApprovalNeeded,
}

impl NoticeKind {
    /// Every kind.
    pub const ALL: [NoticeKind; 3] = [
        NoticeKind::ResolvedByAgent,
        NoticeKind::Escalation,
        NoticeKind::ApprovalNeeded,
    ];

    /// The snake_case name used in JSON and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::ResolvedByAgent => "resolved_by_agent",
            NoticeKind::Escalation => "escalation",
            NoticeKind::ApprovalNeeded => "approval_needed",
        }
    }

    /// A short phrase a human reads before the title ("Needs a human").
    pub fn headline(self) -> &'static str {
        match self {
            NoticeKind::ResolvedByAgent => "Resolved without a page",
            NoticeKind::Escalation => "Needs a human",
            NoticeKind::ApprovalNeeded => "Approval needed",
        }
    }
}

impl std::fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pull request that carries an incident's permanent fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestRef {
    /// Its number on the forge (`12`).
    pub number: u64,
    /// Where a human opens it.
    pub url: String,
}

/// A message for humans about one incident's outcome.
///
/// # JSON
///
/// The generic webhook sink posts this struct as JSON. Field names are
/// snake_case and stable; every field is always present (`null`, `[]` or `""`
/// when it does not apply):
///
/// ```json
/// {
///   "kind": "resolved_by_agent",          // or "escalation", "approval_needed"
///   "incident": 42,
///   "title": "order-service: memory limit too low",
///   "service": "order-service",           // or null
///   "environment": "prod",
///   "severity": "critical",               // "unknown", "info", "warning", "critical"
///   "summary": "An issue was detected in order-service; ...",
///   "trace_url": "http://pagerless/incidents/42", // or null
///   "pull_request": {"number": 12, "url": "http://forge/prs/12"}, // or null
///   "seen": [], "tried": [], "why_stopped": "",  // escalations
///   "approval_id": null, "action": null,         // approvals
///   "at": "2025-05-01T12:00:00Z"
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// Why a human is told.
    pub kind: NoticeKind,
    /// The incident.
    pub incident: IncidentId,
    /// A one-line title (the incident's).
    pub title: String,
    /// The service, when known.
    pub service: Option<String>,
    /// The environment's name (`prod`).
    pub environment: String,
    /// The incident's severity.
    pub severity: Severity,
    /// The one paragraph pagerless writes about what it found and did.
    pub summary: String,
    /// Where the whole trace can be read.
    pub trace_url: Option<String>,
    /// The pull request with the permanent fix, if one was opened.
    pub pull_request: Option<PullRequestRef>,
    /// Escalations: what the agent saw.
    #[serde(default)]
    pub seen: Vec<String>,
    /// Escalations: what the agent tried.
    #[serde(default)]
    pub tried: Vec<String>,
    /// Escalations: why the agent stopped.
    #[serde(default)]
    pub why_stopped: String,
    /// Approvals: the approval's id (what the Slack buttons carry).
    pub approval_id: Option<i64>,
    /// Approvals: the write that waits, in words (`cordon node node-b`).
    pub action: Option<String>,
    /// When the notice was written.
    pub at: DateTime<Utc>,
}

impl Notice {
    /// A notice of `kind` about `incident`, with `summary`, written now.
    pub fn new(kind: NoticeKind, incident: &Incident, summary: impl Into<String>) -> Self {
        Notice {
            kind,
            incident: incident.id,
            title: incident.title.clone(),
            service: incident.service.clone(),
            environment: incident.environment.as_str().to_owned(),
            severity: incident.severity,
            summary: summary.into(),
            trace_url: None,
            pull_request: None,
            seen: Vec::new(),
            tried: Vec::new(),
            why_stopped: String::new(),
            approval_id: None,
            action: None,
            at: Utc::now(),
        }
    }

    /// The incident was mitigated or fixed without paging anyone.
    pub fn resolved(incident: &Incident, summary: impl Into<String>) -> Self {
        Notice::new(NoticeKind::ResolvedByAgent, incident, summary)
    }

    /// The agent stopped: what it saw, what it tried, and why it stopped.
    pub fn escalation(
        incident: &Incident,
        summary: impl Into<String>,
        seen: Vec<String>,
        tried: Vec<String>,
        why_stopped: impl Into<String>,
    ) -> Self {
        Notice {
            seen,
            tried,
            why_stopped: why_stopped.into(),
            ..Notice::new(NoticeKind::Escalation, incident, summary)
        }
    }

    /// A write waits for a human: the approval's id and the action in words
    /// (`cordon node node-b`).
    pub fn approval_needed(
        incident: &Incident,
        approval: &Approval,
        summary: impl Into<String>,
    ) -> Self {
        let action = format!(
            "{} {}",
            approval.request.kind.as_str().replace('_', " "),
            approval.request.target
        );
        Notice {
            approval_id: Some(approval.id),
            action: Some(action),
            ..Notice::new(NoticeKind::ApprovalNeeded, incident, summary)
        }
    }

    /// Sets where the trace can be read.
    pub fn with_trace_url(mut self, url: impl Into<String>) -> Self {
        self.trace_url = Some(url.into());
        self
    }

    /// Sets the pull request with the permanent fix.
    pub fn with_pull_request(mut self, pr: &PullRequest) -> Self {
        self.pull_request = Some(PullRequestRef {
            number: pr.number,
            url: pr.url.clone(),
        });
        self
    }

    /// Sets when the notice was written (tests and replays pin it).
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    /// The escalation's account in one sentence: "What I saw: …; what I
    /// tried: …; why I stopped: …." `None` for other kinds.
    pub fn escalation_text(&self) -> Option<String> {
        if self.kind != NoticeKind::Escalation {
            return None;
        }
        let why = if self.why_stopped.trim().is_empty() {
            "no reason was recorded"
        } else {
            self.why_stopped.trim().trim_end_matches('.')
        };
        Some(format!(
            "What I saw: {}; what I tried: {}; why I stopped: {why}.",
            list(&self.seen),
            list(&self.tried)
        ))
    }

    /// The approval's request in one sentence. `None` for other kinds.
    pub fn approval_text(&self) -> Option<String> {
        if self.kind != NoticeKind::ApprovalNeeded {
            return None;
        }
        let action = self.action.as_deref().unwrap_or("a write");
        Some(match self.approval_id {
            Some(id) => format!("Waiting for a human to approve: {action} (approval {id})."),
            None => format!("Waiting for a human to approve: {action}."),
        })
    }

    /// The notice as plain text: the summary, then (for escalations) what the
    /// agent saw, tried and why it stopped, (for approvals) what waits, and
    /// last `Trace: URL`. One paragraph per line.
    pub fn text(&self) -> String {
        let mut lines = vec![self.summary.trim().to_owned()];
        lines.extend(self.escalation_text());
        lines.extend(self.approval_text());
        if let Some(url) = &self.trace_url {
            lines.push(format!("Trace: {url}"));
        }
        lines.retain(|l| !l.is_empty());
        lines.join("\n")
    }
}

/// "nothing", "a", "a and b", "a, b and c".
fn list(items: &[String]) -> String {
    let items: Vec<&str> = items
        .iter()
        .map(|s| s.trim().trim_end_matches('.'))
        .filter(|s| !s.is_empty())
        .collect();
    match items.as_slice() {
        [] => "nothing".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Cuts `text` to at most `max` characters, ending with "…" when it was cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_like_prose() {
        assert_eq!(list(&[]), "nothing");
        assert_eq!(list(&["a".into()]), "a");
        assert_eq!(list(&["a".into(), "b.".into()]), "a and b");
        assert_eq!(list(&["a".into(), "b".into(), "c".into()]), "a, b and c");
    }

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("→→→→", 2).chars().count(), 2);
    }
}
