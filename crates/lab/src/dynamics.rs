//! The physics of the lab, free of I/O: how load spreads over pods and
//! services, how CPU limits throttle and neighbours contend, how memory grows
//! until the kernel kills a container, how kubelet backs off restarts, and
//! what latency and errors callers see as a result.
//!
//! Key decision: every quantity follows from causes declared in the scenario
//! (limits, load, the image's behaviour, faults); nothing in here knows which
//! scenario runs. The same inputs give the same outputs, bit for bit.

use std::collections::BTreeMap;

use crate::rng::Rng;
use crate::scenario::{Behaviour, Resources};

/// Upper bounds of the latency histogram's buckets, in seconds (`+Inf` is implied).
pub const BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
];

/// Spread of per-request latency around its median (log-normal sigma).
const LATENCY_SIGMA: f64 = 0.35;
/// Time from container start to ready.
const STARTUP_SECS: f64 = 10.0;
/// Kubelet's first and longest restart back-off.
const BACKOFF_INITIAL: f64 = 10.0;
const BACKOFF_MAX: f64 = 300.0;
/// A container that ran this long gets its back-off reset.
const BACKOFF_RESET_AFTER: f64 = 600.0;
/// How long a caller waits before giving up on an overloaded pod.
const TIMEOUT_SECS: f64 = 1.0;
/// Lifetime of one CFS period, in seconds.
const CFS_PERIOD: f64 = 0.1;

/// The defaults of [`Behaviour`] fields, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Median own latency, seconds.
    pub latency: f64,
    /// CPU seconds per request.
    pub cpu_per_request: f64,
    /// Idle CPU, cores.
    pub cpu_idle: f64,
    /// Idle working set, bytes.
    pub memory_base: f64,
    /// Working set per request per second, bytes.
    pub memory_per_rps: f64,
    /// Leak per hour of uptime, bytes.
    pub leak_per_hour: f64,
    /// Warm-up time, seconds.
    pub warmup: f64,
    /// Capacity per pod, requests per second.
    pub rps_per_pod: f64,
    /// Database connections per request per second.
    pub db_per_rps: f64,
    /// Environment patterns that must match.
    pub env_must_match: BTreeMap<String, String>,
}

impl Profile {
    /// Resolves a behaviour's defaults.
    pub fn of(b: &Behaviour) -> Profile {
        Profile {
            latency: b.latency_ms.unwrap_or(20.0) / 1000.0,
            cpu_per_request: b.cpu_ms_per_request.unwrap_or(2.0) / 1000.0,
            cpu_idle: b.cpu_idle.map_or(0.02, |c| c.cores()),
            memory_base: b.memory_base.map_or(200.0 * 1048576.0, |m| m.f()),
            memory_per_rps: b.memory_per_rps.map_or(1048576.0, |m| m.f()),
            leak_per_hour: b.memory_leak_per_hour.map_or(0.0, |m| m.f()),
            warmup: b.warmup.map_or(300.0, |w| w.0.max(1) as f64),
            rps_per_pod: b.rps_per_pod.unwrap_or(100.0),
            db_per_rps: b.db_connections_per_rps.unwrap_or(0.0),
            env_must_match: b.env_must_match.clone(),
        }
    }
}

/// Why a container stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    /// Exit code (137 for a kill).
    pub code: i32,
    /// `OOMKilled`, `Error`.
    pub reason: String,
    /// When the container had started, seconds since the run's start.
    pub started: f64,
    /// When it stopped.
    pub finished: f64,
}

/// Where a pod's container is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum Run {
    /// Started, not ready until `ready_at`.
    Starting {
        /// When it becomes ready.
        ready_at: f64,
    },
    /// Serving.
    Running,
    /// Stopped; kubelet restarts it at `until`.
    BackOff {
        /// When the next start happens.
        until: f64,
    },
}

/// The simulated state of one pod (one container).
#[derive(Debug, Clone, PartialEq)]
pub struct PodSim {
    /// Where the container is in its life.
    pub run: Run,
    /// When the current container started.
    pub container_started: f64,
    /// Working set, bytes.
    pub working_set: f64,
    /// Restarts so far.
    pub restarts: u32,
    /// The next back-off, seconds.
    pub backoff: f64,
    /// Why the previous container stopped.
    pub last_exit: Option<Exit>,
    /// CPU used, cumulative seconds.
    pub cpu_seconds: f64,
    /// CFS periods, cumulative.
    pub cfs_periods: f64,
    /// Throttled CFS periods, cumulative.
    pub cfs_throttled: f64,
    /// Cumulative latency histogram: counts per bucket of [`BUCKETS`], then `+Inf`.
    pub buckets: [f64; BUCKETS.len() + 1],
    /// Sum of latencies, seconds.
    pub latency_sum: f64,
    /// Requests by status code, cumulative (reset with the container, like the app's own counters).
    pub by_code: BTreeMap<u16, f64>,
    /// CPU in use in the last step, cores.
    pub cpu_cores: f64,
    /// Requests per second in the last step.
    pub rps: f64,
    /// Latency median in the last step, seconds.
    pub median: f64,
    /// Log lines of the current container.
    pub logs: Vec<String>,
    /// Log lines of the previous container.
    pub previous_logs: Vec<String>,
}

impl PodSim {
    /// A pod whose container starts at `t`.
    pub fn new(t: f64) -> PodSim {
        PodSim {
            run: Run::Starting {
                ready_at: t + STARTUP_SECS,
            },
            container_started: t,
            working_set: 0.0,
            restarts: 0,
            backoff: BACKOFF_INITIAL,
            last_exit: None,
            cpu_seconds: 0.0,
            cfs_periods: 0.0,
            cfs_throttled: 0.0,
            buckets: [0.0; BUCKETS.len() + 1],
            latency_sum: 0.0,
            by_code: BTreeMap::new(),
            cpu_cores: 0.0,
            rps: 0.0,
            median: 0.0,
            logs: Vec::new(),
            previous_logs: Vec::new(),
        }
    }

    /// Whether it serves traffic.
    pub fn ready(&self) -> bool {
        self.run == Run::Running
    }

    /// Requests served so far (the histogram's count).
    pub fn request_count(&self) -> f64 {
        self.buckets[BUCKETS.len()]
    }
}

/// What the dynamics need to know of one scheduled pod.
#[derive(Debug, Clone)]
pub struct PodInput<'a> {
    /// `namespace/name`, the key into the pods' states.
    pub key: &'a str,
    /// The service it belongs to.
    pub service: &'a str,
    /// The node it runs on.
    pub node: &'a str,
    /// Its container's limits.
    pub limits: Resources,
    /// The behaviour of its image.
    pub profile: &'a Profile,
    /// Its container's environment.
    pub env: &'a BTreeMap<String, String>,
    /// Its image, for log lines.
    pub image: &'a str,
}

/// What the dynamics need to know of one service.
#[derive(Debug, Clone, Default)]
pub struct ServiceInput {
    /// Outside load, requests per second (entry services).
    pub external_rps: f64,
    /// Services it calls for each request.
    pub calls: Vec<String>,
    /// Extra latency from a fault, seconds.
    pub fault_latency: f64,
    /// Fraction of requests failing inside the service (no database connection, say).
    pub fault_errors: f64,
}

/// What a step decided about a pod, for the cluster's objects and events.
#[derive(Debug, Clone, PartialEq)]
pub enum PodChange {
    /// The container was killed or exited.
    Died {
        /// The pod's key.
        key: String,
        /// Why.
        exit: Exit,
    },
    /// The container was started again after a back-off.
    Restarted {
        /// The pod's key.
        key: String,
    },
    /// The container became ready.
    Ready {
        /// The pod's key.
        key: String,
    },
}

/// Computed per service in a step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceOutcome {
    /// Requests per second arriving.
    pub rps: f64,
    /// Fraction failing.
    pub error_rate: f64,
    /// Median latency as callers see it, seconds.
    pub median: f64,
    /// Ready pods.
    pub ready: usize,
}

/// Advances every pod by `dt` seconds ending at `t`. `nodes` maps node name to
/// allocatable cores. Services must be given callers before callees
/// (topological order); `pods` in a stable order.
pub fn step(
    seed: u64,
    t: f64,
    dt: f64,
    services: &[(String, ServiceInput)],
    nodes: &BTreeMap<String, f64>,
    pods: &[PodInput<'_>],
    states: &mut BTreeMap<String, PodSim>,
) -> (BTreeMap<String, ServiceOutcome>, Vec<PodChange>) {
    let mut changes = Vec::new();

    // 1. Lifecycle: restarts after back-off, readiness, bad configuration.
    for p in pods {
        let st = states.entry(p.key.to_owned()).or_insert_with(|| {
            let mut s = PodSim::new(t - dt);
            s.logs.push(format!(
                "{} INFO starting {} ({})",
                stamp(t - dt),
                p.service,
                p.image
            ));
            s
        });
        if let Run::BackOff { until } = st.run
            && t >= until
        {
            st.previous_logs = std::mem::take(&mut st.logs);
            st.logs.push(format!(
                "{} INFO starting {} ({})",
                stamp(until),
                p.service,
                p.image
            ));
            st.run = Run::Starting {
                ready_at: until + STARTUP_SECS,
            };
            st.container_started = until;
            st.working_set = 0.0;
            st.by_code.clear();
            st.buckets = [0.0; BUCKETS.len() + 1];
            st.latency_sum = 0.0;
            changes.push(PodChange::Restarted {
                key: p.key.to_owned(),
            });
        }
        if let Run::Starting { ready_at } = st.run {
            if let Some((name, value)) = bad_env(p.profile, p.env) {
                let at = st.container_started + 2.0;
                st.logs.push(format!(
                    "{} FATAL invalid configuration: {name}={value:?} does not match {:?}; exiting",
                    stamp(at),
                    p.profile
                        .env_must_match
                        .get(&name)
                        .map(String::as_str)
                        .unwrap_or_default()
                ));
                die(st, p.key, 1, "Error", at.min(t), &mut changes);
            } else if t >= ready_at {
                st.run = Run::Running;
                st.logs.push(format!(
                    "{} INFO ready, listening on :8080",
                    stamp(ready_at)
                ));
                changes.push(PodChange::Ready {
                    key: p.key.to_owned(),
                });
            }
        }
    }

    // 2. Load: callers first, every request attempted calls each callee once.
    let mut rps: BTreeMap<&str, f64> = services
        .iter()
        .map(|(n, s)| (n.as_str(), s.external_rps))
        .collect();
    for (name, svc) in services {
        let here = rps.get(name.as_str()).copied().unwrap_or(0.0);
        for callee in &svc.calls {
            *rps.entry(callee.as_str()).or_insert(0.0) += here;
        }
    }
    // Pods grouped by service, once, and each service's ready count.
    let mut by_service: BTreeMap<&str, Vec<&PodInput<'_>>> = BTreeMap::new();
    for p in pods {
        by_service.entry(p.service).or_default().push(p);
    }
    let ready_count: BTreeMap<&str, usize> = by_service
        .iter()
        .map(|(svc, ps)| {
            (
                *svc,
                ps.iter()
                    .filter(|p| states.get(p.key).is_some_and(PodSim::ready))
                    .count(),
            )
        })
        .collect();
    // Load balancing is never perfectly even: each pod has a fixed weight.
    let weight = |key: &str| Rng::keyed(seed, &format!("{key}#share")).jitter(0.08);
    let mut weights: BTreeMap<&str, f64> = BTreeMap::new();
    for p in pods {
        if states.get(p.key).is_some_and(PodSim::ready) {
            *weights.entry(p.service).or_insert(0.0) += weight(p.key);
        }
    }
    let share_of = |p: &PodInput<'_>| -> f64 {
        let total = weights.get(p.service).copied().unwrap_or(0.0);
        if total > 0.0 {
            weight(p.key) / total
        } else {
            0.0
        }
    };

    // 3. CPU demand per pod, then contention per node.
    let mut demand: BTreeMap<&str, f64> = BTreeMap::new();
    let mut node_demand: BTreeMap<&str, f64> = BTreeMap::new();
    for p in pods {
        let Some(st) = states.get(p.key) else {
            continue;
        };
        if matches!(st.run, Run::BackOff { .. }) {
            continue;
        }
        let pod_rps = if st.ready() {
            rps.get(p.service).copied().unwrap_or(0.0) * share_of(p)
        } else {
            0.0
        };
        let mut r = Rng::keyed(seed, &format!("{}@{}", p.key, t));
        let d = (p.profile.cpu_idle + pod_rps * p.profile.cpu_per_request) * r.jitter(0.03);
        demand.insert(p.key, d);
        *node_demand.entry(p.node).or_insert(0.0) += d.min(p.limits.cpu.cores());
    }

    // 4. Latency and errors, callees first.
    let mut outcome: BTreeMap<String, ServiceOutcome> = BTreeMap::new();
    for (name, svc) in services.iter().rev() {
        let svc_rps = rps.get(name.as_str()).copied().unwrap_or(0.0);
        let ready = ready_count.get(name.as_str()).copied().unwrap_or(0);
        let members = by_service
            .get(name.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let (mut down_median, mut down_ok) = (0.0, 1.0);
        for callee in &svc.calls {
            if let Some(o) = outcome.get(callee) {
                down_median += o.median;
                down_ok *= 1.0 - o.error_rate;
            }
        }
        let mut sum_median = 0.0;
        let mut sum_ok = 0.0;
        for p in members.iter().copied() {
            let Some(st) = states.get_mut(p.key) else {
                continue;
            };
            let d = demand.get(p.key).copied().unwrap_or(0.0);
            let node_cap = nodes.get(p.node).copied().unwrap_or(f64::INFINITY);
            let nd = node_demand.get(p.node).copied().unwrap_or(0.0);
            let share = if nd > node_cap { node_cap / nd } else { 1.0 };
            let avail = (p.limits.cpu.cores() * share).min(p.limits.cpu.cores());
            let used = d.min(avail);
            // CFS throttling is the cgroup's quota (the limit) biting; a busy node
            // slows pods down without throttling them.
            let limit_cores = p.limits.cpu.cores();
            let throttle = if d > limit_cores && d > 0.0 {
                (1.0 - limit_cores / d).max(0.0)
            } else {
                0.0
            };
            st.cpu_cores = used;
            st.cpu_seconds += used * dt;
            if used > 0.0 {
                let periods = dt / CFS_PERIOD;
                st.cfs_periods += periods;
                // Bursts within a period throttle a little even below the limit.
                let near = (d / p.limits.cpu.cores().max(1e-9)).clamp(0.0, 1.0);
                st.cfs_throttled += periods * throttle.max(0.02 * near * near);
            }
            if !st.ready() {
                st.rps = 0.0;
                continue;
            }
            let pod_rps = svc_rps * share_of(p);
            let limit = p.limits.memory.f();
            // A heap pressed against the container limit spends its time in GC.
            let pressure = st.working_set / limit;
            let gc = if pressure > 0.9 {
                1.0 + 30.0 * (pressure - 0.9)
            } else {
                1.0
            };
            let slow = gc * if avail < d { d / avail.max(1e-9) } else { 1.0 };
            let util = pod_rps * slow / p.profile.rps_per_pod;
            let (queue, dropped) = if util < 0.95 {
                (1.0 / (1.0 - util), 0.0)
            } else {
                (20.0, (1.0 - 0.95 / util).max(0.0))
            };
            let median = (p.profile.latency * slow + svc.fault_latency) * queue + down_median;
            let own_errors = svc.fault_errors.clamp(0.0, 1.0);
            let ok = (1.0 - dropped) * (1.0 - own_errors) * down_ok;
            st.rps = pod_rps;
            st.median = median;
            record(
                st,
                pod_rps * dt,
                median,
                ok,
                dropped,
                (1.0 - dropped) * own_errors,
            );
            sum_median += median;
            sum_ok += ok;

            // 5. Memory: approach the working set the load asks for; over the limit, the kernel kills.
            let uptime = t - st.container_started;
            let target = p.profile.memory_base
                + p.profile.memory_per_rps * pod_rps
                + p.profile.leak_per_hour * uptime / 3600.0;
            let target = target * Rng::keyed(seed, &format!("{}#heap", p.key)).jitter(0.04);
            let tau = p.profile.warmup / 3.0;
            let mut r = Rng::keyed(seed, &format!("{}#mem@{}", p.key, t));
            let next = (st.working_set + (target - st.working_set) * (1.0 - (-dt / tau).exp()))
                * r.jitter(0.01);
            if next >= limit {
                // Requests in flight on the killed container time out at the caller.
                let lost = pod_rps * 5.0;
                for (i, le) in BUCKETS.iter().enumerate() {
                    if *le >= TIMEOUT_SECS {
                        st.buckets[i] += lost;
                    }
                }
                st.buckets[BUCKETS.len()] += lost;
                st.latency_sum += lost * TIMEOUT_SECS;
                *st.by_code.entry(504).or_insert(0.0) += lost;
                // The last sample before the kill shows it pressed against the limit.
                st.working_set = limit * (0.975 + 0.02 * r.unit());
                st.logs.push(format!(
                    "{} WARN heap close to container limit ({:.0}%)",
                    stamp(t - dt / 2.0),
                    100.0 * st.working_set / limit
                ));
                die(st, p.key, 137, "OOMKilled", t, &mut changes);
            } else {
                st.working_set = next;
                if next > 0.9 * limit {
                    st.logs.push(format!(
                        "{} WARN heap close to container limit ({:.0}%)",
                        stamp(t),
                        100.0 * next / limit
                    ));
                }
            }
        }
        for p in members.iter().copied() {
            // Containers not serving still use memory while starting.
            if let Some(st) = states.get_mut(p.key)
                && matches!(st.run, Run::Starting { .. })
            {
                let tau = p.profile.warmup / 3.0;
                st.working_set +=
                    (0.6 * p.profile.memory_base - st.working_set) * (1.0 - (-dt / tau).exp());
            }
        }
        let n = ready.max(1) as f64;
        outcome.insert(
            name.clone(),
            ServiceOutcome {
                rps: svc_rps,
                error_rate: if ready == 0 { 1.0 } else { 1.0 - sum_ok / n },
                median: if ready == 0 {
                    TIMEOUT_SECS
                } else {
                    sum_median / n
                },
                ready,
            },
        );
    }
    (outcome, changes)
}

fn die(st: &mut PodSim, key: &str, code: i32, reason: &str, at: f64, changes: &mut Vec<PodChange>) {
    let ran = at - st.container_started;
    if ran >= BACKOFF_RESET_AFTER {
        st.backoff = BACKOFF_INITIAL;
    }
    let exit = Exit {
        code,
        reason: reason.to_owned(),
        started: st.container_started,
        finished: at,
    };
    st.restarts += 1;
    st.run = Run::BackOff {
        until: at + st.backoff,
    };
    st.backoff = (st.backoff * 2.0).min(BACKOFF_MAX);
    st.last_exit = Some(exit.clone());
    st.rps = 0.0;
    changes.push(PodChange::Died {
        key: key.to_owned(),
        exit,
    });
}

/// Adds `n` requests with median latency `median`: a fraction `ok` succeeds,
/// `dropped` times out at the caller's timeout (504), `own` fails inside the
/// service (500), the rest fail because a callee did (502).
fn record(st: &mut PodSim, n: f64, median: f64, ok: f64, dropped: f64, own: f64) {
    if n <= 0.0 {
        return;
    }
    let served = n * (1.0 - dropped);
    let mean = median * (LATENCY_SIGMA * LATENCY_SIGMA / 2.0).exp();
    for (i, le) in BUCKETS.iter().enumerate() {
        st.buckets[i] += served * lognormal_cdf(*le, median)
            + if *le >= TIMEOUT_SECS {
                n * dropped
            } else {
                0.0
            };
    }
    st.buckets[BUCKETS.len()] += n;
    st.latency_sum += served * mean + n * dropped * TIMEOUT_SECS;
    let good = n * ok;
    *st.by_code.entry(200).or_insert(0.0) += good;
    if dropped > 0.0 {
        *st.by_code.entry(504).or_insert(0.0) += n * dropped;
    }
    if own > 0.0 {
        *st.by_code.entry(500).or_insert(0.0) += n * own;
    }
    let failed = (n - good - n * dropped - n * own).max(0.0);
    if failed > 1e-9 {
        *st.by_code.entry(502).or_insert(0.0) += failed;
    }
}

fn lognormal_cdf(x: f64, median: f64) -> f64 {
    if median <= 0.0 {
        return 1.0;
    }
    0.5 * (1.0 + erf((x / median).ln() / (LATENCY_SIGMA * std::f64::consts::SQRT_2)))
}

/// Abramowitz and Stegun 7.1.26; error below 1.5e-7.
fn erf(x: f64) -> f64 {
    let s = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    s * y
}

fn bad_env(profile: &Profile, env: &BTreeMap<String, String>) -> Option<(String, String)> {
    profile.env_must_match.iter().find_map(|(name, pattern)| {
        let value = env.get(name).cloned().unwrap_or_default();
        let anchored = format!("^(?:{pattern})$");
        match regex::Regex::new(&anchored) {
            Ok(re) if re.is_match(&value) => None,
            _ => Some((name.clone(), value)),
        }
    })
}

/// Seconds since the start as a log timestamp offset (`+1234.5s`); the world
/// turns these into wall-clock times when it serves logs.
fn stamp(t: f64) -> String {
    format!("@{t:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{Bytes, Millicores};

    fn profile() -> Profile {
        Profile::of(&Behaviour {
            latency_ms: Some(30.0),
            memory_base: Some(Bytes(400 << 20)),
            memory_per_rps: Some(Bytes(2 << 20)),
            warmup: Some(crate::units::Secs(360)),
            rps_per_pod: Some(150.0),
            ..Behaviour::default()
        })
    }

    fn run(
        memory_limit: Bytes,
        replicas: usize,
        rps: f64,
        secs: f64,
    ) -> (BTreeMap<String, PodSim>, Vec<PodChange>, ServiceOutcome) {
        let prof = profile();
        let env = BTreeMap::new();
        let keys: Vec<String> = (0..replicas).map(|i| format!("shop/api-{i}")).collect();
        let pods: Vec<PodInput> = keys
            .iter()
            .map(|k| PodInput {
                key: k,
                service: "api",
                node: "n1",
                limits: Resources {
                    cpu: Millicores(2000),
                    memory: memory_limit,
                },
                profile: &prof,
                env: &env,
                image: "api:1",
            })
            .collect();
        let svcs = vec![(
            "api".to_owned(),
            ServiceInput {
                external_rps: rps,
                ..Default::default()
            },
        )];
        let nodes = BTreeMap::from([("n1".to_owned(), 8.0)]);
        let mut states = BTreeMap::new();
        let mut all = Vec::new();
        let mut last = ServiceOutcome::default();
        let mut t = 15.0;
        while t <= secs {
            let (out, ch) = step(1, t, 15.0, &svcs, &nodes, &pods, &mut states);
            all.extend(ch);
            last = out["api"].clone();
            t += 15.0;
        }
        (states, all, last)
    }

    #[test]
    fn a_roomy_limit_never_kills() {
        let (states, changes, out) = run(Bytes(2 << 30), 3, 180.0, 3600.0);
        assert!(!changes.iter().any(|c| matches!(c, PodChange::Died { .. })));
        let ws = states["shop/api-0"].working_set / f64::from(1 << 20);
        assert!(
            (500.0..540.0).contains(&ws),
            "settles near 400Mi + 2Mi x 60 rps: {ws}"
        );
        assert_eq!(out.ready, 3);
        assert!(out.error_rate < 1e-9);
    }

    #[test]
    fn a_tight_limit_kills_then_backs_off_exponentially() {
        let (states, changes, _) = run(Bytes(512 << 20), 3, 180.0, 3600.0);
        let deaths: Vec<&Exit> = changes
            .iter()
            .filter_map(|c| match c {
                PodChange::Died { key, exit } if key == "shop/api-0" => Some(exit),
                _ => None,
            })
            .collect();
        assert!(
            deaths.len() >= 3,
            "OOM-killed again and again: {}",
            deaths.len()
        );
        assert!(
            deaths
                .iter()
                .all(|e| e.code == 137 && e.reason == "OOMKilled")
        );
        let st = &states["shop/api-0"];
        assert_eq!(st.restarts as usize, deaths.len());
        assert!(
            st.logs
                .iter()
                .chain(&st.previous_logs)
                .any(|l| l.contains("heap close to container limit"))
        );
        // Kubelet's back-off doubles from 10 s up to 5 min: each gap between
        // deaths is at least the back-off then in force.
        let gaps: Vec<f64> = deaths
            .windows(2)
            .map(|w| w[1].finished - w[0].finished)
            .collect();
        for (i, gap) in gaps.iter().enumerate() {
            let backoff = (10.0 * 2f64.powi(i as i32)).min(300.0);
            assert!(
                *gap >= backoff,
                "gap {i} of {gap}s is shorter than the {backoff}s back-off: {gaps:?}"
            );
        }
        let expected_next = (10.0 * 2f64.powi(st.restarts as i32)).min(300.0);
        assert_eq!(st.backoff, expected_next);
    }

    #[test]
    fn fewer_ready_pods_mean_higher_latency() {
        let (_, _, healthy) = run(Bytes(2 << 30), 3, 240.0, 600.0);
        let (_, _, squeezed) = run(Bytes(2 << 30), 2, 240.0, 600.0);
        assert!(
            squeezed.median > healthy.median * 1.5,
            "{} vs {}",
            squeezed.median,
            healthy.median
        );
    }

    #[test]
    fn a_bad_env_value_crashloops_with_exit_1() {
        let mut prof = profile();
        prof.env_must_match
            .insert("POOL".into(), "[1-9][0-9]*".into());
        let env = BTreeMap::from([("POOL".to_owned(), "-1".to_owned())]);
        let pods = vec![PodInput {
            key: "ns/p",
            service: "api",
            node: "n1",
            limits: Resources {
                cpu: Millicores(1000),
                memory: Bytes(1 << 30),
            },
            profile: &prof,
            env: &env,
            image: "api:2",
        }];
        let svcs = vec![("api".to_owned(), ServiceInput::default())];
        let nodes = BTreeMap::from([("n1".to_owned(), 4.0)]);
        let mut states = BTreeMap::new();
        for i in 1..=40 {
            step(
                1,
                15.0 * f64::from(i),
                15.0,
                &svcs,
                &nodes,
                &pods,
                &mut states,
            );
        }
        let st = &states["ns/p"];
        assert!(st.restarts >= 3);
        assert_eq!(st.last_exit.as_ref().map(|e| e.code), Some(1));
        assert!(
            st.logs
                .iter()
                .chain(&st.previous_logs)
                .any(|l| l.contains("FATAL invalid configuration: POOL=\"-1\""))
        );
        assert!(!st.ready());
    }

    #[test]
    fn histogram_is_cumulative_and_consistent() {
        let (states, _, _) = run(Bytes(2 << 30), 1, 50.0, 300.0);
        let st = &states["shop/api-0"];
        assert!(st.buckets.windows(2).all(|w| w[1] >= w[0] - 1e-9));
        let total = st.request_count();
        assert!((total - st.by_code.values().sum::<f64>()).abs() < 1e-6);
        assert!(erf(0.5) - 0.520_499_877_8 < 1e-6);
    }
}
