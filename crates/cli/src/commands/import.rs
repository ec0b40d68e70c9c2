//! `pagerless import`: public datasets into evaluation bundles, one line per
//! case as it is written, then a summary.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use pagerless_bundle::nezha::{self, CaseSummary, ImportOptions};

use crate::cli::ImportCommand;

/// Runs `pagerless import ...`.
pub fn run(command: &ImportCommand) -> Result<ExitCode> {
    match command {
        ImportCommand::Nezha {
            dir,
            fault_free,
            out,
            force,
        } => {
            let options = ImportOptions { force: *force };
            let mut progress = |case: &CaseSummary| {
                let how = if case.fired {
                    format!("alert {} fired", case.alertname)
                } else {
                    "alert did not fire, placed".to_owned()
                };
                // A closed pipe (`| head`) must not abort the import half way.
                let _ = writeln!(
                    std::io::stdout(),
                    "{}  {how} {:.1} min after injection",
                    case.name,
                    case.minutes_after_injection
                );
            };
            let report =
                nezha::import_with(dir, fault_free.as_deref(), out, &options, &mut progress)
                    .with_context(|| format!("cannot import {}", dir.display()))?;
            for note in &report.notes {
                println!("note: {note}");
            }
            for (fault, why) in &report.skipped {
                println!("skipped {fault}: {why}");
            }
            let median = report
                .median_minutes_to_alert()
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.1}"));
            println!(
                "{} {} cases written to {}: {} fired, {} not fired, {} skipped; median {median} min from injection to a fired alert",
                report.bundles.len(),
                report.system,
                out.display(),
                report.fired,
                report.not_fired,
                report.skipped.len(),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
