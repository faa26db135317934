//! JSON merge patch (RFC 7386), JSON patch (RFC 6902) and an approximation of strategic merge
//! patch (a merge patch that merges lists of maps by their merge keys).

use serde_json::Value;

use crate::fields::{FPath, Pe, key_of, list_key};

/// RFC 7386: maps merge, `null` deletes, everything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// Strategic merge patch, approximated: like a merge patch, but lists with a known merge key
/// merge item by item (`$patch: delete` on an item removes it) and `$retainKeys`/other
/// directives are dropped.
pub(crate) fn strategic_patch(kind: &str, target: &mut Value, patch: &Value, path: &mut FPath) {
    match patch {
        Value::Object(p) => {
            if p.get("$patch").and_then(Value::as_str) == Some("replace") {
                let mut p = p.clone();
                p.remove("$patch");
                *target = Value::Object(p);
                return;
            }
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if k.starts_with('$') {
                    continue;
                }
                path.push(Pe::F(k.clone()));
                match (t.get_mut(k), v) {
                    (_, Value::Null) => {
                        t.remove(k);
                    }
                    (Some(Value::Array(ta)), Value::Array(pa)) if list_key(kind, path, pa).is_some() => {
                        let key = list_key(kind, path, pa).unwrap_or("name");
                        for item in pa {
                            let kj = key_of(key, item);
                            let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                            let pos = ta.iter().position(|i| key_of(key, i) == kj);
                            match (pos, delete) {
                                (Some(i), true) => {
                                    ta.remove(i);
                                }
                                (None, true) => {}
                                (Some(i), false) => {
                                    path.push(Pe::K(kj));
                                    strategic_patch(kind, &mut ta[i], item, path);
                                    path.pop();
                                }
                                (None, false) => {
                                    let mut fresh = Value::Null;
                                    strategic_patch(kind, &mut fresh, item, path);
                                    ta.push(fresh);
                                }
                            }
                        }
                    }
                    (Some(existing), _) => strategic_patch(kind, existing, v, path),
                    (None, _) => {
                        let mut fresh = Value::Null;
                        strategic_patch(kind, &mut fresh, v, path);
                        t.insert(k.clone(), fresh);
                    }
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            *target = Value::Array(
                items
                    .iter()
                    .map(|i| {
                        let mut fresh = Value::Null;
                        strategic_patch(kind, &mut fresh, i, path);
                        fresh
                    })
                    .collect(),
            )
        }
        _ => *target = patch.clone(),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer.strip_prefix('/').ok_or_else(|| format!("invalid JSON pointer {pointer:?}"))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t).ok_or_else(|| format!("path component {t:?} not found"))?,
            Value::Array(a) => {
                let i: usize = t.parse().map_err(|_| format!("invalid array index {t:?}"))?;
                a.get_mut(i).ok_or_else(|| format!("array index {i} out of range"))?
            }
            _ => return Err(format!("cannot traverse into {t:?}")),
        };
    }
    Ok(cur)
}

fn pointer_get(doc: &Value, pointer: &str) -> Result<Value, String> {
    doc.pointer(pointer).cloned().ok_or_else(|| format!("path {pointer:?} not found"))
}

fn remove(doc: &mut Value, pointer: &str) -> Result<Value, String> {
    let tokens = split_pointer(pointer)?;
    let (last, parent) = tokens.split_last().ok_or("cannot remove the whole document")?;
    match parent_mut(doc, parent)? {
        Value::Object(m) => m.remove(last).ok_or_else(|| format!("path {pointer:?} not found")),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| format!("invalid array index {last:?}"))?;
            if i >= a.len() {
                return Err(format!("array index {i} out of range"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("path {pointer:?} not found")),
    }
}

fn add(doc: &mut Value, pointer: &str, value: Value, replace: bool) -> Result<(), String> {
    let tokens = split_pointer(pointer)?;
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parent)? {
        Value::Object(m) => {
            if replace && !m.contains_key(last) {
                return Err(format!("path {pointer:?} not found"));
            }
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if last == "-" && !replace {
                a.push(value);
            } else {
                let i: usize = last.parse().map_err(|_| format!("invalid array index {last:?}"))?;
                if replace {
                    *a.get_mut(i).ok_or_else(|| format!("array index {i} out of range"))? = value;
                } else if i <= a.len() {
                    a.insert(i, value);
                } else {
                    return Err(format!("array index {i} out of range"));
                }
            }
        }
        _ => return Err(format!("path {pointer:?} not found")),
    }
    Ok(())
}

/// RFC 6902 JSON patch.
pub(crate) fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops.as_array().ok_or("a JSON patch must be a list of operations")?;
    for op in ops {
        let s = |k: &str| op.get(k).and_then(Value::as_str).map(str::to_string);
        let path = s("path").ok_or("operation without a path")?;
        let value = || op.get("value").cloned().ok_or_else(|| "operation without a value".to_string());
        match s("op").as_deref() {
            Some("add") => add(doc, &path, value()?, false)?,
            Some("replace") => add(doc, &path, value()?, true)?,
            Some("remove") => {
                remove(doc, &path)?;
            }
            Some("move") => {
                let v = remove(doc, &s("from").ok_or("move without from")?)?;
                add(doc, &path, v, false)?;
            }
            Some("copy") => {
                let v = pointer_get(doc, &s("from").ok_or("copy without from")?)?;
                add(doc, &path, v, false)?;
            }
            Some("test") => {
                if pointer_get(doc, &path)? != value()? {
                    return Err(format!("test failed at {path:?}"));
                }
            }
            other => return Err(format!("unknown operation {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_deletes_with_null() {
        let mut v = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut v, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(v, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn strategic_patch_merges_containers_by_name() {
        let mut v = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}});
        let p = json!({"spec": {"containers": [{"name": "b", "image": "2"}, {"name": "a", "$patch": "delete"}]}});
        strategic_patch("Pod", &mut v, &p, &mut Vec::new());
        assert_eq!(v, json!({"spec": {"containers": [{"name": "b", "image": "2"}]}}));
    }

    #[test]
    fn json_patch_ops() {
        let mut v = json!({"a": [1, 2], "b": {"c": 1}});
        let ops = json!([{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/b/c", "value": 2},
            {"op": "remove", "path": "/a/0"}, {"op": "test", "path": "/b/c", "value": 2}]);
        json_patch(&mut v, &ops).unwrap();
        assert_eq!(v, json!({"a": [2, 3], "b": {"c": 2}}));
        assert!(json_patch(&mut v, &json!([{"op": "remove", "path": "/zz"}])).is_err());
    }
}
