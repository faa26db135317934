//! The inventory: what tidegate applied for one app in one environment, kept in the cluster
//! (a ConfigMap) so that a restarted or second instance knows what it owns and can prune.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::ownership::{APP_LABEL, ENV_LABEL, ObjectRef};

/// Label marking inventory ConfigMaps.
pub const INVENTORY_LABEL: &str = "tidegate.dev/inventory";
/// Default namespace of the inventories.
pub const DEFAULT_NAMESPACE: &str = "tidegate-system";

/// What was applied for one app in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    /// The environment.
    pub env: String,
    /// The app.
    pub app: String,
    /// Digest of the rendered objects last applied completely; empty after a partial apply,
    /// so the next sync applies again.
    pub digest: String,
    /// The commit that digest came from.
    pub revision: String,
    /// Every object applied and not yet pruned.
    pub objects: BTreeSet<ObjectRef>,
}

/// The ConfigMap name of an inventory.
pub fn configmap_name(env: &str, app: &str) -> String {
    format!("tidegate-{env}-{app}")
}

impl Inventory {
    /// The ConfigMap that stores this inventory in `namespace`.
    pub fn to_configmap(&self, namespace: &str) -> Value {
        let objects: Vec<&ObjectRef> = self.objects.iter().collect();
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": configmap_name(&self.env, &self.app),
                "namespace": namespace,
                "labels": {INVENTORY_LABEL: "true", ENV_LABEL: self.env, APP_LABEL: self.app, "app.kubernetes.io/managed-by": "tidegate"},
            },
            "data": {
                "digest": self.digest,
                "revision": self.revision,
                "objects": serde_json::to_string_pretty(&objects).unwrap_or_else(|_| "[]".into()),
            },
        })
    }

    /// Reads an inventory ConfigMap; `None` if it is not one.
    pub fn from_configmap(cm: &Value) -> Option<Inventory> {
        let label =
            |k: &str| cm.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str).map(str::to_string);
        if label(INVENTORY_LABEL).as_deref() != Some("true") {
            return None;
        }
        let data =
            |k: &str| cm.pointer("/data").and_then(|d| d.get(k)).and_then(Value::as_str).unwrap_or("").to_string();
        let objects: Vec<ObjectRef> = serde_json::from_str(&data("objects")).unwrap_or_default();
        Some(Inventory {
            env: label(ENV_LABEL)?,
            app: label(APP_LABEL)?,
            digest: data("digest"),
            revision: data("revision"),
            objects: objects.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_configmap() {
        let inv = Inventory {
            env: "dev".into(),
            app: "web".into(),
            digest: "sha256:ab".into(),
            revision: "c0ffee".into(),
            objects: [ObjectRef {
                api_version: "v1".into(),
                kind: "Service".into(),
                namespace: "shop".into(),
                name: "web".into(),
            }]
            .into(),
        };
        let cm = inv.to_configmap("tidegate-system");
        assert_eq!(cm["metadata"]["name"], "tidegate-dev-web");
        assert_eq!(Inventory::from_configmap(&cm), Some(inv));
        assert_eq!(Inventory::from_configmap(&serde_json::json!({"metadata": {"labels": {}}})), None);
    }
}
