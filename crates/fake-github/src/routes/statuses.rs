//! Commit statuses: create one, and the combined status of a ref.

use serde_json::{Value, json};

use super::{Ctx, Reply};
use crate::shapes;
use crate::state::{Status, bump, now};

type Result<T> = std::result::Result<T, Reply>;

/// GitHub's limit on a status description, in characters.
const MAX_DESCRIPTION: usize = 140;

pub(super) fn create(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let sha = ctx.param("sha").to_string();
    let oid = git.commit_oid(&sha).ok_or_else(|| {
        Reply::validation(
            json!({"resource": "Status", "code": "custom", "field": "sha",
                                 "message": format!("No commit found for SHA: {sha}")}),
            &ctx.docs,
        )
    })?;
    let description = ctx.str_field("description").map(str::to_string);
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        let error = json!({"resource": "Status", "code": "custom", "field": "description",
                           "message": format!("description is too long (maximum is {MAX_DESCRIPTION} characters)")});
        return Err(Reply::validation(error, &ctx.docs));
    }
    let id = bump(&mut ctx.st.next_id);
    let status = Status {
        id,
        sha: oid.to_string(),
        state: ctx.str_field("state").unwrap_or("pending").to_string(),
        context: ctx.str_field("context").unwrap_or("default").to_string(),
        description,
        target_url: ctx.str_field("target_url").map(str::to_string),
        creator: ctx.login.clone(),
        created_at: now(),
    };
    let urls = ctx.urls();
    let repo = ctx.st.repos.get_mut(&key).expect("repo");
    let v = shapes::status(&urls, repo, &status);
    repo.statuses.push(status);
    let mut reply = Reply::json(201, v);
    let location = reply.body["url"].as_str().unwrap_or_default().to_string();
    reply.headers.push(("location".into(), location));
    Ok(reply)
}

pub(super) fn combined(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let rev = ctx.param("ref").to_string();
    let rev = rev.strip_prefix("heads/").map_or(rev.clone(), |b| format!("refs/heads/{b}"));
    let oid = git.resolve(&rev).ok_or_else(|| ctx.not_found())?;
    let sha = oid.to_string();
    let urls = ctx.urls();
    let repo = &ctx.st.repos[&key];
    // The latest status per context (contexts compare case-insensitively).
    let mut latest: Vec<&Status> = Vec::new();
    for s in repo.statuses.iter().rev().filter(|s| s.sha == sha) {
        if !latest.iter().any(|l| l.context.eq_ignore_ascii_case(&s.context)) {
            latest.push(s);
        }
    }
    let state = if latest.iter().any(|s| s.state == "error" || s.state == "failure") {
        "failure"
    } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
        "pending"
    } else {
        "success"
    };
    let mut repo_v = shapes::repo(&urls, repo, &git.head_branch());
    // The combined status embeds a `minimal-repository`, without the full repository's extras.
    if let Some(o) = repo_v.as_object_mut() {
        for k in ["network_count", "subscribers_count"] {
            o.remove(k);
        }
    }
    let statuses: Vec<Value> = latest
        .iter()
        .map(|s| {
            let mut v = shapes::status(&urls, repo, s);
            if let Some(o) = v.as_object_mut() {
                o.remove("creator");
            }
            v
        })
        .collect();
    let body = json!({
        "state": state, "statuses": statuses, "sha": sha, "total_count": statuses.len(),
        "repository": repo_v,
        "commit_url": format!("{}/repos/{}/commits/{sha}", urls.api, repo.full_name()),
        "url": format!("{}/repos/{}/commits/{sha}/status", urls.api, repo.full_name()),
    });
    Ok(Reply::json(200, body))
}
