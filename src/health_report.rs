//! `tidegate health`: the health of objects read from files (or stdin), or of an environment's
//! rendered objects as they are live in the cluster — read-only, through the cluster adapter
//! of [`crate::apply`]. The rules are [`crate::health`]'s (with the repository's own, in
//! [`HealthOptions::rules`]); this module only finds the objects. An object whose user rule
//! fails could not be judged: the rule's error is its entry.

use std::io::Read;
use std::path::PathBuf;

use serde_json::Value;

use crate::apply::ownership::ObjectRef;
use crate::apply::{Cluster, ClusterError};
use crate::health::input::{HealthLine, objects_from_yaml};
use crate::health::{self, HealthOptions};
use crate::plan::RenderedEnv;

/// What `tidegate health` found: one entry per object, in input order — its result, or why it
/// could not be judged (a file's document that is not an object, an object not in the cluster).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthReport {
    /// Per object: the result, or the reason it could not be judged.
    pub entries: Vec<Result<HealthLine, String>>,
}

impl HealthReport {
    /// How many objects could not be judged.
    pub fn unjudged(&self) -> usize {
        self.entries.iter().filter(|e| e.is_err()).count()
    }
}

/// A file `tidegate health -f` could not read (bad usage: exit 2).
#[derive(Debug, thiserror::Error)]
#[error("cannot read {file}: {source}")]
pub struct ReadError {
    /// The file as given (`-` for stdin).
    pub file: String,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Judges every object in `files` (`-` reads `stdin`, once), in order.
pub fn judge_files(files: &[PathBuf], stdin: &mut dyn Read, opts: &HealthOptions) -> Result<HealthReport, ReadError> {
    let mut report = HealthReport::default();
    let mut stdin_text: Option<String> = None;
    for path in files {
        let name = path.display().to_string();
        let text = if name == "-" {
            match &stdin_text {
                Some(t) => t.clone(),
                None => {
                    let mut t = String::new();
                    stdin.read_to_string(&mut t).map_err(|source| ReadError { file: name.clone(), source })?;
                    stdin_text = Some(t.clone());
                    t
                }
            }
        } else {
            std::fs::read_to_string(path).map_err(|source| ReadError { file: name.clone(), source })?
        };
        for entry in objects_from_yaml(&name, &text) {
            report.entries.push(match entry {
                Ok(input) => judged(&input.object, opts).map_err(|e| format!("{}: {e}", input.origin)),
                Err(e) => Err(e.to_string()),
            });
        }
    }
    Ok(report)
}

/// Looks up every rendered object of `rendered` (wave by wave, app by app, each app's objects in
/// apply order) in the cluster and judges the live object. Writes nothing. An object that is not
/// there, or whose kind the cluster does not serve, could not be judged; a failure to talk to the
/// cluster at all is an error.
pub async fn judge_live(
    cluster: &Cluster,
    rendered: &RenderedEnv,
    opts: &HealthOptions,
) -> Result<HealthReport, ClusterError> {
    let mut report = HealthReport::default();
    for app in rendered.waves.iter().flat_map(|w| &w.apps) {
        for desired in &app.objects {
            report.entries.push(judge_one(cluster, &app.name, &app.namespace, desired, opts).await?);
        }
    }
    Ok(report)
}

async fn judge_one(
    cluster: &Cluster,
    app: &str,
    app_namespace: &str,
    desired: &Value,
    opts: &HealthOptions,
) -> Result<Result<HealthLine, String>, ClusterError> {
    let r = ObjectRef::of(desired);
    let rt = match cluster.resolve(&r.api_version, &r.kind).await {
        Ok(rt) => rt,
        Err(e) if about_the_object(&e) => return Ok(Err(format!("{app}: {r}: {e}"))),
        Err(e) => return Err(e),
    };
    let namespace = if rt.namespaced { r.namespace().or(Some(app_namespace)) } else { None };
    match cluster.get(&rt, namespace, &r.name).await {
        Ok(Some(live)) => Ok(judged(&live, opts).map_err(|e| format!("{app}: {r}: {e}"))),
        Ok(None) => {
            let shown = ObjectRef { namespace: namespace.unwrap_or_default().to_string(), ..r };
            Ok(Err(format!("{app}: {shown} ({}) was not found in the cluster", shown.api_version)))
        }
        Err(e) if about_the_object(&e) => Ok(Err(format!("{app}: {r}: {e}"))),
        Err(e) => Err(e),
    }
}

/// The object's line, or its rule's error (`Kind ns/name: health rule … failed: …`).
fn judged(obj: &Value, opts: &HealthOptions) -> Result<HealthLine, String> {
    health::judge(obj, opts).map(|h| HealthLine::new(obj, h)).map_err(|e| {
        let line =
            HealthLine::new(obj, health::Health { status: health::HealthStatus::Progressing, message: String::new() });
        format!("{}: {e}", line.object())
    })
}

/// Whether an error concerns this object only (a kind the cluster does not serve, a request the
/// server refused, e.g. 403 for this resource), so the other objects are still worth asking
/// about; an unreachable cluster or a server that keeps failing ends the command.
fn about_the_object(e: &ClusterError) -> bool {
    match e {
        ClusterError::UnknownKind { .. } => true,
        ClusterError::Api { code, .. } => (400..500).contains(code) && *code != 429,
        ClusterError::Unreachable(_) | ClusterError::Exhausted { .. } => false,
    }
}
