//! The only crate that changes the world. Executors take nothing but
//! [`pagerless_guard::Authorized`] requests, so a write that skipped the guard
//! does not compile; after acting, the incident's symptom is watched and the
//! action undone where it made things worse.
//!
//! Key decision: the response to an incident ([`respond`]) is a plain
//! sequence — plan, guard, act, verify — whose every transition is stored and
//! audited, so a human reads what happened in order and a restart picks up
//! where it stopped.

pub mod executors;
pub mod gitops;
mod reconcile;
mod respond;
mod summary;

pub use executors::{ActError, Executed, Executor, Executors};
pub use reconcile::{Reconciled, reconcile};
pub use respond::{
    MitigationReport, MitigationStep, Response, Verifier, carry_out_approved, respond,
};
pub use summary::{summarize, with_fix};
