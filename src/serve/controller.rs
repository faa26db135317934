//! The control loop: refresh the repository (pinned snapshot), render each configured
//! environment, sync it, record the status. Runs on a poll interval as a safety net and at
//! once when a webhook asks (bursts coalesce into one reconcile).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Notify, watch};

use super::state::{AppEnvStatus, AppLabels, AppStatus, EnvLabels, FetchLabels, Shared, WaveLabels, now};
use crate::apply::{Cluster, SyncOptions};
use crate::bot::{BotHandle, Work};
use crate::config::{EnvConfig, ServeConfig};
use crate::health::{HealthOptions, HealthStatus};
use crate::plan::{self, RenderedEnv};
use crate::repo::Repository;
use crate::source::{Auth, Snapshot, Source, SourceSpec};

/// Builds the git source from the configuration.
pub fn source(cfg: &ServeConfig) -> Result<Source, String> {
    let auth = if let Some(key) = &cfg.repo.ssh_key_file {
        Auth::ssh_key(key.clone(), None)
    } else if let Some(file) = &cfg.repo.token_file {
        Auth::token_from_file(file).map_err(|e| e.to_string())?
    } else if let Some(token) = &cfg.github.token {
        Auth::Token(token.clone())
    } else {
        Auth::None
    };
    let spec = SourceSpec::new(cfg.repo.url.clone(), cfg.repo.branch.clone())
        .with_auth(auth)
        .with_timeout(cfg.repo.fetch_timeout)
        .with_follow_force_push(cfg.repo.follow_force_push);
    Source::new(spec, &cfg.data_dir).map_err(|e| e.to_string())
}

/// Runs until `shutdown` turns true; an in-flight reconcile is finished first.
pub async fn run(
    cfg: Arc<ServeConfig>,
    shared: Arc<Shared>,
    source: Arc<Source>,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
    bot: Option<BotHandle>,
) {
    let mut clusters: HashMap<String, Arc<Cluster>> = HashMap::new();
    let mut leading = start_election(&cfg, &shared, &wake, shutdown.clone()).await;
    loop {
        // Wait for the first election attempt, so a follower never applies at start-up.
        let leader = match &mut leading {
            None => true,
            Some(rx) => {
                let _ = rx.wait_for(Option::is_some).await;
                let value = *rx.borrow();
                value == Some(true)
            }
        };
        reconcile_once(&cfg, &shared, &source, &mut clusters, leader, bot.as_ref()).await;
        tokio::select! {
            _ = tokio::time::sleep(cfg.poll_interval) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            tracing::info!("control loop stopped");
            return;
        }
    }
}

/// Starts the lease keeper when leader election applies; the receiver says whether this
/// instance leads (`None` until the first attempt).
async fn start_election(
    cfg: &ServeConfig,
    shared: &Arc<Shared>,
    wake: &Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<watch::Receiver<Option<bool>>> {
    if !cfg.leader_election.enabled || cfg.environments.is_empty() {
        shared.status.lock().expect("status lock").leader = true;
        return None;
    }
    let (tx, rx) = watch::channel(None);
    let cfg_le = cfg.leader_election.clone();
    let context = cfg.environments[0].context.clone();
    let namespace = cfg.system_namespace.clone();
    let shared = Arc::clone(shared);
    let wake = Arc::clone(wake);
    tokio::spawn(async move {
        let identity = super::leader::identity();
        shared.status.lock().expect("status lock").identity = identity.clone();
        let mut elector: Option<super::leader::Elector> = None;
        let mut was_leading = false;
        loop {
            if elector.is_none() {
                match Cluster::connect(context.as_deref()).await {
                    Ok(c) => {
                        let lease = super::leader::LeaseConfig {
                            namespace: namespace.clone(),
                            name: cfg_le.lease_name.clone(),
                            duration: cfg_le.lease_duration,
                            identity: identity.clone(),
                        };
                        elector = Some(super::leader::Elector::new(Arc::new(c), lease));
                    }
                    Err(e) => tracing::warn!(error = %e, "leader election: cluster unreachable"),
                }
            }
            let (leading, error) = match &elector {
                Some(el) => match el.try_acquire_or_renew().await {
                    Ok(l) => (l, None),
                    Err(e) => {
                        tracing::warn!(error = %e, "leader election failed; not applying");
                        (false, Some(e.to_string()))
                    }
                },
                None => (false, Some("the cluster of the first environment is unreachable".to_string())),
            };
            {
                let mut st = shared.status.lock().expect("status lock");
                st.leader = leading;
                st.election_error = error;
            }
            let _ = tx.send(Some(leading));
            if leading && !was_leading {
                // Just took over: reconcile now rather than at the next poll.
                wake.notify_one();
            }
            was_leading = leading;
            tokio::select! {
                _ = tokio::time::sleep(cfg_le.lease_duration / 3) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                if let (Some(el), true) = (&elector, was_leading) {
                    el.release().await;
                }
                return;
            }
        }
    });
    Some(rx)
}

#[tracing::instrument(skip_all, fields(branch = %cfg.repo.branch))]
async fn reconcile_once(
    cfg: &ServeConfig,
    shared: &Shared,
    source: &Arc<Source>,
    clusters: &mut HashMap<String, Arc<Cluster>>,
    leader: bool,
    bot: Option<&BotHandle>,
) {
    let src = Arc::clone(source);
    let refreshed = tokio::task::spawn_blocking(move || src.refresh()).await;
    let (snapshot, fetch_error): (Snapshot, Option<String>) = match refreshed {
        Ok(Ok(r)) => {
            let outcome = if r.error.is_some() {
                "failed"
            } else if r.fetched {
                "fetched"
            } else {
                "unchanged"
            };
            shared.metrics.fetches.get_or_create(&FetchLabels { outcome: outcome.into() }).inc();
            if let Some(e) = &r.error {
                tracing::warn!(error = %e, commit = %r.snapshot.commit, "refresh failed; serving the last good commit");
            }
            (r.snapshot, r.error.map(|e| e.to_string()))
        }
        Ok(Err(e)) => {
            shared.metrics.fetches.get_or_create(&FetchLabels { outcome: "failed".into() }).inc();
            tracing::warn!(error = %e, "no snapshot of the repository yet");
            let mut st = shared.status.lock().expect("status lock");
            st.source.error = Some(e.to_string());
            st.source.refreshed_at = Some(now());
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "refresh task failed");
            return;
        }
    };
    {
        let mut st = shared.status.lock().expect("status lock");
        st.source.commit = Some(snapshot.commit.clone());
        st.source.refreshed_at = Some(now());
        st.source.error = fetch_error.clone();
    }
    let repo = match Repository::load(&snapshot.tree) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, commit = %snapshot.commit, "the repository description is invalid; nothing is applied");
            fail_managed_envs(shared, &snapshot.commit, &e);
            return;
        }
    };
    // The repository's health rules judge its objects; broken ones stop the commit like a broken
    // description does (a wave must not pass on a rule that cannot run).
    let health = match crate::health::custom::HealthRules::load(&snapshot.tree) {
        Ok(rules) => HealthOptions::with_rules(rules),
        Err(e) => {
            tracing::error!(error = %e, commit = %snapshot.commit, "the repository's health rules are invalid; nothing is applied");
            fail_managed_envs(shared, &snapshot.commit, &e);
            return;
        }
    };
    record_model(shared, &repo, cfg);
    let tell_bot = |work: Work| {
        if let Some(bot) = bot {
            if let Err(e) = bot.send(work) {
                tracing::warn!(error = %e, "promotion bot queue full; promotions wait for the next reconcile");
            }
        }
    };
    tell_bot(Work::Snapshot(snapshot.clone()));
    // Environments this instance does not reconcile still show what they pin.
    for env in repo.environments.iter().filter(|e| !cfg.environments.iter().any(|c| c.name == e.name)) {
        let rendered = render(shared, cfg, &repo, &snapshot, &env.name);
        record_images(shared, &rendered);
    }
    for env in &cfg.environments {
        if leader {
            reconcile_env(env, cfg, shared, (&repo, &health), &snapshot, fetch_error.is_some(), clusters).await;
            // Automatic promotions out of this environment (only the leader opens them).
            tell_bot(Work::Reconciled { env: env.name.clone(), auto: true });
        } else {
            // A follower shows what the repository wants and what the cluster runs, read-only;
            // the leader applies. The promotion bot of a follower answers the /promote comments
            // that reach it from these observations, and opens nothing by itself.
            let rendered = render(shared, cfg, &repo, &snapshot, &env.name);
            record_images(shared, &rendered);
            observe_as_follower(env, shared, &rendered, &health, clusters).await;
            {
                let mut st = shared.status.lock().expect("status lock");
                let e = st.environments.entry(env.name.clone()).or_default();
                e.state = "Follower".into();
                e.revision = Some(snapshot.commit.clone());
            }
            tell_bot(Work::Reconciled { env: env.name.clone(), auto: false });
        }
    }
}

/// Marks every environment this instance manages as failed at `commit`, for a repository that
/// cannot be used as a whole.
fn fail_managed_envs(shared: &Shared, commit: &str, error: &dyn std::fmt::Display) {
    let mut st = shared.status.lock().expect("status lock");
    for env in st.environments.values_mut().filter(|e| e.managed) {
        env.state = "Failed".into();
        env.error = Some(format!("repository at {}: {error}", short(commit)));
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// Makes the status list every app and environment of the repository.
fn record_model(shared: &Shared, repo: &Repository, cfg: &ServeConfig) {
    let mut st = shared.status.lock().expect("status lock");
    st.environment_order = repo.environments.iter().map(|e| e.name.clone()).collect();
    for e in &repo.environments {
        let managed = cfg.environments.iter().any(|c| c.name == e.name);
        let entry = st.environments.entry(e.name.clone()).or_default();
        entry.managed = managed;
        if entry.state.is_empty() {
            entry.state = if managed { "Pending".into() } else { "NotManaged".into() };
        }
    }
    let previous = std::mem::take(&mut st.apps);
    st.apps = repo
        .apps
        .iter()
        .map(|a| {
            let old = previous.iter().find(|p| p.name == a.name);
            AppStatus {
                name: a.name.clone(),
                wave: a.wave.clone(),
                environments: a
                    .environments
                    .iter()
                    .map(|e| {
                        (
                            e.clone(),
                            old.and_then(|o| o.environments.get(e)).cloned().unwrap_or_else(|| AppEnvStatus {
                                sync: "Unknown".into(),
                                health: "Unknown".into(),
                                ..Default::default()
                            }),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
}

#[tracing::instrument(skip_all, fields(env = %env.name, revision = %short(&snapshot.commit)))]
async fn reconcile_env(
    env: &EnvConfig,
    cfg: &ServeConfig,
    shared: &Shared,
    (repo, health): (&Repository, &HealthOptions),
    snapshot: &Snapshot,
    fetch_failed: bool,
    clusters: &mut HashMap<String, Arc<Cluster>>,
) {
    let started = Instant::now();
    let set_env = |state: &str, error: Option<String>, reachable: Option<bool>| {
        let mut st = shared.status.lock().expect("status lock");
        let e = st.environments.entry(env.name.clone()).or_default();
        e.state = state.to_string();
        e.error = error;
        e.revision = Some(snapshot.commit.clone());
        e.finished_at = Some(now());
        if reachable.is_some() {
            e.cluster_reachable = reachable;
        }
    };
    if repo.environment(&env.name).is_none() {
        set_env(
            "Failed",
            Some(format!("the repository has no environment {:?}; {}", env.name, repo.suggest_environment(&env.name))),
            None,
        );
        return;
    }
    // Apps that fail to render are their own errors (recorded by `render`); the others are
    // reconciled, and sync leaves the failed ones' objects alone and prunes nothing.
    let rendered = render(shared, cfg, repo, snapshot, &env.name);
    record_images(shared, &rendered);
    let cluster = match cluster_of(env, clusters).await {
        Ok(c) => c,
        Err(e) => {
            set_env("Failed", Some(e.to_string()), Some(false));
            return;
        }
    };
    set_env("Syncing", None, None);
    let opts = SyncOptions {
        // Never prune from a snapshot whose fetch just failed.
        prune: env.prune && !fetch_failed,
        wave_timeout: env.wave_timeout,
        inventory_namespace: cfg.system_namespace.clone(),
        revision: Some(snapshot.commit.clone()),
        health: health.clone(),
        ..Default::default()
    };
    let before = cluster.counters.total.load(std::sync::atomic::Ordering::Relaxed);
    let result = crate::apply::sync(&cluster, &rendered, &opts, &mut |_| {}).await;
    let after = cluster.counters.total.load(std::sync::atomic::Ordering::Relaxed);
    shared.metrics.apply_requests.get_or_create(&EnvLabels { env: env.name.clone() }).inc_by(after - before);
    shared
        .metrics
        .reconcile_seconds
        .get_or_create(&EnvLabels { env: env.name.clone() })
        .observe(started.elapsed().as_secs_f64());
    match result {
        Err(e) => {
            let unreachable = matches!(
                e,
                crate::apply::sync::SyncError::Cluster {
                    source: crate::apply::ClusterError::Unreachable(_) | crate::apply::ClusterError::Exhausted { .. },
                    ..
                }
            );
            set_env("Failed", Some(e.to_string()), Some(!unreachable));
            // Health could not be observed: the soak clock restarts.
            let mut st = shared.status.lock().expect("status lock");
            for e in st.apps.iter_mut().filter_map(|a| a.environments.get_mut(&env.name)) {
                e.healthy_since = None;
                e.health = "Unknown".into();
            }
        }
        Ok(report) => {
            let mut soak_started: Vec<String> = Vec::new();
            {
                let mut st = shared.status.lock().expect("status lock");
                for wave in report.waves.iter().filter(|w| !w.skipped) {
                    shared
                        .metrics
                        .wave_seconds
                        .get_or_create(&WaveLabels { env: env.name.clone(), wave: wave.name.clone() })
                        .observe(wave.elapsed.as_secs_f64());
                }
                for wave in &report.waves {
                    for app in &wave.apps {
                        let Some(entry) = st
                            .apps
                            .iter_mut()
                            .find(|a| a.name == app.name)
                            .and_then(|a| a.environments.get_mut(&env.name))
                        else {
                            continue;
                        };
                        let failed = !app.failed.is_empty() || !app.unhealthy.is_empty();
                        if failed {
                            entry.sync = if app.failed.is_empty() { "Synced".into() } else { "Failed".into() };
                            entry.health = "Degraded".into();
                            entry.healthy_since = None;
                            let why: Vec<String> =
                                app.failed.iter().chain(&app.unhealthy).map(|(r, m)| format!("{r}: {m}")).collect();
                            entry.message = Some(why.join("; "));
                        } else if wave.failure.is_none() {
                            entry.sync = "Synced".into();
                            entry.health = HealthStatus::Healthy.to_string();
                            entry.message = None;
                            entry.last_synced_at = Some(now());
                            // Soak clock: keeps running while the app stays healthy at the same
                            // images; restarts when they change.
                            if entry.healthy_since.is_none() || entry.healthy_images != entry.images {
                                entry.healthy_since = Some(now());
                                entry.healthy_images = entry.images.clone();
                                soak_started.push(app.name.clone());
                            }
                            shared
                                .metrics
                                .last_sync
                                .get_or_create(&AppLabels { env: env.name.clone(), app: app.name.clone() })
                                .set(now() as i64);
                        }
                    }
                    if wave.skipped {
                        for a in st.apps.iter_mut().filter(|a| a.wave == wave.name) {
                            if let Some(e) = a.environments.get_mut(&env.name) {
                                e.sync = "Pending".into();
                                e.healthy_since = None;
                                e.message = Some("an earlier wave failed".into());
                            }
                        }
                    }
                }
            }
            record_render_failures(shared, &rendered);
            seed_soak_clocks(shared, &cluster, &rendered, &opts.health, &soak_started).await;
            if report.succeeded() {
                set_env("Synced", None, Some(true));
            } else {
                let why: Vec<String> = report
                    .waves
                    .iter()
                    .filter_map(|w| w.failure.as_ref().map(|f| format!("wave {}: {f}", w.name)))
                    .collect();
                set_env("Failed", Some(why.join("; ")), Some(true));
            }
        }
    }
}

/// The environment's cluster client, connected once and kept.
async fn cluster_of(
    env: &EnvConfig,
    clusters: &mut HashMap<String, Arc<Cluster>>,
) -> Result<Arc<Cluster>, crate::apply::ClusterError> {
    if let Some(c) = clusters.get(&env.name) {
        return Ok(Arc::clone(c));
    }
    let c = Arc::new(Cluster::connect(env.context.as_deref()).await?);
    clusters.insert(env.name.clone(), Arc::clone(&c));
    Ok(c)
}

/// A follower's read-only look at the environment: per app, whether the cluster runs it at the
/// desired images and healthy, and since when (the same soak clock as the leader's, seeded
/// from the workloads' conditions).
async fn observe_as_follower(
    env: &EnvConfig,
    shared: &Shared,
    rendered: &RenderedEnv,
    health: &HealthOptions,
    clusters: &mut HashMap<String, Arc<Cluster>>,
) {
    let cluster = match cluster_of(env, clusters).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, env = %env.name, "follower: cluster unreachable; nothing observed");
            let mut st = shared.status.lock().expect("status lock");
            for a in st.apps.iter_mut() {
                if let Some(s) = a.environments.get_mut(&env.name) {
                    s.health = "Unknown".into();
                    s.healthy_since = None;
                }
            }
            return;
        }
    };
    for app in rendered.waves.iter().flat_map(|w| &w.apps) {
        let observed = crate::apply::observe::observe_app(&cluster, app, health).await;
        let mut st = shared.status.lock().expect("status lock");
        let Some(s) = st.apps.iter_mut().find(|a| a.name == app.name).and_then(|a| a.environments.get_mut(&env.name))
        else {
            continue;
        };
        match observed {
            Ok(o) if o.healthy => {
                s.sync = "Synced".into();
                s.health = HealthStatus::Healthy.to_string();
                s.message = None;
                if s.healthy_since.is_none() || s.healthy_images != s.images {
                    let since = o.healthy_since.map(|t| (t.timestamp().max(0) as u64).min(now()));
                    s.healthy_since = Some(since.unwrap_or_else(now));
                    s.healthy_images = s.images.clone();
                }
            }
            Ok(o) => {
                s.sync = "OutOfSync".into();
                s.health = "Progressing".into();
                s.message = o.message;
                s.healthy_since = None;
            }
            Err(e) => {
                s.health = "Unknown".into();
                s.message = Some(e.to_string());
                s.healthy_since = None;
            }
        }
    }
}

/// A soak clock that just started may be older than this process: after a restart, or when
/// another replica led until now. The workloads' conditions tell when they last became
/// available at their current spec (a Deployment's `Progressing: NewReplicaSetAvailable`,
/// `Available`, `Ready`); when every object of the app is healthy at the desired images, the
/// clock starts then instead of now. Objects that record no such time leave it at now.
async fn seed_soak_clocks(
    shared: &Shared,
    cluster: &Cluster,
    rendered: &RenderedEnv,
    health: &HealthOptions,
    apps: &[String],
) {
    for app in rendered.waves.iter().flat_map(|w| &w.apps).filter(|a| apps.contains(&a.name)) {
        let observed = match crate::apply::observe::observe_app(cluster, app, health).await {
            Ok(o) if o.healthy => o,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(error = %e, app = %app.name, "could not read the app's conditions; its soak starts now");
                continue;
            }
        };
        let Some(since) = observed.healthy_since.map(|t| t.timestamp().max(0) as u64) else {
            continue;
        };
        let mut st = shared.status.lock().expect("status lock");
        if let Some(e) =
            st.apps.iter_mut().find(|a| a.name == app.name).and_then(|a| a.environments.get_mut(&rendered.env))
        {
            if e.healthy_since.is_some_and(|cur| since < cur) {
                e.healthy_since = Some(since);
            }
        }
    }
}

/// Renders an environment for the controller: every app that can be, each within the configured
/// time and size limits, on its own deep-stacked thread, off the async runtime. Each app that
/// cannot be rendered is logged, counted and shown on its status row; the others go on.
fn render(shared: &Shared, cfg: &ServeConfig, repo: &Repository, snapshot: &Snapshot, env: &str) -> RenderedEnv {
    let work = || plan::render_env_partial(repo, &snapshot.tree, env, cfg.render);
    // Off the async workers where the runtime allows it, so webhooks keep being answered.
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let (rendered, problems) = if multi_thread { tokio::task::block_in_place(work) } else { work() };
    for p in &problems {
        tracing::error!(env, app = %p.app, error = %p.message, "render failed; the app's objects are left as they are");
        shared.metrics.render_failures.get_or_create(&AppLabels { env: env.to_string(), app: p.app.clone() }).inc();
    }
    record_render_failures(shared, &rendered);
    rendered
}

/// Shows each app whose render failed as failed, with the reason; its soak clock stops.
fn record_render_failures(shared: &Shared, rendered: &RenderedEnv) {
    let mut st = shared.status.lock().expect("status lock");
    for p in rendered.waves.iter().flat_map(|w| &w.failed) {
        if let Some(e) = st.apps.iter_mut().find(|a| a.name == p.app).and_then(|a| a.environments.get_mut(&p.env)) {
            e.sync = "Failed".into();
            e.health = "Unknown".into();
            e.healthy_since = None;
            e.message = Some(format!("render failed: {}", p.message));
        }
    }
}

fn record_images(shared: &Shared, rendered: &RenderedEnv) {
    let mut st = shared.status.lock().expect("status lock");
    for app in rendered.waves.iter().flat_map(|w| &w.apps) {
        if let Some(e) =
            st.apps.iter_mut().find(|a| a.name == app.name).and_then(|a| a.environments.get_mut(&rendered.env))
        {
            e.images = app.images.clone();
            e.digest = Some(app.digest.clone());
        }
    }
}
