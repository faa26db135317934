//! The kustomization transformers tidegate supports, in kustomize's order: `patches`,
//! `namespace`, `labels`/`commonLabels`, `commonAnnotations`, `patchesJson6902`, `images`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fieldspec::{
    self, ANNOTATION_SPECS, FieldSpec, METADATA_LABELS, SELECTOR_LABEL_SPECS, TEMPLATE_LABEL_SPECS,
};
use super::kustomization::Kustomization;
use super::resource::{ResId, Resource};
use super::scope::is_kustomize_cluster_scoped;

/// Applies `namespace` as kustomize v5.5 does: namespaced objects (by kustomize's exact
/// scope table) move into it, a `v1 Namespace` object is renamed to it, APIService and CRD
/// conversion-webhook service namespaces follow, and RoleBinding subjects named `default` get it.
pub fn set_namespace(resources: &mut [Resource], namespace: &str) {
    let ns = || Value::String(namespace.to_string());
    for r in resources.iter_mut() {
        let id = r.id();
        let api_version = r.value.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string();
        if !is_kustomize_cluster_scoped(&api_version, &id.kind) {
            fieldspec::visit(&mut r.value, &fs_create("metadata/namespace"), &mut |slot| *slot = ns());
        }
        if api_version == "v1" && id.kind == "Namespace" {
            fieldspec::visit(&mut r.value, &fs_create("metadata/name"), &mut |slot| *slot = ns());
        }
        if id.group == "apiregistration.k8s.io" && id.kind == "APIService" {
            fieldspec::visit(&mut r.value, &fs_create("spec/service/namespace"), &mut |slot| *slot = ns());
        }
        if id.group == "apiextensions.k8s.io" && id.kind == "CustomResourceDefinition" {
            let spec =
                FieldSpec { create: false, ..fs_create("spec/conversion/webhook/clientConfig/service/namespace") };
            fieldspec::visit(&mut r.value, &spec, &mut |slot| *slot = ns());
        }
        if id.kind == "RoleBinding" || id.kind == "ClusterRoleBinding" {
            if let Some(Value::Array(subjects)) = r.value.get_mut("subjects") {
                for subject in subjects.iter_mut().filter(|s| s.get("name").and_then(Value::as_str) == Some("default"))
                {
                    if let Value::Object(s) = subject {
                        s.insert("namespace".into(), ns());
                    }
                }
            }
        }
    }
}

const fn fs_create(path: &'static str) -> FieldSpec {
    FieldSpec { group: None, version: None, kind: None, path, create: true }
}

/// kustomize's name-reference step, for what tidegate can change (namespaces): references to a
/// ServiceAccount or Service of the same build follow that object into its current namespace.
/// A reference matches by the object's original name and namespace; a reference without a
/// namespace matches by name alone.
pub fn fix_references(resources: &mut [Resource]) {
    let targets = |kind: &str, resources: &[Resource]| -> Vec<(String, String, String)> {
        resources
            .iter()
            .filter(|r| r.original_id.kind == kind && r.original_id.group.is_empty())
            .map(|r| (r.original_id.name.clone(), effective(&r.original_id.namespace), r.id().namespace))
            .collect()
    };
    let accounts = targets("ServiceAccount", resources);
    let services = targets("Service", resources);
    for r in resources.iter_mut() {
        let id = r.id();
        match (id.group.as_str(), id.kind.as_str()) {
            ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
                if let Some(Value::Array(subjects)) = r.value.get_mut("subjects") {
                    for s in
                        subjects.iter_mut().filter(|s| s.get("kind").and_then(Value::as_str) == Some("ServiceAccount"))
                    {
                        follow(s, &accounts);
                    }
                }
            }
            ("admissionregistration.k8s.io", "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration") => {
                if let Some(Value::Array(hooks)) = r.value.get_mut("webhooks") {
                    for hook in hooks {
                        if let Some(service) = hook.pointer_mut("/clientConfig/service") {
                            follow(service, &services);
                        }
                    }
                }
            }
            ("apiregistration.k8s.io", "APIService") => {
                if let Some(service) = r.value.pointer_mut("/spec/service") {
                    follow(service, &services);
                }
            }
            ("apiextensions.k8s.io", "CustomResourceDefinition") => {
                if let Some(service) = r.value.pointer_mut("/spec/conversion/webhook/clientConfig/service") {
                    follow(service, &services);
                }
            }
            _ => {}
        }
    }
}

fn effective(ns: &str) -> String {
    if ns.is_empty() { "default".into() } else { ns.into() }
}

/// Points a `{name, namespace}` reference at the current namespace of the one target it names.
fn follow(reference: &mut Value, targets: &[(String, String, String)]) {
    let Value::Object(m) = reference else { return };
    let Some(name) = m.get("name").and_then(Value::as_str) else { return };
    let ns = m.get("namespace").and_then(Value::as_str).unwrap_or("");
    let matches: Vec<&(String, String, String)> =
        targets.iter().filter(|(n, orig_ns, _)| n == name && (ns.is_empty() || effective(ns) == *orig_ns)).collect();
    if let [(_, _, current)] = matches.as_slice() {
        if !current.is_empty() {
            m.insert("namespace".into(), Value::String(current.clone()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fs::RepoPath;
    use crate::render::resource::Origin;
    use serde_json::json;

    fn res(v: Value) -> Resource {
        Resource::new(v, Origin { file: RepoPath::root(), line: 1 })
    }

    #[test]
    fn namespace_follows_kustomizes_scope_table() {
        let mut rs = vec![
            res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "old"}})),
            res(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}),
            ),
            res(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}})),
            res(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})),
            res(json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "a"}})),
        ];
        set_namespace(&mut rs, "prod");
        assert_eq!(rs[0].value["metadata"]["namespace"], "prod");
        assert!(rs[1].value["metadata"].get("namespace").is_none());
        assert_eq!(rs[2].value["metadata"], json!({"name": "prod"}));
        assert_eq!(rs[3].value["metadata"]["namespace"], "prod");
        assert_eq!(rs[4].value["spec"], json!({"service": {"namespace": "prod"}}));
    }

    #[test]
    fn subjects_named_default_and_accounts_of_the_build_follow() {
        let mut rs = vec![
            res(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app"}})),
            res(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b"}, "subjects": [
                    {"kind": "ServiceAccount", "name": "app"},
                    {"kind": "ServiceAccount", "name": "app", "namespace": "elsewhere"},
                    {"kind": "ServiceAccount", "name": "stranger"},
                    {"kind": "User", "name": "default"}
                ]}),
            ),
        ];
        set_namespace(&mut rs, "shop");
        fix_references(&mut rs);
        let subjects = &rs[1].value["subjects"];
        assert_eq!(subjects[0]["namespace"], "shop");
        assert_eq!(subjects[1]["namespace"], "elsewhere");
        assert!(subjects[2].get("namespace").is_none());
        assert_eq!(subjects[3]["namespace"], "shop");
    }
}
