//! One promotion pull request per branch, updated in place, in few calls.
//!
//! Under the write lock:
//! 1. A branch this process pushed: find its open pull request (`GET pulls?head=`). Otherwise
//!    `POST git/refs` at `base_commit`. 201: a fresh branch, so no pull request can exist yet.
//!    422 "Reference already exists": the branch exists — find its open pull request.
//! 2. Fresh branch with one file: `PUT contents` (one call, one commit). Otherwise the commit is
//!    built with the git data API (`POST git/trees`, `POST git/commits` with `base_commit` as
//!    parent) and the branch is moved to it (`PATCH git/refs`, forced). The branch of an open
//!    pull request thus never passes through `base_commit` itself, which GitHub could take
//!    for "merged". If the open pull request's head already is exactly this change on top of
//!    `base_commit`, nothing is written: known from memory when this process pushed it,
//!    otherwise checked with `GET git/commits/{head}` and `GET contents/{path}?ref={head}`.
//! 3. No open pull request: `POST pulls`; an open one: `PATCH pulls/{n}` when the title or body
//!    differ.
//! 4. `POST issues/{n}/labels` when created or when labels are missing.
//! 5. `POST statuses/{head}` per status.
//!
//! A fresh one-file promotion costs 5 calls (ref, contents, pull, labels, status); a newer
//! version for the open pull request of a branch this process pushed 6 when the caller gives
//! the base tree (pull lookup, tree, commit, ref, pull update, status); the same request again 1. A process
//! killed between steps 1 and 3 leaves a branch without a pull request; the next run gets 422
//! in step 1, finds no pull request, rebuilds the branch and opens exactly one.
//! Writes whose answer is lost are checked, not resent: the ref is read back, the pull request
//! is looked up (and a 422 "already exists" on a resend is taken as the answer).

use http::Method;
use serde_json::{Value, json};

use super::transport::{Op, Outcome, Resend, enc, enc_path};
use super::{GitHub, GitHubError, MAX_TITLE_CHARS, PrOutcome, PromotionPr, Pull, cut, is_sha, truncate_body};

/// Base commits whose tree ids are remembered.
const TREE_CACHE: usize = 64;

pub(super) async fn upsert(gh: &GitHub, pr: &PromotionPr) -> Result<PrOutcome, GitHubError> {
    check(pr)?;
    let title = cut(&pr.title, MAX_TITLE_CHARS);
    let body = truncate_body(&pr.body);
    let _writes = gh.inner.writes.lock().await;

    // A branch this process pushed is known to exist: no refused `POST git/refs` to find out.
    // If its pull request is gone (merged or closed, and the branch maybe deleted), it is
    // treated as unknown again.
    let known = gh.inner.memo.lock().ok().is_some_and(|m| m.contains_key(&pr.branch));
    let mut open_known = None;
    if known {
        open_known = gh.find_open_pull(&pr.branch).await?;
        if open_known.is_none() {
            remember(gh, pr, None);
        }
    }
    let fresh = if open_known.is_some() { false } else { create_branch(gh, pr).await? };
    let (open, head, changed) = if fresh {
        let head = match pr.files.as_slice() {
            [file] => match put_contents(gh, pr, file).await? {
                Some(head) => head,
                // The contents API refused (a stale or missing blob id): build the commit.
                None => move_branch(gh, pr, false).await?,
            },
            _ => move_branch(gh, pr, false).await?,
        };
        (None, head, true)
    } else {
        let open = match open_known {
            Some(p) => Some(p),
            None => gh.find_open_pull(&pr.branch).await?,
        };
        match &open {
            Some(p) if already_there(gh, pr, &p.pr.head_sha).await => {
                tracing::debug!(branch = %pr.branch, number = p.pr.number, "the pull request already holds this change");
                let head = p.pr.head_sha.clone();
                (open, head, false)
            }
            _ => {
                let head = move_branch(gh, pr, true).await?;
                (open, head, true)
            }
        }
    };

    let (pull, created) = match open {
        Some(p) => {
            update_pull(gh, &p, &title, &body).await?;
            (p, false)
        }
        None => open_pull(gh, pr, &title, &body).await?,
    };
    let missing: Vec<&String> = pr.labels.iter().filter(|l| !pull.labels.contains(l)).collect();
    if !missing.is_empty() {
        let op =
            Op::new(format!("label the pull request #{}", pull.pr.number), "issues: write or pull_requests: write");
        let path = format!("{}/issues/{}/labels", gh.repo_path(), pull.pr.number);
        let reply = gh.send(&op, Method::POST, &path, Some(&json!({ "labels": missing })), Resend::Safe).await?;
        if !reply.ok() {
            return Err(op.refused(&reply));
        }
    }
    if !statuses_set(gh, pr, &head) {
        // Forgotten first: a failure half-way must not look done next time.
        remember(gh, pr, None);
        for status in &pr.statuses {
            gh.post_status(&head, status).await?;
        }
    }
    remember(gh, pr, Some(&head));
    Ok(PrOutcome { number: pull.pr.number, url: pull.pr.url, head_sha: head, created, changed })
}

/// Refuses what GitHub or git would refuse, before anything is sent.
fn check(pr: &PromotionPr) -> Result<(), GitHubError> {
    let invalid =
        |reason: String| GitHubError::Invalid { op: format!("promote on the branch {:?}", pr.branch), reason };
    let b = pr.branch.as_str();
    let bad_branch = b.is_empty()
        || b.len() > 250
        || b.starts_with(['/', '.', '-'])
        || b.ends_with(['/', '.'])
        || b.ends_with(".lock")
        || b.contains("..")
        || b.contains("//")
        || b.contains("@{")
        || b.contains("/.")
        || b.chars().any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
    if bad_branch {
        return Err(invalid("git does not accept this branch name".into()));
    }
    if pr.base.is_empty() || pr.base == pr.branch {
        return Err(invalid(format!("the base branch {:?} is empty or the branch itself", pr.base)));
    }
    if !is_sha(&pr.base_commit) {
        return Err(invalid(format!("the base commit {:?} is not a commit id", pr.base_commit)));
    }
    if pr.files.is_empty() {
        return Err(invalid("there are no files to change".into()));
    }
    for f in &pr.files {
        let bad = f.path.is_empty()
            || f.path.starts_with('/')
            || f.path.split('/').any(|s| s.is_empty() || s == "." || s == ".." || s == ".git");
        if bad {
            return Err(invalid(format!("the file path {:?} is not a relative path inside the repository", f.path)));
        }
    }
    if pr.files.iter().all(|f| f.base_blob_sha.as_deref() == Some(super::git_blob_id(f.content.as_bytes()).as_str())) {
        return Err(invalid("every file already has this content at the base commit".into()));
    }
    Ok(())
}

/// Step 1. `true`: the branch was created at `base_commit`; `false`: it existed.
async fn create_branch(gh: &GitHub, pr: &PromotionPr) -> Result<bool, GitHubError> {
    let op = Op::new(format!("create the branch {}", pr.branch), "contents: write");
    let path = format!("{}/git/refs", gh.repo_path());
    let body = json!({ "ref": format!("refs/heads/{}", pr.branch), "sha": pr.base_commit });
    for attempt in 0..2 {
        match gh.send_write(&op, Method::POST, &path, &body).await? {
            Outcome::Known(r) if r.status == 201 || r.ok() => return Ok(true),
            Outcome::Known(r) if r.status == 422 && r.message().to_ascii_lowercase().contains("already exists") => {
                return Ok(false);
            }
            Outcome::Known(r) => return Err(op.refused(&r)),
            Outcome::Unknown(e) => match branch_head(gh, &pr.branch).await? {
                // It exists now: maybe ours, maybe older; the existing-branch path handles both.
                Some(_) => return Ok(false),
                None if attempt == 0 => continue,
                None => return Err(e),
            },
        }
    }
    Err(op.unexpected("the branch could not be created"))
}

/// The commit a branch points at, `None` when it does not exist.
async fn branch_head(gh: &GitHub, branch: &str) -> Result<Option<String>, GitHubError> {
    let op = Op::new(format!("read the branch {branch}"), "contents: read");
    let path = format!("{}/git/ref/heads/{}", gh.repo_path(), enc_path(branch));
    let reply = gh.send(&op, Method::GET, &path, None, Resend::Safe).await?;
    match reply.status {
        404 => Ok(None),
        _ if reply.ok() => {
            let v = reply.json();
            // A prefix match answers with a list: not this exact branch.
            Ok(v["object"]["sha"].as_str().map(str::to_owned))
        }
        _ => Err(op.refused(&reply)),
    }
}

/// Step 2 on a fresh branch with one file: one contents commit. `None`: the contents API
/// refused (409/422) and the commit should be built with the git data API instead.
async fn put_contents(gh: &GitHub, pr: &PromotionPr, file: &super::FileChange) -> Result<Option<String>, GitHubError> {
    use base64::Engine as _;
    let op = Op::new(format!("commit {} to {}", file.path, pr.branch), "contents: write");
    let path = format!("{}/contents/{}", gh.repo_path(), enc_path(&file.path));
    let mut body = json!({
        "message": pr.commit_message,
        "content": base64::engine::general_purpose::STANDARD.encode(file.content.as_bytes()),
        "branch": pr.branch,
    });
    if let Some(sha) = &file.base_blob_sha {
        body["sha"] = Value::String(sha.clone());
    }
    for attempt in 0..2 {
        match gh.send_write(&op, Method::PUT, &path, &body).await? {
            Outcome::Known(r) if r.ok() => {
                let v = r.json();
                let sha = v["commit"]["sha"].as_str().ok_or_else(|| op.unexpected("no commit sha"))?;
                return Ok(Some(sha.to_owned()));
            }
            Outcome::Known(r) if matches!(r.status, 409 | 422) => {
                tracing::debug!(path = %file.path, status = r.status, message = %r.message(), "contents API refused; using the git data API");
                return Ok(None);
            }
            Outcome::Known(r) => return Err(op.refused(&r)),
            // We made the branch at base_commit under the lock: if it moved, the commit landed.
            Outcome::Unknown(e) => match branch_head(gh, &pr.branch).await? {
                Some(head) if head != pr.base_commit => return Ok(Some(head)),
                Some(_) if attempt == 0 => continue,
                _ => return Err(e),
            },
        }
    }
    Err(op.unexpected("the file could not be committed"))
}

/// Step 2 otherwise: a commit with every file on top of `base_commit`, then the branch moved
/// to it. Trees and commits are content-addressed and the ref update names its target, so
/// each of these calls is safe to resend.
async fn move_branch(gh: &GitHub, pr: &PromotionPr, force: bool) -> Result<String, GitHubError> {
    let base_tree = match &pr.base_tree {
        Some(tree) if is_sha(tree) => tree.clone(),
        _ => tree_of(gh, &pr.base_commit).await?,
    };
    let op = Op::new(format!("write the files of {}", pr.branch), "contents: write");
    let entries: Vec<Value> = pr
        .files
        .iter()
        .map(|f| json!({ "path": f.path, "mode": "100644", "type": "blob", "content": f.content }))
        .collect();
    let path = format!("{}/git/trees", gh.repo_path());
    let reply = gh
        .send(&op, Method::POST, &path, Some(&json!({ "base_tree": base_tree, "tree": entries })), Resend::Safe)
        .await?;
    if !reply.ok() {
        return Err(op.refused(&reply));
    }
    let tree = reply.json()["sha"].as_str().map(str::to_owned).ok_or_else(|| op.unexpected("the tree has no sha"))?;

    let op = Op::new(format!("make the commit of {}", pr.branch), "contents: write");
    let path = format!("{}/git/commits", gh.repo_path());
    let body = json!({ "message": pr.commit_message, "tree": tree, "parents": [pr.base_commit] });
    let reply = gh.send(&op, Method::POST, &path, Some(&body), Resend::Safe).await?;
    if !reply.ok() {
        return Err(op.refused(&reply));
    }
    let commit =
        reply.json()["sha"].as_str().map(str::to_owned).ok_or_else(|| op.unexpected("the commit has no sha"))?;

    let op = Op::new(format!("move the branch {} to the new commit", pr.branch), "contents: write");
    let path = format!("{}/git/refs/heads/{}", gh.repo_path(), enc_path(&pr.branch));
    let reply =
        gh.send(&op, Method::PATCH, &path, Some(&json!({ "sha": commit, "force": force })), Resend::Safe).await?;
    if !reply.ok() {
        return Err(op.refused(&reply));
    }
    Ok(commit)
}

/// The tree of a commit, remembered.
async fn tree_of(gh: &GitHub, commit: &str) -> Result<String, GitHubError> {
    let cached = gh.inner.trees.lock().ok().and_then(|t| t.iter().find(|(c, _)| c == commit).map(|(_, t)| t.clone()));
    if let Some(tree) = cached {
        return Ok(tree);
    }
    let op = Op::new(format!("read the base commit {commit}"), "contents: read");
    let path = format!("{}/git/commits/{}", gh.repo_path(), enc(commit));
    let reply = gh.send(&op, Method::GET, &path, None, Resend::Safe).await?;
    if !reply.ok() {
        return Err(op.refused(&reply));
    }
    let tree = reply.json()["tree"]["sha"].as_str().map(str::to_owned).ok_or_else(|| op.unexpected("no tree"))?;
    if let Ok(mut t) = gh.inner.trees.lock() {
        if t.len() >= TREE_CACHE {
            t.remove(0);
        }
        t.push((commit.to_owned(), tree.clone()));
    }
    Ok(tree)
}

/// What this process last pushed to a branch, so that an identical request costs no reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Memo {
    base_commit: String,
    /// `(path, blob id)` of every file, sorted.
    files: Vec<(String, String)>,
    head_sha: String,
    statuses: Vec<super::CommitStatus>,
}

fn wanted_files(pr: &PromotionPr) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> =
        pr.files.iter().map(|f| (f.path.clone(), super::git_blob_id(f.content.as_bytes()))).collect();
    files.sort();
    files
}

/// Whether `head` is exactly this change on top of `base_commit`. First from memory (what this
/// process pushed last); otherwise from GitHub: the head commit's only parent is
/// `base_commit` and each file holds our content (blob ids). Any doubt (an error, an
/// unexpected answer) says no, and the branch is rebuilt. The check after a restart matters:
/// a needless new commit would dismiss the reviews of the pull request.
async fn already_there(gh: &GitHub, pr: &PromotionPr, head: &str) -> bool {
    let files = wanted_files(pr);
    let remembered = gh.inner.memo.lock().ok().and_then(|m| m.get(&pr.branch).cloned());
    if let Some(m) = remembered.filter(|m| m.head_sha == head) {
        return m.base_commit == pr.base_commit && m.files == files;
    }
    let op = Op::new(format!("read the head of {}", pr.branch), "contents: read");
    let path = format!("{}/git/commits/{}", gh.repo_path(), enc(head));
    let Ok(reply) = gh.send(&op, Method::GET, &path, None, Resend::Safe).await else { return false };
    let v = reply.json();
    let parents: Vec<&str> = v["parents"].as_array().into_iter().flatten().filter_map(|p| p["sha"].as_str()).collect();
    if !reply.ok() || parents != [pr.base_commit.as_str()] {
        return false;
    }
    for (file, sha) in &files {
        let path = format!("{}/contents/{}?ref={}", gh.repo_path(), enc_path(file), enc(head));
        let Ok(reply) = gh.send(&op, Method::GET, &path, None, Resend::Safe).await else { return false };
        if !reply.ok() || reply.json()["sha"].as_str() != Some(sha.as_str()) {
            return false;
        }
    }
    true
}

/// Remembers what is on the branch now (`None`: forget it).
fn remember(gh: &GitHub, pr: &PromotionPr, head: Option<&str>) {
    if let Ok(mut m) = gh.inner.memo.lock() {
        match head {
            Some(head) => {
                if m.len() >= 1024 {
                    m.clear();
                }
                let memo = Memo {
                    base_commit: pr.base_commit.clone(),
                    files: wanted_files(pr),
                    head_sha: head.to_owned(),
                    statuses: pr.statuses.clone(),
                };
                m.insert(pr.branch.clone(), memo);
            }
            None => {
                m.remove(&pr.branch);
            }
        }
    }
}

/// Whether these statuses were set on this head by this process already.
fn statuses_set(gh: &GitHub, pr: &PromotionPr, head: &str) -> bool {
    gh.inner
        .memo
        .lock()
        .ok()
        .and_then(|m| m.get(&pr.branch).map(|m| m.head_sha == head && m.statuses == pr.statuses))
        .unwrap_or(false)
}

/// Step 3, no open pull request: open one. A lost answer is checked by looking the pull
/// request up; a resend's 422 "already exists" is taken as the answer too.
async fn open_pull(gh: &GitHub, pr: &PromotionPr, title: &str, body: &str) -> Result<(Pull, bool), GitHubError> {
    let op = Op::new(format!("open the pull request for {}", pr.branch), "pull_requests: write");
    let path = format!("{}/pulls", gh.repo_path());
    let request = json!({ "title": title, "head": pr.branch, "base": pr.base, "body": body });
    for attempt in 0..2 {
        match gh.send_write(&op, Method::POST, &path, &request).await? {
            Outcome::Known(r) if r.ok() => {
                return Pull::from_json(&r.json(), &gh.repo())
                    .map(|p| (p, true))
                    .ok_or_else(|| op.unexpected("the pull request has no number or head"));
            }
            Outcome::Known(r) if r.status == 422 && r.message().to_ascii_lowercase().contains("already exists") => {
                return match gh.find_open_pull(&pr.branch).await? {
                    Some(p) => Ok((p, attempt > 0)),
                    None => Err(op.refused(&r)),
                };
            }
            Outcome::Known(r) => return Err(op.refused(&r)),
            Outcome::Unknown(e) => match gh.find_open_pull(&pr.branch).await? {
                Some(p) => return Ok((p, true)),
                None if attempt == 0 => {
                    tracing::warn!(branch = %pr.branch, error = %e, "the pull request was not opened; opening it again")
                }
                None => return Err(e),
            },
        }
    }
    Err(op.unexpected("the pull request could not be opened"))
}

/// Step 3, open pull request: its title and body brought up to date.
async fn update_pull(gh: &GitHub, pull: &Pull, title: &str, body: &str) -> Result<(), GitHubError> {
    if pull.pr.title == title && pull.pr.body == body {
        return Ok(());
    }
    let op = Op::new(format!("update the pull request #{}", pull.pr.number), "pull_requests: write");
    let path = format!("{}/pulls/{}", gh.repo_path(), pull.pr.number);
    let reply =
        gh.send(&op, Method::PATCH, &path, Some(&json!({ "title": title, "body": body })), Resend::Safe).await?;
    if reply.ok() { Ok(()) } else { Err(op.refused(&reply)) }
}
