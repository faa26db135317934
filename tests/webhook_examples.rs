//! GitHub webhook intake of the real `tidegate serve`, over HTTP, as GitHub delivers:
//! every example payload of `@octokit/webhooks-examples` (all 58 event types, every example)
//! signed with `X-Hub-Signature-256` gets a 2xx within a second; GitHub's official signature
//! test vector; each refusal with its status; a redelivery is processed once.
//!
//! The examples come from the npm package pinned in tests/fixtures/npm (`npm ci --prefix
//! tests/fixtures/npm`, which .ci/run does).

#[path = "support/serve.rs"]
mod serve_support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use serve_support::{Response, Serve, ServeOptions};
use tidegate::source::Secret;
use tidegate::webhook::{MAX_BODY_BYTES, sign, verify};

const SECRET: &str = "tidegate-webhook-examples-secret";
const VECTOR_SECRET: &str = "It's a Secret to Everybody";
const VECTOR_BODY: &str = "Hello, World!";
const VECTOR_SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

/// GitHub's event types in the pinned `@octokit/webhooks-examples` (7.6.1).
const EVENT_TYPES: usize = 58;

fn serve(secret: &str) -> Serve {
    Serve::start(ServeOptions { secret: secret.into(), ..Default::default() })
}

/// A fresh, UUID-shaped delivery id, as GitHub sends in `X-GitHub-Delivery`.
fn delivery_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0) as u64;
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        nanos as u32,
        (nanos >> 32) as u16,
        std::process::id() & 0xfff,
        (n >> 48) & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

/// What a delivery carries besides its body.
struct Delivery<'a> {
    event: Option<&'a str>,
    id: String,
    content_type: &'a str,
    sha256: Option<String>,
    sha1: Option<String>,
}

impl<'a> Delivery<'a> {
    /// A delivery of `event` signed as GitHub signs it.
    fn signed(event: &'a str, secret: &str, body: &[u8]) -> Delivery<'a> {
        Delivery {
            event: Some(event),
            id: delivery_id(),
            content_type: "application/json",
            sha256: Some(sign(secret, body)),
            sha1: None,
        }
    }

    fn send(&self, server: &Serve, body: &[u8]) -> Response {
        let mut headers = vec![
            ("Accept", "*/*"),
            ("Content-Type", self.content_type),
            ("User-Agent", "GitHub-Hookshot/5b6e0a4"),
            ("X-GitHub-Delivery", self.id.as_str()),
            ("X-GitHub-Hook-ID", "109948940"),
            ("X-GitHub-Hook-Installation-Target-ID", "186853002"),
            ("X-GitHub-Hook-Installation-Target-Type", "repository"),
        ];
        if let Some(e) = self.event {
            headers.push(("X-GitHub-Event", e));
        }
        if let Some(s) = &self.sha1 {
            headers.push(("X-Hub-Signature", s));
        }
        if let Some(s) = &self.sha256 {
            headers.push(("X-Hub-Signature-256", s));
        }
        server.post("/webhooks/github", &headers, body).unwrap_or_else(|e| {
            panic!("POST /webhooks/github ({:?}, {} bytes): {e}\n{}", self.event, body.len(), server.logs())
        })
    }
}

fn examples_index() -> PathBuf {
    serve_support::project_root()
        .join("tests/fixtures/npm/node_modules/@octokit/webhooks-examples/api.github.com/index.json")
}

/// `(event, examples)` for every event type of the package.
fn examples() -> Vec<(String, Vec<Value>)> {
    let path = examples_index();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}): the example payloads come from the npm package \
             @octokit/webhooks-examples pinned in tests/fixtures/npm; run `npm ci --prefix tests/fixtures/npm` \
             (from the project root) first",
            path.display()
        )
    });
    let index: Vec<Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not a JSON array: {e}", path.display()));
    index
        .iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap_or_else(|| panic!("an entry of {} has no name", path.display()));
            let examples = e["examples"].as_array().unwrap_or_else(|| panic!("{name} has no examples")).clone();
            (name.to_string(), examples)
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn every_example_payload_is_acknowledged_with_a_2xx() {
    let events = examples();
    assert_eq!(
        events.len(),
        EVENT_TYPES,
        "event types in @octokit/webhooks-examples: {:?}",
        events.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    let server = serve(SECRET);
    let mut refused = Vec::new();
    let mut latencies = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    for (event, examples) in &events {
        assert!(!examples.is_empty(), "{event} has no example");
        for (i, example) in examples.iter().enumerate() {
            // The bytes signed are exactly the bytes sent.
            let body = serde_json::to_vec(example).expect("an example serializes");
            let delivery = Delivery::signed(event, SECRET, &body);
            let started = Instant::now();
            let r = delivery.send(&server, &body);
            let took = started.elapsed();
            latencies.push(took);
            if took > slowest.0 {
                slowest = (took, format!("{event}[{i}]"));
            }
            if !r.is_success() {
                refused.push(format!("{event}[{i}] (delivery {}): {} {}", delivery.id, r.status, r.text().trim()));
            }
        }
    }
    let total = latencies.len();
    assert!(
        refused.is_empty(),
        "{} of {total} example deliveries were refused:\n{}",
        refused.len(),
        refused.join("\n")
    );
    latencies.sort();
    eprintln!(
        "webhook intake over loopback (debug build, one connection per delivery): {total} deliveries of {} event types; \
         p50 {:?}, p99 {:?}, max {:?} ({})",
        events.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        slowest.0,
        slowest.1
    );
    assert!(
        slowest.0 < Duration::from_secs(1),
        "every delivery is answered within a second; {} took {:?}",
        slowest.1,
        slowest.0
    );
    let status = server.status();
    assert_eq!(status["webhook_deliveries"].as_u64(), Some(total as u64), "deliveries counted in /api/v1/status");
    let metrics = server.metrics();
    for bad in ["outcome=\"unauthorized\"", "outcome=\"malformed\"", "outcome=\"duplicate\""] {
        assert!(!metrics.contains(bad), "no delivery should count as {bad}:\n{metrics}");
    }
    let ping =
        serve_support::metric_value(&metrics, r#"tidegate_webhook_deliveries_total{event="ping",outcome="accepted"}"#);
    let pings = events.iter().find(|(n, _)| n == "ping").map_or(0, |(_, e)| e.len());
    assert_eq!(ping, Some(pings as f64), "ping deliveries in /metrics:\n{metrics}");
}

#[test]
fn githubs_signature_test_vector() {
    assert_eq!(sign(VECTOR_SECRET, VECTOR_BODY.as_bytes()), VECTOR_SIGNATURE);
    let secrets = [Secret::new(VECTOR_SECRET)];
    assert_eq!(verify(&secrets, Some(VECTOR_SIGNATURE), None, VECTOR_BODY.as_bytes()), Ok(()));
    assert!(verify(&secrets, Some(VECTOR_SIGNATURE), None, b"Hello, World?").is_err(), "the body is what is signed");
    assert!(
        verify(&[Secret::new("It's a Secret to Everyone")], Some(VECTOR_SIGNATURE), None, VECTOR_BODY.as_bytes())
            .is_err(),
        "another secret does not verify"
    );
    // Over HTTP: the vector's signature gets past verification (401 would say otherwise); the
    // body is not JSON, so the delivery is then refused as malformed.
    let server = serve(VECTOR_SECRET);
    let mut d = Delivery::signed("push", VECTOR_SECRET, VECTOR_BODY.as_bytes());
    d.sha256 = Some(VECTOR_SIGNATURE.into());
    let r = d.send(&server, VECTOR_BODY.as_bytes());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("malformed JSON"), "{}", r.text());
}

#[test]
fn refusals_have_their_status() {
    // Two secrets, as while rotating: the new one and the previous one.
    let server = serve(&format!("{SECRET},previous-secret"));
    let push = br#"{"ref":"refs/heads/feature","before":"0000000000000000000000000000000000000000","after":"9049f1265b7d61be4a8904a9a27120d2064dab3b","deleted":false,"repository":{"full_name":"example-org/platform-gitops"}}"#;
    let check = |what: &str, d: Delivery, body: &[u8], want: u16, says: &str| {
        let r = d.send(&server, body);
        assert_eq!(r.status, want, "{what}: {}", r.text());
        assert!(r.text().contains(says), "{what}: the answer should say {says:?}, got {:?}", r.text());
        r
    };

    let mut d = Delivery::signed("push", SECRET, push);
    d.sha256 = None;
    check("missing signature", d, push, 401, "missing X-Hub-Signature-256");

    let d = Delivery::signed("push", "not-the-secret", push);
    check("signed with another secret", d, push, 401, "does not match");

    let mut d = Delivery::signed("push", SECRET, push);
    d.sha256 = Some(sign(SECRET, b"{}"));
    check("signature of another body", d, push, 401, "does not match");

    let mut d = Delivery::signed("push", SECRET, push);
    d.sha256 = None;
    d.sha1 = Some("sha1=d03207e4b030cf234e3447bac4d93add4c6643d8".into());
    check("SHA-1 X-Hub-Signature only", d, push, 401, "SHA-1");

    let mut d = Delivery::signed("push", SECRET, push);
    d.sha256 = Some("sha256=xyz".into());
    check("malformed signature", d, push, 401, "malformed");

    // Counted without their event: nothing of an unverified request becomes a label.
    let unauthorized = server.metric(r#"tidegate_webhook_deliveries_total{event="unverified",outcome="unauthorized"}"#);
    assert_eq!(unauthorized, Some(5.0), "refused deliveries are counted:\n{}", server.metrics());

    // GitHub's maximum is 25 MiB: one byte more is refused, exactly the maximum is read.
    let mut big = br#"{"zen":""#.to_vec();
    big.resize(MAX_BODY_BYTES - 2, b'a');
    big.extend_from_slice(br#""}"#);
    assert_eq!(big.len(), MAX_BODY_BYTES);
    let d = Delivery::signed("star", SECRET, &big);
    let r = d.send(&server, &big);
    assert!(r.is_success(), "a body of exactly 25 MiB: {} {}", r.status, r.text());
    big.insert(1, b' ');
    let d = Delivery::signed("star", SECRET, &big);
    let r = d.send(&server, &big);
    assert_eq!(r.status, 413, "a body of 25 MiB + 1 byte: {}", r.text());

    let bad = br#"{"ref":"refs/heads/main","#;
    let d = Delivery::signed("push", SECRET, bad);
    check("malformed JSON, correctly signed", d, bad, 400, "malformed JSON");

    let mut d = Delivery::signed("push", SECRET, push);
    d.event = None;
    check("no X-GitHub-Event, correctly signed", d, push, 400, "X-GitHub-Event");

    // GitHub's other content type: `payload=<url-encoded JSON>`.
    let form = serde_urlencoded::to_string([("payload", std::str::from_utf8(push).unwrap())]).unwrap();
    let mut d = Delivery::signed("push", SECRET, form.as_bytes());
    d.content_type = "application/x-www-form-urlencoded";
    let r = d.send(&server, form.as_bytes());
    assert!(r.is_success(), "form-encoded delivery: {} {}", r.status, r.text());

    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":109948940,"hook":{"type":"Repository","id":109948940,"active":true,"events":["push","pull_request","issue_comment"],"config":{"content_type":"json","insecure_ssl":"0","url":"https://tidegate.example.com/webhooks/github"}},"repository":{"full_name":"example-org/platform-gitops"}}"#;
    let d = Delivery::signed("ping", SECRET, ping);
    check("ping", d, ping, 200, "pong");

    // Signed with the previous secret while rotating.
    let d = Delivery::signed("push", "previous-secret", push);
    let r = d.send(&server, push);
    assert!(r.is_success(), "a delivery signed with the previous secret: {} {}", r.status, r.text());
}

#[test]
fn a_redelivery_is_processed_once() {
    let server = serve(SECRET);
    let push = br#"{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"9049f1265b7d61be4a8904a9a27120d2064dab3b","deleted":false,"repository":{"full_name":"example-org/platform-gitops"}}"#;
    let first = Delivery::signed("push", SECRET, push);
    let r = first.send(&server, push);
    assert_eq!(r.status, 202, "first delivery: {}", r.text());
    assert!(r.text().contains("queued"), "first delivery: {}", r.text());
    // GitHub keeps X-GitHub-Delivery on a manual redelivery.
    let again = Delivery { id: first.id.clone(), ..Delivery::signed("push", SECRET, push) };
    let r = again.send(&server, push);
    assert!(r.is_success(), "redelivery: {} {}", r.status, r.text());
    assert!(r.text().contains("already processed"), "redelivery: {}", r.text());
    let metrics = server.metrics();
    let value = |outcome: &str| {
        serve_support::metric_value(
            &metrics,
            &format!(r#"tidegate_webhook_deliveries_total{{event="push",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(value("duplicate"), Some(1.0), "{metrics}");
    assert_eq!(value("accepted"), Some(1.0), "the redelivery is not processed again:\n{metrics}");
}
