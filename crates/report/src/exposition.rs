//! The KPIs as Prometheus text exposition (format 0.0.4), for `/metrics`.
//!
//! Every KPI is a gauge: it is recomputed over the window at each scrape,
//! so it can go down as well as up. A KPI that is `None` (a ratio over
//! nothing) is left out, family and all, rather than exposed as 0 or NaN, so
//! PromQL sees "no data" rather than a false zero. Hand-written rather than
//! through `prometheus-client`: these are snapshots computed from the store,
//! not instruments updated as things happen, so a registry adds nothing.

use std::fmt::Write;

use crate::Kpis;

/// The `Content-Type` of [`openmetrics`]' text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The KPIs in Prometheus text exposition format: `# HELP` and `# TYPE`
/// lines, then the samples, for each metric family. Names and labels are
/// listed in `docs/kpis.md`.
pub fn openmetrics(k: &Kpis) -> String {
    let mut out = Out(String::new());
    let window = (k.until - k.since).num_milliseconds() as f64 / 1000.0;
    out.gauge(
        "pagerless_kpi_window_seconds",
        "Length of the window the KPIs are computed over.",
        &[(&[], Some(window))],
    );
    out.gauge(
        "pagerless_incidents",
        "Incidents detected in the window.",
        &[(&[], Some(k.incidents as f64))],
    );
    out.gauge(
        "pagerless_incidents_recovered",
        "Incidents detected in the window and recovered (resolved or mitigated).",
        &[(&[], Some(k.incidents_recovered as f64))],
    );
    out.gauge(
        "pagerless_incidents_autonomous",
        "Incidents detected in the window that pagerless handled with no human paged.",
        &[(&[], Some(k.incidents_autonomous as f64))],
    );
    out.gauge(
        "pagerless_incidents_fixed",
        "Incidents detected in the window that recovered and had their permanent fix merged.",
        &[(&[], Some(k.incidents_fixed as f64))],
    );
    out.gauge(
        "pagerless_mttr_seconds",
        "Mean time from detection to recovery (resolved or mitigated) of recovered incidents.",
        &[(&[], k.mttr_secs)],
    );
    out.gauge(
        "pagerless_mtso_seconds",
        "Mean time from detection to optimized steady state (recovered and fix merged).",
        &[(&[], k.mtso_secs)],
    );
    out.gauge(
        "pagerless_autonomous_resolution_ratio",
        "Share of incidents pagerless handled with no human paged.",
        &[(&[], k.autonomous_resolution_rate)],
    );
    out.gauge(
        "pagerless_toil_saved_hours",
        "Hours a human would have spent on the incidents pagerless handled alone.",
        &[(&[], Some(k.toil_hours_saved))],
    );
    out.gauge(
        "pagerless_pull_requests_opened",
        "Pull requests with a permanent fix opened in the window.",
        &[(&[], Some(k.pr_opened as f64))],
    );
    out.gauge(
        "pagerless_pull_requests",
        "Pull requests opened in the window, by their fate now.",
        &[
            (&[("fate", "open")], Some(k.pr_open as f64)),
            (
                &[("fate", "merged_unmodified")],
                Some(k.pr_merged_unmodified as f64),
            ),
            (
                &[("fate", "merged_modified")],
                Some(k.pr_merged_modified as f64),
            ),
            (&[("fate", "closed")], Some(k.pr_closed as f64)),
        ],
    );
    out.gauge(
        "pagerless_pr_correctness_ratio",
        "Share of pull requests opened in the window merged exactly as proposed.",
        &[(&[], k.pr_correctness_rate)],
    );
    out.gauge(
        "pagerless_nodes_per_human",
        "Nodes watched per human on call (as configured).",
        &[(&[], k.nodes_per_human)],
    );
    let lat = &k.approval_latency_secs;
    out.gauge(
        "pagerless_approvals_decided",
        "Approvals a human approved or denied in the window.",
        &[(&[], Some(lat.count as f64))],
    );
    out.gauge(
        "pagerless_approval_latency_seconds",
        "Time humans took to decide approvals (nearest-rank quantiles; 1 is the longest).",
        &[
            (&[("quantile", "0.5")], lat.p50),
            (&[("quantile", "0.9")], lat.p90),
            (&[("quantile", "1")], lat.max),
        ],
    );
    let labels: Vec<[Label<'_>; 2]> = k
        .actions
        .iter()
        .map(|a| [("kind", a.kind.as_str()), ("result", a.result.as_str())])
        .collect();
    let samples: Vec<Sample<'_>> = labels
        .iter()
        .zip(&k.actions)
        .map(|(l, a)| (&l[..], Some(a.count as f64)))
        .collect();
    out.gauge(
        "pagerless_actions_total",
        "Guard decisions and action outcomes in the window, by action kind and result.",
        &samples,
    );
    out.gauge(
        "pagerless_harmful_action_ratio",
        "Actions undone because they made things worse, per action done (pull requests excluded).",
        &[(&[], k.harmful_action_rate)],
    );
    out.0
}

/// A label's name and value.
type Label<'a> = (&'a str, &'a str);

/// One sample: its labels and value (`None`: left out).
type Sample<'a> = (&'a [Label<'a>], Option<f64>);

struct Out(String);

impl Out {
    /// Writes one gauge family; samples that are `None` are left out, and so
    /// is the family when all of them are.
    fn gauge(&mut self, name: &str, help: &str, samples: &[Sample<'_>]) {
        if samples.iter().all(|(_, v)| v.is_none()) {
            return;
        }
        // Writing to a String cannot fail.
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let Some(value) = value else { continue };
            let _ = write!(self.0, "{name}");
            if !labels.is_empty() {
                let pairs: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                let _ = write!(self.0, "{{{}}}", pairs.join(","));
            }
            let _ = writeln!(self.0, " {value}");
        }
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::{ActionCount, ApprovalLatency};

    fn kpis() -> Kpis {
        let until = Utc.timestamp_opt(1_800_000_000, 0).single().unwrap();
        Kpis {
            since: until - chrono::Duration::days(7),
            until,
            incidents: 4,
            incidents_recovered: 2,
            incidents_autonomous: 1,
            incidents_fixed: 0,
            mttr_secs: Some(90.5),
            mtso_secs: None,
            autonomous_resolution_rate: Some(0.25),
            toil_hours_saved: 0.75,
            pr_opened: 2,
            pr_open: 1,
            pr_merged_unmodified: 0,
            pr_merged_modified: 0,
            pr_closed: 1,
            pr_correctness_rate: Some(0.0),
            nodes_per_human: None,
            approval_latency_secs: ApprovalLatency {
                count: 1,
                p50: Some(30.0),
                p90: Some(30.0),
                max: Some(30.0),
            },
            actions: vec![ActionCount {
                kind: "run_command".into(),
                result: "we\"ird\\".into(),
                count: 3,
            }],
            harmful_action_rate: None,
        }
    }

    #[test]
    fn families_have_help_and_type_and_none_is_left_out() {
        let text = openmetrics(&kpis());
        assert!(text.contains(
            "# HELP pagerless_incidents Incidents detected in the window.\n\
             # TYPE pagerless_incidents gauge\n\
             pagerless_incidents 4\n"
        ));
        assert!(text.contains("pagerless_kpi_window_seconds 604800\n"));
        assert!(text.contains("pagerless_mttr_seconds 90.5\n"));
        assert!(text.contains("pagerless_pr_correctness_ratio 0\n"));
        assert!(text.contains("pagerless_pull_requests{fate=\"closed\"} 1\n"));
        assert!(text.contains("pagerless_pull_requests{fate=\"merged_unmodified\"} 0\n"));
        assert!(text.contains("pagerless_approval_latency_seconds{quantile=\"0.9\"} 30\n"));
        assert!(
            text.contains(
                "pagerless_actions_total{kind=\"run_command\",result=\"we\\\"ird\\\\\"} 3\n"
            ),
            "{text}"
        );
        for absent in [
            "pagerless_mtso_seconds",
            "pagerless_nodes_per_human",
            "pagerless_harmful_action_ratio",
        ] {
            assert!(!text.contains(absent), "{absent} in\n{text}");
        }
        // Every sample line belongs to a family announced just before.
        let mut family = "";
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(family), "{line} outside {family}");
            }
        }
    }

    #[test]
    fn no_approvals_means_no_latency_samples() {
        let mut k = kpis();
        k.approval_latency_secs = ApprovalLatency::default();
        k.actions.clear();
        let text = openmetrics(&k);
        assert!(
            !text.contains("pagerless_approval_latency_seconds"),
            "{text}"
        );
        assert!(!text.contains("pagerless_actions_total"), "{text}");
        assert!(text.contains("pagerless_approvals_decided 0\n"), "{text}");
    }
}
