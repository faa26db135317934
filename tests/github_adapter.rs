//! The GitHub adapter against the fake GitHub (every request checked against GitHub's OpenAPI
//! description) and a real git repository made with the git CLI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fake_github::{AppConfig, FakeGitHub, Fault, Options};
use serde_json::{Value, json};
use tidegate::chatops::Permission;
use tidegate::github::{
    Auth, CommitStatus, FileChange, GitHub, GitHubError, GitHubSettings, PromotionPr, Reaction, RetrySettings,
    StatusState,
};
use tidegate::source::Secret;

const REPO: &str = "acme/gitops";
const BRANCH: &str = "tidegate/promote/frontend/qa";
const FILE: &str = "overlays/qa/kustomization.yaml";

fn git(dir: &Path, args: &[&str]) -> String {
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

fn overlay(tag: &str) -> String {
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../apps/frontend\nimages:\n- name: ghcr.io/acme/frontend\n  newTag: {tag}\n"
    )
}

/// A fake serving `acme/gitops` from a bare repository whose `main` has the qa overlay at v1.
struct Fixture {
    fake: FakeGitHub,
    bare: PathBuf,
    base_commit: String,
    base_blob: String,
    _tmp: tempfile::TempDir,
}

fn fixture_with(opts: Options) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(work.join("overlays/qa")).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join(FILE), overlay("v1")).unwrap();
    std::fs::write(work.join("README.md"), "gitops\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "initial"]);
    let bare = tmp.path().join("origin.git");
    git(tmp.path(), &["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()]);
    let base_commit = git(&bare, &["rev-parse", "main"]);
    let base_blob = git(&bare, &["rev-parse", &format!("main:{FILE}")]);
    let fake = FakeGitHub::start_blocking(opts);
    fake.add_repo(REPO, &bare);
    Fixture { fake, bare, base_commit, base_blob, _tmp: tmp }
}

fn fixture() -> Fixture {
    fixture_with(Options::default())
}

fn fast_retries() -> RetrySettings {
    RetrySettings {
        min_rate_limit_wait: Duration::from_secs(1),
        max_backoff: Duration::from_secs(2),
        deadline: Duration::from_secs(20),
        transient_retries: 2,
        transient_backoff: Duration::from_millis(10),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
    }
}

impl Fixture {
    fn client_with(&self, auth: Auth) -> GitHub {
        let mut s = GitHubSettings::new(self.fake.url(), auth, REPO);
        s.bot_login = Some("tidegate-bot".into());
        s.retry = fast_retries();
        GitHub::new(s).unwrap()
    }

    fn client(&self) -> GitHub {
        self.client_with(Auth::Token(Secret::new("test-token")))
    }

    fn promotion(&self, tag: &str) -> PromotionPr {
        PromotionPr {
            branch: BRANCH.into(),
            base: "main".into(),
            base_commit: self.base_commit.clone(),
            base_tree: None,
            files: vec![FileChange {
                path: FILE.into(),
                content: overlay(tag),
                base_blob_sha: Some(self.base_blob.clone()),
            }],
            commit_message: format!("frontend: promote {tag} to qa"),
            title: format!("Promote frontend {tag} to qa"),
            body: format!("Moves frontend to `{tag}` in qa.\n\nGates: all passed."),
            labels: vec!["promotion".into(), "env/qa".into()],
            statuses: vec![CommitStatus {
                context: "tidegate/gates".into(),
                state: StatusState::Success,
                description: "every gate passed".into(),
                target_url: Some("https://tidegate.example.com/promotions/frontend".into()),
            }],
        }
    }

    fn open_pulls(&self) -> Vec<Value> {
        self.fake.pulls(REPO).into_iter().filter(|p| p["state"] == "open").collect()
    }

    fn show(&self, rev: &str) -> String {
        git(&self.bare, &["show", rev])
    }

    fn assert_clean(&self) {
        assert_eq!(self.fake.violations(), Vec::<String>::new(), "requests that break GitHub's OpenAPI description");
    }
}

#[tokio::test]
async fn a_fresh_promotion_opens_one_pull_request_then_updates_it_in_place() {
    let f = fixture();
    let gh = f.client();

    let first = gh.upsert_promotion_pr(&f.promotion("v2")).await.unwrap();
    let fresh_calls = gh.api_calls();
    assert!(first.created && first.changed, "{first:?}");
    assert!(fresh_calls <= 6, "a fresh one-file promotion took {fresh_calls} calls: {:#?}", f.fake.requests());
    assert_eq!(fresh_calls as usize, f.fake.requests().len(), "api_calls counts every request");
    let open = f.open_pulls();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["number"], first.number);
    assert_eq!(open[0]["head"]["ref"], BRANCH);
    assert_eq!(open[0]["base"]["ref"], "main");
    assert_eq!(open[0]["title"], "Promote frontend v2 to qa");
    assert_eq!(first.url, format!("https://github.com/{REPO}/pull/{}", first.number));
    // The branch in git: one commit on top of base, with the new overlay.
    assert_eq!(git(&f.bare, &["rev-parse", BRANCH]), first.head_sha);
    assert_eq!(git(&f.bare, &["rev-parse", &format!("{BRANCH}^")]), f.base_commit);
    assert_eq!(f.show(&format!("{BRANCH}:{FILE}")), overlay("v2").trim_end());
    assert_eq!(f.show(&format!("{BRANCH}:README.md")), "gitops");
    let mut labels = f.fake.labels(REPO, first.number);
    labels.sort();
    assert_eq!(labels, ["env/qa", "promotion"]);
    let statuses = f.fake.statuses(REPO, &first.head_sha);
    assert_eq!(statuses.len(), 1);
    assert_eq!(
        (statuses[0]["context"].as_str(), statuses[0]["state"].as_str()),
        (Some("tidegate/gates"), Some("success"))
    );

    // The same promotion again: nothing written.
    let before = gh.api_calls();
    let again = gh.upsert_promotion_pr(&f.promotion("v2")).await.unwrap();
    let same_calls = gh.api_calls() - before;
    assert_eq!((again.number, again.created, again.changed), (first.number, false, false));
    assert_eq!(again.head_sha, first.head_sha);
    // One read: is the pull request still open? (This process pushed the branch.)
    assert_eq!(same_calls, 1, "an unchanged promotion took {same_calls} calls");

    // A newer tag: the same pull request, a fresh commit on top of base.
    let before = gh.api_calls();
    let newer = gh.upsert_promotion_pr(&f.promotion("v3")).await.unwrap();
    let update_calls = gh.api_calls() - before;
    assert_eq!((newer.number, newer.created, newer.changed), (first.number, false, true));
    assert_ne!(newer.head_sha, first.head_sha);
    assert_eq!(f.open_pulls().len(), 1);
    assert_eq!(f.fake.pulls(REPO).len(), 1, "no other pull request, open or closed");
    assert_eq!(git(&f.bare, &["rev-parse", BRANCH]), newer.head_sha);
    assert_eq!(git(&f.bare, &["rev-parse", &format!("{BRANCH}^")]), f.base_commit);
    assert_eq!(f.show(&format!("{BRANCH}:{FILE}")), overlay("v3").trim_end());
    assert_eq!(f.open_pulls()[0]["title"], "Promote frontend v3 to qa");
    assert_eq!(f.open_pulls()[0]["head"]["sha"], newer.head_sha.as_str());
    // Open pull request?, base tree (the caller did not give it), tree, commit, move the branch,
    // title and body, status: no refused `POST git/refs`.
    assert_eq!(update_calls, 7, "an update took {update_calls} calls");
    eprintln!("calls: fresh {fresh_calls}, unchanged {same_calls}, update {update_calls}");

    // Another process (no memory of what was pushed) sees the same content: still unchanged.
    let other = f.client();
    let seen = other.upsert_promotion_pr(&f.promotion("v3")).await.unwrap();
    assert_eq!((seen.number, seen.created, seen.changed), (first.number, false, false));
    assert_eq!(seen.head_sha, newer.head_sha);

    let listed = gh.list_open_prs_with_prefix("tidegate/promote/").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].number, listed[0].head_ref.as_str()), (first.number, BRANCH));
    assert!(gh.list_open_prs_with_prefix("tidegate/promote/backend/").await.unwrap().is_empty());
    let found = gh.find_open_pr(BRANCH).await.unwrap().unwrap();
    assert_eq!((found.number, found.head_sha.as_str()), (first.number, newer.head_sha.as_str()));
    assert!(found.body.contains("v3"));
    assert_eq!(gh.find_open_pr("tidegate/promote/backend/qa").await.unwrap(), None);
    f.assert_clean();
}

#[tokio::test]
async fn twenty_concurrent_upserts_open_exactly_one_pull_request() {
    let f = fixture();
    let gh = f.client();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let gh = gh.clone();
            let pr = f.promotion("v2");
            tokio::spawn(async move { gh.upsert_promotion_pr(&pr).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap().unwrap());
    }
    assert_eq!(f.open_pulls().len(), 1);
    assert_eq!(outcomes.iter().filter(|o| o.created).count(), 1);
    assert!(outcomes.iter().all(|o| o.number == outcomes[0].number && o.head_sha == outcomes[0].head_sha));
    assert_eq!(f.fake.count("POST", r"/pulls$"), 1);
    eprintln!("20 concurrent upserts: {} calls", gh.api_calls());
    f.assert_clean();
}

#[tokio::test]
async fn a_lost_answer_to_opening_the_pull_request_does_not_duplicate_it() {
    let f = fixture();
    f.fake.inject(Fault::lost_answer("POST", r"/pulls$"));
    let gh = f.client();
    let out = gh.upsert_promotion_pr(&f.promotion("v2")).await.unwrap();
    assert_eq!(f.open_pulls().len(), 1);
    assert_eq!(f.open_pulls()[0]["number"], out.number);
    assert!(out.created);
    assert_eq!(f.fake.count("POST", r"/pulls$"), 1, "the lost POST was not resent");
    f.assert_clean();
}

#[tokio::test]
async fn lost_answers_to_the_branch_and_the_commit_are_checked_not_resent() {
    // The branch was created but the answer lost: read back, then handled as an existing branch.
    let f = fixture();
    f.fake.inject(Fault::lost_answer("POST", r"/git/refs$"));
    let gh = f.client();
    let out = gh.upsert_promotion_pr(&f.promotion("v2")).await.unwrap();
    assert!(out.created);
    assert_eq!(f.open_pulls().len(), 1);
    assert_eq!(f.fake.count("POST", r"/git/refs$"), 1);
    assert_eq!(f.show(&format!("{BRANCH}:{FILE}")), overlay("v2").trim_end());
    assert_eq!(git(&f.bare, &["rev-parse", BRANCH]), out.head_sha);
    // The file was committed but the answer lost (a dropped connection): the branch moved, so
    // the commit is not made again.
    let g = fixture();
    g.fake.inject(Fault { drop_connection: true, ..Fault::lost_answer("PUT", r"/contents/") });
    let gh = g.client();
    let out = gh.upsert_promotion_pr(&g.promotion("v2")).await.unwrap();
    assert_eq!(g.open_pulls().len(), 1);
    assert_eq!(g.fake.count("PUT", r"/contents/"), 1);
    assert_eq!(g.show(&format!("{BRANCH}:{FILE}")), overlay("v2").trim_end());
    assert_eq!(git(&g.bare, &["rev-parse", BRANCH]), out.head_sha);
    assert_eq!(git(&g.bare, &["rev-parse", &format!("{BRANCH}^")]), g.base_commit);
    f.assert_clean();
    g.assert_clean();
}

#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out_and_resent_once() {
    let f = fixture();
    f.fake.inject(Fault::secondary_rate_limit("POST", r"/pulls$", 1));
    let gh = f.client();
    let started = Instant::now();
    let out = gh.upsert_promotion_pr(&f.promotion("v2")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "waited {:?}", started.elapsed());
    assert!(out.created);
    assert_eq!(f.open_pulls().len(), 1);
    assert_eq!(f.fake.count("POST", r"/pulls$"), 2, "refused once, then sent again");
    f.assert_clean();
}

#[tokio::test]
async fn a_primary_rate_limit_waits_for_the_reset_and_a_long_one_fails_fast() {
    let f = fixture();
    let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    f.fake.inject(Fault {
        headers: vec![("x-ratelimit-remaining".into(), "0".into()), ("x-ratelimit-reset".into(), reset.to_string())],
        body: json!({"message": "API rate limit exceeded for installation ID 1."}),
        ..Fault::status("GET", r"/collaborators/", 403)
    });
    f.fake.set_permission(REPO, "alice", "write");
    let gh = f.client();
    let started = Instant::now();
    assert_eq!(gh.permission("alice").await.unwrap(), Permission::Write);
    assert!(started.elapsed() >= Duration::from_millis(900), "waited {:?}", started.elapsed());

    // Longer than the deadline: an error at once, naming the operation.
    f.fake.inject(Fault::secondary_rate_limit("GET", r"/collaborators/", 3600));
    let started = Instant::now();
    let e = gh.permission("alice").await.unwrap_err();
    assert!(matches!(e, GitHubError::RateLimited { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(e.to_string().starts_with("failed to read the permission of alice on acme/gitops: rate limited"), "{e}");
    f.assert_clean();
}

#[tokio::test]
async fn killed_between_branch_and_pull_request_still_ends_with_one() {
    let f = fixture();
    // A previous run created the branch and then died.
    git(&f.bare, &["branch", BRANCH, "main"]);
    let gh = f.client();
    let out = gh.upsert_promotion_pr(&f.promotion("v2")).await.unwrap();
    assert!(out.created && out.changed);
    assert_eq!(f.open_pulls().len(), 1);
    assert_eq!(f.show(&format!("{BRANCH}:{FILE}")), overlay("v2").trim_end());
    assert_eq!(git(&f.bare, &["rev-parse", &format!("{BRANCH}^")]), f.base_commit);
    // And again, with a stale commit on the branch: it is rebuilt from base.
    let g = fixture();
    let gh = g.client();
    gh.upsert_promotion_pr(&g.promotion("v9")).await.unwrap();
    let pr = g.open_pulls()[0]["number"].as_u64().unwrap();
    gh.close_pr(pr, "superseded").await.unwrap();
    assert!(g.open_pulls().is_empty());
    let out = gh.upsert_promotion_pr(&g.promotion("v2")).await.unwrap();
    assert!(out.created && out.number != pr);
    assert_eq!(g.open_pulls().len(), 1);
    assert_eq!(g.show(&format!("{BRANCH}:{FILE}")), overlay("v2").trim_end());
    f.assert_clean();
    g.assert_clean();
}

#[tokio::test]
async fn several_files_make_one_commit() {
    let f = fixture();
    let gh = f.client();
    let mut pr = f.promotion("v2");
    pr.files.push(FileChange {
        path: "overlays/qa/NOTES.md".into(),
        content: "promoted v2\n".into(),
        base_blob_sha: None,
    });
    let out = gh.upsert_promotion_pr(&pr).await.unwrap();
    assert!(out.created);
    assert_eq!(git(&f.bare, &["rev-parse", &format!("{BRANCH}^")]), f.base_commit);
    assert_eq!(f.show(&format!("{BRANCH}:overlays/qa/NOTES.md")), "promoted v2");
    assert_eq!(f.show(&format!("{BRANCH}:{FILE}")), overlay("v2").trim_end());
    // A missing base blob id on an existing file: the contents API refuses, the git data API
    // is used instead.
    let g = fixture();
    let mut pr = g.promotion("v4");
    pr.files[0].base_blob_sha = None;
    let out = g.client().upsert_promotion_pr(&pr).await.unwrap();
    assert!(out.created);
    assert_eq!(g.show(&format!("{BRANCH}:{FILE}")), overlay("v4").trim_end());
    f.assert_clean();
    g.assert_clean();
}

#[tokio::test]
async fn a_missing_permission_is_named() {
    let f = fixture();
    f.fake.inject(Fault {
        body: json!({"message": "Resource not accessible by integration", "status": "403"}),
        ..Fault::status("POST", r"/pulls$", 403)
    });
    let e = f.client().upsert_promotion_pr(&f.promotion("v2")).await.unwrap_err();
    assert!(matches!(e, GitHubError::Forbidden { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "failed to open the pull request for {BRANCH}: 403 Resource not accessible by integration (the token or GitHub App needs pull_requests: write on the repository)"
        )
    );
}

#[tokio::test]
async fn server_errors_on_reads_are_retried() {
    let f = fixture();
    f.fake.inject(Fault::status("GET", r"/pulls$", 502).times(2));
    let gh = f.client();
    assert_eq!(gh.find_open_pr(BRANCH).await.unwrap(), None);
    assert_eq!(f.fake.count("GET", r"/pulls$"), 3);
    f.fake.inject(Fault::status("GET", r"/pulls$", 503).times(10));
    let e = gh.find_open_pr(BRANCH).await.unwrap_err();
    assert!(e.to_string().contains("503"), "{e}");
}

#[tokio::test]
async fn permission_levels() {
    let f = fixture();
    for (user, role) in [("ann", "admin"), ("max", "maintain"), ("wes", "write"), ("tri", "triage"), ("rea", "read")] {
        f.fake.set_permission(REPO, user, role);
    }
    let gh = f.client();
    assert_eq!(gh.permission("ann").await.unwrap(), Permission::Admin);
    assert_eq!(gh.permission("max").await.unwrap(), Permission::Maintain);
    assert_eq!(gh.permission("wes").await.unwrap(), Permission::Write);
    assert_eq!(gh.permission("tri").await.unwrap(), Permission::Triage);
    assert_eq!(gh.permission("rea").await.unwrap(), Permission::Read);
    assert_eq!(gh.permission("nobody-at-all").await.unwrap(), Permission::None);
    f.fake.set_private(REPO, true);
    f.fake.add_user("outsider");
    assert_eq!(gh.permission("outsider").await.unwrap(), Permission::None);
    f.assert_clean();
}

#[tokio::test]
async fn comments_reactions_statuses_and_closing() {
    let f = fixture();
    let gh = f.client();
    let issue = f.fake.add_issue(REPO, "Promote please", "alice");

    let long = "é".repeat(70_000);
    let c = gh.comment(issue, &long).await.unwrap();
    let comments = f.fake.comments(REPO, issue);
    assert_eq!(comments.len(), 1);
    let body = comments[0]["body"].as_str().unwrap();
    assert_eq!(body.chars().count(), 65_536);
    assert!(body.starts_with("ééé") && body.contains("(cut: GitHub allows 65,536 characters"));
    assert_eq!(comments[0]["id"], c.id);

    gh.react(c.id, Reaction::Rocket).await.unwrap();
    gh.react(c.id, Reaction::Eyes).await.unwrap();
    let contents: Vec<Value> = f.fake.reactions(REPO, c.id).iter().map(|r| r["content"].clone()).collect();
    assert_eq!(contents, [json!("rocket"), json!("eyes")]);

    // A comment whose answer is lost is found, not posted twice.
    f.fake.inject(Fault::lost_answer("POST", r"/comments$"));
    let again = gh.comment(issue, "promoted frontend v2 to qa").await.unwrap();
    let comments = f.fake.comments(REPO, issue);
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[1]["id"], again.id);

    let head = git(&f.bare, &["rev-parse", "main"]);
    let status = CommitStatus {
        context: "tidegate/gates".into(),
        state: StatusState::Pending,
        description: "x".repeat(500),
        target_url: None,
    };
    gh.set_status(&head, &status).await.unwrap();
    let st = f.fake.statuses(REPO, &head);
    assert_eq!(st[0]["description"].as_str().unwrap().chars().count(), 140);
    assert!(gh.set_status("not-a-sha", &status).await.is_err());

    let out = gh.upsert_promotion_pr(&f.promotion("v2")).await.unwrap();
    gh.close_pr(out.number, "Superseded by a newer promotion.").await.unwrap();
    assert!(f.open_pulls().is_empty());
    let last = f.fake.comments(REPO, out.number);
    assert_eq!(last.last().unwrap()["body"], "Superseded by a newer promotion.");
    f.assert_clean();
}

fn openssl(args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn github_app_installation_tokens() {
    let keys = tempfile::tempdir().unwrap();
    let Some(private) = openssl(&["genrsa", "2048"], keys.path()) else {
        eprintln!("skipped: no openssl to make an RSA key");
        return;
    };
    std::fs::write(keys.path().join("key.pem"), &private).unwrap();
    let public = openssl(&["rsa", "-in", "key.pem", "-pubout"], keys.path()).unwrap();
    let f = fixture_with(Options { token: None, ..Options::default() });
    f.fake.set_app(AppConfig {
        app_id: 4242,
        installation_id: 77,
        slug: "tidegate".into(),
        public_key_pem: Some(public),
    });
    let gh =
        f.client_with(Auth::App { app_id: 4242, installation_id: 77, private_key_pem: Secret::new(private.clone()) });
    let out = gh.upsert_promotion_pr(&f.promotion("v2")).await.unwrap();
    assert!(out.created);
    let again = gh.upsert_promotion_pr(&f.promotion("v3")).await.unwrap();
    assert_eq!(again.number, out.number);
    assert_eq!(f.fake.count("POST", r"^/app/installations/77/access_tokens$"), 1, "the token is cached");
    assert_eq!(gh.api_calls() as usize, f.fake.requests().len());
    assert_eq!(f.open_pulls()[0]["user"]["login"], "tidegate[bot]");
    // A wrong installation: an authentication error that shows no key.
    let bad =
        f.client_with(Auth::App { app_id: 4242, installation_id: 1, private_key_pem: Secret::new(private.clone()) });
    let e = bad.find_open_pr(BRANCH).await.unwrap_err();
    assert!(matches!(e, GitHubError::Auth { .. }), "{e}");
    assert!(!e.to_string().contains("PRIVATE KEY"));
    f.assert_clean();
}

#[tokio::test]
async fn a_bad_token_is_an_authentication_error() {
    let f = fixture();
    let gh = f.client_with(Auth::Token(Secret::new("wrong-token")));
    let e = gh.find_open_pr(BRANCH).await.unwrap_err();
    assert!(matches!(e, GitHubError::Auth { .. }), "{e}");
    assert!(!e.to_string().contains("wrong-token"));
}

#[tokio::test]
async fn an_unreachable_github_is_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut s = GitHubSettings::new(format!("http://127.0.0.1:{port}"), Auth::Token(Secret::new("t")), REPO);
    s.retry = fast_retries();
    let gh = GitHub::new(s).unwrap();
    let e = gh.find_open_pr(BRANCH).await.unwrap_err();
    assert!(matches!(e, GitHubError::Unreachable { .. }), "{e}");
    assert_eq!(gh.api_calls(), 3, "a read is tried 1 + 2 times");
}
