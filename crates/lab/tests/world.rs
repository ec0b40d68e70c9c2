//! The worlds behave like the clusters they describe: the seed incident
//! unfolds as the seed says, scaling out mitigates it, every scenario raises
//! its alert (the control only briefly), and the same seed gives the same world.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use pagerless_lab::find_scenario;
use pagerless_lab::world::World;
use pagerless_promql::{QueryValue, instant_query, write_openmetrics};

fn q(world: &World, expr: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let store = world.series();
    let store = store.read().unwrap();
    match instant_query(&store, expr, world.now().timestamp_millis()).unwrap() {
        QueryValue::Vector(v) => v.into_iter().map(|s| (s.labels, s.value)).collect(),
        QueryValue::Scalar { value, .. } => vec![(BTreeMap::new(), value)],
        other => panic!("{other:?}"),
    }
}

fn one(world: &World, expr: &str) -> f64 {
    q(world, expr).first().map_or(f64::NAN, |x| x.1)
}

const SEED_P99: &str = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"order-service\"}[5m])))";

/// Steps until `pred` holds or `limit_secs` pass; returns the elapsed seconds when it held.
fn run_until(w: &mut World, limit_secs: i64, mut pred: impl FnMut(&World) -> bool) -> Option<i64> {
    while w.elapsed_secs() < limit_secs {
        w.step().unwrap();
        if pred(w) {
            return Some(w.elapsed_secs());
        }
    }
    None
}

#[test]
fn the_seed_incident_unfolds_as_described() {
    let s = find_scenario("order-service-oom").unwrap();
    let mut w = World::new(s, None, None).unwrap();
    // Before the commit at 20m: healthy.
    run_until(&mut w, 19 * 60, |_| false);
    assert!(w.firing_alerts().is_empty());
    assert_eq!(
        one(
            &w,
            "sum(kube_pod_container_status_restarts_total{namespace=\"shop\"})"
        ),
        0.0
    );
    let p99 = one(&w, SEED_P99);
    assert!(p99 < 0.2, "healthy p99 well under 300ms: {p99}");
    let mem = one(
        &w,
        "max(container_memory_working_set_bytes{container=\"order-api-v2\"} / on(pod, container) group_left kube_pod_container_resource_limits{resource=\"memory\"})",
    );
    assert!(mem < 0.3, "a quarter of the 2Gi limit: {mem}");

    // After it: memory pressed against the new limit, CPU low, OOMKills, the alert.
    let mut max_mem = 0.0f64;
    let mut max_cpu = 0.0f64;
    let fired = run_until(&mut w, 40 * 60, |w| {
        max_mem = max_mem.max(one(w, "max(container_memory_working_set_bytes{container=\"order-api-v2\"} / on(pod, container) group_left kube_pod_container_resource_limits{resource=\"memory\"})"));
        max_cpu = max_cpu.max(one(w, "max(rate(container_cpu_usage_seconds_total{container=\"order-api-v2\"}[2m]) / on(pod, container) group_left kube_pod_container_resource_limits{resource=\"cpu\"})"));
        w.firing_alerts().contains(&"OrderServiceHighLatency".to_owned())
    })
    .expect("the latency alert fires within 20 minutes of the commit");
    assert!(
        fired > 20 * 60 + 120,
        "not before the commit's effect: {fired}"
    );
    assert!(
        max_mem > 0.95,
        "memory reached ~98% of the limit: {max_mem}"
    );
    assert!(max_cpu < 0.3, "CPU stays low: {max_cpu}");
    let oom = q(
        &w,
        "kube_pod_container_status_last_terminated_reason{container=\"order-api-v2\", reason=\"OOMKilled\"}",
    );
    assert!(!oom.is_empty(), "OOMKilled is the last termination reason");
    assert!(
        one(
            &w,
            "sum(kube_pod_container_status_restarts_total{container=\"order-api-v2\"})"
        ) >= 2.0
    );
    assert!(one(&w, SEED_P99) > 0.3);
    let commit = &w.commits()[1];
    assert_eq!(
        commit.message,
        "order-service: right-size memory limit to cut node costs"
    );

    // kubelet's view in the Pod objects.
    let cluster = w.cluster();
    let c = cluster.read().unwrap();
    let pods = c.list::<Pod>(Some("shop"));
    let restarted = pods
        .iter()
        .filter_map(|p| {
            p.status
                .as_ref()?
                .container_statuses
                .as_ref()?
                .first()
                .cloned()
        })
        .find(|cs| cs.restart_count > 0)
        .expect("a restarted order-api-v2 container");
    let last = restarted.last_state.unwrap().terminated.unwrap();
    assert_eq!(
        (last.exit_code, last.reason.as_deref()),
        (137, Some("OOMKilled"))
    );
}

#[test]
fn scaling_out_brings_p99_back_under_the_threshold() {
    let s = find_scenario("order-service-oom").unwrap();
    let mut w = World::new(s, None, None).unwrap();
    run_until(&mut w, 45 * 60, |w| !w.firing_alerts().is_empty()).expect("fires");
    {
        // What `kubectl scale deployment order-service --replicas=5` does.
        let cluster = w.cluster();
        let mut c = cluster.write().unwrap();
        let mut d = c.get::<Deployment>(Some("shop"), "order-service").unwrap();
        d.spec.as_mut().unwrap().replicas = Some(5);
        d.metadata.resource_version = None;
        c.update(d).unwrap();
    }
    let start = w.elapsed_secs();
    let recovered = run_until(&mut w, start + 20 * 60, |w| {
        w.firing_alerts().is_empty() && one(w, SEED_P99) < 0.3
    })
    .expect("p99 back under 300ms within 20 minutes of scaling out");
    // And it stays there.
    run_until(&mut w, recovered + 10 * 60, |_| false);
    assert!(one(&w, SEED_P99) < 0.3, "still healthy 10 minutes later");
    assert!(w.firing_alerts().is_empty());
    assert_eq!(
        one(
            &w,
            "kube_deployment_status_replicas_available{deployment=\"order-service\"}"
        ),
        5.0
    );
}

fn export(w: &World) -> Vec<u8> {
    let mut out = Vec::new();
    write_openmetrics(&w.series().read().unwrap(), &mut out).unwrap();
    let pods = serde_json::to_vec(&w.cluster().read().unwrap().list::<Pod>(None)).unwrap();
    out.extend(pods);
    out
}

#[test]
fn same_scenario_and_seed_give_the_same_world_byte_for_byte() {
    let s = find_scenario("order-service-oom").unwrap();
    let run = |seed: u64| {
        let mut s = s.clone();
        s.seed = seed;
        let mut w = World::new(s, None, None).unwrap();
        run_until(&mut w, 35 * 60, |_| false);
        export(&w)
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert!(a.len() > 100_000);
    assert!(a == b, "same seed, same series and objects");
    assert!(a != c, "another seed, another world");
}

#[test]
fn every_scenario_raises_its_alert_and_the_control_heals_itself() {
    for (name, _) in pagerless_lab::BUILTIN_SCENARIOS {
        let s = find_scenario(name).unwrap();
        let control = s.expect.category == "none";
        let duration = s.duration.0;
        let mut w = World::new(s, None, None).unwrap();
        let fired = run_until(&mut w, duration, |w| !w.firing_alerts().is_empty());
        let at = fired.unwrap_or_else(|| panic!("{name}: the alert never fired"));
        if control {
            let healed = run_until(&mut w, duration, |w| w.firing_alerts().is_empty());
            assert!(
                healed.is_some_and(|h| h - at <= 10 * 60),
                "{name}: the blip resolves by itself"
            );
        }
    }
}

#[test]
fn each_cause_leaves_its_own_traces() {
    let at_alert = |name: &str| {
        let s = find_scenario(name).unwrap();
        let d = s.duration.0;
        let mut w = World::new(s, None, None).unwrap();
        run_until(&mut w, d, |w| !w.firing_alerts().is_empty()).unwrap();
        w
    };
    let w = at_alert("search-cpu-throttling");
    let throttled = one(
        &w,
        "max(rate(container_cpu_cfs_throttled_periods_total{container=\"search-service\"}[5m]) / rate(container_cpu_cfs_periods_total{container=\"search-service\"}[5m]))",
    );
    assert!(throttled > 0.25, "CFS throttling: {throttled}");
    assert_eq!(
        one(
            &w,
            "sum(kube_pod_container_status_restarts_total{container=\"search-service\"})"
        ),
        0.0
    );

    let w = at_alert("db-connection-saturation");
    let leaked = one(&w, "pg_stat_activity_count{state=\"idle in transaction\"}");
    let max = one(&w, "pg_settings_max_connections");
    assert!(
        leaked > 0.5 * max,
        "idle-in-transaction sessions fill the slots: {leaked}/{max}"
    );

    // The alert warns at 15% free; the kubelet reports DiskPressure and evicts below 10%.
    let mut w = at_alert("node-disk-pressure");
    let df = w.node_shell("node-c", "df -h").unwrap();
    let root: Vec<&str> = df
        .lines()
        .find(|l| l.ends_with(" /"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert!(
        root[4].trim_end_matches('%').parse::<u32>().unwrap() >= 85,
        "{df}"
    );
    let pressure =
        "kube_node_status_condition{node=\"node-c\", condition=\"DiskPressure\", status=\"true\"}";
    run_until(&mut w, 45 * 60, |w| one(w, pressure) == 1.0).expect("DiskPressure follows");
    w.step().unwrap();
    let cluster = w.cluster();
    let evicted = cluster
        .read()
        .unwrap()
        .list::<Pod>(None)
        .into_iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Evicted"))
        .count();
    assert!(evicted >= 1, "the kubelet evicts");

    let w = at_alert("bad-config-crashloop");
    let cluster = w.cluster();
    let c = cluster.read().unwrap();
    let exit = c
        .list::<Pod>(Some("messaging"))
        .iter()
        .filter_map(|p| {
            p.status
                .as_ref()?
                .container_statuses
                .as_ref()?
                .first()?
                .last_state
                .clone()?
                .terminated
        })
        .next()
        .expect("a terminated container");
    assert_eq!(exit.exit_code, 1);
}

#[test]
fn the_noisy_neighbour_loads_one_node() {
    let s = find_scenario("noisy-neighbour").unwrap();
    let d = s.duration.0;
    let mut w = World::new(s, None, None).unwrap();
    run_until(&mut w, d, |w| !w.firing_alerts().is_empty()).unwrap();
    let b = one(&w, "node_load1{node=\"node-b\"}");
    let a = one(&w, "node_load1{node=\"node-a\"}");
    assert!(b > 2.0 * a, "node-b is the busy one: {b} vs {a}");
}

#[test]
fn merging_the_fix_into_main_rolls_it_out_and_heals_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let s = find_scenario("order-service-oom").unwrap();
    let mut w = World::new(s, Some(&dir.path().join("iac")), None).unwrap();
    run_until(&mut w, 45 * 60, |w| !w.firing_alerts().is_empty()).expect("fires");

    // A human merges the fix: memory limit back to 2Gi on main.
    let remote = w.repo().unwrap().remote().to_owned();
    let clone = dir.path().join("clone");
    let git = |args: &[&str], cwd: &std::path::Path| {
        let out = std::process::Command::new("git")
            .current_dir(cwd)
            .args([
                "-c",
                "user.name=Reviewer",
                "-c",
                "user.email=r@x",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(
        &[
            "clone",
            "-q",
            remote.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
        dir.path(),
    );
    let values = clone.join("charts/order-service/values.yaml");
    let text = std::fs::read_to_string(&values)
        .unwrap()
        .replace("    memory: 512Mi", "    memory: 2Gi");
    std::fs::write(&values, text).unwrap();
    git(
        &[
            "commit",
            "-qam",
            "order-service: restore the 2Gi memory limit",
        ],
        &clone,
    );
    git(&["push", "-q", "origin", "main"], &clone);

    // Within a simulated minute the controller rolls it out.
    let merged_at = w.elapsed_secs();
    run_until(&mut w, merged_at + 60, |_| false);
    let cluster = w.cluster();
    let limit = {
        let c = cluster.read().unwrap();
        let d = c.get::<Deployment>(Some("shop"), "order-service").unwrap();
        d.spec.unwrap().template.spec.unwrap().containers[0]
            .resources
            .clone()
            .unwrap()
            .limits
            .unwrap()["memory"]
            .0
            .clone()
    };
    assert_eq!(limit, "2Gi");
    let healed = run_until(&mut w, merged_at + 20 * 60, |w| {
        w.firing_alerts().is_empty() && one(w, SEED_P99) < 0.3
    });
    assert!(healed.is_some(), "the fix heals the service");
    let restarts = one(
        &w,
        "sum(increase(kube_pod_container_status_restarts_total{container=\"order-api-v2\"}[5m]))",
    );
    assert_eq!(restarts, 0.0, "no more OOMKills");
}

#[test]
fn a_bad_rollout_stalls_with_the_old_pods_still_serving() {
    // RollingUpdate with maxUnavailable 25% of 2 replicas (0) and maxSurge 1:
    // one new pod crash-loops, the two old ones keep serving.
    let s = find_scenario("bad-config-crashloop").unwrap();
    let mut w = World::new(s, None, None).unwrap();
    run_until(&mut w, 45 * 60, |w| !w.firing_alerts().is_empty())
        .expect("KubePodCrashLooping fires");
    let cluster = w.cluster();
    let c = cluster.read().unwrap();
    let pods = c.list::<Pod>(Some("messaging"));
    assert_eq!(pods.len(), 3, "two old pods and one surge pod");
    let env_of = |p: &Pod| {
        p.spec.as_ref().unwrap().containers[0]
            .env
            .clone()
            .unwrap_or_default()
    };
    let crashing: Vec<&Pod> = pods
        .iter()
        .filter(|p| {
            env_of(p)
                .iter()
                .any(|e| e.name == "DB_POOL_SIZE" && e.value.as_deref() == Some("0"))
        })
        .collect();
    assert_eq!(crashing.len(), 1);
    let cs = crashing[0]
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .clone();
    assert!(cs.restart_count >= 2);
    assert!(!cs.ready);
    let outcome = &w.outcome()["notification-service"];
    assert_eq!(outcome.ready, 2, "the old pods serve");
    assert!(outcome.error_rate < 0.01);
}
