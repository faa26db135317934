//! The gate configuration as declared in the repository's promotion policy
//! (`apps-of-apps/promotion.yaml`), already resolved for one (app, target environment).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a Prometheus gate does when the query returns no samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NoDataPolicy {
    /// No data is a failure.
    Fail,
    /// No data passes (e.g. no traffic, no errors).
    Pass,
    /// No data: wait and evaluate again later (Argo Rollouts' "inconclusive").
    #[default]
    Wait,
}

/// A Prometheus query gate (Argo Rollouts `AnalysisTemplate` style), as written in the policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PrometheusGateSpec {
    /// Name shown in evidence and commit statuses (`error-rate`).
    pub name: String,
    /// PromQL, templated with `{{app}}`, `{{env}}` (the source environment), `{{namespace}}`
    /// and `{{target}}`.
    pub query: String,
    /// Condition over `result`, e.g. `result < 0.05`: comparisons (`< <= > >= == !=`) between
    /// `result` (or `result[0]`) and numbers, combined with `&&`, `||`, `!` and parentheses. A
    /// `NaN` result never succeeds. When the query returns several series, every one of them
    /// must satisfy it. See [`crate::gates::condition`].
    pub success_condition: String,
    /// How many consecutive evaluations must succeed (default 1, at most 11,000). They are
    /// asked as one range query over the last `(count-1) × interval`, so the gate decides at
    /// once instead of sleeping between evaluations.
    #[serde(default)]
    pub count: Option<u32>,
    /// Interval between evaluations, e.g. `1m` (default `1m`, at most `1d`); Prometheus
    /// duration syntax (`30s`, `1m30s`).
    #[serde(default)]
    pub interval: Option<String>,
    /// What no data means.
    #[serde(default)]
    pub on_no_data: NoDataPolicy,
    /// Prometheus base URL for this gate; else the policy's (or `TIDEGATE_PROMETHEUS_URL`).
    #[serde(default)]
    pub address: Option<String>,
}

/// A promotion window: promotions to the environment may start only inside it (Argo CD sync
/// window style: a cron schedule opens it for a duration).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WindowSpec {
    /// Cron expression (5 fields, `min hour day-of-month month day-of-week`) that opens it;
    /// 6-7 fields (seconds first) and `@daily`-style shorthands work too. Day of week in crontab
    /// numbering (`0`/`7` Sunday, `1-4` Monday to Thursday) or names (`Mon-Thu`). See
    /// [`crate::gates::window`] for daylight-saving behaviour.
    pub schedule: String,
    /// How long it stays open (elapsed time), e.g. `7h`; must be more than zero.
    pub duration: String,
    /// IANA time zone of the schedule (default `UTC`).
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Every gate that applies to one (app, target environment), resolved from the policy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GatePolicy {
    /// The app must have been healthy in the source environment this long.
    pub soak: Duration,
    /// Prometheus queries.
    pub prometheus: Vec<PrometheusGateSpec>,
    /// Default Prometheus base URL for queries that name none.
    pub prometheus_address: Option<String>,
    /// Promotion windows of the target environment; empty means always open.
    pub windows: Vec<WindowSpec>,
    /// The target environment needs a person's `/promote`.
    pub require_approval: bool,
}
