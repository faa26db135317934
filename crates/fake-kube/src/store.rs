//! The server's state: stored objects, the resourceVersion counter, watch events, recorded
//! requests, faults, and the controller schedule.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use crate::fields::{ManagerEntry, parse_managed, render_managed};
use crate::registry::{Registry, split_api_version};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::util::{json_eq, meta_mut, now_rfc3339, str_at, uuid};
use crate::{Fault, Options, Request};

/// How many watch events are kept for watches that resume from a resourceVersion.
const HISTORY: usize = 10_000;

/// Where an object is stored: group, kind, namespace ("" for cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjKey {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjKey {
        ObjKey {
            group: group.to_string(),
            kind: kind.to_string(),
            namespace: namespace.unwrap_or_default().to_string(),
            name: name.to_string(),
        }
    }

    /// The key of an object, from its apiVersion, kind and metadata.
    pub fn of(obj: &Value) -> ObjKey {
        let (group, _) = split_api_version(str_at(obj, "/apiVersion"));
        let ns = str_at(obj, "/metadata/namespace");
        ObjKey::new(group, str_at(obj, "/kind"), Some(ns), str_at(obj, "/metadata/name"))
    }

    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.group == group && self.kind == kind
    }
}

/// A stored object and its field managers.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub obj: Value,
    pub managers: Vec<ManagerEntry>,
}

/// A change, kept for watches.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub rv: u64,
    pub key: ObjKey,
    pub etype: &'static str,
    pub obj: Arc<Value>,
    pub old: Option<Arc<Value>>,
}

/// An open watch.
#[derive(Debug)]
pub(crate) struct Watcher {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub api_version: String,
    pub tx: UnboundedSender<Bytes>,
}

impl Watcher {
    pub fn matches(&self, key: &ObjKey, obj: &Value) -> bool {
        key.group == self.group
            && key.kind == self.kind
            && self.namespace.as_ref().is_none_or(|ns| *ns == key.namespace)
            && self.labels.matches(obj)
            && self.fields.matches(obj)
    }

    /// The event this watcher sees for a change, if any (objects entering or leaving the
    /// selection become ADDED and DELETED).
    pub fn translate<'a>(&self, ev: &'a Event) -> Option<(&'static str, &'a Value)> {
        let now = self.matches(&ev.key, &ev.obj);
        match ev.etype {
            "MODIFIED" => {
                let before = ev.old.as_ref().is_some_and(|o| self.matches(&ev.key, o));
                match (before, now) {
                    (true, true) => Some(("MODIFIED", &ev.obj)),
                    (false, true) => Some(("ADDED", &ev.obj)),
                    (true, false) => Some(("DELETED", &ev.obj)),
                    (false, false) => None,
                }
            }
            t => now.then_some((t, &*ev.obj)),
        }
    }

    /// Sends one event line; false when the client went away.
    pub fn send(&self, etype: &str, obj: &Value) -> bool {
        self.tx.send(event_line(etype, obj, &self.api_version)).is_ok()
    }
}

/// One line of a watch stream.
pub(crate) fn event_line(etype: &str, obj: &Value, api_version: &str) -> Bytes {
    let body = if obj.get("apiVersion").and_then(Value::as_str).is_some_and(|v| v != api_version) && etype != "ERROR" {
        let mut o = obj.clone();
        o["apiVersion"] = json!(api_version);
        serde_json::to_string(&o)
    } else {
        serde_json::to_string(obj)
    }
    .unwrap_or_default();
    Bytes::from(format!("{{\"type\":\"{etype}\",\"object\":{body}}}\n"))
}

/// Everything the server knows.
pub(crate) struct State {
    pub opts: Options,
    pub started: Instant,
    pub registry: Registry,
    pub objects: BTreeMap<ObjKey, Entry>,
    /// The global resourceVersion (of the latest write).
    pub rv: u64,
    pub history: VecDeque<Event>,
    /// The oldest resourceVersion a watch can resume from.
    pub history_floor: u64,
    pub watchers: Vec<Watcher>,
    pub requests: Vec<Request>,
    pub seq: u64,
    pub faults: Vec<Fault>,
    /// (kind, namespace, name) the controller keeps failing.
    pub held: BTreeSet<(String, String, String)>,
    /// When the controller should next look at an object.
    pub pending: BTreeMap<ObjKey, Instant>,
    /// When an object's spec last changed.
    pub changed_at: HashMap<ObjKey, Instant>,
    counter: u64,
    /// How many stored objects have ownerReferences (garbage collection skips its scan at 0).
    with_owners: usize,
}

fn has_owners(obj: &Value) -> bool {
    obj.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(|r| !r.is_empty())
}

impl State {
    pub fn new(opts: Options) -> State {
        let mut st = State {
            opts,
            started: Instant::now(),
            registry: Registry::new(),
            objects: BTreeMap::new(),
            rv: 0,
            history: VecDeque::new(),
            history_floor: 0,
            watchers: Vec::new(),
            requests: Vec::new(),
            seq: 0,
            faults: Vec::new(),
            held: BTreeSet::new(),
            pending: BTreeMap::new(),
            changed_at: HashMap::new(),
            counter: 0,
            with_owners: 0,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            st.seed(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
            }));
        }
        st
    }

    /// A number unique within this server (for uids, names, IPs).
    pub fn next_counter(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    pub fn new_uid(&mut self) -> String {
        let n = self.next_counter();
        uuid(n)
    }

    /// The next free cluster IP.
    pub fn allocate_ip(&mut self) -> String {
        let n = self.next_counter() + 10;
        format!("10.96.{}.{}", (n / 250) % 250, n % 250 + 1)
    }

    pub fn namespace_phase(&self, ns: &str) -> Option<&str> {
        let e = self.objects.get(&ObjKey::new("", "Namespace", None, ns))?;
        Some(if e.obj.pointer("/metadata/deletionTimestamp").is_some() { "Terminating" } else { "Active" })
    }

    /// Stores an object (bumping the resourceVersion), notifies watches and schedules the
    /// controller. Returns the stored object.
    pub fn put(&mut self, key: ObjKey, mut entry: Entry) -> Value {
        self.rv += 1;
        meta_mut(&mut entry.obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let stored = entry.obj.clone();
        let old = self.objects.insert(key.clone(), entry);
        self.with_owners += usize::from(has_owners(&stored));
        self.with_owners -= usize::from(old.as_ref().is_some_and(|o| has_owners(&o.obj)));
        let etype = if old.is_some() { "MODIFIED" } else { "ADDED" };
        let old_obj = old.map(|e| Arc::new(e.obj));
        self.emit(Event { rv: self.rv, key: key.clone(), etype, obj: Arc::new(stored.clone()), old: old_obj.clone() });
        self.after_put(&key, old_obj.as_deref(), &stored);
        stored
    }

    /// Removes an object (bumping the resourceVersion) and what depends on it (a namespace's
    /// contents, a CRD's custom resources).
    pub fn remove(&mut self, key: &ObjKey) -> Option<Value> {
        if !self.objects.contains_key(key) {
            return None;
        }
        if key.is("", "Namespace") {
            let inside: Vec<ObjKey> = self.objects.keys().filter(|k| k.namespace == key.name).cloned().collect();
            for k in inside {
                self.remove(&k);
            }
        }
        if key.is("apiextensions.k8s.io", "CustomResourceDefinition")
            && let Some((group, kind)) = self.registry.unregister_crd(&key.name)
        {
            let custom: Vec<ObjKey> = self.objects.keys().filter(|k| k.is(&group, &kind)).cloned().collect();
            for k in custom {
                self.remove(&k);
            }
        }
        let mut entry = self.objects.remove(key)?;
        self.with_owners -= usize::from(has_owners(&entry.obj));
        self.rv += 1;
        meta_mut(&mut entry.obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        self.pending.remove(key);
        self.changed_at.remove(key);
        self.emit(Event {
            rv: self.rv,
            key: key.clone(),
            etype: "DELETED",
            obj: Arc::new(entry.obj.clone()),
            old: None,
        });
        Some(entry.obj)
    }

    /// Deletes what names `uid` among its owners (background garbage collection).
    pub fn collect_garbage(&mut self, uid: &str) {
        if self.with_owners == 0 || uid.is_empty() {
            return;
        }
        let dependents: Vec<ObjKey> = self
            .objects
            .iter()
            .filter(|(_, e)| {
                e.obj
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| refs.iter().any(|r| r.get("uid").and_then(Value::as_str) == Some(uid)))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in dependents {
            if let Some(obj) = self.remove(&k) {
                let uid = str_at(&obj, "/metadata/uid").to_string();
                self.collect_garbage(&uid);
            }
        }
    }

    fn emit(&mut self, ev: Event) {
        self.watchers.retain(|w| match w.translate(&ev) {
            Some((t, obj)) => w.send(t, obj),
            None => !w.tx.is_closed(),
        });
        self.history.push_back(ev);
        while self.history.len() > HISTORY {
            if let Some(old) = self.history.pop_front() {
                self.history_floor = old.rv;
            }
        }
    }

    fn after_put(&mut self, key: &ObjKey, old: Option<&Value>, new: &Value) {
        let now = Instant::now();
        let generation = |v: &Value| v.pointer("/metadata/generation").and_then(Value::as_i64);
        let spec_changed = old.is_none_or(|o| generation(o) != generation(new) || !json_eq(&o["spec"], &new["spec"]));
        if key.is("apiextensions.k8s.io", "CustomResourceDefinition") {
            if spec_changed {
                self.schedule(key, now + self.opts.crd_establish_delay);
            }
            return;
        }
        if old.is_none() && key.is("", "Namespace") {
            self.populate_namespace(&key.name);
        }
        let Some(first) = crate::controller::first_look(key, self.opts.ready_delay) else { return };
        if spec_changed {
            self.changed_at.insert(key.clone(), now);
            self.schedule(key, now + first);
        }
    }

    /// What a real cluster's controllers create in every new namespace.
    fn populate_namespace(&mut self, ns: &str) {
        self.seed(
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}),
        );
        self.seed(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-root-ca.crt", "namespace": ns,
                "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nZmFrZQ==\n-----END CERTIFICATE-----\n"},
        }));
    }

    /// Asks the controller to look at an object no later than `at`.
    pub fn schedule(&mut self, key: &ObjKey, at: Instant) {
        let due = self.pending.entry(key.clone()).or_insert(at);
        if at < *due {
            *due = at;
        }
    }

    /// The stored object, as `api_version` (custom resources may be served in several).
    pub fn lookup(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let (group, _) = split_api_version(api_version);
        let mut obj = self.objects.get(&ObjKey::new(group, kind, namespace, name))?.obj.clone();
        obj["apiVersion"] = json!(api_version);
        Some(obj)
    }

    /// Stores an object as given, adding the bookkeeping it lacks.
    pub fn seed(&mut self, mut obj: Value) {
        let key = ObjKey::of(&obj);
        let old = self.objects.get(&key).map(|e| e.obj.clone());
        let uid = self.new_uid();
        let managers = parse_managed(obj.pointer("/metadata/managedFields"));
        let meta = meta_mut(&mut obj);
        let old_meta = |k: &str| old.as_ref().and_then(|o| o.pointer(&format!("/metadata/{k}"))).cloned();
        if !meta.contains_key("uid") {
            meta.insert("uid".into(), old_meta("uid").unwrap_or(json!(uid)));
        }
        if !meta.contains_key("creationTimestamp") {
            meta.insert("creationTimestamp".into(), old_meta("creationTimestamp").unwrap_or(json!(now_rfc3339())));
        }
        if !meta.contains_key("generation") {
            let g = match (&old, old_meta("generation").and_then(|g| g.as_i64())) {
                (Some(o), Some(g)) if !json_eq(&o["spec"], &obj["spec"]) => g + 1,
                (_, Some(g)) => g,
                _ => 1,
            };
            meta_mut(&mut obj).insert("generation".into(), json!(g));
        }
        let meta = meta_mut(&mut obj);
        if managers.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), render_managed(&managers));
        }
        self.put(key, Entry { obj, managers });
    }

    /// Deletes directly (no finalizers, no preconditions); true when it existed.
    pub fn delete_direct(&mut self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        let (group, _) = split_api_version(api_version);
        self.remove(&ObjKey::new(group, kind, namespace, name)).is_some()
    }

    pub fn set_held(&mut self, kind: &str, namespace: &str, name: &str, held: bool) {
        let id = (kind.to_string(), namespace.to_string(), name.to_string());
        if held {
            self.held.insert(id);
        } else {
            self.held.remove(&id);
        }
        let now = Instant::now();
        let keys: Vec<ObjKey> = self
            .objects
            .keys()
            .filter(|k| k.kind == kind && k.namespace == namespace && k.name == name)
            .cloned()
            .collect();
        for k in keys {
            self.schedule(&k, now);
        }
    }

    pub fn is_held(&self, key: &ObjKey) -> bool {
        self.held.contains(&(key.kind.clone(), key.namespace.clone(), key.name.clone()))
    }

    /// Records an arriving request; returns its sequence number.
    pub fn record(&mut self, mut req: Request) -> u64 {
        self.seq += 1;
        req.seq = self.seq;
        self.requests.push(req);
        self.seq
    }

    pub fn set_status(&mut self, seq: u64, status: u16) {
        if let Ok(i) = self.requests.binary_search_by_key(&seq, |r| r.seq) {
            self.requests[i].status = status;
        }
    }

    /// Takes one use of the first fault matching a request.
    pub fn take_fault(&mut self, method: &str, target: &str) -> Option<Fault> {
        let i = self.faults.iter().position(|f| {
            f.times > 0
                && f.method.as_ref().is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.path_contains.as_ref().is_none_or(|p| target.contains(p.as_str()))
        })?;
        self.faults[i].times -= 1;
        let fault = self.faults[i].clone();
        if self.faults[i].times == 0 {
            self.faults.remove(i);
        }
        Some(fault)
    }
}
