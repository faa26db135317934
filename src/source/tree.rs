//! [`GitTree`]: a [`SourceTree`] over the tree of one commit.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use git2::{Oid, Repository};

use super::SourceError;
use crate::render::fs::{EntryKind, RepoPath, SourceTree, kind_of, utf8_names};

/// How many symlinks one lookup may follow before it is taken for a loop (Linux's limit).
const MAX_SYMLINK_HOPS: usize = 40;

const MODE_TREE: i32 = 0o040000;
const MODE_BLOB: i32 = 0o100644;
const MODE_BLOB_EXECUTABLE: i32 = 0o100755;
const MODE_LINK: i32 = 0o120000;
const MODE_COMMIT: i32 = 0o160000;

/// The files of one commit, read straight from the object database (no checkout).
///
/// Symlinks are resolved lexically inside the repository and followed; a symlink that leads
/// outside the root is refused, and so is a submodule (tidegate does not fetch submodules).
/// Cloning is cheap (an `Arc`); the repository handle sits behind a mutex, so the tree is
/// `Send + Sync` and can be shared by concurrent renders.
#[derive(Clone)]
pub struct GitTree {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Mutex<Repository>,
    commit: Oid,
    tree: Oid,
    path: PathBuf,
}

/// What a path resolves to.
enum Resolved {
    Blob(Oid),
    Tree(Oid),
}

impl GitTree {
    /// Opens the tree of `rev` (a commit id, or anything `git rev-parse` understands, such as
    /// a branch name) in the repository at `repo_dir` (bare or not).
    pub fn open(repo_dir: &Path, rev: &str) -> Result<GitTree, SourceError> {
        let err = |detail: String| SourceError::Revision { path: repo_dir.to_path_buf(), rev: rev.to_string(), detail };
        let repo = Repository::open(repo_dir).map_err(|e| err(e.message().to_string()))?;
        let (commit, tree) = {
            let commit =
                repo.revparse_single(rev).and_then(|o| o.peel_to_commit()).map_err(|e| err(e.message().to_string()))?;
            (commit.id(), commit.tree_id())
        };
        Ok(GitTree { inner: Arc::new(Inner { repo: Mutex::new(repo), commit, tree, path: repo_dir.to_path_buf() }) })
    }

    /// The commit id (40 hex digits).
    pub fn commit(&self) -> String {
        self.inner.commit.to_string()
    }

    /// The id of the commit's root tree (40 hex digits).
    pub fn tree_id(&self) -> String {
        self.inner.tree.to_string()
    }

    /// The repository this tree is read from.
    pub fn repository_path(&self) -> &Path {
        &self.inner.path
    }

    fn short(&self) -> String {
        let mut s = self.inner.commit.to_string();
        s.truncate(12);
        s
    }

    fn with_repo<T>(&self, f: impl FnOnce(&Repository) -> io::Result<T>) -> io::Result<T> {
        let repo = self.inner.repo.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&repo)
    }

    fn git_err(&self, path: &RepoPath, e: git2::Error) -> io::Error {
        io::Error::other(format!("failed to read {} at commit {}: {}", path, self.short(), e.message()))
    }

    /// Walks `path` from the root tree, following symlinks.
    fn resolve(&self, repo: &Repository, path: &RepoPath) -> io::Result<Resolved> {
        let root = repo.find_tree(self.inner.tree).map_err(|e| self.git_err(path, e))?;
        let mut pending: VecDeque<String> = components(path);
        let mut dir = RepoPath::root();
        let mut tree = root.clone();
        let mut hops = 0;
        while let Some(name) = pending.pop_front() {
            let here = dir.join(&name).map_err(|e| io::Error::other(e.to_string()))?;
            let Some((mode, id)) = tree.get_name(&name).map(|e| (e.filemode(), e.id())) else {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{path} does not exist at commit {}", self.short()),
                ));
            };
            match mode {
                MODE_TREE => {
                    tree = repo.find_tree(id).map_err(|e| self.git_err(path, e))?;
                    dir = here;
                }
                MODE_BLOB | MODE_BLOB_EXECUTABLE => {
                    if !pending.is_empty() {
                        return Err(io::Error::new(
                            io::ErrorKind::NotADirectory,
                            format!("{path}: {here} is a file, not a directory, at commit {}", self.short()),
                        ));
                    }
                    return Ok(Resolved::Blob(id));
                }
                MODE_LINK => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(io::Error::other(format!(
                            "{path}: too many levels of symbolic links at commit {}",
                            self.short()
                        )));
                    }
                    let blob = repo.find_blob(id).map_err(|e| self.git_err(path, e))?;
                    let Ok(target) = String::from_utf8(blob.content().to_vec()) else {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "{path}: {here} is a symlink to \"{}\", which is not UTF-8 (commit {})",
                                crate::render::fs::escape_name(blob.content()),
                                self.short()
                            ),
                        ));
                    };
                    let Ok(next) = dir.join(&target) else {
                        let on = if &here == path { String::new() } else { format!("{path}: ") };
                        return Err(io::Error::new(
                            io::ErrorKind::PermissionDenied,
                            format!(
                                "{on}{here} is a symlink to {target:?}, which leads outside the repository root \
                                 (commit {})",
                                self.short()
                            ),
                        ));
                    };
                    let mut rest = components(&next);
                    rest.extend(pending);
                    pending = rest;
                    dir = RepoPath::root();
                    tree = root.clone();
                }
                MODE_COMMIT => {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        format!(
                            "{path}: {here} is a git submodule (commit {}), which tidegate does not fetch; \
                             vendor its files into the repository instead",
                            id
                        ),
                    ));
                }
                other => {
                    return Err(io::Error::other(format!(
                        "{path}: {here} has an unknown git file mode {other:o} at commit {}",
                        self.short()
                    )));
                }
            }
        }
        Ok(Resolved::Tree(tree.id()))
    }
}

fn components(path: &RepoPath) -> VecDeque<String> {
    path.as_str().split('/').filter(|p| !p.is_empty()).map(str::to_string).collect()
}

impl SourceTree for GitTree {
    fn read(&self, path: &RepoPath) -> io::Result<Vec<u8>> {
        self.with_repo(|repo| match self.resolve(repo, path)? {
            Resolved::Blob(id) => Ok(repo.find_blob(id).map_err(|e| self.git_err(path, e))?.content().to_vec()),
            Resolved::Tree(_) => Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{path} is a directory at commit {}", self.short()),
            )),
        })
    }

    fn size(&self, path: &RepoPath) -> Option<u64> {
        self.with_repo(|repo| match self.resolve(repo, path)? {
            Resolved::Blob(id) => {
                let odb = repo.odb().map_err(|e| self.git_err(path, e))?;
                let (size, _) = odb.read_header(id).map_err(|e| self.git_err(path, e))?;
                Ok(size as u64)
            }
            Resolved::Tree(_) => Err(io::Error::new(io::ErrorKind::IsADirectory, "a directory")),
        })
        .ok()
    }

    fn kind(&self, path: &RepoPath) -> Option<EntryKind> {
        kind_of(self.entry(path))
    }

    fn entry(&self, path: &RepoPath) -> io::Result<EntryKind> {
        self.with_repo(|repo| {
            Ok(match self.resolve(repo, path)? {
                Resolved::Blob(_) => EntryKind::File,
                Resolved::Tree(_) => EntryKind::Dir,
            })
        })
    }

    fn list(&self, path: &RepoPath) -> io::Result<Vec<String>> {
        self.with_repo(|repo| match self.resolve(repo, path)? {
            Resolved::Tree(id) => {
                let tree = repo.find_tree(id).map_err(|e| self.git_err(path, e))?;
                let names: Vec<Vec<u8>> = tree.iter().map(|e| e.name_bytes().to_vec()).collect();
                utf8_names(&self.describe(path), names.iter().map(Vec::as_slice))
            }
            Resolved::Blob(_) => Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{path} is a file, not a directory, at commit {}", self.short()),
            )),
        })
    }

    fn describe(&self, path: &RepoPath) -> String {
        format!("{path} at commit {}", self.short())
    }
}

impl fmt::Debug for GitTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitTree")
            .field("repository", &self.inner.path)
            .field("commit", &self.inner.commit.to_string())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn git_tree_is_send_sync_and_clone() {
        assert_send_sync::<GitTree>();
    }
}
