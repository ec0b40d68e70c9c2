//! The `scale` subresource (autoscaling/v1 `Scale`) of Deployments and ReplicaSets: GET, PUT
//! and PATCH, as `kubectl scale` uses it.

use axum::http::Method;
use axum::response::Response;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec, ScaleStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::{ApiState, Req, json_response};
use crate::error::ApiError;
use crate::object::Object;
use crate::patch::{PatchType, apply};
use crate::selector::LabelSelectorExpr;

/// A kind with a scale subresource.
pub trait Scalable: Object {
    /// `spec.replicas` (default 1).
    fn replicas(&self) -> i32;
    /// Sets `spec.replicas`.
    fn set_replicas(&mut self, replicas: i32);
    /// `status.replicas`.
    fn status_replicas(&self) -> i32;
    /// `spec.selector`.
    fn selector(&self) -> Option<&LabelSelector>;
}

impl Scalable for Deployment {
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn set_replicas(&mut self, replicas: i32) {
        self.spec.get_or_insert_with(Default::default).replicas = Some(replicas);
    }
    fn status_replicas(&self) -> i32 {
        self.status.as_ref().and_then(|s| s.replicas).unwrap_or(0)
    }
    fn selector(&self) -> Option<&LabelSelector> {
        self.spec.as_ref().map(|s| &s.selector)
    }
}

impl Scalable for ReplicaSet {
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn set_replicas(&mut self, replicas: i32) {
        self.spec.get_or_insert_with(Default::default).replicas = Some(replicas);
    }
    fn status_replicas(&self) -> i32 {
        self.status.as_ref().map_or(0, |s| s.replicas)
    }
    fn selector(&self) -> Option<&LabelSelector> {
        self.spec.as_ref().map(|s| &s.selector)
    }
}

/// The Scale view of an object.
pub fn scale_of<K: Scalable>(obj: &K) -> Scale {
    let meta = obj.metadata();
    Scale {
        metadata: ObjectMeta {
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            creation_timestamp: meta.creation_timestamp.clone(),
            ..Default::default()
        },
        spec: Some(ScaleSpec {
            replicas: Some(obj.replicas()),
        }),
        status: Some(ScaleStatus {
            replicas: obj.status_replicas(),
            selector: obj
                .selector()
                .map(|s| LabelSelectorExpr::from_label_selector(s).to_query()),
        }),
    }
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// Serves `{resource}/{name}/scale`.
pub fn serve<K: Scalable>(state: &ApiState, req: &Req) -> Result<Response, ApiError> {
    let name = req.name.clone().unwrap_or_default();
    let ns = req.namespace.as_deref();
    let mut cluster = state.write();
    let Some(obj) = cluster.get::<K>(ns, &name) else {
        return Err(ApiError::not_found(K::RESOURCE, &name));
    };
    let current = scale_of(&obj);
    let wanted: Scale = match req.method {
        Method::GET => {
            return Ok(json_response(
                200,
                &serde_json::to_value(&current).map_err(bad)?,
            ));
        }
        Method::PUT => serde_json::from_slice(&req.body).map_err(bad)?,
        Method::PATCH => {
            let mut doc = serde_json::to_value(&current).map_err(bad)?;
            apply(
                &mut doc,
                PatchType::from_content_type(&req.content_type)?,
                &req.body,
            )?;
            serde_json::from_value(doc).map_err(bad)?
        }
        _ => return Err(ApiError::MethodNotAllowed),
    };
    let replicas = wanted.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::Invalid {
            resource: crate::error::qualified(K::RESOURCE),
            name,
            message: "spec.replicas: Invalid value: must be greater than or equal to 0".into(),
        });
    }
    let mut next = obj;
    next.metadata_mut().resource_version = wanted.metadata.resource_version.clone();
    next.set_replicas(replicas);
    let updated = cluster.update(next)?;
    Ok(json_response(
        200,
        &serde_json::to_value(scale_of(&updated)).map_err(bad)?,
    ))
}
