//! Health of live Kubernetes objects: the rules that decide when a sync wave may advance.
//!
//! Owns: turning one live object (as the Kubernetes API returns it, a [`serde_json::Value`]) into
//! a [`Health`]. Must not touch: the cluster, the clock, the network — [`assess`] is a pure function.
//!
//! The rules follow Flux's kstatus and Argo CD's built-in checks and health scripts, and are
//! observedGeneration-aware first of all: Argo CD's stale health let waves advance before a
//! controller had even seen the new spec. Here a status that does not describe the current
//! `metadata.generation` is never healthy. Every kind with a rule, what the rule says and every
//! deliberate difference from Argo CD, with its reason, is listed in `docs/health.md`.
//!
//! Order of evaluation, for every object:
//!
//! 1. `metadata.deletionTimestamp` set → [`HealthStatus::Progressing`] ("being deleted").
//! 2. The kind's [`NativeRule`], looked up by API group and kind in [`native_rules`] (a custom
//!    resource called `Deployment` in another group is not a Deployment; without `apiVersion` the
//!    kind alone decides). A kind without a rule is judged by the generic kstatus rule below.
//! 3. A custom resource of a kind that has a rule and no status yet is Progressing: its
//!    controller has not seen it (or is not installed).
//! 4. The generation check ([`GenerationCheck`]): `status.observedGeneration` present and ≠
//!    `metadata.generation` → Progressing ("status is stale"); for Deployment, StatefulSet,
//!    DaemonSet, ReplicaSet and ReplicationController, whose controllers always write it, a
//!    missing one is stale too; Argo Rollouts' string form is read by the Rollout rule.
//! 5. The kind's rule. Without one: kstatus — `Reconciling=True` → Progressing; `Stalled=True`
//!    → Degraded; `Ready=True` → Healthy, other `Ready` → Progressing; a condition whose own
//!    `observedGeneration` ≠ generation → Progressing; no such conditions → Healthy on existence.
//!
//! [`HealthStatus::Suspended`] is, as in Argo CD, not healthy: a paused Deployment or Rollout, a
//! suspended Job, a paused ScaledObject report it, and [`Health::is_healthy`] is false for it.
//! Whether a suspended object may let a wave advance is the wave runner's decision, not this
//! module's.
//!
//! [`HealthStatus::Degraded`] means the object reports a failure that is not expected to go away
//! by waiting (a failed Job, a crash-looping Pod, a Deployment past its progress deadline, an
//! aborted Rollout, a `Stalled` custom resource, a controller that knows its domain reporting
//! `Ready=False`). States that commonly clear up on their own (metrics not yet available to an
//! autoscaler, an APIService whose backend has no endpoints yet, `Ready=False` on a kind without a
//! rule, a Prometheus with no pod ready yet) are Progressing, so a wave waits on them until its
//! timeout instead of failing at once.
//!
//! Rules users bring ([`custom`]: Flux-style CEL or Argo CD-style Lua, per group/kind, from the
//! repository, carried by [`HealthOptions::rules`]) are consulted after step 1 and replace the
//! native rule of their kind: steps 2–5 are then the user rule's ([`judge`] says when it
//! failed).

mod addons;
mod builtin;
pub mod custom;
pub mod input;
mod read;
pub mod rollouts;

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use read::{Condition, at, conditions, find, has_status, int_at, str_at};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthOptions {
    /// A Service of type LoadBalancer and an Ingress are healthy only once
    /// `status.loadBalancer.ingress` is non-empty. Turn off for clusters whose load balancer or
    /// ingress controller never writes it. Default: true.
    pub require_load_balancer: bool,
    /// The repository's own rules ([`custom::HEALTH_RULES_FILE`]); each replaces the native rule
    /// of its group/kind. Default: none.
    pub rules: Arc<custom::HealthRules>,
}

impl Default for HealthOptions {
    fn default() -> HealthOptions {
        HealthOptions { require_load_balancer: true, rules: Arc::default() }
    }
}

impl HealthOptions {
    /// The default options with the repository's rules.
    pub fn with_rules(rules: custom::HealthRules) -> HealthOptions {
        HealthOptions { rules: Arc::new(rules), ..HealthOptions::default() }
    }
}

/// Assesses the health of one live object as returned by the Kubernetes API.
///
/// Pure: it reads only `obj`. Rules are documented on the module and in docs/health.md; a kind
/// without a rule is judged by its kstatus conditions, or is healthy on existence. A user rule
/// that fails ([`judge`]'s error) makes the object Progressing with the rule's error as the
/// message: as in Flux, a wave waits on it until its timeout, and a promotion source with it is
/// not healthy.
pub fn assess(obj: &Value, opts: &HealthOptions) -> Health {
    judge(obj, opts).unwrap_or_else(|e| progressing(e.to_string()))
}

/// As [`assess`], but a user rule that could not judge the object (an expression that failed,
/// a script that raised an error or ran out of time or memory) is an error.
pub fn judge(obj: &Value, opts: &HealthOptions) -> Result<Health, custom::RuleError> {
    if at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null()) {
        return Ok(progressing("being deleted (metadata.deletionTimestamp is set)"));
    }
    if let Some(rule) = opts.rules.rule_of(obj) {
        return rule.judge(obj);
    }
    Ok(match rule_of(obj) {
        Some(rule) => rule.judge(obj, opts),
        None => stale_status(obj, false).unwrap_or_else(|| generic(obj)),
    })
}

/// Whether an object in this state lets its wave settle. Healthy does; so does Suspended where
/// the repository asked for it (a paused Deployment, a suspended CronJob or ScaledObject): there
/// is nothing more to wait for. A suspended Argo Rollout is different: it is paused in the middle
/// of a canary or blue-green step, waiting for a person or an analysis, so its wave waits too.
pub fn settles_wave(obj: &Value, health: &Health) -> bool {
    match health.status {
        HealthStatus::Healthy => true,
        HealthStatus::Suspended => {
            let group = obj.get("apiVersion").and_then(Value::as_str).and_then(|a| a.split_once('/')).map(|(g, _)| g);
            !(group == Some("argoproj.io") && obj.get("kind").and_then(Value::as_str) == Some("Rollout"))
        }
        HealthStatus::Progressing | HealthStatus::Degraded => false,
    }
}

type Rule = fn(&Value, &HealthOptions) -> Health;

/// How a kind's status tells which generation of the spec it describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationCheck {
    /// `status.observedGeneration`, when present, must equal `metadata.generation`.
    IfPresent,
    /// As [`GenerationCheck::IfPresent`], and a missing one is stale too: the kind's controller
    /// always writes it.
    Required,
    /// The kind's rule reads it itself (Argo Rollouts writes it as a string, or a hash).
    ByRule,
}

/// Whether a kind's objects are reconciled by a controller that is installed separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A Kubernetes built-in kind.
    BuiltIn,
    /// A custom resource: without any status yet it is Progressing (its controller has not
    /// seen it).
    Custom,
}

/// One native health rule: the kind it judges, keyed by API group and kind.
#[derive(Clone, Copy)]
pub struct NativeRule {
    /// The API group (`""` for the core group).
    pub group: &'static str,
    /// The kind.
    pub kind: &'static str,
    /// Built-in kind or custom resource.
    pub origin: Origin,
    /// How staleness is judged before the rule runs.
    pub generation: GenerationCheck,
    rule: Rule,
}

impl fmt::Debug for NativeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeRule")
            .field("group", &self.group)
            .field("kind", &self.kind)
            .field("origin", &self.origin)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl NativeRule {
    /// Judges `obj` (a live object of this rule's kind, not being deleted): no status yet for a
    /// custom resource, then the generation check, then the kind's rule.
    pub fn judge(&self, obj: &Value, opts: &HealthOptions) -> Health {
        if self.origin == Origin::Custom && !has_status(obj) {
            return progressing(format!(
                "no status yet: the {} controller has not reconciled this {} (is it installed?)",
                if self.group.is_empty() { "core" } else { self.group },
                self.kind
            ));
        }
        let stale = match self.generation {
            GenerationCheck::IfPresent => stale_status(obj, false),
            GenerationCheck::Required => stale_status(obj, true),
            GenerationCheck::ByRule => None,
        };
        stale.unwrap_or_else(|| (self.rule)(obj, opts))
    }
}

const fn built_in(group: &'static str, kind: &'static str, generation: GenerationCheck, rule: Rule) -> NativeRule {
    NativeRule { group, kind, origin: Origin::BuiltIn, generation, rule }
}

const fn custom(group: &'static str, kind: &'static str, rule: Rule) -> NativeRule {
    NativeRule { group, kind, origin: Origin::Custom, generation: GenerationCheck::IfPresent, rule }
}

use GenerationCheck::{ByRule, IfPresent, Required};

/// The native rules, keyed by group and kind (docs/health.md lists them all).
static NATIVE_RULES: &[NativeRule] = &[
    built_in("apps", "Deployment", Required, |o, _| builtin::deployment(o)),
    built_in("extensions", "Deployment", Required, |o, _| builtin::deployment(o)),
    built_in("apps", "StatefulSet", Required, |o, _| builtin::statefulset(o)),
    built_in("apps", "DaemonSet", Required, |o, _| builtin::daemonset(o)),
    built_in("extensions", "DaemonSet", Required, |o, _| builtin::daemonset(o)),
    built_in("apps", "ReplicaSet", Required, |o, _| builtin::replicaset(o)),
    built_in("extensions", "ReplicaSet", Required, |o, _| builtin::replicaset(o)),
    built_in("", "ReplicationController", Required, |o, _| builtin::replicaset(o)),
    built_in("batch", "Job", IfPresent, |o, _| builtin::job(o)),
    built_in("batch", "CronJob", IfPresent, |o, _| builtin::cronjob(o)),
    built_in("", "Pod", IfPresent, |o, _| builtin::pod(o)),
    built_in("", "PersistentVolumeClaim", IfPresent, |o, _| builtin::pvc(o)),
    built_in("", "Service", IfPresent, builtin::service),
    built_in("networking.k8s.io", "Ingress", IfPresent, |o, opts| builtin::load_balancer(o, opts, "Ingress")),
    built_in("extensions", "Ingress", IfPresent, |o, opts| builtin::load_balancer(o, opts, "Ingress")),
    built_in("autoscaling", "HorizontalPodAutoscaler", IfPresent, |o, _| builtin::hpa(o)),
    built_in("policy", "PodDisruptionBudget", IfPresent, |o, _| builtin::pdb(o)),
    built_in("apiextensions.k8s.io", "CustomResourceDefinition", IfPresent, |o, _| builtin::crd(o)),
    built_in("apiregistration.k8s.io", "APIService", IfPresent, |o, _| builtin::apiservice(o)),
    built_in("", "Namespace", IfPresent, |o, _| builtin::namespace(o)),
    NativeRule {
        group: "argoproj.io",
        kind: "Rollout",
        origin: Origin::Custom,
        generation: ByRule,
        rule: |o, _| rollouts::rollout(o),
    },
    custom("argoproj.io", "AnalysisRun", |o, _| rollouts::analysis_run(o)),
    custom("keda.sh", "ScaledObject", |o, _| addons::scaled_object(o)),
    custom("keda.sh", "ScaledJob", |o, _| addons::scaled_job(o)),
    custom("external-secrets.io", "ExternalSecret", |o, _| addons::external_secret(o)),
    custom("external-secrets.io", "SecretStore", |o, _| addons::secret_store(o)),
    custom("external-secrets.io", "ClusterSecretStore", |o, _| addons::cluster_secret_store(o)),
    custom("external-secrets.io", "ClusterExternalSecret", |o, _| addons::cluster_external_secret(o)),
    custom("cert-manager.io", "Certificate", |o, _| addons::certificate(o)),
    custom("cert-manager.io", "Issuer", |o, _| addons::issuer(o)),
    custom("cert-manager.io", "ClusterIssuer", |o, _| addons::cluster_issuer(o)),
    custom("karpenter.sh", "NodePool", |o, _| addons::node_pool(o)),
    custom("karpenter.sh", "NodeClaim", |o, _| addons::node_claim(o)),
    custom("monitoring.coreos.com", "Prometheus", |o, _| addons::prometheus(o)),
    custom("monitoring.coreos.com", "Alertmanager", |o, _| addons::alertmanager(o)),
];

/// Every native rule, in the order docs/health.md lists them.
pub fn native_rules() -> &'static [NativeRule] {
    NATIVE_RULES
}

/// The native rule for a group and kind, if there is one.
pub fn native_rule(group: &str, kind: &str) -> Option<&'static NativeRule> {
    NATIVE_RULES.iter().find(|r| r.group == group && r.kind == kind)
}

/// The rule for `obj`'s kind: matched on kind and API group; without `apiVersion` the kind alone
/// decides (the first rule for it).
fn rule_of(obj: &Value) -> Option<&'static NativeRule> {
    let kind = str_at(obj, &["kind"]).unwrap_or_default();
    match str_at(obj, &["apiVersion"]) {
        Some(api_version) => native_rule(api_version.rsplit_once('/').map_or("", |(group, _)| group), kind),
        None => NATIVE_RULES.iter().find(|r| r.kind == kind),
    }
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

// ---- kinds without a rule ----------------------------------------------------------------

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
#[cfg(test)]
mod tests_platform;
#[cfg(test)]
mod tests_rollouts;
