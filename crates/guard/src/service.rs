//! The guard as a service: gathers what has been done from the store,
//! decides, and records every decision, approval and switch in the audit log.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pagerless_model::{
    ActionKind, ActionRecord, ActionRequest, Approval, ApprovalStatus, AuditInput, Diagnosis,
    IncidentId, TargetKind,
};
use pagerless_store::{Store, StoreError};
use serde_json::json;

use crate::decide::{Decision, decide, decide_approved};
use crate::evaluate::{PastAction, Scope, Usage};
use crate::{Identity, Policy};

/// A guard failure (never a verdict: those are decisions).
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The store failed; nothing was allowed.
    #[error("guard store: {0}")]
    Store(#[from] StoreError),
    /// No such approval.
    #[error("no approval {0}")]
    NoApproval(i64),
    /// The approval was already decided or expired.
    #[error("approval {id} is {status}, not pending")]
    NotPending {
        /// The approval.
        id: i64,
        /// Its status.
        status: &'static str,
    },
}

/// The guard.
pub struct Guard {
    store: Arc<dyn Store>,
    policy: Policy,
    identity: Identity,
}

/// The scope an incident's writes may touch, from the investigation's
/// diagnosis: the incident's own namespace and service, and the object the
/// diagnosis resolved (a node, a database) from structured observations.
pub fn scope_of(
    environment: &str,
    namespace: Option<String>,
    service: Option<String>,
    diagnosis: Option<&Diagnosis>,
    deployment_pods: Option<(String, u32)>,
) -> Scope {
    let mut targets = BTreeSet::new();
    let (mut namespace, mut service) = (namespace, service);
    if let Some(t) = diagnosis.and_then(|d| d.target.clone()) {
        match t.kind {
            TargetKind::Deployment => {
                namespace = t.namespace.clone().or(namespace);
                service = Some(t.name.clone());
            }
            TargetKind::Node | TargetKind::Database => {
                targets.insert(t);
            }
            _ => {}
        }
    }
    Scope {
        environment: environment.to_owned(),
        namespace,
        service,
        targets,
        deployment_pods: deployment_pods.into_iter().collect(),
    }
}

/// The idempotency key of a request within an incident.
pub fn idempotency_key(incident: Option<IncidentId>, req: &ActionRequest) -> String {
    format!(
        "{}/{}/{}/{}",
        incident.map_or_else(|| "none".into(), |i| i.to_string()),
        req.kind,
        req.target,
        serde_json::to_string(&req.params).unwrap_or_default()
    )
}

impl Guard {
    /// A guard over `store` with `policy`, acting as `identity`.
    pub fn new(store: Arc<dyn Store>, policy: Policy, identity: Identity) -> Guard {
        Guard {
            store,
            policy,
            identity,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The agent's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// What has been done in the last day, and the switches.
    pub async fn usage(&self, now: DateTime<Utc>) -> Result<Usage, GuardError> {
        Ok(self.usage_and_keys(now).await?.0)
    }

    async fn usage_and_keys(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Usage, BTreeSet<String>), GuardError> {
        let longest = self
            .policy
            .quotas
            .iter()
            .map(|q| q.window_secs)
            .max()
            .unwrap_or(0)
            .max(86_400);
        let actions = self
            .store
            .actions_since(now - chrono::Duration::seconds(longest))
            .await?;
        let keys: BTreeSet<String> = actions.iter().map(|a| a.key.clone()).collect();
        let mut cordoned = BTreeSet::new();
        for a in &actions {
            match a.kind {
                ActionKind::Cordon => {
                    cordoned.insert(a.target.name.clone());
                }
                ActionKind::Uncordon => {
                    cordoned.remove(&a.target.name);
                }
                _ => {}
            }
        }
        let flags = self.store.flags().await?;
        let usage = Usage {
            recent: actions
                .into_iter()
                .map(|a| PastAction {
                    kind: a.kind,
                    target: a.target,
                    service: a.service,
                    environment: a.environment,
                    incident: a.incident_id.map(|i| i.0),
                    at: a.at,
                    replicas_added: a.replicas_added,
                    cpu_added: a.cpu_added,
                    memory_added: a.memory_added,
                })
                .collect(),
            cordoned,
            kill_switch: flags.iter().any(|(n, v)| n == "kill_switch" && v == "on"),
            revoked: flags
                .iter()
                .filter_map(|(n, _)| n.strip_prefix("revoked:").map(str::to_owned))
                .collect(),
        };
        Ok((usage, keys))
    }

    /// Decides a request from the agent and records the decision: in the audit
    /// log always, in the ledger when allowed, as a pending approval when a
    /// human must decide.
    pub async fn authorize(
        &self,
        request: ActionRequest,
        scope: &Scope,
        incident: Option<IncidentId>,
        now: DateTime<Utc>,
    ) -> Result<Decision, GuardError> {
        let (usage, done) = self.usage_and_keys(now).await?;
        let key = idempotency_key(incident, &request);
        // A retry of a write already authorized is never done twice.
        let decision = if done.contains(&key) {
            Decision::Denied {
                why: format!("already done: {key}"),
            }
        } else {
            decide(
                &self.policy,
                request.clone(),
                scope,
                &usage,
                &self.identity,
                incident.map(|i| i.0),
                now,
            )
        };
        let decision = match decision {
            Decision::Allowed(a) => {
                let fresh = self
                    .record(&request, scope, incident, &key, &self.identity, now)
                    .await?;
                if fresh {
                    Decision::Allowed(a)
                } else {
                    Decision::Denied {
                        why: format!("already done: {key}"),
                    }
                }
            }
            Decision::NeedsApproval {
                request,
                approvers,
                why,
            } => {
                let id = self
                    .store
                    .create_approval(Approval {
                        id: 0,
                        created_at: now,
                        deadline: now
                            + chrono::Duration::seconds(self.policy.approval_timeout_secs as i64),
                        incident_id: incident,
                        request: request.clone(),
                        scope: serde_json::to_value(scope).unwrap_or_default(),
                        approvers: approvers.clone(),
                        why: why.clone(),
                        status: ApprovalStatus::Pending,
                        decided_by: None,
                        decided_at: None,
                        reason: None,
                    })
                    .await?;
                Decision::NeedsApproval {
                    request,
                    approvers,
                    why: format!("{why} (approval {id})"),
                }
            }
            other => other,
        };
        let record = decision.record(&self.identity);
        self.audit(incident, "decision", json!({ "request": request, "scope": scope, "decision": record.decision, "why": record.why }), &self.identity.name, now).await?;
        Ok(decision)
    }

    /// A human approves a pending request: decided again under the hard limits,
    /// recorded, and (when allowed) authorized under the approver's identity.
    pub async fn approve(
        &self,
        id: i64,
        approver: &Identity,
        now: DateTime<Utc>,
    ) -> Result<Decision, GuardError> {
        let approval = self.pending(id, now).await?;
        let scope: Scope = serde_json::from_value(approval.scope.clone()).unwrap_or_default();
        let usage = self.usage(now).await?;
        let decision = decide_approved(
            &self.policy,
            approval.request.clone(),
            &scope,
            &usage,
            &self.identity,
            approver,
            approval.incident_id.map(|i| i.0),
            now,
        );
        let status = match &decision {
            Decision::Allowed(_) => ApprovalStatus::Approved,
            _ => ApprovalStatus::Denied,
        };
        if !self
            .store
            .decide_approval(
                id,
                status,
                approver.name.clone(),
                Some(decision.record(approver).why),
                now,
            )
            .await?
        {
            return Err(GuardError::NotPending {
                id,
                status: "decided",
            });
        }
        let decision = match decision {
            Decision::Allowed(a) => {
                let key = idempotency_key(approval.incident_id, &approval.request);
                let fresh = self
                    .record(
                        &approval.request,
                        &scope,
                        approval.incident_id,
                        &key,
                        approver,
                        now,
                    )
                    .await?;
                if fresh {
                    Decision::Allowed(a)
                } else {
                    Decision::Denied {
                        why: format!("already done: {key}"),
                    }
                }
            }
            other => other,
        };
        let record = decision.record(approver);
        self.audit(approval.incident_id, "approval", json!({ "approval": id, "request": approval.request, "decision": record.decision, "why": record.why }), &approver.name, now).await?;
        Ok(decision)
    }

    /// A human denies a pending request.
    pub async fn deny(
        &self,
        id: i64,
        approver: &Identity,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<(), GuardError> {
        let approval = self.pending(id, now).await?;
        if !self
            .store
            .decide_approval(
                id,
                ApprovalStatus::Denied,
                approver.name.clone(),
                Some(why.to_owned()),
                now,
            )
            .await?
        {
            return Err(GuardError::NotPending {
                id,
                status: "decided",
            });
        }
        self.audit(approval.incident_id, "approval", json!({ "approval": id, "request": approval.request, "decision": "denied", "why": why }), &approver.name, now).await
    }

    /// Denies every pending approval past its deadline; returns their ids.
    pub async fn expire(&self, now: DateTime<Utc>) -> Result<Vec<i64>, GuardError> {
        let mut expired = Vec::new();
        for a in self.store.approvals(Some(ApprovalStatus::Pending)).await? {
            if a.deadline <= now
                && self
                    .store
                    .decide_approval(
                        a.id,
                        ApprovalStatus::Expired,
                        "deadline".into(),
                        Some("nobody decided in time".into()),
                        now,
                    )
                    .await?
            {
                self.audit(
                    a.incident_id,
                    "approval",
                    json!({ "approval": a.id, "decision": "expired" }),
                    &self.identity.name,
                    now,
                )
                .await?;
                expired.push(a.id);
            }
        }
        Ok(expired)
    }

    /// Turns the global kill switch on or off.
    pub async fn set_kill_switch(
        &self,
        on: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), GuardError> {
        self.store
            .set_flag("kill_switch".into(), on.then(|| "on".to_owned()))
            .await?;
        self.audit(None, "kill_switch", json!({ "on": on }), by, now)
            .await
    }

    /// Revokes (or restores) an identity's right to act.
    pub async fn set_revoked(
        &self,
        identity: &str,
        revoked: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), GuardError> {
        self.store
            .set_flag(
                format!("revoked:{identity}"),
                revoked.then(|| "yes".to_owned()),
            )
            .await?;
        self.audit(
            None,
            "revocation",
            json!({ "identity": identity, "revoked": revoked }),
            by,
            now,
        )
        .await
    }

    async fn pending(&self, id: i64, now: DateTime<Utc>) -> Result<Approval, GuardError> {
        let approval = self
            .store
            .approval(id)
            .await?
            .ok_or(GuardError::NoApproval(id))?;
        if approval.status != ApprovalStatus::Pending {
            return Err(GuardError::NotPending {
                id,
                status: approval.status.as_str(),
            });
        }
        if approval.deadline <= now {
            self.expire(now).await?;
            return Err(GuardError::NotPending {
                id,
                status: "expired",
            });
        }
        Ok(approval)
    }

    async fn record(
        &self,
        req: &ActionRequest,
        scope: &Scope,
        incident: Option<IncidentId>,
        key: &str,
        who: &Identity,
        now: DateTime<Utc>,
    ) -> Result<bool, GuardError> {
        let (replicas_added, cpu_added, memory_added) = crate::evaluate::added(req);
        Ok(self
            .store
            .record_action(ActionRecord {
                key: key.to_owned(),
                kind: req.kind,
                target: req.target.clone(),
                service: scope.service.clone(),
                environment: scope.environment.clone(),
                incident_id: incident,
                at: now,
                replicas_added,
                cpu_added,
                memory_added,
                identity: who.name.clone(),
            })
            .await?)
    }

    async fn audit(
        &self,
        incident: Option<IncidentId>,
        kind: &str,
        body: serde_json::Value,
        who: &str,
        now: DateTime<Utc>,
    ) -> Result<(), GuardError> {
        self.store
            .append_audit(AuditInput {
                at: now,
                identity: who.to_owned(),
                incident_id: incident,
                kind: kind.to_owned(),
                body,
            })
            .await?;
        Ok(())
    }
}
