//! The infrastructure-as-code repository's history, through the git CLI, with
//! structured diffs of YAML values and config directives.

mod data;

pub use data::*;
