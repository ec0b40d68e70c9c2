//! `crashloop_config_error`: containers exit at start with an error (not a kill) and crash-loop;
//! stronger when their last log lines say the configuration is invalid.

use pagerless_model::Evidence;
use pagerless_tools::kubernetes::{LogLines, PodInfo};
use serde_json::json;

/// From pods: a container waiting in CrashLoopBackOff whose last exit was not a kill.
pub fn from_pods(pods: &[PodInfo], service: &str, step: u32) -> Option<Evidence> {
    let crashing: Vec<&PodInfo> = pods
        .iter()
        .filter(|p| {
            p.containers.iter().any(|c| {
                c.reason.as_deref() == Some("CrashLoopBackOff")
                    && c.last_terminated
                        .as_ref()
                        .is_some_and(|t| t.exit_code != 137 && t.exit_code != 0)
            })
        })
        .collect();
    let first = crashing.first()?;
    let code = first
        .containers
        .iter()
        .find_map(|c| c.last_terminated.as_ref())
        .map_or(0, |t| t.exit_code);
    Some(super::evidence(
        "crashloop_config_error",
        service,
        format!(
            "{} {service} pod(s) crash-loop, exiting with code {code} at start (not OOM)",
            crashing.len()
        ),
        0.5,
        step,
        &[("pod", json!(first.name)), ("exit_code", json!(code))],
    ))
}

/// From the previous container's log: a line that says the configuration is invalid.
pub fn from_logs(logs: &LogLines, service: &str, step: u32) -> Option<Evidence> {
    let line = logs.lines.iter().rev().find(|l| {
        let lower = l.to_ascii_lowercase();
        (lower.contains("fatal") || lower.contains("panic") || lower.contains("error"))
            && (lower.contains("config") || lower.contains("invalid") || lower.contains("must"))
    })?;
    Some(super::evidence(
        "crashloop_config_error",
        service,
        format!("{}'s previous container logged: {line}", logs.pod),
        1.0,
        step,
        &[("log_line", json!(line.trim())), ("pod", json!(logs.pod))],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fatal_config_line_is_strong_evidence() {
        let logs = LogLines {
            pod: "notification-service-5d-x".into(),
            container: None,
            previous: true,
            lines: vec![
                "2026-01-05T08:10:15.000Z INFO starting notification-service (registry.local/messaging/notifications:2.0.8)".into(),
                "2026-01-05T08:10:17.000Z FATAL invalid configuration: DB_POOL_SIZE=\"0\" does not match \"[1-9][0-9]*\"; exiting".into(),
            ],
        };
        let e = from_logs(&logs, "notification-service", 4).unwrap();
        assert_eq!(e.strength, 1.0);
        assert!(
            e.values["log_line"]
                .as_str()
                .unwrap()
                .contains("DB_POOL_SIZE")
        );
        let quiet = LogLines {
            lines: vec!["INFO ready".into()],
            ..logs
        };
        assert!(from_logs(&quiet, "x", 1).is_none());
    }

    #[test]
    fn crashloops_that_are_ooms_do_not_count() {
        let oom = super::super::oom_killed::tests::pod("p", 3, Some("OOMKilled"), 137);
        assert!(from_pods(&[oom], "x", 1).is_none());
        let cfg = super::super::oom_killed::tests::pod("p", 3, Some("Error"), 1);
        assert!(from_pods(&[cfg], "x", 1).is_some());
    }
}
