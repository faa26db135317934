use serde_json::{Value, json};

use super::*;

fn check(obj: &Value) -> Health {
    assess(obj, &HealthOptions::default())
}

#[track_caller]
fn expect(obj: &Value, status: HealthStatus, message_part: &str) -> Health {
    let health = check(obj);
    assert_eq!(health.status, status, "{health:?}");
    assert!(health.message.contains(message_part), "{:?} does not contain {message_part:?}", health.message);
    health
}

/// An object of `api_version`/`kind` at generation 4, with `spec` and `status` as given.
fn object(api_version: &str, kind: &str, spec: Value, status: Value) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "default", "generation": 4},
        "spec": spec,
        "status": status,
    })
}

fn deploy(spec: Value, status: Value) -> Value {
    object("apps/v1", "Deployment", spec, status)
}

fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message})
}

fn healthy_deploy() -> Value {
    deploy(
        json!({"replicas": 3}),
        json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}),
    )
}

fn set(obj: &mut Value, path: &[&str], value: Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut target = obj;
    for key in parents {
        target = target.as_object_mut().expect("object").entry(key.to_string()).or_insert_with(|| json!({}));
    }
    target.as_object_mut().expect("object").insert(last.to_string(), value);
}

// ---- common rules ---------------------------------------------------------------------------

#[test]
fn deletion_timestamp_is_progressing_even_when_otherwise_healthy() {
    let mut obj = healthy_deploy();
    set(&mut obj, &["metadata", "deletionTimestamp"], json!("2024-01-01T00:00:00Z"));
    expect(&obj, HealthStatus::Progressing, "being deleted");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "deletionTimestamp": "2024-01-01T00:00:00Z"}});
    expect(&cm, HealthStatus::Progressing, "being deleted");
}

#[test]
fn stale_observed_generation_is_never_healthy_for_any_workload_kind() {
    let perfect = json!({
        "observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
        "currentRevision": "r1", "updateRevision": "r1",
        "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3,
    });
    for (api, kind) in [
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ReplicaSet"),
        ("v1", "ReplicationController"),
    ] {
        let obj = object(api, kind, json!({"replicas": 3}), perfect.clone());
        let h = expect(&obj, HealthStatus::Progressing, "observedGeneration 3 is behind generation 4");
        assert_eq!(h.message, "status is stale: observedGeneration 3 is behind generation 4", "{kind}");
        let mut current = obj.clone();
        set(&mut current, &["status", "observedGeneration"], json!(4));
        assert!(check(&current).is_healthy(), "{kind}: {:?}", check(&current));
    }
}

#[test]
fn missing_observed_generation_is_stale_for_workloads() {
    for (api, kind) in [
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("v1", "ReplicationController"),
    ] {
        let obj = object(api, kind, json!({"replicas": 0}), json!({}));
        expect(&obj, HealthStatus::Progressing, "no observedGeneration yet, generation 4");
    }
    // Without metadata.generation either: still not observed.
    let obj =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": 0}});
    expect(&obj, HealthStatus::Progressing, "no status.observedGeneration yet");
}

#[test]
fn fresh_deployment_without_status_is_progressing() {
    let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "generation": 1}, "spec": {"replicas": 2}});
    expect(&obj, HealthStatus::Progressing, "status is stale");
}

#[test]
fn observed_generation_ahead_of_generation_is_stale_too() {
    let mut obj = healthy_deploy();
    set(&mut obj, &["status", "observedGeneration"], json!(5));
    expect(&obj, HealthStatus::Progressing, "observedGeneration 5 does not match generation 4");
}

#[test]
fn stale_status_applies_to_any_kind_that_reports_it() {
    let obj = object(
        "example.com/v1",
        "Widget",
        json!({}),
        json!({"observedGeneration": 2, "conditions": [cond("Ready", "True", "Ok", "")]}),
    );
    expect(&obj, HealthStatus::Progressing, "observedGeneration 2 is behind generation 4");
    // Kinds without the field are not held back by its absence.
    let obj = object("example.com/v1", "Widget", json!({}), json!({"conditions": [cond("Ready", "True", "Ok", "")]}));
    expect(&obj, HealthStatus::Healthy, "Ready=True");
}

// ---- Deployment -----------------------------------------------------------------------------

#[test]
fn deployment_all_replicas_updated_ready_available_is_healthy() {
    let h = expect(&healthy_deploy(), HealthStatus::Healthy, "3/3 replicas");
    assert!(h.is_healthy());
}

#[test]
fn deployment_scaled_to_zero_is_healthy() {
    // KEDA scales to zero: the API server omits the zero counts.
    let obj = deploy(json!({"replicas": 0}), json!({"observedGeneration": 4}));
    expect(&obj, HealthStatus::Healthy, "0/0 replicas");
}

#[test]
fn deployment_replicas_default_to_one() {
    let obj = deploy(json!({}), json!({"observedGeneration": 4}));
    expect(&obj, HealthStatus::Progressing, "0/1 replicas updated");
    let obj = deploy(
        json!({}),
        json!({"observedGeneration": 4, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}),
    );
    expect(&obj, HealthStatus::Healthy, "1/1");
}

#[test]
fn deployment_rollout_in_progress_names_the_numbers() {
    let obj = deploy(
        json!({"replicas": 3}),
        json!({"observedGeneration": 4, "replicas": 4, "updatedReplicas": 2, "readyReplicas": 3, "availableReplicas": 3}),
    );
    let h = expect(&obj, HealthStatus::Progressing, "");
    assert_eq!(h.message, "2/3 replicas updated");
}

#[test]
fn deployment_old_replicas_pending_termination() {
    let obj = deploy(
        json!({"replicas": 3}),
        json!({"observedGeneration": 4, "replicas": 4, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}),
    );
    expect(&obj, HealthStatus::Progressing, "1 old replicas pending termination (3/4 updated)");
}

#[test]
fn deployment_waits_for_available_then_ready() {
    let obj = deploy(
        json!({"replicas": 3}),
        json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 2}),
    );
    expect(&obj, HealthStatus::Progressing, "2/3 replicas available");
    let obj = deploy(
        json!({"replicas": 3}),
        json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 1, "availableReplicas": 3}),
    );
    expect(&obj, HealthStatus::Progressing, "1/3 replicas ready");
}

#[test]
fn deployment_scaling_down_is_progressing() {
    let obj = deploy(
        json!({"replicas": 1}),
        json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}),
    );
    expect(&obj, HealthStatus::Progressing, "scaling to 1 replicas: 3 total");
}

#[test]
fn deployment_progress_deadline_exceeded_is_degraded() {
    let mut obj = deploy(
        json!({"replicas": 3}),
        json!({"observedGeneration": 4, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3}),
    );
    set(
        &mut obj,
        &["status", "conditions"],
        json!([cond(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            "ReplicaSet \"x-7d\" has timed out progressing."
        )]),
    );
    let h = expect(&obj, HealthStatus::Degraded, "");
    assert_eq!(h.message, "ProgressDeadlineExceeded: ReplicaSet \"x-7d\" has timed out progressing.");
}

#[test]
fn deployment_progressing_false_for_another_reason_is_not_degraded() {
    let mut obj = healthy_deploy();
    set(&mut obj, &["status", "conditions"], json!([cond("Progressing", "False", "SomethingElse", "")]));
    expect(&obj, HealthStatus::Healthy, "");
}

#[test]
fn deployment_paused_is_suspended_and_not_healthy() {
    let mut obj = healthy_deploy();
    set(&mut obj, &["spec", "paused"], json!(true));
    let h = expect(&obj, HealthStatus::Suspended, "paused");
    assert!(!h.is_healthy());
}

#[test]
fn deployment_replica_failure_is_reported_in_the_message() {
    let mut obj = deploy(json!({"replicas": 2}), json!({"observedGeneration": 4, "replicas": 1, "updatedReplicas": 1}));
    set(&mut obj, &["status", "conditions"], json!([cond("ReplicaFailure", "True", "FailedCreate", "exceeded quota")]));
    expect(&obj, HealthStatus::Progressing, "1/2 replicas updated; ReplicaFailure=True: FailedCreate: exceeded quota");
}

#[test]
fn deployment_is_matched_by_group() {
    let mut legacy = healthy_deploy();
    set(&mut legacy, &["apiVersion"], json!("extensions/v1beta1"));
    set(&mut legacy, &["status", "updatedReplicas"], json!(1));
    expect(&legacy, HealthStatus::Progressing, "1/3 replicas updated");
    // A custom resource that happens to be called Deployment is judged by its conditions.
    let custom = object("example.com/v1", "Deployment", json!({}), json!({"observedGeneration": 4}));
    expect(&custom, HealthStatus::Healthy, "exists");
}

// ---- StatefulSet ----------------------------------------------------------------------------

fn sts(spec: Value, status: Value) -> Value {
    object("apps/v1", "StatefulSet", spec, status)
}

#[test]
fn statefulset_rolling_update_complete_is_healthy() {
    let obj = sts(
        json!({"replicas": 3}),
        json!({"observedGeneration": 4, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "currentRevision": "db-2", "updateRevision": "db-2"}),
    );
    expect(&obj, HealthStatus::Healthy, "3/3 replicas ready");
}

#[test]
fn statefulset_revision_mismatch_is_progressing() {
    let obj = sts(
        json!({"replicas": 3}),
        json!({"observedGeneration": 4, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "currentRevision": "db-1", "updateRevision": "db-2"}),
    );
    expect(&obj, HealthStatus::Progressing, "currentRevision db-1 is not updateRevision db-2");
}

#[test]
fn statefulset_waits_for_ready_and_updated_replicas() {
    let obj = sts(
        json!({"replicas": 3}),
        json!({"observedGeneration": 4, "replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "currentRevision": "a", "updateRevision": "a"}),
    );
    expect(&obj, HealthStatus::Progressing, "2/3 replicas ready");
    let obj = sts(
        json!({"replicas": 3}),
        json!({"observedGeneration": 4, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "b"}),
    );
    expect(&obj, HealthStatus::Progressing, "1/3 replicas updated");
}

#[test]
fn statefulset_scale_down_is_progressing() {
    let obj = sts(
        json!({"replicas": 1}),
        json!({"observedGeneration": 4, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "currentRevision": "a", "updateRevision": "a"}),
    );
    expect(&obj, HealthStatus::Progressing, "2 replicas pending termination");
}

#[test]
fn statefulset_scaled_to_zero_is_healthy() {
    let obj =
        sts(json!({"replicas": 0}), json!({"observedGeneration": 4, "currentRevision": "a", "updateRevision": "a"}));
    expect(&obj, HealthStatus::Healthy, "0/0");
}

#[test]
fn statefulset_partition_needs_only_the_pods_above_it() {
    let spec = json!({"replicas": 5, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 3}}});
    let base = json!({"observedGeneration": 4, "replicas": 5, "readyReplicas": 5, "currentRevision": "a", "updateRevision": "b"});
    let mut obj = sts(spec.clone(), base.clone());
    set(&mut obj, &["status", "updatedReplicas"], json!(2));
    expect(&obj, HealthStatus::Healthy, "partitioned rollout complete: 2/2 replicas updated (partition 3)");
    set(&mut obj, &["status", "updatedReplicas"], json!(1));
    expect(&obj, HealthStatus::Progressing, "partitioned rollout: 1/2 replicas updated (partition 3)");
}

#[test]
fn statefulset_partition_above_replicas_needs_no_updates() {
    let spec = json!({"replicas": 2, "updateStrategy": {"rollingUpdate": {"partition": 5}}});
    let obj = sts(spec, json!({"observedGeneration": 4, "replicas": 2, "readyReplicas": 2}));
    expect(&obj, HealthStatus::Healthy, "0/0 replicas updated (partition 5)");
}

#[test]
fn statefulset_on_delete_ignores_revisions() {
    let spec = json!({"replicas": 2, "updateStrategy": {"type": "OnDelete"}});
    let obj = sts(
        spec.clone(),
        json!({"observedGeneration": 4, "replicas": 2, "readyReplicas": 2, "currentRevision": "a", "updateRevision": "b"}),
    );
    expect(&obj, HealthStatus::Healthy, "OnDelete");
    let obj = sts(spec.clone(), json!({"observedGeneration": 4, "replicas": 2, "readyReplicas": 1}));
    expect(&obj, HealthStatus::Progressing, "1/2 replicas ready");
    let obj = sts(spec, json!({"observedGeneration": 3, "replicas": 2, "readyReplicas": 2}));
    expect(&obj, HealthStatus::Progressing, "status is stale");
}

// ---- DaemonSet ------------------------------------------------------------------------------

fn ds(spec: Value, status: Value) -> Value {
    object("apps/v1", "DaemonSet", spec, status)
}

#[test]
fn daemonset_rules() {
    let ok = json!({"observedGeneration": 4, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3});
    expect(&ds(json!({}), ok), HealthStatus::Healthy, "3/3 pods updated and available");
    let obj = ds(
        json!({}),
        json!({"observedGeneration": 4, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1, "numberAvailable": 3}),
    );
    expect(&obj, HealthStatus::Progressing, "1/3 pods updated");
    let obj = ds(
        json!({}),
        json!({"observedGeneration": 4, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}),
    );
    expect(&obj, HealthStatus::Progressing, "2/3 pods available");
}

#[test]
fn daemonset_on_no_nodes_is_healthy() {
    expect(&ds(json!({}), json!({"observedGeneration": 4})), HealthStatus::Healthy, "0/0");
}

#[test]
fn daemonset_on_delete_only_checks_observed_generation() {
    let spec = json!({"updateStrategy": {"type": "OnDelete"}});
    let obj =
        ds(spec.clone(), json!({"observedGeneration": 4, "desiredNumberScheduled": 3, "updatedNumberScheduled": 0}));
    expect(&obj, HealthStatus::Healthy, "OnDelete");
    expect(&ds(spec, json!({"observedGeneration": 3})), HealthStatus::Progressing, "behind generation 4");
}

// ---- ReplicaSet / ReplicationController ----------------------------------------------------

#[test]
fn replicaset_and_replication_controller_rules() {
    for (api, kind) in [("apps/v1", "ReplicaSet"), ("v1", "ReplicationController")] {
        let ok = json!({"observedGeneration": 4, "replicas": 2, "readyReplicas": 2, "availableReplicas": 2});
        expect(&object(api, kind, json!({"replicas": 2}), ok), HealthStatus::Healthy, "2/2");
        let obj = object(
            api,
            kind,
            json!({"replicas": 2}),
            json!({"observedGeneration": 4, "replicas": 2, "readyReplicas": 1}),
        );
        expect(&obj, HealthStatus::Progressing, "1/2 replicas ready");
        let obj = object(
            api,
            kind,
            json!({"replicas": 2}),
            json!({"observedGeneration": 4, "replicas": 2, "readyReplicas": 2, "availableReplicas": 1}),
        );
        expect(&obj, HealthStatus::Progressing, "1/2 replicas available");
        let obj = object(api, kind, json!({"replicas": 0}), json!({"observedGeneration": 4}));
        expect(&obj, HealthStatus::Healthy, "0/0");
    }
}

#[test]
fn replicaset_failure_stays_progressing_with_the_reason() {
    let mut obj = object("apps/v1", "ReplicaSet", json!({"replicas": 2}), json!({"observedGeneration": 4}));
    set(&mut obj, &["status", "conditions"], json!([cond("ReplicaFailure", "True", "FailedCreate", "forbidden")]));
    expect(&obj, HealthStatus::Progressing, "0/2 replicas ready; ReplicaFailure=True: FailedCreate: forbidden");
}

// ---- Job / CronJob --------------------------------------------------------------------------

fn job_with(spec: Value, status: Value) -> Value {
    object("batch/v1", "Job", spec, status)
}

#[test]
fn job_complete_is_healthy() {
    let obj = job_with(json!({}), json!({"succeeded": 1, "conditions": [cond("Complete", "True", "", "")]}));
    expect(&obj, HealthStatus::Healthy, "Job complete");
}

#[test]
fn job_failed_is_degraded_with_reason_and_message() {
    let status = json!({"failed": 4, "conditions": [cond("Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]});
    let h = expect(&job_with(json!({}), status), HealthStatus::Degraded, "");
    assert_eq!(h.message, "Job failed: BackoffLimitExceeded: Job has reached the specified backoff limit");
    let status = json!({"conditions": [cond("FailureTarget", "True", "DeadlineExceeded", "Job was active longer than specified deadline")]});
    expect(&job_with(json!({}), status), HealthStatus::Degraded, "DeadlineExceeded");
}

#[test]
fn job_suspended_and_running() {
    expect(&job_with(json!({"suspend": true}), json!({})), HealthStatus::Suspended, "suspended");
    let obj = job_with(
        json!({"completions": 3}),
        json!({"active": 1, "succeeded": 1, "conditions": [cond("Complete", "False", "", "")]}),
    );
    let h = expect(&obj, HealthStatus::Progressing, "");
    assert_eq!(h.message, "Job running: 1 active, 1/3 succeeded, 0 failed");
    expect(&job_with(json!({}), json!({})), HealthStatus::Progressing, "0 active, 0 succeeded");
}

#[test]
fn cronjob_rules() {
    let obj = object("batch/v1", "CronJob", json!({"schedule": "* * * * *"}), json!({}));
    expect(&obj, HealthStatus::Healthy, "scheduled");
    // Suspended is what the repository asked for and has nothing to roll out: Healthy, as in
    // Argo CD (a paused Deployment, whose rollout is pending, stays Suspended).
    let obj = object("batch/v1", "CronJob", json!({"schedule": "* * * * *", "suspend": true}), json!({}));
    expect(&obj, HealthStatus::Healthy, "suspended");
}

// ---- Pod ------------------------------------------------------------------------------------

fn pod_with(spec: Value, status: Value) -> Value {
    object("v1", "Pod", spec, status)
}

fn waiting(name: &str, reason: &str) -> Value {
    json!({"name": name, "ready": false, "state": {"waiting": {"reason": reason, "message": format!("{reason} details")}}})
}

#[test]
fn pod_phases() {
    expect(&pod_with(json!({}), json!({"phase": "Succeeded"})), HealthStatus::Healthy, "succeeded");
    let running_ready = json!({"phase": "Running", "conditions": [cond("Ready", "True", "", "")]});
    expect(&pod_with(json!({}), running_ready.clone()), HealthStatus::Healthy, "running and ready");
    expect(&pod_with(json!({"restartPolicy": "Always"}), running_ready.clone()), HealthStatus::Healthy, "");
    expect(
        &pod_with(json!({"restartPolicy": "Never"}), running_ready),
        HealthStatus::Progressing,
        "waiting for it to succeed",
    );
    let not_ready = json!({"phase": "Running", "conditions": [cond("Ready", "False", "ContainersNotReady", "")]});
    expect(&pod_with(json!({}), not_ready), HealthStatus::Progressing, "not ready");
    expect(&pod_with(json!({}), json!({})), HealthStatus::Progressing, "Pod is Pending");
}

#[test]
fn pod_failed_is_degraded() {
    let obj = pod_with(json!({}), json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}));
    expect(&obj, HealthStatus::Degraded, "Pod failed: Evicted: low on memory");
}

#[test]
fn pod_failing_containers_are_degraded() {
    let obj =
        pod_with(json!({}), json!({"phase": "Running", "containerStatuses": [waiting("web", "CrashLoopBackOff")]}));
    expect(&obj, HealthStatus::Degraded, "container web: CrashLoopBackOff: CrashLoopBackOff details");
    let obj =
        pod_with(json!({}), json!({"phase": "Pending", "containerStatuses": [waiting("web", "ImagePullBackOff")]}));
    expect(&obj, HealthStatus::Degraded, "ImagePullBackOff");
    let obj =
        pod_with(json!({}), json!({"phase": "Pending", "initContainerStatuses": [waiting("init", "ErrImagePull")]}));
    expect(&obj, HealthStatus::Degraded, "container init: ErrImagePull");
    let obj =
        pod_with(json!({}), json!({"phase": "Pending", "containerStatuses": [waiting("web", "ContainerCreating")]}));
    expect(&obj, HealthStatus::Progressing, "Pod is Pending");
}

#[test]
fn pod_unschedulable_says_why() {
    let status = json!({"phase": "Pending", "conditions": [cond("PodScheduled", "False", "Unschedulable", "0/3 nodes are available")]});
    expect(
        &pod_with(json!({}), status),
        HealthStatus::Progressing,
        "Pod is Pending: Unschedulable: 0/3 nodes are available",
    );
}

// ---- PVC, Service, Ingress, Namespace ------------------------------------------------------

#[test]
fn pvc_rules() {
    let pvc = |status: Value| object("v1", "PersistentVolumeClaim", json!({"volumeName": "pv-1"}), status);
    expect(&pvc(json!({"phase": "Bound"})), HealthStatus::Healthy, "Bound");
    expect(&pvc(json!({"phase": "Lost"})), HealthStatus::Degraded, "lost its volume pv-1");
    expect(&pvc(json!({"phase": "Pending"})), HealthStatus::Progressing, "Pending");
    expect(&pvc(json!({})), HealthStatus::Progressing, "no phase yet");
}

#[test]
fn service_rules() {
    let svc = |spec: Value, status: Value| object("v1", "Service", spec, status);
    expect(&svc(json!({"type": "ClusterIP"}), json!({})), HealthStatus::Healthy, "Service exists");
    expect(&svc(json!({}), json!({})), HealthStatus::Healthy, "Service exists");
    let pending = svc(json!({"type": "LoadBalancer"}), json!({"loadBalancer": {}}));
    expect(&pending, HealthStatus::Progressing, "waiting for a load balancer address");
    let empty = svc(json!({"type": "LoadBalancer"}), json!({"loadBalancer": {"ingress": []}}));
    expect(&empty, HealthStatus::Progressing, "status.loadBalancer.ingress is empty");
    let assigned = svc(
        json!({"type": "LoadBalancer"}),
        json!({"loadBalancer": {"ingress": [{"hostname": "a.elb.amazonaws.com"}]}}),
    );
    expect(&assigned, HealthStatus::Healthy, "a.elb.amazonaws.com");
    let off = HealthOptions { require_load_balancer: false, ..HealthOptions::default() };
    assert_eq!(assess(&pending, &off).status, HealthStatus::Healthy);
}

#[test]
fn ingress_rules() {
    let ing = |status: Value| object("networking.k8s.io/v1", "Ingress", json!({}), status);
    expect(&ing(json!({})), HealthStatus::Progressing, "waiting for a load balancer address");
    expect(&ing(json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.7"}]}})), HealthStatus::Healthy, "10.0.0.7");
    let off = HealthOptions { require_load_balancer: false, ..HealthOptions::default() };
    assert!(assess(&ing(json!({})), &off).is_healthy());
    let legacy = object("extensions/v1beta1", "Ingress", json!({}), json!({}));
    expect(&legacy, HealthStatus::Progressing, "load balancer");
}

#[test]
fn namespace_rules() {
    let ns =
        |status: Value| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}, "status": status});
    expect(&ns(json!({"phase": "Active"})), HealthStatus::Healthy, "exists");
    expect(&ns(json!({"phase": "Terminating"})), HealthStatus::Progressing, "terminating");
}

// ---- HPA, CRD, APIService ------------------------------------------------------------------

fn hpa_with(conditions: Value) -> Value {
    object(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        json!({}),
        json!({"currentReplicas": 2, "desiredReplicas": 2, "conditions": conditions}),
    )
}

#[test]
fn hpa_rules() {
    let fresh = object("autoscaling/v2", "HorizontalPodAutoscaler", json!({}), json!({"desiredReplicas": 0}));
    expect(&fresh, HealthStatus::Progressing, "first status");
    let ok = hpa_with(json!([
        cond("AbleToScale", "True", "ReadyForNewScale", ""),
        cond("ScalingActive", "True", "ValidMetricFound", "")
    ]));
    expect(&ok, HealthStatus::Healthy, "2 current, 2 desired");
    let keda_zero = hpa_with(json!([
        cond("AbleToScale", "True", "ScaleDownStabilized", ""),
        cond(
            "ScalingActive",
            "False",
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero"
        ),
    ]));
    expect(&keda_zero, HealthStatus::Healthy, "");
    let no_metrics = hpa_with(json!([
        cond("AbleToScale", "True", "SucceededGetScale", ""),
        cond("ScalingActive", "False", "FailedGetResourceMetric", "no metrics returned from resource metrics API"),
    ]));
    expect(&no_metrics, HealthStatus::Progressing, "FailedGetResourceMetric: no metrics returned");
    let no_target =
        hpa_with(json!([cond("AbleToScale", "False", "FailedGetScale", "deployments/scale \"web\" not found")]));
    expect(&no_target, HealthStatus::Degraded, "AbleToScale=False: FailedGetScale");
    let bad_selector = hpa_with(json!([cond("ScalingActive", "False", "InvalidSelector", "")]));
    expect(&bad_selector, HealthStatus::Degraded, "InvalidSelector");
}

#[test]
fn hpa_v1_reads_conditions_from_the_annotation() {
    let annotation = json!([cond("AbleToScale", "True", "ReadyForNewScale", "")]).to_string();
    let mut obj = object(
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        json!({}),
        json!({"currentReplicas": 1, "desiredReplicas": 1}),
    );
    set(&mut obj, &["metadata", "annotations"], json!({"autoscaling.alpha.kubernetes.io/conditions": annotation}));
    expect(&obj, HealthStatus::Healthy, "1 current");
}

#[test]
fn crd_rules() {
    let crd = |conditions: Value| {
        object("apiextensions.k8s.io/v1", "CustomResourceDefinition", json!({}), json!({"conditions": conditions}))
    };
    expect(
        &crd(json!([cond("NamesAccepted", "True", "", ""), cond("Established", "True", "", "")])),
        HealthStatus::Healthy,
        "Established",
    );
    expect(&crd(json!([cond("Established", "False", "Installing", "")])), HealthStatus::Progressing, "Established");
    expect(&crd(json!([])), HealthStatus::Progressing, "Established");
    let conflict = crd(json!([cond("NamesAccepted", "False", "ListKindConflict", "\"PoolList\" is already in use")]));
    expect(&conflict, HealthStatus::Degraded, "NamesAccepted=False: ListKindConflict");
}

#[test]
fn apiservice_rules() {
    let api = |status: Value| object("apiregistration.k8s.io/v1", "APIService", json!({}), status);
    expect(&api(json!({})), HealthStatus::Progressing, "Available condition");
    expect(
        &api(json!({"conditions": [cond("Available", "True", "Passed", "all checks passed")]})),
        HealthStatus::Healthy,
        "Passed",
    );
    let broken =
        api(json!({"conditions": [cond("Available", "False", "FailedDiscoveryCheck", "failing or missing response")]}));
    expect(&broken, HealthStatus::Degraded, "Available=False: FailedDiscoveryCheck: failing or missing response");
    let starting = api(
        json!({"conditions": [cond("Available", "False", "MissingEndpoints", "endpoints for service/metrics-server have no addresses")]}),
    );
    expect(&starting, HealthStatus::Progressing, "MissingEndpoints");
    expect(
        &api(json!({"conditions": [cond("Available", "Unknown", "", "")]})),
        HealthStatus::Progressing,
        "Available=Unknown",
    );
}

// ---- everything else (kstatus conditions) --------------------------------------------------

fn custom(status: Value) -> Value {
    object("source.toolkit.fluxcd.io/v1", "GitRepository", json!({}), status)
}

#[test]
fn objects_without_status_are_healthy_on_existence() {
    for (api, kind) in [
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("v1", "ServiceAccount"),
    ] {
        let obj = json!({"apiVersion": api, "kind": kind, "metadata": {"name": "x"}});
        expect(&obj, HealthStatus::Healthy, "exists");
    }
    expect(&json!({}), HealthStatus::Healthy, "exists");
}

#[test]
fn kstatus_conditions_on_a_custom_resource() {
    let ready = |status: &str| cond("Ready", status, "Reason", "msg");
    expect(
        &custom(json!({"observedGeneration": 4, "conditions": [ready("True")]})),
        HealthStatus::Healthy,
        "Ready=True",
    );
    expect(
        &custom(json!({"observedGeneration": 4, "conditions": [ready("False")]})),
        HealthStatus::Progressing,
        "Ready=False: Reason: msg",
    );
    expect(
        &custom(json!({"observedGeneration": 4, "conditions": [ready("Unknown")]})),
        HealthStatus::Progressing,
        "Ready=Unknown",
    );
    let stalled = json!({"conditions": [ready("False"), cond("Stalled", "True", "InvalidURL", "bad url")]});
    expect(&custom(stalled), HealthStatus::Degraded, "Stalled=True: InvalidURL: bad url");
    let reconciling = json!({"conditions": [ready("True"), cond("Reconciling", "True", "Progressing", "fetching")]});
    expect(&custom(reconciling), HealthStatus::Progressing, "Reconciling=True");
    let both = json!({"conditions": [cond("Reconciling", "True", "", ""), cond("Stalled", "True", "", "")]});
    expect(&custom(both), HealthStatus::Progressing, "Reconciling=True");
    let not_stalled = json!({"conditions": [cond("Stalled", "False", "", ""), ready("True")]});
    expect(&custom(not_stalled), HealthStatus::Healthy, "");
    expect(&custom(json!({"conditions": [cond("Synced", "True", "", "")]})), HealthStatus::Healthy, "exists");
}

#[test]
fn stale_conditions_on_a_custom_resource_are_progressing() {
    let mut ready = cond("Ready", "True", "Succeeded", "");
    set(&mut ready, &["observedGeneration"], json!(3));
    expect(
        &custom(json!({"conditions": [ready.clone()]})),
        HealthStatus::Progressing,
        "Ready condition is stale: observedGeneration 3 is behind generation 4",
    );
    set(&mut ready, &["observedGeneration"], json!(4));
    expect(&custom(json!({"conditions": [ready]})), HealthStatus::Healthy, "");
    let mut stalled = cond("Stalled", "True", "Broken", "");
    set(&mut stalled, &["observedGeneration"], json!(3));
    expect(&custom(json!({"conditions": [stalled]})), HealthStatus::Progressing, "Stalled condition is stale");
}

// ---- the types ------------------------------------------------------------------------------

#[test]
fn types_display_serialize_and_default() {
    assert!(HealthOptions::default().require_load_balancer);
    let h = Health::new(HealthStatus::Progressing, "2/3 replicas updated");
    assert_eq!(h.to_string(), "Progressing: 2/3 replicas updated");
    assert_eq!(Health::new(HealthStatus::Healthy, "").to_string(), "Healthy");
    assert_eq!(
        serde_json::to_value(&h).ok(),
        Some(json!({"status": "Progressing", "message": "2/3 replicas updated"}))
    );
    for (status, ok) in [
        (HealthStatus::Healthy, true),
        (HealthStatus::Progressing, false),
        (HealthStatus::Degraded, false),
        (HealthStatus::Suspended, false),
    ] {
        assert_eq!(Health::new(status, "").is_healthy(), ok, "{status}");
    }
}
