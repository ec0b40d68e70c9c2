//! `pagerless approvals|approve|deny|audit|guard`: people's side of the guard.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use comfy_table::{Table, presets::NOTHING};
use pagerless_guard::{Decision, Guard, Identity, Policy};
use pagerless_model::ApprovalStatus;
use pagerless_store::{SqliteStore, Store};

use crate::cli::{AuditCommand, GuardCommand};
use crate::settings::Settings;

/// The configured policy.
pub fn policy(settings: &Settings) -> Result<Policy> {
    match &settings.config.guard.policy {
        Some(p) => Ok(Policy::load(p)?),
        None => Ok(Policy::default_policy()),
    }
}

async fn open(settings: &Settings) -> Result<(Arc<SqliteStore>, Guard)> {
    let store = Arc::new(SqliteStore::open(&settings.store_path()).await?);
    let guard = Guard::new(
        store.clone(),
        policy(settings)?,
        Identity::agent(settings.config.guard.identity.clone()),
    );
    Ok((store, guard))
}

pub fn human(name: &Option<String>) -> Result<Identity> {
    let n = name
        .clone()
        .or_else(|| std::env::var("PAGERLESS_USER").ok())
        .or_else(|| std::env::var("USER").ok())
        .filter(|n| !n.trim().is_empty())
        .context("who are you? pass --as NAME (or set PAGERLESS_USER)")?;
    Ok(Identity::human(n))
}

pub async fn approvals(settings: &Settings, all: bool, json: bool) -> Result<ExitCode> {
    let (store, guard) = open(settings).await?;
    guard.expire(chrono::Utc::now()).await?;
    let list = store
        .approvals(if all {
            None
        } else {
            Some(ApprovalStatus::Pending)
        })
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("no {}approvals", if all { "" } else { "pending " });
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new();
    t.load_style(NOTHING).set_header([
        "ID", "STATUS", "INCIDENT", "ACTION", "TARGET", "WHY", "DEADLINE",
    ]);
    for a in &list {
        t.add_row([
            a.id.to_string(),
            a.status.as_str().to_owned(),
            a.incident_id
                .map(|i| i.to_string())
                .unwrap_or_else(|| "-".into()),
            format!(
                "{}{}",
                a.request.kind,
                if a.request.params.is_empty() {
                    String::new()
                } else {
                    format!(
                        " {}",
                        serde_json::to_string(&a.request.params).unwrap_or_default()
                    )
                }
            ),
            a.request.target.to_string(),
            a.why.clone(),
            a.deadline.format("%H:%M:%S UTC").to_string(),
        ]);
    }
    println!("{}", t.trim_fmt());
    Ok(ExitCode::SUCCESS)
}

pub async fn approve(settings: &Settings, id: i64, approver: &Option<String>) -> Result<ExitCode> {
    let (store, guard) = open(settings).await?;
    let who = human(approver)?;
    let incident = store.approval(id).await?.and_then(|a| a.incident_id);
    // Built before deciding, so that a configuration error is reported
    // before the approval is spent.
    let tools = super::investigator::tools_config(settings, None)?;
    let executors = super::act::executors(&tools, &settings.config.act).await?;
    match guard.approve(id, &who, chrono::Utc::now()).await? {
        Decision::Allowed(a) => {
            let (kind, target) = (a.request().kind, a.request().target.to_string());
            println!(
                "approval {id}: approved by {}; {kind} {target} is authorized as {}",
                who.name,
                a.identity().name
            );
            if !executors.can(kind) {
                println!(
                    "  no executor for `{kind}` is configured here, so nothing ran (see docs/mitigation.md)"
                );
                return Ok(ExitCode::SUCCESS);
            }
            let done = super::act::run_approved(store.as_ref(), &executors, a, incident).await?;
            println!("  done: {done}");
            Ok(ExitCode::SUCCESS)
        }
        Decision::Shadow { would } => {
            println!(
                "approval {id}: approved, but the environment is in shadow mode: nothing runs ({})",
                would.why()
            );
            Ok(ExitCode::SUCCESS)
        }
        Decision::Denied { why } => {
            bail!("approval {id}: approved, but the guard still refuses: {why}")
        }
        Decision::NeedsApproval { .. } => bail!("approval {id}: still needs approval"),
    }
}

pub async fn deny(
    settings: &Settings,
    id: i64,
    why: &str,
    approver: &Option<String>,
) -> Result<ExitCode> {
    let (_store, guard) = open(settings).await?;
    let who = human(approver)?;
    guard.deny(id, &who, why, chrono::Utc::now()).await?;
    println!("approval {id}: denied by {}", who.name);
    Ok(ExitCode::SUCCESS)
}

pub async fn audit(settings: &Settings, command: &AuditCommand) -> Result<ExitCode> {
    let store = SqliteStore::open_existing(&settings.store_path()).await?;
    match command {
        AuditCommand::Verify => {
            let v = store.verify_audit().await?;
            match v.broken {
                None => {
                    println!("audit log intact: {} entries, chain verified", v.entries);
                    Ok(ExitCode::SUCCESS)
                }
                Some((seq, why)) => {
                    eprintln!(
                        "audit log BROKEN at entry {seq}: {why} ({} entries read)",
                        v.entries
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::Show { incident, json } => {
            let entries = store.audit(*incident).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(ExitCode::SUCCESS);
            }
            for e in &entries {
                let what = match (
                    e.body.get("decision").and_then(|d| d.as_str()),
                    e.body.get("why").and_then(|w| w.as_str()),
                ) {
                    (Some(d), Some(w)) => format!("{d}: {w}"),
                    _ => e.body.to_string(),
                };
                let req = e
                    .body
                    .get("request")
                    .map(|r| {
                        format!(
                            "{} {} ",
                            r["kind"].as_str().unwrap_or_default(),
                            r["target"]["name"].as_str().unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                println!(
                    "{:>5}  {}  {:<22} {:<14} {}{}{}",
                    e.seq,
                    e.at.format("%Y-%m-%d %H:%M:%S"),
                    e.identity,
                    e.kind,
                    e.incident_id
                        .map(|i| format!("incident {i}: "))
                        .unwrap_or_default(),
                    req,
                    what
                );
            }
            if entries.is_empty() {
                println!("no audit entries");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn guard(settings: &Settings, command: &GuardCommand) -> Result<ExitCode> {
    let now = chrono::Utc::now();
    match command {
        GuardCommand::Check { policy } => {
            let p = Policy::load(policy)?;
            println!(
                "{}: ok ({} environments, {} quotas)",
                policy.display(),
                p.environments.len(),
                p.quotas.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        GuardCommand::KillSwitch { state } => {
            let (_s, g) = open(settings).await?;
            let who = human(&None).unwrap_or_else(|_| Identity::human("cli"));
            g.set_kill_switch(state == "on", &who.name, now).await?;
            println!(
                "kill switch {state}: {}",
                if state == "on" {
                    "every write is refused"
                } else {
                    "writes follow the policy again"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        GuardCommand::Revoke { identity, restore } => {
            let (_s, g) = open(settings).await?;
            let who = human(&None).unwrap_or_else(|_| Identity::human("cli"));
            g.set_revoked(identity, !restore, &who.name, now).await?;
            println!(
                "{identity}: {}",
                if *restore {
                    "restored"
                } else {
                    "revoked; its writes are refused"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        GuardCommand::Status => {
            let (_s, g) = open(settings).await?;
            let usage = g.usage(now).await?;
            println!("identity      {}", g.identity().name);
            println!(
                "kill switch   {}",
                if usage.kill_switch { "ON" } else { "off" }
            );
            println!(
                "revoked       {}",
                if usage.revoked.is_empty() {
                    "none".into()
                } else {
                    usage.revoked.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            );
            for (env, rules) in &g.policy().environments {
                println!("{env:<13} {:?}", rules.mode);
            }
            println!("writes in the last day: {}", usage.recent.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}
