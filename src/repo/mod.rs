//! The GitOps repository model: the root app (`apps-of-apps/root.yaml`) with its environments
//! and waves, and the child apps (tidegate `App` files or Argo CD `Application` manifests).
//!
//! Owns: reading and validating the repository's own description. Must not touch: manifests
//! (that is `render`), the cluster, git. Loading reports every problem it finds, not just the
//! first, so `tidegate check` can list them all.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use crate::render::fs::{self, EntryKind, RepoPath, SourceTree};
use crate::render::kustomization::did_you_mean;
use crate::render::{read_text, resource::Origin};
use crate::yaml;

/// Where the root app lives.
pub const ROOT_FILE: &str = "apps-of-apps/root.yaml";
/// The Argo CD annotation that orders apps in waves.
pub const SYNC_WAVE_ANNOTATION: &str = "argocd.argoproj.io/sync-wave";

/// A deployment environment (`dev`, `qa`, `prod`), in promotion order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Its name.
    pub name: String,
}

/// A sync wave, in apply order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    /// Its name.
    pub name: String,
    /// The Argo CD sync-wave number that maps onto it, if any.
    pub sync_wave: Option<i64>,
}

/// Which file format declared an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppFormat {
    /// `tidegate.dev/v1alpha1` `App`.
    Tidegate,
    /// `argoproj.io/v1alpha1` `Application`.
    ArgoCd,
}

/// A child app.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// Unique name.
    pub name: String,
    /// The wave it belongs to.
    pub wave: String,
    /// Destination namespace for its namespaced objects.
    pub namespace: String,
    /// Its base kustomization directory.
    pub base: RepoPath,
    /// The environments it is deployed to, in the root's order.
    pub environments: Vec<String>,
    /// Its overlay directory per environment it is deployed to.
    pub overlays: BTreeMap<String, RepoPath>,
    /// Add a Namespace object for `namespace` when the app does not ship one.
    pub create_namespace: bool,
    /// Where it was declared.
    pub origin: Origin,
    /// The file format.
    pub format: AppFormat,
}

/// The whole repository description.
#[derive(Debug, Clone, PartialEq)]
pub struct Repository {
    /// The root app's name.
    pub name: String,
    /// Environments in promotion order.
    pub environments: Vec<Environment>,
    /// Waves in apply order.
    pub waves: Vec<Wave>,
    /// Apps ordered by wave, then name.
    pub apps: Vec<App>,
    /// The overlay root.
    pub overlays_dir: RepoPath,
}

/// One problem in the repository description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ModelError {
    /// File (and line) the problem is in.
    pub location: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Every problem found while loading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ModelErrors(pub Vec<ModelError>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootFile {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: RootSpec,
}

#[derive(Debug, Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(dead_code)]
    labels: BTreeMap<String, String>,
    #[serde(flatten)]
    #[allow(dead_code)]
    other: BTreeMap<String, serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RootSpec {
    environments: Vec<NamedEntry>,
    #[serde(default)]
    waves: Vec<WaveEntry>,
    #[serde(default)]
    overlays_dir: Option<String>,
    #[serde(default)]
    apps: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedEntry {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WaveEntry {
    name: String,
    #[serde(default)]
    sync_wave: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AppSpec {
    #[serde(default)]
    wave: Option<String>,
    namespace: String,
    #[serde(default)]
    base: Option<String>,
    #[serde(default)]
    environments: Option<Vec<String>>,
    #[serde(default)]
    overlays: BTreeMap<String, String>,
    #[serde(default = "yes")]
    create_namespace: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct AppFile {
    #[allow(dead_code)]
    #[serde(rename = "apiVersion")]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    spec: AppSpec,
}

#[derive(Debug, Deserialize)]
struct ArgoApplication {
    #[serde(default)]
    metadata: Metadata,
    spec: ArgoSpec,
}

#[derive(Debug, Deserialize)]
struct ArgoSpec {
    #[serde(default)]
    source: Option<ArgoSource>,
    destination: ArgoDestination,
}

#[derive(Debug, Deserialize)]
struct ArgoSource {
    #[serde(default)]
    path: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ArgoDestination {
    #[serde(default)]
    namespace: Option<String>,
}

/// True for a DNS label: lowercase alphanumerics and `-`, starting and ending alphanumeric,
/// at most 63 characters.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// An app as declared, before its wave is resolved.
struct Declared {
    name: String,
    wave: Option<String>,
    sync_wave: Option<i64>,
    namespace: String,
    base: RepoPath,
    environments: Option<Vec<String>>,
    overlays: BTreeMap<String, String>,
    create_namespace: bool,
    origin: Origin,
    format: AppFormat,
}

struct Loader<'a> {
    tree: &'a dyn SourceTree,
    errors: Vec<ModelError>,
}

impl Loader<'_> {
    fn problem(&mut self, location: impl ToString, message: impl Into<String>) {
        self.errors.push(ModelError { location: location.to_string(), message: message.into() });
    }
}

impl Repository {
    /// Loads and validates the repository description from `tree`.
    pub fn load(tree: &dyn SourceTree) -> Result<Repository, ModelErrors> {
        let mut l = Loader { tree, errors: Vec::new() };
        let root_path = RepoPath::new(ROOT_FILE).expect("constant path");
        let text = match read_text(tree, &root_path) {
            Ok(t) => t,
            Err(e) => {
                let message = if tree.kind(&root_path).is_none() {
                    "not found: a tidegate repository declares its environments, waves and apps here (see docs/repo-format.md); is --repo the right directory?".to_string()
                } else {
                    e.to_string()
                };
                return Err(ModelErrors(vec![ModelError { location: ROOT_FILE.into(), message }]));
            }
        };
        if let Some(e) = crate::yaml::limits_error(&text) {
            let message = format!("line {}, column {}: {}", e.line, e.column, e.message);
            return Err(ModelErrors(vec![ModelError { location: ROOT_FILE.into(), message }]));
        }
        let root: RootFile = match serde_yaml::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                return Err(ModelErrors(vec![ModelError { location: ROOT_FILE.into(), message: serde_message(&e) }]));
            }
        };
        if root.api_version != "tidegate.dev/v1alpha1" || root.kind != "Root" {
            l.problem(
                ROOT_FILE,
                format!(
                    "expected apiVersion tidegate.dev/v1alpha1 and kind Root, found {} {}",
                    root.api_version, root.kind
                ),
            );
        }
        let environments = load_environments(&mut l, &root.spec.environments);
        let mut waves = load_waves(&mut l, &root.spec.waves);
        let overlays_dir = match RepoPath::new(root.spec.overlays_dir.as_deref().unwrap_or("overlays")) {
            Ok(p) => p,
            Err(e) => {
                l.problem(ROOT_FILE, format!("spec.overlaysDir: {e}"));
                RepoPath::new("overlays").expect("constant path")
            }
        };
        let root_dir = root_path.parent();
        let sources = root.spec.apps.clone().unwrap_or_else(|| vec![".".to_string()]);
        let mut declared = Vec::new();
        for source in &sources {
            let Ok(path) = root_dir.join(source) else {
                l.problem(ROOT_FILE, format!("spec.apps: {source:?} leads outside the repository root"));
                continue;
            };
            match tree.entry(&path) {
                Ok(EntryKind::File) => load_app_file(&mut l, &path, &mut declared),
                Ok(EntryKind::Dir) => {
                    let mut files = Vec::new();
                    find_app_files(&mut l, &path, &mut files);
                    for f in files {
                        load_app_file(&mut l, &f, &mut declared);
                    }
                }
                Err(e) if fs::is_missing(&e) => l.problem(ROOT_FILE, format!("spec.apps: {path} does not exist")),
                Err(e) => l.problem(ROOT_FILE, format!("spec.apps: {e}")),
            }
        }
        check_overlay_names(&mut l, &overlays_dir);
        if root.spec.waves.is_empty() {
            // Argo CD style: the waves are the distinct sync-wave numbers.
            let numbers: BTreeSet<i64> = declared.iter().map(|d| d.sync_wave.unwrap_or(0)).collect();
            waves = numbers.into_iter().map(|n| Wave { name: n.to_string(), sync_wave: Some(n) }).collect();
        }
        let env_names: Vec<String> = environments.iter().map(|e| e.name.clone()).collect();
        let mut apps = Vec::new();
        let mut seen: BTreeMap<String, Origin> = BTreeMap::new();
        for d in declared {
            if let Some(first) = seen.get(&d.name) {
                l.problem(&d.origin, format!("app {:?} is already declared at {first}", d.name));
                continue;
            }
            seen.insert(d.name.clone(), d.origin.clone());
            if let Some(app) = resolve_app(&mut l, d, &waves, &env_names, &overlays_dir) {
                apps.push(app);
            }
        }
        let wave_index = |w: &str| waves.iter().position(|x| x.name == w).unwrap_or(usize::MAX);
        apps.sort_by(|a, b| wave_index(&a.wave).cmp(&wave_index(&b.wave)).then_with(|| a.name.cmp(&b.name)));
        if apps.is_empty() && l.errors.is_empty() {
            l.problem(ROOT_FILE, "no apps found (spec.apps lists where app.yaml files are)");
        }
        if !l.errors.is_empty() {
            return Err(ModelErrors(l.errors));
        }
        Ok(Repository { name: root.metadata.name, environments, waves, apps, overlays_dir })
    }

    /// The environment named `name`.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// The app named `name`.
    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// Position of a wave in apply order.
    pub fn wave_index(&self, wave: &str) -> Option<usize> {
        self.waves.iter().position(|w| w.name == wave)
    }

    /// The apps deployed to `env`, in apply order (wave, then name).
    pub fn apps_in(&self, env: &str) -> impl Iterator<Item = &App> {
        let env = env.to_string();
        self.apps.iter().filter(move |a| a.overlays.contains_key(&env))
    }

    /// A "did you mean" hint for an unknown environment name.
    pub fn suggest_environment(&self, name: &str) -> String {
        suggestion(name, self.environments.iter().map(|e| e.name.as_str()))
    }

    /// A "did you mean" hint for an unknown app name.
    pub fn suggest_app(&self, name: &str) -> String {
        suggestion(name, self.apps.iter().map(|a| a.name.as_str()))
    }
}

fn suggestion<'a>(name: &str, candidates: impl Iterator<Item = &'a str> + Clone) -> String {
    let all: Vec<&str> = candidates.clone().collect();
    match did_you_mean(name, candidates) {
        Some(s) => format!("did you mean {s:?}? (known: {})", all.join(", ")),
        None => format!("known: {}", all.join(", ")),
    }
}

fn serde_message(e: &serde_yaml::Error) -> String {
    match e.location() {
        Some(loc) => format!("line {}, column {}: {}", loc.line(), loc.column(), strip_location(&e.to_string())),
        None => e.to_string(),
    }
}

fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn load_environments(l: &mut Loader<'_>, entries: &[NamedEntry]) -> Vec<Environment> {
    if entries.is_empty() {
        l.problem(ROOT_FILE, "spec.environments: at least one environment is required");
    }
    let mut out: Vec<Environment> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if !is_dns_label(&e.name) {
            l.problem(
                ROOT_FILE,
                format!("spec.environments[{i}].name {:?} is not a DNS label (lowercase letters, digits, '-')", e.name),
            );
        } else if out.iter().any(|o| o.name == e.name) {
            l.problem(ROOT_FILE, format!("spec.environments[{i}]: environment {:?} is listed twice", e.name));
        } else {
            out.push(Environment { name: e.name.clone() });
        }
    }
    out
}

fn load_waves(l: &mut Loader<'_>, entries: &[WaveEntry]) -> Vec<Wave> {
    let mut out: Vec<Wave> = Vec::new();
    for (i, w) in entries.iter().enumerate() {
        if !is_dns_label(&w.name) {
            l.problem(ROOT_FILE, format!("spec.waves[{i}].name {:?} is not a DNS label", w.name));
        } else if out.iter().any(|o| o.name == w.name) {
            l.problem(ROOT_FILE, format!("spec.waves[{i}]: wave {:?} is listed twice", w.name));
        } else if w.sync_wave.is_some() && out.iter().any(|o| o.sync_wave == w.sync_wave) {
            l.problem(
                ROOT_FILE,
                format!("spec.waves[{i}]: syncWave {} is used by two waves", w.sync_wave.unwrap_or(0)),
            );
        } else {
            out.push(Wave { name: w.name.clone(), sync_wave: w.sync_wave });
        }
    }
    out
}

/// Lists a directory for the loader: a name that is not UTF-8 is a problem naming the
/// directory (such a directory is invisible to every path in the repository, so an app or an
/// overlay in it would be skipped without a word).
fn list(l: &mut Loader<'_>, dir: &RepoPath) -> Option<Vec<String>> {
    match l.tree.list(dir) {
        Ok(names) => Some(names),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            l.problem(dir, e.to_string());
            None
        }
        Err(e) => {
            l.problem(dir, format!("failed to list the directory: {e}"));
            None
        }
    }
}

fn find_app_files(l: &mut Loader<'_>, dir: &RepoPath, out: &mut Vec<RepoPath>) {
    let Some(names) = list(l, dir) else { return };
    for name in names {
        let Ok(path) = dir.join(&name) else { continue };
        match l.tree.entry(&path) {
            Ok(EntryKind::Dir) => find_app_files(l, &path, out),
            Ok(EntryKind::File) if name == "app.yaml" => out.push(path),
            Ok(EntryKind::File) => {}
            // Gone since the listing, or not there at all: nothing to read.
            Err(e) if fs::is_missing(&e) => {}
            // A symlink out of the repository (or a loop, a submodule) could hide app files:
            // say so rather than skip it.
            Err(e) => l.problem(&path, format!("{e}; app files below it cannot be read")),
        }
    }
}

/// The overlay tree's environment and app directories must have UTF-8 names: any other is
/// reported (no app can refer to it, so it would be ignored in silence).
fn check_overlay_names(l: &mut Loader<'_>, overlays_dir: &RepoPath) {
    if l.tree.kind(overlays_dir) != Some(EntryKind::Dir) {
        return;
    }
    let Some(envs) = list(l, overlays_dir) else { return };
    for env in envs {
        let Ok(env_dir) = overlays_dir.join(&env) else { continue };
        if l.tree.kind(&env_dir) == Some(EntryKind::Dir) {
            list(l, &env_dir);
        }
    }
}

fn load_app_file(l: &mut Loader<'_>, file: &RepoPath, out: &mut Vec<Declared>) {
    let text = match read_text(l.tree, file) {
        Ok(t) => t,
        Err(e) => {
            l.problem(file, e.to_string());
            return;
        }
    };
    // Our own parser tells where each document starts; serde_yaml reads the typed fields.
    let starts = match yaml::parse_documents(&text) {
        Ok(docs) => docs,
        Err(e) => {
            l.problem(format!("{file}:{}", e.line), format!("invalid YAML: {}", e.message));
            return;
        }
    };
    for (doc, start) in serde_yaml::Deserializer::from_str(&text).zip(starts.iter()) {
        let origin = Origin { file: file.clone(), line: start.line };
        if start.value.is_null() {
            continue;
        }
        let api_version = start.value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = start.value.get("kind").and_then(Value::as_str).unwrap_or("");
        let declared = match (api_version, kind) {
            ("tidegate.dev/v1alpha1", "App") => match AppFile::deserialize(doc) {
                Ok(a) => from_tidegate(l, a, &origin),
                Err(e) => {
                    l.problem(&origin, serde_message(&e));
                    None
                }
            },
            (v, "Application") if v.starts_with("argoproj.io/") => match ArgoApplication::deserialize(doc) {
                Ok(a) => from_argo(l, a, &origin),
                Err(e) => {
                    l.problem(&origin, serde_message(&e));
                    None
                }
            },
            _ => {
                l.problem(
                    &origin,
                    format!("expected a tidegate.dev/v1alpha1 App or an argoproj.io/v1alpha1 Application, found {api_version} {kind}"),
                );
                None
            }
        };
        out.extend(declared);
    }
}

fn sync_wave(l: &mut Loader<'_>, meta: &Metadata, origin: &Origin) -> Option<i64> {
    let text = meta.annotations.get(SYNC_WAVE_ANNOTATION)?;
    match text.trim().parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            l.problem(origin, format!("annotation {SYNC_WAVE_ANNOTATION} must be an integer, found {text:?}"));
            None
        }
    }
}

fn from_tidegate(l: &mut Loader<'_>, a: AppFile, origin: &Origin) -> Option<Declared> {
    let sync_wave = sync_wave(l, &a.metadata, origin);
    let dir = origin.file.parent();
    let base_rel = a.spec.base.clone().unwrap_or_else(|| "base".into());
    let base = match dir.join(&base_rel) {
        Ok(b) => b,
        Err(_) => {
            l.problem(origin, format!("spec.base {base_rel:?} leads outside the repository root"));
            return None;
        }
    };
    Some(Declared {
        name: a.metadata.name,
        wave: a.spec.wave,
        sync_wave,
        namespace: a.spec.namespace,
        base,
        environments: a.spec.environments,
        overlays: a.spec.overlays,
        create_namespace: a.spec.create_namespace,
        origin: origin.clone(),
        format: AppFormat::Tidegate,
    })
}

fn from_argo(l: &mut Loader<'_>, a: ArgoApplication, origin: &Origin) -> Option<Declared> {
    let sync_wave = sync_wave(l, &a.metadata, origin);
    let Some(path) = a.spec.source.and_then(|s| s.path) else {
        l.problem(origin, "spec.source.path is required (the app's base directory, relative to the repository root)");
        return None;
    };
    let base = match RepoPath::new(&path) {
        Ok(b) => b,
        Err(_) => {
            l.problem(origin, format!("spec.source.path {path:?} leads outside the repository root"));
            return None;
        }
    };
    let Some(namespace) = a.spec.destination.namespace else {
        l.problem(origin, "spec.destination.namespace is required");
        return None;
    };
    Some(Declared {
        name: a.metadata.name,
        wave: None,
        sync_wave: Some(sync_wave.unwrap_or(0)),
        namespace,
        base,
        environments: None,
        overlays: BTreeMap::new(),
        create_namespace: true,
        origin: origin.clone(),
        format: AppFormat::ArgoCd,
    })
}

fn resolve_app(
    l: &mut Loader<'_>,
    d: Declared,
    waves: &[Wave],
    envs: &[String],
    overlays_dir: &RepoPath,
) -> Option<App> {
    let start = l.errors.len();
    if !is_dns_label(&d.name) {
        l.problem(&d.origin, format!("app name {:?} is not a DNS label (lowercase letters, digits, '-')", d.name));
    }
    if !is_dns_label(&d.namespace) {
        l.problem(&d.origin, format!("app {}: namespace {:?} is not a DNS label", d.name, d.namespace));
    }
    let wave_names = || waves.iter().map(|w| w.name.as_str());
    let wave = match (&d.wave, d.sync_wave) {
        (Some(w), _) if wave_names().any(|n| n == w) => {
            let declared = waves.iter().find(|x| &x.name == w).and_then(|x| x.sync_wave);
            if let (Some(n), Some(m)) = (d.sync_wave, declared) {
                if n != m {
                    l.problem(&d.origin, format!("app {}: spec.wave {w:?} has syncWave {m}, but the {SYNC_WAVE_ANNOTATION} annotation says {n}", d.name));
                }
            }
            Some(w.clone())
        }
        (Some(w), _) => {
            let hint = suggestion(w, wave_names());
            l.problem(&d.origin, format!("app {}: unknown wave {w:?}; {hint}", d.name));
            None
        }
        (None, Some(n)) => {
            match waves.iter().find(|w| w.sync_wave == Some(n)) {
                Some(w) => Some(w.name.clone()),
                None => {
                    l.problem(&d.origin, format!("app {}: no wave of the root has syncWave {n} (add `syncWave: {n}` to one of the root's waves)", d.name));
                    None
                }
            }
        }
        (None, None) => {
            l.problem(
                &d.origin,
                format!("app {}: spec.wave is required (or the {SYNC_WAVE_ANNOTATION} annotation)", d.name),
            );
            None
        }
    };
    let environments: Vec<String> = match &d.environments {
        None => envs.to_vec(),
        Some(list) => {
            for e in list {
                if !envs.contains(e) {
                    let hint = suggestion(e, envs.iter().map(String::as_str));
                    l.problem(
                        &d.origin,
                        format!("app {}: spec.environments: unknown environment {e:?}; {hint}", d.name),
                    );
                }
            }
            // Keep the root's order.
            envs.iter().filter(|e| list.contains(e)).cloned().collect()
        }
    };
    for key in d.overlays.keys() {
        if !environments.contains(key) {
            l.problem(
                &d.origin,
                format!("app {}: spec.overlays.{key}: not an environment the app is deployed to", d.name),
            );
        }
    }
    let mut overlays = BTreeMap::new();
    for env in &environments {
        let rel = d.overlays.get(env).cloned().unwrap_or_else(|| format!("{overlays_dir}/{env}/{}", d.name));
        match RepoPath::new(&rel) {
            Ok(p) => {
                overlays.insert(env.clone(), p);
            }
            Err(_) => {
                l.problem(&d.origin, format!("app {}: overlay {rel:?} leads outside the repository root", d.name))
            }
        }
    }
    if l.errors.len() > start {
        return None;
    }
    Some(App {
        name: d.name,
        wave: wave?,
        namespace: d.namespace,
        base: d.base,
        environments,
        overlays,
        create_namespace: d.create_namespace,
        origin: d.origin,
        format: d.format,
    })
}

#[cfg(test)]
mod tests;
