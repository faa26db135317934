//! The objects `tidegate health -f` judges, read from YAML text, and the result line it prints
//! for each. Pure: the caller reads the files.

use serde::Serialize;
use serde_json::Value;

use super::{Health, HealthStatus};

/// Where an object came from: a file (`-` for stdin), the line its document starts at and,
/// for an item of a `List`, its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file as given on the command line.
    pub file: String,
    /// 1-based line where the object's document starts.
    pub line: usize,
    /// For an item of a `List` document: its 0-based index in `items`.
    pub item: Option<usize>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: line {}", self.file, self.line)?;
        if let Some(i) = self.item {
            write!(f, ": items[{i}]")?;
        }
        Ok(())
    }
}

/// One object read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct InputObject {
    /// Where it came from.
    pub origin: Origin,
    /// The object.
    pub object: Value,
}

/// Why (part of) a file holds nothing that can be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The file is not valid YAML; nothing in it is judged.
    #[error("{file}: line {line}, column {column}: {message}")]
    Yaml {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A document (or a List item) is not a Kubernetes object.
    #[error("{origin}: {message}")]
    NotAnObject {
        /// Where it is.
        origin: Origin,
        /// What is wrong with it.
        message: String,
    },
}

/// Every object in `text` (the content of `file`), in order: each YAML document is one object,
/// a document whose kind ends in `List` (`List`, `DeploymentList`, … as `kubectl get -o yaml`
/// prints) stands for its `items`, and empty documents are skipped. An entry is an error when
/// a document is not an object with `apiVersion`, `kind` and `metadata.name`; a syntax error
/// makes the whole file one error.
pub fn objects_from_yaml(file: &str, text: &str) -> Vec<Result<InputObject, InputError>> {
    let docs = match crate::yaml::parse_documents(text) {
        Ok(docs) => docs,
        Err(e) => {
            return vec![Err(InputError::Yaml {
                file: file.to_string(),
                line: e.line,
                column: e.column,
                message: e.message,
            })];
        }
    };
    let mut out = Vec::new();
    for doc in docs {
        if doc.value.is_null() {
            continue;
        }
        let origin = Origin { file: file.to_string(), line: doc.line, item: None };
        let is_list = doc.value.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List"))
            && doc.value.get("items").is_some();
        if !is_list {
            out.push(check_object(origin, doc.value));
            continue;
        }
        match doc.value.get("items") {
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    out.push(check_object(Origin { item: Some(i), ..origin.clone() }, item.clone()));
                }
            }
            Some(Value::Null) => {}
            Some(_) => {
                out.push(Err(InputError::NotAnObject { origin, message: "`items` of a List must be a list".into() }))
            }
            None => unreachable!("checked above"),
        }
    }
    out
}

fn check_object(origin: Origin, object: Value) -> Result<InputObject, InputError> {
    if !object.is_object() {
        return Err(InputError::NotAnObject { origin, message: "not a Kubernetes object (a mapping)".into() });
    }
    let missing: Vec<&str> = [("apiVersion", "/apiVersion"), ("kind", "/kind"), ("metadata.name", "/metadata/name")]
        .into_iter()
        .filter(|(_, p)| object.pointer(p).and_then(Value::as_str).is_none_or(str::is_empty))
        .map(|(name, _)| name)
        .collect();
    if !missing.is_empty() {
        return Err(InputError::NotAnObject {
            origin,
            message: format!("not a Kubernetes object: no {}", missing.join(", no ")),
        });
    }
    Ok(InputObject { origin, object })
}

/// One result of `tidegate health`: the object's identity and its health. Its JSON form is the
/// command's `--output json` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthLine {
    /// `apiVersion` of the object.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Its kind.
    pub kind: String,
    /// Its namespace; empty for a cluster-scoped object (or a file's object without one).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Healthy, Progressing, Degraded or Suspended.
    pub status: HealthStatus,
    /// Why, for people.
    pub message: String,
}

impl HealthLine {
    /// The line for `obj` judged as `health`.
    pub fn new(obj: &Value, health: Health) -> HealthLine {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        HealthLine {
            api_version: s("/apiVersion"),
            kind: s("/kind"),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
            status: health.status,
            message: health.message,
        }
    }

    /// `Kind namespace/name`, or `Kind name` without a namespace.
    pub fn object(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// The line for people: `Progressing  Rollout shop/frontend: canary step 2/5 (setWeight 40)`.
    pub fn to_text(&self) -> String {
        format!("{:<12} {}: {}", self.status.to_string(), self.object(), self.message)
    }

    /// The line for machines: one JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
