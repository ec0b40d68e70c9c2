//! One module per command.

mod bench;
mod incidents;
mod init;
mod lab;
mod serve;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Args, BenchCommand, Command, IncidentCommand, IncidentsCommand, LabCommand};
use crate::settings::Settings;

/// Runs the parsed command.
pub async fn run(args: Args) -> Result<ExitCode> {
    if let Command::Init(init) = &args.command {
        return init::run(init, args.global.config.as_deref());
    }
    if let Command::Lab { command } = &args.command {
        return match command {
            LabCommand::List => lab::list(),
            LabCommand::Check { scenario } => lab::check(scenario),
            LabCommand::Run(run) => lab::run(run).await,
        };
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
        Command::Init(_) | Command::Lab { .. } => unreachable!("handled above"),
    }
}
