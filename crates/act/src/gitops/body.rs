//! The pull request's body: what a reviewer needs to approve in one read —
//! the summary, the diagnosis and its evidence, the trace (collapsed), why
//! this diff, the validation output, the mitigation in place and what happens
//! to it on merge, and who is asked to review.

use std::fmt::Write;

use pagerless_model::{ActionRequest, Diagnosis, Fix, Investigation, ValidationRun};

/// Everything the body is made of.
pub struct BodyInput<'a> {
    /// The summary paragraph ("An issue was detected in …").
    pub summary: &'a str,
    /// The incidents it fixes, with a link each when there is one.
    pub incidents: &'a [(i64, Option<String>)],
    /// The diagnosis.
    pub diagnosis: &'a Diagnosis,
    /// The investigation, for its trace.
    pub investigation: Option<&'a Investigation>,
    /// The fix.
    pub fix: &'a Fix,
    /// The diff.
    pub diff: &'a str,
    /// The validation runs.
    pub validation: &'a [ValidationRun],
    /// Mitigations in place now (one line each).
    pub mitigations: &'a [String],
    /// What is reverted on merge.
    pub revert_on_merge: &'a [ActionRequest],
    /// Reviewers tagged.
    pub reviewers: &'a [String],
}

/// Renders the body as Markdown (GitHub, GitLab and Gitea all render
/// `<details>`).
pub fn render_body(b: &BodyInput<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Summary\n\n{}\n", b.summary);
    if !b.incidents.is_empty() {
        let list: Vec<String> = b
            .incidents
            .iter()
            .map(|(id, link)| match link {
                Some(l) => format!("[#{id}]({l})"),
                None => format!("#{id}"),
            })
            .collect();
        let _ = writeln!(out, "Incidents: {}\n", list.join(", "));
    }

    let d = b.diagnosis;
    let _ = writeln!(
        out,
        "## Diagnosis\n\n**{}** (`{}`, confidence {:.0}%)\n",
        d.root_cause,
        d.category,
        d.confidence * 100.0
    );
    if let Some(c) = &d.culprit {
        let short: String = c.commit.chars().take(12).collect();
        let _ = writeln!(
            out,
            "Culprit: commit `{short}` by {} on {}: \"{}\" — `{}` `{}`: `{}` → `{}`\n",
            c.author,
            c.date.format("%Y-%m-%d %H:%M UTC"),
            c.message,
            c.file,
            c.key,
            c.before,
            c.after
        );
    }
    if !d.evidence.is_empty() {
        out.push_str("Evidence:\n\n");
        for e in &d.evidence {
            let _ = writeln!(out, "- {} _(step {}, {})_", e.summary, e.step, e.probe);
        }
        out.push('\n');
    }

    let _ = writeln!(
        out,
        "## The change\n\nSet `{}` in `{}` to `{}`: {}\n\n```diff\n{}\n```\n",
        b.fix.key,
        b.fix.file,
        b.fix.value,
        b.fix.rationale,
        b.diff.trim_end()
    );

    out.push_str("## Validation\n\n");
    if b.validation.is_empty() {
        out.push_str("No validation is configured for this repository.\n\n");
    }
    for v in b.validation {
        let verdict = if v.passed() { "passed" } else { "FAILED" };
        let _ = writeln!(out, "- `{}` {verdict} in {} ms", v.command, v.duration_ms);
        if !v.output.trim().is_empty() {
            let _ = writeln!(out, "\n  ```\n{}\n  ```", indent(&v.output));
        }
    }
    out.push('\n');

    out.push_str("## Mitigation in place\n\n");
    if b.mitigations.is_empty() {
        out.push_str("None: nothing was changed at runtime.\n");
    }
    for m in b.mitigations {
        let _ = writeln!(out, "- {m}");
    }
    if !b.revert_on_merge.is_empty() {
        let list: Vec<String> = b.revert_on_merge.iter().map(describe).collect();
        let _ = writeln!(
            out,
            "\nOn merge, once the fix is live and the symptom stays clear, pagerless reverts the temporary change ({}), so the cluster matches this repository again.",
            list.join("; ")
        );
    }
    out.push('\n');

    if let Some(inv) = b.investigation {
        let _ = writeln!(
            out,
            "<details>\n<summary>Investigation trace ({} steps, {:.0} ms, {} reasoner)</summary>\n",
            inv.steps.len(),
            inv.duration_ms,
            inv.reasoner
        );
        for s in &inv.steps {
            let _ = writeln!(out, "{}. **Thought:** {}", s.index, s.thought);
            if let Some(c) = &s.call {
                let _ = writeln!(out, "   **Action:** `{}` `{}`", c.tool, c.args);
            }
            if let Some(o) = &s.observation {
                let _ = writeln!(out, "   **Observation:** {}", o.summary);
            }
        }
        out.push_str("\n</details>\n\n");
    }

    if !b.reviewers.is_empty() {
        let tags: Vec<String> = b.reviewers.iter().map(|r| format!("@{r}")).collect();
        let _ = writeln!(
            out,
            "Review requested from {}: approving and merging is all it takes.\n",
            tags.join(", ")
        );
    }
    out.push_str("_Opened by pagerless._\n");
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// "scale deployment shop/web back to 3 replicas", "uncordon node node-b".
fn describe(r: &ActionRequest) -> String {
    match (r.kind, r.params.get("replicas")) {
        (pagerless_model::ActionKind::Scale, Some(n)) => {
            format!("scale {} back to {n} replicas", r.target)
        }
        _ => format!("{} {}", r.kind, r.target),
    }
}
