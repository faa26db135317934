//! The common write path: validation, defaults, bookkeeping (uid, generation,
//! resourceVersion, managedFields), no-op detection, dry run and finalizers.

use serde_json::{Value, json};

use crate::apply::update_managers;
use crate::errors::ApiError;
use crate::fields::{ManagerEntry, Scope, prune_managers, render_managed};
use crate::registry::ResourceType;
use crate::store::{Entry, ObjKey, State};
use crate::util::{json_eq, meta_mut, now_rfc3339, str_at, strip_nulls};
use crate::validate::{apply_defaults, validate};

/// The object as served in `rt`'s version.
pub(crate) fn as_version(rt: &ResourceType, obj: &Value) -> Value {
    let mut o = obj.clone();
    o["apiVersion"] = json!(rt.api_version());
    o
}

/// True when two versions of an object differ outside metadata and status.
fn spec_differs(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return true };
    let skip = |k: &String| matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind");
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).filter(|k| !skip(k)).collect();
    keys.into_iter().any(|k| match (a.get(k), b.get(k)) {
        (Some(x), Some(y)) => !json_eq(x, y),
        _ => true,
    })
}

/// True when two versions are the same but for resourceVersion and managedFields.
fn same_content(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return false };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter().all(|k| match (a.get(k), b.get(k)) {
        (Some(Value::Object(x)), Some(Value::Object(y))) if k == "metadata" => {
            let mk: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            mk.into_iter().filter(|k| *k != "resourceVersion" && *k != "managedFields").all(|k| {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => json_eq(p, q),
                    (None, None) => true,
                    _ => false,
                }
            })
        }
        (Some(x), Some(y)) => json_eq(x, y),
        _ => false,
    })
}

fn same_managers(a: &[ManagerEntry], b: &[ManagerEntry]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.manager == y.manager
                && x.operation == y.operation
                && x.subresource == y.subresource
                && x.api_version == y.api_version
                && x.fields == y.fields
        })
}

impl State {
    /// Validates, defaults and bookkeeps `new` as the next version of `key`, then stores it
    /// (unless dry-run or nothing changed). Returns whether it was created, and the result.
    pub fn commit(
        &mut self,
        rt: &ResourceType,
        key: &ObjKey,
        mut new: Value,
        mut managers: Vec<ManagerEntry>,
        dry_run: bool,
    ) -> Result<(bool, Value), ApiError> {
        strip_nulls(&mut new);
        let old = self.objects.get(key).cloned();
        let old_obj = old.as_ref().map(|e| &e.obj);
        let uid = if old.is_none() { self.new_uid() } else { String::new() };
        {
            let meta = meta_mut(&mut new);
            meta.insert("name".into(), json!(key.name));
            for k in ["managedFields", "resourceVersion", "selfLink"] {
                meta.remove(k);
            }
            match old_obj {
                Some(o) => {
                    for k in
                        ["uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds"]
                    {
                        match o.pointer(&format!("/metadata/{k}")) {
                            Some(v) => meta.insert(k.into(), v.clone()),
                            None => meta.remove(k),
                        };
                    }
                }
                None => {
                    meta.insert("uid".into(), json!(uid));
                    meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
                    meta.insert("generation".into(), json!(1));
                    meta.remove("deletionTimestamp");
                    meta.remove("deletionGracePeriodSeconds");
                }
            }
            if key.namespace.is_empty() {
                meta.remove("namespace");
            } else {
                meta.insert("namespace".into(), json!(key.namespace));
            }
        }
        new["apiVersion"] = json!(rt.api_version());
        new["kind"] = json!(rt.kind);
        validate(rt, &new, old_obj)?;
        apply_defaults(rt, &mut new, old_obj, || self.allocate_ip());
        if let Some(o) = old_obj
            && spec_differs(o, &new)
        {
            let g = o.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        prune_managers(&new, &mut managers);
        if let Some(o) = &old
            && same_content(&o.obj, &new)
            && same_managers(&o.managers, &managers)
        {
            return Ok((false, as_version(rt, &o.obj)));
        }
        if !managers.is_empty() {
            meta_mut(&mut new).insert("managedFields".into(), render_managed(&managers));
        }
        if dry_run {
            if let Some(rv) = old_obj.and_then(|o| o.pointer("/metadata/resourceVersion")) {
                meta_mut(&mut new).insert("resourceVersion".into(), rv.clone());
            }
            return Ok((old.is_none(), new));
        }
        let finalizers_done = new.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty);
        if new.pointer("/metadata/deletionTimestamp").is_some() && finalizers_done {
            self.put(key.clone(), Entry { obj: new, managers });
            let gone = self.remove(key).unwrap_or(Value::Null);
            let uid = str_at(&gone, "/metadata/uid").to_string();
            self.collect_garbage(&uid);
            return Ok((false, gone));
        }
        let stored = self.put(key.clone(), Entry { obj: new, managers });
        Ok((old.is_none(), stored))
    }

    /// An Update of a whole object by `manager` (test edits).
    pub fn edit(
        &mut self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        manager: &str,
        new: Value,
    ) -> Result<(), ApiError> {
        let rt = self.registry.by_kind(api_version, kind).ok_or_else(ApiError::no_resource)?;
        let key = ObjKey::new(&rt.group, kind, namespace.filter(|_| rt.namespaced), name);
        let old = self.objects.get(&key).cloned().ok_or_else(|| ApiError::not_found(&rt, name))?;
        let mut managers = old.managers.clone();
        update_managers(kind, Scope::Whole, Some(&old.obj), &new, &mut managers, manager, &now_rfc3339());
        self.commit(&rt, &key, new, managers, false)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_and_content_comparisons() {
        let a = json!({"metadata": {"name": "a", "resourceVersion": "1"}, "spec": {"x": 1}, "status": {"s": 1}});
        let b = json!({"metadata": {"name": "a", "resourceVersion": "2"}, "spec": {"x": 1.0}, "status": {"s": 2}});
        assert!(!spec_differs(&a, &b));
        assert!(!same_content(&a, &b));
        let c = json!({"metadata": {"name": "a", "managedFields": []}, "spec": {"x": 1}, "status": {"s": 1}});
        assert!(same_content(&a, &c));
        assert!(spec_differs(&a, &json!({"metadata": {}, "spec": {"x": 2}})));
    }
}
