//! `pagerless import nezha`: one line per case, the bundles on disk, no
//! overwriting without `--force`, and malformed input named by file and line.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;

use support::run_cli;

fn ob_mini() -> PathBuf {
    support::nezha_fixture("ob-mini")
}

#[test]
fn import_prints_one_line_per_case_and_writes_bundles() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("bundles");
    let day = ob_mini();
    let args = [
        "import",
        "nezha",
        day.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let (ok, stdout, stderr) = run_cli(&args, &[]);
    assert!(ok, "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "ob-mini-0543-emailservice  alert did not fire, placed 2.0 min after injection"
    );
    assert_eq!(
        lines[1],
        "ob-mini-0635-productcatalogservice  alert EntryLatencyHigh fired 0.7 min after injection"
    );
    assert!(
        stdout.contains("2 online-boutique cases written to"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 fired, 1 not fired, 0 skipped"),
        "{stdout}"
    );
    for case in [
        "ob-mini-0543-emailservice",
        "ob-mini-0635-productcatalogservice",
    ] {
        for file in ["bundle.json", "metrics.om", "label.json", "topology.json"] {
            assert!(out_dir.join(case).join(file).is_file(), "{case}/{file}");
        }
    }

    // A second run refuses to overwrite; --force replaces.
    let (ok, _, stderr) = run_cli(&args, &[]);
    assert!(!ok);
    assert!(
        stderr.contains("already exists and is not empty; pass --force"),
        "{stderr}"
    );
    let mut forced = args.to_vec();
    forced.push("--force");
    let (ok, stdout, stderr) = run_cli(&forced, &[]);
    assert!(ok, "{stdout}\n{stderr}");
}

#[test]
fn a_malformed_csv_is_named_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("ob-broken");
    std::fs::create_dir_all(day.join("metric")).unwrap();
    for entry in std::fs::read_dir(ob_mini().join("metric")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), day.join("metric").join(entry.file_name())).unwrap();
    }
    std::fs::copy(
        ob_mini().join("fault_list.json"),
        day.join("fault_list.json"),
    )
    .unwrap();
    let csv = day.join("metric/front_service.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[5] = "2022-08-22 04:45:19.6 +0000 UTC m=+1,1661140279,Frontend,100";
    std::fs::write(&csv, lines.join("\n")).unwrap();
    let out = tmp.path().join("out");
    let (ok, stdout, stderr) = run_cli(
        &[
            "import",
            "nezha",
            day.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("front_service.csv:6: 4 fields, the header has 8"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing written on malformed input");
}

#[test]
fn per_call_latencies_become_series_on_both_sides_of_each_call() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("bundles");
    let day = support::nezha_fixture("ob-cpu");
    let args = [
        "import",
        "nezha",
        day.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let (ok, stdout, stderr) = run_cli(&args, &[]);
    assert!(ok, "{stdout}\n{stderr}");
    let om = std::fs::read_to_string(out_dir.join("ob-cpu-0535-emailservice/metrics.om")).unwrap();
    // checkoutservice_emailservice in source_50.csv (as the caller measured
    // it) and in destination_50.csv (as the callee served it).
    for reporter in ["source", "destination"] {
        let head = format!(
            "edge_latency_seconds{{destination_service=\"emailservice\",namespace=\"online-boutique\",quantile=\"0.5\",reporter=\"{reporter}\",source_service=\"checkoutservice\"}} "
        );
        let samples: Vec<&str> = om.lines().filter(|l| l.starts_with(&head)).collect();
        // The window: inject − 60 min to inject + 15 min, about a row a
        // minute (the CSV skips a few).
        assert!(
            (60..=76).contains(&samples.len()),
            "{reporter}: {}",
            samples.len()
        );
    }
    // 14 calls, both sides.
    let series: std::collections::BTreeSet<&str> = om
        .lines()
        .filter(|l| l.starts_with("edge_latency_seconds{"))
        .filter_map(|l| l.split_once('}').map(|(h, _)| h))
        .collect();
    assert_eq!(series.len(), 28, "{series:?}");
    assert!(!stderr.contains("not `<caller>_<callee>`"), "{stderr}");
}
