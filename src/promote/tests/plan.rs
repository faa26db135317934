use pretty_assertions::assert_eq;

use super::{repo_of, sample};
use crate::promote::edit::image_entries;
use crate::promote::{ImageChange, Policy, PromoteError, plan_promotion};
use crate::render::fs::{DiskTree, RepoPath, SourceTree};
use crate::render::read_text;
use crate::repo::Repository;

#[test]
fn plans_the_tag_move_and_nothing_else() {
    let tree = sample();
    let repo = repo_of(&tree);
    let plan = plan_promotion(&repo, &tree, "web", "dev", "qa").unwrap();
    assert_eq!(plan.namespace, "shop");
    assert_eq!(
        plan.changes,
        vec![ImageChange {
            image: "ghcr.io/example/web".into(),
            from_tag: Some("1.8.2".into()),
            to_tag: Some("1.9.0".into()),
            from_digest: None,
            to_digest: None,
            source_image: "ghcr.io/example/web:1.9.0".into(),
        }]
    );
    assert_eq!(plan.edits.len(), 1);
    let edit = &plan.edits[0];
    assert_eq!(edit.path.as_str(), "overlays/qa/web/kustomization.yaml");
    assert_eq!(edit.after, edit.before.replace("\"1.8.2\" # qa", "\"1.9.0\" # qa"));
    assert_eq!(plan.source_images(), ["ghcr.io/example/web:1.9.0"]);
    assert!(!plan.is_noop());
    let diff = plan.diff();
    assert!(
        diff.starts_with("--- a/overlays/qa/web/kustomization.yaml\n+++ b/overlays/qa/web/kustomization.yaml\n"),
        "{diff}"
    );
    assert!(diff.contains("\n-    newTag: \"1.8.2\" # qa\n+    newTag: \"1.9.0\" # qa\n"), "{diff}");
    assert_eq!(plan.to_string(), "ghcr.io/example/web: 1.8.2 → 1.9.0\n");
}

#[test]
fn target_at_the_tag_is_a_noop() {
    let tree = sample()
        .with("overlays/qa/web/kustomization.yaml", "images:\n- name: ghcr.io/example/web\n  newTag: '1.9.0'\n");
    let repo = repo_of(&tree);
    let plan = plan_promotion(&repo, &tree, "web", "dev", "qa").unwrap();
    assert!(plan.is_noop());
    assert_eq!(plan.diff(), "");
    assert!(plan.source_images().is_empty());
}

#[test]
fn names_and_environments_are_checked() {
    let tree = sample();
    let repo = repo_of(&tree);
    let err = plan_promotion(&repo, &tree, "webb", "dev", "qa").unwrap_err();
    assert!(err.to_string().starts_with("unknown app \"webb\"; did you mean \"web\"?"), "{err}");
    let err = plan_promotion(&repo, &tree, "web", "dev", "qaa").unwrap_err();
    assert!(err.to_string().starts_with("unknown environment \"qaa\"; did you mean \"qa\"?"), "{err}");
    let err = plan_promotion(&repo, &tree, "web", "qa", "qa").unwrap_err();
    assert_eq!(err, PromoteError::SameEnvironment { app: "web".into(), env: "qa".into() });
    let err = plan_promotion(&repo, &tree, "api", "dev", "qa").unwrap_err();
    assert_eq!(err.to_string(), "app api is not deployed to qa (it is deployed to: dev, prod)");
    let err = plan_promotion(&repo, &tree, "db", "dev", "qa").unwrap_err();
    assert!(matches!(err, PromoteError::NothingPinned { .. }), "{err}");
}

#[test]
fn a_missing_target_entry_is_an_error_not_an_invention() {
    let tree =
        sample().with("overlays/qa/web/kustomization.yaml", "images:\n- name: ghcr.io/example/other\n  newTag: x\n");
    let repo = repo_of(&tree);
    let err = plan_promotion(&repo, &tree, "web", "dev", "qa").unwrap_err();
    assert_eq!(
        err.to_string(),
        "app web: overlays/dev/web/kustomization.yaml:7 pins image \"ghcr.io/example/web\" in dev, but overlays/qa/web/kustomization.yaml has no images entry for it; add `- name: ghcr.io/example/web` with a `newTag` under `images:` there (tidegate does not invent entries)"
    );
}

#[test]
fn digests_move_with_tags_and_stale_ones_are_refused() {
    let dev = "images:\n- name: ghcr.io/example/web\n  newTag: 1.9.0\n  digest: sha256:bbbb\n";
    let tree = sample()
        .with("overlays/dev/web/kustomization.yaml", dev)
        .with("overlays/qa/web/kustomization.yaml", "images:\n- name: ghcr.io/example/web\n  newTag: 1.8.2 # qa\n");
    let repo = repo_of(&tree);
    let plan = plan_promotion(&repo, &tree, "web", "dev", "qa").unwrap();
    assert_eq!(plan.changes[0].to_version(), "1.9.0@sha256:bbbb");
    assert_eq!(plan.changes[0].from_version(), "1.8.2");
    assert_eq!(
        plan.edits[0].after,
        "images:\n- name: ghcr.io/example/web\n  newTag: 1.9.0 # qa\n  digest: sha256:bbbb\n"
    );
    assert_eq!(plan.source_images(), ["ghcr.io/example/web:1.9.0@sha256:bbbb"]);
    // The target pins a digest the source does not: moving only the tag would keep running
    // the old digest.
    let tree = sample().with(
        "overlays/qa/web/kustomization.yaml",
        "images:\n- name: ghcr.io/example/web\n  newTag: 1.8.2\n  digest: sha256:aaaa\n",
    );
    let err = plan_promotion(&repo_of(&tree), &tree, "web", "dev", "qa").unwrap_err();
    assert!(matches!(&err, PromoteError::Stale(s) if s.field == "digest"), "{err}");
}

#[test]
fn overlay_file_names_and_problems() {
    let mut tree = sample();
    let text = tree.0.remove("overlays/qa/web/kustomization.yaml").unwrap();
    let tree = tree.with("overlays/qa/web/Kustomization", &text);
    let repo = repo_of(&tree);
    let plan = plan_promotion(&repo, &tree, "web", "dev", "qa").unwrap();
    assert_eq!(plan.edits[0].path.as_str(), "overlays/qa/web/Kustomization");
    let tree = tree.with("overlays/qa/web/kustomization.yml", &text);
    let err = plan_promotion(&repo, &tree, "web", "dev", "qa").unwrap_err();
    assert!(matches!(err, PromoteError::Overlay { .. }), "{err}");
    let tree = sample()
        .with("overlays/qa/web/kustomization.yaml", "images:\n- name: ghcr.io/example/web\n  newTag: |\n    1\n");
    let err = plan_promotion(&repo_of(&tree), &tree, "web", "dev", "qa").unwrap_err();
    assert!(err.to_string().starts_with("overlays/qa/web/kustomization.yaml: line 3: images[0].newTag"), "{err}");
}

fn project() -> DiskTree {
    DiskTree::new(env!("CARGO_MANIFEST_DIR")).unwrap()
}

#[test]
fn example_repository_frontend_dev_to_qa() {
    let tree = project();
    let repo = Repository::load(&tree).unwrap();
    let dev_file = RepoPath::new("overlays/dev/frontend/kustomization.yaml").unwrap();
    let qa_file = RepoPath::new("overlays/qa/frontend/kustomization.yaml").unwrap();
    let dev = image_entries(&read_text(&tree, &dev_file).unwrap()).unwrap();
    let qa_text = read_text(&tree, &qa_file).unwrap();
    let qa = image_entries(&qa_text).unwrap();
    let (dev_tag, qa_tag) = (dev[0].new_tag.clone().unwrap(), qa[0].new_tag.clone().unwrap());
    assert_ne!(dev_tag, qa_tag, "the example keeps different tags per environment");
    let plan = plan_promotion(&repo, &tree, "frontend", "dev", "qa").unwrap();
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].image, "ghcr.io/example/shop-frontend");
    assert_eq!(plan.edits.len(), 1);
    assert_eq!(plan.edits[0].path, qa_file);
    assert_eq!(plan.edits[0].before, qa_text);
    let old = format!("newTag: \"{qa_tag}\"");
    assert_eq!(qa_text.matches(&old).count(), 1);
    assert_eq!(plan.edits[0].after, qa_text.replace(&old, &format!("newTag: \"{dev_tag}\"")));
    let diff = plan.diff();
    assert_eq!(diff.lines().filter(|l| l.starts_with('-') && !l.starts_with("---")).count(), 1, "{diff}");
    assert_eq!(diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count(), 1, "{diff}");
    // The edited overlay still builds.
    assert!(tree.kind(&qa_file).is_some());
}

#[test]
fn example_repository_policy_loads() {
    let tree = project();
    let repo = Repository::load(&tree).unwrap();
    let policy = Policy::load(&tree, &repo).unwrap_or_else(|e| panic!("{e}"));
    assert!(policy.from_file);
    assert_eq!(policy.pipeline(), ["dev", "qa", "prod"]);
    assert_eq!(policy.mode("frontend", "qa"), crate::promote::Mode::Auto);
    assert_eq!(policy.mode("frontend", "prod"), crate::promote::Mode::Manual);
    let gates = policy.gates("frontend", "qa");
    assert!(!gates.prometheus.is_empty());
    assert!(gates.prometheus.iter().all(|g| g.address.is_some()));
    assert!(!policy.gates("frontend", "prod").windows.is_empty());
    assert!(policy.required_permission("frontend", "prod") > policy.required_permission("frontend", "qa"));
}

/// `inner` with some files replaced.
struct Edited<'a> {
    inner: &'a dyn SourceTree,
    files: Vec<(RepoPath, String)>,
}

impl SourceTree for Edited<'_> {
    fn read(&self, path: &RepoPath) -> std::io::Result<Vec<u8>> {
        match self.files.iter().find(|(p, _)| p == path) {
            Some((_, text)) => Ok(text.clone().into_bytes()),
            None => self.inner.read(path),
        }
    }

    fn kind(&self, path: &RepoPath) -> Option<crate::render::fs::EntryKind> {
        self.inner.kind(path)
    }

    fn list(&self, path: &RepoPath) -> std::io::Result<Vec<String>> {
        self.inner.list(path)
    }
}

#[test]
fn example_repository_edit_renders_the_promoted_image() {
    let tree = project();
    let repo = Repository::load(&tree).unwrap();
    let plan = plan_promotion(&repo, &tree, "frontend", "dev", "qa").unwrap();
    let edited = Edited { inner: &tree, files: plan.edits.iter().map(|e| (e.path.clone(), e.after.clone())).collect() };
    let objects = crate::render::build(&edited, &RepoPath::new("overlays/qa/frontend").unwrap()).unwrap();
    let images: Vec<&str> = objects
        .iter()
        .filter_map(|o| o.value.pointer("/spec/template/spec/containers/0/image").and_then(|v| v.as_str()))
        .collect();
    assert_eq!(images, plan.source_images().iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn every_example_overlay_edits_in_place() {
    let tree = project();
    let repo = Repository::load(&tree).unwrap();
    for app in &repo.apps {
        for dir in app.overlays.values() {
            let file = crate::render::kustomization_file(&tree, dir).unwrap();
            let text = read_text(&tree, &file).unwrap();
            for entry in image_entries(&text).unwrap() {
                for tag in ["9.9.9", "1.10", "v2.0.0-rc.1"] {
                    let after = crate::promote::edit::set_image(&text, &entry.name, Some(tag), None)
                        .unwrap_or_else(|e| panic!("{file}: {e}"));
                    let old = entry.new_tag.as_deref().unwrap_or("");
                    let pos = after.find(tag).unwrap_or_else(|| panic!("{file}: {tag} not written"));
                    // Everything outside the value is byte-identical.
                    let start = text[..pos].len();
                    assert_eq!(&after[..start], &text[..start], "{file}");
                    let rest_after = &after[start..].trim_start_matches('"')[tag.len()..];
                    let rest_before = &text[start..].trim_start_matches('"')[old.len()..];
                    assert_eq!(rest_after.trim_start_matches('"'), rest_before.trim_start_matches('"'), "{file}");
                    let back = image_entries(&after).unwrap();
                    assert_eq!(back.iter().find(|e| e.name == entry.name).unwrap().new_tag.as_deref(), Some(tag));
                }
            }
        }
    }
}
