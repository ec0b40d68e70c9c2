//! The Prometheus tools against a real Prometheus HTTP API: the lab's, serving
//! the series of the `order-service-oom` scenario up to its first alert.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use pagerless_lab::find_scenario;
use pagerless_lab::world::World;
use pagerless_tools::prometheus::{
    Correlation, InstantResult, PrometheusConfig, RangeResult, tools,
};
use pagerless_tools::{Tool, ToolError};

const P99: &str = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"order-service\"}[5m])))";
const MEMORY: &str = "max by (pod) (container_memory_working_set_bytes{namespace=\"shop\"} / on(namespace,pod,container) group_left kube_pod_container_resource_limits{resource=\"memory\"})";
const CPU: &str = "sum by (pod) (rate(container_cpu_usage_seconds_total{namespace=\"shop\"}[2m]))";
const RESTARTS: &str =
    "sum by (pod) (increase(kube_pod_container_status_restarts_total{namespace=\"shop\"}[5m]))";

struct Lab {
    url: String,
    start: f64,
    now: f64,
    alerts: Vec<String>,
}

/// Runs the seed scenario until an alert fires and serves its series.
async fn lab() -> Lab {
    let scenario = find_scenario("order-service-oom").unwrap();
    let duration = scenario.duration.0;
    let mut world = World::new(scenario, None, None).unwrap();
    while world.firing_alerts().is_empty() {
        assert!(world.elapsed_secs() < duration, "no alert fired");
        world.step().unwrap();
    }
    let now_ms = world.now().timestamp_millis();
    let api = pagerless_promql::PromApi::new(world.series(), Arc::new(move || now_ms));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, pagerless_promql::router(api)).await });
    Lab {
        url: format!("http://{addr}"),
        start: world.start().timestamp() as f64,
        now: now_ms as f64 / 1000.0,
        alerts: world.firing_alerts(),
    }
}

fn tool(url: &str, name: &str) -> Arc<dyn Tool> {
    tools(&PrometheusConfig::new(url))
        .unwrap()
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap()
}

#[tokio::test]
async fn query_range_and_correlate_on_the_seed_incident() {
    let lab = lab().await;

    // The seed alert's expression, at the server's now.
    let obs = tool(&lab.url, "prometheus.query")
        .call(&serde_json::json!({"query": P99}))
        .await
        .unwrap();
    assert_eq!(obs.tool, "prometheus.query");
    assert_eq!(obs.query, P99);
    let instant: InstantResult = serde_json::from_value(obs.data).unwrap();
    assert_eq!(instant.time, lab.now, "{}", obs.summary);
    assert_eq!(instant.series.len(), 1);
    assert!(
        instant.series[0].value > 0.3,
        "p99 above the alert's threshold once {:?} fire: {}",
        lab.alerts,
        obs.summary
    );

    // At an RFC 3339 time before the incident, it was well under.
    let early = chrono::DateTime::from_timestamp(lab.start as i64 + 600, 0)
        .unwrap()
        .to_rfc3339();
    let obs = tool(&lab.url, "prometheus.query")
        .call(&serde_json::json!({"query": P99, "time": early}))
        .await
        .unwrap();
    let instant: InstantResult = serde_json::from_value(obs.data).unwrap();
    assert_eq!(instant.time, lab.start + 600.0);
    assert!(instant.series[0].value < 0.3, "{}", obs.summary);

    // An empty answer still says when it was evaluated.
    let obs = tool(&lab.url, "prometheus.query")
        .call(&serde_json::json!({"query": "up{job=\"nothing-here\"}"}))
        .await
        .unwrap();
    let instant: InstantResult = serde_json::from_value(obs.data).unwrap();
    assert!(instant.series.is_empty());
    assert_eq!(instant.time, lab.now);

    // A range.
    let obs = tool(&lab.url, "prometheus.query_range")
        .call(&serde_json::json!({"query": MEMORY, "start": lab.start, "end": lab.now, "step_secs": 60}))
        .await
        .unwrap();
    let range: RangeResult = serde_json::from_value(obs.data).unwrap();
    assert!(range.series.len() >= 7, "{}", obs.summary);
    for s in &range.series {
        assert!(s.labels.contains_key("pod"));
        assert!(s.points.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(s.points.iter().all(|p| p.0 >= lab.start && p.0 <= lab.now));
    }

    // Correlate: the memory ratio of an order-service pod ranks above CPU.
    let obs = tool(&lab.url, "prometheus.correlate")
        .call(&serde_json::json!({
            "symptom": P99,
            "candidates": [MEMORY, CPU, RESTARTS],
            "start": lab.start,
            "end": lab.now,
        }))
        .await
        .unwrap();
    let correlation: Correlation = serde_json::from_value(obs.data).unwrap();
    println!("{}", obs.summary);
    println!("onset {} s into the window", correlation.onset - lab.start);
    for c in &correlation.ranked {
        println!(
            "{:.3} z={:.1} lead={:?} r={:.2} {} {:?}",
            c.score,
            c.z,
            c.lead_secs,
            c.correlation,
            &c.query[..20],
            c.labels.get("pod")
        );
    }
    assert!(correlation.onset > lab.start && correlation.onset < lab.now);
    assert!(
        correlation
            .ranked
            .windows(2)
            .all(|w| w[0].score >= w[1].score)
    );
    let rank = |query: &str| {
        correlation
            .ranked
            .iter()
            .position(|c| {
                c.query == query
                    && c.labels
                        .get("pod")
                        .is_some_and(|p| p.starts_with("order-service"))
            })
            .unwrap()
    };
    let best_cpu = correlation
        .ranked
        .iter()
        .position(|c| c.query == CPU)
        .unwrap();
    assert!(
        rank(MEMORY) < best_cpu,
        "memory of order-service ranks {} and the best CPU series {best_cpu}: {}",
        rank(MEMORY),
        obs.summary
    );
    assert!(rank(MEMORY) < rank(CPU));
    assert!(
        obs.summary.contains("moved before the onset"),
        "{}",
        obs.summary
    );
}

#[tokio::test]
async fn a_bad_query_is_a_backend_error_with_prometheus_words() {
    let lab = lab().await;
    let err = tool(&lab.url, "prometheus.query")
        .call(&serde_json::json!({"query": "sum(rate(x[5m]"}))
        .await
        .unwrap_err();
    match &err {
        ToolError::Backend {
            tool,
            message,
            retriable,
        } => {
            assert_eq!(tool, "prometheus.query");
            assert!(message.contains("bad_data"), "{message}");
            assert!(message.contains("unclosed left parenthesis"), "{message}");
            assert!(!retriable);
        }
        other => panic!("{other:?}"),
    }
    let err = tool(&lab.url, "prometheus.query_range")
        .call(&serde_json::json!({"query": "up", "start": "yesterday", "end": 1}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::BadArguments { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_retriable_backend_error() {
    // A port nobody listens on: bind one, then let it go.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = tool(&url, "prometheus.query")
        .call(&serde_json::json!({"query": "up"}))
        .await
        .unwrap_err();
    assert!(err.is_retriable(), "{err:?}");
    assert!(matches!(err, ToolError::Backend { .. }));
    assert!(err.to_string().contains("cannot reach Prometheus"), "{err}");
}

/// A replay pins "now" to the alert's moment: instant queries without a time
/// are evaluated there, not at the server's clock.
#[tokio::test]
async fn a_pinned_time_stands_in_for_now_in_replays() {
    let lab = lab().await;
    let earlier = lab.now - 600.0;
    let mut config = PrometheusConfig::new(lab.url.clone());
    config.at = Some(earlier);
    let pinned = tools(&config)
        .unwrap()
        .into_iter()
        .find(|t| t.name() == "prometheus.query")
        .unwrap();
    let obs = pinned
        .call(&serde_json::json!({"query": "time()"}))
        .await
        .unwrap();
    let r: InstantResult = serde_json::from_value(obs.data).unwrap();
    assert_eq!(r.series[0].value, earlier);
    // An explicit time still wins.
    let obs = pinned
        .call(&serde_json::json!({"query": "time()", "time": lab.start + 60.0}))
        .await
        .unwrap();
    let r: InstantResult = serde_json::from_value(obs.data).unwrap();
    assert_eq!(r.series[0].value, lab.start + 60.0);
    // Unpinned, the server's now.
    let obs = tool(&lab.url, "prometheus.query")
        .call(&serde_json::json!({"query": "time()"}))
        .await
        .unwrap();
    let r: InstantResult = serde_json::from_value(obs.data).unwrap();
    assert_eq!(r.series[0].value, lab.now);
}

/// What `pagerless record` reads: metric names by label values, then each
/// series' samples as stored, both ends of the window included.
#[tokio::test]
async fn raw_samples_keep_the_window_and_both_its_ends() {
    let lab = lab().await;
    let client =
        pagerless_tools::prometheus::PrometheusClient::new(&PrometheusConfig::new(lab.url.clone()))
            .unwrap();
    let names = client
        .label_values(
            "__name__",
            &["{namespace=\"shop\"}"],
            lab.now - 600.0,
            lab.now,
        )
        .await
        .unwrap();
    assert!(
        names.contains(&"container_memory_working_set_bytes".to_owned()),
        "{names:?}"
    );
    let selector = "{__name__=\"container_memory_working_set_bytes\",namespace=\"shop\"}";
    let wide = client
        .samples(selector, lab.now - 600.0, lab.now)
        .await
        .unwrap();
    assert!(!wide.series.is_empty());
    let points = &wide.series[0].points;
    assert!(points.len() > 4, "{points:?}");
    assert!(
        points
            .iter()
            .all(|(t, _)| *t >= lab.now - 600.0 && *t <= lab.now)
    );
    assert_eq!(
        wide.series[0].labels["__name__"],
        "container_memory_working_set_bytes"
    );
    // A window from one stored sample to another holds both.
    let (first, last) = (points[1].0, points[points.len() - 2].0);
    let narrow = client.samples(selector, first, last).await.unwrap();
    let same = narrow
        .series
        .iter()
        .find(|s| s.labels == wide.series[0].labels)
        .unwrap();
    assert_eq!(same.points, points[1..points.len() - 1].to_vec());
}
