//! Fault injection (errors, secondary rate limits, lost answers, dropped connections, delays)
//! and the GitHub App flow: JWT → installation token → API calls with that token.

mod common;

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Client, git, started};
use fake_github::{AppConfig, Fault};
use serde_json::json;

#[tokio::test]
async fn injected_faults() {
    let (gh, _tmp, bare) = started().await;
    let c = Client::new(&gh);
    let sha = git(&bare, &["rev-parse", "main"]);
    let issue = gh.add_issue("acme/gitops", "t", "alice");
    let comments = format!("/repos/acme/gitops/issues/{issue}/comments");

    gh.inject(Fault::secondary_rate_limit("POST", "/comments$", 1));
    let (s, body, headers) = c.send("POST", &comments, Some(json!({"body": "one"}))).await;
    assert_eq!((s, &headers["retry-after"]), (403, &"1".parse::<reqwest::header::HeaderValue>().unwrap()));
    assert!(body["message"].as_str().unwrap().contains("secondary rate limit"));
    assert!(gh.comments("acme/gitops", issue).is_empty(), "a rate-limited request changes nothing");
    assert_eq!(c.post(&comments, json!({"body": "one"})).await.0, 201, "the fault fired once");

    // The write happens, the answer is lost: a retrying client makes a duplicate.
    gh.inject(Fault::lost_answer("POST", "/comments$"));
    assert_eq!(c.post(&comments, json!({"body": "two"})).await.0, 502);
    assert_eq!(gh.comments("acme/gitops", issue).len(), 2);

    gh.inject(Fault { drop_connection: true, ..Fault::lost_answer("POST", "/statuses/") });
    let (status_path, status_body) = (format!("/repos/acme/gitops/statuses/{sha}"), json!({"state": "success"}));
    let dropped = reqwest::Client::new()
        .post(format!("{}{status_path}", gh.url()))
        .header("authorization", "token test-token")
        .json(&status_body)
        .send()
        .await;
    assert!(dropped.is_err(), "the connection was closed without an answer");
    assert_eq!(gh.statuses("acme/gitops", &sha).len(), 1, "but the status was created");

    gh.inject(Fault::status("GET", "^/repos/acme/gitops$", 500).skip(1).times(2));
    let codes =
        [c.get("/repos/acme/gitops").await.0, c.get("/repos/acme/gitops").await.0, c.get("/repos/acme/gitops").await.0];
    assert_eq!((codes, c.get("/repos/acme/gitops").await.0), ([200, 500, 500], 200));

    gh.inject(Fault { delay: Some(Duration::from_millis(300)), ..Fault::status("GET", "/pulls$", 0) });
    let started = Instant::now();
    assert_eq!(c.get("/repos/acme/gitops/pulls").await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let recorded = gh.requests();
    assert!(recorded.iter().any(|r| r.status == 403 && r.operation.as_deref() == Some("issues/create-comment")));
    assert_eq!(gh.count("POST", "/comments$"), 3);
    assert_eq!(gh.violations(), Vec::<String>::new());
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn app_jwt_mints_installation_tokens() {
    let (gh, tmp, _bare) = started().await;
    let key = tmp.path().join("app.pem");
    let public = tmp.path().join("app.pub.pem");
    let ok = Command::new("openssl").args(["genrsa", "-out"]).arg(&key).arg("2048").output().expect("openssl");
    assert!(ok.status.success(), "openssl genrsa: {}", String::from_utf8_lossy(&ok.stderr));
    let ok = Command::new("openssl")
        .args(["rsa", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public)
        .output()
        .expect("openssl");
    assert!(ok.status.success());
    gh.set_app(AppConfig {
        app_id: 4242,
        installation_id: 77,
        slug: "tidegate".into(),
        public_key_pem: Some(std::fs::read_to_string(&public).unwrap()),
    });
    let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(&key).unwrap()).unwrap();
    let sign = |claims: serde_json::Value| {
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &encoding).unwrap()
    };
    let now = unix_now();
    let mut c = Client::new(&gh);
    let path = "/app/installations/77/access_tokens";

    c.token = Some(sign(json!({"iss": "4242", "iat": now - 60, "exp": now + 540})));
    let (s, minted) = c.post(path, json!({})).await;
    assert_eq!(s, 201, "{minted}");
    let token = minted["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ghs_") && token.len() == 40, "{token}");
    assert!(minted["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(c.post("/app/installations/78/access_tokens", json!({})).await.0, 404);

    for bad in [
        sign(json!({"iss": "1", "iat": now - 60, "exp": now + 540})),
        sign(json!({"iss": 4242, "iat": now - 60, "exp": now + 3600})),
        sign(json!({"iss": 4242, "iat": now - 700, "exp": now - 100})),
        "not.a-jwt".to_string(),
    ] {
        c.token = Some(bad);
        assert_eq!(c.post(path, json!({})).await.0, 401);
    }
    // Signed by another key: the signature check catches it.
    let other = tmp.path().join("other.pem");
    Command::new("openssl").args(["genrsa", "-out"]).arg(&other).arg("2048").output().expect("openssl");
    let other = jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(&other).unwrap()).unwrap();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iss": 4242, "iat": now - 60, "exp": now + 540}),
        &other,
    )
    .unwrap();
    c.token = Some(forged);
    assert_eq!(c.post(path, json!({})).await.0, 401);
    assert_eq!(gh.violations().len(), 5, "{:?}", gh.violations());

    c.token = Some(token);
    let issue = gh.add_issue("acme/gitops", "t", "alice");
    let (s, comment) = c.post(&format!("/repos/acme/gitops/issues/{issue}/comments"), json!({"body": "hi"})).await;
    assert_eq!((s, comment["user"]["login"].as_str()), (201, Some("tidegate[bot]")));
    assert_eq!(comment["user"]["type"], "Bot");
    assert_eq!(gh.response_violations(), Vec::<String>::new());
}
