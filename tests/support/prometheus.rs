//! A real Prometheus for the integration tests: Debian's `prometheus` (2.42) serving samples
//! backfilled with `promtool tsdb create-blocks-from openmetrics`.
//!
//! Needs `prometheus` and `promtool` on PATH: `scripts/test-deps.sh` installs them (CI runs
//! it). Without them a test using this fails, saying so, rather than skipping silently.
//!
//! Included with `#[path = "support/prometheus.rs"] mod prometheus_support;`
//! (tests/prometheus_gates.rs, tests/promotion_e2e.rs).
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Prometheus process over a temporary TSDB; killed on drop.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// Holds `samples.om`, `tsdb/`, `prometheus.yml` and `prometheus.log`.
    pub dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Backfills `openmetrics` (OpenMetrics text ending in `# EOF`) into a fresh TSDB, starts
    /// Prometheus on it (no scrape targets) and waits until `/-/ready` answers (deadline 60 s).
    pub fn start(openmetrics: &str) -> Prometheus {
        require("promtool");
        require("prometheus");
        let dir = tempfile::tempdir().expect("temporary directory");
        let input = dir.path().join("samples.om");
        std::fs::write(&input, openmetrics).expect("write the samples");
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
        std::fs::write(&config, "").expect("write prometheus.yml");
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let mut prometheus = Prometheus { child, address: format!("http://127.0.0.1:{port}"), dir };
        prometheus.wait_ready(Duration::from_secs(60));
        prometheus
    }

    /// What Prometheus printed so far.
    pub fn log(&self) -> String {
        let mut log = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("prometheus.log")) {
            let _ = f.read_to_string(&mut log);
        }
        log
    }

    /// Polls `/-/ready` until it answers 200, the process exits, or the deadline passes.
    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let ready = format!("{}/-/ready", self.address);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited with {status} before it was ready:\n{}", self.log());
            }
            if http_get_status(&ready) == Some(200) {
                return;
            }
            assert!(Instant::now() < deadline, "prometheus not ready after {timeout:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
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
