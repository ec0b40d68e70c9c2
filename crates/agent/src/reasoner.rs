//! The `Reasoner` trait: given the investigation so far, what next.

use async_trait::async_trait;
use pagerless_model::{Diagnosis, Evidence, Observation, Plan, Step, ToolCall};

use crate::AlertContext;

/// The investigation so far, as a reasoner sees it.
#[derive(Debug, Clone)]
pub struct State<'a> {
    /// The alert and what is known about its scope.
    pub alert: &'a AlertContext,
    /// The steps taken, oldest first.
    pub steps: &'a [Step],
    /// The tools available, by name.
    pub tools: &'a [&'static str],
}

/// What a reasoner wants next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Call a read-only tool.
    Call {
        /// Why, in plain words.
        thought: String,
        /// The call.
        call: ToolCall,
    },
    /// Watch: let time pass, then look again (a transient problem may heal itself).
    Wait {
        /// Why.
        thought: String,
        /// How long, in seconds.
        secs: u64,
    },
    /// Stop with a diagnosis and a plan.
    Conclude {
        /// The reasoning that concludes.
        thought: String,
        /// The diagnosis.
        diagnosis: Box<Diagnosis>,
        /// The plan.
        plan: Plan,
    },
    /// Hand over to a human.
    Escalate {
        /// The reasoning.
        thought: String,
        /// Why, and what was seen.
        reason: String,
        /// Services that moved, though not enough to conclude on.
        suspects: Vec<pagerless_model::Suspect>,
    },
}

/// Decides investigation steps.
#[async_trait]
pub trait Reasoner: Send {
    /// Its name in traces (`embedded`, `llm:MODEL`).
    fn name(&self) -> String;

    /// Evidence drawn from an observation, recorded on its step. Reasoners
    /// without probes return none.
    fn assess(&mut self, observation: &Observation, step: u32) -> Vec<Evidence> {
        let _ = (observation, step);
        Vec::new()
    }

    /// The next step.
    async fn next(&mut self, state: &State<'_>) -> Next;
}
