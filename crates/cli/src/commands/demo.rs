//! `pagerless demo`: the whole loop on the lab, narrated. The lab runs
//! in-process on a scenario; its alert arrives as Alertmanager's webhook
//! would deliver it; the embedded reasoner investigates live; the guard
//! decides; the executors scale through the lab's Kubernetes API and the
//! symptom is verified on the lab's clock; the fix becomes a pull request on
//! the local forge; then the notice a human would get instead of a page.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use comfy_table::{Table, presets::NOTHING};
use pagerless_act::gitops::workspace::{Author, GitAuth};
use pagerless_act::gitops::{GitopsConfig, LocalForge};
use pagerless_act::{Executors, Response, respond};
use pagerless_agent::{Budget, EmbeddedReasoner, investigate};
use pagerless_guard::{Guard, Identity, Policy, scope_of};
use pagerless_lab::{BUILTIN_SCENARIOS, Scenario, find_scenario};
use pagerless_model::{Outcome, PullRequest};
use pagerless_store::{SqliteStore, Store};

use super::gitops::{FixOutcome, Gitops};
use super::labcase::{LabCase, LabVerifier};
use crate::cli::{DemoArgs, Global};

/// What one scenario came to.
struct Row {
    scenario: String,
    diagnosis: String,
    actions: String,
    pr: String,
    to_diagnosis_ms: f64,
    to_mitigation: String,
    correct: bool,
    why_wrong: Vec<String>,
}

/// `pagerless demo [--scenario NAME | --all]`.
pub async fn run(global: &Global, args: &DemoArgs) -> Result<ExitCode> {
    let scenarios: Vec<Scenario> = if args.all {
        BUILTIN_SCENARIOS
            .iter()
            .map(|(n, _)| find_scenario(n))
            .collect::<Result<_, _>>()?
    } else {
        vec![find_scenario(
            args.scenario.as_deref().unwrap_or("order-service-oom"),
        )?]
    };
    let temp;
    let data_dir: PathBuf = match &global.data_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir().context("cannot make a temp dir for the demo's store")?;
            temp.path().to_owned()
        }
    };
    let store = Arc::new(SqliteStore::open(&data_dir.join("pagerless.db")).await?);
    let narrate = !args.all;
    let mut rows = Vec::new();
    let started = Instant::now();
    let count = scenarios.len();
    for (n, s) in scenarios.into_iter().enumerate() {
        let (row, webhook) = scenario(&store, &data_dir, s, narrate).await?;
        rows.push(row);
        if n + 1 < count {
            // This lab stops here: its alerts end, so the next scenario's
            // alert (often of the same name) opens an incident of its own.
            resolve(store.as_ref(), webhook).await?;
        }
    }
    if args.all {
        let mut table = Table::new();
        table.load_style(NOTHING).set_header([
            "SCENARIO",
            "DIAGNOSIS",
            "ACTIONS",
            "PR",
            "TO DIAGNOSIS",
            "TO MITIGATION",
            "OK",
        ]);
        for r in &rows {
            table.add_row([
                r.scenario.clone(),
                r.diagnosis.clone(),
                r.actions.clone(),
                r.pr.clone(),
                format!("{:.0} ms", r.to_diagnosis_ms),
                r.to_mitigation.clone(),
                if r.correct { "yes".into() } else { "NO".into() },
            ]);
        }
        println!("\n{}", table.trim_fmt());
        let right = rows.iter().filter(|r| r.correct).count();
        println!(
            "\n{right} of {} scenarios ended as they should, in {:.1} s",
            rows.len(),
            started.elapsed().as_secs_f64()
        );
    }
    for r in rows.iter().filter(|r| !r.correct) {
        println!("{}: {}", r.scenario, r.why_wrong.join("; "));
    }
    let d = data_dir.display();
    if global.data_dir.is_some() {
        println!("\nWhere to look:");
        println!("  pagerless --data-dir {d} incidents list");
        println!("  pagerless --data-dir {d} incident show 1");
        println!("  pagerless --data-dir {d} pr list   (pr show ID for the diff and body)");
        println!("  pagerless --data-dir {d} audit verify");
        println!(
            "  pagerless --data-dir {d} serve      (the API at http://127.0.0.1:9797/api/v1/incidents)"
        );
    } else {
        println!(
            "\nThe store was a temporary one. Run `pagerless demo --data-dir DIR` to keep it, then\n  pagerless --data-dir DIR incident show 1, pr show 1, audit verify, serve"
        );
    }
    Ok(if rows.iter().all(|r| r.correct) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Delivers `webhook` again as resolved.
async fn resolve(store: &dyn Store, mut webhook: serde_json::Value) -> Result<()> {
    let now = chrono::Utc::now().to_rfc3339();
    webhook["status"] = "resolved".into();
    if let Some(alerts) = webhook["alerts"].as_array_mut() {
        for a in alerts {
            a["status"] = "resolved".into();
            a["endsAt"] = now.clone().into();
        }
    }
    let batch = pagerless_server::intake::alertmanager::parse(
        webhook.to_string().as_bytes(),
        &pagerless_model::LabelMapping::default(),
        chrono::Utc::now(),
    )
    .map_err(|e| anyhow::anyhow!("the lab's resolved webhook: {e:?}"))?;
    store.ingest(batch).await?;
    Ok(())
}

async fn scenario(
    store: &Arc<SqliteStore>,
    data_dir: &Path,
    s: Scenario,
    narrate: bool,
) -> Result<(Row, serde_json::Value)> {
    let say = |text: String| {
        if narrate {
            println!("{text}");
        }
    };
    println!("\n== {}: {}", s.name, s.description.trim());
    let progress = Progress::start("stepping the lab to its first alert");
    let case = LabCase::at_alert(s.clone()).await?;
    progress.done();
    let ep = case.lab.endpoints().clone();

    // The alert, through intake as Alertmanager would deliver it.
    let batch = pagerless_server::intake::alertmanager::parse(
        case.webhook.to_string().as_bytes(),
        &pagerless_model::LabelMapping::default(),
        chrono::Utc::now(),
    )
    .map_err(|e| anyhow::anyhow!("the lab's webhook: {e:?}"))?;
    let incident = *store
        .ingest(batch)
        .await?
        .incidents
        .first()
        .context("the alert opened no incident")?;
    let summary = case
        .alert
        .annotations
        .get("summary")
        .cloned()
        .unwrap_or_default();
    println!(
        "Alert: {} fired after {} simulated minutes: {summary} → incident {incident}",
        case.alert.alertname,
        case.fired_after_secs / 60
    );

    // Investigate, live.
    say("\nInvestigation (Observation → Thought → Action):".into());
    let toolbox = case.toolbox().await?;
    let mut alert = case.alert.clone();
    alert.incident_id = Some(incident);
    let mut reasoner = EmbeddedReasoner::builtin()?;
    let clock = case.clock();
    let inv = if narrate {
        let mut p = super::trace::Printer { evidence: false };
        investigate(
            &mut reasoner,
            &toolbox,
            &alert,
            &Budget::default(),
            &clock,
            &mut p,
        )
        .await
    } else {
        investigate(
            &mut reasoner,
            &toolbox,
            &alert,
            &Budget::default(),
            &clock,
            &mut (),
        )
        .await
    };
    store.save_investigation(&inv).await?;
    let score = super::eval::score(&s, &inv, case.fired_after_secs);
    say(super::trace::outcome(&inv).trim_end().to_owned());
    let mut row = Row {
        scenario: s.name.clone(),
        diagnosis: score.got.clone(),
        actions: "none".into(),
        pr: "-".into(),
        to_diagnosis_ms: inv.duration_ms,
        to_mitigation: "-".into(),
        correct: score.correct,
        why_wrong: Vec::new(),
    };
    if !score.correct {
        row.why_wrong.push(format!(
            "expected {} ({}), got {} ({})",
            score.expected,
            s.expect.mitigation.as_deref().unwrap_or("no mitigation"),
            score.got,
            score.mitigation
        ));
    }
    println!(
        "Diagnosis in {:.0} ms: {}",
        inv.duration_ms,
        match &inv.outcome {
            Outcome::Diagnosed { diagnosis, .. } => diagnosis.root_cause.clone(),
            Outcome::Escalated { reason, .. } => format!("escalated: {reason}"),
        }
    );
    let Outcome::Diagnosed { diagnosis, plan } = &inv.outcome else {
        return Ok((row, case.webhook.clone()));
    };

    // The guard and the executors.
    let policy = Policy::parse(
        &pagerless_guard::policy::DEFAULT.replace("mode: shadow", "mode: autonomous"),
        "the demo's policy",
    )?;
    let guard = Guard::new(store.clone(), policy, Identity::agent("pagerless"));
    let mut executors = Executors::new();
    executors.add(Box::new(
        pagerless_act::executors::KubernetesExecutor::from_kubeconfig(
            Path::new(&ep.kubeconfig),
            false,
        )
        .await
        .map_err(anyhow::Error::msg)?,
    ));
    let detail = store
        .incident(incident)
        .await?
        .context("the incident vanished")?;
    let i = &detail.incident;
    let scope = scope_of(
        i.environment.as_str(),
        i.namespace.clone(),
        i.service.clone(),
        Some(diagnosis),
        None,
    );
    let verifier = LabVerifier {
        clock: case.clock(),
        toolbox: toolbox.clone(),
        expr: plan
            .verify
            .clone()
            .or(alert.symptom.clone())
            .unwrap_or_default(),
    };
    say(format!(
        "\nGuard ({} is autonomous in this demo; the built-in policy keeps prod in shadow mode):",
        i.environment
    ));
    let sim = |c: &LabCase| {
        c.lab
            .world()
            .lock()
            .map(|w| w.elapsed_secs())
            .unwrap_or_default()
    };
    let alert_at = sim(&case);
    let report = respond(
        &guard,
        &executors,
        store.as_ref(),
        incident,
        &diagnosis.category,
        plan,
        &scope,
        &verifier,
        900,
        60,
    )
    .await;
    for st in &report.steps {
        say(format!(
            "  {} {} → {}: {}",
            st.request.kind, st.request.target, st.decision, st.why
        ));
        if let Some(done) = &st.executed {
            say(format!("    done: {done}"));
        }
        if let Some(e) = &st.error {
            say(format!("    failed: {e}"));
        }
    }
    let readings: Vec<String> = report
        .symptom
        .iter()
        .map(|(t, v)| format!("{t}s: {}", v.map_or("clear".into(), |v| format!("{v:.3}"))))
        .collect();
    if report.symptom.len() > 1 {
        say(format!(
            "Verification (symptom by simulated time): {}",
            readings.join(", ")
        ));
    }
    let done: Vec<String> = report
        .steps
        .iter()
        .map(|st| {
            let what = st.request.kind.to_string();
            match st.decision.as_str() {
                "allowed" if st.executed.is_some() => what,
                "needs_approval" => format!("{what} (awaiting approval)"),
                "no_executor" => format!("{what} (no executor in the lab)"),
                other => format!("{what} ({other})"),
            }
        })
        .collect();
    if !done.is_empty() {
        row.actions = done.join(", ");
    }
    let response = match &report.response {
        Response::Mitigated { verified } => {
            row.to_mitigation = format!("{} s", sim(&case) - alert_at);
            format!("mitigated: {verified}")
        }
        Response::Escalated { reason } => format!("escalated: {reason}"),
        Response::NoAction { reason } => format!("no action: {reason}"),
        Response::AwaitingApproval { approvals } => {
            format!("waiting for a human: {}", approvals.join("; "))
        }
        Response::Shadow { would } => format!("shadow: {}", would.join("; ")),
    };
    println!("Response: {response}");

    // The permanent fix.
    let gitops = Gitops {
        config: GitopsConfig {
            remote: ep.git.clone(),
            base: "main".into(),
            cache_dir: data_dir.join("gitops"),
            author: Author {
                name: "pagerless".into(),
                email: "pagerless@localhost".into(),
            },
            auth: GitAuth::default(),
            validate: vec!["git diff --check".into()],
            validate_timeout: Duration::from_secs(60),
            git_timeout: Duration::from_secs(60),
            reviewers: Vec::new(),
            labels: vec!["pagerless".into()],
        },
        forge: Arc::new(LocalForge::new(store.clone(), "http://127.0.0.1:9797")),
        local: None,
        poll: Duration::from_secs(60),
        console: "http://127.0.0.1:9797".into(),
    };
    let notify = super::act::Notifications {
        dispatcher: pagerless_notify::Dispatcher::default()
            .with_sink(Arc::new(Terminal), pagerless_notify::Route::all()),
        console: "http://127.0.0.1:9797".into(),
    };
    let dyn_store: Arc<dyn Store> = store.clone();
    let (summary, fix, _) = super::act::conclude(
        dyn_store.clone(),
        &guard,
        Some(&gitops),
        None,
        &detail,
        diagnosis,
        plan,
        &report,
    )
    .await;
    match &fix {
        Some(FixOutcome::Proposed(pr)) => {
            row.pr = format!("#{} {}={}", pr.number, pr.fix.key, pr.fix.value);
            print_pr(pr.as_ref(), narrate);
        }
        Some(FixOutcome::Held(why) | FixOutcome::Failed(why)) => {
            row.pr = "none".into();
            println!("Pull request: none ({why})");
        }
        None => {}
    }
    if s.expect.fix.is_some() && !matches!(fix, Some(FixOutcome::Proposed(_))) {
        row.correct = false;
        row.why_wrong.push("no pull request with the fix".into());
    }
    if s.name == "order-service-oom" && !matches!(report.response, Response::Mitigated { .. }) {
        row.correct = false;
        row.why_wrong
            .push("the seed's mitigation was not verified".into());
    }
    // The notice, through the same path `serve` uses, to the terminal.
    let notices = super::act::notices(
        store.as_ref(),
        &detail,
        diagnosis,
        &report,
        &summary,
        fix.as_ref(),
    )
    .await;
    for notice in notices {
        let _ = notify.send(dyn_store.clone(), incident, notice).await;
    }
    say(format!(
        "\nKPIs for this incident: time to diagnosis {:.0} ms (wall), alert to verified mitigation {} (simulated), {} action(s), pull request {}",
        inv.duration_ms,
        if row.to_mitigation == "-" {
            "-".into()
        } else {
            row.to_mitigation.clone()
        },
        report
            .steps
            .iter()
            .filter(|st| st.executed.is_some())
            .count(),
        row.pr
    ));
    Ok((row, case.webhook.clone()))
}

fn print_pr(pr: &PullRequest, narrate: bool) {
    println!(
        "Pull request #{} on the local forge: {} ({}; validation {})",
        pr.number,
        pr.title,
        pr.url,
        if pr.validation.iter().all(|v| v.passed()) {
            "passed"
        } else {
            "FAILED"
        }
    );
    if narrate {
        for line in pr.diff.lines().filter(|l| {
            (l.starts_with('+') || l.starts_with('-') || l.starts_with(' '))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        }) {
            println!("    {line}");
        }
    }
}

/// The demo's notice sink: the terminal, where a page would have gone.
struct Terminal;

#[async_trait::async_trait]
impl pagerless_notify::Notifier for Terminal {
    fn name(&self) -> &str {
        "terminal"
    }

    async fn send(
        &self,
        notice: &pagerless_notify::Notice,
    ) -> Result<(), pagerless_notify::NotifyError> {
        let text: Vec<String> = notice.text().lines().map(|l| format!("  {l}")).collect();
        println!("\nNotice (instead of a page):\n{}", text.join("\n"));
        Ok(())
    }
}

/// A spinner on stderr for anything slower than a second, when stderr is a
/// terminal; a plain line when it is not.
struct Progress {
    done: Option<tokio::sync::oneshot::Sender<()>>,
    started: Instant,
    what: &'static str,
}

impl Progress {
    fn start(what: &'static str) -> Progress {
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let started = Instant::now();
        if std::io::stderr().is_terminal() {
            tokio::spawn(async move {
                let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
                let mut i = 0;
                tokio::time::sleep(Duration::from_secs(1)).await;
                loop {
                    if rx.try_recv().is_ok() {
                        break;
                    }
                    eprint!(
                        "\r{} {what} ({:.0} s)",
                        frames[i % frames.len()],
                        started.elapsed().as_secs_f64()
                    );
                    let _ = std::io::stderr().flush();
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                eprint!("\r\x1b[2K");
            });
        } else {
            eprintln!("… {what}");
        }
        Progress {
            done: Some(tx),
            started,
            what,
        }
    }

    fn done(mut self) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
        tracing::debug!(
            what = self.what,
            ms = self.started.elapsed().as_millis(),
            "done"
        );
    }
}
