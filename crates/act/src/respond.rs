//! The response to a diagnosed incident: each mitigation of the plan is put to
//! the guard, the authorized ones are carried out, then the symptom is watched
//! until it recovers or the window ends; what made things worse is undone.
//! Every transition is audited and the incident's status follows.

use async_trait::async_trait;
use chrono::Utc;
use pagerless_guard::{Authorized, Decision, Guard, Scope};
use pagerless_model::{ActionRequest, AuditInput, IncidentId, IncidentStatus, Plan};
use pagerless_store::Store;
use serde::Serialize;
use serde_json::json;

use crate::{Executed, Executors};

/// Reads the incident's symptom and lets time pass, really or on a lab's clock.
#[async_trait]
pub trait Verifier: Send + Sync {
    /// The symptom now: `None` when the alert's expression returns nothing (healthy),
    /// else its value.
    async fn symptom(&self) -> Result<Option<f64>, String>;
    /// Lets `secs` seconds pass.
    async fn wait(&self, secs: u64);
}

/// One mitigation and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MitigationStep {
    /// The request.
    pub request: ActionRequest,
    /// The guard's decision: allowed, needs_approval, denied, shadow, or no_executor.
    pub decision: String,
    /// Why.
    pub why: String,
    /// What was done, when it was.
    pub executed: Option<String>,
    /// What failed, when it did.
    pub error: Option<String>,
    /// The write that undoes it, when it was done and one exists (scale back,
    /// uncordon): what is reverted once the permanent fix is live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<ActionRequest>,
}

/// How the response ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    /// Acted, and the symptom recovered.
    Mitigated {
        /// How it was verified.
        verified: String,
    },
    /// Handed to a human.
    Escalated {
        /// Why.
        reason: String,
    },
    /// Nothing to do, rightly.
    NoAction {
        /// Why.
        reason: String,
    },
    /// Waiting for a human to approve.
    AwaitingApproval {
        /// The approvals asked for.
        approvals: Vec<String>,
    },
    /// Shadow mode: what would have been done, recorded, nothing changed.
    Shadow {
        /// What would have happened.
        would: Vec<String>,
    },
}

/// The whole response, for the record and the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MitigationReport {
    /// The mitigations, in order.
    pub steps: Vec<MitigationStep>,
    /// The symptom before acting, and at each check after: (seconds after acting, value).
    pub symptom: Vec<(u64, Option<f64>)>,
    /// How it ended.
    pub response: Response,
}

/// Responds to an incident with `plan`. `category` `none` with no mitigation
/// means nothing needs doing; any other plan without mitigations escalates.
#[allow(clippy::too_many_arguments)]
pub async fn respond(
    guard: &Guard,
    executors: &Executors,
    store: &dyn Store,
    incident: IncidentId,
    category: &str,
    plan: &Plan,
    scope: &Scope,
    verifier: &dyn Verifier,
    window_secs: u64,
    interval_secs: u64,
) -> MitigationReport {
    if plan.mitigations.is_empty() {
        let response = if category == "none" {
            Response::NoAction {
                reason: "the diagnosis needs no action".into(),
            }
        } else {
            Response::Escalated {
                reason: format!("no mitigation of ours fits `{category}`; a human should engage"),
            }
        };
        return finish(guard, store, incident, response, Vec::new(), Vec::new()).await;
    }

    let baseline = verifier.symptom().await.ok().flatten();
    let symptom = vec![(0, baseline)];
    let mut steps = Vec::new();
    let mut undo: Vec<ActionRequest> = Vec::new();
    let mut approvals = Vec::new();
    let mut shadow = Vec::new();
    let mut executed = 0;
    for request in &plan.mitigations {
        let mut step = MitigationStep {
            request: request.clone(),
            decision: String::new(),
            why: String::new(),
            executed: None,
            error: None,
            undo: None,
        };
        if !executors.can(request.kind) {
            step.decision = "no_executor".into();
            step.why = format!("no executor is configured for `{}`", request.kind);
            steps.push(step);
            continue;
        }
        let decision = match guard
            .authorize(request.clone(), scope, Some(incident), Utc::now())
            .await
        {
            Ok(d) => d,
            Err(e) => {
                step.decision = "error".into();
                step.error = Some(e.to_string());
                steps.push(step);
                continue;
            }
        };
        match decision {
            Decision::Allowed(a) => {
                step.decision = "allowed".into();
                step.why = a.decision().to_owned();
                if run_write(store, executors, incident, a, &mut step).await {
                    undo.extend(step.undo.clone());
                    executed += 1;
                }
            }
            Decision::NeedsApproval { why, .. } => {
                step.decision = "needs_approval".into();
                approvals.push(why.clone());
                step.why = why;
            }
            Decision::Denied { why } => {
                step.decision = "denied".into();
                step.why = why;
            }
            Decision::Shadow { would } => {
                step.decision = "shadow".into();
                shadow.push(format!(
                    "{} {}: {}",
                    request.kind,
                    request.target,
                    would.why()
                ));
                step.why = would.why().to_owned();
            }
        }
        steps.push(step);
    }

    if executed == 0 {
        let response = if !approvals.is_empty() {
            Response::AwaitingApproval { approvals }
        } else if !shadow.is_empty() {
            Response::Shadow { would: shadow }
        } else {
            let why: Vec<String> = steps
                .iter()
                .map(|s| {
                    format!(
                        "{} {}: {}",
                        s.request.kind,
                        s.request.target,
                        s.error.clone().unwrap_or_else(|| s.why.clone())
                    )
                })
                .collect();
            Response::Escalated {
                reason: format!("nothing could be done: {}", why.join("; ")),
            }
        };
        return finish(guard, store, incident, response, steps, symptom).await;
    }

    verify_and_finish(
        guard,
        executors,
        store,
        incident,
        scope,
        verifier,
        window_secs,
        interval_secs,
        steps,
        symptom,
        undo,
    )
    .await
}

/// Carries out a write a human approved (already authorized under the
/// approver's identity), audited like the agent's own, then verifies the
/// symptom and settles the incident exactly as [`respond`] does.
#[allow(clippy::too_many_arguments)]
pub async fn carry_out_approved(
    guard: &Guard,
    executors: &Executors,
    store: &dyn Store,
    incident: IncidentId,
    approved: Authorized<ActionRequest>,
    scope: &Scope,
    verifier: &dyn Verifier,
    window_secs: u64,
    interval_secs: u64,
) -> MitigationReport {
    let request = approved.request().clone();
    let mut step = MitigationStep {
        request: request.clone(),
        decision: "allowed".into(),
        why: approved.decision().to_owned(),
        executed: None,
        error: None,
        undo: None,
    };
    let baseline = verifier.symptom().await.ok().flatten();
    let symptom = vec![(0, baseline)];
    if !run_write(store, executors, incident, approved, &mut step).await {
        let reason = format!(
            "the approved {} {} failed: {}",
            request.kind,
            request.target,
            step.error.clone().unwrap_or_default()
        );
        return finish(
            guard,
            store,
            incident,
            Response::Escalated { reason },
            vec![step],
            symptom,
        )
        .await;
    }
    let undo = step.undo.clone().into_iter().collect();
    verify_and_finish(
        guard,
        executors,
        store,
        incident,
        scope,
        verifier,
        window_secs,
        interval_secs,
        vec![step],
        symptom,
        undo,
    )
    .await
}

/// Carries out one authorized write between its `action_start` and
/// `action_outcome` audit entries, filling in the step; `true` when done.
async fn run_write(
    store: &dyn Store,
    executors: &Executors,
    incident: IncidentId,
    authorized: Authorized<ActionRequest>,
    step: &mut MitigationStep,
) -> bool {
    let request = authorized.request().clone();
    let who = authorized.identity().name.clone();
    let start = json!({ "request": request });
    audit(store, incident, "action_start", start, who.clone()).await;
    let result = executors.execute(authorized).await;
    failpoint_after_execute();
    let (outcome, done) = match result {
        Ok(Executed { summary, undo }) => {
            let body = json!({ "request": request, "outcome": "done", "summary": summary });
            step.executed = Some(summary);
            step.undo = undo;
            (body, true)
        }
        Err(e) => {
            step.error = Some(e.to_string());
            let body = json!({ "request": request, "outcome": "failed", "error": e.to_string() });
            (body, false)
        }
    };
    audit(store, incident, "action_outcome", outcome, who).await;
    done
}

async fn audit(
    store: &dyn Store,
    incident: IncidentId,
    kind: &str,
    body: serde_json::Value,
    who: String,
) {
    let input = AuditInput {
        at: Utc::now(),
        identity: who,
        incident_id: Some(incident),
        kind: kind.into(),
        body,
    };
    if let Err(e) = store.append_audit(input).await {
        tracing::error!(error = %e, "cannot write the audit log");
    }
}

/// Stores the incident's new status and audits the response.
async fn finish(
    guard: &Guard,
    store: &dyn Store,
    incident: IncidentId,
    response: Response,
    steps: Vec<MitigationStep>,
    symptom: Vec<(u64, Option<f64>)>,
) -> MitigationReport {
    let status = match &response {
        Response::Mitigated { .. } => Some(IncidentStatus::Mitigated),
        Response::Escalated { .. } => Some(IncidentStatus::Escalated),
        _ => None,
    };
    if let Some(status) = status
        && let Err(e) = store
            .set_incident_status(incident, status, Utc::now())
            .await
    {
        tracing::error!(error = %e, %incident, "cannot store the incident's status");
    }
    audit(
        store,
        incident,
        "response",
        json!({ "response": response }),
        guard.identity().name.clone(),
    )
    .await;
    MitigationReport {
        steps,
        symptom,
        response,
    }
}

/// Watches the symptom after acting: healthy on two checks in a row is
/// recovered; much worse is undone and escalated; neither is escalated when
/// the window ends.
#[allow(clippy::too_many_arguments)]
async fn verify_and_finish(
    guard: &Guard,
    executors: &Executors,
    store: &dyn Store,
    incident: IncidentId,
    scope: &Scope,
    verifier: &dyn Verifier,
    window_secs: u64,
    interval_secs: u64,
    steps: Vec<MitigationStep>,
    mut symptom: Vec<(u64, Option<f64>)>,
    undo: Vec<ActionRequest>,
) -> MitigationReport {
    let me = guard.identity().name.clone();
    let baseline = symptom.first().and_then(|s| s.1);
    let mut healthy = 0;
    let mut elapsed = 0;
    let mut worse = false;
    let mut unreadable = None;
    while elapsed < window_secs {
        verifier.wait(interval_secs).await;
        elapsed += interval_secs;
        // A read that fails is not a healthy read: it never counts as recovered.
        let now = match verifier.symptom().await {
            Ok(now) => now,
            Err(e) => {
                unreadable = Some(e);
                healthy = 0;
                continue;
            }
        };
        symptom.push((elapsed, now));
        match (now, baseline) {
            (None, _) => healthy += 1,
            (Some(v), Some(b)) if v > b * 1.5 && elapsed >= 3 * interval_secs => {
                worse = true;
                break;
            }
            _ => healthy = 0,
        }
        if healthy >= 2 {
            break;
        }
    }
    audit(
        store,
        incident,
        "verification",
        json!({ "symptom": symptom, "recovered": healthy >= 2 }),
        me.clone(),
    )
    .await;
    let response = if healthy >= 2 {
        Response::Mitigated {
            verified: format!(
                "the symptom cleared {} s after acting and stayed clear",
                elapsed.saturating_sub(interval_secs)
            ),
        }
    } else if worse {
        for u in undo {
            if let Ok(Decision::Allowed(a)) = guard
                .authorize(u.clone(), scope, Some(incident), Utc::now())
                .await
            {
                let summary = executors
                    .execute(a)
                    .await
                    .map(|e| e.summary)
                    .unwrap_or_else(|e| e.to_string());
                audit(
                    store,
                    incident,
                    "action_outcome",
                    json!({ "request": u, "outcome": "undone", "summary": summary }),
                    me.clone(),
                )
                .await;
            }
        }
        Response::Escalated {
            reason: "the symptom got worse after acting; undone where possible".into(),
        }
    } else if let (Some(e), 1) = (&unreadable, symptom.len()) {
        Response::Escalated {
            reason: format!("acted, but the symptom could not be read to verify it: {e}"),
        }
    } else {
        let last = symptom.last().and_then(|s| s.1);
        Response::Escalated {
            reason: format!(
                "not recovered within {} (symptom {})",
                span(window_secs),
                last.map_or("gone".into(), |v| format!("{v:.3}"))
            ),
        }
    };
    finish(guard, store, incident, response, steps, symptom).await
}

/// `90 s`, `15 min`.
fn span(secs: u64) -> String {
    if secs < 120 {
        format!("{secs} s")
    } else {
        format!("{} min", secs / 60)
    }
}

/// Crash tests: with `PAGERLESS_FAILPOINT=after_execute` the process kills
/// itself (SIGKILL, no clean-up) after a write and before its outcome is
/// recorded, the window `reconcile` exists for.
fn failpoint_after_execute() {
    if std::env::var("PAGERLESS_FAILPOINT").as_deref() == Ok("after_execute") {
        tracing::error!("failpoint after_execute: killing this process");
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        std::process::abort();
    }
}
