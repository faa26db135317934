//! A rendered Kubernetes object with its identity and origin, and kustomize's legacy order.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

use super::fs::RepoPath;

/// Where an object came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file that holds it.
    pub file: RepoPath,
    /// 1-based line where its document starts.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Group, version, kind, namespace and name of an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResId {
    /// API group, empty for the core group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace as written (empty when absent).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ResId {
    /// Reads the identity of an object (missing fields are empty).
    pub fn of(value: &Value) -> ResId {
        let api_version = str_at(value, &["apiVersion"]);
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        ResId {
            group,
            version,
            kind: str_at(value, &["kind"]).to_string(),
            namespace: str_at(value, &["metadata", "namespace"]).to_string(),
            name: str_at(value, &["metadata", "name"]).to_string(),
        }
    }

    /// kustomize's `Gvk.String()`: `group_version_kind` with `~G`/`~V`/`~K` for empty parts.
    pub fn gvk_string(&self) -> String {
        let or = |s: &str, d: &str| if s.is_empty() { d.to_string() } else { s.to_string() };
        format!("{}_{}_{}", or(&self.group, "~G"), or(&self.version, "~V"), or(&self.kind, "~K"))
    }

    /// kustomize's `ResId.String()`: `gvk|namespace|name` with `~X`/`~N` for empty parts.
    pub fn legacy_string(&self) -> String {
        let ns = if self.namespace.is_empty() { "~X" } else { &self.namespace };
        let name = if self.name.is_empty() { "~N" } else { &self.name };
        format!("{}|{}|{}", self.gvk_string(), ns, name)
    }

    /// Same kind of object (group and kind; version is not part of identity for duplicates in
    /// kustomize, but it is here, like kustomize's `ResId.Equals`).
    pub fn same_object(&self, other: &ResId) -> bool {
        self == other
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gv = if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) };
        if self.namespace.is_empty() {
            write!(f, "{} {} {}", gv, self.kind, self.name)
        } else {
            write!(f, "{} {} {}/{}", gv, self.kind, self.namespace, self.name)
        }
    }
}

/// A string field at a path, or `""`.
pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = value;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

/// One object of a build.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The object.
    pub value: Value,
    /// Where it was read.
    pub origin: Origin,
    /// Its identity when it was read, before any namespace change (patch targets match it too).
    pub original_id: ResId,
}

impl Resource {
    /// Wraps an object read from `origin`.
    pub fn new(value: Value, origin: Origin) -> Self {
        let original_id = ResId::of(&value);
        Resource { value, origin, original_id }
    }

    /// Its current identity.
    pub fn id(&self) -> ResId {
        ResId::of(&self.value)
    }

    /// `metadata.labels` as pairs.
    pub fn labels(&self) -> Vec<(&str, &str)> {
        string_pairs(self.value.pointer("/metadata/labels"))
    }

    /// `metadata.annotations` as pairs.
    pub fn annotations(&self) -> Vec<(&str, &str)> {
        string_pairs(self.value.pointer("/metadata/annotations"))
    }
}

fn string_pairs(v: Option<&Value>) -> Vec<(&str, &str)> {
    match v {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))).collect(),
        _ => Vec::new(),
    }
}

/// Kinds kustomize's legacy order puts first, in this order.
const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds kustomize's legacy order puts last, in this order.
const ORDER_LAST: &[&str] = &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

fn legacy_rank(kind: &str) -> i64 {
    if let Some(i) = ORDER_FIRST.iter().position(|k| *k == kind) {
        return i as i64 - ORDER_FIRST.len() as i64;
    }
    if let Some(i) = ORDER_LAST.iter().position(|k| *k == kind) {
        return i as i64 + 1;
    }
    0
}

/// kustomize's legacy comparison of two identities.
pub fn legacy_cmp(a: &ResId, b: &ResId) -> Ordering {
    let (ga, gb) = (a.gvk_string(), b.gvk_string());
    if ga != gb {
        let (ra, rb) = (legacy_rank(&a.kind), legacy_rank(&b.kind));
        if ra != rb {
            return ra.cmp(&rb);
        }
        // kustomize reverses the comparison between Namespace kinds when one is the core one.
        if a.kind == "Namespace" && b.kind == "Namespace" && (a.group.is_empty() || b.group.is_empty()) {
            return gb.cmp(&ga);
        }
        return ga.cmp(&gb);
    }
    a.legacy_string().cmp(&b.legacy_string())
}

/// Sorts resources in kustomize's legacy order (what `kustomize build` prints by default).
pub fn sort_legacy(resources: &mut [Resource]) {
    resources.sort_by(|a, b| legacy_cmp(&a.id(), &b.id()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_split_api_version() {
        let id = ResId::of(
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}),
        );
        assert_eq!((id.group.as_str(), id.version.as_str()), ("apps", "v1"));
        assert_eq!(id.legacy_string(), "apps_v1_Deployment|shop|web");
        let core = ResId::of(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}));
        assert_eq!(core.legacy_string(), "~G_v1_Service|~X|web");
    }

    #[test]
    fn legacy_order_puts_namespaces_first_and_webhooks_last() {
        let mk = |api: &str, kind: &str, name: &str| {
            Resource::new(
                json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}}),
                Origin { file: RepoPath::root(), line: 1 },
            )
        };
        let mut rs = vec![
            mk("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "v"),
            mk("apps/v1", "Deployment", "b"),
            mk("example.com/v1", "Widget", "w"),
            mk("apps/v1", "Deployment", "a"),
            mk("v1", "Namespace", "ns"),
            mk("v1", "Service", "s"),
        ];
        sort_legacy(&mut rs);
        let kinds: Vec<String> = rs.iter().map(|r| format!("{}/{}", r.id().kind, r.id().name)).collect();
        assert_eq!(
            kinds,
            vec![
                "Namespace/ns",
                "Service/s",
                "Deployment/a",
                "Deployment/b",
                "Widget/w",
                "ValidatingWebhookConfiguration/v"
            ]
        );
    }
}
