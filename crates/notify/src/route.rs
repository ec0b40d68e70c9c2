//! Which notices a sink receives: filters on environment, severity and kind,
//! each empty (or unset) meaning "all".

use pagerless_model::{Environment, Severity};
use serde::{Deserialize, Serialize};

use crate::{Notice, NoticeKind};

/// A sink's routing filters. A notice passes when it passes all three.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Route {
    /// Only these environments (aliases fold: `production` is `prod`).
    /// Empty: every environment.
    pub environments: Vec<String>,
    /// Only incidents at least this severe. `None`: every severity. Severities
    /// rank `unknown` < `info` < `warning` < `critical`, so an incident
    /// without a severity label passes only when this is unset or `unknown`.
    pub min_severity: Option<Severity>,
    /// Only these kinds of notice. Empty: every kind.
    pub kinds: Vec<NoticeKind>,
}

impl Route {
    /// Every notice.
    pub fn all() -> Self {
        Route::default()
    }

    /// Whether `notice` passes.
    pub fn matches(&self, notice: &Notice) -> bool {
        let env = Environment::new(&notice.environment);
        let env_ok = self.environments.is_empty()
            || self.environments.iter().any(|e| Environment::new(e) == env);
        let severity_ok = self.min_severity.is_none_or(|min| notice.severity >= min);
        let kind_ok = self.kinds.is_empty() || self.kinds.contains(&notice.kind);
        env_ok && severity_ok && kind_ok
    }
}
