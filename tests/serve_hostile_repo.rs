//! Issue 9: files a hostile or careless committer can push to one overlay — nesting past
//! go-yaml's limit, an alias bomb, a patch that copies an object into gigabytes — must not crash
//! `tidegate serve` or stop it reconciling the other apps. The real binary watches a git copy of
//! the example platform and syncs dev to the fake Kubernetes API server; a signed push webhook
//! brings each bad commit.

#[path = "support/serve.rs"]
mod serve_support;

use std::time::{Duration, Instant};

use fake_kube::{FakeKube, Options};
use serde_json::Value;
use serve_support::{Serve, ServeOptions, git};

const SECRET: &str = "hostile-repo-secret";

fn wait_for(what: &str, deadline: Duration, serve: &mut Serve, mut f: impl FnMut(&Serve) -> bool) {
    let end = Instant::now() + deadline;
    loop {
        assert!(serve.is_running(), "tidegate serve exited while waiting for {what}:\n{}", serve.logs());
        if f(serve) {
            return;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}:\n{}", serve.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Commits the files and tells the server with a signed push webhook.
fn push(serve: &Serve, files: &[(&str, String)], message: &str, delivery: &str) {
    let repo = serve.repo();
    for (rel, text) in files {
        let path = repo.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", message]);
    let body = r#"{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"0000000000000000000000000000000000000001","deleted":false,"repository":{"full_name":"example-org/platform-gitops"}}"#;
    let sig = tidegate::webhook::sign(SECRET, body.as_bytes());
    let r = serve
        .post(
            "/webhooks/github",
            &[
                ("Content-Type", "application/json"),
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Delivery", delivery),
                ("X-Hub-Signature-256", &sig),
            ],
            body.as_bytes(),
        )
        .unwrap();
    assert!(r.is_success(), "push webhook: {} {}", r.status, r.text());
}

fn app_status(serve: &Serve, app: &str) -> Value {
    let status = serve.status();
    status["apps"].as_array().unwrap().iter().find(|a| a["name"] == app).unwrap()["environments"]["dev"].clone()
}

fn image_of(fake: &FakeKube, name: &str) -> Option<String> {
    let d = fake.object("apps/v1", "Deployment", Some("shop"), name)?;
    d.pointer("/spec/template/spec/containers/0/image").and_then(Value::as_str).map(str::to_string)
}

/// The frontend overlay with one more resource file.
fn frontend_with(resource: &str) -> String {
    let k = std::fs::read_to_string(serve_support::project_root().join("overlays/dev/frontend/kustomization.yaml"))
        .unwrap();
    k.replacen("resources:\n", &format!("resources:\n  - {resource}\n"), 1)
}

fn backend_at(tag: &str) -> String {
    std::fs::read_to_string(serve_support::project_root().join("overlays/dev/backend/kustomization.yaml"))
        .unwrap()
        .replace("newTag: \"2.5.0\"", &format!("newTag: \"{tag}\""))
}

#[test]
fn hostile_files_in_one_overlay_fail_that_app_alone_and_serve_keeps_reconciling() {
    let fake = FakeKube::start_with(Options { ready_delay: Duration::from_millis(10), ..Options::default() });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig);
    let mut serve = Serve::start(ServeOptions {
        secret: SECRET.into(),
        kubeconfig: Some(kubeconfig),
        config: Some(
            "pollInterval: 1h\nleaderElection: {enabled: false}\nrender: {timeout: 20s, maxBytes: 16Mi}\nenvironments:\n- {name: dev, prune: true, waveTimeout: 60s}\n".into(),
        ),
    });
    wait_for("the first sync of dev", Duration::from_secs(120), &mut serve, |s| {
        s.status()["environments"]["dev"]["state"] == "Synced"
    });
    let frontend_objects = fake
        .objects()
        .iter()
        .filter(|o| o.pointer("/metadata/labels/tidegate.dev~1app") == Some(&Value::from("frontend")))
        .count();
    assert!(frontend_objects > 0);

    // 1. Nesting past go-yaml's limit (this aborted serve with a stack overflow), and the
    //    backend's tag bumped in the same commit.
    let deep =
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nspec:\n  {}leaf\n", "- ".repeat(20_000));
    push(
        &serve,
        &[
            ("overlays/dev/frontend/deep.yaml", deep),
            ("overlays/dev/frontend/kustomization.yaml", frontend_with("deep.yaml")),
            ("overlays/dev/backend/kustomization.yaml", backend_at("2.5.1")),
        ],
        "nest deep",
        "d-1",
    );
    wait_for("the backend's new tag", Duration::from_secs(60), &mut serve, |_| {
        image_of(&fake, "backend").is_some_and(|i| i.ends_with(":2.5.1"))
    });
    wait_for("the frontend's render error", Duration::from_secs(30), &mut serve, |s| {
        app_status(s, "frontend")["sync"] == "Failed"
    });
    let frontend = app_status(&serve, "frontend");
    let message = frontend["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("overlays/dev/frontend/deep.yaml: invalid YAML at line 6")
            && message.contains("exceeded max depth of 10000"),
        "{frontend}"
    );
    assert!(serve.metric("tidegate_render_failures_total{env=\"dev\",app=\"frontend\"}").unwrap_or(0.0) >= 1.0);
    // The sync of the other apps finishes, and the environment says what failed.
    wait_for("the environment's sync to end", Duration::from_secs(60), &mut serve, |s| {
        s.status()["environments"]["dev"]["state"] == "Failed"
    });
    let env = &serve.status()["environments"]["dev"];
    assert!(env["error"].as_str().unwrap_or_default().contains("frontend"), "{env}");
    // Nothing of the frontend was pruned or touched.
    let now = fake
        .objects()
        .iter()
        .filter(|o| o.pointer("/metadata/labels/tidegate.dev~1app") == Some(&Value::from("frontend")))
        .count();
    assert_eq!(now, frontend_objects, "the failed app's objects stay");
    assert!(fake.requests().iter().all(|r| r.method != "DELETE"), "nothing is pruned after a failed render");

    // 2. An alias bomb (9 levels of 9) in the same overlay: refused, not expanded.
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    for w in names.windows(2) {
        bomb.push_str(&format!("  {}: &{} [{}]\n", w[1], w[1], vec![format!("*{}", w[0]); 9].join(",")));
    }
    push(
        &serve,
        &[("overlays/dev/frontend/deep.yaml", bomb), ("overlays/dev/backend/kustomization.yaml", backend_at("2.5.2"))],
        "alias bomb",
        "d-2",
    );
    wait_for("the backend's next tag", Duration::from_secs(60), &mut serve, |_| {
        image_of(&fake, "backend").is_some_and(|i| i.ends_with(":2.5.2"))
    });
    wait_for("the alias bomb refused", Duration::from_secs(30), &mut serve, |s| {
        app_status(s, "frontend")["message"].as_str().unwrap_or_default().contains("excessive aliasing")
    });

    // 3. A patch that doubles an object 40 times: stopped at the configured size limit.
    let copies: Vec<String> =
        (0..40).map(|i| format!("{{\"op\": \"copy\", \"from\": \"/data\", \"path\": \"/data/k{i}\"}}")).collect();
    let grow = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: grow\ndata:\n  a: \"0123456789\"\n".to_string();
    let kustomization = frontend_with("deep.yaml").replacen(
        "patches:\n",
        &format!("patches:\n  - target: {{kind: ConfigMap, name: grow}}\n    patch: '[{}]'\n", copies.join(", ")),
        1,
    );
    push(
        &serve,
        &[("overlays/dev/frontend/deep.yaml", grow), ("overlays/dev/frontend/kustomization.yaml", kustomization)],
        "grow",
        "d-3",
    );
    wait_for("the size limit", Duration::from_secs(30), &mut serve, |s| {
        app_status(s, "frontend")["message"].as_str().unwrap_or_default().contains("size limit (render.maxBytes)")
    });
    // Still serving, still answering.
    assert_eq!(serve.get("/healthz").unwrap().status, 200);
    assert!(fake.requests().iter().all(|r| r.method != "DELETE"));
}
