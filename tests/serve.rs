//! `tidegate serve` end to end: a real git repository, the fake Kubernetes API server, signed
//! webhooks over HTTP. A push to the tracked branch leads to a fetch and a reconcile; a
//! redelivered push does no work twice; readiness says what is missing; SIGTERM stops cleanly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_kube::{FakeKube, Options};

const SECRET: &str = "serve-test-secret";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A one-app repository whose image tag the test bumps.
fn repo(dir: &Path) {
    write(
        dir,
        "apps-of-apps/root.yaml",
        "apiVersion: tidegate.dev/v1alpha1\nkind: Root\nmetadata: {name: t}\nspec:\n  environments: [{name: dev}]\n  waves: [{name: business}]\n",
    );
    write(
        dir,
        "apps-of-apps/web/app.yaml",
        "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata: {name: web}\nspec:\n  wave: business\n  namespace: shop\n",
    );
    write(dir, "apps-of-apps/web/base/kustomization.yaml", "resources: [all.yaml]\n");
    write(
        dir,
        "apps-of-apps/web/base/all.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: example/web:1.0}]\n",
    );
    write(
        dir,
        "overlays/dev/web/kustomization.yaml",
        "resources: [../../../apps-of-apps/web/base]\nimages:\n- name: example/web\n  newTag: \"1.0\"\n",
    );
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "first"]);
}

fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp).to_string();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (code, body)
}

fn push(port: u16, delivery: &str, after: &str) -> (u16, String) {
    let body = format!(
        r#"{{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"{after}","deleted":false,"repository":{{"full_name":"example-org/platform-gitops"}}}}"#
    );
    let sig = tidegate::webhook::sign(SECRET, body.as_bytes());
    http(
        port,
        "POST",
        "/webhooks/github",
        &[
            ("Content-Type", "application/json"),
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", delivery),
            ("X-Hub-Signature-256", &sig),
        ],
        body.as_bytes(),
    )
}

fn wait_for(what: &str, deadline: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("timed out waiting for {what}");
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(repo: &Path, data: &Path, kubeconfig: &Path, config: &Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .args(["serve", "--config"])
        .arg(config)
        .env("TIDEGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TIDEGATE_WEBHOOK_SECRET", SECRET)
        .env("TIDEGATE_REPO", repo)
        .env("TIDEGATE_BRANCH", "main")
        .env("TIDEGATE_DATA_DIR", data)
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server { child, port };
    wait_for("/healthz", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && http(port, "GET", "/healthz", &[], b"").0 == 200
    });
    server
}

fn image_of(fake: &FakeKube) -> Option<String> {
    let d = fake.object("apps/v1", "Deployment", Some("shop"), "web")?;
    d.pointer("/spec/template/spec/containers/0/image").and_then(|v| v.as_str()).map(str::to_string)
}

#[test]
fn a_push_webhook_leads_to_fetch_and_reconcile_and_redeliveries_do_no_work_twice() {
    let fake = FakeKube::start_with(Options { ready_delay: Duration::from_millis(20), ..Options::default() });
    let dir = tempfile::tempdir().unwrap();
    let (repo_dir, data) = (dir.path().join("repo"), dir.path().join("data"));
    std::fs::create_dir_all(&repo_dir).unwrap();
    repo(&repo_dir);
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig);
    let config = dir.path().join("tidegate.yaml");
    // A long poll interval: after the first reconcile only webhooks trigger work.
    std::fs::write(&config, "pollInterval: 1h\nenvironments:\n- {name: dev, prune: true, waveTimeout: 20s}\n").unwrap();
    let server = start(&repo_dir, &data, &kubeconfig, &config);
    let port = server.port;
    wait_for("the first reconcile", Duration::from_secs(30), || image_of(&fake).as_deref() == Some("example/web:1.0"));
    wait_for("ready", Duration::from_secs(10), || http(port, "GET", "/readyz", &[], b"").0 == 200);

    // CI bumps the tag; GitHub sends the push.
    write(
        &repo_dir,
        "overlays/dev/web/kustomization.yaml",
        "resources: [../../../apps-of-apps/web/base]\nimages:\n- name: example/web\n  newTag: \"1.1\"\n",
    );
    git(&repo_dir, &["commit", "-qam", "bump web to 1.1"]);
    let after = git(&repo_dir, &["rev-parse", "HEAD"]);
    fake.clear_requests();
    let sent = Instant::now();
    let (code, body) = push(port, "delivery-1", &after);
    let answered = sent.elapsed();
    assert_eq!(code, 202, "{body}");
    assert!(answered < Duration::from_millis(500), "the handler must only enqueue; answered after {answered:?}");
    wait_for("the new tag applied", Duration::from_secs(10), || image_of(&fake).as_deref() == Some("example/web:1.1"));
    let first_apply = fake
        .requests()
        .iter()
        .find(|r| r.method == "PATCH" && r.path.ends_with("/deployments/web") && !r.dry_run)
        .map(|r| r.at)
        .unwrap();
    let latency = first_apply.duration_since(fake.requests()[0].at);
    eprintln!("push → first apply: {:?} (answered in {answered:?})", sent.elapsed().min(latency + answered));
    assert!(sent.elapsed() < Duration::from_secs(10));

    // The same delivery again (GitHub's manual redelivery keeps the id): no work.
    let fetches = |port: u16| {
        let (_, m) = http(port, "GET", "/metrics", &[], b"");
        m.lines()
            .filter(|l| l.starts_with("tidegate_fetches_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    wait_for("the reconcile to finish", Duration::from_secs(10), || {
        let (_, s) = http(port, "GET", "/api/v1/status", &[], b"");
        s.contains("\"state\":\"Synced\"") && s.contains(&after)
    });
    let before = fetches(port);
    let (code, body) = push(port, "delivery-1", &after);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("already processed"), "{body}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fetches(port), before, "a redelivery must not fetch again");
    let (_, metrics) = http(port, "GET", "/metrics", &[], b"");
    assert!(metrics.contains("tidegate_webhook_deliveries_total{event=\"push\",outcome=\"duplicate\"} 1"), "{metrics}");

    // Status for people and machines.
    let (code, status) = http(port, "GET", "/api/v1/status", &[], b"");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["apps"][0]["environments"]["dev"]["images"][0], "example/web:1.1");
    assert_eq!(status["apps"][0]["environments"]["dev"]["sync"], "Synced");
    assert_eq!(status["apps"][0]["environments"]["dev"]["health"], "Healthy");
    let (code, page) = http(port, "GET", "/", &[], b"");
    assert!(code == 200 && page.contains("<title>tidegate</title>"));
}

#[test]
fn serve_answers_webhooks_while_the_cluster_is_unreachable_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (repo_dir, data) = (dir.path().join("repo"), dir.path().join("data"));
    std::fs::create_dir_all(&repo_dir).unwrap();
    repo(&repo_dir);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"http://127.0.0.1:{closed}\"}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: t}}\n")).unwrap();
    let config = dir.path().join("tidegate.yaml");
    std::fs::write(&config, "pollInterval: 1h\nenvironments:\n- {name: dev}\n").unwrap();
    let mut server = start(&repo_dir, &data, &kubeconfig, &config);
    let port = server.port;
    let (code, _) = push(port, "d-1", "0123456789012345678901234567890123456789");
    assert_eq!(code, 202);
    wait_for("readiness to report the cluster", Duration::from_secs(30), || {
        let (code, body) = http(port, "GET", "/readyz", &[], b"");
        code == 503 && (body.contains("cluster of dev") || body.contains("leader election"))
    });
    // SIGTERM: intake stops and the process exits cleanly.
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "serve did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

fn status(port: u16) -> serde_json::Value {
    let (_, body) = http(port, "GET", "/api/v1/status", &[], b"");
    serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
}

#[test]
fn two_replicas_elect_one_leader_and_the_follower_takes_over() {
    let fake = FakeKube::start_with(Options { ready_delay: Duration::from_millis(20), ..Options::default() });
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("repo");
    std::fs::create_dir_all(&repo_dir).unwrap();
    repo(&repo_dir);
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig);
    let config = dir.path().join("tidegate.yaml");
    std::fs::write(
        &config,
        "pollInterval: 1h\nleaderElection: {leaseDuration: 2s}\nenvironments:\n- {name: dev, waveTimeout: 20s}\n",
    )
    .unwrap();
    let mut a = start(&repo_dir, &dir.path().join("data-a"), &kubeconfig, &config);
    wait_for("replica A to lead and sync", Duration::from_secs(30), || {
        let s = status(a.port);
        s["leader"] == true && s["environments"]["dev"]["state"] == "Synced"
    });
    let b = start(&repo_dir, &dir.path().join("data-b"), &kubeconfig, &config);
    wait_for("replica B to report as a follower", Duration::from_secs(30), || {
        let s = status(b.port);
        s["leader"] == false && s["environments"]["dev"]["state"] == "Follower"
    });
    let applies = |fake: &FakeKube| {
        fake.requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.path.ends_with("/deployments/web") && !r.dry_run)
            .count()
    };
    assert_eq!(applies(&fake), 1, "only the leader applies");
    // A push reaches the follower: it answers, but does not apply.
    write(
        &repo_dir,
        "overlays/dev/web/kustomization.yaml",
        "resources: [../../../apps-of-apps/web/base]\nimages:\n- name: example/web\n  newTag: \"2.0\"\n",
    );
    git(&repo_dir, &["commit", "-qam", "bump"]);
    let after = git(&repo_dir, &["rev-parse", "HEAD"]);
    assert_eq!(push(b.port, "to-follower", &after).0, 202);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(image_of(&fake).as_deref(), Some("example/web:1.0"), "a follower never applies");
    // The leader dies without releasing the lease; the follower takes over once it expires
    // and reconciles the new commit.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    wait_for("replica B to take over and apply", Duration::from_secs(30), || {
        image_of(&fake).as_deref() == Some("example/web:2.0")
    });
    assert_eq!(status(b.port)["leader"], true);
    let lease = fake.object("coordination.k8s.io/v1", "Lease", Some("tidegate-system"), "tidegate-leader").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], status(b.port)["identity"]);
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
}
