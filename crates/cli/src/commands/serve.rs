//! `pagerless serve`: the long-running server.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use pagerless_server::{AppState, check_exposure};
use pagerless_store::{SqliteStore, Store};

use crate::cli::ServeArgs;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &ServeArgs) -> Result<ExitCode> {
    let server = &settings.config.server;
    let listen = args.listen.unwrap_or(server.listen);
    let token = settings.api_token();
    check_exposure(listen, token.is_some())?;

    let store_path = settings.store_path();
    let store = Arc::new(SqliteStore::open(&store_path).await?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;

    // Writes: executors where the configuration gives them (Kubernetes,
    // PostgreSQL, hosts). They carry out the agent's own mitigations when
    // `act.auto` is on, and writes humans approve over the API or Slack.
    let tools = super::investigator::tools_config(settings, args.lab.as_deref())?;
    let any_tool = super::investigator::any_tool(&tools);
    let toolbox = if any_tool {
        Some(tools.toolbox().await?)
    } else {
        None
    };
    let gitops = super::gitops::gitops(
        settings,
        args.lab.as_deref(),
        store.clone(),
        Some(format!("http://{local}")),
    )?
    .map(Arc::new);
    if let Some(g) = &gitops {
        println!(
            "  pull requests: {} forge, repository {}",
            g.forge.kind(),
            pagerless_act::gitops::workspace::redact_remote(&g.config.remote)
        );
    }
    let acting = if tools.kubernetes.is_some()
        || settings.config.act.postgres.is_some()
        || settings.config.act.host.is_some()
    {
        let guard = Arc::new(pagerless_guard::Guard::new(
            store.clone(),
            super::guard::policy(settings)?,
            pagerless_guard::Identity::agent(settings.config.guard.identity.clone()),
        ));
        let executors = super::act::executors(&tools, &settings.config.act).await?;
        // Writes a crash interrupted are checked and recorded, never redone.
        for r in
            pagerless_act::reconcile(store.as_ref(), &executors, &settings.config.guard.identity)
                .await?
        {
            println!(
                "  reconciled an interrupted {} {} (incident {}): found {}, not repeated",
                r.request.kind,
                r.request.target,
                r.incident.map_or("-".into(), |i| i.to_string()),
                r.observed
            );
        }
        Some(Arc::new(super::act::Acting {
            guard,
            executors,
            toolbox: match &toolbox {
                Some(t) => t.clone(),
                None => tools.toolbox().await?,
            },
            window_secs: settings.config.act.verify_window_secs,
            interval_secs: settings.config.act.verify_interval_secs,
            gitops: gitops.clone(),
            notify: super::act::notifications(settings, Some(format!("http://{local}")))?
                .map(Arc::new),
        }))
    } else {
        None
    };
    let policy_name = settings
        .config
        .guard
        .policy
        .as_ref()
        .map_or("built-in policy: shadow in prod".into(), |p| {
            p.display().to_string()
        });

    // Investigations of new incidents, when there is something to look at.
    let investigate = match (&toolbox, settings.config.investigation.auto) {
        (Some(toolbox), true) => {
            let books = super::investigator::playbooks(settings)?;
            let (tx, rx) = tokio::sync::mpsc::channel(1024);
            let store: Arc<dyn Store> = store.clone();
            let names: Vec<&str> = toolbox.tools().map(|t| t.name()).collect();
            println!(
                "  investigations: on ({} tools: {})",
                names.len(),
                names.join(", ")
            );
            for s in toolbox.skipped() {
                println!("    skipped {}: {}", s.system, s.reason);
            }
            let auto = acting.clone().filter(|_| settings.config.act.auto);
            if auto.is_some() {
                println!("  mitigations: on, through the guard ({policy_name})");
            }
            tokio::spawn(super::investigator::worker(
                store,
                toolbox.clone(),
                books,
                settings.config.investigation.budget(),
                rx,
                auto,
            ));
            Some(tx)
        }
        _ => {
            println!("  investigations: off (no `tools:` configured; see docs/config.md)");
            None
        }
    };
    if let Some(g) = &gitops {
        tokio::spawn(super::gitops::poller(
            store.clone(),
            g.clone(),
            acting.clone(),
        ));
    }
    let approved = acting.clone().map(|acting| {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(super::act::approvals_worker(store.clone(), acting, rx));
        tx
    });
    let guard = Arc::new(pagerless_guard::Guard::new(
        store.clone(),
        super::guard::policy(settings)?,
        pagerless_guard::Identity::agent(settings.config.guard.identity.clone()),
    ));
    let slack = std::env::var("PAGERLESS_SLACK_SIGNING_SECRET")
        .ok()
        .or_else(|| server.slack_signing_secret.clone())
        .filter(|s| !s.is_empty());
    println!(
        "  approvals: /api/v1/approvals{}; approved writes {}",
        if slack.is_some() {
            ", Slack buttons at /api/v1/slack/interactions"
        } else {
            ""
        },
        if approved.is_some() {
            "run here, as the approver"
        } else {
            "are recorded only (no executor configured)"
        }
    );
    let state = AppState {
        store: store.clone(),
        api_token: token.as_deref().map(Arc::from),
        labels: Arc::new(settings.config.intake.clone()),
        investigate,
        guard: Some(guard),
        slack_signing_secret: slack.as_deref().map(Arc::from),
        kpis: Some(Arc::new(super::report::kpi_settings(settings)?)),
        console: Some(pagerless_server::console::console(
            tools.prometheus.as_ref().map(|p| p.url.clone()),
        )),
        approved,
    };
    let app = pagerless_server::router(state, server.max_body_bytes);

    println!("pagerless listening on http://{local}");
    println!("  store:  {}", store.location());
    match &token {
        Some(_) => println!("  auth:   bearer token required on /api/v1"),
        None => println!("  auth:   no API token configured: listening on loopback only"),
    }
    println!("  Alertmanager webhook: http://{local}/api/v1/alerts/alertmanager");
    println!("  console: http://{local}/incidents");
    println!(
        "  KPIs for Prometheus: http://{local}/metrics (last 7d; ?since=24h for another window)"
    );
    println!("  try it:");
    let auth = if token.is_some() {
        " -H \"Authorization: Bearer $PAGERLESS_API_TOKEN\""
    } else {
        ""
    };
    println!(
        "    curl -sS{auth} -H 'Content-Type: application/json' http://{local}/api/v1/alerts/alertmanager \\\n      -d '{}'",
        example_payload()
    );
    println!("    curl -sS{auth} http://{local}/api/v1/incidents");
    tracing::info!(%local, store = %store.location(), "serving");

    pagerless_server::serve(listener, app, super::shutdown_signal()).await?;
    tracing::info!("shutting down: finishing queued writes");
    match Arc::try_unwrap(store) {
        Ok(store) => store.close().await,
        Err(_) => {
            tracing::warn!("store still shared at shutdown; queued writes finish as it drops")
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn example_payload() -> String {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"HighLatency\"}}","status":"firing","receiver":"pagerless","alerts":[{{"status":"firing","labels":{{"alertname":"HighLatency","service":"checkout","severity":"critical","env":"staging"}},"annotations":{{"summary":"p99 latency above 300ms"}},"startsAt":"{now}","fingerprint":"c0ffee0123456789"}}]}}"#
    )
}
