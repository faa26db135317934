//! `tidegate health -f` — the real binary — over Argo CD's own health test cases
//! (`../shared/health-testdata/expected.tsv`, read in place, never copied): agreement overall
//! and per kind, every Argo Rollouts case, and no case where tidegate says Healthy while Argo CD
//! says Progressing or Degraded. Every case where tidegate decides otherwise on purpose is
//! listed in [`DELIBERATE`] with its reason, as docs/health.md documents it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The cases where tidegate deliberately differs from Argo CD: (file, tidegate's status or
/// `error` when it refuses the file, why). Kept in step with docs/health.md.
const DELIBERATE: &[(&str, &str, &str)] = &[
    (
        "crds/argoproj.io/AnalysisRun/testdata/inconclusiveAnalysisRun.yaml",
        "Degraded",
        "tidegate has no Unknown status: an inconclusive analysis is over without a verdict and waits for a person, so nothing that depends on it may go on",
    ),
    ("crds/argoproj.io/AnalysisRun/testdata/inconclusiveAnalysisRunWithStatusMessage.yaml", "Degraded", "as above"),
    (
        "crds/monitoring.coreos.com/Prometheus/testdata/degraded.yaml",
        "Progressing",
        "Available=False NoPodReady is also what a new Prometheus reports until its first pod is ready; it waits until the wave's timeout, as a StatefulSet with no ready pod does (in Argo CD too)",
    ),
    (
        "builtins/statefulset-ondelete.yaml",
        "error",
        "the file maps the key updateStrategy twice; tidegate reads YAML as go-yaml v3 (and so kustomize) does and refuses duplicate keys, naming the file and line, instead of silently keeping the last value",
    ),
];

const THRESHOLD: f64 = 0.97;

fn testdata() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/health-testdata");
    assert!(
        dir.join("expected.tsv").is_file(),
        "Argo CD's health test data is missing: expected {} (the shared test data must sit beside the checkout, as ../shared/health-testdata)",
        dir.display()
    );
    dir
}

/// (file, expected status, expected message) from expected.tsv.
fn cases(dir: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(dir.join("expected.tsv")).expect("read expected.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.split('\t');
            let file = cols.next().unwrap_or_default().to_string();
            let status = cols.next().unwrap_or_default().to_string();
            let message = cols.next().unwrap_or_default().to_string();
            (file, status, message)
        })
        .collect()
}

/// The kind a case is about, from its path: `crds/<group>/<Kind>/…` or `builtins/<kind>-….yaml`.
fn kind_of(file: &str) -> String {
    let parts: Vec<&str> = file.split('/').collect();
    match parts.as_slice() {
        ["crds", _, kind, ..] => kind.to_string(),
        ["builtins", name] => {
            let stem = name.split(['-', '.']).next().unwrap_or(name);
            match stem {
                "hpa" => "HorizontalPodAutoscaler".to_string(),
                "pvc" => "PersistentVolumeClaim".to_string(),
                "svc" => "Service".to_string(),
                "nginx" => "Deployment".to_string(),
                "apiservice" => "APIService".to_string(),
                "daemonset" => "DaemonSet".to_string(),
                "statefulset" => "StatefulSet".to_string(),
                other => {
                    let mut c = other.chars();
                    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
                }
            }
        }
        _ => file.to_string(),
    }
}

#[derive(Default)]
struct Tally {
    total: usize,
    agree: usize,
}

#[test]
fn argo_cd_health_cases_agree() {
    let dir = testdata();
    let cases = cases(&dir);
    assert!(cases.len() >= 140, "expected.tsv holds {} cases, expected 142", cases.len());
    // One run over every file: the output is one line per object in input order, each file holds
    // one object, and a refused file is an error on stderr (and no line): so run each file on its
    // own, which also shows that the exit code is 0 whatever the health.
    let mut per_kind: BTreeMap<String, Tally> = BTreeMap::new();
    let mut disagreements: Vec<String> = Vec::new();
    let mut false_healthy: Vec<String> = Vec::new();
    let mut rollout_misses: Vec<String> = Vec::new();
    let mut undocumented: Vec<String> = Vec::new();
    let mut agree = 0;
    for (file, want, want_message) in &cases {
        let out = Command::new(env!("CARGO_BIN_EXE_tidegate"))
            .current_dir(&dir)
            .args(["health", "--output", "json", "-f", file])
            .output()
            .expect("run tidegate");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        let (got, message) = match (out.status.code(), lines.as_slice()) {
            (Some(0), [line]) => {
                let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{file}: not JSON ({e}): {line}"));
                for field in ["apiVersion", "kind", "namespace", "name", "status", "message"] {
                    assert!(v.get(field).is_some(), "{file}: no {field} in {line}");
                }
                (
                    v["status"].as_str().unwrap_or_default().to_string(),
                    v["message"].as_str().unwrap_or_default().to_string(),
                )
            }
            (Some(1), []) => ("error".to_string(), String::from_utf8_lossy(&out.stderr).trim().to_string()),
            (code, _) => {
                panic!("{file}: unexpected exit {code:?}:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr))
            }
        };
        let tally = per_kind.entry(kind_of(file)).or_default();
        tally.total += 1;
        if &got == want {
            tally.agree += 1;
            agree += 1;
            continue;
        }
        let line = format!("{file}: Argo CD {want} ({want_message}), tidegate {got} ({message})");
        if got == "Healthy" && matches!(want.as_str(), "Progressing" | "Degraded") {
            false_healthy.push(line.clone());
        }
        if file.contains("/Rollout/") {
            rollout_misses.push(line.clone());
        }
        match DELIBERATE.iter().find(|(f, _, _)| f == file) {
            Some((_, status, _)) if *status == got => {}
            _ => undocumented.push(line.clone()),
        }
        disagreements.push(line);
    }

    println!("{:<28} {:>6} {:>6} {:>8}", "kind", "cases", "agree", "percent");
    for (kind, t) in &per_kind {
        println!("{kind:<28} {:>6} {:>6} {:>7.1}%", t.total, t.agree, 100.0 * t.agree as f64 / t.total as f64);
    }
    let overall = agree as f64 / cases.len() as f64;
    println!("{:<28} {:>6} {:>6} {:>7.1}%", "overall", cases.len(), agree, 100.0 * overall);
    println!("\ndisagreements ({}):", disagreements.len());
    for d in &disagreements {
        let why = DELIBERATE.iter().find(|(f, _, _)| d.starts_with(f)).map_or("UNDOCUMENTED", |(_, _, why)| why);
        println!("  {d}\n    reason: {why}");
    }

    assert!(
        false_healthy.is_empty(),
        "tidegate says Healthy where Argo CD waits or fails:\n{}",
        false_healthy.join("\n")
    );
    assert!(rollout_misses.is_empty(), "Rollout cases that disagree:\n{}", rollout_misses.join("\n"));
    assert!(undocumented.is_empty(), "disagreements that are not documented rules:\n{}", undocumented.join("\n"));
    assert!(overall >= THRESHOLD, "agreement {:.1}% is below {:.0}%", 100.0 * overall, 100.0 * THRESHOLD);
    // Every documented difference is still one (a stale entry would hide nothing, but mislead).
    for (file, _, _) in DELIBERATE {
        assert!(disagreements.iter().any(|d| d.starts_with(file)), "{file} is listed as deliberate but now agrees");
    }
}

#[test]
fn every_deliberate_difference_is_in_the_health_docs() {
    let docs = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/health.md"))
        .expect("docs/health.md");
    for (file, status, _) in DELIBERATE {
        let name = file.rsplit('/').next().unwrap_or(file);
        assert!(docs.contains(name), "docs/health.md does not name the deliberate difference {file} ({status})");
    }
}

#[test]
fn all_files_at_once_give_one_line_per_object_in_order() {
    let dir = testdata();
    let files: Vec<String> = cases(&dir)
        .into_iter()
        .map(|(f, _, _)| f)
        .filter(|f| !DELIBERATE.iter().any(|(d, s, _)| d == f && *s == "error"))
        .collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidegate"));
    cmd.current_dir(&dir).args(["health", "-o", "json"]);
    for f in &files {
        cmd.args(["-f", f]);
    }
    let out = cmd.output().expect("run tidegate");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let names: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line")["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names.len(), files.len());
    for (f, kind) in files.iter().zip(&names) {
        if f.starts_with("crds/") {
            assert_eq!(&kind_of(f), kind, "{f}: lines are not in input order");
        }
    }
}
