//! `pagerless record --incident ID` end to end, against real parts: a Nezha
//! case imported from the fixtures and backfilled into a real Prometheus
//! (promtool), an incident stored through intake's parser with the case's
//! alert, a real investigation of it (`pagerless investigate`), then the
//! recording. The recorded bundle holds the namespace's series sample for
//! sample, promtool loads every sample of it, the log source is cut to the
//! window, the label is the investigation's conclusion, and `pagerless eval`
//! ranks it as it ranks the original case. Errors leave `--out` untouched.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use pagerless_bundle::{Bundle, BundleAlert, Label, read_openmetrics};
use pagerless_store::{SqliteStore, Store};
use serde_json::Value;

const CASE: &str = "ob-cpu-0436-cartservice";

/// Imports the `ob-cpu` fixture day into `out` and returns the one case's folder.
fn import_case(out: &Path) -> PathBuf {
    support::import_nezha("ob-cpu", out);
    out.join(CASE)
}

/// Stores the alert as Alertmanager would deliver it, through intake's parser.
async fn store_incident(db: &Path, alert: &BundleAlert) -> pagerless_model::IncidentId {
    let mut labels = alert.labels.clone();
    labels.insert("alertname".into(), alert.alertname.clone());
    let active = pagerless_lab::alerts::Active {
        labels,
        annotations: alert.annotations.clone(),
        active_at: alert.starts_at,
        fired_at: Some(alert.starts_at),
        resolved_at: None,
        value: 0.0,
    };
    let webhook = pagerless_lab::alerts::webhook(
        &alert.alertname,
        &[active],
        "http://alertmanager:9093",
        &pagerless_lab::alerts::generator_url("http://prometheus:9090", &alert.expr),
    );
    let batch = pagerless_server::intake::alertmanager::parse(
        webhook.to_string().as_bytes(),
        &pagerless_model::LabelMapping::default(),
        Utc::now(),
    )
    .unwrap();
    let store = SqliteStore::open(db).await.unwrap();
    store.ingest(batch).await.unwrap().incidents[0]
}

fn config(path: &Path, data: &Path, prometheus: Option<(&str, DateTime<Utc>)>, log: &Path) {
    let mut text = format!(
        "data_dir: {}\ninvestigation:\n  auto: false\n  max_wait_secs: 0\ntools:\n  logs:\n    sources:\n      app: {}\n",
        data.display(),
        log.display()
    );
    if let Some((url, at)) = prometheus {
        // `at` pins the investigation's "now" to the alert; recording ignores it.
        text.push_str(&format!(
            "  prometheus:\n    url: {url}\n    at: {}\n",
            at.timestamp()
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Every sample of a metrics file as (name, labels, ms, value bits).
fn samples(path: &Path) -> BTreeSet<(String, String, i64, u64)> {
    read_openmetrics(path)
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            (
                s.name,
                format!("{:?}", s.labels),
                (s.ts * 1000.0).round() as i64,
                s.value.to_bits(),
            )
        })
        .collect()
}

fn eval(dir: &Path) -> Value {
    let (ok, stdout, stderr) = support::run_cli(&["eval", dir.to_str().unwrap(), "--json"], &[]);
    assert!(ok, "{stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The total NUM SAMPLES of the blocks promtool reports.
fn promtool_samples(metrics: &Path, data: &Path) -> u64 {
    let promtool = support::require_binary("promtool", "prometheus");
    let out = std::process::Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(metrics)
        .arg(data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "promtool refused the recording: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines
        .find(|l| l.starts_with("BLOCK ULID"))
        .unwrap_or_else(|| panic!("no block table: {stdout}"))
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let col = header.iter().position(|c| *c == "NUM SAMPLES").unwrap();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .nth(col)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{l}"))
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incident_recorded_from_a_real_prometheus_replays_as_the_original() {
    support::require_binary("promtool", "prometheus");
    support::require_binary("prometheus", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let case = import_case(&dir.path().join("bundles"));
    let original = Bundle::read(&case).unwrap();
    let prometheus =
        support::Prometheus::backfilled(&dir.path().join("prometheus"), &case.join("metrics.om"))
            .await;

    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let id = store_incident(&data.join("pagerless.db"), &original.alert).await;
    assert_eq!(id.0, 1);

    // A log source with records before, in and after the window.
    let at = original.alert.starts_at;
    let (start, end) = (at - Duration::minutes(65), at + Duration::minutes(15));
    let log = dir.path().join("app.log");
    std::fs::write(
        &log,
        format!(
            "{} INFO too early\n{} INFO first in the window\n{} ERROR slow cart\n\tat Cart.get(Cart.java:42)\n{} INFO too late\n",
            rfc(start - Duration::seconds(1)),
            rfc(start),
            // The alert's moment at another offset: written back in UTC.
            at.with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
                .to_rfc3339_opts(SecondsFormat::Millis, false),
            rfc(end + Duration::milliseconds(1)),
        ),
    )
    .unwrap();
    let cfg = dir.path().join("pagerless.yaml");
    config(&cfg, &data, Some((&prometheus.url, at)), &log);
    let cfg = cfg.to_str().unwrap();

    // A real investigation, stored with the incident.
    let (ok, stdout, stderr) = support::run_cli(
        &["--config", cfg, "investigate", "--incident", "1", "--json"],
        &[],
    );
    assert!(ok, "{stdout}{stderr}");
    let inv: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let top = &inv["outcome"]["diagnosis"]["suspects"][0];
    assert!(top["service"].is_string(), "no diagnosis to label: {inv}");

    let out = dir.path().join("recorded");
    let (ok, stdout, stderr) = support::run_cli(
        &[
            "--config",
            cfg,
            "record",
            "--incident",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("recorded incident 1 into"), "{stdout}");
    assert!(
        stderr.contains("metrics: {namespace=\"online-boutique\"}"),
        "{stderr}"
    );

    // bundle.json: the incident's alert, the window around it.
    let recorded = Bundle::read(&out).unwrap();
    assert_eq!(recorded.name, "recorded");
    assert_eq!(recorded.system, "online-boutique");
    assert_eq!(recorded.window.start, start);
    assert_eq!(recorded.window.end, end);
    assert_eq!(recorded.alert, original.alert);
    assert_eq!(recorded.logs, ["logs/app.log"]);

    // metrics.om: the namespace's series, sample for sample (the window
    // covers the case's whole window, so every sample of it).
    assert!(recorded.window.start <= original.window.start);
    assert!(recorded.window.end >= original.window.end);
    let source = samples(&case.join("metrics.om"));
    let copy = samples(&out.join("metrics.om"));
    let series = |s: &BTreeSet<(String, String, i64, u64)>| {
        s.iter()
            .map(|(n, l, _, _)| (n.clone(), l.clone()))
            .collect::<BTreeSet<_>>()
            .len()
    };
    assert!(source.len() > 1000, "{}", source.len());
    assert_eq!(series(&copy), series(&source));
    assert_eq!(copy.len(), source.len());
    assert!(copy == source, "the recording differs from the source");
    assert!(stdout.contains(&format!(
        "{} series, {} samples",
        series(&source),
        source.len()
    )));

    // promtool loads every sample of it.
    assert_eq!(
        promtool_samples(&out.join("metrics.om"), &dir.path().join("check")),
        source.len() as u64
    );

    // logs/app.log: the records in the window, one line each, RFC 3339 UTC first.
    assert_eq!(
        std::fs::read_to_string(out.join("logs/app.log")).unwrap(),
        format!(
            "{} INFO first in the window\n{} ERROR slow cart\\n\tat Cart.get(Cart.java:42)\n",
            start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        )
    );

    // label.json: what the investigation concluded.
    let label = Label::read(&out).unwrap().unwrap();
    assert_eq!(label.service, top["service"].as_str().unwrap());
    assert_eq!(Some(label.fault_type.as_str()), top["fault_type"].as_str());
    assert_eq!(label.inject_time, at);
    assert_eq!(
        label.detail,
        inv["outcome"]["diagnosis"]["category"].as_str().unwrap()
    );

    // Replayed, the recording ranks as the original does.
    let before = eval(&case);
    let after = eval(&out);
    assert_eq!(
        after["cases"][0]["ranked"][0], before["cases"][0]["ranked"][0],
        "original: {before}\nrecorded: {after}"
    );
    assert_eq!(after["cases"][0]["expected"], label.service.as_str());
    assert_eq!(before["cases"][0]["ranked"][0], "cartservice", "{before}");

    // A second recording into the same folder needs --force, and gets it.
    let bundle_json = std::fs::read_to_string(out.join("bundle.json")).unwrap();
    let args = [
        "--config",
        cfg,
        "record",
        "--incident",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--service",
        "by-hand",
    ];
    let (ok, _, stderr) = support::run_cli(&args, &[]);
    assert!(!ok);
    assert!(stderr.contains("is not empty: pass --force"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(out.join("bundle.json")).unwrap(),
        bundle_json
    );
    std::fs::write(out.join("NOTES.md"), "kept").unwrap();
    let mut forced = args.to_vec();
    forced.push("--force");
    let (ok, stdout, stderr) = support::run_cli(&forced, &[]);
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(Label::read(&out).unwrap().unwrap().service, "by-hand");
    assert_eq!(
        std::fs::read_to_string(out.join("NOTES.md")).unwrap(),
        "kept"
    );
    assert_eq!(samples(&out.join("metrics.om")), source);
    // No staging folder is left behind.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("recording"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_clear_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let alert = BundleAlert {
        alertname: "EntryLatencyHigh".into(),
        labels: [
            ("namespace".to_owned(), "shop".to_owned()),
            ("service".to_owned(), "frontend".to_owned()),
        ]
        .into(),
        annotations: Default::default(),
        starts_at: Utc::now() - Duration::hours(1),
        expr: "max(latency_seconds) > 1".into(),
        fired: true,
    };
    store_incident(&data.join("pagerless.db"), &alert).await;
    let log = dir.path().join("app.log");
    // A port nobody listens on.
    let port = support::free_port();
    let unreachable = format!("http://127.0.0.1:{port}");
    let cfg = dir.path().join("pagerless.yaml");
    config(&cfg, &data, Some((&unreachable, alert.starts_at)), &log);
    let cfg = cfg.to_str().unwrap();
    let out = dir.path().join("out");
    let record = |cfg: &str, id: &str| {
        support::run_cli(
            &[
                "--config",
                cfg,
                "record",
                "--incident",
                id,
                "--out",
                out.to_str().unwrap(),
            ],
            &[],
        )
    };
    let entries = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };

    let (ok, stdout, stderr) = record(cfg, "2");
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("no incident 2 in the store"), "{stderr}");
    assert_eq!(entries(), ["data", "pagerless.yaml"]);

    let (ok, _, stderr) = record(cfg, "1");
    assert!(!ok);
    assert!(stderr.contains("Prometheus is unreachable"), "{stderr}");
    assert!(stderr.contains(&unreachable), "{stderr}");
    assert_eq!(entries(), ["data", "pagerless.yaml"]);

    let bare = dir.path().join("bare.yaml");
    config(&bare, &data, None, &log);
    let (ok, _, stderr) = record(bare.to_str().unwrap(), "1");
    assert!(!ok);
    assert!(stderr.contains("no Prometheus configured"), "{stderr}");
    assert!(!out.exists());

    // A folder that is not empty is refused before anything else is looked at.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("mine.txt"), "x").unwrap();
    let (ok, _, stderr) = record(cfg, "2");
    assert!(!ok);
    assert!(stderr.contains("is not empty: pass --force"), "{stderr}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);

    let (ok, _, stderr) = support::run_cli(
        &[
            "--config",
            cfg,
            "record",
            "--incident",
            "1",
            "--before",
            "1w",
        ],
        &[],
    );
    assert!(!ok);
    assert!(stderr.contains("--before"), "{stderr}");
}
