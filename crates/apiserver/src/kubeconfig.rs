//! A kubeconfig pointing kubectl at the lab's API server.

use std::path::Path;

/// The context (and cluster and user) name written by [`write_kubeconfig`].
pub const CONTEXT: &str = "pagerless-lab";

/// The kubeconfig text for `server_url` (plain http, no credentials), context `pagerless-lab`.
pub fn kubeconfig(server_url: &str, namespace: Option<&str>) -> String {
    let namespace = namespace
        .map(|ns| format!("    namespace: {ns}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: {server_url}\ncontexts:\n- name: {CONTEXT}\n  context:\n    cluster: {CONTEXT}\n    user: {CONTEXT}\n{namespace}current-context: {CONTEXT}\npreferences: {{}}\nusers:\n- name: {CONTEXT}\n  user: {{}}\n"
    )
}

/// Writes [`kubeconfig`] to `path`.
pub fn write_kubeconfig(
    path: &Path,
    server_url: &str,
    namespace: Option<&str>,
) -> std::io::Result<()> {
    std::fs::write(path, kubeconfig(server_url, namespace))
}
