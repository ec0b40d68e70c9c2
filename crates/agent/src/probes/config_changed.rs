//! `config_changed`: a commit changed the service's container environment.

use pagerless_model::Evidence;
use pagerless_tools::git::History;

use super::git_change;

/// The newest commit that changed a key under `env.`.
pub fn probe(history: &History, step: u32) -> Option<Evidence> {
    let (c, v) = git_change::newest(history, |v| {
        v.key.starts_with("env.") || v.key.contains(".env.")
    })?;
    Some(git_change::culprit(
        "config_changed",
        "configuration changed",
        c,
        v,
        1.0,
        step,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_env_change_is_found() {
        let h =
            super::super::memory_limit_lowered::tests::history(&[("env.DB_POOL_SIZE", "20", "0")]);
        assert_eq!(probe(&h, 1).unwrap().values["key"], "env.DB_POOL_SIZE");
        let h = super::super::memory_limit_lowered::tests::history(&[("replicaCount", "2", "3")]);
        assert!(probe(&h, 1).is_none());
    }
}
