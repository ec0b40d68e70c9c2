//! The Nezha importer on small slices of the real data (`tests/fixtures/nezha`):
//! series, alerts derived from the symptom, labels, topology, logs, and the
//! metrics loaded by real `promtool`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use pagerless_bundle::nezha::{self, ImportOptions};
use pagerless_bundle::{Bundle, BundleError, FaultType, Label, Topology, copy_without_label};

fn fixture(name: &str) -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nezha")
        .join(name)
}

fn promtool() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`promtool` is not installed: run `apt-get install -y prometheus`")
        })
}

fn samples(dir: &Path) -> Vec<pagerless_bundle::Sample> {
    pagerless_bundle::read_openmetrics(&dir.join("metrics.om"))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn online_boutique_slice_gives_two_valid_bundles() {
    let out = tempfile::tempdir().unwrap();
    let report = nezha::import(&fixture("ob-mini"), None, out.path()).unwrap();
    assert_eq!(report.system, "online-boutique");
    assert_eq!(
        report.bundles,
        vec![
            "ob-mini-0543-emailservice",
            "ob-mini-0635-productcatalogservice"
        ]
    );
    assert_eq!((report.fired, report.not_fired), (1, 1));
    assert!(report.skipped.is_empty());

    // productcatalogservice, cpu_consumed at 06:35:39. Computed by hand from
    // front_service.csv: the minute 06:36:19.672 has p90 1.9706 s; the 60
    // minutes 05:36..06:35 have median 0.50955 s and MAD 0.07083, so the
    // threshold is 0.50955 + 3 * 0.07083 = 0.72205 s (06:35:19 had 0.509).
    let dir = out.path().join("ob-mini-0635-productcatalogservice");
    let b = Bundle::read(&dir).unwrap();
    assert_eq!(b.system, "online-boutique");
    assert!(b.alert.fired);
    assert_eq!(b.alert.alertname, "EntryLatencyHigh");
    assert_eq!(b.alert.starts_at.to_rfc3339(), "2022-08-22T06:36:20+00:00");
    assert_eq!(
        b.alert.expr,
        "max(entry_latency_seconds{quantile=\"0.9\",service=\"frontend\"}) > 0.722"
    );
    assert_eq!(b.alert.labels["service"], "frontend");
    assert_eq!(b.alert.labels["namespace"], "online-boutique");
    assert_eq!(b.alert.labels["severity"], "critical");
    assert_eq!(b.window.start.to_rfc3339(), "2022-08-22T05:35:00+00:00");
    // Clipped to the slice's last sample (06:50:20.349), rounded up to the second.
    assert_eq!(b.window.end.to_rfc3339(), "2022-08-22T06:50:21+00:00");
    let label = Label::read(&dir).unwrap().unwrap();
    assert_eq!(label.service, "productcatalogservice");
    assert_eq!(label.pod, "productcatalogservice-668d5f85fb-wckp8");
    assert_eq!(label.fault_type, FaultType::Cpu);
    assert_eq!(label.detail, "cpu_consumed");
    assert_eq!(label.inject_time.to_rfc3339(), "2022-08-22T06:35:39+00:00");

    // emailservice, network_delay at 05:43:48: nothing crosses the rule
    // before 05:53:48 (the next firing is 06:10:19), so the alert stands at
    // inject + 2 min and says so.
    let dir = out.path().join("ob-mini-0543-emailservice");
    let b = Bundle::read(&dir).unwrap();
    assert!(!b.alert.fired);
    assert_eq!(b.alert.starts_at.to_rfc3339(), "2022-08-22T05:45:48+00:00");
    assert!(
        b.alert
            .expr
            .starts_with("max(entry_latency_seconds{quantile=\"0.9\",service=\"frontend\"}) > 0.")
    );
    let label = Label::read(&dir).unwrap().unwrap();
    assert_eq!(label.fault_type, FaultType::NetworkDelay);

    // Series: names and labels.
    let all = samples(&dir);
    let names: BTreeSet<&str> = all.iter().map(|s| s.name.as_str()).collect();
    for name in [
        "pod_cpu_usage_cores",
        "pod_cpu_usage_ratio",
        "container_memory_working_set_bytes",
        "pod_memory_usage_ratio",
        "pod_server_latency_seconds",
        "pod_client_latency_seconds",
        "pod_workload_ops",
        "pod_success_ratio",
        "node_cpu_usage_ratio",
        "entry_success_ratio",
        "entry_latency_seconds",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    let cpu = all
        .iter()
        .find(|s| s.name == "pod_cpu_usage_ratio" && s.labels["service"] == "emailservice")
        .unwrap();
    assert_eq!(cpu.labels["pod"], "emailservice-55fdc5b988-f6xth");
    assert_eq!(cpu.labels["namespace"], "online-boutique");
    // dependency.csv places emailservice on 33.33.33.116.
    assert_eq!(cpu.labels["node"], "33.33.33.116");
    assert!(cpu.value <= 1.0, "a ratio, not a percentage: {}", cpu.value);
    let p90: Vec<_> = all
        .iter()
        .filter(|s| s.name == "entry_latency_seconds" && s.labels["quantile"] == "0.9")
        .collect();
    assert_eq!(p90[0].labels["service"], "frontend");
    assert!(
        p90.iter()
            .all(|s| s.ts >= b.window.start.timestamp() as f64)
    );
    // The frontend's first row in the window: 04:43:19.6, MemoryUsage(Mi) in bytes.
    let mem = all
        .iter()
        .find(|s| {
            s.name == "container_memory_working_set_bytes" && s.labels["service"] == "frontend"
        })
        .unwrap();
    assert!(mem.value > 1_000_000.0, "{}", mem.value);

    // Topology: the calls only, not the placements on nodes.
    let topo = Topology::read(&dir.join("topology.json")).unwrap();
    assert_eq!(topo.edges.len(), 14);
    assert!(
        topo.edges
            .iter()
            .any(|e| e.source == "frontend" && e.target == "checkoutservice" && e.weight == 1.0)
    );
    assert!(!topo.edges.iter().any(|e| e.target.starts_with("33.")));

    // Real promtool loads every bundle's metrics without losing a sample.
    for name in &report.bundles {
        let dir = out.path().join(name);
        let data = tempfile::tempdir().unwrap();
        let run = Command::new(promtool())
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(dir.join("metrics.om"))
            .arg(data.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "promtool refused {name}: {stdout}{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let loaded: usize = stdout
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(4)?.parse::<usize>().ok())
            .sum();
        assert_eq!(loaded, samples(&dir).len(), "{stdout}");
    }

    // The investigation's copy has everything but the label.
    let copy = out.path().join("copy");
    copy_without_label(&out.path().join(&report.bundles[1]), &copy).unwrap();
    assert!(!copy.join("label.json").exists());
    assert_eq!(Label::read(&copy).unwrap(), None);
    Bundle::read(&copy).unwrap();
}

#[test]
fn existing_cases_are_not_overwritten_without_force() {
    let out = tempfile::tempdir().unwrap();
    nezha::import(&fixture("ob-mini"), None, out.path()).unwrap();
    let err = nezha::import(&fixture("ob-mini"), None, out.path()).unwrap_err();
    assert!(matches!(err, BundleError::Exists { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    let force = ImportOptions { force: true };
    let again = nezha::import_with(&fixture("ob-mini"), None, out.path(), &force, &mut |_| {});
    assert_eq!(again.unwrap().bundles.len(), 2);
}

#[test]
fn train_ticket_slice_has_logs_and_no_topology() {
    let out = tempfile::tempdir().unwrap();
    let report = nezha::import(&fixture("tt-mini"), None, out.path()).unwrap();
    assert_eq!(report.system, "train-ticket");
    assert_eq!(report.bundles, vec!["tt-mini-0934-ts-food-service"]);
    let dir = out.path().join(&report.bundles[0]);
    let b = Bundle::read(&dir).unwrap();
    assert_eq!(b.alert.labels["service"], "ts-ui-dashboard");
    assert_eq!(b.topology, None);
    // By hand from the slice's front_service.csv: fault at 09:34:19; the
    // first minute after it above its baseline is 09:39:09.050 (p90 1.0 s;
    // the 19 minutes 09:20..09:38 have median 0.45 and MAD 0.02917, so the
    // threshold is 0.45 + 3 * 0.02917 = 0.5375 s).
    assert!(b.alert.fired);
    assert_eq!(b.alert.starts_at.to_rfc3339(), "2023-01-29T09:39:10+00:00");
    assert!(
        b.alert
            .expr
            .ends_with("service=\"ts-ui-dashboard\"}) > 0.5375")
            || b.alert
                .expr
                .ends_with("service=\"ts-ui-dashboard\"}) > 0.5374"),
        "{}",
        b.alert.expr
    );
    assert_eq!(
        b.logs,
        vec![
            "logs/ts-food-service-f5756978c-k8vqf.log",
            "logs/ts-preserve-service-b5ccf8557-j4txs.log"
        ]
    );
    let text = std::fs::read_to_string(dir.join(&b.logs[0])).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("2023-01-29T09:3"), "{first}");
    assert!(first.contains("Z "), "{first}");
    assert!(
        !first.contains("\"stream\""),
        "the docker wrapper is removed: {first}"
    );
    // The node comes from the logs' Node column.
    let s = samples(&dir);
    let food = s
        .iter()
        .find(|s| s.name == "node_cpu_usage_ratio" && s.labels["service"] == "ts-food-service")
        .unwrap();
    assert!(food.labels["node"].starts_with("33.33.33."));
    assert_eq!(
        Label::read(&dir).unwrap().unwrap().fault_type,
        FaultType::Error
    );
}

#[test]
fn a_malformed_csv_is_named_with_its_line() {
    let day = tempfile::tempdir().unwrap();
    let day_dir = day.path().join("ob-broken");
    std::fs::create_dir_all(day_dir.join("metric")).unwrap();
    for entry in std::fs::read_dir(fixture("ob-mini/metric")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), day_dir.join("metric").join(entry.file_name())).unwrap();
    }
    std::fs::copy(
        fixture("ob-mini/fault_list.json"),
        day_dir.join("fault_list.json"),
    )
    .unwrap();
    let csv = day_dir.join("metric/frontend-579b9bff58-t2dbm_metric.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[3] = lines[3].replacen(
        ",frontend-579b9bff58-t2dbm,",
        ",frontend-579b9bff58-t2dbm,oops",
        1,
    );
    std::fs::write(&csv, lines.join("\n")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = nezha::import(&day_dir, None, out.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("frontend-579b9bff58-t2dbm_metric.csv:4:"),
        "{err}"
    );
    assert!(err.contains("`CpuUsage(m)` is `oops"), "{err}");
}
