//! get, list, create, update (PUT), patch and delete of objects and their `status`.

use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use super::table::{Printable, table, wants_table};
use super::{ApiState, Req, json_response};
use crate::error::{ApiError, qualified};
use crate::object::{Object, field_value};
use crate::patch::{PatchType, apply};
use crate::selector::{FieldSelector, LabelSelectorExpr};

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// The label and field selectors of a request.
pub fn selectors<K: Object>(req: &Req) -> Result<(LabelSelectorExpr, FieldSelector), ApiError> {
    let labels = LabelSelectorExpr::parse(req.param("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(req.param("fieldSelector").unwrap_or_default())?;
    Ok((labels, fields))
}

/// Whether `obj` matches both selectors.
pub fn selected<K: Object>(obj: &K, labels: &LabelSelectorExpr, fields: &FieldSelector) -> bool {
    labels.matches(obj.metadata().labels.as_ref()) && fields.matches(|p| field_value(obj, p))
}

/// Serves a resource path (no subresource, or `status`).
pub fn serve<K: Printable>(state: &ApiState, req: &Req) -> Result<Response, ApiError> {
    match (&req.method, req.name.as_deref()) {
        (&Method::GET, None) => list::<K>(state, req),
        (&Method::GET, Some(name)) => get::<K>(state, req, name),
        (&Method::POST, None) => create::<K>(state, req),
        (&Method::PUT, Some(name)) => replace::<K>(state, req, name),
        (&Method::PATCH, Some(name)) => patch::<K>(state, req, name),
        (&Method::DELETE, Some(name)) => delete::<K>(state, req, name),
        (&Method::DELETE, None) => delete_collection::<K>(state, req),
        _ => Err(ApiError::MethodNotAllowed),
    }
}

fn list<K: Printable>(state: &ApiState, req: &Req) -> Result<Response, ApiError> {
    let (labels, fields) = selectors::<K>(req)?;
    let cluster = state.read();
    let rv = cluster.resource_version();
    let items = cluster
        .iter::<K>(req.namespace.as_deref())
        .filter(|o| selected(*o, &labels, &fields));
    if wants_table(&req.accept) {
        let include = req.param("includeObject").unwrap_or("Metadata");
        return Ok(json_response(
            200,
            &table(items, rv, include, (state.now)()),
        ));
    }
    let items: Vec<Value> = items
        .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
        .collect();
    Ok(json_response(
        200,
        &json!({
            "kind": K::LIST_KIND,
            "apiVersion": K::API_VERSION,
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items,
        }),
    ))
}

fn get<K: Printable>(state: &ApiState, req: &Req, name: &str) -> Result<Response, ApiError> {
    let cluster = state.read();
    let obj = cluster
        .get_ref::<K>(req.namespace.as_deref(), name)
        .ok_or_else(|| ApiError::not_found(K::RESOURCE, name))?;
    if wants_table(&req.accept) && req.sub.is_none() {
        let include = req.param("includeObject").unwrap_or("Metadata");
        return Ok(json_response(
            200,
            &table([obj], cluster.resource_version(), include, (state.now)()),
        ));
    }
    Ok(json_response(200, &serde_json::to_value(obj).map_err(bad)?))
}

/// Checks the body's name and namespace against the path, filling the namespace in.
fn bind_to_path<K: Object>(req: &Req, doc: &mut Value, name: Option<&str>) -> Result<(), ApiError> {
    if !doc.is_object() {
        return Err(ApiError::BadRequest(
            "the request body must be an object".into(),
        ));
    }
    if K::RESOURCE.namespaced() {
        let path_ns = req.namespace.clone().unwrap_or_default();
        match doc.pointer("/metadata/namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != path_ns => {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
            _ => doc["metadata"]["namespace"] = json!(path_ns),
        }
    }
    if let Some(name) = name {
        match doc.pointer("/metadata/name").and_then(Value::as_str) {
            Some(n) if n != name => {
                return Err(ApiError::BadRequest(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            _ => doc["metadata"]["name"] = json!(name),
        }
    }
    Ok(())
}

fn decode<K: Object>(doc: Value, name: &str) -> Result<K, ApiError> {
    serde_json::from_value(doc).map_err(|e| ApiError::Invalid {
        resource: qualified(K::RESOURCE),
        name: name.to_string(),
        message: e.to_string(),
    })
}

fn create<K: Object>(state: &ApiState, req: &Req) -> Result<Response, ApiError> {
    let mut doc: Value = serde_json::from_slice(&req.body).map_err(bad)?;
    bind_to_path::<K>(req, &mut doc, None)?;
    if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
        ] {
            meta.remove(field);
        }
    }
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let obj: K = decode(doc, &name)?;
    let now = (state.now)();
    let created = state.write().create(obj, now)?;
    Ok(json_response(
        201,
        &serde_json::to_value(created).map_err(bad)?,
    ))
}

/// Keeps the stored status for main-resource writes, and everything but the status for
/// `status` writes, as a real API server does.
fn restrict(req: &Req, old: &Value, new: &mut Value) {
    if req.sub.as_deref() == Some("status") {
        let status = new.get("status").cloned();
        let rv = new.pointer("/metadata/resourceVersion").cloned();
        *new = old.clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        if let Some(rv) = rv {
            new["metadata"]["resourceVersion"] = rv;
        }
    } else if let Some(map) = new.as_object_mut() {
        match old.get("status") {
            Some(s) => {
                map.insert("status".into(), s.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
}

fn write_back<K: Object>(
    state: &ApiState,
    req: &Req,
    name: &str,
    mut new: Value,
    old: &Value,
) -> Result<Response, ApiError> {
    restrict(req, old, &mut new);
    bind_to_path::<K>(req, &mut new, Some(name))?;
    let obj: K = decode(new, name)?;
    let updated = state.write().update(obj)?;
    Ok(json_response(
        200,
        &serde_json::to_value(updated).map_err(bad)?,
    ))
}

fn stored<K: Object>(state: &ApiState, req: &Req, name: &str) -> Result<Value, ApiError> {
    let cluster = state.read();
    let obj = cluster
        .get_ref::<K>(req.namespace.as_deref(), name)
        .ok_or_else(|| ApiError::not_found(K::RESOURCE, name))?;
    serde_json::to_value(obj).map_err(bad)
}

fn replace<K: Object>(state: &ApiState, req: &Req, name: &str) -> Result<Response, ApiError> {
    let old = stored::<K>(state, req, name)?;
    let new: Value = serde_json::from_slice(&req.body).map_err(bad)?;
    write_back::<K>(state, req, name, new, &old)
}

fn patch<K: Object>(state: &ApiState, req: &Req, name: &str) -> Result<Response, ApiError> {
    let kind = PatchType::from_content_type(&req.content_type)?;
    let old = stored::<K>(state, req, name)?;
    let mut doc = old.clone();
    apply(&mut doc, kind, &req.body)?;
    write_back::<K>(state, req, name, doc, &old)
}

fn delete<K: Object>(state: &ApiState, req: &Req, name: &str) -> Result<Response, ApiError> {
    let deleted = state.write().delete::<K>(req.namespace.as_deref(), name)?;
    Ok(json_response(
        200,
        &serde_json::to_value(deleted).map_err(bad)?,
    ))
}

fn delete_collection<K: Object>(state: &ApiState, req: &Req) -> Result<Response, ApiError> {
    let (labels, fields) = selectors::<K>(req)?;
    let mut cluster = state.write();
    let names: Vec<(Option<String>, String)> = cluster
        .iter::<K>(req.namespace.as_deref())
        .filter(|o| selected(*o, &labels, &fields))
        .map(|o| {
            (
                o.metadata().namespace.clone(),
                o.metadata().name.clone().unwrap_or_default(),
            )
        })
        .collect();
    let mut items = Vec::new();
    for (ns, name) in names {
        if let Ok(o) = cluster.delete::<K>(ns.as_deref(), &name) {
            items.push(serde_json::to_value(o).unwrap_or(Value::Null));
        }
    }
    let rv = cluster.resource_version();
    Ok(json_response(
        200,
        &json!({"kind": K::LIST_KIND, "apiVersion": K::API_VERSION, "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    ))
}
