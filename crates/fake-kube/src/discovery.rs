//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}`,
//! `/apis/{group}/{version}` (the legacy, unaggregated format).

use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::registry::Registry;

/// `/version`.
pub(crate) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "34",
        "gitVersion": "v1.34.0-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-08-27T00:00:00Z",
        "goVersion": "go1.24.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// Whether the `Accept` header allows the legacy JSON format. Clients asking only for
/// aggregated discovery (`as=APIGroupDiscoveryList`) get 406, like from a server without it.
pub(crate) fn accepts_legacy(accept: Option<&str>) -> Result<(), ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return Ok(()) };
    let ok = accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let aggregated = parts.any(|p| p.starts_with("as=") || p.starts_with("g=apidiscovery"));
        !aggregated && matches!(media, "application/json" | "*/*" | "application/*" | "application/yaml")
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            406,
            "NotAcceptable",
            format!("only the following media types are accepted: application/json, application/yaml (got {accept})"),
        ))
    }
}

/// `/api`.
pub(crate) fn core_versions(server: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}],
    })
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let gvs: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
    json!({
        "name": name,
        "versions": gvs,
        "preferredVersion": gvs.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis`.
pub(crate) fn groups(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg.groups().iter().map(|(g, v)| group_doc(g, v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`.
pub(crate) fn group(reg: &Registry, name: &str) -> Option<Value> {
    let (g, v) = reg.groups().into_iter().find(|(g, _)| g == name)?;
    let mut doc = group_doc(&g, &v);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// `/api/v1` or `/apis/{group}/{version}`.
pub(crate) fn resources(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let types = reg.resources(group, version);
    if types.is_empty() {
        return None;
    }
    let resources: Vec<Value> = types.iter().flat_map(|t| t.discovery_entries()).collect();
    let group_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    let mut doc = json!({"kind": "APIResourceList", "groupVersion": group_version, "resources": resources});
    if !group.is_empty() {
        doc["apiVersion"] = json!("v1");
    }
    Some(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        assert!(accepts_legacy(None).is_ok());
        assert!(accepts_legacy(Some("application/json")).is_ok());
        let both = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        assert!(accepts_legacy(Some(both)).is_ok());
        let only = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
        assert_eq!(accepts_legacy(Some(only)).unwrap_err().code, 406);
    }

    #[test]
    fn resource_lists_have_status_subresources() {
        let reg = Registry::new();
        let apps = resources(&reg, "apps", "v1").unwrap();
        let names: Vec<&str> =
            apps["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"deployments") && names.contains(&"deployments/status"));
        assert!(resources(&reg, "apps", "v9").is_none());
        assert_eq!(group(&reg, "apps").unwrap()["preferredVersion"]["groupVersion"], "apps/v1");
    }
}
