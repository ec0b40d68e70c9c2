//! One module per command.

mod act;
mod bench;
mod demo;
mod eval;
mod evalbundle;
mod gitops;
mod guard;
mod import;
mod incidents;
mod init;
mod investigator;
mod lab;
mod labcase;
mod record;
mod report;
mod score;
mod serve;
mod trace;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{
    Args, BenchCommand, Command, EvalCommand, IncidentCommand, IncidentsCommand, LabCommand,
    PrCommand,
};
use crate::settings::Settings;

/// Runs the parsed command.
pub async fn run(args: Args) -> Result<ExitCode> {
    if let Command::Init(init) = &args.command {
        return init::run(init, args.global.config.as_deref());
    }
    if let Command::Import { command } = &args.command {
        return import::run(command);
    }
    if let Command::Demo(demo) = &args.command {
        return demo::run(&args.global, demo).await;
    }
    if let Command::Lab { command } = &args.command {
        return match command {
            LabCommand::List => lab::list(),
            LabCommand::Check { scenario } => lab::check(scenario),
            LabCommand::Run(run) => lab::run(run).await,
        };
    }
    if let Command::Eval {
        command,
        bundles,
        embedded,
        json: bundle_json,
        traces,
    } = &args.command
    {
        return match command {
            Some(EvalCommand::Lab {
                scenario,
                json,
                trace,
            }) => eval::lab(scenario.as_deref(), *json, *trace).await,
            None if bundles.is_empty() => anyhow::bail!(
                "give bundle folders to evaluate (docs/bundles.md), or `pagerless eval lab`"
            ),
            None => evalbundle::run(bundles, *embedded, *bundle_json, traces.as_deref()).await,
        };
    }
    if let Command::Bench {
        command: BenchCommand::Investigate { runs },
    } = &args.command
    {
        return bench::investigate(*runs).await;
    }
    if let Command::Bench {
        command:
            BenchCommand::Logs {
                sources,
                lines,
                runs,
            },
    } = &args.command
    {
        return bench::logs(*sources, *lines, *runs).await;
    }
    let settings = Settings::resolve(&args.global)?;
    match args.command {
        Command::Serve(serve) => serve::run(&settings, &serve).await,
        Command::Incidents {
            command:
                IncidentsCommand::List {
                    status,
                    environment,
                    service,
                    limit,
                    source,
                },
        } => {
            let filter = pagerless_model::IncidentFilter {
                status,
                environment: environment
                    .as_deref()
                    .map(pagerless_model::Environment::new),
                service,
                limit: Some(limit),
            };
            incidents::list(&settings, &source, &filter).await
        }
        Command::Incident {
            command: IncidentCommand::Show { id, source },
        } => incidents::show(&settings, &source, id).await,
        Command::Bench {
            command: BenchCommand::Intake(bench),
        } => bench::intake(&settings, &bench).await,
        Command::Bench {
            command: BenchCommand::Lab(bench),
        } => bench::lab(&bench),
        Command::Investigate(inv) => investigator::command(&settings, &inv).await,
        Command::Act {
            incident,
            dry_run,
            lab,
        } => act::command(&settings, incident, dry_run, lab.as_deref()).await,
        Command::Approvals { all, json } => guard::approvals(&settings, all, json).await,
        Command::Approve { id, approver } => guard::approve(&settings, id, &approver).await,
        Command::Deny { id, why, approver } => guard::deny(&settings, id, &why, &approver).await,
        Command::Audit { command } => guard::audit(&settings, &command).await,
        Command::Pr { command } => match command {
            PrCommand::List { json } => gitops::list(&settings, json).await,
            PrCommand::Show { id, json } => gitops::show(&settings, id, json).await,
            PrCommand::Approve(a) | PrCommand::Merge(a) => {
                let who = guard::human(&a.approver)?;
                gitops::merge(&settings, a.id, &who.name, a.lab.as_deref()).await
            }
            PrCommand::Close { id, why, who } => {
                let who = guard::human(&who)?;
                gitops::close(&settings, id, &who.name, &why).await
            }
        },
        Command::Guard { command } => guard::guard(&settings, &command).await,
        Command::Report { since, json } => report::run(&settings, &since, json).await,
        Command::Record(record) => record::run(&settings, &record).await,
        Command::Init(_)
        | Command::Demo(_)
        | Command::Lab { .. }
        | Command::Import { .. }
        | Command::Eval { .. }
        | Command::Bench {
            command: BenchCommand::Investigate { .. } | BenchCommand::Logs { .. },
        } => {
            unreachable!("handled above")
        }
    }
}

/// Completes on Ctrl-C or SIGTERM, so that servers shut down cleanly (and
/// child processes such as git daemon are stopped with them).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
