//! `tidegate health --env` — the real binary — against the fake Kubernetes API server
//! (crates/fake-kube): after a sync of the example platform every object is judged from the
//! cluster, read-only; a missing object is reported and makes the exit code 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use fake_kube::{FakeKube, Options};
use serde_json::Value;

struct Env {
    fake: FakeKube,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let fake = FakeKube::start_with(Options { ready_delay: Duration::from_millis(20), ..Options::default() });
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        fake.write_kubeconfig(&kubeconfig);
        Env { fake, kubeconfig, _dir: dir }
    }

    fn tidegate(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tidegate"))
            .args(args)
            .arg("--repo")
            .arg(root())
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn json_lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

/// The number of objects `tidegate render` prints for the arguments.
fn rendered(args: &[&str]) -> usize {
    let out = Command::new(env!("CARGO_BIN_EXE_tidegate")).args(args).arg("--repo").arg(root()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("kind: ")).count()
}

#[test]
fn after_a_sync_every_object_is_judged_and_a_missing_one_is_reported() {
    let env = Env::new();
    let sync = env.tidegate(&["sync", "--env", "dev", "--wave-timeout", "30s"]);
    assert_eq!(sync.status.code(), Some(0), "{}", text(&sync));
    env.fake.clear_requests();

    // Every object of the environment, judged from the cluster: all settled by the sync.
    let out = env.tidegate(&["health", "--env", "dev", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), rendered(&["render", "--env", "dev"]), "{}", text(&out));
    for line in &lines {
        let keys: Vec<&str> = line.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 6, "{line}");
        assert_eq!(line["status"], "Healthy", "{line}");
    }
    // Custom resources with native rules were judged by them, not on existence.
    let scaled = lines.iter().find(|l| l["kind"] == "ScaledObject").expect("the backend's ScaledObject");
    assert_eq!(scaled["namespace"], "shop");
    assert!(scaled["message"].as_str().unwrap().contains("ready for scaling"), "{scaled}");
    // Read-only: only GETs (discovery and objects).
    let requests = env.fake.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| r.method == "GET"), "{:?}", requests.iter().find(|r| r.method != "GET"));

    // One app, text for people.
    let out = env.tidegate(&["health", "--env", "dev", "--app", "backend"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), rendered(&["render", "--env", "dev", "--app", "backend"]), "{stdout}");
    assert!(stdout.lines().all(|l| l.starts_with("Healthy ")), "{stdout}");
    assert!(stdout.contains("ScaledObject shop/backend-worker: "), "{stdout}");

    // KEDA reports the ScaledObject paused (faked as its operator's status edit): Suspended,
    // still judged, exit 0.
    env.fake.edit_object("keda.sh/v1alpha1", "ScaledObject", Some("shop"), "backend-worker", "keda-operator", |o| {
        for c in o["status"]["conditions"].as_array_mut().unwrap() {
            if c["type"] == "Paused" {
                c["status"] = "True".into();
                c["reason"] = "ScaledObjectPaused".into();
            }
        }
    });
    let out = env.tidegate(&["health", "--env", "dev", "--app", "backend", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let paused = json_lines(&out).into_iter().find(|l| l["kind"] == "ScaledObject").unwrap();
    assert_eq!(paused["status"], "Suspended", "{paused}");
    assert!(paused["message"].as_str().unwrap().contains("ScaledObjectPaused"), "{paused}");

    // A missing object: reported on stderr in its place, the others still judged, exit 1.
    assert!(env.fake.delete_object("keda.sh/v1alpha1", "ScaledObject", Some("shop"), "backend-worker"));
    let out = env.tidegate(&["health", "--env", "dev", "--app", "backend", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("backend: ScaledObject shop/backend-worker (keda.sh/v1alpha1) was not found in the cluster"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of "), "{stderr}");
    assert_eq!(json_lines(&out).len(), rendered(&["render", "--env", "dev", "--app", "backend"]) - 1);
}

#[test]
fn an_unreachable_cluster_is_a_failure_and_an_unknown_environment_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"http://127.0.0.1:{port}\"}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: t}}\n")).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tidegate"))
            .args(args)
            .arg("--repo")
            .arg(root())
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap()
    };
    let out = run(&["health", "--env", "dev", "--app", "backend"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cluster"), "{}", text(&out));
    let out = run(&["health", "--env", "staging"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown environment \"staging\""), "{}", text(&out));
}
