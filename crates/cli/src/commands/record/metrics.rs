//! The recording's metrics: which series to ask for (the namespace's, and
//! those the alert's expression and the trace's queries select), their
//! samples as Prometheus stored them, and `metrics.om`.
//!
//! A PromQL expression is reduced to its series selectors (offsets, `@` and
//! ranges dropped): replaying the expression later needs the series it
//! reads, not its value. Each selector is split by metric name
//! (`/api/v1/label/__name__/values`) so that one request carries one family
//! and progress can be shown.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};
use pagerless_bundle::{MetricKind, OpenMetricsWriter};
use pagerless_tools::prometheus::{PrometheusClient, PrometheusError};
use promql_parser::label::Matchers;
use promql_parser::parser::{Expr, VectorSelector};
use promql_parser::util::{ExprVisitor, walk_expr};

/// A series' labels, without `__name__`.
pub type Labels = BTreeMap<String, String>;

/// One series selector to record, and why it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// Its matchers, rendered (`namespace="shop"`, `pod=~"api-.*"`).
    pub matchers: Vec<String>,
    /// Where it comes from, for people.
    pub why: String,
}

impl Selector {
    /// Every series of a namespace.
    pub fn namespace(ns: &str) -> Selector {
        Selector {
            matchers: vec![format!("namespace=\"{}\"", escape(ns))],
            why: format!("namespace {ns}"),
        }
    }

    /// `{m1,m2,...}`.
    pub fn render(&self) -> String {
        format!("{{{}}}", self.matchers.join(","))
    }

    /// The selector restricted to one metric name.
    fn named(&self, name: &str) -> String {
        let mut all = vec![format!("__name__=\"{}\"", escape(name))];
        all.extend(self.matchers.iter().cloned());
        format!("{{{}}}", all.join(","))
    }
}

/// Escapes a label value for a PromQL string in double quotes.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The series selectors an expression reads, each with the metric name as a
/// `__name__` matcher; offsets, `@` modifiers and ranges are dropped. A
/// selector with `or` groups becomes one selector per group.
pub fn selectors_of(expr: &str, why: &str) -> Result<Vec<Selector>, String> {
    let parsed = promql_parser::parser::parse(expr)?;
    let mut collect = Collect(Vec::new());
    walk_expr(&mut collect, &parsed)?;
    let mut out: Vec<Selector> = Vec::new();
    for vs in collect.0 {
        for matchers in matcher_groups(&vs) {
            let s = Selector {
                matchers,
                why: why.to_owned(),
            };
            if !out.iter().any(|o| o.matchers == s.matchers) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

struct Collect(Vec<VectorSelector>);

impl ExprVisitor for Collect {
    type Error = String;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, String> {
        match expr {
            Expr::VectorSelector(vs) => self.0.push(vs.clone()),
            Expr::MatrixSelector(ms) => self.0.push(ms.vs.clone()),
            _ => {}
        }
        Ok(true)
    }
}

fn matcher_groups(vs: &VectorSelector) -> Vec<Vec<String>> {
    let Matchers {
        matchers,
        or_matchers,
    } = &vs.matchers;
    let groups: Vec<&Vec<promql_parser::label::Matcher>> = if or_matchers.is_empty() {
        vec![matchers]
    } else {
        or_matchers.iter().collect()
    };
    groups
        .into_iter()
        .map(|group| {
            let has_name = group.iter().any(|m| m.name == "__name__");
            let mut rendered: Vec<String> = Vec::new();
            if let Some(name) = vs.name.as_ref().filter(|_| !has_name) {
                rendered.push(format!("__name__=\"{}\"", escape(name)));
            }
            rendered.extend(group.iter().map(ToString::to_string));
            rendered
        })
        .collect()
}

/// The series recorded: by metric name, then labels; samples in time order.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Family → series → `(unix seconds, value)`.
    pub families: BTreeMap<String, BTreeMap<Labels, Vec<(f64, f64)>>>,
    /// What could not be recorded, and why.
    pub notes: Vec<String>,
}

impl Recorded {
    /// How many series.
    pub fn series(&self) -> usize {
        self.families.values().map(BTreeMap::len).sum()
    }

    /// How many samples.
    pub fn samples(&self) -> usize {
        self.families
            .values()
            .flat_map(BTreeMap::values)
            .map(Vec::len)
            .sum()
    }
}

/// Fails with a clear message unless Prometheus answers a trivial query.
pub async fn check_reachable(client: &PrometheusClient) -> Result<()> {
    match client.query("vector(1)", None).await {
        Ok(_) => Ok(()),
        Err(e @ PrometheusError::Unreachable { .. }) => Err(anyhow::Error::new(e).context(
            "Prometheus is unreachable: check `tools.prometheus.url` in the configuration",
        )),
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "Prometheus at {} does not answer queries",
            client.base_url()
        ))),
    }
}

/// Reads every series the selectors pick in `[start, end]` (unix seconds),
/// with progress on stderr. A selector Prometheus refuses is skipped with a
/// note; an unreachable Prometheus is an error.
pub async fn fetch(
    client: &PrometheusClient,
    selectors: &[Selector],
    start: f64,
    end: f64,
) -> Result<Recorded> {
    let mut rec = Recorded::default();
    let mut seen = BTreeSet::new();
    let terminal = std::io::stderr().is_terminal();
    for sel in selectors {
        let text = sel.render();
        if !seen.insert(text.clone()) {
            continue;
        }
        let names = match client
            .label_values("__name__", &[text.as_str()], start, end)
            .await
        {
            Ok(names) => names,
            Err(e) if !e.is_retriable() => {
                rec.notes
                    .push(format!("{text} ({}) not recorded: {e}", sel.why));
                continue;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot list the metrics of {text}"));
            }
        };
        eprintln!(
            "metrics: {text} ({}): {} metric name(s)",
            sel.why,
            names.len()
        );
        let every = names.len().div_ceil(10).max(1);
        for (i, name) in names.iter().enumerate() {
            let query = sel.named(name);
            let result = match client.samples(&query, start, end).await {
                Ok(r) => r,
                Err(e) if !e.is_retriable() => {
                    rec.notes.push(format!("{query} not recorded: {e}"));
                    continue;
                }
                Err(e) => return Err(e).with_context(|| format!("cannot read {query}")),
            };
            let family = rec.families.entry(name.clone()).or_default();
            let mut added = 0;
            for series in result.series {
                let mut labels = series.labels;
                labels.remove("__name__");
                if let std::collections::btree_map::Entry::Vacant(v) = family.entry(labels) {
                    v.insert(series.points);
                    added += 1;
                }
            }
            if family.is_empty() {
                rec.families.remove(name);
            }
            let n = i + 1;
            if terminal {
                eprint!("\r  [{n}/{}] {name}: {added} new series\x1b[K", names.len());
                if n == names.len() {
                    eprintln!();
                }
            } else if n % every == 0 || n == names.len() {
                eprintln!("  [{n}/{}] {name}: {added} new series", names.len());
            }
        }
    }
    Ok(rec)
}

/// Writes the series as OpenMetrics gauges to `path`; errors name the file.
pub fn write(rec: &Recorded, path: &Path) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = OpenMetricsWriter::new(std::io::BufWriter::new(file));
    for (name, series) in &rec.families {
        for (labels, points) in series {
            w.write_series(name, MetricKind::Gauge, labels, points)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    w.finish()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn rendered(expr: &str) -> Vec<String> {
        selectors_of(expr, "t")
            .unwrap()
            .iter()
            .map(Selector::render)
            .collect()
    }

    #[test]
    fn an_expression_becomes_the_selectors_it_reads() {
        assert_eq!(
            rendered("max(entry_latency_seconds{quantile=\"0.9\",service=\"frontend\"}) > 1.62"),
            ["{__name__=\"entry_latency_seconds\",quantile=\"0.9\",service=\"frontend\"}"]
        );
        assert_eq!(
            rendered(
                "sum by (pod) (rate(cpu_total{namespace=\"shop\",pod=~\"api-.*\"}[5m] offset 1h)) / on(pod) mem{namespace!=\"x\"} and mem{namespace!=\"x\"}"
            ),
            [
                "{__name__=\"cpu_total\",namespace=\"shop\",pod=~\"api-.*\"}",
                "{__name__=\"mem\",namespace!=\"x\"}",
            ]
        );
        assert_eq!(
            rendered("{__name__=~\"up|x\",job=\"a\\\"b\"}"),
            ["{__name__=~\"up|x\",job=\"a\\\"b\"}"]
        );
        assert!(rendered("vector(1) + 2").is_empty());
        assert!(selectors_of("sum(rate(x[5m]", "t").is_err());
    }

    #[test]
    fn namespaces_are_quoted_and_named() {
        let s = Selector::namespace("we\"ird");
        assert_eq!(s.render(), "{namespace=\"we\\\"ird\"}");
        assert_eq!(s.named("up"), "{__name__=\"up\",namespace=\"we\\\"ird\"}");
    }
}
