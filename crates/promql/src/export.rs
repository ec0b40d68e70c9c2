//! Writing a store out in the text formats Prometheus reads: OpenMetrics for
//! `promtool tsdb create-blocks-from openmetrics`, and text format 0.0.4 for a
//! Prometheus scraping `/metrics`.
//!
//! Key decision: no `# TYPE` lines. Types are not tracked by the store, and
//! `unknown` keeps names like `*_total` or `*_bucket` exactly as stored (a typed
//! counter family would make promtool expect the `_total` suffix rules).

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::eval::LOOKBACK_DELTA_MS;
use crate::store::{METRIC_NAME, Series, SeriesStore};
use crate::value::format_float;

/// Writes every sample of every series as OpenMetrics text: series grouped by
/// metric name (families contiguous), timestamps in seconds, `# EOF` last.
pub fn write_openmetrics(store: &SeriesStore, out: &mut impl Write) -> io::Result<()> {
    for (name, series) in by_name(store) {
        for s in series {
            let label_text = label_block(s);
            for &(t, v) in s.samples() {
                writeln!(
                    out,
                    "{name}{label_text} {} {}",
                    format_float(v),
                    om_timestamp(t)
                )?;
            }
        }
    }
    writeln!(out, "# EOF")
}

/// Writes the latest sample at or before `at_ms` of each series in Prometheus
/// text format 0.0.4 (no timestamps, so the scraper stamps them). A series whose
/// latest sample is older than the 5-minute lookback is left out, as a target
/// stops exposing a series that went away (the scraper then marks it stale).
pub fn write_exposition(store: &SeriesStore, at_ms: i64, out: &mut impl Write) -> io::Result<()> {
    for (name, series) in by_name(store) {
        for s in series {
            let Some((t, v)) = s.latest_at_or_before(at_ms) else {
                continue;
            };
            if t < at_ms - LOOKBACK_DELTA_MS {
                continue;
            }
            writeln!(out, "{name}{} {}", label_block(s), format_float(v))?;
        }
    }
    Ok(())
}

fn by_name(store: &SeriesStore) -> BTreeMap<&str, Vec<&Series>> {
    let mut families: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
    for s in store.series() {
        families
            .entry(s.label(METRIC_NAME).unwrap_or(""))
            .or_default()
            .push(s);
    }
    families
}

/// `{a="x",b="y"}` without `__name__`, or nothing when there are no labels.
fn label_block(series: &Series) -> String {
    let parts: Vec<String> = series
        .label_pairs()
        .filter(|(k, _)| *k != METRIC_NAME)
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Escapes `\`, `"` and newlines, as both text formats require.
pub fn escape_label_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A millisecond timestamp as OpenMetrics seconds (`1700000000.123`).
fn om_timestamp(t_ms: i64) -> String {
    crate::value::format_timestamp(t_ms)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::Labels;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn openmetrics_groups_families_and_ends_with_eof() {
        let mut store = SeriesStore::new();
        store.append(&labels(&[("__name__", "b"), ("x", "1")]), 1_000, 1.0);
        store.append(&labels(&[("__name__", "a")]), 1_500, 2.5);
        store.append(&labels(&[("__name__", "b"), ("x", "2")]), 2_000, f64::NAN);
        let mut out = Vec::new();
        write_openmetrics(&store, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a 2.5 1.500\nb{x=\"1\"} 1 1\nb{x=\"2\"} NaN 2\n# EOF\n"
        );
    }

    #[test]
    fn exposition_takes_latest_sample_and_escapes_values() {
        let mut store = SeriesStore::new();
        let l = labels(&[("__name__", "m"), ("path", "a\"b\\c\nd")]);
        store.append(&l, 1_000, 1.0);
        store.append(&l, 2_000, 2.0);
        store.append(&l, 3_000, 3.0);
        store.append(&labels(&[("__name__", "late")]), 5_000, 1.0);
        store.append(&labels(&[("__name__", "gone")]), 2_500 - 300_001, 1.0);
        let mut out = Vec::new();
        write_exposition(&store, 2_500, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "m{path=\"a\\\"b\\\\c\\nd\"} 2\n"
        );
    }
}
