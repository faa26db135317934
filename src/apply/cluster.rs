//! The Kubernetes adapter: a kube-rs client with cached API discovery, server-side apply,
//! get/list/delete, and a retry policy for transient errors.
//!
//! Requests go through kube's request builder and `Client::send`, so that the response's
//! `Retry-After` header and the server's `Status` body are both available: transient errors
//! (429, 5xx, timeouts, 409 conflicts) are retried with backoff, permanent ones (400, 403, 404,
//! 422) fail at once with the server's message.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PropagationPolicy};
use kube::core::Request;
use serde_json::Value;

/// The field manager tidegate applies with.
pub const FIELD_MANAGER: &str = "tidegate";

/// Why a cluster request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// The cluster could not be reached or configured.
    #[error("failed to reach the cluster: {0}")]
    Unreachable(String),
    /// The API server refused the request.
    #[error("{method} {path}: {code} {reason}: {message}")]
    Api {
        /// HTTP method.
        method: String,
        /// Request path (without query).
        path: String,
        /// HTTP status.
        code: u16,
        /// The Status reason (`Invalid`, `Forbidden`, …).
        reason: String,
        /// The server's message.
        message: String,
    },
    /// No resource of that kind is served.
    #[error("the cluster serves no {kind} in {api_version} (is its CustomResourceDefinition installed?)")]
    UnknownKind {
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
    },
    /// A transient error kept happening.
    #[error("gave up after {attempts} attempts: {last}")]
    Exhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The last error.
        last: Box<ClusterError>,
    },
}

impl ClusterError {
    /// The HTTP status, when the server answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClusterError::Api { code, .. } => Some(*code),
            ClusterError::Exhausted { last, .. } => last.code(),
            _ => None,
        }
    }

    /// True for 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }
}

/// A served resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// API group (empty for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name (URL segment).
    pub plural: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
}

impl ResourceType {
    /// `apiVersion` of objects of this type.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The collection path, in `namespace` for namespaced types (all namespaces when `None`).
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{base}/namespaces/{ns}/{}", self.plural),
            _ => format!("{base}/{}", self.plural),
        }
    }
}

/// Retry settings for transient errors.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in total (first try included).
    pub attempts: u32,
    /// First backoff.
    pub initial_backoff: Duration,
    /// Longest backoff (also caps `Retry-After`).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 6, initial_backoff: Duration::from_millis(200), max_backoff: Duration::from_secs(30) }
    }
}

/// Counts of requests made, for reports and benchmarks.
#[derive(Debug, Default)]
pub struct RequestCounters {
    /// Every request sent (retries included).
    pub total: AtomicU64,
    /// Requests that change state (POST/PUT/PATCH/DELETE without dry-run).
    pub writes: AtomicU64,
}

/// A connection to one cluster.
pub struct Cluster {
    client: kube::Client,
    discovery: Mutex<HashMap<(String, String), Vec<ResourceType>>>,
    retry: RetryPolicy,
    /// Request counters.
    pub counters: RequestCounters,
}

impl Cluster {
    /// Connects with the kubeconfig at `KUBECONFIG` (or `~/.kube/config`), optionally a named
    /// context, or the in-cluster service account when there is no kubeconfig.
    pub async fn connect(context: Option<&str>) -> Result<Cluster, ClusterError> {
        let options = kube::config::KubeConfigOptions { context: context.map(str::to_string), ..Default::default() };
        let config = match kube::Config::from_kubeconfig(&options).await {
            Ok(c) => c,
            Err(kubeconfig_err) if context.is_none() => kube::Config::incluster().map_err(|e| {
                ClusterError::Unreachable(format!("no usable kubeconfig ({kubeconfig_err}) and not in a cluster ({e})"))
            })?,
            Err(e) => return Err(ClusterError::Unreachable(format!("failed to load kubeconfig: {e}"))),
        };
        let client = kube::Client::try_from(config).map_err(|e| ClusterError::Unreachable(e.to_string()))?;
        Ok(Cluster::from_client(client))
    }

    /// Wraps an existing client.
    pub fn from_client(client: kube::Client) -> Cluster {
        Cluster {
            client,
            discovery: Mutex::new(HashMap::new()),
            retry: RetryPolicy::default(),
            counters: RequestCounters::default(),
        }
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Cluster {
        self.retry = retry;
        self
    }

    /// Forgets what discovery knows about a group version (after a CRD changed).
    pub fn invalidate(&self, group: &str, version: &str) {
        self.discovery.lock().expect("discovery lock").remove(&(group.to_string(), version.to_string()));
    }

    /// The resource type serving `kind` in `api_version`, from cache or discovery; refreshes
    /// once when the kind is not (yet) known.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<ResourceType, ClusterError> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        for refresh in [false, true] {
            if refresh {
                self.invalidate(&group, &version);
            }
            if let Some(found) = self.cached(&group, &version, kind) {
                return Ok(found);
            }
            let types = self.discover(&group, &version).await?;
            self.discovery.lock().expect("discovery lock").insert((group.clone(), version.clone()), types);
            if let Some(found) = self.cached(&group, &version, kind) {
                return Ok(found);
            }
        }
        Err(ClusterError::UnknownKind { api_version: api_version.to_string(), kind: kind.to_string() })
    }

    fn cached(&self, group: &str, version: &str, kind: &str) -> Option<ResourceType> {
        let cache = self.discovery.lock().expect("discovery lock");
        cache.get(&(group.to_string(), version.to_string()))?.iter().find(|t| t.kind == kind).cloned()
    }

    async fn discover(&self, group: &str, version: &str) -> Result<Vec<ResourceType>, ClusterError> {
        let path = if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") };
        let req = http::Request::get(&path).body(Vec::new()).map_err(|e| ClusterError::Unreachable(e.to_string()))?;
        let list = match self.call(req).await {
            Ok(v) => v,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut types = Vec::new();
        for r in list.get("resources").and_then(Value::as_array).into_iter().flatten() {
            let name = r.get("name").and_then(Value::as_str).unwrap_or("");
            if name.contains('/') || name.is_empty() {
                continue;
            }
            types.push(ResourceType {
                group: group.to_string(),
                version: version.to_string(),
                kind: r.get("kind").and_then(Value::as_str).unwrap_or("").to_string(),
                plural: name.to_string(),
                namespaced: r.get("namespaced").and_then(Value::as_bool).unwrap_or(false),
            });
        }
        Ok(types)
    }

    /// Server-side applies `obj` as tidegate (with `force` taking over fields other managers
    /// own); `dry_run` asks the server what would result without storing it.
    pub async fn apply(
        &self,
        rt: &ResourceType,
        obj: &Value,
        force: bool,
        dry_run: bool,
    ) -> Result<Value, ClusterError> {
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let mut pp = PatchParams::apply(FIELD_MANAGER);
        pp.force = force;
        pp.dry_run = dry_run;
        let req = Request::new(rt.collection_path(ns)).patch(name, &pp, &Patch::Apply(obj)).map_err(build_error)?;
        self.call(req).await
    }

    /// Reads one object; `None` when it does not exist.
    pub async fn get(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, ClusterError> {
        let req = Request::new(rt.collection_path(namespace)).get(name, &Default::default()).map_err(build_error)?;
        match self.call(req).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists objects of a type (all namespaces for namespaced types) matching a label selector.
    pub async fn list(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        label_selector: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let lp = ListParams::default().labels(label_selector);
        let req = Request::new(rt.collection_path(namespace)).list(&lp).map_err(build_error)?;
        let list = match self.call(req).await {
            Ok(v) => v,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut items = Vec::new();
        for mut item in list.get("items").and_then(Value::as_array).cloned().unwrap_or_default() {
            // Lists omit apiVersion and kind on items; managedFields are never needed here and
            // are often the largest part of an object.
            if let Value::Object(m) = &mut item {
                m.insert("apiVersion".into(), Value::String(rt.api_version()));
                m.insert("kind".into(), Value::String(rt.kind.clone()));
                if let Some(Value::Object(meta)) = m.get_mut("metadata") {
                    meta.remove("managedFields");
                }
            }
            items.push(item);
        }
        Ok(items)
    }

    /// Deletes an object with background propagation; a missing object is not an error.
    pub async fn delete(&self, rt: &ResourceType, namespace: Option<&str>, name: &str) -> Result<(), ClusterError> {
        let dp = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
        let req = Request::new(rt.collection_path(namespace)).delete(name, &dp).map_err(build_error)?;
        match self.call(req).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates an object once (no retry: a 409 means someone else created it first).
    pub async fn create_once(&self, rt: &ResourceType, obj: &Value) -> Result<Value, ClusterError> {
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        let body = serde_json::to_vec(obj).map_err(|e| ClusterError::Unreachable(e.to_string()))?;
        let req = Request::new(rt.collection_path(ns)).create(&Default::default(), body).map_err(build_error)?;
        self.count(true);
        self.send_once(req).await.0
    }

    /// Replaces an object once, guarded by the `metadata.resourceVersion` it carries (no retry:
    /// a 409 means it changed since it was read).
    pub async fn replace_once(&self, rt: &ResourceType, obj: &Value) -> Result<Value, ClusterError> {
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let body = serde_json::to_vec(obj).map_err(|e| ClusterError::Unreachable(e.to_string()))?;
        let req = Request::new(rt.collection_path(ns)).replace(name, &Default::default(), body).map_err(build_error)?;
        self.count(true);
        self.send_once(req).await.0
    }

    fn count(&self, write: bool) {
        self.counters.total.fetch_add(1, Ordering::Relaxed);
        if write {
            self.counters.writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends a request, retrying transient failures.
    pub async fn call(&self, req: http::Request<Vec<u8>>) -> Result<Value, ClusterError> {
        let is_write = req.method() != http::Method::GET && !req.uri().query().unwrap_or("").contains("dryRun=All");
        let mut backoff = self.retry.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.count(is_write);
            let (result, retry_after) = self.send_once(clone_request(&req)).await;
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !is_transient(&err) {
                return Err(err);
            }
            if attempt >= self.retry.attempts {
                return Err(ClusterError::Exhausted { attempts: attempt, last: Box::new(err) });
            }
            let wait = retry_after.unwrap_or(backoff).min(self.retry.max_backoff);
            tracing::warn!(%err, attempt, wait_ms = wait.as_millis() as u64, "transient cluster error; retrying");
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.retry.max_backoff);
        }
    }

    async fn send_once(&self, req: http::Request<Vec<u8>>) -> (Result<Value, ClusterError>, Option<Duration>) {
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let response = match self.client.send(req.map(kube::client::Body::from)).await {
            Ok(r) => r,
            Err(e) => return (Err(ClusterError::Unreachable(e.to_string())), None),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match response.into_body().collect_bytes().await {
            Ok(b) => b,
            Err(e) => return (Err(ClusterError::Unreachable(e.to_string())), retry_after),
        };
        let parsed = crate::yaml::limits::parse_json(&body);
        if status.is_success() {
            // An answer that cannot be read is an error, never "nothing there": an object taken
            // for missing would be re-created, or dropped from the inventory.
            return match parsed {
                Ok(value) => (Ok(value), None),
                Err(e) if body.iter().all(u8::is_ascii_whitespace) => {
                    tracing::debug!(error = %e, %method, %path, "empty answer");
                    (Ok(Value::Null), None)
                }
                Err(e) => (
                    Err(ClusterError::Api {
                        method,
                        path,
                        code: status.as_u16(),
                        reason: "UnreadableResponse".into(),
                        message: format!("failed to read the API server's answer: {e}"),
                    }),
                    None,
                ),
            };
        }
        let value = parsed.unwrap_or(Value::Null);
        let text = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let message = if value.is_null() { String::from_utf8_lossy(&body).trim().to_string() } else { text("message") };
        let reason = if text("reason").is_empty() {
            status.canonical_reason().unwrap_or("").to_string()
        } else {
            text("reason")
        };
        (Err(ClusterError::Api { method, path, code: status.as_u16(), reason, message }), retry_after)
    }
}

fn clone_request(req: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let mut builder = http::Request::builder().method(req.method().clone()).uri(req.uri().clone());
    for (k, v) in req.headers() {
        builder = builder.header(k, v);
    }
    builder.body(req.body().clone()).expect("a request that was valid once is valid again")
}

fn build_error(e: kube::core::request::Error) -> ClusterError {
    ClusterError::Unreachable(format!("failed to build request: {e}"))
}

/// Transient: worth retrying.
pub fn is_transient(e: &ClusterError) -> bool {
    match e {
        ClusterError::Unreachable(_) => true,
        ClusterError::Api { code, reason, message, .. } => {
            // An apply conflict between field managers does not go away by retrying.
            let apply_conflict = *code == 409 && message.starts_with("Apply failed");
            matches!(code, 429 | 500 | 502 | 503 | 504) || (*code == 409 && !apply_conflict) || reason == "Timeout"
        }
        _ => false,
    }
}
