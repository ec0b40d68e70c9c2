//! From a verdict to a decision: the environment's mode applies, and an
//! allowed request is minted into [`Authorized`] — here and nowhere else.

use chrono::{DateTime, Utc};
use pagerless_model::ActionRequest;
use serde::Serialize;

use crate::evaluate::{Scope, Usage, Verdict, evaluate};
use crate::policy::{Mode, Policy};
use crate::{Authorized, Identity};

/// What happens to a request.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Carry it out: the only way to an executor.
    Allowed(Authorized<ActionRequest>),
    /// A human must approve; store it and ask.
    NeedsApproval {
        /// The request.
        request: ActionRequest,
        /// Who may approve.
        approvers: Vec<String>,
        /// Why.
        why: String,
    },
    /// Refused.
    Denied {
        /// Why.
        why: String,
    },
    /// Shadow mode: what would have happened, recorded, nothing done.
    Shadow {
        /// The verdict that would have applied.
        would: Verdict,
    },
}

/// The decision as the audit log records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    /// `allowed`, `needs_approval`, `denied` or `shadow`.
    pub decision: &'static str,
    /// Why.
    pub why: String,
    /// Who would act.
    pub identity: String,
}

impl Decision {
    /// Its record for the audit log.
    pub fn record(&self, identity: &Identity) -> DecisionRecord {
        let (decision, why) = match self {
            Decision::Allowed(a) => ("allowed", a.decision().to_owned()),
            Decision::NeedsApproval { why, .. } => ("needs_approval", why.clone()),
            Decision::Denied { why } => ("denied", why.clone()),
            Decision::Shadow { would } => (
                "shadow",
                format!(
                    "shadow mode, would be {}: {}",
                    match would {
                        Verdict::Allow { .. } => "allowed",
                        Verdict::NeedsApproval { .. } => "sent for approval",
                        Verdict::Deny { .. } => "denied",
                    },
                    would.why()
                ),
            ),
        };
        DecisionRecord {
            decision,
            why,
            identity: identity.name.clone(),
        }
    }
}

/// Decides a request from the agent.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    policy: &Policy,
    request: ActionRequest,
    scope: &Scope,
    usage: &Usage,
    identity: &Identity,
    incident: Option<i64>,
    now: DateTime<Utc>,
) -> Decision {
    let verdict = evaluate(policy, &request, scope, usage, identity, incident, now);
    let mode = policy
        .rules(&scope.environment)
        .map_or(Mode::Shadow, |r| r.mode);
    if mode == Mode::Shadow {
        return Decision::Shadow { would: verdict };
    }
    match verdict {
        Verdict::Allow { why } => {
            Decision::Allowed(Authorized::mint(request, identity.clone(), why))
        }
        Verdict::NeedsApproval { approvers, why } => Decision::NeedsApproval {
            request,
            approvers,
            why,
        },
        Verdict::Deny { why } => Decision::Denied { why },
    }
}

/// Decides a request a human approved. Approval lifts the need for a human,
/// not the hard limits: the kill switch, revocation, scope, arguments,
/// blast radius and budgets still apply, and shadow mode still changes nothing.
#[allow(clippy::too_many_arguments)]
pub fn decide_approved(
    policy: &Policy,
    request: ActionRequest,
    scope: &Scope,
    usage: &Usage,
    agent: &Identity,
    approver: &Identity,
    incident: Option<i64>,
    now: DateTime<Utc>,
) -> Decision {
    if !approver.human {
        return Decision::Denied {
            why: format!("{} is not a human and cannot approve", approver.name),
        };
    }
    if usage.revoked.contains(&approver.name) {
        return Decision::Denied {
            why: format!("{} is revoked", approver.name),
        };
    }
    let verdict = evaluate(policy, &request, scope, usage, agent, incident, now);
    let mode = policy
        .rules(&scope.environment)
        .map_or(Mode::Shadow, |r| r.mode);
    if mode == Mode::Shadow {
        return Decision::Shadow { would: verdict };
    }
    match verdict {
        Verdict::Allow { .. } | Verdict::NeedsApproval { .. } => {
            let why = format!("approved by {}", approver.name);
            Decision::Allowed(Authorized::mint(request, approver.clone(), why))
        }
        Verdict::Deny { why } => Decision::Denied { why },
    }
}
