//! The harness of tests/promotion_e2e.rs: one promotion scenario = a bare git repository
//! ("origin", which both `tidegate serve` and the fake GitHub use — the fake moves its refs),
//! one fake Kubernetes API per environment (dev, qa, prod), the fake GitHub REST API, and the
//! real `tidegate serve` binary, driven by webhooks signed like GitHub signs them.
//!
//! Included with `#[path = "support/promotion.rs"] mod promotion;` next to
//! `#[path = "support/serve.rs"] mod serve_support;` (its HTTP client is reused).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_github::{FakeGitHub, Recorded};
use fake_kube::FakeKube;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::serve_support::{Response, free_port, metric_value, request};

/// `owner/name` of the GitOps repository on the fake GitHub.
pub const REPO: &str = "acme/gitops";
/// The webhook secret.
pub const SECRET: &str = "e2e webhook secret";
/// The token tidegate uses; the fake's default token, acting as [`BOT`].
pub const BOT_TOKEN: &str = "test-token";
/// tidegate's login (`github.botLogin`).
pub const BOT: &str = "tidegate-bot";
/// The environments, in pipeline order.
pub const ENVS: [&str; 3] = ["dev", "qa", "prod"];
/// The promotion branch of web into qa.
pub const WEB_QA_BRANCH: &str = "tidegate/promote/web/qa";

const ISSUE_COMMENT_SAMPLE: &str = include_str!("../../webhooks/samples/issue_comment.json");
const PUSH_SAMPLE: &str = include_str!("../../webhooks/samples/push.json");
const PULL_REQUEST_SAMPLE: &str = include_str!("../../webhooks/samples/pull_request.json");

/// Runs git in `dir`; its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(out.status.success(), "git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs git in `dir` and returns whatever happened.
pub fn git_output(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(["-c", "user.name=CI", "-c", "user.email=ci@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the git CLI runs")
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("create directory");
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

/// The web overlay of `env`, pinning `tag`; comments and quoting that a promotion must keep.
pub fn overlay(env: &str, tag: &str) -> String {
    format!(
        "# web in {env}\nresources:\n  - ../../../apps-of-apps/web/base\nimages:\n  # CI writes dev; tidegate promotes to qa and prod.\n  - name: example/web\n    newTag: \"{tag}\" # pinned\n"
    )
}

/// Writes the one-app example: environments dev, qa, prod; the app `web` (a Deployment of
/// `example/web`) pinned at `tags` (dev, qa, prod); `policy` as apps-of-apps/promotion.yaml.
pub fn write_example(dir: &Path, tags: [&str; 3], policy: &str) {
    write(
        dir,
        "apps-of-apps/root.yaml",
        "apiVersion: tidegate.dev/v1alpha1\nkind: Root\nmetadata: {name: e2e}\nspec:\n  environments: [{name: dev}, {name: qa}, {name: prod}]\n  waves: [{name: business}]\n",
    );
    write(
        dir,
        "apps-of-apps/web/app.yaml",
        "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata: {name: web}\nspec:\n  wave: business\n  namespace: shop\n  environments: [dev, qa, prod]\n",
    );
    write(dir, "apps-of-apps/web/base/kustomization.yaml", "resources: [deployment.yaml]\n");
    write(
        dir,
        "apps-of-apps/web/base/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: example/web:0.1}]\n",
    );
    for (env, tag) in ENVS.iter().zip(tags) {
        write(dir, &format!("overlays/{env}/web/kustomization.yaml"), &overlay(env, tag));
    }
    write(dir, "apps-of-apps/promotion.yaml", policy);
}

/// A promotion policy: `qa` and `prod` are the target blocks' YAML (flow style).
pub fn policy(qa: &str, prod: &str) -> String {
    format!(
        "apiVersion: tidegate.dev/v1alpha1\nkind: PromotionPolicy\nmetadata: {{name: e2e}}\nspec:\n  pipeline: [dev, qa, prod]\n  environments:\n    qa: {qa}\n    prod: {prod}\n"
    )
}

/// `sha256=<hex HMAC-SHA256 of body>`, as GitHub signs deliveries.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn set(v: &mut Value, pointer: &str, value: Value) {
    *v.pointer_mut(pointer).unwrap_or_else(|| panic!("the sample has no {pointer}")) = value;
}

fn with_repository(mut v: Value) -> Value {
    let (owner, name) = REPO.split_once('/').expect("owner/name");
    set(&mut v, "/repository/full_name", json!(REPO));
    set(&mut v, "/repository/name", json!(name));
    set(&mut v, "/repository/owner/login", json!(owner));
    v
}

/// Who wrote a comment and how GitHub delivers it.
#[derive(Debug, Clone)]
pub struct CommentEvent {
    /// `created`, `edited`, `deleted`.
    pub action: &'static str,
    /// Issue or pull request number.
    pub issue: u64,
    /// The comment's id.
    pub comment_id: u64,
    /// `comment.user.login`.
    pub author: String,
    /// `comment.user.type`: `User`, `Bot`.
    pub author_type: &'static str,
    /// The text.
    pub body: String,
}

/// An `issue_comment` delivery: GitHub's sample with these fields rewritten (on an issue, not
/// a pull request).
pub fn issue_comment_payload(c: &CommentEvent) -> Value {
    let mut v: Value = serde_json::from_str(ISSUE_COMMENT_SAMPLE).expect("the issue_comment sample is JSON");
    v = with_repository(v);
    set(&mut v, "/action", json!(c.action));
    set(&mut v, "/issue/number", json!(c.issue));
    v["issue"].as_object_mut().expect("issue").remove("pull_request");
    set(&mut v, "/issue/user/login", json!("alice"));
    set(&mut v, "/issue/user/type", json!("User"));
    set(&mut v, "/comment/id", json!(c.comment_id));
    set(&mut v, "/comment/body", json!(c.body));
    set(&mut v, "/comment/user/login", json!(c.author));
    set(&mut v, "/comment/user/type", json!(c.author_type));
    if c.action == "edited" {
        v["changes"] = json!({"body": {"from": "typo"}});
    }
    v
}

/// A `push` delivery to main: GitHub's sample with `ref`, `after` and the repository rewritten.
pub fn push_payload(before: &str, after: &str) -> Value {
    let mut v: Value = serde_json::from_str(PUSH_SAMPLE).expect("the push sample is JSON");
    v = with_repository(v);
    set(&mut v, "/ref", json!("refs/heads/main"));
    set(&mut v, "/before", json!(before));
    set(&mut v, "/after", json!(after));
    v
}

/// A `pull_request` `closed` delivery (merged or not) of pull request `number` from `head`
/// into main.
pub fn pull_request_closed_payload(number: u64, head: &str, merged: bool) -> Value {
    let mut v: Value = serde_json::from_str(PULL_REQUEST_SAMPLE).expect("the pull_request sample is JSON");
    v = with_repository(v);
    set(&mut v, "/action", json!("closed"));
    set(&mut v, "/number", json!(number));
    set(&mut v, "/pull_request/number", json!(number));
    set(&mut v, "/pull_request/state", json!("closed"));
    set(&mut v, "/pull_request/merged", json!(merged));
    set(&mut v, "/pull_request/head/ref", json!(head));
    // The promotion branch lives in the repository itself (not in a fork).
    set(&mut v, "/pull_request/head/repo/full_name", json!(REPO));
    set(&mut v, "/pull_request/base/ref", json!("main"));
    v
}

/// Waits until `f` gives `Some`, polling every 25 ms; panics with `context()` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, context: impl Fn() -> String, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out after {timeout:?} waiting for {what}\n{}", context());
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// How to set a scenario up.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The image tags pinned in dev, qa and prod.
    pub tags: [&'static str; 3],
    /// apps-of-apps/promotion.yaml.
    pub policy: String,
    /// `TIDEGATE_PROMETHEUS_URL`.
    pub prometheus_url: Option<String>,
    /// Repository roles on the fake GitHub, `(login, role)`.
    pub people: Vec<(&'static str, &'static str)>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            tags: ["1.1", "1.0", "1.0"],
            policy: policy("{mode: auto}", "{mode: manual, permission: maintain}"),
            prometheus_url: None,
            people: vec![("alice", "write"), ("mia", "maintain"), ("rita", "read")],
        }
    }
}

/// One scenario's servers and repository; everything stops on drop.
pub struct Harness {
    /// The temporary directory holding everything.
    pub dir: tempfile::TempDir,
    /// The bare repository both tidegate and the fake GitHub use.
    pub origin: PathBuf,
    /// A clone where "CI" commits and pushes.
    pub work: PathBuf,
    /// The fake GitHub.
    pub github: FakeGitHub,
    /// The fake clusters, by environment.
    pub clusters: BTreeMap<&'static str, FakeKube>,
    config: PathBuf,
    kubeconfig: PathBuf,
    prometheus_url: Option<String>,
    serve: Option<Child>,
    starts: usize,
    /// `127.0.0.1:PORT` of the running `tidegate serve`.
    pub addr: String,
    /// When the current `tidegate serve` was started.
    pub started_at: Instant,
    deliveries: u64,
}

impl Harness {
    /// Sets everything up but does not start `tidegate serve` (faults may be injected first).
    pub fn new(s: Scenario) -> Harness {
        let dir = tempfile::tempdir().expect("temporary directory");
        let work = dir.path().join("work");
        let origin = dir.path().join("origin.git");
        std::fs::create_dir_all(&work).expect("work directory");
        write_example(&work, s.tags, &s.policy);
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["add", "."]);
        git(&work, &["commit", "-qm", "the example"]);
        git(dir.path(), &["clone", "-q", "--bare", work.to_str().expect("utf-8 path"), "origin.git"]);
        git(&work, &["remote", "add", "origin", origin.to_str().expect("utf-8 path")]);
        git(&work, &["fetch", "-q", "origin"]);

        let github = FakeGitHub::start_blocking(fake_github::Options::default());
        github.add_repo(REPO, &origin);
        for (login, role) in &s.people {
            github.set_permission(REPO, login, role);
            github.set_token(&format!("{login}-token"), login);
        }

        let mut clusters = BTreeMap::new();
        let mut kube_clusters = Vec::new();
        let mut contexts = Vec::new();
        for env in ENVS {
            let kube = FakeKube::start_with(fake_kube::Options {
                ready_delay: Duration::from_millis(20),
                ..fake_kube::Options::default()
            });
            kube_clusters.push(json!({"name": env, "cluster": {"server": kube.url()}}));
            contexts.push(json!({"name": env, "context": {"cluster": env, "user": "fake"}}));
            clusters.insert(env, kube);
        }
        let kubeconfig = dir.path().join("kubeconfig");
        let kc = json!({
            "apiVersion": "v1", "kind": "Config", "clusters": kube_clusters, "contexts": contexts,
            "current-context": "dev", "users": [{"name": "fake", "user": {"token": "fake-token"}}], "preferences": {},
        });
        std::fs::write(&kubeconfig, serde_json::to_string_pretty(&kc).expect("json")).expect("write kubeconfig");

        let config = dir.path().join("tidegate.yaml");
        // A long poll interval: after the first reconcile only webhooks trigger work. No leader
        // election: a restarted process must not wait for its predecessor's lease.
        let mut text = String::from(
            "pollInterval: 1h\nleaderElection: {enabled: false}\ngithub: {botLogin: tidegate-bot}\nenvironments:\n",
        );
        for env in ENVS {
            text.push_str(&format!("- {{name: {env}, context: {env}, waveTimeout: 20s}}\n"));
        }
        std::fs::write(&config, text).expect("write the config file");

        Harness {
            dir,
            origin,
            work,
            github,
            clusters,
            config,
            kubeconfig,
            prometheus_url: s.prometheus_url,
            serve: None,
            starts: 0,
            addr: String::new(),
            started_at: Instant::now(),
            deliveries: 0,
        }
    }

    /// Sets everything up and starts `tidegate serve`.
    pub fn start(s: Scenario) -> Harness {
        let mut h = Harness::new(s);
        h.start_serve();
        h
    }

    fn log_path(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("serve-{n}.log"))
    }

    /// Starts `tidegate serve` (again, after [`Harness::kill_serve`], with the same data
    /// directory) and waits for `/healthz`.
    pub fn start_serve(&mut self) {
        assert!(self.serve.is_none(), "tidegate serve is already running");
        self.starts += 1;
        let addr = format!("127.0.0.1:{}", free_port());
        let log = File::create(self.log_path(self.starts)).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidegate"));
        cmd.arg("serve").arg("--config").arg(&self.config);
        cmd.env_remove("TIDEGATE_PROMETHEUS_URL");
        if let Some(url) = &self.prometheus_url {
            cmd.env("TIDEGATE_PROMETHEUS_URL", url);
        }
        let child = cmd
            .env("TIDEGATE_LISTEN", &addr)
            .env("TIDEGATE_WEBHOOK_SECRET", SECRET)
            .env("TIDEGATE_REPO", &self.origin)
            .env("TIDEGATE_BRANCH", "main")
            .env("TIDEGATE_DATA_DIR", self.dir.path().join("data"))
            .env("TIDEGATE_GITHUB_API_URL", self.github.url())
            .env("TIDEGATE_GITHUB_REPOSITORY", REPO)
            .env("GITHUB_TOKEN", BOT_TOKEN)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "warn,tidegate=info")
            .env_remove("TIDEGATE_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start tidegate serve");
        self.serve = Some(child);
        self.addr = addr;
        self.started_at = Instant::now();
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.serve.as_mut().expect("child").try_wait() {
                panic!("tidegate serve exited with {status} before answering /healthz:\n{}", self.logs());
            }
            if matches!(self.get("/healthz"), Ok(r) if r.status == 200) {
                return;
            }
            assert!(Instant::now() < end, "tidegate serve did not answer /healthz within 30 s:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills `tidegate serve` with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill_serve(&mut self) {
        let mut child = self.serve.take().expect("tidegate serve is running");
        child.kill().expect("SIGKILL tidegate serve");
        child.wait().expect("reap tidegate serve");
    }

    /// Everything every `tidegate serve` of this scenario printed.
    pub fn logs(&self) -> String {
        (1..=self.starts)
            .map(|n| format!("--- serve #{n} ---\n{}", std::fs::read_to_string(self.log_path(n)).unwrap_or_default()))
            .collect()
    }

    /// What to print when a wait times out: the logs, the promotions and GitHub's requests.
    pub fn context(&self) -> String {
        let promotions = self.get("/api/v1/status").ok().map(|r| r.text()).unwrap_or_default();
        format!(
            "{}\n--- status ---\n{promotions}\n--- GitHub requests ---\n{}",
            self.logs(),
            describe(&self.github.requests())
        )
    }

    /// Waits for `f` (deadline `timeout`), printing the context on failure.
    pub fn wait<T>(&self, what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
        wait_for(what, timeout, || self.context(), f)
    }

    /// `GET path` on tidegate.
    pub fn get(&self, path: &str) -> std::io::Result<Response> {
        request(&self.addr, "GET", path, &[], b"")
    }

    /// `GET /api/v1/status`.
    pub fn status(&self) -> Value {
        let r = self.get("/api/v1/status").expect("GET /api/v1/status");
        assert_eq!(r.status, 200, "GET /api/v1/status: {}", r.text());
        serde_json::from_slice(&r.body).expect("the status is JSON")
    }

    /// The promotion of `app` into `to` in `/api/v1/status`, if listed.
    pub fn promotion(&self, app: &str, to: &str) -> Option<Value> {
        self.status()["promotions"].as_array()?.iter().find(|p| p["app"] == app && p["to"] == to).cloned()
    }

    /// The text of `/metrics`.
    pub fn metrics(&self) -> String {
        let r = self.get("/metrics").expect("GET /metrics");
        assert_eq!(r.status, 200, "GET /metrics: {}", r.text());
        r.text()
    }

    /// One sample of `/metrics`.
    pub fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.metrics(), series)
    }

    /// Sends a signed delivery of `event` with this delivery id.
    pub fn deliver(&self, event: &str, delivery: &str, payload: &Value) -> Response {
        let body = serde_json::to_vec(payload).expect("json");
        let signature = github_signature(SECRET, &body);
        let headers = [
            ("Content-Type", "application/json"),
            ("User-Agent", "GitHub-Hookshot/e2e"),
            ("X-GitHub-Event", event),
            ("X-GitHub-Delivery", delivery),
            ("X-GitHub-Hook-ID", "4242"),
            ("X-Hub-Signature-256", signature.as_str()),
        ];
        request(&self.addr, "POST", "/webhooks/github", &headers, &body).expect("POST /webhooks/github")
    }

    /// Sends a signed delivery with a fresh delivery id; asserts it was accepted.
    pub fn deliver_new(&mut self, event: &str, payload: &Value) -> Response {
        self.deliveries += 1;
        let id = format!("{:08x}-e2e0-11ef-8000-{:012x}", self.deliveries, self.deliveries);
        let r = self.deliver(event, &id, payload);
        assert!(r.is_success(), "{event} delivery {id}: {} {}", r.status, r.text());
        r
    }

    /// The fake cluster of `env`'s `web` image.
    pub fn image_in(&self, env: &str) -> Option<String> {
        let d = self.clusters[env].object("apps/v1", "Deployment", Some("shop"), "web")?;
        d.pointer("/spec/template/spec/containers/0/image").and_then(Value::as_str).map(str::to_string)
    }

    /// Waits until every environment is synced at the repository's current commit.
    pub fn wait_synced(&self, commit: &str) {
        self.wait(&format!("every environment synced at {commit}"), Duration::from_secs(30), || {
            let st = self.status();
            ENVS.iter()
                .all(|e| st["environments"][e]["state"] == "Synced" && st["environments"][e]["revision"] == commit)
                .then_some(())
        });
    }

    /// `main` of the bare repository.
    pub fn main_commit(&self) -> String {
        git(&self.origin, &["rev-parse", "refs/heads/main"])
    }

    /// A branch of the bare repository, if it exists.
    pub fn branch(&self, name: &str) -> Option<String> {
        let out = git_output(&self.origin, &["rev-parse", "--verify", "-q", &format!("refs/heads/{name}")]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A file at a revision of the bare repository.
    pub fn show(&self, rev: &str, path: &str) -> String {
        git(&self.origin, &["show", &format!("{rev}:{path}")])
    }

    /// CI: commits `tag` to dev's overlay on top of origin's main and pushes; `(before, after)`.
    pub fn ci_commits_dev_tag(&self, tag: &str) -> (String, String) {
        git(&self.work, &["fetch", "-q", "origin"]);
        git(&self.work, &["reset", "-q", "--hard", "origin/main"]);
        let before = git(&self.work, &["rev-parse", "HEAD"]);
        write(&self.work, "overlays/dev/web/kustomization.yaml", &overlay("dev", tag));
        git(&self.work, &["commit", "-qam", &format!("web {tag} in dev")]);
        git(&self.work, &["push", "-q", "origin", "HEAD:main"]);
        (before, git(&self.work, &["rev-parse", "HEAD"]))
    }

    /// The pull requests on the fake GitHub.
    pub fn pulls(&self) -> Vec<Value> {
        self.github.pulls(REPO)
    }

    /// The open pull requests.
    pub fn open_pulls(&self) -> Vec<Value> {
        self.pulls().into_iter().filter(|p| p["state"] == "open").collect()
    }

    /// Calls the fake GitHub's REST API as `token`.
    pub fn api(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let auth = format!("token {token}");
        let bytes = body.map(|b| serde_json::to_vec(b).expect("json")).unwrap_or_default();
        let mut headers = vec![
            ("Authorization", auth.as_str()),
            ("Accept", "application/vnd.github+json"),
            ("User-Agent", "promotion-e2e"),
        ];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let addr = self.github.addr().to_string();
        let r = request(&addr, method, path, &headers, &bytes).expect("fake GitHub answers");
        (r.status, serde_json::from_slice(&r.body).unwrap_or(Value::Null))
    }

    /// `login` comments `body` on `issue` through the API (as a person does); the comment's id.
    pub fn person_comments(&self, login: &str, issue: u64, body: &str) -> u64 {
        let (status, v) = self.api(
            &format!("{login}-token"),
            "POST",
            &format!("/repos/{REPO}/issues/{issue}/comments"),
            Some(&json!({"body": body})),
        );
        assert_eq!(status, 201, "create a comment: {v}");
        v["id"].as_u64().expect("comment id")
    }

    /// The comments tidegate wrote on an issue or pull request.
    pub fn bot_comments(&self, issue: u64) -> Vec<String> {
        self.github
            .comments(REPO, issue)
            .into_iter()
            .filter(|c| c["user"]["login"] == BOT)
            .map(|c| c["body"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The reactions on a comment, as `(content, login)`.
    pub fn reactions(&self, comment_id: u64) -> Vec<(String, String)> {
        self.github
            .reactions(REPO, comment_id)
            .into_iter()
            .map(|r| {
                (
                    r["content"].as_str().unwrap_or_default().to_string(),
                    r["user"]["login"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The statuses of a commit as `(context, state, description)`, newest first.
    pub fn statuses(&self, sha: &str) -> Vec<(String, String, String)> {
        self.github
            .statuses(REPO, sha)
            .into_iter()
            .map(|s| {
                let f = |k: &str| s[k].as_str().unwrap_or_default().to_string();
                (f("context"), f("state"), f("description"))
            })
            .collect()
    }

    /// The GitHub requests after `seq` (tidegate's, unless the test made some itself).
    pub fn requests_after(&self, seq: u64) -> Vec<Recorded> {
        self.github.requests().into_iter().filter(|r| r.seq > seq).collect()
    }

    /// The latest request's sequence number (0 when none).
    pub fn last_seq(&self) -> u64 {
        self.github.requests().last().map_or(0, |r| r.seq)
    }

    /// Every request the fake GitHub took conformed to GitHub's OpenAPI description, and so did
    /// its answers. Every test ends with this.
    pub fn assert_github_conformance(&self) {
        if std::env::var_os("PROMOTION_E2E_LOGS").is_some() {
            eprintln!("{}", self.context());
        }
        let violations = self.github.violations();
        assert!(violations.is_empty(), "requests that break GitHub's API description:\n{violations:#?}");
        let response_violations = self.github.response_violations();
        assert!(
            response_violations.is_empty(),
            "answers of the fake that break GitHub's API description:\n{response_violations:#?}"
        );
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(mut child) = self.serve.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Requests, one line each: `#seq METHOD /path -> status`.
pub fn describe(requests: &[Recorded]) -> String {
    requests
        .iter()
        .map(|r| {
            let query = if r.query.is_empty() {
                String::new()
            } else {
                format!("?{}", r.query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"))
            };
            format!("  #{:<3} {:<6} {}{query} -> {}\n", r.seq, r.method, r.path, r.status)
        })
        .collect()
}
