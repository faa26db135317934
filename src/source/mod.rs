//! The git source adapter: which commit a repository checkout is at.
//!
//! Owns: git access (git2). Must not touch: rendering, the cluster. The reconciler's fetching
//! and pinned snapshots will live here too.

use std::path::Path;

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
