//! Kubernetes `Status` errors.

use serde_json::{Value, json};

use crate::registry::ResourceType;

/// An error the API answers with, rendered as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, reason, message: message.into(), details: json!({}), retry_after: None }
    }

    fn with_details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    /// `deployments.apps "x" not found`.
    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::new(404, "NotFound", format!("{} \"{name}\" not found", rt.qualified()))
            .with_details(json!({"name": name, "group": rt.group, "kind": rt.plural}))
    }

    /// `namespaces "x" not found`.
    pub fn namespace_not_found(ns: &str) -> ApiError {
        ApiError::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            .with_details(json!({"name": ns, "kind": "namespaces"}))
    }

    /// The generic 404 for paths and kinds the server does not serve.
    pub fn no_resource() -> ApiError {
        ApiError::new(404, "NotFound", "the server could not find the requested resource")
    }

    /// `deployments.apps "x" already exists`.
    pub fn already_exists(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::new(409, "AlreadyExists", format!("{} \"{name}\" already exists", rt.qualified()))
            .with_details(json!({"name": name, "group": rt.group, "kind": rt.plural}))
    }

    /// The optimistic-concurrency conflict of a stale `resourceVersion`.
    pub fn modified(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your \
                 changes to the latest version and try again",
                rt.qualified()
            ),
        )
        .with_details(json!({"name": name, "group": rt.group, "kind": rt.plural}))
    }

    /// A server-side apply conflict: `(manager description, field path)` pairs.
    pub fn apply_conflict(rt: &ResourceType, name: &str, conflicts: &[(String, String)]) -> ApiError {
        let message = if let [(manager, field)] = conflicts {
            format!("Apply failed with 1 conflict: conflict with {manager}: {field}")
        } else {
            let mut by_manager: Vec<(&str, Vec<&str>)> = Vec::new();
            for (m, f) in conflicts {
                match by_manager.iter_mut().find(|(x, _)| x == m) {
                    Some((_, fields)) => fields.push(f),
                    None => by_manager.push((m, vec![f])),
                }
            }
            let body: Vec<String> = by_manager
                .iter()
                .map(|(m, fields)| {
                    let list: Vec<String> = fields.iter().map(|f| format!("- {f}")).collect();
                    format!("conflicts with {m}:\n{}", list.join("\n"))
                })
                .collect();
            format!("Apply failed with {} conflicts: {}", conflicts.len(), body.join("\n"))
        };
        let causes: Vec<Value> = conflicts
            .iter()
            .map(
                |(m, f)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m}"), "field": f}),
            )
            .collect();
        ApiError::new(409, "Conflict", message)
            .with_details(json!({"name": name, "group": rt.group, "kind": rt.plural, "causes": causes}))
    }

    /// 422 with `(field, message)` causes, like `Deployment.apps "x" is invalid: spec.selector: Required value`.
    pub fn invalid(rt: &ResourceType, name: &str, causes: Vec<(String, String)>) -> ApiError {
        let group_kind = if rt.group.is_empty() { rt.kind.clone() } else { format!("{}.{}", rt.kind, rt.group) };
        let texts: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let summary = if texts.len() == 1 { texts[0].clone() } else { format!("[{}]", texts.join(", ")) };
        let causes: Vec<Value> = causes
            .iter()
            .map(|(f, m)| {
                let reason = if m.starts_with("Required value") {
                    "FieldValueRequired"
                } else if m.starts_with("Unsupported value") {
                    "FieldValueNotSupported"
                } else if m.starts_with("Forbidden") {
                    "FieldValueForbidden"
                } else {
                    "FieldValueInvalid"
                };
                json!({"reason": reason, "message": m, "field": f})
            })
            .collect();
        ApiError::new(422, "Invalid", format!("{group_kind} \"{name}\" is invalid: {summary}"))
            .with_details(json!({"name": name, "group": rt.group, "kind": rt.kind, "causes": causes}))
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "Forbidden", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    }

    /// An injected fault with the status, reason and message a real server would send.
    pub fn injected(code: u16, retry_after: Option<u64>) -> ApiError {
        let (reason, message) = match code {
            400 => ("BadRequest", "the request was invalid (injected fault)"),
            401 => ("Unauthorized", "Unauthorized"),
            403 => ("Forbidden", "access denied (injected fault)"),
            404 => ("NotFound", "the server could not find the requested resource"),
            409 => (
                "Conflict",
                "Operation cannot be fulfilled: the object has been modified; please apply your changes to the \
                 latest version and try again",
            ),
            410 => ("Expired", "too old resource version"),
            422 => ("Invalid", "the object is invalid (injected fault)"),
            429 => ("TooManyRequests", "Too many requests, please try again later."),
            500 => ("InternalError", "Internal error occurred: injected fault"),
            503 => ("ServiceUnavailable", "the server is currently unable to handle the request"),
            504 => ("Timeout", "the server was unable to return a response in the time allotted"),
            _ => ("InternalError", "injected fault"),
        };
        let mut e = ApiError::new(code, reason, message);
        if let Some(secs) = retry_after {
            e.retry_after = Some(secs);
            e.details = json!({"retryAfterSeconds": secs});
        }
        e
    }

    /// The `Status` body.
    pub fn to_status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        })
    }
}
