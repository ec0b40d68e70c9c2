//! `pool_saturated` and `idle_in_transaction_high`: a database's connection
//! slots are (nearly) all taken, many by sessions idle in a transaction.

use pagerless_model::Evidence;
use pagerless_tools::prometheus::InstantResult;
use serde_json::json;

/// From `pg_stat_activity_count` (by state) and `pg_settings_max_connections`,
/// as postgres-exporter exports them, in one instant vector.
pub fn probe(result: &InstantResult, step: u32) -> Vec<Evidence> {
    let metric = |s: &pagerless_tools::prometheus::LabeledValue| {
        s.labels.get("__name__").cloned().unwrap_or_default()
    };
    let mut out = Vec::new();
    for max in result
        .series
        .iter()
        .filter(|s| metric(s) == "pg_settings_max_connections")
    {
        let db = max
            .labels
            .get("service")
            .cloned()
            .unwrap_or_else(|| "postgres".into());
        let ns = max.labels.get("namespace").cloned().unwrap_or_default();
        let same = |s: &&pagerless_tools::prometheus::LabeledValue| {
            metric(s) == "pg_stat_activity_count"
                && s.labels.get("service") == max.labels.get("service")
        };
        let total: f64 = result.series.iter().filter(same).map(|s| s.value).sum();
        let idle_tx: f64 = result
            .series
            .iter()
            .filter(same)
            .filter(|s| s.labels.get("state").map(String::as_str) == Some("idle in transaction"))
            .map(|s| s.value)
            .sum();
        let values = [
            ("database", json!(db)),
            ("database_namespace", json!(ns)),
            ("connections", json!(total)),
            ("max_connections", json!(max.value)),
            ("idle_in_transaction", json!(idle_tx)),
        ];
        if max.value > 0.0 && total / max.value >= 0.9 {
            out.push(super::evidence(
                "pool_saturated",
                db.clone(),
                format!(
                    "{db} has {total:.0} of {:.0} connection slots taken",
                    max.value
                ),
                1.0,
                step,
                &values,
            ));
        }
        if max.value > 0.0 && idle_tx / max.value >= 0.3 {
            out.push(super::evidence(
                "idle_in_transaction_high",
                db.clone(),
                format!("{idle_tx:.0} sessions of {db} sit idle in a transaction"),
                (idle_tx / max.value).min(1.0),
                step,
                &values,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagerless_tools::prometheus::LabeledValue;

    fn s(name: &str, state: Option<&str>, v: f64) -> LabeledValue {
        let mut labels: pagerless_tools::prometheus::Labels = [
            ("__name__".to_owned(), name.to_owned()),
            ("service".to_owned(), "postgres".to_owned()),
        ]
        .into();
        if let Some(st) = state {
            labels.insert("state".into(), st.into());
        }
        LabeledValue { labels, value: v }
    }

    #[test]
    fn full_slots_and_idle_transactions_are_evidence() {
        let r = InstantResult {
            time: 0.0,
            series: vec![
                s("pg_settings_max_connections", None, 100.0),
                s("pg_stat_activity_count", Some("active"), 30.0),
                s("pg_stat_activity_count", Some("idle"), 6.0),
                s("pg_stat_activity_count", Some("idle in transaction"), 64.0),
            ],
        };
        let ev = probe(&r, 4);
        assert_eq!(
            ev.iter().map(|e| e.probe.as_str()).collect::<Vec<_>>(),
            ["pool_saturated", "idle_in_transaction_high"]
        );
        let calm = InstantResult {
            time: 0.0,
            series: vec![
                s("pg_settings_max_connections", None, 100.0),
                s("pg_stat_activity_count", Some("active"), 20.0),
            ],
        };
        assert!(probe(&calm, 4).is_empty());
    }
}
