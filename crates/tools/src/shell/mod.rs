//! Allowlisted read-only commands on nodes: through ssh, locally, or the lab's node shell.

mod data;

pub use data::*;
