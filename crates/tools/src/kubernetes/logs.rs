//! `kubernetes.logs`: a container's log, or its previous instance's.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use serde_json::json;

use super::client::{backend, to_data};
use super::data::LogLines;
use crate::{Observation, Tool, ToolError, arg_str};

const NAME: &str = "kubernetes.logs";

/// Lines kept when `tail` is not given.
const DEFAULT_TAIL: i64 = 200;

/// A container's log lines.
#[derive(Clone)]
pub struct Logs {
    client: kube::Client,
}

impl Logs {
    /// The tool over `client`.
    pub fn new(client: kube::Client) -> Logs {
        Logs { client }
    }
}

#[async_trait]
impl Tool for Logs {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "The last lines of a pod's container log; `previous: true` reads the instance that ended (what it said before it was OOM-killed or crashed)."
    }

    fn schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "namespace": {"type": "string"},
                "pod": {"type": "string"},
                "container": {"type": "string", "description": "Default: the pod's only container."},
                "previous": {"type": "boolean", "description": "The previous instance's log. Default: false."},
                "tail": {"type": "integer", "description": "Lines from the end. Default: 200."}
            },
            "required": ["namespace", "pod"]
        })
    }

    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError> {
        let namespace = arg_str(NAME, args, "namespace")?;
        let pod = arg_str(NAME, args, "pod")?;
        let container = crate::arg_opt_str(args, "container");
        let previous = args
            .get("previous")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        let tail = match args.get("tail") {
            None | Some(serde_json::Value::Null) => DEFAULT_TAIL,
            Some(v) => v
                .as_i64()
                .filter(|t| *t > 0)
                .ok_or_else(|| ToolError::BadArguments {
                    tool: NAME.into(),
                    message: "`tail` must be a positive integer".into(),
                })?,
        };
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = LogParams {
            container: container.map(str::to_owned),
            previous,
            tail_lines: Some(tail),
            ..LogParams::default()
        };
        let text = api.logs(pod, &params).await.map_err(|e| backend(NAME, e))?;
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut query =
            format!("GET /api/v1/namespaces/{namespace}/pods/{pod}/log?tailLines={tail}");
        if let Some(c) = container {
            query.push_str(&format!("&container={c}"));
        }
        if previous {
            query.push_str("&previous=true");
        }
        let which = if previous { "previous " } else { "" };
        let summary = match lines.last() {
            None => format!("{pod}: {which}log is empty"),
            Some(last) => format!("{pod}: {} {which}log lines, last: {last}", lines.len()),
        };
        let data = LogLines {
            pod: pod.to_owned(),
            container: container.map(str::to_owned),
            previous,
            lines,
        };
        Ok(Observation {
            tool: NAME.into(),
            summary,
            query,
            data: to_data(NAME, &data)?,
            error: None,
        })
    }
}
