//! What `serve` knows and shows: the status kept in memory (served as JSON and as a page) and
//! the metrics.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The repository source's state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStatus {
    /// The URL, credentials redacted.
    pub url: String,
    /// Tracked branch.
    pub branch: String,
    /// Commit being served.
    pub commit: Option<String>,
    /// When the last refresh finished (Unix seconds).
    pub refreshed_at: Option<u64>,
    /// Why the last refresh failed, if it did (the last good commit is still served).
    pub error: Option<String>,
}

/// One app in one environment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AppEnvStatus {
    /// Images, `name:tag`.
    pub images: Vec<String>,
    /// `Synced`, `Failed`, `Pending` (not yet synced), `Unknown`.
    pub sync: String,
    /// `Healthy`, `Progressing`, `Degraded`, `Unknown`.
    pub health: String,
    /// Why not synced or healthy.
    pub message: Option<String>,
    /// Last successful sync (Unix seconds).
    pub last_synced_at: Option<u64>,
    /// Digest of what was synced.
    pub digest: Option<String>,
    /// Since when it has been continuously healthy at `images`, as seen by this instance's
    /// reconciles (Unix seconds); `None` while not healthy. The soak gate reads it.
    pub healthy_since: Option<u64>,
    /// The images `healthy_since` refers to.
    #[serde(skip)]
    pub healthy_images: Vec<String>,
}

/// One app across environments.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AppStatus {
    /// Name.
    pub name: String,
    /// Wave.
    pub wave: String,
    /// Per environment.
    pub environments: BTreeMap<String, AppEnvStatus>,
}

/// One environment's last reconcile.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnvStatus {
    /// Reconciled by this instance.
    pub managed: bool,
    /// `Synced`, `Failed`, `Syncing`, `Pending`.
    pub state: String,
    /// Commit of the last reconcile.
    pub revision: Option<String>,
    /// When it finished (Unix seconds).
    pub finished_at: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether the cluster answered.
    pub cluster_reachable: Option<bool>,
}

/// One gate's latest result, as shown on the status page and in `/api/v1/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GateStatus {
    /// The gate (`source-healthy`, `soak`, `prometheus/error-rate`, `window`, `approval`).
    pub gate: String,
    /// `passed`, `failed` or `waiting`.
    pub outcome: String,
    /// What was measured.
    pub evidence: String,
}

/// A promotion of one app to one environment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PromotionStatus {
    /// The app.
    pub app: String,
    /// Source environment.
    pub from: String,
    /// Target environment.
    pub to: String,
    /// The tag(s) moving, `image:tag`, comma-separated.
    pub tag: String,
    /// `Waiting` (a gate waits), `Blocked` (a gate failed), `Open` (pull request open),
    /// `Failed` (tidegate could not do it), `Done` (the target runs the tag).
    pub state: String,
    /// Why, in a sentence.
    pub reason: String,
    /// The pull request, once open.
    pub pr_url: Option<String>,
    /// Who asked (`/promote`), if a person did.
    pub requested_by: Option<String>,
    /// The gates' latest results.
    pub gates: Vec<GateStatus>,
    /// When the gates are evaluated again (Unix seconds).
    pub retry_at: Option<u64>,
    /// Last change (Unix seconds).
    pub updated_at: u64,
}

/// The whole status document (`GET /api/v1/status`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// tidegate's version.
    pub version: String,
    /// Start time (Unix seconds).
    pub started_at: u64,
    /// The repository.
    pub source: SourceStatus,
    /// Environments in promotion order.
    pub environments: BTreeMap<String, EnvStatus>,
    /// Environment names in promotion order.
    pub environment_order: Vec<String>,
    /// Apps in wave order.
    pub apps: Vec<AppStatus>,
    /// Promotions the bot is working on or waiting for, one per (app, target environment).
    pub promotions: Vec<PromotionStatus>,
    /// Webhook deliveries received.
    pub webhook_deliveries: u64,
    /// This instance leads (applies); followers only report.
    pub leader: bool,
    /// This instance's identity in leader election.
    pub identity: String,
    /// Why the last leader election attempt failed, if it did.
    pub election_error: Option<String>,
}

/// Labels of webhook delivery counts. Both come from fixed sets, never from a request: a
/// request cannot add a series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// A GitHub event name ([`crate::webhook::untrusted::GITHUB_EVENTS`]), `other`, or
    /// `unverified` for a delivery refused before its signature was verified.
    pub event: &'static str,
    /// One of [`DeliveryOutcome`].
    pub outcome: &'static str,
}

/// What became of a webhook delivery (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Acted on or queued.
    Accepted,
    /// A delivery id already processed.
    Duplicate,
    /// Acknowledged, nothing to do.
    Ignored,
    /// Missing or wrong signature.
    Unauthorized,
    /// Unreadable request or payload.
    Malformed,
    /// Body above the maximum.
    TooLarge,
    /// Body not received within `http.bodyReadTimeout`.
    Timeout,
    /// A queue was full.
    Overloaded,
}

impl DeliveryOutcome {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            DeliveryOutcome::Accepted => "accepted",
            DeliveryOutcome::Duplicate => "duplicate",
            DeliveryOutcome::Ignored => "ignored",
            DeliveryOutcome::Unauthorized => "unauthorized",
            DeliveryOutcome::Malformed => "malformed",
            DeliveryOutcome::TooLarge => "too_large",
            DeliveryOutcome::Timeout => "timeout",
            DeliveryOutcome::Overloaded => "overloaded",
        }
    }
}

/// Labels of connections closed by the server's limits.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    /// `header_timeout`, `idle_timeout`, `write_timeout` or `over_capacity`.
    pub reason: &'static str,
}

/// Labels of open connections.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// `general` (every endpoint) or `probe` (the reserve for health probes and metrics).
    pub pool: &'static str,
}

/// Labels per environment.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvLabels {
    /// The environment.
    pub env: String,
}

/// Labels per app and environment.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabels {
    /// The environment.
    pub env: String,
    /// The app.
    pub app: String,
}

/// Labels per environment and wave.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WaveLabels {
    /// The environment.
    pub env: String,
    /// The wave.
    pub wave: String,
}

/// Labels of promotion counts.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PromotionLabels {
    /// The app.
    pub app: String,
    /// The target environment.
    pub target: String,
    /// `opened`, `updated`, `unchanged`, `waiting`, `blocked`, `refused`, `failed`, `obsolete`.
    pub outcome: String,
}

/// Labels of fetch counts.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FetchLabels {
    /// `fetched`, `unchanged`, `failed`.
    pub outcome: String,
}

/// Every metric `serve` exports (prefix `tidegate_`).
pub struct Metrics {
    /// The registry.
    pub registry: Registry,
    /// Webhook deliveries by event and outcome.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Reconcile durations by environment.
    pub reconcile_seconds: Family<EnvLabels, Histogram>,
    /// Kubernetes API requests by environment.
    pub apply_requests: Family<EnvLabels, Counter>,
    /// Repository fetches by outcome.
    pub fetches: Family<FetchLabels, Counter>,
    /// Last successful sync per app and environment.
    pub last_sync: Family<AppLabels, Gauge>,
    /// Renders of an app that failed (bad file, over its time or size limit), per environment.
    pub render_failures: Family<AppLabels, Counter>,
    /// Wave durations by environment and wave.
    pub wave_seconds: Family<WaveLabels, Histogram>,
    /// Promotion attempts by app, target and outcome.
    pub promotions: Family<PromotionLabels, Counter>,
    /// GitHub API requests made by the promotion bot.
    pub github_requests: Counter,
    /// Open HTTP connections by pool.
    pub connections_open: Family<PoolLabels, Gauge>,
    /// HTTP connections closed by a timeout or refused over the connection limits.
    pub connections_closed: Family<ConnectionLabels, Counter>,
}

impl Metrics {
    /// Creates and registers the metrics.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tidegate");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register("webhook_deliveries", "GitHub webhook deliveries by event and outcome", deliveries.clone());
        let reconcile_seconds = Family::<EnvLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0])
        });
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one environment reconcile",
            reconcile_seconds.clone(),
        );
        let apply_requests = Family::<EnvLabels, Counter>::default();
        registry.register("apply_requests", "Kubernetes API requests made while reconciling", apply_requests.clone());
        let fetches = Family::<FetchLabels, Counter>::default();
        registry.register("fetches", "Repository refreshes by outcome", fetches.clone());
        let last_sync = Family::<AppLabels, Gauge>::default();
        registry.register(
            "last_successful_sync_timestamp_seconds",
            "Unix time of the last successful sync of an app",
            last_sync.clone(),
        );
        let render_failures = Family::<AppLabels, Counter>::default();
        registry.register(
            "render_failures",
            "Renders of an app that failed (invalid file, over its time or size limit)",
            render_failures.clone(),
        );
        let wave_seconds = Family::<WaveLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0])
        });
        registry.register(
            "wave_duration_seconds",
            "Duration of one wave of a reconcile (apply and health wait)",
            wave_seconds.clone(),
        );
        let promotions = Family::<PromotionLabels, Counter>::default();
        registry.register(
            "promotions",
            "Promotion attempts by app, target environment and outcome",
            promotions.clone(),
        );
        let github_requests = Counter::default();
        registry.register("github_requests", "GitHub API requests made by the promotion bot", github_requests.clone());
        let connections_open = Family::<PoolLabels, Gauge>::default();
        registry.register("http_connections", "Open HTTP connections by pool", connections_open.clone());
        let connections_closed = Family::<ConnectionLabels, Counter>::default();
        registry.register(
            "http_connections_closed",
            "HTTP connections closed by a timeout or refused over the connection limits",
            connections_closed.clone(),
        );
        Metrics {
            connections_open,
            connections_closed,
            registry,
            deliveries,
            reconcile_seconds,
            apply_requests,
            fetches,
            last_sync,
            render_failures,
            wave_seconds,
            promotions,
            github_requests,
        }
    }

    /// Counts a delivery whose signature was verified; an event GitHub does not have counts as
    /// `other`.
    pub fn delivery(&self, event: &str, outcome: DeliveryOutcome) {
        let event = crate::webhook::untrusted::event_label(event);
        self.deliveries.get_or_create(&DeliveryLabels { event, outcome: outcome.label() }).inc();
    }

    /// Counts a delivery refused before its signature was verified: nothing of it is a label.
    pub fn unverified_delivery(&self, outcome: DeliveryOutcome) {
        let event = crate::webhook::untrusted::UNVERIFIED;
        self.deliveries.get_or_create(&DeliveryLabels { event, outcome: outcome.label() }).inc();
    }

    /// Counts a promotion attempt.
    pub fn promotion(&self, app: &str, target: &str, outcome: &str) {
        self.promotions
            .get_or_create(&PromotionLabels {
                app: app.to_string(),
                target: target.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Shared state of a running server.
pub struct Shared {
    /// The status document.
    pub status: Mutex<Status>,
    /// Metrics.
    pub metrics: Metrics,
}
