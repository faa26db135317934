use super::*;
use crate::render::fs::DiskTree;

fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn load(files: &[(&str, &str)]) -> Result<Repository, ModelErrors> {
    let dir = repo(files);
    Repository::load(&DiskTree::new(dir.path()).unwrap())
}

const ROOT: &str = "apiVersion: tidegate.dev/v1alpha1\nkind: Root\nmetadata:\n  name: r\nspec:\n  environments: [{name: dev}, {name: qa}, {name: prod}]\n  waves: [{name: core}, {name: business}]\n";

fn app(name: &str, wave: &str, extra: &str) -> String {
    format!(
        "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata:\n  name: {name}\nspec:\n  wave: {wave}\n  namespace: {name}\n{extra}"
    )
}

#[test]
fn loads_environments_waves_and_apps_in_order() {
    let web = app("web", "business", "  environments: [prod, dev]\n  overlays:\n    prod: deploy/prod/web\n");
    let keda = app("keda", "core", "");
    let r = load(&[
        (ROOT_FILE, ROOT),
        ("apps-of-apps/business/web/app.yaml", &web),
        ("apps-of-apps/core/keda/app.yaml", &keda),
    ])
    .unwrap();
    assert_eq!(r.environments.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["dev", "qa", "prod"]);
    assert_eq!(r.apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["keda", "web"]);
    let web = r.app("web").unwrap();
    assert_eq!(web.environments, ["dev", "prod"]);
    assert_eq!(web.overlays["dev"].as_str(), "overlays/dev/web");
    assert_eq!(web.overlays["prod"].as_str(), "deploy/prod/web");
    assert_eq!(web.base.as_str(), "apps-of-apps/business/web/base");
    assert!(web.create_namespace);
    assert_eq!(r.apps_in("qa").map(|a| a.name.as_str()).collect::<Vec<_>>(), ["keda"]);
}

#[test]
fn argo_cd_sync_waves_order_numerically_when_the_root_has_no_waves() {
    let root = "apiVersion: tidegate.dev/v1alpha1\nkind: Root\nmetadata: {name: r}\nspec:\n  environments: [{name: dev}]\n  apps: [apps.yaml]\n";
    let argo = |name: &str, wave: Option<&str>| {
        let ann =
            wave.map(|w| format!("  annotations:\n    argocd.argoproj.io/sync-wave: \"{w}\"\n")).unwrap_or_default();
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n{ann}spec:\n  project: default\n  source:\n    repoURL: https://example.com/x.git\n    path: apps/{name}\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: {name}\n  syncPolicy:\n    automated: {{prune: true}}\n"
        )
    };
    let apps = format!("{}---\n{}---\n{}", argo("late", Some("10")), argo("early", Some("-5")), argo("middle", None));
    let r = load(&[(ROOT_FILE, root), ("apps-of-apps/apps.yaml", &apps)]).unwrap();
    assert_eq!(r.waves.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), ["-5", "0", "10"]);
    assert_eq!(
        r.apps.iter().map(|a| (a.name.as_str(), a.wave.as_str())).collect::<Vec<_>>(),
        [("early", "-5"), ("middle", "0"), ("late", "10")]
    );
    let late = r.app("late").unwrap();
    assert_eq!(late.format, AppFormat::ArgoCd);
    assert_eq!(late.base.as_str(), "apps/late");
    assert_eq!(late.origin.line, 1);
    assert_eq!(r.app("early").unwrap().origin.line, 18);
}

#[test]
fn sync_wave_annotations_map_onto_named_waves() {
    let root = "apiVersion: tidegate.dev/v1alpha1\nkind: Root\nmetadata: {name: r}\nspec:\n  environments: [{name: dev}]\n  waves: [{name: core, syncWave: -1}, {name: apps, syncWave: 0}]\n";
    let a = "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata:\n  name: a\n  annotations:\n    argocd.argoproj.io/sync-wave: \"-1\"\nspec:\n  namespace: a\n";
    let r = load(&[(ROOT_FILE, root), ("apps-of-apps/a/app.yaml", a)]).unwrap();
    assert_eq!(r.app("a").unwrap().wave, "core");
}

#[test]
fn every_problem_is_reported_with_its_file() {
    let typo = app("web", "buisness", "");
    let dup = app("web", "core", "");
    let bad_env = app("api", "core", "  environments: [dev, staging]\n");
    let bad_ann = "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata:\n  name: x\n  annotations:\n    argocd.argoproj.io/sync-wave: soon\nspec:\n  namespace: x\n";
    let errs = load(&[
        (ROOT_FILE, ROOT),
        ("apps-of-apps/a/app.yaml", &typo),
        ("apps-of-apps/b/app.yaml", &dup),
        ("apps-of-apps/c/app.yaml", &bad_env),
        ("apps-of-apps/d/app.yaml", bad_ann),
    ])
    .unwrap_err();
    let text = errs.to_string();
    assert!(
        text.contains("apps-of-apps/a/app.yaml:1: app web: unknown wave \"buisness\"; did you mean \"business\"?"),
        "{text}"
    );
    assert!(
        text.contains("apps-of-apps/b/app.yaml:1: app \"web\" is already declared at apps-of-apps/a/app.yaml:1"),
        "{text}"
    );
    assert!(text.contains("unknown environment \"staging\""), "{text}");
    assert!(text.contains("must be an integer, found \"soon\""), "{text}");
    assert_eq!(errs.0.len(), 5, "{text}");
}

#[test]
fn typos_in_fields_and_a_missing_root_are_explained() {
    let err = load(&[("README.md", "x")]).unwrap_err().to_string();
    assert!(err.contains("apps-of-apps/root.yaml: not found"), "{err}");
    let root = ROOT.replace("waves:", "wavez:");
    let err = load(&[(ROOT_FILE, &root)]).unwrap_err().to_string();
    assert!(err.contains("unknown field `wavez`"), "{err}");
    assert!(err.contains("line 7"), "{err}");
    let a = app("a", "core", "  namespce: x\n");
    let err = load(&[(ROOT_FILE, ROOT), ("apps-of-apps/a/app.yaml", &a)]).unwrap_err().to_string();
    assert!(err.contains("apps-of-apps/a/app.yaml:1") && err.contains("unknown field `namespce`"), "{err}");
}

#[test]
fn paths_cannot_leave_the_repository() {
    let a = app("a", "core", "  base: ../../../../etc\n");
    let err = load(&[(ROOT_FILE, ROOT), ("apps-of-apps/a/app.yaml", &a)]).unwrap_err().to_string();
    assert!(err.contains("leads outside the repository root"), "{err}");
}
