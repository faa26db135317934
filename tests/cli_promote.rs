//! `tidegate promote` — the real binary — as a person runs it from a checkout: the dry run on
//! the example platform, refusals with their exit codes, and the full path against the fake
//! Kubernetes API (the source environment's health) and the fake GitHub API (the pull request).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use fake_github::FakeGitHub;
use fake_kube::{FakeKube, Options};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tidegate(args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidegate"));
    cmd.args(args).current_dir(cwd);
    for var in ["RUST_LOG", "GITHUB_TOKEN", "TIDEGATE_GITHUB_API_URL", "TIDEGATE_PROMETHEUS_URL", "KUBECONFIG"] {
        cmd.env_remove(var);
    }
    cmd.envs(envs.iter().copied());
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

#[test]
fn dry_run_prints_the_change_and_the_gates_and_writes_nothing() {
    let root = repo_root();
    let target = root.join("overlays/qa/frontend/kustomization.yaml");
    let before = std::fs::read(&target).unwrap();
    let out =
        tidegate(&["promote", "frontend", "--from", "dev", "--to", "qa", "--dry-run", "--no-cluster"], &root, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout, text(&out.stderr));
    assert!(stdout.contains("ghcr.io/example/shop-frontend: 1.8.2 → 1.9.0"), "{stdout}");
    assert!(stdout.contains("-    newTag: \"1.8.2\""), "{stdout}");
    assert!(stdout.contains("+    newTag: \"1.9.0\""), "{stdout}");
    // Exactly one line changes.
    assert_eq!(stdout.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count(), 1, "{stdout}");
    // Without a cluster the source cannot be seen healthy: the gate waits and says so.
    assert!(stdout.lines().any(|l| l.contains("waiting") && l.contains("source-healthy")), "{stdout}");
    assert!(stdout.lines().any(|l| l.contains("prometheus/error-rate")), "{stdout}");
    assert_eq!(std::fs::read(&target).unwrap(), before, "a dry run writes nothing");
}

#[test]
fn refusals_name_the_problem_and_exit_2() {
    let root = repo_root();
    let cases: &[(&[&str], &str)] = &[
        (&["promote", "frontedn", "--to", "qa", "--dry-run", "--no-cluster"], "did you mean \"frontend\""),
        (&["promote", "frontend", "--to", "qaa", "--dry-run", "--no-cluster"], "unknown environment \"qaa\""),
        (&["promote", "frontend", "--from", "dev", "--to", "prod", "--dry-run", "--no-cluster"], "from qa only"),
        (&["promote", "frontend", "--to", "dev", "--dry-run", "--no-cluster"], "pass --from"),
    ];
    for (args, words) in cases {
        let out = tidegate(args, &root, &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(words), "{args:?}: expected {words:?} in: {stderr}");
    }
    // Not a dry run, gates not passed: nothing is opened, exit 1, and the reason is given.
    let out = tidegate(&["promote", "frontend", "--to", "qa", "--no-cluster"], &root, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no pull request opened"), "{}", text(&out.stderr));
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: example/web:1.0\n";

fn write(dir: &Path, rel: &str, content: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// dev pins web 1.1, qa pins 1.0; dev → qa is automatic without soak.
fn small_repo(dir: &Path) {
    write(
        dir,
        "apps-of-apps/root.yaml",
        "apiVersion: tidegate.dev/v1alpha1\nkind: Root\nmetadata: {name: t}\nspec:\n  environments: [{name: dev}, {name: qa}]\n  waves: [{name: business}]\n  apps: [web]\n",
    );
    write(
        dir,
        "apps-of-apps/web/app.yaml",
        "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata: {name: web}\nspec:\n  wave: business\n  namespace: shop\n",
    );
    write(dir, "apps-of-apps/web/base/kustomization.yaml", "resources: [deployment.yaml]\n");
    write(dir, "apps-of-apps/web/base/deployment.yaml", DEPLOYMENT);
    for (env, tag) in [("dev", "1.1"), ("qa", "1.0")] {
        write(
            dir,
            &format!("overlays/{env}/web/kustomization.yaml"),
            &format!(
                "# web in {env}\nresources: [../../../apps-of-apps/web/base]\nimages:\n  - name: example/web\n    newTag: \"{tag}\" # pinned\n"
            ),
        );
    }
    write(
        dir,
        "apps-of-apps/promotion.yaml",
        "apiVersion: tidegate.dev/v1alpha1\nkind: PromotionPolicy\nmetadata: {name: t}\nspec:\n  environments:\n    qa: {mode: auto}\n",
    );
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "web 1.1 in dev, 1.0 in qa"]);
}

#[test]
fn promote_observes_the_source_cluster_and_opens_one_pull_request() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    small_repo(&repo);
    let kube = FakeKube::start_with(Options { ready_delay: Duration::from_millis(10), ..Options::default() });
    let kubeconfig = dir.path().join("kubeconfig");
    kube.write_kubeconfig(&kubeconfig);
    let kubeconfig = kubeconfig.to_str().unwrap().to_string();
    let gh = FakeGitHub::start_blocking(fake_github::Options::default());
    gh.add_repo("example/gitops", &repo);
    let api = gh.url();
    let envs = [
        ("KUBECONFIG", kubeconfig.as_str()),
        ("GITHUB_TOKEN", "test-token"),
        ("TIDEGATE_GITHUB_API_URL", api.as_str()),
    ];
    let promote = ["promote", "web", "--to", "qa", "--github-repo", "example/gitops"];

    // Nothing runs in dev yet: the source-healthy gate waits, no pull request.
    let out = tidegate(&promote, &repo, &envs);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("source-healthy"), "{}", text(&out.stderr));
    assert!(gh.pulls("example/gitops").is_empty());

    // dev is synced and healthy at 1.1.
    let out = tidegate(&["sync", "--env", "dev", "--wave-timeout", "20s"], &repo, &envs);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));

    // The pull request is made from HEAD: an uncommitted edit of the target file is refused.
    let target = repo.join("overlays/qa/web/kustomization.yaml");
    let committed = std::fs::read_to_string(&target).unwrap();
    std::fs::write(&target, committed.replace("# web in qa", "# web in qa (edited)")).unwrap();
    let out = tidegate(&promote, &repo, &envs);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("overlays/qa/web/kustomization.yaml differs from HEAD"),
        "{}",
        text(&out.stderr)
    );
    assert!(gh.pulls("example/gitops").is_empty());
    std::fs::write(&target, committed).unwrap();

    let out = tidegate(&promote, &repo, &envs);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("opened pull request #"), "{stdout}");
    let pulls = gh.pulls("example/gitops");
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!(pulls[0]["head"]["ref"], "tidegate/promote/web/qa");
    let changed = git(&repo, &["show", "tidegate/promote/web/qa:overlays/qa/web/kustomization.yaml"]);
    assert_eq!(
        changed,
        "# web in qa\nresources: [../../../apps-of-apps/web/base]\nimages:\n  - name: example/web\n    newTag: \"1.1\" # pinned"
    );

    // Asked again: the same pull request, nothing new.
    let out = tidegate(&promote, &repo, &envs);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("unchanged pull request #"), "{}", text(&out.stdout));
    assert_eq!(gh.pulls("example/gitops").len(), 1);
    assert!(gh.violations().is_empty(), "{:?}", gh.violations());
    assert!(gh.response_violations().is_empty(), "{:?}", gh.response_violations());
}
