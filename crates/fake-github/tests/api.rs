//! The fake against plain HTTP: git data, contents, pull requests, comments, statuses,
//! permissions, validation and authentication.

mod common;

use common::{Client, b64, git, started};
use serde_json::json;

#[tokio::test]
async fn branch_commit_pull_request_merge() {
    let (gh, _tmp, bare) = started().await;
    let c = Client::new(&gh);

    let (s, repo) = c.get("/repos/acme/gitops").await;
    assert_eq!(s, 200);
    assert_eq!(repo["full_name"], "acme/gitops");
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["html_url"], "https://github.com/acme/gitops");

    let (s, main) = c.get("/repos/acme/gitops/git/ref/heads/main").await;
    assert_eq!(s, 200);
    let main_sha = main["object"]["sha"].as_str().unwrap().to_string();
    assert_eq!(main_sha, git(&bare, &["rev-parse", "main"]));

    let branch = json!({"ref": "refs/heads/promote/frontend-qa", "sha": main_sha});
    assert_eq!(c.post("/repos/acme/gitops/git/refs", branch.clone()).await.0, 201);
    let (s, dup) = c.post("/repos/acme/gitops/git/refs", branch).await;
    assert_eq!((s, dup["message"].as_str()), (422, Some("Reference already exists")));
    let unknown = json!({"ref": "refs/heads/x", "sha": "0123456789012345678901234567890123456789"});
    assert_eq!(c.post("/repos/acme/gitops/git/refs", unknown).await.0, 422);

    // No commits ahead yet: GitHub refuses the pull request.
    let pr =
        json!({"title": "Promote frontend to qa", "head": "acme:promote/frontend-qa", "base": "main", "body": "b"});
    let (s, err) = c.post("/repos/acme/gitops/pulls", pr.clone()).await;
    assert_eq!(s, 422, "{err}");
    assert!(err["errors"][0]["message"].as_str().unwrap().starts_with("No commits between"));

    let (s, file) = c.get("/repos/acme/gitops/contents/overlays/dev/tag.txt?ref=promote/frontend-qa").await;
    assert_eq!(s, 200);
    let blob = file["sha"].as_str().unwrap().to_string();
    assert_eq!(blob, git(&bare, &["rev-parse", "main:overlays/dev/tag.txt"]));
    let put = |sha: Option<&str>| {
        let mut body =
            json!({"message": "frontend: v2 to qa", "content": b64("v2\n"), "branch": "promote/frontend-qa"});
        if let Some(s) = sha {
            body["sha"] = json!(s);
        }
        body
    };
    let (s, err) = c.put("/repos/acme/gitops/contents/overlays/dev/tag.txt", put(None)).await;
    assert_eq!(s, 422, "{err}");
    let (s, err) = c.put("/repos/acme/gitops/contents/overlays/dev/tag.txt", put(Some(&"1".repeat(40)))).await;
    assert_eq!(s, 409, "{err}");
    let (s, written) = c.put("/repos/acme/gitops/contents/overlays/dev/tag.txt", put(Some(&blob))).await;
    assert_eq!(s, 200, "{written}");
    let commit = written["commit"]["sha"].as_str().unwrap().to_string();
    assert_eq!(git(&bare, &["rev-parse", "promote/frontend-qa"]), commit);
    assert_eq!(git(&bare, &["show", "promote/frontend-qa:overlays/dev/tag.txt"]), "v2");
    assert_eq!(git(&bare, &["log", "-1", "--format=%s %an", &commit]), "frontend: v2 to qa tidegate-bot");
    let (s, created) = c
        .put(
            "/repos/acme/gitops/contents/overlays/qa/new.txt",
            json!({"message": "new", "content": b64("x"), "branch": "promote/frontend-qa"}),
        )
        .await;
    assert_eq!(s, 201, "{created}");

    let (s, opened) = c.post("/repos/acme/gitops/pulls", pr.clone()).await;
    assert_eq!(s, 201, "{opened}");
    let number = opened["number"].as_u64().unwrap();
    assert_eq!(opened["html_url"], format!("https://github.com/acme/gitops/pull/{number}"));
    assert_eq!(opened["head"]["ref"], "promote/frontend-qa");
    assert_eq!(opened["head"]["label"], "acme:promote/frontend-qa");
    assert_eq!(opened["base"]["sha"], main_sha.as_str());
    let (s, dup) = c.post("/repos/acme/gitops/pulls", pr).await;
    assert_eq!(s, 422);
    assert_eq!(dup["errors"][0]["message"], "A pull request already exists for acme:promote/frontend-qa.");

    // `head` needs the owner: a bare branch is ignored and lists everything, like GitHub.
    let (_, listed) = c.get("/repos/acme/gitops/pulls?head=acme:promote/frontend-qa&state=open").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (_, none) = c.get("/repos/acme/gitops/pulls?head=acme:other").await;
    assert_eq!(none.as_array().unwrap().len(), 0);
    let (_, bare_head) = c.get("/repos/acme/gitops/pulls?head=other").await;
    assert_eq!(bare_head.as_array().unwrap().len(), 1);

    let (s, updated) = c.patch(&format!("/repos/acme/gitops/pulls/{number}"), json!({"title": "new title"})).await;
    assert_eq!((s, updated["title"].as_str()), (200, Some("new title")));

    let (s, merged) =
        c.put(&format!("/repos/acme/gitops/pulls/{number}/merge"), json!({"merge_method": "merge"})).await;
    assert_eq!(s, 200, "{merged}");
    let tip = git(&bare, &["rev-parse", "main"]);
    assert_eq!(merged["sha"], tip.as_str());
    assert_eq!(git(&bare, &["show", "main:overlays/dev/tag.txt"]), "v2");
    assert_eq!(git(&bare, &["rev-list", "--parents", "-n1", "main"]).split(' ').count(), 3, "a merge commit");
    let (_, after) = c.get(&format!("/repos/acme/gitops/pulls/{number}")).await;
    assert_eq!((after["state"].as_str(), after["merged"].as_bool()), (Some("closed"), Some(true)));
    let (s, _) = c.put(&format!("/repos/acme/gitops/pulls/{number}/merge"), json!({})).await;
    assert_eq!(s, 405);

    // Refs: non-fast-forward needs force; delete.
    let (s, err) = c.patch("/repos/acme/gitops/git/refs/heads/main", json!({"sha": main_sha})).await;
    assert_eq!((s, err["message"].as_str()), (422, Some("Update is not a fast forward")));
    assert_eq!(c.patch("/repos/acme/gitops/git/refs/heads/main", json!({"sha": main_sha, "force": true})).await.0, 200);
    assert_eq!(git(&bare, &["rev-parse", "main"]), main_sha);
    let (s, _, _) = c.send("DELETE", "/repos/acme/gitops/git/refs/heads/promote/frontend-qa", None).await;
    assert_eq!(s, 204);
    assert_eq!(c.get("/repos/acme/gitops/git/ref/heads/promote/frontend-qa").await.0, 404);

    assert_eq!(gh.violations(), Vec::<String>::new());
    assert_eq!(gh.response_violations(), Vec::<String>::new());
    assert_eq!(gh.pulls("acme/gitops").len(), 1);
}

#[tokio::test]
async fn comments_labels_reactions_statuses_permissions() {
    let (gh, _tmp, bare) = started().await;
    let c = Client::new(&gh);
    let issue = gh.add_issue("acme/gitops", "promote please", "alice");

    let (s, comment) = c
        .post(&format!("/repos/acme/gitops/issues/{issue}/comments"), json!({"body": "/promote frontend to prod"}))
        .await;
    assert_eq!(s, 201, "{comment}");
    let id = comment["id"].as_u64().unwrap();
    let (s, err) =
        c.post(&format!("/repos/acme/gitops/issues/{issue}/comments"), json!({"body": "x".repeat(65_537)})).await;
    assert_eq!(s, 422);
    assert_eq!(err["errors"][0]["message"], "Body is too long (maximum is 65536 characters)");
    assert_eq!(
        c.post(&format!("/repos/acme/gitops/issues/{issue}/comments"), json!({"body": "x".repeat(65_536)})).await.0,
        201
    );
    assert_eq!(c.post("/repos/acme/gitops/issues/999/comments", json!({"body": "x"})).await.0, 404);
    let (s, edited) = c.patch(&format!("/repos/acme/gitops/issues/comments/{id}"), json!({"body": "edited"})).await;
    assert_eq!((s, edited["body"].as_str()), (200, Some("edited")));
    let (s, list) = c.get(&format!("/repos/acme/gitops/issues/{issue}/comments?per_page=1")).await;
    assert_eq!((s, list.as_array().unwrap().len()), (200, 1));

    let (s, r1) =
        c.post(&format!("/repos/acme/gitops/issues/comments/{id}/reactions"), json!({"content": "rocket"})).await;
    assert_eq!(s, 201);
    let (s, r2) =
        c.post(&format!("/repos/acme/gitops/issues/comments/{id}/reactions"), json!({"content": "rocket"})).await;
    assert_eq!((s, &r2["id"]), (200, &r1["id"]));
    assert_eq!(
        c.post(&format!("/repos/acme/gitops/issues/comments/{id}/reactions"), json!({"content": "party"})).await.0,
        422
    );
    assert_eq!(gh.reactions("acme/gitops", id).len(), 1);

    let (s, labels) = c
        .post(&format!("/repos/acme/gitops/issues/{issue}/labels"), json!({"labels": ["promotion", "env:prod"]}))
        .await;
    assert_eq!((s, labels.as_array().unwrap().len()), (200, 2));
    assert_eq!(gh.labels("acme/gitops", issue), vec!["promotion", "env:prod"]);

    let sha = git(&bare, &["rev-parse", "main"]);
    let status = |state: &str, context: &str| json!({"state": state, "context": context, "description": "gates"});
    assert_eq!(c.post(&format!("/repos/acme/gitops/statuses/{sha}"), status("pending", "tidegate/gates")).await.0, 201);
    assert_eq!(c.post(&format!("/repos/acme/gitops/statuses/{sha}"), status("success", "tidegate/gates")).await.0, 201);
    let (_, combined) = c.get("/repos/acme/gitops/commits/main/status").await;
    assert_eq!((combined["state"].as_str(), combined["total_count"].as_u64()), (Some("success"), Some(1)));
    assert_eq!(c.post(&format!("/repos/acme/gitops/statuses/{sha}"), status("failure", "ci")).await.0, 201);
    let (_, combined) = c.get(&format!("/repos/acme/gitops/commits/{sha}/status")).await;
    assert_eq!(combined["state"], "failure");
    let long = json!({"state": "success", "description": "d".repeat(141)});
    assert_eq!(c.post(&format!("/repos/acme/gitops/statuses/{sha}"), long).await.0, 422);
    assert_eq!(gh.statuses("acme/gitops", &sha).len(), 3);

    gh.set_permission("acme/gitops", "alice", "maintain");
    gh.add_user("mallory");
    let (s, p) = c.get("/repos/acme/gitops/collaborators/alice/permission").await;
    assert_eq!((s, p["permission"].as_str(), p["role_name"].as_str()), (200, Some("write"), Some("maintain")));
    let (_, p) = c.get("/repos/acme/gitops/collaborators/mallory/permission").await;
    assert_eq!(p["permission"], "read", "anyone can read a public repository");
    gh.set_private("acme/gitops", true);
    let (_, p) = c.get("/repos/acme/gitops/collaborators/mallory/permission").await;
    assert_eq!(p["permission"], "none");
    assert_eq!(c.get("/repos/acme/gitops/collaborators/nobody-at-all/permission").await.0, 404);

    assert_eq!(gh.violations().len(), 1, "{:?}", gh.violations());
    assert_eq!(gh.response_violations(), Vec::<String>::new());
}

#[tokio::test]
async fn spec_violations_unknown_routes_and_bad_tokens() {
    let (gh, _tmp, bare) = started().await;
    let mut c = Client::new(&gh);
    let sha = git(&bare, &["rev-parse", "main"]);

    let (s, err) = c.post(&format!("/repos/acme/gitops/statuses/{sha}"), json!({"state": "bogus"})).await;
    assert_eq!(s, 422);
    let message = err["message"].as_str().unwrap();
    assert!(message.starts_with("Invalid request.\n\n"), "{message}");
    assert!(message.contains("For 'properties/state', \"bogus\" is not a member of"), "{message}");
    let v = gh.violations();
    assert_eq!(v.len(), 1);
    assert!(v[0].starts_with(&format!("POST /repos/acme/gitops/statuses/{sha}: /state: ")), "{v:?}");

    assert_eq!(c.post("/repos/acme/gitops/pulls", json!({"head": "x", "base": "main", "draft": "yes"})).await.0, 422);
    assert_eq!(c.get("/repos/acme/gitops/pulls?state=bogus").await.0, 422);
    assert_eq!(c.get("/repos/acme/gitops/pulls/abc").await.0, 422);
    assert_eq!(c.get("/repos/acme/gitops/frobnicate").await.0, 404);
    assert_eq!(c.get("/repos/acme/gitops/issues").await.0, 404, "a GitHub route the fake does not serve");
    let v = gh.violations();
    assert_eq!(v.len(), 6, "{v:?}");
    assert!(v[4].contains("no such route"), "{v:?}");
    assert!(v[5].contains("does not serve"), "{v:?}");

    assert_eq!(c.get("/repos/acme/missing").await.0, 404);

    c.token = Some("wrong".into());
    let (s, err) = c.get("/repos/acme/gitops").await;
    assert_eq!((s, err["message"].as_str()), (401, Some("Bad credentials")));
    c.token = None;
    assert_eq!(c.get("/repos/acme/gitops").await.0, 401);
    c.token = Some("test-token".into());
    let (_, _, headers) = c.send("GET", "/repos/acme/gitops", None).await;
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-used",
        "x-ratelimit-resource",
        "x-github-request-id",
    ] {
        assert!(headers.contains_key(h), "{h}");
    }
    assert_eq!(gh.count("GET", "^/repos/acme/gitops$"), 3);
    gh.reset_requests();
    assert!(gh.requests().is_empty() && gh.violations().is_empty());
}
