//! Argo Rollouts: `Rollout` and `AnalysisRun` (group `argoproj.io`).
//!
//! A Rollout reports through `status.phase` (Healthy, Progressing, Paused, Degraded; v1.0 and
//! later), its conditions (Progressing, Available, Paused, Completed, InvalidSpec) and
//! `status.pauseConditions`, and writes `status.observedGeneration` as a *string*: `"3"` since
//! v1.0, a pod-template hash such as `"6df79499bc"` before. A Rollout that references a
//! Deployment (`spec.workloadRef`) also records which generation of it it has seen.
//!
//! [`rollout`] is stricter than surfacing `status.phase` as Argo CD does: even with phase
//! Healthy it needs every replica updated and available and, for a canary, the stable
//! ReplicaSet to be the current one; a canary or blue-green update in progress is Progressing
//! with the step named, e.g. `canary step 3/4 (setWeight 40)`.

use serde_json::Value;

use super::read::{Condition, annotation, at, conditions, count, find, flag, int_at, len_at, lenient_int, str_at};
use super::{Health, degraded, healthy, progressing, suspended};

/// The annotation in which Argo Rollouts records the generation of the Deployment a Rollout
/// references (`spec.workloadRef`); `status.workloadObservedGeneration` must match it.
pub const WORKLOAD_GENERATION_ANNOTATION: &str = "rollout.argoproj.io/workload-generation";

/// A Rollout's update strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `spec.strategy.canary`: steps shift traffic and replicas step by step.
    Canary,
    /// `spec.strategy.blueGreen`: a preview ReplicaSet, then a cut-over of the active Service.
    BlueGreen,
    /// Neither is set (an invalid spec).
    Unknown,
}

/// Where a Rollout is in its update: what the wave runner can say while it waits, and what a
/// promotion's soak clock needs ("fully promoted").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutProgress {
    /// The update strategy.
    pub strategy: Strategy,
    /// For a canary with steps: the current step, 1-based (the last one once every step is
    /// done, see [`Self::steps_done`]), and the number of steps.
    pub step: Option<(usize, usize)>,
    /// Every canary step has been executed (or there are none).
    pub steps_done: bool,
    /// The current step, for people: `setWeight 40`, `pause until promoted`, `pause 30s`,
    /// `analysis success-rate`.
    pub step_description: Option<String>,
    /// The stable revision is the current one (for blue-green: the active Service selects it).
    pub fully_promoted: bool,
}

impl RolloutProgress {
    /// `canary step 3/4 (setWeight 40)`, `canary: all 4 steps done`, `blue-green`.
    pub fn describe(&self) -> String {
        match (self.strategy, self.step, &self.step_description) {
            (Strategy::Canary, Some((i, n)), Some(d)) if !self.steps_done => format!("canary step {i}/{n} ({d})"),
            (Strategy::Canary, Some((_, n)), _) => format!("canary: all {n} steps done"),
            (Strategy::Canary, None, _) => "canary without steps".to_string(),
            (Strategy::BlueGreen, _, _) => "blue-green".to_string(),
            (Strategy::Unknown, _, _) => "no update strategy".to_string(),
        }
    }
}

fn stable_rs(obj: &Value) -> Option<&str> {
    str_at(obj, &["status", "stableRS"])
        .or_else(|| str_at(obj, &["status", "canary", "stableRS"]))
        .filter(|s| !s.is_empty())
}

fn active_selector(obj: &Value) -> Option<&str> {
    str_at(obj, &["status", "blueGreen", "activeSelector"])
        .or_else(|| str_at(obj, &["status", "activeSelector"]))
        .filter(|s| !s.is_empty())
}

/// One canary step, for people.
fn describe_step(step: &Value) -> String {
    let Some((name, body)) = step.as_object().and_then(|m| m.iter().next()) else {
        return "unknown step".to_string();
    };
    match name.as_str() {
        "setWeight" => format!("setWeight {}", body),
        "pause" => match body.get("duration") {
            Some(Value::Number(n)) => format!("pause {n}s"),
            Some(Value::String(s)) => format!("pause {s}"),
            _ => "pause until promoted".to_string(),
        },
        "analysis" | "experiment" => {
            let templates: Vec<&str> = body
                .get("templates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t.get("templateName").or_else(|| t.get("name")).and_then(Value::as_str))
                .collect();
            if templates.is_empty() { name.clone() } else { format!("{name} {}", templates.join(", ")) }
        }
        "setCanaryScale" => match (body.get("weight"), body.get("replicas")) {
            (Some(w), _) => format!("setCanaryScale weight {w}"),
            (None, Some(r)) => format!("setCanaryScale replicas {r}"),
            _ => "setCanaryScale matchTrafficWeight".to_string(),
        },
        "setHeaderRoute" | "setMirrorRoute" => match body.get("name").and_then(Value::as_str) {
            Some(n) => format!("{name} {n}"),
            None => name.clone(),
        },
        "plugin" => match body.get("name").and_then(Value::as_str) {
            Some(n) => format!("plugin {n}"),
            None => "plugin".to_string(),
        },
        other => other.to_string(),
    }
}

/// Where a Rollout is in its update, read from its spec and status; `None` for another kind.
pub fn rollout_progress(obj: &Value) -> Option<RolloutProgress> {
    if str_at(obj, &["kind"]) != Some("Rollout") {
        return None;
    }
    let current = str_at(obj, &["status", "currentPodHash"]);
    let strategy = if at(obj, &["spec", "strategy", "canary"]).is_some_and(|v| !v.is_null()) {
        Strategy::Canary
    } else if at(obj, &["spec", "strategy", "blueGreen"]).is_some_and(|v| !v.is_null()) {
        Strategy::BlueGreen
    } else {
        Strategy::Unknown
    };
    let steps = at(obj, &["spec", "strategy", "canary", "steps"]).and_then(Value::as_array).map(Vec::as_slice);
    let steps = steps.unwrap_or_default();
    let index = usize::try_from(int_at(obj, &["status", "currentStepIndex"]).unwrap_or(0)).unwrap_or(0);
    let (step, steps_done, step_description) = if strategy == Strategy::Canary && !steps.is_empty() {
        let done = index >= steps.len();
        let shown = index.min(steps.len() - 1);
        (Some((shown + 1, steps.len())), done, (!done).then(|| describe_step(&steps[shown])))
    } else {
        (None, true, None)
    };
    let fully_promoted = match strategy {
        Strategy::BlueGreen => {
            current.is_some()
                && active_selector(obj) == current
                && stable_rs(obj).is_none_or(|stable| Some(stable) == current)
        }
        _ => current.is_some() && stable_rs(obj) == current,
    };
    Some(RolloutProgress { strategy, step, steps_done, step_description, fully_promoted })
}

/// Whether the Rollouts controller has seen the current spec: `status.observedGeneration` (a
/// numeric string since v1.0) equal to `metadata.generation`. A value that is not a number, or a
/// number above the generation, is a pre-v1.0 pod-template hash, which says nothing about the
/// generation (as Argo CD reads it). With `spec.workloadRef`, the referenced Deployment's
/// generation (annotation) must have been observed too.
fn stale(obj: &Value) -> Option<Health> {
    let observed = lenient_int(at(obj, &["status", "observedGeneration"]));
    if let (Some(o), Some(g)) = (observed, int_at(obj, &["metadata", "generation"]))
        && o < g
    {
        return Some(progressing(format!(
            "status is stale: the Rollouts controller has observed generation {o}, not {g} yet"
        )));
    }
    if at(obj, &["spec", "workloadRef"]).is_some_and(|v| !v.is_null())
        && let Some(want) = annotation(obj, WORKLOAD_GENERATION_ANNOTATION)
    {
        let seen = lenient_int(at(obj, &["status", "workloadObservedGeneration"]));
        if want.trim().parse::<i64>().ok() != seen {
            let seen = seen.map_or("none".to_string(), |s| s.to_string());
            return Some(progressing(format!(
                "status is stale: the referenced workload is at generation {want}, the Rollouts controller has observed {seen}"
            )));
        }
    }
    None
}

/// A failure the Rollout reports: an invalid spec, an abort, a progress deadline, phase Degraded.
fn failure(obj: &Value, conds: &[Condition<'_>], progress: &RolloutProgress) -> Option<Health> {
    if let Some(c) = find(conds, "InvalidSpec").filter(|c| c.status != "False") {
        return Some(degraded(format!("InvalidSpec: {}", c.message)));
    }
    let aborted = find(conds, "Progressing").filter(|c| c.reason == "RolloutAborted");
    if flag(obj, &["status", "abort"]) || aborted.is_some() {
        let why = aborted.map(|c| c.message).filter(|m| !m.is_empty()).unwrap_or("aborted");
        return Some(degraded(format!("Rollout is aborted at {}: {why}", progress.describe())));
    }
    if let Some(c) = find(conds, "Progressing").filter(|c| c.reason == "ProgressDeadlineExceeded") {
        return Some(degraded(format!("{}: {}", c.reason, c.message)));
    }
    if str_at(obj, &["status", "phase"]) == Some("Degraded") {
        let message = str_at(obj, &["status", "message"]).unwrap_or("phase Degraded");
        return Some(degraded(format!("Rollout is Degraded: {message}")));
    }
    None
}

/// Paused by a person (`spec.paused`), by a pause step, for a blue-green promotion, or by an
/// inconclusive analysis.
fn paused(obj: &Value, progress: &RolloutProgress) -> Option<Health> {
    let reasons: Vec<&str> = at(obj, &["status", "pauseConditions"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("reason").and_then(Value::as_str))
        .collect();
    let phase_paused = str_at(obj, &["status", "phase"]) == Some("Paused");
    if reasons.is_empty() && !phase_paused && !flag(obj, &["spec", "paused"]) {
        return None;
    }
    let why = if !reasons.is_empty() {
        reasons.join(", ")
    } else if flag(obj, &["spec", "paused"]) {
        "spec.paused".to_string()
    } else {
        str_at(obj, &["status", "message"]).unwrap_or("phase Paused").to_string()
    };
    Some(suspended(format!("Rollout is paused at {}: {why}", progress.describe())))
}

/// Argo Rollouts `Rollout`; see the module documentation.
pub(super) fn rollout(obj: &Value) -> Health {
    if let Some(h) = stale(obj) {
        return h;
    }
    let conds = conditions(obj);
    let Some(progress) = rollout_progress(obj) else {
        return progressing("not a Rollout");
    };
    if let Some(h) = failure(obj, &conds, &progress) {
        return h;
    }
    if let Some(h) = paused(obj, &progress) {
        return h;
    }
    let Some(current) = str_at(obj, &["status", "currentPodHash"]) else {
        return progressing("waiting for the Rollouts controller to reconcile the Rollout (no currentPodHash yet)");
    };
    let at_step = progress.describe();
    let want = int_at(obj, &["spec", "replicas"]).unwrap_or(1);
    let total = count(obj, &["status", "replicas"]);
    let updated = count(obj, &["status", "updatedReplicas"]);
    let available = count(obj, &["status", "availableReplicas"]);
    if str_at(obj, &["status", "phase"]) == Some("Progressing") {
        let message = str_at(obj, &["status", "message"]).filter(|m| !m.is_empty());
        return progressing(match message {
            Some(m) => format!("{at_step}: {m} ({updated}/{want} replicas updated)"),
            None => format!("{at_step}: {updated}/{want} replicas updated"),
        });
    }
    if updated < want {
        return progressing(format!("{at_step}: {updated}/{want} replicas updated"));
    }
    if available < updated {
        return progressing(format!("{at_step}: {available}/{updated} updated replicas available"));
    }
    match progress.strategy {
        Strategy::BlueGreen => {
            if active_selector(obj) != Some(current) {
                return progressing(format!(
                    "blue-green: active service cut-over to {current} pending (active selects {})",
                    active_selector(obj).unwrap_or("nothing yet")
                ));
            }
            if let Some(stable) = stable_rs(obj).filter(|s| *s != current) {
                return progressing(format!(
                    "blue-green: waiting for post-promotion analysis (stable {stable}, current {current})"
                ));
            }
        }
        Strategy::Canary | Strategy::Unknown => {
            if total > updated {
                return progressing(format!("{at_step}: {} old replicas pending termination", total - updated));
            }
            if stable_rs(obj) != Some(current) {
                return progressing(format!(
                    "{at_step}: waiting for the steps to finish (stable {}, current {current})",
                    stable_rs(obj).unwrap_or("none")
                ));
            }
        }
    }
    let steps = len_at(obj, &["spec", "strategy", "canary", "steps"]);
    let how = if steps > 0 { format!(", all {steps} canary steps done") } else { String::new() };
    healthy(format!("Rollout is fully promoted: {current} is stable, {available}/{want} replicas available{how}"))
}

/// Argo Rollouts `AnalysisRun`: by `status.phase`. Inconclusive (no Unknown here) is Degraded:
/// the analysis is over without a verdict and waits for a person, so nothing that depends on it
/// may go on.
pub(super) fn analysis_run(obj: &Value) -> Health {
    let message = str_at(obj, &["status", "message"]).filter(|m| !m.is_empty());
    let with = |default: &str| message.map_or(default.to_string(), |m| format!("{default}: {m}"));
    match str_at(obj, &["status", "phase"]) {
        Some("Successful") => healthy(with("analysis run completed successfully")),
        Some("Failed") => degraded(with("analysis run failed")),
        Some("Error") => degraded(with("analysis run had an error")),
        Some("Inconclusive") => degraded(with("analysis run was inconclusive: a person must decide")),
        Some(phase @ ("Pending" | "Running")) => {
            progressing(with(&format!("analysis run is {}", phase.to_lowercase())))
        }
        Some(other) => progressing(format!("analysis run in phase {other}")),
        None => progressing("waiting for the Rollouts controller to start the analysis run"),
    }
}
