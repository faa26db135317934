//! `tidegate diff`: for every desired object, what the server would make of it (a server-side
//! dry-run apply) against what is live, as a readable unified diff.

use serde_json::Value;

use super::cluster::{Cluster, ClusterError};
use super::drift::strip_server_fields;
use super::ownership::{self, ObjectRef};
use crate::plan::RenderedEnv;

/// How one object differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectDiff {
    /// Not in the cluster yet.
    New(String),
    /// Live differs; a unified diff of the YAML.
    Changed(String),
    /// As desired.
    Same,
    /// Could not be compared (e.g. its CRD is not installed yet).
    Unknown(String),
}

/// The diff of one object.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The app.
    pub app: String,
    /// The object.
    pub object: ObjectRef,
    /// How it differs.
    pub diff: ObjectDiff,
}

/// Compares every object of the environment with the cluster.
pub async fn diff(cluster: &Cluster, rendered: &RenderedEnv) -> Result<Vec<Entry>, ClusterError> {
    let mut out = Vec::new();
    for wave in &rendered.waves {
        for app in &wave.apps {
            for obj in &app.objects {
                let mut obj = obj.clone();
                ownership::mark(&mut obj, &rendered.env, &app.name);
                let r = ObjectRef::of(&obj);
                let rt = match cluster.resolve(&r.api_version, &r.kind).await {
                    Ok(rt) => rt,
                    Err(e @ ClusterError::UnknownKind { .. }) => {
                        out.push(Entry { app: app.name.clone(), object: r, diff: ObjectDiff::Unknown(e.to_string()) });
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if !rt.namespaced {
                    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
                        meta.remove("namespace");
                    }
                }
                let ns = if rt.namespaced { r.namespace() } else { None };
                let diff = match cluster.get(&rt, ns, &r.name).await? {
                    None => ObjectDiff::New(crate::yaml::emit_document(&obj)),
                    Some(live) => {
                        let would_be = match cluster.apply(&rt, &obj, true, true).await {
                            Ok(v) => v,
                            Err(e) if matches!(e.code(), Some(400 | 403 | 404 | 409 | 422)) => {
                                out.push(Entry {
                                    app: app.name.clone(),
                                    object: r,
                                    diff: ObjectDiff::Unknown(e.to_string()),
                                });
                                continue;
                            }
                            Err(e) => return Err(e),
                        };
                        let (a, b) = (yaml_of(&live), yaml_of(&would_be));
                        if a == b { ObjectDiff::Same } else { ObjectDiff::Changed(unified(&a, &b, &r)) }
                    }
                };
                out.push(Entry { app: app.name.clone(), object: r, diff });
            }
        }
    }
    Ok(out)
}

fn yaml_of(obj: &Value) -> String {
    crate::yaml::emit_document(&strip_server_fields(obj))
}

/// A unified diff from `live` to `desired`.
pub fn unified(live: &str, desired: &str, object: &ObjectRef) -> String {
    similar::TextDiff::from_lines(live, desired)
        .unified_diff()
        .context_radius(3)
        .header(&format!("live {object}"), &format!("desired {object}"))
        .to_string()
}
