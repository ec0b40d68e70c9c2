//! The second stage of argument handling: flags resolved against the
//! configuration file and the environment into the values commands use.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cli::Global;
use crate::config::{Config, TOKEN_ENV};

/// Resolved settings shared by every command.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration, defaults filled in.
    pub config: Config,
    /// The data dir, after flag, config and default.
    pub data_dir: PathBuf,
}

impl Settings {
    /// Loads the config file (when given) and resolves the data dir.
    pub fn resolve(global: &Global) -> Result<Settings> {
        let config = match &global.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let data_dir = match (&global.data_dir, &config.data_dir) {
            (Some(flag), _) => flag.clone(),
            (None, Some(conf)) => conf.clone(),
            (None, None) => default_data_dir()?,
        };
        Ok(Settings { config, data_dir })
    }

    /// The SQLite file.
    pub fn store_path(&self) -> PathBuf {
        self.config
            .store
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("pagerless.db"))
    }

    /// The API token: the environment wins over the file; empty means none.
    pub fn api_token(&self) -> Option<String> {
        std::env::var(TOKEN_ENV)
            .ok()
            .or_else(|| self.config.server.api_token.clone())
            .filter(|t| !t.trim().is_empty())
    }
}

fn default_data_dir() -> Result<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("pagerless"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("no --data-dir given and $HOME is not set: pass --data-dir DIR")?;
    Ok(PathBuf::from(home).join(".local/share/pagerless"))
}
