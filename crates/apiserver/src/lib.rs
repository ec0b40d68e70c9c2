//! An in-memory Kubernetes API server that real kubectl and kube-rs talk to.
