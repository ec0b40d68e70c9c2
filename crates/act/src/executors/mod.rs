//! Executors: one per system, each doing the kinds of writes it owns.

mod host;
mod kubernetes;
mod postgres;

use async_trait::async_trait;
use pagerless_guard::Authorized;
use pagerless_model::{ActionKind, ActionRequest};

pub use host::{HostConfig, HostExecutor, NamedCommand};
pub use kubernetes::KubernetesExecutor;
pub use postgres::PostgresExecutor;

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    /// No executor is configured for this kind of write.
    #[error("no executor for `{0}`")]
    NoExecutor(ActionKind),
    /// The request lacks what the write needs.
    #[error("{kind} {target}: {message}")]
    Invalid {
        /// The kind.
        kind: ActionKind,
        /// The target.
        target: String,
        /// What is missing.
        message: String,
    },
    /// The system refused or failed.
    #[error("{kind} {target} failed: {message}")]
    Failed {
        /// The kind.
        kind: ActionKind,
        /// The target.
        target: String,
        /// What the system said.
        message: String,
        /// Whether trying again may help.
        retriable: bool,
    },
}

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    /// One line for people: "scaled shop/order-service 3 → 5".
    pub summary: String,
    /// The write that undoes it, where one exists (scale back, uncordon).
    pub undo: Option<ActionRequest>,
}

/// Carries out authorized writes of some kinds.
#[async_trait]
pub trait Executor: Send + Sync {
    /// The kinds it does.
    fn kinds(&self) -> &'static [ActionKind];

    /// Does one authorized write.
    async fn execute(&self, action: Authorized<ActionRequest>) -> Result<Executed, ActError>;

    /// Whether the world already shows `request` done, where that can be
    /// read (used to reconcile a write interrupted by a crash). Default: unknown.
    async fn observe(&self, _request: &ActionRequest) -> Option<bool> {
        None
    }
}

/// The executors, by kind.
#[derive(Default)]
pub struct Executors {
    list: Vec<Box<dyn Executor>>,
}

impl Executors {
    /// No executors.
    pub fn new() -> Executors {
        Executors::default()
    }

    /// Adds one.
    pub fn add(&mut self, e: Box<dyn Executor>) -> &mut Self {
        self.list.push(e);
        self
    }

    /// Whether some executor does `kind`.
    pub fn can(&self, kind: ActionKind) -> bool {
        self.list.iter().any(|e| e.kinds().contains(&kind))
    }

    /// Whether the world shows `request` done, asked of the executor of its kind.
    pub async fn observe(&self, request: &ActionRequest) -> Option<bool> {
        let e = self
            .list
            .iter()
            .find(|e| e.kinds().contains(&request.kind))?;
        e.observe(request).await
    }

    /// Does one authorized write with the executor of its kind.
    pub async fn execute(&self, action: Authorized<ActionRequest>) -> Result<Executed, ActError> {
        let kind = action.request().kind;
        match self.list.iter().find(|e| e.kinds().contains(&kind)) {
            Some(e) => e.execute(action).await,
            None => Err(ActError::NoExecutor(kind)),
        }
    }
}
