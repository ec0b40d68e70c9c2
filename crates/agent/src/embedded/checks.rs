//! The checks the embedded reasoner can make: each one tool call, the probes
//! that read its answer, what it costs, and how an SRE would say why.

use pagerless_model::ToolCall;
use serde_json::json;

use super::Facts;

/// One check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// The alert's own expression: is the symptom there.
    Symptom,
    /// Working set against the memory limit, per pod of the namespace.
    Memory,
    /// CPU use against the CPU limit, per pod.
    CpuUsage,
    /// Throttled CFS periods, per pod.
    Throttling,
    /// Pods and their containers' last state.
    Pods,
    /// The IaC history of the suspect service's chart.
    Git,
    /// The suspect deployment and its rollout history.
    Deployment,
    /// The previous log of a crash-looping container.
    Logs,
    /// CPU demand against allocatable, per node.
    NodeLoad,
    /// Each service's latency now against before.
    Services,
    /// Database connections by state against max_connections.
    Database,
    /// Root filesystem free space, per node.
    Disk,
    /// Node conditions.
    Nodes,
    /// Watch a while, then the alert's expression again.
    Recheck,
    /// Generic: when the symptom began, from its own history: Prometheus
    /// stamps an alert with the time it fired, after its rule's `for`.
    Onset,
    /// Generic: rank the namespace's services by how far their pods moved
    /// from their own hour before, around the onset.
    RankServices,
    /// Generic: each log source's errors and span patterns around the
    /// onset against its own past (new exceptions).
    LogPatterns,
    /// Generic: when no source logged in the minutes around the onset (a gap
    /// in collection), the same comparison up to the latest lines there are.
    LatestLogs,
    /// Generic: rank the namespace's series by how they moved around the onset.
    Anomalies,
    /// Generic: what changed in the IaC repository lately, anywhere.
    Changes,
}

/// Every check, in the order ties are broken.
pub const ALL: [Check; 20] = [
    Check::Symptom,
    Check::Memory,
    Check::CpuUsage,
    Check::Throttling,
    Check::Pods,
    Check::Git,
    Check::Deployment,
    Check::Logs,
    Check::NodeLoad,
    Check::Services,
    Check::Database,
    Check::Disk,
    Check::Nodes,
    Check::Recheck,
    Check::Onset,
    Check::RankServices,
    Check::LogPatterns,
    Check::LatestLogs,
    Check::Anomalies,
    Check::Changes,
];

/// How far before the alert the symptom's history is read for its onset.
pub const ONSET_LOOKBACK_SECS: i64 = 15 * 60;

/// The step of that history: a common rule evaluation interval.
pub const ONSET_STEP_SECS: i64 = 15;

/// How long to watch a symptom that may heal by itself.
pub const WATCH_SECS: u64 = 300;

impl Check {
    /// Its name in playbooks' `needs`.
    pub fn name(self) -> &'static str {
        match self {
            Check::Symptom => "symptom",
            Check::Memory => "memory",
            Check::CpuUsage => "cpu",
            Check::Throttling => "throttling",
            Check::Pods => "pods",
            Check::Git => "git",
            Check::Deployment => "deployment",
            Check::Logs => "logs",
            Check::NodeLoad => "node_load",
            Check::Services => "services",
            Check::Database => "database",
            Check::Disk => "disk",
            Check::Nodes => "nodes",
            Check::Recheck => "recheck",
            Check::Onset => "onset",
            Check::RankServices => "rank_services",
            Check::LogPatterns => "log_patterns",
            Check::LatestLogs => "latest_logs",
            Check::Anomalies => "anomalies",
            Check::Changes => "changes",
        }
    }

    /// The probes its answer resolves.
    pub fn probes(self) -> &'static [&'static str] {
        match self {
            Check::Symptom => &["symptom_present"],
            Check::Onset => &[],
            Check::Memory => &["memory_near_limit"],
            Check::CpuUsage => &["cpu_low"],
            Check::Throttling => &["cpu_throttled"],
            Check::Pods => &["oom_killed"],
            Check::Git => &[
                "memory_limit_lowered",
                "cpu_limit_lowered",
                "image_changed",
                "config_changed",
            ],
            Check::Deployment => &[],
            Check::Logs => &["crashloop_config_error"],
            Check::NodeLoad => &["node_contention"],
            Check::Services => &["downstream_latency"],
            Check::Database => &["pool_saturated", "idle_in_transaction_high"],
            Check::Disk => &["disk_filling"],
            Check::Nodes => &["disk_pressure"],
            Check::Recheck => &["symptom_recovered", "symptom_persists"],
            Check::RankServices | Check::LogPatterns | Check::LatestLogs => &["service_anomaly"],
            Check::Anomalies => &["metric_anomaly"],
            Check::Changes => &["recent_change"],
        }
    }

    /// Relative cost: metrics are cheap, git and waiting are not.
    pub fn cost(self) -> f64 {
        match self {
            Check::Symptom
            | Check::Memory
            | Check::CpuUsage
            | Check::Throttling
            | Check::NodeLoad
            | Check::Services
            | Check::Database
            | Check::Disk => 0.5,
            Check::Pods | Check::Deployment | Check::Nodes => 0.8,
            Check::Logs | Check::LogPatterns | Check::LatestLogs => 1.2,
            Check::Git | Check::Changes => 2.5,
            Check::Onset => 1.0,
            Check::Recheck | Check::Anomalies | Check::RankServices => 4.0,
        }
    }

    /// The tool it needs.
    pub fn tool(self) -> &'static str {
        match self {
            Check::Symptom
            | Check::Memory
            | Check::CpuUsage
            | Check::Throttling
            | Check::NodeLoad
            | Check::Services
            | Check::Database
            | Check::Disk
            | Check::Recheck => "prometheus.query",
            Check::Pods => "kubernetes.pods",
            Check::Deployment => "kubernetes.deployment",
            Check::Logs => "kubernetes.logs",
            Check::Nodes => "kubernetes.nodes",
            Check::Git | Check::Changes => "git.history",
            Check::Anomalies => "prometheus.correlate",
            Check::RankServices | Check::Onset => "prometheus.query_range",
            Check::LogPatterns | Check::LatestLogs => "logs.patterns",
        }
    }

    /// Whether it can run now, given what is known.
    pub fn ready(self, f: &Facts) -> bool {
        match self {
            Check::Symptom | Check::Onset => f.symptom.is_some(),
            Check::Recheck => f.symptom.is_some() && f.external_suspect,
            Check::Memory | Check::CpuUsage | Check::Throttling | Check::Pods => {
                f.namespace.is_some()
            }
            Check::Git | Check::Deployment => f.suspect().is_some() && f.namespace.is_some(),
            Check::Logs => f.crashing_pod.is_some(),
            Check::NodeLoad => !f.service_nodes.is_empty(),
            Check::Services | Check::Database | Check::Disk | Check::Nodes | Check::Changes => true,
            Check::Anomalies => f.symptom.is_some() && f.namespace.is_some(),
            Check::RankServices | Check::LogPatterns => f.namespace.is_some(),
            Check::LatestLogs => f.logs_latest.is_some(),
        }
    }

    /// The call, for the facts so far.
    pub fn call(self, f: &Facts) -> ToolCall {
        let ns = f.namespace.clone().unwrap_or_default();
        let query = |q: String| ToolCall {
            tool: "prometheus.query".into(),
            args: json!({ "query": q }),
        };
        match self {
            Check::Symptom | Check::Recheck => query(f.symptom.clone().unwrap_or_default()),
            Check::Memory => query(format!(
                "max by (pod) (max_over_time(container_memory_working_set_bytes{{namespace=\"{ns}\"}}[15m]) / on(namespace, pod, container) group_left max by (namespace, pod, container) (kube_pod_container_resource_limits{{namespace=\"{ns}\", resource=\"memory\"}}))"
            )),
            Check::CpuUsage => query(format!(
                "max by (pod) (rate(container_cpu_usage_seconds_total{{namespace=\"{ns}\"}}[5m]) / on(namespace, pod, container) group_left max by (namespace, pod, container) (kube_pod_container_resource_limits{{namespace=\"{ns}\", resource=\"cpu\"}}))"
            )),
            Check::Throttling => query(format!(
                "max by (pod) (rate(container_cpu_cfs_throttled_periods_total{{namespace=\"{ns}\"}}[5m]) / rate(container_cpu_cfs_periods_total{{namespace=\"{ns}\"}}[5m]))"
            )),
            Check::NodeLoad => query(
                "max by (node) (node_load1) / on(node) max by (node) (kube_node_status_allocatable{resource=\"cpu\"})".into(),
            ),
            Check::Services => query(
                "histogram_quantile(0.5, sum by (le, service) (rate(http_request_duration_seconds_bucket[2m]))) / histogram_quantile(0.5, sum by (le, service) (rate(http_request_duration_seconds_bucket[2m] offset 15m)))".into(),
            ),
            Check::Database => query("pg_stat_activity_count or pg_settings_max_connections".into()),
            Check::Disk => query("node_filesystem_avail_bytes{mountpoint=\"/\"} / node_filesystem_size_bytes{mountpoint=\"/\"}".into()),
            Check::Pods => ToolCall { tool: "kubernetes.pods".into(), args: json!({ "namespace": ns }) },
            Check::Nodes => ToolCall { tool: "kubernetes.nodes".into(), args: json!({}) },
            Check::Deployment => ToolCall {
                tool: "kubernetes.deployment".into(),
                args: json!({ "namespace": ns, "name": f.suspect().unwrap_or_default() }),
            },
            Check::Logs => ToolCall {
                tool: "kubernetes.logs".into(),
                args: json!({ "namespace": ns, "pod": f.crashing_pod.clone().unwrap_or_default(), "previous": true, "tail": 20 }),
            },
            Check::Git => ToolCall {
                tool: "git.history".into(),
                args: json!({ "service": f.suspect().unwrap_or_default(), "limit": 10 }),
            },
            Check::Changes => ToolCall { tool: "git.history".into(), args: json!({ "limit": 5 }) },
            Check::Onset => {
                let t = f.onset.timestamp();
                ToolCall {
                    tool: "prometheus.query_range".into(),
                    args: json!({
                        "query": f.symptom.clone().unwrap_or_default(),
                        "start": t - ONSET_LOOKBACK_SECS,
                        "end": t,
                        "step_secs": ONSET_STEP_SECS,
                    }),
                }
            }
            Check::RankServices => {
                let t = f.onset.timestamp();
                ToolCall {
                    tool: "prometheus.query_range".into(),
                    args: json!({
                        "query": crate::probes::service_rank::query(&ns),
                        "start": t - 65 * 60,
                        "end": t + 120,
                        "step_secs": 60,
                    }),
                }
            }
            Check::LogPatterns => log_patterns(f.onset),
            Check::LatestLogs => log_patterns(f.logs_latest.unwrap_or(f.onset)),
            Check::Anomalies => {
                let t = f.onset.timestamp();
                ToolCall {
                    tool: "prometheus.correlate".into(),
                    args: json!({
                        "symptom": f.symptom.clone().unwrap_or_default().split(" > ").next().unwrap_or_default(),
                        "candidates": [
                            format!("max by (pod) (container_memory_working_set_bytes{{namespace=\"{ns}\"}})"),
                            format!("sum by (pod) (rate(container_cpu_usage_seconds_total{{namespace=\"{ns}\"}}[2m]))"),
                            format!("sum by (pod) (increase(kube_pod_container_status_restarts_total{{namespace=\"{ns}\"}}[5m]))"),
                            "sum by (service) (rate(http_requests_total{code=~\"5..\"}[2m]))".to_owned(),
                            "histogram_quantile(0.5, sum by (le, service) (rate(http_request_duration_seconds_bucket[2m])))".to_owned(),
                        ],
                        "start": t - 1800,
                        "end": t + 60,
                        "step_secs": 15,
                    }),
                }
            }
        }
    }

    /// Why, in an SRE's words.
    pub fn thought(self, f: &Facts, leading: &str) -> String {
        let svc = f.suspect().unwrap_or_else(|| f.alertname.clone());
        let ns = f.namespace.clone().unwrap_or_default();
        match self {
            Check::Symptom => format!(
                "{} fired{}. First, confirm the symptom and its size with the rule's own expression.",
                f.alertname,
                f.service
                    .as_ref()
                    .map(|s| format!(" for {s}"))
                    .unwrap_or_default()
            ),
            Check::Memory => format!(
                "Latency or errors often mean a resource is exhausted. Memory first: how close do the pods in {ns} come to their memory limits over the last 15 minutes?"
            ),
            Check::CpuUsage => {
                format!("And CPU: how much of their CPU limits do the pods in {ns} use?")
            }
            Check::Throttling => format!("{leading} Is the CPU limit throttling the pods in {ns}?"),
            Check::Pods => format!(
                "{leading} Are the pods in {ns} restarting, and how did their containers last stop?"
            ),
            Check::Git => {
                format!("{leading} What changed? Reading the IaC history of {svc}'s chart.")
            }
            Check::Deployment => format!(
                "{leading} What does {svc} run now, what did its rollouts change, and how many replicas does it have (for the plan)?"
            ),
            Check::Logs => format!(
                "{leading} Why does the container exit? Reading the previous container's log of {}.",
                f.crashing_pod.clone().unwrap_or_default()
            ),
            Check::NodeLoad => format!("{leading} Is a node that hosts {svc}'s pods out of CPU?"),
            Check::Services => format!(
                "{leading} Did another service slow down first? Comparing each service's median latency with 15 minutes ago."
            ),
            Check::Database => format!("{leading} Are the database's connection slots exhausted?"),
            Check::Disk => format!("{leading} How much root filesystem do the nodes have left?"),
            Check::Nodes => format!("{leading} What do the nodes' conditions say?"),
            Check::Recheck => format!(
                "{leading} Nothing we own explains it; a dependency's blip may heal by itself. Watching {} minutes before deciding, then looking at the symptom again.",
                WATCH_SECS / 60
            ),
            Check::Onset => format!(
                "{leading} No playbook fits; the generic look compares the minutes around the onset with the hour before, so first: when did the symptom begin? The alert is stamped when it fired, after its rule's `for`; the expression's own history over the {} minutes before says when it started to hold.",
                ONSET_LOOKBACK_SECS / 60
            ),
            Check::RankServices => {
                let since = (f.alerted - f.onset).num_seconds();
                let began = if since > 0 {
                    format!(
                        " The symptom has held since {}, {since} s before the alert fired: that is the onset.",
                        f.onset.format("%H:%M:%S")
                    )
                } else {
                    String::new()
                };
                format!(
                    "{leading}{began} No playbook fits. Which service of {ns} moved most from its own hour before, right around the onset? Its pods' CPU, memory and latency against their baselines."
                )
            }
            Check::LogPatterns => format!(
                "{leading} Do the logs say more? Each source's errors and span patterns in the minutes around the onset against its own hour before: a service that starts throwing new exceptions stands out."
            ),
            Check::LatestLogs => {
                let latest = f.logs_latest.unwrap_or(f.onset);
                format!(
                    "No source logged a line in the minutes around the onset: all silent at once is a gap in log collection, not the services. The latest lines are from {}, {} s before the onset; comparing the minutes up to them with the hour before instead.",
                    latest.format("%H:%M:%S"),
                    (f.onset - latest).num_seconds()
                )
            }
            Check::Anomalies => format!(
                "{leading} No playbook fits. Ranking the series of {ns} by how strongly and how early they moved around the onset."
            ),
            Check::Changes => {
                format!("{leading} And what changed lately anywhere in the IaC repository?")
            }
        }
    }
}

/// `logs.patterns` around `at`: the 4 minutes before to 1 after, against the
/// hour before, less the 10 minutes nearest (an onset is often late).
fn log_patterns(at: chrono::DateTime<chrono::Utc>) -> ToolCall {
    ToolCall {
        tool: "logs.patterns".into(),
        args: json!({
            "at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "before_secs": 240,
            "after_secs": 60,
            "baseline_secs": 3600,
            "gap_secs": 600,
        }),
    }
}
