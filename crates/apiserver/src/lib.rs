//! An in-memory Kubernetes API server that real kubectl and kube-rs talk to.
//!
//! The lab's simulated cluster lives in a [`Cluster`]: typed maps of k8s-openapi objects keyed by
//! namespace and name, so a 10,000-pod fleet is updated every step without JSON round-trips;
//! JSON only appears at the HTTP edge ([`router`]), one request at a time. Controllers
//! ([`reconcile`]) are deterministic: the same scenario yields the same world byte for byte.

pub mod controllers;
pub mod error;
pub mod events;
pub mod http;
pub mod kubeconfig;
pub mod object;
pub mod patch;
pub mod pod_status;
pub mod quantity;
pub mod selector;
pub mod sources;
pub mod store;
pub mod time;

pub use controllers::reconcile;
pub use error::ApiError;
pub use events::object_reference;
pub use http::{ApiState, router};
pub use kubeconfig::write_kubeconfig;
pub use object::{Object, ResourceKind};
pub use sources::{ContainerUsage, LogSource, MetricsSource, NoSources, Usage};
pub use store::Cluster;
