//! The kustomize-compatible renderer.
//!
//! [`build`] turns one kustomization directory into objects, exactly as `kubectl kustomize`
//! would for the supported subset (see `docs/kustomize-support.md`): resources (files, nested
//! bases, multi-document files, `List` kinds), JSON 6902 patches, `images`, `namespace`,
//! `labels`/`commonLabels`, `commonAnnotations`, then kustomize's legacy order.
//!
//! Owns: reading kustomizations and manifests from a [`SourceTree`]. Must not touch: the
//! cluster, git, the network, or any path outside the repository root.

// Render errors carry the file, object and origin a user needs; they are rare, so their size
// on the error path is a fair price for messages that need no second lookup.
#![allow(clippy::result_large_err)]

pub mod fieldspec;
pub mod fs;
pub mod images;
pub mod jsonpatch;
pub mod kustomization;
pub mod patch;
pub mod pattern;
pub mod resource;
pub mod scope;
pub mod selector;
pub mod transform;

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::yaml::{self, MAX_DEPTH};
use fs::{EntryKind, RepoPath, SourceTree};
use kustomization::{KUSTOMIZATION_FILE_NAMES, Kustomization, KustomizationError, PatchSpec};
use patch::{JsonPatch, TargetMatcher};
use resource::{Origin, ResId, Resource, sort_legacy};

/// Bounds on one build — one app's render: how long it may take, and roughly how many bytes of
/// objects it may produce, counted over every file it reads and every value its patches insert
/// (a base included twice counts twice). A build over either bound stops with an error for that
/// build alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// Wall-clock time one build may take.
    pub timeout: Duration,
    /// Bytes of objects (roughly measured) one build may produce.
    pub max_bytes: u64,
}

impl RenderLimits {
    /// The default time limit: kustomize builds of real apps take well under a second.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// The default size limit: 256 MiB, some hundred times the largest real app's objects.
    pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;
}

impl Default for RenderLimits {
    fn default() -> Self {
        RenderLimits { timeout: Self::DEFAULT_TIMEOUT, max_bytes: Self::DEFAULT_MAX_BYTES }
    }
}

/// Time and bytes left to one build.
struct Budget {
    limits: RenderLimits,
    deadline: Instant,
    used: u64,
}

impl Budget {
    fn new(limits: RenderLimits) -> Budget {
        Budget { limits, deadline: Instant::now() + limits.timeout, used: 0 }
    }

    fn left(&self) -> u64 {
        self.limits.max_bytes.saturating_sub(self.used)
    }

    /// Fails once the time is up; called at every directory, file and patch.
    fn tick(&self, at: &RepoPath) -> Result<(), RenderError> {
        if Instant::now() > self.deadline {
            return Err(RenderError::TimedOut { at: at.clone(), limit: self.limits.timeout });
        }
        Ok(())
    }

    /// Counts `bytes` produced at `at`; fails past the size limit.
    fn charge(&mut self, bytes: u64, at: &RepoPath) -> Result<(), RenderError> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limits.max_bytes {
            return Err(RenderError::TooLarge { at: at.clone(), limit: self.limits.max_bytes });
        }
        self.tick(at)
    }
}

/// Why a build failed. Every message names the file (and line, where there is one).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The directory has no kustomization file.
    #[error("{dir}: no kustomization file (expected one of kustomization.yaml, kustomization.yml, Kustomization)")]
    NoKustomization {
        /// The directory.
        dir: RepoPath,
    },
    /// The directory has more than one kustomization file.
    #[error("{dir}: found several kustomization files ({names}); keep exactly one")]
    SeveralKustomizations {
        /// The directory.
        dir: RepoPath,
        /// The files found.
        names: String,
    },
    /// A file could not be read.
    #[error("failed to read {file}: {source}")]
    Read {
        /// The file.
        file: RepoPath,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid UTF-8 YAML.
    #[error("{file}: invalid YAML at line {line}, column {column}: {message}")]
    Yaml {
        /// The file.
        file: RepoPath,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The kustomization file has an unsupported, unknown or malformed field.
    #[error(transparent)]
    Kustomization(#[from] KustomizationError),
    /// A resource entry leaves the repository.
    #[error("{file}: resource {entry:?} leads outside the repository root")]
    EscapesRepository {
        /// The kustomization file.
        file: RepoPath,
        /// The entry as written.
        entry: String,
    },
    /// A file resource outside the kustomization's directory (kustomize's load restriction).
    #[error(
        "{file}: file {entry:?} is not in or below {root} (kustomize's load restriction: only directories with a kustomization may be referenced from outside)"
    )]
    OutsideKustomizationRoot {
        /// The kustomization file.
        file: RepoPath,
        /// The entry as written.
        entry: String,
        /// The kustomization directory.
        root: RepoPath,
    },
    /// A remote (URL) resource.
    #[error("{file}: remote resource {entry:?} is not supported; vendor it into the repository")]
    Remote {
        /// The kustomization file.
        file: RepoPath,
        /// The entry as written.
        entry: String,
    },
    /// A resource entry that does not exist.
    #[error("{file}: resource {entry:?} not found ({path} does not exist)")]
    MissingResource {
        /// The kustomization file.
        file: RepoPath,
        /// The entry as written.
        entry: String,
        /// The resolved path.
        path: RepoPath,
    },
    /// Bases that include each other.
    #[error("kustomization cycle: {chain}")]
    Cycle {
        /// The chain of directories.
        chain: String,
    },
    /// A document that is not a Kubernetes object.
    #[error("{origin}: {message}")]
    InvalidObject {
        /// Where the document starts.
        origin: Origin,
        /// What is missing.
        message: String,
    },
    /// Two objects with the same identity.
    #[error("{second}: duplicate object {id}: already defined at {first}")]
    DuplicateId {
        /// The object identity.
        id: ResId,
        /// The first definition.
        first: Origin,
        /// The second definition.
        second: Origin,
    },
    /// A patch that cannot be used.
    #[error("{file}: {patch}: {message}")]
    BadPatch {
        /// The kustomization file.
        file: RepoPath,
        /// Which patch (`patches[0] (path p.yaml)`).
        patch: String,
        /// What is wrong.
        message: String,
    },
    /// The build took longer than its time limit.
    #[error(
        "{at}: render stopped after {limit:?}, its time limit (render.timeout); a base included many times over can cause this"
    )]
    TimedOut {
        /// Where the build was when time ran out.
        at: RepoPath,
        /// The limit.
        limit: Duration,
    },
    /// The build produced more than its size limit.
    #[error("{at}: render stopped: it produces more than {limit} bytes of objects, its size limit (render.maxBytes)")]
    TooLarge {
        /// The file or directory being read when the limit was passed.
        at: RepoPath,
        /// The limit in bytes.
        limit: u64,
    },
    /// An object nests deeper than kustomize reads.
    #[error("{origin}: {id} nests {depth} levels deep, more than {MAX_DEPTH} (kustomize's limit)")]
    TooDeep {
        /// The object.
        id: ResId,
        /// Where it was defined.
        origin: Origin,
        /// How deep it nests.
        depth: usize,
    },
    /// A patch that does not apply to an object it targets.
    #[error("{file}: {patch} does not apply to {id} (from {origin}): {message}")]
    PatchFailed {
        /// The kustomization file.
        file: RepoPath,
        /// Which patch.
        patch: String,
        /// The object.
        id: ResId,
        /// Where the object was defined.
        origin: Origin,
        /// Which operation failed, and why.
        message: String,
    },
}

/// Builds the kustomization in `dir` and returns its objects in kustomize's legacy order, within
/// the default [`RenderLimits`].
pub fn build(tree: &dyn SourceTree, dir: &RepoPath) -> Result<Vec<Resource>, RenderError> {
    build_limited(tree, dir, RenderLimits::default())
}

/// [`build`] within the given limits. Every object it returns nests at most [`MAX_DEPTH`] levels.
pub fn build_limited(
    tree: &dyn SourceTree,
    dir: &RepoPath,
    limits: RenderLimits,
) -> Result<Vec<Resource>, RenderError> {
    let mut resources = Builder { tree, stack: Vec::new(), budget: Budget::new(limits) }.build_dir(dir)?;
    // Patches are bounded operation by operation; this makes the rule plain for every object.
    for r in &resources {
        let depth = yaml::limits::depth(&r.value);
        if depth > MAX_DEPTH {
            return Err(RenderError::TooDeep { id: r.id(), origin: r.origin.clone(), depth });
        }
    }
    transform::fix_references(&mut resources);
    // kustomize leaves objects marked as local configuration out of its output.
    resources.retain(|r| {
        r.value.pointer("/metadata/annotations/config.kubernetes.io~1local-config").and_then(Value::as_str)
            != Some("true")
    });
    for r in &mut resources {
        drop_empty_annotations(&mut r.value);
        fold_next_lines(&mut r.value);
    }
    sort_legacy(&mut resources);
    Ok(resources)
}

/// Builds and prints like `kubectl kustomize`: a `---`-separated YAML stream.
pub fn build_yaml(tree: &dyn SourceTree, dir: &RepoPath) -> Result<String, RenderError> {
    let resources = build(tree, dir)?;
    Ok(yaml::emit_stream(resources.iter().map(|r| &r.value)))
}

/// Finds the kustomization file of a directory.
pub fn kustomization_file(tree: &dyn SourceTree, dir: &RepoPath) -> Result<RepoPath, RenderError> {
    let mut found = Vec::new();
    for name in KUSTOMIZATION_FILE_NAMES {
        let path = dir.join(name).map_err(|_| RenderError::NoKustomization { dir: dir.clone() })?;
        if tree.kind(&path) == Some(EntryKind::File) {
            found.push(path);
        }
    }
    match found.len() {
        0 => Err(RenderError::NoKustomization { dir: dir.clone() }),
        1 => Ok(found.remove(0)),
        _ => Err(RenderError::SeveralKustomizations {
            dir: dir.clone(),
            names: found.iter().map(|p| p.file_name().to_string()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Reads a file as UTF-8 text.
pub fn read_text(tree: &dyn SourceTree, file: &RepoPath) -> Result<String, RenderError> {
    let bytes = tree.read(file).map_err(|source| RenderError::Read { file: file.clone(), source })?;
    String::from_utf8(bytes).map_err(|_| RenderError::Yaml {
        file: file.clone(),
        line: 1,
        column: 1,
        message: "file is not valid UTF-8".into(),
    })
}

/// Parses a YAML stream from a file, naming the file in errors.
pub fn parse_file(tree: &dyn SourceTree, file: &RepoPath) -> Result<(String, Vec<yaml::Document>), RenderError> {
    let text = read_text(tree, file)?;
    let docs = yaml::parse_documents(&text).map_err(|e| RenderError::Yaml {
        file: file.clone(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    Ok((text, docs))
}

struct Builder<'a> {
    tree: &'a dyn SourceTree,
    stack: Vec<RepoPath>,
    budget: Budget,
}

impl Builder<'_> {
    fn build_dir(&mut self, dir: &RepoPath) -> Result<Vec<Resource>, RenderError> {
        if let Some(pos) = self.stack.iter().position(|d| d == dir) {
            let mut chain: Vec<String> = self.stack[pos..].iter().map(ToString::to_string).collect();
            chain.push(dir.to_string());
            return Err(RenderError::Cycle { chain: chain.join(" → ") });
        }
        self.budget.tick(dir)?;
        self.stack.push(dir.clone());
        let result = self.build_dir_inner(dir);
        self.stack.pop();
        result
    }

    /// Reads a file within the budget: refused unread when the tree says it is too large.
    fn read_text(&mut self, file: &RepoPath) -> Result<String, RenderError> {
        if self.tree.size(file).is_some_and(|size| size > self.budget.left()) {
            return Err(RenderError::TooLarge { at: file.clone(), limit: self.budget.limits.max_bytes });
        }
        let text = read_text(self.tree, file)?;
        self.budget.charge(text.len() as u64, file)?;
        Ok(text)
    }

    fn build_dir_inner(&mut self, dir: &RepoPath) -> Result<Vec<Resource>, RenderError> {
        let file = kustomization_file(self.tree, dir)?;
        let text = self.read_text(&file)?;
        // kustomize reads its own file through sigs.k8s.io/yaml: YAML 1.1 scalars.
        let docs = yaml::parse_documents_in(&text, yaml::Dialect::Yaml11).map_err(|e| RenderError::Yaml {
            file: file.clone(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        let value = match docs.len() {
            0 => {
                return Err(RenderError::Yaml {
                    file,
                    line: 1,
                    column: 1,
                    message: "the kustomization file is empty".into(),
                });
            }
            1 => docs.into_iter().next().map(|d| d.value).unwrap_or(Value::Null),
            _ => {
                return Err(RenderError::Yaml {
                    file,
                    line: docs[1].line,
                    column: 1,
                    message: "a kustomization file holds a single document".into(),
                });
            }
        };
        let k = Kustomization::from_value(&file, &value, &text)?;
        let mut resources = self.load_resources(dir, &k)?;
        self.apply_patches(&k, "patches", &k.patches, &mut resources)?;
        if let Some(ns) = &k.namespace {
            transform::set_namespace(&mut resources, ns);
            check_unique(&resources)?;
        }
        transform::set_labels(&mut resources, &k);
        transform::set_annotations(&mut resources, &k.common_annotations);
        self.apply_patches(&k, "patchesJson6902", &k.patches_json6902, &mut resources)?;
        if !k.images.is_empty() {
            let rules: Vec<images::ImageRule> = k.images.iter().cloned().map(images::ImageRule::new).collect();
            for r in &mut resources {
                images::apply_images(&mut r.value, &rules);
            }
        }
        Ok(resources)
    }

    fn load_resources(&mut self, dir: &RepoPath, k: &Kustomization) -> Result<Vec<Resource>, RenderError> {
        let mut out: Vec<Resource> = Vec::new();
        for entry in &k.resources {
            if entry.contains("://") || entry.starts_with("github.com/") || entry.starts_with("git@") {
                return Err(RenderError::Remote { file: k.file.clone(), entry: entry.clone() });
            }
            let path = dir
                .join(entry)
                .map_err(|_| RenderError::EscapesRepository { file: k.file.clone(), entry: entry.clone() })?;
            let loaded = match self.tree.kind(&path) {
                Some(EntryKind::Dir) => self.build_dir(&path)?,
                Some(EntryKind::File) => {
                    if !path.starts_with(dir) {
                        return Err(RenderError::OutsideKustomizationRoot {
                            file: k.file.clone(),
                            entry: entry.clone(),
                            root: dir.clone(),
                        });
                    }
                    let text = self.read_text(&path)?;
                    let objects = objects_of(&path, &text)?;
                    let bytes = objects.iter().map(|r| yaml::limits::approx_bytes(&r.value)).sum();
                    self.budget.charge(bytes, &path)?;
                    objects
                }
                None => return Err(RenderError::MissingResource { file: k.file.clone(), entry: entry.clone(), path }),
            };
            for r in loaded {
                if let Some(first) = out.iter().find(|o| same_identity(o, &r)) {
                    return Err(RenderError::DuplicateId {
                        id: r.id(),
                        first: first.origin.clone(),
                        second: r.origin.clone(),
                    });
                }
                out.push(r);
            }
        }
        Ok(out)
    }

    fn apply_patches(
        &mut self,
        k: &Kustomization,
        list: &str,
        specs: &[PatchSpec],
        resources: &mut [Resource],
    ) -> Result<(), RenderError> {
        for spec in specs {
            let label = patch::describe(list, spec);
            let bad = |message: String| RenderError::BadPatch { file: k.file.clone(), patch: label.clone(), message };
            let text = match (&spec.patch, &spec.path) {
                (Some(text), _) => text.clone(),
                (None, Some(p)) => {
                    let dir = k.file.parent();
                    let path = dir.join(p).map_err(|_| bad(format!("path {p:?} leads outside the repository root")))?;
                    if !path.starts_with(&dir) {
                        return Err(bad(format!("path {p:?} is not in or below {dir} (kustomize's load restriction)")));
                    }
                    if self.tree.kind(&path) != Some(EntryKind::File) {
                        return Err(bad(format!("patch file {path} does not exist")));
                    }
                    self.read_text(&path)?
                }
                (None, None) => unreachable!("validated when the kustomization was read"),
            };
            let decoded = JsonPatch::decode(&text).map_err(|e| bad(e.to_string()))?;
            let target = spec.target.as_ref().ok_or_else(|| bad("a JSON 6902 patch needs a `target`".into()))?;
            if list == "patchesJson6902" && target.name.as_deref().is_none_or(str::is_empty) {
                return Err(bad("`target.name` is required in patchesJson6902".into()));
            }
            let matcher = TargetMatcher::new(target).map_err(|e| bad(e.to_string()))?;
            for r in resources.iter_mut().filter(|r| matcher.matches(r)) {
                self.budget.tick(&k.file)?;
                let inserted = decoded.apply_limited(&mut r.value, self.budget.left()).map_err(|message| {
                    RenderError::PatchFailed {
                        file: k.file.clone(),
                        patch: label.clone(),
                        id: r.id(),
                        origin: r.origin.clone(),
                        message,
                    }
                })?;
                self.budget.charge(inserted, &k.file)?;
            }
        }
        Ok(())
    }
}

/// kustomize drops an empty or null `metadata.annotations` (it rewrites annotations while it
/// tracks its own bookkeeping ones); labels are left as written.
fn drop_empty_annotations(value: &mut Value) {
    if let Some(Value::Object(meta)) = value.get_mut("metadata") {
        if meta.get("annotations").is_some_and(|a| a.is_null() || a.as_object().is_some_and(|m| m.is_empty())) {
            meta.remove("annotations");
        }
    }
}

/// kustomize's JSON-to-YAML step reads a raw NEL (U+0085) inside a JSON string as a YAML line
/// break and folds it: one becomes a space, a run of n becomes n-1 newlines.
fn fold_next_lines(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\u{85}') => {
            let mut out = String::with_capacity(s.len());
            let mut run = 0usize;
            for c in s.chars() {
                if c == '\u{85}' {
                    run += 1;
                    continue;
                }
                if run > 0 {
                    out.push_str(&if run == 1 { " ".to_string() } else { "\n".repeat(run - 1) });
                    run = 0;
                }
                out.push(c);
            }
            if run > 0 {
                out.push_str(&if run == 1 { " ".to_string() } else { "\n".repeat(run - 1) });
            }
            *s = out;
        }
        Value::Array(items) => items.iter_mut().for_each(fold_next_lines),
        Value::Object(map) => map.values_mut().for_each(fold_next_lines),
        _ => {}
    }
}

/// kustomize's identity: group, version, kind, name and the effective namespace (none and
/// `default` are the same; cluster-scoped objects have none).
fn same_identity(a: &Resource, b: &Resource) -> bool {
    let (ia, ib) = (a.id(), b.id());
    ia.group == ib.group
        && ia.version == ib.version
        && ia.kind == ib.kind
        && ia.name == ib.name
        && effective_namespace(&a.value, &ia) == effective_namespace(&b.value, &ib)
}

fn effective_namespace(value: &Value, id: &ResId) -> String {
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if scope::is_kustomize_cluster_scoped(api_version, &id.kind) {
        String::new()
    } else if id.namespace.is_empty() {
        "default".into()
    } else {
        id.namespace.clone()
    }
}

/// After a namespace change two objects may have become one identity.
fn check_unique(resources: &[Resource]) -> Result<(), RenderError> {
    for (i, a) in resources.iter().enumerate() {
        if let Some(b) = resources[i + 1..].iter().find(|b| same_identity(a, b)) {
            return Err(RenderError::DuplicateId { id: b.id(), first: a.origin.clone(), second: b.origin.clone() });
        }
    }
    Ok(())
}

/// Reads the objects of one manifest file: every non-empty document, with `List` kinds
/// flattened into their items.
pub fn load_objects(tree: &dyn SourceTree, file: &RepoPath) -> Result<Vec<Resource>, RenderError> {
    objects_of(file, &read_text(tree, file)?)
}

/// The objects of one manifest file's text (see [`load_objects`]).
fn objects_of(file: &RepoPath, text: &str) -> Result<Vec<Resource>, RenderError> {
    let docs = yaml::parse_documents(text).map_err(|e| RenderError::Yaml {
        file: file.clone(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    let mut out = Vec::new();
    // kustomize appends the items of `List` documents after the file's other documents.
    let mut queue: std::collections::VecDeque<(Value, Origin)> =
        docs.into_iter().map(|d| (d.value, Origin { file: file.clone(), line: d.line })).collect();
    while let Some((value, origin)) = queue.pop_front() {
        push_object(value, &origin, &mut out, &mut queue)?;
    }
    Ok(out)
}

fn push_object(
    value: Value,
    origin: &Origin,
    out: &mut Vec<Resource>,
    queue: &mut std::collections::VecDeque<(Value, Origin)>,
) -> Result<(), RenderError> {
    let invalid = |message: String| RenderError::InvalidObject { origin: origin.clone(), message };
    match value {
        Value::Null => Ok(()),
        Value::Object(mut map) => {
            let kind = map.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
            if kind.ends_with("List") && map.contains_key("items") {
                match map.remove("items") {
                    Some(Value::Array(items)) => {
                        queue.extend(items.into_iter().map(|item| (item, origin.clone())));
                        return Ok(());
                    }
                    Some(Value::Null) => return Ok(()),
                    _ => return Err(invalid(format!("{kind}: `items` must be a list"))),
                }
            }
            if kind.is_empty() {
                return Err(invalid("object has no `kind`".into()));
            }
            let name = map.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                return Err(invalid(format!("{kind} has no `metadata.name`")));
            }
            out.push(Resource::new(Value::Object(map), origin.clone()));
            Ok(())
        }
        other => Err(invalid(format!(
            "expected a Kubernetes object (a mapping), found {}",
            kustomization::type_name(&other)
        ))),
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, fs::DiskTree) {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let t = fs::DiskTree::new(dir.path()).unwrap();
        (dir, t)
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: \"0123456789\"\n";

    #[test]
    fn a_build_over_its_time_stops_naming_where_it_was() {
        let (_d, t) = tree(&[("app/kustomization.yaml", "resources: [cm.yaml]\n"), ("app/cm.yaml", CM)]);
        let dir = RepoPath::new("app").unwrap();
        let limits = RenderLimits { timeout: Duration::ZERO, ..RenderLimits::default() };
        let err = build_limited(&t, &dir, limits).unwrap_err();
        assert!(matches!(err, RenderError::TimedOut { .. }), "{err}");
        assert!(err.to_string().starts_with("app: render stopped after 0ns, its time limit (render.timeout)"), "{err}");
        assert_eq!(build(&t, &dir).unwrap().len(), 1);
    }

    #[test]
    fn a_file_larger_than_the_budget_is_refused_before_it_is_read() {
        let big = format!("{CM}  pad: \"{}\"\n", "x".repeat(100_000));
        let (_d, t) = tree(&[("app/kustomization.yaml", "resources: [cm.yaml]\n"), ("app/cm.yaml", &big)]);
        let limits = RenderLimits { max_bytes: 50_000, ..RenderLimits::default() };
        let err = build_limited(&t, &RepoPath::new("app").unwrap(), limits).unwrap_err();
        assert!(err.to_string().starts_with("app/cm.yaml: render stopped: it produces more than 50000 bytes"), "{err}");
    }

    #[test]
    fn patches_that_multiply_an_object_stop_at_the_size_limit() {
        let ops: Vec<String> =
            (0..30).map(|i| format!("{{\"op\": \"copy\", \"from\": \"/data\", \"path\": \"/data/k{i}\"}}")).collect();
        let k =
            format!("resources: [cm.yaml]\npatches:\n- target: {{kind: ConfigMap}}\n  patch: '[{}]'\n", ops.join(", "));
        let (_d, t) = tree(&[("app/kustomization.yaml", &k), ("app/cm.yaml", CM)]);
        let limits = RenderLimits { max_bytes: 1 << 20, ..RenderLimits::default() };
        let started = Instant::now();
        let err = build_limited(&t, &RepoPath::new("app").unwrap(), limits).unwrap_err();
        assert!(err.to_string().contains("the render's size limit (render.maxBytes)"), "{err}");
        assert!(err.to_string().starts_with("app/kustomization.yaml: patches[0] does not apply to"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
