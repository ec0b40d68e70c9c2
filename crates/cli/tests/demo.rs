//! `pagerless demo` run as a user runs it: the binary, no flags, and its
//! narrative checked: the diagnosis names the commit that lowered the limit
//! to 512Mi, the scale-out was verified, and a pull request restores 2Gi.
//! Then with `--data-dir` the run can be read back, and `--all` scores every
//! scenario.

#![allow(clippy::unwrap_used)]

mod support;

#[test]
fn the_demo_tells_the_seed_from_alert_to_pull_request() {
    let (ok, out, err) = support::run_cli(&["demo"], &[]);
    assert!(ok, "{out}{err}");
    // The alert, through intake.
    assert!(
        out.contains("Alert: OrderServiceHighLatency fired after"),
        "{out}"
    );
    // The live trace.
    assert!(out.contains("[ 1] Thought:"), "{out}");
    assert!(out.contains("Action: git.history"), "{out}");
    // The diagnosis names the commit the history shows lowering the limit.
    let commit = out
        .lines()
        .find_map(|l| {
            let at = l.find("Observation: ")?;
            let rest = &l[at..];
            let i = rest.find(" set resources.limits.memory 2Gi → 512Mi")?;
            // "… 6eb4952 by Alex Chen <…> 2026-01-05 08:20 set …": the word before " by ".
            let before = &rest[..i];
            let by = before.rfind(" by ")?;
            before[..by].split_whitespace().last().map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no commit in the history:\n{out}"));
    assert_eq!(commit.len(), 7, "{commit}");
    let diagnosis = out
        .lines()
        .find(|l| l.starts_with("Diagnosis in "))
        .unwrap();
    assert!(
        diagnosis.contains(&format!(
            "memory limit too low since commit {commit} (2Gi → 512Mi)"
        )),
        "{diagnosis}"
    );
    // The guard's decision and the verified mitigation.
    assert!(
        out.contains("scale deployment shop/order-service → allowed"),
        "{out}"
    );
    assert!(
        out.contains("done: scaled deployment shop/order-service 3 → 5"),
        "{out}"
    );
    assert!(
        out.contains("Response: mitigated: the symptom cleared"),
        "{out}"
    );
    // The pull request with its diff.
    assert!(
        out.contains(
            "Pull request #1 on the local forge: order-service: set resources.limits.memory to 2Gi"
        ),
        "{out}"
    );
    assert!(out.contains("validation passed"), "{out}");
    assert!(
        out.contains("    -    memory: 512Mi\n    +    memory: 2Gi"),
        "{out}"
    );
    // The notice.
    assert!(
        out.contains("Notice (instead of a page):\n  An issue was detected in order-service; I diagnosed it as memory limit too low"),
        "{out}"
    );
    assert!(
        out.contains("I opened pull request #1 to set resources.limits.memory to 2Gi"),
        "{out}"
    );
    assert!(
        out.contains("KPIs for this incident: time to diagnosis"),
        "{out}"
    );
}

#[test]
fn a_kept_demo_can_be_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (ok, out, err) = support::run_cli(&["--data-dir", d, "demo"], &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("pagerless --data-dir {d} incident show 1")));
    let (ok, out, _) = support::run_cli(&["--data-dir", d, "pr", "show", "1", "--json"], &[]);
    assert!(ok, "{out}");
    let pr: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(pr["fate"], "open");
    assert_eq!(pr["fix"]["value"], "2Gi");
    assert!(pr["diff"].as_str().unwrap().contains("+    memory: 2Gi"));
    let (ok, out, _) = support::run_cli(&["--data-dir", d, "incident", "show", "1"], &[]);
    assert!(ok, "{out}");
    assert!(out.contains("memory_limit_too_low"), "{out}");
    let (ok, out, err) = support::run_cli(&["--data-dir", d, "audit", "verify"], &[]);
    assert!(ok, "{out}{err}");
}

#[test]
fn every_scenario_ends_as_it_should() {
    let (ok, out, err) = support::run_cli(&["demo", "--all"], &[]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("9 of 9 scenarios ended as they should"),
        "{out}"
    );
    for name in [
        "order-service-oom",
        "noisy-neighbour",
        "control-transient-blip",
    ] {
        let row = out
            .lines()
            .find(|l| l.trim_start().starts_with(name) && l.trim_end().ends_with("yes"))
            .unwrap_or_else(|| panic!("no row for {name}:\n{out}"));
        assert!(!row.is_empty());
    }
    // Each scenario is an incident of its own.
    assert!(out.contains("→ incident 9"), "{out}");
    let (ok, out, _) = support::run_cli(&["demo", "--scenario", "no-such-scenario"], &[]);
    assert!(!ok, "{out}");
}
