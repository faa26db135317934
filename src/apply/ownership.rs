//! What tidegate writes on the objects it owns, how it recognises them, and object references.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Label naming the app an object belongs to.
pub const APP_LABEL: &str = "tidegate.dev/app";
/// Label naming the environment an object belongs to.
pub const ENV_LABEL: &str = "tidegate.dev/env";
/// Annotation that opts an object out of pruning (`"false"`).
pub const PRUNE_ANNOTATION: &str = "tidegate.dev/prune";
/// Argo CD's sync options annotation; `Prune=false` is honoured too.
pub const ARGO_SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";

/// A reference to one object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// `apiVersion`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace (empty for cluster-scoped objects).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The reference of an object.
    pub fn of(obj: &Value) -> ObjectRef {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        ObjectRef {
            api_version: s("/apiVersion"),
            kind: s("/kind"),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
        }
    }

    /// The namespace, or `None` for cluster-scoped objects.
    pub fn namespace(&self) -> Option<&str> {
        if self.namespace.is_empty() { None } else { Some(&self.namespace) }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Adds tidegate's ownership labels to a desired object.
pub fn mark(obj: &mut Value, env: &str, app: &str) {
    let Value::Object(o) = obj else { return };
    let meta = o.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(meta) = meta else { return };
    let labels = meta.entry("labels").or_insert_with(|| Value::Object(Map::new()));
    if labels.is_null() {
        *labels = Value::Object(Map::new());
    }
    if let Value::Object(labels) = labels {
        labels.insert(APP_LABEL.into(), Value::String(app.to_string()));
        labels.insert(ENV_LABEL.into(), Value::String(env.to_string()));
    }
}

/// True if a live object still carries tidegate's mark for this app and environment.
pub fn owned_by(live: &Value, env: &str, app: &str) -> bool {
    let label = |k: &str| live.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str);
    label(APP_LABEL) == Some(app) && label(ENV_LABEL) == Some(env)
}

/// True if the object asks not to be pruned.
pub fn prune_disabled(live: &Value) -> bool {
    let ann = |k: &str| live.pointer("/metadata/annotations").and_then(|a| a.get(k)).and_then(Value::as_str);
    ann(PRUNE_ANNOTATION).is_some_and(|v| v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("disabled"))
        || ann(ARGO_SYNC_OPTIONS).is_some_and(|v| v.split(',').any(|o| o.trim() == "Prune=false"))
}

/// The label selector of one environment's objects of the given apps.
pub fn selector(env: &str, apps: &[&str]) -> String {
    match apps {
        [one] => format!("{ENV_LABEL}={env},{APP_LABEL}={one}"),
        _ => format!("{ENV_LABEL}={env},{APP_LABEL} in ({})", apps.join(",")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn marks_and_recognises_owned_objects() {
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": null}});
        mark(&mut obj, "dev", "web");
        assert!(owned_by(&obj, "dev", "web"));
        assert!(!owned_by(&obj, "prod", "web"));
        assert!(!owned_by(&obj, "dev", "api"));
    }

    #[test]
    fn prune_opt_outs() {
        assert!(prune_disabled(&json!({"metadata": {"annotations": {"tidegate.dev/prune": "false"}}})));
        assert!(prune_disabled(
            &json!({"metadata": {"annotations": {"argocd.argoproj.io/sync-options": "ServerSideApply=true, Prune=false"}}})
        ));
        assert!(!prune_disabled(&json!({"metadata": {"annotations": {"tidegate.dev/prune": "true"}}})));
        assert!(!prune_disabled(&json!({"metadata": {}})));
    }

    #[test]
    fn selectors() {
        assert_eq!(selector("dev", &["web"]), "tidegate.dev/env=dev,tidegate.dev/app=web");
        assert_eq!(selector("dev", &["a", "b"]), "tidegate.dev/env=dev,tidegate.dev/app in (a,b)");
    }
}
