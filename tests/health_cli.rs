//! `tidegate health -f` — the real binary — on its own inputs: several documents, `List`s,
//! stdin, input order, text and JSON output, errors that name the file and line, exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn tidegate(dir: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

const ROLLOUT: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: frontend, namespace: shop, generation: 3}
spec:
  replicas: 5
  strategy:
    canary:
      steps: [{setWeight: 20}, {pause: {duration: 30s}}, {setWeight: 40}, {pause: {}}]
status:
  observedGeneration: "3"
  phase: Progressing
  currentPodHash: new
  stableRS: old
  currentStepIndex: 2
  replicas: 5
  updatedReplicas: 2
  availableReplicas: 5
"#;

const FAILED_JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop}
status:
  conditions: [{type: Failed, status: "True", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}]
"#;

const LIST: &str = r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a, namespace: shop}
- apiVersion: keda.sh/v1alpha1
  kind: ScaledObject
  metadata: {name: worker, namespace: shop}
- kind: Widget
  metadata: {name: w}
"#;

#[test]
fn documents_lists_and_stdin_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), format!("{ROLLOUT}---\n---\n{FAILED_JOB}")).unwrap();
    std::fs::write(dir.path().join("list.yaml"), LIST).unwrap();
    let out = tidegate(dir.path(), &["health", "-f", "a.yaml", "-f", "-", "--output", "json"], LIST);
    // The List's third item has no apiVersion: it could not be judged, so exit 1; everything
    // else was judged (a Degraded Job is an answer, not a failure).
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary: Vec<(String, String)> = lines
        .iter()
        .map(|l| (l["kind"].as_str().unwrap().to_string(), l["status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        summary,
        [("Rollout", "Progressing"), ("Job", "Degraded"), ("ConfigMap", "Healthy"), ("ScaledObject", "Progressing")]
            .map(|(k, s)| (k.to_string(), s.to_string()))
    );
    assert_eq!(
        lines[0]["message"], "canary step 3/4 (setWeight 40): 2/5 replicas updated",
        "the step is named: {}",
        lines[0]
    );
    assert_eq!(lines[0]["namespace"], "shop");
    assert_eq!(lines[0]["apiVersion"], "argoproj.io/v1alpha1");
    assert!(lines[3]["message"].as_str().unwrap().contains("no status yet"), "{}", lines[3]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: -: line 1: items[2]: not a Kubernetes object: no apiVersion"), "{stderr}");
    assert!(stderr.contains("1 of 5 objects could not be judged"), "{stderr}");
}

#[test]
fn text_output_and_exit_zero_whatever_the_health() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.yaml"), FAILED_JOB).unwrap();
    let out = tidegate(dir.path(), &["health", "-f", "job.yaml"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Degraded     Job shop/migrate: Job failed: BackoffLimitExceeded: Job has reached the specified backoff limit\n"
    );
}

#[test]
fn a_yaml_error_names_the_file_and_line_and_the_other_files_are_judged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: y\n")
        .unwrap();
    std::fs::write(dir.path().join("job.yaml"), FAILED_JOB).unwrap();
    let out = tidegate(dir.path(), &["health", "-f", "bad.yaml", "-f", "job.yaml", "-o", "json"], "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml: line 5, column 3: mapping key \"name\" already defined"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[test]
fn bad_usage_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["health"][..],
        &["health", "-f", "x.yaml", "--env", "dev"],
        &["health", "--app", "web", "-f", "x.yaml"],
        &["health", "-f", "missing.yaml"],
    ] {
        let out = tidegate(dir.path(), args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    }
    let out = tidegate(dir.path(), &["health", "-f", "missing.yaml"], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read missing.yaml"), "{}", text(&out));
}
