//! From a diagnosis's fix to a pull request: prepare the working copy, branch,
//! edit the one key, validate, commit as the agent, push, open the pull
//! request with a body a reviewer can approve from, and record it. A second
//! incident with the same root cause updates the open pull request instead of
//! opening another.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use pagerless_guard::Authorized;
use pagerless_model::{
    ActionKind, ActionRequest, AuditInput, Diagnosis, Fate, Fix, IncidentId, Investigation,
    PullRequest, ValidationRun,
};
use pagerless_store::{Store, StoreError};
use serde_json::json;

use super::body::{BodyInput, render_body};
use super::edit::{self, EditError};
use super::forge::{Forge, ForgeError, NewPullRequest};
use super::validate;
use super::workspace::{Author, GitAuth, GitError, Workspace, redact_remote};

/// Reviewers for files under a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewerRule {
    /// A path prefix (`charts/order-service/`), or `*` for every file.
    pub path: String,
    /// Forge user names.
    pub reviewers: Vec<String>,
}

/// Where the IaC repository is and how changes to it are made.
#[derive(Debug, Clone)]
pub struct GitopsConfig {
    /// The remote: a path, `file://`, `git://`, ssh or https URL.
    pub remote: String,
    /// The branch fixes merge into.
    pub base: String,
    /// Where working copies are kept between fixes.
    pub cache_dir: PathBuf,
    /// Who commits.
    pub author: Author,
    /// Credentials for the remote.
    pub auth: GitAuth,
    /// The validation commands, run in the working copy in order.
    pub validate: Vec<String>,
    /// Each validation command's time limit.
    pub validate_timeout: Duration,
    /// Each git command's time limit.
    pub git_timeout: Duration,
    /// Reviewers by path; the repository's CODEOWNERS adds to them.
    pub reviewers: Vec<ReviewerRule>,
    /// Labels for every pull request.
    pub labels: Vec<String>,
}

/// Why no pull request was opened.
#[derive(Debug, thiserror::Error)]
pub enum GitopsError {
    /// The authorized request is not a pull request for this fix.
    #[error("the authorized request is {0}, not open_pull_request for this fix")]
    WrongRequest(String),
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The edit could not be made.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// Validation failed: nothing was pushed.
    #[error("validation failed, nothing was pushed: `{}` {}", .0.last().map(|r| r.command.as_str()).unwrap_or("?"), .0.last().map(|r| r.output.as_str()).unwrap_or(""))]
    Validation(Vec<ValidationRun>),
    /// The forge refused.
    #[error(transparent)]
    Forge(#[from] ForgeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the proposal is about: everything the body is made of.
pub struct ProposalContext<'a> {
    /// The incident.
    pub incident: IncidentId,
    /// A link to the incident (the web console), when there is one.
    pub incident_link: Option<String>,
    /// The summary paragraph.
    pub summary: &'a str,
    /// The diagnosis.
    pub diagnosis: &'a Diagnosis,
    /// The investigation, for its trace.
    pub investigation: Option<&'a Investigation>,
    /// Mitigations in place now, one line each.
    pub mitigations: Vec<String>,
    /// Runtime changes to revert once the fix is live.
    pub revert_on_merge: Vec<ActionRequest>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Proposal {
    /// A new pull request.
    Opened(PullRequest),
    /// The open pull request for the same root cause, updated.
    Updated(PullRequest),
}

impl Proposal {
    /// The pull request either way.
    pub fn pull_request(&self) -> &PullRequest {
        match self {
            Proposal::Opened(pr) | Proposal::Updated(pr) => pr,
        }
    }
}

/// The fix an authorized `open_pull_request` carries.
pub fn fix_of(request: &ActionRequest) -> Option<Fix> {
    let s = |k: &str| {
        request
            .params
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    Some(Fix {
        file: s("file")?,
        key: s("key")?,
        value: s("value")?,
        rationale: request.rationale.clone(),
        add_missing: false,
    })
}

/// The request to put to the guard for a fix.
pub fn request_for(fix: &Fix, target: pagerless_model::Target) -> ActionRequest {
    let mut params = std::collections::BTreeMap::new();
    params.insert("file".into(), json!(fix.file));
    params.insert("key".into(), json!(fix.key));
    params.insert("value".into(), json!(fix.value));
    ActionRequest {
        kind: ActionKind::OpenPullRequest,
        target,
        params,
        rationale: fix.rationale.clone(),
    }
}

/// Opens (or updates) the pull request for `fix`, as authorized.
pub async fn propose(
    cfg: &GitopsConfig,
    forge: &dyn Forge,
    store: &dyn Store,
    authorized: Authorized<ActionRequest>,
    fix: &Fix,
    ctx: ProposalContext<'_>,
) -> Result<Proposal, GitopsError> {
    let request = authorized.request().clone();
    let who = authorized.identity().name.clone();
    match fix_of(&request) {
        Some(f)
            if request.kind == ActionKind::OpenPullRequest
                && f.file == fix.file
                && f.key == fix.key
                && f.value == fix.value => {}
        _ => {
            return Err(GitopsError::WrongRequest(format!(
                "{} {}",
                request.kind, request.target
            )));
        }
    }
    let repo = redact_remote(&cfg.remote);
    let root_key = format!("{repo}#{}:{}", fix.file, fix.key);
    let audit = |kind: &str, body: serde_json::Value| AuditInput {
        at: Utc::now(),
        identity: who.clone(),
        incident_id: Some(ctx.incident),
        kind: kind.into(),
        body,
    };

    // One pull request per root cause.
    if let Some(mut pr) = store.open_pull_request(&root_key).await? {
        if !pr.incidents.contains(&ctx.incident) {
            pr.incidents.push(ctx.incident);
        }
        pr.body = body(
            &ctx,
            fix,
            &pr.incidents,
            &pr.diff,
            &pr.validation,
            &pr.reviewers,
        );
        forge.update(pr.number, &pr.title, &pr.body).await?;
        forge
            .comment(
                pr.number,
                &format!(
                    "Incident {} has the same root cause ({}); this pull request fixes it too.",
                    ctx.incident, ctx.diagnosis.root_cause
                ),
            )
            .await?;
        pr.updated_at = Utc::now();
        store.save_pull_request(pr.clone()).await?;
        store
            .append_audit(audit(
                "pull_request",
                json!({ "pull_request": pr.id, "number": pr.number, "url": pr.url, "event": "updated" }),
            ))
            .await?;
        return Ok(Proposal::Updated(pr));
    }

    store
        .append_audit(audit("action_start", json!({ "request": request })))
        .await?;
    match open_new(cfg, forge, fix, &ctx, &repo, &root_key, &who).await {
        Ok(mut pr) => {
            pr.id = store.save_pull_request(pr.clone()).await?;
            store
                .append_audit(audit(
                    "action_outcome",
                    json!({ "request": request, "outcome": "done", "summary": format!("opened pull request #{} {}", pr.number, pr.url), "pull_request": pr.id }),
                ))
                .await?;
            Ok(Proposal::Opened(pr))
        }
        Err(e) => {
            let mut body =
                json!({ "request": request, "outcome": "failed", "error": e.to_string() });
            if let GitopsError::Validation(runs) = &e {
                body["validation"] = json!(runs);
            }
            store.append_audit(audit("action_outcome", body)).await?;
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn open_new(
    cfg: &GitopsConfig,
    forge: &dyn Forge,
    fix: &Fix,
    ctx: &ProposalContext<'_>,
    repo: &str,
    root_key: &str,
    who: &str,
) -> Result<PullRequest, GitopsError> {
    let ws = Workspace::prepare(
        &cfg.cache_dir,
        &cfg.remote,
        cfg.auth.clone(),
        cfg.git_timeout,
    )
    .await?;
    let branch = format!("pagerless/incident-{}-{}", ctx.incident, slug(&fix.key));
    let base_sha = ws.start_branch(&cfg.base, &branch).await?;
    let before = ws.read(&fix.file)?;
    let after = edit::edit(&fix.file, &before, &fix.key, &fix.value, fix.add_missing)?;
    ws.write(&fix.file, &after)?;
    let runs = validate::run(ws.dir(), &cfg.validate, cfg.validate_timeout).await;
    if runs.iter().any(|r| !r.passed()) {
        return Err(GitopsError::Validation(runs));
    }
    let title = format!(
        "{}: set {} to {}",
        short_subject(ctx, fix),
        fix.key,
        fix.value
    );
    let message = format!(
        "{title}\n\n{}\n\nDiagnosis: {}\nIncident: {}\nAuthorized-by: {who}",
        fix.rationale, ctx.diagnosis.root_cause, ctx.incident
    );
    let head_sha = ws.commit(&[&fix.file], &message, &cfg.author).await?;
    let diff = ws.diff(&base_sha, &head_sha).await?;
    let files = ws.changed_files(&base_sha, &head_sha).await?;
    let mut reviewers = reviewers_for(cfg, &ws, &files);
    reviewers.dedup();
    ws.push(&branch).await?;
    let incidents = vec![ctx.incident];
    let body = body(ctx, fix, &incidents, &diff, &runs, &reviewers);
    let opened = forge
        .open(&NewPullRequest {
            title: title.clone(),
            body: body.clone(),
            head: branch.clone(),
            base: cfg.base.clone(),
            reviewers: reviewers.clone(),
            labels: cfg.labels.clone(),
        })
        .await?;
    // The forge asks the reviewers and sets the labels as it opens.
    let now = Utc::now();
    Ok(PullRequest {
        id: 0,
        root_key: root_key.to_owned(),
        incidents,
        forge: forge.kind().to_owned(),
        number: opened.number,
        url: opened.url,
        repo: repo.to_owned(),
        branch,
        base: cfg.base.clone(),
        base_sha,
        head_sha,
        title,
        body,
        diff,
        files,
        fix: fix.clone(),
        validation: runs,
        reviewers,
        fate: Fate::Open,
        merge_commit: None,
        revert_on_merge: ctx.revert_on_merge.clone(),
        reconciled: None,
        created_at: now,
        updated_at: now,
        decided_at: None,
    })
}

fn body(
    ctx: &ProposalContext<'_>,
    fix: &Fix,
    incidents: &[IncidentId],
    diff: &str,
    validation: &[ValidationRun],
    reviewers: &[String],
) -> String {
    let incidents: Vec<(i64, Option<String>)> = incidents
        .iter()
        .map(|i| {
            let link = ctx
                .incident_link
                .as_ref()
                .map(|l| l.replace(&ctx.incident.to_string(), &i.to_string()));
            (i.0, link)
        })
        .collect();
    render_body(&BodyInput {
        summary: ctx.summary,
        incidents: &incidents,
        diagnosis: ctx.diagnosis,
        investigation: ctx.investigation,
        fix,
        diff,
        validation,
        mitigations: &ctx.mitigations,
        revert_on_merge: &ctx.revert_on_merge,
        reviewers,
    })
}

fn short_subject(ctx: &ProposalContext<'_>, fix: &Fix) -> String {
    ctx.diagnosis
        .target
        .as_ref()
        .map(|t| t.name.clone())
        .unwrap_or_else(|| fix.file.clone())
}

/// `resources.limits.memory` → `resources-limits-memory`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(48).collect()
}

/// Reviewers from the configuration's rules and the repository's CODEOWNERS
/// (last matching line wins, as on the forges).
fn reviewers_for(cfg: &GitopsConfig, ws: &Workspace, files: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |r: &str| {
        let r = r.trim_start_matches('@').to_owned();
        if !r.is_empty() && !out.contains(&r) {
            out.push(r);
        }
    };
    for rule in &cfg.reviewers {
        if files
            .iter()
            .any(|f| rule.path == "*" || f.starts_with(&rule.path))
        {
            rule.reviewers.iter().for_each(|r| add(r));
        }
    }
    let owners = [
        "CODEOWNERS",
        ".github/CODEOWNERS",
        ".gitlab/CODEOWNERS",
        "docs/CODEOWNERS",
    ]
    .iter()
    .find_map(|p| ws.read(p).ok());
    if let Some(text) = owners {
        for f in files {
            if let Some(owners) = codeowners(&text, f) {
                owners.iter().for_each(|o| add(o));
            }
        }
    }
    out
}

/// The owners CODEOWNERS gives `file`: the last matching pattern's.
pub fn codeowners(text: &str, file: &str) -> Option<Vec<String>> {
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let Some(pattern) = parts.next() else {
            continue;
        };
        if pattern_matches(pattern, file) {
            found = Some(
                parts
                    .filter(|o| o.starts_with('@'))
                    .map(|o| o.trim_start_matches('@').to_owned())
                    .collect(),
            );
        }
    }
    found
}

fn pattern_matches(pattern: &str, file: &str) -> bool {
    let anchored = pattern.starts_with('/');
    let p = pattern.trim_start_matches('/');
    if let Some(dir) = p.strip_suffix('/') {
        return if anchored || dir.contains('/') {
            file.starts_with(&format!("{dir}/"))
        } else {
            file.split('/').rev().skip(1).any(|seg| glob(dir, seg))
                || file.starts_with(&format!("{dir}/"))
        };
    }
    if anchored || p.contains('/') {
        // Anchored: the whole path, or a directory prefix of it.
        glob(p, file) || file.starts_with(&format!("{p}/"))
    } else {
        // A bare name matches at any depth: a file or a directory of that name.
        let segs: Vec<&str> = file.split('/').collect();
        segs.iter().any(|s| glob(p, s))
    }
}

/// `*` matches within a path segment, `**` across segments.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                let rest = &p[2..];
                let rest = rest.strip_prefix(b"/").unwrap_or(rest);
                (0..=t.len()).any(|i| go(rest, &t[i..]))
            }
            Some(b'*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| go(&p[1..], &t[i..])),
            Some(b'?') => !t.is_empty() && t[0] != b'/' && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codeowners_last_match_wins() {
        let text = "\
# Everything else
*                       @platform
/charts/                @sre-team
charts/order-service/   @orders-team @alice
*.conf                  @dba
/postgres/postgresql.conf @dba @bob
";
        assert_eq!(
            codeowners(text, "charts/order-service/values.yaml").unwrap(),
            vec!["orders-team", "alice"]
        );
        assert_eq!(
            codeowners(text, "charts/payment/values.yaml").unwrap(),
            vec!["sre-team"]
        );
        assert_eq!(
            codeowners(text, "postgres/postgresql.conf").unwrap(),
            vec!["dba", "bob"]
        );
        assert_eq!(codeowners(text, "nginx/nginx.conf").unwrap(), vec!["dba"]);
        assert_eq!(codeowners(text, "README.md").unwrap(), vec!["platform"]);
        assert_eq!(codeowners("docs/ @docs\n", "charts/x.yaml"), None);
    }

    #[test]
    fn globs() {
        assert!(glob("*.yaml", "values.yaml"));
        assert!(!glob("*.yaml", "a/values.yaml"));
        assert!(glob("charts/**/values.yaml", "charts/a/b/values.yaml"));
        assert!(glob("charts/**/values.yaml", "charts/values.yaml"));
    }

    #[test]
    fn branch_slugs_are_safe() {
        assert_eq!(slug("resources.limits.memory"), "resources-limits-memory");
        assert_eq!(
            slug("Deployment/web:spec.replicas"),
            "deployment-web-spec-replicas"
        );
    }
}
