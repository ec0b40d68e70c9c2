//! What the lab provides to the HTTP layer: container logs and resource usage.

/// Resource usage of a container or node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU in nanocores (1 core = 1,000,000,000).
    pub cpu_nanocores: u64,
    /// Memory (working set) in bytes.
    pub memory_bytes: u64,
}

impl Usage {
    /// Usage from millicores and bytes.
    pub fn from_millicores(cpu_millicores: u64, memory_bytes: u64) -> Self {
        Usage {
            cpu_nanocores: cpu_millicores * 1_000_000,
            memory_bytes,
        }
    }
}

/// One container's usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUsage {
    /// The container's name.
    pub name: String,
    /// Its usage.
    pub usage: Usage,
}

/// Container logs, served at `pods/{name}/log`.
pub trait LogSource: Send + Sync {
    /// The log of `container` (the pod's only container when `None`), or of its previous
    /// instance when `previous`; `None` when there is none.
    fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        previous: bool,
    ) -> Option<String>;
}

/// Resource usage, served as `metrics.k8s.io/v1beta1` for `kubectl top`.
pub trait MetricsSource: Send + Sync {
    /// Per-container usage of a pod; `None` when the pod has no metrics (yet).
    fn pod_usage(&self, namespace: &str, pod: &str) -> Option<Vec<ContainerUsage>>;
    /// Usage of a node; `None` when it has no metrics.
    fn node_usage(&self, node: &str) -> Option<Usage>;
}

/// A source with no logs and no metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSources;

impl LogSource for NoSources {
    fn logs(&self, _: &str, _: &str, _: Option<&str>, _: bool) -> Option<String> {
        None
    }
}

impl MetricsSource for NoSources {
    fn pod_usage(&self, _: &str, _: &str) -> Option<Vec<ContainerUsage>> {
        None
    }
    fn node_usage(&self, _: &str) -> Option<Usage> {
        None
    }
}
