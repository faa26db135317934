//! A small JSON-Schema validator covering what GitHub's OpenAPI description uses: `type`
//! (a name or a list, `nullable`), `required`, `properties`, `additionalProperties`, `enum`,
//! `items`, `minItems`/`maxItems`, `oneOf`/`anyOf`/`allOf`, `minLength`/`maxLength`,
//! `minimum`/`maximum` and `pattern`. `$ref`s are resolved against the subset document.
//!
//! `oneOf` is checked like `anyOf` (at least one branch must match): several of GitHub's
//! `oneOf`s have overlapping branches, and the real API accepts bodies matching more than one.

use serde_json::Value;

/// One way a value breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaError {
    /// JSON pointer into the validated value (`""` for the root).
    pub pointer: String,
    /// GitHub-style reason, e.g. `"bogus" is not a member of ["open", "closed"].`
    pub reason: String,
}

impl SchemaError {
    /// The line GitHub puts after `Invalid request.\n\n`.
    pub fn github_message(&self) -> String {
        if self.pointer.is_empty() {
            return self.reason.clone();
        }
        let path: Vec<&str> = self.pointer.trim_start_matches('/').split('/').collect();
        format!("For 'properties/{}', {}", path.join("/"), self.reason)
    }
}

/// Validates `value` against `schema`; `root` is the document `$ref`s point into.
pub(crate) fn validate(root: &Value, schema: &Value, value: &Value) -> Vec<SchemaError> {
    let mut errors = Vec::new();
    check(root, schema, value, "", &mut errors, 0);
    errors
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut s = schema;
    for _ in 0..16 {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => match root.pointer(r.trim_start_matches('#')) {
                Some(target) => s = target,
                None => return &Value::Null,
            },
            None => break,
        }
    }
    s
}

/// Renders a value the way GitHub's messages quote it.
fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 { format!("{}…", &s[..s.char_indices().nth(77).map_or(s.len(), |(i, _)| i)]) } else { s }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        other => type_name(v) == other,
    }
}

fn article(t: &str) -> &'static str {
    if matches!(t.chars().next(), Some('a' | 'e' | 'i' | 'o' | 'u')) { "an" } else { "a" }
}

fn check(root: &Value, schema: &Value, value: &Value, ptr: &str, errors: &mut Vec<SchemaError>, depth: usize) {
    let schema = resolve(root, schema);
    let Some(obj) = schema.as_object() else { return };
    if depth > 64 {
        return;
    }
    let mut err = |reason: String| errors.push(SchemaError { pointer: ptr.to_string(), reason });
    let nullable = obj.get("nullable").and_then(Value::as_bool).unwrap_or(false);
    if value.is_null() && nullable {
        return;
    }
    if let Some(t) = obj.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
            let expected = types.iter().map(|t| format!("{} {t}", article(t))).collect::<Vec<_>>().join(" or ");
            err(format!("{} is not {expected}.", show(value)));
            return;
        }
    }
    if let Some(Value::Array(options)) = obj.get("enum") {
        if !options.contains(value) {
            let list = options.iter().map(Value::to_string).collect::<Vec<_>>().join(", ");
            err(format!("{} is not a member of [{list}].", show(value)));
        }
    }
    match value {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = obj.get("minLength").and_then(Value::as_u64) {
                if len < min {
                    err(format!("{} is too short (minimum is {min} characters).", show(value)));
                }
            }
            if let Some(max) = obj.get("maxLength").and_then(Value::as_u64) {
                if len > max {
                    err(format!("{} is too long (maximum is {max} characters).", show(value)));
                }
            }
            if let Some(p) = obj.get("pattern").and_then(Value::as_str) {
                if regex::Regex::new(p).is_ok_and(|re| !re.is_match(s)) {
                    err(format!("{} does not match the pattern {p:?}.", show(value)));
                }
            }
        }
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if let Some(min) = obj.get("minimum").and_then(Value::as_f64) {
                if f < min {
                    err(format!("{} is less than the minimum of {min}.", show(value)));
                }
            }
            if let Some(max) = obj.get("maximum").and_then(Value::as_f64) {
                if f > max {
                    err(format!("{} is greater than the maximum of {max}.", show(value)));
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = obj.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    err(format!("{} has fewer than {min} items.", show(value)));
                }
            }
            if let Some(max) = obj.get("maxItems").and_then(Value::as_u64) {
                if items.len() as u64 > max {
                    err(format!("{} has more than {max} items.", show(value)));
                }
            }
            if let Some(item_schema) = obj.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(root, item_schema, item, &format!("{ptr}/{i}"), errors, depth + 1);
                }
            }
        }
        Value::Object(map) => {
            if let Some(Value::Array(required)) = obj.get("required") {
                for name in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(name) {
                        err(format!("\"{name}\" wasn't supplied."));
                    }
                }
            }
            let props = obj.get("properties").and_then(Value::as_object);
            for (k, v) in map {
                let child = format!("{ptr}/{}", k.replace('~', "~0").replace('/', "~1"));
                match props.and_then(|p| p.get(k)) {
                    Some(s) => check(root, s, v, &child, errors, depth + 1),
                    None => match obj.get("additionalProperties") {
                        Some(Value::Bool(false)) => errors.push(SchemaError {
                            pointer: ptr.to_string(),
                            reason: format!("\"{k}\" is not a permitted key."),
                        }),
                        Some(s @ Value::Object(_)) => check(root, s, v, &child, errors, depth + 1),
                        _ => {}
                    },
                }
            }
        }
        _ => {}
    }
    if let Some(Value::Array(all)) = obj.get("allOf") {
        for s in all {
            check(root, s, value, ptr, errors, depth + 1);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = obj.get(key) {
            let mut first_errors = None;
            let matched = branches.iter().any(|s| {
                let mut e = Vec::new();
                check(root, s, value, ptr, &mut e, depth + 1);
                let ok = e.is_empty();
                if !ok && first_errors.is_none() {
                    first_errors = Some(e);
                }
                ok
            });
            if !matched {
                errors.push(SchemaError {
                    pointer: ptr.to_string(),
                    reason: format!("No subschema in \"{key}\" matched."),
                });
                errors.extend(first_errors.unwrap_or_default());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errs(schema: Value, value: Value) -> Vec<String> {
        validate(&json!({}), &schema, &value).into_iter().map(|e| format!("{} {}", e.pointer, e.reason)).collect()
    }

    #[test]
    fn types_enums_and_required() {
        let s = json!({"type": "object", "required": ["state"], "properties": {
            "state": {"type": "string", "enum": ["open", "closed"]},
            "draft": {"type": "boolean"},
            "note": {"type": "string", "nullable": true, "maxLength": 3},
            "n": {"type": ["integer", "null"], "minimum": 1}
        }});
        assert!(errs(s.clone(), json!({"state": "open", "note": null, "n": null})).is_empty());
        assert_eq!(errs(s.clone(), json!({})), vec![" \"state\" wasn't supplied."]);
        assert_eq!(
            errs(s.clone(), json!({"state": "bogus"})),
            vec!["/state \"bogus\" is not a member of [\"open\", \"closed\"]."]
        );
        assert_eq!(errs(s.clone(), json!({"state": "open", "draft": "yes"})), vec!["/draft \"yes\" is not a boolean."]);
        assert_eq!(errs(s.clone(), json!({"state": "open", "note": "long"})).len(), 1);
        assert_eq!(errs(s, json!({"state": "open", "n": 0})).len(), 1);
    }

    #[test]
    fn refs_items_and_combinators() {
        let root = json!({"components": {"schemas": {"label": {"type": "string", "minLength": 1}}}});
        let s = json!({"oneOf": [
            {"type": "array", "items": {"$ref": "#/components/schemas/label"}},
            {"type": "object", "additionalProperties": false, "properties": {"labels": {"type": "array"}}}
        ]});
        assert!(validate(&root, &s, &json!(["a"])).is_empty());
        assert!(validate(&root, &s, &json!({"labels": []})).is_empty());
        assert!(!validate(&root, &s, &json!([""])).is_empty());
        assert!(!validate(&root, &s, &json!({"other": 1})).is_empty());
        let all = json!({"allOf": [{"type": "object", "required": ["a"]}, {"required": ["b"]}]});
        assert_eq!(validate(&root, &all, &json!({"a": 1})).len(), 1);
    }

    #[test]
    fn github_message_names_the_property() {
        let e = SchemaError { pointer: "/state".into(), reason: "\"x\" is not a member of [\"a\"].".into() };
        assert_eq!(e.github_message(), "For 'properties/state', \"x\" is not a member of [\"a\"].");
    }
}
