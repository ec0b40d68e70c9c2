//! The brain of pagerless: from an incident to a diagnosis and a plan, through
//! a trace of Observation → Thought → Action steps a human can read.
//!
//! Key decision: the loop ([`investigate`]) owns the budget, the clock and the
//! trace; a [`Reasoner`] only decides the next step from the state. The
//! embedded reasoner ([`EmbeddedReasoner`]) is deterministic and offline:
//! typed probes turn observations into evidence, playbooks (data) weigh the
//! evidence into a posterior over hypotheses, and the next check is the one
//! that best separates the leading hypotheses. An LLM reasoner plugs into the
//! same trait and sees the same read-only toolbox.

pub mod context;
pub mod embedded;
pub mod investigate;
pub mod playbook;
pub mod probes;
pub mod reasoner;

pub use context::AlertContext;
pub use embedded::EmbeddedReasoner;
pub use investigate::{Budget, Clock, SystemClock, TraceSink, investigate};
pub use reasoner::{Next, Reasoner, State};
