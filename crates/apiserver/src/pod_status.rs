//! A pod's READY, STATUS and RESTARTS as the API server's table printer computes them
//! (kubernetes `pkg/printers/internalversion/printers.go`, `printPod`).

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;

use crate::time::from_time;

/// What `kubectl get pods` shows for a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSummary {
    /// Containers ready and running.
    pub ready: usize,
    /// Containers in the spec.
    pub total: usize,
    /// The STATUS column: `Running`, `Pending`, `CrashLoopBackOff`, `OOMKilled`, `Terminating`, ...
    pub status: String,
    /// Restarts summed over containers.
    pub restarts: i32,
    /// When a container last terminated, if ever.
    pub last_restart: Option<DateTime<Utc>>,
}

/// Computes the summary like `printPod` does.
pub fn summarize(pod: &Pod) -> PodSummary {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.clone()).unwrap_or_default();
    let mut reason = phase.clone();
    if let Some(r) = status
        .and_then(|s| s.reason.clone())
        .filter(|r| !r.is_empty())
    {
        reason = r;
    }
    let total = pod.spec.as_ref().map(|s| s.containers.len()).unwrap_or(0);
    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;

    let mut initializing = false;
    let init_statuses = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or(&[]);
    let init_total = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map_or(0, Vec::len);
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += c.restart_count;
        let state = c.state.as_ref();
        if let Some(t) = state.and_then(|s| s.terminated.as_ref())
            && t.exit_code == 0
        {
            continue;
        }
        if state.and_then(|s| s.running.as_ref()).is_some() && c.started == Some(true) {
            continue;
        }
        reason = if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            match t.reason.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None if t.signal.unwrap_or(0) != 0 => {
                    format!("Init:Signal:{}", t.signal.unwrap_or(0))
                }
                None => format!("Init:ExitCode:{}", t.exit_code),
            }
        } else if let Some(r) = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone())
            .filter(|r| !r.is_empty() && r != "PodInitializing")
        {
            format!("Init:{r}")
        } else {
            format!("Init:{i}/{init_total}")
        };
        initializing = true;
        break;
    }
    restarts = if initializing { restarts } else { 0 };

    if !initializing {
        let mut has_running = false;
        for c in status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or(&[])
            .iter()
            .rev()
        {
            restarts += c.restart_count;
            if let Some(t) = c.last_state.as_ref().and_then(|s| s.terminated.as_ref())
                && let Some(finished) = t.finished_at.as_ref()
            {
                let finished = from_time(finished);
                if last_restart.is_none_or(|l| l < finished) {
                    last_restart = Some(finished);
                }
            }
            let state = c.state.as_ref();
            let waiting = state.and_then(|s| s.waiting.as_ref());
            let terminated = state.and_then(|s| s.terminated.as_ref());
            if let Some(r) = waiting
                .and_then(|w| w.reason.clone())
                .filter(|r| !r.is_empty())
            {
                reason = r;
            } else if let Some(t) = terminated {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None if t.signal.unwrap_or(0) != 0 => {
                        format!("Signal:{}", t.signal.unwrap_or(0))
                    }
                    None => format!("ExitCode:{}", t.exit_code),
                };
            } else if c.ready && state.and_then(|s| s.running.as_ref()).is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(pod, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    if pod.metadata.deletion_timestamp.is_some() {
        if status.and_then(|s| s.reason.as_deref()) == Some("NodeLost") {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }
    PodSummary {
        ready,
        total,
        status: reason,
        restarts,
        last_restart,
    }
}

/// Whether the pod has condition `type_` with status `True`.
pub fn condition_true(pod: &Pod, type_: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

/// Whether a pod counts as ready for ReplicaSet and Deployment status: Running, not being
/// deleted, and every container ready.
pub fn pod_is_ready(pod: &Pod) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    if status.phase.as_deref() != Some("Running") || pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let statuses = status.container_statuses.as_deref().unwrap_or(&[]);
    !statuses.is_empty() && statuses.iter().all(|c| c.ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
        ContainerStateWaiting, ContainerStatus, PodSpec, PodStatus,
    };

    fn pod(phase: &str, statuses: Vec<ContainerStatus>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                container_statuses: Some(statuses),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn running(ready: bool) -> ContainerStatus {
        ContainerStatus {
            name: "app".into(),
            ready,
            state: Some(ContainerState {
                running: Some(ContainerStateRunning::default()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn running_pod() {
        let s = summarize(&pod("Running", vec![running(true)]));
        assert_eq!(
            (s.ready, s.total, s.status.as_str(), s.restarts),
            (1, 1, "Running", 0)
        );
    }

    #[test]
    fn crash_loop_wins_over_phase() {
        let mut c = running(false);
        c.restart_count = 3;
        c.state = Some(ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("CrashLoopBackOff".into()),
                message: None,
            }),
            ..Default::default()
        });
        c.last_state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                reason: Some("OOMKilled".into()),
                exit_code: 137,
                ..Default::default()
            }),
            ..Default::default()
        });
        let s = summarize(&pod("Running", vec![c]));
        assert_eq!(
            (s.ready, s.status.as_str(), s.restarts),
            (0, "CrashLoopBackOff", 3)
        );
    }

    #[test]
    fn terminated_oom_and_exit_codes() {
        let mut c = running(false);
        c.state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                reason: Some("OOMKilled".into()),
                exit_code: 137,
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(
            summarize(&pod("Running", vec![c.clone()])).status,
            "OOMKilled"
        );
        c.state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 2,
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(summarize(&pod("Running", vec![c])).status, "ExitCode:2");
    }

    #[test]
    fn pending_and_terminating() {
        assert_eq!(summarize(&pod("Pending", vec![])).status, "Pending");
        let mut p = pod("Running", vec![running(true)]);
        p.metadata.deletion_timestamp = Some(crate::time::to_time(Utc::now()));
        assert_eq!(summarize(&p).status, "Terminating");
        assert!(!pod_is_ready(&p));
    }
}
