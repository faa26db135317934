//! Property tests of JSON patch (`render::jsonpatch`, evanphx/json-patch v4 semantics; issue 9,
//! "Fuzzing"):
//!
//! - arbitrary operations (any op name, any pointer, any value) on arbitrary documents never
//!   panic, and a failed patch leaves the document exactly as it was;
//! - where the RFC 6902 `json-patch` crate applies a patch, tidegate applies it too, with the
//!   same result (v4 is laxer than the RFC, never stricter: it may succeed where the crate
//!   fails, not the other way round), root-targeting operations aside (kustomize patches
//!   objects, never replaces them whole, and tidegate refuses a root target);
//! - `add` then `remove` of the same new path is the identity;
//! - patch text (`render::patch::JsonPatch::decode`, YAML or JSON) never panics.
//!
//! The number of cases comes from `PROPTEST_CASES` (256 by default); failures are not
//! persisted to files.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tidegate::render::jsonpatch::{self, Operation};
use tidegate::render::patch::JsonPatch;

fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// Keys from a small alphabet, so that pointers often meet existing keys.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(&["a", "b", "c", "spec", "0", "1", "-", "~", "/", "a/b", "~1", "~0", ""][..])
            .prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

fn document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..100).prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// A JSON pointer, escaped as RFC 6901 says, made of keys and indices likely to exist.
fn pointer() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        4 => key().prop_map(|k| k.replace('~', "~0").replace('/', "~1")),
        3 => (-3i64..6).prop_map(|i| i.to_string()),
        1 => Just("-".to_string()),
        1 => Just("01".to_string()),
        1 => Just("+1".to_string()),
    ];
    prop::collection::vec(segment, 1..4).prop_map(|segs| format!("/{}", segs.join("/")))
}

fn raw_pointer() -> impl Strategy<Value = String> {
    prop_oneof![8 => pointer(), 1 => any::<String>(), 1 => Just(String::new()), 1 => "[a-z]{1,3}/[a-z]{1,3}"]
}

fn op_name() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => prop::sample::select(&["add", "remove", "replace", "move", "copy", "test"][..]).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

/// An operation object as a patch file holds it: any op, path, from and value, or none.
fn operation_value() -> impl Strategy<Value = Value> {
    (op_name(), prop::option::of(raw_pointer()), prop::option::of(raw_pointer()), prop::option::of(document()))
        .prop_map(|(op, path, from, value)| {
            let mut m = Map::new();
            m.insert("op".into(), Value::String(op));
            if let Some(p) = path {
                m.insert("path".into(), Value::String(p));
            }
            if let Some(f) = from {
                m.insert("from".into(), Value::String(f));
            }
            if let Some(v) = value {
                m.insert("value".into(), v);
            }
            Value::Object(m)
        })
}

/// A well-formed RFC 6902 operation with a non-root path.
fn rfc_operation() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(&["add", "remove", "replace", "move", "copy", "test"][..]);
    (name, pointer(), pointer(), document()).prop_map(|(op, path, from, value)| match op {
        "remove" => json!({"op": op, "path": path}),
        "move" | "copy" => json!({"op": op, "path": path, "from": from}),
        _ => json!({"op": op, "path": path, "value": value}),
    })
}

/// Every mapping and list of a document (the root's pointer is empty): its RFC 6901 pointer, its length and
/// whether it is a list.
fn containers(v: &Value, at: String, out: &mut Vec<(String, usize, bool)>) {
    match v {
        Value::Array(a) => {
            out.push((at.clone(), a.len(), true));
            for (i, item) in a.iter().enumerate() {
                containers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(m) => {
            out.push((at.clone(), m.len(), false));
            for (k, item) in m {
                containers(item, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_patches_never_panic_and_failures_change_nothing(
        doc in document(),
        items in prop::collection::vec(operation_value(), 0..6),
    ) {
        if let Ok(ops) = jsonpatch::decode(&items) {
            prop_assert_eq!(ops.len(), items.len());
            let mut patched = doc.clone();
            match jsonpatch::apply(&mut patched, &ops) {
                Ok(()) => {}
                Err(e) => {
                    prop_assert_eq!(&patched, &doc, "a failed patch changed the document");
                    prop_assert!(e.index < ops.len());
                    prop_assert_eq!(&e.op, &ops[e.index].op);
                }
            }
        }
    }

    #[test]
    fn where_the_rfc_crate_applies_a_patch_tidegate_agrees(
        doc in document(),
        items in prop::collection::vec(rfc_operation(), 1..5),
    ) {
        let rfc: json_patch::Patch = serde_json::from_value(Value::Array(items.clone())).expect("well-formed operations");
        let mut expected = doc.clone();
        // `patch_unsafe`: the crate's `patch` panics when it cannot undo a failed patch (4.2.0,
        // e.g. add /-/a then move /- to /01/a on {"-": {}}); only its successes matter here.
        if json_patch::patch_unsafe(&mut expected, &rfc).is_ok() {
            let ops = jsonpatch::decode(&items).expect("well-formed operations decode");
            let mut got = doc.clone();
            let outcome = jsonpatch::apply(&mut got, &ops);
            prop_assert!(outcome.is_ok(), "json-patch applies {:?} to {:?}, tidegate fails: {:?}", items, doc, outcome);
            prop_assert_eq!(&got, &expected, "patch {:?} on {:?}", items, doc);
        }
    }

    #[test]
    fn add_then_remove_is_the_identity(
        doc in document(),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        negative in any::<bool>(),
        value in document(),
    ) {
        let mut all = Vec::new();
        containers(&doc, String::new(), &mut all);
        if all.is_empty() {
            return Ok(()); // a scalar document has nowhere to add
        }
        let (parent, len, is_array) = all[which.index(all.len())].clone();
        let key = if is_array {
            // Any insert position, or the same counted from the end (v4: -1 appends).
            let i = at.index(len + 1);
            if negative { format!("-{}", len + 1 - i) } else { i.to_string() }
        } else {
            // A key the mapping does not have yet (escaped, so it may hold `/` and `~`).
            let existing = doc.pointer(&parent).and_then(Value::as_object).cloned().unwrap_or_default();
            let fresh = (0..).map(|n| format!("new/~{n}")).find(|k| !existing.contains_key(k)).expect("a fresh key");
            fresh.replace('~', "~0").replace('/', "~1")
        };
        let path = format!("{parent}/{key}");
        let mut work = doc.clone();
        let add = Operation { op: "add".into(), path: path.clone(), from: None, value };
        let outcome = jsonpatch::apply(&mut work, std::slice::from_ref(&add));
        prop_assert!(outcome.is_ok(), "add {} to {:?}: {:?}", path, doc, outcome);
        prop_assert_ne!(&work, &doc);
        let remove = Operation { op: "remove".into(), path: path.clone(), from: None, value: Value::Null };
        let outcome = jsonpatch::apply(&mut work, std::slice::from_ref(&remove));
        prop_assert!(outcome.is_ok(), "remove {} after add: {:?}", path, outcome);
        prop_assert_eq!(&work, &doc, "add then remove {}", path);
    }

    #[test]
    fn patch_text_never_panics(text in prop_oneof![
        any::<String>(),
        prop::collection::vec(operation_value(), 0..4).prop_map(|v| Value::Array(v).to_string()),
        prop::collection::vec(operation_value(), 0..4).prop_map(|v| tidegate::yaml::emit_document(&Value::Array(v))),
    ]) {
        if let Ok(patch) = JsonPatch::decode(&text) {
            let mut doc = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}});
            let before = doc.clone();
            if patch.apply(&mut doc).is_err() {
                prop_assert_eq!(doc, before);
            }
        }
    }
}
