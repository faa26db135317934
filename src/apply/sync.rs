//! One sync of an environment: waves in order, each applied (server-side apply, kind order,
//! CRDs established before what needs them) and then waited on until every object is healthy;
//! inventories recorded; finally, with prune enabled, objects that left the desired state
//! deleted in reverse wave and reverse kind order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::{Cluster, ClusterError, ResourceType};
use super::drift;
use super::inventory::{DEFAULT_NAMESPACE, INVENTORY_LABEL, Inventory};
use super::ownership::{self, ObjectRef};
use crate::health::{self, HealthOptions, HealthStatus};
use crate::plan::{RenderedApp, RenderedEnv, order};

/// How to sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Ask the server what would change; write nothing, wait for nothing.
    pub dry_run: bool,
    /// Delete owned objects that left the desired state.
    pub prune: bool,
    /// Also prune every object of apps that are gone from the repository.
    pub allow_app_deletion: bool,
    /// How long a wave may take to become healthy.
    pub wave_timeout: Duration,
    /// How often health is polled while waiting.
    pub poll_interval: Duration,
    /// Where inventories live.
    pub inventory_namespace: String,
    /// The commit being synced.
    pub revision: Option<String>,
    /// Health rules.
    pub health: HealthOptions,
    /// Take over fields other field managers own (the repository wins).
    pub force_conflicts: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            dry_run: false,
            prune: false,
            allow_app_deletion: false,
            wave_timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
            inventory_namespace: DEFAULT_NAMESPACE.to_string(),
            revision: None,
            health: HealthOptions::default(),
            force_conflicts: true,
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Created.
    Created,
    /// Changed.
    Configured,
    /// Re-applied because someone changed it in the cluster.
    SelfHealed,
    /// Already as desired.
    Unchanged,
    /// Deleted by prune.
    Pruned,
}

/// Progress events while syncing, for people watching.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A wave starts.
    WaveStarted {
        /// Wave name.
        wave: String,
        /// Apps in it.
        apps: usize,
        /// Objects in it.
        objects: usize,
    },
    /// An object was applied (or would be, in a dry run).
    Applied {
        /// The app.
        app: String,
        /// The object.
        object: ObjectRef,
        /// What changed.
        action: Action,
    },
    /// Still waiting for health.
    Waiting {
        /// Wave name.
        wave: String,
        /// Healthy objects.
        healthy: usize,
        /// All objects.
        total: usize,
        /// The first object still waited on, and why.
        example: String,
    },
    /// The wave is healthy.
    WaveHealthy {
        /// Wave name.
        wave: String,
        /// How long it took.
        elapsed: Duration,
    },
}

/// The outcome for one app.
#[derive(Debug, Clone, Default)]
pub struct AppReport {
    /// The app.
    pub name: String,
    /// Objects written, with what happened.
    pub applied: Vec<(ObjectRef, Action)>,
    /// Objects that failed to apply, with the server's message.
    pub failed: Vec<(ObjectRef, String)>,
    /// Objects not healthy when the wave gave up, with why.
    pub unhealthy: Vec<(ObjectRef, String)>,
    /// Objects pruned (or that would be).
    pub pruned: Vec<ObjectRef>,
}

/// The outcome of one wave.
#[derive(Debug, Clone)]
pub struct WaveReport {
    /// Wave name.
    pub name: String,
    /// Per app.
    pub apps: Vec<AppReport>,
    /// `None` when the wave succeeded, else why it failed.
    pub failure: Option<String>,
    /// Time spent.
    pub elapsed: Duration,
    /// Not attempted because an earlier wave failed.
    pub skipped: bool,
}

/// The outcome of a sync.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// The environment.
    pub env: String,
    /// Waves in order.
    pub waves: Vec<WaveReport>,
    /// Objects pruned (or that would be).
    pub pruned: Vec<(String, ObjectRef)>,
    /// Apps gone from the repository whose objects were kept.
    pub orphaned_apps: Vec<String>,
    /// Why prune did not run although it was asked for, if it did not.
    pub prune_skipped: Option<String>,
    /// Requests sent.
    pub requests: u64,
    /// Requests that changed state.
    pub writes: u64,
}

impl SyncReport {
    /// True when every wave succeeded.
    pub fn succeeded(&self) -> bool {
        self.waves.iter().all(|w| w.failure.is_none() && !w.skipped)
    }
}

/// Why a sync could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// What sync was handed is not what was rendered (objects lost or changed on the way):
    /// nothing is applied or pruned.
    #[error("failed to sync {env}: app {app} holds {found}; nothing is applied or pruned")]
    Inconsistent {
        /// The environment.
        env: String,
        /// The app.
        app: String,
        /// What sync holds against what the render recorded (objects and digests).
        found: String,
    },
    /// The cluster failed in a way that stops everything (e.g. reading inventories).
    #[error("failed to sync {env}: {source}")]
    Cluster {
        /// The environment.
        env: String,
        /// What failed.
        #[source]
        source: ClusterError,
    },
}

struct Desired<'a> {
    app: &'a RenderedApp,
    objects: Vec<Value>,
}

/// Syncs a rendered environment to the cluster.
pub async fn sync(
    cluster: &Cluster,
    rendered: &RenderedEnv,
    opts: &SyncOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<SyncReport, SyncError> {
    let env = rendered.env.as_str();
    check_rendered(rendered)?;
    let fail = |source| SyncError::Cluster { env: env.to_string(), source };
    let start_total = cluster.counters.total.load(std::sync::atomic::Ordering::Relaxed);
    let start_writes = cluster.counters.writes.load(std::sync::atomic::Ordering::Relaxed);
    let mut inventories = read_inventories(cluster, env, &opts.inventory_namespace).await.map_err(fail)?;
    let mut report = SyncReport {
        env: env.to_string(),
        waves: Vec::new(),
        pruned: Vec::new(),
        orphaned_apps: Vec::new(),
        prune_skipped: None,
        requests: 0,
        writes: 0,
    };
    // Per app, the objects this sync applied (or found as desired) in full: prune only runs when
    // this is exactly what was rendered.
    let mut accounted: BTreeMap<&str, BTreeSet<ObjectRef>> = BTreeMap::new();
    let mut failed = false;
    let mut inventory_namespace_ready = !inventories.is_empty();
    // What this sync itself creates: in a dry run, objects in these namespaces or of these
    // kinds cannot be validated by the server yet.
    let planned = Planned::of(rendered);
    for wave in &rendered.waves {
        if failed {
            report.waves.push(WaveReport {
                name: wave.name.clone(),
                apps: Vec::new(),
                failure: None,
                elapsed: Duration::ZERO,
                skipped: true,
            });
            continue;
        }
        let started = Instant::now();
        let mut desired: Vec<Desired<'_>> = Vec::new();
        for app in &wave.apps {
            let mut objects = app.objects.clone();
            for o in &mut objects {
                ownership::mark(o, env, &app.name);
                drop_namespace_if_cluster_scoped(cluster, o).await;
            }
            desired.push(Desired { app, objects });
        }
        progress(Progress::WaveStarted {
            wave: wave.name.clone(),
            apps: desired.len(),
            objects: desired.iter().map(|d| d.objects.len()).sum(),
        });
        let mut wave_report = WaveReport {
            name: wave.name.clone(),
            apps: Vec::new(),
            failure: None,
            elapsed: Duration::ZERO,
            skipped: false,
        };
        let outcome = sync_wave(cluster, env, &desired, &inventories, opts, &planned, progress, &mut wave_report).await;
        if let Err(reason) = outcome {
            wave_report.failure = Some(reason);
            failed = true;
        }
        // Apps of this wave that failed to render keep what they have in the cluster; the wave
        // is not settled, so later waves wait and nothing is pruned.
        if !wave.failed.is_empty() {
            let list: Vec<String> = wave.failed.iter().map(|p| format!("{}: {}", p.app, p.message)).collect();
            let reason = format!(
                "{} app(s) failed to render; their objects are left as they are:\n  {}",
                list.len(),
                list.join("\n  ")
            );
            wave_report.failure = Some(match wave_report.failure.take() {
                Some(other) => format!("{other}\n{reason}"),
                None => reason,
            });
            failed = true;
        }
        if wave_report.failure.is_none() {
            for (d, app_report) in desired.iter().zip(&wave_report.apps) {
                if app_report.failed.is_empty() {
                    accounted.insert(d.app.name.as_str(), d.objects.iter().map(ObjectRef::of).collect());
                }
            }
        }
        // Record what was applied even when the wave failed, so nothing is lost for prune.
        if !opts.dry_run {
            for (d, app_report) in desired.iter().zip(&wave_report.apps) {
                let previous = inventories.get(&d.app.name).cloned().unwrap_or_default();
                let mut next = Inventory { env: env.to_string(), app: d.app.name.clone(), ..previous.clone() };
                next.objects.extend(app_report.applied.iter().map(|(r, _)| r.clone()));
                let complete = app_report.failed.is_empty() && wave_report.failure.is_none();
                if complete {
                    next.objects.extend(d.objects.iter().map(ObjectRef::of));
                    if next.digest != d.app.digest {
                        next.revision = opts.revision.clone().unwrap_or_default();
                    }
                    next.digest = d.app.digest.clone();
                } else if !app_report.applied.is_empty() {
                    next.digest = String::new();
                }
                if next != previous || !inventories.contains_key(&d.app.name) && !app_report.applied.is_empty() {
                    if !inventory_namespace_ready {
                        ensure_namespace(cluster, &opts.inventory_namespace).await.map_err(fail)?;
                        inventory_namespace_ready = true;
                    }
                    write_inventory(cluster, &next, &opts.inventory_namespace).await.map_err(fail)?;
                    inventories.insert(d.app.name.clone(), next);
                }
            }
        }
        wave_report.elapsed = started.elapsed();
        if wave_report.failure.is_none() && !opts.dry_run {
            progress(Progress::WaveHealthy { wave: wave.name.clone(), elapsed: wave_report.elapsed });
        }
        report.waves.push(wave_report);
    }
    if !failed {
        let desired_apps: BTreeSet<&str> =
            rendered.waves.iter().flat_map(|w| &w.apps).map(|a| a.name.as_str()).collect();
        for name in inventories.keys().filter(|a| !desired_apps.contains(a.as_str())) {
            if !(opts.prune && opts.allow_app_deletion) {
                report.orphaned_apps.push(name.clone());
            }
        }
        if opts.prune {
            match unaccounted(rendered, &accounted) {
                None => prune(cluster, rendered, &mut inventories, opts, &mut report).await.map_err(fail)?,
                Some(why) => {
                    tracing::error!(env, reason = %why, "prune skipped: what was applied is not what was rendered");
                    report.prune_skipped = Some(why);
                }
            }
        }
    } else if opts.prune {
        report.prune_skipped = Some("a wave failed or an app failed to render".into());
    }
    report.requests = cluster.counters.total.load(std::sync::atomic::Ordering::Relaxed) - start_total;
    report.writes = cluster.counters.writes.load(std::sync::atomic::Ordering::Relaxed) - start_writes;
    Ok(report)
}

/// Sync starts only from what was rendered: every app's objects must still be as many, and hash
/// to the same digest, as when they were rendered.
#[allow(clippy::result_large_err)] // the error path of a sync that does not start
fn check_rendered(rendered: &RenderedEnv) -> Result<(), SyncError> {
    for app in rendered.waves.iter().flat_map(|w| &w.apps) {
        let digest = crate::plan::digest(&app.objects);
        if app.objects.len() != app.object_count || digest != app.digest {
            return Err(SyncError::Inconsistent {
                env: rendered.env.clone(),
                app: app.name.clone(),
                found: format!(
                    "{} objects ({digest}) but was rendered with {} objects ({})",
                    app.objects.len(),
                    app.object_count,
                    app.digest
                ),
            });
        }
    }
    Ok(())
}

/// Why prune must not run: an app whose objects were not all applied, or not as many as it
/// rendered, as one message; `None` when every rendered object is accounted for.
fn unaccounted(rendered: &RenderedEnv, accounted: &BTreeMap<&str, BTreeSet<ObjectRef>>) -> Option<String> {
    let mut problems = Vec::new();
    for app in rendered.waves.iter().flat_map(|w| &w.apps) {
        let applied = accounted.get(app.name.as_str()).map_or(0, BTreeSet::len);
        if applied != app.object_count {
            problems.push(format!("{}: {applied} of {} rendered objects applied", app.name, app.object_count));
        }
    }
    for failed in rendered.waves.iter().flat_map(|w| &w.failed) {
        problems.push(format!("{}: failed to render", failed.app));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// The cluster is the authority on scope: a kind it serves cluster-wide has no namespace (a
/// custom resource kustomize gave one, say). Kinds it does not serve yet stay as they are.
async fn drop_namespace_if_cluster_scoped(cluster: &Cluster, obj: &mut Value) {
    let r = ObjectRef::of(obj);
    if r.namespace.is_empty() {
        return;
    }
    if let Ok(rt) = cluster.resolve(&r.api_version, &r.kind).await {
        if !rt.namespaced {
            if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
                meta.remove("namespace");
            }
        }
    }
}

async fn read_inventories(
    cluster: &Cluster,
    env: &str,
    namespace: &str,
) -> Result<BTreeMap<String, Inventory>, ClusterError> {
    let cm = cluster.resolve("v1", "ConfigMap").await?;
    let selector = format!("{INVENTORY_LABEL}=true,{}={env}", ownership::ENV_LABEL);
    let items = cluster.list(&cm, Some(namespace), &selector).await?;
    Ok(items.iter().filter_map(Inventory::from_configmap).map(|i| (i.app.clone(), i)).collect())
}

async fn ensure_namespace(cluster: &Cluster, namespace: &str) -> Result<(), ClusterError> {
    let ns = cluster.resolve("v1", "Namespace").await?;
    if cluster.get(&ns, None, namespace).await?.is_none() {
        let obj = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"app.kubernetes.io/managed-by": "tidegate"}}});
        cluster.apply(&ns, &obj, true, false).await?;
    }
    Ok(())
}

async fn write_inventory(cluster: &Cluster, inv: &Inventory, namespace: &str) -> Result<(), ClusterError> {
    let cm = cluster.resolve("v1", "ConfigMap").await?;
    cluster.apply(&cm, &inv.to_configmap(namespace), true, false).await.map(drop)
}

/// Live objects of the wave, by reference, fetched with one list per type.
async fn live_objects(
    cluster: &Cluster,
    env: &str,
    desired: &[Desired<'_>],
) -> (BTreeMap<ObjectRef, Value>, BTreeMap<ObjectRef, String>) {
    let apps: Vec<&str> = desired.iter().map(|d| d.app.name.as_str()).collect();
    let selector = ownership::selector(env, &apps);
    let mut types: BTreeMap<(String, String), ()> = BTreeMap::new();
    for d in desired {
        for o in &d.objects {
            let r = ObjectRef::of(o);
            types.insert((r.api_version, r.kind), ());
        }
    }
    let mut live = BTreeMap::new();
    let mut unresolved = BTreeMap::new();
    for (api_version, kind) in types.keys() {
        let listed = match cluster.resolve(api_version, kind).await {
            Ok(rt) => cluster.list(&rt, None, &selector).await,
            Err(e) => Err(e),
        };
        match listed {
            Ok(items) => {
                for item in items {
                    live.insert(ObjectRef::of(&item), item);
                }
            }
            Err(e) => {
                let key = ObjectRef {
                    api_version: api_version.clone(),
                    kind: kind.clone(),
                    namespace: String::new(),
                    name: String::new(),
                };
                unresolved.insert(key, e.to_string());
            }
        }
    }
    (live, unresolved)
}

#[allow(clippy::too_many_arguments)]
async fn sync_wave(
    cluster: &Cluster,
    env: &str,
    desired: &[Desired<'_>],
    inventories: &BTreeMap<String, Inventory>,
    opts: &SyncOptions,
    planned: &Planned,
    progress: &mut (dyn FnMut(Progress) + Send),
    report: &mut WaveReport,
) -> Result<(), String> {
    let (live, _) = live_objects(cluster, env, desired).await;
    // Decide what to write: changed apps are applied whole; unchanged apps only where the
    // live object drifted from the desired one.
    let mut work: Vec<(usize, Value, Action)> = Vec::new();
    for (i, d) in desired.iter().enumerate() {
        report.apps.push(AppReport { name: d.app.name.clone(), ..Default::default() });
        let unchanged = inventories.get(&d.app.name).is_some_and(|inv| inv.digest == d.app.digest);
        for o in &d.objects {
            let r = ObjectRef::of(o);
            match live.get(&r) {
                None => work.push((i, o.clone(), Action::Created)),
                Some(l) if !unchanged => {
                    let action =
                        if drift::differences(o, l).is_empty() { Action::Unchanged } else { Action::Configured };
                    work.push((i, o.clone(), action));
                }
                Some(l) => {
                    if !drift::differences(o, l).is_empty() && confirmed_drift(cluster, o, l).await {
                        work.push((i, o.clone(), Action::SelfHealed));
                    }
                }
            }
        }
    }
    // When nothing is written, the decide step's view (milliseconds old) is the first health
    // check; otherwise health reads afresh and this copy is freed now.
    let mut first_look = if work.is_empty() { Some(live) } else { None };
    work.sort_by_cached_key(|(_, o, _)| order::apply_key(o));
    // Apply in kind order; after the CRDs, wait for them to be established.
    let mut crds_pending: Vec<ObjectRef> = Vec::new();
    let crd_rank = order::apply_key(
        &serde_json::json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"}),
    )
    .0;
    for (i, obj, action) in &work {
        if !crds_pending.is_empty() && order::apply_key(obj).0 > crd_rank && !opts.dry_run {
            wait_for_crds(cluster, &crds_pending, opts).await?;
            crds_pending.clear();
        }
        let r = ObjectRef::of(obj);
        let result = match apply_one(cluster, obj, opts).await {
            Err(e) if opts.dry_run && planned.explains(&r, &e) => Ok(()),
            other => other,
        };
        match result {
            Ok(()) => {
                if r.kind == "CustomResourceDefinition" {
                    crds_pending.push(r.clone());
                }
                report.apps[*i].applied.push((r.clone(), *action));
                progress(Progress::Applied { app: desired[*i].app.name.clone(), object: r, action: *action });
            }
            Err(e) => report.apps[*i].failed.push((r, e.to_string())),
        }
    }
    let failures: Vec<String> =
        report.apps.iter().flat_map(|a| a.failed.iter().map(move |(r, m)| format!("{}: {r}: {m}", a.name))).collect();
    if !failures.is_empty() {
        return Err(format!("{} object(s) failed to apply:\n  {}", failures.len(), failures.join("\n  ")));
    }
    if opts.dry_run {
        return Ok(());
    }
    if !crds_pending.is_empty() {
        wait_for_crds(cluster, &crds_pending, opts).await?;
    }
    wait_healthy(cluster, env, desired, opts, first_look.take(), progress, report).await
}

/// Namespaces and custom kinds the rendered environment itself creates.
struct Planned {
    namespaces: BTreeSet<String>,
    kinds: BTreeSet<(String, String)>,
}

impl Planned {
    fn of(rendered: &RenderedEnv) -> Planned {
        let mut p = Planned { namespaces: BTreeSet::new(), kinds: BTreeSet::new() };
        for o in rendered.waves.iter().flat_map(|w| &w.apps).flat_map(|a| &a.objects) {
            let r = ObjectRef::of(o);
            if r.kind == "Namespace" && r.api_version == "v1" {
                p.namespaces.insert(r.name);
            } else if r.kind == "CustomResourceDefinition" {
                let s = |ptr: &str| o.pointer(ptr).and_then(Value::as_str).unwrap_or("").to_string();
                p.kinds.insert((s("/spec/group"), s("/spec/names/kind")));
            }
        }
        p
    }

    /// True when a dry-run error only says that something this sync creates is not there yet.
    fn explains(&self, r: &ObjectRef, e: &ClusterError) -> bool {
        let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g).to_string();
        match e {
            ClusterError::UnknownKind { .. } => self.kinds.contains(&(group, r.kind.clone())),
            e if e.is_not_found() => self.namespaces.contains(&r.namespace),
            _ => false,
        }
    }
}

async fn apply_one(cluster: &Cluster, obj: &Value, opts: &SyncOptions) -> Result<(), ClusterError> {
    let r = ObjectRef::of(obj);
    let rt = cluster.resolve(&r.api_version, &r.kind).await?;
    let mut obj = obj.clone();
    if !rt.namespaced {
        if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
            meta.remove("namespace");
        }
    }
    cluster.apply(&rt, &obj, opts.force_conflicts, opts.dry_run).await.map(drop)
}

/// A field-level difference may be the server normalising a value; a dry-run apply tells.
async fn confirmed_drift(cluster: &Cluster, desired: &Value, live: &Value) -> bool {
    let r = ObjectRef::of(desired);
    let Ok(rt) = cluster.resolve(&r.api_version, &r.kind).await else { return true };
    match cluster.apply(&rt, desired, true, true).await {
        Ok(would_be) => drift::strip_server_fields(&would_be) != drift::strip_server_fields(live),
        Err(_) => true,
    }
}

async fn wait_for_crds(cluster: &Cluster, crds: &[ObjectRef], opts: &SyncOptions) -> Result<(), String> {
    let deadline = Instant::now() + opts.wave_timeout;
    let rt = cluster.resolve("apiextensions.k8s.io/v1", "CustomResourceDefinition").await.map_err(|e| e.to_string())?;
    for crd in crds {
        loop {
            let live = cluster.get(&rt, None, &crd.name).await.map_err(|e| e.to_string())?;
            if let Some(live) = &live {
                let h = health::assess(live, &opts.health);
                if h.status == HealthStatus::Healthy {
                    // Its kinds are servable now: forget what discovery knew about its group.
                    let group = live.pointer("/spec/group").and_then(Value::as_str).unwrap_or("");
                    for v in live.pointer("/spec/versions").and_then(Value::as_array).into_iter().flatten() {
                        if let Some(name) = v.get("name").and_then(Value::as_str) {
                            cluster.invalidate(group, name);
                        }
                    }
                    break;
                }
                if h.status == HealthStatus::Degraded {
                    return Err(format!("{crd}: {}", h.message));
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("{crd} was not established within {:?}", opts.wave_timeout));
            }
            tokio::time::sleep(opts.poll_interval.min(Duration::from_millis(500))).await;
        }
    }
    Ok(())
}

async fn wait_healthy(
    cluster: &Cluster,
    env: &str,
    desired: &[Desired<'_>],
    opts: &SyncOptions,
    mut first_look: Option<BTreeMap<ObjectRef, Value>>,
    progress: &mut (dyn FnMut(Progress) + Send),
    report: &mut WaveReport,
) -> Result<(), String> {
    let deadline = Instant::now() + opts.wave_timeout;
    let total: usize = desired.iter().map(|d| d.objects.len()).sum();
    let mut last_healthy = usize::MAX;
    let mut interval = opts.poll_interval.min(Duration::from_millis(250));
    loop {
        let (live, unresolved) = match first_look.take() {
            Some(live) => (live, BTreeMap::new()),
            None => live_objects(cluster, env, desired).await,
        };
        let mut pending: Vec<(usize, ObjectRef, String)> = Vec::new();
        let mut degraded: Vec<(usize, ObjectRef, String)> = Vec::new();
        for (i, d) in desired.iter().enumerate() {
            for o in &d.objects {
                let r = ObjectRef::of(o);
                let Some(l) = live.get(&r) else {
                    let why = unresolved
                        .iter()
                        .find(|(t, _)| t.kind == r.kind)
                        .map_or("not found".to_string(), |(_, e)| e.clone());
                    pending.push((i, r, why));
                    continue;
                };
                let h = health::assess(l, &opts.health);
                match h.status {
                    // Suspended (a paused Deployment, a suspended CronJob) is what the
                    // repository asked for: it settles the object for the wave gate — except a
                    // Rollout paused at a canary step, which the wave waits for.
                    _ if health::settles_wave(l, &h) => {}
                    HealthStatus::Degraded => degraded.push((i, r, h.message)),
                    _ => pending.push((i, r, h.message)),
                }
            }
        }
        let healthy = total - pending.len() - degraded.len();
        if !degraded.is_empty() {
            for (i, r, why) in &degraded {
                report.apps[*i].unhealthy.push((r.clone(), why.clone()));
            }
            let list: Vec<String> =
                degraded.iter().map(|(i, r, why)| format!("{}: {r}: {why}", desired[*i].app.name)).collect();
            return Err(format!("{} object(s) degraded:\n  {}", list.len(), list.join("\n  ")));
        }
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            for (i, r, why) in &pending {
                report.apps[*i].unhealthy.push((r.clone(), why.clone()));
            }
            let list: Vec<String> =
                pending.iter().map(|(i, r, why)| format!("{}: {r}: {why}", desired[*i].app.name)).collect();
            return Err(format!(
                "not healthy within {:?}; {} object(s) still waiting:\n  {}",
                opts.wave_timeout,
                list.len(),
                list.join("\n  ")
            ));
        }
        if healthy != last_healthy {
            let (i, r, why) = &pending[0];
            progress(Progress::Waiting {
                wave: report.name.clone(),
                healthy,
                total,
                example: format!("{}: {r}: {why}", desired[*i].app.name),
            });
            last_healthy = healthy;
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(opts.poll_interval);
    }
}

async fn prune(
    cluster: &Cluster,
    rendered: &RenderedEnv,
    inventories: &mut BTreeMap<String, Inventory>,
    opts: &SyncOptions,
    report: &mut SyncReport,
) -> Result<(), ClusterError> {
    let env = rendered.env.as_str();
    // Apps in reverse wave order, then apps gone from the repository (if allowed) first.
    let mut order_of_apps: Vec<(String, BTreeSet<ObjectRef>)> = Vec::new();
    let desired_apps: BTreeSet<&str> = rendered.waves.iter().flat_map(|w| &w.apps).map(|a| a.name.as_str()).collect();
    if opts.allow_app_deletion {
        for name in inventories.keys().filter(|a| !desired_apps.contains(a.as_str())) {
            order_of_apps.push((name.clone(), BTreeSet::new()));
        }
    }
    for wave in rendered.waves.iter().rev() {
        for app in wave.apps.iter().rev() {
            let mut desired: BTreeSet<ObjectRef> = app.objects.iter().map(ObjectRef::of).collect();
            // Cluster-scoped objects are recorded without a namespace.
            desired.extend(app.objects.iter().map(|o| ObjectRef { namespace: String::new(), ..ObjectRef::of(o) }));
            order_of_apps.push((app.name.clone(), desired));
        }
    }
    for (app, desired) in order_of_apps {
        let Some(inv) = inventories.get(&app).cloned() else { continue };
        let mut gone: Vec<ObjectRef> = inv.objects.iter().filter(|r| !desired.contains(r)).cloned().collect();
        if gone.is_empty() {
            continue;
        }
        gone.sort_by_cached_key(|r| {
            std::cmp::Reverse(order::apply_key(&serde_json::json!({"apiVersion": r.api_version, "kind": r.kind, "metadata": {"namespace": r.namespace, "name": r.name}})))
        });
        let mut next = inv.clone();
        for r in gone {
            let rt = match cluster.resolve(&r.api_version, &r.kind).await {
                Ok(rt) => rt,
                Err(ClusterError::UnknownKind { .. }) => {
                    // Its type is gone (CRD removed), so is the object.
                    next.objects.remove(&r);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let ns = if rt.namespaced { r.namespace() } else { None };
            match cluster.get(&rt, ns, &r.name).await? {
                None => {
                    next.objects.remove(&r);
                }
                Some(live) if !ownership::owned_by(&live, env, &app) => {
                    tracing::info!(object = %r, app, "not pruning: no longer carries tidegate's mark for this app");
                    next.objects.remove(&r);
                }
                Some(live) if ownership::prune_disabled(&live) => {
                    tracing::info!(object = %r, app, "not pruning: opted out by annotation");
                }
                Some(_) => {
                    if !opts.dry_run {
                        delete(cluster, &rt, ns, &r.name).await?;
                        next.objects.remove(&r);
                    }
                    report.pruned.push((app.clone(), r));
                }
            }
        }
        if !opts.dry_run && next != inv {
            write_inventory(cluster, &next, &opts.inventory_namespace).await?;
            inventories.insert(app, next);
        }
    }
    Ok(())
}

async fn delete(cluster: &Cluster, rt: &ResourceType, ns: Option<&str>, name: &str) -> Result<(), ClusterError> {
    cluster.delete(rt, ns, name).await
}
