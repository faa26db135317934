//! `tidegate sync` and `tidegate diff` — the real binary — against the fake Kubernetes API
//! server (crates/fake-kube) through a kubeconfig, asserting on the requests it received.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use fake_kube::{FakeKube, Fault, Options, Request};
use serde_json::Value;

const ROOT: &str = "apiVersion: tidegate.dev/v1alpha1\nkind: Root\nmetadata: {name: t}\nspec:\n  environments: [{name: dev}]\n  waves: [{name: core}, {name: platform}, {name: business}]\n";

fn app_yaml(name: &str, wave: &str, ns: &str) -> String {
    format!(
        "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata: {{name: {name}}}\nspec:\n  wave: {wave}\n  namespace: {ns}\n"
    )
}

fn deployment(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: {name}\n        image: example/{name}:1.0\n        ports:\n        - containerPort: 8080\n"
    )
}

fn service(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector: {{app: {name}}}\n  ports:\n  - port: 80\n    targetPort: 8080\n"
    )
}

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n";

const STATEFULSET: &str = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n  replicas: 1\n  selector:\n    matchLabels: {app: db}\n  template:\n    metadata:\n      labels: {app: db}\n    spec:\n      containers:\n      - name: db\n        image: postgres:16.3\n";

/// A three-wave repository: core (a CRD and its operator), platform (a database), business
/// (a web app with a custom resource of the core wave's CRD).
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo { dir };
        repo.write("apps-of-apps/root.yaml", ROOT);
        repo.app("operator", "core", "ops", &format!("{CRD}---\n{}", deployment("operator", 1)));
        repo.app("db", "platform", "data", &format!("{STATEFULSET}---\n{}", service("db")));
        let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: shiny\nspec:\n  size: 3\n";
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  mode: fast\n";
        repo.app(
            "web",
            "business",
            "shop",
            &format!("{}---\n{}---\n{cm}---\n{widget}", deployment("web", 2), service("web")),
        );
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn app(&self, name: &str, wave: &str, ns: &str, manifests: &str) {
        self.write(&format!("apps-of-apps/{name}/app.yaml"), &app_yaml(name, wave, ns));
        self.write(&format!("apps-of-apps/{name}/base/kustomization.yaml"), "resources: [all.yaml]\n");
        self.write(&format!("apps-of-apps/{name}/base/all.yaml"), manifests);
        self.write(
            &format!("overlays/dev/{name}/kustomization.yaml"),
            &format!("resources: [../../../apps-of-apps/{name}/base]\n"),
        );
    }
}

struct Env {
    fake: FakeKube,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Env {
    fn new(ready_delay: Duration) -> Env {
        let fake = FakeKube::start_with(Options { ready_delay, ..Options::default() });
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        fake.write_kubeconfig(&kubeconfig);
        Env { fake, kubeconfig, _dir: dir }
    }

    fn tidegate(&self, repo: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tidegate"))
            .args(args)
            .arg("--repo")
            .arg(repo)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    fn sync(&self, repo: &Repo, extra: &[&str]) -> Output {
        let mut args = vec!["sync", "--env", "dev", "--wave-timeout", "20s"];
        args.extend_from_slice(extra);
        self.tidegate(repo.path(), &args)
    }
}

fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The app a write request was for, from tidegate's label in the applied body.
fn app_of(r: &Request) -> Option<String> {
    r.body.as_ref()?.pointer("/metadata/labels/tidegate.dev~1app")?.as_str().map(str::to_string)
}

fn kind_of(r: &Request) -> String {
    r.body.as_ref().and_then(|b| b.get("kind")).and_then(Value::as_str).unwrap_or("").to_string()
}

fn is_inventory(r: &Request) -> bool {
    r.body.as_ref().and_then(|b| b.pointer("/metadata/labels/tidegate.dev~1inventory")).is_some()
}

/// Writes of the apps' own objects (not tidegate's inventories).
fn object_writes(fake: &FakeKube) -> Vec<Request> {
    fake.requests().into_iter().filter(|r| r.is_write() && app_of(r).is_some() && !is_inventory(r)).collect()
}

#[test]
fn waves_apply_in_order_and_each_waits_for_the_previous_to_be_healthy() {
    let env = Env::new(Duration::from_millis(400));
    let repo = Repo::new();
    let out = env.sync(&repo, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let writes = object_writes(&env.fake);
    let wave_of = |r: &Request| match app_of(r).as_deref() {
        Some("operator") => 0,
        Some("db") => 1,
        _ => 2,
    };
    let waves: Vec<usize> = writes.iter().map(wave_of).collect();
    assert!(waves.windows(2).all(|w| w[0] <= w[1]), "writes out of wave order: {waves:?}");
    for k in 0..2 {
        let last = writes.iter().filter(|r| wave_of(r) == k).map(|r| r.at).max().unwrap();
        let next = writes.iter().filter(|r| wave_of(r) == k + 1).map(|r| r.at).min().unwrap();
        // The fake's controller makes workloads healthy 400 ms after their last change: a
        // wave that did not wait would start within milliseconds.
        assert!(
            next.duration_since(last) >= Duration::from_millis(380),
            "wave {} started {:?} after wave {k}'s last write",
            k + 1,
            next.duration_since(last)
        );
    }
    // The CRD is applied, then established, before its custom resource.
    let crd = writes.iter().position(|r| kind_of(r) == "CustomResourceDefinition").unwrap();
    let widget = writes.iter().position(|r| kind_of(r) == "Widget").unwrap();
    assert!(crd < widget);
    let live = env.fake.object("example.com/v1", "Widget", Some("shop"), "shiny").expect("custom resource applied");
    assert_eq!(live["metadata"]["labels"]["tidegate.dev/app"], "web");
    assert!(env.fake.object("v1", "Namespace", None, "shop").is_some(), "the app's namespace is created");
    // One field manager for everything.
    assert!(
        env.fake
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .all(|r| r.field_manager.as_deref() == Some("tidegate"))
    );
}

#[test]
fn a_no_op_resync_makes_zero_writes() {
    let env = Env::new(Duration::from_millis(50));
    let repo = Repo::new();
    let first = env.sync(&repo, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    env.fake.clear_requests();
    let again = env.sync(&repo, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let writes: Vec<String> =
        env.fake.requests().iter().filter(|r| r.is_write()).map(|r| format!("{} {}", r.method, r.path)).collect();
    assert!(writes.is_empty(), "a no-op re-sync wrote: {writes:#?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("no changes"), "{}", text(&again));
}

#[test]
fn drift_is_detected_and_self_healed() {
    let env = Env::new(Duration::from_millis(50));
    let repo = Repo::new();
    assert_eq!(env.sync(&repo, &[]).status.code(), Some(0));
    env.fake.edit_object("apps/v1", "Deployment", Some("shop"), "web", "kubectl-edit", |d| {
        d["spec"]["replicas"] = Value::from(7);
    });
    let diff = env.tidegate(repo.path(), &["diff", "--env", "dev"]);
    let diff_text = String::from_utf8_lossy(&diff.stdout);
    assert!(diff_text.contains("-  replicas: 7") && diff_text.contains("+  replicas: 2"), "{}", text(&diff));
    env.fake.clear_requests();
    let out = env.sync(&repo, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("self-healed (drift) Deployment shop/web"), "{}", text(&out));
    let live = env.fake.object("apps/v1", "Deployment", Some("shop"), "web").unwrap();
    assert_eq!(live["spec"]["replicas"], 2);
    let writes = object_writes(&env.fake);
    assert_eq!(
        writes.len(),
        1,
        "only the drifted object is re-applied: {:?}",
        writes.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}

#[test]
fn an_unhealthy_wave_stops_the_sync_and_names_the_object() {
    let env = Env::new(Duration::from_millis(50));
    env.fake.hold_unhealthy("Deployment", "ops", "operator");
    let repo = Repo::new();
    let out = env.sync(&repo, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wave core failed")
            && err.contains("Deployment ops/operator")
            && err.contains("ProgressDeadlineExceeded"),
        "{err}"
    );
    assert!(err.contains("wave platform was not started"), "{err}");
    let later: Vec<String> = object_writes(&env.fake)
        .iter()
        .filter(|r| app_of(r).as_deref() != Some("operator"))
        .map(|r| r.path.clone())
        .collect();
    assert!(later.is_empty(), "later waves were touched: {later:?}");
}

#[test]
fn transient_errors_are_retried_and_retry_after_is_honoured() {
    let env = Env::new(Duration::from_millis(50));
    env.fake.inject(Fault {
        method: Some("PATCH".into()),
        path_contains: Some("/deployments/operator".into()),
        status: 429,
        retry_after: Some(1),
        delay: None,
        times: 1,
    });
    env.fake.inject(Fault {
        method: Some("PATCH".into()),
        path_contains: Some("/services/db".into()),
        status: 500,
        retry_after: None,
        delay: None,
        times: 2,
    });
    let repo = Repo::new();
    let out = env.sync(&repo, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let reqs = env.fake.requests();
    let attempts: Vec<&Request> = reqs
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/deployments/operator") && !r.dry_run)
        .collect();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status, 429);
    assert!((200..300).contains(&attempts[1].status));
    assert!(
        attempts[1].at.duration_since(attempts[0].at) >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured"
    );
    let db: Vec<u16> =
        reqs.iter().filter(|r| r.method == "PATCH" && r.path.ends_with("/services/db")).map(|r| r.status).collect();
    assert_eq!(db.len(), 3, "{db:?}");
    assert_eq!(&db[..2], [500, 500]);
    assert!((200..300).contains(&db[2]));
}

#[test]
fn an_invalid_object_fails_fast_with_the_servers_message() {
    let env = Env::new(Duration::from_millis(50));
    let repo = Repo::new();
    // A Deployment without a selector: the API server refuses it (422), no retry helps.
    repo.write("apps-of-apps/db/base/all.yaml", &format!("{STATEFULSET}---\n{}---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\nspec:\n  template:\n    metadata: {{labels: {{app: x}}}}\n    spec:\n      containers: [{{name: x, image: x}}]\n", service("db")));
    let out = env.sync(&repo, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Deployment data/broken") && err.contains("422"), "{err}");
    let attempts = env.fake.requests().iter().filter(|r| r.path.ends_with("/deployments/broken")).count();
    assert_eq!(attempts, 1, "a 422 must not be retried");
}

#[test]
fn dry_run_writes_nothing() {
    let env = Env::new(Duration::from_millis(50));
    let repo = Repo::new();
    let out = env.sync(&repo, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let writes: Vec<String> =
        env.fake.requests().iter().filter(|r| r.is_write()).map(|r| format!("{} {}", r.method, r.path)).collect();
    assert!(writes.is_empty(), "{writes:#?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("would create Deployment ops/operator"), "{}", text(&out));
}

#[test]
fn prune_deletes_only_what_tidegate_owns_in_reverse_order() {
    let env = Env::new(Duration::from_millis(50));
    let repo = Repo::new();
    let extra = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-me\n  annotations:\n    tidegate.dev/prune: \"false\"\ndata: {a: b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: adopted\ndata: {a: b}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: old-secret\nstringData: {a: b}\n";
    let web_all = format!(
        "{}---\n{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  mode: fast\n{extra}",
        deployment("web", 2),
        service("web")
    );
    repo.write("apps-of-apps/web/base/all.yaml", &web_all);
    assert_eq!(env.sync(&repo, &[]).status.code(), Some(0));
    // Someone else takes over `adopted` (removes tidegate's mark); then all three extra
    // objects and the web Service leave the repository.
    env.fake.edit_object("v1", "ConfigMap", Some("shop"), "adopted", "platform-team", |cm| {
        cm["metadata"]["labels"].as_object_mut().unwrap().remove("tidegate.dev/app");
    });
    repo.write(
        "apps-of-apps/web/base/all.yaml",
        &format!(
            "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  mode: fast\n",
            deployment("web", 2)
        ),
    );
    // Without --prune nothing is deleted.
    env.fake.clear_requests();
    assert_eq!(env.sync(&repo, &[]).status.code(), Some(0));
    assert!(env.fake.requests().iter().all(|r| r.method != "DELETE"));
    let out = env.sync(&repo, &["--prune"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let deletes: Vec<String> =
        env.fake.requests().iter().filter(|r| r.method == "DELETE").map(|r| r.path.clone()).collect();
    assert_eq!(deletes.len(), 2, "{deletes:#?}");
    assert!(deletes[0].ends_with("/services/web"), "reverse kind order: Service before Secret: {deletes:#?}");
    assert!(deletes[1].ends_with("/secrets/old-secret"), "{deletes:#?}");
    assert!(env.fake.object("v1", "ConfigMap", Some("shop"), "keep-me").is_some());
    assert!(env.fake.object("v1", "ConfigMap", Some("shop"), "adopted").is_some());
    assert!(env.fake.object("v1", "Secret", Some("shop"), "old-secret").is_none());
}

#[test]
fn a_failed_render_applies_and_prunes_nothing() {
    let env = Env::new(Duration::from_millis(50));
    let repo = Repo::new();
    assert_eq!(env.sync(&repo, &[]).status.code(), Some(0));
    repo.write("overlays/dev/web/kustomization.yaml", "resources: [../../../apps-of-apps/web/base]\npatches:\n- target: {kind: Deployment}\n  patch: '[{\"op\": \"test\", \"path\": \"/spec/replicas\", \"value\": 99}]'\n");
    env.fake.clear_requests();
    let out = env.sync(&repo, &["--prune"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("dev/web: overlays/dev/web/kustomization.yaml: patches[0] does not apply"),
        "{}",
        text(&out)
    );
    assert!(env.fake.requests().is_empty(), "nothing may reach the cluster after a failed render");
}

/// Issue 9: an object a JSON patch nests past serde_json's default recursion limit (128) was
/// printed by `build`, silently dropped by `render`/`plan`/`check`, and then pruned.
#[test]
fn an_object_nested_past_128_levels_is_rendered_applied_and_never_pruned() {
    let env = Env::new(Duration::from_millis(50));
    let repo = Repo::new();
    assert_eq!(env.sync(&repo, &[]).status.code(), Some(0));
    let mut deep = "\"leaf\"".to_string();
    for _ in 0..150 {
        deep = format!("[{deep}]");
    }
    repo.write(
        "overlays/dev/web/kustomization.yaml",
        &format!(
            "resources: [../../../apps-of-apps/web/base]\npatches:\n- target: {{kind: Widget}}\n  patch: '[{{\"op\": \"add\", \"path\": \"/spec/deep\", \"value\": {deep}}}]'\n"
        ),
    );
    let check = env.tidegate(repo.path(), &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(String::from_utf8_lossy(&check.stdout).contains(" 11 objects"), "{}", text(&check));
    let render = env.tidegate(repo.path(), &["render", "--env", "dev", "--app", "web"]);
    assert!(String::from_utf8_lossy(&render.stdout).contains("kind: Widget"), "{}", text(&render));
    env.fake.clear_requests();
    let out = env.sync(&repo, &["--prune"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(env.fake.requests().iter().all(|r| r.method != "DELETE"), "nothing may be pruned: {}", text(&out));
    let widget = env.fake.object("example.com/v1", "Widget", Some("shop"), "shiny").expect("the Widget is kept");
    let mut v = &widget["spec"]["deep"];
    let mut levels = 0;
    while let Some(inner) = v.get(0) {
        v = inner;
        levels += 1;
    }
    assert_eq!((levels, v.as_str()), (150, Some("leaf")), "the live Widget carries the deep value");
    // A resync of the same state writes nothing and prunes nothing.
    env.fake.clear_requests();
    let out = env.sync(&repo, &["--prune"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(object_writes(&env.fake).is_empty() && env.fake.requests().iter().all(|r| r.method != "DELETE"));
}

#[test]
fn removed_apps_are_kept_unless_explicitly_allowed() {
    let env = Env::new(Duration::from_millis(50));
    let repo = Repo::new();
    assert_eq!(env.sync(&repo, &[]).status.code(), Some(0));
    std::fs::remove_dir_all(repo.path().join("apps-of-apps/db")).unwrap();
    std::fs::remove_dir_all(repo.path().join("overlays/dev/db")).unwrap();
    let out = env.sync(&repo, &["--prune"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("db: no longer in the repository; its objects were left in place"),
        "{}",
        text(&out)
    );
    assert!(env.fake.object("apps/v1", "StatefulSet", Some("data"), "db").is_some());
    let out = env.sync(&repo, &["--prune", "--prune-removed-apps"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(env.fake.object("apps/v1", "StatefulSet", Some("data"), "db").is_none());
}

#[test]
fn an_unreachable_cluster_is_a_clear_failure() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"http://127.0.0.1:{port}\"}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: t}}\n")).unwrap();
    let repo = Repo::new();
    let out = Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .args(["sync", "--env", "dev", "--repo"])
        .arg(repo.path())
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed to reach the cluster"), "{}", text(&out));
}

#[test]
fn the_example_platform_syncs_and_resyncs_without_writes() {
    let env = Env::new(Duration::from_millis(20));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = env.tidegate(&root, &["sync", "--env", "dev", "--wave-timeout", "30s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let per_app: BTreeMap<String, usize> = object_writes(&env.fake).iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(app_of(r).unwrap()).or_default() += 1;
        m
    });
    assert_eq!(per_app.len(), 10, "{per_app:?}");
    env.fake.clear_requests();
    let again = env.tidegate(&root, &["sync", "--env", "dev", "--wave-timeout", "30s"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(env.fake.requests().iter().filter(|r| r.is_write()).count(), 0);
}
