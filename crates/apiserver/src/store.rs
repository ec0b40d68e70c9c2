//! The typed object store: one ordered map per kind, a global resourceVersion, and a bounded watch
//! history per kind so watchers can resume from a version.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, Service};

use crate::error::{ApiError, qualified};
use crate::object::{AnyObject, Object, ObjectKey, ObjectMap, ResourceKind};
use crate::time::to_time;

/// How many watch events are kept per kind for watchers resuming from a resourceVersion.
pub const HISTORY_PER_KIND: usize = 20_000;

/// The typed maps, one per kind.
#[derive(Debug, Default, Clone)]
pub struct Stores {
    pub(crate) namespaces: ObjectMap<Namespace>,
    pub(crate) nodes: ObjectMap<Node>,
    pub(crate) pods: ObjectMap<Pod>,
    pub(crate) services: ObjectMap<Service>,
    pub(crate) configmaps: ObjectMap<ConfigMap>,
    pub(crate) events: ObjectMap<Event>,
    pub(crate) deployments: ObjectMap<Deployment>,
    pub(crate) replicasets: ObjectMap<ReplicaSet>,
}

/// The type of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchEventType {
    /// The object was created.
    Added,
    /// The object changed.
    Modified,
    /// The object was deleted.
    Deleted,
}

impl WatchEventType {
    /// The wire name: `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchEventType::Added => "ADDED",
            WatchEventType::Modified => "MODIFIED",
            WatchEventType::Deleted => "DELETED",
        }
    }
}

/// One change, as retained for watchers.
#[derive(Clone, Debug)]
pub struct WatchRecord {
    /// The resourceVersion of the change.
    pub resource_version: u64,
    /// What happened.
    pub event: WatchEventType,
    /// The object after the change (before it, for a deletion, with the new version).
    pub object: AnyObject,
}

#[derive(Debug, Default, Clone)]
struct History {
    records: VecDeque<WatchRecord>,
    /// Versions at or below this one have been evicted.
    evicted_through: u64,
}

/// Typed object store. Every mutation assigns uid (on create), a global increasing
/// resourceVersion, creationTimestamp (on create, from the `now` passed in), bumps
/// metadata.generation when a Deployment's or ReplicaSet's spec changes, and emits a watch event.
/// Updates that change nothing are no-ops, as on a real API server.
#[derive(Debug)]
pub struct Cluster {
    pub(crate) stores: Stores,
    resource_version: u64,
    sequence: u64,
    history: BTreeMap<ResourceKind, History>,
    /// Aggregation key of an event -> its (namespace, name), for `record_event`.
    pub(crate) event_index: std::collections::HashMap<String, ObjectKey>,
    notify: tokio::sync::watch::Sender<u64>,
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

fn key_of(namespace: Option<&str>, name: &str) -> ObjectKey {
    (namespace.unwrap_or_default().to_string(), name.to_string())
}

/// SplitMix64: a deterministic mixer for names and uids.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The alphabet Kubernetes uses for generated name suffixes (no vowels, no confusable digits).
pub(crate) const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A `len`-character suffix from the Kubernetes name alphabet, derived from `seed`.
pub(crate) fn name_suffix(seed: u64, len: usize) -> String {
    let mut x = mix(seed);
    (0..len)
        .map(|_| {
            let c = NAME_ALPHABET[(x % NAME_ALPHABET.len() as u64) as usize] as char;
            x /= NAME_ALPHABET.len() as u64;
            c
        })
        .collect()
}

impl Cluster {
    /// An empty cluster.
    pub fn new() -> Self {
        let (notify, _) = tokio::sync::watch::channel(0);
        Cluster {
            stores: Stores::default(),
            resource_version: 0,
            sequence: 0,
            history: BTreeMap::new(),
            event_index: Default::default(),
            notify,
        }
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// A receiver that changes whenever the resourceVersion does; watchers wait on it.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// The next value of the deterministic sequence used for uids and generated names.
    pub(crate) fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    fn next_uid(&mut self) -> String {
        let s = self.next_sequence();
        let a = mix(s);
        let b = mix(a ^ 0x5bd1_e995);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (a >> 32) as u32,
            (a >> 16) as u16,
            a & 0xfff,
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }

    fn bump(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    fn record(&mut self, kind: ResourceKind, event: WatchEventType, object: AnyObject) {
        let rv = self.resource_version;
        let history = self.history.entry(kind).or_default();
        history.records.push_back(WatchRecord {
            resource_version: rv,
            event,
            object,
        });
        while history.records.len() > HISTORY_PER_KIND {
            if let Some(old) = history.records.pop_front() {
                history.evicted_through = old.resource_version;
            }
        }
        self.notify.send_replace(rv);
    }

    /// Changes to `kind` after `since`, or `Gone` if some of them were evicted.
    pub fn changes_since(
        &self,
        kind: ResourceKind,
        since: u64,
    ) -> Result<impl Iterator<Item = &WatchRecord>, ApiError> {
        let history = self.history.get(&kind);
        let evicted = history.map(|h| h.evicted_through).unwrap_or(0);
        if since < evicted {
            return Err(ApiError::Gone {
                requested: since,
                oldest: evicted + 1,
            });
        }
        Ok(history
            .into_iter()
            .flat_map(|h| h.records.iter())
            .skip_while(move |r| r.resource_version <= since))
    }

    /// Stores a new object: assigns uid, resourceVersion, creationTimestamp (`now`), generation
    /// 1 for Deployments and ReplicaSets, and a name from `generateName` when it has none.
    pub fn create<K: Object>(&mut self, obj: K, now: DateTime<Utc>) -> Result<K, ApiError> {
        self.create_inner(obj, now, true)
    }

    pub(crate) fn create_inner<K: Object>(
        &mut self,
        mut obj: K,
        now: DateTime<Utc>,
        namespace_must_exist: bool,
    ) -> Result<K, ApiError> {
        let kind = K::RESOURCE;
        if obj
            .metadata()
            .name
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            let Some(prefix) = obj.metadata().generate_name.clone() else {
                return Err(ApiError::Invalid {
                    resource: qualified(kind),
                    name: String::new(),
                    message: "metadata.name: Required value: name or generateName is required"
                        .into(),
                });
            };
            let seed = self.next_sequence();
            obj.metadata_mut().name = Some(format!("{prefix}{}", name_suffix(seed, 5)));
        }
        let name = obj.metadata().name.clone().unwrap_or_default();
        if kind.namespaced() {
            let ns = obj.metadata().namespace.clone().unwrap_or_default();
            if ns.is_empty() {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
            if namespace_must_exist && !self.stores.namespaces.contains_key(&key_of(None, &ns)) {
                return Err(ApiError::not_found(ResourceKind::Namespace, &ns));
            }
        } else {
            obj.metadata_mut().namespace = None;
        }
        let key = key_of(obj.metadata().namespace.as_deref(), &name);
        if K::map(&self.stores).contains_key(&key) {
            return Err(ApiError::AlreadyExists {
                resource: qualified(kind),
                name,
            });
        }
        let uid = self.next_uid();
        let rv = self.bump();
        let meta = obj.metadata_mut();
        meta.uid = Some(uid);
        meta.resource_version = Some(rv.to_string());
        meta.creation_timestamp = Some(to_time(now));
        meta.deletion_timestamp = None;
        if obj.same_spec(&obj).is_some() {
            obj.metadata_mut().generation = Some(1);
        }
        K::map_mut(&mut self.stores).insert(key, obj.clone());
        self.record(kind, WatchEventType::Added, obj.clone().into_any());
        Ok(obj)
    }

    /// A copy of the object, if it exists.
    pub fn get<K: Object>(&self, namespace: Option<&str>, name: &str) -> Option<K> {
        self.get_ref(namespace, name).cloned()
    }

    /// The stored object, if it exists.
    pub fn get_ref<K: Object>(&self, namespace: Option<&str>, name: &str) -> Option<&K> {
        let ns = if K::RESOURCE.namespaced() {
            namespace
        } else {
            None
        };
        K::map(&self.stores).get(&key_of(ns, name))
    }

    /// Copies of the objects in `namespace` (all namespaces when `None`), ordered by namespace and name.
    pub fn list<K: Object>(&self, namespace: Option<&str>) -> Vec<K> {
        self.iter(namespace).cloned().collect()
    }

    /// The objects in `namespace` (all namespaces when `None`), ordered by namespace and name.
    pub fn iter<'a, K: Object>(
        &'a self,
        namespace: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'a K> + 'a> {
        let map = K::map(&self.stores);
        match namespace {
            Some(ns) if K::RESOURCE.namespaced() => {
                let ns = ns.to_string();
                let start = (ns.clone(), String::new());
                Box::new(
                    map.range(start..)
                        .take_while(move |((n, _), _)| *n == ns)
                        .map(|(_, v)| v),
                )
            }
            _ => Box::new(map.values()),
        }
    }

    /// Replaces a whole object. A `metadata.resourceVersion` in `obj` is a precondition (Conflict
    /// when stale); uid and creationTimestamp are kept from the stored object; generation is bumped
    /// when the spec changes. An update that changes nothing returns the stored object unchanged.
    pub fn update<K: Object>(&mut self, mut obj: K) -> Result<K, ApiError> {
        let kind = K::RESOURCE;
        let name = obj.metadata().name.clone().unwrap_or_default();
        let ns = if kind.namespaced() {
            obj.metadata().namespace.clone()
        } else {
            None
        };
        let key = key_of(ns.as_deref(), &name);
        let Some(old) = K::map(&self.stores).get(&key) else {
            return Err(ApiError::not_found(kind, &name));
        };
        let old_meta = old.metadata();
        if let Some(rv) = obj.metadata().resource_version.as_deref()
            && !rv.is_empty()
            && Some(rv) != old_meta.resource_version.as_deref()
        {
            return Err(ApiError::Conflict {
                resource: qualified(kind),
                name,
            });
        }
        let old_generation = old_meta.generation;
        let same_spec = obj.same_spec(old);
        {
            let old_uid = old_meta.uid.clone();
            let old_created = old_meta.creation_timestamp.clone();
            let old_rv = old_meta.resource_version.clone();
            let meta = obj.metadata_mut();
            meta.uid = old_uid;
            meta.creation_timestamp = old_created;
            meta.resource_version = old_rv;
            meta.namespace = ns;
            meta.generation = match same_spec {
                Some(true) => old_generation,
                Some(false) => Some(old_generation.unwrap_or(0) + 1),
                None => meta.generation.or(old_generation),
            };
        }
        if &obj == old {
            return Ok(obj);
        }
        let rv = self.bump();
        obj.metadata_mut().resource_version = Some(rv.to_string());
        K::map_mut(&mut self.stores).insert(key, obj.clone());
        self.record(kind, WatchEventType::Modified, obj.clone().into_any());
        Ok(obj)
    }

    /// Replaces only the status of an object: everything else is kept from the stored one.
    pub fn update_status<K: Object>(&mut self, obj: K) -> Result<K, ApiError> {
        let kind = K::RESOURCE;
        let name = obj.metadata().name.clone().unwrap_or_default();
        let ns = obj.metadata().namespace.clone();
        let Some(old) = self.get_ref::<K>(ns.as_deref(), &name) else {
            return Err(ApiError::not_found(kind, &name));
        };
        let mut merged =
            serde_json::to_value(old).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let new = serde_json::to_value(&obj).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        merged["status"] = new
            .get("status")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        if let Some(rv) = new.pointer("/metadata/resourceVersion") {
            merged["metadata"]["resourceVersion"] = rv.clone();
        }
        let merged: K =
            serde_json::from_value(merged).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        self.update(merged)
    }

    /// Removes an object and emits its DELETED event. Deleting a namespace removes everything in it.
    pub fn delete<K: Object>(
        &mut self,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<K, ApiError> {
        let kind = K::RESOURCE;
        let ns = if kind.namespaced() { namespace } else { None };
        let Some(mut obj) = K::map_mut(&mut self.stores).remove(&key_of(ns, name)) else {
            return Err(ApiError::not_found(kind, name));
        };
        let rv = self.bump();
        obj.metadata_mut().resource_version = Some(rv.to_string());
        self.record(kind, WatchEventType::Deleted, obj.clone().into_any());
        if kind == ResourceKind::Namespace {
            self.delete_namespace_contents(name);
        }
        Ok(obj)
    }

    fn delete_namespace_contents(&mut self, ns: &str) {
        fn names<K: Object>(c: &Cluster, ns: &str) -> Vec<String> {
            c.iter::<K>(Some(ns))
                .filter_map(|o| o.metadata().name.clone())
                .collect()
        }
        fn purge<K: Object>(c: &mut Cluster, ns: &str) {
            for name in names::<K>(c, ns) {
                let _ = c.delete::<K>(Some(ns), &name);
            }
        }
        purge::<Deployment>(self, ns);
        purge::<ReplicaSet>(self, ns);
        purge::<Pod>(self, ns);
        purge::<Service>(self, ns);
        purge::<ConfigMap>(self, ns);
        purge::<Event>(self, ns);
    }
}
