//! Random sequences of incidents and requests across environments: whatever
//! arrives, the guard never allows more than quotas and budgets allow, never
//! a target outside the incident's scope, and nothing while the kill switch is on.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use pagerless_guard::{Decision, Identity, PastAction, Policy, Scope, Usage, decide};
use pagerless_model::{ActionKind, ActionRequest, Target, TargetKind};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
struct Step {
    minutes_later: i64,
    env: usize,
    incident: i64,
    service: usize,
    kind: usize,
    target_namespace: usize,
    target_service: usize,
    replicas: i64,
    kill_switch_flip: bool,
}

const ENVS: [&str; 4] = ["prod", "staging", "dev", "qa"];
const SERVICES: [&str; 3] = ["orders", "cart", "search"];
const NAMESPACES: [&str; 2] = ["shop", "other"];
const KINDS: [ActionKind; 6] = [
    ActionKind::RestartPod,
    ActionKind::Scale,
    ActionKind::Rollback,
    ActionKind::Cordon,
    ActionKind::RolloutRestart,
    ActionKind::DeleteVolume,
];

fn step() -> impl Strategy<Value = Step> {
    (
        0i64..30,
        0usize..4,
        1i64..4,
        0usize..3,
        0usize..6,
        0usize..2,
        0usize..3,
        1i64..40,
        proptest::bool::weighted(0.05),
    )
        .prop_map(
            |(
                minutes_later,
                env,
                incident,
                service,
                kind,
                target_namespace,
                target_service,
                replicas,
                kill_switch_flip,
            )| Step {
                minutes_later,
                env,
                incident,
                service,
                kind,
                target_namespace,
                target_service,
                replicas,
                kill_switch_flip,
            },
        )
}

fn autonomous_everywhere() -> Policy {
    let text = pagerless_guard::policy::DEFAULT.replace("mode: shadow", "mode: autonomous");
    Policy::parse(&text, "test").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_beyond_quota_budget_scope_or_kill_switch(steps in proptest::collection::vec(step(), 1..120)) {
        let policy = autonomous_everywhere();
        let agent = Identity::agent("pagerless@prop");
        let mut now: DateTime<Utc> = Utc.timestamp_opt(1_800_000_000, 0).single().unwrap();
        let mut usage = Usage::default();
        let mut allowed: Vec<PastAction> = Vec::new();
        for s in steps {
            now += chrono::Duration::minutes(s.minutes_later);
            if s.kill_switch_flip {
                usage.kill_switch = !usage.kill_switch;
            }
            let env = ENVS[s.env];
            let service = SERVICES[s.service];
            let scope = Scope {
                environment: env.into(),
                namespace: Some("shop".into()),
                service: Some(service.into()),
                targets: [Target { kind: TargetKind::Node, namespace: None, name: "node-1".into() }].into(),
                deployment_pods: [(service.to_owned(), 4)].into(),
            };
            let kind = KINDS[s.kind];
            let tns = NAMESPACES[s.target_namespace];
            let tsvc = SERVICES[s.target_service];
            let target = match kind {
                ActionKind::RestartPod => Target { kind: TargetKind::Pod, namespace: Some(tns.into()), name: format!("{tsvc}-abc-{}", s.replicas) },
                ActionKind::Cordon => Target { kind: TargetKind::Node, namespace: None, name: format!("node-{}", s.target_service) },
                _ => Target { kind: TargetKind::Deployment, namespace: Some(tns.into()), name: tsvc.into() },
            };
            let mut params = std::collections::BTreeMap::new();
            if kind == ActionKind::Scale {
                params.insert("replicas".to_owned(), json!(s.replicas));
                params.insert("from".to_owned(), json!(3));
            }
            let request = ActionRequest { kind, target: target.clone(), params, rationale: "prop".into() };
            let decision = decide(&policy, request, &scope, &usage, &agent, Some(s.incident), now);
            if let Decision::Allowed(a) = decision {
                // Nothing while the kill switch is on.
                prop_assert!(!usage.kill_switch);
                // Never outside scope.
                let t = &a.request().target;
                match t.kind {
                    TargetKind::Node => prop_assert!(scope.targets.contains(t)),
                    _ => {
                        prop_assert_eq!(t.namespace.as_deref(), Some("shop"));
                        let prefix = format!("{}-", service);
                        let ok = t.name == service || t.name.starts_with(&prefix);
                        prop_assert!(ok, "target {} outside service {}", t.name, service);
                    }
                }
                prop_assert!(kind != ActionKind::DeleteVolume);
                let added = if kind == ActionKind::Scale { (s.replicas - 3).max(0) } else { 0 };
                let record = PastAction { kind, target: t.clone(), service: Some(service.into()), environment: env.into(), incident: Some(s.incident), at: now, replicas_added: added, cpu_added: 0.0, memory_added: 0.0 };
                allowed.push(record.clone());
                usage.recent.push(record);
                if kind == ActionKind::Cordon {
                    usage.cordoned.insert(t.name.clone());
                }
                // Quotas: at most 3 restarts per service per hour, 3 scales, 2 rollout restarts.
                let hour = now - chrono::Duration::hours(1);
                for (k, max) in [(ActionKind::RestartPod, 3), (ActionKind::Scale, 3), (ActionKind::RolloutRestart, 2), (ActionKind::Rollback, 1)] {
                    let n = allowed.iter().filter(|a| a.kind == k && a.at > hour && a.service.as_deref() == Some(service)).count();
                    prop_assert!(n <= max, "{} {:?} of {} in an hour", n, k, service);
                }
                // Budgets per environment: replicas per incident and per day.
                let rules = policy.rules(env).unwrap();
                let day = now - chrono::Duration::days(1);
                let per_incident: i64 = allowed.iter().filter(|a| a.environment == env && a.incident == Some(s.incident) && a.at > day).map(|a| a.replicas_added).sum();
                let per_day: i64 = allowed.iter().filter(|a| a.environment == env && a.at > day).map(|a| a.replicas_added).sum();
                prop_assert!(per_incident <= i64::from(rules.budget.replicas_per_incident));
                prop_assert!(per_day <= i64::from(rules.budget.replicas_per_day));
                prop_assert!(usage.cordoned.len() <= 1);
            }
        }
    }
}
