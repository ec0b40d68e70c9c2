//! The simulated world pagerless heals in tests and demos: scenario files, a
//! virtual clock, cluster dynamics, an infrastructure-as-code git repository
//! with history, and alerts.
//!
//! Key decision: the lab is served through the same interfaces production
//! uses — the Kubernetes REST API, the Prometheus HTTP API, a git remote and
//! Alertmanager webhooks — so pagerless investigates it with its ordinary
//! connectors and no code path knows it is not real.

pub mod alerts;
pub mod dynamics;
pub mod fleet;
pub mod iac;
pub mod node_shell;
pub mod rng;
pub mod scenario;
pub mod serve;
pub mod units;
mod validate;
pub mod world;

pub use scenario::{Scenario, ScenarioError};

macro_rules! builtin {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../../scenarios/", $name, ".yaml")),
        )
    };
}

/// The scenarios shipped with pagerless, embedded at build time: (name, YAML).
/// The seed incident comes first.
pub const BUILTIN_SCENARIOS: &[(&str, &str)] = &[
    builtin!("order-service-oom"),
    builtin!("checkout-memory-leak"),
    builtin!("search-cpu-throttling"),
    builtin!("noisy-neighbour"),
    builtin!("payment-downstream-timeout"),
    builtin!("db-connection-saturation"),
    builtin!("bad-config-crashloop"),
    builtin!("node-disk-pressure"),
    builtin!("control-transient-blip"),
];

/// Finds a scenario by built-in name or file path.
pub fn find_scenario(name_or_path: &str) -> Result<Scenario, ScenarioError> {
    if let Some((name, text)) = BUILTIN_SCENARIOS.iter().find(|(n, _)| *n == name_or_path) {
        return Scenario::parse(text, &format!("scenarios/{name}.yaml"));
    }
    let path = std::path::Path::new(name_or_path);
    if path.exists() {
        return Scenario::load(path);
    }
    Err(ScenarioError {
        file: name_or_path.to_owned(),
        line: None,
        path: String::new(),
        message: format!(
            "no such scenario file, and not a built-in scenario ({})",
            BUILTIN_SCENARIOS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}
