//! Builds a synthetic fleet (10,000 pods × 10 series × 40 samples) and prints
//! the store's size, resident memory and a few query timings.
//!
//! `cargo run --release -p pagerless-promql --example fleet_memory`

use std::time::Instant;

use pagerless_promql::{Labels, SeriesStore, instant_query, range_query};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let before = rss_kib();
    let started = Instant::now();
    let mut store = SeriesStore::new();
    let metrics = [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_network_receive_bytes_total",
        "container_network_transmit_bytes_total",
        "kube_pod_container_status_restarts_total",
        "kube_pod_container_resource_limits",
        "kube_pod_container_resource_requests",
        "http_requests_total",
        "kube_pod_status_ready",
        "container_fs_usage_bytes",
    ];
    for step in 0..40_i64 {
        let t = 1_700_000_000_000 + step * 15_000;
        for pod in 0..10_000 {
            let pod_name = format!("svc-{}-{pod:05}", pod % 50);
            for (mi, m) in metrics.iter().enumerate() {
                let mut l = Labels::new();
                l.insert("__name__".into(), (*m).into());
                l.insert("namespace".into(), format!("ns-{}", pod % 20));
                l.insert("pod".into(), pod_name.clone());
                l.insert("container".into(), "app".into());
                l.insert("node".into(), format!("node-{}", pod % 300));
                store.append(&l, t, (step * (mi as i64 + 1)) as f64);
            }
        }
    }
    let built = started.elapsed();
    let after = rss_kib();
    println!(
        "{} series, {} samples, built in {built:?}, RSS +{} MiB",
        store.series_count(),
        store.sample_count(),
        (after.saturating_sub(before)) / 1024
    );
    let t = 1_700_000_000_000 + 39 * 15_000;
    for q in [
        "container_cpu_usage_seconds_total",
        "rate(container_cpu_usage_seconds_total[5m])",
        "sum(container_cpu_usage_seconds_total)",
        "sum by (namespace) (rate(container_cpu_usage_seconds_total[5m]))",
        "topk(5, container_memory_working_set_bytes)",
        r#"container_memory_working_set_bytes{pod="svc-3-00003"}"#,
    ] {
        let s = Instant::now();
        let r = instant_query(&store, q, t).map(|v| v.result_type());
        println!("instant {q}: {r:?} in {:?}", s.elapsed());
    }
    let s = Instant::now();
    let r = range_query(
        &store,
        "sum by (namespace) (rate(container_cpu_usage_seconds_total[5m]))",
        t - 600_000,
        t,
        15_000,
    )
    .map(|v| v.result_type());
    println!("range (41 steps): {r:?} in {:?}", s.elapsed());
}
