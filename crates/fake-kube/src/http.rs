//! The HTTP server: routing, request recording, fault injection, control endpoints.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::ops::Call;
use crate::util::{parse_query, percent_decode};
use crate::watch::Body;
use crate::{Request, Shared, Target, discovery, watch};

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

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let mut body = serde_json::to_vec(v).unwrap_or_default();
    body.push(b'\n');
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .header("cache-control", "no-cache, private")
        .body(Body::full(body))
        .expect("response")
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(secs) = e.retry_after {
        r.headers_mut().insert("retry-after", secs.to_string().parse().expect("header value"));
    }
    r
}

/// Parses the resource part of an API path.
pub(crate) fn parse_target(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let s = |x: &&str| x.to_string();
    let (namespace, resource, name, subresource) = match rest {
        [] => return None,
        [r] => (None, s(r), None, None),
        [r, n] => (None, s(r), Some(s(n)), None),
        ["namespaces", ns, r] if !matches!(*r, "status" | "finalize") => (Some(s(ns)), s(r), None, None),
        [r, n, sub] => (None, s(r), Some(s(n)), Some(s(sub))),
        ["namespaces", ns, r, n] => (Some(s(ns)), s(r), Some(s(n)), None),
        ["namespaces", ns, r, n, sub] => (Some(s(ns)), s(r), Some(s(n)), Some(s(sub))),
        _ => return None,
    };
    Some(Target { group: group.into(), version: version.into(), namespace, resource, name, subresource })
}

/// The API server reads JSON with Go's `encoding/json` rules (sigs.k8s.io/json): nesting up to
/// 10,000 levels, deeper is "exceeded max depth". serde_json's own limit (128) is lifted to match.
fn parse_json(bytes: &[u8]) -> Result<Value, String> {
    use serde::Deserialize as _;
    let (mut level, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'[' || b == b'{' {
            level += 1;
            deepest = deepest.max(level);
        } else if b == b']' || b == b'}' {
            level = level.saturating_sub(1);
        }
    }
    if deepest > 10_000 {
        return Err("exceeded max depth".into());
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let value = Value::deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

fn parse_body(bytes: &Bytes, content_type: &str) -> Result<Option<Value>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match parse_json(bytes) {
        Ok(v) => Ok(Some(v)),
        Err(json_err) => {
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            if content_type.contains("yaml") {
                serde_yaml::from_str::<Value>(text).map(Some).map_err(|e| format!("error converting YAML to JSON: {e}"))
            } else {
                Err(format!("couldn't get version/kind; json parse error: {json_err}"))
            }
        }
    }
}

async fn handle(shared: Arc<Shared>, req: hyper::Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let method = req.method().as_str().to_string();
    let path = percent_decode(req.uri().path(), false);
    let raw_target = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| path.clone());
    let query = parse_query(req.uri().query());
    let header = |k: &str| req.headers().get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = header("content-type");
    let accept = header("accept");
    let user_agent = header("user-agent").unwrap_or_default();
    let bytes = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if let Some(ctl) = path.strip_prefix("/_fake/") {
        return Ok(control(&shared, &method, ctl));
    }
    let ct = content_type.clone().unwrap_or_default();
    let parsed = parse_body(&bytes, &ct);
    let recorded_body = match &parsed {
        Ok(v) => v.clone(),
        Err(_) => Some(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
    };
    let (seq, fault) = {
        let mut st = shared.lock();
        let seq = st.record(Request {
            seq: 0,
            method: method.clone(),
            path: path.clone(),
            dry_run: query.get("dryRun").is_some_and(|v| v == "All"),
            field_manager: query.get("fieldManager").cloned(),
            query: query.clone(),
            content_type: content_type.clone(),
            body: recorded_body,
            status: 0,
            at: Instant::now(),
        });
        (seq, st.take_fault(&method, &raw_target))
    };
    if let Some(f) = &fault {
        if let Some(d) = f.delay {
            tokio::time::sleep(d).await;
        }
        if f.status != 0 {
            shared.lock().set_status(seq, f.status);
            return Ok(error_response(&ApiError::injected(f.status, f.retry_after)));
        }
    }
    let response = match parsed {
        Err(msg) => error_response(&ApiError::bad_request(msg)),
        Ok(body) => {
            let input = Input {
                method: &method,
                path: &path,
                query: &query,
                content_type: &ct,
                accept: accept.as_deref(),
                user_agent: &user_agent,
            };
            dispatch(&shared, &input, body)
        }
    };
    shared.lock().set_status(seq, response.status().as_u16());
    if method != "GET" {
        shared.wake.notify_one();
    }
    Ok(response)
}

struct Input<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a BTreeMap<String, String>,
    content_type: &'a str,
    accept: Option<&'a str>,
    user_agent: &'a str,
}

fn dispatch(shared: &Shared, input: &Input, body: Option<Value>) -> Response<Body> {
    let discovery_doc = |f: &dyn Fn() -> Option<Value>| -> Response<Body> {
        if input.method != "GET" {
            return error_response(&ApiError::method_not_allowed());
        }
        if let Err(e) = discovery::accepts_legacy(input.accept) {
            return error_response(&e);
        }
        match f() {
            Some(v) => json_response(200, &v),
            None => error_response(&ApiError::no_resource()),
        }
    };
    let segs: Vec<&str> = input.path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["version"] => return discovery_doc(&|| Some(discovery::version())),
        ["healthz" | "livez" | "readyz"] => {
            return Response::builder().status(200).body(Body::full("ok")).expect("response");
        }
        ["api"] => return discovery_doc(&|| Some(discovery::core_versions("127.0.0.1:6443"))),
        ["api", v] => return discovery_doc(&|| discovery::resources(&shared.lock().registry, "", v)),
        ["apis"] => return discovery_doc(&|| Some(discovery::groups(&shared.lock().registry))),
        ["apis", g] => return discovery_doc(&|| discovery::group(&shared.lock().registry, g)),
        ["apis", g, v] => return discovery_doc(&|| discovery::resources(&shared.lock().registry, g, v)),
        _ => {}
    }
    let Some(t) = parse_target(input.path) else { return error_response(&ApiError::no_resource()) };
    match resource(shared, input, t, body) {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn resource(shared: &Shared, input: &Input, t: Target, body: Option<Value>) -> Result<Response<Body>, ApiError> {
    let mut st = shared.lock();
    let rt = st.registry.by_plural(&t.group, &t.version, &t.resource).ok_or_else(ApiError::no_resource)?;
    if t.namespace.is_some() && !rt.namespaced {
        return Err(ApiError::no_resource());
    }
    if t.namespace.is_none() && rt.namespaced && t.name.is_some() {
        return Err(ApiError::no_resource());
    }
    let call = Call {
        rt: rt.clone(),
        namespace: t.namespace.clone(),
        name: t.name.clone(),
        subresource: t.subresource.clone(),
        query: input.query,
        content_type: input.content_type,
        user_agent: input.user_agent,
    };
    let watching = matches!(input.query.get("watch").map(String::as_str), Some("true" | "1"));
    let (code, v) = match (input.method, t.name.is_some()) {
        ("GET", true) => (200, st.op_get(&call)?),
        ("GET", false) if watching => {
            let body = watch::start(&mut st, &rt, t.namespace.clone(), input.query)?;
            return Ok(Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("cache-control", "no-cache, private")
                .body(body)
                .expect("response"));
        }
        ("GET", false) => (200, st.op_list(&call)?),
        ("POST", false) if t.namespace.is_some() || !rt.namespaced => st.op_create(&call, body)?,
        ("PUT", true) => st.op_replace(&call, body)?,
        ("PATCH", true) => st.op_patch(&call, body)?,
        ("DELETE", true) => st.op_delete(&call, body)?,
        ("DELETE", false) if t.namespace.is_some() || !rt.namespaced => st.op_delete_collection(&call)?,
        _ => return Err(ApiError::method_not_allowed()),
    };
    Ok(json_response(code, &v))
}

fn control(shared: &Shared, method: &str, path: &str) -> Response<Body> {
    let mut st = shared.lock();
    match (method, path) {
        ("GET", "requests") => {
            let started = st.started;
            let list: Vec<Value> = st
                .requests
                .iter()
                .map(|r| {
                    json!({
                        "seq": r.seq, "method": r.method, "path": r.path, "query": r.query, "status": r.status,
                        "dry_run": r.dry_run, "micros": r.at.saturating_duration_since(started).as_micros() as u64,
                    })
                })
                .collect();
            json_response(200, &Value::Array(list))
        }
        ("GET", "stats") => {
            let writes = st.requests.iter().filter(|r| r.is_write()).count();
            json_response(200, &json!({"requests": st.requests.len(), "writes": writes, "objects": st.objects.len()}))
        }
        ("GET", "objects") => json_response(200, &Value::Array(st.objects.values().map(|e| e.obj.clone()).collect())),
        ("POST", "reset-requests") => {
            st.requests.clear();
            json_response(200, &json!({}))
        }
        _ => error_response(&ApiError::no_resource()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = parse_target("/apis/apps/v1/namespaces/n/deployments/d/status").unwrap();
        assert_eq!((t.group.as_str(), t.namespace.as_deref(), t.name.as_deref()), ("apps", Some("n"), Some("d")));
        assert_eq!(t.subresource.as_deref(), Some("status"));
        let ns = parse_target("/api/v1/namespaces/n").unwrap();
        assert_eq!((ns.resource.as_str(), ns.name.as_deref(), ns.namespace), ("namespaces", Some("n"), None));
        let list = parse_target("/api/v1/namespaces/n/configmaps").unwrap();
        assert_eq!((list.resource.as_str(), list.namespace.as_deref()), ("configmaps", Some("n")));
        let nss = parse_target("/api/v1/namespaces/n/status").unwrap();
        assert_eq!(nss.subresource.as_deref(), Some("status"));
        assert!(parse_target("/apis/apps/v1").is_none());
    }
}
