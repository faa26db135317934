//! [`Source`]: one tracked repository and branch, fetched into a bare cache repository.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use git2::{AutotagOption, Direction, FetchOptions, FetchPrune, Oid, RemoteCallbacks, Repository};
use sha2::{Digest, Sha256};
use tracing::{Span, debug, info, info_span};

use super::SourceError;
use super::auth::{self, Auth, CredentialState};
use super::tree::GitTree;
use super::url::{RepoUrl, UrlKind};

/// How long one refresh (waiting for another fetch of the same cache, asking the remote for
/// its head, fetching) may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The ref in the cache repository that holds the last good commit (the one served).
pub const LAST_GOOD_REF: &str = "refs/tidegate/last-good";

/// What to track and how: the configuration of a [`Source`].
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// `https://…`, `http://…`, `ssh://…`, `git@host:path`, `git://…`, `file://…` or a local
    /// path.
    pub url: String,
    /// The branch to track (`main`, not `refs/heads/main`).
    pub branch: String,
    /// Credentials.
    pub auth: Auth,
    /// Bound on one refresh (default [`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    /// Follow a branch head that does not descend from the last good commit (default false:
    /// keep serving the last good commit and report [`SourceError::ForcePushed`]).
    pub follow_force_push: bool,
}

impl SourceSpec {
    /// Tracks `branch` of `url` without credentials, with the default timeout, not following
    /// force-pushes.
    pub fn new(url: impl Into<String>, branch: impl Into<String>) -> Self {
        SourceSpec {
            url: url.into(),
            branch: branch.into(),
            auth: Auth::None,
            timeout: DEFAULT_TIMEOUT,
            follow_force_push: false,
        }
    }

    /// Sets the credentials.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Sets the bound on one refresh.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets whether force-pushes are followed.
    pub fn with_follow_force_push(mut self, follow: bool) -> Self {
        self.follow_force_push = follow;
        self
    }
}

/// One pinned commit of the tracked branch: every reconcile works on one of these. Cheap to
/// clone (the tree is an `Arc`).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The commit id (40 hex digits).
    pub commit: String,
    /// The tracked branch.
    pub branch: String,
    /// The commit's files.
    pub tree: GitTree,
}

/// The outcome of [`Source::refresh`] when there is something to serve.
#[derive(Debug, Clone)]
pub struct Refresh {
    /// The snapshot to serve: the branch head, or the last good commit when the refresh failed
    /// or the branch was force-pushed.
    pub snapshot: Snapshot,
    /// Whether objects were fetched (false when the remote head was already held).
    pub fetched: bool,
    /// Whether `snapshot` differs from the one the previous refresh of this `Source` served
    /// (true on the first refresh).
    pub changed: bool,
    /// Why the branch head is not what is served (fetch failure, timeout, force-push): the
    /// caller logs it and shows it in its status.
    pub error: Option<SourceError>,
}

/// One repository and branch, cached as a bare repository under
/// `<data_dir>/git/<first 16 hex of sha256(url, branch)>/`.
///
/// Refreshes of one cache are serialized across every `Source` of the process, and each is
/// bounded by the timeout. `Source` is `Send + Sync`.
#[derive(Debug)]
pub struct Source {
    url: RepoUrl,
    branch: String,
    auth: Auth,
    timeout: Duration,
    follow_force_push: bool,
    cache_dir: PathBuf,
    slot: Arc<FetchSlot>,
    /// The snapshot served last; held for the whole refresh, so refreshes of one `Source` are
    /// serialized.
    current: Mutex<Option<Snapshot>>,
}

impl Source {
    /// Validates `spec` and computes the cache directory under `data_dir` (created on the first
    /// refresh).
    pub fn new(spec: SourceSpec, data_dir: impl AsRef<Path>) -> Result<Source, SourceError> {
        let url = RepoUrl::parse(&spec.url)?;
        let branch = spec.branch.trim().to_string();
        let branch = branch.strip_prefix("refs/heads/").map(str::to_string).unwrap_or(branch);
        if branch.is_empty() || !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
            return Err(SourceError::InvalidBranch { url: url.to_string(), branch: spec.branch });
        }
        let data_dir = std::path::absolute(data_dir.as_ref()).map_err(|e| SourceError::Cache {
            url: url.to_string(),
            branch: branch.clone(),
            path: data_dir.as_ref().to_path_buf(),
            detail: e.to_string(),
        })?;
        let mut hasher = Sha256::new();
        hasher.update(url.identity().as_bytes());
        hasher.update(b"\n");
        hasher.update(branch.as_bytes());
        let key = hex::encode(hasher.finalize());
        let cache_dir = data_dir.join("git").join(&key[..16]);
        let slot = FetchSlot::for_path(&cache_dir);
        Ok(Source {
            url,
            branch,
            auth: spec.auth,
            timeout: spec.timeout,
            follow_force_push: spec.follow_force_push,
            cache_dir,
            slot,
            current: Mutex::new(None),
        })
    }

    /// The repository URL (prints redacted).
    pub fn url(&self) -> &RepoUrl {
        &self.url
    }

    /// The tracked branch.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The bare cache repository.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The last good commit held in the cache, without touching the network (`None` before the
    /// first successful refresh).
    pub fn last_good(&self) -> Result<Option<Snapshot>, SourceError> {
        if !self.cache_dir.join("HEAD").exists() {
            return Ok(None);
        }
        let repo = Repository::open_bare(&self.cache_dir).map_err(|e| self.cache_err(e.message()))?;
        match read_last_good(&repo) {
            Some(oid) => self.snapshot_of(oid, &self.lock_current()).map(Some),
            None => Ok(None),
        }
    }

    /// Brings the cache up to date with the branch head and says what to serve.
    ///
    /// Asks the remote for the head first and skips the fetch when the commit is already held.
    /// A fast-forward is followed; a head that does not descend from the last good commit is
    /// followed only with `follow_force_push`. On any failure (unreachable remote, refused
    /// credentials, timeout, missing branch, force-push) the last good commit is served and
    /// the reason is in [`Refresh::error`]. `Err` only when there is nothing to serve at all
    /// (the very first fetch failed).
    pub fn refresh(&self) -> Result<Refresh, SourceError> {
        let span = info_span!("git_refresh", url = %self.url, branch = %self.branch);
        let _entered = span.enter();
        let deadline = Instant::now() + self.timeout;
        let mut current = self.lock_current();
        let previous = current.as_ref().map(|s| s.commit.clone());

        let (serve, fetched, mut error) = match self.fetch_head(deadline, &span) {
            // The slot is held until the last good ref is written.
            Ok((repo, head, fetched, _slot)) => self.decide(&repo, head, fetched),
            Err(error) => {
                let last_good = Repository::open_bare(&self.cache_dir).ok().and_then(|r| read_last_good(&r));
                (last_good, false, Some(error))
            }
        };
        if let Some(e) = &error {
            debug!(error = %e, "refresh failed; serving the last good commit if there is one");
        }
        let snapshot = match serve {
            Some(oid) => match self.snapshot_of(oid, &current) {
                Ok(s) => Some(s),
                Err(e) => {
                    debug!(error = %e, "cannot open the commit to serve");
                    error.get_or_insert(e);
                    current.clone()
                }
            },
            // Nothing in the cache (it may have been deleted): keep what this process served.
            None => current.clone(),
        };
        let Some(snapshot) = snapshot else {
            return Err(error.unwrap_or_else(|| SourceError::Fetch {
                url: self.url.to_string(),
                branch: self.branch.clone(),
                detail: "nothing to serve".into(),
            }));
        };
        let changed = previous.as_deref() != Some(snapshot.commit.as_str());
        *current = Some(snapshot.clone());
        Ok(Refresh { snapshot, fetched, changed, error })
    }

    /// Under the fetch slot: opens (or creates) the cache, asks for the remote head, fetches
    /// when needed. Returns the cache, the branch head, whether a fetch happened, and the slot
    /// (still taken).
    fn fetch_head(&self, deadline: Instant, span: &Span) -> Result<(Repository, Oid, bool, SlotGuard), SourceError> {
        let guard = self
            .slot
            .acquire(deadline)
            .ok_or_else(|| self.timeout_err("another fetch of this repository was still running".to_string()))?;
        let repo = self.open_or_create_cache()?;
        let mut known: Vec<Oid> = Vec::new();
        known.extend(read_last_good(&repo));
        known.extend(repo.refname_to_id(&self.fetched_ref()).ok());
        let job = Job {
            url: self.url.clone(),
            branch: self.branch.clone(),
            auth: self.auth.clone(),
            timeout: self.timeout,
            cache_dir: self.cache_dir.clone(),
            fetched_ref: self.fetched_ref(),
            known,
            deadline,
        };
        let (tx, rx) = mpsc::channel();
        let worker_span = span.clone();
        std::thread::Builder::new()
            .name("tidegate-git-fetch".into())
            .spawn(move || {
                // The slot stays taken until the worker ends, even when the caller gave up on it:
                // a fetch that outlives its timeout still blocks the next one. Otherwise it goes
                // back to the caller with the result (and is freed if the caller is gone).
                let _entered = worker_span.enter();
                let result = job.run();
                let _ = tx.send((result, guard));
            })
            .map_err(|e| self.fetch_err(format!("cannot start the fetch thread: {e}")))?;
        let wait = deadline.saturating_duration_since(Instant::now());
        let (head, fetched, guard) = match rx.recv_timeout(wait) {
            Ok((result, guard)) => {
                let (head, fetched) = result?;
                (head, fetched, guard)
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(self.timeout_err("the remote did not answer in time".to_string()));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(self.fetch_err("the fetch thread stopped unexpectedly".to_string()));
            }
        };
        Ok((repo, head, fetched, guard))
    }

    /// Chooses what to serve given the branch head: the head itself, or the last good commit
    /// when the head does not descend from it (unless force-pushes are followed).
    fn decide(&self, repo: &Repository, head: Oid, fetched: bool) -> (Option<Oid>, bool, Option<SourceError>) {
        let last_good = read_last_good(repo);
        if let Some(good) = last_good
            && good != head
        {
            match repo.graph_descendant_of(head, good) {
                Ok(true) => info!(from = %good, to = %head, "fast-forward"),
                Ok(false) if self.follow_force_push => {
                    info!(from = %good, to = %head, "following a force-push");
                }
                Ok(false) => {
                    let error = SourceError::ForcePushed {
                        url: self.url.to_string(),
                        branch: self.branch.clone(),
                        from: good.to_string(),
                        to: head.to_string(),
                    };
                    return (Some(good), fetched, Some(error));
                }
                Err(e) => {
                    let error = self.fetch_err(format!("cannot compare {head} with {good}: {}", e.message()));
                    return (Some(good), fetched, Some(error));
                }
            }
        } else if last_good.is_none() {
            info!(commit = %head, "first commit of the branch");
        } else {
            debug!(commit = %head, "branch head unchanged");
        }
        if last_good != Some(head)
            && let Err(e) = repo.reference(LAST_GOOD_REF, head, true, "tidegate: last good")
        {
            let error = self.cache_err(&format!("cannot record the last good commit {head}: {}", e.message()));
            return (last_good, fetched, Some(error));
        }
        (Some(head), fetched, None)
    }

    fn snapshot_of(&self, oid: Oid, current: &Option<Snapshot>) -> Result<Snapshot, SourceError> {
        let commit = oid.to_string();
        if let Some(s) = current
            && s.commit == commit
        {
            return Ok(s.clone());
        }
        let tree = GitTree::open(&self.cache_dir, &commit)?;
        Ok(Snapshot { commit, branch: self.branch.clone(), tree })
    }

    fn open_or_create_cache(&self) -> Result<Repository, SourceError> {
        if self.cache_dir.join("HEAD").exists() {
            return Repository::open_bare(&self.cache_dir).map_err(|e| self.cache_err(e.message()));
        }
        std::fs::create_dir_all(&self.cache_dir).map_err(|e| self.cache_err(&e.to_string()))?;
        let repo = Repository::init_bare(&self.cache_dir).map_err(|e| self.cache_err(e.message()))?;
        // Reflogs would record libgit2's messages; nothing about the fetch is worth keeping.
        repo.config()
            .and_then(|mut c| c.set_bool("core.logAllRefUpdates", false))
            .map_err(|e| self.cache_err(e.message()))?;
        let description = format!("tidegate cache of {} branch {}\n", self.url, self.branch);
        std::fs::write(self.cache_dir.join("description"), description).map_err(|e| self.cache_err(&e.to_string()))?;
        info!(path = %self.cache_dir.display(), "created the git cache");
        Ok(repo)
    }

    fn fetched_ref(&self) -> String {
        format!("refs/tidegate/heads/{}", self.branch)
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, Option<Snapshot>> {
        self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cache_err(&self, detail: &str) -> SourceError {
        SourceError::Cache {
            url: self.url.to_string(),
            branch: self.branch.clone(),
            path: self.cache_dir.clone(),
            detail: detail.to_string(),
        }
    }

    fn fetch_err(&self, detail: String) -> SourceError {
        SourceError::Fetch { url: self.url.to_string(), branch: self.branch.clone(), detail }
    }

    fn timeout_err(&self, detail: String) -> SourceError {
        SourceError::Timeout { url: self.url.to_string(), branch: self.branch.clone(), after: self.timeout, detail }
    }
}

/// Reads the last good commit, if the ref exists and its commit is in the object database.
fn read_last_good(repo: &Repository) -> Option<Oid> {
    let oid = repo.refname_to_id(LAST_GOOD_REF).ok()?;
    repo.find_commit(oid).ok().map(|c| c.id())
}

/// The network part of a refresh, run on its own thread so that the caller can give up at the
/// deadline even when libgit2 is blocked on a silent socket.
struct Job {
    url: RepoUrl,
    branch: String,
    auth: Auth,
    timeout: Duration,
    cache_dir: PathBuf,
    fetched_ref: String,
    /// Commits already held: no fetch when the remote head is one of them.
    known: Vec<Oid>,
    deadline: Instant,
}

#[derive(Clone, Copy)]
enum Phase {
    Connect,
    Fetch,
}

impl Job {
    fn run(&self) -> Result<(Oid, bool), SourceError> {
        let version = git2::Version::get();
        match self.url.kind() {
            UrlKind::Https if !version.https() => {
                return Err(self.err(
                    Phase::Connect,
                    "this build of tidegate has no https support (libgit2 built without TLS)".into(),
                ));
            }
            UrlKind::Ssh if !version.ssh() => {
                return Err(self.err(
                    Phase::Connect,
                    "this build of tidegate has no ssh support (libgit2 built without libssh2)".into(),
                ));
            }
            _ => {}
        }
        let repo = Repository::open_bare(&self.cache_dir).map_err(|e| SourceError::Cache {
            url: self.url.to_string(),
            branch: self.branch.clone(),
            path: self.cache_dir.clone(),
            detail: e.message().to_string(),
        })?;
        // Anonymous: the URL (which may carry userinfo) is never written to the cache's config.
        let mut remote =
            repo.remote_anonymous(self.url.raw()).map_err(|e| self.classify(Phase::Connect, &e, &Probe::default()))?;

        let want = format!("refs/heads/{}", self.branch);
        let head = {
            let probe = Probe::default();
            let connection = remote
                .connect_auth(Direction::Fetch, Some(self.callbacks(&probe)), None)
                .map_err(|e| self.classify(Phase::Connect, &e, &probe))?;
            let heads = connection.list().map_err(|e| self.classify(Phase::Connect, &e, &probe))?;
            heads.iter().find(|h| h.name() == want).map(|h| h.oid())
        };
        let Some(head) = head else {
            return Err(SourceError::BranchNotFound { url: self.url.to_string(), branch: self.branch.clone() });
        };
        if self.known.contains(&head) {
            debug!(commit = %head, "remote head already held; fetch skipped");
            return Ok((head, false));
        }

        let probe = Probe::default();
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(self.callbacks(&probe))
            .download_tags(AutotagOption::None)
            .prune(FetchPrune::Off)
            // FETCH_HEAD would record the URL, userinfo included.
            .update_fetchhead(false);
        let refspec = format!("+refs/heads/{}:{}", self.branch, self.fetched_ref);
        // An explicit reflog message: libgit2's default one contains the URL.
        remote
            .fetch(&[refspec.as_str()], Some(&mut options), Some("tidegate: fetch"))
            .map_err(|e| self.classify(Phase::Fetch, &e, &probe))?;
        let stats = remote.stats();
        debug!(objects = stats.received_objects(), bytes = stats.received_bytes(), "fetched");
        let fetched = repo
            .refname_to_id(&self.fetched_ref)
            .map_err(|e| self.err(Phase::Fetch, format!("the fetched ref is missing: {}", e.message())))?;
        Ok((fetched, true))
    }

    /// Credentials, and aborting once the deadline passed (libgit2 has no overall timeout, but
    /// it calls these while data flows).
    fn callbacks<'a>(&'a self, probe: &'a Probe) -> RemoteCallbacks<'a> {
        let deadline = self.deadline;
        let mut cb = RemoteCallbacks::new();
        cb.credentials(move |_url, username_from_url, allowed| {
            if Instant::now() >= deadline {
                probe.timed_out.set(true);
                return Err(git2::Error::from_str("deadline passed"));
            }
            auth::credentials(&self.auth, &mut probe.credentials.borrow_mut(), username_from_url, allowed)
        });
        cb.transfer_progress(move |_progress| {
            let alive = Instant::now() < deadline;
            probe.timed_out.set(probe.timed_out.get() || !alive);
            alive
        });
        cb.sideband_progress(move |_text| {
            let alive = Instant::now() < deadline;
            probe.timed_out.set(probe.timed_out.get() || !alive);
            alive
        });
        cb
    }

    fn classify(&self, phase: Phase, e: &git2::Error, probe: &Probe) -> SourceError {
        let detail = self.scrub(e.message());
        if probe.timed_out.get() {
            return SourceError::Timeout {
                url: self.url.to_string(),
                branch: self.branch.clone(),
                after: self.timeout,
                detail,
            };
        }
        if probe.credentials.borrow().rejected || e.code() == git2::ErrorCode::Auth {
            return SourceError::Auth { url: self.url.to_string(), branch: self.branch.clone(), detail };
        }
        self.err(phase, detail)
    }

    fn err(&self, phase: Phase, detail: String) -> SourceError {
        let (url, branch) = (self.url.to_string(), self.branch.clone());
        match phase {
            Phase::Connect => SourceError::Unreachable { url, branch, detail },
            Phase::Fetch => SourceError::Fetch { url, branch, detail },
        }
    }

    fn scrub(&self, text: &str) -> String {
        let mut out = self.url.scrub(text);
        for secret in self.auth.secrets() {
            if !secret.is_empty() {
                out = out.replace(secret, "***");
            }
        }
        out
    }
}

/// What the callbacks of one connection observed.
#[derive(Default)]
struct Probe {
    credentials: RefCell<CredentialState>,
    timed_out: Cell<bool>,
}

/// Serializes fetches of one cache directory across every `Source` of the process.
#[derive(Debug, Default)]
struct FetchSlot {
    busy: Mutex<bool>,
    freed: Condvar,
}

/// Holds a [`FetchSlot`]; frees it when dropped.
struct SlotGuard(Arc<FetchSlot>);

impl FetchSlot {
    /// The slot of `path`, shared by every `Source` of the process with the same cache.
    fn for_path(path: &Path) -> Arc<FetchSlot> {
        static SLOTS: OnceLock<Mutex<HashMap<PathBuf, Weak<FetchSlot>>>> = OnceLock::new();
        let mut slots = SLOTS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get(path).and_then(Weak::upgrade) {
            return slot;
        }
        slots.retain(|_, weak| weak.strong_count() > 0);
        let slot = Arc::new(FetchSlot::default());
        slots.insert(path.to_path_buf(), Arc::downgrade(&slot));
        slot
    }

    /// Waits until the slot is free (or `deadline` passes) and takes it.
    fn acquire(self: &Arc<Self>, deadline: Instant) -> Option<SlotGuard> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        while *busy {
            let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
            busy = self.freed.wait_timeout(busy, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        *busy = true;
        Some(SlotGuard(Arc::clone(self)))
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.0.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn sources_and_snapshots_can_be_shared_across_threads() {
        assert_send_sync::<Source>();
        assert_send_sync::<Snapshot>();
        assert_send_sync::<Refresh>();
    }

    #[test]
    fn the_cache_is_named_by_url_and_branch_without_credentials() {
        let data = tempfile::tempdir().unwrap();
        let a = Source::new(SourceSpec::new("https://u:p@example.com/org/repo.git", "main"), data.path()).unwrap();
        let b =
            Source::new(SourceSpec::new("https://example.com/org/repo.git", "refs/heads/main"), data.path()).unwrap();
        let c = Source::new(SourceSpec::new("https://example.com/org/repo.git", "dev"), data.path()).unwrap();
        assert_eq!(a.cache_dir(), b.cache_dir());
        assert_ne!(a.cache_dir(), c.cache_dir());
        assert_eq!(b.branch(), "main");
        assert!(!a.cache_dir().exists(), "created on first use");
        assert!(a.last_good().unwrap().is_none());
    }
}
