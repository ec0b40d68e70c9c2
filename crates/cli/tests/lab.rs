//! A running lab (`pagerless lab run`) driven by the real kubectl, and its
//! alerts delivered to a running `pagerless serve`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Pagerless, Proc, free_port, require_binary};

/// `pagerless lab run SCENARIO --state-dir DIR` plus extra args; waits for endpoints.json.
fn start_lab(dir: &Path, scenario: &str, extra: &[&str]) -> (Proc, Value) {
    std::fs::create_dir_all(dir).expect("lab dir");
    let log = dir.join("lab.log");
    let out = std::fs::File::create(&log).expect("log");
    let child = Command::new(support::PAGERLESS)
        .args(["lab", "run", scenario, "--state-dir"])
        .arg(dir)
        .args(extra)
        .env("PAGERLESS_LOG", "info")
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("start the lab");
    let proc = Proc { child, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("endpoints.json"))
            && let Ok(v) = serde_json::from_str::<Value>(&text)
        {
            return (proc, v);
        }
        assert!(
            Instant::now() < deadline,
            "lab did not start: {}",
            proc.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kubectl(kubeconfig: &str, args: &[&str]) -> String {
    let bin = require_binary("kubectl", "kubectl (a v1.32 client)");
    let out = Command::new(bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("run kubectl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn prom(base: &str, query: &str) -> Vec<Value> {
    let url = format!("{base}/api/v1/query");
    let out = Command::new("curl")
        .args(["-sS", "--get", &url, "--data-urlencode"])
        .arg(format!("query={query}"))
        .output()
        .expect("curl");
    let v: Value = serde_json::from_slice(&out.stdout).expect("Prometheus JSON");
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Runs `command` on a lab node through its shell endpoint.
fn shell_exec(shell: &str, node: &str, command: &str) -> Value {
    let body = serde_json::json!({ "command": command }).to_string();
    let out = Command::new("curl")
        .args([
            "-sS",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
        ])
        .arg(format!("{shell}/{node}"))
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn wait_for(what: &str, secs: u64, lab: &Proc, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; lab log:\n{}",
            lab.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kubectl_drives_a_running_lab() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 15 s steps at 300x: a simulated minute every 0.2 s.
    let (lab, ep) = start_lab(dir.path(), "order-service-oom", &["--speed", "300"]);
    let kc = ep["kubeconfig"].as_str().expect("kubeconfig").to_owned();
    let promurl = ep["prometheus"].as_str().expect("prometheus").to_owned();

    // The seed unfolds: order-api-v2 gets OOM-killed.
    wait_for("an OOMKilled restart", 60, &lab, || {
        !prom(
            &promurl,
            "kube_pod_container_status_last_terminated_reason{reason=\"OOMKilled\"}",
        )
        .is_empty()
    });
    let all = kubectl(&kc, &["get", "pods", "-A"]);
    assert!(
        all.lines()
            .next()
            .is_some_and(|h| h.starts_with("NAMESPACE")),
        "{all}"
    );
    assert!(
        all.contains("shop") && all.contains("order-service-") && all.contains("payment-service-"),
        "{all}"
    );

    let pods: Value = serde_json::from_str(&kubectl(
        &kc,
        &[
            "get",
            "pods",
            "-n",
            "shop",
            "-l",
            "app=order-service",
            "-o",
            "json",
        ],
    ))
    .expect("JSON");
    let victim = pods["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| {
            p["status"]["containerStatuses"][0]["restartCount"]
                .as_i64()
                .unwrap_or(0)
                > 0
        })
        .expect("a restarted pod");
    let name = victim["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    let described = kubectl(&kc, &["describe", "pod", "-n", "shop", &name]);
    for words in [
        "Last State:     Terminated",
        "Reason:       OOMKilled",
        "Exit Code:    137",
        "order-api-v2",
        "memory:  512Mi",
    ] {
        assert!(
            described.contains(words),
            "describe lacks {words:?}:\n{described}"
        );
    }
    let events = kubectl(&kc, &["get", "events", "-n", "shop"]);
    assert!(
        events.contains("BackOff")
            && events.contains("Back-off restarting failed container order-api-v2"),
        "{events}"
    );
    let previous = kubectl(
        &kc,
        &["logs", "-n", "shop", &name, "--previous", "--tail=5"],
    );
    assert!(
        previous.contains("heap close to container limit"),
        "{previous}"
    );
    let top = kubectl(&kc, &["top", "pods", "-n", "shop"]);
    assert!(
        top.starts_with("NAME") && top.contains("payment-service-"),
        "{top}"
    );

    // Writes change the world.
    kubectl(
        &kc,
        &[
            "scale",
            "deployment",
            "order-service",
            "-n",
            "shop",
            "--replicas=5",
        ],
    );
    wait_for(
        "5 order-service replicas in the lab's metrics",
        30,
        &lab,
        || {
            prom(
                &promurl,
                "kube_deployment_spec_replicas{deployment=\"order-service\"}",
            )
            .first()
            .is_some_and(|r| r["value"][1] == "5")
        },
    );
    wait_for("5 order-service pods", 30, &lab, || {
        kubectl(
            &kc,
            &[
                "get",
                "pods",
                "-n",
                "shop",
                "-l",
                "app=order-service",
                "-o",
                "name",
            ],
        )
        .lines()
        .count()
            == 5
    });

    let rs_before = kubectl(
        &kc,
        &[
            "get",
            "rs",
            "-n",
            "shop",
            "-l",
            "app=order-service",
            "-o",
            "name",
        ],
    );
    kubectl(
        &kc,
        &[
            "rollout",
            "restart",
            "deployment/order-service",
            "-n",
            "shop",
        ],
    );
    wait_for("a new ReplicaSet after rollout restart", 30, &lab, || {
        kubectl(
            &kc,
            &[
                "get",
                "rs",
                "-n",
                "shop",
                "-l",
                "app=order-service",
                "-o",
                "name",
            ],
        )
        .lines()
        .count()
            > rs_before.lines().count()
    });
    kubectl(
        &kc,
        &["rollout", "undo", "deployment/order-service", "-n", "shop"],
    );
    let d: Value = serde_json::from_str(&kubectl(
        &kc,
        &[
            "get",
            "deployment",
            "order-service",
            "-n",
            "shop",
            "-o",
            "json",
        ],
    ))
    .expect("JSON");
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_null(),
        "undo went back to the template before the restart: {}",
        d["spec"]["template"]
    );

    kubectl(&kc, &["cordon", "node-a"]);
    assert!(kubectl(&kc, &["get", "nodes"]).contains("SchedulingDisabled"));
    wait_for(
        "node-a unschedulable in the lab's metrics",
        30,
        &lab,
        || {
            prom(&promurl, "kube_node_spec_unschedulable{node=\"node-a\"}")
                .first()
                .is_some_and(|r| r["value"][1] == "1")
        },
    );
    kubectl(&kc, &["uncordon", "node-a"]);

    // Node shells answer the allowlist and refuse the rest.
    let shell = ep["shell"].as_str().expect("shell");
    let df = shell_exec(shell, "node-a", "df -h");
    assert!(
        df["stdout"]
            .as_str()
            .is_some_and(|s| s.contains("Filesystem")),
        "{df}"
    );
    let refused = shell_exec(shell, "node-a", "rm -rf /");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("not an allowed command")),
        "{refused}"
    );

    // The IaC remote clones, with the culprit commit in it.
    let clone = dir.path().join("clone");
    let status = Command::new("git")
        .args(["clone", "-q", ep["git"].as_str().expect("git")])
        .arg(&clone)
        .status()
        .expect("git");
    assert!(status.success());
    let log = Command::new("git")
        .current_dir(&clone)
        .args(["log", "--format=%an|%s"])
        .output()
        .expect("git log");
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains("Alex Chen|order-service: right-size memory limit to cut node costs"),
        "{log}"
    );
}

#[tokio::test]
async fn lab_alerts_become_pagerless_incidents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pagerless = Pagerless::start(&dir.path().join("pagerless"), Some("lab-token")).await;
    let webhook = format!("{}/api/v1/alerts/alertmanager", pagerless.url);
    let _ = free_port();
    let (lab, _) = start_lab(
        &dir.path().join("lab"),
        "order-service-oom",
        &["--webhook", &webhook, "--webhook-token", "lab-token"],
    );
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list: Value = http
            .get(format!("{}/api/v1/incidents", pagerless.url))
            .bearer_auth("lab-token")
            .send()
            .await
            .expect("pagerless")
            .json()
            .await
            .expect("JSON");
        if let Some(inc) = list["incidents"].as_array().and_then(|a| a.first()) {
            assert_eq!(inc["service"], "order-service");
            assert_eq!(inc["namespace"], "shop");
            assert_eq!(inc["severity"], "critical");
            assert!(inc["title"].as_str().is_some_and(|t| {
                t.starts_with("OrderServiceHighLatency: order-service p99 latency is")
            }));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no incident; lab:\n{}\npagerless:\n{}",
            lab.output(),
            pagerless.proc.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `pagerless serve --lab` on the seed scenario at 200x, with an optional
/// configuration file; returns the lab, the server and the data dir.
fn serve_seed(dir: &Path, config: Option<&Path>, env: &[(&str, &str)]) -> (Proc, Proc, String) {
    serve_scenario(dir, "order-service-oom", config, env)
}

/// `pagerless serve --lab` on `scenario` at 200x.
fn serve_scenario(
    dir: &Path,
    scenario: &str,
    config: Option<&Path>,
    env: &[(&str, &str)],
) -> (Proc, Proc, String) {
    let port = free_port();
    let webhook = format!("http://127.0.0.1:{port}/api/v1/alerts/alertmanager");
    // 200x: the seed's alert fires about 7 s after the start.
    let lab_dir = dir.join("lab");
    let (lab, _) = start_lab(
        &lab_dir,
        scenario,
        &["--speed", "200", "--webhook", &webhook],
    );
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let log = data.join("serve.log");
    let out = std::fs::File::create(&log).expect("log");
    let mut cmd = Command::new(support::PAGERLESS);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.envs(env.iter().copied());
    let child = cmd
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--lab"])
        .arg(&lab_dir)
        .env_remove("PAGERLESS_API_TOKEN")
        .env("PAGERLESS_LOG", "info")
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("serve");
    let serve = Proc { child, log };
    (lab, serve, data.to_str().expect("utf-8").to_owned())
}

/// Starts `pagerless serve --lab` again on an existing data dir.
fn serve_again(dir: &Path, config: &Path) -> Proc {
    let data = dir.join("data");
    let log = data.join("serve-again.log");
    let out = std::fs::File::create(&log).expect("log");
    let child = Command::new(support::PAGERLESS)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--lab",
        ])
        .arg(dir.join("lab"))
        .env_remove("PAGERLESS_API_TOKEN")
        .env("PAGERLESS_LOG", "info")
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("serve");
    Proc { child, log }
}

/// Polls `incident show 1 --json` until `done` holds for it.
fn wait_incident(
    d: &str,
    lab: &Proc,
    serve: &Proc,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_cli(
        &["--data-dir", d, "incident", "show", "1", "--json"],
        lab,
        serve,
        what,
        |v| done(&v).then_some(v),
    )
}

/// Incident 1's audit log, once it holds an entry of `kind`.
fn wait_audit(d: &str, lab: &Proc, serve: &Proc, kind: &str, what: &str) -> Vec<Value> {
    wait_cli(
        &[
            "--data-dir",
            d,
            "audit",
            "show",
            "--incident",
            "1",
            "--json",
        ],
        lab,
        serve,
        what,
        |v| {
            let entries: Vec<Value> = serde_json::from_value(v).ok()?;
            entries.iter().any(|e| e["kind"] == kind).then_some(entries)
        },
    )
}

/// Runs a `pagerless … --json` command until `pick` finds what it waits for
/// in the output, for up to two minutes.
fn wait_cli<T>(
    args: &[&str],
    lab: &Proc,
    serve: &Proc,
    what: &str,
    pick: impl Fn(Value) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (ok, out, _) = support::run_cli(args, &[]);
        if ok && let Some(found) = pick(serde_json::from_str(&out).expect("JSON")) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what}; serve:\n{}\nlab:\n{}",
            serve.output(),
            lab.output()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test]
async fn serve_investigates_lab_incidents_as_they_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lab, serve, d) = serve_seed(dir.path(), None, &[]);
    let d = d.as_str();
    let detail = wait_incident(d, &lab, &serve, "no investigation", |v| {
        v["investigations"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    let inv = &detail["investigations"][0];
    assert_eq!(inv["outcome"]["kind"], "diagnosed", "{inv}");
    assert_eq!(
        inv["outcome"]["diagnosis"]["category"],
        "memory_limit_too_low"
    );
    assert_eq!(inv["outcome"]["diagnosis"]["culprit"]["after"], "512Mi");
    assert_eq!(inv["outcome"]["plan"]["fix"]["value"], "2Gi");
    let (ok, text, _) = support::run_cli(&["--data-dir", d, "incident", "show", "1"], &[]);
    assert!(ok);
    assert!(text.contains("Diagnosis (memory_limit_too_low"), "{text}");
    assert!(
        text.contains("Thought:") && text.contains("Action: git.history"),
        "{text}"
    );
    // The built-in policy keeps prod in shadow mode: the scale-out is
    // decided and audited, and the deployment is left as it was.
    let deadline = Instant::now() + Duration::from_secs(60);
    let audit = loop {
        let (ok, audit, _) =
            support::run_cli(&["--data-dir", d, "audit", "show", "--incident", "1"], &[]);
        if ok && audit.contains("response") {
            break audit;
        }
        assert!(
            Instant::now() < deadline,
            "no response; serve:\n{}",
            serve.output()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(audit.contains("shadow"), "{audit}");
    assert!(!audit.contains("action_start"), "{audit}");
    // `act --dry-run` shows the plan and the guard's word without acting.
    let (ok, out, err) = support::run_cli(
        &["--data-dir", d, "act", "--incident", "1", "--dry-run"],
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.contains("scale deployment shop/order-service"), "{out}");
    assert!(out.contains("prod is in shadow mode"), "{out}");
    assert!(out.contains("dry run: nothing was changed"), "{out}");
    let kubeconfig = dir.path().join("lab/kubeconfig");
    let replicas = kubectl(
        kubeconfig.to_str().expect("utf-8"),
        &[
            "-n",
            "shop",
            "get",
            "deployment",
            "order-service",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    );
    assert_eq!(replicas.trim(), "3", "{audit}");
}

/// With the built-in policy prod is in shadow mode: serve records what it
/// would have done and changes nothing. With prod autonomous it scales the
/// deployment through the lab's Kubernetes API, watches p99 come back, and
/// marks the incident mitigated; the audit chain holds every step.
#[tokio::test]
async fn serve_mitigates_the_seed_when_prod_is_autonomous() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = autonomous_config(dir.path());
    let (lab, serve, d) = serve_seed(dir.path(), Some(&config), &[]);
    seed_mitigated(dir.path(), &d, &lab, &serve);
}

/// SIGKILL between a write and its recorded outcome: the scale-out happened,
/// the audit shows a start with no outcome. The next `serve` finds it, looks
/// at the deployment, records it as done and does not do it again.
#[tokio::test]
async fn an_interrupted_write_is_reconciled_not_repeated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = autonomous_config(dir.path());
    let (lab, mut serve, d) = serve_seed(
        dir.path(),
        Some(&config),
        &[("PAGERLESS_FAILPOINT", "after_execute")],
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = serve.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not reach the failpoint:\n{}\nlab:\n{}",
            serve.output(),
            lab.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{}", serve.output());
    let audit_json = |d: &str| -> Vec<Value> {
        let (ok, out, err) = support::run_cli(
            &[
                "--data-dir",
                d,
                "audit",
                "show",
                "--incident",
                "1",
                "--json",
            ],
            &[],
        );
        assert!(ok, "{err}");
        serde_json::from_str(&out).expect("JSON")
    };
    let kinds =
        |entries: &[Value], kind: &str| entries.iter().filter(|e| e["kind"] == kind).count();
    let before = audit_json(&d);
    assert_eq!(kinds(&before, "action_start"), 1);
    assert_eq!(kinds(&before, "action_outcome"), 0);
    let kubeconfig = dir.path().join("lab/kubeconfig");
    let replicas = || {
        kubectl(
            kubeconfig.to_str().expect("utf-8"),
            &[
                "-n",
                "shop",
                "get",
                "deployment",
                "order-service",
                "-o",
                "jsonpath={.spec.replicas}",
            ],
        )
        .trim()
        .to_owned()
    };
    assert_eq!(replicas(), "5");

    let again = serve_again(dir.path(), &config);
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let after = audit_json(&d);
        if kinds(&after, "action_outcome") > 0 {
            break after;
        }
        assert!(
            Instant::now() < deadline,
            "not reconciled:\n{}",
            again.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let outcome = after
        .iter()
        .find(|e| e["kind"] == "action_outcome")
        .expect("outcome");
    assert_eq!(outcome["body"]["outcome"], "reconciled", "{outcome}");
    assert_eq!(outcome["body"]["observed"], "done", "{outcome}");
    assert_eq!(outcome["body"]["request"]["kind"], "scale");
    // Give the restarted server time to misbehave: still one start, still 5.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(kinds(&audit_json(&d), "action_start"), 1);
    assert_eq!(replicas(), "5");
    assert!(
        again.output().contains("reconciled an interrupted scale deployment shop/order-service (incident 1): found done, not repeated"),
        "{}",
        again.output()
    );
    let (ok, out, err) = support::run_cli(&["--data-dir", &d, "audit", "verify"], &[]);
    assert!(ok, "{out}{err}");
}

/// A cordon needs a human even in an autonomous prod: serve files the
/// approval, and `pagerless approve` runs it as the approver through the
/// Kubernetes connection in the configuration, audited.
#[tokio::test]
async fn an_approved_cordon_runs_as_the_approver() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = autonomous_config(dir.path());
    let (lab, serve, d) = serve_scenario(dir.path(), "noisy-neighbour", Some(&config), &[]);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (ok, out, _) = support::run_cli(&["--data-dir", &d, "approvals", "--json"], &[]);
        if ok && out.contains("cordon") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no approval; serve:\n{}\nlab:\n{}",
            serve.output(),
            lab.output()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let kubeconfig = dir.path().join("lab/kubeconfig");
    // approve reads the Kubernetes connection from the configuration.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        format!(
            "{text}tools:\n  kubernetes:\n    kubeconfig: {}\n",
            kubeconfig.display()
        ),
    )
    .expect("config");
    let c = config.to_str().expect("utf-8");
    let (ok, out, err) = support::run_cli(
        &[
            "--config",
            c,
            "--data-dir",
            &d,
            "approve",
            "1",
            "--as",
            "alice",
        ],
        &[],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("is authorized as alice"), "{out}");
    let node = out
        .split("done: cordoned node ")
        .nth(1)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| panic!("{out}"));
    let unschedulable = kubectl(
        kubeconfig.to_str().expect("utf-8"),
        &["get", "node", &node, "-o", "jsonpath={.spec.unschedulable}"],
    );
    assert_eq!(unschedulable.trim(), "true");
    let (ok, audit, _) = support::run_cli(&["--data-dir", &d, "audit", "show", "--json"], &[]);
    assert!(ok);
    let entries: Vec<Value> = serde_json::from_str(&audit).expect("JSON");
    let outcome = entries
        .iter()
        .find(|e| e["kind"] == "action_outcome")
        .expect("an outcome");
    assert_eq!(outcome["identity"], "alice", "{outcome}");
    assert_eq!(outcome["body"]["outcome"], "done", "{outcome}");
}

/// An approval given over the REST API is carried out by `serve` itself: the
/// cordon runs as the approver, is verified, and the incident is settled with
/// a summary, all audited.
#[tokio::test]
async fn serve_carries_out_a_cordon_approved_over_the_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = autonomous_config(dir.path());
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("verify_window_secs: 60", "verify_window_secs: 10"),
    )
    .expect("config");
    let (lab, serve, d) = serve_scenario(dir.path(), "noisy-neighbour", Some(&config), &[]);
    let deadline = Instant::now() + Duration::from_secs(90);
    let url = loop {
        let log = serve.output();
        if let Some(url) = log
            .split("pagerless listening on ")
            .nth(1)
            .and_then(|s| s.lines().next())
        {
            break url.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "serve did not start:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        serve
            .output()
            .contains("approved writes run here, as the approver"),
        "{}",
        serve.output()
    );
    let http = reqwest::Client::new();
    let id = loop {
        let list: Value = http
            .get(format!("{url}/api/v1/approvals"))
            .send()
            .await
            .expect("serve")
            .json()
            .await
            .expect("JSON");
        if let Some(a) = list["approvals"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["request"]["kind"] == "cordon"))
        {
            break a["id"].as_i64().expect("id");
        }
        assert!(
            Instant::now() < deadline,
            "no approval; serve:\n{}\nlab:\n{}",
            serve.output(),
            lab.output()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let resp: Value = http
        .post(format!("{url}/api/v1/approvals/{id}/approve"))
        .json(&serde_json::json!({"approver": "alice"}))
        .send()
        .await
        .expect("serve")
        .json()
        .await
        .expect("JSON");
    assert_eq!(resp["decision"], "allowed", "{resp}");
    assert_eq!(resp["execution"], "queued", "{resp}");

    // A summary is the last thing recorded for each response: the first says
    // it waits for approval, the second is the approved write's.
    let entries: Vec<Value> = wait_cli(
        &[
            "--data-dir",
            &d,
            "audit",
            "show",
            "--incident",
            "1",
            "--json",
        ],
        &lab,
        &serve,
        "no summary of the approved write",
        |v| {
            let entries: Vec<Value> = serde_json::from_value(v).ok()?;
            (entries.iter().filter(|e| e["kind"] == "summary").count() >= 2).then_some(entries)
        },
    );
    let outcome = entries
        .iter()
        .find(|e| e["kind"] == "action_outcome")
        .expect("an outcome");
    assert_eq!(outcome["identity"], "alice", "{outcome}");
    assert_eq!(outcome["body"]["outcome"], "done", "{outcome}");
    let node = outcome["body"]["request"]["target"]["name"]
        .as_str()
        .expect("node")
        .to_owned();
    assert!(entries.iter().any(|e| e["kind"] == "verification"));
    let response = entries
        .iter()
        .rfind(|e| e["kind"] == "response")
        .expect("a response");
    let kind = response["body"]["response"]["kind"]
        .as_str()
        .unwrap_or_default();
    assert!(kind == "mitigated" || kind == "escalated", "{response}");
    let summary = entries
        .iter()
        .rfind(|e| e["kind"] == "summary")
        .and_then(|e| e["body"]["text"].as_str())
        .expect("a summary");
    assert!(
        summary.starts_with(
            "An issue was detected in catalog-api; I diagnosed it as noisy neighbour on"
        ),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("cordoned node {node}")),
        "{summary}"
    );
    let kubeconfig = dir.path().join("lab/kubeconfig");
    let unschedulable = kubectl(
        kubeconfig.to_str().expect("utf-8"),
        &["get", "node", &node, "-o", "jsonpath={.spec.unschedulable}"],
    );
    assert_eq!(unschedulable.trim(), "true");
    let detail = wait_incident(&d, &lab, &serve, "not settled", |v| v["status"] != "open");
    assert!(
        ["mitigated", "escalated", "resolved"]
            .contains(&detail["status"].as_str().unwrap_or_default()),
        "{detail}"
    );
    let (ok, out, err) = support::run_cli(&["--data-dir", &d, "audit", "verify"], &[]);
    assert!(ok, "{out}{err}");
}

/// The seed end to end through GitOps: serve scales out, then opens a pull
/// request on the local forge changing only `resources.limits.memory` back to
/// 2Gi (every other byte of the file as it was), validated, with the trace in
/// its body; `pagerless pr merge` merges it with a real git merge, the lab
/// rolls it out, OOMKills stop, serve reconciles the scale-out, and the fate
/// is "merged unmodified".
#[tokio::test]
async fn the_seed_fix_is_a_pull_request_merged_and_reconciled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = autonomous_config(dir.path());
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        format!(
            "{text}gitops:\n  validate:\n    - git diff --check\n    - test -s charts/order-service/values.yaml\n  poll_secs: 1\n  reviewers:\n    - {{path: charts/, reviewers: [orders-oncall]}}\n"
        ),
    )
    .expect("config");
    let (lab, serve, d) = serve_seed(dir.path(), Some(&config), &[]);
    let pr: Value = wait_cli(
        &["--data-dir", &d, "pr", "list", "--json"],
        &lab,
        &serve,
        "no pull request",
        |list| list.as_array().and_then(|l| l.first().cloned()),
    );
    assert_eq!(pr["forge"], "local");
    assert_eq!(pr["fate"], "open");
    assert_eq!(
        pr["files"],
        serde_json::json!(["charts/order-service/values.yaml"])
    );
    assert_eq!(pr["fix"]["key"], "resources.limits.memory");
    assert_eq!(pr["fix"]["value"], "2Gi");
    assert_eq!(pr["reviewers"], serde_json::json!(["orders-oncall"]));
    let runs = pr["validation"].as_array().expect("validation");
    assert_eq!(runs.len(), 2, "{pr}");
    assert!(runs.iter().all(|r| r["exit_code"] == 0), "{pr}");
    let diff = pr["diff"].as_str().expect("diff");
    let removed: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .collect();
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert_eq!(removed, ["-    memory: 512Mi"], "{diff}");
    assert_eq!(added, ["+    memory: 2Gi"], "{diff}");
    let body = pr["body"].as_str().expect("body");
    assert!(body.contains("<summary>Investigation trace"), "{body}");
    assert!(body.contains("memory limit too low since commit"), "{body}");
    assert!(
        body.contains("scaled deployment shop/order-service 3 → 5"),
        "{body}"
    );
    assert!(body.contains("@orders-oncall"), "{body}");

    // Byte for byte: the proposed file is the base file with that one line changed.
    let remote = pagerless_lab::serve::read_endpoints(&dir.path().join("lab"))
        .expect("endpoints")
        .git;
    let show = |rev: &str| {
        let out = Command::new("git")
            .args(["--git-dir", &remote, "show"])
            .arg(format!("{rev}:charts/order-service/values.yaml"))
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let before = show(pr["base_sha"].as_str().expect("base"));
    let after = show(pr["head_sha"].as_str().expect("head"));
    let before = String::from_utf8(before).expect("utf-8");
    assert_eq!(before.matches("    memory: 512Mi\n").count(), 1, "{before}");
    assert_eq!(
        String::from_utf8(after).expect("utf-8"),
        before.replace("    memory: 512Mi\n", "    memory: 2Gi\n")
    );

    // A human approves: a real merge on main, which the lab rolls out.
    let id = pr["id"].to_string();
    let lab_dir = dir.path().join("lab");
    let (ok, out, err) = support::run_cli(
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "--data-dir",
            &d,
            "pr",
            "approve",
            &id,
            "--as",
            "alice",
            "--lab",
            lab_dir.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("fate: merged_unmodified"), "{out}");
    let kubeconfig = dir.path().join("lab/kubeconfig");
    let kc = kubeconfig.to_str().expect("utf-8");
    wait_for("the 2Gi rollout", 60, &lab, || {
        kubectl(
            kc,
            &[
                "-n",
                "shop",
                "get",
                "deployment",
                "order-service",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].resources.limits.memory}",
            ],
        ) == "2Gi"
    });
    let prometheus = pagerless_lab::serve::read_endpoints(&lab_dir)
        .expect("endpoints")
        .prometheus;
    wait_for("OOMKills to stop", 60, &lab, || {
        prom(
            &prometheus,
            "sum(increase(kube_pod_container_status_restarts_total{container=\"order-api-v2\"}[5m]))",
        )
        .first()
        .and_then(|s| s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()))
        .is_some_and(|v| v == 0.0)
    });
    // serve sees the merge and reconciles the temporary scale-out.
    let pr = wait_cli(
        &["--data-dir", &d, "pr", "show", &id, "--json"],
        &lab,
        &serve,
        "not reconciled",
        |pr| pr["reconciled"].is_string().then_some(pr),
    );
    assert_eq!(pr["fate"], "merged_unmodified", "{pr}");
    let reconciled = pr["reconciled"].as_str().unwrap_or_default();
    // Reverted by pagerless, or already restored by the merged values' rollout.
    assert!(
        reconciled.contains("scaled deployment shop/order-service 5 → 3")
            || reconciled.contains("already so"),
        "{reconciled}"
    );
    let replicas = kubectl(
        kc,
        &[
            "-n",
            "shop",
            "get",
            "deployment",
            "order-service",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    );
    assert_eq!(replicas, "3", "{reconciled}");
    let (ok, audit, _) = support::run_cli(
        &[
            "--data-dir",
            &d,
            "audit",
            "show",
            "--incident",
            "1",
            "--json",
        ],
        &[],
    );
    assert!(ok);
    let entries: Vec<Value> = serde_json::from_str(&audit).expect("JSON");
    let summary = entries
        .iter()
        .rfind(|e| e["kind"] == "summary")
        .and_then(|e| e["body"]["text"].as_str())
        .expect("a summary");
    assert!(
        summary.contains("I opened pull request #1 to set resources.limits.memory to 2Gi"),
        "{summary}"
    );
    let (ok, out, err) = support::run_cli(&["--data-dir", &d, "audit", "verify"], &[]);
    assert!(ok, "{out}{err}");
}

/// A fix the repository's validation rejects is never pushed: the incident
/// is escalated with the validator's own words, though the scale-out worked.
#[tokio::test]
async fn a_fix_the_validation_rejects_escalates_with_its_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = autonomous_config(dir.path());
    let text = std::fs::read_to_string(&config).expect("config");
    // A policy check of the kind teams keep in `make check`.
    let check = "! grep -n 'memory: 2Gi' charts/order-service/values.yaml || { echo 'policy: memory limits above 1Gi need a capacity review' >&2; exit 1; }";
    std::fs::write(
        &config,
        format!(
            "{text}gitops:\n  validate:\n    - \"{}\"\n",
            check.replace('"', "\\\"")
        ),
    )
    .expect("config");
    let (lab, serve, d) = serve_seed(dir.path(), Some(&config), &[]);
    let entries = wait_audit(&d, &lab, &serve, "summary", "no summary");
    let failed = entries
        .iter()
        .find(|e| {
            e["kind"] == "action_outcome" && e["body"]["request"]["kind"] == "open_pull_request"
        })
        .expect("the pull request's outcome");
    assert_eq!(failed["body"]["outcome"], "failed", "{failed}");
    let output = failed["body"]["validation"][0]["output"]
        .as_str()
        .unwrap_or_default();
    assert!(output.contains("need a capacity review"), "{failed}");
    let summary = entries
        .iter()
        .rfind(|e| e["kind"] == "summary")
        .and_then(|e| e["body"]["text"].as_str())
        .expect("summary");
    assert!(
        summary.contains("scaled deployment shop/order-service 3 → 5"),
        "{summary}"
    );
    assert!(
        summary.contains("The permanent fix could not be proposed, so I escalated to a human")
            && summary.contains("need a capacity review"),
        "{summary}"
    );
    assert!(entries.iter().any(|e| e["kind"] == "escalation"));
    // Escalated; or resolved, when the lab's alert cleared (the scale-out
    // worked) before the fix was tried: a resolved incident stays resolved,
    // and the escalation above is what reaches a human.
    let detail = wait_incident(&d, &lab, &serve, "not settled", |v| v["status"] != "open");
    assert!(
        detail["status"] == "escalated" || detail["status"] == "resolved",
        "{detail}"
    );
    let (ok, out, _) = support::run_cli(&["--data-dir", &d, "pr", "list", "--json"], &[]);
    assert!(ok);
    assert_eq!(out.trim(), "[]", "a pull request was opened");
    // Nothing was pushed: the remote has main only.
    let remote = pagerless_lab::serve::read_endpoints(&dir.path().join("lab"))
        .expect("endpoints")
        .git;
    let heads = Command::new("git")
        .args([
            "--git-dir",
            &remote,
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads",
        ])
        .output()
        .expect("git");
    assert_eq!(String::from_utf8_lossy(&heads.stdout).trim(), "main");
}

/// A tiny HTTP receiver standing in for a team's webhook endpoint (a real
/// socket and real HTTP; what it receives is kept).
fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/notices", listener.local_addr().expect("addr"));
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let body = loop {
                let Ok(n) = conn.read(&mut chunk) else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break Some(
                            String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned(),
                        );
                    }
                }
            };
            if let Some(body) = body {
                keep.lock().expect("lock").push(body);
            }
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, got)
}

/// serve sends the seed's summary as a notice to a configured webhook, with
/// the trace link, and audits the delivery.
#[tokio::test]
async fn serve_sends_the_notice_instead_of_a_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = autonomous_config(dir.path());
    let (url, got) = receiver();
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        format!(
            "{text}notify:\n  sinks:\n    - {{name: team-hook, kind: webhook, url: \"{url}\"}}\n"
        ),
    )
    .expect("config");
    let (lab, serve, d) = serve_seed(dir.path(), Some(&config), &[]);
    let entries = wait_audit(
        &d,
        &lab,
        &serve,
        "notification",
        "no notification delivered",
    );
    let delivery = entries
        .iter()
        .find(|e| e["kind"] == "notification")
        .expect("notification");
    assert_eq!(delivery["body"]["sink"], "team-hook", "{delivery}");
    assert_eq!(delivery["body"]["ok"], true, "{delivery}");
    let bodies = got.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let notice: Value = serde_json::from_str(&bodies[0]).expect("JSON");
    assert_eq!(notice["kind"], "resolved_by_agent", "{notice}");
    let summary = notice["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("An issue was detected in order-service; I diagnosed it as memory limit too low since commit"),
        "{summary}"
    );
    assert!(
        summary.contains("scaled deployment shop/order-service 3 → 5"),
        "{summary}"
    );
    assert!(
        notice["trace_url"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/incidents/1"),
        "{notice}"
    );
    assert_eq!(notice["pull_request"]["number"], 1, "{notice}");
}

/// A configuration whose guard runs prod autonomously, verifying quickly.
fn autonomous_config(dir: &Path) -> std::path::PathBuf {
    let policy = dir.join("guardrails.yaml");
    std::fs::write(
        &policy,
        pagerless_guard::policy::DEFAULT.replace("mode: shadow", "mode: autonomous"),
    )
    .expect("policy");
    let config = dir.join("pagerless.yaml");
    std::fs::write(
        &config,
        format!(
            "guard:\n  policy: {}\nact:\n  verify_window_secs: 60\n  verify_interval_secs: 1\n",
            policy.display()
        ),
    )
    .expect("config");
    config
}

/// Asserts the seed was scaled out, verified and audited.
fn seed_mitigated(dir: &Path, d: &str, lab: &Proc, serve: &Proc) {
    // The response is the last audited step; the lab's own resolved
    // notification may land first (the fix worked), so wait on the audit.
    let deadline = Instant::now() + Duration::from_secs(90);
    let audit = loop {
        let (ok, audit, _) =
            support::run_cli(&["--data-dir", d, "audit", "show", "--incident", "1"], &[]);
        if ok && audit.contains("response") {
            break audit;
        }
        assert!(
            Instant::now() < deadline,
            "no response; serve:\n{}\nlab:\n{}",
            serve.output(),
            lab.output()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    for kind in ["decision", "action_start", "action_outcome", "verification"] {
        assert!(audit.contains(kind), "{kind} missing from\n{audit}");
    }
    assert!(
        audit.contains("scaled deployment shop/order-service 3 → 5"),
        "{audit}"
    );
    let detail = wait_incident(d, lab, serve, "not mitigated", |v| {
        // Mitigated by pagerless, or already resolved by its alerts clearing.
        v["status"] == "mitigated" || v["status"] == "resolved"
    });
    assert_eq!(
        detail["investigations"][0]["outcome"]["diagnosis"]["category"],
        "memory_limit_too_low"
    );
    let kubeconfig = dir.join("lab/kubeconfig");
    let replicas = kubectl(
        kubeconfig.to_str().expect("utf-8"),
        &[
            "-n",
            "shop",
            "get",
            "deployment",
            "order-service",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    );
    assert_eq!(replicas.trim(), "5", "{}", serve.output());
    let (ok, out, err) = support::run_cli(&["--data-dir", d, "audit", "verify"], &[]);
    assert!(ok, "{out}{err}");
}

#[test]
fn investigate_an_alertmanager_payload_against_a_lab() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab_dir = dir.path().join("lab");
    let (_lab, _) = start_lab(&lab_dir, "order-service-oom", &[]);
    // The lab runs fast to its end; give it a moment to get past the commit.
    std::thread::sleep(Duration::from_secs(2));
    let expr = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"order-service\"}[5m]))) > 0.3";
    let generator = pagerless_lab::alerts::generator_url("http://prometheus", expr);
    let payload = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "pagerless",
        "groupKey": "{}:{alertname=\"OrderServiceHighLatency\"}",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "OrderServiceHighLatency", "service": "order-service", "namespace": "shop", "severity": "critical"},
            "annotations": {"summary": "p99 high"},
            "startsAt": "2026-11-27T20:00:00Z",
            "generatorURL": generator,
            "fingerprint": "abcdef0123456789"
        }]
    });
    let file = dir.path().join("alert.json");
    std::fs::write(&file, payload.to_string()).expect("write");
    let (ok, out, err) = support::run_cli(
        &[
            "investigate",
            "--alert",
            file.to_str().expect("utf-8"),
            "--lab",
            lab_dir.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("Investigating OrderServiceHighLatency (order-service)"),
        "{out}"
    );
    assert!(out.contains("Diagnosis (memory_limit_too_low"), "{out}");
    assert!(
        out.contains("fix:      charts/order-service/values.yaml resources.limits.memory = 2Gi"),
        "{out}"
    );

    let (ok, _, err) = support::run_cli(
        &["investigate", "--alert", file.to_str().expect("utf-8")],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("nothing to investigate with"), "{err}");
}

#[test]
fn an_alert_no_playbook_explains_is_escalated_with_what_was_seen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab_dir = dir.path().join("lab");
    let (_lab, ep) = start_lab(&lab_dir, "control-transient-blip", &[]);
    std::thread::sleep(Duration::from_secs(2));
    let status = Command::new("curl")
        .args([
            "-sS",
            &format!("{}/lab/v1/status", ep["prometheus"].as_str().expect("url")),
        ])
        .output()
        .expect("curl");
    let status: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    // Plenty of traffic is not a fault any playbook knows.
    let payload = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "pagerless",
        "groupKey": "{}:{alertname=\"OrderTrafficHigh\"}",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "OrderTrafficHigh", "service": "order-service", "namespace": "shop"},
            "annotations": {"pagerless_query": "sum(rate(http_requests_total{service=\"order-service\"}[2m])) > 100"},
            "startsAt": status["now"],
            "fingerprint": "abcdef0123456781"
        }]
    });
    let file = dir.path().join("alert.json");
    std::fs::write(&file, payload.to_string()).expect("write");
    let (ok, out, err) = support::run_cli(
        &[
            "investigate",
            "--alert",
            file.to_str().expect("utf-8"),
            "--lab",
            lab_dir.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("No playbook fits. Ranking the series of shop"),
        "{out}"
    );
    assert!(out.contains("Action: prometheus.correlate"), "{out}");
    assert!(out.contains("Action: git.history {\"limit\":5}"), "{out}");
    assert!(out.contains("Escalated: no confident root cause"), "{out}");
    assert!(
        out.contains("Initial import of service charts"),
        "what changed is in the reason: {out}"
    );
}
