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
    ///
    /// An entry that exists but cannot be followed — a symlink that leads outside the
    /// repository root, a symlink loop, a git submodule, a special file — is reported as a
    /// [`EntryKind::File`]: reading it then fails with the reason, so that a caller that checks
    /// the kind and reads says why instead of "does not exist". [`SourceTree::entry`] gives the
    /// reason directly.
    fn kind(&self, path: &RepoPath) -> Option<EntryKind>;
    /// What `path` is, or why it cannot be used: an error of kind `NotFound` (or
    /// `NotADirectory`, when a file stands where a directory should) when it does not exist,
    /// `PermissionDenied` naming the symlink when it leads outside the repository root.
    fn entry(&self, path: &RepoPath) -> io::Result<EntryKind> {
        self.kind(path).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{path} does not exist")))
    }
    /// Names of the entries of a directory, sorted. A name that is not UTF-8 (which no
    /// kustomization, app file or [`RepoPath`] can refer to) is an `InvalidData` error naming
    /// the directory and the name, its bytes escaped (see [`escape_name`]).
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

/// What [`SourceTree::kind`] reports for the outcome of [`SourceTree::entry`]: `None` for a
/// path that does not exist, [`EntryKind::File`] for an entry that exists but cannot be used
/// (so that reading it reports why).
pub fn kind_of(entry: io::Result<EntryKind>) -> Option<EntryKind> {
    match entry {
        Ok(kind) => Some(kind),
        Err(e) if is_missing(&e) => None,
        Err(_) => Some(EntryKind::File),
    }
}

/// Whether an error of [`SourceTree::entry`] means the path does not exist (`NotFound`, or
/// `NotADirectory` when a file stands where a directory should), rather than that it exists
/// and cannot be used.
pub fn is_missing(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

/// A file name as bytes, printable: UTF-8 as it is, every other byte as `\xE9`.
pub fn escape_name(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// The sorted names of a directory's entries given as bytes, or the `InvalidData` error of
/// [`SourceTree::list`] naming `dir` (as `shown`) and every name that is not UTF-8.
pub fn utf8_names<'a>(shown: &str, names: impl IntoIterator<Item = &'a [u8]>) -> io::Result<Vec<String>> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for name in names {
        match std::str::from_utf8(name) {
            Ok(n) => good.push(n.to_string()),
            Err(_) => bad.push(format!("\"{}\"", escape_name(name))),
        }
    }
    if !bad.is_empty() {
        bad.sort();
        let (what, them) = if bad.len() == 1 { ("a name", "it") } else { ("names", "them") };
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{shown} holds {}, {what} that {} not UTF-8 (shown with the bytes escaped); rename {them}: \
                 tidegate reads UTF-8 paths only, so nothing in it could be used",
                bad.join(", "),
                if bad.len() == 1 { "is" } else { "are" },
            ),
        ));
    }
    good.sort();
    Ok(good)
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
        match self.root.join(path.as_str()).canonicalize() {
            Ok(real) if real.starts_with(&self.root) => Ok(real),
            Ok(_) => Err(self.escape(path).unwrap_or_else(|| {
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{path} is a symlink that leads outside the repository root"),
                )
            })),
            // A dangling symlink that points outside the root leads outside, too.
            Err(e) => Err(self.escape(path).unwrap_or(e)),
        }
    }

    /// The error for the first symlink on `path` whose target leads outside the root, found
    /// by following the links lexically (as [`crate::source::GitTree`] does), if there is one.
    fn escape(&self, path: &RepoPath) -> Option<io::Error> {
        let mut pending: std::collections::VecDeque<String> =
            path.as_str().split('/').filter(|p| !p.is_empty()).map(str::to_string).collect();
        let mut dir = RepoPath::root();
        let mut hops = 0;
        while let Some(name) = pending.pop_front() {
            let here = dir.join(&name).ok()?;
            let on_disk = self.root.join(here.as_str());
            let meta = std::fs::symlink_metadata(&on_disk).ok()?;
            if !meta.file_type().is_symlink() {
                dir = here;
                continue;
            }
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = std::fs::read_link(&on_disk).ok()?;
            let inside = if target.is_absolute() {
                target
                    .strip_prefix(&self.root)
                    .ok()
                    .and_then(|rel| rel.to_str())
                    .and_then(|rel| RepoPath::new(rel).ok())
            } else {
                target.to_str().and_then(|t| dir.join(t).ok())
            };
            let Some(next) = inside else {
                let on = if &here == path { String::new() } else { format!("{path}: ") };
                return Some(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{on}{here} is a symlink to {:?}, which leads outside the repository root",
                        target.display().to_string()
                    ),
                ));
            };
            let mut rest: std::collections::VecDeque<String> =
                next.as_str().split('/').filter(|p| !p.is_empty()).map(str::to_string).collect();
            rest.extend(pending);
            pending = rest;
            dir = RepoPath::root();
        }
        None
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
        let real = self.resolve(path)?;
        // Never block on a FIFO or read a device: regular files (and directories, whose read
        // fails as usual) only.
        let meta = std::fs::metadata(&real)?;
        if !meta.is_file() && !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{path} is neither a regular file nor a directory"),
            ));
        }
        std::fs::read(real)
    }

    fn size(&self, path: &RepoPath) -> Option<u64> {
        std::fs::metadata(self.resolve(path).ok()?).ok().map(|m| m.len())
    }

    fn kind(&self, path: &RepoPath) -> Option<EntryKind> {
        kind_of(self.entry(path))
    }

    fn entry(&self, path: &RepoPath) -> io::Result<EntryKind> {
        let meta = std::fs::metadata(self.resolve(path)?)?;
        if meta.is_dir() {
            Ok(EntryKind::Dir)
        } else if meta.is_file() {
            Ok(EntryKind::File)
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{path} is neither a regular file nor a directory"),
            ))
        }
    }

    fn list(&self, path: &RepoPath) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.resolve(path)?)? {
            names.push(entry?.file_name());
        }
        utf8_names(&path.to_string(), names.iter().map(|n| n.as_encoded_bytes()))
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

    #[cfg(unix)]
    #[test]
    fn a_symlink_out_of_the_root_is_said_to_lead_outside_not_to_be_missing() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(outside.path().join("dir")).unwrap();
        std::fs::write(outside.path().join("dir/file.yaml"), "x").unwrap();
        let repo = tempfile::tempdir().unwrap();
        let r = repo.path();
        std::fs::create_dir(r.join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("dir"), r.join("sub/out")).unwrap();
        std::os::unix::fs::symlink("../../../../../../../../../../../../etc", r.join("up")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/x", r.join("dangling-out")).unwrap();
        std::os::unix::fs::symlink("missing", r.join("dangling-in")).unwrap();
        std::os::unix::fs::symlink("sub", r.join("in")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        let tree = DiskTree::new(r).unwrap();
        let p = |s: &str| RepoPath::new(s).unwrap();
        for (path, link) in [("sub/out", "sub/out"), ("sub/out/file.yaml", "sub/out"), ("in/out/file.yaml", "sub/out")]
        {
            let e = tree.entry(&p(path)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{path}: {e}");
            let msg = e.to_string();
            assert!(msg.contains(&format!("{link} is a symlink to")), "{path}: {msg}");
            assert!(msg.contains("leads outside the repository root"), "{path}: {msg}");
            assert_eq!(tree.kind(&p(path)), Some(EntryKind::File), "{path}");
            assert_eq!(tree.read(&p(path)).unwrap_err().to_string(), msg);
        }
        assert!(tree.read(&p("up/passwd")).unwrap_err().to_string().contains("up is a symlink to"));
        assert!(tree.read(&p("dangling-out")).unwrap_err().to_string().contains("leads outside"));
        assert_eq!(tree.kind(&p("dangling-in")), None);
        assert_eq!(tree.entry(&p("dangling-in")).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(tree.kind(&p("in")), Some(EntryKind::Dir));
        assert_eq!(tree.kind(&p("nope/x")), None);
        assert_eq!(tree.kind(&p("loop")), Some(EntryKind::File), "a loop exists, it cannot be followed");
        assert!(tree.read(&p("loop")).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_never_read() {
        let repo = tempfile::tempdir().unwrap();
        let fifo = repo.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here
        }
        let tree = DiskTree::new(repo.path()).unwrap();
        let e = tree.read(&RepoPath::new("fifo").unwrap()).unwrap_err();
        assert!(e.to_string().contains("neither a regular file nor a directory"), "{e}");
        assert_eq!(tree.kind(&RepoPath::new("fifo").unwrap()), Some(EntryKind::File));
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_an_error_naming_the_directory() {
        use std::os::unix::ffi::OsStrExt;
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("apps/ok")).unwrap();
        let tree = DiskTree::new(repo.path()).unwrap();
        assert_eq!(tree.list(&RepoPath::new("apps").unwrap()).unwrap(), ["ok"]);
        std::fs::create_dir(repo.path().join("apps").join(std::ffi::OsStr::from_bytes(b"caf\xe9"))).unwrap();
        std::fs::write(repo.path().join("apps").join(std::ffi::OsStr::from_bytes(b"\xff\xfe.yaml")), "").unwrap();
        let e = tree.list(&RepoPath::new("apps").unwrap()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            e.to_string(),
            "apps holds \"\\xFF\\xFE.yaml\", \"caf\\xE9\", names that are not UTF-8 (shown with the bytes escaped); \
             rename them: tidegate reads UTF-8 paths only, so nothing in it could be used"
        );
    }

    #[test]
    fn escaped_names() {
        assert_eq!(escape_name(b"plain"), "plain");
        assert_eq!(escape_name("café".as_bytes()), "café");
        assert_eq!(escape_name(b"caf\xe9"), r"caf\xE9");
        assert_eq!(escape_name(b"\xf0\x9f\x9a"), r"\xF0\x9F\x9A");
    }
}
