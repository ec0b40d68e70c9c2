//! An in-memory Kubernetes API server that real kubectl and kube-rs talk to.
//!
//! The lab's simulated cluster lives in a [`Cluster`]: typed maps of k8s-openapi objects keyed by
//! namespace and name, so a 10,000-pod fleet is updated every step without JSON round-trips;
//! JSON only appears at the HTTP edge ([`router`]), one request at a time. Controllers
//! ([`reconcile`]) are deterministic: the same scenario yields the same world byte for byte
//! (uids, pod names, IPs and template hashes come from a counter and hashes, never from
//! randomness or the wall clock; times come from the `now` the lab passes in).
//!
//! How the lab uses it:
//! - build the world with [`Cluster::create`], change it with [`Cluster::update`] (no-op updates
//!   bump nothing), [`Cluster::record_event`] (repeats aggregate into `count`), and call
//!   [`reconcile`] every step: deployments get ReplicaSets, ReplicaSets pods, pods nodes;
//! - serve it with [`router`] over an [`ApiState`] holding the same `Arc<RwLock<Cluster>>`, a
//!   [`LogSource`], a [`MetricsSource`] and the virtual clock; [`write_kubeconfig`] points kubectl
//!   at it. Writes through HTTP (`kubectl scale`, `rollout restart`, `cordon`, `delete pod`) land
//!   in the same cluster and take effect on the next [`reconcile`].
//!
//! Not served: protobuf request bodies (typed `kubectl create <kind>` gets 415), OpenAPI
//! (`kubectl apply` needs `--validate=false`), kinds beyond the eight in [`ResourceKind`].

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
