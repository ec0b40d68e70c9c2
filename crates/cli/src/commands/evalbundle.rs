//! `pagerless eval BUNDLE_DIR...`: each evaluation bundle replayed through
//! the ordinary investigation and scored against its label. The metrics go
//! into a real Prometheus (`promtool` backfill, then Prometheus on a loopback
//! port) or, with `--embedded`, into the lab's metric store behind the same
//! HTTP API; the investigation runs on a copy of the bundle without its
//! label, with "now" pinned to the alert's moment.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use comfy_table::{Table, presets::NOTHING};
use pagerless_agent::{AlertContext, Budget, Clock, EmbeddedReasoner, investigate};
use pagerless_bundle::{Bundle, Label, copy_without_label, read_openmetrics};
use pagerless_model::{Environment, Outcome};
use pagerless_tools::config::ToolsConfig;

use super::score::{Scored, Stats, summarize};

/// Replays never wait: the recorded world does not move.
struct Frozen;

#[async_trait]
impl Clock for Frozen {
    async fn wait(&self, _secs: u64) {}
}

/// The bundles under `paths`: each a bundle, or a folder of bundles.
fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.join("bundle.json").is_file() {
            out.push(p.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("{}: not a bundle and not a folder of bundles", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|d| d.join("bundle.json").is_file())
            .collect();
        if found.is_empty() {
            bail!("{}: no bundle.json in it or in its folders", p.display());
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// A metric backend serving one bundle's series.
enum Backend {
    Embedded(tokio::task::JoinHandle<()>),
    Real(std::process::Child),
}

impl Drop for Backend {
    fn drop(&mut self) {
        match self {
            Backend::Embedded(h) => h.abort(),
            Backend::Real(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// The lab's metric store, loaded from the bundle and served on loopback,
/// answering "now" as the alert's moment.
async fn embedded(metrics: &Path, now_ms: i64) -> Result<(String, Backend)> {
    let mut store = pagerless_promql::SeriesStore::new();
    for sample in read_openmetrics(metrics)? {
        let s = sample?;
        let mut labels = s.labels;
        labels.insert("__name__".into(), s.name);
        store.append(&labels, (s.ts * 1000.0).round() as i64, s.value);
    }
    let api =
        pagerless_promql::PromApi::new(Arc::new(RwLock::new(store)), Arc::new(move || now_ms));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, pagerless_promql::router(api)).await;
    });
    Ok((url, Backend::Embedded(task)))
}

/// A real Prometheus over the bundle's metrics: `promtool tsdb
/// create-blocks-from openmetrics`, then Prometheus on a free port.
async fn real(metrics: &Path, dir: &Path) -> Result<(String, Backend)> {
    let data = dir.join("prometheus");
    let out = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(metrics)
        .arg(&data)
        .output()
        .context("cannot run promtool: install Prometheus (apt-get install prometheus), or pass --embedded")?;
    if !out.status.success() {
        bail!(
            "promtool could not load {}: {}",
            metrics.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global: {}\n")?;
    let child = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context(
            "cannot start prometheus: install it (apt-get install prometheus), or pass --embedded",
        )?;
    let backend = Backend::Real(child);
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{url}/-/ready")).send().await
            && r.status().is_success()
        {
            return Ok((url, backend));
        }
        if Instant::now() > deadline {
            bail!("Prometheus did not become ready on {url}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Replays one bundle; returns its score.
async fn case(dir: &Path, embedded_store: bool, traces: Option<&Path>) -> Result<Scored> {
    let label = Label::read(dir)?.with_context(|| {
        format!(
            "{}: no label.json, so nothing to score against",
            dir.display()
        )
    })?;
    // The investigation sees a copy without the label.
    let work = tempfile::tempdir()?;
    let blind = work.path().join("case");
    copy_without_label(dir, &blind)?;
    let bundle = Bundle::read(&blind)?;
    let metrics = blind.join(&bundle.metrics);
    let at = bundle.alert.starts_at;
    let (url, _backend) = if embedded_store {
        embedded(&metrics, at.timestamp_millis()).await?
    } else {
        real(&metrics, work.path()).await?
    };
    let mut prometheus = pagerless_tools::prometheus::PrometheusConfig::new(url);
    prometheus.at = Some(at.timestamp_millis() as f64 / 1000.0);
    let logs = (!bundle.logs.is_empty()).then(|| {
        pagerless_tools::logs::LogsConfig::new(
            bundle
                .logs
                .iter()
                .map(|l| {
                    let name = Path::new(l)
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| l.clone());
                    (name, blind.join(l).to_string_lossy().into_owned())
                })
                .collect(),
        )
    });
    let toolbox = ToolsConfig {
        prometheus: Some(prometheus),
        kubernetes: None,
        git: None,
        shell: None,
        postgres: None,
        logs,
    }
    .toolbox()
    .await?;
    let a = &bundle.alert;
    let alert = AlertContext {
        incident_id: None,
        alertname: a.alertname.clone(),
        service: a.labels.get("service").cloned(),
        namespace: a.labels.get("namespace").cloned(),
        node: a.labels.get("node").cloned(),
        environment: Environment::new(a.labels.get("env").map_or("production", String::as_str)),
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        starts_at: at,
        symptom: Some(a.expr.clone()),
    };
    let mut reasoner = EmbeddedReasoner::builtin()?;
    let inv = investigate(
        &mut reasoner,
        &toolbox,
        &alert,
        &Budget::default(),
        &Frozen,
        &mut (),
    )
    .await;
    if let Some(traces) = traces {
        let path = traces.join(format!("{}.json", bundle.name));
        std::fs::write(&path, serde_json::to_vec_pretty(&inv)?)
            .with_context(|| format!("cannot write the trace {}", path.display()))?;
    }
    let (ranked, predicted_type) = match &inv.outcome {
        Outcome::Diagnosed { diagnosis, .. } if !diagnosis.suspects.is_empty() => (
            diagnosis
                .suspects
                .iter()
                .map(|s| s.service.clone())
                .collect(),
            diagnosis
                .suspects
                .first()
                .and_then(|s| s.fault_type.clone()),
        ),
        Outcome::Diagnosed { diagnosis, .. } => (
            diagnosis
                .target
                .as_ref()
                .map(|t| vec![t.name.clone()])
                .unwrap_or_default(),
            None,
        ),
        // A weak ranking still says where to look first.
        Outcome::Escalated { suspects, .. } => (
            suspects.iter().map(|s| s.service.clone()).collect(),
            suspects.first().and_then(|s| s.fault_type.clone()),
        ),
    };
    Ok(Scored {
        name: bundle.name.clone(),
        system: bundle.system.clone(),
        fault_type: label.fault_type.as_str().to_owned(),
        expected: label.service.clone(),
        ranked,
        predicted_type,
        fired: a.fired,
        millis: inv.duration_ms,
    })
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn stats_row(table: &mut Table, what: &str, s: &Stats) {
    table.add_row([
        what.to_owned(),
        s.cases.to_string(),
        pct(s.ac1),
        pct(s.ac3),
        pct(s.ac5),
        pct(s.avg5),
        pct(s.fault_type_accuracy),
        format!("{:.0} ms", s.mean_millis),
        format!("{:.0} ms", s.p95_millis),
    ]);
}

/// `pagerless eval BUNDLE_DIR... [--embedded] [--json]`.
pub async fn run(
    paths: &[PathBuf],
    embedded_store: bool,
    json: bool,
    traces: Option<&Path>,
) -> Result<ExitCode> {
    let dirs = find(paths)?;
    if let Some(traces) = traces {
        std::fs::create_dir_all(traces)
            .with_context(|| format!("cannot create {}", traces.display()))?;
    }
    let mut cases = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let t0 = Instant::now();
        let scored = case(dir, embedded_store, traces)
            .await
            .with_context(|| format!("case {}", dir.display()))?;
        if !json {
            eprintln!(
                "[{}/{}] {}: expected {}, ranked {} ({:.1} s)",
                i + 1,
                dirs.len(),
                scored.name,
                scored.expected,
                match scored.rank() {
                    Some(r) => format!("#{r}"),
                    None => "not at all".into(),
                },
                t0.elapsed().as_secs_f64()
            );
        }
        cases.push(scored);
    }
    let summary = summarize(&cases);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "cases": cases,
                "overall": summary.overall,
                "systems": summary.systems,
                "fault_types": summary.fault_types,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_style(NOTHING).set_header([
        "CASE",
        "SYSTEM",
        "FAULT",
        "EXPECTED",
        "RANKED (TOP 3)",
        "RANK",
        "ALERT",
        "MS",
    ]);
    for c in &cases {
        table.add_row([
            c.name.clone(),
            c.system.clone(),
            c.fault_type.clone(),
            c.expected.clone(),
            c.ranked
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            c.rank().map_or("-".into(), |r| r.to_string()),
            if c.fired {
                "fired".into()
            } else {
                "not fired".into()
            },
            format!("{:.0}", c.millis),
        ]);
    }
    println!("{}\n", table.trim_fmt());
    let mut table = Table::new();
    table.load_style(NOTHING).set_header([
        "",
        "CASES",
        "AC@1",
        "AC@3",
        "AC@5",
        "AVG@5",
        "FAULT TYPE",
        "MEAN TIME",
        "P95 TIME",
    ]);
    stats_row(&mut table, "overall", &summary.overall);
    for (k, s) in &summary.systems {
        stats_row(&mut table, k, s);
    }
    for (k, s) in &summary.fault_types {
        stats_row(&mut table, k, s);
    }
    println!("{}", table.trim_fmt());
    Ok(ExitCode::SUCCESS)
}
