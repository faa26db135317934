//! Rules for Kubernetes' built-in kinds (the table is in the module documentation of
//! [`super`] and in docs/health.md).

use chrono::DateTime;
use serde_json::Value;

use super::read::{
    Condition, annotation, at, conditions, conditions_in, count, find, find_is, flag, int_at, spec_replicas, str_at,
};
use super::{Health, HealthOptions, degraded, healthy, progressing, suspended};

pub(super) fn deployment(obj: &Value) -> Health {
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
pub(super) fn statefulset(obj: &Value) -> Health {
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

pub(super) fn daemonset(obj: &Value) -> Health {
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
pub(super) fn replicaset(obj: &Value) -> Health {
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

pub(super) fn job(obj: &Value) -> Health {
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

pub(super) fn pvc(obj: &Value) -> Health {
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

pub(super) fn load_balancer(obj: &Value, opts: &HealthOptions, what: &str) -> Health {
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

pub(super) fn service(obj: &Value, opts: &HealthOptions) -> Health {
    if str_at(obj, &["spec", "type"]) == Some("LoadBalancer") {
        load_balancer(obj, opts, "LoadBalancer Service")
    } else {
        healthy("Service exists")
    }
}

/// A backend Service without endpoints yet is normal when it is deployed in the same wave.
pub(super) fn apiservice(obj: &Value) -> Health {
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

pub(super) fn namespace(obj: &Value) -> Health {
    if str_at(obj, &["status", "phase"]) == Some("Terminating") {
        progressing("Namespace is terminating")
    } else {
        healthy("Namespace exists")
    }
}

/// A suspended CronJob is what the repository asked for and has nothing to roll out, so it is
/// Healthy (as in Argo CD), not Suspended like a paused Deployment whose rollout is pending.
/// The last run failed when the last successful run is older than the last scheduled one and no
/// Job is running; its Jobs are judged on their own.
pub(super) fn cronjob(obj: &Value) -> Health {
    if flag(obj, &["spec", "suspend"]) {
        return healthy("CronJob is suspended (spec.suspend): no runs are scheduled");
    }
    let Some(scheduled) = str_at(obj, &["status", "lastScheduleTime"]) else {
        return healthy("CronJob is scheduled; it has not run yet");
    };
    let active = at(obj, &["status", "active"]).and_then(Value::as_array).map_or(0, Vec::len);
    let Some(succeeded) = str_at(obj, &["status", "lastSuccessfulTime"]) else {
        return healthy(format!("CronJob last ran at {scheduled}; no run has completed successfully yet"));
    };
    if active > 0 {
        return healthy(format!("CronJob is running {active} Job(s); last success at {succeeded}"));
    }
    if earlier(succeeded, scheduled) {
        return degraded(format!(
            "CronJob's last run failed: scheduled at {scheduled}, last success at {succeeded}, no Job running"
        ));
    }
    healthy(format!("CronJob's last run succeeded at {succeeded}"))
}

/// `a < b` for RFC 3339 times (text order when either does not parse).
fn earlier(a: &str, b: &str) -> bool {
    match (DateTime::parse_from_rfc3339(a), DateTime::parse_from_rfc3339(b)) {
        (Ok(a), Ok(b)) => a < b,
        _ => a < b,
    }
}

/// Whether a container's waiting reason means it will not start without a change (Argo CD's
/// test: `Err…`, `…Error`, `…BackOff`, e.g. CrashLoopBackOff, ImagePullBackOff, ErrImagePull).
fn is_failing_wait(reason: &str) -> bool {
    reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")
}

/// Argo CD's annotation that makes a Never/OnFailure Pod be judged like a long-running one.
const IGNORE_RESTART_POLICY: &str = "argocd.argoproj.io/ignore-restart-policy";

/// A hook Pod (Argo CD or Helm) runs to completion: the annotation above does not apply to it.
fn is_hook(obj: &Value) -> bool {
    annotation(obj, "argocd.argoproj.io/hook").is_some() || annotation(obj, "helm.sh/hook").is_some()
}

fn container_statuses<'a>(obj: &'a Value, list: &str) -> &'a [Value] {
    at(obj, &["status", list]).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// `container NAME terminated with an error (exit code N: Reason: message)` when the
/// container's current or last state is a non-zero exit (or an OOM kill).
fn terminated_with_error(c: &Value) -> Option<String> {
    let name = str_at(c, &["name"]).unwrap_or("?");
    ["state", "lastState"].iter().find_map(|state| {
        let t = at(c, &[state, "terminated"])?;
        let code = int_at(t, &["exitCode"]).unwrap_or(0);
        let reason = str_at(t, &["reason"]).unwrap_or_default();
        if code == 0 && reason != "OOMKilled" {
            return None;
        }
        let mut why = format!("exit code {code}");
        for part in [reason, str_at(t, &["message"]).unwrap_or_default()] {
            if !part.is_empty() {
                why.push_str(": ");
                why.push_str(part.trim());
            }
        }
        let when = if *state == "state" { "terminated" } else { "last terminated" };
        Some(format!("container {name} {when} with an error ({why})"))
    })
}

/// The restart policy decides what a back-off means: a Pod that restarts forever (`Always`, the
/// default) and is backing off will not get better by waiting — Degraded; a Pod with a finite
/// life (`Never`, `OnFailure`: a Job's Pod or a hook) is judged by how it ends, so a back-off
/// only makes it wait (as Argo CD, so hooks are not failed early). A running, not-ready Pod whose
/// container terminated with an error is Degraded; a running Never/OnFailure Pod is Progressing
/// until it succeeds, unless it carries Argo CD's `argocd.argoproj.io/ignore-restart-policy:
/// "true"` and is not a hook.
pub(super) fn pod(obj: &Value) -> Health {
    let phase = str_at(obj, &["status", "phase"]).unwrap_or("Pending");
    match phase {
        "Failed" => {
            let reason = str_at(obj, &["status", "reason"]).unwrap_or("Failed");
            if let Some(m) = str_at(obj, &["status", "message"]) {
                return degraded(format!("Pod failed: {reason}: {m}"));
            }
            let why = ["initContainerStatuses", "containerStatuses"]
                .iter()
                .flat_map(|l| container_statuses(obj, l))
                .find_map(terminated_with_error);
            return match why {
                Some(w) => degraded(format!("Pod failed: {w}")),
                None => degraded(format!("Pod failed: {reason}")),
            };
        }
        "Succeeded" => return healthy("Pod succeeded"),
        _ => {}
    }
    let restart = str_at(obj, &["spec", "restartPolicy"]).unwrap_or("Always");
    let long_running = restart == "Always" || (annotation(obj, IGNORE_RESTART_POLICY) == Some("true") && !is_hook(obj));
    let mut backing_off = None;
    for list in ["initContainerStatuses", "containerStatuses"] {
        for c in container_statuses(obj, list) {
            let reason = str_at(c, &["state", "waiting", "reason"]).unwrap_or_default();
            if is_failing_wait(reason) && backing_off.is_none() {
                let name = str_at(c, &["name"]).unwrap_or("?");
                backing_off = Some(match str_at(c, &["state", "waiting", "message"]) {
                    Some(m) => format!("container {name}: {reason}: {m}"),
                    None => format!("container {name}: {reason}"),
                });
            }
        }
    }
    if let Some(why) = &backing_off
        && long_running
    {
        return degraded(why.clone());
    }
    let conds = conditions(obj);
    let ready = conds.iter().any(|c| c.is("Ready", "True"));
    if phase == "Running" {
        if !long_running {
            let waiting = format!("Pod is running (restartPolicy {restart}: waiting for it to succeed)");
            return match backing_off {
                Some(why) => progressing(format!("{waiting}; {why}")),
                None => progressing(waiting),
            };
        }
        if ready {
            return healthy("Pod is running and ready");
        }
        if let Some(why) = container_statuses(obj, "containerStatuses").iter().find_map(terminated_with_error) {
            return degraded(format!("Pod is not ready: {why}"));
        }
        return progressing("Pod is running but not ready");
    }
    let mut message = match find(&conds, "PodScheduled").filter(|c| c.status == "False") {
        Some(c) => format!("Pod is {phase}: {}", c.reason_and_message()),
        None => format!("Pod is {phase}"),
    };
    if let Some(why) = backing_off {
        message = format!("{message}; {why} (restartPolicy {restart}: judged when it ends)");
    }
    progressing(message)
}

/// Healthy only with positive evidence, as Argo CD: `AbleToScale=True` or `ScalingLimited=True`.
/// As Argo CD, a condition with one of these reasons is Degraded whatever its status: failing
/// to get or update the target's scale (`AbleToScale` `FailedGetScale`, `FailedUpdateScale`), an
/// invalid selector or metric source, failing to get an object, pods or external metric from a
/// metrics adapter (`FailedGetObjectMetric`, `FailedGetPodsMetric`, `FailedGetExternalMetric`).
/// Deliberately unlike Argo CD, resource metrics not yet available (`FailedGetResourceMetric`,
/// `FailedComputeMetricsReplicas`) wait as Progressing: metrics-server has no sample of a new
/// pod for up to a minute after it starts, so an autoscaler applied with its workload reports
/// them on every rollout. `ScalingDisabled` means the target is scaled to zero (KEDA).
/// autoscaling/v1 carries its conditions in an annotation.
pub(super) fn hpa(obj: &Value) -> Health {
    let annotated: Option<Value> =
        annotation(obj, "autoscaling.alpha.kubernetes.io/conditions").and_then(|text| serde_json::from_str(text).ok());
    let mut conds = conditions(obj);
    if conds.is_empty() {
        conds = conditions_in(annotated.as_ref());
    }
    if conds.is_empty() {
        return progressing("waiting for the autoscaler's first status");
    }
    for c in &conds {
        let broken_target = c.type_ == "AbleToScale" && c.reason.starts_with("Failed");
        let bad_config = c.type_ == "ScalingActive"
            && matches!(
                c.reason,
                "InvalidSelector"
                    | "InvalidMetricSourceType"
                    | "FailedGetObjectMetric"
                    | "FailedGetPodsMetric"
                    | "FailedGetExternalMetric"
            );
        if broken_target || bad_config {
            return degraded(c.describe());
        }
    }
    if let Some(c) = conds.iter().find(|c| c.is("ScalingActive", "False") && c.reason != "ScalingDisabled") {
        return progressing(c.describe());
    }
    let current = count(obj, &["status", "currentReplicas"]);
    let desired = count(obj, &["status", "desiredReplicas"]);
    match conds.iter().find(|c| c.is("AbleToScale", "True") || c.is("ScalingLimited", "True")) {
        Some(c) => healthy(format!("autoscaling: {current} current, {desired} desired replicas ({})", c.describe())),
        None => progressing(format!(
            "waiting for the autoscaler to be able to scale (neither AbleToScale=True nor ScalingLimited=True; {})",
            conds.iter().map(Condition::describe).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// As Argo CD: terminating waits; names not accepted or a non-structural schema are Degraded;
/// Established=True is Healthy; Established=False while `Installing` (or no conditions yet)
/// waits; Established=False for any other reason is Degraded.
pub(super) fn crd(obj: &Value) -> Health {
    let conds = conditions(obj);
    if let Some(c) = find_is(&conds, "Terminating", "True") {
        return progressing(format!("CustomResourceDefinition is terminating: {}", c.reason_and_message()));
    }
    if let Some(c) = find_is(&conds, "NamesAccepted", "False") {
        return degraded(c.describe());
    }
    if let Some(c) = find_is(&conds, "NonStructuralSchema", "True") {
        return degraded(format!("the schema is not structural: {}", c.reason_and_message()));
    }
    match find(&conds, "Established") {
        Some(c) if c.status == "True" => healthy("Established"),
        Some(c) if c.reason == "Installing" || c.status == "Unknown" => {
            progressing(format!("waiting for the CustomResourceDefinition to be Established ({})", c.describe()))
        }
        Some(c) => degraded(format!("the CustomResourceDefinition is not Established: {}", c.describe())),
        None => progressing("waiting for the CustomResourceDefinition to be Established"),
    }
}

/// As Argo CD: a condition that is False for any reason but `InsufficientPods` (a budget that
/// cannot allow a disruption now is a valid state, e.g. one replica) is Degraded — e.g.
/// `SyncFailed`; otherwise Healthy once the disruption controller wrote a condition.
pub(super) fn pdb(obj: &Value) -> Health {
    let conds = conditions(obj);
    if let Some(c) = conds.iter().find(|c| c.status == "False" && c.reason != "InsufficientPods") {
        return degraded(format!("PodDisruptionBudget: {}", c.describe()));
    }
    match conds.first() {
        Some(c) => healthy(format!(
            "PodDisruptionBudget: {} of {} pods healthy, {} disruptions allowed ({})",
            count(obj, &["status", "currentHealthy"]),
            count(obj, &["status", "expectedPods"]),
            count(obj, &["status", "disruptionsAllowed"]),
            c.describe()
        )),
        None => progressing("waiting for the disruption controller's first status"),
    }
}
