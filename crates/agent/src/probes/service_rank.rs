//! Ranks the services of a namespace by how far their pods' resource and
//! latency series moved, just around the onset, from their own recent past:
//! the generic look for a symptom at an entry service that no playbook names.
//!
//! Each pod and metric is scored with an upward robust z against the hour
//! before (median and a spread that a quiet series cannot shrink to nothing:
//! the larger of 1.4826·MAD, the baseline's P95 spread, a share of the
//! median and an absolute floor), taking the second-largest z of the current
//! window so that a one-minute spike does not lead. A pod's score is its
//! largest metric's; a service's, its largest pod's. The metric that leads
//! names the fault's likely type.

use std::collections::BTreeMap;

use pagerless_model::Suspect;
use pagerless_tools::prometheus::RangeResult;

/// The per-pod families the ranking reads, and how each is scored:
/// (name, fault type, relative floor, absolute floor).
pub const FAMILIES: [(&str, &str, f64, f64); 3] = [
    ("pod_cpu_usage_ratio", "cpu", 0.1, 0.01),
    ("pod_memory_usage_ratio", "memory", 0.05, 0.01),
    ("pod_server_latency_seconds", "network_delay", 0.1, 0.02),
];

/// The entry service's success ratio: a drop there makes an error the likely type.
pub const ENTRY_SUCCESS: &str = "entry_success_ratio";

/// A score this high is an anomaly worth naming a fault type for.
pub const ANOMALOUS: f64 = 10.0;

/// Below this, nothing moved enough to rank on: the investigation hands over
/// without suspects.
pub const NOTABLE: f64 = 3.0;

/// The range query the ranking needs, over the namespace.
pub fn query(namespace: &str) -> String {
    let names: Vec<&str> = FAMILIES
        .iter()
        .map(|f| f.0)
        .chain([ENTRY_SUCCESS])
        .collect();
    format!(
        "{{__name__=~\"{}\", namespace=\"{namespace}\"}}",
        names.join("|")
    )
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The upward robust z of `current` against `baseline` (second-largest of
/// the window's points; the largest when there is only one).
pub fn upward_z(baseline: &[f64], current: &[f64], rel: f64, floor: f64) -> Option<f64> {
    if baseline.len() < 5 || current.is_empty() {
        return None;
    }
    let mut b = baseline.to_vec();
    let med = median(&mut b);
    let p95 = quantile(&b, 0.95);
    let mut dev: Vec<f64> = b.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&mut dev);
    let s = (1.4826 * mad)
        .max((p95 - med) / 1.645)
        .max(rel * med.abs())
        .max(floor);
    let mut z: Vec<f64> = current.iter().map(|x| (x - med) / s).collect();
    z.sort_by(|a, b| b.total_cmp(a));
    Some(*z.get(1).unwrap_or(&z[0]))
}

/// The services ranked, most suspect first; `onset` in unix seconds.
pub fn rank(data: &RangeResult, onset: f64) -> Vec<Suspect> {
    let in_base = |t: f64| t >= onset - 65.0 * 60.0 && t < onset - 5.0 * 60.0;
    let in_now = |t: f64| t >= onset - 3.0 * 60.0 && t <= onset + 2.0 * 60.0;
    // service → (score, pod, family, evidence)
    let mut best: BTreeMap<String, (f64, String, &'static str, String)> = BTreeMap::new();
    let mut entry_error = false;
    for s in &data.series {
        let name = s.labels.get("__name__").map(String::as_str).unwrap_or("");
        let base: Vec<f64> = s
            .points
            .iter()
            .filter(|p| in_base(p.0))
            .map(|p| p.1)
            .collect();
        let now: Vec<f64> = s
            .points
            .iter()
            .filter(|p| in_now(p.0))
            .map(|p| p.1)
            .collect();
        if name == ENTRY_SUCCESS {
            let mut b = base.clone();
            if !b.is_empty() && median(&mut b) >= 0.99 && now.iter().any(|v| *v < 0.99) {
                entry_error = true;
            }
            continue;
        }
        let Some(&(_, kind, rel, floor)) = FAMILIES.iter().find(|f| f.0 == name) else {
            continue;
        };
        let (Some(pod), Some(service)) = (s.labels.get("pod"), s.labels.get("service")) else {
            continue;
        };
        let Some(z) = upward_z(&base, &now, rel, floor) else {
            continue;
        };
        let quantile = s
            .labels
            .get("quantile")
            .map(|q| format!(" p{}", (q.parse::<f64>().unwrap_or(0.0) * 100.0).round()))
            .unwrap_or_default();
        let why = format!("{pod}: {name}{quantile} moved z={z:.1} from its hour before");
        let entry = best.entry(service.clone()).or_insert((
            f64::NEG_INFINITY,
            String::new(),
            kind,
            String::new(),
        ));
        if z > entry.0 {
            *entry = (z, pod.clone(), kind, why);
        }
    }
    let mut out: Vec<Suspect> = best
        .into_iter()
        .map(|(service, (score, pod, kind, why))| {
            let fault_type = match kind {
                "cpu" | "memory" if score >= ANOMALOUS => kind,
                _ if entry_error => "error",
                "network_delay" if score >= ANOMALOUS => "network_delay",
                _ => "error",
            };
            Suspect {
                service,
                pod: Some(pod),
                score,
                fault_type: Some(fault_type.to_owned()),
                evidence: vec![why],
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.service.cmp(&b.service)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagerless_tools::prometheus::LabeledSeries;

    fn series(name: &str, service: &str, pod: &str, f: impl Fn(f64) -> f64) -> LabeledSeries {
        let mut labels = BTreeMap::new();
        labels.insert("__name__".to_owned(), name.to_owned());
        labels.insert("service".to_owned(), service.to_owned());
        labels.insert("pod".to_owned(), pod.to_owned());
        LabeledSeries {
            labels: labels.into_iter().collect(),
            points: (0..80)
                .map(|m| (f64::from(m) * 60.0, f(f64::from(m))))
                .collect(),
        }
    }

    #[test]
    fn the_service_whose_cpu_jumps_at_the_onset_leads() {
        let onset = 70.0 * 60.0;
        let data = RangeResult {
            series: vec![
                // Noisy but steady.
                series("pod_cpu_usage_ratio", "cart", "cart-1", |m| {
                    0.2 + 0.02 * (m % 3.0)
                }),
                // Jumps from 0.1 to 0.9 two minutes before the onset.
                series("pod_cpu_usage_ratio", "ads", "ads-1", |m| {
                    if m >= 68.0 { 0.9 } else { 0.1 }
                }),
                // A one-minute spike only: ignored by the second-largest z.
                series("pod_server_latency_seconds", "email", "email-1", |m| {
                    if m == 70.0 { 5.0 } else { 0.01 }
                }),
            ],
        };
        let ranked = rank(&data, onset);
        assert_eq!(ranked[0].service, "ads");
        assert_eq!(ranked[0].fault_type.as_deref(), Some("cpu"));
        assert!(ranked[0].score >= ANOMALOUS, "{:?}", ranked[0]);
        assert!(ranked.iter().find(|s| s.service == "email").unwrap().score < ANOMALOUS);
    }

    #[test]
    fn a_flat_baseline_cannot_make_a_tiny_change_huge() {
        // Constant baseline, then +0.005: under the absolute floor of 0.01.
        let z = upward_z(&[0.3; 30], &[0.305, 0.305], 0.1, 0.01).unwrap();
        assert!(z < 1.0, "{z}");
        assert_eq!(
            upward_z(&[1.0; 3], &[2.0], 0.1, 0.01),
            None,
            "too little history"
        );
    }

    #[test]
    fn the_query_selects_the_families_in_the_namespace() {
        let q = query("online-boutique");
        assert!(q.contains("pod_cpu_usage_ratio|pod_memory_usage_ratio|pod_server_latency_seconds|entry_success_ratio"));
        assert!(q.contains("namespace=\"online-boutique\""));
    }
}
