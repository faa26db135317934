//! The controller simulation: CRDs become Established; workloads (and autoscalers, disruption
//! budgets, KEDA ScaledObjects) report progress, then health, `ready_delay` after their latest
//! spec change (or keep failing while held). Its writes are
//! internal: they bump resourceVersions and reach watches, but are not recorded as requests.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Shared;
use crate::apply::update_managers;
use crate::fields::{Scope, render_managed};
use crate::store::{Entry, ObjKey, State};
use crate::util::{json_eq, meta_mut, now_rfc3339, str_at};

const MANAGER: &str = "kube-controller-manager";

/// Runs until the runtime shuts down.
pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        let next = shared.lock().pending.values().min().copied();
        let sleep = tokio::time::sleep_until(next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)).into());
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = sleep => {}
        }
        shared.lock().reconcile_due(Instant::now());
    }
}

/// Kinds that roll out in two steps (progressing, then ready).
fn rolls_out(key: &ObjKey) -> bool {
    matches!((key.group.as_str(), key.kind.as_str()), ("apps", _) | ("batch", "Job"))
}

/// When the controller first looks at a changed object of this kind, if it looks at all.
pub(crate) fn first_look(key: &ObjKey, ready_delay: Duration) -> Option<Duration> {
    match (key.group.as_str(), key.kind.as_str()) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => Some(ready_delay / 2),
        ("", "PersistentVolumeClaim" | "Service" | "Pod") | ("networking.k8s.io", "Ingress") => Some(ready_delay),
        ("apiregistration.k8s.io", "APIService")
        | ("autoscaling", "HorizontalPodAutoscaler")
        | ("policy", "PodDisruptionBudget")
        | ("keda.sh", "ScaledObject") => Some(ready_delay),
        _ => None,
    }
}

fn short_hash(v: &Value) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    let mut n = h.finish();
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|_| {
            let c = ALPHABET[(n % 27) as usize] as char;
            n /= 27;
            c
        })
        .collect()
}

/// Copies condition timestamps from the current conditions when type and status are unchanged,
/// so that an unchanged report compares equal.
fn carry_timestamps(new: &mut Value, old: &Value) {
    let now = now_rfc3339();
    let old_conds = old.get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    for c in new.get_mut("conditions").and_then(Value::as_array_mut).into_iter().flatten() {
        let prev = old_conds.iter().find(|o| o["type"] == c["type"] && o["status"] == c["status"]);
        for field in ["lastTransitionTime", "lastUpdateTime", "lastProbeTime"] {
            if c.get(field).is_none() {
                continue;
            }
            let keep = prev.and_then(|p| p.get(field)).filter(|_| {
                field == "lastTransitionTime"
                    || prev.is_some_and(|p| p["reason"] == c["reason"] && p["message"] == c["message"])
            });
            c[field] = keep.cloned().unwrap_or_else(|| json!(now));
        }
    }
    for t in ["startTime", "completionTime"] {
        if let (Some(_), Some(o)) = (new.get(t), old.get(t)) {
            new[t] = o.clone();
        }
    }
}

fn cond(t: &str, status: bool, reason: &str, message: &str, update_time: bool) -> Value {
    let mut c = json!({"type": t, "status": if status { "True" } else { "False" }, "reason": reason, "message": message, "lastTransitionTime": ""});
    if update_time {
        c["lastUpdateTime"] = json!("");
    }
    c
}

/// Drops zero counts, like the API's `omitempty` integers.
fn nonzero(mut v: Value, keys: &[&str]) -> Value {
    if let Some(m) = v.as_object_mut() {
        for k in keys {
            if m.get(*k).and_then(Value::as_i64) == Some(0) {
                m.remove(*k);
            }
        }
    }
    v
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Progressing,
    Ready,
    Held,
}

fn deployment(obj: &Value, old: &Value, phase: Phase) -> Value {
    let generation = obj.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    let n = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let rs = format!("{}-{}", str_at(obj, "/metadata/name"), short_hash(&obj["spec"]["template"]));
    let counts = ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"];
    let old_ready = old.get("readyReplicas").and_then(Value::as_i64).unwrap_or(0).min(n);
    let old_available = old.get("availableReplicas").and_then(Value::as_i64).unwrap_or(0).min(n);
    let s = match phase {
        Phase::Ready => json!({
            "observedGeneration": generation, "replicas": n, "updatedReplicas": n, "readyReplicas": n, "availableReplicas": n,
            "conditions": [
                cond("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.", true),
                cond("Progressing", true, "NewReplicaSetAvailable", &format!("ReplicaSet \"{rs}\" has successfully progressed."), true),
            ],
        }),
        Phase::Progressing => json!({
            "observedGeneration": generation, "replicas": n, "updatedReplicas": n, "readyReplicas": old_ready,
            "availableReplicas": old_available, "unavailableReplicas": n - old_available,
            "conditions": [
                if old_available >= n && n > 0 {
                    cond("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.", true)
                } else {
                    cond("Available", false, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", true)
                },
                cond("Progressing", true, "ReplicaSetUpdated", &format!("ReplicaSet \"{rs}\" is progressing."), true),
            ],
        }),
        Phase::Held => json!({
            "observedGeneration": generation, "replicas": n, "updatedReplicas": n, "unavailableReplicas": n,
            "conditions": [
                cond("Available", false, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", true),
                cond("Progressing", false, "ProgressDeadlineExceeded", &format!("ReplicaSet \"{rs}\" has timed out progressing."), true),
            ],
        }),
    };
    nonzero(s, &counts)
}

fn statefulset(obj: &Value, old: &Value, phase: Phase) -> Value {
    let generation = obj.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    let n = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let rev = format!("{}-{}", str_at(obj, "/metadata/name"), short_hash(&obj["spec"]["template"]));
    let current = old.get("currentRevision").and_then(Value::as_str).unwrap_or(&rev).to_string();
    let old_ready = old.get("readyReplicas").and_then(Value::as_i64).unwrap_or(0).min(n);
    let counts = ["readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"];
    let s = match phase {
        Phase::Ready => {
            json!({"observedGeneration": generation, "replicas": n, "readyReplicas": n, "currentReplicas": n,
            "updatedReplicas": n, "availableReplicas": n, "currentRevision": rev, "updateRevision": rev, "collisionCount": 0})
        }
        Phase::Progressing => json!({"observedGeneration": generation, "replicas": n, "readyReplicas": old_ready,
            "currentReplicas": old_ready, "updatedReplicas": 0, "availableReplicas": old_ready,
            "currentRevision": current, "updateRevision": rev, "collisionCount": 0}),
        Phase::Held => {
            json!({"observedGeneration": generation, "replicas": n, "currentReplicas": n, "updatedReplicas": 0,
            "currentRevision": if current == rev { format!("{rev}-previous") } else { current }, "updateRevision": rev, "collisionCount": 0})
        }
    };
    nonzero(s, &counts)
}

fn daemonset(obj: &Value, old: &Value, phase: Phase, nodes: i64) -> Value {
    let generation = obj.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    let old_ready = old.get("numberReady").and_then(Value::as_i64).unwrap_or(0).min(nodes);
    let (ready, updated) = match phase {
        Phase::Ready => (nodes, nodes),
        Phase::Progressing => (old_ready, 0),
        Phase::Held => (0, nodes),
    };
    nonzero(
        json!({"observedGeneration": generation, "desiredNumberScheduled": nodes, "currentNumberScheduled": nodes,
            "numberMisscheduled": 0, "numberReady": ready, "updatedNumberScheduled": updated,
            "numberAvailable": ready, "numberUnavailable": nodes - ready}),
        &["updatedNumberScheduled", "numberAvailable", "numberUnavailable"],
    )
}

fn job(obj: &Value, phase: Phase) -> Value {
    let now = json!(now_rfc3339());
    let completions = obj.pointer("/spec/completions").and_then(Value::as_i64).unwrap_or(1);
    let probe = |mut c: Value| {
        c["lastProbeTime"] = json!("");
        c
    };
    match phase {
        Phase::Progressing => {
            json!({"startTime": now, "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}})
        }
        Phase::Ready => {
            json!({"startTime": now, "completionTime": now, "succeeded": completions, "ready": 0, "terminating": 0,
            "uncountedTerminatedPods": {}, "conditions": [
                probe(cond("SuccessCriteriaMet", true, "CompletionsReached", "Reached expected number of succeeded pods", false)),
                probe(cond("Complete", true, "CompletionsReached", "Reached expected number of succeeded pods", false)),
            ]})
        }
        Phase::Held => {
            json!({"startTime": now, "failed": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
            "conditions": [
                probe(cond("FailureTarget", true, "BackoffLimitExceeded", "Job has reached the specified backoff limit", false)),
                probe(cond("Failed", true, "BackoffLimitExceeded", "Job has reached the specified backoff limit", false)),
            ]})
        }
    }
}

fn autoscaler(obj: &Value, phase: Phase) -> Value {
    let generation = obj.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    let n = obj.pointer("/spec/minReplicas").and_then(Value::as_i64).unwrap_or(1);
    let active = if phase == Phase::Ready {
        cond(
            "ScalingActive",
            true,
            "ValidMetricFound",
            "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
            false,
        )
    } else {
        cond(
            "ScalingActive",
            false,
            "FailedGetResourceMetric",
            "the HPA was unable to compute the replica count: failed to get cpu utilization",
            false,
        )
    };
    json!({"observedGeneration": generation, "currentReplicas": n, "desiredReplicas": n, "conditions": [
        cond("AbleToScale", true, "ReadyForNewScale", "recommended size matches current size", false),
        active,
        cond("ScalingLimited", false, "DesiredWithinRange", "the desired count is within the acceptable range", false),
    ]})
}

fn disruption_budget(obj: &Value) -> Value {
    let generation = obj.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    let mut allowed = cond("DisruptionAllowed", false, "InsufficientPods", "", false);
    allowed["observedGeneration"] = generation.clone();
    json!({"observedGeneration": generation, "currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0,
        "expectedPods": 0, "conditions": [allowed]})
}

/// KEDA's operator: Ready once it has created the autoscaler (not while held), Paused when the
/// `autoscaling.keda.sh/paused` annotation says so.
fn scaled_object(obj: &Value, phase: Phase) -> Value {
    let name = str_at(obj, "/metadata/name");
    let paused =
        obj.pointer("/metadata/annotations/autoscaling.keda.sh~1paused").and_then(Value::as_str) == Some("true");
    let ready = if phase == Phase::Held {
        cond(
            "Ready",
            false,
            "ScaledObjectCheckFailed",
            "ScaledObject doesn't have correct triggers specification",
            false,
        )
    } else {
        cond("Ready", true, "ScaledObjectReady", "ScaledObject is defined correctly and is ready for scaling", false)
    };
    let paused = if paused {
        cond("Paused", true, "ScaledObjectPaused", "ScaledObject is paused", false)
    } else {
        cond("Paused", false, "", "", false)
    };
    json!({"hpaName": format!("keda-hpa-{name}"), "originalReplicaCount": 1, "conditions": [
        ready,
        cond("Active", false, "ScalerNotActive", "Scaling is not performed because triggers are not active", false),
        cond("Fallback", false, "NoFallbackFound", "No fallbacks are active on this scaled object", false),
        paused,
    ]})
}

fn load_balancer(ready: bool) -> Value {
    if ready {
        json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}})
    } else {
        json!({"loadBalancer": {}})
    }
}

impl State {
    /// Looks at every object whose time has come.
    pub fn reconcile_due(&mut self, now: Instant) {
        let due: Vec<ObjKey> = self.pending.iter().filter(|(_, t)| **t <= now).map(|(k, _)| k.clone()).collect();
        for key in due {
            self.pending.remove(&key);
            self.reconcile(&key, now);
        }
    }

    fn reconcile(&mut self, key: &ObjKey, now: Instant) {
        let Some(entry) = self.objects.get(key) else { return };
        let obj = entry.obj.clone();
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return;
        }
        if key.is("apiextensions.k8s.io", "CustomResourceDefinition") {
            self.establish(key, &obj);
            return;
        }
        let ready_at = self.changed_at.get(key).map(|t| *t + self.opts.ready_delay).unwrap_or(now);
        let phase = if self.is_held(key) {
            Phase::Held
        } else if rolls_out(key) && now < ready_at {
            self.schedule(key, ready_at);
            Phase::Progressing
        } else {
            Phase::Ready
        };
        let old = obj.get("status").cloned().unwrap_or_else(|| json!({}));
        let status = match (key.group.as_str(), key.kind.as_str()) {
            ("apps", "Deployment") => deployment(&obj, &old, phase),
            ("apps", "StatefulSet") => statefulset(&obj, &old, phase),
            ("apps", "DaemonSet") => daemonset(&obj, &old, phase, i64::from(self.opts.nodes)),
            ("apps", "ReplicaSet") => {
                let generation = obj.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
                let n = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
                let ready = if phase == Phase::Ready { n } else { 0 };
                nonzero(
                    json!({"observedGeneration": generation, "replicas": n, "fullyLabeledReplicas": n, "readyReplicas": ready, "availableReplicas": ready}),
                    &["replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas"],
                )
            }
            ("batch", "Job") => job(&obj, phase),
            ("", "PersistentVolumeClaim") if phase == Phase::Ready => json!({
                "phase": "Bound",
                "accessModes": obj.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"])),
                "capacity": {"storage": obj.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("1Gi"))},
            }),
            ("", "PersistentVolumeClaim") => json!({"phase": "Pending"}),
            ("", "Service") => load_balancer(phase == Phase::Ready && str_at(&obj, "/spec/type") == "LoadBalancer"),
            ("networking.k8s.io", "Ingress") => load_balancer(phase == Phase::Ready),
            ("", "Pod") if phase == Phase::Ready => json!({"phase": "Running", "conditions": [
                cond("PodScheduled", true, "", "", false), cond("Initialized", true, "", "", false),
                cond("ContainersReady", true, "", "", false), cond("Ready", true, "", "", false)]}),
            ("", "Pod") => json!({"phase": "Pending", "conditions": [cond("PodScheduled", true, "", "", false),
                cond("Ready", false, "ContainersNotReady", "containers with unready status", false)]}),
            ("apiregistration.k8s.io", "APIService") => json!({"conditions": [if phase == Phase::Ready {
                cond("Available", true, "Passed", "all checks passed", false)
            } else {
                cond("Available", false, "FailedDiscoveryCheck", "failing or missing response", false)
            }]}),
            ("autoscaling", "HorizontalPodAutoscaler") => autoscaler(&obj, phase),
            ("policy", "PodDisruptionBudget") => disruption_budget(&obj),
            ("keda.sh", "ScaledObject") => scaled_object(&obj, phase),
            _ => return,
        };
        self.write_status(key, status);
    }

    /// Writes a status as the controller manager, unless it is what is there already.
    pub fn write_status(&mut self, key: &ObjKey, mut status: Value) {
        let Some(entry) = self.objects.get(key).cloned() else { return };
        let old = entry.obj.get("status").cloned().unwrap_or_else(|| json!({}));
        carry_timestamps(&mut status, &old);
        if json_eq(&old, &status) {
            return;
        }
        let mut new = entry.obj.clone();
        new["status"] = status;
        let mut managers = entry.managers.clone();
        update_managers(&key.kind, Scope::Status, Some(&entry.obj), &new, &mut managers, MANAGER, &now_rfc3339());
        meta_mut(&mut new).insert("managedFields".into(), render_managed(&managers));
        self.put(key.clone(), Entry { obj: new, managers });
    }

    fn establish(&mut self, key: &ObjKey, crd: &Value) {
        self.registry.register_crd(crd);
        let mut names = crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({}));
        if names.get("singular").is_none() {
            names["singular"] = json!(str_at(crd, "/spec/names/kind").to_ascii_lowercase());
        }
        if names.get("listKind").is_none() {
            names["listKind"] = json!(format!("{}List", str_at(crd, "/spec/names/kind")));
        }
        let mut stored: Vec<Value> =
            crd.pointer("/status/storedVersions").and_then(Value::as_array).cloned().unwrap_or_default();
        for v in crd.pointer("/spec/versions").and_then(Value::as_array).into_iter().flatten() {
            if v.get("storage").and_then(Value::as_bool) == Some(true) && !stored.contains(&v["name"]) {
                stored.push(v["name"].clone());
            }
        }
        let status = json!({
            "conditions": [
                cond("NamesAccepted", true, "NoConflicts", "no conflicts found", false),
                cond("Established", true, "InitialNamesAccepted", "the initial names have been accepted", false),
            ],
            "acceptedNames": names,
            "storedVersions": stored,
        });
        self.write_status(key, status);
    }
}
