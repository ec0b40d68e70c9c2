//! Which labels say where an alert belongs: environment, cluster, namespace, service.

use serde::{Deserialize, Serialize};

use crate::{Environment, Labels, Severity};

/// Where an alert belongs, read off its labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// The environment, from the first environment label present, else the default.
    pub environment: Environment,
    /// The cluster, when a cluster label is present.
    pub cluster: Option<String>,
    /// The namespace, when a namespace label is present.
    pub namespace: Option<String>,
    /// The service, when a service label is present.
    pub service: Option<String>,
    /// The severity, from the `severity` label.
    pub severity: Severity,
}

/// The label names that carry an alert's scope, tried in order: the first one
/// present with a non-empty value wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelMapping {
    /// Labels naming the environment. Default: `[env, environment]`.
    pub environment_labels: Vec<String>,
    /// The environment of alerts that carry none of `environment_labels`. Default: `prod`,
    /// the strictest, so that an unlabelled alert never gets laxer guardrails than it should.
    pub default_environment: Environment,
    /// Labels naming the cluster. Default: `[cluster]`.
    pub cluster_labels: Vec<String>,
    /// Labels naming the Kubernetes namespace. Default: `[namespace, exported_namespace]`.
    pub namespace_labels: Vec<String>,
    /// Labels naming the service. Default: `[service, app, app_kubernetes_io_name, job]`.
    pub service_labels: Vec<String>,
    /// Labels naming the severity. Default: `[severity]`.
    pub severity_labels: Vec<String>,
}

impl Default for LabelMapping {
    fn default() -> Self {
        let strings = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect();
        LabelMapping {
            environment_labels: strings(&["env", "environment"]),
            default_environment: Environment::prod(),
            cluster_labels: strings(&["cluster"]),
            namespace_labels: strings(&["namespace", "exported_namespace"]),
            service_labels: strings(&["service", "app", "app_kubernetes_io_name", "job"]),
            severity_labels: strings(&["severity"]),
        }
    }
}

impl LabelMapping {
    /// Reads the scope off a label set.
    pub fn classify(&self, labels: &Labels) -> Scope {
        let first = |names: &[String]| {
            names
                .iter()
                .filter_map(|n| labels.get(n))
                .map(|v| v.trim())
                .find(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Scope {
            environment: first(&self.environment_labels)
                .map(|e| Environment::new(&e))
                .unwrap_or_else(|| self.default_environment.clone()),
            cluster: first(&self.cluster_labels),
            namespace: first(&self.namespace_labels),
            service: first(&self.service_labels),
            severity: first(&self.severity_labels)
                .map(|s| Severity::from_label(&s))
                .unwrap_or(Severity::Unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn first_present_label_wins_and_default_fills_in() {
        let m = LabelMapping::default();
        let s = m.classify(&labels(&[
            ("environment", "Staging"),
            ("app", "cart"),
            ("job", "node"),
            ("severity", "critical"),
        ]));
        assert_eq!(s.environment.as_str(), "staging");
        assert_eq!(s.service.as_deref(), Some("cart"));
        assert_eq!(s.severity, Severity::Critical);
        assert_eq!(s.cluster, None);

        let s = m.classify(&labels(&[("env", "  "), ("service", "orders")]));
        assert_eq!(s.environment, Environment::prod(), "blank label falls back");
        assert_eq!(s.severity, Severity::Unknown);
    }

    #[test]
    fn custom_mapping_and_default() {
        let m = LabelMapping {
            environment_labels: vec!["tier".into()],
            default_environment: Environment::new("dev"),
            ..LabelMapping::default()
        };
        assert_eq!(
            m.classify(&labels(&[("env", "prod")])).environment.as_str(),
            "dev"
        );
        assert_eq!(
            m.classify(&labels(&[("tier", "qa")])).environment.as_str(),
            "qa"
        );
    }
}
