//! Event recording with aggregation, like client-go's event recorder: a repeat of the same
//! (object, reason, message, type, source) bumps `count` and `lastTimestamp` of the first event.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::error::ApiError;
use crate::object::Object;
use crate::store::Cluster;
use crate::time::to_time;

/// A reference to `obj` for an event's `involvedObject` or an owner lookup.
pub fn object_reference<K: Object>(obj: &K) -> ObjectReference {
    let meta = obj.metadata();
    ObjectReference {
        api_version: Some(K::API_VERSION.to_string()),
        kind: Some(K::KIND.to_string()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

/// The component a real cluster would report an event with this reason from.
fn default_component(involved: &ObjectReference, reason: &str) -> &'static str {
    match (involved.kind.as_deref(), reason) {
        (_, "Scheduled" | "FailedScheduling") => "default-scheduler",
        (Some("Pod"), _) => "kubelet",
        (Some("Node"), "NodeNotReady") => "node-controller",
        (Some("Node"), _) => "kubelet",
        (Some("Deployment"), _) => "deployment-controller",
        (Some("ReplicaSet"), _) => "replicaset-controller",
        _ => "pagerless-lab",
    }
}

impl Cluster {
    /// Records an event about `involved`, from the component a real cluster would use for this
    /// reason (kubelet for pods, default-scheduler for scheduling, ...). See [`Cluster::record_event_from`].
    pub fn record_event(
        &mut self,
        involved: ObjectReference,
        reason: &str,
        message: &str,
        type_: &str,
        now: DateTime<Utc>,
    ) -> Result<Event, ApiError> {
        let component = default_component(&involved, reason);
        self.record_event_from(component, involved, reason, message, type_, now)
    }

    /// Records an event from `component`. Events of cluster-scoped objects go to `default`. A
    /// repeat of the same object, reason, message, type and component increments `count` and sets
    /// `lastTimestamp` on the existing event instead of adding one.
    pub fn record_event_from(
        &mut self,
        component: &str,
        involved: ObjectReference,
        reason: &str,
        message: &str,
        type_: &str,
        now: DateTime<Utc>,
    ) -> Result<Event, ApiError> {
        let namespace = involved
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let key = format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{reason}\u{0}{message}\u{0}{type_}\u{0}{component}",
            involved.kind.as_deref().unwrap_or_default(),
            namespace,
            involved.name.as_deref().unwrap_or_default(),
            involved.uid.as_deref().unwrap_or_default(),
            involved.field_path.as_deref().unwrap_or_default(),
        );
        if let Some((ns, name)) = self.event_index.get(&key).cloned()
            && let Some(mut existing) = self.get::<Event>(Some(&ns), &name)
        {
            existing.count = Some(existing.count.unwrap_or(1) + 1);
            existing.last_timestamp = Some(to_time(now));
            existing.metadata.resource_version = None;
            return self.update(existing);
        }
        let base = involved.name.clone().unwrap_or_default();
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let mut name = format!("{base}.{nanos:x}");
        while self.get_ref::<Event>(Some(&namespace), &name).is_some() {
            let seq = self.next_sequence();
            name = format!("{base}.{:x}", nanos.wrapping_add(seq as i64));
        }
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: involved,
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            type_: Some(type_.to_string()),
            count: Some(1),
            first_timestamp: Some(to_time(now)),
            last_timestamp: Some(to_time(now)),
            source: Some(EventSource {
                component: Some(component.to_string()),
                host: None,
            }),
            reporting_component: Some(component.to_string()),
            reporting_instance: Some(component.to_string()),
            ..Default::default()
        };
        let created = self.create_inner(event, now, false)?;
        self.event_index.insert(key, (namespace, name));
        Ok(created)
    }
}
