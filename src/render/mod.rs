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

use serde_json::Value;

use crate::yaml;
use fs::{EntryKind, RepoPath, SourceTree};
use kustomization::{KUSTOMIZATION_FILE_NAMES, Kustomization, KustomizationError, PatchSpec};
use patch::{JsonPatch, TargetMatcher};
use resource::{Origin, ResId, Resource, sort_legacy};

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

/// Builds the kustomization in `dir` and returns its objects in kustomize's legacy order.
pub fn build(tree: &dyn SourceTree, dir: &RepoPath) -> Result<Vec<Resource>, RenderError> {
    let mut resources = Builder { tree, stack: Vec::new() }.build_dir(dir)?;
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
}

impl Builder<'_> {
    fn build_dir(&mut self, dir: &RepoPath) -> Result<Vec<Resource>, RenderError> {
        if let Some(pos) = self.stack.iter().position(|d| d == dir) {
            let mut chain: Vec<String> = self.stack[pos..].iter().map(ToString::to_string).collect();
            chain.push(dir.to_string());
            return Err(RenderError::Cycle { chain: chain.join(" → ") });
        }
        self.stack.push(dir.clone());
        let result = self.build_dir_inner(dir);
        self.stack.pop();
        result
    }

    fn build_dir_inner(&mut self, dir: &RepoPath) -> Result<Vec<Resource>, RenderError> {
        let file = kustomization_file(self.tree, dir)?;
        let text = read_text(self.tree, &file)?;
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
                    load_objects(self.tree, &path)?
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
        &self,
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
                    read_text(self.tree, &path)?
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
                decoded.apply(&mut r.value).map_err(|message| RenderError::PatchFailed {
                    file: k.file.clone(),
                    patch: label.clone(),
                    id: r.id(),
                    origin: r.origin.clone(),
                    message,
                })?;
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
    let (_, docs) = parse_file(tree, file)?;
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
