//! `logs.search` over real files: an nginx error log with a rotated sibling,
//! and an application log with ISO 8601 times and a stack trace.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Local, Utc};
use pagerless_tools::logs::{LogsConfig, Matches, tools};
use pagerless_tools::{Tool, ToolError};

const NGINX: &str = "2026/11/27 20:09:11 [error] 1234#0: *5 upstream sent too big header while reading response header from upstream, client: 127.0.0.1, server: localhost, request: \"GET / HTTP/1.1\", upstream: \"http://127.0.0.1:8081/\", host: \"127.0.0.1:8080\"";

fn search(sources: &[(&str, String)], max_lines: usize) -> Arc<dyn Tool> {
    let sources: BTreeMap<String, String> = sources
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let mut config = LogsConfig::new(sources);
    config.max_lines = max_lines;
    tools(&config).unwrap().pop().unwrap()
}

fn nginx_time(ago_secs: i64) -> String {
    (Local::now() - chrono::Duration::seconds(ago_secs))
        .format("%Y/%m/%d %H:%M:%S")
        .to_string()
}

#[tokio::test]
async fn finds_the_nginx_error_by_pattern_and_window() {
    let dir = tempfile::tempdir().unwrap();
    // The rotated file is older: its lines come first.
    let rotated = dir.path().join("error.log.1");
    std::fs::write(&rotated, format!("{NGINX}\n")).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&rotated)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let recent = format!(
        "{} [error] 1234#0: *9 upstream sent too big header while reading response header from upstream, client: 127.0.0.1\n{} [notice] 1#1: signal process started\n",
        nginx_time(30),
        nginx_time(20)
    );
    std::fs::write(dir.path().join("error.log"), recent).unwrap();
    std::fs::write(dir.path().join("access.log"), "GET / 200 too big header\n").unwrap();
    let tool = search(
        &[("nginx", dir.path().join("error.log*").display().to_string())],
        200,
    );

    let obs = tool
        .call(&serde_json::json!({"source": "nginx", "pattern": "upstream sent too big header"}))
        .await
        .unwrap();
    let m: Matches = serde_json::from_value(obs.data).unwrap();
    assert_eq!(m.lines.len(), 2, "{:?}", m.lines);
    assert_eq!(m.lines[0].text, NGINX);
    assert!(m.lines[0].file.ends_with("error.log.1"));
    assert_eq!(m.lines[0].line, 1);
    assert!(m.lines[1].text.contains("*9 upstream"), "newest last");
    assert!(!m.truncated);
    assert!(
        obs.summary.starts_with("2 lines of `nginx` match"),
        "{}",
        obs.summary
    );
    assert!(obs.query.contains("error.log*"), "{}", obs.query);

    // The last ten minutes: the fresh line, and the fixed one only if it is that recent.
    let obs = tool
        .call(
            &serde_json::json!({"source": "nginx", "pattern": "too big header", "since_secs": 600}),
        )
        .await
        .unwrap();
    let m: Matches = serde_json::from_value(obs.data).unwrap();
    let fixed = pagerless_tools::logs::leading_time(NGINX).unwrap();
    let expected = if fixed >= Utc::now() - chrono::Duration::seconds(600) {
        2
    } else {
        1
    };
    assert_eq!(m.lines.len(), expected, "{:?}", m.lines);
    assert!(m.lines.last().unwrap().text.contains("*9 upstream"));

    // A limit keeps the newest.
    let obs = tool
        .call(
            &serde_json::json!({"source": "nginx", "pattern": "\\[(error|notice)\\]", "limit": 1}),
        )
        .await
        .unwrap();
    let m: Matches = serde_json::from_value(obs.data).unwrap();
    assert_eq!(m.lines.len(), 1);
    assert!(m.lines[0].text.contains("[notice]"));
    assert!(m.truncated);
}

#[tokio::test]
async fn iso_times_and_stack_traces() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let iso = |ago: i64| {
        (now - chrono::Duration::seconds(ago)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let log = format!(
        "{} ERROR pool exhausted\n    at db.Pool.get(Pool.java:10)\n{} ERROR pool exhausted\n    at db.Pool.get(Pool.java:10)\n{} INFO ok\n",
        iso(7200),
        iso(60),
        iso(5)
    );
    std::fs::write(dir.path().join("app.log"), log).unwrap();
    let tool = search(&[("app", dir.path().display().to_string())], 200);
    let obs = tool
        .call(&serde_json::json!({"source": "app", "pattern": "Pool\\.java", "since_secs": 600}))
        .await
        .unwrap();
    let m: Matches = serde_json::from_value(obs.data).unwrap();
    assert_eq!(
        m.lines.len(),
        1,
        "the old trace line is out of the window: {:?}",
        m.lines
    );
    assert_eq!(m.lines[0].line, 4);
}

#[tokio::test]
async fn unknown_sources_and_bad_patterns_are_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let tool = search(
        &[
            ("nginx", dir.path().join("error.log").display().to_string()),
            ("app", dir.path().display().to_string()),
        ],
        200,
    );
    let err = tool
        .call(&serde_json::json!({"source": "syslog", "pattern": "x"}))
        .await
        .unwrap_err();
    match &err {
        ToolError::BadArguments { message, .. } => {
            assert!(message.contains("app, nginx"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let err = tool
        .call(&serde_json::json!({"source": "app", "pattern": "(unclosed"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::BadArguments { .. }), "{err:?}");
    // A missing file is the backend's failure, not the caller's.
    let err = tool
        .call(&serde_json::json!({"source": "nginx", "pattern": "x"}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ToolError::Backend {
                retriable: false,
                ..
            }
        ),
        "{err:?}"
    );
    // An empty directory: nothing matches.
    let obs = tool
        .call(&serde_json::json!({"source": "app", "pattern": "x"}))
        .await
        .unwrap();
    assert!(
        obs.summary.starts_with("no line of `app`"),
        "{}",
        obs.summary
    );
}
