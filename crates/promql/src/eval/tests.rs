//! Hand-computed checks of evaluation semantics: lookback, offset, name
//! dropping, vector matching and its errors, set operators.
#![allow(clippy::unwrap_used)]

use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn store() -> SeriesStore {
    let mut s = SeriesStore::new();
    for t in (0..=600_000).step_by(60_000) {
        let v = t as f64 / 60_000.0;
        s.append(
            &labels(&[("__name__", "m"), ("pod", "a"), ("c", "x")]),
            t,
            v,
        );
        s.append(
            &labels(&[("__name__", "m"), ("pod", "b"), ("c", "x")]),
            t,
            10.0 * v,
        );
        s.append(
            &labels(&[("__name__", "m2"), ("pod", "a"), ("c", "x")]),
            t,
            1.0,
        );
        s.append(&labels(&[("__name__", "limit"), ("pod", "a")]), t, 100.0);
        s.append(&labels(&[("__name__", "limit"), ("pod", "b")]), t, 200.0);
    }
    s
}

fn vector(q: &str, t: i64) -> Vec<(Labels, f64)> {
    match instant_query(&store(), q, t).unwrap() {
        QueryValue::Vector(v) => {
            let mut out: Vec<_> = v.into_iter().map(|s| (s.labels, s.value)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        other => panic!("{q}: not a vector: {other:?}"),
    }
}

fn error(q: &str) -> String {
    instant_query(&store(), q, 300_000).unwrap_err().to_string()
}

#[test]
fn lookback_is_five_minutes_inclusive() {
    // Last sample at 600 s: visible up to 900 s inclusive, gone at 900.001 s.
    assert_eq!(vector(r#"m{pod="a"}"#, 900_000).len(), 1);
    assert!(vector(r#"m{pod="a"}"#, 900_001).is_empty());
    // Between samples the latest one counts: at 90 s that is the 60 s sample.
    assert_eq!(vector(r#"m{pod="a"}"#, 90_000)[0].1, 1.0);
}

#[test]
fn offset_shifts_the_evaluation_time() {
    assert_eq!(vector(r#"m{pod="a"} offset 2m"#, 300_000)[0].1, 3.0);
    assert_eq!(vector(r#"m{pod="a"} offset -2m"#, 300_000)[0].1, 7.0);
}

#[test]
fn arithmetic_drops_the_name_comparisons_keep_it() {
    let v = vector(r#"m{pod="a"} * 2"#, 300_000);
    assert_eq!(v, vec![(labels(&[("pod", "a"), ("c", "x")]), 10.0)]);
    let v = vector(r#"m{pod="a"} > 2"#, 300_000);
    assert_eq!(
        v,
        vec![(labels(&[("__name__", "m"), ("pod", "a"), ("c", "x")]), 5.0)]
    );
    // With bool the value becomes 0/1 and the name goes.
    let v = vector(r#"m{pod="a"} > bool 9"#, 300_000);
    assert_eq!(v, vec![(labels(&[("pod", "a"), ("c", "x")]), 0.0)]);
    // A scalar on the left of a filter keeps the vector's value.
    assert_eq!(vector(r#"2 < m{pod="a"}"#, 300_000)[0].1, 5.0);
}

#[test]
fn group_left_copies_labels_from_the_one_side() {
    let v = vector("m / on(pod) group_left limit", 300_000);
    assert_eq!(
        v,
        vec![
            (labels(&[("pod", "a"), ("c", "x")]), 0.05),
            (labels(&[("pod", "b"), ("c", "x")]), 0.25),
        ]
    );
    // One-to-one `on` keeps only the matching labels.
    let v = vector("m - on(pod) limit", 300_000);
    assert_eq!(v[0], (labels(&[("pod", "a")]), -95.0));
}

#[test]
fn vector_matching_errors_use_prometheus_texts() {
    assert_eq!(
        error("limit + on(c) group_left m"),
        "found duplicate series for the match group {c=\"x\"} on the right hand-side of the operation: \
         [{__name__=\"m\", c=\"x\", pod=\"b\"}, {__name__=\"m\", c=\"x\", pod=\"a\"}];\
         many-to-many matching not allowed: matching labels must be unique on one side"
    );
    assert_eq!(
        error("vector(1) + on() m"),
        "found duplicate series for the match group {} on the right hand-side of the operation: \
         [{__name__=\"m\", c=\"x\", pod=\"b\"}, {__name__=\"m\", c=\"x\", pod=\"a\"}];\
         many-to-many matching not allowed: matching labels must be unique on one side"
    );
    assert_eq!(
        error("m + on() group_right vector(1)"),
        "found duplicate series for the match group {} on the left hand-side of the operation: \
         [{__name__=\"m\", c=\"x\", pod=\"b\"}, {__name__=\"m\", c=\"x\", pod=\"a\"}];\
         many-to-many matching not allowed: matching labels must be unique on one side"
    );
    assert_eq!(
        error(r#"label_replace(m, "pod", "same", "pod", ".*")"#),
        "vector cannot contain metrics with the same labelset"
    );
    assert_eq!(
        error(r#"{__name__=~"m|m2", pod="a"} + on(pod) group_left limit"#),
        "multiple matches for labels: grouping labels must ensure unique matches"
    );
    assert_eq!(
        error(r#"{__name__=~"m|m2", pod="a"} + on(pod) limit"#),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
}

#[test]
fn set_operators_match_on_all_labels_but_the_name() {
    let both = vector(r#"m and on(pod) limit{pod="a"}"#, 300_000);
    assert_eq!(both.len(), 1);
    assert_eq!(both[0].0["pod"], "a");
    let either = vector(r#"m{pod="a"} or limit"#, 300_000);
    assert_eq!(either.len(), 3);
    let unless = vector(r#"m unless on(pod) limit{pod="b"}"#, 300_000);
    assert_eq!(unless.len(), 1);
    assert_eq!(unless[0].0["pod"], "a");
}

#[test]
fn range_query_steps_and_scalar_results() {
    let QueryValue::Matrix(m) = range_query(&store(), "time()", 0, 120_000, 60_000).unwrap() else {
        panic!("not a matrix");
    };
    assert_eq!(m.len(), 1);
    assert!(m[0].labels.is_empty());
    assert_eq!(
        m[0].samples,
        vec![(0, 0.0), (60_000, 60.0), (120_000, 120.0)]
    );
    let err = range_query(&store(), "m[5m]", 0, 60_000, 15_000).unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid expression type \"range vector\""),
        "{err}"
    );
}
