//! Real-cluster tests: `tidegate sync` against a real Kubernetes API server. Ignored by
//! default; run them with a throwaway cluster (see docs/sync.md):
//!
//! ```sh
//! kind create cluster --name tidegate-e2e
//! kind get kubeconfig --name tidegate-e2e > /tmp/tidegate-e2e.kubeconfig
//! TIDEGATE_E2E_KUBECONFIG=/tmp/tidegate-e2e.kubeconfig cargo test --test e2e_cluster -- --ignored
//! ```
//!
//! Everything lands in a namespace named `tidegate-e2e-<random>` (plus tidegate's inventory
//! namespace), which the test deletes at the end.

use std::path::Path;
use std::process::{Command, Output};

fn kubeconfig() -> String {
    std::env::var("TIDEGATE_E2E_KUBECONFIG")
        .expect("set TIDEGATE_E2E_KUBECONFIG to the kubeconfig of a throwaway cluster")
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn tidegate(repo: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .args(args)
        .arg("--repo")
        .arg(repo)
        .env("KUBECONFIG", kubeconfig())
        .output()
        .unwrap()
}

fn kubectl(args: &[&str]) -> Output {
    Command::new("kubectl").args(args).env("KUBECONFIG", kubeconfig()).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Two waves in a throwaway namespace: a ConfigMap and a Job (core), then a Deployment of the
/// pause image with a Service (business). Real images that become ready on any cluster.
fn repo(ns: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "apps-of-apps/root.yaml",
        "apiVersion: tidegate.dev/v1alpha1\nkind: Root\nmetadata: {name: e2e}\nspec:\n  environments: [{name: e2e}]\n  waves: [{name: core}, {name: business}]\n",
    );
    let app = |name: &str, wave: &str, create: bool| {
        format!(
            "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata: {{name: {name}}}\nspec:\n  wave: {wave}\n  namespace: {ns}\n  createNamespace: {create}\n"
        )
    };
    write(d, "apps-of-apps/setup/app.yaml", &app("setup", "core", true));
    write(d, "apps-of-apps/setup/base/kustomization.yaml", "resources: [all.yaml]\n");
    write(
        d,
        "apps-of-apps/setup/base/all.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: e2e}\n---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec:\n  backoffLimit: 2\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: migrate\n        image: busybox:1.36\n        command: [\"true\"]\n",
    );
    write(d, "apps-of-apps/web/app.yaml", &app("web", "business", false));
    write(d, "apps-of-apps/web/base/kustomization.yaml", "resources: [all.yaml]\n");
    write(
        d,
        "apps-of-apps/web/base/all.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: pause\n        image: registry.k8s.io/pause:3.9\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-extra}\ndata: {a: b}\n",
    );
    for app in ["setup", "web"] {
        write(
            d,
            &format!("overlays/e2e/{app}/kustomization.yaml"),
            &format!("resources: [../../../apps-of-apps/{app}/base]\n"),
        );
    }
    dir
}

struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = kubectl(&["delete", "namespace", &self.0, "--wait=false"]);
        let _ = kubectl(&["delete", "configmap", "-n", "tidegate-system", "-l", "tidegate.dev/env=e2e"]);
    }
}

#[test]
#[ignore = "needs a cluster: set TIDEGATE_E2E_KUBECONFIG"]
fn syncs_waits_resyncs_without_writes_and_prunes_on_a_real_cluster() {
    let ns = format!("tidegate-e2e-{}", std::process::id());
    let _cleanup = Cleanup(ns.clone());
    let dir = repo(&ns);
    let out = tidegate(dir.path(), &["sync", "--env", "e2e", "--wave-timeout", "180s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ready = kubectl(&["get", "deployment", "web", "-n", &ns, "-o", "jsonpath={.status.readyReplicas}"]);
    assert_eq!(String::from_utf8_lossy(&ready.stdout), "2");
    let again = tidegate(dir.path(), &["sync", "--env", "e2e", "--wave-timeout", "180s"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(text(&again).contains(", 0 writes"), "a no-op re-sync wrote: {}", text(&again));
    // Drift: scale by hand; the next sync puts it back.
    assert!(kubectl(&["scale", "deployment", "web", "-n", &ns, "--replicas=3"]).status.success());
    let healed = tidegate(dir.path(), &["sync", "--env", "e2e", "--wave-timeout", "180s"]);
    assert!(text(&healed).contains("self-healed (drift) Deployment"), "{}", text(&healed));
    // Prune: the extra ConfigMap leaves the repository.
    let web = std::fs::read_to_string(dir.path().join("apps-of-apps/web/base/all.yaml")).unwrap();
    let without_extra = web.split("---\napiVersion: v1\nkind: ConfigMap").next().unwrap();
    write(dir.path(), "apps-of-apps/web/base/all.yaml", without_extra);
    let pruned = tidegate(dir.path(), &["sync", "--env", "e2e", "--prune", "--wave-timeout", "180s"]);
    assert_eq!(pruned.status.code(), Some(0), "{}", text(&pruned));
    assert!(text(&pruned).contains("pruned ConfigMap"), "{}", text(&pruned));
    assert!(!kubectl(&["get", "configmap", "web-extra", "-n", &ns]).status.success());
}
