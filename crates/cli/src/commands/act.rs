//! Mitigation outside the lab harness: executors from the configuration, a
//! verifier reading the symptom through Prometheus, and `pagerless act`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use async_trait::async_trait;
use pagerless_act::{Executors, Response, Verifier, respond};
use pagerless_guard::{Guard, Identity, scope_of};
use pagerless_model::{IncidentId, Outcome};
use pagerless_store::{SqliteStore, Store};
use pagerless_tools::Toolbox;
use pagerless_tools::config::ToolsConfig;

use crate::settings::Settings;

/// The executors the configuration allows: Kubernetes writes through the same
/// kubeconfig the Kubernetes tools read with; PostgreSQL through `act.postgres`.
pub async fn executors(tools: &ToolsConfig, act: &crate::config::ActConfig) -> Result<Executors> {
    let impersonate = act.impersonate_approvers;
    let mut ex = Executors::new();
    if let Some(host) = &act.host {
        ex.add(Box::new(
            pagerless_act::executors::HostExecutor::new(host.clone())
                .map_err(|e| anyhow::anyhow!("act.host: {e}"))?,
        ));
    }
    if let Some(pg) = &act.postgres {
        let url = match (&pg.url, &pg.url_env) {
            (Some(url), _) => url.clone(),
            (None, Some(var)) => std::env::var(var)
                .with_context(|| format!("act.postgres: the URL variable `{var}` is not set"))?,
            (None, None) => anyhow::bail!("act.postgres: neither `url` nor `url_env` is set"),
        };
        ex.add(Box::new(
            pagerless_act::executors::PostgresExecutor::new(
                &url,
                std::time::Duration::from_secs(pg.timeout_secs.max(1)),
            )
            .map_err(|e| anyhow::anyhow!("act.postgres: {e}"))?,
        ));
    }
    if let Some(k) = &tools.kubernetes {
        let exe = match &k.kubeconfig {
            Some(path) => {
                pagerless_act::executors::KubernetesExecutor::from_kubeconfig(path, impersonate)
                    .await
                    .map_err(anyhow::Error::msg)?
            }
            None => pagerless_act::executors::KubernetesExecutor::new(
                kube::Config::infer()
                    .await
                    .context("no Kubernetes configuration found")?,
                impersonate,
            ),
        };
        ex.add(Box::new(exe));
    }
    Ok(ex)
}

/// Reads the alert's expression through Prometheus; waits on the wall clock.
pub struct PromVerifier {
    /// The toolbox with `prometheus.query`.
    pub toolbox: Toolbox,
    /// The alert's expression.
    pub expr: String,
}

#[async_trait]
impl Verifier for PromVerifier {
    async fn symptom(&self) -> Result<Option<f64>, String> {
        read_symptom(&self.toolbox, &self.expr).await
    }
    async fn wait(&self, secs: u64) {
        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    }
}

/// An expression's first value through `prometheus.query`; `None` when it
/// returns nothing (healthy).
pub async fn read_symptom(toolbox: &Toolbox, expr: &str) -> Result<Option<f64>, String> {
    let obs = toolbox
        .call("prometheus.query", &serde_json::json!({ "query": expr }))
        .await
        .map_err(|e| e.to_string())?;
    let r: pagerless_tools::prometheus::InstantResult =
        serde_json::from_value(obs.data).map_err(|e| e.to_string())?;
    Ok(r.series.first().map(|s| s.value))
}

/// What `serve` needs to act on incidents as their investigations end.
pub struct Acting {
    /// The guard.
    pub guard: Arc<Guard>,
    /// The executors.
    pub executors: Executors,
    /// Tools, for verification.
    pub toolbox: Toolbox,
    /// Verification window, seconds.
    pub window_secs: u64,
    /// Verification interval, seconds.
    pub interval_secs: u64,
    /// Where permanent fixes go, when an IaC repository is configured.
    pub gitops: Option<Arc<super::gitops::Gitops>>,
    /// Where notices go, when sinks are configured.
    pub notify: Option<Arc<Notifications>>,
}

/// Notices for humans: the sinks, and the console the trace links point to.
pub struct Notifications {
    /// The sinks.
    pub dispatcher: pagerless_notify::Dispatcher,
    /// The web console's base URL.
    pub console: String,
}

impl Notifications {
    /// Sends the notice beside the incident (a slow or failing sink never
    /// holds it up) and audits each delivery. The handle finishes when every
    /// sink has answered or given up.
    pub fn send(
        &self,
        store: Arc<dyn Store>,
        incident: IncidentId,
        notice: pagerless_notify::Notice,
    ) -> tokio::task::JoinHandle<()> {
        let notice = notice.with_trace_url(format!("{}/incidents/{incident}", self.console));
        let sending = self.dispatcher.spawn_notify(notice.clone());
        tokio::spawn(async move {
            let deliveries = sending.await.unwrap_or_default();
            for d in deliveries {
                let body = serde_json::json!({
                    "kind": notice.kind,
                    "sink": d.sink,
                    "ok": d.ok,
                    "attempts": d.attempts,
                    "error": d.error,
                });
                if let Err(e) = store
                    .append_audit(pagerless_model::AuditInput {
                        at: chrono::Utc::now(),
                        identity: "pagerless".into(),
                        incident_id: Some(incident),
                        kind: "notification".into(),
                        body,
                    })
                    .await
                {
                    tracing::error!(error = %e, "cannot write the audit log");
                }
            }
        })
    }
}

/// The notice a response calls for: resolved by the agent, an escalation, or
/// approvals a human must give.
pub async fn notices(
    store: &dyn Store,
    detail: &pagerless_model::IncidentDetail,
    diagnosis: &pagerless_model::Diagnosis,
    report: &pagerless_act::MitigationReport,
    summary: &str,
    fix: Option<&super::gitops::FixOutcome>,
) -> Vec<pagerless_notify::Notice> {
    use pagerless_act::Response;
    use pagerless_notify::Notice;
    let i = &detail.incident;
    let tried: Vec<String> = report
        .steps
        .iter()
        .map(|s| {
            s.executed.clone().unwrap_or_else(|| {
                format!(
                    "{} {} ({}: {})",
                    s.request.kind, s.request.target, s.decision, s.why
                )
            })
        })
        .collect();
    let seen: Vec<String> = std::iter::once(diagnosis.root_cause.clone())
        .chain(diagnosis.evidence.iter().map(|e| e.summary.clone()))
        .collect();
    let failed_fix = match fix {
        Some(super::gitops::FixOutcome::Failed(why)) => Some(why.clone()),
        _ => None,
    };
    let mut out = match (&report.response, failed_fix) {
        (_, Some(why)) => vec![Notice::escalation(
            i,
            summary,
            seen,
            tried,
            format!("the permanent fix could not be proposed: {why}"),
        )],
        (Response::Mitigated { .. } | Response::NoAction { .. }, None) => {
            vec![Notice::resolved(i, summary)]
        }
        (Response::Escalated { reason }, None) => {
            vec![Notice::escalation(i, summary, seen, tried, reason.clone())]
        }
        (Response::Shadow { .. }, None) => vec![Notice::escalation(
            i,
            summary,
            seen,
            tried,
            "shadow mode: nothing was changed; the above is what I would have done",
        )],
        (Response::AwaitingApproval { .. }, None) => store
            .approvals(Some(pagerless_model::ApprovalStatus::Pending))
            .await
            .unwrap_or_default()
            .iter()
            .filter(|a| a.incident_id == Some(i.id))
            .map(|a| Notice::approval_needed(i, a, summary))
            .collect(),
    };
    if let Some(super::gitops::FixOutcome::Proposed(pr)) = fix {
        out = out.into_iter().map(|n| n.with_pull_request(pr)).collect();
    }
    out
}

/// Responds to a stored incident with its latest investigation's plan, and
/// records the summary for humans.
pub async fn respond_to(
    store: Arc<dyn Store>,
    acting: &Acting,
    incident: IncidentId,
) -> Result<Option<pagerless_act::MitigationReport>> {
    let Some(ctx) = Diagnosed::load(store.as_ref(), &acting.toolbox, incident).await? else {
        return Ok(None);
    };
    let scope = scope_of(
        ctx.detail.incident.environment.as_str(),
        ctx.detail.incident.namespace.clone(),
        ctx.detail.incident.service.clone(),
        Some(&ctx.diagnosis),
        None,
    );
    let report = respond(
        &acting.guard,
        &acting.executors,
        store.as_ref(),
        incident,
        &ctx.diagnosis.category,
        &ctx.plan,
        &scope,
        &ctx.verifier,
        acting.window_secs,
        acting.interval_secs,
    )
    .await;
    conclude(
        store.clone(),
        &acting.guard,
        acting.gitops.as_deref(),
        acting.notify.as_deref(),
        &ctx.detail,
        &ctx.diagnosis,
        &ctx.plan,
        &report,
    )
    .await;
    Ok(Some(report))
}

/// After the response: the permanent fix proposed when the plan has one (a
/// fix that cannot be proposed escalates the incident), then the summary for
/// humans recorded. Returns the summary and what became of the fix.
#[allow(clippy::too_many_arguments)]
pub async fn conclude(
    store: Arc<dyn Store>,
    guard: &Guard,
    gitops: Option<&super::gitops::Gitops>,
    notify: Option<&Notifications>,
    detail: &pagerless_model::IncidentDetail,
    diagnosis: &pagerless_model::Diagnosis,
    plan: &pagerless_model::Plan,
    report: &pagerless_act::MitigationReport,
) -> (
    String,
    Option<super::gitops::FixOutcome>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (summary, fix) = settle(
        store.as_ref(),
        guard,
        gitops,
        detail,
        diagnosis,
        plan,
        report,
    )
    .await;
    let mut sending = Vec::new();
    if let Some(n) = notify {
        for notice in notices(
            store.as_ref(),
            detail,
            diagnosis,
            report,
            &summary,
            fix.as_ref(),
        )
        .await
        {
            sending.push(n.send(store.clone(), detail.incident.id, notice));
        }
    }
    (summary, fix, sending)
}

/// Proposes the fix and records the summary.
async fn settle(
    store: &dyn Store,
    guard: &Guard,
    gitops: Option<&super::gitops::Gitops>,
    detail: &pagerless_model::IncidentDetail,
    diagnosis: &pagerless_model::Diagnosis,
    plan: &pagerless_model::Plan,
    report: &pagerless_act::MitigationReport,
) -> (String, Option<super::gitops::FixOutcome>) {
    use super::gitops::FixOutcome;
    let incident = detail.incident.id;
    let subject = detail
        .incident
        .service
        .clone()
        .unwrap_or_else(|| detail.incident.title.clone());
    let mut summary = pagerless_act::summarize(&subject, diagnosis, report);
    let mut fix_outcome = None;
    if let (Some(fix), Some(g)) = (&plan.fix, gitops) {
        let inv = store
            .investigations(incident)
            .await
            .ok()
            .and_then(|mut v| v.pop());
        let proposed = super::gitops::propose_fix(
            store,
            guard,
            g,
            super::gitops::FixContext {
                incident: detail,
                diagnosis,
                fix,
                investigation: inv.as_ref(),
                summary: &summary,
                report: Some(report),
            },
        )
        .await;
        summary = match &proposed {
            FixOutcome::Proposed(pr) => pagerless_act::with_fix(summary, Ok(pr)),
            FixOutcome::Held(why) => pagerless_act::with_fix(summary, Err(why)),
            FixOutcome::Failed(why) => {
                // The permanent fix needs a human now, whatever the mitigation did.
                tracing::warn!(%incident, %why, "the fix could not be proposed; escalating");
                if let Err(e) = store
                    .set_incident_status(
                        incident,
                        pagerless_model::IncidentStatus::Escalated,
                        chrono::Utc::now(),
                    )
                    .await
                {
                    tracing::error!(error = %e, "cannot store the incident's status");
                }
                audit(
                    store,
                    guard,
                    incident,
                    "escalation",
                    serde_json::json!({ "reason": format!("the permanent fix could not be proposed: {why}") }),
                )
                .await;
                format!(
                    "{summary} The permanent fix could not be proposed, so I escalated to a human: {why}"
                )
            }
        };
        fix_outcome = Some(proposed);
    }
    audit(
        store,
        guard,
        incident,
        "summary",
        serde_json::json!({ "text": summary }),
    )
    .await;
    (summary, fix_outcome)
}

async fn audit(
    store: &dyn Store,
    guard: &Guard,
    incident: IncidentId,
    kind: &str,
    body: serde_json::Value,
) {
    let entry = pagerless_model::AuditInput {
        at: chrono::Utc::now(),
        identity: guard.identity().name.clone(),
        incident_id: Some(incident),
        kind: kind.into(),
        body,
    };
    if let Err(e) = store.append_audit(entry).await {
        tracing::error!(error = %e, "cannot write the audit log");
    }
}

/// A diagnosed incident, ready to act on.
pub(super) struct Diagnosed {
    pub(super) detail: pagerless_model::IncidentDetail,
    pub(super) diagnosis: pagerless_model::Diagnosis,
    pub(super) plan: pagerless_model::Plan,
    /// Reads the plan's own check when it has one, else the alert's expression.
    pub(super) verifier: PromVerifier,
}

impl Diagnosed {
    /// The incident and its latest investigation, when that ended in a diagnosis.
    pub(super) async fn load(
        store: &dyn Store,
        toolbox: &Toolbox,
        incident: IncidentId,
    ) -> Result<Option<Diagnosed>> {
        let detail = store
            .incident(incident)
            .await?
            .with_context(|| format!("no incident {incident}"))?;
        let Some(inv) = store.investigations(incident).await?.pop() else {
            return Ok(None);
        };
        let Outcome::Diagnosed { diagnosis, plan } = inv.outcome else {
            return Ok(None);
        };
        let alert = pagerless_agent::AlertContext::from_incident(&detail)
            .context("the incident has no alerts")?;
        // The plan's own check when it has one, else the alert's expression.
        let expr = plan.verify.clone().or(alert.symptom).unwrap_or_default();
        Ok(Some(Diagnosed {
            detail,
            diagnosis: *diagnosis,
            plan,
            verifier: PromVerifier {
                toolbox: toolbox.clone(),
                expr,
            },
        }))
    }
}

/// Carries out a write a human approved over the API or Slack: run as the
/// approver, then verified and settled like the agent's own, with a summary.
/// Writes with no incident are run and audited without verification.
pub async fn carry_out(
    store: Arc<dyn Store>,
    acting: &Acting,
    approval: i64,
    authorized: pagerless_guard::Authorized<pagerless_model::ActionRequest>,
) -> Result<String> {
    let kind = authorized.request().kind;
    if !acting.executors.can(kind) {
        anyhow::bail!(
            "no executor for `{kind}` is configured here, so approval {approval} did not run"
        );
    }
    let record = store
        .approval(approval)
        .await?
        .with_context(|| format!("no approval {approval}"))?;
    let diagnosed = match record.incident_id {
        Some(i) => Diagnosed::load(store.as_ref(), &acting.toolbox, i).await?,
        None => None,
    };
    let (Some(incident), Some(ctx)) = (record.incident_id, diagnosed) else {
        return run_approved(
            store.as_ref(),
            &acting.executors,
            authorized,
            record.incident_id,
        )
        .await;
    };
    let scope: pagerless_guard::Scope =
        serde_json::from_value(record.scope.clone()).unwrap_or_default();
    let report = pagerless_act::carry_out_approved(
        &acting.guard,
        &acting.executors,
        store.as_ref(),
        incident,
        authorized,
        &scope,
        &ctx.verifier,
        acting.window_secs,
        acting.interval_secs,
    )
    .await;
    let subject = ctx
        .detail
        .incident
        .service
        .clone()
        .unwrap_or_else(|| ctx.detail.incident.title.clone());
    let summary = pagerless_act::summarize(&subject, &ctx.diagnosis, &report);
    audit(
        store.as_ref(),
        &acting.guard,
        incident,
        "summary",
        serde_json::json!({ "text": summary }),
    )
    .await;
    Ok(serde_json::to_string(&report.response)?)
}

/// `pagerless act --incident ID [--dry-run] [--lab DIR]`.
pub async fn command(
    settings: &Settings,
    incident: IncidentId,
    dry_run: bool,
    lab: Option<&std::path::Path>,
) -> Result<ExitCode> {
    let store: Arc<SqliteStore> =
        Arc::new(SqliteStore::open_existing(&settings.store_path()).await?);
    let detail = store
        .incident(incident)
        .await?
        .with_context(|| format!("no incident {incident}"))?;
    let inv = store.investigations(incident).await?.pop().with_context(|| format!("incident {incident} has not been investigated yet: run `pagerless investigate --incident {incident}`"))?;
    let Outcome::Diagnosed { diagnosis, plan } = &inv.outcome else {
        println!("incident {incident} was escalated by its investigation; nothing to act on");
        return Ok(ExitCode::SUCCESS);
    };
    let guard = Arc::new(Guard::new(
        store.clone(),
        super::guard::policy(settings)?,
        Identity::agent(settings.config.guard.identity.clone()),
    ));
    let scope = scope_of(
        detail.incident.environment.as_str(),
        detail.incident.namespace.clone(),
        detail.incident.service.clone(),
        Some(diagnosis),
        None,
    );
    println!(
        "incident {incident}: {} ({})",
        diagnosis.root_cause, diagnosis.category
    );
    if dry_run {
        let now = chrono::Utc::now();
        let usage = guard.usage(now).await?;
        if plan.mitigations.is_empty() {
            println!("  no mitigation in the plan");
        }
        for m in &plan.mitigations {
            let verdict = pagerless_guard::evaluate(
                guard.policy(),
                m,
                &scope,
                &usage,
                guard.identity(),
                Some(incident.0),
                now,
            );
            let mode = guard
                .policy()
                .rules(&scope.environment)
                .map_or(pagerless_guard::Mode::Shadow, |r| r.mode);
            let word = match (&verdict, mode) {
                (pagerless_guard::Verdict::Deny { .. }, _) => "deny".to_owned(),
                (_, pagerless_guard::Mode::Shadow) => format!(
                    "shadow: {} is in shadow mode, so it would be recorded, not run",
                    scope.environment
                ),
                (pagerless_guard::Verdict::NeedsApproval { .. }, _)
                | (_, pagerless_guard::Mode::ApproveAll) => "needs approval".to_owned(),
                (pagerless_guard::Verdict::Allow { .. }, _) => "allow".to_owned(),
            };
            println!(
                "  {} {} {} → {word}; {}",
                m.kind,
                m.target,
                serde_json::to_string(&m.params)?,
                verdict.why()
            );
        }
        if let Some(f) = &plan.fix {
            println!("  fix: {} {} = {} (a pull request)", f.file, f.key, f.value);
        }
        println!("dry run: nothing was changed or recorded");
        return Ok(ExitCode::SUCCESS);
    }
    let tools = super::investigator::tools_config(settings, lab)?;
    let toolbox = tools.toolbox().await?;
    let executors = executors(&tools, &settings.config.act).await?;
    let acting = Acting {
        guard,
        executors,
        toolbox,
        window_secs: settings.config.act.verify_window_secs,
        interval_secs: settings.config.act.verify_interval_secs,
        gitops: super::gitops::gitops(settings, lab, store.clone(), None)?.map(Arc::new),
        notify: notifications(settings, None)?.map(Arc::new),
    };
    let report = respond_to(store.clone(), &acting, incident)
        .await?
        .context("nothing to act on")?;
    for s in &report.steps {
        println!(
            "  {} {}: {} — {}{}",
            s.request.kind,
            s.request.target,
            s.decision,
            s.why,
            s.executed
                .as_ref()
                .map(|e| format!("; {e}"))
                .unwrap_or_default()
        );
    }
    println!("{}", serde_json::to_string(&report.response)?);
    Ok(match report.response {
        Response::Escalated { .. } => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

/// Runs a write a human approved, audited like any other: `action_start`,
/// then `action_outcome`. Returns what it did.
pub async fn run_approved(
    store: &dyn Store,
    executors: &Executors,
    authorized: pagerless_guard::Authorized<pagerless_model::ActionRequest>,
    incident: Option<IncidentId>,
) -> Result<String> {
    let request = authorized.request().clone();
    let who = authorized.identity().name.clone();
    let audit = |kind: &str, body: serde_json::Value| pagerless_model::AuditInput {
        at: chrono::Utc::now(),
        identity: who.clone(),
        incident_id: incident,
        kind: kind.into(),
        body,
    };
    store
        .append_audit(audit(
            "action_start",
            serde_json::json!({ "request": request }),
        ))
        .await?;
    let result = executors.execute(authorized).await;
    let body = match &result {
        Ok(done) => {
            serde_json::json!({ "request": request, "outcome": "done", "summary": done.summary })
        }
        Err(e) => {
            serde_json::json!({ "request": request, "outcome": "failed", "error": e.to_string() })
        }
    };
    store.append_audit(audit("action_outcome", body)).await?;
    Ok(result?.summary)
}

/// Carries out writes humans approve over the API or Slack as they arrive,
/// each beside the others (a verification can take minutes).
pub async fn approvals_worker(
    store: Arc<dyn Store>,
    acting: Arc<Acting>,
    mut approved: tokio::sync::mpsc::Receiver<pagerless_server::ApprovedWrite>,
) {
    while let Some(w) = approved.recv().await {
        let (store, acting) = (store.clone(), acting.clone());
        tokio::spawn(async move {
            match carry_out(store, &acting, w.approval, w.authorized).await {
                Ok(done) => {
                    tracing::info!(approval = w.approval, %done, "approved write carried out")
                }
                Err(e) => {
                    tracing::error!(approval = w.approval, error = %e, "approved write not carried out")
                }
            }
        });
    }
}

/// The configured notice sinks, or `None` when there are none.
pub fn notifications(
    settings: &Settings,
    console: Option<String>,
) -> Result<Option<Notifications>> {
    if settings.config.notify.sinks.is_empty() {
        return Ok(None);
    }
    let dispatcher = pagerless_notify::Dispatcher::from_config(&settings.config.notify)
        .map_err(|e| anyhow::anyhow!("notify: {e}"))?;
    Ok(Some(Notifications {
        dispatcher,
        console: console.unwrap_or_else(|| format!("http://{}", settings.config.server.listen)),
    }))
}
