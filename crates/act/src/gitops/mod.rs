//! GitOps: the permanent fix as a pull request. A workspace clones the IaC
//! repository, a config edit changes one key and keeps every other byte, the
//! repository's validation runs, the branch is pushed and a forge opens the
//! pull request; its fate is tracked to the end, and once the fix is live the
//! temporary runtime change is reverted.

mod body;
pub mod edit;
mod fate;
pub mod forge;
mod local;
mod propose;
pub mod validate;
pub mod workspace;

pub use body::{BodyInput, render_body};
pub use fate::{check_fate, reconcile_merged};
pub use local::LocalForge;
pub use propose::{
    GitopsConfig, GitopsError, Proposal, ProposalContext, ReviewerRule, codeowners, fix_of,
    propose, request_for,
};
