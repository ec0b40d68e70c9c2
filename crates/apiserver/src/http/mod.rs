//! The HTTP face of the cluster: the paths, verbs and media types kubectl 1.32 and kube-rs use.
//! Each request takes the cluster lock once, briefly; watches poll the change history after
//! each change notification without holding it.

pub mod discovery;
pub mod logs;
pub mod metrics;
pub mod resources;
pub mod scale;
pub mod table;
pub mod watch;

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, Service};
use serde_json::Value;

use crate::error::ApiError;
use crate::object::ResourceKind;
use crate::sources::{LogSource, MetricsSource};
use crate::store::Cluster;

/// Everything the HTTP layer needs: the cluster (shared with the lab), logs, metrics and the
/// lab's (virtual) clock, used for creation timestamps and ages.
#[derive(Clone)]
pub struct ApiState {
    /// The cluster; HTTP writes mutate it, so the lab sees them on its next step.
    pub cluster: Arc<RwLock<Cluster>>,
    /// Container logs.
    pub logs: Arc<dyn LogSource>,
    /// Resource usage for `kubectl top`.
    pub metrics: Arc<dyn MetricsSource>,
    /// The current time.
    pub now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

impl ApiState {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Cluster> {
        self.cluster.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Cluster> {
        self.cluster.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The axum router serving the Kubernetes API for `state`.
pub fn router(state: ApiState) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// One request for a resource, parsed from the path, query and headers.
#[derive(Debug, Clone)]
pub struct Req {
    /// The HTTP method.
    pub method: Method,
    /// The kind addressed.
    pub kind: ResourceKind,
    /// The namespace in the path, if any.
    pub namespace: Option<String>,
    /// The object name, if any.
    pub name: Option<String>,
    /// The subresource (`status`, `scale`, `log`), if any.
    pub sub: Option<String>,
    /// Query parameters.
    pub query: HashMap<String, String>,
    /// The Accept header.
    pub accept: String,
    /// The Content-Type header.
    pub content_type: String,
    /// The request body.
    pub body: Bytes,
}

impl Req {
    /// A query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    /// A boolean query parameter (`1`, `true`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("1" | "true" | "True"))
    }
}

/// Where a path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/api/v1`, `/apis/{group}/{version}`: the resource list of a group version.
    Resources(String, String),
    /// A resource path: kind, namespace, name, subresource.
    Resource(ResourceKind, Option<String>, Option<String>, Option<String>),
    /// `metrics.k8s.io/v1beta1`: `pods` or `nodes`, namespace, name.
    Metrics(String, Option<String>, Option<String>),
    /// Anything else.
    Unknown,
}

/// Parses a request path.
pub fn route(path: &str) -> Route {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Route::Version,
        ["api"] => return Route::CoreVersions,
        ["apis"] => return Route::Groups,
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Route::Unknown,
    };
    if rest.is_empty() {
        return Route::Resources(group.to_string(), version.to_string());
    }
    let owned = |s: &&str| Some(s.to_string());
    if group == "metrics.k8s.io" {
        return match rest {
            [plural] => Route::Metrics(plural.to_string(), None, None),
            [plural, name] => Route::Metrics(plural.to_string(), None, owned(name)),
            ["namespaces", ns, plural] => Route::Metrics(plural.to_string(), owned(ns), None),
            ["namespaces", ns, plural, name] => {
                Route::Metrics(plural.to_string(), owned(ns), owned(name))
            }
            _ => Route::Unknown,
        };
    }
    let supported = matches!((group, version), ("", "v1") | ("apps", "v1"));
    if !supported {
        return Route::Unknown;
    }
    let kind = |plural: &str| ResourceKind::from_plural(group, plural);
    let found = match rest {
        [plural] => kind(plural).map(|k| (k, None, None, None)),
        ["namespaces", ns, plural] if group.is_empty() && kind(plural).is_none() => {
            Some((ResourceKind::Namespace, None, owned(ns), owned(plural)))
        }
        ["namespaces", ns, plural] => kind(plural).map(|k| (k, owned(ns), None, None)),
        ["namespaces", ns, plural, name] => kind(plural).map(|k| (k, owned(ns), owned(name), None)),
        ["namespaces", ns, plural, name, sub] => {
            kind(plural).map(|k| (k, owned(ns), owned(name), owned(sub)))
        }
        [plural, name] => kind(plural).map(|k| (k, None, owned(name), None)),
        [plural, name, sub] => kind(plural).map(|k| (k, None, owned(name), owned(sub))),
        _ => None,
    };
    match found {
        Some((k, ns, name, sub)) => {
            let ns = if k.namespaced() { ns } else { None };
            Route::Resource(k, ns, name, sub)
        }
        None => Route::Unknown,
    }
}

/// A JSON response.
pub fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The `Status` response for an error.
pub fn error_response(e: &ApiError) -> Response {
    json_response(e.code(), &e.to_status())
}

macro_rules! for_kind {
    ($kind:expr, $f:ident, $($arg:expr),*) => {
        match $kind {
            ResourceKind::Namespace => $f::<Namespace>($($arg),*),
            ResourceKind::Node => $f::<Node>($($arg),*),
            ResourceKind::Pod => $f::<Pod>($($arg),*),
            ResourceKind::Service => $f::<Service>($($arg),*),
            ResourceKind::ConfigMap => $f::<ConfigMap>($($arg),*),
            ResourceKind::Event => $f::<Event>($($arg),*),
            ResourceKind::Deployment => $f::<Deployment>($($arg),*),
            ResourceKind::ReplicaSet => $f::<ReplicaSet>($($arg),*),
        }
    };
}

async fn dispatch(
    axum::extract::State(state): axum::extract::State<ApiState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> = axum::extract::Query::try_from_uri(&uri)
        .map(|q: axum::extract::Query<HashMap<String, String>>| q.0)
        .unwrap_or_default();
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let result = match route(uri.path()) {
        Route::Version => Ok(json_response(200, &discovery::version())),
        Route::CoreVersions => Ok(json_response(200, &discovery::core_versions())),
        Route::Groups => Ok(json_response(200, &discovery::groups())),
        Route::Resources(g, v) => discovery::resources(&g, &v).map(|r| json_response(200, &r)),
        Route::Metrics(what, ns, name) => {
            metrics::serve(&state, &what, ns.as_deref(), name.as_deref(), &query)
        }
        Route::Unknown => Err(ApiError::UnknownPath),
        Route::Resource(kind, namespace, name, sub) => {
            let req = Req {
                method,
                kind,
                namespace,
                name,
                sub,
                query,
                accept: header(header::ACCEPT),
                content_type: header(header::CONTENT_TYPE),
                body,
            };
            tracing::debug!(method = %req.method, path = %uri, "api request");
            if !req.body.is_empty() && req.content_type.contains("protobuf") {
                return error_response(&ApiError::UnsupportedMediaType(
                    "application/json, application/yaml".into(),
                ));
            }
            match req.sub.as_deref() {
                Some("log") if kind == ResourceKind::Pod => logs::serve(&state, &req),
                Some("scale") if kind == ResourceKind::Deployment => {
                    scale::serve::<Deployment>(&state, &req)
                }
                Some("scale") if kind == ResourceKind::ReplicaSet => {
                    scale::serve::<ReplicaSet>(&state, &req)
                }
                Some("status") | None => for_kind!(kind, serve_resource, &state, &req),
                Some(_) => Err(ApiError::UnknownPath),
            }
        }
    };
    result.unwrap_or_else(|e| error_response(&e))
}

fn serve_resource<K: table::Printable>(state: &ApiState, req: &Req) -> Result<Response, ApiError> {
    if req.method == Method::GET && req.name.is_none() && req.flag("watch") {
        return watch::serve::<K>(state, req);
    }
    resources::serve::<K>(state, req)
}

/// A streaming response body from a channel of chunks.
pub(crate) fn channel_body(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("/api/v1/namespaces/shop/pods/x/log"),
            Route::Resource(
                ResourceKind::Pod,
                Some("shop".into()),
                Some("x".into()),
                Some("log".into())
            )
        );
        assert_eq!(
            route("/api/v1/pods"),
            Route::Resource(ResourceKind::Pod, None, None, None)
        );
        assert_eq!(
            route("/api/v1/namespaces/shop"),
            Route::Resource(ResourceKind::Namespace, None, Some("shop".into()), None)
        );
        assert_eq!(
            route("/api/v1/namespaces/shop/status"),
            Route::Resource(
                ResourceKind::Namespace,
                None,
                Some("shop".into()),
                Some("status".into())
            )
        );
        assert_eq!(
            route("/apis/apps/v1/namespaces/shop/deployments/web/scale"),
            Route::Resource(
                ResourceKind::Deployment,
                Some("shop".into()),
                Some("web".into()),
                Some("scale".into())
            )
        );
        assert_eq!(
            route("/api/v1/nodes/n1"),
            Route::Resource(ResourceKind::Node, None, Some("n1".into()), None)
        );
        assert_eq!(
            route("/apis/apps/v1"),
            Route::Resources("apps".into(), "v1".into())
        );
        assert_eq!(
            route("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods"),
            Route::Metrics("pods".into(), Some("shop".into()), None)
        );
        assert_eq!(route("/openapi/v2"), Route::Unknown);
        assert_eq!(route("/apis/batch/v1/jobs"), Route::Unknown);
    }
}
