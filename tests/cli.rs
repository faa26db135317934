//! The `tidegate` binary as users run it: exit codes, the `plan --output json` contract, the
//! example platform, and help for every command.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tidegate(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidegate")).args(args).current_dir(cwd).env_remove("RUST_LOG").output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn check_is_clean_on_the_example_platform() {
    let out = tidegate(&["check"], &repo_root());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("ok: 10 apps in 3 waves, 3 environments"), "{}", stdout(&out));
}

#[test]
fn plan_json_follows_the_contract() {
    let out = tidegate(&["plan", "--env", "dev", "--output", "json"], &repo_root());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["env"], "dev");
    assert!(plan["revision"].is_null() || plan["revision"].as_str().is_some_and(|r| r.len() == 40));
    let waves: Vec<&str> = plan["waves"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(waves, ["core", "platform", "business"]);
    let apps: Vec<&str> = plan["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["apps"].as_array().unwrap())
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        apps,
        [
            "karpenter",
            "keda",
            "secrets-store-csi-driver",
            "tidegate",
            "kube-prometheus-stack",
            "loki",
            "vault",
            "backend",
            "frontend",
            "postgres"
        ]
    );
    for app in plan["waves"].as_array().unwrap().iter().flat_map(|w| w["apps"].as_array().unwrap()) {
        let digest = app["digest"].as_str().unwrap();
        assert!(
            digest.len() == 71 && digest.starts_with("sha256:") && digest[7..].bytes().all(|c| c.is_ascii_hexdigit()),
            "{digest}"
        );
        assert!(app["objects"].as_u64().unwrap() > 0);
        assert!(app["namespace"].as_str().is_some());
        assert!(!app["images"].as_array().unwrap().is_empty(), "{app}");
    }
    let frontend = plan["waves"][2]["apps"][1].clone();
    assert_eq!(frontend["images"], serde_json::json!(["ghcr.io/example/shop-frontend:1.9.0"]));
    // Same inputs, same output.
    let again = tidegate(&["plan", "--env", "dev", "--output", "json"], &repo_root());
    assert_eq!(out.stdout, again.stdout);
}

#[test]
fn tags_differ_between_environments() {
    let image = |env: &str| {
        let out = tidegate(&["plan", "--env", env, "--output", "json"], &repo_root());
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["waves"][2]["apps"][1]["images"][0].as_str().unwrap().to_string()
    };
    let (dev, qa, prod) = (image("dev"), image("qa"), image("prod"));
    assert!(dev != qa && qa != prod, "{dev} {qa} {prod}");
}

#[test]
fn render_prints_one_app_in_apply_order() {
    let out = tidegate(&["render", "--env", "prod", "--app", "frontend"], &repo_root());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&stdout(&out))
        .map(|d| <serde_yaml::Value as serde::Deserialize>::deserialize(d).unwrap())
        .collect();
    assert!(!docs.is_empty());
    for d in &docs {
        assert_eq!(d["metadata"]["namespace"].as_str(), Some("shop"), "{d:?}");
    }
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    let pos = |k: &str| kinds.iter().position(|x| *x == k);
    assert!(
        pos("ServiceAccount") < pos("Service")
            && pos("Service") < pos("Deployment")
            && pos("Deployment") < pos("HorizontalPodAutoscaler"),
        "{kinds:?}"
    );
}

#[test]
fn bad_usage_exits_2_and_failed_work_exits_1() {
    let root = repo_root();
    let out = tidegate(&["plan", "--env", "staging"], &root);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown environment \"staging\""), "{}", stderr(&out));
    let out = tidegate(&["render", "--env", "dev", "--app", "fronted"], &root);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("did you mean \"frontend\""), "{}", stderr(&out));
    let out = tidegate(&["plan"], &root);
    assert_eq!(out.status.code(), Some(2), "a missing required flag is bad usage");
    let out = tidegate(&["frobnicate"], &root);
    assert_eq!(out.status.code(), Some(2));
    let out = tidegate(&["build", "tests/kustomize/errors/error-patch-test-failed"], &root);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("error-patch-test-failed/kustomization.yaml"), "{}", stderr(&out));
    let out = tidegate(&["build", "/"], &root);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("outside the repository root"), "{}", stderr(&out));
}

#[test]
fn a_broken_repository_fails_check_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let copy = |rel: &str| {
        let src = repo_root().join(rel);
        let dst = dir.path().join(rel);
        for entry in walk(&src) {
            let target = dst.join(entry.strip_prefix(&src).unwrap());
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&entry, &target).unwrap();
        }
    };
    copy("apps-of-apps");
    copy("overlays");
    copy("deploy");
    let k = dir.path().join("overlays/qa/frontend/kustomization.yaml");
    let text = std::fs::read_to_string(&k).unwrap();
    std::fs::write(&k, format!("{text}\nsecretGenerator: []\n")).unwrap();
    std::fs::remove_dir_all(dir.path().join("overlays/prod/backend")).unwrap();
    let out = tidegate(&["check", "--repo", dir.path().to_str().unwrap()], &repo_root());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("2 problems found"), "{err}");
    assert!(err.contains("qa/frontend: overlays/qa/frontend/kustomization.yaml: line"), "{err}");
    assert!(err.contains("unsupported field `secretGenerator`"), "{err}");
    assert!(err.contains("prod/backend: overlay overlays/prod/backend does not exist"), "{err}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn every_command_has_help() {
    for cmd in ["build", "render", "plan", "check"] {
        let out = tidegate(&[cmd, "--help"], &repo_root());
        assert_eq!(out.status.code(), Some(0), "{cmd}");
        assert!(stdout(&out).contains("Usage: tidegate"), "{cmd}: {}", stdout(&out));
    }
}

#[test]
fn json_logs_keep_stdout_clean() {
    let out = Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .args(["--log-format", "json", "plan", "--env", "qa", "--output", "json"])
        .current_dir(repo_root())
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("stdout is only the plan");
}
