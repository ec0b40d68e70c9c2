//! `image_changed`: a commit changed the service's image tag (a new release).

use pagerless_model::Evidence;
use pagerless_tools::git::History;

use super::git_change;

/// The newest commit that changed `image.tag`.
pub fn probe(history: &History, step: u32) -> Option<Evidence> {
    let (c, v) = git_change::newest(history, |v| {
        v.key.ends_with("image.tag") && v.before.is_some() && v.before != v.after
    })?;
    Some(git_change::culprit(
        "image_changed",
        "new release",
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
    fn a_new_tag_is_found() {
        let h =
            super::super::memory_limit_lowered::tests::history(&[("image.tag", "4.2.7", "4.3.0")]);
        let e = probe(&h, 2).unwrap();
        assert_eq!(
            (e.values["before"].as_str(), e.values["after"].as_str()),
            (Some("4.2.7"), Some("4.3.0"))
        );
    }
}
