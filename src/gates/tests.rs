//! `evaluate`, `validate` and `GateReport` over a fake metrics source.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone};

use super::*;

fn now() -> DateTime<Utc> {
    // Tuesday 2026-12-01 12:00 UTC = 13:00 in Berlin.
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

/// One query as the fake received it: address, query, start, end, step.
type Asked = (String, String, DateTime<Utc>, DateTime<Utc>, Duration);

/// Answers every query with canned series (or an error) and records what it was asked.
struct FakeMetrics {
    answer: Result<Vec<Series>, PromError>,
    asked: Mutex<Vec<Asked>>,
}

impl FakeMetrics {
    fn new(answer: Result<Vec<Series>, PromError>) -> FakeMetrics {
        FakeMetrics { answer, asked: Mutex::new(Vec::new()) }
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }
}

impl MetricsSource for FakeMetrics {
    async fn query_range(
        &self,
        address: &str,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<Vec<Series>, PromError> {
        self.asked.lock().unwrap().push((address.into(), query.into(), start, end, step));
        self.answer.clone()
    }
}

fn constant(value: f64, count: i64) -> Series {
    Series {
        labels: Default::default(),
        samples: (0..count).map(|k| (now() - TimeDelta::minutes(count - 1 - k), value)).collect(),
    }
}

fn policy() -> GatePolicy {
    GatePolicy {
        soak: Duration::from_secs(600),
        prometheus: vec![PrometheusGateSpec {
            name: "error-rate".into(),
            query: r#"http_error_ratio{app="{{app}}",env="{{env}}",namespace="{{namespace}}",to="{{target}}"}"#.into(),
            success_condition: "result < 0.05".into(),
            count: Some(3),
            interval: Some("1m".into()),
            on_no_data: NoDataPolicy::Wait,
            address: None,
        }],
        prometheus_address: Some("http://prometheus.monitoring:9090".into()),
        windows: vec![WindowSpec {
            schedule: "0 9 * * Mon-Thu".into(),
            duration: "8h".into(),
            time_zone: Some("Europe/Berlin".into()),
        }],
        require_approval: true,
    }
}

fn observation() -> SourceObservation {
    SourceObservation {
        synced_images: vec!["ghcr.io/acme/frontend:1.2.0".into()],
        healthy: true,
        healthy_since: Some(now() - TimeDelta::hours(1)),
        sync: "Synced".into(),
        message: None,
        revision: Some("abc1234".into()),
    }
}

fn input<'a>(
    images: &'a [String],
    source: Option<&'a SourceObservation>,
    requested_by: Option<&'a str>,
) -> GateInput<'a> {
    GateInput {
        app: "frontend",
        namespace: "shop",
        source_env: "dev",
        target_env: "prod",
        images,
        now: now(),
        source,
        requested_by,
    }
}

#[tokio::test]
async fn everything_passes_with_evidence() {
    let images = vec!["ghcr.io/acme/frontend:1.2.0".to_string()];
    let obs = observation();
    let metrics = FakeMetrics::new(Ok(vec![constant(0.012, 3)]));
    let report = evaluate(&policy(), &input(&images, Some(&obs), Some("octocat")), &metrics).await;
    let gates: Vec<(&str, Outcome)> = report.results.iter().map(|r| (r.gate.as_str(), r.outcome)).collect();
    assert_eq!(
        gates,
        [
            ("source-healthy", Outcome::Passed),
            ("soak", Outcome::Passed),
            ("prometheus/error-rate", Outcome::Passed),
            ("window", Outcome::Passed),
            ("approval", Outcome::Passed),
        ]
    );
    assert!(report.passed());
    assert_eq!(report.failed(), None);
    assert!(report.waiting().is_empty());
    assert_eq!(report.retry_at(), None);
    assert_eq!(report.summary(), "all 5 gates passed");
    assert_eq!(report.results[2].evidence, "error-rate: result = 0.012 (result < 0.05) at 3/3 evaluations 1m apart");

    let asked = metrics.asked();
    assert_eq!(asked.len(), 1, "one range query per gate");
    let (address, query, start, end, step) = &asked[0];
    assert_eq!(address, "http://prometheus.monitoring:9090");
    assert_eq!(query, r#"http_error_ratio{app="frontend",env="dev",namespace="shop",to="prod"}"#);
    assert_eq!((*start, *end, *step), (now() - TimeDelta::minutes(2), now(), Duration::from_secs(60)));
}

#[tokio::test]
async fn waiting_gates_and_retry_at() {
    let images = vec!["ghcr.io/acme/frontend:1.2.0".to_string()];
    let friday = Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap();
    let mut obs = observation();
    obs.healthy_since = Some(friday - TimeDelta::minutes(4));
    let metrics = FakeMetrics::new(Ok(vec![constant(0.01, 3)]));
    let inp = GateInput { now: friday, ..input(&images, Some(&obs), None) };
    let report = evaluate(&policy(), &inp, &metrics).await;
    assert!(!report.passed());
    assert_eq!(report.failed(), None);
    let waiting: Vec<&str> = report.waiting().iter().map(|r| r.gate.as_str()).collect();
    // The fake's samples end on Tuesday, so the query has no data at Friday's evaluations.
    assert_eq!(waiting, ["soak", "prometheus/error-rate", "window", "approval"]);
    // Nothing can pass before the window opens on Monday 09:00 Berlin (08:00 UTC).
    assert_eq!(report.retry_at(), Some(Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).unwrap()));
    let summary = report.summary();
    assert!(summary.starts_with("waiting for 4 of 5 gates: soak: frontend healthy in dev for 4m of 10m"), "{summary}");
    assert!(summary.ends_with("approval: waiting for /promote frontend to prod"), "{summary}");
}

#[tokio::test]
async fn unhealthy_source_skips_queries_and_failures_win_the_summary() {
    let images = vec!["ghcr.io/acme/frontend:1.3.0".to_string()];
    let obs = observation();
    let metrics = FakeMetrics::new(Ok(vec![constant(0.5, 3)]));
    let report = evaluate(&policy(), &input(&images, Some(&obs), Some("octocat")), &metrics).await;
    assert!(metrics.asked().is_empty(), "no query while dev runs another tag");
    let prom = &report.results[2];
    assert_eq!(
        (prom.outcome, prom.evidence.as_str()),
        (Outcome::Waiting, "error-rate: not queried until frontend is healthy in dev at the promoted images")
    );

    let images = vec!["ghcr.io/acme/frontend:1.2.0".to_string()];
    let report = evaluate(&policy(), &input(&images, Some(&obs), Some("octocat")), &metrics).await;
    let failed = report.failed().expect("the error rate is too high");
    assert_eq!(failed.gate, "prometheus/error-rate");
    assert_eq!(
        report.summary(),
        "failed: prometheus/error-rate: error-rate: result = 0.5 fails (result < 0.05) at the latest evaluation"
    );
}

#[tokio::test]
async fn prometheus_trouble_is_waiting_and_bad_config_is_failed() {
    let images = vec!["ghcr.io/acme/frontend:1.2.0".to_string()];
    let obs = observation();
    let down = FakeMetrics::new(Err(PromError::Unreachable {
        address: "http://prometheus.monitoring:9090".into(),
        message: "connection refused".into(),
    }));
    let report = evaluate(&policy(), &input(&images, Some(&obs), Some("octocat")), &down).await;
    let prom = &report.results[2];
    assert_eq!(prom.outcome, Outcome::Waiting);
    assert_eq!(
        prom.evidence,
        "error-rate: prometheus at http://prometheus.monitoring:9090 unreachable: connection refused; will ask again"
    );
    assert_eq!(prom.retry_at, Some(now() + TimeDelta::minutes(1)));

    let mut bad = policy();
    bad.prometheus[0].success_condition = "result <> 1".into();
    let report = evaluate(&bad, &input(&images, Some(&obs), Some("octocat")), &down).await;
    assert_eq!(report.results[2].outcome, Outcome::Failed);
    assert_eq!(
        report.results[2].evidence,
        "prometheus gate \"error-rate\": invalid success condition \"result <> 1\" at column 9: expected result or a number, found '>'"
    );

    let no_address =
        FakeMetrics::new(Err(PromError::InvalidAddress { address: String::new(), message: "no address".into() }));
    let report = evaluate(&policy(), &input(&images, Some(&obs), Some("octocat")), &no_address).await;
    assert_eq!(report.results[2].outcome, Outcome::Failed);
}

#[test]
fn validate_reports_every_problem() {
    assert_eq!(validate(&policy()), Vec::<String>::new());
    assert_eq!(validate(&GatePolicy::default()), Vec::<String>::new());

    let mut bad = policy();
    bad.prometheus_address = None;
    let mut second = bad.prometheus[0].clone();
    second.success_condition = "result < 0.05 &".into();
    bad.prometheus.push(second);
    bad.windows.push(WindowSpec { schedule: "0 9 * * Funday".into(), duration: "1h".into(), time_zone: None });
    bad.windows.push(WindowSpec {
        schedule: "0 9 * * *".into(),
        duration: "1h".into(),
        time_zone: Some("Mars/Olympus".into()),
    });
    bad.windows.push(WindowSpec { schedule: "0 9 * * *".into(), duration: "soon".into(), time_zone: None });
    bad.windows.push(WindowSpec { schedule: "61 9 * * *".into(), duration: "1h".into(), time_zone: None });
    let problems = validate(&bad);
    assert_eq!(problems.len(), 8, "{problems:#?}");
    assert!(problems[0].contains("no prometheus address"), "{}", problems[0]);
    assert_eq!(problems[1], "prometheus gate \"error-rate\": the name is used twice");
    assert_eq!(
        problems[2],
        "prometheus gate \"error-rate\": invalid success condition \"result < 0.05 &\" at column 15: expected '&&'"
    );
    assert!(problems[3].contains("no prometheus address"));
    assert!(
        problems[4]
            .starts_with("promotion window \"0 9 * * Funday\": invalid cron schedule: invalid day of week \"Funday\"")
    );
    assert!(problems[5].contains("unknown time zone \"Mars/Olympus\""));
    assert!(problems[6].starts_with("promotion window \"0 9 * * *\": invalid duration \"soon\""));
    assert_eq!(
        problems[7],
        "promotion window \"61 9 * * *\": invalid cron schedule: minutes must be less than 59. ('61' specified.)"
    );
}

#[test]
fn outcome_and_result_display() {
    assert_eq!(Outcome::Passed.to_string(), "passed");
    assert_eq!(Outcome::Failed.to_string(), "failed");
    assert_eq!(Outcome::Waiting.to_string(), "waiting");
    let r = GateResult {
        gate: "approval".into(),
        outcome: Outcome::Waiting,
        evidence: "waiting for /promote a to b".into(),
        retry_at: None,
    };
    assert_eq!(r.to_string(), "approval waiting: waiting for /promote a to b");
    assert_eq!(serde_json::to_value(&r).unwrap()["outcome"], "waiting");
    let empty = GateReport::default();
    assert!(!empty.passed());
    assert_eq!(empty.summary(), "no gates evaluated");
}
