//! Helpers for the fake GitHub's tests: fixture repositories made with the git CLI and a small
//! HTTP client.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use fake_github::FakeGitHub;
use serde_json::Value;

/// Runs git in `dir`; panics on failure; stdout trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository `origin.git` with one commit on `main` (`overlays/dev/tag.txt` = `v1`);
/// returns (tempdir, bare path, work clone path).
pub fn fixture_repo() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(work.join("overlays/dev")).expect("mkdir");
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("overlays/dev/tag.txt"), "v1\n").expect("write");
    std::fs::write(work.join("README.md"), "hello\n").expect("write");
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "initial"]);
    let bare = tmp.path().join("origin.git");
    git(tmp.path(), &["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()]);
    (tmp, bare, work)
}

/// A started fake serving `acme/gitops` from a fresh fixture repository.
pub async fn started() -> (FakeGitHub, tempfile::TempDir, PathBuf) {
    let gh = FakeGitHub::start().await;
    let (tmp, bare, _) = fixture_repo();
    gh.add_repo("acme/gitops", &bare);
    (gh, tmp, bare)
}

/// A minimal client with the default token.
pub struct Client {
    pub base: String,
    pub token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(gh: &FakeGitHub) -> Client {
        Client { base: gh.url(), token: Some("test-token".into()), http: reqwest::Client::new() }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON body") };
        (status, v, headers)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = self.send("GET", path, None).await;
        (s, v)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self.send("POST", path, Some(body)).await;
        (s, v)
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self.send("PUT", path, Some(body)).await;
        (s, v)
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self.send("PATCH", path, Some(body)).await;
        (s, v)
    }
}

/// Base64 of a string.
pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
