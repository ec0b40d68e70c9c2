//! The KPIs of a real run: `pagerless demo --all` fills a store, then
//! `pagerless report --json` must agree with what the demo's own table says
//! happened (and with `incidents list` and `audit show`); and a real
//! Prometheus scraping `pagerless serve`'s `/metrics`, with the API token,
//! must answer PromQL with the same numbers.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use support::{Pagerless, Prometheus, free_port, run_cli};

/// One row of the demo's closing table.
#[derive(Debug)]
struct Row {
    diagnosis: String,
    actions: String,
    pr: String,
    to_mitigation: String,
}

/// Runs `demo --all` into `dir` and reads its table back.
fn demo(dir: &Path) -> Vec<Row> {
    let d = dir.to_str().unwrap();
    let (ok, out, err) = run_cli(&["--data-dir", d, "demo", "--all"], &[]);
    assert!(ok, "{out}{err}");
    let mut lines = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("SCENARIO"));
    let header = lines.next().unwrap_or_else(|| panic!("no table in\n{out}"));
    assert!(header.contains("TO MITIGATION"), "{header}");
    let rows: Vec<Row> = lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = split_columns(l.trim());
            assert_eq!(cols.len(), 7, "{l}");
            Row {
                diagnosis: cols[1].into(),
                actions: cols[2].into(),
                pr: cols[3].into(),
                to_mitigation: cols[5].into(),
            }
        })
        .collect();
    assert!(!rows.is_empty(), "{out}");
    rows
}

/// Columns of a table row: separated by two spaces or more.
fn split_columns(line: &str) -> Vec<&str> {
    let mut cols = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("  ") {
        cols.push(&rest[..at]);
        rest = rest[at..].trim_start();
    }
    cols.push(rest);
    cols
}

fn report(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["report", "--json"]);
    let (ok, out, err) = run_cli(&args, &[]);
    assert!(ok, "{out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn json_of(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--data-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let (ok, out, err) = run_cli(&all, &[]);
    assert!(ok, "{out}{err}");
    serde_json::from_str(&out).unwrap()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// What the demo's table says pagerless handled alone: a verified mitigation,
/// or rightly nothing to do.
fn autonomous(rows: &[Row]) -> Vec<&Row> {
    rows.iter()
        .filter(|r| r.to_mitigation != "-" || (r.diagnosis == "none" && r.actions == "none"))
        .collect()
}

#[test]
fn the_report_agrees_with_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let rows = demo(dir.path());
    let k = report(dir.path(), &[]);

    // One incident per scenario; one pull request per row with one.
    assert_eq!(k["incidents"], rows.len() as u64);
    assert_eq!(rows.len(), 9);
    let prs = rows.iter().filter(|r| r.pr.starts_with('#')).count() as u64;
    assert!(prs >= 4, "{rows:?}");
    assert_eq!(k["pr_opened"], prs);
    assert_eq!(k["pr_open"], prs);
    assert_eq!(k["pr_merged_unmodified"], 0);
    assert_eq!(k["pr_merged_modified"], 0);
    assert_eq!(k["pr_closed"], 0);
    // None merged yet: a rate of 0, not "no data".
    assert_eq!(k["pr_correctness_rate"], 0.0);
    assert_eq!(k["incidents_fixed"], 0);
    assert_eq!(k["mtso_secs"], Value::Null);

    // Autonomous: the mitigated scenarios and the transient one; those
    // awaiting approval or escalated had a human in the loop.
    let alone = autonomous(&rows);
    assert_eq!(alone.len(), 3, "{rows:?}");
    assert_eq!(k["incidents_autonomous"], alone.len() as u64);
    let rate = k["autonomous_resolution_rate"].as_f64().unwrap();
    assert!(
        (rate - alone.len() as f64 / rows.len() as f64).abs() < 1e-9,
        "{rate}"
    );

    // Toil saved: their playbooks' human minutes.
    let books = pagerless_agent::playbook::load(None).unwrap();
    let minutes: u32 = alone
        .iter()
        .map(|r| {
            books
                .iter()
                .find(|b| b.category == r.diagnosis)
                .map_or(30, |b| b.human_minutes)
        })
        .sum();
    let toil = k["toil_hours_saved"].as_f64().unwrap();
    assert!(
        (toil - f64::from(minutes) / 60.0).abs() < 1e-9,
        "{toil} vs {minutes} min"
    );

    // Actions: each row's writes, as the guard decided and the executors ended them.
    let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in &rows {
        let kind = r.actions.split(' ').next().unwrap();
        if r.actions.ends_with("(awaiting approval)") {
            *expected
                .entry((kind.into(), "needs_approval".into()))
                .or_default() += 1;
        } else if r.to_mitigation != "-" {
            *expected.entry((kind.into(), "allowed".into())).or_default() += 1;
            *expected.entry((kind.into(), "done".into())).or_default() += 1;
        }
    }
    expected.insert(("open_pull_request".into(), "allowed".into()), prs);
    expected.insert(("open_pull_request".into(), "done".into()), prs);
    let actual: BTreeMap<(String, String), u64> = k["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                (
                    a["kind"].as_str().unwrap().to_owned(),
                    a["result"].as_str().unwrap().to_owned(),
                ),
                a["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(actual, expected);
    // Nothing undone.
    assert_eq!(k["harmful_action_rate"], 0.0);
    // No approval decided yet; no nodes configured.
    assert_eq!(k["approval_latency_secs"]["count"], 0);
    assert_eq!(k["approval_latency_secs"]["p50"], Value::Null);
    assert_eq!(k["nodes_per_human"], Value::Null);

    // MTTR, recomputed from `incidents list` and `audit show`: detection to
    // the earlier of resolution and the first verified mitigation.
    let incidents = json_of(dir.path(), &["incidents", "list", "--json"]);
    let audit = json_of(dir.path(), &["audit", "show", "--json"]);
    let mut durations = Vec::new();
    for inc in incidents["incidents"].as_array().unwrap() {
        let mitigated = audit
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                e["incident_id"] == inc["id"]
                    && e["kind"] == "response"
                    && e["body"]["response"]["kind"] == "mitigated"
            })
            .map(|e| time(&e["at"]));
        let resolved = (!inc["resolved_at"].is_null()).then(|| time(&inc["resolved_at"]));
        let recovered = match (mitigated, resolved) {
            (Some(m), Some(r)) => Some(m.min(r)),
            (m, r) => m.or(r),
        };
        if let Some(r) = recovered {
            let secs = (r - time(&inc["detected_at"])).num_milliseconds() as f64 / 1000.0;
            durations.push(secs.max(0.0));
        }
    }
    assert_eq!(k["incidents_recovered"], durations.len() as u64);
    let mttr = k["mttr_secs"].as_f64().unwrap();
    let mean = durations.iter().sum::<f64>() / durations.len() as f64;
    assert!((mttr - mean).abs() < 1e-6, "{mttr} vs {mean}");

    // The table for people says the same.
    let d = dir.path().to_str().unwrap();
    let (ok, out, err) = run_cli(&["--data-dir", d, "report", "--since", "24h"], &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("KPIs of the last 24h"), "{out}");
    assert!(out.contains("autonomous resolution rate"), "{out}");
    assert!(out.contains("33.3%"), "{out}");
    assert!(
        out.contains(&format!("{prs} ({prs} open, 0 merged unmodified")),
        "{out}"
    );

    // A window it cannot read is refused, saying what it expects.
    let (ok, out, err) = run_cli(&["--data-dir", d, "report", "--since", "7w"], &[]);
    assert!(!ok, "{out}");
    assert!(err.contains("such as 7d, 24h, 30m or 90s"), "{err}");

    // The `report:` section: nodes per human.
    let config = dir.path().join("pagerless.yaml");
    std::fs::write(&config, "report:\n  humans: 4\n  nodes: 40\n").unwrap();
    let k = report(dir.path(), &["--config", config.to_str().unwrap()]);
    assert_eq!(k["nodes_per_human"], 10.0);
}

/// Polls an instant query until it returns one sample; its value.
async fn promql(prometheus: &Prometheus, query: &str, serve: &Pagerless) -> f64 {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: Value = http
            .get(format!("{}/api/v1/query", prometheus.url))
            .query(&[("query", query)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["status"], "success", "{query}: {v}");
        if let Some([sample]) = v["data"]["result"].as_array().map(Vec::as_slice) {
            return sample["value"][1].as_str().unwrap().parse().unwrap();
        }
        if Instant::now() > deadline {
            let targets: Value = http
                .get(format!("{}/api/v1/targets", prometheus.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            panic!(
                "{query} never answered: {v}\ntargets: {targets}\nprometheus log:\n{}\npagerless log:\n{}",
                prometheus.proc.output(),
                serve.proc.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_kpis() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rows = demo(&data);
    let expected = report(&data, &[]);

    let token = "metrics-token";
    let serve = Pagerless::start(&data, Some(token)).await;
    // Behind the API token, like /api/v1.
    let resp = reqwest::get(format!("{}/metrics", serve.url))
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::UNAUTHORIZED);

    let target = serve.url.trim_start_matches("http://");
    let config = format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: pagerless
    scrape_interval: 1s
    metrics_path: /metrics
    params:
      since: [24h]
    authorization:
      type: Bearer
      credentials: {token}
    static_configs:
      - targets: ['{target}']
"#
    );
    let prometheus = Prometheus::start(&dir.path().join("prometheus"), &config, free_port()).await;

    assert_eq!(
        promql(&prometheus, r#"up{job="pagerless"} == 1"#, &serve).await,
        1.0
    );
    assert_eq!(
        promql(&prometheus, "pagerless_incidents", &serve).await,
        rows.len() as f64
    );
    let prs = rows.iter().filter(|r| r.pr.starts_with('#')).count() as f64;
    assert_eq!(
        promql(
            &prometheus,
            r#"pagerless_pull_requests{fate="open"}"#,
            &serve
        )
        .await,
        prs
    );
    assert_eq!(
        promql(&prometheus, "pagerless_pr_correctness_ratio", &serve).await,
        0.0
    );
    let rate = promql(&prometheus, "pagerless_autonomous_resolution_ratio", &serve).await;
    assert!(
        (rate - expected["autonomous_resolution_rate"].as_f64().unwrap()).abs() < 1e-9,
        "{rate}"
    );
    assert_eq!(
        promql(&prometheus, "pagerless_kpi_window_seconds", &serve).await,
        86_400.0
    );
    assert_eq!(
        promql(
            &prometheus,
            r#"sum(pagerless_actions_total{result="done"})"#,
            &serve
        )
        .await,
        expected["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["result"] == "done")
            .map(|a| a["count"].as_f64().unwrap())
            .sum::<f64>()
    );
    // No approval decided: no latency series at all, rather than a false 0.
    let v: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/query", prometheus.url))
        .query(&[("query", "pagerless_approval_latency_seconds")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"]["result"], serde_json::json!([]), "{v}");
}
