//! Pull requests: list (with GitHub's `head=owner:branch` filter), create, get, update, merge.

use git2::Oid;
use serde_json::{Value, json};

use super::{Ctx, Reply, paginate};
use crate::git::Git;
use crate::shapes;
use crate::state::{Issue, Pull, bump, now};

type Result<T> = std::result::Result<T, Reply>;

fn pr_json(ctx: &Ctx, key: &str, number: u64, git: &Git) -> Value {
    let repo = &ctx.st.repos[key];
    shapes::pull(&ctx.urls(), repo, &repo.issues[&number], Some(git))
}

/// The pull request of the path, or 404.
fn find(ctx: &Ctx, key: &str) -> Result<u64> {
    let n = ctx.number("pull_number");
    match ctx.st.repos[key].issues.get(&n) {
        Some(i) if i.pull.is_some() => Ok(n),
        _ => Err(ctx.not_found()),
    }
}

pub(super) fn list(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let repo = &ctx.st.repos[&key];
    let state = ctx.query.get("state").map_or("open", String::as_str);
    // Real GitHub ignores a `head` without `owner:`; so does the fake.
    let head = ctx.query.get("head").and_then(|h| h.split_once(':'));
    let base = ctx.query.get("base");
    let mut issues: Vec<&Issue> = repo
        .issues
        .values()
        .filter(|i| i.pull.is_some())
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| {
            head.is_none_or(|(owner, branch)| {
                owner.eq_ignore_ascii_case(&repo.owner) && i.pull.as_ref().is_some_and(|p| p.head_ref == branch)
            })
        })
        .filter(|i| base.is_none_or(|b| i.pull.as_ref().is_some_and(|p| &p.base_ref == b)))
        .collect();
    let sort = ctx.query.get("sort").map_or("created", String::as_str);
    let default_dir = if sort == "created" { "desc" } else { "asc" };
    let desc = ctx.query.get("direction").map_or(default_dir, String::as_str) == "desc";
    issues.sort_by_key(|i| (if sort == "updated" { i.updated_at } else { i.created_at }, i.number));
    if desc {
        issues.reverse();
    }
    let urls = ctx.urls();
    let items: Vec<Value> = issues.into_iter().map(|i| shapes::pull(&urls, repo, i, Some(&git))).collect();
    let path = format!("/repos/{}/pulls", repo.full_name());
    Ok(paginate(ctx, &path, items))
}

/// 422 when an open pull request already goes from `head` into `base`.
fn check_duplicate(ctx: &Ctx, key: &str, head: &str, base: &str, except: u64) -> Result<()> {
    let repo = &ctx.st.repos[key];
    let dup = repo.issues.values().any(|i| {
        i.number != except
            && i.state == "open"
            && i.pull.as_ref().is_some_and(|p| p.head_ref == head && p.base_ref == base)
    });
    if dup {
        let message = format!("A pull request already exists for {}:{head}.", repo.owner);
        return Err(Reply::validation(
            json!({"resource": "PullRequest", "code": "custom", "message": message}),
            &ctx.docs,
        ));
    }
    Ok(())
}

pub(super) fn create(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let owner = ctx.st.repos[&key].owner.clone();
    let invalid = |field: &str| {
        Reply::validation(json!({"resource": "PullRequest", "field": field, "code": "invalid"}), &ctx.docs)
    };
    let head_arg = ctx.str_field("head").unwrap_or_default().to_string();
    let head = match head_arg.split_once(':') {
        Some((o, b)) if o.eq_ignore_ascii_case(&owner) => b.to_string(),
        Some(_) => return Err(invalid("head")),
        None => head_arg.clone(),
    };
    let base = ctx.str_field("base").unwrap_or_default().to_string();
    let base_sha = git.ref_target(&format!("refs/heads/{base}")).ok_or_else(|| invalid("base"))?;
    let head_sha = git.ref_target(&format!("refs/heads/{head}")).ok_or_else(|| invalid("head"))?;
    check_duplicate(ctx, &key, &head, &base, 0)?;
    if git.ahead(base_sha, head_sha) == 0 {
        let message = format!("No commits between {base} and {head}");
        return Err(Reply::validation(
            json!({"resource": "PullRequest", "code": "custom", "message": message}),
            &ctx.docs,
        ));
    }
    let title = ctx.str_field("title").unwrap_or_default().to_string();
    if title.trim().is_empty() {
        return Err(Reply::validation(
            json!({"resource": "Issue", "field": "title", "code": "missing_field"}),
            &ctx.docs,
        ));
    }
    let id = bump(&mut ctx.st.next_id);
    let t = now();
    let pull = Pull {
        head_ref: head,
        head_sha: head_sha.to_string(),
        base_ref: base,
        base_sha: base_sha.to_string(),
        draft: ctx.body["draft"].as_bool().unwrap_or(false),
        merged_at: None,
        merge_commit_sha: None,
        merged_by: None,
    };
    let body = ctx.str_field("body").map(str::to_string);
    let repo = ctx.st.repos.get_mut(&key).expect("repo");
    let number = repo.next_number();
    let issue = Issue {
        id,
        number,
        title,
        body,
        state: "open".into(),
        user: ctx.login.clone(),
        labels: Vec::new(),
        created_at: t,
        updated_at: t,
        closed_at: None,
        pull: Some(pull),
    };
    repo.issues.insert(number, issue);
    let v = pr_json(ctx, &key, number, &git);
    let location = v["url"].as_str().unwrap_or_default().to_string();
    let mut reply = Reply::json(201, v);
    reply.headers.push(("location".into(), location));
    Ok(reply)
}

pub(super) fn get(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let n = find(ctx, &key)?;
    Ok(Reply::json(200, pr_json(ctx, &key, n, &git)))
}

/// Freezes a pull request's head and base commits (when it stops being open).
fn freeze(git: &Git, issue: &mut Issue) {
    if let Some(p) = issue.pull.as_mut() {
        if let Some(h) = git.ref_target(&format!("refs/heads/{}", p.head_ref)) {
            p.head_sha = h.to_string();
        }
        if let Some(b) = git.ref_target(&format!("refs/heads/{}", p.base_ref)) {
            p.base_sha = b.to_string();
        }
    }
}

pub(super) fn update(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let n = find(ctx, &key)?;
    let (head, base, merged) = {
        let p = ctx.st.repos[&key].issues[&n].pull.clone().expect("pull");
        (p.head_ref, ctx.str_field("base").map_or(p.base_ref, str::to_string), p.merged_at.is_some())
    };
    let new_state = ctx.str_field("state").map(str::to_string);
    if new_state.as_deref() == Some("open") {
        if merged {
            return Err(Reply::validation(
                json!({"resource": "PullRequest", "code": "custom", "message": "state cannot be changed. The pull request cannot be reopened."}),
                &ctx.docs,
            ));
        }
        check_duplicate(ctx, &key, &head, &base, n)?;
    }
    if ctx.body.get("base").is_some() && git.ref_target(&format!("refs/heads/{base}")).is_none() {
        return Err(Reply::validation(
            json!({"resource": "PullRequest", "field": "base", "code": "invalid"}),
            &ctx.docs,
        ));
    }
    let (title, body) = (ctx.str_field("title").map(str::to_string), ctx.body.get("body").cloned());
    let issue = ctx.st.repos.get_mut(&key).expect("repo").issues.get_mut(&n).expect("issue");
    if let Some(t) = title {
        issue.title = t;
    }
    if let Some(b) = body {
        issue.body = b.as_str().map(str::to_string);
    }
    if let Some(p) = issue.pull.as_mut() {
        p.base_ref = base;
    }
    match new_state.as_deref() {
        Some("closed") if issue.state == "open" => {
            freeze(&git, issue);
            issue.state = "closed".into();
            issue.closed_at = Some(now());
        }
        Some("open") if issue.state == "closed" => {
            issue.state = "open".into();
            issue.closed_at = None;
        }
        _ => {}
    }
    issue.updated_at = now();
    Ok(Reply::json(200, pr_json(ctx, &key, n, &git)))
}

pub(super) fn merge(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let n = find(ctx, &key)?;
    let not_mergeable = |ctx: &Ctx| Reply::error(405, "Pull Request is not mergeable", &ctx.docs);
    let (issue_title, state, pull) = {
        let i = &ctx.st.repos[&key].issues[&n];
        (i.title.clone(), i.state.clone(), i.pull.clone().expect("pull"))
    };
    if state != "open" || pull.merged_at.is_some() {
        return Err(not_mergeable(ctx));
    }
    if pull.draft {
        return Err(Reply::error(405, "Pull Request is still a draft", &ctx.docs));
    }
    let base_ref = format!("refs/heads/{}", pull.base_ref);
    let head = git.ref_target(&format!("refs/heads/{}", pull.head_ref)).ok_or_else(|| not_mergeable(ctx))?;
    let base = git.ref_target(&base_ref).ok_or_else(|| not_mergeable(ctx))?;
    if let Some(sha) = ctx.str_field("sha") {
        if Oid::from_str(sha).ok() != Some(head) {
            return Err(Reply::error(409, "Head branch was modified. Review and try the merge again.", &ctx.docs));
        }
    }
    let method = ctx.str_field("merge_method").unwrap_or("merge").to_string();
    let owner = ctx.st.repos[&key].owner.clone();
    let default_title = match method.as_str() {
        "merge" => format!("Merge pull request #{n} from {owner}/{}", pull.head_ref),
        _ => format!("{issue_title} (#{n})"),
    };
    let title = ctx.str_field("commit_title").map_or(default_title, str::to_string);
    let body = ctx
        .str_field("commit_message")
        .map_or_else(|| if method == "merge" { issue_title.clone() } else { String::new() }, str::to_string);
    let message = if body.is_empty() { title } else { format!("{title}\n\n{body}") };
    let me = ctx.me();
    let tip = git
        .merge(&base_ref, base, head, &method, &message, &me)
        .map_err(|e| Reply::error(500, &e, &ctx.docs))?
        .ok_or_else(|| not_mergeable(ctx))?;
    let login = ctx.login.clone();
    let issue = ctx.st.repos.get_mut(&key).expect("repo").issues.get_mut(&n).expect("issue");
    let t = now();
    issue.state = "closed".into();
    issue.closed_at = Some(t);
    issue.updated_at = t;
    if let Some(p) = issue.pull.as_mut() {
        p.head_sha = head.to_string();
        p.base_sha = base.to_string();
        p.merged_at = Some(t);
        p.merge_commit_sha = Some(tip.to_string());
        p.merged_by = Some(login);
    }
    Ok(Reply::json(200, json!({"sha": tip.to_string(), "merged": true, "message": "Pull Request successfully merged"})))
}
