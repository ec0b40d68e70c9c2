//! `pagerless eval lab`: every lab scenario, investigated by the embedded
//! reasoner over loopback at the moment its alert fires, scored against the
//! scenario's expected answer (which the investigation never reads).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use comfy_table::{Table, presets::NOTHING};
use pagerless_agent::{Budget, EmbeddedReasoner, investigate};
use pagerless_lab::{BUILTIN_SCENARIOS, Scenario, find_scenario};
use pagerless_model::{Investigation, Outcome};
use serde::Serialize;

use super::labcase::LabCase;
use super::trace::{Printer, outcome};

/// One scenario's result.
#[derive(Debug, Serialize)]
pub struct Row {
    /// The scenario.
    pub scenario: String,
    /// The expected category.
    pub expected: String,
    /// The category concluded (`escalated` when it escalated).
    pub got: String,
    /// Category, culprit and plan all right.
    pub correct: bool,
    /// The culprit change matches (true when none was expected).
    pub culprit_ok: bool,
    /// The first mitigation matches the expected one (or none was proposed where none is right).
    pub plan_ok: bool,
    /// The first mitigation proposed, or `none`.
    pub mitigation: String,
    /// The permanent fix proposed, if any: `file key=value`.
    pub fix: Option<String>,
    /// The root cause in words.
    pub root_cause: String,
    /// Steps taken.
    pub steps: usize,
    /// Wall time of the investigation, milliseconds (not counting waits).
    pub millis: f64,
    /// Simulated seconds from the scenario's start to the alert.
    pub alert_after_secs: i64,
}

fn kind_name(k: pagerless_model::ActionKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Scores an investigation against a scenario's expectation.
pub fn score(s: &Scenario, inv: &Investigation, alert_after_secs: i64) -> Row {
    let exp = &s.expect;
    let (got, culprit, mitigation, fix, root_cause) = match &inv.outcome {
        Outcome::Diagnosed { diagnosis, plan } => (
            diagnosis.category.clone(),
            diagnosis.culprit.clone(),
            plan.mitigations.first().map(|m| kind_name(m.kind)),
            plan.fix
                .as_ref()
                .map(|f| format!("{} {}={}", f.file, f.key, f.value)),
            diagnosis.root_cause.clone(),
        ),
        Outcome::Escalated { reason, .. } => ("escalated".into(), None, None, None, reason.clone()),
    };
    let culprit_ok = match (&exp.culprit, &culprit) {
        (None, _) => true,
        (Some(e), Some(c)) => {
            e.file == c.file
                && c.key.ends_with(&e.key)
                && e.before == c.before
                && e.after == c.after
        }
        (Some(_), None) => false,
    };
    let plan_ok = match exp.mitigation.as_deref() {
        None | Some("escalate") => mitigation.is_none(),
        Some(m) => mitigation.as_deref() == Some(m),
    };
    let fix_ok = match (&exp.fix, &fix) {
        (Some(e), Some(f)) => f == &format!("{} {}={}", e.file, e.key, e.value),
        (Some(_), None) => false,
        (None, _) => true,
    };
    Row {
        scenario: s.name.clone(),
        expected: exp.category.clone(),
        correct: got == exp.category && culprit_ok && plan_ok && fix_ok,
        got,
        culprit_ok,
        plan_ok: plan_ok && fix_ok,
        mitigation: mitigation.unwrap_or_else(|| "none".into()),
        fix,
        root_cause,
        steps: inv.steps.len(),
        millis: inv.duration_ms,
        alert_after_secs,
    }
}

/// Runs one scenario.
pub async fn run_one(s: Scenario, trace: bool) -> Result<(Row, Investigation)> {
    let case = LabCase::at_alert(s.clone()).await?;
    let toolbox = case.toolbox().await?;
    let mut reasoner = EmbeddedReasoner::builtin()?;
    let clock = case.clock();
    let t0 = Instant::now();
    let inv = if trace {
        println!(
            "== {} — {} fired after {} simulated s",
            s.name, case.alert.alertname, case.fired_after_secs
        );
        let mut p = Printer { evidence: true };
        investigate(
            &mut reasoner,
            &toolbox,
            &case.alert,
            &Budget::default(),
            &clock,
            &mut p,
        )
        .await
    } else {
        investigate(
            &mut reasoner,
            &toolbox,
            &case.alert,
            &Budget::default(),
            &clock,
            &mut (),
        )
        .await
    };
    tracing::debug!(scenario = %s.name, ms = t0.elapsed().as_millis(), "investigated");
    if trace {
        print!("{}", outcome(&inv));
    }
    Ok((score(&s, &inv, case.fired_after_secs), inv))
}

/// `pagerless eval lab`.
pub async fn lab(scenario: Option<&str>, json: bool, trace: bool) -> Result<ExitCode> {
    let scenarios: Vec<Scenario> = match scenario {
        Some(name) => vec![find_scenario(name)?],
        None => BUILTIN_SCENARIOS
            .iter()
            .map(|(n, _)| find_scenario(n))
            .collect::<Result<_, _>>()?,
    };
    let mut rows = Vec::new();
    for s in scenarios {
        if !json && !trace {
            eprintln!("  {} ...", s.name);
        }
        rows.push(run_one(s, trace && !json).await?.0);
    }
    let right = rows.iter().filter(|r| r.correct).count();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        let mut table = Table::new();
        table.load_style(NOTHING).set_header([
            "SCENARIO", "EXPECTED", "GOT", "CULPRIT", "PLAN", "STEPS", "MS", "OK",
        ]);
        for r in &rows {
            table.add_row([
                r.scenario.clone(),
                r.expected.clone(),
                r.got.clone(),
                if r.culprit_ok { "ok" } else { "wrong" }.into(),
                format!(
                    "{}{}",
                    r.mitigation,
                    if r.plan_ok { "" } else { " (wrong)" }
                ),
                r.steps.to_string(),
                format!("{:.1}", r.millis),
                if r.correct { "yes" } else { "NO" }.into(),
            ]);
        }
        println!("{}", table.trim_fmt());
        println!("{right} of {} scenarios right", rows.len());
    }
    Ok(if right == rows.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
