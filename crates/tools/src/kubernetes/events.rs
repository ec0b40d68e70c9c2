//! `kubernetes.events`: recent events of a namespace, optionally about one
//! object (or the objects named after it), newest first.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

use super::client::{backend, namespace_arg, to_data};
use super::data::EventInfo;
use crate::{Observation, Tool, ToolError};

const NAME: &str = "kubernetes.events";

/// Events, newest first.
#[derive(Clone)]
pub struct Events {
    client: kube::Client,
}

impl Events {
    /// The tool over `client`.
    pub fn new(client: kube::Client) -> Events {
        Events { client }
    }
}

#[async_trait]
impl Tool for Events {
    fn name(&self) -> &'static str {
        NAME
    }

    fn description(&self) -> &'static str {
        "Events of a namespace, newest first (type, reason such as BackOff or OOMKilling, message, object, count). `object` (`name` or `Kind/name`) keeps events about that object and the objects named after it (a deployment's pods)."
    }

    fn schema(&self) -> serde_json::Value {
        json!({
            "type": "object",
            "properties": {
                "namespace": {"type": "string", "description": "Namespace; default: the kubeconfig's."},
                "object": {"type": "string", "description": "`name` or `Kind/name`; matches that name and names starting with `name-`."}
            }
        })
    }

    async fn call(&self, args: &serde_json::Value) -> Result<Observation, ToolError> {
        let namespace = namespace_arg(args, &self.client).to_owned();
        let object = crate::arg_opt_str(args, "object");
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| backend(NAME, e))?;
        let (kind, name) = match object.map(|o| o.split_once('/')) {
            Some(Some((k, n))) => (Some(k), Some(n)),
            Some(None) => (None, object),
            None => (None, None),
        };
        let mut events: Vec<(Option<k8s_openapi::jiff::Timestamp>, EventInfo)> = list
            .items
            .iter()
            .filter(|e| {
                let o = &e.involved_object;
                let on = o.name.as_deref().unwrap_or_default();
                kind.is_none_or(|k| {
                    o.kind
                        .as_deref()
                        .is_some_and(|ok| ok.eq_ignore_ascii_case(k))
                }) && name.is_none_or(|n| on == n || on.starts_with(&format!("{n}-")))
            })
            .map(|e| (last_seen(e), event_info(e)))
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.0));
        let events: Vec<EventInfo> = events.into_iter().map(|(_, e)| e).collect();
        let about = object.map(|o| format!(" about {o}")).unwrap_or_default();
        let summary = match events.first() {
            None => format!("no events in {namespace}{about}"),
            Some(_) => {
                let warnings: Vec<&EventInfo> =
                    events.iter().filter(|e| e.type_ == "Warning").collect();
                let mut line = format!(
                    "{} events in {namespace}{about}, {} warnings",
                    events.len(),
                    warnings.len()
                );
                if let Some(w) = warnings.first() {
                    line.push_str(&format!(
                        "; latest warning {} on {} (x{}): {}",
                        w.reason, w.object, w.count, w.message
                    ));
                }
                line
            }
        };
        Ok(Observation {
            tool: NAME.into(),
            summary,
            query: format!("GET /api/v1/namespaces/{namespace}/events"),
            data: to_data(NAME, &events)?,
            error: None,
        })
    }
}

fn last_seen(e: &Event) -> Option<k8s_openapi::jiff::Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn event_info(e: &Event) -> EventInfo {
    let o = &e.involved_object;
    EventInfo {
        type_: e.type_.clone().unwrap_or_else(|| "Normal".into()),
        reason: e.reason.clone().unwrap_or_default(),
        message: e.message.clone().unwrap_or_default(),
        object: format!(
            "{}/{}/{}",
            o.kind.as_deref().unwrap_or_default(),
            o.namespace.as_deref().unwrap_or_default(),
            o.name.as_deref().unwrap_or_default()
        ),
        count: e.count.unwrap_or(1),
        last_seen: last_seen(e).map(|t| t.to_string()),
    }
}
