//! Read-only access to a repository tree, confined to its root.
//!
//! Rendering never touches the filesystem directly: it asks a [`SourceTree`] for files under
//! repository-relative [`RepoPath`]s. A `RepoPath` can only be made by normalising a path that
//! stays inside the root, so a kustomization cannot read `../../etc/passwd`; the on-disk
//! implementation also refuses symlinks that lead outside the root.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

/// A normalised path relative to the repository root: no `.`/`..` components, `/`-separated,
/// empty for the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RepoPath(String);

/// A path that would leave the repository root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path {path:?} leads outside the repository root")]
pub struct EscapesRoot {
    /// The offending path as written.
    pub path: String,
}

impl RepoPath {
    /// The repository root.
    pub fn root() -> Self {
        RepoPath(String::new())
    }

    /// Parses a repository-relative path such as `overlays/dev/keda`.
    pub fn new(path: &str) -> Result<Self, EscapesRoot> {
        if Path::new(path).is_absolute() {
            return Err(EscapesRoot { path: path.to_string() });
        }
        Self::root().join(path)
    }

    /// Resolves `rel` (relative, may contain `..`) against this directory.
    pub fn join(&self, rel: &str) -> Result<Self, EscapesRoot> {
        if Path::new(rel).is_absolute() {
            return Err(EscapesRoot { path: rel.to_string() });
        }
        let mut parts: Vec<&str> = self.0.split('/').filter(|p| !p.is_empty()).collect();
        for part in rel.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(EscapesRoot { path: rel.to_string() });
                    }
                }
                p => parts.push(p),
            }
        }
        Ok(RepoPath(parts.join("/")))
    }

    /// The parent directory (the root's parent is the root).
    pub fn parent(&self) -> RepoPath {
        match self.0.rfind('/') {
            Some(i) => RepoPath(self.0[..i].to_string()),
            None => RepoPath::root(),
        }
    }

    /// The last component, empty for the root.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// True if `self` is `dir` or lies below it.
    pub fn starts_with(&self, dir: &RepoPath) -> bool {
        dir.0.is_empty() || self.0 == dir.0 || self.0.starts_with(&format!("{}/", dir.0))
    }

    /// The path as a string (`""` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() { f.write_str(".") } else { f.write_str(&self.0) }
    }
}

/// What a path points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// A read-only repository tree: a checkout on disk, or a git commit.
pub trait SourceTree: Send + Sync {
    /// Reads a file's bytes.
    fn read(&self, path: &RepoPath) -> io::Result<Vec<u8>>;
    /// What `path` is, or `None` when it does not exist.
    fn kind(&self, path: &RepoPath) -> Option<EntryKind>;
    /// Names of the entries of a directory, sorted.
    fn list(&self, path: &RepoPath) -> io::Result<Vec<String>>;
    /// A file's size in bytes without reading it, when the tree can tell (renders refuse a file
    /// larger than their budget before it is read into memory).
    fn size(&self, path: &RepoPath) -> Option<u64> {
        let _ = path;
        None
    }
    /// A human-readable location for messages (e.g. the checkout path).
    fn describe(&self, path: &RepoPath) -> String {
        path.to_string()
    }
}

/// A repository checked out on disk.
#[derive(Debug, Clone)]
pub struct DiskTree {
    root: PathBuf,
}

impl DiskTree {
    /// Opens the tree rooted at `root` (which must exist).
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = root.as_ref().canonicalize()?;
        Ok(DiskTree { root })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps a path on disk (absolute, or relative to the current directory) into the tree.
    pub fn repo_path_of(&self, path: &Path) -> Result<RepoPath, EscapesRoot> {
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
        };
        let abs = abs.canonicalize().unwrap_or_else(|_| lexical_normalise(&abs));
        let rel = abs.strip_prefix(&self.root).map_err(|_| EscapesRoot { path: path.display().to_string() })?;
        RepoPath::new(&rel.to_string_lossy().replace('\\', "/"))
    }

    /// The on-disk path of `path`, refusing symlinks that resolve outside the root.
    fn resolve(&self, path: &RepoPath) -> io::Result<PathBuf> {
        let joined = self.root.join(path.as_str());
        let real = joined.canonicalize()?;
        if !real.starts_with(&self.root) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{path} is a symlink that leads outside the repository root"),
            ));
        }
        Ok(real)
    }
}

fn lexical_normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

impl SourceTree for DiskTree {
    fn read(&self, path: &RepoPath) -> io::Result<Vec<u8>> {
        std::fs::read(self.resolve(path)?)
    }

    fn size(&self, path: &RepoPath) -> Option<u64> {
        std::fs::metadata(self.resolve(path).ok()?).ok().map(|m| m.len())
    }

    fn kind(&self, path: &RepoPath) -> Option<EntryKind> {
        let real = self.resolve(path).ok()?;
        let meta = std::fs::metadata(real).ok()?;
        if meta.is_dir() {
            Some(EntryKind::Dir)
        } else if meta.is_file() {
            Some(EntryKind::File)
        } else {
            None
        }
    }

    fn list(&self, path: &RepoPath) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.resolve(path)?)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn describe(&self, path: &RepoPath) -> String {
        path.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_and_cannot_escape() {
        let dir = RepoPath::new("overlays/dev/keda").unwrap();
        assert_eq!(dir.join("../../../apps-of-apps/core/keda/base").unwrap().as_str(), "apps-of-apps/core/keda/base");
        assert_eq!(dir.join("./patch.yaml").unwrap().as_str(), "overlays/dev/keda/patch.yaml");
        assert!(dir.join("../../../../etc/passwd").is_err());
        assert!(RepoPath::new("/etc/passwd").is_err());
        assert!(RepoPath::new("..").is_err());
        assert_eq!(dir.parent().as_str(), "overlays/dev");
        assert!(dir.starts_with(&RepoPath::new("overlays").unwrap()));
        assert!(!RepoPath::new("overlays-x").unwrap().starts_with(&RepoPath::new("overlays").unwrap()));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        let repo = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), repo.path().join("link")).unwrap();
        std::fs::write(repo.path().join("ok"), "y").unwrap();
        let tree = DiskTree::new(repo.path()).unwrap();
        assert!(tree.read(&RepoPath::new("link").unwrap()).is_err());
        assert_eq!(tree.read(&RepoPath::new("ok").unwrap()).unwrap(), b"y");
    }
}
