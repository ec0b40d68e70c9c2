//! `pagerless report [--since 7d] [--json]`: the KPIs over a window, read from
//! the store (definitions in docs/kpis.md), and the KPI settings `serve`'s
//! `/metrics` shares: human minutes from the playbooks, the rest from the
//! `report:` section of the configuration.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, Result};
use comfy_table::{Table, presets::NOTHING};
use pagerless_report::{KpiSettings, Kpis};
use pagerless_store::SqliteStore;

use crate::settings::Settings;

/// The KPI settings: each playbook category's `human_minutes` (the largest
/// when several playbooks share a category; a playbook without the figure
/// leaves its category at the default), then `report:` from the config.
pub fn kpi_settings(settings: &Settings) -> Result<KpiSettings> {
    let mut human_minutes: BTreeMap<String, u32> = BTreeMap::new();
    for book in super::investigator::playbooks(settings)? {
        if book.human_minutes > 0 {
            let m = human_minutes.entry(book.category).or_default();
            *m = (*m).max(book.human_minutes);
        }
    }
    let r = &settings.config.report;
    Ok(KpiSettings {
        human_minutes,
        default_human_minutes: r.human_minutes_default,
        humans: r.humans,
        nodes: r.nodes,
    })
}

/// `pagerless report`.
pub async fn run(settings: &Settings, since: &str, json: bool) -> Result<ExitCode> {
    let window = pagerless_report::parse_since(since).context("--since")?;
    let kpi = kpi_settings(settings)?;
    let store = SqliteStore::open_existing(&settings.store_path()).await?;
    let until = chrono::Utc::now();
    let k = pagerless_report::compute(&store, &kpi, until - window, until).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&k)?);
    } else {
        print!("{}", table(&k, since));
    }
    Ok(ExitCode::SUCCESS)
}

/// The KPIs for people: one line each, `-` where there is nothing to measure.
fn table(k: &Kpis, since: &str) -> String {
    let when = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let mut out = format!(
        "KPIs of the last {since}, {} to {} UTC (definitions: docs/kpis.md)\n\n",
        when(k.since),
        when(k.until)
    );
    let of = |n: u64| {
        if k.incidents == 0 {
            n.to_string()
        } else {
            format!("{n} of {}", k.incidents)
        }
    };
    let lat = &k.approval_latency_secs;
    let rows: Vec<(&str, String)> = vec![
        ("incidents detected", k.incidents.to_string()),
        (
            "recovered (resolved or mitigated)",
            of(k.incidents_recovered),
        ),
        ("MTTR (detection to recovery)", secs(k.mttr_secs)),
        ("recovered with the fix merged", of(k.incidents_fixed)),
        (
            "MTSO (detection to optimized steady state)",
            secs(k.mtso_secs),
        ),
        ("handled with no human paged", of(k.incidents_autonomous)),
        (
            "autonomous resolution rate",
            percent(k.autonomous_resolution_rate),
        ),
        ("toil saved", format!("{:.1} h", k.toil_hours_saved)),
        (
            "pull requests opened",
            format!(
                "{} ({} open, {} merged unmodified, {} merged modified, {} closed)",
                k.pr_opened, k.pr_open, k.pr_merged_unmodified, k.pr_merged_modified, k.pr_closed
            ),
        ),
        ("pull request correctness", percent(k.pr_correctness_rate)),
        (
            "approval latency p50 / p90 / max",
            if lat.count == 0 {
                "- (no approvals decided)".into()
            } else {
                format!(
                    "{} / {} / {} ({} decided)",
                    secs(lat.p50),
                    secs(lat.p90),
                    secs(lat.max),
                    lat.count
                )
            },
        ),
        ("harmful action rate", percent(k.harmful_action_rate)),
        (
            "nodes per human",
            k.nodes_per_human
                .map_or("- (set report.nodes)".into(), |n| format!("{n:.1}")),
        ),
    ];
    let mut t = Table::new();
    t.load_style(NOTHING).set_header(["KPI", "VALUE"]);
    for (name, value) in rows {
        t.add_row([name.to_owned(), value]);
    }
    out.push_str(&t.trim_fmt());
    out.push('\n');
    if !k.actions.is_empty() {
        let mut t = Table::new();
        t.load_style(NOTHING)
            .set_header(["ACTION", "DECISION OR OUTCOME", "COUNT"]);
        for a in &k.actions {
            t.add_row([a.kind.clone(), a.result.clone(), a.count.to_string()]);
        }
        out.push('\n');
        out.push_str(&t.trim_fmt());
        out.push('\n');
    }
    out
}

/// `0.4 s`, `7.2 min`, `3.1 h`; `-` for nothing measured.
fn secs(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(s) if s < 120.0 => format!("{s:.1} s"),
        Some(s) if s < 7200.0 => format!("{:.1} min", s / 60.0),
        Some(s) => format!("{:.1} h", s / 3600.0),
    }
}

/// `33.3%`; `-` for a ratio over nothing.
fn percent(v: Option<f64>) -> String {
    v.map_or("-".into(), |r| format!("{:.1}%", r * 100.0))
}
