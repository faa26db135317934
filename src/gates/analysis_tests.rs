use std::collections::BTreeMap;

use chrono::TimeZone;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn spec(condition: &str, count: Option<u32>, interval: Option<&str>, on_no_data: NoDataPolicy) -> PrometheusGateSpec {
    PrometheusGateSpec {
        name: "error-rate".into(),
        query: r#"http_error_ratio{app="{{app}}",env="{{env}}"}"#.into(),
        success_condition: condition.into(),
        count,
        interval: interval.map(str::to_string),
        on_no_data,
        address: None,
    }
}

fn gate(count: u32, on_no_data: NoDataPolicy) -> PromGate {
    PromGate::parse(&spec("result < 0.05", Some(count), Some("1m"), on_no_data), Some("http://prom:9090")).unwrap()
}

/// A series with one value per evaluation (newest last, ending at `now`); `None` = no sample.
fn series(labels: &[(&str, &str)], values: &[Option<f64>]) -> Series {
    let n = values.len() as i32;
    let samples = values
        .iter()
        .enumerate()
        .filter_map(|(k, v)| v.map(|v| (now() - TimeDelta::minutes((n - 1 - k as i32) as i64), v)))
        .collect();
    Series { labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(), samples }
}

#[test]
fn defaults_and_range() {
    let g = PromGate::parse(&spec("result < 1", None, None, NoDataPolicy::Wait), None).unwrap();
    assert_eq!((g.count, g.interval), (1, Duration::from_secs(60)));
    assert_eq!(g.range(now()), (now(), now()));
    assert_eq!(g.gate_name(), "prometheus/error-rate");
    let g = gate(3, NoDataPolicy::Wait);
    assert_eq!(g.range(now()), (now() - TimeDelta::minutes(2), now()));
}

#[test]
fn passes_when_every_evaluation_succeeds() {
    let r = gate(3, NoDataPolicy::Wait)
        .judge(now(), &[series(&[("app", "frontend")], &[Some(0.01), Some(0.02), Some(0.012)])]);
    assert_eq!(r.outcome, Outcome::Passed);
    assert_eq!(r.evidence, "error-rate: result = 0.012 (result < 0.05) at 3/3 evaluations 1m apart");
    assert_eq!((r.gate.as_str(), r.retry_at), ("prometheus/error-rate", None));

    let r = gate(1, NoDataPolicy::Wait).judge(now(), &[series(&[], &[Some(0.0)])]);
    assert_eq!(r.evidence, "error-rate: result = 0 (result < 0.05) at 1/1 evaluation");
}

#[test]
fn fails_when_the_latest_evaluation_fails() {
    let r = gate(3, NoDataPolicy::Wait).judge(now(), &[series(&[], &[Some(0.01), Some(0.01), Some(0.2)])]);
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.evidence, "error-rate: result = 0.2 fails (result < 0.05) at the latest evaluation");
    assert_eq!(r.retry_at, None);
    // NaN and +Inf are values like any other, and NaN never succeeds.
    let r = gate(1, NoDataPolicy::Wait).judge(now(), &[series(&[], &[Some(f64::NAN)])]);
    assert_eq!(
        (r.outcome, r.evidence.as_str()),
        (Outcome::Failed, "error-rate: result = NaN fails (result < 0.05) at the latest evaluation")
    );
    let r = gate(1, NoDataPolicy::Wait).judge(now(), &[series(&[], &[Some(f64::INFINITY)])]);
    assert!(r.evidence.contains("result = +Inf fails"), "{}", r.evidence);
}

#[test]
fn waits_until_an_earlier_failure_leaves_the_window() {
    let r = gate(3, NoDataPolicy::Wait).judge(now(), &[series(&[], &[Some(0.01), Some(0.3), Some(0.01)])]);
    assert_eq!(r.outcome, Outcome::Waiting);
    assert_eq!(
        r.evidence,
        "error-rate: result = 0.01 (result < 0.05) at 2/3 evaluations 1m apart; needs 3 in a row, result = 0.3 at 11:59:00 UTC"
    );
    // The failure at 11:59 is out of a 3-evaluation window from 12:02 on.
    assert_eq!(r.retry_at, Some(now() + TimeDelta::minutes(2)));
}

#[test]
fn several_series_must_all_succeed() {
    let good = series(&[("app", "frontend"), ("pod", "a")], &[Some(0.01), Some(0.02)]);
    let also_good = series(&[("app", "frontend"), ("pod", "b")], &[Some(0.03), Some(0.04)]);
    let r = gate(2, NoDataPolicy::Wait).judge(now(), &[good.clone(), also_good]);
    assert_eq!(r.outcome, Outcome::Passed);
    assert_eq!(
        r.evidence,
        "error-rate: result = 0.02, 0.04 in all 2 series (result < 0.05) at 2/2 evaluations 1m apart"
    );

    let bad = series(&[("app", "frontend"), ("pod", "c")], &[Some(0.01), Some(0.5)]);
    let r = gate(2, NoDataPolicy::Wait).judge(now(), &[good, bad]);
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(
        r.evidence,
        r#"error-rate: result = 0.5 fails (result < 0.05) at the latest evaluation for {app="frontend",pod="c"} (1 of 2 series fail)"#
    );
}

#[test]
fn no_data_follows_the_policy() {
    for (policy, outcome, evidence, retry) in [
        (
            NoDataPolicy::Wait,
            Outcome::Waiting,
            "error-rate: no data yet (onNoData: wait)",
            Some(now() + TimeDelta::minutes(3)),
        ),
        (NoDataPolicy::Fail, Outcome::Failed, "error-rate: no data (onNoData: fail)", None),
        (NoDataPolicy::Pass, Outcome::Passed, "error-rate: no data (onNoData: pass)", None),
    ] {
        for answer in [vec![], vec![series(&[("app", "x")], &[None, None, None])]] {
            let r = gate(3, policy).judge(now(), &answer);
            assert_eq!((r.outcome, r.evidence.as_str(), r.retry_at), (outcome, evidence, retry), "{policy:?}");
        }
    }
}

#[test]
fn partial_data_follows_the_policy_per_evaluation() {
    // The series started one minute ago: the first evaluation has no data.
    let young = [series(&[], &[None, Some(0.01), Some(0.01)])];
    let r = gate(3, NoDataPolicy::Pass).judge(now(), &young);
    assert_eq!(r.outcome, Outcome::Passed);
    assert_eq!(
        r.evidence,
        "error-rate: result = 0.01 (result < 0.05) at 3/3 evaluations 1m apart, 1 without data (onNoData: pass)"
    );

    let r = gate(3, NoDataPolicy::Wait).judge(now(), &young);
    assert_eq!(r.outcome, Outcome::Waiting);
    assert!(
        r.evidence.ends_with("at 2/3 evaluations 1m apart; needs 3 in a row, no data at 11:58:00 UTC (onNoData: wait)"),
        "{}",
        r.evidence
    );
    assert_eq!(r.retry_at, Some(now() + TimeDelta::minutes(1)));

    // Fail counts a gap as a failure; only the latest decides "failed".
    let r = gate(3, NoDataPolicy::Fail).judge(now(), &young);
    assert_eq!(r.outcome, Outcome::Waiting);
    let stopped = [series(&[], &[Some(0.01), Some(0.01), None])];
    let r = gate(3, NoDataPolicy::Fail).judge(now(), &stopped);
    assert_eq!(
        (r.outcome, r.evidence.as_str()),
        (Outcome::Failed, "error-rate: no data at the latest evaluation (onNoData: fail)")
    );
    let r = gate(3, NoDataPolicy::Wait).judge(now(), &stopped);
    assert_eq!(r.outcome, Outcome::Waiting);
    assert!(r.evidence.starts_with("error-rate: result = no data (result < 0.05) at 2/3"), "{}", r.evidence);
    assert_eq!(r.retry_at, Some(now() + TimeDelta::minutes(3)));
}

#[test]
fn samples_between_evaluations_are_ignored() {
    let mut s = series(&[], &[Some(0.01)]);
    s.samples.push((now() - TimeDelta::seconds(30), 0.9)); // half an interval off: not an evaluation
    s.samples.push((now() + TimeDelta::minutes(1), 0.9)); // after now
    s.samples.push((now() - TimeDelta::minutes(5), 0.9)); // before the range
    let r = gate(1, NoDataPolicy::Wait).judge(now(), &[s]);
    assert_eq!(r.outcome, Outcome::Passed, "{}", r.evidence);
}

#[test]
fn problems_are_all_reported_and_named() {
    let mut bad = spec("result <", Some(0), Some("1x"), NoDataPolicy::Wait);
    bad.query = "rate(x{app=\"{{application}}\"}[5m])".into();
    let problems: Vec<String> = PromGate::problems(&bad, None).iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "prometheus gate \"error-rate\": unknown placeholder {{application}} in the query (use {{app}}, {{env}}, {{namespace}} or {{target}})",
            "prometheus gate \"error-rate\": invalid success condition \"result <\" at column 9: expected result or a number, found the end",
            "prometheus gate \"error-rate\": count 0 out of range (1 to 11000)",
            "prometheus gate \"error-rate\": invalid interval \"1x\": unknown unit \"x\" (use ms, s, m, h, d or w)",
            "prometheus gate \"error-rate\": no prometheus address (set address on the gate or a prometheus address in the policy)",
        ]
    );
    assert!(PromGate::parse(&bad, None).is_err());

    let mut long = spec("result < 1", Some(11_000), Some("1h"), NoDataPolicy::Wait);
    long.address = Some("ftp://user:secret@prom".into());
    let problems: Vec<String> = PromGate::problems(&long, None).iter().map(ToString::to_string).collect();
    assert_eq!(problems[0], "prometheus gate \"error-rate\": 11000 evaluations 1h apart reach back more than 31 days");
    assert!(
        problems[1].contains("invalid address \"ftp://user:***@prom\": unsupported scheme \"ftp\""),
        "{}",
        problems[1]
    );
    assert!(!problems[1].contains("secret"));

    let mut ok = spec("result < 1", Some(5), Some("30s"), NoDataPolicy::Wait);
    assert!(PromGate::problems(&ok, Some("http://prometheus.monitoring:9090")).is_empty());
    ok.interval = Some("2d".into());
    assert!(PromGate::problems(&ok, Some("http://p:9090"))[0].to_string().contains("out of range (1ms to 1d)"));
    ok.interval = None;
    ok.name = " ".into();
    assert!(PromGate::problems(&ok, Some("http://p:9090"))[0].to_string().contains("the name is empty"));
}
