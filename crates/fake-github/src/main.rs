//! `fake-github --listen 127.0.0.1:8081 --repo owner/name=PATH [--repo …] [--token T]
//! [--user LOGIN] [--collaborator owner/name:LOGIN=ROLE …] [--web-base URL] [--control ADDR]`:
//! serves the fake GitHub until SIGTERM or SIGINT, for manual tries and benchmarks. Prints
//! `listening on http://…` once ready.
//!
//! With `--control ADDR` it also serves read-only control endpoints on a second port (printed as
//! `control on http://…`), so that a benchmark can read what the fake received without its own
//! reads being recorded or checked against GitHub's description:
//!
//! - `GET /_fake/requests[?since=SEQ][&bodies=1]`: the recorded requests with `seq` > `SEQ`, in
//!   arrival order, as `{"seq", "method", "path", "query", "status", "operation", "unix_micros"}`
//!   (plus `"body"` with `bodies=1`); `status` is 0 while a request is being served;
//! - `GET /_fake/stats`: `{"requests", "last_seq", "violations", "response_violations"}`.
//!
//! `--latency-ms N` delays every answer by N ms (after the request is recorded, before it is
//! served), to play a remote GitHub's round trip.

use std::net::SocketAddr;
use std::path::PathBuf;

use fake_github::{FakeGitHub, Options};

mod control {
    //! The read-only control endpoints of `--control`.

    use std::collections::BTreeMap;
    use std::time::UNIX_EPOCH;

    use bytes::Bytes;
    use fake_github::FakeGitHub;
    use http_body_util::Full;
    use hyper::{Request, Response, StatusCode};
    use hyper_util::rt::TokioIo;
    use serde_json::{Value, json};

    /// Accepts connections until the runtime stops.
    pub async fn serve(listener: tokio::net::TcpListener, gh: FakeGitHub) {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            let gh = gh.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let reply = answer(&gh, &req);
                    async move { Ok::<_, std::convert::Infallible>(reply) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    }

    fn query(req: &Request<hyper::body::Incoming>) -> BTreeMap<String, String> {
        req.uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').map_or((p.to_string(), String::new()), |(k, v)| (k.into(), v.into())))
            .collect()
    }

    fn answer(gh: &FakeGitHub, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let q = query(req);
        let (status, body) = match (req.method().as_str(), req.uri().path()) {
            ("GET", "/_fake/requests") => match q.get("since").map(|s| s.parse::<u64>()).unwrap_or(Ok(0)) {
                Err(e) => (StatusCode::BAD_REQUEST, json!({"message": format!("since: {e}")})),
                Ok(since) => {
                    let bodies = q.get("bodies").is_some_and(|v| v == "1" || v == "true");
                    let list: Vec<Value> = gh
                        .requests()
                        .into_iter()
                        .filter(|r| r.seq > since)
                        .map(|r| {
                            let micros = r.at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
                            let mut v = json!({
                                "seq": r.seq, "method": r.method, "path": r.path, "query": r.query,
                                "status": r.status, "operation": r.operation, "unix_micros": micros,
                            });
                            if bodies {
                                v["body"] = r.body.unwrap_or(Value::Null);
                            }
                            v
                        })
                        .collect();
                    (StatusCode::OK, Value::Array(list))
                }
            },
            ("GET", "/_fake/stats") => {
                let requests = gh.requests();
                let body = json!({
                    "requests": requests.len(),
                    "last_seq": requests.last().map_or(0, |r| r.seq),
                    "violations": gh.violations(),
                    "response_violations": gh.response_violations(),
                });
                (StatusCode::OK, body)
            }
            _ => (
                StatusCode::NOT_FOUND,
                json!({"message": "Not Found (control endpoints: GET /_fake/requests, GET /_fake/stats)"}),
            ),
        };
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap_or_default())))
            .expect("response")
    }
}

const USAGE: &str = "usage: fake-github --listen ADDR --repo OWNER/NAME=PATH [--repo …] [--token T] [--user LOGIN] \
                     [--collaborator OWNER/NAME:LOGIN=ROLE …] [--web-base URL] [--control ADDR] [--latency-ms N]";

fn main() {
    if let Err(e) = run() {
        eprintln!("fake-github: {e}\n{USAGE}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut repos: Vec<(String, PathBuf)> = Vec::new();
    let mut collaborators: Vec<(String, String, String)> = Vec::new();
    let mut opts = Options::default();
    let mut control: Option<SocketAddr> = None;
    let mut latency_ms: u64 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            println!("{USAGE}");
            return Ok(());
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") && !v.is_empty() && f != "--repo" && f != "--collaborator" => {
                (f.to_string(), Some(v.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        match flag.as_str() {
            "--listen" => listen = value.parse().map_err(|e| format!("--listen: {e}"))?,
            "--repo" => {
                let (name, path) = value.split_once('=').ok_or("--repo takes OWNER/NAME=PATH")?;
                if !name.contains('/') {
                    return Err(format!("--repo {value}: the name must be OWNER/NAME"));
                }
                repos.push((name.to_string(), PathBuf::from(path)));
            }
            "--collaborator" => {
                let (repo, rest) = value.split_once(':').ok_or("--collaborator takes OWNER/NAME:LOGIN=ROLE")?;
                let (login, role) = rest.split_once('=').ok_or("--collaborator takes OWNER/NAME:LOGIN=ROLE")?;
                collaborators.push((repo.into(), login.into(), role.into()));
            }
            "--token" => opts.token = Some(value),
            "--user" => opts.token_user = value,
            "--web-base" => opts.web_base = value,
            "--latency-ms" => latency_ms = value.parse().map_err(|e| format!("--latency-ms: {e}"))?,
            "--control" => control = Some(value.parse().map_err(|e| format!("--control: {e}"))?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let gh = FakeGitHub::start_at(listen, opts).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    for (name, path) in &repos {
        if git2::Repository::open(path).is_err() {
            return Err(format!("--repo {name}={}: not a git repository", path.display()));
        }
        gh.add_repo(name, path);
    }
    for (repo, login, role) in &collaborators {
        gh.set_permission(repo, login, role);
    }
    if latency_ms > 0 {
        // Status 0: served normally, after the delay; never runs out.
        gh.inject(fake_github::Fault {
            delay: Some(std::time::Duration::from_millis(latency_ms)),
            times: usize::MAX,
            ..fake_github::Fault::default()
        });
    }
    println!("listening on {}", gh.url());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        if let Some(addr) = control {
            let listener =
                tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            println!("control on http://{local}");
            tokio::spawn(control::serve(listener, gh.clone()));
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot install a SIGTERM handler: {e}"))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok::<(), String>(())
    })?;
    let violations = gh.violations();
    if !violations.is_empty() {
        eprintln!("fake-github: {} request(s) broke GitHub's OpenAPI description:", violations.len());
        for v in violations {
            eprintln!("  {v}");
        }
    }
    Ok(())
}
