//! `pagerless`: the command line that wires intake, store and server together.
//!
//! Key decision: the binary is glue. Arguments are parsed here, resolved
//! against the configuration file in a second step ([`settings`]), and every
//! piece of logic lives in a library crate where it is tested on its own.

mod cli;
mod commands;
mod config;
mod settings;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    init_logging(args.global.verbose, args.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8, format: cli::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "info,sqlx=warn",
        1 => "debug,sqlx=info,hyper=info",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("PAGERLESS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Text => builder.init(),
        cli::LogFormat::Json => builder.json().init(),
    }
}
