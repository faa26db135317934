//! The GitHub adapter (octocrab): pull requests, branches, file commits, comments, reactions,
//! labels, commit statuses, collaborator permissions; token or GitHub App authentication;
//! rate limits honoured; POSTs never blindly resent.
//!
//! Owns: talking to GitHub's REST API. Must not touch: planning, gates, the cluster.
//!
//! Every request goes through one function (`transport.rs`) that counts it, sets timeouts,
//! waits out rate limits (`retry-after`, then `x-ratelimit-reset`, then exponential back-off
//! from [`RetrySettings::min_rate_limit_wait`]) and resends only what is safe to resend. A
//! write whose answer is lost (network error, timeout, 5xx) is checked before anything else
//! happens: a pull request is looked up, a branch is read back, a comment is looked for.
//! Writes are serialized by one lock, so concurrent callers cannot open two pull requests for
//! one branch. [`GitHub::upsert_promotion_pr`] keeps exactly one open pull request per branch,
//! updated in place (`upsert.rs`).

mod transport;
mod types;
mod upsert;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use http::Method;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::chatops::Permission;
use crate::source::Secret;
use transport::{Op, Outcome, Resend, enc};
pub use types::{CommentRef, CommitStatus, FileChange, PrOutcome, PromotionPr, PullRef, Reaction, StatusState};

/// GitHub's limit on a comment (and pull request) body, in characters.
pub const MAX_BODY_CHARS: usize = 65_536;

/// GitHub's limit on a commit status description, in characters.
pub const MAX_STATUS_DESCRIPTION_CHARS: usize = 140;

/// The longest pull request title sent (GitHub refuses titles much longer than 255).
pub const MAX_TITLE_CHARS: usize = 255;

/// How tidegate authenticates to GitHub.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A personal access token or any other bearer token.
    Token(Secret),
    /// A GitHub App: tidegate signs a JWT with the private key and mints installation tokens
    /// (scoped to the one repository, renewed before they expire).
    App {
        /// The App's id.
        app_id: u64,
        /// The installation on the repository's owner.
        installation_id: u64,
        /// The App's RSA private key, PEM.
        private_key_pem: Secret,
    },
}

/// Timeouts, retries and rate-limit waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySettings {
    /// The first wait after a rate limit that says nothing about how long to wait (GitHub asks
    /// for at least a minute); doubled each time up to [`RetrySettings::max_backoff`].
    pub min_rate_limit_wait: Duration,
    /// The longest exponential back-off step.
    pub max_backoff: Duration,
    /// No request is retried past this much time after its first attempt: a rate limit that
    /// lasts longer becomes [`GitHubError::RateLimited`].
    pub deadline: Duration,
    /// How often a request that is safe to resend is resent after a network error or a 5xx.
    pub transient_retries: u32,
    /// The first wait before such a resend (doubled each time).
    pub transient_backoff: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Bound on one request, answer included.
    pub request_timeout: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            min_rate_limit_wait: Duration::from_secs(60),
            max_backoff: Duration::from_secs(15 * 60),
            deadline: Duration::from_secs(30 * 60),
            transient_retries: 3,
            transient_backoff: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Where GitHub is, who tidegate is there, and which repository it works on.
#[derive(Debug, Clone)]
pub struct GitHubSettings {
    /// REST API base URL: `https://api.github.com`, `https://ghe.example.com/api/v3`, or a
    /// test server.
    pub api_url: String,
    /// Credentials.
    pub auth: Auth,
    /// `owner/name`.
    pub repository: String,
    /// The bot's own login (`tidegate[bot]`), so that it never acts on its own comments.
    pub bot_login: Option<String>,
    /// Timeouts, retries and rate-limit waits.
    pub retry: RetrySettings,
}

impl GitHubSettings {
    /// Settings with the default [`RetrySettings`] and no bot login.
    pub fn new(api_url: impl Into<String>, auth: Auth, repository: impl Into<String>) -> GitHubSettings {
        GitHubSettings {
            api_url: api_url.into(),
            auth,
            repository: repository.into(),
            bot_login: None,
            retry: RetrySettings::default(),
        }
    }
}

/// Everything that can go wrong talking to GitHub. Messages name the operation, the HTTP
/// status and GitHub's own message; they never contain a credential.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// The settings cannot work (bad URL, repository name, key).
    #[error("invalid GitHub settings: {0}")]
    Settings(String),
    /// GitHub refused the credentials (401), or an App token could not be minted.
    #[error("failed to authenticate to GitHub: {reason}")]
    Auth {
        /// What was refused, with GitHub's message.
        reason: String,
    },
    /// 403 without a rate limit: the token or App lacks a permission.
    #[error("failed to {op}: 403 {message} (the token or GitHub App needs {permission} on the repository)")]
    Forbidden {
        /// The operation.
        op: String,
        /// GitHub's message (`Resource not accessible by integration`).
        message: String,
        /// The permission the operation needs (`pull_requests: write`).
        permission: String,
    },
    /// Any other refusal.
    #[error("failed to {op}: {status} {message}")]
    Api {
        /// The operation.
        op: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's message with its details.
        message: String,
    },
    /// No answer (connection refused, DNS, timeout) to a request that was safe to resend, after
    /// the retries.
    #[error("failed to {op}: GitHub is unreachable: {reason}")]
    Unreachable {
        /// The operation.
        op: String,
        /// The network error.
        reason: String,
    },
    /// A write's answer was lost and what happened could not be established: it may or may
    /// not have taken effect. tidegate does not resend such writes blindly.
    #[error("failed to {op}: the answer was lost ({reason}) and the write may or may not have taken effect")]
    Uncertain {
        /// The operation.
        op: String,
        /// Why the answer was lost.
        reason: String,
    },
    /// Rate limited for longer than [`RetrySettings::deadline`] allows.
    #[error(
        "failed to {op}: rate limited by GitHub; the next attempt would be in {retry_in_secs} s, past the deadline of {deadline_secs} s"
    )]
    RateLimited {
        /// The operation.
        op: String,
        /// How long GitHub (or the back-off) asked to wait.
        retry_in_secs: u64,
        /// The configured deadline.
        deadline_secs: u64,
    },
    /// A 2xx answer without what it should hold.
    #[error("failed to {op}: unexpected answer from GitHub: {reason}")]
    Response {
        /// The operation.
        op: String,
        /// What was missing.
        reason: String,
    },
    /// The request itself is invalid (a branch name git refuses, an empty change).
    #[error("failed to {op}: {reason}")]
    Invalid {
        /// The operation.
        op: String,
        /// What is wrong.
        reason: String,
    },
}

/// The GitHub client of one repository. Cheap to clone: clones share the HTTP client, the
/// installation token, the request counter and the write lock.
#[derive(Clone)]
pub struct GitHub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub").field("api_url", &self.inner.api_url).field("repository", &self.repo()).finish()
    }
}

enum Credentials {
    Token(Secret),
    App {
        app: octocrab::auth::AppAuth,
        installation_id: u64,
        token: tokio::sync::Mutex<Option<(Secret, std::time::Instant)>>,
    },
}

struct Inner {
    api_url: String,
    owner: String,
    name: String,
    bot_login: Option<String>,
    credentials: Credentials,
    retry: RetrySettings,
    crab: tokio::sync::OnceCell<octocrab::Octocrab>,
    calls: AtomicU64,
    /// Held around every write sequence.
    writes: tokio::sync::Mutex<()>,
    /// Tree ids of base commits, so that updates skip a lookup.
    trees: std::sync::Mutex<Vec<(String, String)>>,
    /// What was last pushed to each branch.
    memo: std::sync::Mutex<std::collections::HashMap<String, upsert::Memo>>,
}

fn valid_repo_part(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl GitHub {
    /// A client for `settings.repository`. Checks the settings (URL, `owner/name`, the App's
    /// key); nothing is sent until the first call, which must run inside a tokio runtime.
    pub fn new(settings: GitHubSettings) -> Result<GitHub, GitHubError> {
        let url = settings.api_url.trim_end_matches('/').to_owned();
        let parsed: http::Uri = url
            .parse()
            .map_err(|e| GitHubError::Settings(format!("the API URL {:?} is not a URL: {e}", settings.api_url)))?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
            return Err(GitHubError::Settings(format!("the API URL {:?} must be http(s)://host[/path]", url)));
        }
        let (owner, name) = settings
            .repository
            .split_once('/')
            .filter(|(o, n)| valid_repo_part(o) && valid_repo_part(n))
            .ok_or_else(|| {
                GitHubError::Settings(format!("the repository {:?} is not of the form owner/name", settings.repository))
            })?;
        let credentials = match settings.auth {
            Auth::Token(t) if t.expose().trim().is_empty() => {
                return Err(GitHubError::Settings("the GitHub token is empty".into()));
            }
            Auth::Token(t) => Credentials::Token(t),
            Auth::App { app_id, installation_id, private_key_pem } => {
                let key = octocrab::EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes()).map_err(|e| {
                    GitHubError::Settings(format!("the GitHub App private key is not an RSA PEM key: {e}"))
                })?;
                Credentials::App {
                    app: octocrab::auth::AppAuth { app_id: octocrab::models::AppId(app_id), key },
                    installation_id,
                    token: tokio::sync::Mutex::new(None),
                }
            }
        };
        Ok(GitHub {
            inner: Arc::new(Inner {
                api_url: url,
                owner: owner.to_owned(),
                name: name.to_owned(),
                bot_login: settings.bot_login,
                credentials,
                retry: settings.retry,
                crab: tokio::sync::OnceCell::new(),
                calls: AtomicU64::new(0),
                writes: tokio::sync::Mutex::new(()),
                trees: std::sync::Mutex::new(Vec::new()),
                memo: std::sync::Mutex::new(std::collections::HashMap::new()),
            }),
        })
    }

    /// How many HTTP requests this client (and its clones) has sent, retries and App token
    /// requests included.
    pub fn api_calls(&self) -> u64 {
        self.inner.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The bot's own login, from the settings.
    pub fn bot_login(&self) -> Option<&str> {
        self.inner.bot_login.as_deref()
    }

    /// `owner/name`.
    pub fn repo(&self) -> String {
        format!("{}/{}", self.inner.owner, self.inner.name)
    }

    /// Forgets what this process pushed to `branch` (its pull request was merged or closed):
    /// the next promotion on it starts with creating the branch, not with looking for an open
    /// pull request.
    pub fn forget_branch(&self, branch: &str) {
        if let Ok(mut m) = self.inner.memo.lock() {
            m.remove(branch);
        }
    }

    /// `/repos/{owner}/{name}`.
    fn repo_path(&self) -> String {
        format!("/repos/{}/{}", enc(&self.inner.owner), enc(&self.inner.name))
    }

    /// Creates the promotion pull request, or brings the open one up to date: exactly one open
    /// pull request per branch. See `upsert.rs` for the steps and what each failure does.
    pub async fn upsert_promotion_pr(&self, pr: &PromotionPr) -> Result<PrOutcome, GitHubError> {
        let span = tracing::info_span!("github", op = "upsert_promotion_pr", branch = %pr.branch, status = tracing::field::Empty);
        async {
            let result = upsert::upsert(self, pr).await;
            let status = match &result {
                Ok(o) if o.created => "created",
                Ok(o) if o.changed => "updated",
                Ok(_) => "unchanged",
                Err(_) => "failed",
            };
            tracing::Span::current().record("status", status);
            result
        }
        .instrument(span)
        .await
    }

    /// The open pull request whose head is `branch` of this repository (not a fork's branch of
    /// the same name), if any.
    pub async fn find_open_pr(&self, branch: &str) -> Result<Option<PullRef>, GitHubError> {
        let span = tracing::info_span!("github", op = "find_open_pr", branch = %branch);
        Ok(self.find_open_pull(branch).instrument(span).await?.map(|p| p.pr))
    }

    /// Every open pull request of this repository whose head branch starts with
    /// `branch_prefix` (pull requests from forks are left out).
    pub async fn list_open_prs_with_prefix(&self, branch_prefix: &str) -> Result<Vec<PullRef>, GitHubError> {
        let span = tracing::info_span!("github", op = "list_open_prs", branch = %branch_prefix);
        async {
            let op = Op::new(format!("list the open pull requests of {}", self.repo()), "pull_requests: read");
            let mut out = Vec::new();
            // 10 pages of 100: far more promotion branches than any repository has.
            for page in 1..=10 {
                let path = format!("{}/pulls?state=open&per_page=100&page={page}", self.repo_path());
                let reply = self.send(&op, Method::GET, &path, None, Resend::Safe).await?;
                if !reply.ok() {
                    return Err(op.refused(&reply));
                }
                let v = reply.json();
                let items = v.as_array().ok_or_else(|| op.unexpected("not a list"))?;
                out.extend(
                    items
                        .iter()
                        .filter_map(|p| Pull::from_json(p, &self.repo()))
                        .filter(|p| p.pr.head_ref.starts_with(branch_prefix))
                        .map(|p| p.pr),
                );
                if items.len() < 100 {
                    break;
                }
            }
            Ok(out)
        }
        .instrument(span)
        .await
    }

    /// Comments on the pull request (why it is closed), then closes it.
    pub async fn close_pr(&self, number: u64, comment: &str) -> Result<(), GitHubError> {
        let span = tracing::info_span!("github", op = "close_pr", pr = number);
        async {
            let _writes = self.inner.writes.lock().await;
            if !comment.trim().is_empty() {
                self.post_comment(number, comment).await?;
            }
            let op = Op::new(format!("close the pull request #{number}"), "pull_requests: write");
            let path = format!("{}/pulls/{number}", self.repo_path());
            let reply = self.send(&op, Method::PATCH, &path, Some(&json!({"state": "closed"})), Resend::Safe).await?;
            if reply.ok() { Ok(()) } else { Err(op.refused(&reply)) }
        }
        .instrument(span)
        .await
    }

    /// Posts a comment on an issue or pull request. A body longer than GitHub's limit is cut
    /// at a character boundary with a note saying so. A comment whose answer is lost is looked
    /// for, never posted twice.
    pub async fn comment(&self, issue: u64, body: &str) -> Result<CommentRef, GitHubError> {
        let span = tracing::info_span!("github", op = "comment", issue);
        async {
            let _writes = self.inner.writes.lock().await;
            self.post_comment(issue, body).await
        }
        .instrument(span)
        .await
    }

    async fn post_comment(&self, issue: u64, body: &str) -> Result<CommentRef, GitHubError> {
        let op = Op::new(format!("comment on #{issue}"), "issues: write and pull_requests: write");
        let body = truncate_body(body);
        let path = format!("{}/issues/{issue}/comments", self.repo_path());
        let since = chrono::Utc::now() - chrono::Duration::seconds(60);
        let reply = match self.send_write(&op, Method::POST, &path, &json!({ "body": body })).await? {
            Outcome::Known(reply) => reply,
            Outcome::Unknown(error) => {
                // Look for it; never post it again.
                let find = Op::new(format!("look for the comment on #{issue} whose answer was lost"), "issues: read");
                let query = format!(
                    "{path}?since={}&per_page=100",
                    enc(&since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                );
                let found = self.send(&find, Method::GET, &query, None, Resend::Safe).await?;
                let v = found.json();
                let mine = v.as_array().into_iter().flatten().rev().find(|c| c["body"].as_str() == Some(body.as_str()));
                return match mine.and_then(comment_ref) {
                    Some(c) if found.ok() => Ok(c),
                    _ => Err(error),
                };
            }
        };
        if !reply.ok() {
            return Err(op.refused(&reply));
        }
        comment_ref(&reply.json()).ok_or_else(|| op.unexpected("the comment has no id"))
    }

    /// Adds a reaction to an issue comment (adding one that is there already is fine).
    pub async fn react(&self, comment_id: u64, reaction: Reaction) -> Result<(), GitHubError> {
        let span = tracing::info_span!("github", op = "react", comment_id, reaction = reaction.as_str());
        async {
            let _writes = self.inner.writes.lock().await;
            let op = Op::new(format!("react {} to the comment {comment_id}", reaction.as_str()), "issues: write");
            let path = format!("{}/issues/comments/{comment_id}/reactions", self.repo_path());
            let body = json!({ "content": reaction.as_str() });
            let reply = self.send(&op, Method::POST, &path, Some(&body), Resend::Safe).await?;
            if reply.ok() { Ok(()) } else { Err(op.refused(&reply)) }
        }
        .instrument(span)
        .await
    }

    /// The user's permission on the repository: GitHub's `role_name` (which knows maintain and
    /// triage) before the legacy `permission`. Someone who is not a collaborator has
    /// [`Permission::None`].
    pub async fn permission(&self, user: &str) -> Result<Permission, GitHubError> {
        let span = tracing::info_span!("github", op = "permission", user);
        async {
            let op = Op::new(format!("read the permission of {user} on {}", self.repo()), "metadata: read");
            let path = format!("{}/collaborators/{}/permission", self.repo_path(), enc(user));
            let reply = self.send(&op, Method::GET, &path, None, Resend::Safe).await?;
            if reply.status == 404 {
                return Ok(Permission::None);
            }
            if !reply.ok() {
                return Err(op.refused(&reply));
            }
            let v = reply.json();
            let role = v["role_name"].as_str().and_then(Permission::parse);
            role.or_else(|| v["permission"].as_str().and_then(Permission::parse))
                .ok_or_else(|| op.unexpected(format!("no known role_name or permission in {}", short(&reply.body))))
        }
        .instrument(span)
        .await
    }

    /// Sets a commit status on a commit (the description is cut to 140 characters).
    pub async fn set_status(&self, sha: &str, status: &CommitStatus) -> Result<(), GitHubError> {
        let span = tracing::info_span!("github", op = "set_status", sha, context = %status.context);
        async {
            let _writes = self.inner.writes.lock().await;
            self.post_status(sha, status).await
        }
        .instrument(span)
        .await
    }

    async fn post_status(&self, sha: &str, status: &CommitStatus) -> Result<(), GitHubError> {
        let op = Op::new(format!("set the status {} on {}", status.context, short_sha(sha)), "statuses: write");
        if !is_sha(sha) {
            return Err(GitHubError::Invalid { op: op.what, reason: format!("{sha:?} is not a commit id") });
        }
        let mut body = json!({
            "state": status.state.as_str(),
            "context": status.context,
            "description": cut(&status.description, MAX_STATUS_DESCRIPTION_CHARS),
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = Value::String(url.clone());
        }
        let path = format!("{}/statuses/{sha}", self.repo_path());
        let reply = self.send(&op, Method::POST, &path, Some(&body), Resend::Safe).await?;
        if reply.ok() { Ok(()) } else { Err(op.refused(&reply)) }
    }

    /// The open pull request of `branch`, with its labels.
    async fn find_open_pull(&self, branch: &str) -> Result<Option<Pull>, GitHubError> {
        let op = Op::new(format!("look for the open pull request of {branch}"), "pull_requests: read");
        // `head` must be `owner:branch`; a bare branch name is ignored by GitHub.
        let head = format!("{}:{branch}", self.inner.owner);
        let path = format!("{}/pulls?state=open&head={}&per_page=100", self.repo_path(), enc(&head));
        let reply = self.send(&op, Method::GET, &path, None, Resend::Safe).await?;
        if !reply.ok() {
            return Err(op.refused(&reply));
        }
        let v = reply.json();
        let items = v.as_array().ok_or_else(|| op.unexpected("not a list"))?;
        let mut pulls: Vec<Pull> =
            items.iter().filter_map(|p| Pull::from_json(p, &self.repo())).filter(|p| p.pr.head_ref == branch).collect();
        if pulls.len() > 1 {
            tracing::warn!(branch, count = pulls.len(), "several open pull requests for one branch; using the oldest");
        }
        pulls.sort_by_key(|p| p.pr.number);
        Ok(pulls.into_iter().next())
    }
}

/// An open pull request as listed, with what [`PullRef`] leaves out.
#[derive(Debug, Clone)]
struct Pull {
    pr: PullRef,
    labels: Vec<String>,
}

impl Pull {
    /// A pull request of `repo` (a fork's pull request gives `None`).
    fn from_json(p: &Value, repo: &str) -> Option<Pull> {
        let head_repo = p["head"]["repo"]["full_name"].as_str();
        if head_repo.is_some_and(|r| !r.eq_ignore_ascii_case(repo)) {
            return None;
        }
        Some(Pull {
            pr: PullRef {
                number: p["number"].as_u64()?,
                url: p["html_url"].as_str().unwrap_or_default().to_owned(),
                head_ref: p["head"]["ref"].as_str()?.to_owned(),
                head_sha: p["head"]["sha"].as_str()?.to_owned(),
                title: p["title"].as_str().unwrap_or_default().to_owned(),
                body: p["body"].as_str().unwrap_or_default().to_owned(),
            },
            labels: p["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["name"].as_str().map(str::to_owned))
                .collect(),
        })
    }
}

fn comment_ref(v: &Value) -> Option<CommentRef> {
    Some(CommentRef { id: v["id"].as_u64()?, url: v["html_url"].as_str().unwrap_or_default().to_owned() })
}

/// At most `max` characters, cut at a character boundary, ending in `…` when cut.
/// The git blob id of `content`: what GitHub's contents API calls a file's `sha`, and what a
/// [`FileChange::base_blob_sha`] holds.
pub fn git_blob_id(content: &[u8]) -> String {
    git2::Oid::hash_object(git2::ObjectType::Blob, content).map(|o| o.to_string()).unwrap_or_default()
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some(_) => {
            let end = s.char_indices().nth(max.saturating_sub(1)).map_or(s.len(), |(i, _)| i);
            format!("{}…", &s[..end])
        }
    }
}

/// A body within [`MAX_BODY_CHARS`], with a note when it had to be cut.
fn truncate_body(body: &str) -> String {
    const NOTE: &str = "\n\n… (cut: GitHub allows 65,536 characters)";
    if body.chars().count() <= MAX_BODY_CHARS {
        return body.to_owned();
    }
    let keep = MAX_BODY_CHARS - NOTE.chars().count();
    let end = body.char_indices().nth(keep).map_or(body.len(), |(i, _)| i);
    format!("{}{NOTE}", &body[..end])
}

fn is_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn short_sha(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

/// A response body quoted in an error.
fn short(s: &str) -> String {
    cut(s, 200)
}
