//! Printing an investigation as it happens: Observation / Thought / Action
//! lines a person can follow, then the diagnosis and the plan.

use std::fmt::Write as _;
use std::io::Write as _;

use pagerless_model::{Investigation, Outcome, Step};

/// Prints each step to stdout as it is taken.
pub struct Printer {
    /// Print the evidence lines too.
    pub evidence: bool,
}

impl pagerless_agent::TraceSink for Printer {
    fn step(&mut self, step: &Step) {
        let mut out = String::new();
        let _ = writeln!(out, "[{:>2}] Thought: {}", step.index, step.thought);
        if let Some(call) = &step.call {
            let _ = writeln!(out, "     Action: {} {}", call.tool, call.args);
        }
        if let Some(obs) = &step.observation {
            let _ = writeln!(
                out,
                "     Observation: {} ({:.1} ms)",
                obs.summary, step.duration_ms
            );
        }
        if self.evidence {
            for e in &step.evidence {
                let _ = writeln!(out, "     Evidence: {} — {}", e.probe, e.summary);
            }
        }
        print!("{out}");
        let _ = std::io::stdout().flush();
    }
}

/// The diagnosis and plan, for people.
pub fn outcome(inv: &Investigation) -> String {
    let mut out = String::new();
    match &inv.outcome {
        Outcome::Diagnosed { diagnosis, plan } => {
            let _ = writeln!(
                out,
                "\nDiagnosis ({}, confidence {:.2}): {}",
                diagnosis.category, diagnosis.confidence, diagnosis.root_cause
            );
            if let Some(t) = &diagnosis.target {
                let _ = writeln!(out, "  target:   {t}");
            }
            if let Some(c) = &diagnosis.culprit {
                let _ = writeln!(
                    out,
                    "  culprit:  commit {} by {} ({}): {} {} → {} in {}",
                    c.commit.chars().take(7).collect::<String>(),
                    c.author,
                    c.date.format("%Y-%m-%d %H:%M"),
                    c.key,
                    c.before,
                    c.after,
                    c.file
                );
            }
            for e in &diagnosis.evidence {
                let _ = writeln!(out, "  evidence: [step {}] {}", e.step, e.summary);
            }
            if plan.mitigations.is_empty() {
                let _ = writeln!(out, "Plan: no mitigation");
            } else {
                let _ = writeln!(out, "Plan:");
            }
            for m in &plan.mitigations {
                let params = if m.params.is_empty() {
                    String::new()
                } else {
                    format!(" {}", serde_json::to_string(&m.params).unwrap_or_default())
                };
                let kind = serde_json::to_value(m.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  mitigate: {kind} {}{params} — {}",
                    m.target, m.rationale
                );
            }
            if let Some(f) = &plan.fix {
                let _ = writeln!(
                    out,
                    "  fix:      {} {} = {} — {}",
                    f.file, f.key, f.value, f.rationale
                );
            }
        }
        Outcome::Escalated { reason, .. } => {
            let _ = writeln!(out, "\nEscalated: {reason}");
        }
    }
    let _ = writeln!(
        out,
        "{} steps in {:.1} ms ({} reasoner)",
        inv.steps.len(),
        inv.duration_ms,
        inv.reasoner
    );
    out
}
