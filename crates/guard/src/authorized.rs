//! `Authorized<T>`: proof that the guard allowed a request. Only this crate
//! can make one, executors take nothing else, and it cannot be cloned or
//! deserialized into existence.

use serde::{Deserialize, Serialize};

/// Who acts: a pagerless instance, or the human who approved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// The principal's name (`pagerless@prod-eu-1`, `alice@shop.example`).
    pub name: String,
    /// Whether a human approved this action (the executor may impersonate them).
    pub human: bool,
}

impl Identity {
    /// A pagerless instance's own identity.
    pub fn agent(name: impl Into<String>) -> Identity {
        Identity {
            name: name.into(),
            human: false,
        }
    }

    /// A human approver.
    pub fn human(name: impl Into<String>) -> Identity {
        Identity {
            name: name.into(),
            human: true,
        }
    }
}

/// A request the guard allowed, with the identity it runs under and the
/// audit entry of the decision. Not `Clone`: one decision, one execution.
#[derive(Debug, PartialEq)]
pub struct Authorized<T> {
    request: T,
    identity: Identity,
    decision: String,
}

impl<T> Authorized<T> {
    /// Private to the guard: the only door.
    pub(crate) fn mint(request: T, identity: Identity, decision: String) -> Authorized<T> {
        Authorized {
            request,
            identity,
            decision,
        }
    }

    /// The request.
    pub fn request(&self) -> &T {
        &self.request
    }

    /// Who it runs as.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The decision's reason, as audited.
    pub fn decision(&self) -> &str {
        &self.decision
    }
}
