//! The one place for test harness code that starts real processes: the
//! `pagerless` binary under test, and real Alertmanager.
//!
//! A test that needs a server binary fails with a message naming the package
//! when it is missing; it never passes silently (`.ci/run` installs them).

#![allow(dead_code)]

pub mod webdriver;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const PAGERLESS: &str = env!("CARGO_BIN_EXE_pagerless");

/// A Nezha fixture day of the bundle crate, found at run time (the test
/// binary may be built from another checkout of the same sources).
pub fn nezha_fixture(name: &str) -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../bundle/tests/fixtures/nezha")
        .join(name)
}

/// Runs `pagerless import nezha` on a fixture day into `out`, which must succeed.
pub fn import_nezha(name: &str, out: &Path) {
    let day = nezha_fixture(name);
    let (ok, stdout, stderr) = run_cli(
        &[
            "import",
            "nezha",
            day.to_str().expect("a UTF-8 path"),
            "--out",
            out.to_str().expect("a UTF-8 path"),
        ],
        &[],
    );
    assert!(ok, "{stdout}{stderr}");
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Finds `name` on PATH, or fails the test saying how to install it.
pub fn require_binary(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed: run `apt-get install -y {package}` (.ci/run does)")
        })
}

/// Polls `url` until it answers 2xx or `timeout` passes.
pub async fn wait_ready(url: &str, timeout: Duration, what: &str, log: &Path) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(resp) = http.get(url).send().await
            && resp.status().is_success()
        {
            return;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} not ready at {url} after {timeout:?}; its log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process' combined output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `cmd` with its output in `log`.
pub fn spawn(mut cmd: Command, log: PathBuf) -> Proc {
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    Proc { child, log }
}

/// `pagerless serve` on a free port.
pub struct Pagerless {
    pub proc: Proc,
    pub url: String,
    pub data_dir: PathBuf,
}

impl Pagerless {
    /// Starts `pagerless --data-dir DIR serve` on a free loopback port, with
    /// `token` as PAGERLESS_API_TOKEN when given, and waits until it is ready.
    pub async fn start(data_dir: &Path, token: Option<&str>) -> Pagerless {
        let port = free_port();
        let mut cmd = Command::new(PAGERLESS);
        cmd.arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("PAGERLESS_CONFIG")
            .env_remove("PAGERLESS_API_TOKEN")
            .env("PAGERLESS_LOG", "info");
        if let Some(t) = token {
            cmd.env("PAGERLESS_API_TOKEN", t);
        }
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log = data_dir.join(format!("serve-{port}.log"));
        let proc = spawn(cmd, log.clone());
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(
            &format!("{url}/readyz"),
            Duration::from_secs(20),
            "pagerless",
            &log,
        )
        .await;
        Pagerless {
            proc,
            url,
            data_dir: data_dir.to_owned(),
        }
    }
}

/// A real Prometheus (Debian's `prometheus`) with a given configuration.
pub struct Prometheus {
    pub proc: Proc,
    pub url: String,
}

impl Prometheus {
    /// Starts Prometheus in `dir` with `config` (a prometheus.yml's text) on
    /// `port`, alerts re-sent every second, and waits until it is ready.
    pub async fn start(dir: &Path, config: &str, port: u16) -> Prometheus {
        Self::start_with(dir, config, port, &[]).await
    }

    /// Starts Prometheus over the samples of an OpenMetrics file, loaded
    /// with `promtool tsdb create-blocks-from openmetrics` (as `pagerless
    /// eval` does) and kept however old they are, on a free port.
    pub async fn backfilled(dir: &Path, metrics: &Path) -> Prometheus {
        let promtool = require_binary("promtool", "prometheus");
        let out = Command::new(promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(metrics)
            .arg(dir.join("data"))
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool refused {}: {}",
            metrics.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self::start_with(
            dir,
            "global: {}\n",
            free_port(),
            &["--storage.tsdb.retention.time=100y"],
        )
        .await
    }

    async fn start_with(dir: &Path, config: &str, port: u16, extra: &[&str]) -> Prometheus {
        let bin = require_binary("prometheus", "prometheus");
        std::fs::create_dir_all(dir.join("data")).expect("prometheus dir");
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).expect("prometheus config");
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--web.external-url=http://127.0.0.1:{port}"))
            .arg("--rules.alert.resend-delay=1s")
            .args(extra);
        let log = dir.join("prometheus.log");
        let proc = spawn(cmd, log.clone());
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(
            &format!("{url}/-/ready"),
            Duration::from_secs(20),
            "prometheus",
            &log,
        )
        .await;
        Prometheus { proc, url }
    }
}

/// A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) whose
/// one receiver is a pagerless webhook.
pub struct Alertmanager {
    pub proc: Proc,
    pub url: String,
}

impl Alertmanager {
    /// Starts Alertmanager in `dir`, grouping by alertname and service, flushing
    /// every second, sending to `webhook` with `token` as bearer credentials.
    pub async fn start(dir: &Path, webhook: &str, token: &str) -> Alertmanager {
        let bin = require_binary("prometheus-alertmanager", "prometheus-alertmanager");
        let port = free_port();
        std::fs::create_dir_all(dir.join("data")).expect("alertmanager dir");
        let config = format!(
            r#"route:
  receiver: pagerless
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: pagerless
    webhook_configs:
      - url: {webhook}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"#
        );
        let config_path = dir.join("alertmanager.yml");
        std::fs::write(&config_path, config).expect("alertmanager config");
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--web.external-url=http://127.0.0.1:{port}"))
            .arg("--cluster.listen-address=");
        let log = dir.join("alertmanager.log");
        let proc = spawn(cmd, log.clone());
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(
            &format!("{url}/-/ready"),
            Duration::from_secs(20),
            "alertmanager",
            &log,
        )
        .await;
        Alertmanager { proc, url }
    }

    /// Posts alerts to Alertmanager's own API, `POST /api/v2/alerts`.
    pub async fn post_alerts(&self, alerts: &serde_json::Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(alerts)
            .send()
            .await
            .expect("alertmanager answers");
        assert!(
            resp.status().is_success(),
            "alertmanager refused alerts: {}",
            resp.status()
        );
    }
}

/// Runs the `pagerless` binary to completion with `args`; returns (exit ok, stdout, stderr).
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(PAGERLESS);
    cmd.args(args)
        .env_remove("PAGERLESS_CONFIG")
        .env_remove("PAGERLESS_API_TOKEN")
        .env_remove("PAGERLESS_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run pagerless");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A lab scenario served on loopback and stepped to its first alert, with a
/// toolbox reading it and the alert as pagerless would receive it.
pub struct LabAtAlert {
    pub lab: std::sync::Arc<pagerless_lab::serve::LabHandle>,
    pub alert: pagerless_agent::AlertContext,
    pub webhook: serde_json::Value,
    pub toolbox: pagerless_tools::Toolbox,
    pub scenario: pagerless_lab::Scenario,
    pub dir: tempfile::TempDir,
}

pub async fn lab_at_alert(name: &str) -> LabAtAlert {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = pagerless_lab::find_scenario(name).expect("scenario");
    let world =
        pagerless_lab::world::World::new(scenario.clone(), Some(&dir.path().join("iac")), None)
            .expect("world");
    let lab = std::sync::Arc::new(
        pagerless_lab::serve::LabHandle::serve(world, dir.path(), false, None)
            .await
            .expect("serve"),
    );
    let (alertname, alerts) = loop {
        let changes = lab.step().expect("step");
        if let Some(c) = changes
            .into_iter()
            .find(|(_, a)| a.iter().any(|x| x.resolved_at.is_none()))
        {
            break c;
        }
    };
    let ep = lab.endpoints().clone();
    let rule = scenario
        .alerts
        .iter()
        .find(|r| r.name == alertname)
        .expect("rule");
    let webhook = pagerless_lab::alerts::webhook(
        &alertname,
        &alerts,
        &ep.prometheus,
        &pagerless_lab::alerts::generator_url(&ep.prometheus, &rule.expr),
    );
    let toolbox = pagerless_tools::config::ToolsConfig {
        prometheus: Some(pagerless_tools::prometheus::PrometheusConfig::new(
            ep.prometheus.clone(),
        )),
        kubernetes: Some(pagerless_tools::kubernetes::KubernetesConfig {
            kubeconfig: Some(ep.kubeconfig.clone().into()),
            ..Default::default()
        }),
        git: Some(pagerless_tools::git::GitConfig::new(ep.git.clone())),
        shell: None,
        postgres: None,
        logs: None,
    }
    .toolbox()
    .await
    .expect("toolbox");
    let labels = alerts[0].labels.clone();
    let alert = pagerless_agent::AlertContext {
        incident_id: None,
        alertname,
        service: labels.get("service").cloned(),
        namespace: labels.get("namespace").cloned(),
        node: labels.get("node").cloned(),
        environment: pagerless_model::Environment::prod(),
        labels,
        annotations: alerts[0].annotations.clone(),
        starts_at: lab.world().lock().expect("lock").now(),
        symptom: Some(rule.expr.clone()),
    };
    LabAtAlert {
        lab,
        alert,
        webhook,
        toolbox,
        scenario,
        dir,
    }
}
