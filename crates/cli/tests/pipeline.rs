//! The real monitoring pipeline end to end, nothing faked: the lab runs the
//! seed in real time and serves `/metrics`; a real Prometheus scrapes it and
//! evaluates the scenario's rules (the `rules.yml` the lab wrote); a real
//! Alertmanager sends the webhook to `pagerless serve`, which investigates
//! through that Prometheus' HTTP API and the lab's Kubernetes API, scales,
//! verifies, and opens the pull request. Prints the time from the alert's
//! arrival to the diagnosis, the mitigation and the pull request.
//!
//! The seed is paced for a test: the bad commit lands 30 s after the start
//! instead of 20 min, warm-up is 1 min instead of 4, the alert's windows are
//! 1 min instead of 5 and it must hold 15 s instead of 2 min. Needs
//! `prometheus` and `prometheus-alertmanager` (`.ci/run` installs them).

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Alertmanager, Proc, Prometheus, free_port};

/// The seed, paced for a test (see the module's comment).
fn paced_seed() -> String {
    let (_, seed) = pagerless_lab::BUILTIN_SCENARIOS
        .iter()
        .find(|(n, _)| *n == "order-service-oom")
        .unwrap();
    let mut text = seed.replace("name: order-service-oom", "name: order-service-oom-paced");
    for (from, to) in [
        ("  - at: 20m\n    commit:", "  - at: 30s\n    commit:"),
        ("      warmup: 4m", "      warmup: 1m"),
        ("  - {at: 0m, rps: 160}", "  - {at: 0m, rps: 200}"),
        ("[5m]", "[1m]"),
        ("    for: 2m", "    for: 15s"),
    ] {
        assert!(text.contains(from), "the seed no longer has {from:?}");
        text = text.replace(from, to);
    }
    text
}

fn start_lab(dir: &Path, scenario: &Path) -> (Proc, pagerless_lab::serve::Endpoints) {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = Command::new(support::PAGERLESS);
    cmd.args(["lab", "run"])
        .arg(scenario)
        .arg("--state-dir")
        .arg(dir)
        .arg("--realtime")
        .env("PAGERLESS_LOG", "info");
    let proc = support::spawn(cmd, dir.join("lab.log"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(ep) = pagerless_lab::serve::read_endpoints(dir) {
            return (proc, ep);
        }
        assert!(
            Instant::now() < deadline,
            "lab did not start: {}",
            proc.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cli_json(args: &[&str]) -> Option<Value> {
    let (ok, out, _) = support::run_cli(args, &[]);
    if !ok {
        return None;
    }
    serde_json::from_str(&out).ok()
}

#[tokio::test]
async fn from_the_fault_to_the_pull_request_through_real_prometheus_and_alertmanager() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scenario = d.join("seed-paced.yaml");
    std::fs::write(&scenario, paced_seed()).unwrap();
    let started = Instant::now();
    let lab_started = chrono::Utc::now();
    let (lab, ep) = start_lab(&d.join("lab"), &scenario);

    let serve_port = free_port();
    let token = "pipeline-token";
    let webhook = format!("http://127.0.0.1:{serve_port}/api/v1/alerts/alertmanager");
    let am = Alertmanager::start(&d.join("alertmanager"), &webhook, token).await;
    let rules = d.join("lab/rules.yml");
    assert!(rules.exists(), "the lab wrote no rules.yml");
    let prometheus = Prometheus::start(
        &d.join("prometheus"),
        &pagerless_lab::alerts::prometheus_config(
            &format!("{}/metrics", ep.prometheus),
            rules.to_str().unwrap(),
            am.url.trim_start_matches("http://"),
        ),
        free_port(),
    )
    .await;

    // pagerless reads the real Prometheus, the lab's Kubernetes API and IaC repo.
    let policy = d.join("guardrails.yaml");
    std::fs::write(
        &policy,
        pagerless_guard::policy::DEFAULT.replace("mode: shadow", "mode: autonomous"),
    )
    .unwrap();
    let config = d.join("pagerless.yaml");
    std::fs::write(
        &config,
        format!(
            "tools:\n  prometheus:\n    url: {prom}\n  kubernetes:\n    kubeconfig: {kc}\n  git:\n    remote: {git}\n\
             guard:\n  policy: {policy}\n\
             act:\n  verify_window_secs: 420\n  verify_interval_secs: 5\n\
             gitops:\n  remote: {git}\n  validate: [git diff --check]\n  poll_secs: 2\n",
            prom = prometheus.url,
            kc = ep.kubeconfig,
            git = ep.git,
            policy = policy.display(),
        ),
    )
    .unwrap();
    let data = d.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut cmd = Command::new(support::PAGERLESS);
    cmd.arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", &format!("127.0.0.1:{serve_port}")])
        .env("PAGERLESS_API_TOKEN", token)
        .env("PAGERLESS_LOG", "info");
    let serve = support::spawn(cmd, data.join("serve.log"));
    let dd = data.to_str().unwrap();

    let deadline = Instant::now() + Duration::from_secs(600);
    let pr = loop {
        if let Some(list) = cli_json(&["--data-dir", dd, "pr", "list", "--json"])
            && let Some(pr) = list.as_array().and_then(|l| l.first().cloned())
        {
            break pr;
        }
        assert!(
            Instant::now() < deadline,
            "no pull request after {:?}\nserve:\n{}\nlab:\n{}\nprometheus:\n{}\nalertmanager:\n{}",
            started.elapsed(),
            serve.output(),
            lab.output(),
            prometheus.proc.output(),
            am.proc.output()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    // The alert came through Alertmanager from Prometheus' own evaluation.
    let incident = cli_json(&["--data-dir", dd, "incident", "show", "1", "--json"]).unwrap();
    assert_eq!(incident["service"], "order-service", "{incident}");
    let alert = &incident["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "OrderServiceHighLatency");
    let generator = alert["generator_url"].as_str().unwrap_or_default();
    assert!(
        generator.starts_with(&prometheus.url),
        "not from the real Prometheus: {alert}"
    );
    // The investigation read the real Prometheus and found the commit.
    let inv = &incident["investigations"][0];
    let diagnosis = &inv["outcome"]["diagnosis"];
    assert_eq!(diagnosis["category"], "memory_limit_too_low", "{inv}");
    assert_eq!(diagnosis["culprit"]["key"], "resources.limits.memory");
    assert_eq!(diagnosis["culprit"]["after"], "512Mi");
    let queried: Vec<&str> = inv["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["observation"]["tool"].as_str())
        .collect();
    assert!(queried.contains(&"prometheus.query"), "{queried:?}");
    // The scale-out, and the pull request restoring 2Gi.
    let audit = cli_json(&[
        "--data-dir",
        dd,
        "audit",
        "show",
        "--incident",
        "1",
        "--json",
    ])
    .unwrap();
    let entries = audit.as_array().unwrap();
    let scaled = entries
        .iter()
        .find(|e| e["kind"] == "action_outcome" && e["body"]["request"]["kind"] == "scale")
        .unwrap_or_else(|| panic!("no scale-out: {audit}"));
    assert_eq!(scaled["body"]["outcome"], "done", "{scaled}");
    assert_eq!(pr["fix"]["value"], "2Gi");
    assert!(pr["diff"].as_str().unwrap().contains("+    memory: 2Gi"));
    let verified = entries
        .iter()
        .find(|e| e["kind"] == "verification")
        .unwrap_or_else(|| panic!("no verification: {audit}"));

    let at = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .to_utc()
    };
    let arrived = at(&incident["detected_at"]);
    let diagnosed = at(&inv["started_at"])
        + chrono::Duration::milliseconds(inv["duration_ms"].as_f64().unwrap() as i64);
    let mitigated = at(&scaled["at"]);
    let opened = at(&pr["created_at"]);
    let ms = |t: chrono::DateTime<chrono::Utc>| (t - arrived).num_milliseconds();
    let fault = lab_started + chrono::Duration::seconds(30);
    println!(
        "pipeline: fault → alert arrival {:.0} s (Prometheus fired it {:.0} s before it arrived); \
         alert → diagnosis {} ms, → mitigation {} ms, → verified {} ms, → pull request {} ms",
        (arrived - fault).num_milliseconds() as f64 / 1000.0,
        (arrived - at(&incident["started_at"])).num_milliseconds() as f64 / 1000.0,
        ms(diagnosed),
        ms(mitigated),
        ms(at(&verified["at"])),
        ms(opened)
    );
    assert!(ms(diagnosed) < 5_000, "diagnosis took {} ms", ms(diagnosed));
    assert!(ms(mitigated) >= ms(diagnosed));
}
