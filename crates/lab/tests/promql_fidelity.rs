//! The lab's Prometheus API answers like a real Prometheus on the lab's own
//! series: a seed run's series are exported as OpenMetrics, backfilled into a
//! real Prometheus 2.42 with promtool, and every query form the playbooks use
//! is asked of both, as instant queries at several moments of the incident
//! and as range queries over the whole run. Needs `prometheus` and `promtool`
//! (`apt-get install -y prometheus`); the harness fails without them.

#![allow(clippy::unwrap_used)]

use pagerless_lab::find_scenario;
use pagerless_lab::world::World;
use pagerless_promql::conformance::{PrometheusServer, Query, compare};

/// Every form the playbooks and alert rules use, on the lab's metric names.
const QUERIES: &[&str] = &[
    // Symptoms.
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"order-service\"}[5m])))",
    "histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, sum by (le, pod) (rate(http_request_duration_seconds_bucket{namespace=\"shop\"}[2m])))",
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"order-service\"}[5m]))) > 0.3",
    "sum by (service) (rate(http_requests_total[5m]))",
    "sum by (service, code) (increase(http_requests_total[10m]))",
    "sum(rate(http_requests_total{code=~\"5..\"}[2m])) by (service) / sum(rate(http_requests_total[2m])) by (service)",
    "rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])",
    // Memory and limits.
    "container_memory_working_set_bytes{container=\"order-api-v2\"}",
    "container_memory_working_set_bytes / on(pod, container) group_left kube_pod_container_resource_limits{resource=\"memory\"}",
    "max by (pod) (container_memory_working_set_bytes{namespace=\"shop\"} / on(namespace, pod, container) group_left kube_pod_container_resource_limits{resource=\"memory\"}) > 0.9",
    "max_over_time(container_memory_working_set_bytes{container=\"order-api-v2\"}[10m])",
    "avg_over_time(container_memory_working_set_bytes{namespace=\"shop\"}[5m])",
    "quantile_over_time(0.9, container_memory_working_set_bytes{container=\"order-api-v2\"}[15m])",
    "kube_pod_container_resource_limits{resource=\"memory\"} offset 30m",
    // CPU.
    "rate(container_cpu_usage_seconds_total{namespace=\"shop\"}[2m])",
    "sum by (pod) (rate(container_cpu_usage_seconds_total[5m])) / sum by (pod) (kube_pod_container_resource_limits{resource=\"cpu\"})",
    "rate(container_cpu_cfs_throttled_periods_total[5m]) / rate(container_cpu_cfs_periods_total[5m])",
    "irate(container_cpu_usage_seconds_total{container=\"order-api-v2\"}[1m])",
    // Restarts and state.
    "increase(kube_pod_container_status_restarts_total[10m])",
    "sum by (namespace) (increase(kube_pod_container_status_restarts_total[15m])) > bool 0",
    "delta(kube_pod_container_status_restarts_total[5m])",
    "kube_pod_container_status_last_terminated_reason{reason=\"OOMKilled\"}",
    "count by (reason) (kube_pod_container_status_waiting_reason)",
    "kube_deployment_status_replicas_available < kube_deployment_spec_replicas",
    "kube_deployment_spec_replicas - ignoring(job) kube_deployment_status_replicas_available",
    "absent(kube_pod_container_status_waiting_reason{namespace=\"shop\"})",
    // Ranking and sets.
    "topk(3, container_memory_working_set_bytes)",
    // Not `bottomk` over services: every service of the seed sees the same request
    // rate, and which of equal values Prometheus keeps is its heap's accident.
    "bottomk(2, sum by (pod) (rate(container_cpu_usage_seconds_total[5m])))",
    "sum by (service) (rate(http_requests_total[5m])) and on(service) sum by (service) (rate(http_requests_total{code=\"504\"}[5m])) > 0",
    "sum by (service) (rate(http_requests_total[5m])) unless on(service) sum by (service) (rate(http_requests_total{code=\"504\"}[5m])) > 0",
    "count(kube_pod_container_status_ready == 1) or vector(0)",
    // Nodes.
    "node_filesystem_avail_bytes{mountpoint=\"/\"} / node_filesystem_size_bytes{mountpoint=\"/\"} < 0.15",
    "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
    "sort_desc(node_load1)",
    "label_replace(node_load1, \"host\", \"$1\", \"node\", \"node-(.*)\")",
    "clamp_max(sum by (node) (node_load1), 4)",
    // Time.
    "time() - max(timestamp(kube_pod_container_status_restarts_total))",
];

#[tokio::test]
async fn the_lab_answers_like_prometheus_on_its_own_series() {
    let s = find_scenario("order-service-oom").unwrap();
    let duration = s.duration.0;
    let mut w = World::new(s, None, None).unwrap();
    while w.elapsed_secs() < duration {
        w.step().unwrap();
    }
    let start = w.start().timestamp_millis();
    let end = w.now().timestamp_millis();
    // Take the store out of the world: nothing else holds it now.
    let series = w.series();
    drop(w);
    let store = std::sync::Arc::try_unwrap(series)
        .ok()
        .unwrap()
        .into_inner()
        .unwrap();
    assert!(
        store.series_count() > 300,
        "a real run: {} series",
        store.series_count()
    );
    let server = PrometheusServer::start(&store).await.unwrap();

    let min = 60_000;
    // Before the commit, as the limit bites, during the OOM storm, at the end.
    let moments = [
        start + 15 * min,
        start + 25 * min + 7_000,
        start + 40 * min,
        start + 62 * min + 30_000,
        end,
    ];
    let mut checked = 0;
    let mut non_empty = 0;
    let mut disagreements = Vec::new();
    for q in QUERIES {
        let mut queries: Vec<Query> = moments.iter().map(|t| Query::instant(q, *t)).collect();
        queries.push(Query::range(q, start + 5 * min, end, 60_000));
        for query in queries {
            let c = compare(&server, &store, query).await.unwrap();
            checked += 1;
            non_empty += usize::from(c.prometheus_series() > 0);
            if let Some(d) = c.disagreement {
                disagreements.push(format!("{:?}: {d}", c.query));
            }
        }
    }
    assert!(QUERIES.len() >= 30);
    assert!(
        disagreements.is_empty(),
        "{} of {checked} disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(
        non_empty * 10 >= checked * 7,
        "most answers carry data: {non_empty} of {checked}"
    );
    println!(
        "{} queries, {checked} comparisons, {non_empty} non-empty, 0 disagreements",
        QUERIES.len()
    );
}
