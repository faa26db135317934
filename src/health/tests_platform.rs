//! The platform's add-on kinds and the built-in rules issue 13 added or changed, every state;
//! and the rule table against docs/health.md.

use serde_json::{Value, json};

use super::*;

#[track_caller]
fn expect(obj: &Value, status: HealthStatus, message_part: &str) -> Health {
    let health = assess(obj, &HealthOptions::default());
    assert_eq!(health.status, status, "{health:?}");
    assert!(health.message.contains(message_part), "{:?} does not contain {message_part:?}", health.message);
    health
}

fn obj(api_version: &str, kind: &str, status: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "n", "generation": 2}, "spec": {}, "status": status})
}

fn cond(type_: &str, status: &str, reason: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": format!("{type_} {reason}")})
}

fn with(api_version: &str, kind: &str, conds: Value) -> Value {
    obj(api_version, kind, json!({"conditions": conds}))
}

#[test]
fn every_custom_kind_without_status_is_progressing_and_kinds_without_rules_are_not() {
    for rule in native_rules().iter().filter(|r| r.origin == Origin::Custom) {
        let api = format!("{}/v1", rule.group);
        for status in [json!(null), json!({}), json!({"conditions": []})] {
            let h = assess(&obj(&api, rule.kind, status), &HealthOptions::default());
            assert_eq!(h.status, HealthStatus::Progressing, "{}: {h:?}", rule.kind);
            assert!(h.message.contains("no status yet"), "{}: {h:?}", rule.kind);
        }
    }
    expect(&obj("example.com/v1", "Widget", json!({})), HealthStatus::Healthy, "exists");
}

#[test]
fn custom_kinds_report_stale_status() {
    let mut so = with("keda.sh/v1alpha1", "ScaledObject", json!([cond("Ready", "True", "ScaledObjectReady")]));
    so["status"]["observedGeneration"] = json!(1);
    expect(&so, HealthStatus::Progressing, "observedGeneration 1 is behind generation 2");
}

#[test]
fn keda_scaled_object() {
    let so = |c: Value| with("keda.sh/v1alpha1", "ScaledObject", c);
    expect(&so(json!([cond("Ready", "True", "ScaledObjectReady")])), HealthStatus::Healthy, "ScaledObjectReady");
    expect(&so(json!([cond("Ready", "Unknown", "")])), HealthStatus::Progressing, "waiting");
    expect(&so(json!([cond("Running", "True", "Running")])), HealthStatus::Progressing, "waiting for KEDA");
    expect(&so(json!([cond("Ready", "False", "ScaledObjectCheckFailed")])), HealthStatus::Degraded, "not ready");
    let fallback = json!([cond("Ready", "True", "ScaledObjectReady"), cond("Fallback", "True", "FallbackExists")]);
    expect(&so(fallback), HealthStatus::Degraded, "fallback is in use");
    let paused = json!([cond("Ready", "True", "ScaledObjectReady"), cond("Paused", "True", "ScaledObjectPaused")]);
    expect(&so(paused), HealthStatus::Suspended, "ScaledObject is paused");
}

#[test]
fn keda_scaled_job() {
    let sj = |c: Value| with("keda.sh/v1alpha1", "ScaledJob", c);
    expect(&sj(json!([cond("Ready", "True", "ScaledJobReady")])), HealthStatus::Healthy, "");
    expect(
        &sj(json!([cond("Ready", "Unknown", "PartialTriggerError")])),
        HealthStatus::Degraded,
        "PartialTriggerError",
    );
    expect(&sj(json!([cond("Ready", "False", "TriggerError")])), HealthStatus::Degraded, "TriggerError");
    let paused = json!([cond("Ready", "True", "ScaledJobReady"), cond("Paused", "True", "ScaledJobPaused")]);
    expect(&sj(paused), HealthStatus::Suspended, "paused");
    expect(&sj(json!([cond("Running", "True", "Running")])), HealthStatus::Progressing, "");
}

#[test]
fn ready_decides_for_external_secrets_and_cert_manager_issuers() {
    for (api, kind) in [
        ("external-secrets.io/v1beta1", "ExternalSecret"),
        ("external-secrets.io/v1beta1", "SecretStore"),
        ("external-secrets.io/v1beta1", "ClusterSecretStore"),
        ("external-secrets.io/v1beta1", "ClusterExternalSecret"),
        ("cert-manager.io/v1", "Certificate"),
        ("cert-manager.io/v1", "Issuer"),
        ("cert-manager.io/v1", "ClusterIssuer"),
    ] {
        let h = |c: Value| assess(&with(api, kind, c), &HealthOptions::default());
        assert_eq!(h(json!([cond("Ready", "True", "Valid")])).status, HealthStatus::Healthy, "{kind}");
        assert_eq!(h(json!([cond("Ready", "False", "ValidationFailed")])).status, HealthStatus::Degraded, "{kind}");
        assert_eq!(h(json!([cond("Ready", "Unknown", "")])).status, HealthStatus::Progressing, "{kind}");
        assert_eq!(h(json!([cond("Other", "True", "")])).status, HealthStatus::Progressing, "{kind}");
    }
}

#[test]
fn cluster_external_secret_reads_older_conditions() {
    let ces = |c: Value| with("external-secrets.io/v1beta1", "ClusterExternalSecret", c);
    expect(&ces(json!([cond("PartiallyReady", "True", "")])), HealthStatus::Degraded, "PartiallyReady=True");
    expect(&ces(json!([cond("NotReady", "True", "")])), HealthStatus::Degraded, "NotReady=True");
    // The newest decides.
    expect(&ces(json!([cond("NotReady", "True", ""), cond("Ready", "True", "")])), HealthStatus::Healthy, "");
}

#[test]
fn certificate_issuing_comes_first() {
    let cert = |c: Value| with("cert-manager.io/v1", "Certificate", c);
    let issuing = json!([cond("Ready", "False", "DoesNotExist"), cond("Issuing", "True", "DoesNotExist")]);
    expect(&cert(issuing), HealthStatus::Progressing, "issuing the certificate");
    expect(&cert(json!([cond("Ready", "False", "ConfigError")])), HealthStatus::Degraded, "ConfigError");
    expect(&cert(json!([cond("Ready", "True", "CertIssued")])), HealthStatus::Healthy, "CertIssued");
}

#[test]
fn karpenter_node_pool_waits_for_its_node_class() {
    let np = |c: Value| with("karpenter.sh/v1", "NodePool", c);
    expect(&np(json!([cond("Ready", "True", "Ready")])), HealthStatus::Healthy, "");
    expect(&np(json!([cond("Ready", "False", "NotReady")])), HealthStatus::Degraded, "NodePool is not ready");
    let class_pending =
        json!([cond("Ready", "False", "NotReady"), cond("NodeClassReady", "Unknown", "AwaitingReconciliation")]);
    expect(&np(class_pending), HealthStatus::Progressing, "waiting for the NodePool's NodeClass");
    let class_ok = json!([cond("Ready", "False", "NotReady"), cond("NodeClassReady", "True", "Ready")]);
    expect(&np(class_ok), HealthStatus::Degraded, "");
}

#[test]
fn karpenter_node_claim_names_the_furthest_step() {
    let nc = |c: Value| with("karpenter.sh/v1", "NodeClaim", c);
    let t = |ty: &str| cond(ty, "True", ty);
    expect(&nc(json!([t("Launched")])), HealthStatus::Progressing, "node launched, waiting for registration");
    expect(&nc(json!([t("Launched"), t("Registered")])), HealthStatus::Progressing, "waiting for initialization");
    let init = json!([t("Launched"), t("Registered"), t("Initialized"), cond("Ready", "Unknown", "")]);
    expect(&nc(init), HealthStatus::Progressing, "node initialized, waiting for Ready");
    expect(
        &nc(json!([cond("Ready", "Unknown", "")])),
        HealthStatus::Progressing,
        "waiting for the NodeClaim to be launched",
    );
    expect(&nc(json!([t("Launched"), t("Ready")])), HealthStatus::Healthy, "");
    expect(&nc(json!([t("Launched"), cond("Ready", "False", "NotReady")])), HealthStatus::Degraded, "");
    expect(&nc(json!([t("Ready"), cond("Disrupting", "True", "Expired")])), HealthStatus::Suspended, "Expired");
}

#[test]
fn prometheus_operator_kinds() {
    for kind in ["Prometheus", "Alertmanager"] {
        let p = |c: Value| {
            let mut o = with("monitoring.coreos.com/v1", kind, c);
            o["status"]["replicas"] = json!(2);
            o["status"]["availableReplicas"] = json!(1);
            o
        };
        expect(&p(json!([cond("Available", "True", "")])), HealthStatus::Healthy, "all instances are available");
        expect(&p(json!([cond("Available", "Degraded", "SomePodsNotReady")])), HealthStatus::Progressing, "1/2");
        expect(&p(json!([cond("Available", "False", "NoPodReady")])), HealthStatus::Progressing, "NoPodReady");
        expect(&p(json!([cond("Available", "False", "Other")])), HealthStatus::Degraded, "not available");
        let unreconciled = json!([cond("Available", "True", ""), cond("Reconciled", "False", "ReconcileFailed")]);
        expect(&p(unreconciled), HealthStatus::Degraded, "could not reconcile");
        expect(&p(json!([cond("Reconciled", "True", "")])), HealthStatus::Progressing, "available");
        let mut paused = p(json!([cond("Available", "True", "")]));
        paused["spec"]["paused"] = json!(true);
        expect(&paused, HealthStatus::Suspended, "spec.paused");
    }
}

// ---- built-in kinds: the states issue 13 added ------------------------------------------------

fn cronjob(spec: Value, status: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": "n"}, "spec": spec, "status": status})
}

#[test]
fn cronjob_whose_last_run_failed_is_degraded() {
    let s = json!({"schedule": "*/5 * * * *"});
    expect(&cronjob(s.clone(), json!({})), HealthStatus::Healthy, "has not run yet");
    let failed = json!({"lastScheduleTime": "2026-01-01T10:05:00Z", "lastSuccessfulTime": "2026-01-01T10:00:30Z"});
    expect(&cronjob(s.clone(), failed.clone()), HealthStatus::Degraded, "last run failed");
    let mut running = failed.clone();
    running["active"] = json!([{"kind": "Job", "name": "c-1"}]);
    expect(&cronjob(s.clone(), running), HealthStatus::Healthy, "running 1 Job");
    let ok = json!({"lastScheduleTime": "2026-01-01T10:05:00Z", "lastSuccessfulTime": "2026-01-01T10:05:40Z"});
    expect(&cronjob(s.clone(), ok), HealthStatus::Healthy, "succeeded");
    expect(
        &cronjob(s, json!({"lastScheduleTime": "2026-01-01T10:05:00Z"})),
        HealthStatus::Healthy,
        "no run has completed",
    );
    // Times in other offsets compare as times.
    let offset = json!({"lastScheduleTime": "2026-01-01T10:05:00Z", "lastSuccessfulTime": "2026-01-01T11:06:00+01:00"});
    expect(&cronjob(json!({}), offset), HealthStatus::Healthy, "succeeded");
    expect(&cronjob(json!({"suspend": true}), failed), HealthStatus::Healthy, "suspended");
}

fn pdb(status: Value) -> Value {
    obj("policy/v1", "PodDisruptionBudget", status)
}

#[test]
fn pod_disruption_budget() {
    expect(&pdb(json!({})), HealthStatus::Progressing, "disruption controller");
    let ok = json!({"observedGeneration": 2, "currentHealthy": 2, "expectedPods": 2, "disruptionsAllowed": 1,
        "conditions": [cond("DisruptionAllowed", "True", "SufficientPods")]});
    expect(&pdb(ok), HealthStatus::Healthy, "2 of 2 pods healthy, 1 disruptions allowed");
    let one = json!({"observedGeneration": 2, "conditions": [cond("DisruptionAllowed", "False", "InsufficientPods")]});
    expect(&pdb(one), HealthStatus::Healthy, "InsufficientPods");
    let failed = json!({"observedGeneration": 2, "conditions": [cond("DisruptionAllowed", "False", "SyncFailed")]});
    expect(&pdb(failed), HealthStatus::Degraded, "SyncFailed");
}

fn crd(conds: Value) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "w.example.com"}, "status": {"conditions": conds}})
}

#[test]
fn crd_non_structural_or_not_established_is_degraded() {
    let established = cond("Established", "True", "InitialNamesAccepted");
    expect(
        &crd(json!([established.clone(), cond("NonStructuralSchema", "True", "Violations")])),
        HealthStatus::Degraded,
        "not structural",
    );
    expect(
        &crd(json!([cond("Established", "False", "InitialNamesAccepted")])),
        HealthStatus::Degraded,
        "not Established",
    );
    expect(&crd(json!([cond("Established", "False", "Installing")])), HealthStatus::Progressing, "Installing");
    expect(
        &crd(json!([cond("Terminating", "True", "InstanceDeletionInProgress")])),
        HealthStatus::Progressing,
        "terminating",
    );
    expect(&crd(json!([established])), HealthStatus::Healthy, "Established");
}

fn hpa(conds: Value) -> Value {
    obj(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        json!({"currentReplicas": 1, "desiredReplicas": 1, "conditions": conds}),
    )
}

#[test]
fn hpa_is_healthy_only_with_positive_evidence() {
    expect(
        &hpa(json!([cond("ScalingActive", "True", "ValidMetricFound")])),
        HealthStatus::Progressing,
        "neither AbleToScale=True nor ScalingLimited=True",
    );
    expect(&hpa(json!([cond("ScalingLimited", "True", "TooFewReplicas")])), HealthStatus::Healthy, "TooFewReplicas");
    let adapter = json!([
        cond("AbleToScale", "True", "SucceededGetScale"),
        cond("ScalingActive", "False", "FailedGetObjectMetric")
    ]);
    expect(&hpa(adapter), HealthStatus::Degraded, "FailedGetObjectMetric");
    let odd = json!([cond("AbleToScale", "True", "FailedGetScale")]);
    expect(&hpa(odd), HealthStatus::Degraded, "FailedGetScale");
    let fresh = json!([
        cond("AbleToScale", "True", "SucceededGetScale"),
        cond("ScalingActive", "False", "FailedGetResourceMetric")
    ]);
    expect(&hpa(fresh), HealthStatus::Progressing, "FailedGetResourceMetric");
}

fn pod(restart: &str, annotations: Value, status: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n", "annotations": annotations},
        "spec": {"restartPolicy": restart}, "status": status})
}

fn backoff() -> Value {
    json!({"phase": "Running", "containerStatuses": [{"name": "main", "ready": false, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "pull failed"}}}]})
}

#[test]
fn pod_back_off_is_judged_with_the_restart_policy() {
    expect(
        &pod("Always", json!({}), backoff()),
        HealthStatus::Degraded,
        "container main: ImagePullBackOff: pull failed",
    );
    for finite in ["Never", "OnFailure"] {
        let h = expect(&pod(finite, json!({}), backoff()), HealthStatus::Progressing, "ImagePullBackOff");
        assert!(h.message.contains(&format!("restartPolicy {finite}")), "{h:?}");
    }
    let mut pending = backoff();
    pending["phase"] = json!("Pending");
    expect(&pod("Never", json!({}), pending), HealthStatus::Progressing, "judged when it ends");
    let ignore = json!({"argocd.argoproj.io/ignore-restart-policy": "true"});
    expect(&pod("Never", ignore.clone(), backoff()), HealthStatus::Degraded, "ImagePullBackOff");
    let hook = json!({"argocd.argoproj.io/ignore-restart-policy": "true", "argocd.argoproj.io/hook": "PostSync"});
    expect(&pod("Never", hook, backoff()), HealthStatus::Progressing, "");
    let ready = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
    expect(&pod("Never", ignore, ready.clone()), HealthStatus::Healthy, "running and ready");
    expect(&pod("Never", json!({}), ready), HealthStatus::Progressing, "waiting for it to succeed");
}

#[test]
fn pod_terminated_with_an_error_is_degraded() {
    let status = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [{"name": "main", "ready": false, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]});
    expect(
        &pod("Always", json!({}), status),
        HealthStatus::Degraded,
        "container main terminated with an error (exit code 1: Error)",
    );
    let oom = json!({"phase": "Running", "containerStatuses": [{"name": "main", "ready": false,
        "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]});
    expect(
        &pod("Always", json!({}), oom),
        HealthStatus::Degraded,
        "last terminated with an error (exit code 137: OOMKilled)",
    );
    let clean = json!({"phase": "Running", "containerStatuses": [{"name": "main", "ready": false,
        "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]});
    expect(&pod("Always", json!({}), clean), HealthStatus::Progressing, "not ready");
    let failed =
        json!({"phase": "Failed", "containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": 2}}}]});
    expect(
        &pod("Never", json!({}), failed),
        HealthStatus::Degraded,
        "Pod failed: container main terminated with an error (exit code 2)",
    );
}

#[test]
fn the_rule_table_is_documented() {
    let docs = include_str!("../../docs/health.md");
    for rule in native_rules() {
        assert!(docs.contains(rule.kind), "docs/health.md does not document {} ({})", rule.kind, rule.group);
        let group = if rule.group.is_empty() { "core" } else { rule.group };
        assert!(docs.contains(group), "docs/health.md does not name the group {group}");
        assert!(native_rule(rule.group, rule.kind).is_some());
    }
    // One rule per group and kind.
    let mut keys: Vec<(&str, &str)> = native_rules().iter().map(|r| (r.group, r.kind)).collect();
    keys.sort();
    let before = keys.len();
    keys.dedup();
    assert_eq!(before, keys.len());
}
