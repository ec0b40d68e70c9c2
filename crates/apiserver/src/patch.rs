//! PATCH semantics: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the strategic merge
//! patch kubectl sends for built-in kinds (lists merged by their patch merge key, `$patch`
//! directives honoured, `$setElementOrder` / `$retainKeys` accepted and ignored).

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The patch flavours, from the request's Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    StrategicMerge,
    /// `application/json-patch+json`.
    Json,
    /// `application/apply-patch+yaml` (server-side apply, treated as a merge of JSON bodies).
    Apply,
}

impl PatchType {
    /// The patch type named by a Content-Type header.
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::StrategicMerge),
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchType::Apply),
            _ => Err(ApiError::UnsupportedMediaType(
                "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"
                    .into(),
            )),
        }
    }
}

/// Applies `patch` (raw body) of type `kind` to `doc`.
pub fn apply(doc: &mut Value, kind: PatchType, patch: &[u8]) -> Result<(), ApiError> {
    match kind {
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_slice(patch)
                .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
            json_patch::patch(doc, &p)
                .map_err(|e| ApiError::Invalid {
                    resource: String::new(),
                    name: String::new(),
                    message: e.to_string(),
                })
                .map_err(|e| ApiError::BadRequest(e.to_string()))
        }
        PatchType::Merge | PatchType::Apply => {
            let p = parse(patch)?;
            json_patch::merge(doc, &p);
            Ok(())
        }
        PatchType::StrategicMerge => {
            let p = parse(patch)?;
            strategic_merge(doc, &p, "");
            Ok(())
        }
    }
}

fn parse(patch: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(patch)
        .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))
}

/// The patch merge key of list field `field` whose parent field is `parent`, for built-in kinds.
pub fn merge_key(parent: &str, field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "ports"
            if matches!(
                parent,
                "containers" | "initContainers" | "ephemeralContainers"
            ) =>
        {
            "containerPort"
        }
        "ports" => "port",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "taints" => "key",
        "addresses" => "type",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Strategic merge of `patch` into `target`; `parent` is the field holding `target`.
pub fn strategic_merge(target: &mut Value, patch: &Value, parent: &str) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    match patch_map.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = Value::Object(strip_directives(patch_map));
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(remove)) =
                (target_map.get_mut(field), value)
            {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                target_map.remove(key);
            }
            Value::Object(_) => {
                let slot = target_map.entry(key.clone()).or_insert(Value::Null);
                strategic_merge(slot, value, key);
                if slot.is_null() {
                    target_map.remove(key);
                }
            }
            Value::Array(items) => match merge_key(parent, key) {
                Some(mk) if items.iter().all(Value::is_object) => {
                    let slot = target_map
                        .entry(key.clone())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    merge_list(slot, items, mk, key);
                }
                _ => {
                    target_map.insert(key.clone(), Value::Array(items.clone()));
                }
            },
            _ => {
                target_map.insert(key.clone(), value.clone());
            }
        }
    }
}

fn strip_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn merge_list(target: &mut Value, items: &[Value], key: &str, field: &str) {
    if !target.is_array() {
        *target = Value::Array(Vec::new());
    }
    let Value::Array(list) = target else { return };
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *list = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .filter_map(|i| i.as_object().map(|m| Value::Object(strip_directives(m))))
            .collect();
        return;
    }
    for item in items {
        let id = item.get(key);
        let pos = id.and_then(|id| list.iter().position(|e| e.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(p), true) => {
                list.remove(p);
            }
            (None, true) => {}
            (Some(p), false) => strategic_merge(&mut list[p], item, field),
            (None, false) => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, item, field);
                list.push(fresh);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"metadata": {"name": "d", "annotations": {"a": "1"}},
               "spec": {"replicas": 2, "template": {"spec": {"containers": [
                   {"name": "app", "image": "app:1", "env": [{"name": "X", "value": "1"}]},
                   {"name": "side", "image": "side:1"}]}}}})
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut d = deployment();
        let p = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
            "containers": [{"name": "app", "image": "app:2",
                            "resources": {"limits": {"memory": "1Gi"}}}]}}}});
        apply(&mut d, PatchType::StrategicMerge, p.to_string().as_bytes()).unwrap();
        let cs = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs.as_array().unwrap().len(), 2);
        assert_eq!(cs[0]["image"], "app:2");
        assert_eq!(cs[0]["env"][0]["value"], "1");
        assert_eq!(cs[0]["resources"]["limits"]["memory"], "1Gi");
        assert_eq!(cs[1]["image"], "side:1");
    }

    #[test]
    fn strategic_merge_directives_and_nulls() {
        let mut d = deployment();
        let p = json!({"metadata": {"annotations": {"a": null, "b": "2"}},
                       "spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}});
        apply(&mut d, PatchType::StrategicMerge, p.to_string().as_bytes()).unwrap();
        assert_eq!(d["metadata"]["annotations"], json!({"b": "2"}));
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "n"}, {"$patch": "replace"}]}}}});
        apply(&mut d, PatchType::StrategicMerge, p.to_string().as_bytes()).unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "new", "image": "n"}])
        );
    }

    #[test]
    fn merge_patch_replaces_lists() {
        let mut d = deployment();
        let p = json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "only"}]}}}});
        apply(&mut d, PatchType::Merge, p.to_string().as_bytes()).unwrap();
        assert_eq!(d["spec"]["replicas"], 5);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "only"}])
        );
    }

    #[test]
    fn json_patch_replace_and_test() {
        let mut d = deployment();
        let p = json!([{"op": "test", "path": "/spec/replicas", "value": 2},
                       {"op": "replace", "path": "/spec/template", "value": {"spec": {}}},
                       {"op": "replace", "path": "/metadata/annotations", "value": {"z": "9"}}]);
        apply(&mut d, PatchType::Json, p.to_string().as_bytes()).unwrap();
        assert_eq!(d["spec"]["template"], json!({"spec": {}}));
        assert_eq!(d["metadata"]["annotations"], json!({"z": "9"}));
        let bad = json!([{"op": "test", "path": "/spec/replicas", "value": 7}]);
        assert!(apply(&mut d, PatchType::Json, bad.to_string().as_bytes()).is_err());
        assert!(PatchType::from_content_type("text/plain").is_err());
    }
}
