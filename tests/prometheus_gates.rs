//! Prometheus gates against a real Prometheus: Debian's `prometheus` (2.42) serving samples
//! backfilled with `promtool tsdb create-blocks-from openmetrics`.
//!
//! Needs `prometheus` and `promtool` on PATH: `scripts/test-deps.sh` installs them (CI runs
//! it). Without them this test fails, saying so, rather than skipping silently.

use std::fmt::Write as _;
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use tidegate::gates::{
    GateInput, GatePolicy, NoDataPolicy, Outcome, PromGate, PrometheusClient, PrometheusGateSpec, SourceObservation,
    evaluate,
};

/// A Prometheus process over a temporary TSDB; killed on drop.
struct Prometheus {
    child: Child,
    address: String,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn log(&self) -> String {
        let mut log = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("prometheus.log")) {
            let _ = f.read_to_string(&mut log);
        }
        log
    }
}

fn require(tool: &str) {
    match Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("`{tool} --version` exited with {status}; reinstall it with scripts/test-deps.sh"),
        Err(e) => panic!(
            "`{tool}` is not installed ({e}): run scripts/test-deps.sh (it installs Debian's `prometheus` package; CI does)"
        ),
    }
}

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
    require("promtool");
    require("prometheus");
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("samples.om");
    std::fs::write(&input, samples(now)).unwrap();
    let tsdb = dir.path().join("tsdb");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&tsdb)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "").unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let mut prometheus = Prometheus { child, address: format!("http://127.0.0.1:{port}"), dir };
    wait_ready(&mut prometheus, Duration::from_secs(60));
    prometheus
}

/// Polls `/-/ready` until it answers 200, the process exits, or the deadline passes.
fn wait_ready(prometheus: &mut Prometheus, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let ready = format!("{}/-/ready", prometheus.address);
    loop {
        if let Ok(Some(status)) = prometheus.child.try_wait() {
            panic!("prometheus exited with {status} before it was ready:\n{}", prometheus.log());
        }
        if http_get_status(&ready) == Some(200) {
            return;
        }
        assert!(Instant::now() < deadline, "prometheus not ready after {timeout:?}:\n{}", prometheus.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A minimal blocking HTTP GET (the crate's reqwest has no blocking client) returning the status.
fn http_get_status(url: &str) -> Option<u16> {
    use std::io::Write;
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
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
