//! Shared by the integration tests that run the real `tidegate serve` binary
//! (tests/webhook_examples.rs, tests/status_page.rs): a git repository holding a copy of the
//! project's example (`apps-of-apps/`, `overlays/`), a running server that is killed on drop,
//! and a tiny blocking HTTP/1.1 client (one request per connection, `Connection: close`).
//!
//! Included with `#[path = "support/serve.rs"] mod serve_support;`; each test binary uses a
//! part of it.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The project's root (where `apps-of-apps/` and `overlays/` live).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free loopback port: bound to port 0, read, released.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// Runs the git CLI in `dir` and fails the test if it fails.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=tidegate tests", "-c", "user.email=tests@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the git CLI runs");
    assert!(out.status.success(), "git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
}

/// Copies a directory tree (regular files and directories).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", entry.path().display(), target.display()));
        }
    }
}

/// Creates, in `dir`, a git repository on branch `main` with one commit holding a copy of the
/// project's `apps-of-apps/`, `overlays/` and `deploy/` (tidegate's own app).
pub fn example_repo(dir: &Path) {
    for sub in ["apps-of-apps", "overlays", "deploy"] {
        copy_dir(&project_root().join(sub), &dir.join(sub));
    }
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "the example platform"]);
}

/// How to start a server.
#[derive(Debug, Default, Clone)]
pub struct ServeOptions {
    /// `TIDEGATE_WEBHOOK_SECRET` (comma-separated while rotating).
    pub secret: String,
    /// The text of a `--config` file, if any.
    pub config: Option<String>,
    /// `KUBECONFIG`, if any (else the variable is removed).
    pub kubeconfig: Option<PathBuf>,
}

/// A running `tidegate serve`, killed on drop.
pub struct Serve {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Serve {
    /// Starts the real binary against a fresh copy of the example repository and waits until
    /// `GET /healthz` answers 200 (deadline 30 s).
    pub fn start(opts: ServeOptions) -> Serve {
        let dir = tempfile::tempdir().expect("temporary directory");
        let repo = dir.path().join("repo");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data directory");
        example_repo(&repo);
        let log = dir.path().join("serve.log");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidegate"));
        cmd.arg("serve");
        if let Some(config) = &opts.config {
            let path = dir.path().join("tidegate.yaml");
            std::fs::write(&path, config).expect("write the config file");
            cmd.arg("--config").arg(path);
        }
        for var in ["TIDEGATE_GITHUB_API_URL", "GITHUB_TOKEN", "KUBECONFIG"] {
            cmd.env_remove(var);
        }
        if let Some(k) = &opts.kubeconfig {
            cmd.env("KUBECONFIG", k);
        }
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .env("TIDEGATE_LISTEN", &addr)
            .env("TIDEGATE_WEBHOOK_SECRET", &opts.secret)
            .env("TIDEGATE_REPO", &repo)
            .env("TIDEGATE_BRANCH", "main")
            .env("TIDEGATE_DATA_DIR", &data)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start tidegate serve");
        let mut serve = Serve { child, addr, log, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!("tidegate serve exited with {status} before answering /healthz:\n{}", serve.logs());
            }
            if matches!(serve.get("/healthz"), Ok(r) if r.status == 200) {
                return serve;
            }
            assert!(Instant::now() < deadline, "tidegate serve did not answer /healthz within 30 s:\n{}", serve.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The git repository the server watches (branch `main`).
    pub fn repo(&self) -> PathBuf {
        self._dir.path().join("repo")
    }

    /// True while the server process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What the server printed so far (stdout and stderr).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> std::io::Result<Response> {
        request(&self.addr, "GET", path, &[], b"")
    }

    /// `POST path` with these headers and body.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Response> {
        request(&self.addr, "POST", path, headers, body)
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> String {
        let r = self.get("/metrics").expect("GET /metrics");
        assert_eq!(r.status, 200, "GET /metrics: {}", r.text());
        r.text()
    }

    /// The value of one sample of `/metrics` (the whole `name{labels}` as printed), if present.
    pub fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.metrics(), series)
    }

    /// `GET /api/v1/status` as JSON.
    pub fn status(&self) -> serde_json::Value {
        let r = self.get("/api/v1/status").expect("GET /api/v1/status");
        assert_eq!(r.status, 200, "GET /api/v1/status: {}", r.text());
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("/api/v1/status is not JSON ({e}): {}", r.text()))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `series` (e.g. `tidegate_x_total{event="push"}`) in a Prometheus text exposition.
pub fn metric_value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.split_whitespace().next()?.parse().ok()
    })
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// 200–299.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn invalid(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

/// One HTTP/1.1 request on a new connection (`Connection: close`, `Content-Length`), read to
/// the end. The request is written from another thread while the response is read, so that a
/// server answering early (413 before it has read a large body) is heard before the connection
/// is reset.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if method != "GET" || !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut writer = stream.try_clone()?;
    let raw = std::thread::scope(|scope| {
        let sent = scope.spawn(move || -> std::io::Result<()> {
            writer.write_all(head.as_bytes())?;
            writer.write_all(body)?;
            writer.flush()
        });
        let mut raw = Vec::new();
        let mut reader = &stream;
        let read = reader.read_to_end(&mut raw);
        // The server may answer (and close) before it has read the whole request: a failed
        // write then is expected, and what was read is the answer.
        let _ = stream.shutdown(Shutdown::Both);
        let _ = sent.join();
        match read {
            Ok(_) => Ok(raw),
            Err(_) if !raw.is_empty() => Ok(raw),
            Err(e) => Err(e),
        }
    })?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid(format!("no complete response head in {} bytes", raw.len())))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| invalid("response head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()) {
        rest.get(..len).ok_or_else(|| invalid(format!("body shorter than Content-Length {len}")))?.to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").ok_or_else(|| invalid("truncated chunk size"))?;
        let size_text = std::str::from_utf8(&data[..eol]).map_err(|_| invalid("chunk size is not text"))?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| invalid(format!("bad chunk size {size_text:?}")))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or_else(|| invalid("truncated chunk"))?);
        data = data.get(size + 2..).ok_or_else(|| invalid("truncated chunk end"))?;
    }
}
