//! Scenario files: every built-in one is valid, and broken ones are refused
//! with the file, line and key at fault.

#![allow(clippy::unwrap_used)]

use pagerless_lab::{BUILTIN_SCENARIOS, Scenario, find_scenario};

#[test]
fn every_builtin_scenario_is_valid_and_named_after_its_file() {
    assert!(!BUILTIN_SCENARIOS.is_empty());
    for (name, text) in BUILTIN_SCENARIOS {
        let s = Scenario::parse(text, name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&s.name, name);
        assert!(!s.alerts.is_empty(), "{name} has an alert rule");
    }
}

#[test]
fn the_seed_scenario_says_what_the_seed_says() {
    let s = find_scenario("order-service-oom").unwrap();
    let svc = s.service("order-service").unwrap();
    assert_eq!(svc.container_name(), "order-api-v2");
    assert_eq!(svc.limits.memory.to_quantity(), "2Gi");
    let culprit = s.expect.culprit.as_ref().unwrap();
    assert_eq!(
        (culprit.before.as_str(), culprit.after.as_str()),
        ("2Gi", "512Mi")
    );
    assert_eq!(s.load_at(0.0), 160.0);
    assert_eq!(s.load_at(45.0 * 60.0), 220.0, "linear between points");
    assert_eq!(s.load_at(1e9), 240.0);
}

fn error_of(text: &str) -> String {
    Scenario::parse(text, "bad.yaml").unwrap_err().to_string()
}

const BASE: &str = "name: t\ndescription: d\nduration: 10m\nnodes:\n  - name: n1\n    cpu: \"4\"\n    memory: 8Gi\nservices:\n  - name: api\n    image: r/api\n    tag: \"1\"\n    replicas: 1\n    requests: {cpu: 100m, memory: 128Mi}\n    limits: {cpu: 200m, memory: 256Mi}\n    entry: true\nexpect:\n  category: none\n";

#[test]
fn the_base_fixture_is_valid() {
    Scenario::parse(BASE, "ok.yaml").unwrap();
}

#[test]
fn errors_point_at_line_and_key() {
    let err = error_of(&BASE.replace("memory: 8Gi", "memory: lots"));
    assert!(err.starts_with("bad.yaml:7: nodes[0].memory: "), "{err}");
    assert!(err.contains("not a memory quantity"), "{err}");

    let err = error_of(&BASE.replace(
        "    entry: true\n",
        "    entry: true\n    calls:\n      - db\n",
    ));
    assert_eq!(err, "bad.yaml:17: services[0].calls[0]: no service `db`");

    let err = error_of(&BASE.replace("    replicas: 1\n", "    replicas: 1\n    replica: 2\n"));
    assert!(
        err.starts_with("bad.yaml:13: services[0].replica: unknown field `replica`"),
        "{err}"
    );

    let err = error_of(&BASE.replace("limits: {cpu: 200m", "limits: {cpu: 50m"));
    assert!(
        err.contains("services[0].requests.cpu: is above `limits.cpu`"),
        "{err}"
    );

    let bad_time =
        format!("{BASE}timeline:\n  - at: 20m\n    scale: {{service: api, replicas: 2}}\n");
    let err = error_of(&bad_time);
    assert!(
        err.starts_with("bad.yaml:19: timeline[0].at: is after the run ends"),
        "{err}"
    );

    let bad_rule = format!("{BASE}alerts:\n  - name: A\n    expr: rate(x[5m]\n");
    let err = error_of(&bad_rule);
    assert!(
        err.starts_with("bad.yaml:20: alerts[0].expr: not PromQL"),
        "{err}"
    );

    let bad_commit = format!(
        "{BASE}timeline:\n  - at: 1m\n    commit:\n      author: \"A <a@x>\"\n      message: m\n      changes:\n        - {{file: charts/api/values.yaml, key: resources.limits.gpu, value: \"1\"}}\n"
    );
    let err = error_of(&bad_commit);
    assert!(
        err.contains("timeline[0].commit.changes[0].key: charts know"),
        "{err}"
    );
}

#[test]
fn unknown_names_list_the_builtins() {
    let err = find_scenario("nope").unwrap_err().to_string();
    assert!(err.contains("order-service-oom"), "{err}");
}

#[test]
fn every_file_in_scenarios_is_built_in_and_causes_are_distinct() {
    let dir = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
    .join("../../scenarios");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".yaml").map(str::to_owned)
        })
        .collect();
    files.sort();
    let mut builtin: Vec<String> = BUILTIN_SCENARIOS
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    builtin.sort();
    assert_eq!(files, builtin);

    let categories: Vec<String> = BUILTIN_SCENARIOS
        .iter()
        .map(|(n, t)| Scenario::parse(t, n).unwrap().expect.category)
        .collect();
    let distinct: std::collections::BTreeSet<&String> = categories.iter().collect();
    assert_eq!(
        distinct.len(),
        categories.len(),
        "one root cause per scenario: {categories:?}"
    );
    assert!(
        categories.len() >= 9,
        "the seed, seven causes and a control"
    );
    assert_eq!(
        categories.iter().filter(|c| *c == "none").count(),
        1,
        "one control scenario"
    );
}
