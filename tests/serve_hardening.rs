//! The real `tidegate serve` binary over real TCP under hostile clients (issue 9, items 5, 6
//! and 7): unsigned requests with huge distinct headers cannot grow `/metrics` or the log;
//! clients trickling headers or a body, and idle keep-alive connections, are closed at their
//! configured timeouts; with every general connection stalled, `/healthz` still answers; the
//! status page has a Content-Security-Policy and every response `X-Content-Type-Options`.
//!
//! Timeouts are configured small (hundreds of milliseconds) and every wait has a deadline.

#[path = "support/serve.rs"]
mod serve_support;

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serve_support::{Response, example_repo, free_port, metric_value, request};

const SECRET: &str = "hardening-secret";

/// A running `tidegate serve` with a config file and a log filter, killed on drop.
struct Server {
    child: Child,
    addr: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(config: &str, rust_log: &str) -> Server {
        let dir = tempfile::tempdir().expect("temporary directory");
        let repo = dir.path().join("repo");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data directory");
        example_repo(&repo);
        let config_file = dir.path().join("tidegate.yaml");
        std::fs::write(&config_file, config).expect("config file");
        let log = dir.path().join("serve.log");
        let out = File::create(&log).expect("log file");
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_tidegate"))
            .arg("serve")
            .arg("--config")
            .arg(&config_file)
            .env_remove("TIDEGATE_GITHUB_API_URL")
            .env_remove("GITHUB_TOKEN")
            .env_remove("KUBECONFIG")
            .env("TIDEGATE_LISTEN", &addr)
            .env("TIDEGATE_WEBHOOK_SECRET", SECRET)
            .env("TIDEGATE_REPO", &repo)
            .env("TIDEGATE_DATA_DIR", &data)
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start tidegate serve");
        let mut server = Server { child, addr, log, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("tidegate serve exited with {status}:\n{}", server.logs());
            }
            if matches!(server.get("/healthz"), Ok(r) if r.status == 200) {
                return server;
            }
            assert!(Instant::now() < deadline, "no /healthz within 30 s:\n{}", server.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> std::io::Result<Response> {
        request(&self.addr, "GET", path, &[], b"")
    }

    fn metrics(&self) -> String {
        let r = self.get("/metrics").expect("GET /metrics");
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(http: &str) -> String {
    format!("pollInterval: 1h\nhttp: {{{http}}}\n")
}

/// Reads until the server closes the connection (EOF or reset); `None` when it is still
/// open after `deadline`.
fn closed_within(stream: &mut TcpStream, deadline: Duration) -> Option<(Duration, Vec<u8>)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_sub(start.elapsed());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buf) {
            Ok(0) => return Some((start.elapsed(), got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return None,
            Err(_) => return Some((start.elapsed(), got)),
        }
    }
}

/// Reads one response with a `Content-Length` from a keep-alive connection.
fn read_response(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("a Content-Length");
            if got.len() >= end + 4 + len {
                return String::from_utf8_lossy(&got).into_owned();
            }
        }
        let n = stream.read(&mut buf).expect("read a response");
        assert!(n > 0, "the connection closed before a whole response: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
}

/// Sends `bytes` one at a time, `every` apart, until the server closes or they run out.
fn trickle(mut stream: TcpStream, bytes: Vec<u8>, every: Duration) {
    std::thread::spawn(move || {
        for b in bytes {
            if stream.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(every);
        }
    });
}

#[test]
fn unsigned_requests_cannot_grow_metrics_or_logs() {
    let server = Server::start(&config("maxConnections: 64"), "warn,tidegate=info");
    let before = server.metrics().len();
    let n = 1_500;
    let big = "x".repeat(30_000);
    for i in 0..n {
        let event = format!("event-{i}-{big}");
        let delivery = format!("delivery-{i}-{big}");
        let r = request(
            &server.addr,
            "POST",
            "/webhooks/github",
            &[
                ("Content-Type", "application/json"),
                ("X-GitHub-Event", &event),
                ("X-GitHub-Delivery", &delivery),
                ("X-Hub-Signature-256", "sha256=0000000000000000000000000000000000000000000000000000000000000000"),
            ],
            b"{}",
        )
        .expect("POST an unsigned delivery");
        assert_eq!(r.status, 401, "request {i}: {}", r.text());
    }
    // A correctly signed delivery of an event GitHub does not have counts as `other`, and the
    // log line about it carries its names cut short.
    let body = br#"{"zen":"x"}"#;
    let weird = format!("no-such-event\n{big}");
    let r = request(
        &server.addr,
        "POST",
        "/webhooks/github",
        &[
            ("Content-Type", "application/json"),
            ("X-GitHub-Event", &weird.replace('\n', "\t")),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("X-Hub-Signature-256", &tidegate::webhook::sign(SECRET, body)),
        ],
        body,
    )
    .expect("POST a signed delivery");
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(r.text().len() < 200, "the answer quotes the event cut short: {}", r.text());

    let metrics = server.metrics();
    assert!(
        metrics.len() < before + 2_048,
        "/metrics grew from {before} to {} bytes after {n} unsigned requests",
        metrics.len()
    );
    let run = "x".repeat(100);
    assert!(!metrics.contains(&run), "request text in /metrics");
    assert_eq!(
        metric_value(&metrics, r#"tidegate_webhook_deliveries_total{event="unverified",outcome="unauthorized"}"#),
        Some(n as f64),
        "{metrics}"
    );
    assert_eq!(
        metric_value(&metrics, r#"tidegate_webhook_deliveries_total{event="other",outcome="ignored"}"#),
        Some(1.0),
        "{metrics}"
    );
    for line in metrics.lines().filter(|l| l.starts_with("tidegate_webhook_deliveries_total{")) {
        let event = line.split("event=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
        assert!(
            event == "other" || event == "unverified" || tidegate::webhook::untrusted::GITHUB_EVENTS.contains(&event),
            "a label from outside the fixed set: {line}"
        );
    }

    let logs = server.logs();
    assert!(
        !logs.contains(&run),
        "request text in the log: {} bytes: {}",
        logs.len(),
        logs.lines().find(|l| l.contains(&run)).unwrap_or_default().chars().take(300).collect::<String>()
    );
    assert!(!logs.contains("delivery-"), "an unverified delivery id in the log");
    assert!(!logs.contains('\u{1b}'), "a control character in the log");
    assert!(logs.len() < n * 300, "the log grew by {} bytes for {n} unsigned requests", logs.len());
    let line = logs
        .lines()
        .find(|l| l.contains("webhook delivery") && l.contains("outcome=\"ignored\""))
        .unwrap_or_else(|| panic!("the signed delivery is logged:\n{logs}"));
    assert!(line.contains("no-such-event") && !line.contains('\t'), "the event is logged escaped: {line}");
    assert!(line.contains("bytes)"), "and says it was cut: {line}");
    assert!(line.len() < 400, "the line is bounded: {} bytes", line.len());
}

#[test]
fn a_client_trickling_headers_is_cut_at_the_header_timeout() {
    let server = Server::start(&config("headerReadTimeout: 300ms, idleTimeout: 10s"), "warn");
    let mut stream = TcpStream::connect(&server.addr).expect("connect");
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
    head.extend(std::iter::repeat_n(b'X', 10_000));
    trickle(stream.try_clone().expect("clone"), head, Duration::from_millis(20));
    let (after, got) = closed_within(&mut stream, Duration::from_secs(5))
        .expect("a client trickling its headers is still connected after 5 s (headerReadTimeout: 300ms)");
    assert!(got.is_empty() || !String::from_utf8_lossy(&got).contains("200"), "{got:?}");
    assert!(after >= Duration::from_millis(250), "closed after {after:?}, before the header timeout");
    assert!(after < Duration::from_secs(2), "closed only after {after:?}");
    let metrics = server.metrics();
    assert_eq!(
        metric_value(&metrics, r#"tidegate_http_connections_closed_total{reason="header_timeout"}"#),
        Some(1.0),
        "{metrics}"
    );
}

#[test]
fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout_not_the_header_timeout() {
    let server = Server::start(&config("headerReadTimeout: 300ms, idleTimeout: 1500ms"), "warn");
    let mut stream = TcpStream::connect(&server.addr).expect("connect");
    let get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    stream.write_all(get).expect("first request");
    assert!(read_response(&mut stream).starts_with("HTTP/1.1 200"));
    // Idle for longer than the header timeout: the connection stays open.
    assert!(
        closed_within(&mut stream, Duration::from_millis(700)).is_none(),
        "an idle keep-alive connection was closed before its idle timeout (at the header timeout?)"
    );
    stream.write_all(get).expect("second request on the same connection");
    assert!(read_response(&mut stream).starts_with("HTTP/1.1 200"));
    let (after, got) = closed_within(&mut stream, Duration::from_secs(6))
        .expect("an idle keep-alive connection is still open 6 s after its last answer (idleTimeout: 1500ms)");
    assert!(got.is_empty(), "{got:?}");
    assert!(after >= Duration::from_millis(1_300), "closed after {after:?}, before the idle timeout");
    assert!(after < Duration::from_secs(4), "closed only after {after:?}");
}

#[test]
fn a_slow_body_is_cut_at_the_body_timeout() {
    let server = Server::start(&config("bodyReadTimeout: 300ms"), "warn");
    let mut stream = TcpStream::connect(&server.addr).expect("connect");
    let head = "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                X-GitHub-Event: push\r\nContent-Length: 100000\r\n\r\n{";
    stream.write_all(head.as_bytes()).expect("headers");
    let start = Instant::now();
    trickle(stream.try_clone().expect("clone"), vec![b' '; 100_000], Duration::from_millis(20));
    let (_, got) = closed_within(&mut stream, Duration::from_secs(5))
        .expect("a client trickling a body is still connected after 5 s (bodyReadTimeout: 300ms)");
    let after = start.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("bodyReadTimeout"), "{text}");
    assert!(after >= Duration::from_millis(250), "answered after {after:?}, before the body timeout");
    assert!(after < Duration::from_secs(2), "answered only after {after:?}");
    let metrics = server.metrics();
    assert_eq!(
        metric_value(&metrics, r#"tidegate_webhook_deliveries_total{event="unverified",outcome="timeout"}"#),
        Some(1.0),
        "{metrics}"
    );
}

#[test]
fn healthz_answers_while_every_general_connection_is_stalled() {
    let max = 8;
    let server = Server::start(
        &config(&format!("headerReadTimeout: 60s, idleTimeout: 60s, maxConnections: {max}, probeConnections: 4")),
        "warn",
    );
    // Fill the general connections with clients that never finish their headers.
    let mut stalled = Vec::new();
    for _ in 0..max {
        let mut s = TcpStream::connect(&server.addr).expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").expect("a partial head");
        stalled.push(s);
    }
    // Once they are all taken, a new connection lands in the probe reserve, where anything but
    // a probe endpoint gets 503.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = server.get("/api/v1/status").expect("GET /api/v1/status");
        if r.status == 503 {
            assert!(r.text().contains("connection limit"), "{}", r.text());
            break;
        }
        assert!(Instant::now() < deadline, "the {max} stalled connections never filled http.maxConnections");
        std::thread::sleep(Duration::from_millis(20));
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        let start = Instant::now();
        let r = server.get(path).unwrap_or_else(|e| panic!("GET {path} with the general connections full: {e}"));
        let took = start.elapsed();
        assert!(r.status == 200 || (path == "/readyz" && r.status == 503), "GET {path}: {} {}", r.status, r.text());
        assert!(took < Duration::from_secs(1), "GET {path} took {took:?}");
    }
    // The reserve serves one request per connection, even when the client would keep it.
    let mut probe = TcpStream::connect(&server.addr).expect("connect");
    probe.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").expect("a keep-alive request");
    let answer = read_response(&mut probe);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        // Far below the 60 s idle timeout a kept connection would wait; generous for a loaded CI.
        closed_within(&mut probe, Duration::from_secs(5)).is_some(),
        "a reserve connection is closed after its answer"
    );
    let metrics = server.metrics();
    assert_eq!(metric_value(&metrics, r#"tidegate_http_connections{pool="general"}"#), Some(max as f64), "{metrics}");

    // Beyond the general connections and the reserve, connections are closed at once: however
    // many clients stall, the server's open sockets stay bounded.
    let mut extra = Vec::new();
    for _ in 0..40 {
        let mut s = TcpStream::connect(&server.addr).expect("connect");
        let _ = s.write_all(b"GET / HTTP/1.1\r\n");
        extra.push(s);
    }
    let closed_at_once =
        extra.iter_mut().map(|s| closed_within(s, Duration::from_millis(1_500)).is_some()).filter(|c| *c).count();
    assert!(closed_at_once >= 40 - 4, "only {closed_at_once} of 40 connections over the limits were closed");
    // The ones that took the reserve are cut at its short header timeout; then probes answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match server.get("/healthz") {
            Ok(r) if r.status == 200 => break,
            _ => assert!(Instant::now() < deadline, "/healthz never answered again"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stalled);
}

#[test]
fn the_status_page_has_a_content_security_policy_and_nothing_is_sniffed() {
    let server = Server::start(&config("maxConnections: 16"), "warn");
    let page = server.get("/").expect("GET /");
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("a Content-Security-Policy on the status page");
    for directive in
        ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]
    {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = page.text();
    assert!(!html.contains("<script>") && !html.contains("<style>"), "inline script or style would be blocked");
    for (path, kind) in [
        ("/", "text/html"),
        ("/status.js", "text/javascript"),
        ("/status.css", "text/css"),
        ("/api/v1/status", "application/json"),
        ("/readyz", "application/json"),
        ("/healthz", "text/plain"),
        ("/metrics", "application/openmetrics-text"),
        ("/no-such-page", ""),
    ] {
        let r = server.get(path).expect("GET");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "GET {path}");
        if !kind.is_empty() {
            assert!(r.header("content-type").unwrap_or_default().starts_with(kind), "GET {path}: {:?}", r.headers);
        }
    }
    let r = request(&server.addr, "POST", "/webhooks/github", &[], b"{}").expect("POST");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "POST /webhooks/github");
}

/// The server's resident memory (Linux), MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

#[test]
fn many_large_unsigned_bodies_at_once_stay_within_the_memory_budget() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let server = Server::start(&config("bodyReadTimeout: 60s, maxConnections: 64"), "warn");
    let pid = server.child.id();
    let before = rss_mib(pid);
    // Twelve clients each send all but the last byte of a 25 MiB body (GitHub's maximum): the
    // server cannot check a signature before the whole body is in, so it holds what it reads.
    let size = tidegate::webhook::MAX_BODY_BYTES;
    let clients = 12;
    let written = Arc::new(AtomicUsize::new(0));
    let mut streams = Vec::new();
    for _ in 0..clients {
        let mut s = TcpStream::connect(&server.addr).expect("connect");
        s.set_write_timeout(Some(Duration::from_secs(60))).expect("write timeout");
        let head = format!(
            "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: {size}\r\n\r\n"
        );
        s.write_all(head.as_bytes()).expect("headers");
        let mut writer = s.try_clone().expect("clone");
        let written = Arc::clone(&written);
        std::thread::spawn(move || {
            let chunk = vec![b' '; 256 * 1024];
            let mut left = size - 1;
            while left > 0 {
                let n = chunk.len().min(left);
                if writer.write_all(&chunk[..n]).is_err() {
                    return;
                }
                left -= n;
                written.fetch_add(n, Ordering::Relaxed);
            }
        });
        streams.push(s);
    }
    // Wait until the clients can write no more (the server reads no more), deadline 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (0, Instant::now());
    loop {
        let now = written.load(Ordering::Relaxed);
        if now == (size - 1) * clients {
            break;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(1) {
            break;
        }
        assert!(Instant::now() < deadline, "the clients were still writing after 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = rss_mib(pid);
    let budget = (4 * size) as f64 / (1024.0 * 1024.0);
    assert!(
        after - before < budget + 40.0,
        "{clients} unsigned 25 MiB bodies in flight grew the server from {before:.0} to {after:.0} MiB \
         (budget {budget:.0} MiB); {} MiB were sent",
        written.load(Ordering::Relaxed) / (1024 * 1024)
    );
    // The server still answers, and a small signed delivery is not starved for long: the
    // bodies' timeout frees the budget at the latest.
    let r = server.get("/healthz").expect("GET /healthz");
    assert_eq!(r.status, 200);
    drop(streams);
}
