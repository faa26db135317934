//! Field paths and field sets (server-side apply ownership), list merge keys, and the
//! `managedFields` / `fieldsV1` encoding.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Pe {
    /// A map field.
    F(String),
    /// A list item by its merge key(s), as the JSON of the key map (`{"name":"app"}`).
    K(String),
    /// A list item of a set, by value (JSON).
    V(String),
    /// A list item by index.
    I(usize),
}

/// A field path.
pub(crate) type FPath = Vec<Pe>;
/// A set of owned fields.
pub(crate) type FieldSet = BTreeSet<FPath>;

/// A leaf value or a keyed list item found in an object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    pub value: &'a Value,
    /// A keyed list item (its "value" is not compared, only its presence).
    pub item: bool,
}

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The main resource; `status_sub` when the kind has a status subresource (status is then
    /// not part of it).
    Main { status_sub: bool },
    /// The `status` subresource.
    Status,
    /// Everything but server-maintained metadata (test edits).
    Whole,
}

impl Scope {
    pub fn subresource(self) -> &'static str {
        if self == Scope::Status { "status" } else { "" }
    }
}

const SERVER_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// The part of `obj` that a write in `scope` owns fields of.
pub(crate) fn scoped(obj: &Value, scope: Scope) -> Value {
    let Some(map) = obj.as_object() else { return json!({}) };
    if scope == Scope::Status {
        return match map.get("status") {
            Some(s) => json!({ "status": s }),
            None => json!({}),
        };
    }
    let mut out = Map::new();
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "status" if scope == (Scope::Main { status_sub: true }) => {}
            "metadata" => {
                let mut meta = v.as_object().cloned().unwrap_or_default();
                meta.retain(|k, _| !SERVER_META.contains(&k.as_str()));
                if !meta.is_empty() {
                    out.insert(k.clone(), Value::Object(meta));
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// The merge key of the list at `path` (which ends with the list's field), if it is a list of
/// maps merged by key; `None` for atomic lists.
pub(crate) fn list_key(kind: &str, path: &[Pe], items: &[Value]) -> Option<&'static str> {
    let field = match path.last() {
        Some(Pe::F(f)) => f.as_str(),
        _ => return None,
    };
    let parent_field = path.iter().rev().skip(1).find_map(|p| match p {
        Pe::F(f) => Some(f.as_str()),
        _ => None,
    });
    let parent_is_item = matches!(path.iter().rev().nth(1), Some(Pe::K(_)));
    let in_container =
        parent_is_item && matches!(parent_field, Some("containers" | "initContainers" | "ephemeralContainers"));
    let key = match field {
        "containers" | "initContainers" | "ephemeralContainers" => "name",
        "ports" if in_container => "containerPort",
        "ports" if kind == "Service" && path.len() == 2 && path[0] == Pe::F("spec".into()) => "port",
        "env" if in_container => "name",
        "volumeMounts" if in_container => "mountPath",
        "volumes" | "imagePullSecrets" => "name",
        _ => return None,
    };
    let keyed = items.iter().all(|i| i.get(key).is_some_and(|k| k.is_string() || k.is_number()));
    keyed.then_some(key)
}

/// Maps that are replaced as a whole (LabelSelectors, a Service's selector).
pub(crate) fn atomic_map(kind: &str, path: &[Pe], v: &Value) -> bool {
    let Some(m) = v.as_object() else { return false };
    if kind == "Service" && path == [Pe::F("spec".into()), Pe::F("selector".into())] {
        return true;
    }
    matches!(path.last(), Some(Pe::F(f)) if f.ends_with("elector"))
        && !m.is_empty()
        && m.keys().all(|k| k == "matchLabels" || k == "matchExpressions")
}

/// The JSON of a list item's key (`{"name":"app"}`).
pub(crate) fn key_of(key: &str, item: &Value) -> String {
    let mut m = Map::new();
    m.insert(key.to_string(), item.get(key).cloned().unwrap_or(Value::Null));
    Value::Object(m).to_string()
}

/// The leaf fields and keyed list items of `v` (already [`scoped`]).
pub(crate) fn field_map<'a>(kind: &str, v: &'a Value) -> BTreeMap<FPath, Field<'a>> {
    let mut out = BTreeMap::new();
    let mut path = Vec::new();
    if v.as_object().is_some_and(|m| !m.is_empty()) {
        walk(kind, &mut path, v, &mut out);
    }
    out
}

fn walk<'a>(kind: &str, path: &mut FPath, v: &'a Value, out: &mut BTreeMap<FPath, Field<'a>>) {
    match v {
        Value::Object(m) if !m.is_empty() && !atomic_map(kind, path, v) => {
            for (k, child) in m {
                path.push(Pe::F(k.clone()));
                match child {
                    Value::Array(items) if !items.is_empty() && list_key(kind, path, items).is_some() => {
                        let key = list_key(kind, path, items).unwrap_or("name");
                        for item in items {
                            path.push(Pe::K(key_of(key, item)));
                            out.insert(path.clone(), Field { value: item, item: true });
                            walk(kind, path, item, out);
                            path.pop();
                        }
                    }
                    _ => walk(kind, path, child, out),
                }
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone(), Field { value: v, item: false });
        }
    }
}

/// True when `p` starts with `prefix`.
pub(crate) fn has_prefix(p: &[Pe], prefix: &[Pe]) -> bool {
    p.len() >= prefix.len() && p[..prefix.len()] == *prefix
}

/// True when the set holds `p` or any path below it.
pub(crate) fn covers(set: &FieldSet, p: &FPath) -> bool {
    set.range(p.clone()..).next().is_some_and(|q| has_prefix(q, p))
}

fn item_matches(item: &Value, key_json: &str) -> bool {
    let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key_json) else { return false };
    key.iter().all(|(k, v)| item.get(k).is_some_and(|x| crate::util::json_eq(x, v)))
}

/// The value at `path`, if present.
pub(crate) fn get_path<'a>(v: &'a Value, path: &[Pe]) -> Option<&'a Value> {
    let mut cur = v;
    for pe in path {
        cur = match pe {
            Pe::F(f) => cur.as_object()?.get(f)?,
            Pe::K(k) => cur.as_array()?.iter().find(|i| item_matches(i, k))?,
            Pe::V(j) => {
                let want: Value = serde_json::from_str(j).ok()?;
                cur.as_array()?.iter().find(|i| **i == want)?
            }
            Pe::I(i) => cur.as_array()?.get(*i)?,
        };
    }
    Some(cur)
}

/// Removes the value at `path`; then removes maps left empty by that, up to the top level.
/// Returns whether something was removed.
pub(crate) fn remove_path(v: &mut Value, path: &[Pe]) -> bool {
    let Some((last, parent_path)) = path.split_last() else { return false };
    let removed = {
        let Some(parent) = get_path_mut(v, parent_path) else { return false };
        match (last, parent) {
            (Pe::F(f), Value::Object(m)) => m.remove(f).is_some(),
            (Pe::K(k), Value::Array(a)) => {
                let before = a.len();
                a.retain(|i| !item_matches(i, k));
                a.len() != before
            }
            (Pe::V(j), Value::Array(a)) => {
                let want: Value = serde_json::from_str(j).unwrap_or(Value::Null);
                let before = a.len();
                a.retain(|i| *i != want);
                a.len() != before
            }
            (Pe::I(i), Value::Array(a)) if *i < a.len() => {
                a.remove(*i);
                true
            }
            _ => false,
        }
    };
    if removed && !parent_path.is_empty() && parent_path != [Pe::F("metadata".into())] {
        let empty = get_path(v, parent_path).is_some_and(|p| match p {
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        });
        if empty && matches!(parent_path.last(), Some(Pe::F(_))) {
            remove_path(v, parent_path);
        }
    }
    removed
}

fn get_path_mut<'a>(v: &'a mut Value, path: &[Pe]) -> Option<&'a mut Value> {
    let mut cur = v;
    for pe in path {
        cur = match pe {
            Pe::F(f) => cur.as_object_mut()?.get_mut(f)?,
            Pe::K(k) => cur.as_array_mut()?.iter_mut().find(|i| item_matches(i, k))?,
            Pe::V(j) => {
                let want: Value = serde_json::from_str(j).ok()?;
                cur.as_array_mut()?.iter_mut().find(|i| **i == want)?
            }
            Pe::I(i) => cur.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// A path as the API shows it in conflicts: `.spec.containers[name="app"].image`.
pub(crate) fn display_path(p: &[Pe]) -> String {
    let mut s = String::new();
    for pe in p {
        match pe {
            Pe::F(f) => {
                s.push('.');
                s.push_str(f);
            }
            Pe::K(k) => {
                let parts: Vec<String> = match serde_json::from_str::<Value>(k) {
                    Ok(Value::Object(m)) => m.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    _ => vec![k.clone()],
                };
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            Pe::V(v) => s.push_str(&format!("[={v}]")),
            Pe::I(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

#[derive(Default)]
struct Node {
    member: bool,
    children: BTreeMap<String, Node>,
}

fn encode_pe(pe: &Pe) -> String {
    match pe {
        Pe::F(f) => format!("f:{f}"),
        Pe::K(k) => format!("k:{k}"),
        Pe::V(v) => format!("v:{v}"),
        Pe::I(i) => format!("i:{i}"),
    }
}

/// A field set in the `FieldsV1` encoding.
pub(crate) fn encode_fields(set: &FieldSet) -> Value {
    let mut root = Node::default();
    for p in set {
        let mut node = &mut root;
        for pe in p {
            node = node.children.entry(encode_pe(pe)).or_default();
        }
        node.member = true;
    }
    fn to_json(n: &Node) -> Value {
        let mut m = Map::new();
        if n.member && !n.children.is_empty() {
            m.insert(".".into(), json!({}));
        }
        for (k, c) in &n.children {
            m.insert(k.clone(), to_json(c));
        }
        Value::Object(m)
    }
    to_json(&root)
}

/// Parses the `FieldsV1` encoding.
pub(crate) fn decode_fields(v: &Value) -> FieldSet {
    fn walk(v: &Value, path: &mut FPath, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        for (k, child) in m {
            if k == "." {
                out.insert(path.clone());
                continue;
            }
            let pe = match k.split_at(k.len().min(2)) {
                ("f:", rest) => Pe::F(rest.into()),
                ("k:", rest) => {
                    Pe::K(serde_json::from_str::<Value>(rest).map(|v| v.to_string()).unwrap_or(rest.into()))
                }
                ("v:", rest) => Pe::V(rest.into()),
                ("i:", rest) => Pe::I(rest.parse().unwrap_or(0)),
                _ => continue,
            };
            path.push(pe);
            if child.as_object().is_some_and(Map::is_empty) {
                out.insert(path.clone());
            } else {
                walk(child, path, out);
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry, with its field set decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ManagerEntry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// "" or `status`.
    pub subresource: String,
    pub api_version: String,
    pub time: String,
    pub fields: FieldSet,
}

impl ManagerEntry {
    /// How an apply conflict names this manager.
    pub fn describe(&self) -> String {
        let sub = if self.subresource.is_empty() {
            String::new()
        } else {
            format!(" with subresource {:?}", self.subresource)
        };
        if self.operation == "Apply" {
            format!("{:?}{sub}", self.manager)
        } else {
            format!("{:?} using {}{sub}", self.manager, self.api_version)
        }
    }

    pub fn same_slot(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }
}

/// The `metadata.managedFields` list.
pub(crate) fn render_managed(entries: &[ManagerEntry]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| {
                let mut m = json!({
                    "manager": e.manager,
                    "operation": e.operation,
                    "apiVersion": e.api_version,
                    "time": e.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": encode_fields(&e.fields),
                });
                if !e.subresource.is_empty() {
                    m["subresource"] = json!(e.subresource);
                }
                m
            })
            .collect(),
    )
}

/// Parses `metadata.managedFields`.
pub(crate) fn parse_managed(v: Option<&Value>) -> Vec<ManagerEntry> {
    let Some(list) = v.and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            ManagerEntry {
                manager: s("manager"),
                operation: s("operation"),
                subresource: s("subresource"),
                api_version: s("apiVersion"),
                time: s("time"),
                fields: e.get("fieldsV1").map(decode_fields).unwrap_or_default(),
            }
        })
        .collect()
}

/// Drops owned paths that no longer exist in `obj`, and entries left empty.
pub(crate) fn prune_managers(obj: &Value, entries: &mut Vec<ManagerEntry>) {
    for e in entries.iter_mut() {
        e.fields.retain(|p| get_path(obj, p).is_some());
    }
    entries.retain(|e| !e.fields.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_keyed_and_encode_like_kubernetes() {
        let d = json!({"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}},
            "template": {"spec": {"containers": [{"name": "app", "image": "x", "ports": [{"containerPort": 80}]}]}}}});
        let fm = field_map("Deployment", &d);
        let set: FieldSet = fm.keys().cloned().collect();
        let enc = encode_fields(&set);
        let c = &enc["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(c["f:ports"]["k:{\"containerPort\":80}"]["f:containerPort"], json!({}));
        assert_eq!(enc["f:spec"]["f:selector"], json!({}));
        assert_eq!(decode_fields(&enc), set);
        let image = set.iter().find(|p| p.last() == Some(&Pe::F("image".into()))).unwrap();
        assert_eq!(display_path(image), ".spec.template.spec.containers[name=\"app\"].image");
        assert_eq!(get_path(&d, image), Some(&json!("x")));
    }

    #[test]
    fn removing_the_last_label_removes_the_map() {
        let mut v = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
        assert!(remove_path(&mut v, &[Pe::F("metadata".into()), Pe::F("labels".into()), Pe::F("x".into())]));
        assert!(remove_path(&mut v, &[Pe::F("data".into()), Pe::F("k".into())]));
        assert_eq!(v, json!({"metadata": {"name": "a"}}));
    }
}
