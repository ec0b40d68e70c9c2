//! `pagerless bench intake`: Alertmanager webhooks over loopback, with
//! concurrency, against a server in this process (on a fresh store in a temp
//! dir) or a running one. Reports durable alerts/s and acknowledgement latency
//! percentiles; every acknowledged alert is on disk when its 200 arrives.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pagerless_server::AppState;
use pagerless_store::{SqliteStore, Store};
use serde::Serialize;

use crate::cli::{BenchIntakeArgs, BenchLabArgs};
use crate::settings::Settings;

#[derive(Debug, Serialize)]
struct Report {
    target: String,
    requests: u32,
    alerts: u64,
    concurrency: u32,
    errors: u64,
    elapsed_secs: f64,
    requests_per_sec: f64,
    alerts_per_sec: f64,
    ack_p50_ms: f64,
    ack_p90_ms: f64,
    ack_p99_ms: f64,
    ack_max_ms: f64,
    /// Alerts the store holds afterwards (in-process runs only).
    stored_alerts: Option<i64>,
}

pub async fn intake(settings: &Settings, args: &BenchIntakeArgs) -> Result<ExitCode> {
    if args.requests == 0 || args.concurrency == 0 || args.alerts_per_request == 0 {
        bail!("--requests, --concurrency and --alerts-per-request must be at least 1");
    }
    // An in-process server on a fresh store, unless one was named.
    let mut local = None;
    let (base, token) = match &args.server {
        Some(url) => (url.trim_end_matches('/').to_owned(), args.token.clone()),
        None => {
            let dir = tempfile::tempdir().context("cannot make a temp dir for the bench store")?;
            let store = Arc::new(SqliteStore::open(&dir.path().join("pagerless.db")).await?);
            let app = pagerless_server::router(
                AppState {
                    store: store.clone(),
                    api_token: None,
                    labels: Arc::new(settings.config.intake.clone()),
                    investigate: None,
                    guard: None,
                    slack_signing_secret: None,
                    kpis: None,
                    console: None,
                    approved: None,
                },
                settings.config.server.max_body_bytes,
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(pagerless_server::serve(
                listener,
                app,
                std::future::pending(),
            ));
            local = Some((dir, store));
            (format!("http://{addr}"), None)
        }
    };
    let url = format!("{base}/api/v1/alerts/alertmanager");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency as usize)
        .timeout(Duration::from_secs(30))
        .build()?;
    let run_id = chrono::Utc::now().timestamp_millis();
    eprintln!(
        "posting {} deliveries of {} alert(s) to {url} with {} in flight",
        args.requests, args.alerts_per_request, args.concurrency
    );

    let next = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicU32::new(0));
    let progress = {
        let done = done.clone();
        let total = args.requests;
        let tty = std::io::stderr().is_terminal();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let n = done.load(Ordering::Relaxed);
                if tty {
                    eprint!("\r  {n}/{total} deliveries acknowledged");
                } else {
                    eprintln!("  {n}/{total} deliveries acknowledged");
                }
            }
        })
    };

    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, url, token, next, done) = (
            http.clone(),
            url.clone(),
            token.clone(),
            next.clone(),
            done.clone(),
        );
        let (total, per) = (args.requests, args.alerts_per_request);
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let body = payload(run_id, i, per);
                let t0 = Instant::now();
                let mut req = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body);
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                match req.send().await {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                        latencies.push(t0.elapsed());
                    }
                    Ok(resp) => errors.push(format!("HTTP {}", resp.status())),
                    Err(e) => errors.push(e.to_string()),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::with_capacity(args.requests as usize);
    let mut errors = Vec::new();
    for w in workers {
        let (l, e) = w.await?;
        latencies.extend(l);
        errors.extend(e);
    }
    let elapsed = started.elapsed();
    progress.abort();
    if std::io::stderr().is_terminal() {
        eprintln!();
    }

    let stored_alerts = match &local {
        Some((_, store)) => Some(store.stats().await?.alerts),
        None => None,
    };
    latencies.sort_unstable();
    let ok = latencies.len() as u64;
    let secs = elapsed.as_secs_f64();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let idx = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[idx].as_secs_f64() * 1000.0
    };
    let report = Report {
        target: base,
        requests: args.requests,
        alerts: ok * u64::from(args.alerts_per_request),
        concurrency: args.concurrency,
        errors: errors.len() as u64,
        elapsed_secs: secs,
        requests_per_sec: ok as f64 / secs,
        alerts_per_sec: (ok * u64::from(args.alerts_per_request)) as f64 / secs,
        ack_p50_ms: pct(0.50),
        ack_p90_ms: pct(0.90),
        ack_p99_ms: pct(0.99),
        ack_max_ms: pct(1.0),
        stored_alerts,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("intake benchmark ({})", report.target);
        println!(
            "  deliveries     {} ({} alerts each), {} in flight",
            report.requests, args.alerts_per_request, report.concurrency
        );
        println!("  elapsed        {:.2} s", report.elapsed_secs);
        println!(
            "  throughput     {:.0} alerts/s durable ({:.0} deliveries/s)",
            report.alerts_per_sec, report.requests_per_sec
        );
        println!(
            "  ack latency    p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            report.ack_p50_ms, report.ack_p90_ms, report.ack_p99_ms, report.ack_max_ms
        );
        println!("  errors         {}", report.errors);
        if let Some(n) = report.stored_alerts {
            println!("  store holds    {n} alerts (expected {})", report.alerts);
        }
    }
    if let Some(first) = errors.first() {
        eprintln!("first error: {first}");
    }
    if let Some((_, store)) = local
        && let Ok(store) = Arc::try_unwrap(store)
    {
        store.close().await;
    }
    let lost = report
        .stored_alerts
        .is_some_and(|n| n != report.alerts as i64);
    if lost {
        eprintln!("the store does not hold every acknowledged alert");
    }
    Ok(if report.errors > 0 || lost {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Delivery `i`: `per` new alerts in a group of their own, as Alertmanager sends them.
fn payload(run: i64, i: u32, per: u32) -> String {
    let alerts: Vec<String> = (0..per)
        .map(|j| {
            format!(
                r#"{{"status":"firing","labels":{{"alertname":"BenchLatencyHigh","instance":"10.0.{a}.{b}:8080","job":"bench","service":"svc-{s}","severity":"warning","env":"staging"}},"annotations":{{"summary":"p99 latency above 300ms","runbook_url":"http://runbooks.local/latency"}},"startsAt":"2026-11-27T20:09:11.568Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph?g0.expr=latency","fingerprint":"{run:x}{i:08x}{j:04x}"}}"#,
                a = i % 256,
                b = j % 256,
                s = i % 50
            )
        })
        .collect();
    format!(
        r#"{{"receiver":"pagerless","status":"firing","alerts":[{}],"groupLabels":{{"alertname":"BenchLatencyHigh","instance":"{i}"}},"commonLabels":{{"alertname":"BenchLatencyHigh"}},"commonAnnotations":{{}},"externalURL":"http://alertmanager:9093","version":"4","groupKey":"{{}}:{{alertname=\"BenchLatencyHigh\", run=\"{run}\", delivery=\"{i}\"}}","truncatedAlerts":0}}"#,
        alerts.join(",")
    )
}

/// `pagerless bench lab`: the lab's speed on the seed scenario and a large fleet.
pub fn lab(args: &BenchLabArgs) -> Result<ExitCode> {
    if args.nodes == 0 || args.pods < 20 {
        bail!("--nodes must be at least 1 and --pods at least 20");
    }
    let seed = pagerless_lab::find_scenario("order-service-oom")?;
    let seed_secs = args.seed_minutes * 60;
    let (wall, steps) = step_world(seed, seed_secs)?;
    println!(
        "seed   order-service-oom  {seed_secs} simulated s in {wall:.2} wall s ({steps} steps): {:.0} simulated s per wall s",
        seed_secs as f64 / wall
    );
    let fleet_secs = args.fleet_minutes * 60;
    let fleet = pagerless_lab::fleet::fleet(
        args.nodes,
        args.pods / 20,
        20,
        pagerless_lab::units::Secs(fleet_secs),
    );
    let (wall, steps) = step_world(fleet, fleet_secs)?;
    println!(
        "fleet  {} nodes, {} pods   {fleet_secs} simulated s in {wall:.2} wall s ({steps} steps): {:.1} simulated s per wall s",
        args.nodes,
        args.pods / 20 * 20,
        fleet_secs as f64 / wall
    );
    match peak_rss_mib() {
        Some(mib) => println!("peak_rss_mib={mib:.0}"),
        None => println!("peak_rss_mib=unknown"),
    }
    Ok(ExitCode::SUCCESS)
}

fn step_world(scenario: pagerless_lab::Scenario, secs: i64) -> Result<(f64, u64)> {
    let step = scenario.step.0;
    let started = Instant::now();
    let mut world = pagerless_lab::world::World::new(scenario, None, None)?;
    let mut steps = 0;
    let mut last_report = Instant::now();
    while world.elapsed_secs() < secs {
        world.step()?;
        steps += 1;
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("  {} of {secs} simulated s", world.elapsed_secs());
            last_report = Instant::now();
        }
    }
    let _ = step;
    Ok((started.elapsed().as_secs_f64(), steps))
}

/// Peak resident memory of this process (VmHWM), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// `pagerless bench investigate`: from the alert to the diagnosis and plan on
/// the seed scenario, over loopback HTTP to the lab, `runs` times.
pub async fn investigate(runs: u32) -> Result<ExitCode> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let seed = pagerless_lab::find_scenario("order-service-oom")?;
    let case = super::labcase::LabCase::at_alert(seed.clone()).await?;
    let toolbox = case.toolbox().await?;
    let clock = case.clock();
    eprintln!(
        "seed alert {} after {} simulated s; {runs} investigations",
        case.alert.alertname, case.fired_after_secs
    );
    let mut ms = Vec::with_capacity(runs as usize);
    let mut wrong = 0;
    for _ in 0..runs {
        let mut reasoner = pagerless_agent::EmbeddedReasoner::builtin()?;
        let t0 = Instant::now();
        let inv = pagerless_agent::investigate(
            &mut reasoner,
            &toolbox,
            &case.alert,
            &pagerless_agent::Budget::default(),
            &clock,
            &mut (),
        )
        .await;
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        if !super::eval::score(&seed, &inv, case.fired_after_secs).correct {
            wrong += 1;
        }
    }
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1];
    println!("investigations  {runs} (wrong: {wrong})");
    println!(
        "alert to diagnosis and plan: p50 {:.1} ms   p90 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    println!("p50_ms={:.1} p99_ms={:.1}", pct(0.5), pct(0.99));
    Ok(if wrong == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `pagerless bench logs`: `logs.patterns` over `sources` synthetic service
/// logs of `lines` lines each, spread over the 65 minutes before the
/// reference time; the last source starts throwing a new exception in the
/// last four minutes, and must come out on top.
pub async fn logs(sources: usize, lines: usize, runs: u32) -> Result<ExitCode> {
    use std::fmt::Write as _;
    use std::io::Write as _;

    use pagerless_tools::Tool as _;

    if sources < 2 || lines < 100 || runs == 0 {
        bail!("--sources must be at least 2, --lines at least 100 and --runs at least 1");
    }
    let dir = tempfile::tempdir()?;
    let at =
        chrono::DateTime::parse_from_rfc3339("2026-01-29T08:45:00Z")?.with_timezone(&chrono::Utc);
    let span_ms = 65 * 60 * 1000 / lines as i64;
    let mut config = std::collections::BTreeMap::new();
    let started = Instant::now();
    for s in 0..sources {
        let name = format!("svc{s:02}-7d9f8b6c5-x{s:04}");
        let path = dir.path().join(format!("{name}.log"));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut line = String::new();
        for i in 0..lines {
            let t = at - chrono::Duration::minutes(65)
                + chrono::Duration::milliseconds(span_ms * i as i64);
            let trace = i / 3;
            let broken = s == sources - 1 && t > at - chrono::Duration::minutes(4) && i % 3 == 1;
            line.clear();
            let (level, location) = if broken {
                ("ERROR", "c.s.PriceServiceImpl#88")
            } else {
                (
                    "INFO",
                    [
                        "c.c.Controller#35",
                        "c.s.ServiceImpl#71",
                        "c.s.ServiceImpl#90",
                    ][i % 3],
                )
            };
            let _ = writeln!(
                line,
                "{} {level}  {location} TraceID: {trace:032x} SpanID: {:016x} [find][id: {i}]",
                t.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                trace * 100 + s
            );
            out.write_all(line.as_bytes())?;
        }
        out.flush()?;
        config.insert(name, path.display().to_string());
    }
    eprintln!(
        "{sources} sources of {lines} lines written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let tool =
        pagerless_tools::logs::Patterns::new(&pagerless_tools::logs::LogsConfig::new(config));
    let args = serde_json::json!({ "at": at.to_rfc3339() });
    let mut ms = Vec::with_capacity(runs as usize);
    let mut top = String::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let obs = tool.call(&args).await?;
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        let data: pagerless_tools::logs::LogPatterns = serde_json::from_value(obs.data)?;
        top = data
            .sources
            .iter()
            .max_by(|a, b| a.error_z.total_cmp(&b.error_z))
            .map(|s| s.source.clone())
            .unwrap_or_default();
    }
    ms.sort_by(f64::total_cmp);
    let pct = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    let total = (sources * lines) as f64;
    println!(
        "logs.patterns over {sources} sources x {lines} lines ({:.0} lines), {runs} calls",
        total
    );
    println!(
        "per call: p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms   ({:.1} M lines/s at p50)",
        pct(0.5),
        pct(0.99),
        ms[ms.len() - 1],
        total / pct(0.5) / 1000.0
    );
    match peak_rss_mib() {
        Some(mib) => println!("peak_rss_mib={mib:.0}"),
        None => println!("peak_rss_mib=unknown"),
    }
    let expected = format!("svc{:02}", sources - 1);
    if !top.starts_with(&expected) {
        bail!("the throwing source should lead on errors, but {top} does");
    }
    println!("p50_ms={:.1} p99_ms={:.1}", pct(0.5), pct(0.99));
    Ok(ExitCode::SUCCESS)
}
