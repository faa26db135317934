//! kustomize's field specifications: which paths of which kinds a transformer writes, and the
//! walk that applies a value along such a path (descending into every element of a list).
//!
//! The tables mirror kustomize v5.5's built-in configurations (`api/konfig/builtinpluginconsts`).

use serde_json::{Map, Value};

use super::resource::ResId;

/// One path a transformer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Restrict to this API group (`None`: any).
    pub group: Option<&'static str>,
    /// Restrict to this API version (`None`: any).
    pub version: Option<&'static str>,
    /// Restrict to this kind (`None`: any).
    pub kind: Option<&'static str>,
    /// `/`-separated path; a segment ending in `[]` is a list whose every element is visited.
    pub path: &'static str,
    /// Create missing fields along the path.
    pub create: bool,
}

const fn fs(group: Option<&'static str>, kind: Option<&'static str>, path: &'static str, create: bool) -> FieldSpec {
    FieldSpec { group, version: None, kind, path, create }
}

const fn fs_v(version: &'static str, kind: &'static str, path: &'static str, create: bool) -> FieldSpec {
    FieldSpec { group: None, version: Some(version), kind: Some(kind), path, create }
}

impl FieldSpec {
    /// True if this spec applies to an object of this identity.
    pub fn applies_to(&self, id: &ResId) -> bool {
        self.group.is_none_or(|g| g == id.group)
            && self.version.is_none_or(|v| v == id.version)
            && self.kind.is_none_or(|k| k == id.kind)
    }
}

const AFFINITY_PATHS: [&str; 5] = [
    "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
];

/// Selector fields that `commonLabels` (and `labels` with `includeSelectors`) update.
pub const SELECTOR_LABEL_SPECS: &[FieldSpec] = &[
    fs_v("v1", "Service", "spec/selector", true),
    fs_v("v1", "ReplicationController", "spec/selector", true),
    fs(None, Some("Deployment"), "spec/selector/matchLabels", true),
    fs(Some("apps"), Some("Deployment"), AFFINITY_PATHS[0], false),
    fs(Some("apps"), Some("Deployment"), AFFINITY_PATHS[1], false),
    fs(Some("apps"), Some("Deployment"), AFFINITY_PATHS[2], false),
    fs(Some("apps"), Some("Deployment"), AFFINITY_PATHS[3], false),
    fs(Some("apps"), Some("Deployment"), AFFINITY_PATHS[4], false),
    fs(None, Some("ReplicaSet"), "spec/selector/matchLabels", true),
    fs(None, Some("DaemonSet"), "spec/selector/matchLabels", true),
    fs(Some("apps"), Some("StatefulSet"), "spec/selector/matchLabels", true),
    fs(Some("apps"), Some("StatefulSet"), AFFINITY_PATHS[0], false),
    fs(Some("apps"), Some("StatefulSet"), AFFINITY_PATHS[1], false),
    fs(Some("apps"), Some("StatefulSet"), AFFINITY_PATHS[2], false),
    fs(Some("apps"), Some("StatefulSet"), AFFINITY_PATHS[3], false),
    fs(Some("apps"), Some("StatefulSet"), AFFINITY_PATHS[4], false),
    fs(Some("batch"), Some("Job"), "spec/selector/matchLabels", false),
    fs(Some("batch"), Some("CronJob"), "spec/jobTemplate/spec/selector/matchLabels", false),
    fs(Some("policy"), Some("PodDisruptionBudget"), "spec/selector/matchLabels", false),
    fs(Some("networking.k8s.io"), Some("NetworkPolicy"), "spec/podSelector/matchLabels", false),
    fs(Some("networking.k8s.io"), Some("NetworkPolicy"), "spec/ingress/from/podSelector/matchLabels", false),
    fs(Some("networking.k8s.io"), Some("NetworkPolicy"), "spec/egress/to/podSelector/matchLabels", false),
];

/// Pod-template label fields that `commonLabels` (and `labels` with `includeTemplates` or
/// `includeSelectors`) update.
pub const TEMPLATE_LABEL_SPECS: &[FieldSpec] = &[
    fs_v("v1", "ReplicationController", "spec/template/metadata/labels", true),
    fs(None, Some("Deployment"), "spec/template/metadata/labels", true),
    fs(None, Some("ReplicaSet"), "spec/template/metadata/labels", true),
    fs(None, Some("DaemonSet"), "spec/template/metadata/labels", true),
    fs(Some("apps"), Some("StatefulSet"), "spec/template/metadata/labels", true),
    fs(Some("apps"), Some("StatefulSet"), "spec/volumeClaimTemplates[]/metadata/labels", true),
    fs(Some("batch"), Some("Job"), "spec/template/metadata/labels", true),
    fs(Some("batch"), Some("CronJob"), "spec/jobTemplate/metadata/labels", true),
    fs(Some("batch"), Some("CronJob"), "spec/jobTemplate/spec/template/metadata/labels", true),
];

/// Every object's own labels.
pub const METADATA_LABELS: FieldSpec = fs(None, None, "metadata/labels", true);

/// Annotation fields that `commonAnnotations` updates.
pub const ANNOTATION_SPECS: &[FieldSpec] = &[
    fs(None, None, "metadata/annotations", true),
    fs_v("v1", "ReplicationController", "spec/template/metadata/annotations", true),
    fs(None, Some("Deployment"), "spec/template/metadata/annotations", true),
    fs(None, Some("ReplicaSet"), "spec/template/metadata/annotations", true),
    fs(None, Some("DaemonSet"), "spec/template/metadata/annotations", true),
    fs(None, Some("StatefulSet"), "spec/template/metadata/annotations", true),
    fs(Some("batch"), Some("Job"), "spec/template/metadata/annotations", true),
    fs(Some("batch"), Some("CronJob"), "spec/jobTemplate/metadata/annotations", true),
    fs(Some("batch"), Some("CronJob"), "spec/jobTemplate/spec/template/metadata/annotations", true),
];

/// Visits the field at `spec.path` in `value` (every match, through lists), creating missing
/// mappings when the spec says so, and calls `f` on each final field's slot.
pub fn visit(value: &mut Value, spec: &FieldSpec, f: &mut dyn FnMut(&mut Value)) {
    let segments: Vec<&str> = spec.path.split('/').collect();
    walk(value, &segments, spec.create, f);
}

fn walk(node: &mut Value, segments: &[&str], create: bool, f: &mut dyn FnMut(&mut Value)) {
    let Some((first, rest)) = segments.split_first() else {
        f(node);
        return;
    };
    if let Value::Array(items) = node {
        for item in items {
            walk(item, segments, create, f);
        }
        return;
    }
    let (key, is_list) = match first.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (*first, false),
    };
    let Value::Object(map) = node else { return };
    if !map.contains_key(key) || map.get(key).is_some_and(Value::is_null) {
        if !create || is_list {
            return;
        }
        let fresh = if rest.is_empty() { Value::Null } else { Value::Object(Map::new()) };
        map.insert(key.to_string(), fresh);
    }
    let child = map.get_mut(key).expect("present");
    if is_list {
        if let Value::Array(items) = child {
            for item in items {
                walk(item, rest, create, f);
            }
        }
    } else {
        walk(child, rest, create, f);
    }
}

/// Sets `pairs` into the mapping at the visited slot (creating it when empty).
pub fn merge_pairs(slot: &mut Value, pairs: &[(&str, &str)]) {
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(m) = slot {
        for (k, v) in pairs {
            m.insert((*k).to_string(), Value::String((*v).to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walks_through_lists_and_creates_only_when_asked() {
        let mut np = json!({"spec": {"ingress": [{"from": [{"podSelector": {"matchLabels": {"a": "1"}}}, {"namespaceSelector": {}}]}]}});
        let spec = fs(None, None, "spec/ingress/from/podSelector/matchLabels", false);
        visit(&mut np, &spec, &mut |slot| merge_pairs(slot, &[("team", "x")]));
        assert_eq!(np["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"], json!({"a": "1", "team": "x"}));
        assert_eq!(np["spec"]["ingress"][0]["from"][1], json!({"namespaceSelector": {}}));

        let mut obj = json!({"metadata": {"name": "x"}});
        visit(&mut obj, &fs(None, None, "metadata/labels", true), &mut |slot| merge_pairs(slot, &[("a", "b")]));
        assert_eq!(obj["metadata"]["labels"], json!({"a": "b"}));
    }
}
