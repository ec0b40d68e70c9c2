//! The embedded reasoner: deterministic, offline, fast.
//!
//! It keeps a posterior over the playbooks' hypotheses. Every check it makes
//! resolves some probes; present evidence adds `weight × strength` to each
//! hypothesis' score, absent evidence subtracts a little where the hypothesis
//! expected it. The next check is the one whose probes weigh most in the
//! leading hypotheses, per unit of cost — after a short triage an SRE would
//! start with (the symptom, then memory and CPU). It concludes when one
//! hypothesis is confident and the facts its plan needs are in hand.

pub mod checks;
mod plan;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use pagerless_model::{Evidence, Observation};
use pagerless_tools::git::History;
use pagerless_tools::kubernetes::{DeploymentInfo, LogLines, NodeInfo, PodInfo};
use pagerless_tools::prometheus::InstantResult;

use crate::playbook::Playbook;
use crate::probes;
use crate::{AlertContext, Next, Reasoner, State};
use checks::{ALL, Check, WATCH_SECS};

/// How sure the leading hypothesis must be to conclude.
const CONFIDENT: f64 = 0.8;

/// How far before the onset the latest log lines may be to stand in for
/// the onset's minutes when collection stopped: older ones describe another time.
const LOG_GAP_SECS: i64 = 600;

/// What the investigation has learned beyond evidence: names and objects the
/// next calls and the plan need.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// `alertname`.
    pub alertname: String,
    /// The alerted service.
    pub service: Option<String>,
    /// The namespace.
    pub namespace: Option<String>,
    /// The symptom's PromQL.
    pub symptom: Option<String>,
    /// `latency`, `errors`, `restarts` or `disk`.
    pub symptom_kind: String,
    /// The service the evidence points at, when not the alerted one.
    pub culprit_service: Option<String>,
    /// Pods of the namespace.
    pub pods: Vec<PodInfo>,
    /// Nodes running the suspect's pods.
    pub service_nodes: BTreeSet<String>,
    /// A crash-looping pod, if any.
    pub crashing_pod: Option<String>,
    /// The suspect deployment.
    pub deployment: Option<DeploymentInfo>,
    /// Nodes.
    pub nodes: Vec<NodeInfo>,
    /// When the symptom began: the alert's `startsAt`, moved back to the
    /// start of the symptom's run once its history is read.
    pub onset: chrono::DateTime<chrono::Utc>,
    /// When the alert started firing (`startsAt`).
    pub alerted: chrono::DateTime<chrono::Utc>,
    /// Whether a dependency outside the suspect was seen slowing down: only
    /// then is watching worth its minutes.
    pub external_suspect: bool,
    /// When no log source had a line around the onset: the latest line's
    /// time, if it is recent enough to stand in for the onset's minutes.
    pub logs_latest: Option<chrono::DateTime<chrono::Utc>>,
}

impl Facts {
    /// The service under suspicion: the one the evidence points at, else the alerted one.
    pub fn suspect(&self) -> Option<String> {
        self.culprit_service
            .clone()
            .or_else(|| self.service.clone())
    }
}

/// The service a pod belongs to, from its name (`<deployment>-<hash>-<suffix>`).
pub fn service_of_pod(pod: &str) -> String {
    let parts: Vec<&str> = pod.rsplitn(3, '-').collect();
    if parts.len() == 3 {
        parts[2].to_owned()
    } else {
        pod.to_owned()
    }
}

/// The embedded reasoner.
pub struct EmbeddedReasoner {
    playbooks: Vec<Playbook>,
    facts: Facts,
    done: BTreeSet<Check>,
    in_flight: Option<Check>,
    resolved: BTreeSet<String>,
    evidence: Vec<Evidence>,
    suspects: Vec<pagerless_model::Suspect>,
    /// What the ranking reads: the services' series and the logs' shape.
    rank_series: Option<pagerless_tools::prometheus::RangeResult>,
    log_shape: Option<pagerless_tools::logs::LogPatterns>,
    waited: bool,
    started: bool,
}

impl EmbeddedReasoner {
    /// A reasoner over these playbooks.
    pub fn new(playbooks: Vec<Playbook>) -> EmbeddedReasoner {
        EmbeddedReasoner {
            playbooks,
            facts: Facts::default(),
            done: BTreeSet::new(),
            in_flight: None,
            resolved: BTreeSet::new(),
            evidence: Vec::new(),
            suspects: Vec::new(),
            rank_series: None,
            log_shape: None,
            waited: false,
            started: false,
        }
    }

    /// A reasoner over the built-in playbooks.
    pub fn builtin() -> Result<EmbeddedReasoner, crate::playbook::PlaybookError> {
        Ok(EmbeddedReasoner::new(crate::playbook::load(None)?))
    }

    fn start(&mut self, alert: &AlertContext) {
        self.facts.alertname = alert.alertname.clone();
        self.facts.service = alert.service.clone();
        self.facts.namespace = alert.namespace.clone();
        self.facts.symptom = alert.symptom.clone();
        self.facts.onset = alert.starts_at;
        self.facts.alerted = alert.starts_at;
        let text = format!(
            "{} {}",
            alert.alertname,
            alert.symptom.clone().unwrap_or_default()
        )
        .to_ascii_lowercase();
        self.facts.symptom_kind = if text.contains("filesystem") || text.contains("disk") {
            "disk"
        } else if text.contains("restart") || text.contains("crashloop") {
            "restarts"
        } else if text.contains("5..") || text.contains("error") {
            "errors"
        } else {
            "latency"
        }
        .into();
        self.started = true;
    }

    /// Each playbook's posterior probability, highest first.
    pub fn posterior(&self) -> Vec<(usize, f64)> {
        let present: BTreeMap<&str, f64> =
            self.evidence.iter().fold(BTreeMap::new(), |mut m, e| {
                let s = m.entry(e.probe.as_str()).or_insert(0.0f64);
                *s = s.max(e.strength);
                m
            });
        let scores: Vec<f64> = self
            .playbooks
            .iter()
            .map(|pb| {
                let mut score = if pb.symptoms.contains(&self.facts.symptom_kind) {
                    0.3
                } else {
                    -1.5
                };
                for (probe, w) in &pb.evidence {
                    match present.get(probe.as_str()) {
                        Some(strength) => score += w * strength,
                        None if self.resolved.contains(probe) && *w > 0.0 => score -= 0.35 * w,
                        None => {}
                    }
                }
                score
            })
            .collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = exps.iter().sum();
        let mut out: Vec<(usize, f64)> = exps
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e / total))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    fn leading(&self, post: &[(usize, f64)]) -> String {
        let top: Vec<String> = post
            .iter()
            .take(2)
            .map(|(i, p)| format!("{} {:.2}", self.playbooks[*i].id, p))
            .collect();
        if post.first().is_some_and(|(_, p)| *p < 0.3) {
            format!("Nothing stands out yet ({}).", top.join(", "))
        } else {
            format!("Leading: {}.", top.join(", "))
        }
    }

    fn value(&self, check: Check, post: &[(usize, f64)]) -> f64 {
        let mut v = 0.0;
        for (i, p) in post.iter().take(3) {
            for probe in check.probes() {
                if let Some(w) = self.playbooks[*i].evidence.get(*probe) {
                    v += p * w.abs();
                }
            }
            if self.playbooks[*i].needs.iter().any(|n| n == check.name()) {
                v += p * 0.5;
            }
        }
        v / check.cost()
    }

    fn call(&mut self, check: Check, post: &[(usize, f64)]) -> Next {
        self.done.insert(check);
        let thought = check.thought(&self.facts, &self.leading(post));
        if check == Check::Recheck && !self.waited {
            self.waited = true;
            self.done.remove(&check);
            return Next::Wait {
                thought,
                secs: WATCH_SECS,
            };
        }
        self.in_flight = Some(check);
        Next::Call {
            thought: if check == Check::Recheck {
                "Watched long enough; is the symptom still there?".into()
            } else {
                thought
            },
            call: check.call(&self.facts),
        }
    }

    fn absorb(&mut self, check: Check, obs: &Observation, step: u32) -> Vec<Evidence> {
        let svc = self.facts.suspect().unwrap_or_default();
        let data = &obs.data;
        let instant = || serde_json::from_value::<InstantResult>(data.clone()).ok();
        let mut out: Vec<Evidence> = Vec::new();
        match check {
            Check::Symptom => out.extend(
                instant().and_then(|r| probes::symptom::present(&r, &self.facts.alertname, step)),
            ),
            Check::Recheck => out
                .extend(instant().map(|r| {
                    probes::symptom::recheck(&r, &self.facts.alertname, WATCH_SECS, step)
                })),
            Check::Memory => {
                if let Some(e) =
                    instant().and_then(|r| probes::memory_near_limit::probe(&r, &svc, step))
                {
                    let pod = e
                        .values
                        .get("pod")
                        .and_then(|v| v.as_str())
                        .map(service_of_pod);
                    if let Some(owner) = pod.filter(|o| Some(o) != self.facts.service.as_ref()) {
                        self.facts.culprit_service = Some(owner.clone());
                        let mut e = e;
                        e.subject = owner;
                        out.push(e);
                    } else {
                        out.push(e);
                    }
                }
            }
            Check::CpuUsage => {
                out.extend(instant().and_then(|r| probes::cpu_low::probe(&r, &svc, step)))
            }
            Check::Throttling => {
                out.extend(instant().and_then(|r| probes::cpu_throttled::probe(&r, &svc, step)))
            }
            Check::NodeLoad => out.extend(instant().and_then(|r| {
                probes::node_contention::probe(&r, &self.facts.service_nodes, &svc, step)
            })),
            Check::Services => {
                let found = instant().and_then(|r| {
                    probes::downstream_latency::probe(
                        &r,
                        self.facts.service.as_deref().unwrap_or_default(),
                        step,
                    )
                });
                self.facts.external_suspect |= found.is_some();
                out.extend(found);
            }
            Check::Database => out.extend(
                instant()
                    .map(|r| probes::pool_saturated::probe(&r, step))
                    .unwrap_or_default(),
            ),
            Check::Disk => out.extend(instant().and_then(|r| probes::disk::filling(&r, step))),
            Check::Nodes => {
                if let Ok(nodes) = serde_json::from_value::<Vec<NodeInfo>>(data.clone()) {
                    out.extend(probes::disk::pressure(&nodes, step));
                    self.facts.nodes = nodes;
                }
            }
            Check::Pods => {
                if let Ok(pods) = serde_json::from_value::<Vec<PodInfo>>(data.clone()) {
                    // The pods of the suspect if it has any; its OOMs and crashes first.
                    let owner_of = |p: &PodInfo| service_of_pod(&p.name);
                    let mut groups: BTreeMap<String, Vec<PodInfo>> = BTreeMap::new();
                    for p in &pods {
                        groups.entry(owner_of(p)).or_default().push(p.clone());
                    }
                    let mut found = Vec::new();
                    for (service, ps) in &groups {
                        found.extend(probes::oom_killed::probe(ps, service, step));
                        if let Some(e) =
                            probes::crashloop_config_error::from_pods(ps, service, step)
                        {
                            self.facts.crashing_pod = e
                                .values
                                .get("pod")
                                .and_then(|v| v.as_str())
                                .map(str::to_owned);
                            found.push(e);
                        }
                    }
                    if self.facts.culprit_service.is_none()
                        && let Some(e) = found
                            .iter()
                            .find(|e| Some(&e.subject) != self.facts.service.as_ref())
                        && !found
                            .iter()
                            .any(|e| Some(&e.subject) == self.facts.service.as_ref())
                    {
                        self.facts.culprit_service = Some(e.subject.clone());
                    }
                    let suspect = self.facts.suspect().unwrap_or_default();
                    self.facts.service_nodes = pods
                        .iter()
                        .filter(|p| owner_of(p) == suspect)
                        .filter_map(|p| p.node.clone())
                        .collect();
                    self.facts.pods = pods;
                    out.extend(
                        found
                            .into_iter()
                            .filter(|e| self.facts.suspect().is_none_or(|s| s == e.subject)),
                    );
                }
            }
            Check::Logs => {
                if let Ok(logs) = serde_json::from_value::<LogLines>(data.clone()) {
                    out.extend(probes::crashloop_config_error::from_logs(&logs, &svc, step));
                }
            }
            Check::Git => {
                if let Ok(h) = serde_json::from_value::<History>(data.clone()) {
                    out.extend(probes::memory_limit_lowered::probe(&h, step));
                    out.extend(probes::cpu_limit_lowered::probe(&h, step));
                    out.extend(probes::image_changed::probe(&h, step));
                    out.extend(probes::config_changed::probe(&h, step));
                }
            }
            Check::Deployment => {
                self.facts.deployment = serde_json::from_value::<DeploymentInfo>(data.clone()).ok();
            }
            Check::Onset => {
                if let Ok(r) =
                    serde_json::from_value::<pagerless_tools::prometheus::RangeResult>(data.clone())
                    && let Some(start) =
                        probes::symptom::run_start(&r, self.facts.alerted, checks::ONSET_STEP_SECS)
                {
                    self.facts.onset = self.facts.onset.min(start);
                }
            }
            Check::RankServices | Check::LogPatterns | Check::LatestLogs => {
                if check == Check::RankServices {
                    self.rank_series = serde_json::from_value(data.clone()).ok();
                } else {
                    let shape: Option<pagerless_tools::logs::LogPatterns> =
                        serde_json::from_value(data.clone()).ok();
                    if check == Check::LogPatterns {
                        self.facts.logs_latest = shape
                            .as_ref()
                            .and_then(|s| s.latest_before.as_deref())
                            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                            .map(|t| t.with_timezone(&chrono::Utc))
                            .filter(|t| (self.facts.onset - *t).num_seconds() <= LOG_GAP_SECS);
                    }
                    // The freshest logs win: a look past a gap replaces the empty one.
                    if check == Check::LogPatterns || shape.is_some() {
                        self.log_shape = shape;
                    }
                }
                if let Some(r) = &self.rank_series {
                    let onset = self.facts.onset.timestamp() as f64;
                    self.suspects = probes::service_rank::rank(
                        r,
                        onset,
                        self.facts.service.as_deref(),
                        self.log_shape.as_ref(),
                    );
                    for (i, s) in self.suspects.iter().take(3).enumerate() {
                        out.push(probes::evidence(
                            "service_anomaly",
                            s.service.clone(),
                            format!(
                                "#{} {} (score {:.1}, likely {}): {}",
                                i + 1,
                                s.service,
                                s.score,
                                s.fault_type.as_deref().unwrap_or("?"),
                                s.evidence.join("; ")
                            ),
                            (s.score / probes::service_rank::ANOMALOUS / 2.0).clamp(0.1, 1.0),
                            step,
                            &[("score", serde_json::json!(s.score))],
                        ));
                    }
                }
            }
            Check::Anomalies => {
                if let Ok(c) =
                    serde_json::from_value::<pagerless_tools::prometheus::Correlation>(data.clone())
                {
                    for (rank, cand) in c.ranked.iter().take(3).enumerate() {
                        let labels: Vec<String> = cand
                            .labels
                            .iter()
                            .filter(|(k, _)| *k != "__name__")
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect();
                        let lead = cand
                            .lead_secs
                            .map(|l| format!(", {l:.0} s before the onset"))
                            .unwrap_or_default();
                        out.push(probes::evidence(
                            "metric_anomaly",
                            labels.join(","),
                            format!(
                                "#{} {} {{{}}} moved (z={:.1}{lead})",
                                rank + 1,
                                cand.query.split('(').next().unwrap_or_default().trim(),
                                labels.join(","),
                                cand.z
                            ),
                            (cand.score / 3.0).clamp(0.1, 1.0),
                            step,
                            &[
                                ("query", serde_json::json!(cand.query)),
                                ("z", serde_json::json!(cand.z)),
                            ],
                        ));
                    }
                }
            }
            Check::Changes => {
                if let Ok(h) = serde_json::from_value::<History>(data.clone()) {
                    for c in h.commits.iter().take(3) {
                        let short: String = c.hash.chars().take(7).collect();
                        let what: Vec<String> = c
                            .changes
                            .iter()
                            .take(3)
                            .map(|v| {
                                format!(
                                    "{} {} → {}",
                                    v.key,
                                    v.before.clone().unwrap_or_default(),
                                    v.after.clone().unwrap_or_default()
                                )
                            })
                            .collect();
                        out.push(probes::evidence(
                            "recent_change",
                            c.files.first().cloned().unwrap_or_default(),
                            format!(
                                "{short} by {} ({}): \"{}\" {}",
                                c.author,
                                c.date,
                                c.message,
                                what.join(", ")
                            ),
                            0.5,
                            step,
                            &[("commit", serde_json::json!(c.hash))],
                        ));
                    }
                }
            }
        }
        out
    }
}

#[async_trait]
impl Reasoner for EmbeddedReasoner {
    fn name(&self) -> String {
        "embedded".into()
    }

    fn assess(&mut self, observation: &Observation, step: u32) -> Vec<Evidence> {
        let Some(check) = self.in_flight.take() else {
            return Vec::new();
        };
        if observation.error.is_some() {
            return Vec::new();
        }
        let found = self.absorb(check, observation, step);
        for p in check.probes() {
            self.resolved.insert((*p).to_owned());
        }
        self.evidence.extend(found.iter().cloned());
        found
    }

    async fn next(&mut self, state: &State<'_>) -> Next {
        if !self.started {
            self.start(state.alert);
        }
        let available = |c: Check| state.tools.contains(&c.tool());
        let post = self.posterior();

        // Triage first, the way an SRE starts.
        let triage: &[Check] = match self.facts.symptom_kind.as_str() {
            "disk" => &[Check::Symptom, Check::Disk],
            "restarts" => &[Check::Symptom, Check::Pods],
            _ => &[Check::Symptom, Check::Memory, Check::CpuUsage],
        };
        if let Some(c) = triage
            .iter()
            .copied()
            .find(|c| !self.done.contains(c) && c.ready(&self.facts) && available(*c))
        {
            return self.call(c, &post);
        }

        // Confident: gather what the plan needs, then conclude.
        let (best, p) = post[0];
        let pb = &self.playbooks[best];
        if p >= CONFIDENT {
            let missing = pb
                .needs
                .iter()
                .filter_map(|n| ALL.iter().copied().find(|c| c.name() == n))
                .find(|c| !self.done.contains(c) && c.ready(&self.facts) && available(*c));
            match missing {
                Some(c) => return self.call(c, &post),
                None => return self.conclude(best, p, &post),
            }
        }

        // Otherwise the check that best separates the leading hypotheses.
        let next = ALL
            .iter()
            .copied()
            .filter(|c| !self.done.contains(c) && c.ready(&self.facts) && available(*c))
            .map(|c| (c, self.value(c, &post)))
            .filter(|(_, v)| *v > 0.05)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((c, _)) = next {
            return self.call(c, &post);
        }
        if p >= 0.5 {
            return self.conclude(best, p, &post);
        }
        // No playbook fits: the generic look before handing over.
        if let Some(c) = [
            Check::Onset,
            Check::RankServices,
            Check::LogPatterns,
            Check::LatestLogs,
            Check::Anomalies,
            Check::Changes,
        ]
        .into_iter()
        .find(|c| !self.done.contains(c) && c.ready(&self.facts) && available(*c))
        {
            return self.call(c, &post);
        }
        // A service stands out: name it, with the ranking, for a human to act on.
        if let Some(top) = self
            .suspects
            .first()
            .filter(|s| s.score >= probes::service_rank::NOTABLE)
        {
            return self.conclude_suspects(top.clone(), &post);
        }
        Next::Escalate {
            thought: format!(
                "{} No check left separates the hypotheses.",
                self.leading(&post)
            ),
            reason: format!(
                "no confident root cause; leading hypotheses: {}; evidence: {}",
                post.iter()
                    .take(3)
                    .map(|(i, p)| format!("{} ({p:.2})", self.playbooks[*i].id))
                    .collect::<Vec<_>>()
                    .join(", "),
                if self.evidence.is_empty() {
                    "none".into()
                } else {
                    self.evidence
                        .iter()
                        .map(|e| e.summary.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            ),
            suspects: self.suspects.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use pagerless_model::{Environment, ToolCall};
    use serde_json::json;

    use super::*;

    const ONSET: &str = "2023-01-29T11:02:10Z";

    fn alert() -> AlertContext {
        AlertContext {
            incident_id: None,
            alertname: "EntryLatencyHigh".into(),
            service: Some("ts-ui-dashboard".into()),
            namespace: Some("train-ticket".into()),
            node: None,
            environment: Environment::prod(),
            labels: Default::default(),
            annotations: Default::default(),
            starts_at: chrono::DateTime::parse_from_rfc3339(ONSET)
                .unwrap()
                .with_timezone(&chrono::Utc),
            symptom: Some("max(entry_latency_seconds) > 1".into()),
        }
    }

    /// Runs the reasoner against canned answers: `answer` gives each call's
    /// data, or `None` for the default (metrics that say nothing, logs of no
    /// source). Returns the calls made and their thoughts.
    async fn drive(
        answer: impl Fn(&ToolCall) -> Option<serde_json::Value>,
    ) -> Vec<(String, ToolCall)> {
        let mut reasoner = EmbeddedReasoner::builtin().unwrap();
        let alert = alert();
        let tools = [
            "prometheus.query",
            "prometheus.query_range",
            "logs.patterns",
        ];
        let mut calls = Vec::new();
        for step in 1..=30 {
            let state = State {
                alert: &alert,
                steps: &[],
                tools: &tools,
            };
            let Next::Call { thought, call } = reasoner.next(&state).await else {
                return calls;
            };
            let data = answer(&call).unwrap_or_else(|| match call.tool.as_str() {
                "prometheus.query" => json!({ "time": 1674990130.0, "series": [] }),
                "prometheus.query_range" => json!({ "series": [] }),
                _ => silent(None),
            });
            let obs = Observation {
                tool: call.tool.clone(),
                summary: String::new(),
                query: String::new(),
                data,
                error: None,
            };
            reasoner.assess(&obs, step);
            calls.push((thought, call));
        }
        panic!("no conclusion in 30 steps: {calls:?}");
    }

    /// A `logs.patterns` answer with no line in the current window, the
    /// latest line before it at `latest`.
    fn silent(latest: Option<&str>) -> serde_json::Value {
        json!({
            "at": ONSET,
            "current": { "start": "", "end": "" },
            "baseline": { "start": "", "end": "" },
            "sources": [],
            "latest_before": latest,
        })
    }

    fn log_calls(calls: &[(String, ToolCall)]) -> Vec<&(String, ToolCall)> {
        calls
            .iter()
            .filter(|(_, c)| c.tool == "logs.patterns")
            .collect()
    }

    #[tokio::test]
    async fn a_gap_in_log_collection_is_looked_past_to_the_latest_lines() {
        let calls = drive(|c| {
            (c.tool == "logs.patterns").then(|| silent(Some("2023-01-29T10:58:07.853Z")))
        })
        .await;
        let logs = log_calls(&calls);
        assert_eq!(logs.len(), 2, "{calls:?}");
        assert_eq!(logs[0].1.args["at"], ONSET);
        assert_eq!(logs[1].1.args["at"], "2023-01-29T10:58:07Z");
        assert!(logs[1].0.contains("gap in log collection"), "{}", logs[1].0);
        assert!(
            logs[1].0.contains("242 s before the onset"),
            "{}",
            logs[1].0
        );
    }

    #[tokio::test]
    async fn lines_older_than_ten_minutes_do_not_stand_in_for_the_onset() {
        let calls =
            drive(|c| (c.tool == "logs.patterns").then(|| silent(Some("2023-01-29T10:51:00Z"))))
                .await;
        assert_eq!(log_calls(&calls).len(), 1, "{calls:?}");
    }

    /// The symptom's history: samples at every 15 s step of `times`
    /// (seconds from the alert).
    fn holding(times: impl Iterator<Item = i64>) -> serde_json::Value {
        let t0 = alert().starts_at.timestamp() as f64;
        let points: Vec<(f64, f64)> = times.map(|s| (t0 + s as f64, 1.2)).collect();
        json!({ "series": [{ "labels": {}, "points": points }] })
    }

    #[tokio::test]
    async fn the_generic_look_is_anchored_where_the_symptom_began_not_where_it_fired() {
        // A rule with `for: 2m`: the symptom held from 2 minutes before the alert.
        let symptom = alert().symptom.unwrap();
        let calls = drive(|c| {
            (c.tool == "prometheus.query_range" && c.args["query"] == symptom)
                .then(|| holding((-120..=0).step_by(15)))
        })
        .await;
        let rank = calls
            .iter()
            .find(|(_, c)| c.tool == "prometheus.query_range" && c.args["query"] != symptom)
            .unwrap();
        let began = alert().starts_at.timestamp() - 120;
        assert_eq!(rank.1.args["end"], began + 120, "{rank:?}");
        assert!(
            rank.0.contains("held since 11:00:10, 120 s before"),
            "{}",
            rank.0
        );
        let logs = log_calls(&calls);
        assert_eq!(logs[0].1.args["at"], "2023-01-29T11:00:10Z");
    }
}
