//! `cpu_limit_lowered`: a commit lowered the service's CPU limit.

use pagerless_model::Evidence;
use pagerless_tools::git::History;

use super::git_change;

/// The newest commit that lowered `resources.limits.cpu`.
pub fn probe(history: &History, step: u32) -> Option<Evidence> {
    let (c, v) = git_change::newest(history, |v| {
        v.key.ends_with("resources.limits.cpu")
            && matches!((v.before.as_deref().and_then(cores), v.after.as_deref().and_then(cores)), (Some(b), Some(a)) if a < b)
    })?;
    Some(git_change::culprit(
        "cpu_limit_lowered",
        "CPU limit lowered",
        c,
        v,
        1.0,
        step,
    ))
}

/// Parses a CPU quantity (`500m`, `2`, `0.5`) into cores.
pub fn cores(q: &str) -> Option<f64> {
    let q = q.trim().trim_matches('"');
    match q.strip_suffix('m') {
        Some(m) => m.parse::<f64>().ok().map(|m| m / 1000.0),
        None => q.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_cut_is_found() {
        let h = super::super::memory_limit_lowered::tests::history(&[(
            "resources.limits.cpu",
            "2",
            "500m",
        )]);
        assert_eq!(probe(&h, 1).unwrap().values["after"], "500m");
        let h = super::super::memory_limit_lowered::tests::history(&[(
            "resources.limits.cpu",
            "500m",
            "1",
        )]);
        assert!(probe(&h, 1).is_none());
    }
}
