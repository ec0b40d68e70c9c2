//! The summary a human reads instead of being paged: what was detected, what
//! it was diagnosed as, what was done and whether it worked, in one paragraph.

use pagerless_model::Diagnosis;

use crate::{MitigationReport, Response};

/// One paragraph from the incident's diagnosis and the response to it.
/// `subject` is what the alert was about (a service, else the alert's name).
pub fn summarize(subject: &str, diagnosis: &Diagnosis, report: &MitigationReport) -> String {
    let mut did: Vec<String> = Vec::new();
    for s in &report.steps {
        let what = format!("{} {}", s.request.kind, s.request.target);
        match (s.decision.as_str(), &s.executed, &s.error) {
            (_, Some(done), _) => did.push(done.clone()),
            (_, None, Some(e)) => did.push(format!("tried to {what}, which failed ({e})")),
            ("needs_approval", ..) => did.push(format!("asked a human to approve {what}")),
            ("shadow", ..) => did.push(format!("would have done {what} (shadow mode)")),
            ("denied", ..) => did.push(format!("was refused {what} ({})", s.why)),
            ("no_executor", ..) => did.push(format!("could not {what}: {}", s.why)),
            _ => {}
        }
    }
    let mut text = format!(
        "An issue was detected in {subject}; I diagnosed it as {}",
        diagnosis.root_cause
    );
    if !did.is_empty() {
        text.push_str("; I ");
        text.push_str(&join(&did));
    }
    let tail = match &report.response {
        Response::Mitigated { verified } => format!(", and {verified}."),
        Response::Escalated { reason } => {
            format!(". I stopped and escalated to a human: {reason}.")
        }
        Response::NoAction { reason } => format!("; no action: {reason}."),
        Response::AwaitingApproval { .. } => ". Waiting for that approval.".to_owned(),
        Response::Shadow { .. } => ". Nothing was changed.".to_owned(),
    };
    text.push_str(&tail);
    text
}

/// The summary with what became of the permanent fix: the pull request
/// opened (or updated), or why none was.
pub fn with_fix(mut text: String, fix: Result<&pagerless_model::PullRequest, &str>) -> String {
    match fix {
        Ok(pr) => text.push_str(&format!(
            " I opened pull request #{} to set {} to {} in {}: {}",
            pr.number, pr.fix.key, pr.fix.value, pr.fix.file, pr.url
        )),
        Err(why) => text.push_str(&format!(" No pull request: {why}.")),
    }
    text
}

fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{}, then {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MitigationStep;
    use pagerless_model::{ActionKind, ActionRequest, Target, TargetKind};

    fn diagnosis() -> Diagnosis {
        Diagnosis {
            root_cause: "memory limit too low since commit abc1234 (2Gi → 512Mi)".into(),
            category: "memory_limit_too_low".into(),
            confidence: 0.9,
            evidence: Vec::new(),
            culprit: None,
            target: None,
            suspects: Vec::new(),
        }
    }

    fn step(decision: &str, executed: Option<&str>) -> MitigationStep {
        MitigationStep {
            request: ActionRequest {
                kind: ActionKind::Scale,
                target: Target {
                    kind: TargetKind::Deployment,
                    namespace: Some("shop".into()),
                    name: "order-service".into(),
                },
                params: Default::default(),
                rationale: String::new(),
            },
            decision: decision.into(),
            why: "policy".into(),
            executed: executed.map(str::to_owned),
            error: None,
            undo: None,
        }
    }

    #[test]
    fn a_mitigated_incident_reads_as_detected_diagnosed_done_verified() {
        let report = MitigationReport {
            steps: vec![step(
                "allowed",
                Some("scaled deployment shop/order-service 3 → 5"),
            )],
            symptom: vec![(0, Some(0.9)), (60, None), (120, None)],
            response: Response::Mitigated {
                verified: "the symptom cleared 60 s after acting and stayed clear".into(),
            },
        };
        assert_eq!(
            summarize("order-service", &diagnosis(), &report),
            "An issue was detected in order-service; I diagnosed it as memory limit too low since commit abc1234 (2Gi → 512Mi); I scaled deployment shop/order-service 3 → 5, and the symptom cleared 60 s after acting and stayed clear."
        );
    }

    #[test]
    fn an_escalation_says_what_was_tried_and_why_it_stopped() {
        let report = MitigationReport {
            steps: vec![step("needs_approval", None)],
            symptom: vec![(0, Some(0.9))],
            response: Response::Escalated {
                reason: "not recovered within 15 min (symptom 0.900)".into(),
            },
        };
        let text = summarize("order-service", &diagnosis(), &report);
        assert!(
            text.ends_with("I asked a human to approve scale deployment shop/order-service. I stopped and escalated to a human: not recovered within 15 min (symptom 0.900)."),
            "{text}"
        );
    }
}
