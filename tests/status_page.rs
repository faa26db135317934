//! The status page of the real `tidegate serve` (`GET /`), in a real headless browser: Debian's
//! Chromium loads the page while `serve` reconciles the example's `dev` environment against the
//! fake Kubernetes API server, the rendered DOM's table is checked, and a screenshot is saved as
//! a CI artifact at target/status-page.png.

#[path = "support/serve.rs"]
mod serve_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fake_kube::{FakeKube, Options};
use serde_json::Value;
use serve_support::{Serve, ServeOptions};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The example's apps, wave by wave.
const APPS: [&str; 10] = [
    "karpenter",
    "keda",
    "secrets-store-csi-driver",
    "tidegate",
    "kube-prometheus-stack",
    "loki",
    "vault",
    "frontend",
    "backend",
    "postgres",
];

/// frontend's image tag in overlays/dev.
const FRONTEND_DEV_TAG: &str = "1.9.0";

fn chromium() -> &'static str {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the status page is tested in Debian's headless Chromium; install it with \
         `apt-get install -y chromium` (.ci/run does)"
    );
    CHROMIUM
}

/// Runs headless Chromium with a fresh profile and `args`, killed after `limit`.
fn run_chromium(args: &[String], limit: Duration) -> Output {
    let profile = tempfile::tempdir().expect("profile directory");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-quic",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    // Read both pipes while waiting, so that a large DOM cannot fill a pipe and stall.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut b);
        b
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for chromium") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
            panic!("chromium {args:?} did not finish within {limit:?}; stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() }
}

/// Waits until `/api/v1/status` says dev is `Synced` (deadline 60 s); fails at once on `Failed`.
fn wait_synced(server: &Serve) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = server.status();
        match status.pointer("/environments/dev/state").and_then(Value::as_str) {
            Some("Synced") => return status,
            Some("Failed") => panic!(
                "dev failed to reconcile against the fake API server: {}\n{}",
                serde_json::to_string_pretty(&status["environments"]).unwrap_or_default(),
                server.logs()
            ),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "dev is not Synced after 60 s: {}\n{}",
            serde_json::to_string_pretty(&status).unwrap_or_default(),
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `<tr data-app="NAME">…</tr>` row of the apps table in a dumped DOM.
fn row<'a>(dom: &'a str, app: &str) -> &'a str {
    let start = dom
        .find(&format!("<tr data-app=\"{app}\">"))
        .unwrap_or_else(|| panic!("no table row for app {app} in the page:\n{dom}"));
    let end = dom[start..].find("</tr>").map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

#[test]
fn the_status_page_shows_every_app_in_a_real_browser() {
    // Fail first, and clearly, when there is no browser.
    chromium();
    let fake = FakeKube::start_with(Options { ready_delay: Duration::from_millis(20), ..Default::default() });
    let dir = tempfile::tempdir().expect("temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig);
    let started = Instant::now();
    let server = Serve::start(ServeOptions {
        secret: "status-page-secret".into(),
        config: Some("environments:\n  - {name: dev, waveTimeout: 30s}\npollInterval: 1h\n".into()),
        kubeconfig: Some(kubeconfig),
    });
    let status = wait_synced(&server);
    eprintln!("dev Synced against the fake API server {:?} after start", started.elapsed());

    // The JSON the page renders: every app, dev synced and healthy, frontend's dev tag.
    let apps = status["apps"].as_array().expect("apps");
    for app in APPS {
        let a = apps.iter().find(|a| a["name"] == app).unwrap_or_else(|| panic!("{app} missing from {status:#}"));
        let dev = &a["environments"]["dev"];
        assert_eq!((dev["sync"].as_str(), dev["health"].as_str()), (Some("Synced"), Some("Healthy")), "{app}: {dev}");
    }

    // The promotion bot evaluates dev → qa after the reconcile: frontend waits for its soak
    // (apps-of-apps/promotion.yaml: qa is automatic after 10m healthy in dev).
    let deadline = Instant::now() + Duration::from_secs(30);
    let promotion = loop {
        let status = server.status();
        let found = status["promotions"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["app"] == "frontend" && p["to"] == "qa").cloned());
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "no frontend → qa promotion in the status after 30 s: {status:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(promotion["state"], "Waiting", "{promotion:#}");
    assert!(promotion["reason"].as_str().is_some_and(|r| r.contains("soak")), "{promotion:#}");

    let url = format!("http://{}/", server.addr);

    // (a) The DOM once the page's script has rendered the status.
    let out =
        run_chromium(&["--dump-dom".into(), "--virtual-time-budget=5000".into(), url.clone()], Duration::from_secs(90));
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium --dump-dom failed ({}); stdout:\n{dom}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dom.contains(r#"data-loaded="true""#), "the page's script did not render the status:\n{dom}");
    for app in APPS {
        let r = row(&dom, app);
        assert!(r.contains(&format!("<td>{app}</td>")), "the row of {app} names it: {r}");
        let dev = r.find("data-env=\"dev\"").map(|i| &r[i..]).unwrap_or_else(|| panic!("{app} has no dev cell: {r}"));
        let dev = &dev[..dev.find("</td>").unwrap_or(dev.len())];
        assert!(
            dev.contains(">Synced<") && dev.contains(">Healthy<"),
            "{app} in dev should read Synced · Healthy: {dev}"
        );
    }
    let frontend = row(&dom, "frontend");
    assert!(frontend.contains(FRONTEND_DEV_TAG), "frontend's dev tag {FRONTEND_DEV_TAG} is on the page: {frontend}");
    assert!(dom.contains("<th>dev</th>") && dom.contains("<th>qa</th>") && dom.contains("<th>prod</th>"), "{dom}");
    // The promotions table: frontend dev → qa waits for its soak, and says so.
    let start = dom
        .find(r#"<tr data-app="frontend" data-to="qa">"#)
        .unwrap_or_else(|| panic!("no frontend → qa row in the promotions table:\n{dom}"));
    let promo = &dom[start..start + dom[start..].find("</tr>").unwrap_or(dom.len() - start)];
    assert!(promo.contains(">Waiting<") && promo.contains("soak") && promo.contains("1.9.0"), "{promo}");

    // (b) The screenshot, kept under target/ as a CI artifact.
    let shot: PathBuf = serve_support::project_root().join("target").join("status-page.png");
    std::fs::create_dir_all(shot.parent().expect("target")).expect("create target/");
    let _ = std::fs::remove_file(&shot);
    let out = run_chromium(
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,1000".into(),
            "--virtual-time-budget=5000".into(),
            url,
        ],
        Duration::from_secs(90),
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10 * 1024,
        "the screenshot {} should be a real picture (> 10 kB), it has {size} bytes; chromium {}:\n{}",
        shot.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("read the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", shot.display());
    eprintln!("status page screenshot: {} ({size} bytes)", shot.display());
}
