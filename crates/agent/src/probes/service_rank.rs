//! Ranks the services of a namespace by how far they moved, just around the
//! onset, from their own recent past: the generic look for a symptom at an
//! entry service that no playbook names.
//!
//! Each pod and metric (CPU, memory, server latency) is scored with an
//! upward robust z against the hour before (median and a spread that a
//! quiet series cannot shrink to nothing: the larger of 1.4826·MAD, the
//! baseline's P95 spread, a share of the median and an absolute floor),
//! taking the second-largest z of the current window so that a one-minute
//! spike does not lead. Per-call latencies score the callee; the logs'
//! shape (new errors, rare span patterns, a volume drop) scores a pod's
//! service; the entry service's own symptom scores it. A service keeps its
//! strongest signal, which names the fault's likely type; then the deepest
//! service that moved goes first.

use std::collections::BTreeMap;

use pagerless_model::Suspect;
use pagerless_tools::logs::{LogPatterns, SourceShape};
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

/// Per-call latency (labels `source_service`, `destination_service`,
/// `reporter` = `source` when the caller measured it, `destination` when the
/// callee did): a call that slows is the callee's doing. When only the
/// caller sees it, the time went on the way (a network delay); when the
/// callee's own serving time rose, the callee is slow in itself.
pub const EDGE_LATENCY: &str = "edge_latency_seconds";

/// The entry service's latency (label `quantile`): the symptom itself. It
/// makes the entry service a candidate, to be preferred only when nothing
/// it calls moved (see [`rank`]).
pub const ENTRY_LATENCY: &str = "entry_latency_seconds";

/// A log z (Poisson-like, counts against the source's own past) is worth
/// this many metric z: a log z of 3.3 (about one chance in a thousand)
/// counts as much as a metric z of [`ANOMALOUS`].
pub const LOG_WEIGHT: f64 = 3.0;

/// A log volume drop's z counts this many metric z: weaker evidence than
/// new errors, as a quieter source may just see less traffic.
pub const VOLUME_WEIGHT: f64 = 1.0;

/// A log absence's z (a service missing from its callers' traces) counts
/// this many metric z.
pub const ABSENCE_WEIGHT: f64 = LOG_WEIGHT;

/// Relative and absolute floors of a call latency's spread.
const EDGE_FLOORS: (f64, f64) = (0.1, 0.002);

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
        .chain([ENTRY_SUCCESS, ENTRY_LATENCY, EDGE_LATENCY])
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

/// The median of `values` and their median absolute deviation from it.
fn median_and_mad(values: &[f64]) -> (f64, f64) {
    let med = median(&mut values.to_vec());
    let mut dev: Vec<f64> = values.iter().map(|x| (x - med).abs()).collect();
    (med, median(&mut dev))
}

/// The upward robust z of `current` against `baseline` (second-largest of
/// the window's points; the largest when there is only one).
pub fn upward_z(baseline: &[f64], current: &[f64], rel: f64, floor: f64) -> Option<f64> {
    upward_z_nth(baseline, current, rel, floor, 1)
}

/// [`upward_z`] taking the `nth` largest (0 = the largest) of the window's points.
fn upward_z_nth(
    baseline: &[f64],
    current: &[f64],
    rel: f64,
    floor: f64,
    nth: usize,
) -> Option<f64> {
    if baseline.len() < 5 || current.is_empty() {
        return None;
    }
    let (med, mad) = median_and_mad(baseline);
    // Episodes are upward: the spread below the median is not widened by
    // them, as the MAD is when an earlier fault fills much of the hour.
    let mut below: Vec<f64> = baseline
        .iter()
        .filter(|x| **x <= med)
        .map(|x| med - x)
        .collect();
    let low = (1.4826 * median(&mut below))
        .max(rel * med.abs())
        .max(floor);
    let mut quiet = without_episodes(baseline, med, low);
    quiet.sort_by(f64::total_cmp);
    let p95 = quantile(&quiet, 0.95);
    let s = (1.4826 * mad)
        .max((p95 - med) / 1.645)
        .max(rel * med.abs())
        .max(floor);
    let mut z: Vec<f64> = current.iter().map(|x| (x - med) / s).collect();
    z.sort_by(|a, b| b.total_cmp(a));
    Some(*z.get(nth).unwrap_or(&z[0]))
}

/// The baseline without its episodes: runs of [`EPISODE_MINUTES`] or more
/// points in a row above `med` + [`EPISODE_SPREADS`]·`spread`. Scattered
/// spikes are the series' own noise and widen its spread; a sustained run
/// is an earlier incident (or an earlier fault), and must not hide this one.
fn without_episodes(baseline: &[f64], med: f64, spread: f64) -> Vec<f64> {
    let high = |x: f64| x > med + EPISODE_SPREADS * spread.max(1e-9);
    let mut out = Vec::with_capacity(baseline.len());
    let mut run: Vec<f64> = Vec::new();
    for &x in baseline {
        if high(x) {
            run.push(x);
            continue;
        }
        if run.len() < EPISODE_MINUTES {
            out.append(&mut run);
        }
        run.clear();
        out.push(x);
    }
    if run.len() < EPISODE_MINUTES {
        out.append(&mut run);
    }
    out
}

/// How many high points in a row make an episode (see [`without_episodes`]).
const EPISODE_MINUTES: usize = 3;

/// How many spreads above the median make a point high (see [`without_episodes`]).
const EPISODE_SPREADS: f64 = 4.0;

/// The symptom's own z, in the alert rule's terms: the window's largest
/// point (the alert already says it is no one-minute spike) against the
/// baseline's median, in units of max(1.4826·MAD, `rel`·median, `floor`).
/// Earlier faults in the baseline hour do not widen the unit, as a P95
/// spread would.
fn rule_z(baseline: &[f64], current: &[f64], rel: f64, floor: f64) -> Option<f64> {
    if baseline.len() < 5 || current.is_empty() {
        return None;
    }
    let (med, mad) = median_and_mad(baseline);
    let s = (1.4826 * mad).max(rel * med.abs()).max(floor).max(1e-9);
    let top = current.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((top - med) / s)
}

/// (caller, callee) → (z as the caller saw the call, z as the callee served it).
type Calls = BTreeMap<(String, String), (Option<f64>, Option<f64>)>;

/// What leads a service's score: the strongest signal seen for it.
struct Lead {
    score: f64,
    /// The pod it was seen on; kept from a weaker signal when this one has none.
    pod: Option<String>,
    /// Which signal: a [`FAMILIES`] type, `log` or `entry`.
    kind: &'static str,
    /// How much of the score travels up the call chain: latency and log
    /// changes do (a callee that slows or fails makes its callers slow or
    /// fail); CPU or memory alone does not, it reaches callers only through
    /// latency. 0 when none.
    travels: f64,
    why: String,
}

/// The strongest signal per service.
#[derive(Default)]
struct Leads {
    best: BTreeMap<String, Lead>,
    /// Per service, the strongest score that travels to its callers.
    travelling: BTreeMap<String, f64>,
}

impl Leads {
    /// Keeps `lead` for `service` if it is stronger than what is there,
    /// and its score among those that travel, if it does.
    fn offer(&mut self, service: &str, mut lead: Lead) {
        if lead.travels > 0.0 {
            let held = self.travelling.entry(service.to_owned()).or_default();
            *held = held.max(lead.travels);
        }
        match self.best.get_mut(service) {
            Some(held) if lead.score > held.score => {
                if lead.pod.is_none() {
                    lead.pod = held.pod.take();
                }
                *held = lead;
            }
            Some(_) => {}
            None => {
                self.best.insert(service.to_owned(), lead);
            }
        }
    }
}

/// The services ranked, most suspect first; `onset` in unix seconds;
/// `entry` the service the symptom was seen at, when known.
///
/// Anomalous services (score at least [`ANOMALOUS`]) that call no other
/// service whose anomaly could explain theirs come first (see
/// [`deepest_first`]): a slow or failing callee makes its callers look slow
/// too. The call graph comes from the per-call latency series and the
/// calls the logs' traces show; the entry service is upstream of every
/// other service.
///
/// With `logs` (the `logs.patterns` answer, sources named by pod or service),
/// a source's new exceptions score its service too: [`LOG_WEIGHT`] times the
/// mean of its error z and its rare-span z, weighed by the share of its
/// erring traces in which it erred first; or its volume drop's z, times
/// [`VOLUME_WEIGHT`]. The likely type is then an error.
pub fn rank(
    data: &RangeResult,
    onset: f64,
    entry: Option<&str>,
    logs: Option<&LogPatterns>,
) -> Vec<Suspect> {
    let in_base = |t: f64| t >= onset - 65.0 * 60.0 && t < onset - 5.0 * 60.0;
    let in_now = |t: f64| t >= onset - 3.0 * 60.0 && t <= onset + 2.0 * 60.0;
    let mut leads = Leads::default();
    let mut entry_error = false;
    // (entry service, z, why) of the symptom series.
    let mut entry_symptom: Vec<(String, f64, String)> = Vec::new();
    let mut calls = Calls::new();
    // pod → service, to name log sources.
    let mut pods: BTreeMap<String, String> = BTreeMap::new();
    for s in &data.series {
        let name = s.labels.get("__name__").map(String::as_str).unwrap_or("");
        if let (Some(pod), Some(service)) = (s.labels.get("pod"), s.labels.get("service")) {
            pods.insert(pod.clone(), service.clone());
        }
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
            // The error ratio, in units of a tenth of the 1% an alert fires at.
            let errors = |v: &[f64]| v.iter().map(|x| 1.0 - x).collect::<Vec<f64>>();
            if let (Some(service), Some(z)) = (
                s.labels.get("service"),
                rule_z(&errors(&base), &errors(&now), 0.0, 0.001),
            ) {
                entry_symptom.push((
                    service.clone(),
                    z,
                    format!("{service}: the success ratio fell (z={z:.1} in its error ratio)"),
                ));
            }
            continue;
        }
        if name == ENTRY_LATENCY {
            if let (Some(service), Some(z)) =
                (s.labels.get("service"), upward_z(&base, &now, 0.1, 0.02))
            {
                let q = s.labels.get("quantile").map(String::as_str).unwrap_or("?");
                entry_symptom.push((
                    service.clone(),
                    z,
                    format!("{service}: its own latency (quantile {q}) moved z={z:.1} and nothing it calls moved as much"),
                ));
            }
            continue;
        }
        if name == EDGE_LATENCY {
            let (Some(caller), Some(callee), Some(reporter)) = (
                s.labels.get("source_service"),
                s.labels.get("destination_service"),
                s.labels.get("reporter"),
            ) else {
                continue;
            };
            let z = upward_z(&base, &now, EDGE_FLOORS.0, EDGE_FLOORS.1);
            let entry = calls.entry((caller.clone(), callee.clone())).or_default();
            match reporter.as_str() {
                "source" => entry.0 = z,
                "destination" => entry.1 = z,
                _ => {}
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
        leads.offer(
            service,
            Lead {
                score: z,
                pod: Some(pod.clone()),
                kind,
                travels: if kind == "network_delay" { z } else { 0.0 },
                why: format!("{pod}: {name}{quantile} moved z={z:.1} from its hour before"),
            },
        );
    }
    for (callee, lead) in call_leads(&calls) {
        leads.offer(&callee, lead);
    }
    for shape in logs.map(|l| l.sources.as_slice()).unwrap_or_default() {
        if let Some(service) = service_of_source(&shape.source, &pods)
            && let Some(mut lead) = log_lead(shape)
        {
            lead.pod = pods
                .contains_key(&shape.source)
                .then(|| shape.source.clone());
            leads.offer(&service, lead);
        }
    }
    // The entry service's own symptom, when it is the entry named.
    for (service, z, why) in entry_symptom {
        if entry.is_none_or(|e| e == service) {
            let lead = Lead {
                score: z,
                pod: None,
                kind: "entry",
                travels: 0.0,
                why,
            };
            leads.offer(&service, lead);
        }
    }
    let Leads { best, travelling } = leads;
    let mut out: Vec<Suspect> = best
        .into_iter()
        .map(|(service, lead)| {
            let fault_type = match lead.kind {
                "log" => "error",
                "cpu" | "memory" if lead.score >= ANOMALOUS => lead.kind,
                _ if entry_error => "error",
                // A weak lead still names its resource.
                "cpu" | "memory" => lead.kind,
                "network_delay" if lead.score >= ANOMALOUS => "network_delay",
                "entry" => "cpu",
                _ => "error",
            };
            Suspect {
                service,
                pod: lead.pod,
                score: lead.score,
                fault_type: Some(fault_type.to_owned()),
                evidence: vec![lead.why],
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.service.cmp(&b.service)));
    // Who calls whom: the per-call series, and the calls the logs' traces show.
    let mut graph: Vec<(String, String)> = calls.keys().cloned().collect();
    for call in logs.map(|l| l.calls.as_slice()).unwrap_or_default() {
        if let (Some(a), Some(b)) = (
            service_of_source(&call.caller, &pods),
            service_of_source(&call.callee, &pods),
        ) && a != b
            && !graph.contains(&(a.clone(), b.clone()))
        {
            graph.push((a, b));
        }
    }
    deepest_first(out, &graph, entry, &travelling)
}

/// A call's slowdown, scored on its callee: by the callee's own serving
/// time when it rose (slow in itself), else by the caller's view (time on
/// the way: a network delay). One lead per callee, its strongest call's.
fn call_leads(calls: &Calls) -> BTreeMap<String, Lead> {
    let mut out: BTreeMap<String, Lead> = BTreeMap::new();
    for ((caller, callee), (seen, served)) in calls {
        let seen_z = seen.unwrap_or(0.0);
        let served_z = served.unwrap_or(0.0);
        let lead = if served_z >= ANOMALOUS || served_z * 3.0 >= seen_z {
            Lead {
                score: served_z,
                pod: None,
                kind: "cpu",
                travels: served_z,
                why: format!(
                    "{caller} → {callee}: p50 latency as {callee} serves it moved z={served_z:.1} (as {caller} sees it z={seen_z:.1})"
                ),
            }
        } else {
            Lead {
                score: seen_z,
                pod: None,
                kind: "network_delay",
                travels: seen_z,
                why: format!(
                    "{caller} → {callee}: p50 latency as {caller} sees it moved z={seen_z:.1}, as {callee} serves it only z={served_z:.1}: the time goes on the way"
                ),
            }
        };
        if out.get(callee).is_none_or(|held| lead.score > held.score) {
            out.insert(callee.clone(), lead);
        }
    }
    out
}

/// What a log source's shape says of its service, if anything.
fn log_lead(shape: &SourceShape) -> Option<Lead> {
    // Without a past, every pattern is new: only errors count then.
    let rare = if shape.baseline.buckets > 0 {
        shape.rare_z
    } else {
        0.0
    };
    // Errors that reached this source from further down the call chain
    // (another source erred first in the same trace) are not its own.
    let c = &shape.current;
    let own = (c.first_errors as f64 + 1.0) / (c.error_traces as f64 + 1.0);
    // Two views of one change, new errors and new span shapes: a source
    // that shows both is likelier than one that shows either.
    let errors = LOG_WEIGHT * (shape.error_z.max(0.0) + rare.max(0.0)) / 2.0 * own;
    let drop = VOLUME_WEIGHT * shape.volume_drop_z;
    let absent = shape.absence.as_ref().map_or(0.0, |a| ABSENCE_WEIGHT * a.z);
    let score = errors.max(drop).max(absent);
    if !score.is_finite() || score <= 0.0 {
        return None;
    }
    let why = if let Some(a) = shape.absence.as_ref().filter(|_| absent >= score) {
        format!(
            "{}: missing from {}'s traces: it used to be in {:.0}% of them, now in {} of {} (z={:.1}): it fails before it logs, or is no longer reached",
            shape.source,
            a.caller,
            a.baseline_share * 100.0,
            a.reached,
            a.caller_traces,
            a.z
        )
    } else if drop > errors {
        format!(
            "{}: its share of the logs fell (z={:.1}): it logs less than its neighbours, as a service that fails early or stops being called does",
            shape.source, shape.volume_drop_z
        )
    } else {
        let example = shape
            .new_patterns
            .first()
            .map(|p| format!(", e.g. {}", p.pattern))
            .unwrap_or_default();
        format!(
            "{}: {} errors (z={:.1}) and {} spans of rare patterns (z={:.1}) in its logs around the onset; first to err in {} of the {} traces it erred in{example}",
            shape.source,
            c.errors,
            shape.error_z,
            c.rare_spans,
            shape.rare_z,
            c.first_errors,
            c.error_traces
        )
    };
    Some(Lead {
        score,
        pod: None,
        kind: "log",
        travels: score,
        why,
    })
}

/// The service a log source belongs to: a pod's (by the series' labels), a
/// service named as such, or the Deployment of a pod-shaped name
/// (`<deployment>-<hash>-<id>`) that is a known service.
fn service_of_source(source: &str, pods: &BTreeMap<String, String>) -> Option<String> {
    if let Some(service) = pods.get(source) {
        return Some(service.clone());
    }
    let known = |s: &str| pods.values().any(|v| v == s);
    if known(source) {
        return Some(source.to_owned());
    }
    let mut parts: Vec<&str> = source.rsplitn(3, '-').collect();
    if parts.len() == 3 {
        let deployment = parts.pop().unwrap_or_default();
        if known(deployment) {
            return Some(deployment.to_owned());
        }
    }
    None
}

/// Orders the scored services. A service *yields* when it calls, directly
/// or through others, a service that moved (score at least [`NOTABLE`]) in
/// its latency or errors (`travelling`: the strongest such signal per
/// service) enough to explain its own movement (a third of it or more): a
/// slow or failing callee makes its callers move too; its CPU or memory
/// alone does not. First the anomalous services
/// (score at least [`ANOMALOUS`]) that do not yield, then the others that
/// moved and do not yield, then those that yield, then the rest, each
/// group by score. The entry service's score is the symptom itself, so it
/// is always high: it leads only by exclusion, when no other service moved
/// even notably, and otherwise follows the services that moved.
fn deepest_first(
    ranked: Vec<Suspect>,
    calls: &[(String, String)],
    entry: Option<&str>,
    travelling: &BTreeMap<String, f64>,
) -> Vec<Suspect> {
    let is_entry = |s: &Suspect| entry == Some(s.service.as_str());
    let others_moved = ranked.iter().any(|s| s.score >= NOTABLE && !is_entry(s));
    // What a callee can pass on to its callers: its latency and errors.
    let moved: BTreeMap<String, f64> = ranked
        .iter()
        .filter(|s| !is_entry(s))
        .filter_map(|s| Some((s.service.clone(), *travelling.get(&s.service)?)))
        .filter(|(_, z)| *z >= NOTABLE)
        .collect();
    // Whether `from` reaches a service other than itself that moved enough
    // to explain its own movement (a third of it or more).
    let yields_to = |from: &str, score: f64| -> bool {
        let mut seen = vec![from.to_owned()];
        let mut todo = vec![from.to_owned()];
        while let Some(at) = todo.pop() {
            for (caller, callee) in calls {
                if *caller == at && !seen.contains(callee) {
                    if moved.get(callee).is_some_and(|z| 3.0 * z >= score) {
                        return true;
                    }
                    seen.push(callee.clone());
                    todo.push(callee.clone());
                }
            }
        }
        false
    };
    let tier = |s: &Suspect| -> u8 {
        if is_entry(s) {
            if s.score >= ANOMALOUS && !others_moved {
                0
            } else if s.score >= NOTABLE {
                2
            } else {
                3
            }
        } else if s.score >= ANOMALOUS && !yields_to(&s.service, s.score) {
            0
        } else if s.score >= NOTABLE && !yields_to(&s.service, s.score) {
            1
        } else if s.score >= NOTABLE {
            2
        } else {
            3
        }
    };
    let mut out: Vec<(u8, Suspect)> = ranked.into_iter().map(|s| (tier(&s), s)).collect();
    // Stable: score order holds within a tier.
    out.sort_by_key(|(t, _)| *t);
    out.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagerless_tools::prometheus::LabeledSeries;

    /// 80 minutes of `f(minute)`, one point a minute, with these labels.
    fn labeled(labels: &[(&str, &str)], f: impl Fn(f64) -> f64) -> LabeledSeries {
        LabeledSeries {
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            points: (0..80)
                .map(|m| (f64::from(m) * 60.0, f(f64::from(m))))
                .collect(),
        }
    }

    fn series(name: &str, service: &str, pod: &str, f: impl Fn(f64) -> f64) -> LabeledSeries {
        labeled(&[("__name__", name), ("service", service), ("pod", pod)], f)
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
        let ranked = rank(&data, onset, None, None);
        assert_eq!(ranked[0].service, "ads");
        assert_eq!(ranked[0].fault_type.as_deref(), Some("cpu"));
        assert!(ranked[0].score >= ANOMALOUS, "{:?}", ranked[0]);
        assert!(ranked.iter().find(|s| s.service == "email").unwrap().score < ANOMALOUS);
    }

    #[test]
    fn an_episode_filling_much_of_a_short_baseline_is_still_an_episode() {
        // 16 minutes of baseline (a day's data that starts late), 7 of them
        // an earlier fault at 4x the level: the MAD widens with it, the
        // spread below the median does not, so the episode is found and
        // the same rise reads as a rise again.
        let baseline = [
            0.27, 0.29, 0.26, 0.81, 0.81, 1.0, 0.83, 1.04, 1.05, 0.88, 0.24, 0.26, 0.15, 0.16,
            0.13, 0.28,
        ];
        let current = [0.26, 0.27, 1.0, 1.0, 0.8];
        let z = upward_z(&baseline, &current, 0.1, 0.01).unwrap();
        assert!(z >= NOTABLE, "z={z}");
    }

    #[test]
    fn an_earlier_episode_in_the_baseline_does_not_hide_the_same_fault_again() {
        // A quiet series with a little noise; 5 minutes of an earlier fault
        // at 4x its level, and a one-minute spike of noise.
        let noise = |i: usize| 0.005 + 0.0004 * ((i * 7 % 5) as f64 - 2.0);
        let mut baseline: Vec<f64> = (0..40).map(noise).collect();
        for v in &mut baseline[10..15] {
            *v = 0.02;
        }
        baseline[30] = 0.012;
        let current = [0.005, 0.02, 0.02, 0.019];
        let z = upward_z(&baseline, &current, 0.1, 0.001).unwrap();
        assert!(z >= ANOMALOUS, "z={z}");
        // The spike alone stays noise: it still widens the spread.
        let mut spiky = baseline.clone();
        spiky[10..15].copy_from_slice(&[0.005; 5]);
        for i in [3, 13, 23, 33] {
            spiky[i] = 0.02;
        }
        let z = upward_z(&spiky, &current, 0.1, 0.001).unwrap();
        assert!(z < NOTABLE, "z={z}");
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
        assert!(q.contains("pod_cpu_usage_ratio|pod_memory_usage_ratio|pod_server_latency_seconds|entry_success_ratio|entry_latency_seconds|edge_latency_seconds"));
        assert!(q.contains("namespace=\"online-boutique\""));
    }

    fn edge(caller: &str, callee: &str, reporter: &str, f: impl Fn(f64) -> f64) -> LabeledSeries {
        labeled(
            &[
                ("__name__", EDGE_LATENCY),
                ("source_service", caller),
                ("destination_service", callee),
                ("reporter", reporter),
            ],
            f,
        )
    }

    #[test]
    fn a_slow_callee_outranks_its_slower_looking_caller() {
        let onset = 70.0 * 60.0;
        let step = |before: f64, after: f64| move |m: f64| if m >= 68.0 { after } else { before };
        let data = RangeResult {
            series: vec![
                // The caller's own latency jumps more (it adds up its calls)...
                series(
                    "pod_server_latency_seconds",
                    "frontend",
                    "frontend-1",
                    step(0.05, 5.0),
                ),
                // ...but the call to currency is what slowed, on both sides.
                edge("frontend", "currency", "source", step(0.004, 0.5)),
                edge("frontend", "currency", "destination", step(0.004, 0.5)),
                // A call that only the caller sees slow: the network.
                edge("frontend", "cart", "source", step(0.004, 0.1)),
                edge("frontend", "cart", "destination", |_| 0.004),
                series("pod_cpu_usage_ratio", "cart", "cart-1", |_| 0.2),
            ],
        };
        let ranked = rank(&data, onset, Some("frontend"), None);
        let order: Vec<&str> = ranked.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(order[..2], ["currency", "cart"], "{ranked:?}");
        assert_eq!(ranked[0].fault_type.as_deref(), Some("cpu"));
        assert_eq!(ranked[1].fault_type.as_deref(), Some("network_delay"));
        assert_eq!(ranked[1].pod.as_deref(), Some("cart-1"), "the pod is kept");
        assert_eq!(order[2], "frontend", "the caller follows what it calls");
    }

    #[test]
    fn the_entry_service_leads_only_when_nothing_else_moved() {
        let onset = 70.0 * 60.0;
        let entry_latency = |m: f64| {
            if m >= 69.0 {
                2.0
            } else {
                0.3 + 0.01 * (m % 2.0)
            }
        };
        let symptom = labeled(
            &[
                ("__name__", ENTRY_LATENCY),
                ("service", "frontend"),
                ("quantile", "0.9"),
            ],
            entry_latency,
        );
        let quiet = series("pod_cpu_usage_ratio", "ads", "ads-1", |m| {
            0.2 + 0.02 * (m % 3.0)
        });
        let data = RangeResult {
            series: vec![symptom.clone(), quiet],
        };
        let ranked = rank(&data, onset, Some("frontend"), None);
        assert_eq!(ranked[0].service, "frontend", "{ranked:?}");
        // A service that moved notably, though not anomalously, goes first.
        let moved = series("pod_cpu_usage_ratio", "ads", "ads-1", |m| {
            if m >= 68.0 { 0.3 } else { 0.2 }
        });
        let data = RangeResult {
            series: vec![symptom, moved],
        };
        let ranked = rank(&data, onset, Some("frontend"), None);
        assert!(
            ranked[0].score >= NOTABLE && ranked[0].score < ANOMALOUS,
            "{ranked:?}"
        );
        assert_eq!(ranked[0].service, "ads", "{ranked:?}");
        assert_eq!(ranked[1].service, "frontend");
    }

    fn shape(
        source: &str,
        errors: u64,
        error_z: f64,
        traces: u64,
        first: u64,
    ) -> serde_json::Value {
        serde_json::json!({
            "source": source,
            "current": {"lines": 100, "errors": errors, "warnings": 0, "spans": 50,
                        "rare_spans": errors, "minutes": 5,
                        "error_traces": traces, "first_errors": first},
            "baseline": {"lines": 1000, "errors": 0, "rare_spans": 0, "minutes": 50, "buckets": 10},
            "error_rate_per_min": 0.0, "rare_span_rate_per_min": 0.0,
            "error_z": error_z, "rare_z": error_z, "new_patterns": []
        })
    }

    /// Pods whose CPU stays flat: services the series know, nothing moving.
    fn quiet_pods(pods: &[(&str, &str)]) -> RangeResult {
        RangeResult {
            series: pods
                .iter()
                .map(|(service, pod)| series("pod_cpu_usage_ratio", service, pod, |_| 0.2))
                .collect(),
        }
    }

    /// A `logs.patterns` answer with these sources and inferred calls.
    fn patterns(sources: Vec<serde_json::Value>, calls: serde_json::Value) -> LogPatterns {
        serde_json::from_value(serde_json::json!({
            "at": "1970-01-01T01:10:00Z",
            "current": {"start": "", "end": ""},
            "baseline": {"start": "", "end": ""},
            "sources": sources,
            "calls": calls
        }))
        .unwrap()
    }

    #[test]
    fn new_errors_in_a_pods_logs_score_its_service_unless_relayed() {
        let onset = 70.0 * 60.0;
        let data = quiet_pods(&[
            ("ts-price-service", "ts-price-service-7d9f8-x2x4z"),
            ("ts-travel-service", "ts-travel-service-6b5c4-abcde"),
            ("ts-seat-service", "ts-seat-service-55c8b-k9k9k"),
        ]);
        let logs = patterns(
            vec![
                // The caller relays the callee's errors: more of them, none first.
                shape("ts-travel-service-6b5c4-abcde", 40, 40.0, 20, 0),
                shape("ts-price-service-7d9f8-x2x4z", 20, 20.0, 20, 20),
                // Named by its Deployment's pod shape, not a pod the series know.
                shape("ts-seat-service-55c8b-zzzzz", 5, 5.0, 0, 0),
                // Not a service of the namespace: ignored.
                shape("nginx", 50, 50.0, 0, 0),
            ],
            serde_json::json!([]),
        );
        let ranked = rank(&data, onset, None, Some(&logs));
        let order: Vec<&str> = ranked.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(
            order,
            ["ts-price-service", "ts-seat-service", "ts-travel-service"],
            "{ranked:?}"
        );
        assert_eq!(ranked[0].fault_type.as_deref(), Some("error"));
        assert_eq!(ranked[0].score, LOG_WEIGHT * 20.0);
        assert_eq!(
            ranked[0].pod.as_deref(),
            Some("ts-price-service-7d9f8-x2x4z")
        );
        assert!(ranked[2].score < 3.0 * LOG_WEIGHT, "{:?}", ranked[2]);
    }

    #[test]
    fn a_callee_missing_from_its_callers_traces_outranks_the_callers_errors() {
        let onset = 70.0 * 60.0;
        let data = quiet_pods(&[
            ("ts-travel-service", "ts-travel-service-6b5c4-abcde"),
            ("ts-basic-service", "ts-basic-service-5dc8d-46997"),
            ("ts-price-service", "ts-price-service-7d9f8-x2x4z"),
        ]);
        // travel errs first (its callee failed silently, so no one erred
        // before it); basic carries on without price; price logs nothing.
        let mut price = shape("ts-price-service-7d9f8-x2x4z", 0, 0.0, 0, 0);
        price["absence"] = serde_json::json!({
            "caller": "ts-basic-service-5dc8d-46997", "baseline_share": 0.99,
            "caller_traces": 60, "reached": 0, "z": 24.0
        });
        let logs = patterns(
            vec![
                shape("ts-travel-service-6b5c4-abcde", 13, 13.0, 13, 13),
                shape("ts-basic-service-5dc8d-46997", 0, 0.0, 0, 0),
                price,
            ],
            serde_json::json!([
                {"caller": "ts-travel-service-6b5c4-abcde", "callee": "ts-basic-service-5dc8d-46997", "traces": 90},
                {"caller": "ts-basic-service-5dc8d-46997", "callee": "ts-price-service-7d9f8-x2x4z", "traces": 90}
            ]),
        );
        let ranked = rank(&data, onset, None, Some(&logs));
        assert_eq!(ranked[0].service, "ts-price-service", "{ranked:?}");
        assert_eq!(ranked[0].score, ABSENCE_WEIGHT * 24.0);
        assert_eq!(ranked[0].fault_type.as_deref(), Some("error"));
        assert!(
            ranked[0].evidence[0].contains("missing from ts-basic-service-5dc8d-46997's traces"),
            "{:?}",
            ranked[0].evidence
        );
        assert_eq!(ranked[1].service, "ts-travel-service", "{ranked:?}");
    }

    #[test]
    fn a_caller_yields_only_to_a_callee_anomaly_that_can_explain_its_own() {
        let calls = vec![
            ("food".to_owned(), "travel".to_owned()),
            ("travel".to_owned(), "basic".to_owned()),
        ];
        // (service, score, whether its signal travels to callers).
        let order = |scored: &[(&str, f64, bool)]| -> Vec<String> {
            let suspects = scored
                .iter()
                .map(|(service, score, _)| Suspect {
                    service: (*service).into(),
                    pod: None,
                    score: *score,
                    fault_type: None,
                    evidence: Vec::new(),
                })
                .collect();
            let travelling = scored
                .iter()
                .filter(|t| t.2)
                .map(|(service, score, _)| ((*service).to_owned(), *score))
                .collect();
            deepest_first(suspects, &calls, None, &travelling)
                .into_iter()
                .map(|s| s.service)
                .collect()
        };
        // basic (24) explains food (30) two calls away.
        assert_eq!(
            order(&[("food", 30.0, true), ("basic", 24.0, true)]),
            ["basic", "food"]
        );
        // A blip of 12 under an anomaly of 85 does not.
        assert_eq!(
            order(&[("food", 85.0, true), ("basic", 12.0, true)]),
            ["food", "basic"]
        );
        // Nor does a callee that moved only in CPU or memory: that reaches
        // its callers only through its latency.
        assert_eq!(
            order(&[("food", 30.0, true), ("basic", 24.0, false)]),
            ["food", "basic"]
        );
        // Among services that moved without an anomaly, the same: travel
        // (5) yields to basic (4.7) that it calls, not to an unrelated 6.
        assert_eq!(
            order(&[
                ("other", 6.0, true),
                ("travel", 5.0, true),
                ("basic", 4.7, true)
            ]),
            ["other", "basic", "travel"]
        );
    }
}
