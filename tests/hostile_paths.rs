//! Paths a careless or hostile commit can hold (issue 9, item 7): a symlink that leads outside
//! the repository is reported as leading outside (not as missing), and a directory whose name
//! is not UTF-8 is reported (not skipped), both on disk (`tidegate build`, `check`) and in a git
//! commit (the `GitTree` that `serve` renders from).

#![cfg(unix)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output};

use tidegate::render::fs::{DiskTree, EntryKind, RepoPath, SourceTree};
use tidegate::render::{self};
use tidegate::repo::Repository;
use tidegate::source::GitTree;

fn tidegate(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidegate")).args(args).current_dir(cwd).env_remove("RUST_LOG").output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Commits everything under `dir` with the git CLI (which stores symlinks as links and keeps
/// file names as bytes).
fn commit_all(dir: &Path) {
    for args in [&["init", "-q", "-b", "main"][..], &["add", "-A"], &["commit", "-q", "-m", "files"]] {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

const CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: secret\ndata:\n  a: b\n";

/// A kustomization directory `app/` whose resource `cm.yaml`, patch `patch.yaml` or whole
/// base `base` is a symlink to a directory outside the repository.
fn repo_with_links_out(outside: &Path) -> tempfile::TempDir {
    write(outside, "cm.yaml", CONFIGMAP);
    write(outside, "patch.yaml", "- op: add\n  path: /data/c\n  value: d\n");
    write(outside, "base/kustomization.yaml", "resources: [cm.yaml]\n");
    write(outside, "base/cm.yaml", CONFIGMAP);
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    write(r, "file/kustomization.yaml", "resources: [cm.yaml]\n");
    std::os::unix::fs::symlink(outside.join("cm.yaml"), r.join("file/cm.yaml")).unwrap();
    write(r, "relative/kustomization.yaml", "resources: [cm.yaml]\n");
    let up = format!("../{}", "../".repeat(r.components().count()));
    std::os::unix::fs::symlink(format!("{up}{}", outside.join("cm.yaml").display()), r.join("relative/cm.yaml"))
        .unwrap();
    write(r, "dir/kustomization.yaml", "resources: [base]\n");
    std::os::unix::fs::symlink(outside.join("base"), r.join("dir/base")).unwrap();
    write(
        r,
        "patch/kustomization.yaml",
        "resources: [ok.yaml]\npatches:\n- path: patch.yaml\n  target: {kind: ConfigMap}\n",
    );
    write(r, "patch/ok.yaml", CONFIGMAP);
    std::os::unix::fs::symlink(outside.join("patch.yaml"), r.join("patch/patch.yaml")).unwrap();
    std::fs::create_dir_all(r.join("whole")).unwrap();
    std::os::unix::fs::symlink(outside.join("base/kustomization.yaml"), r.join("whole/kustomization.yaml")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/tidegate-test", r.join("dangling")).unwrap();
    repo
}

const CASES: &[(&str, &str)] = &[
    ("file", "file/cm.yaml"),
    ("relative", "relative/cm.yaml"),
    ("dir", "dir/base"),
    ("patch", "patch/patch.yaml"),
    ("whole", "whole/kustomization.yaml"),
];

#[test]
fn a_symlink_out_of_the_checkout_is_said_to_lead_outside() {
    let outside = tempfile::tempdir().unwrap();
    let repo = repo_with_links_out(outside.path());
    for (dir, link) in CASES {
        let out = tidegate(&["build", dir], repo.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{dir}: {err}");
        assert!(err.contains("leads outside the repository root"), "{dir}: {err}");
        assert!(err.contains(link), "{dir}: the message names {link}: {err}");
        assert!(!err.contains("does not exist") && !err.contains("not found"), "{dir}: {err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("secret"), "{dir}: nothing from outside is printed");
    }
    let tree = DiskTree::new(repo.path()).unwrap();
    let p = |s: &str| RepoPath::new(s).unwrap();
    // The link exists: it is not "missing", and reading it says why it cannot be used.
    assert_eq!(tree.kind(&p("file/cm.yaml")), Some(EntryKind::File));
    let e = tree.entry(&p("dir/base/kustomization.yaml")).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(e.to_string().contains("dir/base is a symlink to"), "{e}");
    // A dangling link to an absolute path outside leads outside too.
    let e = tree.read(&p("dangling")).unwrap_err();
    assert!(e.to_string().contains("leads outside the repository root"), "{e}");
    assert_eq!(tree.kind(&p("nope")), None);
}

#[test]
fn a_symlink_out_of_a_commit_is_said_to_lead_outside() {
    let outside = tempfile::tempdir().unwrap();
    let repo = repo_with_links_out(outside.path());
    commit_all(repo.path());
    let tree = GitTree::open(repo.path(), "HEAD").unwrap();
    for (dir, link) in CASES {
        let err = render::build(&tree, &RepoPath::new(dir).unwrap()).unwrap_err().to_string();
        assert!(err.contains("leads outside the repository root"), "{dir}: {err}");
        assert!(err.contains(link), "{dir}: {err}");
        assert!(!err.contains("does not exist") && !err.contains("not found"), "{dir}: {err}");
    }
    assert_eq!(tree.kind(&RepoPath::new("file/cm.yaml").unwrap()), Some(EntryKind::File));
    assert_eq!(tree.kind(&RepoPath::new("nope").unwrap()), None);
}

const ROOT: &str = "apiVersion: tidegate.dev/v1alpha1\nkind: Root\nmetadata:\n  name: r\nspec:\n  environments: [{name: dev}]\n  waves: [{name: core}]\n";

fn app(name: &str) -> String {
    format!(
        "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata:\n  name: {name}\nspec:\n  wave: core\n  namespace: {name}\n"
    )
}

/// A valid one-app repository.
fn small_repo() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    write(r, "apps-of-apps/root.yaml", ROOT);
    write(r, "apps-of-apps/core/web/app.yaml", &app("web"));
    write(r, "apps-of-apps/core/web/base/kustomization.yaml", "resources: [cm.yaml]\n");
    write(r, "apps-of-apps/core/web/base/cm.yaml", CONFIGMAP);
    write(r, "overlays/dev/web/kustomization.yaml", "resources: [../../../apps-of-apps/core/web/base]\n");
    repo
}

/// Makes `parent/caf\xE9` (Latin-1 "café", not UTF-8) with `file` in it.
fn latin1_dir(parent: &Path, file: &str, text: &str) {
    let dir = parent.join(OsStr::from_bytes(b"caf\xe9"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), text).unwrap();
}

#[test]
fn a_directory_whose_name_is_not_utf8_is_reported_by_check() {
    let repo = small_repo();
    let out = tidegate(&["check"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // An app in a directory whose name is not UTF-8: reported, not skipped.
    latin1_dir(&repo.path().join("apps-of-apps/core"), "app.yaml", &app("cafe"));
    let out = tidegate(&["check"], repo.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("apps-of-apps/core"), "names the directory: {err}");
    assert!(err.contains(r"caf\xE9"), "shows the name with its bytes escaped: {err}");
    assert!(err.contains("not UTF-8"), "{err}");
    // So do the commands that load the repository.
    let out = tidegate(&["render", "--env", "dev"], repo.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(r"caf\xE9"), "{}", stderr(&out));
}

#[test]
fn an_overlay_directory_whose_name_is_not_utf8_is_reported() {
    let repo = small_repo();
    latin1_dir(&repo.path().join("overlays/dev"), "kustomization.yaml", "resources: []\n");
    let out = tidegate(&["check"], repo.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("overlays/dev") && err.contains(r"caf\xE9"), "{err}");
}

#[test]
fn a_directory_whose_name_is_not_utf8_is_reported_from_a_commit() {
    let repo = small_repo();
    latin1_dir(&repo.path().join("apps-of-apps/core"), "app.yaml", &app("cafe"));
    commit_all(repo.path());
    let tree = GitTree::open(repo.path(), "HEAD").unwrap();
    let err = tree.list(&RepoPath::new("apps-of-apps/core").unwrap()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains(r#""caf\xE9""#), "{err}");
    let errors = Repository::load(&tree).unwrap_err().to_string();
    assert!(errors.contains("apps-of-apps/core") && errors.contains(r"caf\xE9"), "{errors}");
    assert!(errors.contains("not UTF-8"), "{errors}");
}

#[test]
fn an_overlay_that_is_a_symlink_out_of_the_repository_is_said_to_lead_outside() {
    let repo = small_repo();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "web/kustomization.yaml", "resources: [../../../apps-of-apps/core/web/base]\n");
    std::fs::remove_dir_all(repo.path().join("overlays/dev/web")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("web"), repo.path().join("overlays/dev/web")).unwrap();
    let out = tidegate(&["plan", "--env", "dev"], repo.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("dev/web: overlay overlays/dev/web: overlays/dev/web is a symlink to")
            && err.contains("which leads outside the repository root"),
        "{err}"
    );
    assert!(!err.contains("does not exist"), "{err}");
}
