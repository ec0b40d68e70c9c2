//! The decision for one request: a pure function of the policy, the request,
//! the incident's scope and what has been done, so it can be tested with plain
//! values and explains itself in the audit log.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use pagerless_model::{ActionKind, ActionRequest, Target, TargetKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::{Mode, Policy, QuotaSubject};
use crate::{Identity, Risk, risk};

/// What an incident's writes may touch: its environment, namespace and
/// service, and the objects its investigation resolved from structured
/// observations (never from free text such as log lines or event messages).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Scope {
    /// The incident's environment.
    pub environment: String,
    /// Its namespace.
    pub namespace: Option<String>,
    /// Its service.
    pub service: Option<String>,
    /// Objects the investigation resolved (nodes hosting the service, the database it uses, ...).
    pub targets: BTreeSet<Target>,
    /// Pods per deployment, for blast-radius percentages.
    pub deployment_pods: BTreeMap<String, u32>,
}

/// A write already done (or in flight), as the ledger recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastAction {
    /// Its kind.
    pub kind: ActionKind,
    /// Its target.
    pub target: Target,
    /// The service it was for.
    pub service: Option<String>,
    /// Its environment.
    pub environment: String,
    /// Its incident.
    pub incident: Option<i64>,
    /// When.
    pub at: DateTime<Utc>,
    /// Replicas it added (scale).
    pub replicas_added: i64,
    /// CPU cores it added to limits (raise_limit).
    #[serde(default)]
    pub cpu_added: f64,
    /// Memory it added to limits, bytes (raise_limit).
    #[serde(default)]
    pub memory_added: f64,
}

/// What has been done, and the switches in force.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Writes of the last day (at least the longest quota window).
    pub recent: Vec<PastAction>,
    /// Nodes cordoned now.
    pub cordoned: BTreeSet<String>,
    /// The global kill switch.
    pub kill_switch: bool,
    /// Identities whose right to act is revoked.
    pub revoked: BTreeSet<String>,
}

/// The guard's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Go ahead.
    Allow {
        /// Why.
        why: String,
    },
    /// A human must approve first.
    NeedsApproval {
        /// Who may.
        approvers: Vec<String>,
        /// Why.
        why: String,
    },
    /// No.
    Deny {
        /// Why.
        why: String,
    },
}

impl Verdict {
    /// The reason.
    pub fn why(&self) -> &str {
        match self {
            Verdict::Allow { why } | Verdict::NeedsApproval { why, .. } | Verdict::Deny { why } => {
                why
            }
        }
    }
}

/// What a request adds: (replicas, CPU cores, memory bytes). `scale` adds
/// `replicas - from`; `raise_limit` adds `cpu - from_cpu` and `memory - from_memory`.
pub fn added(req: &ActionRequest) -> (i64, f64, f64) {
    let q = |k: &str, parse: fn(&str) -> Option<f64>| {
        req.params.get(k).and_then(Value::as_str).and_then(parse)
    };
    match req.kind {
        ActionKind::Scale => {
            let to = req
                .params
                .get("replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let from = req.params.get("from").and_then(Value::as_i64).unwrap_or(to);
            ((to - from).max(0), 0.0, 0.0)
        }
        ActionKind::RaiseLimit => {
            let cpu = match (q("cpu", cores), q("from_cpu", cores)) {
                (Some(to), Some(from)) => (to - from).max(0.0),
                (Some(to), None) => to,
                _ => 0.0,
            };
            let mem = match (q("memory", bytes), q("from_memory", bytes)) {
                (Some(to), Some(from)) => (to - from).max(0.0),
                (Some(to), None) => to,
                _ => 0.0,
            };
            (0, cpu, mem)
        }
        _ => (0, 0.0, 0.0),
    }
}

/// A CPU quantity (`500m`, `2`) in cores.
fn cores(q: &str) -> Option<f64> {
    match q.trim().strip_suffix('m') {
        Some(m) => m.parse::<f64>().ok().map(|m| m / 1000.0),
        None => q.trim().parse().ok(),
    }
}

/// A memory quantity (`512Mi`, `2Gi`, `1G`) in bytes.
fn bytes(q: &str) -> Option<f64> {
    let q = q.trim();
    for (suf, m) in [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ] {
        if let Some(n) = q.strip_suffix(suf) {
            return n.parse::<f64>().ok().map(|n| n * m);
        }
    }
    q.parse().ok()
}

fn deny(why: impl Into<String>) -> Verdict {
    Verdict::Deny { why: why.into() }
}

/// Decides one request. `incident` is the incident it is for (budgets per incident).
pub fn evaluate(
    policy: &Policy,
    req: &ActionRequest,
    scope: &Scope,
    usage: &Usage,
    identity: &Identity,
    incident: Option<i64>,
    now: DateTime<Utc>,
) -> Verdict {
    if usage.kill_switch {
        return deny("the kill switch is on: every write is refused");
    }
    if usage.revoked.contains(&identity.name) {
        return deny(format!("{} is revoked", identity.name));
    }
    let Some(rules) = policy.rules(&scope.environment) else {
        return deny(format!("no rules for environment `{}`", scope.environment));
    };
    if let Err(why) = in_scope(&req.target, req.kind, scope) {
        return deny(why);
    }
    if let Err(why) = check_params(policy, req) {
        return deny(why);
    }
    let kind = req.kind;
    let listed_auto = rules.automatic.contains(&kind);
    let listed_approval = rules.approval.contains(&kind);
    if !listed_auto && !listed_approval {
        return deny(format!("`{kind}` is not allowed in {}", scope.environment));
    }

    // Blast radius.
    match kind {
        ActionKind::RestartPod => {
            let deployment = scope.service.clone().unwrap_or_default();
            let since = now - chrono::Duration::seconds(policy.blast_radius.window_secs);
            let touched = usage
                .recent
                .iter()
                .filter(|a| {
                    a.kind == ActionKind::RestartPod
                        && a.at >= since
                        && a.service.as_deref() == Some(deployment.as_str())
                })
                .count() as u32;
            let pods = scope.deployment_pods.get(&deployment).copied().unwrap_or(1);
            let pct = (pods * policy.blast_radius.max_pods_percent).div_ceil(100);
            let cap = policy.blast_radius.max_pods.max(pct);
            if touched + 1 > cap {
                return deny(format!(
                    "blast radius: {touched} of {deployment}'s {pods} pods restarted in the last {} s; at most {cap} at once",
                    policy.blast_radius.window_secs
                ));
            }
        }
        ActionKind::Cordon
            if usage.cordoned.len() as u32 >= policy.blast_radius.max_cordoned_nodes
                && !usage.cordoned.contains(&req.target.name) =>
        {
            return deny(format!(
                "blast radius: {} node(s) already cordoned ({}); at most {} at once",
                usage.cordoned.len(),
                usage
                    .cordoned
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                policy.blast_radius.max_cordoned_nodes
            ));
        }
        _ => {}
    }

    // Budgets.
    let budget = &rules.budget;
    if kind == ActionKind::Scale {
        let to = req
            .params
            .get("replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let from = req.params.get("from").and_then(Value::as_i64).unwrap_or(to);
        let added = (to - from).max(0);
        if to > i64::from(budget.max_replicas) {
            return deny(format!(
                "budget: {to} replicas is over the cap of {}",
                budget.max_replicas
            ));
        }
        let day = now - chrono::Duration::days(1);
        let same_env = |a: &&PastAction| a.environment == scope.environment && a.at >= day;
        let today: i64 = usage
            .recent
            .iter()
            .filter(same_env)
            .map(|a| a.replicas_added)
            .sum();
        let this_incident: i64 = usage
            .recent
            .iter()
            .filter(same_env)
            .filter(|a| incident.is_some() && a.incident == incident)
            .map(|a| a.replicas_added)
            .sum();
        if this_incident + added > i64::from(budget.replicas_per_incident) {
            return deny(format!(
                "budget: this incident would add {} replicas; the cap is {}",
                this_incident + added,
                budget.replicas_per_incident
            ));
        }
        if today + added > i64::from(budget.replicas_per_day) {
            return deny(format!(
                "budget: today would add {} replicas in {}; the cap is {}",
                today + added,
                scope.environment,
                budget.replicas_per_day
            ));
        }
    }

    let day = now - chrono::Duration::days(1);
    let env_today = || {
        usage
            .recent
            .iter()
            .filter(|a| a.environment == scope.environment && a.at >= day)
    };
    if kind == ActionKind::RaiseLimit {
        let (_, cpu, mem) = added(req);
        let cpu_today: f64 = env_today().map(|a| a.cpu_added).sum();
        let mem_today: f64 = env_today().map(|a| a.memory_added).sum();
        if cpu_today + cpu > budget.cpu_cores_per_day {
            return deny(format!(
                "budget: today would add {:.2} CPU cores to limits in {}; the cap is {}",
                cpu_today + cpu,
                scope.environment,
                budget.cpu_cores_per_day
            ));
        }
        let gib = 1024f64.powi(3);
        if (mem_today + mem) / gib > budget.memory_gib_per_day {
            return deny(format!(
                "budget: today would add {:.1} GiB of memory to limits in {}; the cap is {} GiB",
                (mem_today + mem) / gib,
                scope.environment,
                budget.memory_gib_per_day
            ));
        }
    }
    // The cost rate of everything added today, at the policy's prices.
    let (r, c, m) = added(req);
    let gib = 1024f64.powi(3);
    let p = &policy.prices;
    let rate = |replicas: f64, cores: f64, bytes: f64| {
        replicas * p.replica_hour + cores * p.core_hour + bytes / gib * p.gib_hour
    };
    let today_rate: f64 = env_today()
        .map(|a| rate(a.replicas_added as f64, a.cpu_added, a.memory_added))
        .sum();
    let this_rate = rate(r as f64, c, m);
    if this_rate > 0.0 && today_rate + this_rate > budget.max_added_cost_per_hour {
        return deny(format!(
            "budget: today's additions would cost {:.2}/hour in {}; the cap is {:.2}/hour",
            today_rate + this_rate,
            scope.environment,
            budget.max_added_cost_per_hour
        ));
    }

    // Quotas: over one, a human decides.
    for q in policy.quotas.iter().filter(|q| q.kind == kind) {
        let since = now - chrono::Duration::seconds(q.window_secs);
        let subject = |a: &PastAction| match q.per {
            QuotaSubject::Service => {
                a.service.clone().unwrap_or_else(|| a.target.name.clone())
                    == scope
                        .service
                        .clone()
                        .unwrap_or_else(|| req.target.name.clone())
            }
            QuotaSubject::Target => a.target == req.target,
            QuotaSubject::Environment => a.environment == scope.environment,
        };
        let n = usage
            .recent
            .iter()
            .filter(|a| a.kind == kind && a.at >= since && subject(a))
            .count() as u32;
        if n >= q.max {
            return Verdict::NeedsApproval {
                approvers: rules.approvers.clone(),
                why: format!(
                    "quota: {n} `{kind}` per {} in the last {} already; number {} needs a human",
                    match q.per {
                        QuotaSubject::Service => "service",
                        QuotaSubject::Target => "target",
                        QuotaSubject::Environment => "environment",
                    },
                    human_secs(q.window_secs),
                    n + 1
                ),
            };
        }
    }

    match (rules.mode, listed_auto && risk(kind) != Risk::Critical) {
        (Mode::ApproveAll, _) => Verdict::NeedsApproval {
            approvers: rules.approvers.clone(),
            why: format!("{} approves every write", scope.environment),
        },
        (_, true) => Verdict::Allow {
            why: format!(
                "`{kind}` is automatic in {} and within quotas, budgets and blast radius",
                scope.environment
            ),
        },
        (_, false) => Verdict::NeedsApproval {
            approvers: rules.approvers.clone(),
            why: format!(
                "`{kind}` ({:?} risk) needs approval in {}",
                risk(kind),
                scope.environment
            )
            .to_lowercase(),
        },
    }
}

fn human_secs(s: i64) -> String {
    match s {
        3600 => "hour".into(),
        86_400 => "day".into(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} s"),
    }
}

/// The target must be the incident's own: its deployment or pods in its
/// namespace, or an object the investigation resolved.
fn in_scope(target: &Target, kind: ActionKind, scope: &Scope) -> Result<(), String> {
    let outside = |what: &str| {
        Err(format!(
            "{target} is outside the incident's scope ({what}; scope: namespace {}, service {}, resolved {})",
            scope.namespace.as_deref().unwrap_or("-"),
            scope.service.as_deref().unwrap_or("-"),
            if scope.targets.is_empty() {
                "nothing".into()
            } else {
                scope
                    .targets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))
    };
    if scope.targets.contains(target) {
        return Ok(());
    }
    match target.kind {
        TargetKind::Deployment | TargetKind::Pod => {
            if target.namespace.is_none() || target.namespace != scope.namespace {
                return outside("another namespace");
            }
            let Some(service) = &scope.service else {
                return outside("the incident names no service");
            };
            let ok = match target.kind {
                TargetKind::Deployment => &target.name == service,
                _ => target.name.starts_with(&format!("{service}-")),
            };
            if ok {
                Ok(())
            } else {
                outside("another service")
            }
        }
        TargetKind::Node | TargetKind::Database => outside("not resolved by the investigation"),
        TargetKind::External => Err(format!(
            "{target} is outside our control; nothing may be written to it ({kind})"
        )),
    }
}

/// Parameters are typed and bounded per kind; anything unexpected is refused,
/// so no free text can ride along into an executor.
fn check_params(policy: &Policy, req: &ActionRequest) -> Result<(), String> {
    let allowed: &[&str] = match req.kind {
        ActionKind::Scale => &["replicas", "from"],
        ActionKind::RestartPod
        | ActionKind::RolloutRestart
        | ActionKind::Rollback
        | ActionKind::Cordon
        | ActionKind::Uncordon => &[],
        ActionKind::RaiseLimit => &["container", "cpu", "memory", "from_cpu", "from_memory"],
        ActionKind::ClearCache => &["path"],
        ActionKind::TerminateIdleSessions => &["idle_secs", "role", "application"],
        ActionKind::RunCommand => &["name"],
        ActionKind::OpenPullRequest => &["file", "key", "value"],
        ActionKind::DeleteVolume | ActionKind::ChangeNetworkPolicy | ActionKind::ChangeRoutes => {
            &[]
        }
    };
    if let Some(k) = req.params.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "`{}` takes no argument `{k}` (takes: {})",
            req.kind,
            if allowed.is_empty() {
                "none".into()
            } else {
                allowed.join(", ")
            }
        ));
    }
    let int = |k: &str| {
        req.params
            .get(k)
            .map(|v| v.as_i64().ok_or(format!("`{k}` must be a whole number")))
    };
    match req.kind {
        ActionKind::Scale => match int("replicas") {
            Some(Ok(n)) if (1..=1000).contains(&n) => {}
            Some(Ok(n)) => {
                return Err(format!("scale to {n} replicas is out of range (1 to 1000)"));
            }
            Some(Err(e)) => return Err(e),
            None => return Err("scale needs `replicas`".into()),
        },
        ActionKind::TerminateIdleSessions => {
            if let Some(n) = int("idle_secs")
                && n? < 30
            {
                return Err("sessions idle for under 30 s are not ended".into());
            }
        }
        ActionKind::RunCommand => {
            let name = req
                .params
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let plain = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !plain {
                return Err(format!(
                    "run_command takes the `name` of a configured command (letters, digits, - and _), not `{name}`"
                ));
            }
        }
        ActionKind::ClearCache => {
            let path = req
                .params
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !policy.clear_cache_paths.iter().any(|p| p == path) {
                return Err(format!(
                    "clear_cache may only empty {}; not `{path}`",
                    policy.clear_cache_paths.join(", ")
                ));
            }
        }
        _ => {}
    }
    for (k, v) in &req.params {
        if let Value::String(s) = v
            && s.chars()
                .any(|c| matches!(c, ';' | '|' | '&' | '`' | '$' | '\n' | '<' | '>'))
        {
            return Err(format!("argument `{k}` holds shell metacharacters"));
        }
    }
    Ok(())
}
