//! Git data on disk through git2: refs, blobs at a path, commits that write a file, merges.
//! Every commit the fake makes is a real commit in the registered repository, so a client that
//! fetches the repository (e.g. over `file://`) sees exactly what the API reported.

use std::path::Path;

use git2::{ObjectType, Oid, Repository, Signature, Time};

/// A person and a time, for commit signatures.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
}

impl Person {
    fn signature(&self) -> Result<Signature<'static>, git2::Error> {
        Signature::new(&self.name, &self.email, &Time::new(self.time, 0))
    }
}

/// What a path names in a commit's tree.
pub(crate) enum Entry {
    /// A file: its blob id and bytes.
    File { oid: Oid, data: Vec<u8> },
    /// A directory: `(name, oid, is_dir, size)` per entry.
    Dir(Vec<(String, Oid, bool, usize)>),
}

/// A commit's metadata.
pub(crate) struct CommitInfo {
    /// Full message.
    pub message: String,
    /// Author.
    pub author: Person,
    /// Committer.
    pub committer: Person,
    /// Root tree id.
    pub tree: Oid,
    /// Parent ids.
    pub parents: Vec<Oid>,
}

/// Why a ref write failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RefError {
    /// The ref exists already.
    Exists,
    /// The ref does not exist.
    Missing,
    /// The object is not a commit of this repository.
    UnknownObject,
    /// The update would lose commits and `force` was not set.
    NotFastForward,
    /// Anything else git2 reports.
    Other(String),
}

fn other(e: git2::Error) -> RefError {
    RefError::Other(e.message().to_string())
}

/// An open repository.
pub(crate) struct Git {
    repo: Repository,
}

impl Git {
    /// Opens a bare or non-bare repository.
    pub fn open(dir: &Path) -> Result<Git, String> {
        Repository::open(dir).map(|repo| Git { repo }).map_err(|e| format!("failed to open {}: {e}", dir.display()))
    }

    /// The branch `HEAD` points to (`main` when unknown).
    pub fn head_branch(&self) -> String {
        self.repo
            .find_reference("HEAD")
            .ok()
            .and_then(|r| r.symbolic_target().ok().flatten().map(str::to_string))
            .and_then(|t| t.strip_prefix("refs/heads/").map(str::to_string))
            .unwrap_or_else(|| "main".into())
    }

    /// The commit a full ref name (`refs/heads/main`) points to.
    pub fn ref_target(&self, full: &str) -> Option<Oid> {
        let r = self.repo.find_reference(full).ok()?;
        r.peel_to_commit().ok().map(|c| c.id())
    }

    /// Resolves a commit sha (full or abbreviated), a branch, a tag or a full ref name.
    pub fn resolve(&self, rev: &str) -> Option<Oid> {
        for full in [format!("refs/heads/{rev}"), format!("refs/tags/{rev}"), rev.to_string()] {
            if full.starts_with("refs/") {
                if let Some(oid) = self.ref_target(&full) {
                    return Some(oid);
                }
            }
        }
        if rev.len() >= 4 && rev.chars().all(|c| c.is_ascii_hexdigit()) {
            let obj = self.repo.revparse_single(rev).ok()?;
            return obj.peel_to_commit().ok().map(|c| c.id());
        }
        None
    }

    /// The commit with this full sha, if it exists.
    pub fn commit_oid(&self, sha: &str) -> Option<Oid> {
        let oid = Oid::from_str(sha).ok()?;
        (sha.len() == 40).then_some(())?;
        self.repo.find_commit(oid).ok().map(|c| c.id())
    }

    /// Creates `full` at `sha`.
    pub fn create_ref(&self, full: &str, sha: &str) -> Result<Oid, RefError> {
        let oid = Oid::from_str(sha).map_err(|_| RefError::UnknownObject)?;
        if self.repo.find_object(oid, None).is_err() {
            return Err(RefError::UnknownObject);
        }
        if self.repo.find_reference(full).is_ok() {
            return Err(RefError::Exists);
        }
        self.repo.reference(full, oid, false, "fake-github: create ref").map_err(other)?;
        Ok(oid)
    }

    /// Moves `full` to `sha`; without `force` only fast-forwards are allowed.
    pub fn update_ref(&self, full: &str, sha: &str, force: bool) -> Result<Oid, RefError> {
        let current = self.ref_target(full).ok_or(RefError::Missing)?;
        let oid = Oid::from_str(sha).map_err(|_| RefError::UnknownObject)?;
        if self.repo.find_commit(oid).is_err() {
            return Err(RefError::UnknownObject);
        }
        if !force && oid != current && !self.repo.graph_descendant_of(oid, current).unwrap_or(false) {
            return Err(RefError::NotFastForward);
        }
        self.repo.reference(full, oid, true, "fake-github: update ref").map_err(other)?;
        Ok(oid)
    }

    /// Deletes `full`.
    pub fn delete_ref(&self, full: &str) -> Result<(), RefError> {
        let mut r = self.repo.find_reference(full).map_err(|_| RefError::Missing)?;
        r.delete().map_err(other)
    }

    /// What `path` names in `commit`'s tree (`""` is the root).
    pub fn read_path(&self, commit: Oid, path: &str) -> Option<Entry> {
        let tree = self.repo.find_commit(commit).ok()?.tree().ok()?;
        let path = path.trim_matches('/');
        let tree = if path.is_empty() {
            tree
        } else {
            let entry = tree.get_path(Path::new(path)).ok()?;
            match entry.kind() {
                Some(ObjectType::Blob) => {
                    let blob = self.repo.find_blob(entry.id()).ok()?;
                    return Some(Entry::File { oid: blob.id(), data: blob.content().to_vec() });
                }
                Some(ObjectType::Tree) => self.repo.find_tree(entry.id()).ok()?,
                _ => return None,
            }
        };
        let list = tree
            .iter()
            .map(|e| {
                let is_dir = e.kind() == Some(ObjectType::Tree);
                let size = if is_dir { 0 } else { self.repo.find_blob(e.id()).map_or(0, |b| b.size()) };
                (e.name().unwrap_or_default().to_string(), e.id(), is_dir, size)
            })
            .collect();
        Some(Entry::Dir(list))
    }

    /// Commits `data` at `path` on top of `parent` and moves `branch_ref` to the new commit.
    /// `people` are the author and the committer. Returns `(commit, blob)`.
    pub fn write_file(
        &self,
        branch_ref: &str,
        parent: Oid,
        path: &str,
        data: &[u8],
        message: &str,
        (author, committer): (&Person, &Person),
    ) -> Result<(Oid, Oid), String> {
        let err = |e: git2::Error| e.message().to_string();
        let parent_commit = self.repo.find_commit(parent).map_err(err)?;
        let blob = self.repo.blob(data).map_err(err)?;
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let base = parent_commit.tree().map_err(err)?;
        let tree = self.upsert(Some(&base), &parts, blob).map_err(err)?;
        let tree = self.repo.find_tree(tree).map_err(err)?;
        let (a, c) = (author.signature().map_err(err)?, committer.signature().map_err(err)?);
        let commit = self.repo.commit(None, &a, &c, message, &tree, &[&parent_commit]).map_err(err)?;
        self.repo.reference(branch_ref, commit, true, "fake-github: contents API").map_err(err)?;
        Ok((commit, blob))
    }

    fn upsert(&self, tree: Option<&git2::Tree>, parts: &[&str], blob: Oid) -> Result<Oid, git2::Error> {
        let mut builder = self.repo.treebuilder(tree)?;
        match parts {
            [] => return Err(git2::Error::from_str("empty path")),
            [name] => {
                builder.insert(name, blob, 0o100644)?;
            }
            [dir, rest @ ..] => {
                let sub = match tree.and_then(|t| t.get_name(dir)) {
                    Some(e) if e.kind() == Some(ObjectType::Tree) => Some(self.repo.find_tree(e.id())?),
                    _ => None,
                };
                let sub_oid = self.upsert(sub.as_ref(), rest, blob)?;
                builder.insert(dir, sub_oid, 0o040000)?;
            }
        }
        builder.write()
    }

    /// The commit's metadata.
    pub fn commit_info(&self, oid: Oid) -> Option<CommitInfo> {
        let c = self.repo.find_commit(oid).ok()?;
        let person = |s: Signature| Person {
            name: s.name().unwrap_or_default().to_string(),
            email: s.email().unwrap_or_default().to_string(),
            time: s.when().seconds(),
        };
        Some(CommitInfo {
            message: c.message().unwrap_or_default().to_string(),
            author: person(c.author()),
            committer: person(c.committer()),
            tree: c.tree_id(),
            parents: c.parent_ids().collect(),
        })
    }

    /// How many commits `head` has that `base` lacks.
    pub fn ahead(&self, base: Oid, head: Oid) -> usize {
        self.repo.graph_ahead_behind(head, base).map_or(0, |(ahead, _)| ahead)
    }

    /// Merges `head` into `base`: the merged tree, or `None` on conflicts.
    fn merged_tree(&self, base: Oid, head: Oid) -> Option<Oid> {
        let (b, h) = (self.repo.find_commit(base).ok()?, self.repo.find_commit(head).ok()?);
        let mut index = self.repo.merge_commits(&b, &h, None).ok()?;
        if index.has_conflicts() {
            return None;
        }
        index.write_tree_to(&self.repo).ok()
    }

    /// Whether `head` merges into `base` without conflicts.
    pub fn mergeable(&self, base: Oid, head: Oid) -> bool {
        self.merged_tree(base, head).is_some()
    }

    /// Merges like GitHub's merge button: `merge` makes a merge commit (never a fast-forward),
    /// `squash` one commit with the merged tree, `rebase` replays head's commits onto base.
    /// Moves `base_ref` and returns the new tip, or `None` on conflicts.
    pub fn merge(
        &self,
        base_ref: &str,
        base: Oid,
        head: Oid,
        method: &str,
        message: &str,
        committer: &Person,
    ) -> Result<Option<Oid>, String> {
        let err = |e: git2::Error| e.message().to_string();
        let Some(tree) = self.merged_tree(base, head) else { return Ok(None) };
        let tree = self.repo.find_tree(tree).map_err(err)?;
        let sig = committer.signature().map_err(err)?;
        let base_commit = self.repo.find_commit(base).map_err(err)?;
        let head_commit = self.repo.find_commit(head).map_err(err)?;
        let tip = match method {
            "squash" => {
                let author = head_commit.author();
                self.repo.commit(None, &author, &sig, message, &tree, &[&base_commit]).map_err(err)?
            }
            "rebase" => {
                let mut walk = self.repo.revwalk().map_err(err)?;
                walk.push(head).map_err(err)?;
                walk.hide(base).map_err(err)?;
                walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE).map_err(err)?;
                let mut tip = base_commit;
                for oid in walk {
                    let c = self.repo.find_commit(oid.map_err(err)?).map_err(err)?;
                    if c.parent_count() > 1 {
                        continue;
                    }
                    let mut index = self.repo.cherrypick_commit(&c, &tip, 0, None).map_err(err)?;
                    if index.has_conflicts() {
                        return Ok(None);
                    }
                    let t = self.repo.find_tree(index.write_tree_to(&self.repo).map_err(err)?).map_err(err)?;
                    let id = self
                        .repo
                        .commit(None, &c.author(), &sig, c.message().unwrap_or(""), &t, &[&tip])
                        .map_err(err)?;
                    tip = self.repo.find_commit(id).map_err(err)?;
                }
                tip.id()
            }
            _ => self.repo.commit(None, &sig, &sig, message, &tree, &[&base_commit, &head_commit]).map_err(err)?,
        };
        self.repo.reference(base_ref, tip, true, "fake-github: merge pull request").map_err(err)?;
        Ok(Some(tip))
    }

    /// Writes a tree from GitHub's `POST /git/trees` entries on top of `base_tree`.
    /// Each entry is `(path, mode, Some(blob sha) | None to delete, Some(content))`.
    pub fn create_tree(&self, base_tree: Option<Oid>, entries: &[TreeEdit]) -> Result<Oid, String> {
        let err = |e: git2::Error| e.message().to_string();
        let base = match base_tree {
            Some(oid) => Some(self.repo.find_tree(oid).map_err(|_| format!("base_tree {oid} does not exist"))?),
            None => None,
        };
        let mut tree_oid = match &base {
            Some(t) => t.id(),
            None => self.repo.treebuilder(None).and_then(|b| b.write()).map_err(err)?,
        };
        for e in entries {
            let blob = match (&e.content, &e.sha) {
                (Some(text), _) => Some(self.repo.blob(text.as_bytes()).map_err(err)?),
                (None, Some(sha)) => Some(Oid::from_str(sha).map_err(|_| format!("invalid sha {sha}"))?),
                (None, None) => None,
            };
            let tree = self.repo.find_tree(tree_oid).map_err(err)?;
            let parts: Vec<&str> = e.path.split('/').filter(|p| !p.is_empty()).collect();
            tree_oid = match blob {
                Some(b) => self.upsert(Some(&tree), &parts, b).map_err(err)?,
                None => self.remove(&tree, &parts).map_err(err)?,
            };
        }
        Ok(tree_oid)
    }

    fn remove(&self, tree: &git2::Tree, parts: &[&str]) -> Result<Oid, git2::Error> {
        let mut builder = self.repo.treebuilder(Some(tree))?;
        match parts {
            [] => {}
            [name] => {
                let _ = builder.remove(name);
            }
            [dir, rest @ ..] => {
                if let Some(e) = tree.get_name(dir).filter(|e| e.kind() == Some(ObjectType::Tree)) {
                    let sub = self.repo.find_tree(e.id())?;
                    let new = self.remove(&sub, rest)?;
                    if self.repo.find_tree(new)?.is_empty() {
                        builder.remove(dir)?;
                    } else {
                        builder.insert(dir, new, 0o040000)?;
                    }
                }
            }
        }
        builder.write()
    }

    /// Writes a commit object (no ref moves), like `POST /git/commits`.
    pub fn create_commit(
        &self,
        message: &str,
        tree: Oid,
        parents: &[Oid],
        author: &Person,
        committer: &Person,
    ) -> Result<Oid, String> {
        let err = |e: git2::Error| e.message().to_string();
        let tree = self.repo.find_tree(tree).map_err(|_| format!("tree {tree} does not exist"))?;
        let parents: Vec<git2::Commit> = parents
            .iter()
            .map(|p| self.repo.find_commit(*p).map_err(|_| format!("parent {p} does not exist")))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        let (a, c) = (author.signature().map_err(err)?, committer.signature().map_err(err)?);
        self.repo.commit(None, &a, &c, message, &tree, &refs).map_err(err)
    }
}

/// One entry of `POST /git/trees`.
pub(crate) struct TreeEdit {
    /// Path in the tree.
    pub path: String,
    /// Blob sha to place (`None` together with `content: None` deletes the path).
    pub sha: Option<String>,
    /// Text content to store as a new blob.
    pub content: Option<String>,
}
