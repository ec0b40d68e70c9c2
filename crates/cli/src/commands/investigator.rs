//! Investigations outside the lab harness: the toolbox from the configuration
//! (or a served lab's endpoints), the playbooks, and the worker `serve` runs
//! for incidents as they open.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use pagerless_agent::{Budget, EmbeddedReasoner, SystemClock, investigate};
use pagerless_model::IncidentId;
use pagerless_store::Store;
use pagerless_tools::Toolbox;
use pagerless_tools::config::ToolsConfig;

use crate::settings::Settings;

/// The tools configuration: from a served lab's `endpoints.json` when `lab` is
/// given, else the `tools:` section.
pub fn tools_config(settings: &Settings, lab: Option<&Path>) -> Result<ToolsConfig> {
    let Some(dir) = lab else {
        return Ok(settings.config.tools.clone());
    };
    let ep = pagerless_lab::serve::read_endpoints(dir).with_context(|| {
        format!(
            "no lab at {}: expected {}/endpoints.json from `pagerless lab run`",
            dir.display(),
            dir.display()
        )
    })?;
    Ok(ToolsConfig {
        prometheus: Some(pagerless_tools::prometheus::PrometheusConfig::new(
            ep.prometheus,
        )),
        kubernetes: Some(pagerless_tools::kubernetes::KubernetesConfig {
            kubeconfig: Some(ep.kubeconfig.into()),
            ..Default::default()
        }),
        git: Some(pagerless_tools::git::GitConfig::new(ep.git)),
        shell: Some(pagerless_tools::shell::ShellConfig::new(
            pagerless_tools::shell::Transport::Lab { url: ep.shell },
        )),
        postgres: None,
        logs: None,
    })
}

/// Whether any system is configured.
pub fn any_tool(c: &ToolsConfig) -> bool {
    c.prometheus.is_some()
        || c.kubernetes.is_some()
        || c.git.is_some()
        || c.shell.is_some()
        || c.postgres.is_some()
        || c.logs.is_some()
}

/// The playbooks: built-in plus the configured directory.
pub fn playbooks(settings: &Settings) -> Result<Vec<pagerless_agent::playbook::Playbook>> {
    Ok(pagerless_agent::playbook::load(
        settings.config.investigation.playbooks_dir.as_deref(),
    )?)
}

/// Investigates incidents as their ids arrive, one at a time, storing each trace.
pub async fn worker(
    store: Arc<dyn Store>,
    toolbox: Toolbox,
    books: Vec<pagerless_agent::playbook::Playbook>,
    budget: Budget,
    mut ids: tokio::sync::mpsc::Receiver<IncidentId>,
    acting: Option<Arc<super::act::Acting>>,
) {
    while let Some(id) = ids.recv().await {
        let detail = match store.incident(id).await {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(incident = %id, error = %e, "cannot read the incident to investigate");
                continue;
            }
        };
        let Some(alert) = pagerless_agent::AlertContext::from_incident(&detail) else {
            continue;
        };
        let mut reasoner = EmbeddedReasoner::new(books.clone());
        let inv = investigate(
            &mut reasoner,
            &toolbox,
            &alert,
            &budget,
            &SystemClock,
            &mut (),
        )
        .await;
        let summary = match &inv.outcome {
            pagerless_model::Outcome::Diagnosed { diagnosis, .. } => {
                format!("{}: {}", diagnosis.category, diagnosis.root_cause)
            }
            pagerless_model::Outcome::Escalated { reason, .. } => format!("escalated: {reason}"),
        };
        tracing::info!(incident = %id, steps = inv.steps.len(), ms = inv.duration_ms, %summary, "investigated");
        if let Err(e) = store.save_investigation(&inv).await {
            tracing::error!(incident = %id, error = %e, "cannot store the investigation");
            continue;
        }
        if let Some(acting) = &acting {
            // Verification can take minutes: it runs beside the next
            // investigations, not in front of them.
            let (store, acting) = (store.clone(), acting.clone());
            tokio::spawn(async move {
                match super::act::respond_to(store, &acting, id).await {
                    Ok(Some(report)) => {
                        tracing::info!(incident = %id, response = %serde_json::to_string(&report.response).unwrap_or_default(), "responded")
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(incident = %id, error = %e, "cannot respond"),
                }
            });
        }
    }
}

/// `pagerless investigate --incident ID | --alert FILE.json`.
pub async fn command(
    settings: &Settings,
    args: &crate::cli::InvestigateArgs,
) -> Result<std::process::ExitCode> {
    let tools = tools_config(settings, args.lab.as_deref())?;
    if !any_tool(&tools) {
        anyhow::bail!(
            "nothing to investigate with: configure `tools:` in pagerless.yaml (docs/config.md), or pass --lab DIR for a served lab"
        );
    }
    let (alert, store) = match (&args.incident, &args.alert) {
        (Some(id), _) => {
            let store = pagerless_store::SqliteStore::open(&settings.store_path()).await?;
            let detail = store
                .incident(*id)
                .await?
                .with_context(|| format!("no incident {id}"))?;
            let alert = pagerless_agent::AlertContext::from_incident(&detail)
                .with_context(|| format!("incident {id} has no alerts"))?;
            (alert, Some(store))
        }
        (None, Some(file)) => {
            let body =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let batch = pagerless_server::intake::alertmanager::parse(
                &body,
                &settings.config.intake,
                chrono::Utc::now(),
            )
            .with_context(|| {
                format!("{} is not an Alertmanager webhook payload", file.display())
            })?;
            let first = batch
                .alerts
                .iter()
                .find(|a| a.status == pagerless_model::AlertStatus::Firing)
                .or(batch.alerts.first());
            let alert = first
                .map(|a| pagerless_agent::AlertContext::from_incoming(a, None))
                .context("the payload holds no alert")?;
            (alert, None)
        }
        (None, None) => anyhow::bail!("pass --incident ID or --alert FILE.json"),
    };
    let toolbox = tools.toolbox().await?;
    for s in toolbox.skipped() {
        eprintln!("skipped {}: {}", s.system, s.reason);
    }
    let mut reasoner = EmbeddedReasoner::new(playbooks(settings)?);
    let budget = settings.config.investigation.budget();
    let inv = if args.json {
        investigate(
            &mut reasoner,
            &toolbox,
            &alert,
            &budget,
            &SystemClock,
            &mut (),
        )
        .await
    } else {
        println!(
            "Investigating {} ({})",
            alert.alertname,
            alert
                .service
                .clone()
                .unwrap_or_else(|| "no service label".into())
        );
        let mut p = super::trace::Printer { evidence: true };
        investigate(
            &mut reasoner,
            &toolbox,
            &alert,
            &budget,
            &SystemClock,
            &mut p,
        )
        .await
    };
    if let Some(store) = &store {
        store.save_investigation(&inv).await?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&inv)?);
    } else {
        print!("{}", super::trace::outcome(&inv));
    }
    Ok(std::process::ExitCode::SUCCESS)
}
