//! Fidelity: the evaluator answers like a real Prometheus 2.42 on a realistic store.
//!
//! Builds two hours of 15 s samples for a small Kubernetes fleet (counters with
//! resets, gauges, a classic histogram, series that start and stop mid-window),
//! backfills them into a real Prometheus and compares every query, instant at
//! several times and as range queries. Needs `prometheus` and `promtool`
//! (`apt-get install -y prometheus`); the harness panics without them.
#![allow(clippy::unwrap_used)]

use pagerless_promql::conformance::{PrometheusServer, Query, compare};
use pagerless_promql::{Labels, PromqlError, SeriesStore, instant_query, range_query};

const MIN: i64 = 60_000;
const STEP: i64 = 15_000;

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Pod {
    name: &'static str,
    service: &'static str,
    node: &'static str,
    /// Minutes after the start when the pod exists.
    alive: (i64, i64),
    /// Minute at which its counters reset (a container restart), if any.
    reset_at: Option<i64>,
}

const PODS: &[Pod] = &[
    Pod {
        name: "checkout-7d9f-a",
        service: "checkout",
        node: "node-1",
        alive: (0, 120),
        reset_at: Some(50),
    },
    Pod {
        name: "checkout-7d9f-b",
        service: "checkout",
        node: "node-2",
        alive: (0, 80),
        reset_at: None,
    },
    Pod {
        name: "checkout-7d9f-c",
        service: "checkout",
        node: "node-2",
        alive: (40, 120),
        reset_at: None,
    },
    Pod {
        name: "cart-5c4b-a",
        service: "cart",
        node: "node-1",
        alive: (0, 120),
        reset_at: Some(95),
    },
    Pod {
        name: "cart-5c4b-b",
        service: "cart",
        node: "node-3",
        alive: (0, 120),
        reset_at: None,
    },
];

const BUCKETS: &[(&str, f64)] = &[
    ("0.05", 0.30),
    ("0.1", 0.55),
    ("0.25", 0.80),
    ("0.5", 0.92),
    ("1", 0.97),
    ("2.5", 0.995),
    ("+Inf", 1.0),
];

/// Two hours of samples starting at `start` (ms), every 15 s with scrape jitter.
fn build_store(start: i64) -> SeriesStore {
    let mut store = SeriesStore::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut state: std::collections::HashMap<String, f64> = Default::default();
    let mut bump = |store: &mut SeriesStore, l: Labels, t: i64, inc: f64, reset: bool| {
        let key = format!("{l:?}");
        let v = state.entry(key).or_insert(0.0);
        *v = if reset { inc } else { *v + inc };
        store.append(&l, t, *v);
    };
    for i in 0..=(120 * MIN / STEP) {
        let minute = i * STEP / MIN;
        let base_t = start + i * STEP;
        for (pi, pod) in PODS.iter().enumerate() {
            if minute < pod.alive.0 || minute >= pod.alive.1 {
                continue;
            }
            let t = base_t + (pi as i64) * 137 + (rng.next() * 40.0) as i64;
            let reset = pod.reset_at.is_some_and(|r| i * STEP == r * MIN);
            let ns = "shop";
            for (code, share) in [("200", 0.95), ("500", 0.05)] {
                let l = labels(&[
                    ("__name__", "http_requests_total"),
                    ("service", pod.service),
                    ("pod", pod.name),
                    ("code", code),
                ]);
                let inc = (rng.next() * 40.0 * share).round();
                bump(&mut store, l, t, inc, reset);
            }
            let container = [
                ("namespace", ns),
                ("pod", pod.name),
                ("container", "app"),
                ("node", pod.node),
            ];
            let with = |name: &str, extra: &[(&str, &str)]| {
                let mut l = labels(&container);
                l.insert("__name__".into(), name.into());
                for (k, v) in extra {
                    l.insert(k.to_string(), v.to_string());
                }
                l
            };
            bump(
                &mut store,
                with("container_cpu_usage_seconds_total", &[]),
                t,
                0.2 + rng.next() * 3.0,
                reset,
            );
            let mem = 300e6 + 150e6 * rng.next() + (minute as f64) * 1e6;
            store.append(
                &with("container_memory_working_set_bytes", &[]),
                t,
                mem.round(),
            );
            store.append(
                &with(
                    "kube_pod_container_resource_limits",
                    &[("resource", "memory"), ("unit", "byte")],
                ),
                t,
                536_870_912.0,
            );
            store.append(
                &with(
                    "kube_pod_container_resource_limits",
                    &[("resource", "cpu"), ("unit", "core")],
                ),
                t,
                0.5,
            );
            let restarts = match pod.reset_at {
                Some(r) if minute >= r => 1.0,
                _ => 0.0,
            };
            let mut rl = labels(&[("__name__", "kube_pod_container_status_restarts_total")]);
            rl.extend(labels(&[
                ("namespace", ns),
                ("pod", pod.name),
                ("container", "app"),
            ]));
            store.append(&rl, t, restarts);

            // A classic histogram per pod: cumulative buckets, _sum and _count.
            let n = (rng.next() * 30.0).round();
            let slow = if pod.service == "checkout" && minute >= 60 {
                0.6
            } else {
                1.0
            };
            for (le, share) in BUCKETS {
                let share = if *le == "+Inf" { 1.0 } else { share * slow };
                let l = labels(&[
                    ("__name__", "http_request_duration_seconds_bucket"),
                    ("service", pod.service),
                    ("pod", pod.name),
                    ("le", le),
                ]);
                bump(&mut store, l, t, (n * share).floor(), reset);
            }
            let hl = |name: &str| {
                labels(&[
                    ("__name__", name),
                    ("service", pod.service),
                    ("pod", pod.name),
                ])
            };
            bump(
                &mut store,
                hl("http_request_duration_seconds_sum"),
                t,
                n * 0.12 / slow,
                reset,
            );
            bump(
                &mut store,
                hl("http_request_duration_seconds_count"),
                t,
                n,
                reset,
            );
        }
        for (ni, node) in ["node-1", "node-2", "node-3"].iter().enumerate() {
            let t = base_t + 1000 + ni as i64 * 71;
            let nl = |name: &str| labels(&[("__name__", name), ("node", node), ("instance", node)]);
            store.append(
                &nl("node_load1"),
                t,
                (rng.next() * 4.0 * 100.0).round() / 100.0,
            );
            store.append(
                &nl("node_memory_MemAvailable_bytes"),
                t,
                (8e9 - 2e9 * rng.next()).round(),
            );
            if !(*node == "node-3" && minute >= 100) {
                bump(
                    &mut store,
                    nl("node_network_receive_bytes_total"),
                    t,
                    1e5 * rng.next(),
                    false,
                );
            }
        }
    }
    add_edge_cases(&mut store, start);
    store
}

/// Series for edge cases: NaN and infinite values, a single sample, a histogram
/// without a `+Inf` bucket, and equal values that make `topk` break ties.
fn add_edge_cases(store: &mut SeriesStore, start: i64) {
    for i in 0..=(120 * MIN / STEP) {
        let t = start + i * STEP + 500;
        let special = [f64::NAN, f64::INFINITY, 3.0, f64::NEG_INFINITY, -2.5];
        let nan_v = if i % 7 == 3 {
            f64::NAN
        } else {
            (i % 13) as f64
        };
        store.append(
            &labels(&[("__name__", "edge_gauge"), ("case", "nan")]),
            t,
            nan_v,
        );
        let inf_v = special[(i % 5) as usize];
        store.append(
            &labels(&[("__name__", "edge_gauge"), ("case", "inf")]),
            t,
            inf_v,
        );
        store.append(
            &labels(&[("__name__", "edge_gauge"), ("case", "plain")]),
            t,
            (i % 4) as f64,
        );
        for (le, c) in [("0.5", i as f64), ("1", 2.0 * i as f64)] {
            let l = labels(&[("__name__", "edge_hist_bucket"), ("le", le)]);
            store.append(&l, t, c);
        }
    }
    store.append(
        &labels(&[("__name__", "edge_single")]),
        start + 61 * MIN,
        7.0,
    );
    // Exactly on the 15 s grid and stopping at 100 min: window and lookback
    // boundaries fall on samples (2.42 includes both ends).
    for i in 0..=(100 * MIN / STEP) {
        let l = labels(&[("__name__", "edge_aligned_total")]);
        store.append(&l, start + i * STEP, (i * i) as f64);
    }
}

const QUERIES: &[&str] = &[
    // Selectors, matchers, offset, literals.
    "http_requests_total",
    r#"http_requests_total{code="500"}"#,
    r#"http_requests_total{code!="200", service=~"check.*"}"#,
    r#"container_memory_working_set_bytes{pod!~"cart.*"}"#,
    "node_load1 offset 10m",
    "42",
    "-node_load1",
    "(1 + 2) * 3 ^ 2 % 5",
    // Range functions.
    "rate(http_requests_total[5m])",
    "irate(http_requests_total[1m])",
    "increase(container_cpu_usage_seconds_total[10m])",
    "delta(container_memory_working_set_bytes[5m])",
    "idelta(node_load1[2m])",
    "sum by (pod) (rate(container_cpu_usage_seconds_total[5m]))",
    "rate(http_requests_total[5m] offset 15m)",
    "avg_over_time(node_load1[10m])",
    "min_over_time(container_memory_working_set_bytes[10m])",
    "max_over_time(container_memory_working_set_bytes[10m])",
    "sum_over_time(node_load1[5m])",
    "count_over_time(http_requests_total[7m])",
    "last_over_time(node_load1[3m])",
    "quantile_over_time(0.9, node_load1[15m])",
    "stddev_over_time(node_memory_MemAvailable_bytes[10m])",
    // Histograms.
    "histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(http_request_duration_seconds_bucket[5m]))",
    "rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])",
    // Instant-vector functions.
    "abs(delta(node_load1[5m]))",
    "ceil(node_load1)",
    "floor(node_load1 * 10)",
    "round(node_load1, 0.5)",
    "clamp(node_load1, 1, 2)",
    "clamp_min(node_load1, 2)",
    "clamp_max(node_load1, 2)",
    "time()",
    "timestamp(node_load1)",
    "vector(1)",
    "scalar(sum(node_load1))",
    "sort(node_load1)",
    "sort_desc(node_load1)",
    r#"label_replace(node_load1, "host", "$1", "instance", "node-(.*)")"#,
    r#"label_replace(node_load1, "node", "", "node", ".*")"#,
    r#"absent(nonexistent_metric{job="x", env=~"p.*"})"#,
    "absent(node_load1)",
    // Aggregations.
    "sum(rate(http_requests_total[5m]))",
    "avg by (service) (rate(http_requests_total[5m]))",
    "min without (pod) (container_memory_working_set_bytes)",
    "max by (node) (container_memory_working_set_bytes)",
    "count by (service) (http_requests_total)",
    "group by (node) (container_memory_working_set_bytes)",
    "stddev by (service) (rate(http_requests_total[5m]))",
    "quantile by (service) (0.75, rate(http_requests_total[5m]))",
    "topk(2, rate(container_cpu_usage_seconds_total[5m]))",
    "bottomk by (service) (1, rate(http_requests_total[5m]))",
    // Binary operators and vector matching.
    r#"container_memory_working_set_bytes / on(pod, container) group_left kube_pod_container_resource_limits{resource="memory"}"#,
    r#"container_memory_working_set_bytes / ignoring(resource, unit) kube_pod_container_resource_limits{resource="memory"}"#,
    r#"sum by (pod) (rate(http_requests_total[5m])) * on(pod) group_left(node) max by (pod, node) (kube_pod_container_resource_limits{resource="cpu"})"#,
    r#"kube_pod_container_resource_limits{resource="memory"} / on(pod, container) group_right container_memory_working_set_bytes"#,
    "container_memory_working_set_bytes / kube_pod_container_resource_limits",
    "node_load1 > 2",
    "node_load1 > bool 2",
    "2 < node_load1",
    "node_load1 == bool node_load1",
    "container_memory_working_set_bytes != 0",
    "1 >= bool 2",
    "rate(http_requests_total[5m]) > 0.5 and on(pod) kube_pod_container_status_restarts_total > 0",
    r#"http_requests_total{code="500"} or http_requests_total{service="cart"}"#,
    r#"http_requests_total unless on(pod) kube_pod_container_status_restarts_total > 0"#,
    "node_load1 - node_load1 offset 5m",
    "node_memory_MemAvailable_bytes % 7 + node_load1 ^ 2",
    "rate(http_requests_total[5m]) + on(pod) group_left rate(http_requests_total[5m])",
    "http_requests_total + on(service) http_requests_total",
    "increase(kube_pod_container_status_restarts_total[1h]) > 0",
    "rate(node_network_receive_bytes_total[5m])",
    // Edge cases: special values, ties, duplicate label sets, odd histograms.
    r#"{__name__=~"node_.*"}"#,
    r#"rate({__name__=~"node_load1|node_memory_MemAvailable_bytes"}[5m])"#,
    r#"-{__name__=~"node_load1|node_memory_MemAvailable_bytes"}"#,
    r#"label_replace(label_replace(kube_pod_container_resource_limits, "resource", "x", "", ""), "unit", "", "", "")"#,
    r#"label_replace(node_load1, "x", "$1-$2", "node", "(node)-(.*)")"#,
    "histogram_quantile(0.5, edge_hist_bucket)",
    "histogram_quantile(0.5, rate(edge_hist_bucket[5m]))",
    "edge_gauge",
    "max_over_time(edge_gauge[2m])",
    "min_over_time(edge_gauge[2m])",
    "avg_over_time(edge_gauge[2m])",
    "stddev_over_time(edge_gauge[2m])",
    "quantile_over_time(0.3, edge_gauge[5m])",
    "sum by (case) (edge_gauge)",
    "avg(edge_gauge)",
    "max(edge_gauge)",
    "min(edge_gauge)",
    "stddev(edge_gauge)",
    "quantile(0.5, edge_gauge)",
    "edge_gauge > 1",
    "edge_gauge == bool edge_gauge",
    "clamp_max(edge_gauge, 1)",
    "clamp_min(edge_gauge, 1)",
    "round(edge_gauge)",
    "edge_gauge / 0",
    "edge_gauge % 0",
    "0 ^ edge_gauge",
    "topk(1, edge_gauge)",
    "bottomk(2, edge_gauge)",
    "topk(3, kube_pod_container_resource_limits)",
    "bottomk(4, kube_pod_container_resource_limits)",
    "topk by (resource) (2, kube_pod_container_resource_limits)",
    "topk(scalar(node_load1{node=\"node-1\"}), node_load1)",
    "edge_single",
    "timestamp(edge_single)",
    "timestamp((edge_single))",
    "count_over_time(edge_single[1h])",
    "rate(edge_single[1h])",
    "absent(edge_single)",
    "absent(edge_single{a=\"b\", a=\"c\"})",
    "scalar(edge_single)",
    "absent((edge_single{a=\"b\"}))",
    "absent(nonexistent{a=\"b\"} offset 1h)",
    "absent(sum(nonexistent{a=\"b\"}))",
    "timestamp(-edge_single)",
    "rate((http_requests_total[5m]))",
    "round((node_load1), (0.25))",
    "vector(time()) - timestamp(node_load1)",
    "node_load1 offset -5m",
    "edge_aligned_total",
    "count_over_time(edge_aligned_total[1m])",
    "rate(edge_aligned_total[1m])",
    "increase(edge_aligned_total[2m] offset 1m)",
    "irate(edge_aligned_total[30s])",
    "1 > 2",
    "avg without (code) (rate(http_requests_total[5m]))",
    "2 * node_load1 ^ 2 - 1 / node_load1 % 3",
    "-(node_load1) + -1",
    "sum(nonexistent_metric)",
    "count(edge_gauge > 100)",
    r#"http_requests_total{code="500"} + on(pod, service) group_left http_requests_total{code="200"}"#,
    r#"kube_pod_container_resource_limits + ignoring(resource, unit) group_right kube_pod_container_resource_limits{resource="cpu"}"#,
];

#[tokio::test(flavor = "multi_thread")]
async fn evaluator_agrees_with_prometheus() {
    let now = chrono::Utc::now().timestamp_millis();
    let start = (now / 3_600_000) * 3_600_000 - 3 * 3_600_000;
    let end = start + 120 * MIN;
    let store = build_store(start);
    let server = PrometheusServer::start(&store).await.unwrap();

    let times = [
        start,
        start + MIN + 7_000,
        start + 40 * MIN + 20_000,
        start + 61 * MIN + 3_333,
        start + 80 * MIN + 10_000,
        start + 84 * MIN + 30_000,
        end,
        end + 4 * MIN,
        end + 6 * MIN,
    ];
    let mut checked = 0;
    let mut non_empty = 0;
    let mut errors = 0;
    let mut failures = Vec::new();
    for q in QUERIES {
        let mut queries: Vec<Query> = times.iter().map(|&t| Query::instant(q, t)).collect();
        queries.push(Query::range(q, start, end + 10 * MIN, MIN));
        queries.push(Query::range(
            q,
            start + 35 * MIN + 1_234,
            start + 90 * MIN,
            37_000,
        ));
        for query in queries {
            let c = compare(&server, &store, query).await.unwrap();
            checked += 1;
            non_empty += usize::from(c.prometheus_series() > 0);
            if let Err(e) = &c.prometheus {
                errors += 1;
                println!("both failed: {:?}: {e}", c.query);
                // Execution errors must read exactly like Prometheus' own.
                if let Err(PromqlError::Execution(ours)) = c.query.evaluate(&store)
                    && &ours != e
                {
                    failures.push(format!("{:?}\n    ours {ours}\n    theirs {e}", c.query));
                }
            }
            if let Some(d) = c.disagreement {
                failures.push(format!("{:?}\n    {d}", c.query));
            }
        }
    }
    println!(
        "{} queries, {checked} comparisons ({non_empty} non-empty, {errors} errors in both), {} disagreements",
        QUERIES.len(),
        failures.len()
    );
    assert!(
        non_empty * 10 >= checked * 7,
        "too many empty answers: {non_empty} of {checked}"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn unsupported_queries_are_errors_not_answers() {
    let store = build_store(0);
    for q in [
        "rate(http_requests_total[5m])[30m:1m]",
        "max_over_time(rate(http_requests_total[5m])[10m:])",
        "deriv(node_load1[5m])",
        "node_load1 @ 100",
        "count_values(\"v\", node_load1)",
    ] {
        let err = instant_query(&store, q, 60 * MIN).unwrap_err();
        assert!(matches!(err, PromqlError::Unsupported(_)), "{q}: {err}");
    }
    // An unknown function is not PromQL at all.
    let err = instant_query(&store, "no_such_function(node_load1)", 60 * MIN).unwrap_err();
    assert!(matches!(err, PromqlError::Parse(_)), "{err}");
}

#[test]
fn range_queries_are_capped_at_11000_points() {
    let store = SeriesStore::new();
    let err = range_query(&store, "vector(1)", 0, 11_001_000, 1000).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid parameter \"step\": exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
    assert!(range_query(&store, "vector(1)", 0, 11_000_000, 1000).is_ok());
}
