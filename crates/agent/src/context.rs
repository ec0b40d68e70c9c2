//! What an investigation starts from: the alert, its scope, and the symptom as a query.

use chrono::{DateTime, Utc};
use pagerless_model::{Alert, Environment, IncidentDetail, IncidentId, IncomingAlert, Labels};
use serde::{Deserialize, Serialize};

/// The alert an investigation starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertContext {
    /// The incident, when there is one.
    pub incident_id: Option<IncidentId>,
    /// `alertname`.
    pub alertname: String,
    /// The service it is about, if a label says.
    pub service: Option<String>,
    /// The namespace, if a label says.
    pub namespace: Option<String>,
    /// The node, if a label says (node alerts).
    pub node: Option<String>,
    /// The environment.
    pub environment: Environment,
    /// All labels.
    pub labels: Labels,
    /// All annotations.
    pub annotations: Labels,
    /// When it started firing.
    pub starts_at: DateTime<Utc>,
    /// The symptom as PromQL: the rule's expression from the generator URL
    /// (Prometheus puts it in `g0.expr`), or the `pagerless_query` annotation.
    pub symptom: Option<String>,
}

impl AlertContext {
    /// From an alert as intake received it.
    pub fn from_incoming(a: &IncomingAlert, incident_id: Option<IncidentId>) -> AlertContext {
        Self::build(
            incident_id,
            &a.labels,
            &a.annotations,
            a.starts_at,
            a.generator_url.as_deref(),
            a.environment.clone(),
            a.service.clone(),
            a.namespace.clone(),
        )
    }

    /// From a stored incident: its first firing alert (or its first alert).
    pub fn from_incident(d: &IncidentDetail) -> Option<AlertContext> {
        let i = &d.incident;
        let a: &Alert = d
            .alerts
            .iter()
            .find(|a| a.status == pagerless_model::AlertStatus::Firing)
            .or_else(|| d.alerts.first())?;
        Some(Self::build(
            Some(i.id),
            &a.labels,
            &a.annotations,
            a.starts_at,
            a.generator_url.as_deref(),
            i.environment.clone(),
            i.service.clone(),
            i.namespace.clone(),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        incident_id: Option<IncidentId>,
        labels: &Labels,
        annotations: &Labels,
        starts_at: DateTime<Utc>,
        generator_url: Option<&str>,
        environment: Environment,
        service: Option<String>,
        namespace: Option<String>,
    ) -> AlertContext {
        let symptom = annotations
            .get("pagerless_query")
            .cloned()
            .or_else(|| generator_url.and_then(expr_of_generator_url));
        AlertContext {
            incident_id,
            alertname: labels.get("alertname").cloned().unwrap_or_default(),
            service,
            namespace,
            node: labels.get("node").cloned(),
            environment,
            labels: labels.clone(),
            annotations: annotations.clone(),
            starts_at,
            symptom,
        }
    }
}

/// The `g0.expr` parameter of a Prometheus generator URL, decoded.
pub fn expr_of_generator_url(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "g0.expr")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_expression_comes_from_the_generator_url() {
        // As Prometheus 2.42 wrote it in a real Alertmanager delivery.
        let url = "http://vm:19090/graph?g0.expr=demo_queue_depth+%3E+100&g0.tab=1";
        assert_eq!(
            expr_of_generator_url(url).as_deref(),
            Some("demo_queue_depth > 100")
        );
        assert_eq!(expr_of_generator_url("http://x/graph"), None);
    }
}
