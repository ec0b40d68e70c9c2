//! What the guard hands an executor in these tests.

#![allow(clippy::unwrap_used, dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use pagerless_guard::{Authorized, Decision, Identity, Policy, Scope, Usage, decide_approved};
use pagerless_model::ActionRequest;

/// `req` approved by a human in staging under `policy` (a policy file's
/// text), where the built-in policy asks for one before host and database
/// writes.
pub fn authorize(req: ActionRequest, policy: &str) -> Authorized<ActionRequest> {
    let policy = Policy::parse(policy, "test").unwrap();
    let scope = Scope {
        environment: "staging".into(),
        namespace: None,
        service: None,
        targets: BTreeSet::from([req.target.clone()]),
        deployment_pods: BTreeMap::new(),
    };
    match decide_approved(
        &policy,
        req,
        &scope,
        &Usage::default(),
        &Identity::agent("pagerless@test"),
        &Identity::human("alice"),
        Some(1),
        chrono::Utc::now(),
    ) {
        Decision::Allowed(a) => a,
        other => panic!("{other:?}"),
    }
}
