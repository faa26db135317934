//! A fake GitHub REST API server for tidegate's tests and benchmarks.
//!
//! It serves plain HTTP on loopback and behaves like `api.github.com` for what a promotion bot
//! uses: repositories, git refs, the contents API, pull requests (open, list, update, merge),
//! issue comments, labels and reactions, commit statuses, collaborator permissions and GitHub
//! App installation tokens. Git data is real: each repository is registered with a path to a
//! git repository on disk, and every commit the API creates (contents API, merges, git data
//! API) is a real commit there, so a client that fetches the repository sees it.
//!
//! Every request is checked against GitHub's official OpenAPI description (a vendored subset
//! of `@octokit/openapi`, see `openapi/README.md`): the method and path template must exist,
//! path and query parameters must have the declared types and enums, and JSON bodies must
//! match the operation's request body schema. A violation is recorded ([`FakeGitHub::violations`])
//! and answered like GitHub (`422 Invalid request.` or `404 Not Found`). The fake's own 2xx
//! responses are checked against the response schemas too ([`FakeGitHub::response_violations`]).
//!
//! What is faithful: error statuses and bodies (`Bad credentials`, `Not Found`, `Invalid
//! request.`, `Validation Failed` with `errors`, `Reference already exists`, `Update is not a
//! fast forward`, `A pull request already exists for owner:branch.`, `No commits between …`,
//! `Body is too long (maximum is 65536 characters)`, 409 on a stale contents `sha`, 405 on an
//! unmergeable pull request); `head` filters need `owner:branch` (a bare branch is ignored and
//! everything is listed); pull request numbers shared with issues; `merge` makes a merge commit
//! (never a fast-forward), `squash` one commit, `rebase` replays the commits; the permission
//! endpoint's legacy `permission` (`maintain`→`write`, `triage`→`read`, `read`/`none` for
//! non-collaborators of public/private repositories, 404 for unknown users); POST accepted
//! where only PATCH exists; rate-limit and request-id headers; `Link` pagination headers.
//!
//! What is approximated: no anonymous access (every request needs a token); one owner (no
//! forks, so `head` must be a branch of the same repository); unknown routes answer 404 before
//! authentication is checked; `mergeable` is computed at once (never `null`);
//! `additions`/`deletions`/`changed_files` are 0; labels are created on first use with a
//! default colour; the rate limit never runs out unless a fault says so; response bodies start
//! from the description's examples, so fields the fake does not track keep example values.
//!
//! ```no_run
//! # async fn demo() {
//! let gh = fake_github::FakeGitHub::start().await;
//! gh.add_repo("acme/gitops", std::path::Path::new("/tmp/gitops.git"));
//! // … point the code under test at gh.url() with the token "test-token" …
//! assert!(gh.violations().is_empty());
//! # }
//! ```

mod git;
mod http;
mod jwt;
mod routes;
mod schema;
mod shapes;
mod spec;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::state::{ActiveFault, Repo, State};

/// Settings of a fake server.
#[derive(Debug, Clone)]
pub struct Options {
    /// A personal access token the server accepts (`Authorization: token T` or `Bearer T`);
    /// default `test-token`. `None`: only installation tokens are accepted.
    pub token: Option<String>,
    /// The user [`Options::token`] authenticates as (default `tidegate-bot`).
    pub token_user: String,
    /// A GitHub App whose installation can get tokens.
    pub app: Option<AppConfig>,
    /// The web base of `html_url`s (default `https://github.com`).
    pub web_base: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token: Some("test-token".into()),
            token_user: "tidegate-bot".into(),
            app: None,
            web_base: "https://github.com".into(),
        }
    }
}

/// A GitHub App the fake knows.
#[derive(Debug, Clone, Default)]
pub struct AppConfig {
    /// The app id, the JWT's `iss` claim.
    pub app_id: u64,
    /// The installation that can mint tokens.
    pub installation_id: u64,
    /// The app's slug; installation tokens act as `SLUG[bot]` (default `tidegate`).
    pub slug: String,
    /// PEM public key (PKCS#1 or SPKI) the JWT's RS256 signature is verified against; without it
    /// only the JWT's structure and claims are checked.
    pub public_key_pem: Option<String>,
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Arrival order, from 1 (not reset by [`FakeGitHub::reset_requests`]).
    pub seq: u64,
    /// HTTP method, upper case.
    pub method: String,
    /// Path without the query, as sent (percent-encoded).
    pub path: String,
    /// Decoded query parameters.
    pub query: BTreeMap<String, String>,
    /// The JSON body (`None` when empty; a string when it was not JSON).
    pub body: Option<Value>,
    /// The response status (0 while being served or when the connection was dropped).
    pub status: u16,
    /// The OpenAPI operation id (`pulls/create`), when the route is served.
    pub operation: Option<String>,
    /// When it arrived.
    pub at: SystemTime,
}

/// A fault to inject. Matching requests (method and path regex) are counted; after `skip`
/// of them pass, the next `times` are affected.
#[derive(Debug, Clone, Default)]
pub struct Fault {
    /// Only requests with this method (case-insensitive); any when `None`.
    pub method: Option<String>,
    /// Only requests whose path (without query) matches this regex; any when `None`.
    pub path_regex: Option<String>,
    /// Let this many matching requests through first.
    pub skip: usize,
    /// How many matching requests it affects (after `skip`).
    pub times: usize,
    /// The status to answer with; 0 serves the request normally (after `delay`).
    pub status: u16,
    /// Extra response headers (`retry-after`, `x-ratelimit-remaining`, …).
    pub headers: Vec<(String, String)>,
    /// The response body (`null`: `{"message": "<reason phrase>"}`).
    pub body: Value,
    /// Wait this long before answering.
    pub delay: Option<Duration>,
    /// Serve the request (state changes happen), then answer with `status` instead: a write
    /// that succeeded but whose answer was lost.
    pub apply_then_fail: bool,
    /// Close the connection without any answer instead of sending `status` (with
    /// `apply_then_fail`: after the write).
    pub drop_connection: bool,
}

impl Fault {
    /// The next matching request (`method`, `path_regex`) is answered with `status`.
    pub fn status(method: &str, path_regex: &str, status: u16) -> Fault {
        Fault { method: Some(method.into()), path_regex: Some(path_regex.into()), times: 1, status, ..Fault::default() }
    }

    /// GitHub's secondary rate limit: 403 with `retry-after`, nothing changes.
    pub fn secondary_rate_limit(method: &str, path_regex: &str, retry_after_secs: u64) -> Fault {
        Fault {
            headers: vec![("retry-after".into(), retry_after_secs.to_string())],
            body: serde_json::json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.",
                "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "status": "403"
            }),
            ..Fault::status(method, path_regex, 403)
        }
    }

    /// The request is served, but its answer is lost: 502 (or a dropped connection with
    /// [`Fault::drop_connection`]).
    pub fn lost_answer(method: &str, path_regex: &str) -> Fault {
        Fault { apply_then_fail: true, ..Fault::status(method, path_regex, 502) }
    }

    /// Affects `n` matching requests instead of one.
    pub fn times(self, n: usize) -> Fault {
        Fault { times: n, ..self }
    }

    /// Lets `n` matching requests through before it fires.
    pub fn skip(self, n: usize) -> Fault {
        Fault { skip: n, ..self }
    }
}

/// State shared by the server and the handles.
pub(crate) struct Shared {
    pub state: Mutex<State>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Server {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A running fake GitHub. Clones share the server; it stops when the last clone is dropped.
/// The server runs on its own thread and runtime, so it serves blocking and async tests alike.
#[derive(Clone)]
pub struct FakeGitHub {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _server: Arc<Mutex<Server>>,
}

impl FakeGitHub {
    /// Starts a server on a free loopback port with [`Options::default`].
    pub async fn start() -> FakeGitHub {
        FakeGitHub::start_blocking(Options::default())
    }

    /// Starts a server on a free loopback port with `opts`.
    pub async fn start_with(opts: Options) -> FakeGitHub {
        FakeGitHub::start_blocking(opts)
    }

    /// Starts a server without an async context (it never blocks for long).
    pub fn start_blocking(opts: Options) -> FakeGitHub {
        FakeGitHub::start_at(([127, 0, 0, 1], 0).into(), opts).expect("failed to start the fake GitHub on loopback")
    }

    /// Starts a server listening on `addr` (port 0 picks a free one).
    pub fn start_at(addr: SocketAddr, opts: Options) -> std::io::Result<FakeGitHub> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = State::new(opts, format!("http://{addr}"));
        let shared = Arc::new(Shared { state: Mutex::new(state) });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-github")
            .enable_all()
            .build()?;
        let server_shared = shared.clone();
        let thread = std::thread::Builder::new().name("fake-github-server".into()).spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                http::serve(listener, server_shared, rx).await;
            });
            runtime.shutdown_timeout(Duration::from_millis(200));
        })?;
        let server = Server { shutdown: Some(tx), thread: Some(thread) };
        Ok(FakeGitHub { shared, addr, _server: Arc::new(Mutex::new(server)) })
    }

    /// The API base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers `owner/name`, served from the git repository at `git_dir` (bare or not; with a
    /// non-bare one the fake moves refs without touching the work tree). Public by default.
    pub fn add_repo(&self, full_name: &str, git_dir: &Path) {
        let (owner, name) = full_name.split_once('/').expect("full_name is owner/name");
        let mut st = self.shared.lock();
        let id = state::bump(&mut st.next_id);
        let repo = Repo {
            id,
            owner: owner.into(),
            name: name.into(),
            git_dir: git_dir.to_path_buf(),
            private: false,
            roles: BTreeMap::new(),
            issues: BTreeMap::new(),
            comments: Vec::new(),
            reactions: Vec::new(),
            statuses: Vec::new(),
            labels: BTreeMap::new(),
        };
        st.repos.insert(full_name.to_ascii_lowercase(), repo);
    }

    /// Makes a repository private (non-collaborators get permission `none`) or public (`read`).
    pub fn set_private(&self, full_name: &str, private: bool) {
        self.with_repo(full_name, |r| r.private = private);
    }

    /// Makes `user` a collaborator with `role` (`admin`, `maintain`, `write`, `triage`, `read`);
    /// `none` removes them.
    pub fn set_permission(&self, full_name: &str, user: &str, role: &str) {
        let user = user.to_ascii_lowercase();
        self.add_user(&user);
        self.with_repo(full_name, |r| {
            if role == "none" {
                r.roles.remove(&user);
            } else {
                r.roles.insert(user.clone(), role.to_string());
            }
        });
    }

    /// Makes `login` a user that exists (for the permission endpoint's 404).
    pub fn add_user(&self, login: &str) {
        let mut st = self.shared.lock();
        if !st.user_exists(login) {
            st.users.push(login.to_string());
        }
    }

    /// Accepts `token` as a personal access token of `user`.
    pub fn set_token(&self, token: &str, user: &str) {
        let info = state::TokenInfo { login: user.to_string(), expires_at: None };
        self.shared.lock().tokens.insert(token.to_string(), info);
    }

    /// Stops accepting `token`.
    pub fn revoke_token(&self, token: &str) {
        self.shared.lock().tokens.remove(token);
    }

    /// Configures the GitHub App whose JWTs mint installation tokens.
    pub fn set_app(&self, app: AppConfig) {
        self.shared.lock().opts.app = Some(app);
    }

    /// Adds a fault; faults are matched in the order they were injected.
    pub fn inject(&self, fault: Fault) {
        let regex = fault.path_regex.as_deref().map(|r| regex::Regex::new(r).expect("Fault::path_regex is a regex"));
        self.shared.lock().faults.push(ActiveFault { fault, regex, seen: 0, fired: 0 });
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Every request since start or the last [`FakeGitHub::reset_requests`], in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// How many recorded requests have `method` and a path matching `path_regex`.
    pub fn count(&self, method: &str, path_regex: &str) -> usize {
        let re = regex::Regex::new(path_regex).expect("count: path_regex is a regex");
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && re.is_match(&r.path))
            .count()
    }

    /// Forgets the recorded requests and violations.
    pub fn reset_requests(&self) {
        let mut st = self.shared.lock();
        st.requests.clear();
        st.violations.clear();
        st.response_violations.clear();
    }

    /// Requests that broke GitHub's OpenAPI description:
    /// `METHOD /path: /json/pointer: reason`.
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// 2xx responses of the fake itself that do not match the description's response schema
    /// (a bug in the fake; its own tests assert there are none).
    pub fn response_violations(&self) -> Vec<String> {
        self.shared.lock().response_violations.clone()
    }

    /// The repository's pull requests as `GET /pulls/{n}` returns them, by number.
    pub fn pulls(&self, full_name: &str) -> Vec<Value> {
        let st = self.shared.lock();
        let Some(repo) = st.repos.get(&full_name.to_ascii_lowercase()) else { return Vec::new() };
        let urls = shapes::Urls::of(&st);
        let git = git::Git::open(&repo.git_dir).ok();
        repo.issues.values().filter(|i| i.pull.is_some()).map(|i| shapes::pull(&urls, repo, i, git.as_ref())).collect()
    }

    /// The comments on an issue or pull request, oldest first.
    pub fn comments(&self, full_name: &str, issue: u64) -> Vec<Value> {
        let st = self.shared.lock();
        let Some(repo) = st.repos.get(&full_name.to_ascii_lowercase()) else { return Vec::new() };
        let urls = shapes::Urls::of(&st);
        repo.comments.iter().filter(|c| c.issue == issue).map(|c| shapes::comment(&urls, repo, c)).collect()
    }

    /// The reactions on an issue comment.
    pub fn reactions(&self, full_name: &str, comment_id: u64) -> Vec<Value> {
        let st = self.shared.lock();
        let Some(repo) = st.repos.get(&full_name.to_ascii_lowercase()) else { return Vec::new() };
        let urls = shapes::Urls::of(&st);
        repo.reactions.iter().filter(|r| r.comment_id == comment_id).map(|r| shapes::reaction(&urls, r)).collect()
    }

    /// The label names of an issue or pull request.
    pub fn labels(&self, full_name: &str, issue: u64) -> Vec<String> {
        let st = self.shared.lock();
        st.repos
            .get(&full_name.to_ascii_lowercase())
            .and_then(|r| r.issues.get(&issue))
            .map(|i| i.labels.clone())
            .unwrap_or_default()
    }

    /// The statuses of a commit, newest first.
    pub fn statuses(&self, full_name: &str, sha: &str) -> Vec<Value> {
        let st = self.shared.lock();
        let Some(repo) = st.repos.get(&full_name.to_ascii_lowercase()) else { return Vec::new() };
        let urls = shapes::Urls::of(&st);
        repo.statuses.iter().rev().filter(|s| s.sha == sha).map(|s| shapes::status(&urls, repo, s)).collect()
    }

    /// Opens an issue (not a pull request) directly, e.g. for comment commands; its number.
    pub fn add_issue(&self, full_name: &str, title: &str, user: &str) -> u64 {
        let mut st = self.shared.lock();
        let id = state::bump(&mut st.next_id);
        let repo = st.repos.get_mut(&full_name.to_ascii_lowercase()).expect("add_issue: unknown repository");
        let number = repo.next_number();
        let t = state::now();
        let issue = state::Issue {
            id,
            number,
            title: title.into(),
            body: None,
            state: "open".into(),
            user: user.into(),
            labels: Vec::new(),
            created_at: t,
            updated_at: t,
            closed_at: None,
            pull: None,
        };
        repo.issues.insert(number, issue);
        number
    }

    fn with_repo(&self, full_name: &str, f: impl FnOnce(&mut Repo)) {
        let mut st = self.shared.lock();
        let repo = st
            .repos
            .get_mut(&full_name.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("unknown repository {full_name}"));
        f(repo);
    }
}
