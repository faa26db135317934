//! Comparing desired objects with live ones without a request: a live object is in sync when
//! every field of the desired object has the same value live (the server adds defaults and
//! status, other managers may add fields; none of that is drift).

use serde_json::Value;

/// Paths (`/spec/replicas`) where the live object differs from the desired one; empty when
/// the live object contains the desired one. A mismatch may be only a normalisation the server
/// made (`500m` → `0.5`); callers confirm with a server-side dry run.
pub fn differences(desired: &Value, live: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(desired, live, &mut String::new(), &mut out);
    out
}

fn walk(desired: &Value, live: &Value, path: &mut String, out: &mut Vec<String>) {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            for (k, dv) in d {
                let len = path.len();
                path.push('/');
                path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                match l.get(k) {
                    Some(lv) => walk(dv, lv, path, out),
                    None if dv.is_null() => {}
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(d), Value::Array(l)) => {
            if d.len() != l.len() {
                out.push(path.clone());
                return;
            }
            for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                walk(dv, lv, path, out);
                path.truncate(len);
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            if a.as_f64() != b.as_f64() {
                out.push(path.clone());
            }
        }
        (d, l) => {
            if d != l {
                out.push(if path.is_empty() { "/".into() } else { path.clone() });
            }
        }
    }
}

/// The object without what the server maintains (for diffs and dry-run comparisons).
pub fn strip_server_fields(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(Value::Object(meta)) = v.get_mut("metadata") {
        for k in ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"] {
            meta.remove(k);
        }
    }
    if let Value::Object(o) = &mut v {
        o.remove("status");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_extra_fields_are_not_drift() {
        let desired =
            json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x:1"}]}}}});
        let live = json!({"spec": {"replicas": 2, "revisionHistoryLimit": 10, "template": {"spec": {"containers": [{"name": "a", "image": "x:1", "imagePullPolicy": "IfNotPresent"}]}}}, "status": {}});
        assert!(differences(&desired, &live).is_empty());
    }

    #[test]
    fn edited_fields_and_changed_lists_are_drift() {
        let desired = json!({"spec": {"replicas": 2, "ports": [{"port": 80}], "a/b": 1}});
        let live = json!({"spec": {"replicas": 5, "ports": [{"port": 80}, {"port": 81}], "a/b": 1}});
        assert_eq!(differences(&desired, &live), ["/spec/ports", "/spec/replicas"]);
        assert_eq!(differences(&json!({"x": {"a/b": 1}}), &json!({"x": {}})), ["/x/a~1b"]);
        assert!(differences(&json!({"n": 1}), &json!({"n": 1.0})).is_empty());
    }
}
