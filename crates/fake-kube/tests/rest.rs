//! REST semantics over plain HTTP: Status errors, validation, patches, subresources, deletion.

mod common;

use std::time::{Duration, Instant};

use common::{deployment, http, http_json};
use fake_kube::{FakeKube, Fault};
use serde_json::{Value, json};

const APPLY: Option<&str> = Some("application/apply-patch+yaml");
const JSON: Option<&str> = Some("application/json");

fn apply(kube: &FakeKube, path: &str, manager: &str, body: &Value) -> (u16, Value) {
    http_json(kube, "PATCH", &format!("{path}?fieldManager={manager}"), APPLY, &body.to_string())
}

#[test]
fn errors_are_status_objects() {
    let kube = FakeKube::start();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let (code, status) = http_json(&kube, "POST", "/api/v1/namespaces/nope/configmaps", JSON, &cm.to_string());
    assert_eq!(code, 404);
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "namespaces \"nope\" not found", "reason": "NotFound",
            "details": {"name": "nope", "kind": "namespaces"}, "code": 404})
    );
    let (code, status) = http_json(&kube, "GET", "/apis/example.com/v1/namespaces/default/widgets", None, "");
    assert_eq!((code, status["message"].as_str()), (404, Some("the server could not find the requested resource")));
    let (code, status) = http_json(&kube, "GET", "/api/v1/namespaces/default/configmaps/missing", None, "");
    assert_eq!((code, status["message"].as_str()), (404, Some("configmaps \"missing\" not found")));
    let (code, _) = http_json(&kube, "POST", "/api/v1/namespaces/default/configmaps", JSON, &cm.to_string());
    assert_eq!(code, 201);
    let (code, status) = http_json(&kube, "POST", "/api/v1/namespaces/default/configmaps", JSON, &cm.to_string());
    assert_eq!((code, status["reason"].as_str()), (409, Some("AlreadyExists")));
}

#[test]
fn invalid_objects_are_422_with_causes() {
    let kube = FakeKube::start();
    let bad_name = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid"}});
    let (code, status) = apply(&kube, "/api/v1/namespaces/default/configmaps/Not_Valid", "t", &bad_name);
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .starts_with("ConfigMap \"Not_Valid\" is invalid: metadata.name: Invalid value")
    );

    let mut d = deployment("default", "web", 1, "nginx");
    d["spec"].as_object_mut().unwrap().remove("selector");
    let (code, status) = apply(&kube, "/apis/apps/v1/namespaces/default/deployments/web", "t", &d);
    assert_eq!(code, 422, "{status}");
    assert!(status["message"].as_str().unwrap().contains("spec.selector: Required value"));
    let mut d = deployment("default", "web", 1, "nginx");
    d["spec"].as_object_mut().unwrap().remove("template");
    assert_eq!(apply(&kube, "/apis/apps/v1/namespaces/default/deployments/web", "t", &d).0, 422);

    let other_ns =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "kube-system"}});
    let (code, status) = apply(&kube, "/api/v1/namespaces/default/configmaps/x", "t", &other_ns);
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    let no_manager = http_json(&kube, "PATCH", "/api/v1/namespaces/default/configmaps/x", APPLY, &bad_name.to_string());
    assert_eq!(no_manager.0, 400);
    // a Deployment's selector is immutable
    apply(&kube, "/apis/apps/v1/namespaces/default/deployments/web", "t", &deployment("default", "web", 1, "nginx"));
    let mut moved = deployment("default", "web", 1, "nginx");
    moved["spec"]["selector"]["matchLabels"]["extra"] = json!("x");
    moved["spec"]["template"]["metadata"]["labels"]["extra"] = json!("x");
    let (code, status) = apply(&kube, "/apis/apps/v1/namespaces/default/deployments/web", "t", &moved);
    assert!(code == 422 && status["message"].as_str().unwrap().contains("field is immutable"), "{status}");
}

#[test]
fn apply_accepts_yaml_and_merges_containers_by_name() {
    let kube = FakeKube::start();
    let path = "/apis/apps/v1/namespaces/default/deployments/web";
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: app\n        image: app:1\n        env:\n        - {name: A, value: '1'}\n";
    let (code, created) = http_json(&kube, "PATCH", &format!("{path}?fieldManager=tidegate"), APPLY, yaml);
    assert_eq!(code, 201, "{created}");
    // another manager adds a sidecar through a strategic merge patch
    let sidecar = json!({"spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}}});
    let (code, _) = http_json(
        &kube,
        "PATCH",
        &format!("{path}?fieldManager=injector"),
        Some("application/strategic-merge-patch+json"),
        &sidecar.to_string(),
    );
    assert_eq!(code, 200);
    // the applier changes its image and drops env and replicas
    let next = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
    let (code, d) = apply(&kube, path, "tidegate", &next);
    assert_eq!(code, 200, "{d}");
    let containers = d["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    let names: Vec<&str> = containers.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app", "proxy"]);
    assert_eq!(containers[0]["image"], "app:2");
    assert!(containers[0].get("env").is_none());
    assert_eq!(d["spec"]["replicas"], 1, "dropped replicas fall back to the default");
    let fields = &d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["manager"] == "tidegate")
        .unwrap()["fieldsV1"];
    assert_eq!(fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:image"], json!({}));
}

#[test]
fn put_checks_resource_version_and_patches_work() {
    let kube = FakeKube::start();
    let path = "/api/v1/namespaces/default/configmaps/c";
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    let (_, created) = http_json(&kube, "POST", "/api/v1/namespaces/default/configmaps", JSON, &cm.to_string());
    let mut stale = created.clone();
    stale["data"]["a"] = json!("2");
    let (code, updated) = http_json(&kube, "PUT", path, JSON, &stale.to_string());
    assert_eq!(code, 200);
    assert_ne!(updated["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"]);
    let (code, status) = http_json(&kube, "PUT", path, JSON, &stale.to_string());
    assert_eq!((code, status["reason"].as_str()), (409, Some("Conflict")));
    assert!(status["message"].as_str().unwrap().contains("the object has been modified"));

    let (_, merged) =
        http_json(&kube, "PATCH", path, Some("application/merge-patch+json"), r#"{"data":{"a":null,"b":"x"}}"#);
    assert_eq!(merged["data"], json!({"b": "x"}));
    let ops = r#"[{"op":"add","path":"/data/c","value":"y"},{"op":"remove","path":"/data/b"}]"#;
    let (code, patched) = http_json(&kube, "PATCH", path, Some("application/json-patch+json"), ops);
    assert_eq!((code, &patched["data"]), (200, &json!({"c": "y"})));
    let (code, _) =
        http_json(&kube, "PATCH", path, Some("application/json-patch+json"), r#"[{"op":"remove","path":"/nope"}]"#);
    assert_eq!(code, 422);
    let managers: Vec<&str> = patched["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["operation"].as_str().unwrap())
        .collect();
    assert!(managers.iter().all(|op| *op == "Update"));
}

#[test]
fn status_is_a_subresource() {
    let kube = FakeKube::start_with(fake_kube::Options { ready_delay: Duration::from_secs(60), ..Default::default() });
    let path = "/apis/apps/v1/namespaces/default/deployments/web";
    let mut d = deployment("default", "web", 1, "nginx");
    d["status"] = json!({"readyReplicas": 7});
    let (_, created) = apply(&kube, path, "t", &d);
    assert!(created.get("status").is_none(), "status is ignored on the main resource: {created}");
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"readyReplicas": 1}, "spec": {"replicas": 9}});
    let (code, after) = http_json(
        &kube,
        "PATCH",
        &format!("{path}/status?fieldManager=ctrl"),
        Some("application/merge-patch+json"),
        &status.to_string(),
    );
    assert_eq!(code, 200, "{after}");
    assert_eq!((after["status"]["readyReplicas"].as_i64(), after["spec"]["replicas"].as_i64()), (Some(1), Some(1)));
    assert_eq!(after["metadata"]["generation"], 1);
    let (code, got) = http_json(&kube, "GET", &format!("{path}/status"), None, "");
    assert_eq!((code, &got["status"]["readyReplicas"]), (200, &json!(1)));
    assert_eq!(http(&kube, "GET", "/api/v1/namespaces/default/configmaps/x/status", None, "").0, 404);
}

#[test]
fn deleting_a_namespace_removes_its_contents() {
    let kube = FakeKube::start();
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}});
    assert_eq!(apply(&kube, "/api/v1/namespaces/team", "t", &ns).0, 201);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    assert_eq!(apply(&kube, "/api/v1/namespaces/team/configmaps/c", "t", &cm).0, 201);
    assert!(
        kube.object("v1", "ServiceAccount", Some("team"), "default").is_some(),
        "namespaces get a default ServiceAccount"
    );
    let (code, gone) =
        http_json(&kube, "DELETE", "/api/v1/namespaces/team", JSON, r#"{"propagationPolicy":"Foreground"}"#);
    assert_eq!(code, 200);
    assert_eq!(gone["status"]["phase"], "Terminating");
    assert!(kube.objects().iter().all(|o| o["metadata"]["namespace"] != "team"));
    assert!(kube.object("v1", "Namespace", None, "team").is_none());
}

#[test]
fn finalizers_and_owner_references() {
    let kube = FakeKube::start();
    let path = "/api/v1/namespaces/default/configmaps/f";
    let cm =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f", "finalizers": ["example.com/hold"]}});
    let (_, owner) = apply(&kube, path, "t", &cm);
    let dep = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "child",
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "f", "uid": owner["metadata"]["uid"]}]}});
    assert_eq!(apply(&kube, "/api/v1/namespaces/default/secrets/child", "t", &dep).0, 201);
    let (code, pending) = http_json(&kube, "DELETE", path, None, "");
    assert_eq!(code, 200);
    assert!(pending["metadata"]["deletionTimestamp"].is_string());
    assert!(kube.object("v1", "ConfigMap", Some("default"), "f").is_some());
    let (code, _) =
        http_json(&kube, "PATCH", path, Some("application/merge-patch+json"), r#"{"metadata":{"finalizers":null}}"#);
    assert_eq!(code, 200);
    assert!(kube.object("v1", "ConfigMap", Some("default"), "f").is_none());
    assert!(kube.object("v1", "Secret", Some("default"), "child").is_none(), "garbage collected");
}

#[test]
fn faults_fail_or_delay_matching_requests() {
    let kube = FakeKube::start();
    kube.inject(Fault { retry_after: Some(3), ..Fault::status(Some("get"), Some("/configmaps"), 429, 1) });
    let (code, headers, body) = http(&kube, "GET", "/api/v1/namespaces/default/configmaps", None, "");
    assert_eq!(code, 429);
    assert!(headers.contains(&("retry-after".to_string(), "3".to_string())));
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status["reason"].as_str(), status["details"]["retryAfterSeconds"].as_u64()),
        (Some("TooManyRequests"), Some(3))
    );
    assert_eq!(http(&kube, "GET", "/api/v1/namespaces/default/configmaps", None, "").0, 200);

    kube.inject(Fault::status(None, Some("/secrets"), 500, 2));
    let (code, status) = http_json(&kube, "GET", "/api/v1/namespaces/default/secrets", None, "");
    assert_eq!((code, status["reason"].as_str()), (500, Some("InternalError")));
    assert_eq!(http(&kube, "GET", "/api/v1/namespaces/default/secrets", None, "").0, 500);
    assert_eq!(http(&kube, "GET", "/api/v1/namespaces/default/secrets", None, "").0, 200);

    let delay = Duration::from_millis(200);
    kube.inject(Fault { delay: Some(delay), times: 1, ..Fault::default() });
    let start = Instant::now();
    assert_eq!(http(&kube, "GET", "/api/v1/namespaces", None, "").0, 200);
    assert!(start.elapsed() >= delay);
    let recorded: Vec<u16> = kube.requests().iter().map(|r| r.status).collect();
    assert_eq!(recorded, [429, 200, 500, 500, 200, 200]);
}

#[test]
fn aggregated_discovery_only_is_not_acceptable() {
    let kube = FakeKube::start();
    let mut s = std::net::TcpStream::connect(kube.addr()).unwrap();
    use std::io::{Read, Write};
    write!(s, "GET /apis HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 406"), "{out}");
    let (code, groups) = http_json(&kube, "GET", "/apis", None, "");
    assert_eq!((code, groups["kind"].as_str()), (200, Some("APIGroupList")));
}

#[test]
fn generate_name_and_seeded_objects() {
    let kube = FakeKube::start();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "job-"}});
    let (code, created) = http_json(&kube, "POST", "/api/v1/namespaces/default/configmaps", JSON, &cm.to_string());
    assert_eq!(code, 201);
    let name = created["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("job-") && name.len() == 9, "{name}");

    kube.put_object(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seeded", "namespace": "elsewhere",
        "managedFields": [{"manager": "helm", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:k": {}}}}]}, "data": {"k": "v"}}),
    );
    let seeded = kube.object("v1", "ConfigMap", Some("elsewhere"), "seeded").unwrap();
    assert_eq!(seeded["metadata"]["generation"], 1);
    assert!(seeded["metadata"]["uid"].is_string() && seeded["metadata"]["resourceVersion"].is_string());
    // helm owns data.k: changing it by apply conflicts
    let mut change =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seeded"}, "data": {"k": "other"}});
    kube.put_object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "elsewhere"}}));
    let (code, status) = apply(&kube, "/api/v1/namespaces/elsewhere/configmaps/seeded", "tidegate", &change);
    assert_eq!(code, 409, "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], ".data.k");
    change["data"]["k"] = json!("v");
    assert_eq!(
        apply(&kube, "/api/v1/namespaces/elsewhere/configmaps/seeded", "tidegate", &change).0,
        200,
        "same value: shared ownership"
    );
}

#[test]
fn secrets_encode_string_data_and_reapply_is_a_no_op() {
    let kube = FakeKube::start();
    let path = "/api/v1/namespaces/default/secrets/s";
    let secret =
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "hunter2"}});
    let (code, first) = apply(&kube, path, "tidegate", &secret);
    assert_eq!(code, 201);
    assert_eq!(first["data"], json!({"password": "aHVudGVyMg=="}));
    assert!(first.get("stringData").is_none());
    let (code, second) = apply(&kube, path, "tidegate", &secret);
    assert_eq!(code, 200);
    assert_eq!(second["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"]);
    let mut stale = secret.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    assert_eq!(apply(&kube, path, "tidegate", &stale).0, 409, "resourceVersion in an apply is a precondition");
}
