//! RFC 6902 JSON Patch with the semantics of evanphx/json-patch v4, the library kustomize v5
//! applies patches with. Where v4 is laxer than the RFC, tidegate follows v4 so that a patch
//! renders the same here as under `kubectl kustomize`:
//! - `replace` of a missing object key adds it;
//! - `copy` from a missing object key copies `null`;
//! - negative array indices count from the end (`add` at `-1` appends);
//! - `add` without a `value` writes `null`;
//! - `test` of a missing path passes when the expected value is `null`;
//! - the part of a path before its first `/` is ignored.
//!
//! A failed operation leaves the document unchanged (the patch applies to a copy).
//!
//! Patches are hostile input like any file: [`apply_limited`] refuses an operation whose result
//! would nest deeper than [`MAX_DEPTH`] (so `copy` into itself cannot build a value no walk can
//! survive) and stops a patch whose operations insert more than a byte budget (so a few dozen
//! `copy` operations cannot double an object into gigabytes).

use serde_json::Value;

use crate::yaml::MAX_DEPTH;
use crate::yaml::limits::{approx_bytes, depth};

/// One decoded operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// `add`, `remove`, `replace`, `move`, `copy` or `test`.
    pub op: String,
    /// Target pointer as written.
    pub path: String,
    /// Source pointer for `move` and `copy`.
    pub from: Option<String>,
    /// Value for `add`, `replace` and `test` (`null` when absent).
    pub value: Value,
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation {index} ({op} {path}) failed: {reason}")]
pub struct PatchError {
    /// 0-based index of the operation.
    pub index: usize,
    /// The operation name.
    pub op: String,
    /// Its path.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

/// Decodes a list of operation objects.
pub fn decode(items: &[Value]) -> Result<Vec<Operation>, String> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let obj = item.as_object().ok_or_else(|| format!("operation {i} is not a mapping"))?;
            let op = obj.get("op").and_then(Value::as_str).unwrap_or("");
            if !matches!(op, "add" | "remove" | "replace" | "move" | "copy" | "test") {
                return Err(format!(
                    "operation {i}: unknown op {op:?} (expected add, remove, replace, move, copy or test)"
                ));
            }
            let path = obj
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("operation {i} ({op}): `path` is required"))?;
            let from = obj.get("from").and_then(Value::as_str).map(str::to_string);
            if matches!(op, "move" | "copy") && from.is_none() {
                return Err(format!("operation {i} ({op} {path}): `from` is required"));
            }
            Ok(Operation {
                op: op.to_string(),
                path: path.to_string(),
                from,
                value: obj.get("value").cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

/// Applies the operations in order; on error `doc` is left as it was.
pub fn apply(doc: &mut Value, ops: &[Operation]) -> Result<(), PatchError> {
    apply_limited(doc, ops, u64::MAX).map(drop)
}

/// [`apply`], bounded: an operation whose result would nest deeper than [`MAX_DEPTH`] fails, and
/// so does the one that brings the bytes inserted (by `add`, `replace` and `copy`, roughly
/// measured) past `max_bytes`. Returns the bytes inserted.
pub fn apply_limited(doc: &mut Value, ops: &[Operation], max_bytes: u64) -> Result<u64, PatchError> {
    let mut work = doc.clone();
    let mut inserted = 0u64;
    for (index, op) in ops.iter().enumerate() {
        let fail = |reason: String| PatchError { index, op: op.op.clone(), path: op.path.clone(), reason };
        let placed = match op.op.as_str() {
            "add" | "replace" => Some(&op.value),
            "copy" | "move" => op.from.as_deref().and_then(|from| value_at(&work, from)),
            _ => None,
        };
        if let Some(value) = placed {
            let levels = split_pointer(&op.path).len() + depth(value);
            if levels > MAX_DEPTH {
                return Err(fail(format!(
                    "the result would nest {levels} levels deep, more than {MAX_DEPTH} (kustomize's limit)"
                )));
            }
            if op.op != "move" {
                inserted = inserted.saturating_add(approx_bytes(value));
                if inserted > max_bytes {
                    return Err(fail(format!(
                        "the patch inserts more than {max_bytes} bytes, the render's size limit (render.maxBytes)"
                    )));
                }
            }
        }
        apply_one(&mut work, op).map_err(fail)?;
    }
    *doc = work;
    Ok(inserted)
}

/// The value a pointer names, if any (for measuring what `copy` and `move` place).
fn value_at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = doc;
    for part in split_pointer(path) {
        cur = match cur {
            Value::Object(m) => m.get(&part)?,
            Value::Array(a) => &a[array_index(&part, a.len(), false).ok()?],
            _ => return None,
        };
    }
    Some(cur)
}

/// Splits a pointer like evanphx v4: everything before the first `/` is dropped, then `~1` → `/`
/// and `~0` → `~`.
fn split_pointer(path: &str) -> Vec<String> {
    let mut parts = path.split('/');
    parts.next();
    parts.map(|p| p.replace("~1", "/").replace("~0", "~")).collect()
}

/// The container holding the last segment, and that segment.
fn find_parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let mut parts = split_pointer(path);
    let Some(last) = parts.pop() else {
        return Err("the root document cannot be the target".into());
    };
    let mut cur = doc;
    for part in &parts {
        cur = match cur {
            Value::Object(m) => m.get_mut(part).ok_or_else(|| format!("the path does not exist (no key {part:?})"))?,
            Value::Array(a) => {
                let len = a.len();
                let i = part
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i < len)
                    .ok_or_else(|| format!("the path does not exist (no index {part} in a list of {len})"))?;
                &mut a[i]
            }
            _ => return Err(format!("the path does not exist ({part:?} is below a scalar)")),
        };
    }
    if !cur.is_object() && !cur.is_array() {
        return Err("the parent of the path is not a mapping or a list".into());
    }
    Ok((cur, last))
}

fn array_index(key: &str, len: usize, insert: bool) -> Result<usize, String> {
    let idx: i64 = key.parse().map_err(|_| format!("{key:?} is not a list index"))?;
    let size = if insert { len as i64 + 1 } else { len as i64 };
    let idx = if idx < 0 {
        if idx < -size {
            return Err(format!("index {idx} is out of range for a list of {len}"));
        }
        idx + size
    } else {
        idx
    };
    if idx >= size {
        return Err(format!("index {idx} is out of range for a list of {len}"));
    }
    Ok(idx as usize)
}

fn get(container: &Value, key: &str) -> Result<Option<Value>, String> {
    match container {
        Value::Object(m) => Ok(m.get(key).cloned()),
        Value::Array(a) => {
            let i = array_index(key, a.len(), false)?;
            Ok(Some(a[i].clone()))
        }
        _ => Err("not a container".into()),
    }
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, key) = find_parent(doc, path)?;
    match parent {
        Value::Object(m) => {
            m.insert(key, value);
        }
        Value::Array(a) => {
            if key == "-" {
                a.push(value);
            } else {
                let i = array_index(&key, a.len(), true)?;
                a.insert(i, value);
            }
        }
        _ => unreachable!("find_parent returns containers"),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, key) = find_parent(doc, path)?;
    match parent {
        Value::Object(m) => m.remove(&key).ok_or_else(|| format!("the key {key:?} does not exist")),
        Value::Array(a) => {
            let i = array_index(&key, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => unreachable!("find_parent returns containers"),
    }
}

fn apply_one(doc: &mut Value, op: &Operation) -> Result<(), String> {
    match op.op.as_str() {
        "add" => add(doc, &op.path, op.value.clone()),
        "remove" => remove(doc, &op.path).map(drop),
        "replace" => {
            let (parent, key) = find_parent(doc, &op.path)?;
            match parent {
                // v4 quirk: a missing key is simply set.
                Value::Object(m) => {
                    m.insert(key, op.value.clone());
                }
                Value::Array(a) => {
                    let i = array_index(&key, a.len(), false)?;
                    a[i] = op.value.clone();
                }
                _ => unreachable!("find_parent returns containers"),
            }
            Ok(())
        }
        "move" => {
            let from = op.from.as_deref().unwrap_or_default();
            let value = remove(doc, from).map_err(|e| format!("from {from}: {e}"))?;
            add(doc, &op.path, value)
        }
        "copy" => {
            let from = op.from.as_deref().unwrap_or_default();
            let (parent, key) = find_parent(doc, from).map_err(|e| format!("from {from}: {e}"))?;
            let value = get(parent, &key).map_err(|e| format!("from {from}: {e}"))?.unwrap_or(Value::Null);
            add(doc, &op.path, value)
        }
        "test" => {
            let (parent, key) = find_parent(doc, &op.path)?;
            let actual = get(parent, &key)?;
            match actual {
                None if op.value.is_null() => Ok(()),
                Some(v) if v == op.value => Ok(()),
                None => Err(format!("expected {} but the path does not exist", op.value)),
                Some(v) => Err(format!("expected {} but found {v}", op.value)),
            }
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(doc: Value, ops: Value) -> Result<Value, PatchError> {
        let ops = decode(ops.as_array().unwrap()).unwrap();
        let mut doc = doc;
        apply(&mut doc, &ops)?;
        Ok(doc)
    }

    #[test]
    fn rfc_operations() {
        let doc = json!({"a": {"b": 1}, "l": [1, 2, 3]});
        let out = run(
            doc,
            json!([
                {"op": "add", "path": "/a/c", "value": 2},
                {"op": "add", "path": "/l/1", "value": 9},
                {"op": "add", "path": "/l/-", "value": 4},
                {"op": "remove", "path": "/l/0"},
                {"op": "replace", "path": "/a/b", "value": "x"},
                {"op": "move", "from": "/a/c", "path": "/moved"},
                {"op": "copy", "from": "/a", "path": "/copied"},
                {"op": "test", "path": "/moved", "value": 2}
            ]),
        )
        .unwrap();
        assert_eq!(out, json!({"a": {"b": "x"}, "l": [9, 2, 3, 4], "moved": 2, "copied": {"b": "x"}}));
    }

    #[test]
    fn evanphx_v4_quirks() {
        let out = run(
            json!({"a": {}, "l": [1, 2]}),
            json!([
                {"op": "replace", "path": "/a/new", "value": 1},
                {"op": "copy", "from": "/a/missing", "path": "/a/n"},
                {"op": "add", "path": "/l/-1", "value": 3},
                {"op": "remove", "path": "/l/-1"},
                {"op": "add", "path": "/a/nil"},
                {"op": "test", "path": "/a/absent", "value": null},
                {"op": "add", "path": "x/top", "value": true}
            ]),
        )
        .unwrap();
        assert_eq!(out, json!({"a": {"new": 1, "n": null, "nil": null}, "l": [1, 2], "top": true}));
    }

    #[test]
    fn failures_name_the_operation_and_leave_the_document() {
        let doc = json!({"a": {}});
        let ops = decode(
            json!([{"op": "add", "path": "/a/b", "value": 1}, {"op": "add", "path": "/x/y", "value": 1}])
                .as_array()
                .unwrap(),
        )
        .unwrap();
        let mut d = doc.clone();
        let err = apply(&mut d, &ops).unwrap_err();
        assert_eq!((err.index, err.op.as_str(), err.path.as_str()), (1, "add", "/x/y"));
        assert_eq!(d, doc);
        for bad in [
            json!([{"op": "remove", "path": "/nope"}]),
            json!([{"op": "replace", "path": "/l/7", "value": 1}]),
            json!([{"op": "add", "path": "/l/5", "value": 1}]),
            json!([{"op": "test", "path": "/a", "value": 1}]),
            json!([{"op": "move", "from": "/zz", "path": "/b"}]),
        ] {
            assert!(run(json!({"a": {}, "l": [1]}), bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn copies_cannot_nest_past_the_limit_or_grow_without_bound() {
        // Each copy of the document into itself doubles it and deepens it by one.
        let ops: Vec<Value> =
            (0..64).map(|i| json!({"op": "copy", "from": "/a", "path": format!("/a/k{i}")})).collect();
        let ops = decode(&ops).unwrap();
        let mut doc = json!({"a": {"x": "0123456789"}});
        let err = apply_limited(&mut doc, &ops, 1 << 20).unwrap_err();
        assert!(err.reason.contains("more than 1048576 bytes"), "{err}");
        assert_eq!(doc, json!({"a": {"x": "0123456789"}}), "a failed patch leaves the document");
        crate::yaml::limits::on_deep_stack(|| {
            let mut deep = json!("leaf");
            for _ in 0..(MAX_DEPTH - 2) {
                deep = Value::Array(vec![deep]);
            }
            let ops = decode(&[json!({"op": "add", "path": "/a/b/c", "value": deep})]).unwrap();
            let err = apply_limited(&mut json!({"a": {"b": {}}}), &ops, u64::MAX).unwrap_err();
            assert!(err.reason.contains("more than 10000 (kustomize's limit)"), "{err}");
        });
    }

    #[test]
    fn escapes() {
        let out = run(
            json!({"m": {}}),
            json!([{"op": "add", "path": "/m/a~1b", "value": 1}, {"op": "add", "path": "/m/c~0d", "value": 2}]),
        )
        .unwrap();
        assert_eq!(out, json!({"m": {"a/b": 1, "c~d": 2}}));
    }
}
