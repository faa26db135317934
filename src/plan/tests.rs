use super::*;
use crate::render::fs::DiskTree;

const ROOT: &str = "apiVersion: tidegate.dev/v1alpha1\nkind: Root\nmetadata: {name: r}\nspec:\n  environments: [{name: dev}, {name: prod}]\n  waves: [{name: core}, {name: business}]\n";

fn write(dir: &std::path::Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn app_files(
    name: &str,
    wave: &str,
    ns: &str,
    create_ns: bool,
    manifests: &str,
    envs: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut files = vec![
        (
            format!("apps-of-apps/{name}/app.yaml"),
            format!(
                "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata: {{name: {name}}}\nspec:\n  wave: {wave}\n  namespace: {ns}\n  createNamespace: {create_ns}\n"
            ),
        ),
        (format!("apps-of-apps/{name}/base/kustomization.yaml"), "resources: [all.yaml]\n".to_string()),
        (format!("apps-of-apps/{name}/base/all.yaml"), manifests.to_string()),
    ];
    for (env, tag) in envs {
        files.push((
            format!("overlays/{env}/{name}/kustomization.yaml"),
            format!(
                "resources: [../../../apps-of-apps/{name}/base]\nimages:\n- name: example/{name}\n  newTag: \"{tag}\"\n"
            ),
        ));
    }
    files
}

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - name: {name}\n        image: example/{name}:0.0.1\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{ports: [{{port: 80}}]}}\n"
    )
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(extra: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("apps-of-apps/root.yaml", ROOT)]);
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: pools.example.com}\nspec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Pool, plural: pools}\n  versions: [{name: v1, served: true, storage: true}]\n---\napiVersion: example.com/v1\nkind: Pool\nmetadata: {name: default, namespace: wrong}\n";
        let mut files = app_files(
            "ops",
            "core",
            "ops",
            true,
            &format!("{}---\n{crd}", deployment("ops")),
            &[("dev", "1.0"), ("prod", "1.0")],
        );
        files.extend(app_files(
            "web",
            "business",
            "shop",
            true,
            &deployment("web"),
            &[("dev", "2.0"), ("prod", "1.9")],
        ));
        files.extend(app_files(
            "api",
            "business",
            "shop",
            true,
            &deployment("api"),
            &[("dev", "3.0"), ("prod", "3.0")],
        ));
        let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        write(dir.path(), &refs);
        write(dir.path(), extra);
        Fixture { dir }
    }

    fn tree(&self) -> DiskTree {
        DiskTree::new(self.dir.path()).unwrap()
    }

    fn render(&self, env: &str) -> Result<RenderedEnv, Vec<AppProblem>> {
        let tree = self.tree();
        let repo = Repository::load(&tree).unwrap();
        render_env(&repo, &tree, env, None)
    }
}

#[test]
fn waves_apps_namespaces_and_images() {
    let f = Fixture::new(&[]);
    let env = f.render("dev").unwrap();
    assert_eq!(env.waves.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), ["core", "business"]);
    let business = &env.waves[1];
    assert_eq!(business.apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["api", "web"]);
    let api = &business.apps[0];
    // api is first in the wave, so it creates the shared namespace; web does not repeat it.
    assert_eq!(api.objects[0]["kind"], "Namespace");
    assert_eq!(api.objects[0]["metadata"]["name"], "shop");
    assert!(business.apps[1].objects.iter().all(|o| o["kind"] != "Namespace"));
    assert!(api.objects.iter().filter(|o| o["kind"] != "Namespace").all(|o| o["metadata"]["namespace"] == "shop"));
    assert_eq!(api.images, ["example/api:3.0"]);
    let ops = &env.waves[0].apps[0];
    let pool = ops.objects.iter().find(|o| o["kind"] == "Pool").unwrap();
    assert!(pool["metadata"].get("namespace").is_none(), "cluster-scoped custom resources lose the namespace");
    let kinds: Vec<&str> = ops.objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Namespace", "CustomResourceDefinition", "Service", "Deployment", "Pool"]);
}

#[test]
fn digests_are_deterministic_and_follow_content() {
    let f = Fixture::new(&[]);
    let a = f.render("dev").unwrap();
    let b = f.render("dev").unwrap();
    let digest = |e: &RenderedEnv, app: &str| {
        e.waves.iter().flat_map(|w| &w.apps).find(|x| x.name == app).unwrap().digest.clone()
    };
    assert_eq!(digest(&a, "web"), digest(&b, "web"));
    assert!(digest(&a, "web").starts_with("sha256:") && digest(&a, "web").len() == 71);
    let prod = f.render("prod").unwrap();
    assert_ne!(digest(&a, "web"), digest(&prod, "web"), "different tags, different digests");
    assert_eq!(digest(&a, "ops"), digest(&prod, "ops"), "same inputs, same digest across environments");
}

#[test]
fn objects_rendered_by_two_apps_are_refused() {
    let clash = deployment("web");
    let f = Fixture::new(&[("apps-of-apps/api/base/all.yaml", &clash)]);
    let problems = f.render("dev").unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.app == "web" && p.message.contains("apps Deployment shop/web is also rendered by app api")),
        "{problems:?}"
    );
}

#[test]
fn check_reports_every_problem_across_environments() {
    let f = Fixture::new(&[
        (
            "overlays/prod/web/kustomization.yaml",
            "resources: [../../../apps-of-apps/web/base]\npatches:\n- target: {kind: Deployment}\n  patch: '[{\"op\": \"replace\", \"path\": \"/spec/nope/x\", \"value\": 1}]'\n",
        ),
        (
            "overlays/dev/api/kustomization.yaml",
            "resources: [../../../apps-of-apps/api/base]\nconfigMapGenerator: []\n",
        ),
        ("overlays/dev/old-web/kustomization.yaml", "resources: []\n"),
    ]);
    let tree = f.tree();
    let repo = Repository::load(&tree).unwrap();
    let (_, problems) = check(&repo, &tree);
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 3, "{text:#?}");
    assert!(
        text.iter().any(|t| t.starts_with(
            "dev/api: overlays/dev/api/kustomization.yaml: line 2: unsupported field `configMapGenerator`"
        )),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|t| t.starts_with(
            "prod/web: overlays/prod/web/kustomization.yaml: patches[0] does not apply to apps/v1 Deployment web"
        )),
        "{text:#?}"
    );
    assert!(text.iter().any(|t| t.contains("overlay overlays/dev/old-web belongs to no app")), "{text:#?}");
}

#[test]
fn a_missing_overlay_names_the_app_and_the_path() {
    let f = Fixture::new(&[]);
    std::fs::remove_dir_all(f.dir.path().join("overlays/prod/api")).unwrap();
    let problems = f.render("prod").unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(problems[0].to_string().starts_with("prod/api: overlay overlays/prod/api does not exist"), "{problems:?}");
}
