//! Apply order inside a wave: Argo CD's and Helm's kind order, custom resources last.

use serde_json::Value;

/// Kinds in the order they are applied (Helm's install order, which Argo CD follows).
const KIND_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Built-in API groups: a kind from one of these is ranked by [`KIND_ORDER`]; any other group
/// is a custom resource and goes after every built-in kind.
fn is_builtin_group(group: &str) -> bool {
    group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")
}

/// The sort key of an object in apply order: kind rank, then group/kind for the rest, then
/// namespace and name.
pub fn apply_key(value: &Value) -> (usize, String, String, String) {
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    let rank = if is_builtin_group(group) {
        KIND_ORDER.iter().position(|k| *k == kind).unwrap_or(KIND_ORDER.len())
    } else {
        KIND_ORDER.len() + 1
    };
    let meta = |f: &str| value.get("metadata").and_then(|m| m.get(f)).and_then(Value::as_str).unwrap_or("").to_string();
    (rank, format!("{group}/{kind}"), meta("namespace"), meta("name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn namespaces_first_custom_resources_last() {
        let mut objs = [
            json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "s"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}),
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "c"}}),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "n"}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}),
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}}),
        ];
        objs.sort_by_key(apply_key);
        let kinds: Vec<&str> = objs.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "NetworkPolicy",
                "CustomResourceDefinition",
                "Service",
                "Deployment",
                "HorizontalPodAutoscaler",
                "ScaledObject"
            ]
        );
    }
}
