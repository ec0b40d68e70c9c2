//! `pagerless lab list|check|run`.

use std::process::ExitCode;

use anyhow::Result;
use pagerless_lab::serve::{Pace, RunOptions};
use pagerless_lab::{BUILTIN_SCENARIOS, Scenario, find_scenario};

use crate::cli::LabRunArgs;

pub fn list() -> Result<ExitCode> {
    for (name, text) in BUILTIN_SCENARIOS {
        let s = Scenario::parse(text, name)?;
        println!("{name:<28} {}", s.description);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn check(scenario: &str) -> Result<ExitCode> {
    let s = find_scenario(scenario)?;
    println!(
        "{scenario}: ok ({} nodes, {} services, {} timeline events, {} alert rules, {} at {} steps)",
        s.nodes.len(),
        s.services.len(),
        s.timeline.len(),
        s.alerts.len(),
        s.duration,
        s.step
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn run(args: &LabRunArgs) -> Result<ExitCode> {
    let scenario = find_scenario(&args.scenario)?;
    let pace = match (args.realtime, args.speed) {
        (true, _) => Pace::Realtime,
        (false, Some(n)) if n > 0.0 => Pace::Speed(n),
        (false, Some(n)) => anyhow::bail!("--speed must be positive, not {n}"),
        (false, None) => Pace::Fast,
    };
    let opts = RunOptions {
        state_dir: args.state_dir.clone(),
        webhook: args.webhook.clone(),
        webhook_token: args.webhook_token.clone(),
        pace,
        git_daemon: args.git_daemon,
    };
    let name = scenario.name.clone();
    let dir = args.state_dir.display().to_string();
    pagerless_lab::serve::run(
        scenario,
        opts,
        |e| {
            println!("lab `{name}` running");
            println!(
                "  kubernetes  {}  (kubeconfig: {})",
                e.kubernetes, e.kubeconfig
            );
            println!("  prometheus  {}", e.prometheus);
            println!("  git         {}", e.git);
            println!(
                "  shell       {}/NODE  (POST {{\"command\": \"df -h\"}})",
                e.shell
            );
            match &e.webhook {
                Some(w) => println!("  webhook     {w}"),
                None => println!("  webhook     none (pass --webhook URL to send alerts)"),
            }
            println!("  try: kubectl --kubeconfig {} get pods -A", e.kubeconfig);
            println!(
                "  for a real Prometheus: {dir}/prometheus.yml (scrapes {}/metrics, rules in {dir}/rules.yml, alerts to an Alertmanager on 127.0.0.1:9093); see docs/quickstart.md",
                e.prometheus
            );
            println!("Ctrl-C stops it.");
        },
        super::shutdown_signal(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}
