//! The guard decides every write pagerless makes, outside any reasoner.
//!
//! Key decision: the decision is a pure function ([`evaluate`]) of the
//! policy, the request, the incident's scope and a snapshot of what has been
//! done (quota windows, budgets spent, nodes cordoned) — so every rule is
//! tested with plain values, and the same inputs always give the same
//! verdict. The only way to get an [`Authorized`] request, which executors
//! require, is through this crate: its constructor is private.

mod authorized;
pub mod catalog;
mod decide;
pub mod evaluate;
pub mod policy;
mod service;

pub use authorized::{Authorized, Identity};
pub use catalog::{Risk, risk};
pub use decide::{Decision, DecisionRecord, decide, decide_approved};
pub use evaluate::{PastAction, Scope, Usage, Verdict, added, evaluate};
pub use policy::{Mode, Policy, PolicyError};
pub use service::{Guard, GuardError, idempotency_key, scope_of};

#[cfg(test)]
mod tests;
