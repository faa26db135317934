//! tidegate's renderer against goldens produced by the real `kubectl kustomize` (v5.5.0).
//!
//! Each case under `tests/kustomize/cases/<name>/` is built natively and compared with
//! `tests/kustomize/golden/<name>.yaml`, document by document, as parsed YAML (parsed with
//! serde_yaml, an independent parser), order included. Byte-identical matches are counted and
//! reported. `scripts/regen-kustomize-goldens.sh` regenerates the goldens.

use std::path::{Path, PathBuf};

use tidegate::render::{self, fs::DiskTree};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn parse_stream(text: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| <serde_yaml::Value as serde::Deserialize>::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

struct Outcome {
    compared: usize,
    byte_identical: usize,
    failures: Vec<String>,
}

fn compare(dir: &Path, golden: &Path, outcome: &mut Outcome) {
    let tree = DiskTree::new(repo_root()).unwrap();
    let rel = tree.repo_path_of(dir).unwrap();
    let expected = std::fs::read_to_string(golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
    outcome.compared += 1;
    let actual = match render::build_yaml(&tree, &rel) {
        Ok(a) => a,
        Err(e) => {
            outcome.failures.push(format!("{rel}: build failed: {e}"));
            return;
        }
    };
    if actual == expected {
        outcome.byte_identical += 1;
        return;
    }
    let (a, e) = (parse_stream(&actual), parse_stream(&expected));
    if a != e {
        let first_diff = a.iter().zip(e.iter()).position(|(x, y)| x != y).unwrap_or(a.len().min(e.len()));
        outcome.failures.push(format!(
            "{rel}: {} documents vs {} expected; first difference at document {first_diff}\n--- tidegate\n{}\n--- kustomize\n{}",
            a.len(),
            e.len(),
            a.get(first_diff).map(|v| serde_yaml::to_string(v).unwrap()).unwrap_or_default(),
            e.get(first_diff).map(|v| serde_yaml::to_string(v).unwrap()).unwrap_or_default(),
        ));
    } else if std::env::var_os("TIDEGATE_SHOW_BYTE_DIFFS").is_some() {
        eprintln!("{rel}: equal as YAML, different bytes:\n--- tidegate\n{actual}\n--- kustomize\n{expected}");
    }
}

fn report(what: &str, outcome: Outcome) {
    eprintln!(
        "{what}: {} compared, {} equal as parsed YAML, {} byte-identical",
        outcome.compared,
        outcome.compared - outcome.failures.len(),
        outcome.byte_identical
    );
    assert!(
        outcome.failures.is_empty(),
        "{} of {} differ from kustomize:\n\n{}",
        outcome.failures.len(),
        outcome.compared,
        outcome.failures.join("\n\n")
    );
}

#[test]
fn corpus_matches_kustomize() {
    let cases = repo_root().join("tests/kustomize/cases");
    let mut names: Vec<String> =
        std::fs::read_dir(&cases).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert!(names.len() >= 30, "the corpus must hold at least 30 cases, found {}", names.len());
    let mut outcome = Outcome { compared: 0, byte_identical: 0, failures: Vec::new() };
    for name in names {
        let golden = repo_root().join(format!("tests/kustomize/golden/{name}.yaml"));
        assert!(golden.exists(), "case {name} has no golden; run scripts/regen-kustomize-goldens.sh");
        compare(&cases.join(&name), &golden, &mut outcome);
    }
    report("corpus", outcome);
}

/// Every case under `tests/kustomize/errors/` must fail, and the message must contain each
/// line of its `.expect` file (the file, field, line or object a user needs to fix it).
#[test]
fn error_cases_are_refused_with_precise_messages() {
    let root = repo_root().join("tests/kustomize/errors");
    let tree = DiskTree::new(repo_root()).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 12, "expected at least 12 error cases, found {}", names.len());
    let mut problems = Vec::new();
    for name in &names {
        let expect = std::fs::read_to_string(root.join(format!("{name}.expect"))).unwrap();
        let rel = tree.repo_path_of(&root.join(name)).unwrap();
        match render::build(&tree, &rel) {
            Ok(_) => problems.push(format!("{name}: built without error")),
            Err(e) => {
                let msg = e.to_string();
                for want in expect.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                    if !msg.contains(want) {
                        problems.push(format!("{name}: message lacks {want:?}: {msg}"));
                    }
                }
            }
        }
    }
    eprintln!("errors: {} cases, {} problems", names.len(), problems.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every kustomization of the example platform (`apps-of-apps/`, `overlays/`) against its
/// kustomize golden in `tests/kustomize/golden-example/`, and no kustomization without one.
#[test]
fn example_tree_matches_kustomize() {
    let root = repo_root();
    let mut dirs = Vec::new();
    fn find(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                find(&p, out);
            } else if p.file_name().is_some_and(|n| n == "kustomization.yaml") {
                out.push(p.parent().unwrap().to_path_buf());
            }
        }
    }
    find(&root.join("apps-of-apps"), &mut dirs);
    find(&root.join("overlays"), &mut dirs);
    dirs.sort();
    assert!(dirs.len() >= 37, "expected the nine bases and 28 overlays, found {}", dirs.len());
    let mut outcome = Outcome { compared: 0, byte_identical: 0, failures: Vec::new() };
    for dir in dirs {
        let rel = dir.strip_prefix(&root).unwrap().to_string_lossy().replace('/', "__");
        let golden = root.join(format!("tests/kustomize/golden-example/{rel}.yaml"));
        if !golden.exists() {
            outcome.failures.push(format!("{}: no golden; run scripts/regen-kustomize-goldens.sh", dir.display()));
            continue;
        }
        compare(&dir, &golden, &mut outcome);
    }
    report("example", outcome);
}
