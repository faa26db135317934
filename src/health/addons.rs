//! The platform's add-on controllers: KEDA, External Secrets, cert-manager, Karpenter and the
//! Prometheus Operator.
//!
//! These controllers know their domain: when one of them reports `Ready=False` it has tried and
//! failed (a store it cannot validate, a certificate it cannot issue, a trigger that errors),
//! so — as in Argo CD — that is Degraded here, unlike the generic kstatus rule for kinds without
//! a rule, where `Ready=False` waits. The exceptions, where such a report commonly clears up by
//! itself, are documented on each rule and in docs/health.md.

use serde_json::Value;

use super::read::{Condition, conditions, count, find, find_is, flag};
use super::{Health, degraded, healthy, progressing, suspended};

fn said(c: &Condition<'_>) -> String {
    c.reason_and_message()
}

/// KEDA `ScaledObject`: `Fallback=True` (a trigger is failing and the fallback replica count is
/// in use) or `Ready=False` → Degraded; `Paused=True` → Suspended; `Ready=True` → Healthy;
/// otherwise (`Ready=Unknown`, no Ready yet) Progressing.
pub(super) fn scaled_object(obj: &Value) -> Health {
    let conds = conditions(obj);
    if let Some(c) = find_is(&conds, "Fallback", "True") {
        return degraded(format!("a trigger is failing and the fallback is in use: {}", said(&c)));
    }
    keda_ready(&conds, "ScaledObject", false)
}

/// KEDA `ScaledJob`: as [`scaled_object`], and `Ready=Unknown` is Degraded too (KEDA reports
/// `PartialTriggerError` that way), as in Argo CD.
pub(super) fn scaled_job(obj: &Value) -> Health {
    keda_ready(&conditions(obj), "ScaledJob", true)
}

fn keda_ready(conds: &[Condition<'_>], what: &str, unknown_fails: bool) -> Health {
    let ready = find(conds, "Ready");
    if let Some(c) = ready.filter(|c| c.status == "False" || (unknown_fails && c.status == "Unknown")) {
        return degraded(format!("{what} is not ready: {}", said(&c)));
    }
    if let Some(c) = find_is(conds, "Paused", "True") {
        return suspended(format!("{what} is paused: {}", said(&c)));
    }
    match ready {
        Some(c) if c.status == "True" => healthy(said(&c)),
        Some(c) => progressing(format!("waiting for the {what} to be ready: {}", c.describe())),
        None => progressing(format!("waiting for KEDA to report the {what} ready")),
    }
}

/// A `Ready` condition decides: True → Healthy, False → Degraded, anything else waits. Used for
/// External Secrets' ExternalSecret, SecretStore and ClusterSecretStore, and cert-manager's
/// Issuer and ClusterIssuer.
fn ready_decides(obj: &Value, what: &str) -> Health {
    match find(&conditions(obj), "Ready") {
        Some(c) if c.status == "True" => healthy(said(&c)),
        Some(c) if c.status == "False" => degraded(format!("{what} is not ready: {}", said(&c))),
        Some(c) => progressing(format!("waiting for the {what} to be ready: {}", c.describe())),
        None => progressing(format!("waiting for the {what}'s Ready condition")),
    }
}

/// External Secrets `ExternalSecret`: see [`ready_decides`].
pub(super) fn external_secret(obj: &Value) -> Health {
    ready_decides(obj, "ExternalSecret")
}

/// External Secrets `SecretStore`: see [`ready_decides`].
pub(super) fn secret_store(obj: &Value) -> Health {
    ready_decides(obj, "SecretStore")
}

/// External Secrets `ClusterSecretStore`: see [`ready_decides`].
pub(super) fn cluster_secret_store(obj: &Value) -> Health {
    ready_decides(obj, "ClusterSecretStore")
}

/// External Secrets `ClusterExternalSecret`: `Ready` decides when present; older versions
/// append `PartiallyReady`/`NotReady` conditions, and a True one of those (the newest decides)
/// is Degraded: some namespaces did not get their ExternalSecret.
pub(super) fn cluster_external_secret(obj: &Value) -> Health {
    let conds = conditions(obj);
    let latest = conds.iter().rev().find(|c| matches!(c.type_, "Ready" | "PartiallyReady" | "NotReady"));
    match latest {
        Some(c) if c.is("Ready", "True") => healthy(said(c)),
        Some(c) if c.is("Ready", "False") || c.is("PartiallyReady", "True") || c.is("NotReady", "True") => {
            degraded(format!("ClusterExternalSecret is not ready everywhere: {}", c.describe()))
        }
        Some(c) => progressing(format!("waiting for the ClusterExternalSecret: {}", c.describe())),
        None => progressing("waiting for the ClusterExternalSecret's Ready condition"),
    }
}

/// cert-manager `Certificate`: `Issuing=True` → Progressing (checked first: while a certificate
/// is issued, `Ready=False` is expected), then [`ready_decides`].
pub(super) fn certificate(obj: &Value) -> Health {
    if let Some(c) = find_is(&conditions(obj), "Issuing", "True") {
        return progressing(format!("issuing the certificate: {}", said(&c)));
    }
    ready_decides(obj, "Certificate")
}

/// cert-manager `Issuer`: see [`ready_decides`].
pub(super) fn issuer(obj: &Value) -> Health {
    ready_decides(obj, "Issuer")
}

/// cert-manager `ClusterIssuer`: see [`ready_decides`].
pub(super) fn cluster_issuer(obj: &Value) -> Health {
    ready_decides(obj, "ClusterIssuer")
}

/// Karpenter `NodePool`: [`ready_decides`], except that `Ready=False` while its NodeClass is not
/// ready yet (`NodeClassReady` False or Unknown) waits: a NodePool and its EC2NodeClass are
/// applied together, and the NodeClass becomes ready seconds later.
pub(super) fn node_pool(obj: &Value) -> Health {
    let conds = conditions(obj);
    if let (Some(ready), Some(class)) = (find_is(&conds, "Ready", "False"), find(&conds, "NodeClassReady"))
        && class.status != "True"
    {
        return progressing(format!(
            "waiting for the NodePool's NodeClass to be ready: {} ({})",
            class.describe(),
            ready.describe()
        ));
    }
    ready_decides(obj, "NodePool")
}

/// Karpenter `NodeClaim`: `Disrupting=True` (expired, drifted, consolidated) → Suspended;
/// `Ready` True → Healthy, False → Degraded; otherwise Progressing, naming the furthest step
/// reached (Launched, Registered, Initialized).
pub(super) fn node_claim(obj: &Value) -> Health {
    let conds = conditions(obj);
    if let Some(c) = find_is(&conds, "Disrupting", "True") {
        return suspended(format!("NodeClaim is being disrupted: {}", said(&c)));
    }
    match find(&conds, "Ready") {
        Some(c) if c.status == "True" => return healthy(format!("NodeClaim is ready: {}", said(&c))),
        Some(c) if c.status == "False" => return degraded(format!("NodeClaim is not ready: {}", said(&c))),
        _ => {}
    }
    let reached = ["Initialized", "Registered", "Launched"].into_iter().find(|t| find_is(&conds, t, "True").is_some());
    progressing(match reached {
        Some("Initialized") => "node initialized, waiting for Ready".to_string(),
        Some("Registered") => "node registered, waiting for initialization".to_string(),
        Some(_) => "node launched, waiting for registration".to_string(),
        None => "waiting for the NodeClaim to be launched".to_string(),
    })
}

/// Prometheus Operator `Prometheus` and `Alertmanager` (and any kind it reports the same way):
/// `spec.paused` → Suspended (the operator stops reconciling it); `Available=True` → Healthy;
/// `Available=Degraded` (`SomePodsNotReady`) → Progressing; `Available=False` → Progressing while
/// no pod is ready yet (`NoPodReady`, which is also what a new one reports until its first pod
/// starts — as a Deployment or StatefulSet with no ready pod waits, in Argo CD too), Degraded
/// for any other reason; `Reconciled=False` → Degraded.
pub(super) fn prometheus_operator(obj: &Value, what: &str) -> Health {
    if flag(obj, &["spec", "paused"]) {
        return suspended(format!("{what} is paused (spec.paused): the operator does not reconcile it"));
    }
    let conds = conditions(obj);
    if let Some(c) = find_is(&conds, "Reconciled", "False") {
        return degraded(format!("the operator could not reconcile the {what}: {}", said(&c)));
    }
    let pods = format!(
        "{}/{} replicas available",
        count(obj, &["status", "availableReplicas"]),
        count(obj, &["status", "replicas"])
    );
    match find(&conds, "Available") {
        Some(c) if c.status == "True" => healthy(format!("all instances are available ({pods})")),
        Some(c) if c.status == "False" && c.reason != "NoPodReady" => {
            degraded(format!("{what} is not available: {}", said(&c)))
        }
        Some(c) => progressing(format!("waiting for {what} pods: {pods}: {}", said(&c))),
        None => progressing(format!("waiting for the operator to report the {what} available")),
    }
}

/// `Prometheus`: see [`prometheus_operator`].
pub(super) fn prometheus(obj: &Value) -> Health {
    prometheus_operator(obj, "Prometheus")
}

/// `Alertmanager`: see [`prometheus_operator`].
pub(super) fn alertmanager(obj: &Value) -> Health {
    prometheus_operator(obj, "Alertmanager")
}
