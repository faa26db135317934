//! The controller simulation for workloads other than Deployments, watches over raw HTTP, and
//! the `fake-kube` binary.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{http, http_json};
use fake_kube::{FakeKube, Options};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn fast() -> FakeKube {
    FakeKube::start_with(Options { ready_delay: Duration::from_millis(40), nodes: 3, ..Options::default() })
}

fn apply(kube: &FakeKube, path: &str, body: &Value) -> Value {
    let (code, v) = http_json(
        kube,
        "PATCH",
        &format!("{path}?fieldManager=t"),
        Some("application/apply-patch+yaml"),
        &body.to_string(),
    );
    assert!(code == 200 || code == 201, "{code}: {v}");
    v
}

/// Polls the stored object until `ok` holds.
fn wait_for(kube: &FakeKube, api_version: &str, kind: &str, name: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(o) = kube.object(api_version, kind, Some("default"), name)
            && ok(&o)
        {
            return o;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {kind} {name}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn workload(kind: &str, name: &str) -> Value {
    let template =
        json!({"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}});
    json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": template}})
}

#[test]
fn statefulsets_and_daemonsets_become_ready() {
    let kube = fast();
    apply(&kube, "/apis/apps/v1/namespaces/default/statefulsets/db", &workload("StatefulSet", "db"));
    let sts = wait_for(&kube, "apps/v1", "StatefulSet", "db", |o| o["status"]["readyReplicas"] == 2);
    let s = &sts["status"];
    assert_eq!(s["observedGeneration"], sts["metadata"]["generation"]);
    assert_eq!(s["currentRevision"], s["updateRevision"]);
    assert_eq!((s["currentReplicas"].as_i64(), s["updatedReplicas"].as_i64()), (Some(2), Some(2)));

    let mut ds = workload("DaemonSet", "agent");
    ds["spec"].as_object_mut().unwrap().remove("replicas");
    apply(&kube, "/apis/apps/v1/namespaces/default/daemonsets/agent", &ds);
    let ds = wait_for(&kube, "apps/v1", "DaemonSet", "agent", |o| o["status"]["numberReady"] == 3);
    assert_eq!(ds["status"]["desiredNumberScheduled"], 3);
    assert_eq!(ds["status"]["updatedNumberScheduled"], 3);
    assert_eq!(ds["status"]["numberAvailable"], 3);

    kube.hold_unhealthy("StatefulSet", "default", "stuck");
    apply(&kube, "/apis/apps/v1/namespaces/default/statefulsets/stuck", &workload("StatefulSet", "stuck"));
    let held = wait_for(&kube, "apps/v1", "StatefulSet", "stuck", |o| o["status"]["observedGeneration"] == 1);
    assert!(held["status"].get("readyReplicas").is_none());
    assert_ne!(held["status"]["currentRevision"], held["status"]["updateRevision"]);
}

#[test]
fn jobs_complete_or_fail_when_held() {
    let kube = fast();
    let job = |name: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1"}]}}}})
    };
    let has = |o: &Value, t: &str| {
        o["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == t && c["status"] == "True"))
    };
    apply(&kube, "/apis/batch/v1/namespaces/default/jobs/ok", &job("ok"));
    let done = wait_for(&kube, "batch/v1", "Job", "ok", |o| has(o, "Complete"));
    assert_eq!(done["status"]["succeeded"], 1);
    kube.hold_unhealthy("Job", "default", "bad");
    apply(&kube, "/apis/batch/v1/namespaces/default/jobs/bad", &job("bad"));
    wait_for(&kube, "batch/v1", "Job", "bad", |o| has(o, "Failed"));
    let mut always = job("x");
    always["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    let (code, _) = http_json(
        &kube,
        "PATCH",
        "/apis/batch/v1/namespaces/default/jobs/x?fieldManager=t",
        Some("application/apply-patch+yaml"),
        &always.to_string(),
    );
    assert_eq!(code, 422);
}

#[test]
fn pvcs_bind_and_load_balancers_get_addresses() {
    let kube = fast();
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    apply(&kube, "/api/v1/namespaces/default/persistentvolumeclaims/data", &pvc);
    let bound = wait_for(&kube, "v1", "PersistentVolumeClaim", "data", |o| o["status"]["phase"] == "Bound");
    assert_eq!(bound["status"]["capacity"]["storage"], "1Gi");

    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}});
    let created = apply(&kube, "/api/v1/namespaces/default/services/web", &svc);
    assert!(created["spec"]["clusterIP"].as_str().unwrap().starts_with("10.96."));
    assert_eq!(created["spec"]["ports"][0]["targetPort"], 80);
    let lb = wait_for(&kube, "v1", "Service", "web", |o| o["status"]["loadBalancer"]["ingress"].is_array());
    assert_eq!(lb["status"]["loadBalancer"]["ingress"][0]["hostname"], "lb.example.com");
    // re-applying the same Service (allocated IP, defaults, controller status) is a no-op
    let again = apply(&kube, "/api/v1/namespaces/default/services/web", &svc);
    assert_eq!(again["metadata"]["resourceVersion"], lb["metadata"]["resourceVersion"]);

    let ing = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
        "spec": {"rules": [{"host": "web.example.com"}]}});
    apply(&kube, "/apis/networking.k8s.io/v1/namespaces/default/ingresses/web", &ing);
    wait_for(&kube, "networking.k8s.io/v1", "Ingress", "web", |o| o["status"]["loadBalancer"]["ingress"].is_array());
}

#[test]
fn deployments_progress_before_they_are_ready() {
    let kube = FakeKube::start_with(Options { ready_delay: Duration::from_millis(400), ..Options::default() });
    apply(&kube, "/apis/apps/v1/namespaces/default/deployments/web", &workload("Deployment", "web"));
    let progressing = wait_for(&kube, "apps/v1", "Deployment", "web", |o| o["status"]["observedGeneration"] == 1);
    assert!(progressing["status"].get("availableReplicas").is_none(), "{}", progressing["status"]);
    wait_for(&kube, "apps/v1", "Deployment", "web", |o| o["status"]["availableReplicas"] == 2);
    // a new spec: the old status stays until the controller observes it
    let mut changed = workload("Deployment", "web");
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:2");
    let after = apply(&kube, "/apis/apps/v1/namespaces/default/deployments/web", &changed);
    assert_eq!(
        (after["metadata"]["generation"].as_i64(), after["status"]["observedGeneration"].as_i64()),
        (Some(2), Some(1))
    );
    let ready = wait_for(&kube, "apps/v1", "Deployment", "web", |o| {
        o["status"]["observedGeneration"] == 2
            && o["status"]["updatedReplicas"] == 2
            && o["status"]["availableReplicas"] == 2
            && o["status"]["conditions"][1]["reason"] == "NewReplicaSetAvailable"
    });
    assert_eq!(ready["metadata"]["generation"], 2);
}

#[test]
fn watches_resume_from_a_resource_version_and_time_out() {
    let kube = FakeKube::start();
    let cm = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w"}, "data": {"v": v}});
    let first = apply(&kube, "/api/v1/namespaces/default/configmaps/w", &cm("1"));
    apply(&kube, "/api/v1/namespaces/default/configmaps/w", &cm("2"));
    let rv = first["metadata"]["resourceVersion"].as_str().unwrap();
    let start = Instant::now();
    let (code, _, body) = http(
        &kube,
        "GET",
        &format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=1"),
        None,
        "",
    );
    assert_eq!(code, 200);
    assert!(start.elapsed() >= Duration::from_millis(900), "the watch stays open until its timeout");
    let events: Vec<Value> =
        body.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!((events[0]["type"].as_str(), events[0]["object"]["data"]["v"].as_str()), (Some("MODIFIED"), Some("2")));
}

#[test]
fn the_binary_serves_until_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-kube"))
        .args(["--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--ready-delay-ms", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").expect("listening line").to_string();
    let config = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        config.contains(&url) && config.contains("fake-token") && config.contains("current-context: fake"),
        "{config}"
    );
    let addr = url.strip_prefix("http://").unwrap();
    let get = |path: &str, method: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out.split_once("\r\n\r\n").unwrap().1.to_string()
    };
    get("/api/v1/namespaces", "GET");
    get("/api/v1/namespaces/default/configmaps/x", "DELETE");
    let stats: Value = serde_json::from_str(&get("/_fake/stats", "GET")).unwrap();
    assert_eq!((stats["requests"].as_u64(), stats["writes"].as_u64()), (Some(2), Some(1)));
    let requests: Value = serde_json::from_str(&get("/_fake/requests", "GET")).unwrap();
    assert_eq!(requests[1]["method"], "DELETE");
    assert_eq!(requests[1]["status"], 404);
    assert!(requests[0]["micros"].is_u64());
    get("/_fake/reset-requests", "POST");
    let stats: Value = serde_json::from_str(&get("/_fake/stats", "GET")).unwrap();
    assert_eq!(stats["requests"], 0);
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn autoscalers_and_disruption_budgets_get_a_status() {
    let kube = fast();
    let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"minReplicas": 2, "maxReplicas": 5, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}});
    apply(&kube, "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web", &hpa);
    let hpa =
        wait_for(&kube, "autoscaling/v2", "HorizontalPodAutoscaler", "web", |o| o["status"]["desiredReplicas"] == 2);
    assert_eq!(hpa["status"]["observedGeneration"], 1);
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}});
    apply(&kube, "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web", &pdb);
    wait_for(&kube, "policy/v1", "PodDisruptionBudget", "web", |o| o["status"]["observedGeneration"] == 1);
}
