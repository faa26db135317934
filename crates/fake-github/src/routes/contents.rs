//! The contents API: read a file or directory at a ref, create or update a file with a commit.

use base64::Engine;
use serde_json::{Value, json};

use super::{Ctx, Reply};
use crate::git::Entry;
use crate::shapes::{self, base64_lines};

type Result<T> = std::result::Result<T, Reply>;

pub(super) fn get(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let rev = ctx.query.get("ref").cloned().unwrap_or_else(|| git.head_branch());
    let commit =
        git.resolve(&rev).ok_or_else(|| Reply::error(404, &format!("No commit found for the ref {rev}"), &ctx.docs))?;
    let path = ctx.param("path").trim_matches('/').to_string();
    let urls = ctx.urls();
    let repo = &ctx.st.repos[&key];
    match git.read_path(commit, &path).ok_or_else(|| ctx.not_found())? {
        Entry::File { oid, data } => {
            let mut v = shapes::content(&urls, repo, &path, oid, data.len(), "file", &rev);
            v["content"] = json!(base64_lines(&data));
            v["encoding"] = json!("base64");
            Ok(Reply::json(200, v))
        }
        Entry::Dir(entries) => {
            let list: Vec<Value> = entries
                .into_iter()
                .map(|(name, oid, is_dir, size)| {
                    let p = if path.is_empty() { name } else { format!("{path}/{name}") };
                    shapes::content(&urls, repo, &p, oid, size, if is_dir { "dir" } else { "file" }, &rev)
                })
                .collect();
            Ok(Reply::json(200, Value::Array(list)))
        }
    }
}

pub(super) fn put(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let path = ctx.param("path").trim_matches('/').to_string();
    let branch = ctx.str_field("branch").map_or_else(|| git.head_branch(), str::to_string);
    let cleaned: String = ctx.str_field("content").unwrap_or_default().split_whitespace().collect();
    let data = base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .map_err(|_| Reply::error(422, "content is not valid Base64", &ctx.docs))?;
    let branch_ref = format!("refs/heads/{branch}");
    let tip = git
        .ref_target(&branch_ref)
        .ok_or_else(|| Reply::error(404, &format!("Branch {branch} not found"), &ctx.docs))?;
    let existing = git.read_path(tip, &path);
    let sent_sha = ctx.str_field("sha");
    match (&existing, sent_sha) {
        (Some(Entry::Dir(_)), _) => {
            return Err(Reply::error(422, &format!("{path} is a directory"), &ctx.docs));
        }
        (Some(Entry::File { .. }), None) => {
            return Err(Reply::error(422, "Invalid request.\n\n\"sha\" wasn't supplied.", &ctx.docs));
        }
        (Some(Entry::File { oid, .. }), Some(sha)) if oid.to_string() != sha => {
            return Err(Reply::error(409, &format!("{path} does not match {sha}"), &ctx.docs));
        }
        _ => {}
    }
    let me = ctx.me();
    let committer = ctx.person_field("committer", &me);
    let author = ctx.person_field("author", &committer);
    let message = ctx.str_field("message").unwrap_or_default().to_string();
    let (commit, blob) = git
        .write_file(&branch_ref, tip, &path, &data, &message, (&author, &committer))
        .map_err(|e| Reply::error(500, &e, &ctx.docs))?;
    let info = git.commit_info(commit).ok_or_else(|| Reply::error(500, "commit vanished", &ctx.docs))?;
    let urls = ctx.urls();
    let repo = &ctx.st.repos[&key];
    let body = json!({
        "content": shapes::content(&urls, repo, &path, blob, data.len(), "file", &branch),
        "commit": shapes::git_commit(&urls, repo, &commit.to_string(), &info),
    });
    Ok(Reply::json(if existing.is_some() { 200 } else { 201 }, body))
}
