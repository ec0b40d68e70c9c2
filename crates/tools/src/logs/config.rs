//! The logs connector's configuration: named sources of log files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which log files `logs.search` may read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Sources by name: a file, a directory (its files), or a path whose last
    /// component holds `*` wildcards (`/var/log/nginx/error.log*`). Default: none.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
    /// The most matching lines one search returns (a caller's `limit` cannot
    /// go beyond it). Default: 200.
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
}

fn default_max_lines() -> usize {
    200
}

impl LogsConfig {
    /// A configuration with these sources and every default.
    pub fn new(sources: BTreeMap<String, String>) -> LogsConfig {
        LogsConfig {
            sources,
            max_lines: default_max_lines(),
        }
    }
}
