//! `pods/{name}/log`: the lab's logs with `container`, `previous`, `tailLines`, `limitBytes` and
//! `timestamps`, and the errors a real kubelet gives.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::core::v1::Pod;

use super::{ApiState, Req};
use crate::error::ApiError;
use crate::object::ResourceKind;
use crate::time::rfc3339_nano;

/// Keeps the last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].iter().map(|l| format!("{l}\n")).collect()
}

/// Serves a pod's log.
pub fn serve(state: &ApiState, req: &Req) -> Result<Response, ApiError> {
    let name = req.name.clone().unwrap_or_default();
    let ns = req.namespace.clone().unwrap_or_default();
    let containers: Vec<String> = {
        let cluster = state.read();
        let pod = cluster
            .get_ref::<Pod>(Some(&ns), &name)
            .ok_or_else(|| ApiError::not_found(ResourceKind::Pod, &name))?;
        pod.spec
            .as_ref()
            .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default()
    };
    let container = match req.param("container") {
        Some(c) if !c.is_empty() => {
            if !containers.iter().any(|x| x == c) {
                return Err(ApiError::BadRequest(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.to_string()
        }
        _ if containers.len() == 1 => containers[0].clone(),
        _ => {
            return Err(ApiError::BadRequest(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let previous = req.flag("previous");
    let Some(mut text) = state.logs.logs(&ns, &name, Some(&container), previous) else {
        if previous {
            return Err(ApiError::BadRequest(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        }
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain")],
            String::new(),
        )
            .into_response());
    };
    if let Some(n) = req.param("tailLines").and_then(|n| n.parse::<usize>().ok()) {
        text = tail(&text, n);
    }
    if req.flag("timestamps") {
        let stamp = rfc3339_nano((state.now)());
        text = text.lines().map(|l| format!("{stamp} {l}\n")).collect();
    }
    if let Some(limit) = req
        .param("limitBytes")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let mut cut = limit.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(super::tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(super::tail("a\nb", 5), "a\nb\n");
        assert_eq!(super::tail("", 5), "");
    }
}
