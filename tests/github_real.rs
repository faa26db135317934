//! The GitHub adapter against the real GitHub (or GitHub Enterprise): ignored by default,
//! because no GitHub is reachable where CI runs. Run it with a token that may write to a
//! scratch repository you own:
//!
//! ```sh
//! TIDEGATE_E2E_GITHUB_TOKEN=ghp_… TIDEGATE_E2E_GITHUB_REPO=you/scratch \
//!   cargo test --test github_real -- --ignored --nocapture
//! ```
//!
//! `TIDEGATE_E2E_GITHUB_API_URL` selects GitHub Enterprise (`https://HOST/api/v3`); the base
//! branch is the repository's default branch. The test opens one promotion pull request that
//! adds `tidegate-e2e/promotion.txt`, asks for it again (nothing must change), updates it,
//! closes it, and deletes its branch.

use serde_json::Value;
use tidegate::github::{Auth, CommitStatus, FileChange, GitHub, GitHubSettings, PromotionPr, StatusState};
use tidegate::source::Secret;

struct Real {
    api: String,
    repo: String,
    token: String,
    http: reqwest::Client,
}

impl Real {
    fn from_env() -> Real {
        let var =
            |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("set {k} (see the top of tests/github_real.rs)"));
        Real {
            api: std::env::var("TIDEGATE_E2E_GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".into()),
            repo: var("TIDEGATE_E2E_GITHUB_REPO"),
            token: var("TIDEGATE_E2E_GITHUB_TOKEN"),
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str) -> Value {
        let r = self
            .http
            .request(method, format!("{}/repos/{}{path}", self.api, self.repo))
            .header("authorization", format!("Bearer {}", self.token))
            .header("user-agent", "tidegate-e2e")
            .header("accept", "application/vnd.github+json")
            .send()
            .await
            .expect("GitHub answers");
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }
}

#[tokio::test]
#[ignore = "needs GitHub: set TIDEGATE_E2E_GITHUB_TOKEN and TIDEGATE_E2E_GITHUB_REPO"]
async fn a_promotion_pull_request_on_real_github() {
    let real = Real::from_env();
    let repo = real.call(reqwest::Method::GET, "").await;
    let base = repo["default_branch"].as_str().expect("default branch").to_string();
    let head = real.call(reqwest::Method::GET, &format!("/git/ref/heads/{base}")).await;
    let base_commit = head["object"]["sha"].as_str().expect("base sha").to_string();
    let gh = GitHub::new(GitHubSettings::new(
        real.api.clone(),
        Auth::Token(Secret::new(real.token.clone())),
        real.repo.clone(),
    ))
    .expect("settings");
    let branch = "tidegate/promote/tidegate-e2e/qa".to_string();
    let pr = |tag: &str| PromotionPr {
        branch: branch.clone(),
        base: base.clone(),
        base_commit: base_commit.clone(),
        base_tree: None,
        files: vec![FileChange {
            path: "tidegate-e2e/promotion.txt".into(),
            content: format!("newTag: \"{tag}\"\n"),
            base_blob_sha: None,
        }],
        commit_message: format!("Promote tidegate-e2e to qa: {tag}"),
        title: format!("[tidegate e2e] Promote tidegate-e2e to qa: {tag}"),
        body: "Opened by tidegate's real-GitHub test; it closes this pull request itself.".into(),
        labels: vec!["tidegate/promotion".into()],
        statuses: vec![CommitStatus {
            context: "tidegate/gates".into(),
            state: StatusState::Success,
            description: "all gates passed (e2e)".into(),
            target_url: None,
        }],
    };
    let first = gh.upsert_promotion_pr(&pr("1.0")).await.expect("open the pull request");
    assert!(first.created, "{first:?}");
    let again = gh.upsert_promotion_pr(&pr("1.0")).await.expect("ask again");
    assert_eq!((again.number, again.changed, again.created), (first.number, false, false), "{again:?}");
    let newer = gh.upsert_promotion_pr(&pr("1.1")).await.expect("update in place");
    assert_eq!(newer.number, first.number, "a newer tag updates the same pull request");
    assert!(newer.changed);
    let found = gh.find_open_pr(&branch).await.expect("look it up").expect("it is open");
    assert_eq!(found.number, first.number);
    gh.close_pr(first.number, "tidegate e2e: done").await.expect("close it");
    real.call(reqwest::Method::DELETE, &format!("/git/refs/heads/{branch}")).await;
    eprintln!("real GitHub: pull request #{} opened, updated and closed; {} API calls", first.number, gh.api_calls());
}
