//! Prometheus gates against a real Prometheus: Debian's `prometheus` (2.42) serving samples
//! backfilled with `promtool tsdb create-blocks-from openmetrics`.
//!
//! Needs `prometheus` and `promtool` on PATH: `scripts/test-deps.sh` installs them (CI runs
//! it). Without them this test fails, saying so, rather than skipping silently.

#[path = "support/prometheus.rs"]
mod prometheus_support;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use tidegate::gates::{
    GateInput, GatePolicy, NoDataPolicy, Outcome, PromGate, PrometheusClient, PrometheusGateSpec, SourceObservation,
    evaluate,
};

use prometheus_support::Prometheus;

/// A series' value at a unix time.
type ValueAt<'a> = dyn Fn(i64) -> f64 + 'a;

/// OpenMetrics text with a sample every 15 s over the 15 minutes up to `now`:
/// - `frontend`: 0.012, healthy;
/// - `backend`: 0.2, failing;
/// - `search`: two pods, `a` at 0.01 and `b` at 0.3;
/// - `payments`: 0.3 until 90 s ago, 0.01 since (recovering);
/// - `cart`: nothing at all.
fn samples(now: DateTime<Utc>) -> String {
    let mut text =
        String::from("# HELP http_error_ratio Share of requests answered with 5xx.\n# TYPE http_error_ratio gauge\n");
    let end = now.timestamp();
    let series: [(&str, &str, &ValueAt<'_>); 5] = [
        ("frontend", "", &|_| 0.012),
        ("backend", "", &|_| 0.2),
        ("search", ",pod=\"a\"", &|_| 0.01),
        ("search", ",pod=\"b\"", &|_| 0.3),
        ("payments", "", &|t| if t < end - 90 { 0.3 } else { 0.01 }),
    ];
    for (app, extra, value) in series {
        for t in (end - 900..=end).step_by(15) {
            let _ = writeln!(
                text,
                "http_error_ratio{{app=\"{app}\",env=\"dev\",namespace=\"shop\"{extra}}} {} {t}",
                value(t)
            );
        }
    }
    text.push_str("# EOF\n");
    text
}

fn start_prometheus(now: DateTime<Utc>) -> Prometheus {
    Prometheus::start(&samples(now))
}

fn gate_spec(condition: &str, count: u32, on_no_data: NoDataPolicy) -> PrometheusGateSpec {
    PrometheusGateSpec {
        name: "error-rate".into(),
        query: r#"http_error_ratio{app="{{app}}",env="{{env}}",namespace="{{namespace}}"}"#.into(),
        success_condition: condition.into(),
        count: Some(count),
        interval: Some("1m".into()),
        on_no_data,
        address: None,
    }
}

fn input<'a>(
    app: &'a str,
    now: DateTime<Utc>,
    images: &'a [String],
    source: Option<&'a SourceObservation>,
) -> GateInput<'a> {
    GateInput {
        app,
        namespace: "shop",
        source_env: "dev",
        target_env: "prod",
        images,
        now,
        source,
        requested_by: Some("octocat"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_gates_against_a_real_prometheus() {
    let now = Utc.timestamp_opt(Utc::now().timestamp(), 0).unwrap();
    let prometheus = start_prometheus(now);
    let address = prometheus.address.clone();
    let client = PrometheusClient::new().unwrap();
    let images: Vec<String> = vec![];
    let judge = |app: &'static str, spec: PrometheusGateSpec| {
        let client = client.clone();
        let address = address.clone();
        let images = images.clone();
        async move {
            let gate = PromGate::parse(&spec, Some(&address)).unwrap();
            gate.evaluate(&input(app, now, &images, None), &client).await
        }
    };

    // Passing: 3 evaluations a minute apart, all 0.012.
    let r = judge("frontend", gate_spec("result < 0.05", 3, NoDataPolicy::Wait)).await;
    assert_eq!(r.gate, "prometheus/error-rate");
    assert_eq!(
        (r.outcome, r.evidence.as_str()),
        (Outcome::Passed, "error-rate: result = 0.012 (result < 0.05) at 3/3 evaluations 1m apart"),
        "{}",
        prometheus.log()
    );

    // Failing.
    let r = judge("backend", gate_spec("result < 0.05", 3, NoDataPolicy::Wait)).await;
    assert_eq!(
        (r.outcome, r.evidence.as_str()),
        (Outcome::Failed, "error-rate: result = 0.2 fails (result < 0.05) at the latest evaluation")
    );
    assert_eq!(r.retry_at, None);

    // Two series: every one must pass; the failing one is named.
    let r = judge("search", gate_spec("result < 0.05", 2, NoDataPolicy::Wait)).await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(
        r.evidence,
        r#"error-rate: result = 0.3 fails (result < 0.05) at the latest evaluation for {__name__="http_error_ratio",app="search",env="dev",namespace="shop",pod="b"} (1 of 2 series fail)"#
    );
    let r = judge("search", gate_spec("result < 0.5", 2, NoDataPolicy::Wait)).await;
    assert_eq!(
        (r.outcome, r.evidence.as_str()),
        (Outcome::Passed, "error-rate: result = 0.01, 0.3 in all 2 series (result < 0.5) at 2/2 evaluations 1m apart")
    );

    // Recovering: bad two minutes ago, good for the last two evaluations.
    let r = judge("payments", gate_spec("result < 0.05", 3, NoDataPolicy::Wait)).await;
    assert_eq!(r.outcome, Outcome::Waiting);
    let two_minutes_ago = (now - TimeDelta::minutes(2)).format("%H:%M:%S UTC");
    assert_eq!(
        r.evidence,
        format!(
            "error-rate: result = 0.01 (result < 0.05) at 2/3 evaluations 1m apart; needs 3 in a row, result = 0.3 at {two_minutes_ago}"
        )
    );
    assert_eq!(r.retry_at, Some(now + TimeDelta::minutes(1)));
    let r = judge("payments", gate_spec("result < 0.05", 2, NoDataPolicy::Wait)).await;
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.evidence);

    // No data: the policy decides.
    let r = judge("cart", gate_spec("result < 0.05", 3, NoDataPolicy::Wait)).await;
    assert_eq!((r.outcome, r.evidence.as_str()), (Outcome::Waiting, "error-rate: no data yet (onNoData: wait)"));
    assert_eq!(r.retry_at, Some(now + TimeDelta::minutes(3)));
    let r = judge("cart", gate_spec("result < 0.05", 3, NoDataPolicy::Fail)).await;
    assert_eq!((r.outcome, r.evidence.as_str()), (Outcome::Failed, "error-rate: no data (onNoData: fail)"));
    let r = judge("cart", gate_spec("result < 0.05", 3, NoDataPolicy::Pass)).await;
    assert_eq!((r.outcome, r.evidence.as_str()), (Outcome::Passed, "error-rate: no data (onNoData: pass)"));

    // A value with a quote stays inside its string literal: valid PromQL, no data, no 400.
    let r = judge(r#"front"end\"#, gate_spec("result < 0.05", 1, NoDataPolicy::Fail)).await;
    assert_eq!((r.outcome, r.evidence.as_str()), (Outcome::Failed, "error-rate: no data (onNoData: fail)"));

    // Prometheus refusing the query (PromQL syntax error) is waiting, with Prometheus' words.
    let mut broken = gate_spec("result < 0.05", 1, NoDataPolicy::Wait);
    broken.query = "sum(http_error_ratio".into();
    let r = judge("frontend", broken).await;
    assert_eq!(r.outcome, Outcome::Waiting);
    assert!(
        r.evidence.starts_with(&format!("error-rate: prometheus at {address} answered 400 bad_data: ")),
        "{}",
        r.evidence
    );
    assert!(r.evidence.ends_with("; will ask again"), "{}", r.evidence);
    assert_eq!(r.retry_at, Some(now + TimeDelta::minutes(1)));

    // The whole policy through `evaluate`, with TIDEGATE_PROMETHEUS_URL's mechanism: the
    // policy's in-cluster address is replaced by the override.
    let images = vec!["ghcr.io/acme/frontend:1.2.0".to_string()];
    let source = SourceObservation {
        synced_images: images.clone(),
        healthy: true,
        healthy_since: Some(now - TimeDelta::hours(1)),
        sync: "Synced".into(),
        message: None,
        revision: Some("abc1234".into()),
    };
    let policy = GatePolicy {
        soak: Duration::from_secs(1800),
        prometheus: vec![gate_spec("result < 0.05", 3, NoDataPolicy::Wait)],
        prometheus_address: Some("http://prometheus.monitoring.svc:9090".into()),
        windows: vec![],
        require_approval: true,
    };
    let overridden = PrometheusClient::new().unwrap().address_override(Some(address.clone()));
    let report = evaluate(&policy, &input("frontend", now, &images, Some(&source)), &overridden).await;
    assert!(report.passed(), "{}", report.summary());
    assert_eq!(report.summary(), "all 5 gates passed");
    let report = evaluate(&policy, &input("backend", now, &images, Some(&source)), &overridden).await;
    assert_eq!(report.failed().map(|r| r.gate.as_str()), Some("prometheus/error-rate"));

    assert!(Path::new(&prometheus.dir.path().join("tsdb")).is_dir());
    drop(prometheus);
}
