//! `pagerless init`: writes the commented default configuration.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::cli::InitArgs;
use crate::config::TEMPLATE;

pub fn run(args: &InitArgs, config_flag: Option<&Path>) -> Result<ExitCode> {
    let path = args
        .path
        .clone()
        .or_else(|| config_flag.map(Path::to_owned))
        .unwrap_or_else(|| PathBuf::from("pagerless.yaml"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!(
                "{} exists already; pass --force to overwrite it",
                path.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot write {}", path.display())),
    };
    file.write_all(TEMPLATE.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "wrote {p}; edit it, then run: pagerless --config {p} serve",
        p = path.display()
    );
    Ok(ExitCode::SUCCESS)
}
