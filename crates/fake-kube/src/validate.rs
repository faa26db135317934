//! Validation (names, required workload fields, immutable fields) and the defaults a real API
//! server fills in.

use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::registry::ResourceType;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' \
     or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is \
     '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and \
     must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is \
     '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an \
     alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for \
     validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

/// Checks an object name for its kind (`None` when valid).
pub(crate) fn name_error(rt: &ResourceType, name: &str) -> Option<String> {
    let invalid = |msg: &str| Some(format!("Invalid value: \"{name}\": {msg}"));
    if rt.group == "rbac.authorization.k8s.io" {
        return if name == "." || name == ".." || name.contains('/') || name.contains('%') {
            invalid("may not contain '/' or '%' or be '.' or '..'")
        } else {
            None
        };
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") if !is_label(name) => invalid(LABEL_MSG),
        ("", "Service") => {
            let ok = is_label(name) && name.as_bytes()[0].is_ascii_lowercase();
            if ok { None } else { invalid(DNS1035_MSG) }
        }
        _ if !is_subdomain(name) => invalid(SUBDOMAIN_MSG),
        _ => None,
    }
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A label or annotation key: an optional DNS subdomain prefix and `/`, then a name.
fn key_error(k: &str) -> Option<String> {
    let (prefix, name) = k.rsplit_once('/').map_or((None, k), |(p, n)| (Some(p), n));
    if prefix.is_some_and(|p| !is_subdomain(p)) {
        return Some(format!("Invalid value: {k:?}: prefix part {SUBDOMAIN_MSG}"));
    }
    if !is_qualified_name_part(name) {
        return Some(format!(
            "Invalid value: {k:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must \
             start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used \
             for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        ));
    }
    None
}

/// Label and annotation keys, label values.
fn metadata_errors(meta: Option<&Value>, path: &str, out: &mut Vec<(String, String)>) {
    let Some(meta) = meta else { return };
    for (k, v) in meta.get("labels").and_then(Value::as_object).into_iter().flatten() {
        if let Some(e) = key_error(k) {
            out.push((format!("{path}.labels"), e));
        }
        match v.as_str() {
            Some(v) if v.is_empty() || is_qualified_name_part(v) => {}
            Some(v) => out.push((
                format!("{path}.labels"),
                format!(
                    "Invalid value: {v:?}: a valid label must be an empty string or consist of alphanumeric \
                     characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
                     'MyValue',  or 'my_value',  or '12345', regex used for validation is \
                     '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
                ),
            )),
            None => out.push((format!("{path}.labels"), format!("Invalid value: label {k:?} must be a string"))),
        }
    }
    let mut total = 0;
    for (k, v) in meta.get("annotations").and_then(Value::as_object).into_iter().flatten() {
        if let Some(e) = key_error(k) {
            out.push((format!("{path}.annotations"), e));
        }
        match v.as_str() {
            Some(v) => total += k.len() + v.len(),
            None => {
                out.push((format!("{path}.annotations"), format!("Invalid value: annotation {k:?} must be a string")))
            }
        }
    }
    if total > 256 * 1024 {
        out.push((format!("{path}.annotations"), "Too long: must have at most 262144 bytes".into()));
    }
}

fn pod_spec_errors(spec: Option<&Value>, prefix: &str, out: &mut Vec<(String, String)>) {
    let containers = spec.and_then(|s| s.get("containers")).and_then(Value::as_array);
    match containers {
        None => out.push((format!("{prefix}.containers"), "Required value".into())),
        Some(list) if list.is_empty() => out.push((format!("{prefix}.containers"), "Required value".into())),
        Some(list) => {
            for (i, c) in list.iter().enumerate() {
                if c.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
                    out.push((format!("{prefix}.containers[{i}].name"), "Required value".into()));
                }
                if c.get("image").and_then(Value::as_str).is_none_or(str::is_empty) {
                    out.push((format!("{prefix}.containers[{i}].image"), "Required value".into()));
                }
            }
        }
    }
}

fn selector_matches_labels(selector: &Value, labels: Option<&Value>) -> bool {
    let Some(ml) = selector.get("matchLabels").and_then(Value::as_object) else { return true };
    ml.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Validates an object about to be stored (`old` is the stored version on updates).
pub(crate) fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let mut errs: Vec<(String, String)> = Vec::new();
    if let Some(msg) = name_error(rt, name) {
        errs.push(("metadata.name".into(), msg));
    }
    metadata_errors(obj.get("metadata"), "metadata", &mut errs);
    if let Some(t) = obj.pointer("/spec/template/metadata") {
        metadata_errors(Some(t), "spec.template.metadata", &mut errs);
    }
    let workload =
        rt.group == "apps" && matches!(rt.kind.as_str(), "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet");
    if workload {
        let spec = obj.get("spec");
        let selector = spec.and_then(|s| s.get("selector"));
        let template = spec.and_then(|s| s.get("template"));
        match selector {
            None => errs.push(("spec.selector".into(), "Required value".into())),
            Some(sel) => {
                let labels = template.and_then(|t| t.pointer("/metadata/labels"));
                if template.is_some() && !selector_matches_labels(sel, labels) {
                    errs.push((
                        "spec.template.metadata.labels".into(),
                        format!("Invalid value: {}: `selector` does not match template `labels`", json!(labels)),
                    ));
                }
                if let Some(old_sel) = old.and_then(|o| o.pointer("/spec/selector"))
                    && !crate::util::json_eq(old_sel, sel)
                {
                    errs.push((
                        "spec.selector".into(),
                        format!(
                            "Invalid value: {}: field is immutable",
                            serde_json::to_string(sel).unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        match template {
            None => errs.push(("spec.template".into(), "Required value".into())),
            Some(t) => pod_spec_errors(t.get("spec"), "spec.template.spec", &mut errs),
        }
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("batch", "Job") => match obj.pointer("/spec/template") {
            None => errs.push(("spec.template".into(), "Required value".into())),
            Some(t) => {
                pod_spec_errors(t.get("spec"), "spec.template.spec", &mut errs);
                let restart = t.pointer("/spec/restartPolicy").and_then(Value::as_str);
                if !matches!(restart, Some("Never" | "OnFailure")) {
                    errs.push((
                        "spec.template.spec.restartPolicy".into(),
                        format!(
                            "Required value: valid values: \"OnFailure\", \"Never\" (got {})",
                            restart.unwrap_or("Always")
                        ),
                    ));
                }
                if let Some(old_t) = old.and_then(|o| o.pointer("/spec/template"))
                    && !crate::util::json_eq(&strip_job_labels(old_t), &strip_job_labels(t))
                {
                    errs.push(("spec.template".into(), "Invalid value: field is immutable".into()));
                }
            }
        },
        ("", "Pod") => pod_spec_errors(obj.get("spec"), "spec", &mut errs),
        ("", "Service") => {
            let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
            let external = obj.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
            let headless = obj.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
            if ports.is_none_or(Vec::is_empty) && !external && !headless {
                errs.push(("spec.ports".into(), "Required value".into()));
            }
        }
        ("", "ConfigMap" | "Secret") => {
            let size: usize = ["data", "binaryData", "stringData"]
                .iter()
                .flat_map(|f| obj.get(*f).and_then(Value::as_object).into_iter().flatten())
                .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                .sum();
            if size > 1024 * 1024 {
                errs.push(("[]".into(), "Too long: must have at most 1048576 bytes".into()));
            }
            for field in ["data", "binaryData", "stringData"] {
                for k in obj.get(field).and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
                    let ok = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                    if !ok {
                        errs.push((
                            format!("{field}[{k}]"),
                            format!("Invalid value: {k:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'"),
                        ));
                    }
                }
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let group = obj.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default();
            let plural = obj.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or_default();
            if name != format!("{plural}.{group}") {
                errs.push((
                    "metadata.name".into(),
                    format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
                ));
            }
            if obj.pointer("/spec/versions").and_then(Value::as_array).is_none_or(Vec::is_empty) {
                errs.push((
                    "spec.versions".into(),
                    "Invalid value: must have exactly one version marked as storage version".into(),
                ));
            }
        }
        _ => {}
    }
    if errs.is_empty() { Ok(()) } else { Err(ApiError::invalid(rt, name, errs)) }
}

fn strip_job_labels(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(m) = t.pointer_mut("/metadata").and_then(Value::as_object_mut) {
        m.remove("labels");
    }
    t
}

fn set_default(obj: &mut Value, pointer: &str, v: Value) {
    if obj.pointer(pointer).is_some() {
        return;
    }
    let tokens: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let mut cur = obj;
    for (i, t) in tokens.iter().enumerate() {
        let Some(m) = cur.as_object_mut() else { return };
        if i == tokens.len() - 1 {
            m.insert(t.to_string(), v);
            return;
        }
        cur = m.entry(t.to_string()).or_insert_with(|| json!({}));
    }
}

fn default_pod_spec(spec: &mut Value) {
    set_default(spec, "/restartPolicy", json!("Always"));
    set_default(spec, "/terminationGracePeriodSeconds", json!(30));
    set_default(spec, "/dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "/securityContext", json!({}));
    set_default(spec, "/schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            let last = image.rsplit('/').next().unwrap_or_default();
            let latest = !last.contains(':') || last.ends_with(":latest");
            let policy = if latest && !image.contains('@') { "Always" } else { "IfNotPresent" };
            set_default(c, "/imagePullPolicy", json!(policy));
            set_default(c, "/terminationMessagePath", json!("/dev/termination-log"));
            set_default(c, "/terminationMessagePolicy", json!("File"));
            set_default(c, "/resources", json!({}));
            for p in c.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
                set_default(p, "/protocol", json!("TCP"));
            }
        }
    }
}

/// Fills in the defaults a real server would (a subset: the common workload, pod and service
/// fields). `allocate_ip` hands out cluster IPs; `old` keeps an allocated IP across updates.
pub(crate) fn apply_defaults(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    allocate_ip: impl FnOnce() -> String,
) {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment") => {
            set_default(obj, "/spec/replicas", json!(1));
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            set_default(obj, "/spec/progressDeadlineSeconds", json!(600));
            set_default(
                obj,
                "/spec/strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
        }
        ("apps", "StatefulSet") => {
            set_default(obj, "/spec/replicas", json!(1));
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            set_default(obj, "/spec/podManagementPolicy", json!("OrderedReady"));
            set_default(
                obj,
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            set_default(
                obj,
                "/spec/persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
        }
        ("apps", "DaemonSet") => {
            set_default(obj, "/spec/revisionHistoryLimit", json!(10));
            set_default(
                obj,
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
        }
        ("apps", "ReplicaSet") => set_default(obj, "/spec/replicas", json!(1)),
        ("batch", "Job") => {
            set_default(obj, "/spec/backoffLimit", json!(6));
            set_default(obj, "/spec/completions", json!(1));
            set_default(obj, "/spec/parallelism", json!(1));
            set_default(obj, "/spec/completionMode", json!("NonIndexed"));
            set_default(obj, "/spec/suspend", json!(false));
        }
        ("batch", "CronJob") => {
            set_default(obj, "/spec/concurrencyPolicy", json!("Allow"));
            set_default(obj, "/spec/suspend", json!(false));
            set_default(obj, "/spec/successfulJobsHistoryLimit", json!(3));
            set_default(obj, "/spec/failedJobsHistoryLimit", json!(1));
        }
        ("", "Service") => default_service(obj, old, allocate_ip),
        ("", "Namespace") => {
            let name = obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null);
            set_default(obj, "/metadata/labels", json!({}));
            if let Some(labels) = obj.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
                labels.insert("kubernetes.io/metadata.name".into(), name);
            }
            set_default(obj, "/spec/finalizers", json!(["kubernetes"]));
            set_default(obj, "/status/phase", json!("Active"));
        }
        ("", "Secret") => {
            set_default(obj, "/type", json!("Opaque"));
            if let Some(Value::Object(string_data)) = obj.as_object_mut().and_then(|o| o.remove("stringData")) {
                set_default(obj, "/data", json!({}));
                if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
                    for (k, v) in string_data {
                        data.insert(k, json!(base64(v.as_str().unwrap_or_default().as_bytes())));
                    }
                }
            }
        }
        ("", "PersistentVolumeClaim") => {
            set_default(obj, "/spec/volumeMode", json!("Filesystem"));
            set_default(obj, "/status/phase", json!("Pending"));
        }
        _ => {}
    }
    let template_spec = match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
            obj.pointer_mut("/spec/template/spec")
        }
        ("batch", "CronJob") => obj.pointer_mut("/spec/jobTemplate/spec/template/spec"),
        ("", "Pod") => obj.pointer_mut("/spec"),
        _ => None,
    };
    if let Some(spec) = template_spec
        && spec.is_object()
    {
        default_pod_spec(spec);
    }
}

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn default_service(obj: &mut Value, old: Option<&Value>, allocate_ip: impl FnOnce() -> String) {
    set_default(obj, "/spec/type", json!("ClusterIP"));
    let kind = obj.pointer("/spec/type").and_then(Value::as_str).unwrap_or_default().to_string();
    if kind != "ExternalName" {
        set_default(obj, "/spec/sessionAffinity", json!("None"));
        set_default(obj, "/spec/ipFamilies", json!(["IPv4"]));
        set_default(obj, "/spec/ipFamilyPolicy", json!("SingleStack"));
        set_default(obj, "/spec/internalTrafficPolicy", json!("Cluster"));
        if let Some(old_ip) = old.and_then(|o| o.pointer("/spec/clusterIP")).cloned() {
            set_default(obj, "/spec/clusterIP", old_ip.clone());
            set_default(obj, "/spec/clusterIPs", json!([old_ip]));
        }
        if obj.pointer("/spec/clusterIP").is_none() {
            let ip = allocate_ip();
            set_default(obj, "/spec/clusterIP", json!(ip));
        }
        let ip = obj.pointer("/spec/clusterIP").cloned().unwrap_or(Value::Null);
        set_default(obj, "/spec/clusterIPs", json!([ip]));
        if kind == "LoadBalancer" || kind == "NodePort" {
            set_default(obj, "/spec/externalTrafficPolicy", json!("Cluster"));
        }
        let mut next_port =
            30000 + (obj.pointer("/metadata/name").map(|n| n.to_string().len()).unwrap_or(0) as i64 * 37) % 2000;
        for p in obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut).into_iter().flatten() {
            set_default(p, "/protocol", json!("TCP"));
            let port = p.get("port").cloned().unwrap_or(Value::Null);
            set_default(p, "/targetPort", port);
            if kind == "LoadBalancer" || kind == "NodePort" {
                set_default(p, "/nodePort", json!(next_port));
                next_port += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn names_are_validated_per_kind() {
        let r = Registry::new();
        let cm = r.by_kind("v1", "ConfigMap").unwrap();
        assert!(name_error(&cm, "a.b-c").is_none());
        assert!(name_error(&cm, "Bad_Name").unwrap().contains("RFC 1123 subdomain"));
        let ns = r.by_kind("v1", "Namespace").unwrap();
        assert!(name_error(&ns, "a.b").is_some());
        let svc = r.by_kind("v1", "Service").unwrap();
        assert!(name_error(&svc, "1abc").is_some());
        let role = r.by_kind("rbac.authorization.k8s.io/v1", "ClusterRole").unwrap();
        assert!(name_error(&role, "system:aggregate-to-edit").is_none());
    }

    #[test]
    fn labels_are_validated_and_secrets_encode_string_data() {
        let r = Registry::new();
        let cm = r.by_kind("v1", "ConfigMap").unwrap();
        let obj = json!({"metadata": {"name": "x", "labels": {"ok": "a.b_c", "bad": "a/b", "example.com/x": "1"}}});
        let err = validate(&cm, &obj, None).unwrap_err();
        assert_eq!(err.details["causes"].as_array().unwrap().len(), 1, "{}", err.message);
        assert!(validate(&cm, &json!({"metadata": {"name": "x", "labels": {"-x": "1"}}}), None).is_err());
        assert_eq!((base64(b"hello"), base64(b""), base64(b"ab")), ("aGVsbG8=".into(), String::new(), "YWI=".into()));
        let secret = r.by_kind("v1", "Secret").unwrap();
        let mut s = json!({"metadata": {"name": "s"}, "stringData": {"k": "hello"}, "data": {"j": "eA=="}});
        apply_defaults(&secret, &mut s, None, String::new);
        assert_eq!(s, json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"j": "eA==", "k": "aGVsbG8="}}));
    }

    #[test]
    fn deployments_need_selector_and_template() {
        let r = Registry::new();
        let d = r.by_kind("apps/v1", "Deployment").unwrap();
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {}});
        let err = validate(&d, &obj, None).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(err.message.contains("spec.selector: Required value"), "{}", err.message);
        assert_eq!(err.details["causes"][0]["field"], "spec.selector");
    }
}
