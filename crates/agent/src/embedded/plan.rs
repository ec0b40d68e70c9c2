//! From the leading playbook and its evidence to a diagnosis and a plan.

use std::collections::BTreeMap;

use pagerless_model::{
    ActionKind, ActionRequest, Culprit, Diagnosis, Fix, Plan, Target, TargetKind,
};
use serde_json::{Value, json};

use super::EmbeddedReasoner;
use crate::Next;

/// Probes that name a culprit commit.
const GIT_PROBES: [&str; 4] = [
    "memory_limit_lowered",
    "cpu_limit_lowered",
    "image_changed",
    "config_changed",
];

/// `max(current + 2, ceil(current × 1.5))`: enough headroom to matter, never a trickle.
pub fn scale_out(current: i32) -> i32 {
    (current + 2).max((f64::from(current) * 1.5).ceil() as i32)
}

fn fill(template: &str, values: &BTreeMap<String, Value>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let key = &rest[open + 1..open + close];
        // Only `{identifier}` is a placeholder, so PromQL's `{label="..."}`
        // passes through untouched.
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            out.push('{');
            rest = &rest[open + 1..];
            continue;
        }
        match values.get(key) {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Null) | None => out.push('?'),
            Some(v) => out.push_str(&v.to_string()),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

impl EmbeddedReasoner {
    pub(super) fn conclude(&self, best: usize, p: f64, post: &[(usize, f64)]) -> Next {
        let pb = &self.playbooks[best];
        let supports = |probe: &str| pb.evidence.get(probe).is_some_and(|w| *w > 0.0);
        let mut chain: Vec<_> = self
            .evidence
            .iter()
            .filter(|e| supports(&e.probe))
            .cloned()
            .collect();
        chain.sort_by_key(|e| e.step);

        let f = &self.facts;
        let suspect = f.suspect().unwrap_or_default();
        let mut values: BTreeMap<String, Value> = BTreeMap::new();
        values.insert("service".into(), json!(suspect));
        values.insert(
            "namespace".into(),
            json!(f.namespace.clone().unwrap_or_default()),
        );
        let container = f
            .deployment
            .as_ref()
            .and_then(|d| d.containers.first())
            .map(|c| c.name.clone())
            .or_else(|| {
                f.pods
                    .iter()
                    .find(|p| super::service_of_pod(&p.name) == suspect)
                    .and_then(|p| p.containers.first())
                    .map(|c| c.name.clone())
            });
        values.insert(
            "container".into(),
            json!(container.unwrap_or_else(|| suspect.clone())),
        );
        for e in &chain {
            for (k, v) in &e.values {
                values.insert(k.clone(), v.clone());
            }
        }
        // The culprit: the supporting git evidence the playbook weighs most.
        let culprit_ev = GIT_PROBES
            .iter()
            .filter(|p| supports(p))
            .max_by(|a, b| pb.evidence[**a].total_cmp(&pb.evidence[**b]))
            .and_then(|p| chain.iter().find(|e| e.probe == *p));
        if let Some(e) = culprit_ev {
            for (k, v) in &e.values {
                values.insert(k.clone(), v.clone());
            }
        }
        let s = |k: &str| {
            values
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let culprit = culprit_ev.map(|_| Culprit {
            commit: s("commit"),
            author: s("author"),
            date: chrono::DateTime::parse_from_rfc3339(&s("date"))
                .map(|d| d.to_utc())
                .unwrap_or_default(),
            message: s("message"),
            file: s("file"),
            key: s("key"),
            before: s("before"),
            after: s("after"),
        });

        let ns = f.namespace.clone();
        let target = match pb.target.as_str() {
            "node" => Some(Target {
                kind: TargetKind::Node,
                namespace: None,
                name: s("node"),
            }),
            "database" => Some(Target {
                kind: TargetKind::Database,
                namespace: values
                    .get("database_namespace")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .filter(|n| !n.is_empty()),
                name: s("database"),
            }),
            "downstream" => Some(Target {
                kind: TargetKind::External,
                namespace: None,
                name: s("downstream"),
            }),
            _ => Some(Target {
                kind: TargetKind::Deployment,
                namespace: ns.clone(),
                name: suspect.clone(),
            }),
        };

        let current = f
            .deployment
            .as_ref()
            .map(|d| d.replicas)
            .unwrap_or_else(|| {
                f.pods
                    .iter()
                    .filter(|p| super::service_of_pod(&p.name) == suspect)
                    .count() as i32
            });
        let mitigations = pb
            .mitigations
            .iter()
            .filter_map(|m| {
                let target = target.clone()?;
                let mut params = m.params.clone();
                if m.kind == ActionKind::Scale {
                    let to = scale_out(current.max(1));
                    params.insert("from".into(), json!(current));
                    params.insert("replicas".into(), json!(to));
                }
                Some(ActionRequest {
                    kind: m.kind,
                    target,
                    params,
                    rationale: fill(&m.rationale, &values),
                })
            })
            .collect();
        let fix = pb.fix.as_ref().and_then(|t| match t.from.as_str() {
            "culprit" => culprit.as_ref().map(|c| Fix {
                file: c.file.clone(),
                key: c.key.clone(),
                value: c.before.clone(),
                rationale: fill(&t.rationale, &values),
                add_missing: false,
            }),
            _ => Some(Fix {
                file: t.file.clone().unwrap_or_default(),
                key: t.key.clone().unwrap_or_default(),
                value: t.value.clone().unwrap_or_default(),
                rationale: fill(&t.rationale, &values),
                add_missing: t.add_missing,
            }),
        });
        let root_cause = fill(&pb.conclusion, &values);
        Next::Conclude {
            thought: format!("{} Concluding: {root_cause}.", self.leading(post)),
            diagnosis: Box::new(Diagnosis {
                root_cause,
                category: pb.category.clone(),
                confidence: p,
                evidence: chain,
                culprit,
                target,
                suspects: Vec::new(),
            }),
            plan: Plan {
                mitigations,
                fix,
                verify: pb.verify.as_ref().map(|v| fill(v, &values)),
            },
        }
    }
}

impl EmbeddedReasoner {
    /// Concludes with the ranked suspects when no playbook explains the
    /// symptom but one service stands out: a diagnosis a human can act on,
    /// with no mitigation of ours.
    pub(super) fn conclude_suspects(
        &self,
        top: pagerless_model::Suspect,
        post: &[(usize, f64)],
    ) -> Next {
        let kind = top.fault_type.clone().unwrap_or_else(|| "unknown".into());
        let root_cause = format!(
            "{} moved most from its own hour before, right at the onset (likely {kind}): {}",
            top.service,
            top.evidence.join("; ")
        );
        let runner_up = self.suspects.get(1).map_or(0.0, |s| s.score);
        // Confidence grows with the lead over the next suspect.
        let confidence =
            (0.5 + (top.score - runner_up) / (2.0 * top.score.max(1.0))).clamp(0.5, 0.95);
        Next::Conclude {
            thought: format!(
                "{} No playbook explains it, but {} stands out (score {:.1}, next {:.1}). Concluding: {root_cause}.",
                self.leading(post),
                top.service,
                top.score,
                runner_up
            ),
            diagnosis: Box::new(Diagnosis {
                root_cause,
                category: "service_anomaly".into(),
                confidence,
                evidence: self
                    .evidence
                    .iter()
                    .filter(|e| e.probe == "service_anomaly")
                    .cloned()
                    .collect(),
                culprit: None,
                target: Some(Target {
                    kind: TargetKind::Deployment,
                    namespace: self.facts.namespace.clone(),
                    name: top.service.clone(),
                }),
                suspects: self.suspects.clone(),
            }),
            plan: Plan::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_inside_promql_selectors_are_filled_and_selectors_kept() {
        let mut v = BTreeMap::new();
        v.insert("node".to_owned(), json!("node-c"));
        assert_eq!(
            fill(
                r#"avail{node="{node}", mountpoint="/"} < 0.15 on {node} {missing}"#,
                &v
            ),
            r#"avail{node="node-c", mountpoint="/"} < 0.15 on node-c ?"#
        );
    }

    #[test]
    fn scale_out_adds_real_headroom() {
        assert_eq!(scale_out(3), 5);
        assert_eq!(scale_out(1), 3);
        assert_eq!(scale_out(10), 15);
    }

    #[test]
    fn placeholders_fill_and_unknowns_show() {
        let v: BTreeMap<String, Value> =
            [("a".to_owned(), json!("x")), ("n".to_owned(), json!(3))].into();
        assert_eq!(fill("{a} and {n} and {missing}", &v), "x and 3 and ?");
    }
}
