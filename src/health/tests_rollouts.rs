//! Argo Rollouts: Rollout and AnalysisRun, every state.

use serde_json::{Value, json};

use super::rollouts::{Strategy, rollout_progress};
use super::*;

#[track_caller]
fn expect(obj: &Value, status: HealthStatus, message_part: &str) -> Health {
    let health = assess(obj, &HealthOptions::default());
    assert_eq!(health.status, status, "{health:?}");
    assert!(health.message.contains(message_part), "{:?} does not contain {message_part:?}", health.message);
    health
}

fn steps() -> Value {
    json!([{"setWeight": 20}, {"pause": {"duration": "30s"}}, {"setWeight": 40}, {"analysis": {"templates": [{"templateName": "success-rate"}]}}, {"pause": {}}])
}

/// A canary Rollout at generation 3, fully promoted; tests change what they need.
fn canary() -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "frontend", "namespace": "shop", "generation": 3},
        "spec": {"replicas": 5, "strategy": {"canary": {"steps": steps()}}},
        "status": {
            "observedGeneration": "3", "phase": "Healthy", "currentPodHash": "aaa", "stableRS": "aaa",
            "currentStepIndex": 5, "replicas": 5, "updatedReplicas": 5, "readyReplicas": 5, "availableReplicas": 5,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "AvailableReason"},
                {"type": "Completed", "status": "True", "reason": "RolloutCompleted"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
            ]
        }
    })
}

fn set(obj: &mut Value, pointer: &str, value: Value) {
    *obj.pointer_mut(pointer).unwrap_or_else(|| panic!("no {pointer}")) = value;
}

fn mid_canary(step: i64, updated: i64) -> Value {
    let mut r = canary();
    set(&mut r, "/status/phase", json!("Progressing"));
    set(&mut r, "/status/currentPodHash", json!("bbb"));
    set(&mut r, "/status/currentStepIndex", json!(step));
    set(&mut r, "/status/updatedReplicas", json!(updated));
    r
}

#[test]
fn rollout_without_status_is_progressing() {
    let mut r = canary();
    r.as_object_mut().unwrap().remove("status");
    expect(&r, HealthStatus::Progressing, "no status yet");
    set_status(&mut r, json!({"conditions": []}));
    expect(&r, HealthStatus::Progressing, "no status yet");
}

fn set_status(obj: &mut Value, status: Value) {
    obj["status"] = status;
}

#[test]
fn rollout_fully_promoted_is_healthy() {
    let h = expect(&canary(), HealthStatus::Healthy, "fully promoted: aaa is stable, 5/5 replicas available");
    assert!(h.message.contains("all 5 canary steps done"), "{h:?}");
    let p = rollout_progress(&canary()).unwrap();
    assert!(p.fully_promoted && p.steps_done);
    assert_eq!(p.strategy, Strategy::Canary);
}

#[test]
fn rollout_observed_generation_is_a_numeric_string() {
    let mut r = canary();
    set(&mut r, "/status/observedGeneration", json!("2"));
    expect(&r, HealthStatus::Progressing, "observed generation 2, not 3 yet");
    // A JSON number is read the same way.
    set(&mut r, "/status/observedGeneration", json!(2));
    expect(&r, HealthStatus::Progressing, "observed generation 2, not 3 yet");
    set(&mut r, "/status/observedGeneration", json!(3));
    expect(&r, HealthStatus::Healthy, "fully promoted");
    // Pre-v1.0 pod-template hashes say nothing about the generation: a word, or a number above it.
    for legacy in ["6df79499bc", "8575574967"] {
        set(&mut r, "/status/observedGeneration", json!(legacy));
        expect(&r, HealthStatus::Healthy, "fully promoted");
    }
}

#[test]
fn rollout_workload_generation_annotation_must_be_observed() {
    let mut r = canary();
    r["spec"]["workloadRef"] = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"});
    r["metadata"]["annotations"] = json!({"rollout.argoproj.io/workload-generation": "2"});
    r["status"]["workloadObservedGeneration"] = json!("1");
    expect(
        &r,
        HealthStatus::Progressing,
        "referenced workload is at generation 2, the Rollouts controller has observed 1",
    );
    r["status"]["workloadObservedGeneration"] = json!("2");
    expect(&r, HealthStatus::Healthy, "");
    // Without the annotation (Rollouts before v1.1) there is nothing to compare.
    r["metadata"]["annotations"] = json!({});
    r["status"]["workloadObservedGeneration"] = json!("1");
    expect(&r, HealthStatus::Healthy, "");
}

#[test]
fn rollout_canary_step_in_progress_names_the_step() {
    let h = expect(&mid_canary(2, 2), HealthStatus::Progressing, "canary step 3/5 (setWeight 40)");
    assert_eq!(h.message, "canary step 3/5 (setWeight 40): 2/5 replicas updated");
    expect(&mid_canary(0, 1), HealthStatus::Progressing, "canary step 1/5 (setWeight 20)");
    expect(&mid_canary(1, 1), HealthStatus::Progressing, "canary step 2/5 (pause 30s)");
    expect(&mid_canary(3, 2), HealthStatus::Progressing, "canary step 4/5 (analysis success-rate)");
    let p = rollout_progress(&mid_canary(2, 2)).unwrap();
    assert_eq!(p.step, Some((3, 5)));
    assert!(!p.fully_promoted && !p.steps_done);
    assert_eq!(p.step_description.as_deref(), Some("setWeight 40"));
    // The controller's own message is kept.
    let mut r = mid_canary(2, 2);
    r["status"]["message"] = json!("more replicas need to be updated");
    expect(&r, HealthStatus::Progressing, "canary step 3/5 (setWeight 40): more replicas need to be updated");
}

#[test]
fn rollout_phase_healthy_is_not_enough_without_promotion() {
    // A status that claims Healthy while the stable ReplicaSet is not the current one (old
    // controller, partial status) is not fully promoted.
    let mut r = canary();
    set(&mut r, "/status/stableRS", json!("old"));
    expect(&r, HealthStatus::Progressing, "waiting for the steps to finish (stable old, current aaa)");
    let mut r = canary();
    set(&mut r, "/status/replicas", json!(6));
    expect(&r, HealthStatus::Progressing, "1 old replicas pending termination");
    let mut r = canary();
    set(&mut r, "/status/availableReplicas", json!(3));
    expect(&r, HealthStatus::Progressing, "3/5 updated replicas available");
    let mut r = canary();
    r["status"].as_object_mut().unwrap().remove("currentPodHash");
    expect(&r, HealthStatus::Progressing, "no currentPodHash yet");
}

#[test]
fn rollout_paused_is_suspended_naming_the_step() {
    let mut r = mid_canary(4, 2);
    set(&mut r, "/status/phase", json!("Paused"));
    r["status"]["pauseConditions"] = json!([{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}]);
    let h = expect(
        &r,
        HealthStatus::Suspended,
        "Rollout is paused at canary step 5/5 (pause until promoted): CanaryPauseStep",
    );
    assert!(!h.is_healthy());
    // Paused by a person.
    let mut r = mid_canary(2, 2);
    r["spec"]["paused"] = json!(true);
    expect(&r, HealthStatus::Suspended, "spec.paused");
    // Inconclusive analysis pauses too.
    let mut r = mid_canary(3, 2);
    r["status"]["pauseConditions"] = json!([{"reason": "InconclusiveAnalysisRun"}]);
    expect(&r, HealthStatus::Suspended, "canary step 4/5 (analysis success-rate): InconclusiveAnalysisRun");
}

#[test]
fn rollout_aborted_invalid_or_past_deadline_is_degraded() {
    let mut r = mid_canary(0, 1);
    r["status"]["abort"] = json!(true);
    r["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "RolloutAborted", "message": "metric error-rate assessed Failed"}]);
    expect(
        &r,
        HealthStatus::Degraded,
        "Rollout is aborted at canary step 1/5 (setWeight 20): metric error-rate assessed Failed",
    );
    let mut r = canary();
    r["status"]["conditions"] =
        json!([{"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec", "message": "missing strategy"}]);
    expect(&r, HealthStatus::Degraded, "InvalidSpec: missing strategy");
    let mut r = mid_canary(2, 2);
    r["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}]);
    expect(&r, HealthStatus::Degraded, "ProgressDeadlineExceeded: timed out");
    let mut r = canary();
    set(&mut r, "/status/phase", json!("Degraded"));
    r["status"]["message"] = json!("InvalidSpec");
    expect(&r, HealthStatus::Degraded, "Rollout is Degraded: InvalidSpec");
}

#[test]
fn rollout_blue_green_waits_for_the_cut_over() {
    let mut r = canary();
    r["spec"]["strategy"] = json!({"blueGreen": {"activeService": "web", "previewService": "web-preview"}});
    r["status"]["blueGreen"] = json!({"activeSelector": "old", "previewSelector": "aaa"});
    set(&mut r, "/status/phase", json!("Healthy"));
    expect(&r, HealthStatus::Progressing, "blue-green: active service cut-over to aaa pending (active selects old)");
    assert!(!rollout_progress(&r).unwrap().fully_promoted);
    r["status"]["blueGreen"]["activeSelector"] = json!("aaa");
    set(&mut r, "/status/stableRS", json!("old"));
    expect(&r, HealthStatus::Progressing, "blue-green: waiting for post-promotion analysis");
    set(&mut r, "/status/stableRS", json!("aaa"));
    expect(&r, HealthStatus::Healthy, "fully promoted");
    assert_eq!(rollout_progress(&r).unwrap().strategy, Strategy::BlueGreen);
    // Waiting for a person to promote: Suspended.
    r["status"]["pauseConditions"] = json!([{"reason": "BlueGreenPause"}]);
    expect(&r, HealthStatus::Suspended, "Rollout is paused at blue-green: BlueGreenPause");
}

#[test]
fn rollout_in_another_group_is_not_argo_rollouts() {
    let mut r = mid_canary(2, 2);
    r["apiVersion"] = json!("example.com/v1");
    expect(&r, HealthStatus::Healthy, "exists");
}

fn run(status: Value) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "metadata": {"name": "a", "namespace": "shop"}, "status": status})
}

#[test]
fn analysis_run_by_phase() {
    let mut none = run(json!(null));
    expect(&none, HealthStatus::Progressing, "no status yet");
    none.as_object_mut().unwrap().remove("status");
    expect(&none, HealthStatus::Progressing, "no status yet");
    expect(&run(json!({"phase": "Pending"})), HealthStatus::Progressing, "analysis run is pending");
    expect(&run(json!({"phase": "Running"})), HealthStatus::Progressing, "analysis run is running");
    expect(&run(json!({"phase": "Successful"})), HealthStatus::Healthy, "completed successfully");
    expect(&run(json!({"phase": "Failed", "message": "error-rate"})), HealthStatus::Degraded, "failed: error-rate");
    expect(&run(json!({"phase": "Error"})), HealthStatus::Degraded, "had an error");
    expect(&run(json!({"phase": "Inconclusive"})), HealthStatus::Degraded, "inconclusive: a person must decide");
}

#[test]
fn a_paused_rollout_holds_its_wave_and_a_paused_deployment_does_not() {
    use crate::health::{Health, HealthStatus, settles_wave};
    let suspended = Health { status: HealthStatus::Suspended, message: "paused".into() };
    let rollout =
        serde_json::json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"}});
    let deployment = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}});
    assert!(!settles_wave(&rollout, &suspended));
    assert!(settles_wave(&deployment, &suspended));
    let healthy = Health { status: HealthStatus::Healthy, message: String::new() };
    assert!(settles_wave(&rollout, &healthy));
    let progressing = Health { status: HealthStatus::Progressing, message: String::new() };
    assert!(!settles_wave(&deployment, &progressing));
}
