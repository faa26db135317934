//! The kustomization transformers tidegate supports, in kustomize's order: `patches`,
//! `namespace`, `labels`/`commonLabels`, `commonAnnotations`, `patchesJson6902`, `images`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fieldspec::{
    self, ANNOTATION_SPECS, FieldSpec, METADATA_LABELS, SELECTOR_LABEL_SPECS, TEMPLATE_LABEL_SPECS,
};
use super::kustomization::Kustomization;
use super::resource::{ResId, Resource};
use super::scope::is_builtin_cluster_scoped;

/// Applies `namespace`: namespaced objects move into it; RoleBinding subjects follow the
/// ServiceAccounts of this build and the `default` account, as kustomize does.
pub fn set_namespace(resources: &mut [Resource], namespace: &str) {
    // Where each ServiceAccount of this build lived before the change: subjects that pointed
    // at it follow it (kustomize's name-reference step).
    let accounts: Vec<(String, String)> = resources
        .iter()
        .map(Resource::id)
        .filter(|id| id.kind == "ServiceAccount" && id.group.is_empty())
        .map(|id| (id.name, id.namespace))
        .collect();
    for r in resources.iter_mut() {
        let id = r.id();
        if !is_builtin_cluster_scoped(&id.group, &id.kind) {
            if let Value::Object(obj) = &mut r.value {
                let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(meta) = meta {
                    meta.insert("namespace".into(), Value::String(namespace.to_string()));
                }
            }
        }
        if id.group == "rbac.authorization.k8s.io" && (id.kind == "RoleBinding" || id.kind == "ClusterRoleBinding") {
            update_subjects(&mut r.value, namespace, &accounts);
        }
    }
}

fn update_subjects(binding: &mut Value, namespace: &str, accounts: &[(String, String)]) {
    let Some(Value::Array(subjects)) = binding.get_mut("subjects") else { return };
    for subject in subjects.iter_mut() {
        let Value::Object(s) = subject else { continue };
        let name = s.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
        let current = s.get("namespace").and_then(Value::as_str).unwrap_or("").to_string();
        let follows_account = kind == "ServiceAccount"
            && accounts.iter().any(|(sa, sa_ns)| {
                *sa == name && (current.is_empty() || current == *sa_ns || (sa_ns.is_empty() && current == "default"))
            });
        if name == "default" || follows_account {
            s.insert("namespace".into(), Value::String(namespace.to_string()));
        }
    }
}

fn apply_specs(resources: &mut [Resource], specs: &[FieldSpec], pairs: &BTreeMap<String, String>) {
    if pairs.is_empty() {
        return;
    }
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for r in resources.iter_mut() {
        let id: ResId = r.id();
        for spec in specs.iter().filter(|s| s.applies_to(&id)) {
            fieldspec::visit(&mut r.value, spec, &mut |slot| fieldspec::merge_pairs(slot, &pairs));
        }
    }
}

/// Applies `labels` entries, then `commonLabels` (kustomize's order).
pub fn set_labels(resources: &mut [Resource], k: &Kustomization) {
    for entry in &k.labels {
        let mut specs = vec![METADATA_LABELS];
        if entry.include_selectors {
            specs.extend_from_slice(SELECTOR_LABEL_SPECS);
            specs.extend_from_slice(TEMPLATE_LABEL_SPECS);
        } else if entry.include_templates {
            specs.extend_from_slice(TEMPLATE_LABEL_SPECS);
        }
        apply_specs(resources, &specs, &entry.pairs);
    }
    let mut common = vec![METADATA_LABELS];
    common.extend_from_slice(SELECTOR_LABEL_SPECS);
    common.extend_from_slice(TEMPLATE_LABEL_SPECS);
    apply_specs(resources, &common, &k.common_labels);
}

/// Applies `commonAnnotations`.
pub fn set_annotations(resources: &mut [Resource], annotations: &BTreeMap<String, String>) {
    apply_specs(resources, ANNOTATION_SPECS, annotations);
}
