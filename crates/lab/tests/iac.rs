//! The IaC repository is real git: history with authors and virtual dates, a
//! bare remote that clones, and values files edited without losing comments.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use pagerless_lab::find_scenario;
use pagerless_lab::iac::{ChartValues, IacRepo};

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn seed_history_is_real_git_and_the_limit_change_is_findable() {
    let s = find_scenario("order-service-oom").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut repo = IacRepo::create(dir.path(), &s).unwrap();
    let mut hashes = Vec::new();
    for ev in &s.timeline {
        if let Some(c) = &ev.commit {
            hashes.push(
                repo.commit(c, s.start + chrono::Duration::seconds(ev.at.0))
                    .unwrap(),
            );
        }
    }
    assert_eq!(
        repo.chart("order-service")
            .unwrap()
            .limits
            .memory
            .to_quantity(),
        "512Mi"
    );

    // Clone the remote the way pagerless will, and read the history.
    let clone = dir.path().join("clone");
    let out = Command::new("git")
        .args(["clone", "-q"])
        .arg(repo.remote())
        .arg(&clone)
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = git(
        &clone,
        &[
            "log",
            "--format=%H|%an <%ae>|%aI|%s",
            "--",
            "charts/order-service/values.yaml",
        ],
    );
    let first = log.lines().next().unwrap();
    let parts: Vec<&str> = first.split('|').collect();
    assert_eq!(parts[0], hashes[1]);
    assert_eq!(parts[1], "Alex Chen <alex.chen@shop.example>");
    assert_eq!(
        parts[2], "2026-01-05T08:20:00Z",
        "virtual time: start + 20m"
    );
    assert_eq!(
        parts[3],
        "order-service: right-size memory limit to cut node costs"
    );

    let diff = git(&clone, &["show", "--format=", &hashes[1]]);
    assert!(
        diff.contains("-    memory: 2Gi\n+    memory: 512Mi"),
        "{diff}"
    );
    assert!(!diff.contains("-    # Sized"), "comments untouched: {diff}");

    let values = std::fs::read_to_string(clone.join("charts/order-service/values.yaml")).unwrap();
    assert!(values.contains("# Sized for peak traffic plus headroom"));
    let parsed = ChartValues::parse(&values).unwrap();
    assert_eq!(
        &parsed,
        repo.chart("order-service").unwrap(),
        "values file round-trips"
    );
    assert_eq!(git(&clone, &["rev-list", "--count", "HEAD"]).trim(), "3");
}

#[test]
fn same_scenario_same_hashes() {
    let s = find_scenario("order-service-oom").unwrap();
    let heads: Vec<String> = (0..2)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let mut repo = IacRepo::create(dir.path(), &s).unwrap();
            let ev = s
                .timeline
                .iter()
                .find_map(|e| e.commit.as_ref().map(|c| (e.at, c)))
                .unwrap();
            repo.commit(ev.1, s.start + chrono::Duration::seconds(ev.0.0))
                .unwrap()
        })
        .collect();
    assert_eq!(heads[0], heads[1]);
}
