//! The recording's label: what the investigation concluded (or what a human
//! says instead), so that the bundle is a regression case of that answer.

use chrono::{DateTime, Utc};
use pagerless_bundle::{FaultType, Label};
use pagerless_model::{Diagnosis, TargetKind};

/// The label, or why there is none, and where its parts came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    /// The label to write, when service and fault type are both known.
    pub label: Option<Label>,
    /// Where each part came from, or why there is no label, in words.
    pub how: String,
}

/// What a human gave on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--service`.
    pub service: Option<String>,
    /// `--fault-type`.
    pub fault_type: Option<FaultType>,
}

/// The fault type a diagnosis category stands for, when it stands for one
/// of the four a bundle scores.
pub fn fault_type_of_category(category: &str) -> Option<FaultType> {
    match category {
        "cpu_throttling" | "noisy_neighbour" => Some(FaultType::Cpu),
        "memory_leak" | "memory_limit_too_low" => Some(FaultType::Memory),
        "downstream_latency" => Some(FaultType::NetworkDelay),
        "bad_config" | "db_connection_saturation" => Some(FaultType::Error),
        _ => None,
    }
}

fn parse_fault_type(s: &str) -> Option<FaultType> {
    [
        FaultType::Cpu,
        FaultType::Memory,
        FaultType::NetworkDelay,
        FaultType::Error,
    ]
    .into_iter()
    .find(|t| t.as_str() == s)
}

/// The label from the diagnosis (the top suspect, else the diagnosis'
/// target, else the incident's service; the top suspect's fault type, else
/// the category's), with the overrides winning. `inject_time` is the alert's
/// start: a recorded incident does not know when its fault began.
pub fn label(
    diagnosis: Option<&Diagnosis>,
    incident_service: Option<&str>,
    starts_at: DateTime<Utc>,
    overrides: &Overrides,
) -> Labelled {
    let top = diagnosis.and_then(|d| d.suspects.first());
    let from_diagnosis: Option<(String, &str)> = diagnosis.and_then(|d| {
        if let Some(s) = top {
            return Some((s.service.clone(), "the diagnosis' top suspect"));
        }
        match &d.target {
            Some(t) if t.kind == TargetKind::Deployment => {
                Some((t.name.clone(), "the diagnosis' target"))
            }
            Some(t) => incident_service
                .map(|s| (s.to_owned(), "the incident's service"))
                .or_else(|| Some((t.name.clone(), "the diagnosis' target"))),
            None => incident_service.map(|s| (s.to_owned(), "the incident's service")),
        }
    });
    let service = match (&overrides.service, from_diagnosis) {
        (Some(s), _) => Some((s.clone(), "--service")),
        (None, found) => found,
    };
    let fault_type: Option<(FaultType, String)> = match overrides.fault_type {
        Some(t) => Some((t, "--fault-type".to_owned())),
        None => diagnosis.and_then(|d| {
            top.and_then(|s| s.fault_type.as_deref())
                .and_then(parse_fault_type)
                .map(|t| (t, "the top suspect's".to_owned()))
                .or_else(|| {
                    fault_type_of_category(&d.category)
                        .map(|t| (t, format!("the category {}", d.category)))
                })
        }),
    };
    let pod = top
        .and_then(|s| s.pod.clone())
        .or_else(|| {
            diagnosis
                .and_then(|d| d.target.as_ref())
                .filter(|t| t.kind == TargetKind::Pod)
                .map(|t| t.name.clone())
        })
        .unwrap_or_default();
    match (service, fault_type) {
        (Some((service, service_from)), Some((fault_type, type_from))) => Labelled {
            how: format!(
                "service {service} ({service_from}), fault type {fault_type} ({type_from})"
            ),
            label: Some(Label {
                service,
                pod,
                fault_type,
                inject_time: starts_at,
                detail: diagnosis.map_or_else(|| "set by hand".to_owned(), |d| d.category.clone()),
            }),
        },
        (service, fault_type) => {
            let mut missing = Vec::new();
            if service.is_none() {
                missing.push(match diagnosis {
                    None => "no diagnosis names a service: pass --service S".to_owned(),
                    Some(_) => {
                        "the diagnosis names no service and the incident has none: pass --service S"
                            .to_owned()
                    }
                });
            }
            if fault_type.is_none() {
                missing.push(match diagnosis {
                    None => "no diagnosis gives a fault type: pass --fault-type T".to_owned(),
                    Some(d) => format!(
                        "the diagnosis (category {}) maps to none of cpu, memory, network_delay, error: pass --fault-type T",
                        d.category
                    ),
                });
            }
            Labelled {
                label: None,
                how: missing.join("; "),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use pagerless_model::{Suspect, Target};

    use super::*;

    fn diagnosis(category: &str) -> Diagnosis {
        Diagnosis {
            root_cause: "x".into(),
            category: category.into(),
            confidence: 0.9,
            evidence: vec![],
            culprit: None,
            target: None,
            suspects: vec![],
        }
    }

    fn at() -> DateTime<Utc> {
        "2022-08-22T03:55:00Z".parse().unwrap()
    }

    #[test]
    fn the_top_suspect_gives_service_pod_and_type() {
        let mut d = diagnosis("service_anomaly");
        d.suspects = vec![Suspect {
            service: "cartservice".into(),
            pod: Some("cartservice-1".into()),
            score: 9.0,
            fault_type: Some("cpu".into()),
            evidence: vec![],
        }];
        let l = label(Some(&d), Some("frontend"), at(), &Overrides::default());
        let got = l.label.unwrap();
        assert_eq!(got.service, "cartservice");
        assert_eq!(got.pod, "cartservice-1");
        assert_eq!(got.fault_type, FaultType::Cpu);
        assert_eq!(got.inject_time, at());
        assert_eq!(got.detail, "service_anomaly");
        assert!(l.how.contains("top suspect"), "{}", l.how);
    }

    #[test]
    fn a_playbook_diagnosis_maps_its_category() {
        let mut d = diagnosis("memory_limit_too_low");
        d.target = Some(Target {
            kind: TargetKind::Deployment,
            namespace: Some("shop".into()),
            name: "order-service".into(),
        });
        let got = label(Some(&d), None, at(), &Overrides::default())
            .label
            .unwrap();
        assert_eq!(got.service, "order-service");
        assert_eq!(got.fault_type, FaultType::Memory);
        assert_eq!(got.pod, "");
        // A node at fault: the label names the incident's service.
        d.category = "noisy_neighbour".into();
        d.target = Some(Target {
            kind: TargetKind::Node,
            namespace: None,
            name: "node-b".into(),
        });
        let got = label(Some(&d), Some("api"), at(), &Overrides::default())
            .label
            .unwrap();
        assert_eq!(
            (got.service.as_str(), got.fault_type),
            ("api", FaultType::Cpu)
        );
    }

    #[test]
    fn overrides_win_and_gaps_say_what_to_pass() {
        let d = diagnosis("disk_pressure");
        let l = label(Some(&d), Some("api"), at(), &Overrides::default());
        assert!(l.label.is_none());
        assert!(l.how.contains("category disk_pressure"), "{}", l.how);
        assert!(l.how.contains("--fault-type"), "{}", l.how);
        let o = Overrides {
            service: Some("db".into()),
            fault_type: Some(FaultType::Error),
        };
        let got = label(Some(&d), Some("api"), at(), &o).label.unwrap();
        assert_eq!(
            (got.service.as_str(), got.fault_type),
            ("db", FaultType::Error)
        );
        // Without a diagnosis, only a human can label.
        let l = label(None, Some("api"), at(), &Overrides::default());
        assert!(l.label.is_none());
        assert!(l.how.contains("no diagnosis"), "{}", l.how);
        let got = label(None, None, at(), &o).label.unwrap();
        assert_eq!(got.detail, "set by hand");
    }
}
