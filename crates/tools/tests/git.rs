//! `git.history` against real git: the lab's IaC repository in the seed
//! incident, and a hand-made repository with a PostgreSQL config change.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use pagerless_lab::find_scenario;
use pagerless_lab::iac::IacRepo;
use pagerless_tools::git::{GitConfig, History};
use serde_json::json;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Sam Ortiz")
        .env("GIT_AUTHOR_EMAIL", "sam.ortiz@shop.example")
        .env("GIT_COMMITTER_NAME", "Sam Ortiz")
        .env("GIT_COMMITTER_EMAIL", "sam.ortiz@shop.example")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn history(config: &GitConfig, args: serde_json::Value) -> (History, String, String) {
    let tools = pagerless_tools::git::tools(config).unwrap();
    assert_eq!(tools[0].name(), "git.history");
    let obs = tools[0].call(&args).await.unwrap();
    assert_eq!(obs.tool, "git.history");
    (
        serde_json::from_value(obs.data).unwrap(),
        obs.summary,
        obs.query,
    )
}

#[tokio::test]
async fn the_seed_incidents_culprit_commit() {
    let s = find_scenario("order-service-oom").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut repo = IacRepo::create(&dir.path().join("iac"), &s).unwrap();
    let mut hashes = Vec::new();
    for ev in &s.timeline {
        if let Some(c) = &ev.commit {
            hashes.push(
                repo.commit(c, s.start + chrono::Duration::seconds(ev.at.0))
                    .unwrap(),
            );
        }
    }
    let mut config = GitConfig::new(repo.remote().display().to_string());
    config.cache_dir = Some(dir.path().join("cache"));

    let (h, summary, query) = history(&config, json!({"service": "order-service"})).await;
    println!("{summary}\n{query}");
    let culprit = &h.commits[0];
    assert_eq!(culprit.hash, hashes[1]);
    assert_eq!(culprit.author, "Alex Chen <alex.chen@shop.example>");
    assert_eq!(culprit.date, "2026-01-05T08:20:00Z");
    assert_eq!(culprit.files, vec!["charts/order-service/values.yaml"]);
    let change = |key: &str| {
        culprit
            .changes
            .iter()
            .find(|c| c.key == key)
            .unwrap_or_else(|| panic!("no {key} in {:#?}", culprit.changes))
    };
    let limit = change("resources.limits.memory");
    assert_eq!(limit.before.as_deref(), Some("2Gi"));
    assert_eq!(limit.after.as_deref(), Some("512Mi"));
    assert_eq!(limit.file, "charts/order-service/values.yaml");
    let request = change("resources.requests.memory");
    assert_eq!(request.before.as_deref(), Some("1Gi"));
    assert_eq!(request.after.as_deref(), Some("256Mi"));
    assert!(
        summary.contains("by Alex Chen <alex.chen@shop.example> 2026-01-05 08:20 set resources.limits.memory 2Gi → 512Mi"),
        "{summary}"
    );
    assert!(query.starts_with("git log"), "{query}");
    // payment-service's bump does not touch order-service's chart.
    assert!(h.commits.iter().all(|c| c.hash != hashes[0]));

    // A second call fetches into the same cache; paths and limit work.
    let (h, _, _) = history(
        &config,
        json!({"paths": ["charts/payment-service/"], "limit": 1}),
    )
    .await;
    assert_eq!(h.commits.len(), 1);
    assert_eq!(h.commits[0].hash, hashes[0]);
    assert!(
        h.commits[0]
            .changes
            .iter()
            .any(|c| c.key == "image.tag" && c.after.as_deref() == Some("1.9.0"))
    );

    // Until before the culprit: it is not there.
    let (h, _, _) = history(
        &config,
        json!({"service": "order-service", "until": "2026-01-05T08:10:00Z"}),
    )
    .await;
    assert!(h.commits.iter().all(|c| c.hash != hashes[1]));
}

#[tokio::test]
async fn a_directive_change_in_a_plain_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(
        work.join("postgresql.conf"),
        "# connections\nmax_connections = 100\nshared_buffers = '128MB'\n",
    )
    .unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "postgres: initial config"]);
    std::fs::write(
        work.join("postgresql.conf"),
        "# connections\nmax_connections = 200 # more workers\nshared_buffers = '128MB'\n",
    )
    .unwrap();
    git(
        &work,
        &["commit", "-q", "-am", "postgres: raise max_connections"],
    );

    let mut config = GitConfig::new(format!("file://{}", work.display()));
    config.cache_dir = Some(dir.path().join("cache"));
    let (h, summary, _) = history(&config, json!({"paths": ["postgresql.conf"]})).await;
    println!("{summary}");
    assert_eq!(h.commits.len(), 2);
    assert_eq!(h.commits[0].author, "Sam Ortiz <sam.ortiz@shop.example>");
    assert_eq!(h.commits[0].message, "postgres: raise max_connections");
    assert_eq!(h.commits[0].changes.len(), 1, "{:#?}", h.commits[0].changes);
    let c = &h.commits[0].changes[0];
    assert_eq!(c.key, "max_connections");
    assert_eq!(c.before.as_deref(), Some("100"));
    assert_eq!(c.after.as_deref(), Some("200"));
    assert!(
        h.commits[1].changes.is_empty(),
        "the root commit's values are skipped"
    );
    assert!(
        summary.contains("set max_connections 100 → 200"),
        "{summary}"
    );
}

#[tokio::test]
async fn an_unreachable_remote_is_retriable_and_a_missing_token_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = GitConfig::new(dir.path().join("nowhere").display().to_string());
    config.cache_dir = Some(dir.path().join("cache"));
    let tools = pagerless_tools::git::tools(&config).unwrap();
    let err = tools[0].call(&json!({})).await.unwrap_err();
    assert!(err.is_retriable(), "{err:?}");

    config.token_env = Some("PAGERLESS_TEST_NO_SUCH_TOKEN_VAR".into());
    assert!(pagerless_tools::git::tools(&config).is_err());

    config.token_env = None;
    let tools = pagerless_tools::git::tools(&config).unwrap();
    let err = tools[0].call(&json!({"limit": "many"})).await.unwrap_err();
    assert!(matches!(
        err,
        pagerless_tools::ToolError::BadArguments { .. }
    ));
}
