//! Alert rules evaluated the way Prometheus evaluates them (pending for `for`,
//! then firing, resolved when the expression stops returning the series), and
//! notifications shaped exactly like Alertmanager's webhook (version 4), one
//! group per alert name.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::scenario::AlertRule;

/// Labels of a series or alert.
pub type Labels = BTreeMap<String, String>;

/// One alert instance's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Active {
    /// The alert's labels (series labels without `__name__`, the rule's labels, `alertname`).
    pub labels: Labels,
    /// Annotations, templated.
    pub annotations: Labels,
    /// When the expression first returned the series.
    pub active_at: DateTime<Utc>,
    /// When it started firing, once it has.
    pub fired_at: Option<DateTime<Utc>>,
    /// When it resolved, once it has.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The expression's last value.
    pub value: f64,
}

/// The evaluator: one per run, holding every rule's alerts.
#[derive(Debug, Default)]
pub struct Evaluator {
    rules: Vec<AlertRule>,
    active: BTreeMap<(usize, String), Active>,
}

/// What changed in one evaluation: groups to notify (alert name → its alerts).
pub type Changes = BTreeMap<String, Vec<Active>>;

impl Evaluator {
    /// An evaluator for `rules`.
    pub fn new(rules: Vec<AlertRule>) -> Evaluator {
        Evaluator {
            rules,
            active: BTreeMap::new(),
        }
    }

    /// Evaluates every rule at `now`, with `query` answering PromQL instant
    /// queries. Returns the groups whose firing set changed, each with all its
    /// firing and just-resolved alerts, as Alertmanager would notify them.
    pub fn evaluate(
        &mut self,
        now: DateTime<Utc>,
        mut query: impl FnMut(&str) -> Result<Vec<(Labels, f64)>, String>,
    ) -> Changes {
        let mut changed: BTreeMap<usize, bool> = BTreeMap::new();
        for (ri, rule) in self.rules.iter().enumerate() {
            let result = match query(&rule.expr) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(rule = %rule.name, error = %e, "alert rule failed to evaluate");
                    continue;
                }
            };
            let mut seen = Vec::new();
            for (series, value) in result {
                let mut labels: Labels = series
                    .into_iter()
                    .filter(|(k, _)| k != "__name__")
                    .collect();
                labels.extend(rule.labels.clone());
                labels.insert("alertname".into(), rule.name.clone());
                let key = fingerprint(&labels);
                seen.push(key.clone());
                let annotations = rule
                    .annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), template(v, &labels, value)))
                    .collect();
                let entry = self.active.entry((ri, key)).or_insert_with(|| Active {
                    labels: labels.clone(),
                    annotations: Labels::new(),
                    active_at: now,
                    fired_at: None,
                    resolved_at: None,
                    value,
                });
                if entry.resolved_at.is_some() {
                    // Firing again after resolving: a new instance.
                    *entry = Active {
                        labels,
                        annotations: Labels::new(),
                        active_at: now,
                        fired_at: None,
                        resolved_at: None,
                        value,
                    };
                }
                entry.value = value;
                entry.annotations = annotations;
                if entry.fired_at.is_none()
                    && now - entry.active_at >= chrono::Duration::seconds(rule.for_.0)
                {
                    entry.fired_at = Some(now);
                    changed.insert(ri, true);
                }
            }
            let mut gone = Vec::new();
            for ((r, key), a) in self.active.iter_mut().filter(|((r, _), _)| *r == ri) {
                if seen.contains(key) || a.resolved_at.is_some() {
                    continue;
                }
                if a.fired_at.is_some() {
                    a.resolved_at = Some(now);
                    changed.insert(*r, true);
                } else {
                    gone.push((*r, key.clone()));
                }
            }
            for k in gone {
                self.active.remove(&k);
            }
        }
        let mut out = Changes::new();
        for ri in changed.keys() {
            let group: Vec<Active> = self
                .active
                .iter()
                .filter(|((r, _), a)| {
                    r == ri && a.fired_at.is_some() && a.resolved_at.is_none_or(|t| t == now)
                })
                .map(|(_, a)| a.clone())
                .collect();
            out.insert(self.rules[*ri].name.clone(), group);
        }
        out
    }

    /// Alerts firing now.
    pub fn firing(&self) -> Vec<&Active> {
        self.active
            .values()
            .filter(|a| a.fired_at.is_some() && a.resolved_at.is_none())
            .collect()
    }
}

/// Alertmanager's (and Prometheus') label-set fingerprint: FNV-1a 64 over the
/// sorted names and values, each followed by 0xff; printed as 16 hex digits.
pub fn fingerprint(labels: &Labels) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn template(text: &str, labels: &Labels, value: f64) -> String {
    let mut out = text.replace("{{ $value }}", &format_value(value));
    for (k, v) in labels {
        out = out.replace(&format!("{{{{ $labels.{k} }}}}"), v);
    }
    out
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// Prometheus' generator URL for a rule: `{base}/graph?g0.expr=EXPR&g0.tab=1`,
/// the expression form-encoded as Prometheus 2.42 writes it.
pub fn generator_url(base: &str, expr: &str) -> String {
    let mut enc = String::with_capacity(expr.len() * 3);
    for b in expr.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                enc.push(b as char)
            }
            b' ' => enc.push('+'),
            _ => enc.push_str(&format!("%{b:02X}")),
        }
    }
    format!("{base}/graph?g0.expr={enc}&g0.tab=1")
}

/// The webhook body Alertmanager 0.25 would send for `alerts` of group `name`.
pub fn webhook(name: &str, alerts: &[Active], external_url: &str, generator_url: &str) -> Value {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let items: Vec<Value> = alerts
        .iter()
        .map(|a| {
            json!({
                "status": if a.resolved_at.is_some() { "resolved" } else { "firing" },
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": time(a.fired_at.unwrap_or(a.active_at)),
                "endsAt": a.resolved_at.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), time),
                "generatorURL": generator_url,
                "fingerprint": fingerprint(&a.labels),
            })
        })
        .collect();
    let firing = alerts.iter().any(|a| a.resolved_at.is_none());
    let common = |f: &dyn Fn(&Active) -> &Labels| -> Labels {
        let mut it = alerts.iter().map(f);
        let Some(first) = it.next() else {
            return Labels::new();
        };
        let mut c = first.clone();
        for other in it {
            c.retain(|k, v| other.get(k) == Some(v));
        }
        c
    };
    json!({
        "receiver": "pagerless",
        "status": if firing { "firing" } else { "resolved" },
        "alerts": items,
        "groupLabels": {"alertname": name},
        "commonLabels": common(&|a| &a.labels),
        "commonAnnotations": common(&|a| &a.annotations),
        "externalURL": external_url,
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"),
        "truncatedAlerts": 0,
    })
}

/// The scenario's alert rules as a Prometheus rule file (`rule_files:`), so
/// that a real Prometheus scraping the lab's `/metrics` raises the same
/// alerts the lab does.
pub fn prometheus_rules(scenario: &crate::Scenario) -> String {
    let rules: Vec<serde_json::Value> = scenario
        .alerts
        .iter()
        .map(|r| {
            serde_json::json!({
                "alert": r.name,
                "expr": r.expr,
                "for": format!("{}s", r.for_.0),
                "labels": r.labels,
                "annotations": r.annotations,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "groups": [{ "name": format!("lab-{}", scenario.name), "rules": rules }]
    });
    let body = yaml_serde::to_string(&doc).unwrap_or_default();
    format!(
        "# Alert rules of the lab scenario `{}`, for a real Prometheus.\n{body}",
        scenario.name
    )
}

/// A Prometheus configuration that scrapes the lab's `/metrics` (keeping its
/// labels), evaluates `rules.yml` beside it, and sends alerts to the
/// Alertmanager at `alertmanager` (`host:port`).
pub fn prometheus_config(metrics_url: &str, rules_path: &str, alertmanager: &str) -> String {
    let (scheme, rest) = metrics_url
        .split_once("://")
        .unwrap_or(("http", metrics_url));
    let (host, path) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{p}")),
        None => (rest, "/metrics".to_owned()),
    };
    format!(
        "# Scrapes the pagerless lab and evaluates its scenario's alert rules.\n\
         global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n\
         rule_files:\n  - {rules_path}\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{alertmanager}']\n\
         scrape_configs:\n  - job_name: lab\n    honor_labels: true\n    scheme: {scheme}\n    metrics_path: {path}\n    static_configs:\n      - targets: ['{host}']\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Secs;

    fn rule() -> AlertRule {
        AlertRule {
            name: "High".into(),
            expr: "x > 1".into(),
            for_: Secs(60),
            labels: Labels::from([("severity".into(), "critical".into())]),
            annotations: Labels::from([(
                "summary".into(),
                "{{ $labels.pod }} at {{ $value }}".into(),
            )]),
        }
    }

    #[test]
    fn pending_then_firing_then_resolved() {
        let mut ev = Evaluator::new(vec![rule()]);
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let series = |v: f64| {
            Ok(vec![(
                Labels::from([("__name__".into(), "x".into()), ("pod".into(), "p1".into())]),
                v,
            )])
        };
        assert!(ev.evaluate(at(0), |_| series(2.0)).is_empty(), "pending");
        assert!(
            ev.evaluate(at(30), |_| series(2.5)).is_empty(),
            "still pending"
        );
        let fired = ev.evaluate(at(60), |_| series(3.25));
        let group = &fired["High"];
        assert_eq!(group.len(), 1);
        assert_eq!(group[0].labels["alertname"], "High");
        assert!(!group[0].labels.contains_key("__name__"));
        assert_eq!(group[0].annotations["summary"], "p1 at 3.25");
        assert!(
            ev.evaluate(at(75), |_| series(3.0)).is_empty(),
            "no change, no notification"
        );
        let resolved = ev.evaluate(at(90), |_| Ok(vec![]));
        assert_eq!(resolved["High"][0].resolved_at, Some(at(90)));
        assert!(ev.firing().is_empty());

        let body = webhook("High", &resolved["High"], "http://lab", "http://lab/graph");
        assert_eq!(body["status"], "resolved");
        assert_eq!(body["version"], "4");
        assert_eq!(body["alerts"][0]["endsAt"], "2027-01-15T08:01:30.000Z");
        assert_eq!(body["groupKey"], "{}:{alertname=\"High\"}");
    }

    #[test]
    fn a_blip_shorter_than_for_never_fires() {
        let mut ev = Evaluator::new(vec![rule()]);
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let one = || Ok(vec![(Labels::from([("pod".into(), "p".into())]), 5.0)]);
        assert!(ev.evaluate(t0, |_| one()).is_empty());
        assert!(
            ev.evaluate(t0 + chrono::Duration::seconds(30), |_| Ok(vec![]))
                .is_empty()
        );
        assert!(
            ev.evaluate(t0 + chrono::Duration::seconds(45), |_| one())
                .is_empty(),
            "pending anew"
        );
    }

    #[test]
    fn generator_urls_encode_like_prometheus() {
        // Prometheus 2.42 wrote `demo_queue_depth > 100` as below (fixtures/alertmanager/firing.json).
        assert_eq!(
            generator_url("http://vm:19090", "demo_queue_depth > 100"),
            "http://vm:19090/graph?g0.expr=demo_queue_depth+%3E+100&g0.tab=1"
        );
    }

    #[test]
    fn fingerprints_match_alertmanager() {
        // Alertmanager 0.25 printed this fingerprint for these labels (fixtures/alertmanager/firing.json).
        let labels = Labels::from([
            ("alertname".into(), "QueueBacklogHigh".into()),
            ("instance".into(), "127.0.0.1:19101".into()),
            ("job".into(), "demo".into()),
            ("queue".into(), "orders".into()),
            ("service".into(), "orders".into()),
            ("severity".into(), "critical".into()),
        ]);
        assert_eq!(fingerprint(&labels), "1f294f2599d78cd2");
    }
}
