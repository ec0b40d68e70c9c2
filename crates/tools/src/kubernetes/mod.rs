//! Kubernetes, through kube-rs: pods, deployments with rollout history,
//! events, logs, nodes, and `top` from metrics.k8s.io.

mod data;

pub use data::*;
