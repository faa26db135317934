//! Reading live objects: paths into JSON, counts the API server omits when zero, conditions.

use serde_json::Value;

pub(super) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

pub(super) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

pub(super) fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path).and_then(Value::as_i64)
}

/// An integer written either as a JSON number or as a string of digits (Argo Rollouts writes
/// `status.observedGeneration` as `"3"`; annotations are always strings).
pub(super) fn lenient_int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A status count; the API server omits zero counts, so absent means 0.
pub(super) fn count(v: &Value, path: &[&str]) -> i64 {
    int_at(v, path).unwrap_or(0)
}

pub(super) fn flag(v: &Value, path: &[&str]) -> bool {
    at(v, path).and_then(Value::as_bool).unwrap_or(false)
}

/// `spec.replicas`, which the API server defaults to 1.
pub(super) fn spec_replicas(obj: &Value) -> i64 {
    int_at(obj, &["spec", "replicas"]).unwrap_or(1)
}

/// An annotation's value.
pub(super) fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    at(obj, &["metadata", "annotations", key]).and_then(Value::as_str)
}

/// Whether the object carries any status at all: `status: {}`, `status: null` and a status of
/// only empty values (`conditions: []`) do not count — the API server and some controllers write
/// those for objects no controller has reconciled yet.
pub(super) fn has_status(obj: &Value) -> bool {
    fn filled(v: &Value) -> bool {
        match v {
            Value::Null => false,
            Value::Array(a) => !a.is_empty(),
            Value::Object(m) => m.values().any(filled),
            _ => true,
        }
    }
    obj.get("status").is_some_and(filled)
}

/// The length of an array at `path` (0 when absent or not an array).
pub(super) fn len_at(v: &Value, path: &[&str]) -> usize {
    at(v, path).and_then(Value::as_array).map_or(0, Vec::len)
}

/// One entry of a `conditions` list.
#[derive(Debug, Clone, Copy)]
pub(super) struct Condition<'a> {
    pub type_: &'a str,
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
    pub observed_generation: Option<i64>,
}

impl<'a> Condition<'a> {
    fn from_value(v: &'a Value) -> Option<Condition<'a>> {
        Some(Condition {
            type_: v.get("type")?.as_str()?,
            status: v.get("status").and_then(Value::as_str).unwrap_or("Unknown"),
            reason: v.get("reason").and_then(Value::as_str).unwrap_or_default(),
            message: v.get("message").and_then(Value::as_str).unwrap_or_default(),
            observed_generation: v.get("observedGeneration").and_then(Value::as_i64),
        })
    }

    pub fn is(&self, type_: &str, status: &str) -> bool {
        self.type_ == type_ && self.status == status
    }

    /// `Type=Status: Reason: message`, leaving out what is empty.
    pub fn describe(&self) -> String {
        let mut out = format!("{}={}", self.type_, self.status);
        for part in [self.reason, self.message] {
            if !part.is_empty() {
                out.push_str(": ");
                out.push_str(part);
            }
        }
        out
    }

    /// `Reason: message`, leaving out what is empty; the condition's type and status if both are.
    pub fn reason_and_message(&self) -> String {
        match (self.reason.is_empty(), self.message.is_empty()) {
            (false, false) => format!("{}: {}", self.reason, self.message),
            (false, true) => self.reason.to_string(),
            (true, false) => self.message.to_string(),
            (true, true) => format!("{}={}", self.type_, self.status),
        }
    }
}

pub(super) fn conditions_in(list: Option<&Value>) -> Vec<Condition<'_>> {
    list.and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Condition::from_value).collect())
        .unwrap_or_default()
}

pub(super) fn conditions(obj: &Value) -> Vec<Condition<'_>> {
    conditions_in(at(obj, &["status", "conditions"]))
}

/// The first condition of `type_`.
pub(super) fn find<'a>(conds: &[Condition<'a>], type_: &str) -> Option<Condition<'a>> {
    conds.iter().find(|c| c.type_ == type_).copied()
}

/// The first condition of `type_` whose status is `status`.
pub(super) fn find_is<'a>(conds: &[Condition<'a>], type_: &str, status: &str) -> Option<Condition<'a>> {
    conds.iter().find(|c| c.is(type_, status)).copied()
}
