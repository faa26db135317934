//! Issue 9: one hostile or careless file in the repository — nesting past go-yaml's limit, an
//! alias bomb — must fail the commands with a message naming the file and line, never crash
//! them (a stack overflow aborted `render`, `plan` and `check` with exit 134) or exhaust memory
//! (a 495-byte file made `plan` use 8.3 GB). The real binary on a copy of the example.

#[path = "support/serve.rs"]
mod serve_support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A copy of the example with the frontend's dev overlay reading one more file.
fn example_with(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["apps-of-apps", "overlays", "deploy"] {
        serve_support::copy_dir(&root.join(sub), &dir.path().join(sub));
    }
    let overlay = dir.path().join("overlays/dev/frontend");
    std::fs::write(overlay.join("extra.yaml"), extra).unwrap();
    let k = std::fs::read_to_string(overlay.join("kustomization.yaml")).unwrap();
    std::fs::write(overlay.join("kustomization.yaml"), k.replacen("resources:\n", "resources:\n  - extra.yaml\n", 1))
        .unwrap();
    dir
}

fn tidegate(repo: &Path, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .args(args)
        .arg("--repo")
        .arg(repo)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (out, started.elapsed())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A ConfigMap whose `spec` is `levels` block sequences deep (the top mapping adds one).
fn nested(levels: usize) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nspec:\n  {}leaf\n", "- ".repeat(levels))
}

const COMMANDS: [&[&str]; 4] =
    [&["build", "overlays/dev/frontend"], &["render", "--env", "dev"], &["plan", "--env", "dev"], &["check"]];

#[test]
fn nesting_past_go_yamls_limit_is_an_error_at_its_file_and_line_in_every_command() {
    for levels in [10_000, 100_000] {
        let repo = example_with(&nested(levels));
        for args in COMMANDS {
            let mut args = args.to_vec();
            if args[0] == "build" {
                // `build DIR` reads DIR relative to the current directory or absolute.
                args[1] = "";
            }
            let dir = repo.path().join("overlays/dev/frontend");
            let dir = dir.to_str().unwrap();
            let args: Vec<&str> = args.iter().map(|a| if a.is_empty() { dir } else { a }).collect();
            let (out, _) = tidegate(repo.path(), &args);
            assert_eq!(out.status.code(), Some(1), "{args:?} at {levels} levels: {}", stderr(&out));
            assert!(
                stderr(&out).contains("overlays/dev/frontend/extra.yaml: invalid YAML at line 6")
                    && stderr(&out).contains("exceeded max depth of 10000"),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
}

#[test]
fn nesting_up_to_the_limit_renders_and_is_counted() {
    // 9,999 sequences under the top mapping: exactly go-yaml's 10,000 levels.
    let repo = example_with(&nested(9_999));
    let (out, _) = tidegate(repo.path(), &["render", "--env", "dev", "--app", "frontend"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("name: deep"));
    let (check, _) = tidegate(repo.path(), &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    let (plain, _) = tidegate(Path::new(env!("CARGO_MANIFEST_DIR")), &["check"]);
    let count = |o: &Output| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.split(", ").last().and_then(|t| t.split(' ').next()).and_then(|n| n.parse::<usize>().ok()).unwrap()
    };
    assert_eq!(count(&check), count(&plain) + 1, "the deep object is counted, not dropped");
}

#[test]
fn alias_bombs_are_refused_quickly_by_every_command() {
    for levels in [7, 9] {
        let mut bomb = String::from(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
        for w in names[..=levels].windows(2) {
            bomb.push_str(&format!("  {}: &{} [{}]\n", w[1], w[1], vec![format!("*{}", w[0]); 9].join(",")));
        }
        let repo = example_with(&bomb);
        for args in COMMANDS.iter().skip(1) {
            let (out, took) = tidegate(repo.path(), args);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("overlays/dev/frontend/extra.yaml: invalid YAML at line")
                    && stderr(&out).contains("document contains excessive aliasing"),
                "{args:?}: {}",
                stderr(&out)
            );
            assert!(took < Duration::from_secs(20), "{args:?} took {took:?}");
        }
    }
}

#[test]
fn the_repositorys_own_files_are_held_to_the_same_limits() {
    let deep = format!("\nx:\n  {}leaf\n", "- ".repeat(20_000));
    for (file, name) in [
        ("apps-of-apps/root.yaml", "apps-of-apps/root.yaml"),
        ("apps-of-apps/promotion.yaml", "apps-of-apps/promotion.yaml"),
        ("apps-of-apps/business/frontend/app.yaml", "apps-of-apps/business/frontend/app.yaml"),
    ] {
        let repo = example_with("");
        let path = repo.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}{deep}")).unwrap();
        let (out, _) = tidegate(repo.path(), &["check"]);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(name) && stderr(&out).contains("exceeded max depth of 10000"),
            "{file}: {}",
            stderr(&out)
        );
    }
}
