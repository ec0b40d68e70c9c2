//! The Nezha importer: one day of the Nezha dataset (IntelligentDDS/Nezha,
//! Online Boutique and Train Ticket under injected faults) becomes one
//! bundle per labelled fault. The mapping of every column to a Prometheus
//! series is in `docs/bundles.md`.
//!
//! Quirks of the data this handles: the `TimeStamp` column is wrong for some
//! pods (1861140279 for 1661140279), so times come from the `Time` text
//! column; `inject_timestamp` in `fault_list.json` is off by hours for Train
//! Ticket, so injection times come from `inject_time` (UTC); `dependency.csv`
//! mixes calls (service → service) with placements (service → node IP), and
//! Train Ticket has none; pod metric rows carry node usage without the
//! node's name; a few log records have a `Timestamp` without a zone (UTC,
//! like the others). The alert of a case is derived from the entry service's
//! symptom series alone (see [`crate::alert_rule`]); the fault's time only
//! decides which firing belongs to which case.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::Deserialize;

use crate::alert_rule::{self, Firing, FiringKind, MinuteSample, RuleSettings};
use crate::bundle::{self, Bundle, BundleAlert, Edge, FaultType, Label, Topology, Window};
use crate::openmetrics::{MetricKind, OpenMetricsWriter};
use crate::{BundleError, csv};

/// The per-call latency family (`source_50.csv`, `destination_50.csv`).
pub const EDGE_LATENCY: &str = "edge_latency_seconds";

/// Minutes of data kept before the fault.
const BEFORE_MINUTES: i64 = 60;
/// Minutes of data kept after the fault.
const AFTER_MINUTES: i64 = 15;
/// A firing belongs to a fault when it comes less than this many minutes after it.
const ALERT_WITHIN_MINUTES: i64 = 10;
/// Where the alert stands, after the fault, when the rule never fired.
const FALLBACK_MINUTES: i64 = 2;

/// The services of Online Boutique (the `ob-*` days).
const ONLINE_BOUTIQUE: [&str; 12] = [
    "frontend",
    "cartservice",
    "checkoutservice",
    "currencyservice",
    "emailservice",
    "paymentservice",
    "productcatalogservice",
    "recommendationservice",
    "shippingservice",
    "adservice",
    "redis-cart",
    "loadgenerator",
];

/// Which level a pod CSV column describes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Pod,
    Node,
}

/// One pod CSV column: its series family, an extra label, the factor to base units.
struct Column {
    csv: &'static str,
    family: &'static str,
    quantile: Option<&'static str>,
    scale: f64,
    level: Level,
}

const fn col(csv: &'static str, family: &'static str, scale: f64) -> Column {
    Column {
        csv,
        family,
        quantile: None,
        scale,
        level: Level::Pod,
    }
}

const fn q(csv: &'static str, family: &'static str, quantile: &'static str) -> Column {
    Column {
        csv,
        family,
        quantile: Some(quantile),
        scale: 1.0,
        level: Level::Pod,
    }
}

const fn node(csv: &'static str, family: &'static str, scale: f64) -> Column {
    Column {
        csv,
        family,
        quantile: None,
        scale,
        level: Level::Node,
    }
}

/// The pod CSV columns, in the order their families are written.
const COLUMNS: [Column; 20] = [
    col("CpuUsage(m)", "pod_cpu_usage_cores", 0.001),
    col("CpuUsageRate(%)", "pod_cpu_usage_ratio", 0.01),
    col(
        "MemoryUsage(Mi)",
        "container_memory_working_set_bytes",
        1_048_576.0,
    ),
    col("MemoryUsageRate(%)", "pod_memory_usage_ratio", 0.01),
    col("SyscallRead", "pod_syscall_reads", 1.0),
    col("SyscallWrite", "pod_syscall_writes", 1.0),
    col(
        "NetworkReceiveBytes",
        "pod_network_receive_bytes_per_second",
        1.0,
    ),
    col(
        "NetworkTransmitBytes",
        "pod_network_transmit_bytes_per_second",
        1.0,
    ),
    q(
        "PodClientLatencyP90(s)",
        "pod_client_latency_seconds",
        "0.9",
    ),
    q(
        "PodClientLatencyP95(s)",
        "pod_client_latency_seconds",
        "0.95",
    ),
    q(
        "PodClientLatencyP99(s)",
        "pod_client_latency_seconds",
        "0.99",
    ),
    q(
        "PodServerLatencyP90(s)",
        "pod_server_latency_seconds",
        "0.9",
    ),
    q(
        "PodServerLatencyP95(s)",
        "pod_server_latency_seconds",
        "0.95",
    ),
    q(
        "PodServerLatencyP99(s)",
        "pod_server_latency_seconds",
        "0.99",
    ),
    col("PodWorkload(Ops)", "pod_workload_ops", 1.0),
    col("PodSuccessRate(%)", "pod_success_ratio", 0.01),
    node("NodeCpuUsageRate(%)", "node_cpu_usage_ratio", 0.01),
    node("NodeMemoryUsageRate(%)", "node_memory_usage_ratio", 0.01),
    node(
        "NodeNetworkReceiveBytes",
        "node_network_receive_bytes_per_second",
        1.0,
    ),
    // Never present so far; kept so that the node's transmit side maps if it appears.
    node(
        "NodeNetworkTransmitBytes",
        "node_network_transmit_bytes_per_second",
        1.0,
    ),
];

/// The entry service's columns in `front_service.csv`.
const ENTRY_COLUMNS: [(&str, &str, Option<&str>, f64); 5] = [
    ("SuccessRate(%)", "entry_success_ratio", None, 0.01),
    ("LatencyP50(s)", "entry_latency_seconds", Some("0.5"), 1.0),
    ("LatencyP90(s)", "entry_latency_seconds", Some("0.9"), 1.0),
    ("LatencyP95(s)", "entry_latency_seconds", Some("0.95"), 1.0),
    ("LatencyP99(s)", "entry_latency_seconds", Some("0.99"), 1.0),
];

/// How an import behaves.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Replace case directories that already exist and are not empty
    /// (default: refuse, before writing anything).
    pub force: bool,
}

/// One imported case, as reported while importing.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    /// The case's name (its directory under the output).
    pub name: String,
    /// The alert's name.
    pub alertname: String,
    /// Whether the rule fired (false: the alert stands at a fixed offset).
    pub fired: bool,
    /// Minutes from the injection to the alert's `starts_at`.
    pub minutes_after_injection: f64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    /// The system the day belongs to (`online-boutique`, `train-ticket`).
    pub system: String,
    /// The bundles written, by name, in fault order.
    pub bundles: Vec<String>,
    /// How many cases have an alert that fired.
    pub fired: usize,
    /// How many cases have an alert placed at the fallback offset.
    pub not_fired: usize,
    /// Faults without a bundle: (fault, reason).
    pub skipped: Vec<(String, String)>,
    /// Every written case, in fault order.
    pub cases: Vec<CaseSummary>,
    /// Things worth knowing about the input (ignored columns, duplicate folders, ...).
    pub notes: Vec<String>,
}

impl ImportReport {
    /// The median minutes from injection to alert over the cases whose rule fired.
    pub fn median_minutes_to_alert(&self) -> Option<f64> {
        let mut v: Vec<f64> = self
            .cases
            .iter()
            .filter(|c| c.fired)
            .map(|c| c.minutes_after_injection)
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        })
    }
}

/// Imports the Nezha day at `day_dir` into `out` (one directory per case),
/// refusing to overwrite existing cases. `fault_free` is the dataset's
/// fault-free folder (or its copy of this day), checked and reported on.
pub fn import(
    day_dir: &Path,
    fault_free: Option<&Path>,
    out: &Path,
) -> Result<ImportReport, BundleError> {
    import_with(
        day_dir,
        fault_free,
        out,
        &ImportOptions::default(),
        &mut |_| {},
    )
}

/// [`import`] with options, calling `progress` after each case is written.
pub fn import_with(
    day_dir: &Path,
    fault_free: Option<&Path>,
    out: &Path,
    options: &ImportOptions,
    progress: &mut dyn FnMut(&CaseSummary),
) -> Result<ImportReport, BundleError> {
    let day = Day::load(day_dir)?;
    let mut report = ImportReport {
        system: day.system.to_owned(),
        notes: day.notes.clone(),
        ..ImportReport::default()
    };
    if let Some(ff) = fault_free {
        report.notes.push(check_fault_free(day_dir, &day.name, ff)?);
    }
    let firings = alert_rule::evaluate(&day.minutes, &RuleSettings::default());
    let mut plans = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for fault in &day.faults {
        let id = format!("{} {}", fault.pod, fault.time.format("%H:%M:%S"));
        match plan_case(&day, fault, &firings) {
            Ok(mut plan) => {
                let n = names.entry(plan.bundle.name.clone()).or_insert(0);
                *n += 1;
                if *n > 1 {
                    plan.bundle.name = format!("{}-{n}", plan.bundle.name);
                }
                plans.push(plan);
            }
            Err(reason) => report.skipped.push((id, reason)),
        }
    }
    for plan in &plans {
        let dir = out.join(&plan.bundle.name);
        if dir.exists() && !bundle::is_empty_dir(&dir)? && !options.force {
            return Err(BundleError::Exists { path: dir });
        }
    }
    for plan in plans {
        let summary = write_case(&day, &plan, out)?;
        if summary.fired {
            report.fired += 1;
        } else {
            report.not_fired += 1;
        }
        report.bundles.push(summary.name.clone());
        progress(&summary);
        report.cases.push(summary);
    }
    Ok(report)
}

/// A labelled fault.
struct Fault {
    time: DateTime<Utc>,
    pod: String,
    kind: String,
}

/// One pod's metric rows.
struct PodMetrics {
    pod: String,
    service: String,
    times: Vec<DateTime<Utc>>,
    /// Per entry of [`COLUMNS`]: the value of each row (NaN when missing).
    values: Vec<Option<Vec<f64>>>,
}

/// One call's median latency over time, from `source_50.csv` (as the
/// caller measures it) or `destination_50.csv` (as the callee serves it).
struct EdgeLatency {
    source: String,
    destination: String,
    /// `source` or `destination`: which side measured it.
    reporter: &'static str,
    times: Vec<DateTime<Utc>>,
    values: Vec<f64>,
}

/// Everything read from one day's folder.
struct Day {
    name: String,
    system: &'static str,
    entry: &'static str,
    pods: Vec<PodMetrics>,
    /// The entry service's rows: times and per [`ENTRY_COLUMNS`] values.
    entry_times: Vec<DateTime<Utc>>,
    entry_values: Vec<Vec<f64>>,
    minutes: Vec<MinuteSample>,
    calls: Vec<Edge>,
    edge_latencies: Vec<EdgeLatency>,
    nodes: HashMap<String, String>,
    logs: PodLogs,
    faults: Vec<Fault>,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    notes: Vec<String>,
}

#[derive(Deserialize)]
struct FaultEntry {
    inject_time: String,
    inject_pod: String,
    inject_type: String,
}

impl Day {
    fn load(dir: &Path) -> Result<Day, BundleError> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "nezha".to_owned());
        let metric_dir = dir.join("metric");
        if !metric_dir.is_dir() {
            return Err(BundleError::dataset(
                &metric_dir,
                "missing: a Nezha day has a `metric/` folder with one <pod>_metric.csv per pod",
            ));
        }
        let mut notes = Vec::new();
        let mut pod_files = Vec::new();
        for entry in fs::read_dir(&metric_dir).map_err(|e| BundleError::io(&metric_dir, e))? {
            let entry = entry.map_err(|e| BundleError::io(&metric_dir, e))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if let Some(pod) = file.strip_suffix("_metric.csv") {
                pod_files.push((pod.to_owned(), entry.path()));
            }
        }
        pod_files.sort();
        if pod_files.is_empty() {
            return Err(BundleError::dataset(
                &metric_dir,
                "no <pod>_metric.csv files",
            ));
        }
        let pod_names: Vec<&str> = pod_files.iter().map(|(p, _)| p.as_str()).collect();
        let (system, entry) = detect_system(&pod_names).ok_or_else(|| {
            BundleError::dataset(
                &metric_dir,
                "cannot tell the system: pods are neither all `ts-*` (Train Ticket) nor Online Boutique services",
            )
        })?;
        let folder_says = if name.starts_with("tt-") {
            Some("train-ticket")
        } else if name.starts_with("ob-") {
            Some("online-boutique")
        } else {
            None
        };
        if folder_says.is_some_and(|s| s != system) {
            notes.push(format!(
                "the folder name `{name}` suggests another system; the pod names say {system}"
            ));
        }
        let mut pods = Vec::new();
        for (pod, path) in &pod_files {
            pods.push(read_pod(path, pod, &mut notes)?);
        }
        let (entry_times, entry_values) = read_entry(&metric_dir.join("front_service.csv"))?;
        let minutes: Vec<MinuteSample> = entry_times
            .iter()
            .enumerate()
            .map(|(i, &time)| MinuteSample {
                time,
                p90: entry_values[2][i],
                success: entry_values[0][i],
            })
            .collect();
        let (calls, mut nodes) = read_dependencies(&metric_dir.join("dependency.csv"))?;
        let services: Vec<&str> = pods.iter().map(|p| p.service.as_str()).collect();
        let mut edge_latencies = Vec::new();
        for (file, reporter) in [
            ("source_50.csv", "source"),
            ("destination_50.csv", "destination"),
        ] {
            let path = metric_dir.join(file);
            if path.is_file() {
                edge_latencies.extend(read_edge_latencies(&path, reporter, &services, &mut notes)?);
            }
        }
        let logs = read_logs(dir, &mut nodes, &mut notes)?;
        let faults = read_faults(&dir.join("fault_list.json"))?;
        let first = pods
            .iter()
            .filter_map(|p| p.times.first())
            .chain(entry_times.first())
            .min()
            .copied();
        let last = pods
            .iter()
            .filter_map(|p| p.times.last())
            .chain(entry_times.last())
            .max()
            .copied();
        let (Some(first), Some(last)) = (first, last) else {
            return Err(BundleError::dataset(
                &metric_dir,
                "the metric files have no rows",
            ));
        };
        Ok(Day {
            name,
            system,
            entry,
            pods,
            entry_times,
            entry_values,
            minutes,
            calls,
            edge_latencies,
            nodes,
            logs,
            faults,
            first,
            last,
            notes,
        })
    }
}

/// Decides the system from the pod names: all `ts-*` is Train Ticket (entry
/// `ts-ui-dashboard`); only Online Boutique's services is Online Boutique
/// (entry `frontend`).
fn detect_system(pods: &[&str]) -> Option<(&'static str, &'static str)> {
    let services: Vec<String> = pods.iter().map(|p| service_of(p)).collect();
    if services.iter().all(|s| s.starts_with("ts-")) {
        return services
            .iter()
            .any(|s| s == "ts-ui-dashboard")
            .then_some(("train-ticket", "ts-ui-dashboard"));
    }
    if services
        .iter()
        .all(|s| ONLINE_BOUTIQUE.contains(&s.as_str()))
        && services.iter().any(|s| s == "frontend")
    {
        return Some(("online-boutique", "frontend"));
    }
    None
}

/// The service of a pod: its name without the ReplicaSet hash and the pod
/// suffix (`frontend-579b9bff58-t2dbm` → `frontend`), or without the
/// ordinal of a StatefulSet pod (`redis-0` → `redis`).
pub fn service_of(pod: &str) -> String {
    let parts: Vec<&str> = pod.split('-').collect();
    let alnum = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    if parts.len() >= 3 {
        let suffix = parts[parts.len() - 1];
        let hash = parts[parts.len() - 2];
        if suffix.len() == 5 && alnum(suffix) && (6..=10).contains(&hash.len()) && alnum(hash) {
            return parts[..parts.len() - 2].join("-");
        }
    }
    if parts.len() >= 2 && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit()) {
        return parts[..parts.len() - 1].join("-");
    }
    pod.to_owned()
}

/// Parses the `Time` column: `2022-08-22 03:51:19.57 +0000 UTC m=+0.08`.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let mut parts = text.split_whitespace();
    let date = parts.next()?;
    let time = parts.next()?;
    let offset = parts.next()?;
    DateTime::parse_from_str(
        &format!("{date} {time} {offset}"),
        "%Y-%m-%d %H:%M:%S%.f %z",
    )
    .ok()
    .map(|t| t.with_timezone(&Utc))
}

fn read_csv(path: &Path) -> Result<Vec<csv::Record>, BundleError> {
    let text = fs::read_to_string(path).map_err(|e| BundleError::io(path, e))?;
    csv::parse(&text, path)
}

fn csv_err(path: &Path, line: usize, reason: impl Into<String>) -> BundleError {
    BundleError::Csv {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// A CSV's header, the times of its rows, and how many rows were dropped.
type Rows = (Vec<String>, Vec<DateTime<Utc>>, usize);

/// Log lines by pod, sorted by time.
type PodLogs = BTreeMap<String, Vec<(DateTime<Utc>, String)>>;

/// Reads rows: checks the field count, parses `Time`, and hands each row to
/// `take` in time order (rows that do not advance time are dropped, counted).
fn read_rows(
    path: &Path,
    required: &[&str],
    take: impl FnMut(&HashMap<&str, usize>, &csv::Record, DateTime<Utc>) -> Result<(), BundleError>,
) -> Result<Rows, BundleError> {
    rows_of(path, &read_csv(path)?, required, take)
}

/// [`read_rows`] over records already read from `path`.
fn rows_of(
    path: &Path,
    records: &[csv::Record],
    required: &[&str],
    mut take: impl FnMut(&HashMap<&str, usize>, &csv::Record, DateTime<Utc>) -> Result<(), BundleError>,
) -> Result<Rows, BundleError> {
    let Some((header, rows)) = records.split_first() else {
        return Err(csv_err(path, 1, "empty file: expected a header line"));
    };
    let index: HashMap<&str, usize> = header
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| (f.trim(), i))
        .collect();
    for name in required {
        if !index.contains_key(name) {
            return Err(csv_err(
                path,
                1,
                format!("the header has no `{name}` column"),
            ));
        }
    }
    // `Time` in the pods' files, `time` in the per-call ones.
    let time_col = header
        .fields
        .iter()
        .position(|f| f.trim().eq_ignore_ascii_case("time"))
        .ok_or_else(|| csv_err(path, 1, "the header has no `Time` column"))?;
    let mut times: Vec<DateTime<Utc>> = Vec::with_capacity(rows.len());
    let mut dropped = 0;
    for row in rows {
        if row.fields.len() == 1 && row.fields[0].trim().is_empty() {
            continue;
        }
        if row.fields.len() != header.fields.len() {
            return Err(csv_err(
                path,
                row.line,
                format!(
                    "{} fields, the header has {}",
                    row.fields.len(),
                    header.fields.len()
                ),
            ));
        }
        let text = &row.fields[time_col];
        let time = parse_time(text).ok_or_else(|| {
            csv_err(
                path,
                row.line,
                format!("`Time` is `{text}`, expected `2022-08-22 03:51:19.57 +0000 UTC ...`"),
            )
        })?;
        if times.last().is_some_and(|&t| time <= t) {
            dropped += 1;
            continue;
        }
        take(&index, row, time)?;
        times.push(time);
    }
    Ok((header.fields.clone(), times, dropped))
}

fn parse_value(path: &Path, line: usize, column: &str, text: &str) -> Result<f64, BundleError> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("nan") {
        return Ok(f64::NAN);
    }
    t.parse::<f64>()
        .map_err(|_| csv_err(path, line, format!("`{column}` is `{t}`, not a number")))
}

fn read_pod(path: &Path, pod: &str, notes: &mut Vec<String>) -> Result<PodMetrics, BundleError> {
    let mut values: Vec<Option<Vec<f64>>> = vec![None; COLUMNS.len()];
    let (header, times, dropped) = read_rows(path, &[], |index, row, _| {
        for (i, c) in COLUMNS.iter().enumerate() {
            if let Some(&col) = index.get(c.csv) {
                let v = parse_value(path, row.line, c.csv, &row.fields[col])? * c.scale;
                values[i].get_or_insert_with(Vec::new).push(v);
            }
        }
        Ok(())
    })?;
    let mut unknown: Vec<&str> = header
        .iter()
        .map(|h| h.trim())
        .filter(|h| {
            !COLUMNS.iter().any(|c| c.csv == *h) && !["Time", "TimeStamp", "PodName"].contains(h)
        })
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        notes.push(format!(
            "{}: columns not mapped: {}",
            path.display(),
            unknown.join(", ")
        ));
    }
    if dropped > 0 {
        notes.push(format!(
            "{}: {dropped} rows dropped whose Time did not advance",
            path.display()
        ));
    }
    Ok(PodMetrics {
        pod: pod.to_owned(),
        service: service_of(pod),
        times,
        values,
    })
}

type EntryRows = (Vec<DateTime<Utc>>, Vec<Vec<f64>>);

fn read_entry(path: &Path) -> Result<EntryRows, BundleError> {
    if !path.is_file() {
        return Err(BundleError::dataset(
            path,
            "missing: the entry service's symptom series are needed for the alert",
        ));
    }
    let required: Vec<&str> = ENTRY_COLUMNS.iter().map(|c| c.0).collect();
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); ENTRY_COLUMNS.len()];
    let (_, times, _) = read_rows(path, &required, |index, row, _| {
        for (i, (column, _, _, scale)) in ENTRY_COLUMNS.iter().enumerate() {
            let text = &row.fields[index[column]];
            values[i].push(parse_value(path, row.line, column, text)? * scale);
        }
        Ok(())
    })?;
    if times.is_empty() {
        return Err(csv_err(path, 2, "no rows"));
    }
    Ok((times, values))
}

/// `dependency.csv`: service → service rows are calls; service → IP rows
/// say which node a service runs on.
fn read_dependencies(path: &Path) -> Result<(Vec<Edge>, HashMap<String, String>), BundleError> {
    let mut calls = Vec::new();
    let mut nodes = HashMap::new();
    if !path.is_file() {
        return Ok((calls, nodes));
    }
    let records = read_csv(path)?;
    for row in records.iter().skip(1) {
        let [source, target, weight] = row.fields.as_slice() else {
            if row.fields.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            return Err(csv_err(
                path,
                row.line,
                "expected 3 fields: Source,Target,Weight",
            ));
        };
        let weight = parse_value(path, row.line, "Weight", weight)?;
        if target.parse::<std::net::IpAddr>().is_ok() {
            // A service with several placements (the load generator) gets none.
            nodes
                .entry(source.clone())
                .and_modify(|n: &mut String| n.clear())
                .or_insert_with(|| target.clone());
        } else {
            calls.push(Edge {
                source: source.clone(),
                target: target.clone(),
                weight: if weight.is_nan() { 1.0 } else { weight },
            });
        }
    }
    nodes.retain(|_, n| !n.is_empty());
    Ok((calls, nodes))
}

/// `source_50.csv` / `destination_50.csv`: a `time` column (any case), a
/// `timestamp` column (ignored, like the pods' `TimeStamp`), and one column
/// per call named `<caller>_<callee>`, split where both sides are services
/// of the day (service names may hold `_` themselves).
fn read_edge_latencies(
    path: &Path,
    reporter: &'static str,
    services: &[&str],
    notes: &mut Vec<String>,
) -> Result<Vec<EdgeLatency>, BundleError> {
    let records = read_csv(path)?;
    let Some(header) = records.first() else {
        return Err(csv_err(path, 1, "empty file: expected a header line"));
    };
    let mut edges: Vec<(usize, EdgeLatency)> = Vec::new();
    let mut unknown = Vec::new();
    for (i, name) in header.fields.iter().enumerate() {
        let name = name.trim();
        if name.eq_ignore_ascii_case("time") || name.eq_ignore_ascii_case("timestamp") {
            continue;
        }
        let split = name.match_indices('_').find_map(|(at, _)| {
            let (a, b) = (&name[..at], &name[at + 1..]);
            (services.contains(&a) && services.contains(&b)).then_some((a, b))
        });
        match split {
            Some((a, b)) => edges.push((
                i,
                EdgeLatency {
                    source: a.to_owned(),
                    destination: b.to_owned(),
                    reporter,
                    times: Vec::new(),
                    values: Vec::new(),
                },
            )),
            None => unknown.push(name.to_owned()),
        }
    }
    if !unknown.is_empty() {
        notes.push(format!(
            "{}: columns that are not `<caller>_<callee>` of known services: {}",
            path.display(),
            unknown.join(", ")
        ));
    }
    let (_, _, dropped) = rows_of(path, &records, &[], |_, row, time| {
        for (col, edge) in &mut edges {
            let v = parse_value(path, row.line, &header.fields[*col], &row.fields[*col])?;
            if !v.is_nan() {
                edge.times.push(time);
                edge.values.push(v);
            }
        }
        Ok(())
    })?;
    if dropped > 0 {
        notes.push(format!(
            "{}: {dropped} rows dropped whose time did not advance",
            path.display()
        ));
    }
    Ok(edges.into_iter().map(|(_, e)| e).collect())
}

fn read_faults(path: &Path) -> Result<Vec<Fault>, BundleError> {
    let hours: BTreeMap<String, Vec<FaultEntry>> = bundle::read_json(path)?;
    let mut faults = Vec::new();
    for (hour, entries) in hours {
        for (i, e) in entries.into_iter().enumerate() {
            let time = NaiveDateTime::parse_from_str(&e.inject_time, "%Y-%m-%d %H:%M:%S").map_err(
                |err| {
                    BundleError::invalid(
                        path,
                        format!("{hour}[{i}].inject_time"),
                        format!("`{}`: {err}", e.inject_time),
                    )
                },
            )?;
            faults.push(Fault {
                time: Utc.from_utc_datetime(&time),
                pod: e.inject_pod,
                kind: e.inject_type,
            });
        }
    }
    faults.sort_by_key(|f| f.time);
    Ok(faults)
}

/// Logs from `log/` or `log.tar.gz` (extracted with the system `tar`), by pod.
/// Records the node of each pod seen; records with a wrong field count are
/// skipped and listed in `notes` (the archive has a few merged ones).
fn read_logs(
    day_dir: &Path,
    nodes: &mut HashMap<String, String>,
    notes: &mut Vec<String>,
) -> Result<PodLogs, BundleError> {
    let mut logs = PodLogs::new();
    let plain = day_dir.join("log");
    let archive = day_dir.join("log.tar.gz");
    let _temp;
    let mut temp_root: Option<PathBuf> = None;
    let log_dir = if plain.is_dir() {
        plain
    } else if archive.is_file() {
        let temp = TempDir::new()?;
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(&temp.0)
            .status()
            .map_err(|e| BundleError::dataset(&archive, format!("cannot run `tar`: {e}")))?;
        if !status.success() {
            return Err(BundleError::dataset(
                &archive,
                format!("`tar -xzf` failed ({status})"),
            ));
        }
        let inner = temp.0.join("log");
        let dir = if inner.is_dir() {
            inner
        } else {
            temp.0.clone()
        };
        temp_root = Some(temp.0.clone());
        _temp = temp;
        dir
    } else {
        return Ok(logs);
    };
    let mut files: Vec<PathBuf> = fs::read_dir(&log_dir)
        .map_err(|e| BundleError::io(&log_dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    let mut pod_nodes: HashMap<String, String> = HashMap::new();
    let mut malformed = Vec::new();
    // Name records of the archive by the archive, not by the temporary folder.
    let log_root = temp_root.clone().unwrap_or_default();
    let shown_root = temp_root.is_some().then(|| archive.clone());
    for path in files {
        let records = read_csv(&path)?;
        let Some((header, rows)) = records.split_first() else {
            continue;
        };
        let col = |name: &str| header.fields.iter().position(|f| f.trim() == name);
        let (Some(ts_col), Some(pod_col), Some(log_col)) =
            (col("Timestamp"), col("PodName"), col("Log"))
        else {
            return Err(csv_err(
                &path,
                1,
                "expected a header with Timestamp, PodName and Log",
            ));
        };
        let node_col = col("Node");
        for row in rows {
            if row.fields.len() != header.fields.len() {
                let shown = match (&shown_root, path.strip_prefix(&log_root)) {
                    (Some(archive), Ok(rel)) => format!("{}:{}", archive.display(), rel.display()),
                    _ => path.display().to_string(),
                };
                malformed.push(format!("{shown}:{}", row.line));
                continue;
            }
            let text = row.fields[ts_col].trim();
            let ts = parse_log_time(text).ok_or_else(|| {
                csv_err(
                    &path,
                    row.line,
                    format!("`Timestamp` is `{text}`, expected RFC 3339"),
                )
            })?;
            let pod = row.fields[pod_col].trim().to_owned();
            if let Some(n) = node_col.map(|c| row.fields[c].trim())
                && !n.is_empty()
                && !pod_nodes.contains_key(&pod)
            {
                pod_nodes.insert(pod.clone(), n.to_owned());
            }
            logs.entry(pod)
                .or_default()
                .push((ts, log_message(&row.fields[log_col])));
        }
    }
    for lines in logs.values_mut() {
        lines.sort_by_key(|(t, _)| *t);
    }
    for (pod, node) in pod_nodes {
        nodes.entry(pod).or_insert(node);
    }
    if !malformed.is_empty() {
        notes.push(format!(
            "{} log records skipped whose field count is wrong: {}",
            malformed.len(),
            malformed.join(", ")
        ));
    }
    Ok(logs)
}

/// A log record's `Timestamp`: RFC 3339, or (45 records of the Train Ticket
/// day, whose `TimeUnixNano` is garbage too) without a zone, then UTC.
fn parse_log_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| Utc.from_utc_datetime(&t))
        })
}

/// The message of a log record, on one line: the `log` field of Docker's
/// JSON wrapper when there is one; inside it, a structured record (the JSON
/// most Online Boutique services write) as `SEVERITY message error=…`; and
/// a leading `TraceID: … SpanID: …` moved behind the message, so that the
/// line's first word after its level says what it is about, as a logger's
/// name does in other formats (`logs.patterns` keys its templates on it).
fn log_message(raw: &str) -> String {
    let outer = serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| v.get("log").and_then(|l| l.as_str()).map(str::to_owned))
        .unwrap_or_else(|| raw.to_owned());
    let text = outer.trim_end();
    let message = structured(text).unwrap_or_else(|| trace_context_last(text));
    message.replace('\r', "").replace('\n', "\\n")
}

/// A JSON record with a `message` (or `msg`) as `SEVERITY message`, its
/// error field, if any, after it.
fn structured(text: &str) -> Option<String> {
    if !text.starts_with('{') {
        return None;
    }
    let record: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
    let field = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| record.get(*k).and_then(|v| v.as_str()))
    };
    let message = field(&["message", "msg"])?;
    let mut out = String::new();
    if let Some(severity) = field(&["severity", "level", "levelname"]) {
        out.push_str(&severity.to_ascii_uppercase());
        out.push(' ');
    }
    out.push_str(&trace_context_last(message.trim_end()));
    for key in ["error", "err", "exception"] {
        if let Some(error) = field(&[key]) {
            out.push_str(&format!(" {key}={error}"));
        }
    }
    Some(out)
}

/// `TraceID: T SpanID: S rest` as `rest TraceID: T SpanID: S`; other text as it is.
fn trace_context_last(text: &str) -> String {
    let Some(after) = text.strip_prefix("TraceID:") else {
        return text.to_owned();
    };
    let mut words = after.split_ascii_whitespace();
    let Some(trace) = words.next() else {
        return text.to_owned();
    };
    let mut context = format!("TraceID: {trace}");
    let mut rest: Vec<&str> = words.collect();
    if rest.first() == Some(&"SpanID:") && rest.len() >= 2 {
        context.push_str(&format!(" SpanID: {}", rest[1]));
        rest.drain(..2);
    }
    if rest.is_empty() {
        return text.to_owned();
    }
    format!("{} {context}", rest.join(" "))
}

/// A directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, BundleError> {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let path =
            std::env::temp_dir().join(format!("pagerless-nezha-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).map_err(|e| BundleError::io(&path, e))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Says whether the fault-free folder duplicates the day (then it is ignored).
fn check_fault_free(day_dir: &Path, day: &str, ff: &Path) -> Result<String, BundleError> {
    let candidates = [ff.join(day).join("metric"), ff.join("metric")];
    let Some(ff_metric) = candidates.iter().find(|p| p.is_dir()) else {
        return Ok(format!(
            "{}: no metric folder for {day}; not used",
            ff.display()
        ));
    };
    let day_metric = day_dir.join("metric");
    let list = |dir: &Path| -> Result<Vec<String>, BundleError> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map_err(|e| BundleError::io(dir, e))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    };
    let names = list(&day_metric)?;
    let mut same = names == list(ff_metric)?;
    for name in &names {
        if !same {
            break;
        }
        let a = fs::read(day_metric.join(name)).map_err(|e| BundleError::io(&day_metric, e))?;
        let b = fs::read(ff_metric.join(name)).map_err(|e| BundleError::io(ff_metric, e))?;
        same = a == b;
    }
    Ok(if same {
        format!(
            "{} duplicates {} byte for byte; ignored",
            ff_metric.display(),
            day_metric.display()
        )
    } else {
        format!(
            "{} differs from the day's metrics; this importer does not use it",
            ff_metric.display()
        )
    })
}

/// A case ready to write.
struct Plan {
    bundle: Bundle,
    label: Label,
    inject: DateTime<Utc>,
}

fn ceil_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = t.duration_trunc(Duration::seconds(1)).unwrap_or(t);
    if floor == t {
        t
    } else {
        floor + Duration::seconds(1)
    }
}

fn fault_type(kind: &str) -> Option<FaultType> {
    match kind {
        k if k.starts_with("cpu") => Some(FaultType::Cpu),
        k if k.starts_with("mem") => Some(FaultType::Memory),
        "network_delay" | "network_latency" => Some(FaultType::NetworkDelay),
        "return" | "exception" | "error" => Some(FaultType::Error),
        _ => None,
    }
}

/// Decides a case's window and alert; `Err` says why it has none.
fn plan_case(day: &Day, fault: &Fault, firings: &[Firing]) -> Result<Plan, String> {
    let inject = fault.time;
    let fault_type =
        fault_type(&fault.kind).ok_or_else(|| format!("unknown inject_type `{}`", fault.kind))?;
    if inject < day.first || inject > day.last {
        return Err(format!(
            "the fault is outside the data ({} .. {})",
            day.first, day.last
        ));
    }
    let start = (inject - Duration::minutes(BEFORE_MINUTES)).max(day.first);
    let start = start.duration_trunc(Duration::minutes(1)).unwrap_or(start);
    let end = (inject + Duration::minutes(AFTER_MINUTES)).min(ceil_second(day.last));
    let entry = day.entry;
    let service_sel = format!("service=\"{entry}\"");
    let chosen = firings
        .iter()
        .find(|f| f.time >= inject && f.time < inject + Duration::minutes(ALERT_WITHIN_MINUTES));
    let mut annotations = BTreeMap::new();
    let (alertname, starts_at, expr, fired) = match chosen {
        Some(f) => match f.kind {
            FiringKind::Latency {
                value,
                baseline,
                threshold,
            } => {
                annotations.insert(
                    "summary".to_owned(),
                    format!(
                        "{entry} p90 latency {value:.3} s, above its baseline of {baseline:.3} s"
                    ),
                );
                (
                    "EntryLatencyHigh",
                    ceil_second(f.time),
                    latency_expr(&service_sel, threshold),
                    true,
                )
            }
            FiringKind::Success { value, baseline } => {
                annotations.insert(
                    "summary".to_owned(),
                    format!(
                        "{entry} success ratio {:.1}%, below 99% (its baseline {:.1}%)",
                        value * 100.0,
                        baseline * 100.0
                    ),
                );
                (
                    "EntrySuccessRateLow",
                    ceil_second(f.time),
                    format!("min(entry_success_ratio{{{service_sel}}}) < 0.99"),
                    true,
                )
            }
        },
        None => {
            let at = inject + Duration::minutes(FALLBACK_MINUTES);
            let index = day
                .minutes
                .iter()
                .rposition(|m| m.time <= at)
                .ok_or("no symptom data before the alert")?;
            let settings = RuleSettings::default();
            // The baseline of the first minute after the alert, else of the last one.
            let after = (index + 1).min(day.minutes.len() - 1);
            let (baseline, threshold) =
                alert_rule::latency_threshold(&day.minutes, after, &settings, 1)
                    .or_else(|| alert_rule::latency_threshold(&day.minutes, index, &settings, 1))
                    .ok_or("no symptom data before the alert")?;
            annotations.insert(
                "summary".to_owned(),
                format!(
                    "{entry} p90 latency near its baseline of {baseline:.3} s (threshold {threshold:.3} s)"
                ),
            );
            (
                "EntryLatencyHigh",
                at,
                latency_expr(&service_sel, threshold),
                false,
            )
        }
    };
    if starts_at > end {
        return Err(format!("the data ends ({}) before the alert", day.last));
    }
    let labels = [
        ("service", entry),
        ("namespace", day.system),
        ("severity", "critical"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let service = service_of(&fault.pod);
    let name = format!("{}-{}-{service}", day.name, inject.format("%H%M"));
    let bundle = Bundle {
        version: bundle::VERSION,
        name,
        system: day.system.to_owned(),
        source: format!("nezha {}, fault {}", day.name, inject.format("%H:%M:%S")),
        window: Window { start, end },
        alert: BundleAlert {
            alertname: alertname.to_owned(),
            labels,
            annotations,
            starts_at,
            expr,
            fired,
        },
        metrics: "metrics.om".to_owned(),
        logs: Vec::new(),
        topology: None,
    };
    let label = Label {
        service,
        pod: fault.pod.clone(),
        fault_type,
        inject_time: inject,
        detail: fault.kind.clone(),
    };
    Ok(Plan {
        bundle,
        label,
        inject,
    })
}

/// `max(entry_latency_seconds{quantile="0.9",…}) > T`, T floored to 4
/// decimals so that the expression holds whenever the rule does.
fn latency_expr(service_sel: &str, threshold: f64) -> String {
    let t = (threshold * 10_000.0).floor() / 10_000.0;
    format!("max(entry_latency_seconds{{quantile=\"0.9\",{service_sel}}}) > {t}")
}

fn secs(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The samples of a series inside the window, NaN left out, as (unix seconds, value).
fn in_window(times: &[DateTime<Utc>], values: &[f64], window: Window) -> Vec<(f64, f64)> {
    times
        .iter()
        .zip(values)
        .filter(|(t, v)| **t >= window.start && **t <= window.end && !v.is_nan())
        .map(|(t, v)| (secs(*t), *v))
        .collect()
}

fn write_case(day: &Day, plan: &Plan, out: &Path) -> Result<CaseSummary, BundleError> {
    let mut bundle = plan.bundle.clone();
    let dir = out.join(&bundle.name);
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| BundleError::io(&dir, e))?;
    }
    fs::create_dir_all(&dir).map_err(|e| BundleError::io(&dir, e))?;
    let window = bundle.window;

    let metrics_path = dir.join(&bundle.metrics);
    let file = File::create(&metrics_path).map_err(|e| BundleError::io(&metrics_path, e))?;
    let mut w = OpenMetricsWriter::new(BufWriter::new(file));
    let mut families: Vec<&str> = Vec::new();
    for c in &COLUMNS {
        if !families.contains(&c.family) {
            families.push(c.family);
        }
    }
    for family in families {
        for pod in &day.pods {
            for (i, c) in COLUMNS.iter().enumerate() {
                let Some(values) = (c.family == family)
                    .then_some(&pod.values[i])
                    .and_then(Option::as_ref)
                else {
                    continue;
                };
                let samples = in_window(&pod.times, values, window);
                if samples.is_empty() {
                    continue;
                }
                let mut labels = BTreeMap::new();
                labels.insert("namespace".to_owned(), day.system.to_owned());
                labels.insert("pod".to_owned(), pod.pod.clone());
                labels.insert("service".to_owned(), pod.service.clone());
                let node = day
                    .nodes
                    .get(&pod.pod)
                    .or_else(|| day.nodes.get(&pod.service));
                if let Some(node) = node {
                    labels.insert("node".to_owned(), node.clone());
                }
                if c.level == Level::Pod
                    && let Some(q) = c.quantile
                {
                    labels.insert("quantile".to_owned(), q.to_owned());
                }
                w.write_series(family, MetricKind::Gauge, &labels, &samples)?;
            }
        }
    }
    for (i, (_, family, quantile, _)) in ENTRY_COLUMNS.iter().enumerate() {
        let samples = in_window(&day.entry_times, &day.entry_values[i], window);
        if samples.is_empty() {
            continue;
        }
        let mut labels = BTreeMap::new();
        labels.insert("namespace".to_owned(), day.system.to_owned());
        labels.insert("service".to_owned(), day.entry.to_owned());
        if let Some(q) = quantile {
            labels.insert("quantile".to_owned(), (*q).to_owned());
        }
        w.write_series(family, MetricKind::Gauge, &labels, &samples)?;
    }
    for e in &day.edge_latencies {
        let samples = in_window(&e.times, &e.values, window);
        if samples.is_empty() {
            continue;
        }
        let labels: BTreeMap<String, String> = [
            ("namespace", day.system),
            ("source_service", e.source.as_str()),
            ("destination_service", e.destination.as_str()),
            ("reporter", e.reporter),
            ("quantile", "0.5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        w.write_series(EDGE_LATENCY, MetricKind::Gauge, &labels, &samples)?;
    }
    w.finish()?;

    let mut log_files = Vec::new();
    for (pod, lines) in &day.logs {
        let lo = lines.partition_point(|(t, _)| *t < window.start);
        let hi = lines.partition_point(|(t, _)| *t <= window.end);
        if lo >= hi {
            continue;
        }
        let logs_dir = dir.join("logs");
        fs::create_dir_all(&logs_dir).map_err(|e| BundleError::io(&logs_dir, e))?;
        let safe: String = pod
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let rel = format!("logs/{safe}.log");
        let path = dir.join(&rel);
        let file = File::create(&path).map_err(|e| BundleError::io(&path, e))?;
        let mut out = BufWriter::new(file);
        for (t, message) in &lines[lo..hi] {
            writeln!(
                out,
                "{} {message}",
                t.to_rfc3339_opts(SecondsFormat::Millis, true)
            )
            .map_err(|e| BundleError::io(&path, e))?;
        }
        out.flush().map_err(|e| BundleError::io(&path, e))?;
        log_files.push(rel);
    }
    bundle.logs = log_files;

    if !day.calls.is_empty() {
        let rel = "topology.json";
        Topology {
            edges: day.calls.clone(),
        }
        .write(&dir.join(rel))?;
        bundle.topology = Some(rel.to_owned());
    }
    bundle.write(&dir)?;
    plan.label.write(&dir)?;
    Bundle::read(&dir)?;
    let minutes = (bundle.alert.starts_at - plan.inject).num_milliseconds() as f64 / 60_000.0;
    Ok(CaseSummary {
        name: bundle.name,
        alertname: bundle.alert.alertname,
        fired: bundle.alert.fired,
        minutes_after_injection: minutes,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn services_from_pod_names() {
        assert_eq!(service_of("frontend-579b9bff58-t2dbm"), "frontend");
        assert_eq!(
            service_of("ts-admin-basic-info-service-5f55b6cf68-77cfw"),
            "ts-admin-basic-info-service"
        );
        assert_eq!(
            service_of("ts-food-service-f5756978c-k8vqf"),
            "ts-food-service"
        );
        assert_eq!(service_of("redis-cart-0"), "redis-cart");
        assert_eq!(service_of("frontend"), "frontend");
    }

    #[test]
    fn systems_from_pod_names() {
        assert_eq!(
            detect_system(&["frontend-579b9bff58-t2dbm", "cartservice-579f59597d-wc2lz"]),
            Some(("online-boutique", "frontend"))
        );
        assert_eq!(
            detect_system(&[
                "ts-ui-dashboard-5477b965f-2chkr",
                "ts-order-service-5b67c48447-mv5hb"
            ]),
            Some(("train-ticket", "ts-ui-dashboard"))
        );
        assert_eq!(detect_system(&["nginx-1234567-abcde"]), None);
    }

    #[test]
    fn time_column_and_fault_types() {
        let t = parse_time("2022-08-22 03:51:19.799087274 +0000 UTC m=+0.305041286").unwrap();
        assert_eq!(
            t.to_rfc3339_opts(SecondsFormat::Millis, true),
            "2022-08-22T03:51:19.799Z"
        );
        assert_eq!(fault_type("cpu_contention"), Some(FaultType::Cpu));
        assert_eq!(fault_type("cpu_consumed"), Some(FaultType::Cpu));
        assert_eq!(fault_type("network_delay"), Some(FaultType::NetworkDelay));
        assert_eq!(fault_type("return"), Some(FaultType::Error));
        assert_eq!(fault_type("exception"), Some(FaultType::Error));
        assert_eq!(fault_type("memory_leak"), Some(FaultType::Memory));
        assert_eq!(fault_type("disk"), None);
    }

    #[test]
    fn log_messages_unwrap_docker_json() {
        assert_eq!(
            log_message("{\"log\":\"17:35:38.386 INFO  x\\n\",\"stream\":\"stdout\"}"),
            "17:35:38.386 INFO  x"
        );
        assert_eq!(log_message("plain\nline"), "plain\\nline");
    }

    #[test]
    fn structured_log_records_read_as_level_then_message() {
        // A Go service's JSON record inside Docker's wrapper.
        let record = serde_json::json!({
            "message": "TraceID: bc0149298d10ab94 SpanID: 0137a7322c7d77fd PlaceOrder user_id=\"2ae2\" successfully",
            "severity": "info",
            "timestamp": "2022-08-22T03:59:15.187736033Z"
        });
        let wrapped = serde_json::json!({"log": format!("{record}\n"), "stream": "stdout"});
        assert_eq!(
            log_message(&wrapped.to_string()),
            "INFO PlaceOrder user_id=\"2ae2\" successfully TraceID: bc0149298d10ab94 SpanID: 0137a7322c7d77fd"
        );
        // The error field comes after the message.
        let record = serde_json::json!({
            "error": "rpc error: code = Unavailable",
            "message": "failed to charge card",
            "severity": "warning"
        });
        let wrapped = serde_json::json!({"log": format!("{record}\n")});
        assert_eq!(
            log_message(&wrapped.to_string()),
            "WARNING failed to charge card error=rpc error: code = Unavailable"
        );
        // Plain text that starts with its trace context.
        let wrapped = serde_json::json!({"log": "TraceID: 00372df3 SpanID: 702371dc GetCartAsync called with userId=a009\n"});
        assert_eq!(
            log_message(&wrapped.to_string()),
            "GetCartAsync called with userId=a009 TraceID: 00372df3 SpanID: 702371dc"
        );
        // JSON without a message is left as it is.
        assert_eq!(log_message("{\"a\":1}"), "{\"a\":1}");
    }
}
