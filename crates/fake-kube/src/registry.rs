//! The resource types the server knows: built-in ones from k8s-openapi's metadata, plus those
//! of Established CustomResourceDefinitions.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::{
    admissionregistration, apps, autoscaling, batch, coordination, core, discovery, networking, node, policy, rbac,
    scheduling, storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration;
use k8s_openapi::{ClusterResourceScope, ListableResource, NamespaceResourceScope, Resource};
use serde_json::Value;

/// Whether a k8s-openapi scope type is namespaced.
trait ScopeFlag {
    const NAMESPACED: bool;
}
impl ScopeFlag for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl ScopeFlag for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

/// One served resource (a group, version and plural).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub list_kind: String,
    pub namespaced: bool,
    /// Has a `status` subresource (status is then ignored on writes to the main resource).
    pub status: bool,
    pub short_names: Vec<String>,
    /// The CRD that defines it, for custom resources.
    pub crd: Option<String>,
}

impl ResourceType {
    /// `apiVersion` of objects of this type.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// `deployments.apps` style name used in error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() { self.plural.clone() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// The verbs a real server lists for the main resource.
    pub fn verbs(&self) -> Vec<&'static str> {
        let mut v = vec!["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
        if self.kind == "Namespace" && self.group.is_empty() {
            v.retain(|x| *x != "deletecollection");
        }
        v
    }

    /// The APIResource entries (main resource, then `plural/status`) for discovery.
    pub fn discovery_entries(&self) -> Vec<Value> {
        let mut main = serde_json::json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs(),
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = serde_json::json!(self.short_names);
        }
        if self.crd.is_none() && matches!(self.kind.as_str(), "Deployment" | "StatefulSet" | "DaemonSet" | "Pod") {
            main["categories"] = serde_json::json!(["all"]);
        }
        let mut out = vec![main];
        if self.status {
            out.push(serde_json::json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        out
    }
}

fn builtin<K>(status: bool, short: &[&str]) -> ResourceType
where
    K: Resource + ListableResource,
    K::Scope: ScopeFlag,
{
    ResourceType {
        group: K::GROUP.to_string(),
        version: K::VERSION.to_string(),
        kind: K::KIND.to_string(),
        plural: K::URL_PATH_SEGMENT.to_string(),
        singular: K::KIND.to_ascii_lowercase(),
        list_kind: K::LIST_KIND.to_string(),
        namespaced: <K::Scope as ScopeFlag>::NAMESPACED,
        status,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        crd: None,
    }
}

/// The built-in resources, in the order a real server lists their groups.
fn builtins() -> Vec<ResourceType> {
    use admissionregistration::v1 as adm;
    vec![
        builtin::<core::v1::Namespace>(true, &["ns"]),
        builtin::<core::v1::ConfigMap>(false, &["cm"]),
        builtin::<core::v1::Secret>(false, &[]),
        builtin::<core::v1::Service>(true, &["svc"]),
        builtin::<core::v1::ServiceAccount>(false, &["sa"]),
        builtin::<core::v1::PersistentVolumeClaim>(true, &["pvc"]),
        builtin::<core::v1::PersistentVolume>(true, &["pv"]),
        builtin::<core::v1::Pod>(true, &["po"]),
        builtin::<core::v1::Endpoints>(false, &["ep"]),
        builtin::<core::v1::LimitRange>(false, &["limits"]),
        builtin::<core::v1::ResourceQuota>(true, &["quota"]),
        builtin::<core::v1::Event>(false, &["ev"]),
        builtin::<core::v1::Node>(true, &["no"]),
        builtin::<apiregistration::v1::APIService>(true, &[]),
        builtin::<apps::v1::Deployment>(true, &["deploy"]),
        builtin::<apps::v1::StatefulSet>(true, &["sts"]),
        builtin::<apps::v1::DaemonSet>(true, &["ds"]),
        builtin::<apps::v1::ReplicaSet>(true, &["rs"]),
        builtin::<apps::v1::ControllerRevision>(false, &[]),
        builtin::<autoscaling::v2::HorizontalPodAutoscaler>(true, &["hpa"]),
        builtin::<autoscaling::v1::HorizontalPodAutoscaler>(true, &["hpa"]),
        builtin::<batch::v1::Job>(true, &[]),
        builtin::<batch::v1::CronJob>(true, &["cj"]),
        builtin::<networking::v1::NetworkPolicy>(false, &["netpol"]),
        builtin::<networking::v1::Ingress>(true, &["ing"]),
        builtin::<networking::v1::IngressClass>(false, &[]),
        builtin::<policy::v1::PodDisruptionBudget>(true, &["pdb"]),
        builtin::<rbac::v1::Role>(false, &[]),
        builtin::<rbac::v1::RoleBinding>(false, &[]),
        builtin::<rbac::v1::ClusterRole>(false, &[]),
        builtin::<rbac::v1::ClusterRoleBinding>(false, &[]),
        builtin::<storage::v1::StorageClass>(false, &["sc"]),
        builtin::<storage::v1::CSIDriver>(false, &[]),
        builtin::<adm::MutatingWebhookConfiguration>(false, &[]),
        builtin::<adm::ValidatingWebhookConfiguration>(false, &[]),
        builtin::<apiextensions::v1::CustomResourceDefinition>(true, &["crd", "crds"]),
        builtin::<scheduling::v1::PriorityClass>(false, &["pc"]),
        builtin::<coordination::v1::Lease>(false, &[]),
        builtin::<discovery::v1::EndpointSlice>(false, &[]),
        builtin::<node::v1::RuntimeClass>(false, &[]),
    ]
}

/// Kubernetes version ordering: GA > beta > alpha, higher numbers first.
pub(crate) fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else { return (0, 0, 0) };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let Ok(major) = digits.parse::<u32>() else { return (0, 0, 0) };
    let tail = &rest[digits.len()..];
    let (stage, num) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        return (0, 0, 0);
    };
    (stage, major, num)
}

/// Every served resource type.
#[derive(Debug)]
pub(crate) struct Registry {
    builtin: Vec<Arc<ResourceType>>,
    /// Custom resources by the CRD's name, present once the CRD is Established.
    custom: BTreeMap<String, Vec<Arc<ResourceType>>>,
}

impl Registry {
    /// The built-in resources only.
    pub fn new() -> Registry {
        Registry { builtin: builtins().into_iter().map(Arc::new).collect(), custom: BTreeMap::new() }
    }

    fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.builtin.iter().chain(self.custom.values().flatten())
    }

    /// The type served at `/apis/{group}/{version}/{plural}`.
    pub fn by_plural(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.all().find(|t| t.group == group && t.version == version && t.plural == plural).cloned()
    }

    /// The type of objects with this apiVersion and kind.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = split_api_version(api_version);
        self.all().find(|t| t.group == group && t.version == version && t.kind == kind).cloned()
    }

    /// Groups in discovery order with their versions, preferred first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.all() {
            if t.group.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        for (_, versions) in &mut out {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }

    /// The resources served in one group version.
    pub fn resources(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        self.all().filter(|t| t.group == group && t.version == version).cloned().collect()
    }

    /// Makes an Established CRD's versions servable (replacing what it served before).
    pub fn register_crd(&mut self, crd: &Value) {
        let Some(name) = crd.pointer("/metadata/name").and_then(Value::as_str) else { return };
        let types = crd_types(crd);
        self.custom.insert(name.to_string(), types.into_iter().map(Arc::new).collect());
    }

    /// Stops serving a CRD's resources; returns the group/kind it served.
    pub fn unregister_crd(&mut self, name: &str) -> Option<(String, String)> {
        let types = self.custom.remove(name)?;
        types.first().map(|t| (t.group.clone(), t.kind.clone()))
    }
}

/// The resource types a CRD defines (one per served version).
pub(crate) fn crd_types(crd: &Value) -> Vec<ResourceType> {
    let s = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let kind = s("/spec/names/kind");
    let plural = s("/spec/names/plural");
    if kind.is_empty() || plural.is_empty() {
        return Vec::new();
    }
    let singular = match s("/spec/names/singular") {
        x if x.is_empty() => kind.to_ascii_lowercase(),
        x => x,
    };
    let list_kind = match s("/spec/names/listKind") {
        x if x.is_empty() => format!("{kind}List"),
        x => x,
    };
    let short_names: Vec<String> = crd
        .pointer("/spec/names/shortNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|v| {
            Some(ResourceType {
                group: s("/spec/group"),
                version: v.get("name")?.as_str()?.to_string(),
                kind: kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                list_kind: list_kind.clone(),
                namespaced: s("/spec/scope") != "Cluster",
                status: v.pointer("/subresources/status").is_some(),
                short_names: short_names.clone(),
                crd: Some(s("/metadata/name")),
            })
        })
        .collect()
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_come_from_k8s_openapi() {
        let r = Registry::new();
        let d = r.by_kind("apps/v1", "Deployment").unwrap();
        assert_eq!((d.plural.as_str(), d.namespaced, d.list_kind.as_str()), ("deployments", true, "DeploymentList"));
        assert!(!r.by_kind("v1", "Namespace").unwrap().namespaced);
        assert_eq!(r.by_plural("rbac.authorization.k8s.io", "v1", "clusterroles").unwrap().kind, "ClusterRole");
        assert!(r.groups().iter().any(|(g, v)| g == "apiextensions.k8s.io" && v == &["v1"]));
    }

    #[test]
    fn versions_sort_like_kubernetes() {
        let mut v = vec!["v1alpha1", "v1beta2", "v2", "v1", "v1beta1", "foo"];
        v.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(v, ["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }
}
