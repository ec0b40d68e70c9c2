//! What became of a proposed fix: read the pull request's state from its
//! forge and, once merged, compare what was merged with what was proposed
//! (merged unmodified is the correctness KPI's numerator). Then the runtime
//! mitigation is reconciled: once the fix is live, the temporary change is
//! reverted so the cluster matches the repository again.

use chrono::Utc;
use pagerless_guard::{Decision, Guard, Scope};
use pagerless_model::{AuditInput, Fate, PullRequest, PullRequestStatus};
use pagerless_store::Store;
use serde_json::json;

use super::forge::Forge;
use super::propose::{GitopsConfig, GitopsError};
use super::workspace::Workspace;
use crate::{Executors, Verifier};

/// Reads the pull request's state and records its fate when it changed.
/// Returns the record as stored.
pub async fn check_fate(
    cfg: &GitopsConfig,
    forge: &dyn Forge,
    store: &dyn Store,
    mut pr: PullRequest,
) -> Result<PullRequest, GitopsError> {
    if pr.fate.is_final() {
        return Ok(pr);
    }
    let state = forge.state(pr.number).await?;
    let fate = match state.status {
        PullRequestStatus::Open => return Ok(pr),
        PullRequestStatus::Closed => Fate::Closed,
        PullRequestStatus::Merged => {
            let ws = Workspace::prepare(
                &cfg.cache_dir,
                &cfg.remote,
                cfg.auth.clone(),
                cfg.git_timeout,
            )
            .await?;
            let merged = match &state.merge_commit {
                Some(c) => ws.rev_parse(c).await?,
                None => ws.rev_parse(&format!("origin/{}", pr.base)).await?,
            };
            pr.merge_commit = Some(merged.clone());
            if merged_as_proposed(&ws, &pr, &merged).await? {
                Fate::MergedUnmodified
            } else {
                Fate::MergedModified
            }
        }
    };
    pr.fate = fate;
    pr.decided_at = Some(Utc::now());
    pr.updated_at = Utc::now();
    store.save_pull_request(pr.clone()).await?;
    store
        .append_audit(AuditInput {
            at: Utc::now(),
            identity: "pagerless".into(),
            incident_id: pr.incidents.first().copied(),
            kind: "pull_request".into(),
            body: json!({ "pull_request": pr.id, "number": pr.number, "event": "fate", "fate": fate, "merge_commit": pr.merge_commit }),
        })
        .await?;
    Ok(pr)
}

/// Whether the merge brought exactly the proposed files with exactly the
/// proposed contents (a merge commit or a squash alike: compared with the
/// merge's first parent).
async fn merged_as_proposed(
    ws: &Workspace,
    pr: &PullRequest,
    merged: &str,
) -> Result<bool, GitopsError> {
    let parent = format!("{merged}^1");
    let mut brought = ws.changed_files(&parent, merged).await?;
    let mut proposed = pr.files.clone();
    brought.sort();
    proposed.sort();
    if brought != proposed {
        return Ok(false);
    }
    for f in &pr.files {
        if ws.file_at(merged, f).await? != ws.file_at(&pr.head_sha, f).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Once a merged fix is live, reverts the temporary runtime changes (the
/// scale-out) through the guard, or records that the rollout of the merged
/// configuration already did. "Live" is the symptom clear on two reads in a
/// row within the window; if it never clears, nothing is reverted and that
/// is recorded. Returns what was done.
#[allow(clippy::too_many_arguments)]
pub async fn reconcile_merged(
    guard: &Guard,
    executors: &Executors,
    store: &dyn Store,
    mut pr: PullRequest,
    scope: &Scope,
    verifier: &dyn Verifier,
    window_secs: u64,
    interval_secs: u64,
) -> Result<PullRequest, GitopsError> {
    if !matches!(pr.fate, Fate::MergedUnmodified | Fate::MergedModified) || pr.reconciled.is_some()
    {
        return Ok(pr);
    }
    let incident = pr.incidents.first().copied();
    let mut clear = 0;
    let mut waited = 0;
    loop {
        if matches!(verifier.symptom().await, Ok(None)) {
            clear += 1;
        } else {
            clear = 0;
        }
        if clear >= 2 || waited >= window_secs {
            break;
        }
        verifier.wait(interval_secs).await;
        waited += interval_secs;
    }
    let mut done = Vec::new();
    if clear < 2 {
        done.push(format!(
            "the symptom did not clear within {window_secs} s of the merge; the temporary change stays for a human to judge"
        ));
    } else {
        for revert in &pr.revert_on_merge {
            let what = format!("{} {}", revert.kind, revert.target);
            if executors.observe(revert).await == Some(true) {
                done.push(format!(
                    "{what}: already so (the merged configuration's rollout restored it)"
                ));
                continue;
            }
            match guard
                .authorize(revert.clone(), scope, incident, Utc::now())
                .await
            {
                Ok(Decision::Allowed(a)) => match executors.execute(a).await {
                    Ok(e) => done.push(format!("reverted: {}", e.summary)),
                    Err(e) => done.push(format!("{what}: the revert failed: {e}")),
                },
                Ok(other) => done.push(format!(
                    "{what}: not reverted, the guard said {}",
                    other.record(guard.identity()).why
                )),
                Err(e) => done.push(format!("{what}: {e}")),
            }
        }
        if pr.revert_on_merge.is_empty() {
            done.push("nothing temporary was in place".into());
        }
    }
    let text = done.join("; ");
    pr.reconciled = Some(text.clone());
    pr.updated_at = Utc::now();
    store.save_pull_request(pr.clone()).await?;
    store
        .append_audit(AuditInput {
            at: Utc::now(),
            identity: guard.identity().name.clone(),
            incident_id: incident,
            kind: "pull_request".into(),
            body: json!({ "pull_request": pr.id, "number": pr.number, "event": "reconciled", "reconciled": text }),
        })
        .await?;
    Ok(pr)
}
