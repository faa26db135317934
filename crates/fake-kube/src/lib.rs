//! A fake Kubernetes API server for tidegate's tests and benchmarks.
//!
//! It serves plain HTTP on loopback and behaves like a kube-apiserver for what a GitOps applier
//! built on kube-rs uses: legacy discovery, CRDs that become servable once Established, REST on
//! both scopes (get/list/watch/create/replace/patch/delete, `status` subresources), server-side
//! apply with per-manager field ownership and conflicts, `dryRun=All`, label and field
//! selectors, namespaces that must exist, `resourceVersion`/`generation` bookkeeping, a
//! controller simulation that makes workloads healthy (or keeps them failing), and fault
//! injection. Every request is recorded for assertions.
//!
//! What is faithful: Status errors (reasons, codes, messages, details), legacy discovery from
//! k8s-openapi's resource metadata, CRD establishment, resourceVersion/generation bookkeeping,
//! SSA field ownership at leaf granularity with merge keys, conflicts, `force`, removal of fields
//! an applier stopped applying, no-op applies that write nothing, `dryRun=All`, watch semantics
//! (initial ADDED, resume from a resourceVersion, `410 Expired`, selector-filtered
//! ADDED/DELETED transitions, `timeoutSeconds`), namespaces that must exist, finalizers,
//! ownerReference garbage collection, Secret `stringData`.
//!
//! What is approximated: validation and defaulting cover common fields only (no OpenAPI
//! schemas, no pruning of unknown fields, no quantity normalisation); merge keys are the
//! well-known ones (containers, ports, env, volumes, volumeMounts, imagePullSecrets); strategic
//! merge patch is a merge patch that merges those lists; `fieldsV1` follows the real encoding
//! but all maps are granular except LabelSelectors and a Service's selector; namespace deletion
//! is immediate; `limit`/`continue` are ignored (lists are complete); the controllers fake
//! their status from the spec (no Pods or ReplicaSets are created).
//!
//! ```no_run
//! let kube = fake_kube::FakeKube::start();
//! let dir = std::env::temp_dir().join("kubeconfig-example");
//! kube.write_kubeconfig(&dir);
//! // … run the code under test with KUBECONFIG=dir …
//! assert!(kube.requests().iter().all(|r| !r.is_write()));
//! ```

mod apply;
mod controller;
mod discovery;
mod errors;
mod fields;
mod http;
mod ops;
mod patch;
mod registry;
mod selectors;
mod store;
mod util;
mod validate;
mod watch;
mod write;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::store::State;

/// Settings of a fake server.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long after a workload's latest spec change the simulated controllers report it
    /// healthy (default 100 ms).
    pub ready_delay: Duration,
    /// How long after a CRD is written it becomes Established and servable (default 50 ms).
    pub crd_establish_delay: Duration,
    /// Number of nodes, the DaemonSet desired count (default 2).
    pub nodes: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { ready_delay: Duration::from_millis(100), crd_establish_delay: Duration::from_millis(50), nodes: 2 }
    }
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Arrival order, from 1 (not reset by [`FakeKube::clear_requests`]).
    pub seq: u64,
    /// HTTP method, upper case.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Decoded query parameters.
    pub query: BTreeMap<String, String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body, parsed from JSON or YAML (a string when it was neither).
    pub body: Option<Value>,
    /// The response status (0 while the request is still being served).
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
    /// `dryRun=All` was set.
    pub dry_run: bool,
    /// The `fieldManager` query parameter.
    pub field_manager: Option<String>,
}

/// The parts of an API path: `/apis/{group}/{version}/namespaces/{namespace}/{resource}/{name}/{subresource}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    /// API group (empty for the core group).
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace in the path, if any.
    pub namespace: Option<String>,
    /// Plural resource name (`deployments`).
    pub resource: String,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource (`status`), if any.
    pub subresource: Option<String>,
}

impl Request {
    /// A state-changing request: POST, PUT, PATCH or DELETE without `dryRun`.
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") && !self.dry_run
    }

    /// A watch request (`watch=true` or `watch=1`).
    pub fn is_watch(&self) -> bool {
        self.method == "GET" && matches!(self.query.get("watch").map(String::as_str), Some("true" | "1"))
    }

    /// A server-side apply (`PATCH` with `application/apply-patch+yaml`).
    pub fn is_apply(&self) -> bool {
        self.method == "PATCH" && self.content_type.as_deref().is_some_and(|c| c.starts_with("application/apply-patch"))
    }

    /// The resource this request addresses, if its path is a resource path (not discovery).
    pub fn target(&self) -> Option<Target> {
        http::parse_target(&self.path)
    }

    /// `resource` or `resource/subresource` of the path (`deployments`, `deployments/status`).
    pub fn kind_path(&self) -> Option<String> {
        let t = self.target()?;
        Some(match t.subresource {
            Some(s) => format!("{}/{s}", t.resource),
            None => t.resource,
        })
    }

    /// The object name of the path, if any.
    pub fn name(&self) -> Option<String> {
        self.target()?.name
    }

    /// The name of the object the body describes (`metadata.name`), if any.
    pub fn body_name(&self) -> Option<&str> {
        self.body.as_ref()?.pointer("/metadata/name")?.as_str()
    }
}

/// A fault to inject: the next `times` matching requests fail with `status`, or are delayed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fault {
    /// Only requests with this method (case-insensitive); any when `None`.
    pub method: Option<String>,
    /// Only requests whose path (with `?query`) contains this; any when `None`.
    pub path_contains: Option<String>,
    /// The status to answer with (429, 500, 409, 403, …); 0 serves the request normally after
    /// `delay`.
    pub status: u16,
    /// For 429 (or any status): a `Retry-After` header with these seconds.
    pub retry_after: Option<u64>,
    /// Wait this long before answering.
    pub delay: Option<Duration>,
    /// How many matching requests it affects.
    pub times: usize,
}

impl Fault {
    /// `times` requests matching `method` and `path_contains` get `status`.
    pub fn status(method: Option<&str>, path_contains: Option<&str>, status: u16, times: usize) -> Fault {
        Fault {
            method: method.map(str::to_string),
            path_contains: path_contains.map(str::to_string),
            status,
            times,
            ..Fault::default()
        }
    }
}

/// State shared by the server, the controller simulation and the test-facing handle.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// Wakes the controller when something was scheduled.
    pub wake: tokio::sync::Notify,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running fake API server; dropping it shuts the server down.
pub struct FakeKube {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeKube {
    /// Starts a server on a free loopback port with [`Options::default`].
    pub fn start() -> FakeKube {
        FakeKube::start_with(Options::default())
    }

    /// Starts a server on a free loopback port.
    pub fn start_with(opts: Options) -> FakeKube {
        let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
        FakeKube::start_at(addr, opts).expect("failed to start the fake API server on loopback")
    }

    /// Starts a server listening on `addr` (port 0 picks a free one).
    pub fn start_at(addr: SocketAddr, opts: Options) -> std::io::Result<FakeKube> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { state: Mutex::new(State::new(opts)), wake: tokio::sync::Notify::new() });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-kube")
            // Objects may nest 10,000 levels, as the API server allows; walking them recurses.
            .thread_stack_size(256 << 20)
            .enable_all()
            .build()?;
        let server_shared = shared.clone();
        let thread = std::thread::Builder::new().name("fake-kube-server".into()).spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                tokio::spawn(controller::run(server_shared.clone()));
                http::serve(listener, server_shared, rx).await;
            });
            runtime.shutdown_timeout(Duration::from_millis(200));
        })?;
        Ok(FakeKube { shared, addr, shutdown: Some(tx), thread: Some(thread) })
    }

    /// The server's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Writes a kubeconfig whose cluster, context and user are all named `fake`, pointing at
    /// this server with the bearer token `fake-token`, as the current context.
    pub fn write_kubeconfig(&self, path: &Path) {
        let config = kubeconfig(&self.url());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create kubeconfig directory");
        }
        std::fs::write(path, config).expect("write kubeconfig");
    }

    /// Every request since start or the last [`FakeKube::clear_requests`], in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// The stored object, as a GET of that version would return it.
    pub fn object(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        self.shared.lock().lookup(api_version, kind, namespace, name)
    }

    /// Every stored object.
    pub fn objects(&self) -> Vec<Value> {
        self.shared.lock().objects.values().map(|e| e.obj.clone()).collect()
    }

    /// Stores an object directly, without validation and without requiring its namespace:
    /// adds `uid`, `creationTimestamp`, `resourceVersion` and `generation` when missing, and
    /// takes `managedFields` from the object if it has them. Watches and the controller
    /// simulation see it like any write.
    pub fn put_object(&self, obj: Value) {
        self.shared.lock().seed(obj);
        self.shared.wake.notify_one();
    }

    /// Changes an object like `kubectl edit` by field manager `manager` (operation Update):
    /// the fields the edit changes become owned by `manager` and no one else, the
    /// resourceVersion is bumped, and the generation too when the spec changed. Unlike
    /// `kubectl edit`, status edits are kept, so a test can fake a controller's report.
    ///
    /// Panics when the object does not exist.
    pub fn edit_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        manager: &str,
        edit: impl FnOnce(&mut Value),
    ) {
        let mut obj = self
            .object(api_version, kind, namespace, name)
            .unwrap_or_else(|| panic!("edit_object: no {kind} {namespace:?}/{name} ({api_version})"));
        edit(&mut obj);
        let result = self.shared.lock().edit(api_version, kind, namespace, name, manager, obj);
        if let Err(e) = result {
            panic!("edit_object: the server refused the edit: {}", e.message);
        }
        self.shared.wake.notify_one();
    }

    /// Deletes an object directly (no finalizers honoured); true when it existed.
    pub fn delete_object(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        self.shared.lock().delete_direct(api_version, kind, namespace, name)
    }

    /// Adds a fault; faults are matched in the order they were injected.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Removes every fault not yet used up.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Makes the controller simulation keep this workload failing (Deployment:
    /// `Progressing=False` with reason `ProgressDeadlineExceeded`; StatefulSet and DaemonSet:
    /// never ready; Job: `Failed=True`; PVC: `Pending`; LoadBalancer Service and Ingress: no
    /// address). The object need not exist yet.
    pub fn hold_unhealthy(&self, kind: &str, namespace: &str, name: &str) {
        self.shared.lock().set_held(kind, namespace, name, true);
        self.shared.wake.notify_one();
    }

    /// Lets a held workload become healthy again.
    pub fn release(&self, kind: &str, namespace: &str, name: &str) {
        self.shared.lock().set_held(kind, namespace, name, false);
        self.shared.wake.notify_one();
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().rv
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A kubeconfig for a server at `url`.
fn kubeconfig(url: &str) -> String {
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        "current-context": "fake",
        "users": [{"name": "fake", "user": {"token": "fake-token"}}],
        "preferences": {},
    });
    serde_yaml::to_string(&config).expect("kubeconfig serializes")
}
