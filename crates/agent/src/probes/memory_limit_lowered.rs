//! `memory_limit_lowered`: a commit lowered the service's memory limit.

use pagerless_model::Evidence;
use pagerless_tools::git::History;

use super::git_change;

/// The newest commit that lowered `resources.limits.memory`.
pub fn probe(history: &History, step: u32) -> Option<Evidence> {
    let (c, v) = git_change::newest(history, |v| {
        v.key.ends_with("resources.limits.memory")
            && lowered(v.before.as_deref(), v.after.as_deref())
    })?;
    Some(git_change::culprit(
        "memory_limit_lowered",
        "memory limit lowered",
        c,
        v,
        1.0,
        step,
    ))
}

fn lowered(before: Option<&str>, after: Option<&str>) -> bool {
    match (before.and_then(bytes), after.and_then(bytes)) {
        (Some(b), Some(a)) => a < b,
        _ => false,
    }
}

/// Parses a Kubernetes memory quantity (`512Mi`, `2Gi`, `1G`, `1048576`).
pub fn bytes(q: &str) -> Option<f64> {
    let q = q.trim().trim_matches('"');
    let units = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (suf, m) in units {
        if let Some(n) = q.strip_suffix(suf) {
            return n.parse::<f64>().ok().map(|n| n * m);
        }
    }
    q.parse().ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pagerless_tools::git::{CommitInfo, ValueChange};

    pub(crate) fn history(changes: &[(&str, &str, &str)]) -> History {
        History {
            commits: vec![
                CommitInfo {
                    hash: "abc1234def5678".into(),
                    author: "Alex Chen <alex.chen@shop.example>".into(),
                    date: "2026-01-05T08:20:00Z".into(),
                    message: "order-service: right-size memory limit to cut node costs".into(),
                    files: vec!["charts/order-service/values.yaml".into()],
                    changes: changes
                        .iter()
                        .map(|(k, b, a)| ValueChange {
                            file: "charts/order-service/values.yaml".into(),
                            key: (*k).into(),
                            before: Some((*b).into()),
                            after: Some((*a).into()),
                        })
                        .collect(),
                },
                CommitInfo {
                    hash: "0000001".into(),
                    author: "Platform Team <platform@lab.example>".into(),
                    date: "2025-12-29T08:00:00Z".into(),
                    message: "Initial import of service charts".into(),
                    files: vec![],
                    changes: vec![],
                },
            ],
        }
    }

    #[test]
    fn a_lowered_limit_names_its_commit() {
        let h = history(&[
            ("resources.limits.memory", "2Gi", "512Mi"),
            ("resources.requests.memory", "1Gi", "256Mi"),
        ]);
        let e = probe(&h, 5).unwrap();
        assert_eq!(e.values["before"], "2Gi");
        assert_eq!(e.values["after"], "512Mi");
        assert_eq!(e.values["commit_short"], "abc1234");
        assert!(e.summary.contains("Alex Chen"), "{}", e.summary);
        assert!(
            probe(&history(&[("resources.limits.memory", "512Mi", "2Gi")]), 1).is_none(),
            "raised is not lowered"
        );
        assert_eq!(bytes("1.5Gi"), Some(1.5 * 1024f64.powi(3)));
    }
}
