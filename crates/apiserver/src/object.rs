//! The kinds the server stores, and the [`Object`] trait that ties a k8s-openapi type to its typed map.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::Stores;

/// Key of an object in its typed map: namespace (empty for cluster-scoped kinds) and name.
pub type ObjectKey = (String, String);

/// One typed map of objects, ordered by namespace then name (the order a real API server lists in).
pub type ObjectMap<K> = BTreeMap<ObjectKey, K>;

/// The kinds this server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// core/v1 Namespace.
    Namespace,
    /// core/v1 Node.
    Node,
    /// core/v1 Pod.
    Pod,
    /// core/v1 Service.
    Service,
    /// core/v1 ConfigMap.
    ConfigMap,
    /// core/v1 Event.
    Event,
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 ReplicaSet.
    ReplicaSet,
}

impl ResourceKind {
    /// Every kind, in discovery order.
    pub const ALL: [ResourceKind; 8] = [
        ResourceKind::Namespace,
        ResourceKind::Node,
        ResourceKind::Pod,
        ResourceKind::Service,
        ResourceKind::ConfigMap,
        ResourceKind::Event,
        ResourceKind::Deployment,
        ResourceKind::ReplicaSet,
    ];

    /// API group ("" for core).
    pub fn group(self) -> &'static str {
        match self {
            ResourceKind::Deployment | ResourceKind::ReplicaSet => "apps",
            _ => "",
        }
    }

    /// The plural resource name used in URLs.
    pub fn plural(self) -> &'static str {
        match self {
            ResourceKind::Namespace => "namespaces",
            ResourceKind::Node => "nodes",
            ResourceKind::Pod => "pods",
            ResourceKind::Service => "services",
            ResourceKind::ConfigMap => "configmaps",
            ResourceKind::Event => "events",
            ResourceKind::Deployment => "deployments",
            ResourceKind::ReplicaSet => "replicasets",
        }
    }

    /// The singular, lower-case name.
    pub fn singular(self) -> &'static str {
        match self {
            ResourceKind::Namespace => "namespace",
            ResourceKind::Node => "node",
            ResourceKind::Pod => "pod",
            ResourceKind::Service => "service",
            ResourceKind::ConfigMap => "configmap",
            ResourceKind::Event => "event",
            ResourceKind::Deployment => "deployment",
            ResourceKind::ReplicaSet => "replicaset",
        }
    }

    /// The kind name.
    pub fn kind(self) -> &'static str {
        match self {
            ResourceKind::Namespace => "Namespace",
            ResourceKind::Node => "Node",
            ResourceKind::Pod => "Pod",
            ResourceKind::Service => "Service",
            ResourceKind::ConfigMap => "ConfigMap",
            ResourceKind::Event => "Event",
            ResourceKind::Deployment => "Deployment",
            ResourceKind::ReplicaSet => "ReplicaSet",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(self, ResourceKind::Namespace | ResourceKind::Node)
    }

    /// Short names kubectl accepts (`po`, `deploy`, ...).
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            ResourceKind::Namespace => &["ns"],
            ResourceKind::Node => &["no"],
            ResourceKind::Pod => &["po"],
            ResourceKind::Service => &["svc"],
            ResourceKind::ConfigMap => &["cm"],
            ResourceKind::Event => &["ev"],
            ResourceKind::Deployment => &["deploy"],
            ResourceKind::ReplicaSet => &["rs"],
        }
    }

    /// Subresources served for this kind.
    pub fn subresources(self) -> &'static [&'static str] {
        match self {
            ResourceKind::Pod => &["log", "status"],
            ResourceKind::Deployment | ResourceKind::ReplicaSet => &["scale", "status"],
            ResourceKind::Node | ResourceKind::Namespace | ResourceKind::Service => &["status"],
            _ => &[],
        }
    }

    /// The kind served at `group`/`plural`, if any.
    pub fn from_plural(group: &str, plural: &str) -> Option<ResourceKind> {
        ResourceKind::ALL
            .into_iter()
            .find(|k| k.group() == group && k.plural() == plural)
    }
}

/// A Kubernetes object kind the [`crate::Cluster`] stores in its own typed map.
pub trait Object:
    k8s_openapi::Resource
    + k8s_openapi::ListableResource
    + k8s_openapi::Metadata<Ty = ObjectMeta>
    + Serialize
    + DeserializeOwned
    + Clone
    + PartialEq
    + Send
    + Sync
    + IntoAny
    + 'static
{
    /// Which kind this is.
    const RESOURCE: ResourceKind;

    /// The typed map holding this kind.
    fn map(stores: &Stores) -> &ObjectMap<Self>;

    /// The typed map holding this kind, mutably.
    fn map_mut(stores: &mut Stores) -> &mut ObjectMap<Self>;

    /// Whether `self` and `other` have the same spec, for kinds whose `metadata.generation` tracks
    /// spec changes; `None` for kinds without a generation.
    fn same_spec(&self, _other: &Self) -> Option<bool> {
        None
    }

    /// The value of a field selector path beyond `metadata.name` / `metadata.namespace`.
    fn field(&self, _path: &str) -> Option<String> {
        None
    }
}

macro_rules! object_impl {
    ($ty:ty, $kind:ident, $field:ident) => {
        impl Object for $ty {
            const RESOURCE: ResourceKind = ResourceKind::$kind;
            fn map(stores: &Stores) -> &ObjectMap<Self> {
                &stores.$field
            }
            fn map_mut(stores: &mut Stores) -> &mut ObjectMap<Self> {
                &mut stores.$field
            }
        }
    };
    ($ty:ty, $kind:ident, $field:ident, $fields:expr) => {
        impl Object for $ty {
            const RESOURCE: ResourceKind = ResourceKind::$kind;
            fn map(stores: &Stores) -> &ObjectMap<Self> {
                &stores.$field
            }
            fn map_mut(stores: &mut Stores) -> &mut ObjectMap<Self> {
                &mut stores.$field
            }
            fn field(&self, path: &str) -> Option<String> {
                let f: fn(&Self, &str) -> Option<String> = $fields;
                f(self, path)
            }
        }
    };
    ($ty:ty, $kind:ident, $field:ident, $fields:expr, $spec:expr) => {
        impl Object for $ty {
            const RESOURCE: ResourceKind = ResourceKind::$kind;
            fn map(stores: &Stores) -> &ObjectMap<Self> {
                &stores.$field
            }
            fn map_mut(stores: &mut Stores) -> &mut ObjectMap<Self> {
                &mut stores.$field
            }
            fn field(&self, path: &str) -> Option<String> {
                let f: fn(&Self, &str) -> Option<String> = $fields;
                f(self, path)
            }
            fn same_spec(&self, other: &Self) -> Option<bool> {
                let f: fn(&Self, &Self) -> Option<bool> = $spec;
                f(self, other)
            }
        }
    };
}

object_impl!(Namespace, Namespace, namespaces, |o, path| match path {
    "status.phase" => o.status.as_ref().and_then(|s| s.phase.clone()),
    _ => None,
});
object_impl!(Node, Node, nodes, |o, path| match path {
    "spec.unschedulable" => Some(
        o.spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false)
            .to_string()
    ),
    _ => None,
});
object_impl!(Pod, Pod, pods, |o, path| match path {
    "spec.nodeName" => Some(
        o.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    ),
    "spec.restartPolicy" => o.spec.as_ref().and_then(|s| s.restart_policy.clone()),
    "spec.schedulerName" => o.spec.as_ref().and_then(|s| s.scheduler_name.clone()),
    "spec.serviceAccountName" => o.spec.as_ref().and_then(|s| s.service_account_name.clone()),
    "status.phase" => Some(
        o.status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default()
    ),
    "status.podIP" => Some(
        o.status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .unwrap_or_default()
    ),
    _ => None,
});
object_impl!(Service, Service, services);
object_impl!(ConfigMap, ConfigMap, configmaps);
object_impl!(Event, Event, events, |o, path| {
    let r = &o.involved_object;
    let v = match path {
        "involvedObject.kind" => r.kind.clone(),
        "involvedObject.namespace" => r.namespace.clone(),
        "involvedObject.name" => r.name.clone(),
        "involvedObject.uid" => r.uid.clone(),
        "involvedObject.apiVersion" => r.api_version.clone(),
        "involvedObject.resourceVersion" => r.resource_version.clone(),
        "involvedObject.fieldPath" => r.field_path.clone(),
        "reason" => o.reason.clone(),
        "type" => o.type_.clone(),
        "source" => o.source.as_ref().and_then(|s| s.component.clone()),
        "reportingComponent" => o.reporting_component.clone(),
        _ => return None,
    };
    Some(v.unwrap_or_default())
});
object_impl!(Deployment, Deployment, deployments, |_, _| None, |a, b| {
    Some(a.spec == b.spec)
});
object_impl!(
    ReplicaSet,
    ReplicaSet,
    replicasets,
    |o, path| match path {
        "status.replicas" => Some(
            o.status
                .as_ref()
                .map(|s| s.replicas)
                .unwrap_or(0)
                .to_string()
        ),
        _ => None,
    },
    |a, b| Some(a.spec == b.spec)
);

/// A stored object of any kind, as kept in the watch history.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyObject {
    /// A Namespace.
    Namespace(Namespace),
    /// A Node.
    Node(Node),
    /// A Pod.
    Pod(Pod),
    /// A Service.
    Service(Service),
    /// A ConfigMap.
    ConfigMap(ConfigMap),
    /// An Event.
    Event(Event),
    /// A Deployment.
    Deployment(Deployment),
    /// A ReplicaSet.
    ReplicaSet(ReplicaSet),
}

/// Conversion of a typed object into [`AnyObject`].
pub trait IntoAny {
    /// Wraps the object.
    fn into_any(self) -> AnyObject;
    /// The object inside `any`, if it is of this kind.
    fn from_any(any: &AnyObject) -> Option<&Self>;
}

macro_rules! into_any {
    ($($ty:ident),*) => {
        $(impl IntoAny for $ty {
            fn into_any(self) -> AnyObject {
                AnyObject::$ty(self)
            }
            #[allow(unreachable_patterns)]
            fn from_any(any: &AnyObject) -> Option<&Self> {
                match any {
                    AnyObject::$ty(o) => Some(o),
                    _ => None,
                }
            }
        })*

        impl AnyObject {
            /// The object as JSON, with `apiVersion` and `kind`.
            pub fn to_json(&self) -> serde_json::Value {
                match self {
                    $(AnyObject::$ty(o) => serde_json::to_value(o).unwrap_or(serde_json::Value::Null),)*
                }
            }

            /// The object's metadata.
            pub fn meta(&self) -> &ObjectMeta {
                match self {
                    $(AnyObject::$ty(o) => &o.metadata,)*
                }
            }

            /// A field selector value for this object (see [`field_value`]).
            pub fn field(&self, path: &str) -> Option<String> {
                match self {
                    $(AnyObject::$ty(o) => field_value(o, path),)*
                }
            }
        }
    };
}

into_any!(
    Namespace, Node, Pod, Service, ConfigMap, Event, Deployment, ReplicaSet
);

/// The value of a field selector path for an object: `metadata.name`, `metadata.namespace`, or a
/// kind-specific field.
pub fn field_value<K: Object>(obj: &K, path: &str) -> Option<String> {
    match path {
        "metadata.name" => Some(obj.metadata().name.clone().unwrap_or_default()),
        "metadata.namespace" => Some(obj.metadata().namespace.clone().unwrap_or_default()),
        _ => obj.field(path),
    }
}
