//! The KPIs: what each one counts (the doc of each [`Kpis`] field is its
//! definition, mirrored in `docs/kpis.md`) and [`compute`], which reads them
//! from the store over a window `[since, until)`.
//!
//! Three populations, each tied to the window by one timestamp:
//! - **incidents** detected in the window (`detected_at`), with what the
//!   records say about them up to `until`;
//! - **pull requests** opened in the window (`created_at`), with their fate
//!   as it stood at `until`;
//! - **events** — guard decisions, action outcomes, approval decisions —
//!   that happened in the window.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use pagerless_model::{
    ApprovalStatus, AuditEntry, Fate, Incident, IncidentFilter, IncidentId, IncidentStatus,
    Investigation, Outcome, PullRequest,
};
use pagerless_store::Store;
use serde::{Deserialize, Serialize};

use crate::ReportError;

/// What the KPIs need beyond the store: what an incident costs a human by
/// hand, and how many humans and nodes there are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiSettings {
    /// Minutes a human would spend by hand on an incident, by diagnosis
    /// category (`memory_limit_too_low` → 45); the CLI fills it from the
    /// playbooks' `human_minutes`.
    pub human_minutes: BTreeMap<String, u32>,
    /// Minutes for a category missing from `human_minutes`, and for an
    /// incident without a diagnosis. Default: 30.
    pub default_human_minutes: u32,
    /// People on call. Default: 1.
    pub humans: u32,
    /// Nodes pagerless watches, when known. Default: none (no
    /// `nodes_per_human`).
    pub nodes: Option<u32>,
}

impl Default for KpiSettings {
    fn default() -> Self {
        KpiSettings {
            human_minutes: BTreeMap::new(),
            default_human_minutes: 30,
            humans: 1,
            nodes: None,
        }
    }
}

impl KpiSettings {
    /// Minutes a human would spend on an incident of `category` (the default
    /// for an unknown category or none).
    pub fn minutes_for(&self, category: Option<&str>) -> u32 {
        category
            .and_then(|c| self.human_minutes.get(c).copied())
            .unwrap_or(self.default_human_minutes)
    }
}

/// How long humans took to decide approvals, in seconds from the request
/// (`created_at`) to the decision (`decided_at`).
///
/// Over approvals a human approved or denied within the window (by
/// `decided_at`); expired ones (nobody answered) and pending ones are left
/// out. Percentiles are nearest-rank: the smallest latency with at least
/// p% of the latencies at or below it. Each is `None` when `count` is 0.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApprovalLatency {
    /// Approvals decided.
    pub count: u64,
    /// Median latency, seconds.
    pub p50: Option<f64>,
    /// 90th percentile latency, seconds.
    pub p90: Option<f64>,
    /// Longest latency, seconds.
    pub max: Option<f64>,
}

/// One row of the action table: how often the guard decided, or an executor
/// ended, a kind of write in a certain way.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActionCount {
    /// The action kind (`scale`, `rollback`, `open_pull_request`, ...).
    pub kind: String,
    /// A guard decision (`allowed`, `needs_approval`, `denied`, `shadow`)
    /// or an outcome (`done`, `failed`, `undone`, `reconciled`).
    pub result: String,
    /// How many times, in the window.
    pub count: u64,
}

/// The KPIs over one window. Every field's doc is its definition.
///
/// An incident is *in the window* when it was detected in it
/// (`since <= detected_at < until`); what the records say about it counts up
/// to `until`. An incident is *recovered* at the earlier of its resolution
/// (`resolved_at`: its last alert resolved) and its first verified
/// mitigation (an audit `response` of kind `mitigated`). A ratio whose
/// denominator is 0 is `None` (JSON `null`), never 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    /// The window's start (inclusive).
    pub since: DateTime<Utc>,
    /// The window's end (exclusive): usually now.
    pub until: DateTime<Utc>,
    /// Incidents detected in the window.
    pub incidents: u64,
    /// Of those, incidents recovered (resolved or mitigated) before `until`.
    pub incidents_recovered: u64,
    /// Of those, incidents pagerless handled on its own (see
    /// `autonomous_resolution_rate`).
    pub incidents_autonomous: u64,
    /// Of those, incidents at their optimized steady state (see `mtso_secs`).
    pub incidents_fixed: u64,
    /// Mean time to recovery, seconds: the mean over recovered incidents of
    /// detection (`detected_at`) to recovery, whoever recovered them
    /// (pagerless, a human, or the alert itself). Unrecovered incidents are
    /// left out; `None` when none recovered.
    pub mttr_secs: Option<f64>,
    /// Mean time to optimized steady state, seconds: the mean over incidents
    /// that both recovered and had their permanent fix merged (a pull request
    /// naming the incident reached `merged_unmodified` or `merged_modified`
    /// before `until`) of detection to the later of the two. Incidents
    /// without a merged fix (none proposed, still open, or closed) are left
    /// out; `None` when there are none.
    pub mtso_secs: Option<f64>,
    /// Incidents pagerless handled with no human paged, divided by
    /// `incidents`. Handled: a `response` of kind `mitigated` or `no_action`
    /// was recorded. No human paged: no `response` of kind `escalated`,
    /// `awaiting_approval` or `shadow`, no `escalation` or `approval` entry,
    /// no guard decision `needs_approval`, no approval requested for it, no
    /// investigation that ended escalated, and the incident's status is not
    /// `escalated`. `None` when `incidents` is 0.
    pub autonomous_resolution_rate: Option<f64>,
    /// Hours of human toil saved: the sum over incidents handled with no
    /// human (as for `autonomous_resolution_rate`) of the human minutes of
    /// their diagnosis category (the last diagnosed investigation's; the
    /// default minutes when there is none or it has no figure), divided by 60.
    pub toil_hours_saved: f64,
    /// Pull requests with a permanent fix opened in the window (`created_at`).
    pub pr_opened: u64,
    /// Of those, still open at `until` (a fate decided at or after `until`
    /// counts as open).
    pub pr_open: u64,
    /// Of those, merged exactly as proposed by `until`.
    pub pr_merged_unmodified: u64,
    /// Of those, merged after a human changed them by `until`.
    pub pr_merged_modified: u64,
    /// Of those, closed without merging by `until`.
    pub pr_closed: u64,
    /// `pr_merged_unmodified / pr_opened`: the share of proposed fixes that
    /// were right as they stood. Open and closed pull requests count in the
    /// denominator. `None` when `pr_opened` is 0.
    pub pr_correctness_rate: Option<f64>,
    /// Configured nodes divided by configured humans on call; `None` when the
    /// nodes are not configured or there are no humans.
    pub nodes_per_human: Option<f64>,
    /// How long humans took to decide approvals decided in the window.
    pub approval_latency_secs: ApprovalLatency,
    /// Audit entries in the window (`at`) counted by action kind and result:
    /// each `decision` entry by its decision, each `action_outcome` entry by
    /// its outcome. Sorted by kind, then result.
    pub actions: Vec<ActionCount>,
    /// Actions undone because verification found the symptom worse
    /// (`action_outcome` entries with outcome `undone`) divided by actions
    /// done (outcome `done`, pull requests excluded: opening one changes
    /// nothing running), both in the window. `None` when none were done.
    pub harmful_action_rate: Option<f64>,
}

/// Computes the KPIs over `[since, until)` from the store. Reads every
/// incident, the whole audit log, every approval and pull request, and the
/// investigations of the incidents in the window.
pub async fn compute(
    store: &dyn Store,
    settings: &KpiSettings,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Kpis, ReportError> {
    if since > until {
        return Err(ReportError::Window { since, until });
    }
    let in_window = |t: DateTime<Utc>| since <= t && t < until;

    let mut incidents: Vec<Incident> = store
        .incidents(&IncidentFilter {
            limit: Some(u32::MAX),
            ..IncidentFilter::default()
        })
        .await?
        .into_iter()
        .filter(|i| in_window(i.detected_at))
        .collect();
    incidents.sort_by_key(|i| i.id);
    let audit: Vec<AuditEntry> = store
        .audit(None)
        .await?
        .into_iter()
        .filter(|e| e.at < until)
        .collect();
    let approvals = store.approvals(None).await?;
    let prs = store.pull_requests().await?;

    let mut entries_of: HashMap<IncidentId, Vec<&AuditEntry>> = HashMap::new();
    for e in &audit {
        if let Some(id) = e.incident_id {
            entries_of.entry(id).or_default().push(e);
        }
    }
    let asked: HashSet<IncidentId> = approvals
        .iter()
        .filter(|a| a.created_at < until)
        .filter_map(|a| a.incident_id)
        .collect();
    let mut merged_at: HashMap<IncidentId, DateTime<Utc>> = HashMap::new();
    for pr in &prs {
        if let Some(at) = merged_by(pr, until) {
            for id in &pr.incidents {
                let m = merged_at.entry(*id).or_insert(at);
                *m = (*m).min(at);
            }
        }
    }

    let mut recovery = Vec::new();
    let mut steady = Vec::new();
    let mut autonomous = 0u64;
    let mut toil_minutes = 0u64;
    for inc in &incidents {
        let investigations: Vec<Investigation> = store
            .investigations(inc.id)
            .await?
            .into_iter()
            .filter(|i| i.started_at < until)
            .collect();
        let entries = entries_of.get(&inc.id).map_or(&[][..], Vec::as_slice);
        let facts = IncidentFacts::read(inc, entries, &investigations, asked.contains(&inc.id));
        let recovered = match (facts.mitigated_at, inc.resolved_at.filter(|r| *r < until)) {
            (Some(m), Some(r)) => Some(m.min(r)),
            (m, r) => m.or(r),
        };
        if let Some(r) = recovered {
            recovery.push(secs_between(inc.detected_at, r));
            if let Some(m) = merged_at.get(&inc.id) {
                steady.push(secs_between(inc.detected_at, r.max(*m)));
            }
        }
        if facts.handled && !facts.human {
            autonomous += 1;
            toil_minutes += u64::from(settings.minutes_for(facts.category.as_deref()));
        }
    }

    let mut pr_counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut pr_opened = 0;
    for pr in prs.iter().filter(|p| in_window(p.created_at)) {
        pr_opened += 1;
        *pr_counts.entry(fate_at(pr, until).as_str()).or_default() += 1;
    }
    let fate = |f: Fate| pr_counts.get(f.as_str()).copied().unwrap_or(0);

    let mut latencies: Vec<f64> = approvals
        .iter()
        .filter(|a| matches!(a.status, ApprovalStatus::Approved | ApprovalStatus::Denied))
        .filter_map(|a| {
            let decided = a.decided_at.filter(|d| in_window(*d))?;
            Some(secs_between(a.created_at, decided))
        })
        .collect();
    latencies.sort_by(f64::total_cmp);

    let mut actions: BTreeMap<(String, String), u64> = BTreeMap::new();
    let (mut done, mut undone) = (0u64, 0u64);
    for e in audit.iter().filter(|e| in_window(e.at)) {
        let result = match e.kind.as_str() {
            "decision" => e.body.get("decision"),
            "action_outcome" => e.body.get("outcome"),
            _ => None,
        };
        let (Some(result), Some(kind)) = (
            result.and_then(|r| r.as_str()),
            e.body.pointer("/request/kind").and_then(|k| k.as_str()),
        ) else {
            continue;
        };
        if e.kind == "action_outcome" {
            match result {
                "done" if kind != "open_pull_request" => done += 1,
                "undone" => undone += 1,
                _ => {}
            }
        }
        *actions
            .entry((kind.to_owned(), result.to_owned()))
            .or_default() += 1;
    }

    let count = incidents.len() as u64;
    Ok(Kpis {
        since,
        until,
        incidents: count,
        incidents_recovered: recovery.len() as u64,
        incidents_autonomous: autonomous,
        incidents_fixed: steady.len() as u64,
        mttr_secs: mean(&recovery),
        mtso_secs: mean(&steady),
        autonomous_resolution_rate: ratio(autonomous, count),
        toil_hours_saved: toil_minutes as f64 / 60.0,
        pr_opened,
        pr_open: fate(Fate::Open),
        pr_merged_unmodified: fate(Fate::MergedUnmodified),
        pr_merged_modified: fate(Fate::MergedModified),
        pr_closed: fate(Fate::Closed),
        pr_correctness_rate: ratio(fate(Fate::MergedUnmodified), pr_opened),
        nodes_per_human: settings
            .nodes
            .filter(|_| settings.humans > 0)
            .map(|n| f64::from(n) / f64::from(settings.humans)),
        approval_latency_secs: ApprovalLatency {
            count: latencies.len() as u64,
            p50: percentile(&latencies, 0.5),
            p90: percentile(&latencies, 0.9),
            max: latencies.last().copied(),
        },
        actions: actions
            .into_iter()
            .map(|((kind, result), count)| ActionCount {
                kind,
                result,
                count,
            })
            .collect(),
        harmful_action_rate: ratio(undone, done),
    })
}

/// What one incident's records say, up to the end of the window.
struct IncidentFacts {
    /// When its first verified mitigation was recorded.
    mitigated_at: Option<DateTime<Utc>>,
    /// pagerless ended it: mitigated, or rightly did nothing.
    handled: bool,
    /// A human was paged or asked, or it was handed to one.
    human: bool,
    /// Its last diagnosis' category.
    category: Option<String>,
}

impl IncidentFacts {
    fn read(
        incident: &Incident,
        entries: &[&AuditEntry],
        investigations: &[Investigation],
        approval_asked: bool,
    ) -> IncidentFacts {
        let mut facts = IncidentFacts {
            mitigated_at: None,
            handled: false,
            human: approval_asked || incident.status == IncidentStatus::Escalated,
            category: None,
        };
        for e in entries {
            let response = (e.kind == "response")
                .then(|| e.body.pointer("/response/kind").and_then(|k| k.as_str()))
                .flatten();
            match (e.kind.as_str(), response) {
                (_, Some("mitigated")) => {
                    facts.handled = true;
                    facts.mitigated_at.get_or_insert(e.at);
                }
                (_, Some("no_action")) => facts.handled = true,
                (_, Some("escalated" | "awaiting_approval" | "shadow"))
                | ("escalation" | "approval", _) => facts.human = true,
                ("decision", _)
                    if e.body.get("decision").and_then(|d| d.as_str())
                        == Some("needs_approval") =>
                {
                    facts.human = true;
                }
                _ => {}
            }
        }
        for inv in investigations {
            match &inv.outcome {
                Outcome::Diagnosed { diagnosis, .. } => {
                    facts.category = Some(diagnosis.category.clone());
                }
                Outcome::Escalated { .. } => facts.human = true,
            }
        }
        facts
    }
}

/// A pull request's fate as it stood at `until`.
fn fate_at(pr: &PullRequest, until: DateTime<Utc>) -> Fate {
    if pr.fate.is_final() && pr.decided_at.is_some_and(|d| d >= until) {
        Fate::Open
    } else {
        pr.fate
    }
}

/// When the pull request merged, if it had by `until`.
fn merged_by(pr: &PullRequest, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match fate_at(pr, until) {
        Fate::MergedUnmodified | Fate::MergedModified => {
            Some(pr.decided_at.unwrap_or(pr.updated_at))
        }
        Fate::Open | Fate::Closed => None,
    }
}

/// Seconds from `from` to `to`, never negative (an alert source's clock may
/// put a resolution a little before pagerless received the alert).
fn secs_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_milliseconds() as f64 / 1000.0).max(0.0)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// Nearest-rank percentile of sorted values: the value at rank ⌈p·n⌉.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod unit {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&v, 0.5), Some(5.0));
        assert_eq!(percentile(&v, 0.9), Some(9.0));
        assert_eq!(percentile(&[4.0], 0.9), Some(4.0));
        assert_eq!(percentile(&[1.0, 3.0], 0.5), Some(1.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn ratios_of_nothing_are_none() {
        assert_eq!(ratio(0, 0), None);
        assert_eq!(ratio(0, 4), Some(0.0));
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0]), Some(1.5));
    }

    #[test]
    fn unknown_categories_cost_the_default() {
        let s = KpiSettings {
            human_minutes: [("disk_pressure".to_owned(), 20)].into(),
            ..KpiSettings::default()
        };
        assert_eq!(s.minutes_for(Some("disk_pressure")), 20);
        assert_eq!(s.minutes_for(Some("other")), 30);
        assert_eq!(s.minutes_for(None), 30);
    }
}
