//! `pagerless eval BUNDLE_DIR...` end to end: Nezha cases imported from the
//! fixtures (slices of the real data, see crates/bundle/tests/fixtures),
//! replayed through a real Prometheus (promtool backfill) and through the
//! embedded store, and scored; the ranking's top entry is the faulty service
//! for two CPU faults; the label never reaches the investigation (a decoy
//! label changes the score, never the ranking).

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use serde_json::Value;

fn import(out: &Path) {
    support::import_nezha("ob-mini", out);
}

fn eval(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["eval", dir.to_str().unwrap(), "--json"];
    args.extend(extra);
    let (ok, stdout, stderr) = support::run_cli(&args, &[]);
    assert!(ok, "{stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn bundles_replay_through_a_real_prometheus_and_are_scored() {
    support::require_binary("promtool", "prometheus");
    support::require_binary("prometheus", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundles");
    import(&out);
    let real = eval(&out, &[]);
    let overall = &real["overall"];
    assert_eq!(overall["cases"], 2, "{real}");
    for key in ["ac1", "ac3", "ac5", "avg5", "fault_type_accuracy"] {
        let v = overall[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&v), "{key}: {real}");
    }
    // The numbers follow from the ranks the cases report.
    let cases = real["cases"].as_array().unwrap();
    let hits = |k: usize| {
        cases
            .iter()
            .filter(|c| {
                let ranked: Vec<&str> = c["ranked"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                ranked
                    .iter()
                    .take(k)
                    .any(|s| Some(*s) == c["expected"].as_str())
            })
            .count() as f64
            / cases.len() as f64
    };
    assert_eq!(overall["ac1"].as_f64().unwrap(), hits(1));
    assert_eq!(overall["ac5"].as_f64().unwrap(), hits(5));
    // The embedded store gives the same rankings as the real Prometheus.
    let embedded = eval(&out, &["--embedded"]);
    let ranks = |v: &Value| -> Vec<Value> {
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["ranked"].clone())
            .collect()
    };
    assert_eq!(ranks(&real), ranks(&embedded));
}

#[test]
fn the_faulty_service_leads_the_ranking_through_a_real_prometheus() {
    support::require_binary("promtool", "prometheus");
    support::require_binary("prometheus", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundles");
    support::import_nezha("ob-cpu", &out);
    let report = eval(&out, &[]);
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2, "{report}");
    for (name, service) in [
        ("ob-cpu-0436-cartservice", "cartservice"),
        ("ob-cpu-0535-emailservice", "emailservice"),
    ] {
        let case = cases
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name}: {report}"));
        assert_eq!(case["ranked"][0], service, "{case}");
        assert_eq!(case["predicted_type"], "cpu", "{case}");
    }
    let overall = &report["overall"];
    assert_eq!(overall["cases"], 2);
    assert_eq!(overall["ac1"], 1.0, "{report}");
    assert_eq!(overall["avg5"], 1.0, "{report}");
    assert_eq!(overall["fault_type_accuracy"], 1.0, "{report}");
}

#[test]
fn the_label_never_reaches_the_investigation() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundles");
    support::import_nezha("ob-cpu", &out);
    let honest = eval(&out, &["--embedded"]);
    // A decoy label in every case: the rankings must not move.
    for entry in std::fs::read_dir(&out).unwrap() {
        let case = entry.unwrap().path();
        let path = case.join("label.json");
        let mut label: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        label["service"] = "decoy-service".into();
        label["pod"] = "decoy-service-0".into();
        std::fs::write(&path, label.to_string()).unwrap();
    }
    let decoy = eval(&out, &["--embedded"]);
    let ranked = |v: &Value| -> Vec<Value> {
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["ranked"].clone())
            .collect()
    };
    assert_eq!(ranked(&honest), ranked(&decoy));
    assert_eq!(decoy["overall"]["ac5"], 0.0, "the decoy is never ranked");
    assert!(
        decoy["cases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["expected"] == "decoy-service")
    );
}
