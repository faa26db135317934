use super::transport::{backoff, enc, enc_path, rate_limit_wait};
use super::*;
use http::HeaderMap;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().unwrap());
    }
    h
}

#[test]
fn rate_limits_are_recognised() {
    let none = HeaderMap::new();
    assert_eq!(rate_limit_wait(200, &none, "", 0), None);
    assert_eq!(rate_limit_wait(403, &none, r#"{"message":"Resource not accessible by integration"}"#, 0), None);
    assert_eq!(rate_limit_wait(404, &headers(&[("retry-after", "5")]), "", 0), None);
    assert_eq!(rate_limit_wait(403, &headers(&[("retry-after", "7")]), "", 0), Some(Some(Duration::from_secs(7))));
    assert_eq!(rate_limit_wait(429, &none, "", 0), Some(None));
    assert_eq!(
        rate_limit_wait(403, &none, r#"{"message":"You have exceeded a secondary rate limit."}"#, 0),
        Some(None)
    );
    let primary = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1000")]);
    assert_eq!(rate_limit_wait(403, &primary, "", 990), Some(Some(Duration::from_secs(11))));
    assert_eq!(rate_limit_wait(429, &primary, "", 2000), Some(Some(Duration::from_secs(1))));
    // retry-after wins over the reset time.
    let both = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1000"), ("retry-after", "3")]);
    assert_eq!(rate_limit_wait(403, &both, "", 0), Some(Some(Duration::from_secs(3))));
}

#[test]
fn backoff_doubles_from_the_minimum_up_to_the_cap() {
    let (min, max) = (Duration::from_secs(60), Duration::from_secs(900));
    assert_eq!(backoff(min, max, 0), Duration::from_secs(60));
    assert_eq!(backoff(min, max, 1), Duration::from_secs(120));
    assert_eq!(backoff(min, max, 3), Duration::from_secs(480));
    assert_eq!(backoff(min, max, 4), max);
    assert_eq!(backoff(min, max, 1000), max);
    // A cap below the minimum never shortens the minimum.
    assert_eq!(backoff(min, Duration::from_secs(1), 0), min);
}

#[test]
fn encoding() {
    assert_eq!(enc("acme:tidegate/promote/a b"), "acme%3Atidegate%2Fpromote%2Fa%20b");
    assert_eq!(enc_path("overlays/qa/kustomization.yaml"), "overlays/qa/kustomization.yaml");
    assert_eq!(enc_path("a b/ü?#"), "a%20b/%C3%BC%3F%23");
    assert_eq!(enc("2024-01-01T00:00:00Z"), "2024-01-01T00%3A00%3A00Z");
}

#[test]
fn bodies_are_cut_at_a_character_boundary_with_a_note() {
    let short = "hello";
    assert_eq!(truncate_body(short), short);
    let exact = "é".repeat(MAX_BODY_CHARS);
    assert_eq!(truncate_body(&exact), exact);
    let long = "é".repeat(MAX_BODY_CHARS + 10);
    let cut_body = truncate_body(&long);
    assert_eq!(cut_body.chars().count(), MAX_BODY_CHARS);
    assert!(cut_body.contains("(cut: GitHub allows 65,536 characters"));
    let emoji = "🚀".repeat(100_000);
    assert!(truncate_body(&emoji).chars().count() <= MAX_BODY_CHARS);
    assert_eq!(cut("abcdef", 4), "abc…");
    assert_eq!(cut("abcd", 4), "abcd");
    assert_eq!(cut(&"ü".repeat(200), MAX_STATUS_DESCRIPTION_CHARS).chars().count(), MAX_STATUS_DESCRIPTION_CHARS);
}

fn settings(auth: Auth) -> GitHubSettings {
    GitHubSettings::new("http://127.0.0.1:1", auth, "acme/gitops")
}

#[test]
fn settings_are_checked_and_secrets_never_print() {
    let gh = GitHub::new(settings(Auth::Token(Secret::new("ghp_verysecret")))).unwrap();
    assert!(!format!("{gh:?}").contains("verysecret"));
    assert_eq!(gh.repo(), "acme/gitops");
    assert_eq!(gh.api_calls(), 0);
    let s = settings(Auth::Token(Secret::new("ghp_verysecret")));
    assert!(!format!("{s:?}").contains("verysecret"));
    for repo in ["acme", "acme/", "/gitops", "acme/git ops", "acme/../x", "a/b/c"] {
        let e = GitHub::new(GitHubSettings::new("http://x", Auth::Token(Secret::new("t")), repo)).unwrap_err();
        assert!(e.to_string().contains("owner/name"), "{repo}: {e}");
    }
    for url in ["", "ftp://x", "not a url", "/just/a/path"] {
        assert!(GitHub::new(GitHubSettings::new(url, Auth::Token(Secret::new("t")), "a/b")).is_err(), "{url}");
    }
    assert!(GitHub::new(settings(Auth::Token(Secret::new(" ")))).is_err());
    let app = Auth::App { app_id: 1, installation_id: 2, private_key_pem: Secret::new("-----BEGIN nonsense") };
    let e = GitHub::new(settings(app)).unwrap_err().to_string();
    assert!(e.contains("not an RSA PEM key") && !e.contains("nonsense"), "{e}");
}

#[test]
fn errors_read_well() {
    let e = GitHubError::Api {
        op: "open the pull request for tidegate/promote/frontend/qa".into(),
        status: 422,
        message: "Validation Failed: A pull request already exists for acme:tidegate/promote/frontend/qa.".into(),
    };
    assert_eq!(
        e.to_string(),
        "failed to open the pull request for tidegate/promote/frontend/qa: 422 Validation Failed: A pull request already exists for acme:tidegate/promote/frontend/qa."
    );
    let e = GitHubError::Forbidden {
        op: "open the pull request for b".into(),
        message: "Resource not accessible by integration".into(),
        permission: "pull_requests: write".into(),
    };
    assert!(e.to_string().contains("needs pull_requests: write"), "{e}");
}

#[test]
fn reactions_and_states_have_githubs_names() {
    let names: Vec<&str> =
        [Reaction::Eyes, Reaction::PlusOne, Reaction::MinusOne, Reaction::Confused, Reaction::Rocket]
            .map(Reaction::as_str)
            .into();
    assert_eq!(names, ["eyes", "+1", "-1", "confused", "rocket"]);
    assert_eq!(StatusState::Failure.as_str(), "failure");
}

#[test]
fn fork_pull_requests_are_not_ours() {
    let p = serde_json::json!({
        "number": 3, "html_url": "u", "title": "t", "body": null,
        "head": {"ref": "tidegate/promote/a/qa", "sha": "abc", "repo": {"full_name": "mallory/gitops"}},
        "labels": [{"name": "promotion"}]
    });
    assert!(Pull::from_json(&p, "acme/gitops").is_none());
    let mut ours = p.clone();
    ours["head"]["repo"]["full_name"] = "Acme/GitOps".into();
    let pull = Pull::from_json(&ours, "acme/gitops").unwrap();
    assert_eq!(pull.pr.body, "");
    assert_eq!(pull.labels, ["promotion"]);
}

#[test]
fn blob_ids_are_git_blob_ids() {
    // `printf 'hello\n' | git hash-object --stdin`
    assert_eq!(git_blob_id(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
}
