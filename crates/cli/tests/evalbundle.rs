//! `pagerless eval BUNDLE_DIR...` end to end: two Nezha cases imported from
//! the fixture (a slice of the real data, see crates/bundle/tests/fixtures),
//! replayed through a real Prometheus (promtool backfill) and through the
//! embedded store, and scored; the label never reaches the investigation (a
//! decoy label changes the score, never the ranking).

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use serde_json::Value;

fn import(out: &Path) {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../bundle/tests/fixtures/nezha/ob-mini"
    );
    let (ok, stdout, stderr) = support::run_cli(
        &["import", "nezha", fixture, "--out", out.to_str().unwrap()],
        &[],
    );
    assert!(ok, "{stdout}{stderr}");
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
fn the_label_never_reaches_the_investigation() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundles");
    import(&out);
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
