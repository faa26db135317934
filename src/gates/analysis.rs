//! Prometheus gates: one range query per gate, judged by a pure function.
//!
//! ## Consecutive evaluations without sleeping
//!
//! "`count` consecutive evaluations `interval` apart" is asked as ONE range query over
//! `[now - (count-1)·interval, now]` with `step = interval`: Prometheus evaluates the query at
//! exactly those `count` instants, as if tidegate had evaluated it every `interval` and kept the
//! last `count` answers (each evaluation sees the newest sample within Prometheus' lookback,
//! 5 min by default, just like an instant query would have). So a gate decides at once, with no
//! state kept between evaluations, and a restart loses nothing.
//!
//! ## Several series
//!
//! A query may return several series (one per pod, say). An evaluation succeeds only when
//! **every** series with a value at that instant satisfies the condition; the evidence lists
//! the values and, on failure, names the failing series by its labels. Aggregate in PromQL
//! (`sum`, `max`) to judge one number.
//!
//! ## Verdicts
//!
//! Each evaluation is a success, a failure, or no data (no series has a value at that instant;
//! `onNoData` turns it into a success, a failure, or "pending"). Then:
//! - every evaluation succeeds → `passed`;
//! - the latest evaluation fails → `failed` (the metric is bad now);
//! - otherwise (an earlier failure, or pending evaluations) → `waiting`, with `retry_at` the
//!   first time a window of `count` evaluations can lie entirely after the last bad one.
//!
//! A query that cannot be answered (Prometheus unreachable, HTTP error, `status: error`) is
//! `waiting` with the error and `retry_at = now + interval`; a missing or malformed address is a
//! configuration error and `failed`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::condition::Condition;
use super::prometheus::{MetricsSource, PromError, Series};
use super::spec::{NoDataPolicy, PrometheusGateSpec};
use super::template::{self, TemplateValues};
use super::{GateError, GateInput, GateResult, Outcome, duration};

/// Evaluations when the gate sets no `count`.
pub const DEFAULT_COUNT: u32 = 1;
/// Time between evaluations when the gate sets no `interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The most evaluations one gate may ask for (Prometheus answers at most 11,000 points).
pub const MAX_COUNT: u32 = 11_000;
/// The longest interval between evaluations.
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// How far back the evaluations of one gate may reach.
const MAX_SPAN: Duration = Duration::from_secs(31 * 86_400);

/// A Prometheus gate, checked and ready to evaluate.
#[derive(Debug, Clone)]
pub struct PromGate {
    name: String,
    query: String,
    condition: Condition,
    count: u32,
    interval: Duration,
    on_no_data: NoDataPolicy,
    address: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Success,
    /// The first failing (series index, value).
    Failure(Option<(usize, f64)>),
    Pending,
}

impl PromGate {
    /// Checks `spec`; `default_address` is the policy's Prometheus address. Returns the first
    /// problem; [`PromGate::problems`] lists them all. A missing address is not an error here
    /// (a client with an address override needs none); [`PromGate::problems`] reports it.
    pub fn parse(spec: &PrometheusGateSpec, default_address: Option<&str>) -> Result<PromGate, GateError> {
        let (gate, mut problems) = Self::check(spec, default_address);
        match gate {
            Some(gate) if problems.is_empty() => Ok(gate),
            _ => Err(problems.remove(0)),
        }
    }

    /// Every problem of `spec`, including a missing or malformed address.
    pub fn problems(spec: &PrometheusGateSpec, default_address: Option<&str>) -> Vec<GateError> {
        let (_, mut problems) = Self::check(spec, default_address);
        let problem = |message: String| GateError::Prometheus { gate: spec.name.clone(), message };
        match spec.address.as_deref().or(default_address) {
            None => problems.push(problem(
                "no prometheus address (set address on the gate or a prometheus address in the policy)".into(),
            )),
            Some(address) => {
                if let Err(message) = super::prometheus::check_address(address) {
                    let shown = super::prometheus::redact(address);
                    problems.push(problem(format!("invalid address {shown:?}: {message}")));
                }
            }
        }
        problems
    }

    fn check(spec: &PrometheusGateSpec, default_address: Option<&str>) -> (Option<PromGate>, Vec<GateError>) {
        let mut problems = Vec::new();
        let problem = |message: String| GateError::Prometheus { gate: spec.name.clone(), message };
        if spec.name.trim().is_empty() {
            problems.push(problem("the name is empty".into()));
        }
        if spec.query.trim().is_empty() {
            problems.push(problem("the query is empty".into()));
        }
        if let Err(e) = template::check(&spec.query) {
            problems.push(problem(e.to_string()));
        }
        let condition = Condition::parse(&spec.success_condition)
            .map_err(|e| {
                problems.push(GateError::Condition {
                    gate: spec.name.clone(),
                    condition: spec.success_condition.clone(),
                    column: e.column,
                    message: e.message,
                })
            })
            .ok();
        let count = spec.count.unwrap_or(DEFAULT_COUNT);
        if count == 0 || count > MAX_COUNT {
            problems.push(problem(format!("count {count} out of range (1 to {MAX_COUNT})")));
        }
        let interval = match spec.interval.as_deref() {
            None => DEFAULT_INTERVAL,
            Some(text) => match duration::parse(text) {
                Ok(d) if d >= Duration::from_millis(1) && d <= MAX_INTERVAL => d,
                Ok(_) => {
                    problems.push(problem(format!("interval {text:?} out of range (1ms to 1d)")));
                    DEFAULT_INTERVAL
                }
                Err(m) => {
                    problems.push(problem(format!("invalid interval {text:?}: {m}")));
                    DEFAULT_INTERVAL
                }
            },
        };
        if interval * count.saturating_sub(1) > MAX_SPAN {
            problems.push(problem(format!(
                "{count} evaluations {} apart reach back more than 31 days",
                duration::format(interval)
            )));
        }
        let gate = condition.map(|condition| PromGate {
            name: spec.name.clone(),
            query: spec.query.clone(),
            condition,
            count,
            interval,
            on_no_data: spec.on_no_data,
            address: spec.address.as_deref().or(default_address).map(str::to_string),
        });
        (gate, problems)
    }

    /// `prometheus/<name>`.
    pub fn gate_name(&self) -> String {
        format!("prometheus/{}", self.name)
    }

    /// The range query's `[start, end]` for an evaluation at `now`.
    pub fn range(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        // Bounded by MAX_INTERVAL and MAX_COUNT, so neither step can overflow.
        let span = self.step() * (self.count as i32 - 1);
        (now.checked_sub_signed(span).unwrap_or(now), now)
    }

    fn step(&self) -> TimeDelta {
        TimeDelta::from_std(self.interval).unwrap_or(TimeDelta::days(1))
    }

    /// Queries Prometheus (template expanded for `input`) and judges the answer.
    pub async fn evaluate<M: MetricsSource>(&self, input: &GateInput<'_>, metrics: &M) -> GateResult {
        let values = TemplateValues {
            app: input.app,
            env: input.source_env,
            namespace: input.namespace,
            target: input.target_env,
        };
        let query = match template::expand(&self.query, &values) {
            Ok(q) => q,
            Err(e) => return self.result(Outcome::Failed, format!("{}: {e}", self.name), None),
        };
        let (start, end) = self.range(input.now);
        let address = self.address.as_deref().unwrap_or("");
        match metrics.query_range(address, &query, start, end, self.interval).await {
            Ok(series) => self.judge(input.now, &series),
            Err(e @ PromError::InvalidAddress { .. }) => {
                self.result(Outcome::Failed, format!("{}: {e}", self.name), None)
            }
            Err(e) => self.result(
                Outcome::Waiting,
                format!("{}: {e}; will ask again", self.name),
                Some(input.now + self.step()),
            ),
        }
    }

    /// Judges the answer of the range query made at `now` (see the module doc).
    pub fn judge(&self, now: DateTime<Utc>, series: &[Series]) -> GateResult {
        let count = self.count as usize;
        let (start, _) = self.range(now);
        let step_ms = self.step().num_milliseconds().max(1);
        // values[k]: (series index, value) of every series with a sample at evaluation k.
        let mut values: Vec<Vec<(usize, f64)>> = vec![Vec::new(); count];
        for (i, s) in series.iter().enumerate() {
            for (t, v) in &s.samples {
                let offset = (*t - start).num_milliseconds();
                let k = (offset as f64 / step_ms as f64).round();
                if k >= 0.0 && (k as usize) < count && (offset - k as i64 * step_ms).abs() * 2 < step_ms {
                    values[k as usize].push((i, *v));
                }
            }
        }
        let verdicts: Vec<Verdict> = values
            .iter()
            .map(|vals| {
                if vals.is_empty() {
                    return match self.on_no_data {
                        NoDataPolicy::Pass => Verdict::Success,
                        NoDataPolicy::Fail => Verdict::Failure(None),
                        NoDataPolicy::Wait => Verdict::Pending,
                    };
                }
                match vals.iter().find(|(_, v)| !self.condition.holds(*v)) {
                    Some(&bad) => Verdict::Failure(Some(bad)),
                    None => Verdict::Success,
                }
            })
            .collect();
        let name = &self.name;
        let cond = self.condition.source();
        let policy = no_data_text(self.on_no_data);
        if values.iter().all(Vec::is_empty) {
            let evidence = match self.on_no_data {
                NoDataPolicy::Wait => format!("{name}: no data yet ({policy})"),
                _ => format!("{name}: no data ({policy})"),
            };
            let outcome = match self.on_no_data {
                NoDataPolicy::Pass => Outcome::Passed,
                NoDataPolicy::Fail => Outcome::Failed,
                NoDataPolicy::Wait => Outcome::Waiting,
            };
            let retry = (outcome == Outcome::Waiting).then(|| now + self.step() * self.count as i32);
            return self.result(outcome, evidence, retry);
        }
        let latest_k = count - 1;
        let ok = verdicts.iter().filter(|v| **v == Verdict::Success).count();
        let latest = latest_values(&values[latest_k], series);
        let apart = if count == 1 {
            "at 1/1 evaluation".to_string()
        } else {
            format!("at {ok}/{count} evaluations {} apart", duration::format(self.interval))
        };
        match verdicts[latest_k] {
            Verdict::Success if ok == count => {
                let no_data = values.iter().filter(|v| v.is_empty()).count();
                let note = if no_data > 0 { format!(", {no_data} without data ({policy})") } else { String::new() };
                self.result(Outcome::Passed, format!("{name}: result = {latest} ({cond}) {apart}{note}"), None)
            }
            Verdict::Failure(Some((i, v))) => {
                let failing = values[latest_k].iter().filter(|(_, v)| !self.condition.holds(*v)).count();
                let which = if series.len() > 1 {
                    format!(" for {} ({failing} of {} series fail)", series[i].selector(), values[latest_k].len())
                } else {
                    String::new()
                };
                let evidence =
                    format!("{name}: result = {} fails ({cond}) at the latest evaluation{which}", fmt_value(v));
                self.result(Outcome::Failed, evidence, None)
            }
            Verdict::Failure(None) => {
                self.result(Outcome::Failed, format!("{name}: no data at the latest evaluation ({policy})"), None)
            }
            _ => {
                let last_bad = verdicts.iter().rposition(|v| *v != Verdict::Success).unwrap_or(latest_k);
                let at = (start + self.step() * last_bad as i32).format("%H:%M:%S UTC");
                let why = match verdicts[last_bad] {
                    Verdict::Failure(Some((_, v))) => format!("result = {} at {at}", fmt_value(v)),
                    _ => format!("no data at {at} ({policy})"),
                };
                let shown = if values[latest_k].is_empty() { "no data".to_string() } else { latest };
                let retry = start + self.step() * (last_bad as i32 + self.count as i32);
                let evidence = format!("{name}: result = {shown} ({cond}) {apart}; needs {count} in a row, {why}");
                self.result(Outcome::Waiting, evidence, Some(retry))
            }
        }
    }

    fn result(&self, outcome: Outcome, evidence: String, retry_at: Option<DateTime<Utc>>) -> GateResult {
        GateResult { gate: self.gate_name(), outcome, evidence, retry_at }
    }
}

fn no_data_text(policy: NoDataPolicy) -> &'static str {
    match policy {
        NoDataPolicy::Pass => "onNoData: pass",
        NoDataPolicy::Fail => "onNoData: fail",
        NoDataPolicy::Wait => "onNoData: wait",
    }
}

/// `0.012`, or `0.012, 0.03 in all 2 series` (at most 5 values shown).
fn latest_values(values: &[(usize, f64)], series: &[Series]) -> String {
    if values.is_empty() {
        return "no data".into();
    }
    let shown: Vec<String> = values.iter().take(5).map(|(_, v)| fmt_value(*v)).collect();
    let more = if values.len() > 5 { ", …" } else { "" };
    if series.len() > 1 {
        format!("{}{more} in all {} series", shown.join(", "), values.len())
    } else {
        shown.join(", ")
    }
}

/// A sample value the way Prometheus writes it: `0.012`, `NaN`, `+Inf`, `-Inf`.
pub fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
#[path = "analysis_tests.rs"]
mod tests;
