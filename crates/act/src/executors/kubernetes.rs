//! Kubernetes writes through kube-rs: scale, restart a pod, rollout restart,
//! roll back to the previous ReplicaSet, cordon and uncordon, raise a limit.
//! A write a human approved runs impersonating them when configured.

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Config};
use pagerless_guard::Authorized;
use pagerless_model::{ActionKind, ActionRequest, Target, TargetKind};
use serde_json::json;

use super::{ActError, Executed, Executor};

/// The Kubernetes executor.
pub struct KubernetesExecutor {
    config: Config,
    impersonate_approvers: bool,
}

impl KubernetesExecutor {
    /// An executor using `config` (a kubeconfig's or in-cluster), acting as its
    /// service account, or as the approving human when `impersonate_approvers`.
    pub fn new(config: Config, impersonate_approvers: bool) -> KubernetesExecutor {
        KubernetesExecutor {
            config,
            impersonate_approvers,
        }
    }

    /// From a kubeconfig file.
    pub async fn from_kubeconfig(
        path: &std::path::Path,
        impersonate_approvers: bool,
    ) -> Result<KubernetesExecutor, String> {
        let kc = kube::config::Kubeconfig::read_from(path)
            .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
        let config =
            Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| e.to_string())?;
        Ok(KubernetesExecutor::new(config, impersonate_approvers))
    }

    fn client(&self, a: &Authorized<ActionRequest>) -> Result<Client, ActError> {
        let mut config = self.config.clone();
        if self.impersonate_approvers && a.identity().human {
            config.auth_info.impersonate = Some(a.identity().name.clone());
        }
        Client::try_from(config).map_err(|e| fail(a.request(), e.to_string(), false))
    }
}

fn fail(req: &ActionRequest, message: String, retriable: bool) -> ActError {
    ActError::Failed {
        kind: req.kind,
        target: req.target.to_string(),
        message,
        retriable,
    }
}

fn kube_err(req: &ActionRequest) -> impl Fn(kube::Error) -> ActError + '_ {
    move |e| {
        let retriable = !matches!(&e, kube::Error::Api(s) if s.code < 500 && s.code != 429);
        fail(req, e.to_string(), retriable)
    }
}

fn ns(req: &ActionRequest) -> Result<&str, ActError> {
    req.target
        .namespace
        .as_deref()
        .ok_or_else(|| ActError::Invalid {
            kind: req.kind,
            target: req.target.to_string(),
            message: "a namespace is needed".into(),
        })
}

#[async_trait]
impl Executor for KubernetesExecutor {
    fn kinds(&self) -> &'static [ActionKind] {
        &[
            ActionKind::Scale,
            ActionKind::RestartPod,
            ActionKind::RolloutRestart,
            ActionKind::Rollback,
            ActionKind::Cordon,
            ActionKind::Uncordon,
            ActionKind::RaiseLimit,
        ]
    }

    async fn observe(&self, req: &ActionRequest) -> Option<bool> {
        let client = Client::try_from(self.config.clone()).ok()?;
        let name = req.target.name.as_str();
        match req.kind {
            ActionKind::Scale => {
                let want = req.params.get("replicas")?.as_i64()?;
                let deployments: Api<Deployment> = Api::namespaced(client, ns(req).ok()?);
                let spec = deployments.get_scale(name).await.ok()?.spec?;
                Some(i64::from(spec.replicas.unwrap_or(0)) == want)
            }
            ActionKind::Cordon | ActionKind::Uncordon => {
                let nodes: Api<Node> = Api::all(client);
                let unschedulable = nodes
                    .get(name)
                    .await
                    .ok()?
                    .spec
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false);
                Some(unschedulable == (req.kind == ActionKind::Cordon))
            }
            _ => None,
        }
    }

    async fn execute(&self, action: Authorized<ActionRequest>) -> Result<Executed, ActError> {
        let client = self.client(&action)?;
        let req = action.request();
        let name = req.target.name.as_str();
        let pp = PatchParams::default();
        match req.kind {
            ActionKind::Scale => {
                let deployments: Api<Deployment> = Api::namespaced(client, ns(req)?);
                let to = req
                    .params
                    .get("replicas")
                    .and_then(serde_json::Value::as_i64)
                    .ok_or_else(|| ActError::Invalid {
                        kind: req.kind,
                        target: req.target.to_string(),
                        message: "`replicas` is needed".into(),
                    })?;
                let current = deployments
                    .get_scale(name)
                    .await
                    .map_err(kube_err(req))?
                    .spec
                    .and_then(|s| s.replicas)
                    .unwrap_or(0);
                deployments
                    .patch_scale(name, &pp, &Patch::Merge(json!({"spec": {"replicas": to}})))
                    .await
                    .map_err(kube_err(req))?;
                Ok(Executed {
                    summary: format!("scaled {} {current} → {to}", req.target),
                    undo: Some(ActionRequest {
                        kind: ActionKind::Scale,
                        target: req.target.clone(),
                        params: [
                            ("replicas".to_owned(), json!(current)),
                            ("from".to_owned(), json!(to)),
                        ]
                        .into(),
                        rationale: format!("undo: back to {current}"),
                    }),
                })
            }
            ActionKind::RestartPod => {
                let pods: Api<Pod> = Api::namespaced(client, ns(req)?);
                pods.delete(name, &DeleteParams::default())
                    .await
                    .map_err(kube_err(req))?;
                Ok(Executed {
                    summary: format!(
                        "deleted pod {}/{name}; its controller replaces it",
                        ns(req)?
                    ),
                    undo: None,
                })
            }
            ActionKind::RolloutRestart => {
                let deployments: Api<Deployment> = Api::namespaced(client, ns(req)?);
                let at = chrono::Utc::now().to_rfc3339();
                let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}});
                deployments
                    .patch(name, &pp, &Patch::Merge(patch))
                    .await
                    .map_err(kube_err(req))?;
                Ok(Executed {
                    summary: format!("rollout restart of {}", req.target),
                    undo: None,
                })
            }
            ActionKind::Rollback => {
                let namespace = ns(req)?;
                let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
                let d = deployments.get(name).await.map_err(kube_err(req))?;
                let uid = d.metadata.uid.clone().unwrap_or_default();
                let revision = |rs: &ReplicaSet| {
                    rs.metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                        .and_then(|r| r.parse::<i64>().ok())
                        .unwrap_or(0)
                };
                let current = d
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                    .and_then(|r| r.parse::<i64>().ok())
                    .unwrap_or(0);
                let sets: Api<ReplicaSet> = Api::namespaced(client, namespace);
                let mut owned: Vec<ReplicaSet> = sets
                    .list(&ListParams::default())
                    .await
                    .map_err(kube_err(req))?
                    .items
                    .into_iter()
                    .filter(|rs| {
                        rs.metadata
                            .owner_references
                            .iter()
                            .flatten()
                            .any(|o| o.uid == uid)
                    })
                    .filter(|rs| revision(rs) < current)
                    .collect();
                owned.sort_by_key(|rs| std::cmp::Reverse(revision(rs)));
                let previous = owned.first().ok_or_else(|| {
                    fail(req, "no previous revision to roll back to".into(), false)
                })?;
                let mut template = previous
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.clone())
                    .ok_or_else(|| {
                        fail(req, "the previous ReplicaSet has no template".into(), false)
                    })?;
                if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
                    labels.remove("pod-template-hash");
                }
                // Replace the template whole, as `kubectl rollout undo` does, with the
                // deployment's resourceVersion as a precondition.
                let mut updated = d.clone();
                if let Some(spec) = updated.spec.as_mut() {
                    spec.template = template;
                }
                deployments
                    .replace(name, &kube::api::PostParams::default(), &updated)
                    .await
                    .map_err(kube_err(req))?;
                Ok(Executed {
                    summary: format!(
                        "rolled {} back to revision {}",
                        req.target,
                        revision(previous)
                    ),
                    undo: None,
                })
            }
            ActionKind::Cordon | ActionKind::Uncordon => {
                let nodes: Api<Node> = Api::all(client);
                let on = req.kind == ActionKind::Cordon;
                nodes
                    .patch(
                        name,
                        &pp,
                        &Patch::Merge(json!({"spec": {"unschedulable": on}})),
                    )
                    .await
                    .map_err(kube_err(req))?;
                Ok(Executed {
                    summary: format!("{} node {name}", if on { "cordoned" } else { "uncordoned" }),
                    undo: on.then(|| ActionRequest {
                        kind: ActionKind::Uncordon,
                        target: Target {
                            kind: TargetKind::Node,
                            namespace: None,
                            name: name.to_owned(),
                        },
                        params: Default::default(),
                        rationale: "undo: uncordon".into(),
                    }),
                })
            }
            ActionKind::RaiseLimit => {
                let deployments: Api<Deployment> = Api::namespaced(client, ns(req)?);
                let container = req
                    .params
                    .get("container")
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| ActError::Invalid {
                        kind: req.kind,
                        target: req.target.to_string(),
                        message: "`container` is needed".into(),
                    })?;
                let mut limits = serde_json::Map::new();
                for k in ["cpu", "memory"] {
                    if let Some(v) = req.params.get(k) {
                        limits.insert(k.into(), v.clone());
                    }
                }
                let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": container, "resources": {"limits": limits}}]}}}});
                deployments
                    .patch(name, &pp, &Patch::Strategic(patch))
                    .await
                    .map_err(kube_err(req))?;
                Ok(Executed {
                    summary: format!(
                        "raised {container}'s limits in {} to {}",
                        req.target,
                        serde_json::Value::Object(limits)
                    ),
                    undo: None,
                })
            }
            other => Err(ActError::NoExecutor(other)),
        }
    }
}
