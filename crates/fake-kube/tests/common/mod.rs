//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use fake_kube::FakeKube;
use serde_json::{Value, json};

/// A kube-rs client for the fake, through a kubeconfig written by `write_kubeconfig`.
pub async fn client(kube: &FakeKube) -> kube::Client {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    kube.write_kubeconfig(&path);
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("config");
    assert_eq!(config.cluster_url.to_string().trim_end_matches('/'), kube.url());
    kube::Client::try_from(config).expect("client")
}

/// Polls `check` until it returns `Some`, failing after `within`.
pub async fn eventually<T>(within: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A minimal Deployment.
pub fn deployment(ns: &str, name: &str, replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]},
            },
        },
    })
}

/// A plain HTTP/1.1 request; returns status, lower-cased headers and body.
pub fn http(
    kube: &FakeKube,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut s = std::net::TcpStream::connect(kube.addr()).expect("connect");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: fake\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(ct) = content_type {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("http response");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The body of `http` as JSON.
pub fn http_json(kube: &FakeKube, method: &str, path: &str, content_type: Option<&str>, body: &str) -> (u16, Value) {
    let (status, _, text) = http(kube, method, path, content_type, body);
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}
