//! The `kustomization.yaml` file: the fields tidegate renders, and a precise refusal for every
//! other field kustomize knows (tidegate never silently ignores part of a kustomization).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::fs::RepoPath;

/// File names kustomize accepts for a kustomization, in its lookup order.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Kustomization fields kustomize v5.5 knows but tidegate does not render, with the reason
/// shown to the user.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("namePrefix", "name prefixes are not supported"),
    ("nameSuffix", "name suffixes are not supported"),
    ("patchesStrategicMerge", "strategic-merge patches are not supported; use JSON 6902 patches in `patches`"),
    ("replacements", "replacements are not supported"),
    ("replicas", "the replicas field is not supported; use a JSON 6902 patch"),
    ("vars", "vars are not supported"),
    ("components", "components are not supported"),
    ("crds", "the crds field is not supported"),
    ("configMapGenerator", "generators are not supported; commit the ConfigMap as a resource"),
    ("secretGenerator", "generators are not supported; secrets belong in a secret store, not in git"),
    ("generatorOptions", "generators are not supported"),
    ("helmGlobals", "Helm charts are not supported; commit the rendered manifests"),
    ("helmCharts", "Helm charts are not supported; commit the rendered manifests"),
    ("helmChartInflationGenerator", "Helm charts are not supported; commit the rendered manifests"),
    ("configurations", "custom transformer configurations are not supported"),
    ("generators", "generator plugins are not supported"),
    ("transformers", "transformer plugins are not supported"),
    ("validators", "validator plugins are not supported"),
    ("openapi", "custom OpenAPI schemas are not supported"),
    ("openAPI", "custom OpenAPI schemas are not supported"),
    ("buildMetadata", "buildMetadata is not supported"),
    ("imageTags", "imageTags is not supported; use images"),
    ("sortOptions", "sortOptions is not supported; output is in kustomize's legacy order"),
];

/// Fields tidegate renders.
const SUPPORTED: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "bases",
    "namespace",
    "patches",
    "patchesJson6902",
    "images",
    "labels",
    "commonLabels",
    "commonAnnotations",
];

/// A parsed kustomization.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kustomization {
    /// The kustomization file itself.
    pub file: RepoPath,
    /// `resources` followed by the deprecated `bases`, as written.
    pub resources: Vec<String>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `patches` entries (JSON 6902 only).
    pub patches: Vec<PatchSpec>,
    /// `patchesJson6902` entries.
    pub patches_json6902: Vec<PatchSpec>,
    /// `images` entries.
    pub images: Vec<ImageSpec>,
    /// `commonLabels`.
    pub common_labels: BTreeMap<String, String>,
    /// `labels` entries.
    pub labels: Vec<LabelSpec>,
    /// `commonAnnotations`.
    pub common_annotations: BTreeMap<String, String>,
}

/// One patch: its text (inline or from a file) and which objects it applies to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatchSpec {
    /// Index in its list, for messages (`patches[2]`).
    pub index: usize,
    /// Inline patch text.
    pub patch: Option<String>,
    /// Patch file, relative to the kustomization directory.
    pub path: Option<String>,
    /// Which objects to patch.
    pub target: Option<Target>,
}

/// A patch target; every string field is a regular expression anchored at both ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    /// API group (empty for the core group).
    pub group: Option<String>,
    /// API version.
    pub version: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
    /// Kubernetes label selector.
    pub label_selector: Option<String>,
    /// Kubernetes label selector applied to annotations.
    pub annotation_selector: Option<String>,
}

/// An `images` entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageSpec {
    /// Image name to match (without tag or digest).
    pub name: String,
    /// Replacement name.
    pub new_name: Option<String>,
    /// Replacement tag.
    pub new_tag: Option<String>,
    /// Replacement digest (`sha256:…`).
    pub digest: Option<String>,
}

/// A `labels` entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSpec {
    /// Labels to set.
    pub pairs: BTreeMap<String, String>,
    /// Also set them in selectors (and templates).
    pub include_selectors: bool,
    /// Also set them in pod templates.
    pub include_templates: bool,
}

/// What is wrong with a kustomization file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KustomizationError {
    /// Fields kustomize knows but tidegate does not render, or that nobody knows (typos);
    /// all of them, in file order.
    #[error("{file}: {}", problems.join("; "))]
    Fields {
        /// The kustomization file.
        file: String,
        /// One entry per field: `line 3: unsupported field `secretGenerator`: …`.
        problems: Vec<String>,
    },
    /// A field has the wrong shape.
    #[error("{file}: {field}: {message}")]
    Invalid {
        /// The kustomization file.
        file: String,
        /// The field path, e.g. `patches[1].target.kind`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Finds the 1-based line where a top-level key is written, for messages.
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_end();
            l.strip_prefix(key).is_some_and(|rest| rest.starts_with(':'))
                || l.strip_prefix(&format!("\"{key}\"")).is_some_and(|rest| rest.starts_with(':'))
                || l.strip_prefix(&format!("'{key}'")).is_some_and(|rest| rest.starts_with(':'))
        })
        .map(|i| i + 1)
}

/// Levenshtein distance, for "did you mean".
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a small edit distance.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

struct Fields<'a> {
    file: &'a RepoPath,
}

impl Fields<'_> {
    fn invalid(&self, field: impl Into<String>, message: impl Into<String>) -> KustomizationError {
        KustomizationError::Invalid { file: self.file.to_string(), field: field.into(), message: message.into() }
    }

    fn string(&self, v: &Value, field: &str) -> Result<String, KustomizationError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.invalid(field, format!("expected a string, found {}", type_name(other)))),
        }
    }

    fn opt_string(&self, m: &Map<String, Value>, key: &str, field: &str) -> Result<Option<String>, KustomizationError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.string(v, &format!("{field}.{key}")).map(Some),
        }
    }

    fn list<'v>(&self, v: &'v Value, field: &str) -> Result<&'v [Value], KustomizationError> {
        match v {
            Value::Array(a) => Ok(a),
            Value::Null => Ok(&[]),
            other => Err(self.invalid(field, format!("expected a list, found {}", type_name(other)))),
        }
    }

    fn object<'v>(&self, v: &'v Value, field: &str) -> Result<&'v Map<String, Value>, KustomizationError> {
        match v {
            Value::Object(m) => Ok(m),
            other => Err(self.invalid(field, format!("expected a mapping, found {}", type_name(other)))),
        }
    }

    fn string_map(&self, v: &Value, field: &str) -> Result<BTreeMap<String, String>, KustomizationError> {
        if v.is_null() {
            return Ok(BTreeMap::new());
        }
        let m = self.object(v, field)?;
        m.iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(self.invalid(
                    format!("{field}.{k}"),
                    format!("expected a string, found {} (quote the value)", type_name(other)),
                )),
            })
            .collect()
    }

    fn only_keys(&self, m: &Map<String, Value>, allowed: &[&str], field: &str) -> Result<(), KustomizationError> {
        for key in m.keys() {
            if !allowed.contains(&key.as_str()) {
                let hint = did_you_mean(key, allowed.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return Err(self.invalid(format!("{field}.{key}"), format!("unknown or unsupported field{hint}")));
            }
        }
        Ok(())
    }

    fn bool(&self, m: &Map<String, Value>, key: &str, field: &str) -> Result<bool, KustomizationError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => {
                Err(self
                    .invalid(format!("{field}.{key}"), format!("expected true or false, found {}", type_name(other))))
            }
        }
    }
}

/// A short name of a JSON value's type for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

impl Kustomization {
    /// Interprets a parsed kustomization file. `text` is the file's source, used to point at
    /// lines in messages.
    pub fn from_value(file: &RepoPath, value: &Value, text: &str) -> Result<Self, KustomizationError> {
        let f = Fields { file };
        let top = match value {
            Value::Null => return Ok(Kustomization { file: file.clone(), ..Default::default() }),
            other => f.object(other, "kustomization")?,
        };
        let line_of = |key: &str| key_line(text, key);
        let mut problems: Vec<(usize, String)> = Vec::new();
        for key in top.keys() {
            if SUPPORTED.contains(&key.as_str()) {
                continue;
            }
            let line = line_of(key);
            let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
            if let Some((_, reason)) = UNSUPPORTED.iter().find(|(k, _)| k == key) {
                problems.push((line.unwrap_or(0), format!("{at}unsupported field `{key}`: {reason}")));
            } else {
                let known = SUPPORTED.iter().chain(UNSUPPORTED.iter().map(|(k, _)| k)).copied();
                let hint = did_you_mean(key, known).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
                problems.push((line.unwrap_or(0), format!("{at}unknown field `{key}`{hint}")));
            }
        }
        if !problems.is_empty() {
            problems.sort();
            return Err(KustomizationError::Fields {
                file: file.to_string(),
                problems: problems.into_iter().map(|(_, p)| p).collect(),
            });
        }
        if let Some(kind) = top.get("kind") {
            let kind = f.string(kind, "kind")?;
            if kind != "Kustomization" {
                let reason = if kind == "Component" {
                    "unsupported kind Component: components are not supported".to_string()
                } else {
                    format!("kind must be Kustomization, found {kind}")
                };
                let at = line_of("kind").map(|l| format!("line {l}: ")).unwrap_or_default();
                return Err(KustomizationError::Fields {
                    file: file.to_string(),
                    problems: vec![format!("{at}{reason}")],
                });
            }
        }
        let mut k = Kustomization { file: file.clone(), ..Default::default() };
        for key in ["resources", "bases"] {
            if let Some(v) = top.get(key) {
                for (i, item) in f.list(v, key)?.iter().enumerate() {
                    k.resources.push(f.string(item, &format!("{key}[{i}]"))?);
                }
            }
        }
        if let Some(v) = top.get("namespace") {
            if !v.is_null() {
                k.namespace = Some(f.string(v, "namespace")?).filter(|s| !s.is_empty());
            }
        }
        for (key, out) in [("patches", &mut k.patches), ("patchesJson6902", &mut k.patches_json6902)] {
            if let Some(v) = top.get(key) {
                for (i, item) in f.list(v, key)?.iter().enumerate() {
                    out.push(parse_patch(&f, item, &format!("{key}[{i}]"), i, key == "patchesJson6902")?);
                }
            }
        }
        if let Some(v) = top.get("images") {
            for (i, item) in f.list(v, "images")?.iter().enumerate() {
                let field = format!("images[{i}]");
                let m = f.object(item, &field)?;
                f.only_keys(m, &["name", "newName", "newTag", "digest", "tagSuffix"], &field)?;
                if m.contains_key("tagSuffix") {
                    return Err(f.invalid(format!("{field}.tagSuffix"), "tagSuffix is not supported"));
                }
                let name = f.opt_string(m, "name", &field)?.ok_or_else(|| f.invalid(&field, "`name` is required"))?;
                let new_tag = match m.get("newTag") {
                    // kustomize accepts an unquoted number as a tag (newTag: 1.20 → "1.20" is lost,
                    // so insist on a string).
                    Some(Value::Number(n)) => {
                        return Err(f.invalid(
                            format!("{field}.newTag"),
                            format!("tag {n} must be quoted, or YAML reads it as a number"),
                        ));
                    }
                    _ => f.opt_string(m, "newTag", &field)?,
                };
                k.images.push(ImageSpec {
                    name,
                    new_name: f.opt_string(m, "newName", &field)?,
                    new_tag,
                    digest: f.opt_string(m, "digest", &field)?,
                });
            }
        }
        if let Some(v) = top.get("commonLabels") {
            k.common_labels = f.string_map(v, "commonLabels")?;
        }
        if let Some(v) = top.get("commonAnnotations") {
            k.common_annotations = f.string_map(v, "commonAnnotations")?;
        }
        if let Some(v) = top.get("labels") {
            for (i, item) in f.list(v, "labels")?.iter().enumerate() {
                let field = format!("labels[{i}]");
                let m = f.object(item, &field)?;
                f.only_keys(m, &["pairs", "includeSelectors", "includeTemplates"], &field)?;
                k.labels.push(LabelSpec {
                    pairs: m
                        .get("pairs")
                        .map(|p| f.string_map(p, &format!("{field}.pairs")))
                        .transpose()?
                        .unwrap_or_default(),
                    include_selectors: f.bool(m, "includeSelectors", &field)?,
                    include_templates: f.bool(m, "includeTemplates", &field)?,
                });
            }
        }
        Ok(k)
    }
}

fn parse_patch(
    f: &Fields<'_>,
    item: &Value,
    field: &str,
    index: usize,
    legacy: bool,
) -> Result<PatchSpec, KustomizationError> {
    let m = f.object(item, field)?;
    f.only_keys(m, &["patch", "path", "target", "options"], field)?;
    if let Some(options) = m.get("options") {
        let o = f.object(options, &format!("{field}.options"))?;
        if o.values().any(|v| v != &Value::Bool(false)) {
            return Err(f.invalid(
                format!("{field}.options"),
                "patch options (allowNameChange, allowKindChange) are not supported",
            ));
        }
    }
    let patch = f.opt_string(m, "patch", field)?;
    let path = f.opt_string(m, "path", field)?;
    match (&patch, &path) {
        (Some(_), Some(_)) => return Err(f.invalid(field, "set either `patch` or `path`, not both")),
        (None, None) => return Err(f.invalid(field, "one of `patch` or `path` is required")),
        _ => {}
    }
    let target = match m.get("target") {
        None | Some(Value::Null) => {
            if legacy {
                return Err(f.invalid(field, "`target` is required in patchesJson6902"));
            }
            None
        }
        Some(t) => {
            let tfield = format!("{field}.target");
            let t = f.object(t, &tfield)?;
            f.only_keys(
                t,
                &["group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector"],
                &tfield,
            )?;
            Some(Target {
                group: f.opt_string(t, "group", &tfield)?,
                version: f.opt_string(t, "version", &tfield)?,
                kind: f.opt_string(t, "kind", &tfield)?,
                name: f.opt_string(t, "name", &tfield)?,
                namespace: f.opt_string(t, "namespace", &tfield)?,
                label_selector: f.opt_string(t, "labelSelector", &tfield)?,
                annotation_selector: f.opt_string(t, "annotationSelector", &tfield)?,
            })
        }
    };
    Ok(PatchSpec { index, patch, path, target })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_single;

    fn load(text: &str) -> Result<Kustomization, KustomizationError> {
        let file = RepoPath::new("k/kustomization.yaml").unwrap();
        Kustomization::from_value(&file, &parse_single(text).unwrap(), text)
    }

    #[test]
    fn reads_supported_fields() {
        let k = load(
            "resources: [a.yaml, base]\nbases: [old]\nnamespace: ns\nimages:\n- name: nginx\n  newTag: \"1.2\"\ncommonLabels: {a: b}\nlabels:\n- pairs: {c: d}\n  includeSelectors: true\npatches:\n- path: p.yaml\n  target: {kind: Deployment, name: web-.*}\n",
        )
        .unwrap();
        assert_eq!(k.resources, vec!["a.yaml", "base", "old"]);
        assert_eq!(k.namespace.as_deref(), Some("ns"));
        assert_eq!(k.images[0].new_tag.as_deref(), Some("1.2"));
        assert_eq!(k.common_labels["a"], "b");
        assert!(k.labels[0].include_selectors);
        assert_eq!(k.patches[0].target.as_ref().unwrap().name.as_deref(), Some("web-.*"));
    }

    #[test]
    fn refuses_unsupported_fields_with_file_and_line() {
        let err = load("resources: [a.yaml]\nconfigMapGenerator:\n- name: x\n").unwrap_err().to_string();
        assert!(err.contains("k/kustomization.yaml: line 2: unsupported field `configMapGenerator`"), "{err}");
    }

    #[test]
    fn every_unsupported_field_is_listed_in_file_order() {
        let err = load("secretGenerator: []\nresources: []\ngeneratorOptions: {}\n").unwrap_err().to_string();
        let first = err.find("secretGenerator").unwrap();
        let second = err.find("generatorOptions").unwrap();
        assert!(first < second, "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn unknown_fields_get_a_suggestion() {
        let err = load("resourcess: [a.yaml]\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `resourcess`"), "{err}");
        assert!(err.contains("did you mean `resources`"), "{err}");
    }

    #[test]
    fn label_values_must_be_strings() {
        let err = load("commonLabels:\n  version: 2\n").unwrap_err().to_string();
        assert!(err.contains("commonLabels.version"), "{err}");
    }

    #[test]
    fn patch_needs_text_or_path() {
        assert!(load("patches:\n- target: {kind: X}\n").unwrap_err().to_string().contains("patches[0]"));
        assert!(load("patchesJson6902:\n- path: p.yaml\n").unwrap_err().to_string().contains("target"));
    }
}
