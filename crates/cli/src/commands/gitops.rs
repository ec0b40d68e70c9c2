//! The permanent fix from the command line and the server: the gitops
//! configuration resolved (or the lab's repository with `--lab`), the forge
//! it names, proposing a diagnosis's fix after the response, `serve`'s poller
//! that records each pull request's fate and reconciles the mitigation, and
//! `pagerless pr list|show|approve|merge|close`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use pagerless_act::gitops::forge::{Forge, GitHub, GitLab, Gitea};
use pagerless_act::gitops::workspace::{Author, GitAuth, Workspace};
use pagerless_act::gitops::{
    GitopsConfig, LocalForge, Proposal, ProposalContext, ReviewerRule, check_fate,
    reconcile_merged, request_for,
};
use pagerless_guard::{Decision, scope_of};
use pagerless_model::{Diagnosis, Fix, PullRequest};
use pagerless_store::{SqliteStore, Store};

use crate::config::ForgeKind;
use crate::settings::Settings;

/// Where fixes go: the repository and the forge.
pub struct Gitops {
    /// The repository and how to change it.
    pub config: GitopsConfig,
    /// The forge.
    pub forge: Arc<dyn Forge>,
    /// The local forge, when that is the forge (it merges here).
    pub local: Option<Arc<LocalForge>>,
    /// How often to look at open pull requests.
    pub poll: Duration,
    /// The web console's base URL, for links.
    pub console: String,
}

/// The gitops configuration, or `None` when no repository is configured.
pub fn gitops(
    settings: &Settings,
    lab: Option<&Path>,
    store: Arc<dyn Store>,
    console: Option<String>,
) -> Result<Option<Gitops>> {
    let g = &settings.config.gitops;
    let remote = match (lab, &g.remote) {
        (Some(dir), None) => Some(
            pagerless_lab::serve::read_endpoints(dir)
                .with_context(|| {
                    format!("no lab at {}: expected its endpoints.json", dir.display())
                })?
                .git,
        ),
        (_, Some(r)) => Some(r.clone()),
        (None, None) => None,
    };
    let Some(remote) = remote else {
        return Ok(None);
    };
    let token = match &g.token_env {
        Some(var) => Some(
            std::env::var(var).with_context(|| format!("gitops.token_env: `{var}` is not set"))?,
        ),
        None => None,
    };
    let config = GitopsConfig {
        remote,
        base: g.base.clone(),
        cache_dir: g
            .cache_dir
            .clone()
            .unwrap_or_else(|| settings.data_dir.join("gitops")),
        author: Author {
            name: g.author_name.clone(),
            email: g.author_email.clone(),
        },
        auth: GitAuth {
            token,
            ssh_key: g.ssh_key.clone(),
        },
        validate: g.validate.clone(),
        validate_timeout: Duration::from_secs(g.validate_timeout_secs.max(1)),
        git_timeout: Duration::from_secs(120),
        reviewers: g
            .reviewers
            .iter()
            .map(|r| ReviewerRule {
                path: r.path.clone(),
                reviewers: r.reviewers.clone(),
            })
            .collect(),
        labels: g.labels.clone(),
    };
    let f = &g.forge;
    let api_token = || -> Result<String> {
        let var = f
            .token_env
            .as_deref()
            .context("gitops.forge.token_env: the forge needs an API token")?;
        std::env::var(var).with_context(|| format!("gitops.forge.token_env: `{var}` is not set"))
    };
    let repo = || {
        f.repo
            .clone()
            .context("gitops.forge.repo: name the repository on the forge (owner/name)")
    };
    let api = |default: Option<&str>| {
        f.api_url
            .clone()
            .or(default.map(str::to_owned))
            .context("gitops.forge.api_url: the forge's API URL is needed")
    };
    let mut local = None;
    let console = f
        .url_base
        .clone()
        .or(console)
        .unwrap_or_else(|| format!("http://{}", settings.config.server.listen));
    let forge: Arc<dyn Forge> = match f.kind {
        ForgeKind::Local => {
            let l = Arc::new(LocalForge::new(store, &console));
            local = Some(l.clone());
            l
        }
        ForgeKind::Github => Arc::new(
            GitHub::new(
                &api(Some("https://api.github.com"))?,
                &repo()?,
                api_token()?,
            )
            .map_err(|e| anyhow::anyhow!("gitops.forge: {e}"))?,
        ),
        ForgeKind::Gitlab => Arc::new(
            GitLab::new(&api(None)?, &repo()?, api_token()?)
                .map_err(|e| anyhow::anyhow!("gitops.forge: {e}"))?,
        ),
        ForgeKind::Gitea => Arc::new(
            Gitea::new(&api(None)?, &repo()?, api_token()?)
                .map_err(|e| anyhow::anyhow!("gitops.forge: {e}"))?,
        ),
    };
    Ok(Some(Gitops {
        config,
        forge,
        local,
        poll: Duration::from_secs(g.poll_secs.max(1)),
        console,
    }))
}

/// What the proposal is made from.
pub struct FixContext<'a> {
    /// The incident.
    pub incident: &'a pagerless_model::IncidentDetail,
    /// The diagnosis.
    pub diagnosis: &'a Diagnosis,
    /// The fix.
    pub fix: &'a Fix,
    /// The investigation.
    pub investigation: Option<&'a pagerless_model::Investigation>,
    /// The summary so far.
    pub summary: &'a str,
    /// The response to the incident, when there was one.
    pub report: Option<&'a pagerless_act::MitigationReport>,
}

/// What became of a fix.
pub enum FixOutcome {
    /// The pull request, opened or updated.
    Proposed(Box<PullRequest>),
    /// Not now: shadow mode, or waiting for an approval.
    Held(String),
    /// It could not be proposed (the edit, validation, git or the forge failed,
    /// or the guard refused): a human must take it from here.
    Failed(String),
}

/// Puts the fix to the guard and, allowed, opens (or updates) its pull
/// request. Every outcome is audited; none stops the response.
pub async fn propose_fix(
    store: &dyn Store,
    guard: &pagerless_guard::Guard,
    gitops: &Gitops,
    ctx: FixContext<'_>,
) -> FixOutcome {
    match try_propose(store, guard, gitops, ctx).await {
        Ok(pr) => FixOutcome::Proposed(Box::new(pr)),
        Err((true, why)) => FixOutcome::Held(why),
        Err((false, why)) => FixOutcome::Failed(why),
    }
}

async fn try_propose(
    store: &dyn Store,
    guard: &pagerless_guard::Guard,
    gitops: &Gitops,
    ctx: FixContext<'_>,
) -> Result<PullRequest, (bool, String)> {
    let i = &ctx.incident.incident;
    let target = ctx
        .diagnosis
        .target
        .clone()
        .unwrap_or(pagerless_model::Target {
            kind: pagerless_model::TargetKind::Deployment,
            namespace: i.namespace.clone(),
            name: i.service.clone().unwrap_or_default(),
        });
    let scope = scope_of(
        i.environment.as_str(),
        i.namespace.clone(),
        i.service.clone(),
        Some(ctx.diagnosis),
        None,
    );
    let request = request_for(ctx.fix, target);
    let decision = guard
        .authorize(request, &scope, Some(i.id), chrono::Utc::now())
        .await
        .map_err(|e| (false, e.to_string()))?;
    let authorized = match decision {
        Decision::Allowed(a) => a,
        Decision::Shadow { would } => {
            return Err((
                true,
                format!("would open a pull request (shadow mode): {}", would.why()),
            ));
        }
        Decision::NeedsApproval { why, .. } => {
            return Err((true, format!("the pull request waits for approval: {why}")));
        }
        Decision::Denied { why } => {
            return Err((false, format!("the guard refused the pull request: {why}")));
        }
    };
    let (mitigations, revert_on_merge) = match ctx.report {
        Some(r) => (
            r.steps.iter().filter_map(|s| s.executed.clone()).collect(),
            r.steps.iter().filter_map(|s| s.undo.clone()).collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let link = Some(format!("{}/incidents/{}", gitops.console, i.id));
    let proposal = pagerless_act::gitops::propose(
        &gitops.config,
        gitops.forge.as_ref(),
        store,
        authorized,
        ctx.fix,
        ProposalContext {
            incident: i.id,
            incident_link: link,
            summary: ctx.summary,
            diagnosis: ctx.diagnosis,
            investigation: ctx.investigation,
            mitigations,
            revert_on_merge,
        },
    )
    .await
    .map_err(|e| (false, e.to_string()))?;
    Ok(match proposal {
        Proposal::Opened(pr) | Proposal::Updated(pr) => pr,
    })
}

/// `serve`'s poller: records the fate of open pull requests and, once one is
/// merged, reconciles the temporary mitigation.
pub async fn poller(
    store: Arc<dyn Store>,
    gitops: Arc<Gitops>,
    acting: Option<Arc<super::act::Acting>>,
) {
    // Reconciling waits for the fix to be live (minutes); it runs beside the
    // polling, once per pull request.
    let busy: Arc<std::sync::Mutex<std::collections::HashSet<i64>>> = Arc::default();
    loop {
        match poll_once(store.as_ref(), &gitops).await {
            Ok(merged) => {
                for pr in merged {
                    let Some(acting) = acting.clone() else {
                        break;
                    };
                    let fresh = busy.lock().map(|mut b| b.insert(pr.id)).unwrap_or(false);
                    if !fresh {
                        continue;
                    }
                    let (store, busy) = (store.clone(), busy.clone());
                    tokio::spawn(async move {
                        let id = pr.id;
                        if let Err(e) = reconcile(store.as_ref(), &acting, pr).await {
                            tracing::warn!(pull_request = id, error = %e, "cannot reconcile the mitigation");
                        }
                        if let Ok(mut b) = busy.lock() {
                            b.remove(&id);
                        }
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot poll pull requests"),
        }
        tokio::time::sleep(gitops.poll).await;
    }
}

/// Records the fate of open pull requests; returns the merged ones whose
/// mitigation is not reconciled yet.
async fn poll_once(store: &dyn Store, gitops: &Gitops) -> Result<Vec<PullRequest>> {
    let mut merged = Vec::new();
    for pr in store.pull_requests().await? {
        let pr = if pr.fate.is_final() {
            pr
        } else {
            match check_fate(&gitops.config, gitops.forge.as_ref(), store, pr).await {
                Ok(pr) => {
                    if pr.fate.is_final() {
                        tracing::info!(pull_request = pr.id, fate = %pr.fate, "pull request decided");
                    }
                    pr
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a pull request's state");
                    continue;
                }
            }
        };
        if pr.reconciled.is_none() && pr.fate.is_final() && pr.fate != pagerless_model::Fate::Closed
        {
            merged.push(pr);
        }
    }
    Ok(merged)
}

/// Reverts the temporary mitigation of a merged fix, once the symptom is clear.
async fn reconcile(
    store: &dyn Store,
    acting: &super::act::Acting,
    pr: PullRequest,
) -> Result<PullRequest> {
    let Some(incident) = pr.incidents.first().copied() else {
        return Ok(pr);
    };
    // Pull requests come from diagnoses; the same check verifies recovery.
    let Some(ctx) = super::act::Diagnosed::load(store, &acting.toolbox, incident).await? else {
        return Ok(pr);
    };
    let (detail, verifier) = (ctx.detail, ctx.verifier);
    let i = &detail.incident;
    let scope = scope_of(
        i.environment.as_str(),
        i.namespace.clone(),
        i.service.clone(),
        None,
        None,
    );
    let pr = reconcile_merged(
        &acting.guard,
        &acting.executors,
        store,
        pr,
        &scope,
        &verifier,
        acting.window_secs,
        acting.interval_secs,
    )
    .await?;
    tracing::info!(
        pull_request = pr.id,
        reconciled = pr.reconciled.as_deref().unwrap_or(""),
        "mitigation reconciled after the merge"
    );
    Ok(pr)
}

/// `pagerless pr list [--json]`.
pub async fn list(settings: &Settings, json: bool) -> Result<ExitCode> {
    let store = SqliteStore::open_existing(&settings.store_path()).await?;
    let prs = store.pull_requests().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&prs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if prs.is_empty() {
        println!("no pull requests");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING).set_header([
        "ID",
        "FORGE",
        "NUMBER",
        "FATE",
        "INCIDENTS",
        "TITLE",
    ]);
    for pr in &prs {
        let incidents: Vec<String> = pr.incidents.iter().map(|i| i.to_string()).collect();
        table.add_row([
            pr.id.to_string(),
            pr.forge.clone(),
            format!("#{}", pr.number),
            pr.fate.to_string(),
            incidents.join(","),
            pr.title.clone(),
        ]);
    }
    println!("{}", table.trim_fmt());
    Ok(ExitCode::SUCCESS)
}

/// `pagerless pr show ID [--json]`.
pub async fn show(settings: &Settings, id: i64, json: bool) -> Result<ExitCode> {
    let store = SqliteStore::open_existing(&settings.store_path()).await?;
    let pr = store
        .pull_request(id)
        .await?
        .with_context(|| format!("no pull request {id}: `pagerless pr list` shows the ids"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&pr)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "pull request {} — {} #{} ({})",
        pr.id, pr.forge, pr.number, pr.url
    );
    println!("  {}", pr.title);
    println!("  fate:      {}", pr.fate);
    println!("  branch:    {} → {} ({})", pr.branch, pr.base, pr.repo);
    if let Some(c) = &pr.merge_commit {
        println!("  merged as: {c}");
    }
    if let Some(r) = &pr.reconciled {
        println!("  after the merge: {r}");
    }
    println!("\n{}\n", pr.diff.trim_end());
    println!("{}", pr.body);
    Ok(ExitCode::SUCCESS)
}

/// `pagerless pr approve|merge ID [--as NAME]`: on the local forge, merges
/// with a real `git merge` and records the fate.
pub async fn merge(
    settings: &Settings,
    id: i64,
    approver: &str,
    lab: Option<&Path>,
) -> Result<ExitCode> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_existing(&settings.store_path()).await?);
    let pr = store
        .pull_request(id)
        .await?
        .with_context(|| format!("no pull request {id}: `pagerless pr list` shows the ids"))?;
    let Some(g) = gitops(settings, lab, store.clone(), None)? else {
        bail!("no IaC repository is configured (gitops.remote, or --lab DIR)");
    };
    let Some(local) = &g.local else {
        bail!(
            "pull request {id} is on {}: approve and merge it there ({}); pagerless records its fate",
            pr.forge,
            pr.url
        );
    };
    if pr.fate.is_final() {
        bail!("pull request {id} is already {}", pr.fate);
    }
    let ws = Workspace::prepare(
        &g.config.cache_dir,
        &g.config.remote,
        g.config.auth.clone(),
        g.config.git_timeout,
    )
    .await?;
    let commit = local
        .merge(pr.number, &ws, approver, &g.config.author)
        .await?;
    store
        .append_audit(pagerless_model::AuditInput {
            at: chrono::Utc::now(),
            identity: approver.to_owned(),
            incident_id: pr.incidents.first().copied(),
            kind: "pull_request".into(),
            body: serde_json::json!({ "pull_request": pr.id, "number": pr.number, "event": "merged", "merge_commit": commit }),
        })
        .await?;
    let pr = check_fate(&g.config, g.forge.as_ref(), store.as_ref(), pr).await?;
    println!(
        "pull request {id}: merged by {approver} as {} into {}; fate: {}",
        &commit[..commit.len().min(12)],
        pr.base,
        pr.fate
    );
    if !pr.revert_on_merge.is_empty() {
        println!("  `pagerless serve` reverts the temporary mitigation once the fix is live");
    }
    Ok(ExitCode::SUCCESS)
}

/// `pagerless pr close ID --why TEXT`: closes a local pull request unmerged.
pub async fn close(settings: &Settings, id: i64, by: &str, why: &str) -> Result<ExitCode> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_existing(&settings.store_path()).await?);
    let mut pr = store
        .pull_request(id)
        .await?
        .with_context(|| format!("no pull request {id}: `pagerless pr list` shows the ids"))?;
    if pr.forge != "local" {
        bail!(
            "pull request {id} is on {}: close it there ({})",
            pr.forge,
            pr.url
        );
    }
    if pr.fate.is_final() {
        bail!("pull request {id} is already {}", pr.fate);
    }
    LocalForge::new(store.clone(), "")
        .close(pr.number, by, why)
        .await?;
    pr.fate = pagerless_model::Fate::Closed;
    pr.decided_at = Some(chrono::Utc::now());
    pr.updated_at = chrono::Utc::now();
    store.save_pull_request(pr.clone()).await?;
    store
        .append_audit(pagerless_model::AuditInput {
            at: chrono::Utc::now(),
            identity: by.to_owned(),
            incident_id: pr.incidents.first().copied(),
            kind: "pull_request".into(),
            body: serde_json::json!({ "pull_request": pr.id, "number": pr.number, "event": "fate", "fate": "closed", "why": why }),
        })
        .await?;
    println!("pull request {id}: closed by {by}; fate: closed");
    Ok(ExitCode::SUCCESS)
}
