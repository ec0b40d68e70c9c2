//! Every lab scenario, investigated over loopback at its alert by the embedded
//! reasoner: the right root cause, culprit and plan; the control does nothing.

mod support;

use serde_json::Value;
use support::run_cli;

#[test]
fn every_lab_scenario_gets_the_right_diagnosis_and_plan() {
    let (ok, out, err) = run_cli(&["eval", "lab", "--json"], &[]);
    let rows: Vec<Value> =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["scenario"] == name)
            .unwrap_or_else(|| panic!("no row for {name}"))
    };
    // (scenario, category, first mitigation, fix)
    let expected = [
        (
            "order-service-oom",
            "memory_limit_too_low",
            "scale",
            Some("charts/order-service/values.yaml resources.limits.memory=2Gi"),
        ),
        (
            "checkout-memory-leak",
            "memory_leak",
            "rollback",
            Some("charts/cart-service/values.yaml image.tag=4.2.7"),
        ),
        (
            "search-cpu-throttling",
            "cpu_throttling",
            "scale",
            Some("charts/search-service/values.yaml resources.limits.cpu=2"),
        ),
        ("noisy-neighbour", "noisy_neighbour", "cordon", None),
        (
            "payment-downstream-timeout",
            "downstream_latency",
            "none",
            None,
        ),
        (
            "db-connection-saturation",
            "db_connection_saturation",
            "terminate_idle_sessions",
            Some("postgres/postgresql.conf idle_in_transaction_session_timeout=60s"),
        ),
        (
            "bad-config-crashloop",
            "bad_config",
            "rollback",
            Some("charts/notification-service/values.yaml env.DB_POOL_SIZE=20"),
        ),
        ("node-disk-pressure", "disk_pressure", "clear_cache", None),
        ("control-transient-blip", "none", "none", None),
    ];
    for (scenario, category, mitigation, fix) in expected {
        let r = row(scenario);
        assert_eq!(r["got"], category, "{scenario}: {r}");
        assert_eq!(r["mitigation"], mitigation, "{scenario}: {r}");
        assert_eq!(r["fix"].as_str(), fix, "{scenario}: {r}");
        assert_eq!(r["culprit_ok"], true, "{scenario}: {r}");
        assert_eq!(r["correct"], true, "{scenario}: {r}");
        assert!(
            r["steps"].as_u64().is_some_and(|s| s >= 2),
            "{scenario}: {r}"
        );
    }
    assert_eq!(rows.len(), expected.len());
    assert!(ok, "eval exits non-zero when a scenario is wrong: {err}");
}

#[test]
fn the_seed_trace_follows_an_sres_path() {
    let (ok, out, err) = run_cli(
        &["eval", "lab", "--scenario", "order-service-oom", "--trace"],
        &[],
    );
    assert!(ok, "{err}");
    // p99 → memory near the limit while CPU is low → OOMKills → the chart's history → diagnosis.
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("trace lacks {needle:?}:\n{out}"))
    };
    let symptom = at("Evidence: symptom_present");
    let memory = at("Evidence: memory_near_limit");
    let cpu = at("Evidence: cpu_low");
    let oom = at("Evidence: oom_killed");
    let git = at("Evidence: memory_limit_lowered");
    let diagnosis = at("Diagnosis (memory_limit_too_low");
    assert!(
        symptom < memory && memory < cpu && cpu < oom && oom < git && git < diagnosis,
        "{out}"
    );
    assert!(out.contains("memory limit too low since commit"), "{out}");
    assert!(out.contains("2Gi → 512Mi"), "{out}");
    assert!(
        out.contains("mitigate: scale deployment shop/order-service {\"from\":3,\"replicas\":5}"),
        "{out}"
    );
    assert!(
        out.contains("fix:      charts/order-service/values.yaml resources.limits.memory = 2Gi"),
        "{out}"
    );
}
