//! Health of live Kubernetes objects: the rules that decide when a sync wave may advance.
//!
//! Owns: turning one live object (as the Kubernetes API returns it, a [`serde_json::Value`]) into
//! a [`Health`]. Must not touch: the cluster, the clock, the network — [`assess`] is a pure function.
//!
//! The rules follow Flux's kstatus and Argo CD's built-in checks, and are observedGeneration-aware
//! first of all: Argo CD's stale health let waves advance before a controller had even seen the new
//! spec. Here a status that does not describe the current `metadata.generation` is never healthy.
//!
//! Order of evaluation, for every object:
//!
//! 1. `metadata.deletionTimestamp` set → [`HealthStatus::Progressing`] ("being deleted").
//! 2. `status.observedGeneration` present and ≠ `metadata.generation` → Progressing ("status is
//!    stale"). For Deployment, StatefulSet, DaemonSet, ReplicaSet and ReplicationController, whose
//!    controllers always write it, a missing `status.observedGeneration` is stale too.
//! 3. The kind's own rule:
//!
//! | kind | rule |
//! |---|---|
//! | Deployment | `spec.paused` → Suspended; `Progressing=False` reason `ProgressDeadlineExceeded` → Degraded; Healthy when updated = total = ready = available = `spec.replicas` (default 1; 0 = scaled to zero is healthy); old replicas left → Progressing |
//! | StatefulSet | ready = total = `spec.replicas`; OnDelete → Healthy then; partition P → `updatedReplicas ≥ spec.replicas − P`; else all updated and `currentRevision == updateRevision` |
//! | DaemonSet | OnDelete → Healthy once observed; else updated and available ≥ `desiredNumberScheduled` |
//! | ReplicaSet, ReplicationController | ready = available = total = `spec.replicas` |
//! | Job | `Failed=True`/`FailureTarget=True` → Degraded; `Complete=True` → Healthy; `spec.suspend` → Suspended; else Progressing |
//! | CronJob | `spec.suspend` → Suspended; else Healthy |
//! | Pod | Failed → Degraded; Succeeded → Healthy; a container waiting with `Err…`/`…Error`/`…BackOff` → Degraded; Running + Ready with restartPolicy Always → Healthy; else Progressing |
//! | PersistentVolumeClaim | Bound → Healthy; Lost → Degraded; else Progressing |
//! | Service | type LoadBalancer: needs `status.loadBalancer.ingress` (see [`HealthOptions`]); others Healthy |
//! | Ingress | needs `status.loadBalancer.ingress` (see [`HealthOptions`]) |
//! | HorizontalPodAutoscaler | `AbleToScale=False` reason `Failed…`, `ScalingActive=False` reason InvalidSelector/InvalidMetricSourceType → Degraded; other `ScalingActive=False` except ScalingDisabled → Progressing; no conditions → Progressing; else Healthy |
//! | CustomResourceDefinition | `NamesAccepted=False` → Degraded; `Established=True` → Healthy; else Progressing |
//! | APIService | `Available=True` → Healthy; `Available=False` → Degraded, but Progressing for ServiceNotFound/EndpointsNotFound/MissingEndpoints; none → Progressing |
//! | Namespace | phase Terminating → Progressing; else Healthy |
//! | anything else | kstatus: `Reconciling=True` → Progressing; `Stalled=True` → Degraded; `Ready=True` → Healthy, other `Ready` → Progressing; a condition whose own `observedGeneration` ≠ generation → Progressing; no such conditions → Healthy on existence |
//!
//! Kinds are matched on kind and API group, so a custom resource called `Deployment` in another
//! group is judged by the generic rule.
//!
//! [`HealthStatus::Suspended`] is, as in Argo CD, not healthy: a paused Deployment or a suspended
//! CronJob or Job reports it, and [`Health::is_healthy`] is false for it. Whether a suspended
//! object may let a wave advance is the wave runner's decision, not this module's.
//!
//! [`HealthStatus::Degraded`] means the object reports a failure that is not expected to go away
//! by waiting (a failed Job, a crash-looping Pod, a Deployment past its progress deadline, a
//! `Stalled` custom resource). States that commonly clear up on their own (metrics not yet
//! available to an autoscaler, an APIService whose backend has no endpoints yet, `Ready=False`)
//! are Progressing, so a wave waits on them until its timeout instead of failing at once.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// The health of one object, in Argo CD's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum HealthStatus {
    /// The object is what its spec asks for, and its status describes the current spec.
    Healthy,
    /// Not healthy yet, but it may become healthy by waiting: a rollout in progress, a stale
    /// status, an object being deleted, a load balancer not yet assigned.
    Progressing,
    /// The object reports a failure that waiting is not expected to fix.
    Degraded,
    /// Deliberately stopped: a paused Deployment, a suspended Job or CronJob. Not healthy.
    Suspended,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// The result of [`assess`]: a status and a message saying why, with the numbers involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// The status.
    pub status: HealthStatus,
    /// Why, for people: e.g. `2/3 replicas updated`, `status is stale: observedGeneration 3 is
    /// behind generation 4`, `ProgressDeadlineExceeded: …`.
    pub message: String,
}

impl Health {
    /// True only for [`HealthStatus::Healthy`]; Suspended, Progressing and Degraded are not.
    pub fn is_healthy(&self) -> bool {
        self.status == HealthStatus::Healthy
    }

    fn new(status: HealthStatus, message: impl Into<String>) -> Health {
        Health { status, message: message.into() }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.status)
        } else {
            write!(f, "{}: {}", self.status, self.message)
        }
    }
}

fn healthy(message: impl Into<String>) -> Health {
    Health::new(HealthStatus::Healthy, message)
}

fn progressing(message: impl Into<String>) -> Health {
    Health::new(HealthStatus::Progressing, message)
}

fn degraded(message: impl Into<String>) -> Health {
    Health::new(HealthStatus::Degraded, message)
}

fn suspended(message: impl Into<String>) -> Health {
    Health::new(HealthStatus::Suspended, message)
}

/// Options of [`assess`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthOptions {
    /// A Service of type LoadBalancer and an Ingress are healthy only once
    /// `status.loadBalancer.ingress` is non-empty. Turn off for clusters whose load balancer or
    /// ingress controller never writes it. Default: true.
    pub require_load_balancer: bool,
}

impl Default for HealthOptions {
    fn default() -> HealthOptions {
        HealthOptions { require_load_balancer: true }
    }
}

/// Assesses the health of one live object as returned by the Kubernetes API.
///
/// Pure: it reads only `obj`. Rules are documented on the module; anything it cannot recognise
/// is judged by its kstatus conditions, or is healthy on existence.
pub fn assess(obj: &Value, opts: &HealthOptions) -> Health {
    if at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null()) {
        return progressing("being deleted (metadata.deletionTimestamp is set)");
    }
    let (rule, requires_observed_generation) = rule_for(obj);
    stale_status(obj, requires_observed_generation).unwrap_or_else(|| rule(obj, opts))
}

type Rule = fn(&Value, &HealthOptions) -> Health;

/// The rule for `obj`'s kind, and whether its controller always writes `status.observedGeneration`.
/// Matched on kind and API group (a custom resource called `Deployment` in another group is not a
/// Deployment); without `apiVersion` the kind alone decides.
fn rule_for(obj: &Value) -> (Rule, bool) {
    let kind = str_at(obj, &["kind"]).unwrap_or_default();
    let group = str_at(obj, &["apiVersion"]).map(|v| v.rsplit_once('/').map_or("", |(group, _)| group));
    let is = |groups: &[&str]| group.is_none_or(|g| groups.contains(&g));
    match kind {
        "Deployment" if is(&["apps", "extensions"]) => (|o, _| deployment(o), true),
        "StatefulSet" if is(&["apps"]) => (|o, _| statefulset(o), true),
        "DaemonSet" if is(&["apps", "extensions"]) => (|o, _| daemonset(o), true),
        "ReplicaSet" if is(&["apps", "extensions"]) => (|o, _| replicaset(o), true),
        "ReplicationController" if is(&[""]) => (|o, _| replicaset(o), true),
        "Job" if is(&["batch"]) => (|o, _| job(o), false),
        "CronJob" if is(&["batch"]) => (|o, _| cronjob(o), false),
        "Pod" if is(&[""]) => (|o, _| pod(o), false),
        "PersistentVolumeClaim" if is(&[""]) => (|o, _| pvc(o), false),
        "Service" if is(&[""]) => (service, false),
        "Ingress" if is(&["networking.k8s.io", "extensions"]) => (|o, opts| load_balancer(o, opts, "Ingress"), false),
        "HorizontalPodAutoscaler" if is(&["autoscaling"]) => (|o, _| hpa(o), false),
        "CustomResourceDefinition" if is(&["apiextensions.k8s.io"]) => (|o, _| crd(o), false),
        "APIService" if is(&["apiregistration.k8s.io"]) => (|o, _| apiservice(o), false),
        "Namespace" if is(&[""]) => (|o, _| namespace(o), false),
        _ => (|o, _| generic(o), false),
    }
}

// ---- reading JSON -------------------------------------------------------------------------

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path).and_then(Value::as_i64)
}

/// A status count; the API server omits zero counts, so absent means 0.
fn count(v: &Value, path: &[&str]) -> i64 {
    int_at(v, path).unwrap_or(0)
}

fn flag(v: &Value, path: &[&str]) -> bool {
    at(v, path).and_then(Value::as_bool).unwrap_or(false)
}

/// `spec.replicas`, which the API server defaults to 1.
fn spec_replicas(obj: &Value) -> i64 {
    int_at(obj, &["spec", "replicas"]).unwrap_or(1)
}

/// One entry of a `conditions` list.
#[derive(Debug, Clone, Copy)]
struct Condition<'a> {
    type_: &'a str,
    status: &'a str,
    reason: &'a str,
    message: &'a str,
    observed_generation: Option<i64>,
}

impl<'a> Condition<'a> {
    fn from_value(v: &'a Value) -> Option<Condition<'a>> {
        Some(Condition {
            type_: v.get("type")?.as_str()?,
            status: v.get("status").and_then(Value::as_str).unwrap_or("Unknown"),
            reason: v.get("reason").and_then(Value::as_str).unwrap_or_default(),
            message: v.get("message").and_then(Value::as_str).unwrap_or_default(),
            observed_generation: v.get("observedGeneration").and_then(Value::as_i64),
        })
    }

    fn is(&self, type_: &str, status: &str) -> bool {
        self.type_ == type_ && self.status == status
    }

    /// `Type=Status: Reason: message`, leaving out what is empty.
    fn describe(&self) -> String {
        let mut out = format!("{}={}", self.type_, self.status);
        for part in [self.reason, self.message] {
            if !part.is_empty() {
                out.push_str(": ");
                out.push_str(part);
            }
        }
        out
    }

    /// `Reason: message`, leaving out what is empty; the condition's type and status if both are.
    fn reason_and_message(&self) -> String {
        match (self.reason.is_empty(), self.message.is_empty()) {
            (false, false) => format!("{}: {}", self.reason, self.message),
            (false, true) => self.reason.to_string(),
            (true, false) => self.message.to_string(),
            (true, true) => format!("{}={}", self.type_, self.status),
        }
    }
}

fn conditions_in(list: Option<&Value>) -> Vec<Condition<'_>> {
    list.and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Condition::from_value).collect())
        .unwrap_or_default()
}

fn conditions(obj: &Value) -> Vec<Condition<'_>> {
    conditions_in(at(obj, &["status", "conditions"]))
}

fn find<'a>(conds: &[Condition<'a>], type_: &str) -> Option<Condition<'a>> {
    conds.iter().find(|c| c.type_ == type_).copied()
}

// ---- the generation rule ------------------------------------------------------------------

fn generation_mismatch(observed: i64, generation: i64) -> String {
    if observed < generation {
        format!("observedGeneration {observed} is behind generation {generation}")
    } else {
        format!("observedGeneration {observed} does not match generation {generation}")
    }
}

/// Progressing when the status does not describe the current generation (kstatus: any
/// difference, not only "behind").
fn stale_status(obj: &Value, required: bool) -> Option<Health> {
    let generation = int_at(obj, &["metadata", "generation"]);
    let observed = int_at(obj, &["status", "observedGeneration"]);
    let why = match (observed, generation) {
        (Some(o), Some(g)) if o != g => generation_mismatch(o, g),
        (None, Some(g)) if required => format!("no observedGeneration yet, generation {g}"),
        (None, None) if required => "no status.observedGeneration yet".to_string(),
        _ => return None,
    };
    Some(progressing(format!("status is stale: {why}")))
}

/// Progressing when a condition carries its own `observedGeneration` that is not the current one.
fn stale_condition(obj: &Value, cond: &Condition<'_>) -> Option<Health> {
    let (Some(o), Some(g)) = (cond.observed_generation, int_at(obj, &["metadata", "generation"])) else {
        return None;
    };
    (o != g).then(|| progressing(format!("{} condition is stale: {}", cond.type_, generation_mismatch(o, g))))
}

// ---- kind rules ---------------------------------------------------------------------------

// Each kind's rule is in the table of the module documentation.

fn deployment(obj: &Value) -> Health {
    if flag(obj, &["spec", "paused"]) {
        return suspended("Deployment is paused (spec.paused)");
    }
    let conds = conditions(obj);
    if let Some(c) = find(&conds, "Progressing")
        && c.status == "False"
        && c.reason == "ProgressDeadlineExceeded"
    {
        return degraded(c.reason_and_message());
    }
    let want = spec_replicas(obj);
    let total = count(obj, &["status", "replicas"]);
    let updated = count(obj, &["status", "updatedReplicas"]);
    let ready = count(obj, &["status", "readyReplicas"]);
    let available = count(obj, &["status", "availableReplicas"]);
    let waiting = if updated < want {
        format!("{updated}/{want} replicas updated")
    } else if total > updated {
        format!("{} old replicas pending termination ({updated}/{total} updated)", total - updated)
    } else if available < want {
        format!("{available}/{want} replicas available")
    } else if ready < want {
        format!("{ready}/{want} replicas ready")
    } else if total != want || updated != want || ready != want || available != want {
        format!("scaling to {want} replicas: {total} total, {updated} updated, {ready} ready, {available} available")
    } else {
        return healthy(format!("{want}/{want} replicas updated, ready and available"));
    };
    match find(&conds, "ReplicaFailure").filter(|c| c.status == "True") {
        Some(c) => progressing(format!("{waiting}; {}", c.describe())),
        None => progressing(waiting),
    }
}

/// OnDelete cannot be judged by revisions: pods are replaced only when someone deletes them.
fn statefulset(obj: &Value) -> Health {
    let want = spec_replicas(obj);
    let total = count(obj, &["status", "replicas"]);
    let ready = count(obj, &["status", "readyReplicas"]);
    let updated = count(obj, &["status", "updatedReplicas"]);
    if ready < want {
        return progressing(format!("{ready}/{want} replicas ready"));
    }
    if total > want {
        return progressing(format!("{} replicas pending termination ({total}/{want})", total - want));
    }
    let strategy = str_at(obj, &["spec", "updateStrategy", "type"]).unwrap_or("RollingUpdate");
    if strategy == "OnDelete" {
        return healthy(format!("{ready}/{want} replicas ready (OnDelete: revisions are not checked)"));
    }
    let partition = count(obj, &["spec", "updateStrategy", "rollingUpdate", "partition"]);
    if partition > 0 {
        let need = (want - partition).max(0);
        return if updated < need {
            progressing(format!("partitioned rollout: {updated}/{need} replicas updated (partition {partition})"))
        } else {
            healthy(format!("partitioned rollout complete: {updated}/{need} replicas updated (partition {partition})"))
        };
    }
    if updated < want {
        return progressing(format!("{updated}/{want} replicas updated"));
    }
    let current = str_at(obj, &["status", "currentRevision"]);
    let update = str_at(obj, &["status", "updateRevision"]);
    if current != update {
        return progressing(format!(
            "rolling update: currentRevision {} is not updateRevision {}",
            current.unwrap_or("(none)"),
            update.unwrap_or("(none)")
        ));
    }
    healthy(format!("{ready}/{want} replicas ready and updated"))
}

fn daemonset(obj: &Value) -> Health {
    if str_at(obj, &["spec", "updateStrategy", "type"]) == Some("OnDelete") {
        return healthy("observed (OnDelete: rollout is not checked)");
    }
    let desired = count(obj, &["status", "desiredNumberScheduled"]);
    let updated = count(obj, &["status", "updatedNumberScheduled"]);
    let available = count(obj, &["status", "numberAvailable"]);
    if updated < desired {
        progressing(format!("{updated}/{desired} pods updated"))
    } else if available < desired {
        progressing(format!("{available}/{desired} pods available"))
    } else {
        healthy(format!("{available}/{desired} pods updated and available"))
    }
}

/// `ReplicaFailure` (e.g. quota exceeded) is reported in the message but stays Progressing (kstatus).
fn replicaset(obj: &Value) -> Health {
    let want = spec_replicas(obj);
    let total = count(obj, &["status", "replicas"]);
    let ready = count(obj, &["status", "readyReplicas"]);
    let available = count(obj, &["status", "availableReplicas"]);
    let waiting = if ready < want {
        format!("{ready}/{want} replicas ready")
    } else if available < want {
        format!("{available}/{want} replicas available")
    } else if total > want || ready > want || available > want {
        format!("{} replicas pending termination ({total}/{want})", total.max(ready).max(available) - want)
    } else {
        return healthy(format!("{want}/{want} replicas ready and available"));
    };
    match find(&conditions(obj), "ReplicaFailure").filter(|c| c.status == "True") {
        Some(c) => progressing(format!("{waiting}; {}", c.describe())),
        None => progressing(waiting),
    }
}

fn job(obj: &Value) -> Health {
    let conds = conditions(obj);
    if let Some(c) = conds.iter().find(|c| c.is("Failed", "True") || c.is("FailureTarget", "True")) {
        return degraded(format!("Job failed: {}", c.reason_and_message()));
    }
    if conds.iter().any(|c| c.is("Complete", "True")) {
        return healthy("Job complete");
    }
    if flag(obj, &["spec", "suspend"]) {
        return suspended("Job is suspended (spec.suspend)");
    }
    let active = count(obj, &["status", "active"]);
    let succeeded = count(obj, &["status", "succeeded"]);
    let failed = count(obj, &["status", "failed"]);
    let completions = match int_at(obj, &["spec", "completions"]) {
        Some(n) => format!("{succeeded}/{n} succeeded"),
        None => format!("{succeeded} succeeded"),
    };
    progressing(format!("Job running: {active} active, {completions}, {failed} failed"))
}

/// Its Jobs are judged on their own.
fn cronjob(obj: &Value) -> Health {
    if flag(obj, &["spec", "suspend"]) {
        suspended("CronJob is suspended (spec.suspend)")
    } else {
        healthy("CronJob is scheduled")
    }
}

/// Whether a container's waiting reason means it will not start without a change (Argo CD's
/// test: `Err…`, `…Error`, `…BackOff`, e.g. CrashLoopBackOff, ImagePullBackOff, ErrImagePull).
fn is_failing_wait(reason: &str) -> bool {
    reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")
}

/// A Running pod with restartPolicy Never/OnFailure is expected to finish (like Argo CD).
fn pod(obj: &Value) -> Health {
    let phase = str_at(obj, &["status", "phase"]).unwrap_or("Pending");
    match phase {
        "Failed" => {
            let reason = str_at(obj, &["status", "reason"]).unwrap_or("Failed");
            return match str_at(obj, &["status", "message"]) {
                Some(m) => degraded(format!("Pod failed: {reason}: {m}")),
                None => degraded(format!("Pod failed: {reason}")),
            };
        }
        "Succeeded" => return healthy("Pod succeeded"),
        _ => {}
    }
    for list in ["initContainerStatuses", "containerStatuses"] {
        let statuses = at(obj, &["status", list]).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for c in statuses {
            let reason = str_at(c, &["state", "waiting", "reason"]).unwrap_or_default();
            if is_failing_wait(reason) {
                let name = str_at(c, &["name"]).unwrap_or("?");
                return match str_at(c, &["state", "waiting", "message"]) {
                    Some(m) => degraded(format!("container {name}: {reason}: {m}")),
                    None => degraded(format!("container {name}: {reason}")),
                };
            }
        }
    }
    let conds = conditions(obj);
    let ready = conds.iter().any(|c| c.is("Ready", "True"));
    let restart = str_at(obj, &["spec", "restartPolicy"]).unwrap_or("Always");
    if phase == "Running" {
        return match (ready, restart) {
            (true, "Always") => healthy("Pod is running and ready"),
            (true, _) => progressing(format!("Pod is running (restartPolicy {restart}: waiting for it to succeed)")),
            (false, _) => progressing("Pod is running but not ready"),
        };
    }
    match find(&conds, "PodScheduled").filter(|c| c.status == "False") {
        Some(c) => progressing(format!("Pod is {phase}: {}", c.reason_and_message())),
        None => progressing(format!("Pod is {phase}")),
    }
}

fn pvc(obj: &Value) -> Health {
    match str_at(obj, &["status", "phase"]) {
        Some("Bound") => healthy("Bound"),
        Some("Lost") => degraded(format!(
            "PersistentVolumeClaim lost its volume {}",
            str_at(obj, &["spec", "volumeName"]).unwrap_or("(unknown)")
        )),
        Some(phase) => progressing(format!("PersistentVolumeClaim is {phase}")),
        None => progressing("PersistentVolumeClaim has no phase yet"),
    }
}

fn load_balancer(obj: &Value, opts: &HealthOptions, what: &str) -> Health {
    if !opts.require_load_balancer {
        return healthy(format!("{what} exists (load balancer address not required)"));
    }
    let entries = at(obj, &["status", "loadBalancer", "ingress"]).and_then(Value::as_array).map(Vec::as_slice);
    match entries.unwrap_or_default() {
        [] => progressing("waiting for a load balancer address (status.loadBalancer.ingress is empty)"),
        entries => {
            let addresses: Vec<&str> =
                entries.iter().filter_map(|e| str_at(e, &["hostname"]).or_else(|| str_at(e, &["ip"]))).collect();
            healthy(format!("{what}: load balancer address assigned: {}", addresses.join(", ")))
        }
    }
}

fn service(obj: &Value, opts: &HealthOptions) -> Health {
    if str_at(obj, &["spec", "type"]) == Some("LoadBalancer") {
        load_balancer(obj, opts, "LoadBalancer Service")
    } else {
        healthy("Service exists")
    }
}

/// Metrics not yet available is common right after a rollout, so only configuration errors and
/// a missing target are Degraded; ScalingDisabled means the target is scaled to zero (KEDA).
/// autoscaling/v1 carries its conditions in an annotation.
fn hpa(obj: &Value) -> Health {
    let mut conds = conditions(obj);
    let annotated: Option<Value> =
        str_at(obj, &["metadata", "annotations", "autoscaling.alpha.kubernetes.io/conditions"])
            .and_then(|text| serde_json::from_str(text).ok());
    if conds.is_empty() {
        conds = conditions_in(annotated.as_ref());
    }
    if conds.is_empty() {
        return progressing("waiting for the autoscaler's first status");
    }
    for c in &conds {
        if c.is("AbleToScale", "False") && c.reason.starts_with("Failed") {
            return degraded(c.describe());
        }
        if c.is("ScalingActive", "False") && matches!(c.reason, "InvalidSelector" | "InvalidMetricSourceType") {
            return degraded(c.describe());
        }
    }
    if let Some(c) = conds.iter().find(|c| c.is("ScalingActive", "False") && c.reason != "ScalingDisabled") {
        return progressing(c.describe());
    }
    let current = count(obj, &["status", "currentReplicas"]);
    let desired = count(obj, &["status", "desiredReplicas"]);
    healthy(format!("autoscaling: {current} current, {desired} desired replicas"))
}

fn crd(obj: &Value) -> Health {
    let conds = conditions(obj);
    if let Some(c) = conds.iter().find(|c| c.is("NamesAccepted", "False")) {
        return degraded(c.describe());
    }
    if conds.iter().any(|c| c.is("Established", "True")) {
        return healthy("Established");
    }
    progressing("waiting for the CustomResourceDefinition to be Established")
}

/// A backend Service without endpoints yet is normal when it is deployed in the same wave.
fn apiservice(obj: &Value) -> Health {
    let Some(c) = find(&conditions(obj), "Available") else {
        return progressing("waiting for the APIService's Available condition");
    };
    match (c.status, c.reason) {
        ("True", _) => healthy(c.reason_and_message()),
        ("False", "ServiceNotFound" | "EndpointsNotFound" | "MissingEndpoints") => progressing(c.describe()),
        ("False", _) => degraded(c.describe()),
        _ => progressing(c.describe()),
    }
}

fn namespace(obj: &Value) -> Health {
    if str_at(obj, &["status", "phase"]) == Some("Terminating") {
        progressing("Namespace is terminating")
    } else {
        healthy("Namespace exists")
    }
}

/// kstatus: Reconciling, then Stalled, then Ready decide; each checked for its own staleness.
fn generic(obj: &Value) -> Health {
    let conds = conditions(obj);
    let true_ = |type_| find(&conds, type_).filter(|c| c.status == "True");
    let decisive = true_("Reconciling")
        .map(|c| (c, HealthStatus::Progressing))
        .or_else(|| true_("Stalled").map(|c| (c, HealthStatus::Degraded)))
        .or_else(|| {
            let ready = find(&conds, "Ready")?;
            Some((ready, if ready.status == "True" { HealthStatus::Healthy } else { HealthStatus::Progressing }))
        });
    match decisive {
        Some((c, status)) => stale_condition(obj, &c).unwrap_or_else(|| Health::new(status, c.describe())),
        None => healthy("exists"),
    }
}

#[cfg(test)]
mod tests;
