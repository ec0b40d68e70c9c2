//! `pagerless record --incident ID`: the flight recorder. A stored incident
//! becomes an evaluation bundle (docs/bundles.md): its alert, the metrics of
//! a window around it from the configured Prometheus, the configured log
//! sources' records in that window, and the investigation's conclusion as
//! the label, so that a production incident becomes a regression case.
//!
//! Key decisions: the metrics are the samples Prometheus stored (a range
//! selector read at the window's end), not a resampled range query, so a
//! replay sees what the investigation saw, sample for sample; and the bundle
//! is written into a staging folder beside `--out` and moved into place at
//! the end, so a failure leaves `--out` as it was.

mod label;
mod logs;
mod metrics;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use pagerless_agent::AlertContext;
use pagerless_bundle::{BUNDLE_FILE, Bundle, BundleAlert, LABEL_FILE, Window};
use pagerless_model::{Investigation, Outcome};
use pagerless_store::{SqliteStore, Store};
use pagerless_tools::prometheus::PrometheusClient;

use self::metrics::Selector;
use crate::cli::RecordArgs;
use crate::settings::Settings;

/// The metrics file's name in the bundle.
const METRICS_FILE: &str = "metrics.om";

/// What a bundle folder holds that a recording replaces (with `--force`);
/// anything else in the folder is left alone.
const BUNDLE_ENTRIES: [&str; 5] = [
    BUNDLE_FILE,
    METRICS_FILE,
    LABEL_FILE,
    "topology.json",
    "logs",
];

/// `pagerless record --incident ID [--out DIR] [--before D] [--after D] [--force]`.
pub async fn run(settings: &Settings, args: &RecordArgs) -> Result<ExitCode> {
    let id = args.incident;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("bundles").join(format!("incident-{id}")));
    check_out(&out, args.force)?;

    let store_path = settings.store_path();
    let store = SqliteStore::open_existing(&store_path)
        .await
        .with_context(|| format!("cannot open the store to read incident {id}"))?;
    let detail = store.incident(id).await?.with_context(|| {
        format!(
            "no incident {id} in the store {}: `pagerless incidents list` shows the ids",
            store_path.display()
        )
    })?;
    let alert = AlertContext::from_incident(&detail)
        .with_context(|| format!("incident {id} has no alert to record"))?;
    let investigations = store.investigations(id).await?;
    let Some(mut live) = settings.config.tools.prometheus.clone() else {
        bail!(
            "no Prometheus configured: set `tools.prometheus.url` in the configuration file (docs/config.md); the recording reads the incident's metrics from it"
        );
    };

    let mut notes = Vec::new();
    let now = Utc::now();
    let start = alert.starts_at - args.before;
    let mut end = alert.starts_at + args.after;
    if end > now {
        end = now.max(alert.starts_at + chrono::Duration::seconds(1));
        notes.push(format!(
            "the window ends at now ({}), before the {} min after the alert that --after asks for",
            rfc3339(end),
            args.after.num_minutes()
        ));
    }
    eprintln!(
        "recording incident {id} ({}) from {} .. {}",
        alert.alertname,
        rfc3339(start),
        rfc3339(end)
    );

    // The live Prometheus, never a replay's pinned time.
    live.at = None;
    let client = PrometheusClient::new(&live)?;
    metrics::check_reachable(&client).await?;

    let namespace = detail
        .incident
        .namespace
        .clone()
        .or_else(|| alert.namespace.clone());
    let selectors = selectors(namespace.as_deref(), &alert, &investigations, &mut notes);
    if selectors.is_empty() {
        bail!(
            "nothing to record for incident {id}: it has no namespace, its alert no expression, and its investigations made no Prometheus query"
        );
    }
    let recorded = metrics::fetch(
        &client,
        &selectors,
        start.timestamp_millis() as f64 / 1000.0,
        end.timestamp_millis() as f64 / 1000.0,
    )
    .await?;
    notes.extend(recorded.notes.iter().cloned());
    if recorded.families.is_empty() {
        bail!(
            "Prometheus at {} holds no sample of {} between {} and {} (has its retention dropped them?)",
            client.base_url(),
            selectors
                .iter()
                .map(Selector::render)
                .collect::<Vec<_>>()
                .join(", "),
            rfc3339(start),
            rfc3339(end)
        );
    }

    let diagnosis = investigations.iter().rev().find_map(|i| match &i.outcome {
        Outcome::Diagnosed { diagnosis, .. } => Some(diagnosis.as_ref()),
        _ => None,
    });
    let labelled = label::label(
        diagnosis,
        detail.incident.service.as_deref(),
        alert.starts_at,
        &label::Overrides {
            service: args.service.clone(),
            fault_type: args.fault_type,
        },
    );

    // Everything is written into a staging folder, then moved into place.
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| format!("incident-{id}"));
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.recording-"))
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a staging folder in {}", parent.display()))?;
    let dir = staging.path();
    metrics::write(&recorded, &dir.join(METRICS_FILE))?;
    let copied = match &settings.config.tools.logs {
        Some(l) => logs::copy(&l.sources, start, end, dir, &mut notes)?,
        None => Vec::new(),
    };
    if let Some(l) = &labelled.label {
        l.write(dir)?;
    }
    let a = &alert;
    let symptom = a.symptom.clone().unwrap_or_else(|| {
        notes.push(
            "the alert carries no expression (no generator URL, no pagerless_query annotation): alert.expr is empty".to_owned(),
        );
        String::new()
    });
    let mut labels = a.labels.clone();
    labels.remove("alertname");
    let bundle = Bundle {
        version: 1,
        name: name.clone(),
        system: namespace
            .clone()
            .unwrap_or_else(|| detail.incident.environment.to_string()),
        source: format!(
            "pagerless incident {id} ({}), recorded {} from {}",
            detail.incident.environment,
            rfc3339(now),
            client.base_url()
        ),
        window: Window { start, end },
        alert: BundleAlert {
            alertname: a.alertname.clone(),
            labels,
            annotations: a.annotations.clone(),
            starts_at: a.starts_at,
            expr: symptom,
            fired: true,
        },
        metrics: METRICS_FILE.to_owned(),
        logs: copied.iter().map(|c| c.file.clone()).collect(),
        topology: None,
    };
    bundle.write(dir)?;
    Bundle::read(dir).context("the recorded bundle does not read back")?;
    install(staging, &out)?;

    for note in &notes {
        eprintln!("note: {note}");
    }
    println!("recorded incident {id} into {}", out.display());
    println!(
        "  window   {} .. {} ({} min before the alert, {} min after)",
        rfc3339(start),
        rfc3339(end),
        (alert.starts_at - start).num_minutes(),
        (end - alert.starts_at).num_minutes()
    );
    println!(
        "  metrics  {} series, {} samples, {} metric names",
        recorded.series(),
        recorded.samples(),
        recorded.families.len()
    );
    if copied.is_empty() {
        println!("  logs     none");
    } else {
        for c in &copied {
            println!(
                "  logs     {}: {} records in {}",
                c.source, c.records, c.file
            );
        }
    }
    match &labelled.label {
        Some(_) => println!("  label    {}", labelled.how),
        None => println!(
            "  label    none, so `pagerless eval` cannot score it: {}",
            labelled.how
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Refuses a `--out` that is a file, or a folder that is not empty without `--force`.
fn check_out(out: &Path, force: bool) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        bail!("{} exists and is not a folder", out.display());
    }
    let empty = std::fs::read_dir(out)
        .with_context(|| format!("cannot read {}", out.display()))?
        .next()
        .is_none();
    if !empty && !force {
        bail!(
            "{} is not empty: pass --force to replace the bundle in it, or choose another --out",
            out.display()
        );
    }
    Ok(())
}

/// Moves the staged bundle to `out`: a rename when `out` does not exist,
/// else the bundle's entries replaced one by one (other files stay).
fn install(staging: tempfile::TempDir, out: &Path) -> Result<()> {
    if !out.exists() {
        let path = staging.keep();
        return std::fs::rename(&path, out).or_else(|e| {
            let _ = std::fs::remove_dir_all(&path);
            Err(e).with_context(|| format!("cannot move {} to {}", path.display(), out.display()))
        });
    }
    for entry in BUNDLE_ENTRIES {
        let old = out.join(entry);
        let removed = if old.is_dir() {
            std::fs::remove_dir_all(&old)
        } else if old.exists() {
            std::fs::remove_file(&old)
        } else {
            continue;
        };
        removed.with_context(|| format!("cannot replace {}", old.display()))?;
    }
    for entry in BUNDLE_ENTRIES {
        let new = staging.path().join(entry);
        if new.exists() {
            let to = out.join(entry);
            std::fs::rename(&new, &to)
                .with_context(|| format!("cannot move {} to {}", new.display(), to.display()))?;
        }
    }
    Ok(())
}

/// What to record: the namespace's series, the alert expression's, and
/// those of every Prometheus query of the incident's investigations.
fn selectors(
    namespace: Option<&str>,
    alert: &AlertContext,
    investigations: &[Investigation],
    notes: &mut Vec<String>,
) -> Vec<Selector> {
    let mut out = Vec::new();
    let whole = namespace.map(Selector::namespace);
    match &whole {
        Some(ns) => out.push(ns.clone()),
        None => notes.push(
            "the incident names no namespace: only the series of its alert and its queries are recorded".to_owned(),
        ),
    }
    let mut exprs: Vec<(String, String)> = Vec::new();
    if let Some(s) = &alert.symptom {
        exprs.push((s.clone(), "the alert's expression".to_owned()));
    }
    for inv in investigations {
        for step in &inv.steps {
            let Some(call) = &step.call else { continue };
            if !call.tool.starts_with("prometheus.") {
                continue;
            }
            let why = format!("step {} ({})", step.index, call.tool);
            for key in ["query", "symptom"] {
                if let Some(q) = call.args.get(key).and_then(|v| v.as_str()) {
                    exprs.push((q.to_owned(), why.clone()));
                }
            }
            if let Some(list) = call.args.get("candidates").and_then(|v| v.as_array()) {
                exprs.extend(
                    list.iter()
                        .filter_map(|v| v.as_str())
                        .map(|q| (q.to_owned(), why.clone())),
                );
            }
        }
    }
    for (expr, why) in exprs {
        match metrics::selectors_of(&expr, &why) {
            Ok(found) => {
                for s in found {
                    // Series inside the namespace are recorded with it.
                    let inside = whole
                        .as_ref()
                        .is_some_and(|ns| ns.matchers.iter().all(|m| s.matchers.contains(m)));
                    if !inside && !out.iter().any(|o: &Selector| o.matchers == s.matchers) {
                        out.push(s);
                    }
                }
            }
            Err(e) => notes.push(format!(
                "{why}: `{expr}` is not PromQL this recorder reads ({e}); its series may be missing"
            )),
        }
    }
    out
}
