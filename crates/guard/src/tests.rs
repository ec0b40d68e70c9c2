//! Each rule kind, with plain values.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeZone, Utc};
use pagerless_model::{ActionKind, ActionRequest, Target, TargetKind};
use serde_json::json;

use crate::*;

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).single().unwrap()
}

fn policy(prod_mode: &str) -> Policy {
    Policy::parse(
        &policy::DEFAULT.replace(
            "  prod:\n    mode: shadow",
            &format!("  prod:\n    mode: {prod_mode}"),
        ),
        "test",
    )
    .unwrap()
}

fn scope() -> Scope {
    Scope {
        environment: "prod".into(),
        namespace: Some("shop".into()),
        service: Some("order-service".into()),
        targets: [Target {
            kind: TargetKind::Node,
            namespace: None,
            name: "node-b".into(),
        }]
        .into(),
        deployment_pods: [("order-service".to_owned(), 8)].into(),
    }
}

fn deployment(name: &str) -> Target {
    Target {
        kind: TargetKind::Deployment,
        namespace: Some("shop".into()),
        name: name.into(),
    }
}

fn req(kind: ActionKind, target: Target, params: &[(&str, serde_json::Value)]) -> ActionRequest {
    ActionRequest {
        kind,
        target,
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        rationale: "test".into(),
    }
}

fn restart(pod: &str) -> ActionRequest {
    req(
        ActionKind::RestartPod,
        Target {
            kind: TargetKind::Pod,
            namespace: Some("shop".into()),
            name: pod.into(),
        },
        &[],
    )
}

fn past(kind: ActionKind, mins_ago: i64) -> PastAction {
    PastAction {
        kind,
        target: Target {
            kind: TargetKind::Pod,
            namespace: Some("shop".into()),
            name: "order-service-x".into(),
        },
        service: Some("order-service".into()),
        environment: "prod".into(),
        incident: Some(1),
        at: now() - chrono::Duration::minutes(mins_ago),
        replicas_added: 0,
        cpu_added: 0.0,
        memory_added: 0.0,
    }
}

fn agent() -> Identity {
    Identity::agent("pagerless@test")
}

fn verdict(p: &Policy, r: &ActionRequest, u: &Usage) -> Verdict {
    evaluate(p, r, &scope(), u, &agent(), Some(1), now())
}

#[test]
fn the_fourth_restart_in_an_hour_needs_a_human() {
    let p = policy("autonomous");
    let mut u = Usage::default();
    for i in 0..3 {
        assert!(
            matches!(
                verdict(&p, &restart("order-service-a"), &u),
                Verdict::Allow { .. }
            ),
            "restart {}",
            i + 1
        );
        u.recent.push(past(ActionKind::RestartPod, 20 - i * 5));
    }
    match verdict(&p, &restart("order-service-a"), &u) {
        Verdict::NeedsApproval { why, approvers } => {
            assert!(
                why.contains(
                    "3 `restart_pod` per service in the last hour already; number 4 needs a human"
                ),
                "{why}"
            );
            assert_eq!(approvers, ["sre-oncall"]);
        }
        v => panic!("{v:?}"),
    }
    // An hour later the window has slid.
    let old: Vec<PastAction> = (0..3)
        .map(|i| past(ActionKind::RestartPod, 61 + i))
        .collect();
    assert!(matches!(
        verdict(
            &p,
            &restart("order-service-a"),
            &Usage {
                recent: old,
                ..Usage::default()
            }
        ),
        Verdict::Allow { .. }
    ));
}

#[test]
fn environments_decide_automatic_approval_and_forbidden() {
    let p = policy("autonomous");
    let u = Usage::default();
    assert!(matches!(
        verdict(
            &p,
            &req(
                ActionKind::Scale,
                deployment("order-service"),
                &[("replicas", json!(5)), ("from", json!(3))]
            ),
            &u
        ),
        Verdict::Allow { .. }
    ));
    assert!(matches!(
        verdict(
            &p,
            &req(ActionKind::Rollback, deployment("order-service"), &[]),
            &u
        ),
        Verdict::NeedsApproval { .. }
    ));
    let v = verdict(
        &p,
        &req(ActionKind::DeleteVolume, deployment("order-service"), &[]),
        &u,
    );
    assert!(
        matches!(&v, Verdict::Deny { why } if why.contains("not allowed in prod")),
        "{v:?}"
    );
    let mut dev = scope();
    dev.environment = "dev".into();
    let v = evaluate(
        &p,
        &req(ActionKind::Rollback, deployment("order-service"), &[]),
        &dev,
        &u,
        &agent(),
        None,
        now(),
    );
    assert!(matches!(v, Verdict::Allow { .. }), "{v:?}");
    let v = evaluate(
        &p,
        &req(ActionKind::DeleteVolume, deployment("order-service"), &[]),
        &dev,
        &u,
        &agent(),
        None,
        now(),
    );
    assert!(
        matches!(v, Verdict::NeedsApproval { .. }),
        "critical writes are never automatic, even in dev: {v:?}"
    );
}

#[test]
fn modes_shadow_and_approve_all() {
    let r = req(
        ActionKind::Scale,
        deployment("order-service"),
        &[("replicas", json!(5)), ("from", json!(3))],
    );
    let d = decide(
        &policy("shadow"),
        r.clone(),
        &scope(),
        &Usage::default(),
        &agent(),
        Some(1),
        now(),
    );
    assert!(
        matches!(
            &d,
            Decision::Shadow {
                would: Verdict::Allow { .. }
            }
        ),
        "{d:?}"
    );
    assert_eq!(d.record(&agent()).decision, "shadow");
    let d = decide(
        &policy("approve-all"),
        r.clone(),
        &scope(),
        &Usage::default(),
        &agent(),
        Some(1),
        now(),
    );
    assert!(matches!(d, Decision::NeedsApproval { .. }));
    let d = decide(
        &policy("autonomous"),
        r,
        &scope(),
        &Usage::default(),
        &agent(),
        Some(1),
        now(),
    );
    let Decision::Allowed(a) = d else { panic!() };
    assert_eq!(a.identity(), &agent());
}

#[test]
fn scope_keeps_writes_to_the_incident() {
    let p = policy("autonomous");
    let u = Usage::default();
    let deny = |r: ActionRequest, words: &str| {
        let v = verdict(&p, &r, &u);
        assert!(
            matches!(&v, Verdict::Deny { why } if why.contains(words)),
            "{v:?}"
        );
    };
    deny(
        req(
            ActionKind::Scale,
            Target {
                kind: TargetKind::Deployment,
                namespace: Some("payments".into()),
                name: "order-service".into(),
            },
            &[("replicas", json!(5))],
        ),
        "another namespace",
    );
    deny(
        req(
            ActionKind::Scale,
            deployment("payment-service"),
            &[("replicas", json!(5))],
        ),
        "another service",
    );
    deny(restart("payment-service-abc"), "another service");
    deny(
        req(
            ActionKind::Cordon,
            Target {
                kind: TargetKind::Node,
                namespace: None,
                name: "node-a".into(),
            },
            &[],
        ),
        "not resolved by the investigation",
    );
    // A node the investigation resolved is in scope.
    let v = verdict(
        &p,
        &req(
            ActionKind::Cordon,
            Target {
                kind: TargetKind::Node,
                namespace: None,
                name: "node-b".into(),
            },
            &[],
        ),
        &u,
    );
    assert!(matches!(v, Verdict::NeedsApproval { .. }), "{v:?}");
    deny(
        req(
            ActionKind::Scale,
            Target {
                kind: TargetKind::External,
                namespace: None,
                name: "fraud-check".into(),
            },
            &[("replicas", json!(2))],
        ),
        "outside our control",
    );
}

#[test]
fn arguments_are_typed_and_bounded() {
    let p = policy("autonomous");
    let u = Usage::default();
    let why = |r: ActionRequest| verdict(&p, &r, &u).why().to_owned();
    assert!(
        why(req(
            ActionKind::Scale,
            deployment("order-service"),
            &[("replicas", json!(1000000))]
        ))
        .contains("out of range")
    );
    assert!(
        why(req(
            ActionKind::Scale,
            deployment("order-service"),
            &[("replicas", json!("5; rm -rf /"))]
        ))
        .contains("whole number")
    );
    assert!(
        why(req(
            ActionKind::Scale,
            deployment("order-service"),
            &[("replicas", json!(5)), ("namespace", json!("prod"))]
        ))
        .contains("takes no argument `namespace`")
    );
    assert!(why(restart("order-service-a").clone()).contains("automatic"));
    let mut cc = req(
        ActionKind::ClearCache,
        Target {
            kind: TargetKind::Node,
            namespace: None,
            name: "node-b".into(),
        },
        &[("path", json!("/"))],
    );
    assert!(why(cc.clone()).contains("may only empty"));
    cc.params.insert("path".into(), json!("/var/log/app"));
    assert!(!why(cc).contains("may only empty"));
}

#[test]
fn blast_radius_limits_pods_and_cordons() {
    let p = policy("autonomous");
    // 8 pods, 25%: two at once.
    let u = Usage {
        recent: vec![
            past(ActionKind::RestartPod, 2),
            past(ActionKind::RestartPod, 3),
        ],
        ..Usage::default()
    };
    let v = verdict(&p, &restart("order-service-b"), &u);
    assert!(
        matches!(&v, Verdict::Deny { why } if why.contains("blast radius: 2 of order-service's 8 pods")),
        "{v:?}"
    );
    let u = Usage {
        cordoned: ["node-c".to_owned()].into(),
        ..Usage::default()
    };
    let v = verdict(
        &p,
        &req(
            ActionKind::Cordon,
            Target {
                kind: TargetKind::Node,
                namespace: None,
                name: "node-b".into(),
            },
            &[],
        ),
        &u,
    );
    assert!(
        matches!(&v, Verdict::Deny { why } if why.contains("already cordoned (node-c)")),
        "{v:?}"
    );
}

#[test]
fn budgets_cap_replicas_per_incident_and_day() {
    let p = policy("autonomous");
    let scale = |to: i64, from: i64| {
        req(
            ActionKind::Scale,
            deployment("order-service"),
            &[("replicas", json!(to)), ("from", json!(from))],
        )
    };
    let u = Usage::default();
    assert!(
        matches!(verdict(&p, &scale(7, 3), &u), Verdict::Allow { .. }),
        "4 added, the incident cap"
    );
    let v = verdict(&p, &scale(8, 3), &u);
    assert!(
        matches!(&v, Verdict::Deny { why } if why.contains("this incident would add 5 replicas; the cap is 4")),
        "{v:?}"
    );
    let v = verdict(&p, &scale(60, 59), &u);
    assert!(
        matches!(&v, Verdict::Deny { why } if why.contains("over the cap of 50")),
        "{v:?}"
    );
    let mut other = past(ActionKind::Scale, 300);
    other.incident = Some(2);
    other.replicas_added = 19;
    let v = verdict(
        &p,
        &scale(5, 3),
        &Usage {
            recent: vec![other],
            ..Usage::default()
        },
    );
    assert!(
        matches!(&v, Verdict::Deny { why } if why.contains("today would add 21")),
        "{v:?}"
    );
}

#[test]
fn kill_switch_and_revocation_stop_everything() {
    let p = policy("autonomous");
    let r = restart("order-service-a");
    let v = verdict(
        &p,
        &r,
        &Usage {
            kill_switch: true,
            ..Usage::default()
        },
    );
    assert!(matches!(&v, Verdict::Deny { why } if why.contains("kill switch")));
    let v = verdict(
        &p,
        &r,
        &Usage {
            revoked: BTreeSet::from(["pagerless@test".to_owned()]),
            ..Usage::default()
        },
    );
    assert!(matches!(&v, Verdict::Deny { why } if why.contains("revoked")));
}

#[test]
fn approval_lifts_the_human_need_not_the_hard_limits() {
    let p = policy("autonomous");
    let alice = Identity::human("alice@shop.example");
    let r = req(ActionKind::Rollback, deployment("order-service"), &[]);
    let d = decide_approved(
        &p,
        r.clone(),
        &scope(),
        &Usage::default(),
        &agent(),
        &alice,
        Some(1),
        now(),
    );
    let Decision::Allowed(a) = d else {
        panic!("{d:?}")
    };
    assert_eq!(a.identity(), &alice);
    assert_eq!(a.decision(), "approved by alice@shop.example");
    let d = decide_approved(
        &p,
        r.clone(),
        &scope(),
        &Usage {
            kill_switch: true,
            ..Usage::default()
        },
        &agent(),
        &alice,
        Some(1),
        now(),
    );
    assert!(matches!(d, Decision::Denied { .. }));
    let d = decide_approved(
        &p,
        r,
        &scope(),
        &Usage::default(),
        &agent(),
        &agent(),
        Some(1),
        now(),
    );
    assert!(matches!(&d, Decision::Denied { why } if why.contains("not a human")));
}

#[test]
fn limits_raised_and_cost_rate_are_budgeted() {
    let p = policy("autonomous");
    let mut dev = scope();
    dev.environment = "dev".into();
    let raise = |mem: &str| {
        req(
            ActionKind::RaiseLimit,
            deployment("order-service"),
            &[
                ("container", json!("order-api-v2")),
                ("memory", json!(mem)),
                ("from_memory", json!("512Mi")),
            ],
        )
    };
    let v = evaluate(
        &p,
        &raise("2Gi"),
        &dev,
        &Usage::default(),
        &agent(),
        Some(1),
        now(),
    );
    assert!(matches!(v, Verdict::Allow { .. }), "{v:?}");
    let v = evaluate(
        &p,
        &raise("100Gi"),
        &dev,
        &Usage::default(),
        &agent(),
        Some(1),
        now(),
    );
    assert!(
        matches!(&v, Verdict::Deny { why } if why.contains("GiB of memory to limits in dev; the cap is 64")),
        "{v:?}"
    );
    // prod: 2/hour of additions at 0.05 a replica-hour is 40 replicas; the replica budgets bite first,
    // so make the prices steep to see the cost rate.
    let mut pricey = p.clone();
    pricey.prices.replica_hour = 1.0;
    let scale = req(
        ActionKind::Scale,
        deployment("order-service"),
        &[("replicas", json!(6)), ("from", json!(3))],
    );
    let v = evaluate(
        &pricey,
        &scale,
        &scope(),
        &Usage::default(),
        &agent(),
        Some(1),
        now(),
    );
    assert!(
        matches!(&v, Verdict::Deny { why } if why.contains("cost 3.00/hour in prod; the cap is 2.00/hour")),
        "{v:?}"
    );
    assert_eq!(evaluate::added(&scale), (3, 0.0, 0.0));
}
