//! Server-side apply: merging an applied configuration into the live object, removing fields
//! the applier stopped applying, conflict detection, and field ownership for Update writes.

use serde_json::{Value, json};

use crate::fields::{
    FPath, FieldSet, ManagerEntry, Pe, Scope, atomic_map, covers, display_path, field_map, key_of, list_key,
    remove_path, scoped,
};
use crate::util::{json_eq, strip_nulls};

/// The result of an apply: the new object (not yet defaulted or validated) and managers.
#[derive(Debug)]
pub(crate) struct Applied {
    pub obj: Value,
    pub managers: Vec<ManagerEntry>,
}

/// Merges `config` into `base`: maps field by field, keyed lists item by item (by merge key),
/// anything else replaced.
pub(crate) fn merge(kind: &str, base: &mut Value, config: &Value, path: &mut FPath) {
    match (&mut *base, config) {
        (Value::Object(b), Value::Object(c)) if !atomic_map(kind, path, config) => {
            for (k, cv) in c {
                path.push(Pe::F(k.clone()));
                match b.get_mut(k) {
                    Some(bv) => merge_child(kind, bv, cv, path),
                    None => {
                        b.insert(k.clone(), cv.clone());
                    }
                }
                path.pop();
            }
        }
        (b, c) => *b = c.clone(),
    }
}

fn merge_child(kind: &str, bv: &mut Value, cv: &Value, path: &mut FPath) {
    if let (Value::Array(ba), Value::Array(ca)) = (&mut *bv, cv) {
        let key = list_key(kind, path, ca).filter(|k| ba.iter().all(|i| i.get(*k).is_some()));
        if let Some(key) = key {
            for citem in ca {
                let kj = key_of(key, citem);
                path.push(Pe::K(kj.clone()));
                match ba.iter_mut().find(|i| key_of(key, i) == kj) {
                    Some(bi) => merge(kind, bi, citem, path),
                    None => ba.push(citem.clone()),
                }
                path.pop();
            }
            return;
        }
    }
    merge(kind, bv, cv, path)
}

/// True when the last step of `p` is a key field of the list item it is in (never removed on
/// its own: the item would lose its identity).
fn is_key_field(p: &FPath) -> bool {
    match p.as_slice() {
        [.., Pe::K(key), Pe::F(f)] => serde_json::from_str::<Value>(key).is_ok_and(|k| k.get(f).is_some()),
        _ => false,
    }
}

/// Applies `config` as `manager` onto `base` (the live object, or a skeleton when `exists` is
/// false). Returns the conflicts (manager description, field) when some field owned by another
/// manager would change and `force` is not set.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply(
    kind: &str,
    scope: Scope,
    base: &Value,
    live_managers: &[ManagerEntry],
    config: &Value,
    manager: &str,
    force: bool,
    exists: bool,
    now: &str,
) -> Result<Applied, Vec<(String, String)>> {
    let mut cfg = config.clone();
    strip_nulls(&mut cfg);
    let cfg_scoped = scoped(&cfg, scope);
    let cfg_fields = field_map(kind, &cfg_scoped);
    let new_set: FieldSet = cfg_fields.keys().cloned().collect();
    let sub = scope.subresource();
    let api_version = cfg.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();

    let mut merged = base.clone();
    merge(kind, &mut merged, &cfg_scoped, &mut Vec::new());
    if scope != Scope::Status && !api_version.is_empty() {
        merged["apiVersion"] = json!(api_version);
    }

    let mut managers = live_managers.to_vec();
    let mine = managers.iter().position(|e| e.same_slot(manager, "Apply", sub));

    if exists {
        let base_scoped = scoped(base, scope);
        let live_fields = field_map(kind, &base_scoped);
        let mut conflicts = Vec::new();
        let mut taken = Vec::new();
        for (p, f) in &cfg_fields {
            let Some(lf) = live_fields.get(p) else { continue };
            if f.item || lf.item || json_eq(lf.value, f.value) {
                continue;
            }
            for (i, e) in managers.iter().enumerate() {
                if e.manager != manager && e.fields.contains(p) {
                    conflicts.push((e.describe(), display_path(p)));
                    taken.push((i, p.clone()));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(conflicts);
        }
        for (i, p) in taken {
            managers[i].fields.remove(&p);
        }
    }

    if let Some(i) = mine {
        let prev = managers[i].fields.clone();
        for p in prev.difference(&new_set) {
            if covers(&new_set, p) || is_key_field(p) {
                continue;
            }
            let owned_elsewhere = managers.iter().enumerate().any(|(j, e)| j != i && covers(&e.fields, p));
            if !owned_elsewhere {
                remove_path(&mut merged, p);
            }
        }
    }

    match mine {
        Some(i) => {
            let e = &mut managers[i];
            if e.fields != new_set || e.api_version != api_version {
                e.fields = new_set;
                e.api_version = api_version;
                e.time = now.to_string();
            }
        }
        None if !new_set.is_empty() => managers.push(ManagerEntry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            subresource: sub.into(),
            api_version,
            time: now.to_string(),
            fields: new_set,
        }),
        None => {}
    }
    Ok(Applied { obj: merged, managers })
}

/// Ownership after an Update write (PUT, non-apply PATCH, edits): the fields it changed become
/// `manager`'s alone; fields it removed are no one's.
pub(crate) fn update_managers(
    kind: &str,
    scope: Scope,
    old: Option<&Value>,
    new: &Value,
    managers: &mut Vec<ManagerEntry>,
    manager: &str,
    now: &str,
) {
    let old_s = old.map(|o| scoped(o, scope)).unwrap_or_else(|| json!({}));
    let new_s = scoped(new, scope);
    let of = field_map(kind, &old_s);
    let nf = field_map(kind, &new_s);
    let mut changed = FieldSet::new();
    let mut gone = FieldSet::new();
    for (p, f) in &nf {
        match of.get(p) {
            None => {
                changed.insert(p.clone());
            }
            Some(o) if !f.item && (o.item || !json_eq(o.value, f.value)) => {
                changed.insert(p.clone());
            }
            _ => {}
        }
    }
    for p in of.keys() {
        if !nf.contains_key(p) {
            gone.insert(p.clone());
        }
    }
    if changed.is_empty() && gone.is_empty() {
        return;
    }
    for e in managers.iter_mut() {
        e.fields.retain(|p| !changed.contains(p) && !gone.contains(p));
    }
    if changed.is_empty() {
        return;
    }
    let sub = scope.subresource();
    let api_version = new.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
    match managers.iter_mut().find(|e| e.same_slot(manager, "Update", sub)) {
        Some(e) => {
            e.fields.extend(changed);
            e.time = now.to_string();
            e.api_version = api_version;
        }
        None => managers.push(ManagerEntry {
            manager: manager.to_string(),
            operation: "Update".into(),
            subresource: sub.into(),
            api_version,
            time: now.to_string(),
            fields: changed,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: i64, containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}}})
    }

    const MAIN: Scope = Scope::Main { status_sub: true };

    #[test]
    fn containers_merge_by_name_and_omitted_fields_go() {
        let first = deployment(2, json!([{"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]}]));
        let skeleton =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}});
        let a = apply("Deployment", MAIN, &skeleton, &[], &first, "me", false, false, "t").unwrap();
        // another manager adds a sidecar
        let mut live = a.obj.clone();
        live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "b", "image": "b:1"}));
        let mut managers = a.managers.clone();
        update_managers("Deployment", MAIN, Some(&a.obj), &live, &mut managers, "other", "t");
        // the applier drops env and replicas
        let second = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:2"}]}}}});
        let b = apply("Deployment", MAIN, &live, &managers, &second, "me", false, true, "t").unwrap();
        assert_eq!(
            b.obj["spec"],
            json!({"template": {"spec": {"containers": [{"name": "a", "image": "a:2"}, {"name": "b", "image": "b:1"}]}}})
        );
    }

    #[test]
    fn changing_a_field_another_manager_owns_conflicts_unless_forced() {
        let cfg = deployment(2, json!([{"name": "a", "image": "a:1"}]));
        let a = apply("Deployment", MAIN, &cfg, &[], &cfg, "me", false, false, "t").unwrap();
        let mut edited = a.obj.clone();
        edited["spec"]["replicas"] = json!(5);
        let mut managers = a.managers.clone();
        update_managers("Deployment", MAIN, Some(&a.obj), &edited, &mut managers, "kubectl-edit", "t");
        let err = apply("Deployment", MAIN, &edited, &managers, &cfg, "me", false, true, "t").unwrap_err();
        assert_eq!(err, [("\"kubectl-edit\" using apps/v1".to_string(), ".spec.replicas".to_string())]);
        let forced = apply("Deployment", MAIN, &edited, &managers, &cfg, "me", true, true, "t").unwrap();
        assert_eq!(forced.obj["spec"]["replicas"], json!(2));
        assert!(forced.managers.iter().all(|m| m.manager == "me" || m.fields.is_empty()));
    }
}
