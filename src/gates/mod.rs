//! Promotion gates: whether an app may move from one environment to the next, with the
//! evidence for each decision (source healthy at the tag, soak time, Prometheus queries,
//! promotion windows, a person's approval).
//!
//! Owns: evaluating gates. The pure part decides from data (`checks`, `condition`, `window`,
//! `template`, `analysis`); the Prometheus HTTP adapter lives in [`prometheus`]. Must not touch:
//! git, the cluster, GitHub.
//!
//! [`evaluate`] runs every gate of a [`GatePolicy`] and returns a [`GateReport`] with one
//! [`GateResult`] per gate, in this order: `source-healthy`, `soak`, `prometheus/<name>` (in
//! policy order), `window`, `approval`. Every gate reports, even when an earlier one did not
//! pass, so that a pull request shows the whole picture — except that Prometheus queries are
//! not sent while the source is not healthy at the promoted images (their numbers would
//! describe the old version); those gates then wait.
//!
//! Outcomes: `passed`; `waiting` — not yet, and it may pass later without anyone changing the
//! configuration (`retry_at` says when it is worth asking again, if time alone can change it);
//! `failed` — the condition is false now (a metric is bad) or the configuration is wrong.

mod analysis;
mod checks;
pub mod condition;
pub mod duration;
pub mod prometheus;
pub mod spec;
pub mod template;
pub mod window;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use analysis::{DEFAULT_COUNT, DEFAULT_INTERVAL, MAX_COUNT, PromGate};
pub use prometheus::{MetricsSource, PromError, PrometheusClient, Series};
pub use spec::{GatePolicy, NoDataPolicy, PrometheusGateSpec, WindowSpec};

/// A configuration problem in a gate policy. Every message names the gate or window involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// A Prometheus gate's success condition does not parse.
    #[error("prometheus gate {gate:?}: invalid success condition {condition:?} at column {column}: {message}")]
    Condition {
        /// The gate's name.
        gate: String,
        /// The condition as written.
        condition: String,
        /// 1-based character column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A Prometheus gate's setting (name, query, count, interval, address) is invalid.
    #[error("prometheus gate {gate:?}: {message}")]
    Prometheus {
        /// The gate's name.
        gate: String,
        /// What is wrong.
        message: String,
    },
    /// A promotion window's schedule does not parse.
    #[error("promotion window {schedule:?}: invalid cron schedule: {message}")]
    Schedule {
        /// The schedule as written.
        schedule: String,
        /// What is wrong.
        message: String,
    },
    /// A promotion window's time zone is not an IANA name.
    #[error("promotion window {schedule:?}: unknown time zone {time_zone:?} (use an IANA name such as Europe/Berlin)")]
    TimeZone {
        /// The window's schedule.
        schedule: String,
        /// The time zone as written.
        time_zone: String,
    },
    /// A promotion window's duration is invalid or zero.
    #[error("promotion window {schedule:?}: invalid duration {duration:?}: {message}")]
    WindowDuration {
        /// The window's schedule.
        schedule: String,
        /// The duration as written.
        duration: String,
        /// What is wrong.
        message: String,
    },
}

/// The outcome of one gate. Displays (and serializes) as `passed`, `failed` or `waiting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The gate is satisfied.
    Passed,
    /// The gate's condition is false now, or its configuration is wrong.
    Failed,
    /// Not yet: the gate may pass later on its own (time, health, a person's `/promote`).
    Waiting,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Waiting => "waiting",
        })
    }
}

/// One gate's decision and the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateResult {
    /// `source-healthy`, `soak`, `prometheus/<name>`, `window` or `approval`.
    pub gate: String,
    /// The decision.
    pub outcome: Outcome,
    /// What was observed, with values, in one line a person reads, e.g.
    /// `error-rate: result = 0.012 (result < 0.05) at 3/3 evaluations 1m apart`.
    pub evidence: String,
    /// For `waiting`: the earliest time at which the gate could pass if only time passes;
    /// `None` when it waits for an event (health, a `/promote`). Always `None` otherwise.
    pub retry_at: Option<DateTime<Utc>>,
}

impl fmt::Display for GateResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.gate, self.outcome, self.evidence)
    }
}

/// Every gate's result for one (app, target environment), in evaluation order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct GateReport {
    /// One result per gate.
    pub results: Vec<GateResult>,
}

impl GateReport {
    /// Whether every gate passed (a report without results has not passed).
    pub fn passed(&self) -> bool {
        !self.results.is_empty() && self.results.iter().all(|r| r.outcome == Outcome::Passed)
    }

    /// The first failed gate, if any.
    pub fn failed(&self) -> Option<&GateResult> {
        self.results.iter().find(|r| r.outcome == Outcome::Failed)
    }

    /// Every waiting gate.
    pub fn waiting(&self) -> Vec<&GateResult> {
        self.results.iter().filter(|r| r.outcome == Outcome::Waiting).collect()
    }

    /// When it is worth evaluating again: the latest `retry_at` of the waiting gates (no gate
    /// can pass sooner than the last of them). `None` when no waiting gate has a time, i.e.
    /// only an event (health change, `/promote`, a configuration fix) can change the report.
    pub fn retry_at(&self) -> Option<DateTime<Utc>> {
        self.results.iter().filter(|r| r.outcome == Outcome::Waiting).filter_map(|r| r.retry_at).max()
    }

    /// One line for logs, commit statuses and comments: `all 5 gates passed`, `failed:
    /// prometheus/error-rate: …` (the first failure) or `waiting for 2 of 5 gates: window: …;
    /// approval: …`.
    pub fn summary(&self) -> String {
        let total = self.results.len();
        if self.passed() {
            return format!("all {total} gates passed");
        }
        if let Some(failed) = self.failed() {
            return format!("failed: {}: {}", failed.gate, failed.evidence);
        }
        let waiting = self.waiting();
        if waiting.is_empty() {
            return "no gates evaluated".to_string();
        }
        let details: Vec<String> = waiting.iter().map(|r| format!("{}: {}", r.gate, r.evidence)).collect();
        format!("waiting for {} of {total} gates: {}", waiting.len(), details.join("; "))
    }
}

/// What the reconciler observed of the app in the source environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceObservation {
    /// The images (`name:tag`, as in [`GateInput::images`]) running in the source environment.
    pub synced_images: Vec<String>,
    /// Whether every object of the app is healthy.
    pub healthy: bool,
    /// Since when it has been healthy without interruption (the soak clock).
    pub healthy_since: Option<DateTime<Utc>>,
    /// Sync status; `Synced` (any case) means the live state matches the desired state.
    pub sync: String,
    /// Why it is not healthy or not synced, when known.
    pub message: Option<String>,
    /// The repository revision the source environment is synced to.
    pub revision: Option<String>,
}

/// Everything the gates look at for one promotion besides the policy.
#[derive(Debug, Clone, Copy)]
pub struct GateInput<'a> {
    /// The app being promoted.
    pub app: &'a str,
    /// The app's namespace in the source environment (`{{namespace}}`).
    pub namespace: &'a str,
    /// The environment promoted from (`{{env}}`).
    pub source_env: &'a str,
    /// The environment promoted to (`{{target}}`).
    pub target_env: &'a str,
    /// The images being promoted, `name:tag`.
    pub images: &'a [String],
    /// The evaluation time (injected so that decisions are reproducible).
    pub now: DateTime<Utc>,
    /// The source environment as observed; `None` before the first observation.
    pub source: Option<&'a SourceObservation>,
    /// The person whose `/promote` asked for this promotion; `None` for automatic promotion.
    pub requested_by: Option<&'a str>,
}

/// Evaluates every gate of `policy` for `input`, querying Prometheus through `metrics`.
///
/// Never returns an error: configuration problems are failed gates and an unreachable
/// Prometheus is a waiting gate, each with evidence saying so.
pub async fn evaluate<M: MetricsSource>(policy: &GatePolicy, input: &GateInput<'_>, metrics: &M) -> GateReport {
    let mut results = Vec::with_capacity(4 + policy.prometheus.len());
    let source = checks::source_healthy(input);
    let source_ok = source.outcome == Outcome::Passed;
    results.push(source);
    results.push(checks::soak(policy.soak, input));
    for spec in &policy.prometheus {
        let gate_name = format!("prometheus/{}", spec.name);
        let result = match PromGate::parse(spec, policy.prometheus_address.as_deref()) {
            Err(e) => GateResult { gate: gate_name, outcome: Outcome::Failed, evidence: e.to_string(), retry_at: None },
            Ok(_) if !source_ok => GateResult {
                gate: gate_name,
                outcome: Outcome::Waiting,
                evidence: format!(
                    "{}: not queried until {} is healthy in {} at the promoted images",
                    spec.name, input.app, input.source_env
                ),
                retry_at: None,
            },
            Ok(gate) => gate.evaluate(input, metrics).await,
        };
        results.push(result);
    }
    results.push(window::window_gate(&policy.windows, input.target_env, input.now));
    results.push(checks::approval(policy.require_approval, input));
    GateReport { results }
}

/// Every configuration problem of `policy` (conditions, queries, counts, intervals, addresses,
/// cron schedules, time zones, durations), for `tidegate check`. Empty when it is valid.
pub fn validate(policy: &GatePolicy) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for spec in &policy.prometheus {
        if !names.insert(spec.name.as_str()) {
            problems.push(format!("prometheus gate {:?}: the name is used twice", spec.name));
        }
        problems
            .extend(PromGate::problems(spec, policy.prometheus_address.as_deref()).into_iter().map(|e| e.to_string()));
    }
    for spec in &policy.windows {
        if let Err(e) = window::Window::parse(spec) {
            problems.push(e.to_string());
        }
    }
    problems
}

#[cfg(test)]
mod tests;
