//! The fake API server driven by a real kube-rs 2.0 client.

mod common;

use std::time::{Duration, Instant};

use common::{client, deployment, eventually};
use fake_kube::{FakeKube, Fault, Options};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Discovery, Scope};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn deployments(c: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "Deployment"), "deployments");
    Api::namespaced_with(c.clone(), ns, &ar)
}

fn configmaps(c: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "ConfigMap"), "configmaps");
    Api::namespaced_with(c.clone(), ns, &ar)
}

fn api_error(e: kube::Error) -> kube::core::ErrorResponse {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn rv(o: &DynamicObject) -> String {
    o.metadata.resource_version.clone().expect("resourceVersion")
}

#[tokio::test]
async fn discovery_finds_builtin_kinds() {
    let kube = FakeKube::start();
    let c = client(&kube).await;
    let discovery = Discovery::new(c.clone()).run().await.expect("discovery runs");
    let (ar, caps) =
        discovery.resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment")).expect("Deployment is served");
    assert_eq!(ar.plural, "deployments");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(caps.subresources.iter().any(|(sub, _)| sub.plural == "status"));
    let (ns, caps) = discovery.resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace")).expect("Namespace");
    assert_eq!((ns.plural.as_str(), caps.scope), ("namespaces", Scope::Cluster));
    for (g, k) in [
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("batch", "CronJob"),
        ("networking.k8s.io", "Ingress"),
    ] {
        assert!(discovery.resolve_gvk(&GroupVersionKind::gvk(g, "v1", k)).is_some(), "{k}");
    }
    assert_eq!(c.apiserver_version().await.unwrap().major, "1");
}

#[tokio::test]
async fn server_side_apply_creates_and_a_repeat_is_a_no_op() {
    let kube = FakeKube::start();
    let c = client(&kube).await;
    let api = deployments(&c, "default");
    let pp = PatchParams::apply("tidegate");
    let desired = deployment("default", "web", 2, "nginx:1.27");
    let first = api.patch("web", &pp, &Patch::Apply(&desired)).await.expect("apply creates");
    assert_eq!(first.metadata.generation, Some(1));
    assert!(first.metadata.uid.is_some() && first.metadata.creation_timestamp.is_some());
    let managed = first.metadata.managed_fields.clone().unwrap();
    assert!(
        managed.iter().any(|m| m.manager.as_deref() == Some("tidegate") && m.operation.as_deref() == Some("Apply"))
    );
    // defaults were filled in
    assert_eq!(first.data["spec"]["revisionHistoryLimit"], 10);

    let second = api.patch("web", &pp, &Patch::Apply(&desired)).await.expect("apply again");
    assert_eq!(rv(&second), rv(&first), "an identical apply must not write");
    assert_eq!(second.metadata.generation, Some(1));

    // a changed spec bumps generation; a label change does not
    let mut changed = desired.clone();
    changed["spec"]["replicas"] = json!(3);
    let third = api.patch("web", &pp, &Patch::Apply(&changed)).await.unwrap();
    assert_eq!(third.metadata.generation, Some(2));
    changed["metadata"]["labels"]["extra"] = json!("x");
    let fourth = api.patch("web", &pp, &Patch::Apply(&changed)).await.unwrap();
    assert_eq!(fourth.metadata.generation, Some(2));
    assert_ne!(rv(&fourth), rv(&third));
}

#[tokio::test]
async fn dry_run_returns_the_merged_object_without_storing_it() {
    let kube = FakeKube::start();
    let c = client(&kube).await;
    let api = configmaps(&c, "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}, "data": {"a": "1"}});
    let created = api.patch("cfg", &PatchParams::apply("tidegate"), &Patch::Apply(&cm)).await.unwrap();
    kube.edit_object("v1", "ConfigMap", Some("default"), "cfg", "someone", |o| o["data"]["other"] = json!("2"));
    let mut change = cm.clone();
    change["data"]["a"] = json!("changed");
    let before = kube.requests().len();
    let dry = api.patch("cfg", &PatchParams::apply("tidegate").dry_run(), &Patch::Apply(&change)).await.unwrap();
    assert_eq!(dry.data["data"], json!({"a": "changed", "other": "2"}));
    let stored = kube.object("v1", "ConfigMap", Some("default"), "cfg").unwrap();
    assert_eq!(stored["data"], json!({"a": "1", "other": "2"}));
    assert_ne!(stored["metadata"]["resourceVersion"].as_str().unwrap(), rv(&created), "the edit wrote");
    let reqs = kube.requests();
    let last = &reqs[before..];
    assert_eq!(last.len(), 1);
    assert!(last[0].dry_run && !last[0].is_write() && last[0].is_apply());
    assert_eq!(last[0].field_manager.as_deref(), Some("tidegate"));
    // dry-run create does not store either
    let new = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost"}});
    api.patch("ghost", &PatchParams::apply("tidegate").dry_run(), &Patch::Apply(&new)).await.unwrap();
    assert!(kube.object("v1", "ConfigMap", Some("default"), "ghost").is_none());
}

#[tokio::test]
async fn conflicting_apply_after_an_edit_is_409_and_force_wins() {
    let kube = FakeKube::start();
    let c = client(&kube).await;
    let api = deployments(&c, "default");
    let desired = deployment("default", "web", 2, "nginx:1.27");
    api.patch("web", &PatchParams::apply("tidegate"), &Patch::Apply(&desired)).await.unwrap();
    kube.edit_object("apps/v1", "Deployment", Some("default"), "web", "kubectl-edit", |o| {
        o["spec"]["replicas"] = json!(5)
    });
    let edited = kube.object("apps/v1", "Deployment", Some("default"), "web").unwrap();
    assert_eq!(edited["metadata"]["generation"], 2);
    let managers: Vec<&str> = edited["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert!(managers.contains(&"kubectl-edit"));

    let err = api_error(api.patch("web", &PatchParams::apply("tidegate"), &Patch::Apply(&desired)).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(err.message.contains("conflict with \"kubectl-edit\""), "{}", err.message);
    assert!(err.message.contains(".spec.replicas"), "{}", err.message);

    let forced = api.patch("web", &PatchParams::apply("tidegate").force(), &Patch::Apply(&desired)).await.unwrap();
    assert_eq!(forced.data["spec"]["replicas"], 2);
    // ownership moved back: a second non-forced apply is fine and a no-op
    let again = api.patch("web", &PatchParams::apply("tidegate"), &Patch::Apply(&desired)).await.unwrap();
    assert_eq!(rv(&again), rv(&forced));
}

#[tokio::test]
async fn custom_resources_are_served_only_once_the_crd_is_established() {
    let kube = FakeKube::start_with(Options { crd_establish_delay: Duration::from_millis(400), ..Options::default() });
    let c = client(&kube).await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
    });
    let crds: Api<DynamicObject> = Api::all_with(
        c.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    crds.patch("widgets.example.com", &PatchParams::apply("tidegate"), &Patch::Apply(&crd)).await.unwrap();
    let widgets: Api<DynamicObject> = Api::namespaced_with(
        c.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets"),
    );
    let widget =
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}});
    let early =
        api_error(widgets.patch("w", &PatchParams::apply("tidegate"), &Patch::Apply(&widget)).await.unwrap_err());
    assert_eq!(early.code, 404);
    assert!(!Discovery::new(c.clone()).run().await.unwrap().has_group("example.com"));

    eventually(WAIT, "Established", || {
        let crd = kube.object("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "widgets.example.com")?;
        let conds = crd["status"]["conditions"].as_array()?.clone();
        conds.iter().any(|c| c["type"] == "Established" && c["status"] == "True").then_some(())
    })
    .await;
    let discovery = Discovery::new(c.clone()).run().await.unwrap();
    let (ar, caps) = discovery.resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget")).expect("served now");
    assert_eq!((ar.plural.as_str(), caps.scope), ("widgets", Scope::Namespaced));
    let created = widgets.patch("w", &PatchParams::apply("tidegate"), &Patch::Apply(&widget)).await.unwrap();
    assert_eq!(created.data["spec"]["size"], 1);
    assert_eq!(widgets.list(&ListParams::default()).await.unwrap().items.len(), 1);

    crds.delete("widgets.example.com", &Default::default()).await.unwrap();
    assert_eq!(api_error(widgets.list(&ListParams::default()).await.unwrap_err()).code, 404);
    assert!(kube.object("example.com/v1", "Widget", Some("default"), "w").is_none());
}

fn condition<'a>(status: &'a Value, t: &str) -> Option<&'a Value> {
    status["conditions"].as_array()?.iter().find(|c| c["type"] == t)
}

#[tokio::test]
async fn deployments_become_healthy_after_the_ready_delay() {
    let ready_delay = Duration::from_millis(300);
    let kube = FakeKube::start_with(Options { ready_delay, ..Options::default() });
    let c = client(&kube).await;
    let api = deployments(&c, "default");
    let start = Instant::now();
    let created = api
        .patch("web", &PatchParams::apply("tidegate"), &Patch::Apply(&deployment("default", "web", 3, "nginx:1")))
        .await
        .unwrap();
    assert!(created.data.get("status").is_none_or(|s| s.get("availableReplicas").is_none()));
    let healthy = eventually(WAIT, "a healthy Deployment", || {
        let d = kube.object("apps/v1", "Deployment", Some("default"), "web")?;
        let s = &d["status"];
        let ok = s["observedGeneration"] == d["metadata"]["generation"]
            && s["availableReplicas"] == 3
            && s["readyReplicas"] == 3
            && s["updatedReplicas"] == 3
            && condition(s, "Progressing")?["reason"] == "NewReplicaSetAvailable";
        ok.then_some(d)
    })
    .await;
    assert!(start.elapsed() >= ready_delay, "healthy too early: {:?}", start.elapsed());
    assert_eq!(condition(&healthy["status"], "Available").unwrap()["status"], "True");
    // the controller's status writes are not client requests
    assert!(kube.requests().iter().all(|r| r.method == "PATCH"));
    let status_manager =
        healthy["metadata"]["managedFields"].as_array().unwrap().iter().any(|m| m["subresource"] == "status");
    assert!(status_manager);
}

#[tokio::test]
async fn held_deployments_report_progress_deadline_exceeded_until_released() {
    let kube = FakeKube::start_with(Options { ready_delay: Duration::from_millis(50), ..Options::default() });
    let c = client(&kube).await;
    kube.hold_unhealthy("Deployment", "default", "stuck");
    deployments(&c, "default")
        .patch("stuck", &PatchParams::apply("t"), &Patch::Apply(&deployment("default", "stuck", 1, "x:1")))
        .await
        .unwrap();
    eventually(WAIT, "ProgressDeadlineExceeded", || {
        let d = kube.object("apps/v1", "Deployment", Some("default"), "stuck")?;
        let p = condition(&d["status"], "Progressing")?;
        (p["status"] == "False" && p["reason"] == "ProgressDeadlineExceeded").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let d = kube.object("apps/v1", "Deployment", Some("default"), "stuck").unwrap();
    assert_eq!(condition(&d["status"], "Progressing").unwrap()["reason"], "ProgressDeadlineExceeded", "still held");
    kube.release("Deployment", "default", "stuck");
    eventually(WAIT, "released", || {
        let d = kube.object("apps/v1", "Deployment", Some("default"), "stuck")?;
        (d["status"]["availableReplicas"] == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn objects_in_a_missing_namespace_are_404() {
    let kube = FakeKube::start();
    let c = client(&kube).await;
    let api = configmaps(&c, "nope");
    let cm: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})).unwrap();
    let err = api_error(api.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!(
        (err.code, err.message.as_str(), err.reason.as_str()),
        (404, "namespaces \"nope\" not found", "NotFound")
    );
    let err = api_error(api.patch("x", &PatchParams::apply("t"), &Patch::Apply(&cm)).await.unwrap_err());
    assert_eq!(err.code, 404);
}

#[tokio::test]
async fn lists_filter_by_label_selector() {
    let kube = FakeKube::start();
    let c = client(&kube).await;
    let api = configmaps(&c, "default");
    for (name, labels) in [
        ("a", json!({"app": "web", "tier": "front"})),
        ("b", json!({"app": "web", "tier": "db"})),
        ("c", json!({"app": "api"})),
    ] {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}});
        api.patch(name, &PatchParams::apply("t"), &Patch::Apply(&cm)).await.unwrap();
    }
    let names = |l: kube::core::ObjectList<DynamicObject>| {
        l.items.into_iter().map(|o| o.metadata.name.unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(names(api.list(&ListParams::default().labels("app=web")).await.unwrap()), ["a", "b"]);
    assert_eq!(names(api.list(&ListParams::default().labels("app=web,tier!=db")).await.unwrap()), ["a"]);
    assert_eq!(names(api.list(&ListParams::default().labels("tier in (db,x)")).await.unwrap()), ["b"]);
    assert_eq!(names(api.list(&ListParams::default().labels("!tier")).await.unwrap()), ["c", "kube-root-ca.crt"]);
    assert_eq!(names(api.list(&ListParams::default().fields("metadata.name=b")).await.unwrap()), ["b"]);
    // cluster-wide list of a namespaced kind
    let all: Api<DynamicObject> = Api::all_with(
        c.clone(),
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "ConfigMap"), "configmaps"),
    );
    assert_eq!(names(all.list(&ListParams::default().labels("app")).await.unwrap()).len(), 3);
}

#[tokio::test]
async fn watches_see_added_and_modified() {
    let kube = FakeKube::start();
    let c = client(&kube).await;
    let api = configmaps(&c, "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w", "labels": {"watched": "yes"}}, "data": {"v": "1"}});
    api.patch("w", &PatchParams::apply("t"), &Patch::Apply(&cm)).await.unwrap();
    let mut stream = api.watch(&WatchParams::default().labels("watched=yes").timeout(20), "0").await.unwrap().boxed();
    let first = tokio::time::timeout(WAIT, stream.try_next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(&first, WatchEvent::Added(o) if o.metadata.name.as_deref() == Some("w")), "{first:?}");
    let mut changed = cm.clone();
    changed["data"]["v"] = json!("2");
    api.patch("w", &PatchParams::apply("t"), &Patch::Apply(&changed)).await.unwrap();
    let second = tokio::time::timeout(WAIT, stream.try_next()).await.unwrap().unwrap().unwrap();
    match second {
        WatchEvent::Modified(o) => assert_eq!(o.data["data"]["v"], "2"),
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    assert!(kube.requests().iter().any(|r| r.is_watch()));
    // kube-runtime's watcher (list then watch from the list's resourceVersion) works too
    let events = kube::runtime::watcher(api.clone(), kube::runtime::watcher::Config::default().labels("watched=yes"));
    let mut events = events.boxed();
    let mut saw_init = false;
    while let Ok(Some(ev)) = tokio::time::timeout(WAIT, events.try_next()).await.unwrap() {
        if let kube::runtime::watcher::Event::InitDone = ev {
            saw_init = true;
            break;
        }
    }
    assert!(saw_init);
}

#[tokio::test]
async fn an_injected_429_fails_once_then_requests_succeed() {
    let kube = FakeKube::start();
    let c = client(&kube).await;
    kube.inject(Fault { retry_after: Some(2), ..Fault::status(Some("PATCH"), Some("/configmaps/"), 429, 1) });
    let api = configmaps(&c, "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let err = api_error(api.patch("x", &PatchParams::apply("t"), &Patch::Apply(&cm)).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (429, "TooManyRequests"));
    api.patch("x", &PatchParams::apply("t"), &Patch::Apply(&cm)).await.expect("the fault was used up");
    let statuses: Vec<u16> = kube.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 201]);
}

#[tokio::test]
async fn recorded_requests_mark_writes_and_dry_runs() {
    let kube = FakeKube::start();
    let c = client(&kube).await;
    let api = configmaps(&c, "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "r"}});
    api.patch("r", &PatchParams::apply("tidegate").dry_run(), &Patch::Apply(&cm)).await.unwrap();
    api.patch("r", &PatchParams::apply("tidegate"), &Patch::Apply(&cm)).await.unwrap();
    api.get("r").await.unwrap();
    api.delete("r", &Default::default()).await.unwrap();
    let reqs = kube.requests();
    let summary: Vec<(&str, bool, bool)> = reqs.iter().map(|r| (r.method.as_str(), r.dry_run, r.is_write())).collect();
    assert_eq!(
        summary,
        [("PATCH", true, false), ("PATCH", false, true), ("GET", false, false), ("DELETE", false, true)]
    );
    assert_eq!(reqs[1].kind_path().as_deref(), Some("configmaps"));
    assert_eq!(reqs[1].name().as_deref(), Some("r"));
    assert_eq!(reqs[1].body_name(), Some("r"));
    assert!(reqs.windows(2).all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at));
    kube.clear_requests();
    assert!(kube.requests().is_empty());
}
