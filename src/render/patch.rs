//! JSON 6902 patches (`patches` and the legacy `patchesJson6902`): decoding the patch text,
//! selecting targets the way kustomize does (anchored regular expressions for group, version,
//! kind, name and namespace; label and annotation selectors), and applying the operations.

use super::pattern::Pattern;
use serde_json::Value;

use super::jsonpatch;
use super::kustomization::{PatchSpec, Target};
use super::resource::Resource;
use super::selector::Selector;

/// A compiled target.
#[derive(Debug, Clone)]
pub struct TargetMatcher {
    group: Option<Pattern>,
    version: Option<Pattern>,
    kind: Option<Pattern>,
    name: Option<Pattern>,
    namespace: Option<Pattern>,
    labels: Option<Selector>,
    annotations: Option<Selector>,
}

/// Why a target cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("target.{field}: {message}")]
pub struct TargetError {
    /// The target field.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

fn anchored(field: &'static str, pattern: &Option<String>) -> Result<Option<Pattern>, TargetError> {
    match pattern.as_deref() {
        None | Some("") => Ok(None),
        Some(p) => Pattern::anchored(p)
            .map(Some)
            .map_err(|e| TargetError { field, message: format!("invalid regular expression: {e}") }),
    }
}

fn selector(field: &'static str, text: &Option<String>) -> Result<Option<Selector>, TargetError> {
    match text.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => Selector::parse(s).map(Some).map_err(|e| TargetError { field, message: e.to_string() }),
    }
}

impl TargetMatcher {
    /// Compiles a target.
    pub fn new(t: &Target) -> Result<Self, TargetError> {
        Ok(TargetMatcher {
            group: anchored("group", &t.group)?,
            version: anchored("version", &t.version)?,
            kind: anchored("kind", &t.kind)?,
            name: anchored("name", &t.name)?,
            namespace: anchored("namespace", &t.namespace)?,
            labels: selector("labelSelector", &t.label_selector)?,
            annotations: selector("annotationSelector", &t.annotation_selector)?,
        })
    }

    /// True if the resource is selected. Name and namespace match either the original or the
    /// current value (kustomize lets a patch find an object by its name before a prefix or a
    /// namespace change).
    pub fn matches(&self, r: &Resource) -> bool {
        let cur = r.id();
        let org = &r.original_id;
        let is = |re: &Option<Pattern>, a: &str, b: &str| re.as_ref().is_none_or(|re| re.is_match(a) || re.is_match(b));
        is(&self.namespace, &effective_namespace(&org.namespace), &effective_namespace(&cur.namespace))
            && is(&self.name, &org.name, &cur.name)
            && is(&self.group, &cur.group, &cur.group)
            && is(&self.version, &cur.version, &cur.version)
            && is(&self.kind, &cur.kind, &cur.kind)
            && self.labels.as_ref().is_none_or(|s| s.matches(&r.labels()))
            && self.annotations.as_ref().is_none_or(|s| s.matches(&r.annotations()))
    }
}

/// kustomize compares namespaces as "effective" namespaces: none means `default`.
fn effective_namespace(ns: &str) -> String {
    if ns.is_empty() { "default".to_string() } else { ns.to_string() }
}

/// A decoded patch: its operations.
#[derive(Debug, Clone)]
pub struct JsonPatch {
    ops: Vec<jsonpatch::Operation>,
}

/// Why patch text is not a usable JSON 6902 patch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchDecodeError {
    /// The text is a Kubernetes object: a strategic-merge patch.
    #[error("strategic-merge patches are unsupported by tidegate; write the change as a JSON 6902 operation list")]
    StrategicMerge,
    /// Not YAML.
    #[error("invalid YAML at {0}")]
    Yaml(String),
    /// An empty operation list.
    #[error("the patch has no operations")]
    Empty,
    /// Not a list of operations.
    #[error("{0}")]
    Invalid(String),
}

impl JsonPatch {
    /// Decodes patch text as kustomize does: JSON when it starts with `[`, otherwise YAML read
    /// with YAML 1.1 rules (sigs.k8s.io/yaml), so `value: on` is the boolean `true`.
    pub fn decode(text: &str) -> Result<Self, PatchDecodeError> {
        let text = text.trim();
        let dialect = if text.starts_with('[') { crate::yaml::Dialect::V3 } else { crate::yaml::Dialect::Yaml11 };
        let value = crate::yaml::parse_single_in(text, dialect).map_err(|e| PatchDecodeError::Yaml(e.to_string()))?;
        let raw = match value {
            Value::Array(items) if items.is_empty() => return Err(PatchDecodeError::Empty),
            Value::Array(items) => items,
            Value::Null => return Err(PatchDecodeError::Empty),
            Value::Object(m) if m.contains_key("kind") || m.contains_key("metadata") || m.contains_key("spec") => {
                return Err(PatchDecodeError::StrategicMerge);
            }
            other => {
                return Err(PatchDecodeError::Invalid(format!(
                    "expected a list of JSON 6902 operations, found {}",
                    super::kustomization::type_name(&other)
                )));
            }
        };
        let ops = jsonpatch::decode(&raw).map_err(PatchDecodeError::Invalid)?;
        Ok(JsonPatch { ops })
    }

    /// Applies the patch to an object; on failure the object is unchanged and the message names
    /// the failing operation.
    pub fn apply(&self, value: &mut Value) -> Result<(), String> {
        jsonpatch::apply(value, &self.ops).map_err(|e| e.to_string())
    }

    /// [`JsonPatch::apply`] within a depth limit and a budget of bytes inserted; returns the
    /// bytes inserted.
    pub fn apply_limited(&self, value: &mut Value, max_bytes: u64) -> Result<u64, String> {
        jsonpatch::apply_limited(value, &self.ops, max_bytes).map_err(|e| e.to_string())
    }
}

/// What a [`PatchSpec`] names, for messages: `patches[1]` or `patchesJson6902[0] (path p.yaml)`.
pub fn describe(list: &str, spec: &PatchSpec) -> String {
    match &spec.path {
        Some(p) => format!("{list}[{}] (path {p})", spec.index),
        None => format!("{list}[{}]", spec.index),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fs::RepoPath;
    use crate::render::resource::Origin;
    use serde_json::json;

    fn res(v: Value) -> Resource {
        Resource::new(v, Origin { file: RepoPath::root(), line: 1 })
    }

    #[test]
    fn targets_are_anchored_regexes() {
        let r = res(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-api", "labels": {"tier": "api"}}}),
        );
        let t = |t: Target| TargetMatcher::new(&t).unwrap().matches(&r);
        assert!(t(Target { kind: Some("Deployment".into()), ..Default::default() }));
        assert!(t(Target { kind: Some("Deploy.*".into()), name: Some("web-.*".into()), ..Default::default() }));
        assert!(!t(Target { name: Some("web".into()), ..Default::default() }));
        assert!(!t(Target { kind: Some("ploy".into()), ..Default::default() }));
        assert!(t(Target { group: Some("apps".into()), version: Some("v1".into()), ..Default::default() }));
        assert!(t(Target { namespace: Some("default".into()), ..Default::default() }));
        assert!(t(Target { label_selector: Some("tier in (api,web)".into()), ..Default::default() }));
        assert!(!t(Target { annotation_selector: Some("x=y".into()), ..Default::default() }));
    }

    #[test]
    fn decodes_yaml_and_json_and_refuses_strategic_merge() {
        assert!(JsonPatch::decode("- op: replace\n  path: /spec/replicas\n  value: 3\n").is_ok());
        assert!(JsonPatch::decode("[{\"op\": \"remove\", \"path\": \"/a\"}]").is_ok());
        assert_eq!(JsonPatch::decode("spec:\n  replicas: 3\n").unwrap_err(), PatchDecodeError::StrategicMerge);
        assert!(JsonPatch::decode("- op: frobnicate\n  path: /a\n").unwrap_err().to_string().contains("frobnicate"));
        assert_eq!(JsonPatch::decode("[]").unwrap_err(), PatchDecodeError::Empty);
    }

    #[test]
    fn failed_operations_name_the_op_and_leave_the_object_alone() {
        let p =
            JsonPatch::decode("- op: add\n  path: /a/b\n  value: 1\n- op: replace\n  path: /missing/x\n  value: 2\n")
                .unwrap();
        let mut v = json!({"a": {}});
        let err = p.apply(&mut v).unwrap_err();
        assert!(err.contains("operation 1 (replace /missing/x)"), "{err}");
        assert_eq!(v, json!({"a": {}}));
    }

    #[test]
    fn escapes_and_append_work() {
        let p = JsonPatch::decode("- op: add\n  path: /metadata/annotations/example.com~1owner\n  value: team\n- op: add\n  path: /list/-\n  value: 3\n- op: add\n  path: /a~0b\n  value: x\n").unwrap();
        let mut v = json!({"metadata": {"annotations": {}}, "list": [1, 2]});
        p.apply(&mut v).unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"annotations": {"example.com/owner": "team"}}, "list": [1, 2, 3], "a~b": "x"})
        );
    }
}
