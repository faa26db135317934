//! The promotion planner: "promote APP from ENV to ENV" → the exact file edits.
//!
//! What moves today is what CI pins in the source environment's overlay: each `images:` entry's
//! `newTag` (and `digest` when the source pins one). For every such entry of the source overlay,
//! the entry with the same `name` in the target overlay gets the source's values. Nothing else
//! moves: `newName` is per environment (registries and mirrors differ), and so are patches.
//! [`Promotable`] names the kinds of values a promotion can move, so that other fields can be
//! added later without changing the plan's shape.

use std::fmt;

use super::edit::{self, EditError, ImageEntry};
use crate::render::fs::{RepoPath, SourceTree};
use crate::render::{kustomization_file, read_text};
use crate::repo::Repository;

/// A kind of value a promotion moves from one environment's overlay to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Promotable {
    /// `images[].newTag` and `images[].digest` of the overlay's kustomization.
    ImageTags,
}

impl Promotable {
    /// Every kind, in the order a plan lists them.
    pub const ALL: &'static [Promotable] = &[Promotable::ImageTags];
}

/// One image whose pinned tag (or digest) changes in the target environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChange {
    /// The `images[].name` both overlays match on, e.g. `ghcr.io/example/shop-frontend`.
    pub image: String,
    /// The target's current `newTag` (`None` when it pins none).
    pub from_tag: Option<String>,
    /// The tag the target gets: the source's `newTag` (`None` when the source pins only a digest).
    pub to_tag: Option<String>,
    /// The target's current `digest`.
    pub from_digest: Option<String>,
    /// The digest the target gets (the source's), if the source pins one.
    pub to_digest: Option<String>,
    /// The image reference the source environment runs (`newName` or `name`, `:tag`,
    /// `@digest`): what must be healthy there before it moves on.
    pub source_image: String,
}

impl ImageChange {
    /// The target's current version as people write it: `1.8.2`, `1.8.2@sha256:…`, `sha256:…`,
    /// or `(none)`.
    pub fn from_version(&self) -> String {
        version(self.from_tag.as_deref(), self.from_digest.as_deref())
    }

    /// The version the target gets, written like [`ImageChange::from_version`].
    pub fn to_version(&self) -> String {
        version(self.to_tag.as_deref(), self.to_digest.as_deref())
    }
}

fn version(tag: Option<&str>, digest: Option<&str>) -> String {
    match (tag, digest) {
        (Some(t), Some(d)) => format!("{t}@{d}"),
        (Some(t), None) => t.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "(none)".to_string(),
    }
}

/// The new content of one file of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// The file.
    pub path: RepoPath,
    /// Its content now.
    pub before: String,
    /// Its content after the promotion: `before` with only the promoted values replaced.
    pub after: String,
}

/// What promoting an app from one environment to another changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionPlan {
    /// The app.
    pub app: String,
    /// The source environment.
    pub from: String,
    /// The target environment.
    pub to: String,
    /// The app's namespace.
    pub namespace: String,
    /// The source overlay's kustomization file.
    pub source_file: RepoPath,
    /// The target overlay's kustomization file.
    pub target_file: RepoPath,
    /// The images that change, in the source overlay's order.
    pub changes: Vec<ImageChange>,
    /// The file edits that make the change (empty for a no-op plan).
    pub edits: Vec<FileEdit>,
}

impl PromotionPlan {
    /// True when the target already runs what the source pins.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty() && self.edits.is_empty()
    }

    /// A unified diff of every edit (`--- a/path`, `+++ b/path`), as `git diff` shows it.
    pub fn diff(&self) -> String {
        let mut out = String::new();
        for e in &self.edits {
            out.push_str(
                &similar::TextDiff::from_lines(&e.before, &e.after)
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("a/{}", e.path), &format!("b/{}", e.path))
                    .to_string(),
            );
        }
        out
    }

    /// The image references the source environment runs for the moved images
    /// (`name:tag[@digest]`): what must be healthy there.
    pub fn source_images(&self) -> Vec<String> {
        self.changes.iter().map(|c| c.source_image.clone()).collect()
    }
}

/// Why a promotion cannot be planned (or is not allowed by the policy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromoteError {
    /// No app of that name.
    #[error("unknown app {app:?}; {hint}")]
    UnknownApp {
        /// The name asked for.
        app: String,
        /// "did you mean" and the known apps.
        hint: String,
    },
    /// No environment of that name.
    #[error("unknown environment {env:?}; {hint}")]
    UnknownEnvironment {
        /// The name asked for.
        env: String,
        /// "did you mean" and the known environments.
        hint: String,
    },
    /// `from` and `to` are the same.
    #[error("cannot promote {app} from {env} to itself; name two different environments")]
    SameEnvironment {
        /// The app.
        app: String,
        /// The environment given twice.
        env: String,
    },
    /// The app is not deployed to that environment.
    #[error("app {app} is not deployed to {env} (it is deployed to: {deployed})")]
    NotDeployed {
        /// The app.
        app: String,
        /// The environment.
        env: String,
        /// Where it is deployed.
        deployed: String,
    },
    /// Both environments use the same overlay directory, so there is nothing to move.
    #[error("app {app}: {from} and {to} share the overlay {dir}; a promotion needs one overlay per environment")]
    SharedOverlay {
        /// The app.
        app: String,
        /// The source environment.
        from: String,
        /// The target environment.
        to: String,
        /// The shared directory.
        dir: RepoPath,
    },
    /// The overlay's kustomization file is missing, unreadable or ambiguous.
    #[error("app {app} in {env}: {message}")]
    Overlay {
        /// The app.
        app: String,
        /// The environment.
        env: String,
        /// What is wrong (names the file or directory).
        message: String,
    },
    /// An overlay's `images:` could not be read or edited.
    #[error("{file}: {source}")]
    Edit {
        /// The kustomization file.
        file: RepoPath,
        /// The problem.
        #[source]
        source: EditError,
    },
    /// The source overlay pins nothing that could move.
    #[error(
        "app {app}: {file} pins no image tag or digest (images[].newTag / images[].digest), so there is nothing to promote from {env}"
    )]
    NothingPinned {
        /// The app.
        app: String,
        /// The source environment.
        env: String,
        /// The source kustomization file.
        file: RepoPath,
    },
    /// The target overlay has no entry for an image the source pins.
    #[error(
        "app {}: {}:{} pins image {:?} in {}, but {} has no images entry for it; add `- name: {}` with a `newTag` under `images:` there (tidegate does not invent entries)",
        .0.app, .0.source_file, .0.line, .0.image, .0.from, .0.target_file, .0.image
    )]
    MissingInTarget(Box<MissingEntry>),
    /// The target pins a field the source does not, which would stay stale after the move.
    #[error(
        "app {}: {}:{}: images entry {:?} pins {} {:?}, but {} pins no {} for it; moving only the rest would leave it stale — remove it from {} or pin it in {}",
        .0.app, .0.target_file, .0.line, .0.image, .0.field, .0.value, .0.source_file, .0.field, .0.target_file, .0.source_file
    )]
    Stale(Box<StaleField>),
    /// The policy never promotes this app.
    #[error("app {app} is not promoted by tidegate (promote: false in {file})")]
    NotPromoted {
        /// The app.
        app: String,
        /// The policy file.
        file: String,
    },
    /// The environment is not part of the promotion pipeline.
    #[error("environment {env} is not in the promotion pipeline ({pipeline})")]
    NotInPipeline {
        /// The environment.
        env: String,
        /// The pipeline, `dev → qa → prod`.
        pipeline: String,
    },
    /// The step skips or reverses the pipeline.
    #[error("{to} takes promotions from {expected} only (pipeline {pipeline}), not from {from}")]
    NotNextStep {
        /// The requested source.
        from: String,
        /// The target.
        to: String,
        /// The environment `to` takes promotions from.
        expected: String,
        /// The pipeline, `dev → qa → prod`.
        pipeline: String,
    },
}

/// Details of [`PromoteError::MissingInTarget`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingEntry {
    /// The app.
    pub app: String,
    /// The image name.
    pub image: String,
    /// The source environment.
    pub from: String,
    /// The source kustomization file.
    pub source_file: RepoPath,
    /// Line of the source entry.
    pub line: usize,
    /// The target kustomization file.
    pub target_file: RepoPath,
}

/// Details of [`PromoteError::Stale`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleField {
    /// The app.
    pub app: String,
    /// The image name.
    pub image: String,
    /// `newTag` or `digest`.
    pub field: String,
    /// The target's value.
    pub value: String,
    /// The source kustomization file.
    pub source_file: RepoPath,
    /// The target kustomization file.
    pub target_file: RepoPath,
    /// Line of the target entry.
    pub line: usize,
}

/// Plans promoting `app` from `from` to `to` over every [`Promotable`] kind.
pub fn plan_promotion(
    repo: &Repository,
    tree: &dyn SourceTree,
    app: &str,
    from: &str,
    to: &str,
) -> Result<PromotionPlan, PromoteError> {
    plan_promotion_of(repo, tree, app, from, to, Promotable::ALL)
}

/// Plans promoting `app` from `from` to `to`, moving only the given kinds of values.
pub fn plan_promotion_of(
    repo: &Repository,
    tree: &dyn SourceTree,
    app: &str,
    from: &str,
    to: &str,
    kinds: &[Promotable],
) -> Result<PromotionPlan, PromoteError> {
    let Some(the_app) = repo.app(app) else {
        return Err(PromoteError::UnknownApp { app: app.into(), hint: repo.suggest_app(app) });
    };
    for env in [from, to] {
        if repo.environment(env).is_none() {
            return Err(PromoteError::UnknownEnvironment { env: env.into(), hint: repo.suggest_environment(env) });
        }
    }
    if from == to {
        return Err(PromoteError::SameEnvironment { app: app.into(), env: from.into() });
    }
    let overlay = |env: &str| {
        the_app.overlays.get(env).ok_or_else(|| PromoteError::NotDeployed {
            app: app.into(),
            env: env.into(),
            deployed: the_app.environments.join(", "),
        })
    };
    let (source_dir, target_dir) = (overlay(from)?, overlay(to)?);
    if source_dir == target_dir {
        return Err(PromoteError::SharedOverlay {
            app: app.into(),
            from: from.into(),
            to: to.into(),
            dir: source_dir.clone(),
        });
    }
    let source = OverlayFile::read(tree, app, from, source_dir)?;
    let target = OverlayFile::read(tree, app, to, target_dir)?;
    let mut plan = PromotionPlan {
        app: app.into(),
        from: from.into(),
        to: to.into(),
        namespace: the_app.namespace.clone(),
        source_file: source.path.clone(),
        target_file: target.path.clone(),
        changes: Vec::new(),
        edits: Vec::new(),
    };
    for kind in kinds {
        match kind {
            Promotable::ImageTags => plan_images(&mut plan, &source, &target)?,
        }
    }
    Ok(plan)
}

/// An overlay's kustomization file and its `images:` entries.
struct OverlayFile {
    path: RepoPath,
    text: String,
    images: Vec<ImageEntry>,
}

impl OverlayFile {
    fn read(tree: &dyn SourceTree, app: &str, env: &str, dir: &RepoPath) -> Result<OverlayFile, PromoteError> {
        let overlay_error = |message: String| PromoteError::Overlay { app: app.into(), env: env.into(), message };
        let path = kustomization_file(tree, dir).map_err(|e| overlay_error(e.to_string()))?;
        let text = read_text(tree, &path).map_err(|e| overlay_error(e.to_string()))?;
        let images = edit::image_entries(&text).map_err(|source| PromoteError::Edit { file: path.clone(), source })?;
        Ok(OverlayFile { path, text, images })
    }
}

fn plan_images(plan: &mut PromotionPlan, source: &OverlayFile, target: &OverlayFile) -> Result<(), PromoteError> {
    let pinned: Vec<&ImageEntry> = source.images.iter().filter(|e| e.new_tag.is_some() || e.digest.is_some()).collect();
    if pinned.is_empty() {
        return Err(PromoteError::NothingPinned {
            app: plan.app.clone(),
            env: plan.from.clone(),
            file: source.path.clone(),
        });
    }
    let mut text = target.text.clone();
    for s in pinned {
        let Some(t) = target.images.iter().find(|t| t.name == s.name) else {
            return Err(PromoteError::MissingInTarget(Box::new(MissingEntry {
                app: plan.app.clone(),
                image: s.name.clone(),
                from: plan.from.clone(),
                source_file: source.path.clone(),
                line: s.line,
                target_file: target.path.clone(),
            })));
        };
        for (field, source_value, target_value) in
            [("newTag", &s.new_tag, &t.new_tag), ("digest", &s.digest, &t.digest)]
        {
            if let (None, Some(value)) = (source_value, target_value) {
                return Err(PromoteError::Stale(Box::new(StaleField {
                    app: plan.app.clone(),
                    image: s.name.clone(),
                    field: field.into(),
                    value: value.clone(),
                    source_file: source.path.clone(),
                    target_file: target.path.clone(),
                    line: t.line,
                })));
            }
        }
        if s.new_tag == t.new_tag && s.digest == t.digest {
            continue;
        }
        text = edit::set_image(&text, &s.name, s.new_tag.as_deref(), s.digest.as_deref())
            .map_err(|source| PromoteError::Edit { file: target.path.clone(), source })?;
        plan.changes.push(ImageChange {
            image: s.name.clone(),
            from_tag: t.new_tag.clone(),
            to_tag: s.new_tag.clone(),
            from_digest: t.digest.clone(),
            to_digest: s.digest.clone(),
            source_image: reference(s),
        });
    }
    if text != target.text {
        plan.edits.push(FileEdit { path: target.path.clone(), before: target.text.clone(), after: text });
    }
    Ok(())
}

/// The reference an entry makes the environment run: `newName` (or `name`), `:newTag`, `@digest`.
fn reference(e: &ImageEntry) -> String {
    let mut out = e.new_name.clone().unwrap_or_else(|| e.name.clone());
    if let Some(t) = &e.new_tag {
        out.push(':');
        out.push_str(t);
    }
    if let Some(d) = &e.digest {
        out.push('@');
        out.push_str(d);
    }
    out
}

impl fmt::Display for PromotionPlan {
    /// One line per change: `ghcr.io/example/shop-frontend: 1.8.2 → 1.9.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_noop() {
            return write!(f, "{} already runs what {} pins for {}; nothing to promote", self.to, self.from, self.app);
        }
        for c in &self.changes {
            writeln!(f, "{}: {} → {}", c.image, c.from_version(), c.to_version())?;
        }
        Ok(())
    }
}
