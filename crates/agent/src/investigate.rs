//! The investigation loop: asks the reasoner for the next step, runs it with
//! the toolbox, records it, and stops at a conclusion, an escalation, or the
//! end of the budget.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use pagerless_model::{Investigation, Observation, Outcome, Step};
use pagerless_tools::Toolbox;

use crate::{AlertContext, Next, Reasoner, State};

/// Limits on one investigation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Most steps. Default: 24.
    pub max_steps: u32,
    /// Most wall time, not counting waits. Default: 30 s.
    pub max_wall: Duration,
    /// Most time spent watching (`Next::Wait`), in seconds. Default: 600.
    pub max_wait_secs: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_steps: 24,
            max_wall: Duration::from_secs(30),
            max_wait_secs: 600,
        }
    }
}

/// How time passes when a reasoner waits: really, or on a lab's virtual clock.
#[async_trait]
pub trait Clock: Send + Sync {
    /// Lets `secs` seconds pass.
    async fn wait(&self, secs: u64);
}

/// Wall-clock time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    async fn wait(&self, secs: u64) {
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
}

/// Receives the trace as it happens (to print it live, say).
pub trait TraceSink: Send {
    /// A step was taken.
    fn step(&mut self, step: &Step);
}

/// A sink that keeps nothing.
impl TraceSink for () {
    fn step(&mut self, _: &Step) {}
}

/// Runs one investigation to its end.
pub async fn investigate(
    reasoner: &mut dyn Reasoner,
    toolbox: &Toolbox,
    alert: &AlertContext,
    budget: &Budget,
    clock: &dyn Clock,
    sink: &mut dyn TraceSink,
) -> Investigation {
    let started_at = Utc::now();
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    let mut waited_secs = 0u64;
    let tools: Vec<&'static str> = toolbox.tools().map(|t| t.name()).collect();
    let mut steps: Vec<Step> = Vec::new();
    let outcome = loop {
        let index = steps.len() as u32 + 1;
        if index > budget.max_steps {
            break Outcome::Escalated {
                reason: format!(
                    "the budget of {} steps is spent without a conclusion",
                    budget.max_steps
                ),
                suspects: Vec::new(),
            };
        }
        if started.elapsed().saturating_sub(waited) > budget.max_wall {
            break Outcome::Escalated {
                reason: format!(
                    "the budget of {:?} is spent without a conclusion",
                    budget.max_wall
                ),
                suspects: Vec::new(),
            };
        }
        let t0 = Instant::now();
        let next = {
            let state = State {
                alert,
                steps: &steps,
                tools: &tools,
            };
            reasoner.next(&state).await
        };
        let mut step = Step {
            index,
            thought: String::new(),
            call: None,
            observation: None,
            evidence: Vec::new(),
            duration_ms: 0.0,
        };
        let end = match next {
            Next::Call { thought, call } => {
                let observation = match toolbox.call(&call.tool, &call.args).await {
                    Ok(o) => o,
                    Err(e) => Observation {
                        tool: call.tool.clone(),
                        summary: format!("failed: {e}"),
                        query: call.args.to_string(),
                        data: serde_json::Value::Null,
                        error: Some(e.to_string()),
                    },
                };
                step.evidence = reasoner.assess(&observation, index);
                step.thought = thought;
                step.call = Some(call);
                step.observation = Some(observation);
                None
            }
            Next::Wait { thought, secs } => {
                let secs = secs.min(budget.max_wait_secs.saturating_sub(waited_secs));
                let w0 = Instant::now();
                clock.wait(secs).await;
                waited += w0.elapsed();
                waited_secs += secs;
                step.thought = format!("{thought} (waited {secs} s)");
                None
            }
            Next::Conclude {
                thought,
                diagnosis,
                plan,
            } => {
                step.thought = thought;
                Some(Outcome::Diagnosed { diagnosis, plan })
            }
            Next::Escalate {
                thought,
                reason,
                suspects,
            } => {
                step.thought = thought;
                Some(Outcome::Escalated { reason, suspects })
            }
        };
        step.duration_ms = t0.elapsed().as_secs_f64() * 1000.0;
        sink.step(&step);
        steps.push(step);
        if let Some(outcome) = end {
            break outcome;
        }
    };
    Investigation {
        incident_id: alert.incident_id,
        reasoner: reasoner.name(),
        started_at,
        steps,
        outcome,
        duration_ms: started.elapsed().saturating_sub(waited).as_secs_f64() * 1000.0,
    }
}
