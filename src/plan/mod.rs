//! Rendering a whole environment: every app's overlay built, namespaces filled in, objects in
//! apply order (wave, then kind), a digest and the images per app — the `render`, `plan` and
//! `check` commands.
//!
//! Owns: turning the repository model plus manifests into the desired state of an
//! environment. Must not touch: the cluster, git, the network.

pub mod order;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::render::fs::{EntryKind, RepoPath, SourceTree};
use crate::render::scope::is_builtin_cluster_scoped;
use crate::render::{self, RenderError, RenderLimits};
use crate::repo::{App, Repository};
use crate::yaml::limits::{DEEP_STACK_BYTES, on_deep_stack, parse_json};

/// The rendered objects of one app in one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedApp {
    /// The app's name.
    pub name: String,
    /// Its wave.
    pub wave: String,
    /// Its destination namespace.
    pub namespace: String,
    /// Its objects, in apply order (empty in a summary render).
    pub objects: Vec<Value>,
    /// How many objects it has.
    pub object_count: usize,
    /// Object counts by kind.
    pub kinds: BTreeMap<String, usize>,
    /// `sha256:<hex>` of the objects: equal inputs give equal digests.
    pub digest: String,
    /// Distinct container images, sorted.
    pub images: Vec<String>,
}

/// One wave of an environment.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedWave {
    /// The wave's name.
    pub name: String,
    /// Its apps, by name.
    pub apps: Vec<RenderedApp>,
    /// Apps of this wave whose render failed (only in a partial render, [`render_env_partial`]):
    /// their desired state is unknown, so nothing of theirs may be applied or pruned, and the
    /// wave cannot be taken as settled.
    pub failed: Vec<AppProblem>,
}

/// An environment's desired state.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedEnv {
    /// The environment.
    pub env: String,
    /// Waves in apply order (waves without apps in this environment are left out).
    pub waves: Vec<RenderedWave>,
}

/// A problem with one app (or between apps) in one environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{env}/{app}: {message}")]
pub struct AppProblem {
    /// The environment.
    pub env: String,
    /// The app (or `*` for repository-wide problems).
    pub app: String,
    /// What is wrong, naming file, object or field.
    pub message: String,
}

impl RenderedEnv {
    /// Every object of the environment in apply order: wave by wave, and inside a wave all
    /// apps' objects merged in kind order.
    pub fn objects_in_apply_order(&self) -> Vec<&Value> {
        let mut out = Vec::new();
        for wave in &self.waves {
            let mut objs: Vec<&Value> = wave.apps.iter().flat_map(|a| a.objects.iter()).collect();
            objs.sort_by_cached_key(|o| order::apply_key(o));
            out.extend(objs);
        }
        out
    }
}

/// Renders `env` (every app deployed there, or only `only_app`) within the default
/// [`RenderLimits`]. All problems are returned, not just the first.
pub fn render_env(
    repo: &Repository,
    tree: &dyn SourceTree,
    env: &str,
    only_app: Option<&str>,
) -> Result<RenderedEnv, Vec<AppProblem>> {
    complete(render_env_with(repo, tree, env, only_app, true, RenderLimits::default()))
}

/// [`render_env`] without keeping the objects: digests, images and counts only (what `plan`
/// and `check` need), so memory stays flat however many apps there are.
pub fn render_env_summary(repo: &Repository, tree: &dyn SourceTree, env: &str) -> Result<RenderedEnv, Vec<AppProblem>> {
    complete(render_env_with(repo, tree, env, None, false, RenderLimits::default()))
}

/// Renders every app of `env` that can be rendered, within `limits` per app; the apps that
/// cannot are listed in their wave's [`RenderedWave::failed`] and returned as problems. For the
/// controller: one app's bad file is that app's error, and the other apps are still reconciled.
pub fn render_env_partial(
    repo: &Repository,
    tree: &dyn SourceTree,
    env: &str,
    limits: RenderLimits,
) -> (RenderedEnv, Vec<AppProblem>) {
    render_env_with(repo, tree, env, None, true, limits)
}

fn complete((rendered, problems): (RenderedEnv, Vec<AppProblem>)) -> Result<RenderedEnv, Vec<AppProblem>> {
    if problems.is_empty() { Ok(rendered) } else { Err(problems) }
}

/// Renders on a thread whose stack holds any value the nesting limit lets through.
fn render_env_with(
    repo: &Repository,
    tree: &dyn SourceTree,
    env: &str,
    only_app: Option<&str>,
    keep_objects: bool,
    limits: RenderLimits,
) -> (RenderedEnv, Vec<AppProblem>) {
    on_deep_stack(|| render_env_on_this_thread(repo, tree, env, only_app, keep_objects, limits))
}

fn render_env_on_this_thread(
    repo: &Repository,
    tree: &dyn SourceTree,
    env: &str,
    only_app: Option<&str>,
    keep_objects: bool,
    limits: RenderLimits,
) -> (RenderedEnv, Vec<AppProblem>) {
    let problem = |app: &str, message: String| AppProblem { env: env.to_string(), app: app.to_string(), message };
    let mut problems = Vec::new();
    // Objects wait as compact JSON until their app's turn: far smaller than JSON trees.
    let mut built: Vec<(&App, Vec<Vec<u8>>)> = Vec::new();
    let apps: Vec<&App> = repo.apps_in(env).filter(|a| a.overlays.contains_key(env)).collect();
    for (app, result) in apps.iter().zip(build_all(tree, &apps, env, limits)) {
        match result {
            Ok(objects) => built.push((app, objects)),
            Err(e) => problems.push(problem(&app.name, e)),
        }
    }
    // Decoding the compact form back cannot fail for what was just encoded; if it ever does,
    // the app fails loudly: an object that silently went missing would later be pruned.
    let mut decoded: Vec<(&App, Vec<Value>)> = Vec::with_capacity(built.len());
    for (app, compact) in built {
        // Their depth was checked when they were rendered; read back with the same limit.
        match compact.iter().map(|b| parse_json(b)).collect::<Result<Vec<Value>, String>>() {
            Ok(objects) if objects.len() == compact.len() => decoded.push((app, objects)),
            Ok(_) => problems.push(problem(&app.name, "internal error: objects were lost after rendering".into())),
            Err(e) => problems
                .push(problem(&app.name, format!("internal error: a rendered object could not be read back: {e}"))),
        }
    }
    // Custom resources are namespaced unless a CRD of this environment says otherwise; and an
    // app's own v1 Namespace objects count as created.
    let mut cluster_scoped_crs: BTreeSet<(String, String)> = BTreeSet::new();
    let mut created_namespaces: BTreeSet<String> = BTreeSet::new();
    for o in decoded.iter().flat_map(|(_, objs)| objs.iter()) {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind == "CustomResourceDefinition" && o.pointer("/spec/scope").and_then(Value::as_str) == Some("Cluster") {
            let group = o.pointer("/spec/group").and_then(Value::as_str).unwrap_or("").to_string();
            let crd_kind = o.pointer("/spec/names/kind").and_then(Value::as_str).unwrap_or("").to_string();
            cluster_scoped_crs.insert((group, crd_kind));
        } else if kind == "Namespace" && o.get("apiVersion").and_then(Value::as_str) == Some("v1") {
            if let Some(name) = o.pointer("/metadata/name").and_then(Value::as_str) {
                created_namespaces.insert(name.to_string());
            }
        }
    }
    let mut owners: BTreeMap<(String, String, String, String), String> = BTreeMap::new();
    let mut waves: Vec<RenderedWave> = Vec::new();
    let wave_of = |waves: &mut Vec<RenderedWave>, name: &str| -> usize {
        match waves.iter().position(|w| w.name == name) {
            Some(i) => i,
            None => {
                waves.push(RenderedWave { name: name.to_string(), apps: Vec::new(), failed: Vec::new() });
                waves.len() - 1
            }
        }
    };
    let failed_names: BTreeSet<String> = problems.iter().map(|p| p.app.clone()).collect();
    for (app, mut objects) in decoded {
        for o in &mut objects {
            place_in_namespace(o, &app.namespace, &cluster_scoped_crs);
        }
        if app.create_namespace && created_namespaces.insert(app.namespace.clone()) {
            objects.push(namespace_object(&app.namespace));
        }
        let mut conflicts = Vec::new();
        for o in &objects {
            let key = identity(o);
            if let Some(other) = owners.get(&key) {
                conflicts.push(format!(
                    "{} {} {}/{} is also rendered by app {other}; an object belongs to one app",
                    key.0, key.1, key.2, key.3
                ));
            }
        }
        if !conflicts.is_empty() {
            let i = wave_of(&mut waves, &app.wave);
            for message in conflicts {
                let p = problem(&app.name, message);
                waves[i].failed.push(p.clone());
                problems.push(p);
            }
            continue;
        }
        for o in &objects {
            owners.insert(identity(o), app.name.clone());
        }
        if only_app.is_some_and(|only| only != app.name) {
            continue;
        }
        objects.sort_by_cached_key(order::apply_key);
        let mut kinds = BTreeMap::new();
        for o in &objects {
            *kinds.entry(o.get("kind").and_then(Value::as_str).unwrap_or("").to_string()).or_insert(0) += 1;
        }
        let rendered = RenderedApp {
            name: app.name.clone(),
            wave: app.wave.clone(),
            namespace: app.namespace.clone(),
            digest: digest(&objects),
            images: images(&objects),
            object_count: objects.len(),
            kinds,
            objects: if keep_objects { objects } else { Vec::new() },
        };
        let i = wave_of(&mut waves, &app.wave);
        waves[i].apps.push(rendered);
    }
    // Apps whose build failed belong to their wave too, in the order of the waves.
    for p in problems.iter().filter(|p| failed_names.contains(&p.app)) {
        if let Some(app) = repo.apps.iter().find(|a| a.name == p.app) {
            if only_app.is_none_or(|only| only == app.name) {
                let i = wave_of(&mut waves, &app.wave);
                waves[i].failed.push(p.clone());
            }
        }
    }
    let order: Vec<&str> = repo.waves.iter().map(|w| w.name.as_str()).collect();
    waves.sort_by_key(|w| order.iter().position(|n| *n == w.name).unwrap_or(usize::MAX));
    (RenderedEnv { env: env.to_string(), waves }, problems)
}

/// Builds every app's overlay, spread over the machine's cores, each within `limits`, on
/// threads with stacks deep enough for the nesting limit; results in the apps' order. A build
/// that panics is that app's error, not the process's.
fn build_all(
    tree: &dyn SourceTree,
    apps: &[&App],
    env: &str,
    limits: RenderLimits,
) -> Vec<Result<Vec<Vec<u8>>, String>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(apps.len()).max(1);
    let build = |app: &App| match app.overlays.get(env) {
        Some(overlay) => build_app(tree, app, overlay, limits).and_then(|objs| {
            objs.iter().map(|o| serde_json::to_vec(o).map_err(|e| format!("failed to encode an object: {e}"))).collect()
        }),
        None => Ok(Vec::new()),
    };
    let guarded = |app: &App| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| build(app))).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(app = %app.name, panic = %what, "the render of an app panicked; reported as its error");
            Err(format!("internal error: the render panicked ({what}); please report it"))
        })
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<Vec<Vec<u8>>, String>>> = (0..apps.len()).map(|_| None).collect();
    let slots = std::sync::Mutex::new(&mut results);
    std::thread::scope(|scope| {
        for n in 0..threads {
            let worker = || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= apps.len() {
                        break;
                    }
                    let r = guarded(apps[i]);
                    slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(r);
                }
            };
            std::thread::Builder::new()
                .name(format!("render-{n}"))
                .stack_size(DEEP_STACK_BYTES)
                .spawn_scoped(scope, worker)
                .expect("failed to start a render thread");
        }
    });
    results.into_iter().map(|r| r.unwrap_or_else(|| Err("internal error: the render thread stopped".into()))).collect()
}

fn build_app(tree: &dyn SourceTree, app: &App, overlay: &RepoPath, limits: RenderLimits) -> Result<Vec<Value>, String> {
    match tree.entry(overlay) {
        Ok(EntryKind::Dir) => {}
        Err(e) if !crate::render::fs::is_missing(&e) => return Err(format!("overlay {overlay}: {e}")),
        _ => {
            return Err(format!(
                "overlay {overlay} does not exist (create it with a kustomization.yaml that references {}, or leave the environment out of the app's spec.environments)",
                app.base
            ));
        }
    }
    let resources = render::build_limited(tree, overlay, limits).map_err(|e: RenderError| e.to_string())?;
    let mut out = Vec::with_capacity(resources.len());
    for r in resources {
        if r.value.get("apiVersion").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(format!("{}: {} {} has no apiVersion", r.origin, r.id().kind, r.id().name));
        }
        out.push(r.value);
    }
    if out.is_empty() {
        return Err(format!("overlay {overlay} renders no objects; an app must deploy something"));
    }
    Ok(out)
}

fn place_in_namespace(o: &mut Value, namespace: &str, cluster_scoped_crs: &BTreeSet<(String, String)>) {
    let api_version = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g).to_string();
    let kind = o.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
    let cluster_scoped = is_builtin_cluster_scoped(&group, &kind) || cluster_scoped_crs.contains(&(group, kind));
    let Some(Value::Object(meta)) = o.get_mut("metadata") else { return };
    if cluster_scoped {
        // The API server has no namespace for these; kustomize may have added one.
        meta.remove("namespace");
    } else if meta.get("namespace").and_then(Value::as_str).is_none_or(str::is_empty) {
        meta.insert("namespace".into(), Value::String(namespace.to_string()));
    }
}

fn namespace_object(name: &str) -> Value {
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(name.to_string()));
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String("Namespace".into()));
    obj.insert("metadata".into(), Value::Object(meta));
    Value::Object(obj)
}

fn identity(o: &Value) -> (String, String, String, String) {
    let s = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    let group = s("/apiVersion").rsplit_once('/').map_or(String::new(), |(g, _)| g.to_string());
    (group, s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
}

/// `sha256:<hex>` over the objects' canonical JSON (sorted keys), one per line.
pub fn digest(objects: &[Value]) -> String {
    let mut hasher = Sha256::new();
    for o in objects {
        hasher.update(serde_json::to_vec(o).expect("JSON values serialise"));
        hasher.update(b"\n");
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Distinct images of every `containers`/`initContainers` list at any depth, sorted.
pub fn images(objects: &[Value]) -> Vec<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    if (k == "containers" || k == "initContainers") && child.is_array() {
                        for c in child.as_array().into_iter().flatten() {
                            if let Some(image) = c.get("image").and_then(Value::as_str) {
                                out.insert(image.to_string());
                            }
                        }
                    } else {
                        walk(child, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for o in objects.iter().filter(|o| o.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition")) {
        walk(o, &mut out);
    }
    out.into_iter().collect()
}

/// `plan --output json`: the contract in PRODUCT.md.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The environment.
    pub env: String,
    /// The commit the repository checkout is at, if it is a git work tree.
    pub revision: Option<String>,
    /// Waves in apply order.
    pub waves: Vec<PlanWave>,
}

/// A wave of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanWave {
    /// Its name.
    pub name: String,
    /// Its apps.
    pub apps: Vec<PlanApp>,
}

/// An app of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanApp {
    /// Its name.
    pub name: String,
    /// Its destination namespace.
    pub namespace: String,
    /// How many objects it deploys.
    pub objects: usize,
    /// Its container images.
    pub images: Vec<String>,
    /// Digest of its rendered objects.
    pub digest: String,
    /// Object counts by kind.
    pub kinds: BTreeMap<String, usize>,
}

impl Plan {
    /// Summarises a rendered environment.
    pub fn from_rendered(rendered: &RenderedEnv, revision: Option<String>) -> Plan {
        let waves = rendered
            .waves
            .iter()
            .map(|w| PlanWave {
                name: w.name.clone(),
                apps: w
                    .apps
                    .iter()
                    .map(|a| PlanApp {
                        name: a.name.clone(),
                        namespace: a.namespace.clone(),
                        objects: a.object_count,
                        images: a.images.clone(),
                        digest: a.digest.clone(),
                        kinds: a.kinds.clone(),
                    })
                    .collect(),
            })
            .collect();
        Plan { env: rendered.env.clone(), revision, waves }
    }

    /// A table for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let rev = self.revision.as_deref().map_or("(not a git checkout)".to_string(), |r| r.chars().take(12).collect());
        let _ = writeln!(out, "environment {} at {rev}", self.env);
        for (i, w) in self.waves.iter().enumerate() {
            let _ = writeln!(out, "\nwave {} {}", i + 1, w.name);
            for a in &w.apps {
                let digest: String = a.digest.trim_start_matches("sha256:").chars().take(12).collect();
                let _ = writeln!(out, "  {:<28} {:<14} {:>3} objects  {digest}", a.name, a.namespace, a.objects);
                for image in &a.images {
                    let _ = writeln!(out, "  {:<28} {image}", "");
                }
            }
        }
        out
    }
}

/// Checks every app in every environment and the overlay tree; returns every problem found.
pub fn check(repo: &Repository, tree: &dyn SourceTree) -> (usize, Vec<AppProblem>) {
    let mut problems = Vec::new();
    let mut objects = 0;
    for env in &repo.environments {
        match render_env_summary(repo, tree, &env.name) {
            Ok(r) => objects += r.waves.iter().flat_map(|w| &w.apps).map(|a| a.object_count).sum::<usize>(),
            Err(p) => problems.extend(p),
        }
    }
    problems.extend(orphan_overlays(repo, tree));
    (objects, problems)
}

/// Overlay directories that no app uses (a renamed app, a typo): reported so they do not rot.
fn orphan_overlays(repo: &Repository, tree: &dyn SourceTree) -> Vec<AppProblem> {
    let used: BTreeSet<&RepoPath> = repo.apps.iter().flat_map(|a| a.overlays.values()).collect();
    let mut out = Vec::new();
    let Ok(envs) = tree.list(&repo.overlays_dir) else { return out };
    for env in envs {
        let Ok(env_dir) = repo.overlays_dir.join(&env) else { continue };
        if tree.kind(&env_dir) != Some(EntryKind::Dir) {
            continue;
        }
        if repo.environment(&env).is_none() {
            out.push(AppProblem {
                env: env.clone(),
                app: "*".into(),
                message: format!("{env_dir} is not an environment of the root ({})", repo.suggest_environment(&env)),
            });
            continue;
        }
        for app in tree.list(&env_dir).unwrap_or_default() {
            let Ok(dir) = env_dir.join(&app) else { continue };
            if tree.kind(&dir) == Some(EntryKind::Dir) && !used.contains(&dir) {
                out.push(AppProblem {
                    env: env.clone(),
                    app: app.clone(),
                    message: format!("overlay {dir} belongs to no app ({})", repo.suggest_app(&app)),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
