//! Observing one app in a cluster without changing anything: is every object present, healthy
//! and running the desired images, and since when. The promotion gates of
//! `tidegate promote` read this when no controller has been watching the app.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::cluster::{Cluster, ClusterError};
use super::ownership::ObjectRef;
use crate::health::{self, HealthOptions};
use crate::plan::RenderedApp;

/// What the cluster says about one app.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveObservation {
    /// Images (`name:tag` or `name@digest`) in the live workloads' pod templates, sorted.
    pub images: Vec<String>,
    /// Every desired object exists, runs the desired spec images, and is healthy.
    pub healthy: bool,
    /// Since when, as far as the workloads tell: the latest time one of them became available
    /// at its current spec (a Deployment's `Progressing: NewReplicaSetAvailable` or
    /// `Available` condition, a `Ready` condition). `None` when any workload (an object with a
    /// pod template) records no such time — a StatefulSet or DaemonSet usually does not —
    /// because the clock must not be read off an object that did not change.
    pub healthy_since: Option<DateTime<Utc>>,
    /// The first problem found, for people.
    pub message: Option<String>,
}

/// Looks at every object of `app` (rendered for its environment) in the cluster.
/// Health is judged with `health` (the repository's rules).
pub async fn observe_app(
    cluster: &Cluster,
    app: &RenderedApp,
    health: &HealthOptions,
) -> Result<LiveObservation, ClusterError> {
    let mut obs = LiveObservation { healthy: true, ..Default::default() };
    let mut workload_times: Vec<Option<DateTime<Utc>>> = Vec::new();
    let problem = |obs: &mut LiveObservation, msg: String| {
        if obs.message.is_none() {
            obs.message = Some(msg);
        }
        obs.healthy = false;
    };
    for desired in &app.objects {
        let r = ObjectRef::of(desired);
        let rt = match cluster.resolve(&r.api_version, &r.kind).await {
            Ok(rt) => rt,
            Err(e @ ClusterError::UnknownKind { .. }) => {
                problem(&mut obs, format!("{r}: {e}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let ns = if rt.namespaced { r.namespace().or(Some(app.namespace.as_str())) } else { None };
        let Some(live) = cluster.get(&rt, ns, &r.name).await? else {
            problem(&mut obs, format!("{r} does not exist"));
            continue;
        };
        let want = pod_images(desired);
        let have = pod_images(&live);
        if want != have {
            problem(&mut obs, format!("{r} runs {} instead of {}", have.join(", "), want.join(", ")));
        }
        obs.images.extend(have);
        let h = health::assess(&live, health);
        if !h.is_healthy() {
            problem(&mut obs, format!("{r} is {}: {}", h.status, h.message));
        }
        if !want.is_empty() {
            workload_times.push(available_since(&live));
        }
    }
    if workload_times.iter().all(Option::is_some) {
        obs.healthy_since = workload_times.into_iter().flatten().max();
    }
    obs.images.sort();
    obs.images.dedup();
    Ok(obs)
}

/// The container images of a workload's pod template (or a Pod's spec), sorted.
pub fn pod_images(obj: &Value) -> Vec<String> {
    let spec = obj
        .pointer("/spec/template/spec")
        .or_else(|| obj.pointer("/spec/jobTemplate/spec/template/spec"))
        .or_else(|| if obj.get("kind").and_then(Value::as_str) == Some("Pod") { obj.get("spec") } else { None });
    let Some(spec) = spec else { return Vec::new() };
    let mut out: Vec<String> = ["initContainers", "containers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// When the object last became available, from its conditions (times that are not RFC 3339
/// are not read).
fn available_since(obj: &Value) -> Option<DateTime<Utc>> {
    let conditions = obj.pointer("/status/conditions")?.as_array()?;
    conditions
        .iter()
        .filter(|c| c.get("status").and_then(Value::as_str) == Some("True"))
        .filter_map(|c| {
            let kind = c.get("type").and_then(Value::as_str)?;
            let reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
            match kind {
                "Available" | "Ready" => c.get("lastTransitionTime").and_then(Value::as_str),
                "Progressing" if reason == "NewReplicaSetAvailable" => {
                    c.get("lastUpdateTime").or_else(|| c.get("lastTransitionTime")).and_then(Value::as_str)
                }
                _ => None,
            }
        })
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .max()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn images_of_workloads_pods_and_cronjobs() {
        let d = json!({"kind": "Deployment", "spec": {"template": {"spec": {
            "initContainers": [{"image": "busybox:1"}], "containers": [{"image": "app:2"}, {"image": "app:2"}]}}}});
        assert_eq!(super::pod_images(&d), ["app:2", "busybox:1"]);
        let c = json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"image": "job:3"}]}}}}}});
        assert_eq!(super::pod_images(&c), ["job:3"]);
        let p = json!({"kind": "Pod", "spec": {"containers": [{"image": "p:1"}]}});
        assert_eq!(super::pod_images(&p), ["p:1"]);
        assert!(super::pod_images(&json!({"kind": "ConfigMap"})).is_empty());
    }

    #[test]
    fn available_since_takes_the_latest_rollout_completion() {
        let d = json!({"status": {"conditions": [
            {"type": "Available", "status": "True", "lastTransitionTime": "2026-11-30T10:00:00Z"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "lastUpdateTime": "2026-11-30T11:00:00Z", "lastTransitionTime": "2026-11-29T00:00:00Z"},
            {"type": "ReplicaFailure", "status": "True", "lastTransitionTime": "2026-11-30T12:00:00Z"}
        ]}});
        assert_eq!(super::available_since(&d).map(|t| t.to_rfc3339()).as_deref(), Some("2026-11-30T11:00:00+00:00"));
        let not_ready = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "lastTransitionTime": "2026-11-30T10:00:00Z"}]}});
        assert_eq!(super::available_since(&not_ready), None);
    }
}
