//! Flux-style CEL health expressions (`healthCheckExprs`).
//!
//! Flux's semantics (RFC-0009, kustomize-controller): when `status.observedGeneration` is
//! present and differs from `metadata.generation` the object is in progress and no expression is
//! evaluated; otherwise `inProgress`, `failed` and `current` are evaluated in that order, the
//! first that is true decides (Progressing, Degraded, Healthy), and when none is true the object
//! is in progress. An expression that fails (a missing field, a wrong type) or does not return
//! a bool is that object's error, as in Flux.
//!
//! The object's top-level fields are the variables (`metadata`, `spec`, `status`, …), as in
//! Flux; `apiVersion`, `kind`, `metadata`, `spec` and `status` are always defined (as `{}` when
//! the object has none), so `has(status.conditions)` works on an object no controller has seen.

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Program};
use serde_json::Value;

use crate::health::{Health, HealthStatus};

/// The three expressions of one kind, compiled.
#[derive(Debug, Clone)]
pub(crate) struct CelRule {
    exprs: Vec<Expr>,
}

#[derive(Debug, Clone)]
struct Expr {
    /// `inProgress`, `failed` or `current`.
    field: &'static str,
    status: HealthStatus,
    source: String,
    program: Arc<Program>,
}

impl PartialEq for CelRule {
    fn eq(&self, other: &Self) -> bool {
        let key = |r: &CelRule| r.exprs.iter().map(|e| (e.field, e.source.clone())).collect::<Vec<_>>();
        key(self) == key(other)
    }
}

impl Eq for CelRule {}

/// The fields of a CEL rule, in the order Flux evaluates them.
pub(crate) const FIELDS: [(&str, HealthStatus); 3] =
    [("inProgress", HealthStatus::Progressing), ("failed", HealthStatus::Degraded), ("current", HealthStatus::Healthy)];

impl CelRule {
    /// Compiles the expressions given, as `(field, source)` with field one of [`FIELDS`]. The
    /// error names the field.
    pub(crate) fn compile(exprs: &[(&'static str, String)]) -> Result<CelRule, (&'static str, String)> {
        let mut out = Vec::new();
        for (field, status) in FIELDS {
            let Some((_, source)) = exprs.iter().find(|(f, _)| *f == field) else { continue };
            // The parser of cel 0.12 panics on some inputs; a broken rule must not take the
            // process down.
            let compiled = std::panic::catch_unwind(|| Program::compile(source))
                .map_err(|_| (field, "the CEL parser failed on this expression".to_string()))?;
            let program = compiled.map_err(|e| (field, one_line(&e.to_string())))?;
            out.push(Expr { field, status, source: source.clone(), program: Arc::new(program) });
        }
        Ok(CelRule { exprs: out })
    }

    /// Evaluates the rule on `obj`; the error names the expression that failed.
    pub(crate) fn judge(&self, obj: &Value) -> Result<Health, String> {
        if let Some(stale) = super::super::stale_status(obj, false) {
            return Ok(stale);
        }
        let mut ctx = Context::default();
        for name in ["apiVersion", "kind", "metadata", "spec", "status"] {
            ctx.add_variable_from_value(name, cel::Value::Map(Map { map: Arc::new(HashMap::new()) }));
        }
        if let Value::Object(fields) = obj {
            for (name, v) in fields {
                ctx.add_variable_from_value(name.as_str(), to_cel(v));
            }
        }
        for e in &self.exprs {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.program.execute(&ctx)))
                .map_err(|_| format!("{}: the CEL interpreter failed on this expression", e.field))?;
            match result {
                Ok(cel::Value::Bool(true)) => {
                    return Ok(Health { status: e.status, message: format!("{} is true: {}", e.field, e.source) });
                }
                Ok(cel::Value::Bool(false)) => {}
                Ok(other) => {
                    return Err(format!("{}: the expression returned {}, not a bool", e.field, other.type_of()));
                }
                Err(err) => return Err(format!("{}: {err}", e.field)),
            }
        }
        Ok(Health { status: HealthStatus::Progressing, message: "no expression is true yet".into() })
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// JSON as CEL values: integers as `int` (so `metadata.generation == 2` holds), other numbers
/// as `double`.
fn to_cel(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(u)) => cel::Value::UInt(u),
            _ => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let m: HashMap<Key, cel::Value> = map.iter().map(|(k, v)| (Key::from(k.as_str()), to_cel(v))).collect();
            cel::Value::Map(Map { map: Arc::new(m) })
        }
    }
}
