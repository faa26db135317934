//! The HTTP server: recording, fault injection, authentication, OpenAPI validation, GitHub's
//! response headers, and dispatch to the routes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::routes::{self, Ctx, Reply};
use crate::spec::{NoMatch, percent_decode, spec};
use crate::state::now;
use crate::{Recorded, Shared, jwt, schema};

/// Accepts connections until `shutdown` fires.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(shared.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        }
    }
}

/// Error that makes hyper close the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

fn parse_query(q: Option<&str>) -> BTreeMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

async fn handle(shared: Arc<Shared>, req: hyper::Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let parsed: Result<Option<Value>, ()> =
        if text.trim().is_empty() { Ok(None) } else { serde_json::from_str(&text).map(Some).map_err(|_| ()) };
    let matched = spec().find(&method, &path);
    let (seq, fault) = {
        let mut st = shared.lock();
        st.seq += 1;
        let seq = st.seq;
        st.requests.push(Recorded {
            seq,
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            body: parsed.clone().unwrap_or_else(|_| Some(Value::String(text.to_string()))),
            status: 0,
            operation: matched.as_ref().ok().map(|m| m.op.id.clone()),
            at: SystemTime::now(),
        });
        (seq, st.take_fault(&method, &path))
    };
    if let Some(d) = fault.as_ref().and_then(|f| f.delay) {
        tokio::time::sleep(d).await;
    }
    let early = fault.as_ref().filter(|f| f.status != 0 && !f.apply_then_fail);
    let reply = match early {
        Some(f) if f.drop_connection => return Err(Dropped),
        Some(f) => fault_reply(f),
        None => serve_request(&shared, &method, &path, &query, auth.as_deref(), parsed, matched),
    };
    let reply = match fault.as_ref().filter(|f| f.apply_then_fail) {
        Some(f) if f.drop_connection => return Err(Dropped),
        Some(f) => fault_reply(f),
        None => reply,
    };
    let mut st = shared.lock();
    if let Some(r) = st.requests.iter_mut().rev().find(|r| r.seq == seq) {
        r.status = reply.status;
    }
    st.rate_used += 1;
    let mut headers = vec![
        ("content-type".to_string(), "application/json; charset=utf-8".to_string()),
        ("x-github-media-type".into(), "github.v3; format=json".into()),
        ("x-github-api-version-selected".into(), "2022-11-28".into()),
        ("x-ratelimit-limit".into(), "5000".into()),
        ("x-ratelimit-remaining".into(), 5000u64.saturating_sub(st.rate_used).to_string()),
        ("x-ratelimit-reset".into(), st.rate_reset.to_string()),
        ("x-ratelimit-used".into(), st.rate_used.to_string()),
        ("x-ratelimit-resource".into(), "core".into()),
        ("x-github-request-id".into(), format!("FA4E:{:04X}:{:06X}:{:X}", std::process::id() & 0xffff, seq, now())),
    ];
    drop(st);
    for (k, v) in reply.headers {
        headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&k));
        headers.push((k, v));
    }
    let mut builder = Response::builder().status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY));
    for (k, v) in &headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let body = if reply.status == 204 || reply.body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(serde_json::to_vec_pretty(&reply.body).unwrap_or_default())
    };
    Ok(builder.body(Full::new(body)).expect("response"))
}

fn fault_reply(f: &crate::Fault) -> Reply {
    let body = if f.body.is_null() {
        let reason = StatusCode::from_u16(f.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
        json!({"message": reason, "documentation_url": "https://docs.github.com/rest"})
    } else {
        f.body.clone()
    };
    Reply { status: f.status, body, headers: f.headers.clone() }
}

fn serve_request(
    shared: &Shared,
    method: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    auth: Option<&str>,
    body: Result<Option<Value>, ()>,
    matched: Result<crate::spec::Matched<'static>, NoMatch>,
) -> Reply {
    let spec = spec();
    let mut st = shared.lock();
    let violation = |st: &mut crate::state::State, what: String| st.violations.push(format!("{method} {path}: {what}"));
    let m = match matched {
        Ok(m) => m,
        Err(NoMatch::NotGitHub) => {
            violation(&mut st, "no such route in GitHub's OpenAPI description".into());
            return Reply::error(404, "Not Found", "https://docs.github.com/rest");
        }
        Err(NoMatch::NotServed(op)) => {
            violation(&mut st, format!("{op} is a GitHub route that fake-github does not serve"));
            return Reply::error(404, "Not Found", "https://docs.github.com/rest");
        }
    };
    let docs = spec.docs(&m.op.key);
    let login = if m.op.id == "apps/create-installation-access-token" {
        match jwt::check(auth, st.opts.app.as_ref(), now()) {
            Ok(()) => String::new(),
            Err(reason) => {
                violation(&mut st, format!("app JWT rejected: {reason}"));
                return Reply::error(401, "A JSON web token could not be decoded", "https://docs.github.com/rest");
            }
        }
    } else {
        match authenticate(&st, auth) {
            Some(login) => login,
            None => return Reply::error(401, "Bad credentials", "https://docs.github.com/rest"),
        }
    };
    let body = match body {
        Ok(b) => b,
        Err(()) => return Reply::error(400, "Problems parsing JSON", &docs),
    };
    let mut errors = spec.check_params(&m, query);
    errors.extend(spec.check_body(&m, body.as_ref()));
    if !errors.is_empty() {
        for e in &errors {
            violation(&mut st, format!("{}: {}", if e.pointer.is_empty() { "/" } else { &e.pointer }, e.reason));
        }
        let lines: Vec<String> = errors.iter().map(schema::SchemaError::github_message).collect();
        return Reply::error(422, &format!("Invalid request.\n\n{}", lines.join("\n")), &docs);
    }
    let mut ctx = Ctx {
        st: &mut st,
        id: &m.op.id,
        params: &m.params,
        query,
        body: body.unwrap_or(Value::Null),
        login,
        docs: docs.clone(),
    };
    let reply = routes::dispatch(&mut ctx);
    if (200..300).contains(&reply.status) {
        if let Some(schema) = spec.response_schema(&m.op.key, reply.status) {
            for e in crate::schema::validate(&spec.root, schema, &reply.body) {
                let line = format!("{method} {path} → {}: {}: {}", reply.status, e.pointer, e.reason);
                st.response_violations.push(line);
            }
        }
    }
    reply
}

/// The login a `token T` / `Bearer T` header authenticates, if the token is accepted.
fn authenticate(st: &crate::state::State, auth: Option<&str>) -> Option<String> {
    let auth = auth?;
    let token = auth
        .strip_prefix("token ")
        .or_else(|| auth.strip_prefix("Bearer "))
        .or_else(|| auth.strip_prefix("bearer "))?;
    let info = st.tokens.get(token.trim())?;
    if info.expires_at.is_some_and(|e| e <= now()) {
        return None;
    }
    Some(info.login.clone())
}
