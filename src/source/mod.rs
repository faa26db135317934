//! The git source adapter: fetching a tracked branch into a local cache and serving pinned
//! snapshots of it.
//!
//! Owns: git access (git2). Must not touch: rendering, the cluster.
//!
//! - [`Source`] tracks one repository and branch. [`Source::refresh`] asks the remote for the
//!   branch head without fetching (like `git ls-remote`), fetches only when it moved, refuses
//!   force-pushes unless told to follow them, and on any failure keeps serving the last good
//!   commit, which survives restarts (the ref `refs/tidegate/last-good` in the cache).
//! - [`Snapshot`] is one pinned commit; its [`GitTree`] is the
//!   [`SourceTree`](crate::render::fs::SourceTree) the renderer reads.
//! - Credentials ([`Auth`]) reach libgit2 only through its credentials callback: never in a
//!   URL, never on disk, never in a message. URLs print redacted ([`RepoUrl`]).
//!
//! The API is synchronous: async callers use `tokio::task::spawn_blocking`.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod auth;
mod remote;
mod tree;
mod url;

pub use auth::{Auth, Secret, TOKEN_ENV, TOKEN_USERNAME};
pub use remote::{DEFAULT_TIMEOUT, LAST_GOOD_REF, Refresh, Snapshot, Source, SourceSpec};
pub use tree::GitTree;
pub use url::{RepoUrl, UrlKind};

/// Everything that can go wrong while tracking a git repository. Messages never contain a
/// credential: URLs are redacted and libgit2's messages are scrubbed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The repository URL or path could not be understood.
    #[error("failed to parse repository url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL (redacted).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The branch name is not a valid git branch name.
    #[error("failed to track branch {branch:?} of {url}: not a valid branch name")]
    InvalidBranch {
        /// The URL (redacted).
        url: String,
        /// The branch as given.
        branch: String,
    },
    /// A token could not be loaded from the environment or a file.
    #[error("failed to read the git token from {origin}: {reason}")]
    Token {
        /// Where the token was looked for (variable or file name, never the token).
        origin: String,
        /// Why it could not be used.
        reason: String,
    },
    /// The local cache repository could not be created or opened.
    #[error("failed to prepare the git cache {} for {url} branch {branch}: {detail}", path.display())]
    Cache {
        /// The URL (redacted).
        url: String,
        /// The tracked branch.
        branch: String,
        /// The cache directory.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The remote could not be reached or did not speak git (connection refused, DNS, TLS,
    /// unsupported transport).
    #[error("failed to reach {url} for branch {branch}: {detail}")]
    Unreachable {
        /// The URL (redacted).
        url: String,
        /// The tracked branch.
        branch: String,
        /// What went wrong (scrubbed of credentials).
        detail: String,
    },
    /// The remote refused the credentials, or asked for credentials when none are configured.
    #[error("failed to authenticate to {url} for branch {branch}: {detail}; check the token or key")]
    Auth {
        /// The URL (redacted).
        url: String,
        /// The tracked branch.
        branch: String,
        /// What went wrong (scrubbed of credentials).
        detail: String,
    },
    /// The remote has no such branch.
    #[error("failed to find branch {branch} on {url}: the remote has no refs/heads/{branch}")]
    BranchNotFound {
        /// The URL (redacted).
        url: String,
        /// The tracked branch.
        branch: String,
    },
    /// The fetch itself failed after the remote was reached.
    #[error("failed to fetch branch {branch} from {url}: {detail}")]
    Fetch {
        /// The URL (redacted).
        url: String,
        /// The tracked branch.
        branch: String,
        /// What went wrong (scrubbed of credentials).
        detail: String,
    },
    /// The refresh did not finish within the configured timeout.
    #[error("failed to fetch branch {branch} from {url}: timed out after {after:?} ({detail})")]
    Timeout {
        /// The URL (redacted).
        url: String,
        /// The tracked branch.
        branch: String,
        /// The timeout that passed.
        after: Duration,
        /// What was going on.
        detail: String,
    },
    /// The branch head no longer descends from the last good commit (a force-push or a reset);
    /// the last good commit keeps being served unless `follow_force_push` is set.
    #[error(
        "failed to follow branch {branch} of {url}: it was force-pushed from {from} to {to}, which does not \
         descend from it; still serving {from} (enable follow_force_push to follow it)"
    )]
    ForcePushed {
        /// The URL (redacted).
        url: String,
        /// The tracked branch.
        branch: String,
        /// The last good commit, still served.
        from: String,
        /// The new branch head, not followed.
        to: String,
    },
    /// A commit could not be opened in a local repository.
    #[error("failed to open commit {rev} in {}: {detail}", path.display())]
    Revision {
        /// The repository directory.
        path: PathBuf,
        /// The revision asked for.
        rev: String,
        /// What went wrong.
        detail: String,
    },
}

/// The commit `HEAD` points at in the repository whose work tree is `dir`, or `None` when
/// `dir` is not the top of a git work tree or has no commits.
pub fn head_commit(dir: &Path) -> Option<String> {
    let repo = git2::Repository::open(dir).ok()?;
    let commit = repo.head().ok()?.peel_to_commit().ok()?;
    Some(commit.id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_head_of_a_real_repository() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(head_commit(dir.path()), None);
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git").args(args).current_dir(dir.path()).output().unwrap();
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        git(&["init", "-q"]);
        assert_eq!(head_commit(dir.path()), None, "no commits yet");
        std::fs::write(dir.path().join("f"), "x").unwrap();
        git(&["add", "f"]);
        git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first"]);
        let want = git(&["rev-parse", "HEAD"]);
        assert_eq!(head_commit(dir.path()).as_deref(), Some(want.trim()));
    }
}
