//! Tests of the promotion model: edits on comment-heavy files, the planner over an in-memory
//! repository and over the example repository, the policy file, and the PR text.

use std::collections::BTreeMap;
use std::io;

use crate::render::fs::{EntryKind, RepoPath, SourceTree};
use crate::repo::Repository;

mod edit;
mod plan;
mod policy;
mod pr;

/// A repository in memory: path → content.
#[derive(Debug, Clone, Default)]
pub(super) struct MemTree(pub BTreeMap<String, String>);

impl MemTree {
    pub fn with(mut self, path: &str, text: &str) -> Self {
        self.0.insert(path.to_string(), text.to_string());
        self
    }
}

impl SourceTree for MemTree {
    fn read(&self, path: &RepoPath) -> io::Result<Vec<u8>> {
        self.0.get(path.as_str()).map(|t| t.clone().into_bytes()).ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    fn kind(&self, path: &RepoPath) -> Option<EntryKind> {
        if self.0.contains_key(path.as_str()) {
            return Some(EntryKind::File);
        }
        let prefix = if path.as_str().is_empty() { String::new() } else { format!("{}/", path.as_str()) };
        self.0.keys().any(|k| k.starts_with(&prefix)).then_some(EntryKind::Dir)
    }

    fn list(&self, path: &RepoPath) -> io::Result<Vec<String>> {
        let prefix = if path.as_str().is_empty() { String::new() } else { format!("{}/", path.as_str()) };
        let mut names: Vec<String> = self
            .0
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        names.dedup();
        Ok(names)
    }
}

const ROOT: &str = "apiVersion: tidegate.dev/v1alpha1
kind: Root
metadata:
  name: test
spec:
  environments: [{name: dev}, {name: qa}, {name: prod}]
  waves: [{name: core}, {name: business}]
  apps: [apps]
";

fn app(name: &str, envs: &str) -> String {
    format!(
        "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata:\n  name: {name}\nspec:\n  wave: business\n  namespace: shop\n  environments: {envs}\n"
    )
}

fn overlay(images: &str) -> String {
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../../apps/web/base\n{images}"
    )
}

/// dev/qa/prod; `web` everywhere (one image), `api` in dev and prod only, `db` everywhere
/// without pinned images.
pub(super) fn sample() -> MemTree {
    let base = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n";
    let mut t = MemTree::default()
        .with("apps-of-apps/root.yaml", ROOT)
        .with("apps-of-apps/apps/web/app.yaml", &app("web", "[dev, qa, prod]"))
        .with("apps-of-apps/apps/api/app.yaml", &app("api", "[dev, prod]"))
        .with("apps-of-apps/apps/db/app.yaml", &app("db", "[dev, qa, prod]"))
        .with("apps-of-apps/apps/web/base/kustomization.yaml", base)
        .with("apps-of-apps/apps/api/base/kustomization.yaml", base)
        .with("apps-of-apps/apps/db/base/kustomization.yaml", base);
    for (env, tag) in [("dev", "1.9.0"), ("qa", "1.8.2"), ("prod", "1.8.1")] {
        t = t.with(
            &format!("overlays/{env}/web/kustomization.yaml"),
            &overlay(&format!("images:\n  # pinned\n  - name: ghcr.io/example/web\n    newTag: \"{tag}\" # {env}\n")),
        );
        t = t.with(&format!("overlays/{env}/db/kustomization.yaml"), &overlay(""));
    }
    for (env, tag) in [("dev", "2.0.0"), ("prod", "1.0.0")] {
        t = t.with(
            &format!("overlays/{env}/api/kustomization.yaml"),
            &overlay(&format!("images:\n- name: ghcr.io/example/api\n  newTag: {tag}\n")),
        );
    }
    t
}

pub(super) fn repo_of(tree: &MemTree) -> Repository {
    Repository::load(tree).unwrap_or_else(|e| panic!("sample repository: {e}"))
}
