//! Issue 13, part 4: health rules users bring, through the real binary. `tidegate health -f`
//! applies the rules of `--repo` (CEL and Lua, replacing the native rule of their kind), a rule
//! that fails is that object's error, and `tidegate check` reports a broken rule with its file
//! and line.

#[path = "support/serve.rs"]
mod serve_support;

use std::path::Path;
use std::process::{Command, Output};

/// A copy of the example platform with `health.yaml` (and script files) added.
fn example_with(rules: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["apps-of-apps", "overlays", "deploy"] {
        serve_support::copy_dir(&root.join(sub), &dir.path().join(sub));
    }
    std::fs::write(dir.path().join("apps-of-apps/health.yaml"), rules).unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn tidegate(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidegate")).args(args).current_dir(cwd).env_remove("RUST_LOG").output().unwrap()
}

fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

const RULES: &str = r#"apiVersion: tidegate.dev/v1alpha1
kind: HealthRules
metadata:
  name: platform
spec:
  rules:
  # A custom resource with a Synced condition instead of Ready (Flux's SealedSecret example).
  - group: bitnami.com
    kind: SealedSecret
    cel:
      failed: "status.conditions.exists(e, e.type == 'Synced' && e.status == 'False')"
      current: "status.conditions.exists(e, e.type == 'Synced' && e.status == 'True')"
  # A platform team's Argo CD script, kept in its own file.
  - group: example.com
    kind: Database
    luaFile: health/database.lua
  # Replaces the native Deployment rule: this platform runs Deployments that may stay at 0 ready.
  - group: apps
    kind: Deployment
    lua: |
      hs = {}
      if obj.metadata.annotations ~= nil and obj.metadata.annotations["example.com/standby"] == "true" then
        hs.status = "Healthy"
        hs.message = "standby deployment"
        return hs
      end
      hs.status = "Progressing"
      hs.message = "waiting for " .. obj.status.readyReplicas
      return hs
"#;

const DATABASE_LUA: &str = r#"local hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" and c.status == "True" then
    hs.status = "Healthy"
    hs.message = c.message
    return hs
  end
  if c.type == "Ready" and c.status == "False" then
    hs.status = "Degraded"
    hs.message = c.message
    return hs
  end
end
hs.status = "Progressing"
return hs
"#;

const OBJECTS: &str = r#"apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: creds, namespace: shop}
status:
  conditions: [{type: Synced, status: "False", message: no key could decrypt secret}]
---
apiVersion: example.com/v1
kind: Database
metadata: {name: orders, namespace: shop}
status:
  conditions: [{type: Ready, status: "True", message: 3 instances ready}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: spare, namespace: shop, generation: 1, annotations: {example.com/standby: "true"}}
spec: {replicas: 2}
status: {observedGeneration: 1, replicas: 2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, generation: 1}
spec: {replicas: 2}
status: {observedGeneration: 1, replicas: 2}
"#;

#[test]
fn health_applies_the_repositorys_rules_and_a_failing_rule_is_that_objects_error() {
    let repo = example_with(RULES, &[("apps-of-apps/health/database.lua", DATABASE_LUA)]);
    std::fs::write(repo.path().join("objects.yaml"), OBJECTS).unwrap();
    let out = tidegate(repo.path(), &["health", "-f", "objects.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "Degraded     SealedSecret shop/creds: failed is true: status.conditions.exists(e, e.type == 'Synced' && e.status == 'False')",
            "Healthy      Database shop/orders: 3 instances ready",
            "Healthy      Deployment shop/spare: standby deployment",
        ],
        "{}",
        text(&out)
    );
    // The last Deployment has no readyReplicas: the script's concatenation fails, and that is
    // this object's error, in its place, with exit 1.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: objects.yaml: line 19: Deployment shop/web: health rule for apps/Deployment at apps-of-apps/health.yaml:18 failed: apps-of-apps/health.yaml:28: attempt to concatenate a nil value"),
        "{}",
        text(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // Without the repository, the native rules judge: the SealedSecret has no rule (kstatus,
    // no Ready → healthy on existence) and the standby Deployment is waiting for replicas.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("objects.yaml"), OBJECTS).unwrap();
    let out = tidegate(elsewhere.path(), &["health", "-f", "objects.yaml", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let statuses: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["Healthy", "Healthy", "Progressing", "Progressing"], "{}", text(&out));

    // --repo from elsewhere applies the rules too.
    let repo_arg = repo.path().to_str().unwrap();
    let out = tidegate(elsewhere.path(), &["--repo", repo_arg, "health", "-f", "objects.yaml"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Degraded     SealedSecret"), "{}", text(&out));
}

#[test]
fn check_reports_a_broken_rule_with_its_file_and_line() {
    let broken = RULES.replace(
        "hs.status = \"Progressing\"\n      hs.message = \"waiting",
        "hs.status = = \"Progressing\"\n      hs.message = \"waiting",
    );
    let repo = example_with(&broken, &[("apps-of-apps/health/database.lua", "hs = {\n")]);
    let out = tidegate(repo.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("apps-of-apps/health.yaml:27: spec.rules[2].lua: invalid Lua: unexpected symbol near '='"),
        "{}",
        text(&out)
    );
    assert!(
        stderr.contains("apps-of-apps/health/database.lua:2: spec.rules[1].luaFile: invalid Lua: "),
        "{}",
        text(&out)
    );
    // `health -f` refuses to judge with rules that do not load.
    std::fs::write(repo.path().join("objects.yaml"), OBJECTS).unwrap();
    let out = tidegate(repo.path(), &["health", "-f", "objects.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the repository's health rules have 2 problems"),
        "{}",
        text(&out)
    );

    // The example itself, with valid rules, still checks clean.
    let repo = example_with(RULES, &[("apps-of-apps/health/database.lua", DATABASE_LUA)]);
    let out = tidegate(repo.path(), &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
