//! Issue comments (list, create, update), labels on issues and pull requests, and reactions to
//! issue comments.

use serde_json::{Value, json};

use super::{Ctx, Reply, paginate};
use crate::shapes;
use crate::state::{Comment, Reaction, bump, iso, now};

type Result<T> = std::result::Result<T, Reply>;

/// GitHub's limit on comment bodies, in characters.
const MAX_BODY: usize = 65_536;

fn check_body(ctx: &Ctx) -> Result<String> {
    let body = ctx.str_field("body").unwrap_or_default().to_string();
    if body.chars().count() > MAX_BODY {
        let error = json!({"resource": "IssueComment", "code": "unprocessable", "field": "data",
                           "message": format!("Body is too long (maximum is {MAX_BODY} characters)")});
        return Err(Reply::validation(error, &ctx.docs));
    }
    if body.trim().is_empty() {
        return Err(Reply::validation(
            json!({"resource": "IssueComment", "code": "missing_field", "field": "body"}),
            &ctx.docs,
        ));
    }
    Ok(body)
}

fn issue_exists(ctx: &Ctx, key: &str) -> Result<u64> {
    let n = ctx.number("issue_number");
    if ctx.st.repos[key].issues.contains_key(&n) { Ok(n) } else { Err(ctx.not_found()) }
}

pub(super) fn list_comments(ctx: &mut Ctx) -> Result<Reply> {
    let (key, _) = ctx.repo()?;
    let n = issue_exists(ctx, &key)?;
    let since = ctx.query.get("since").cloned();
    let urls = ctx.urls();
    let repo = &ctx.st.repos[&key];
    let items: Vec<Value> = repo
        .comments
        .iter()
        .filter(|c| c.issue == n)
        .filter(|c| since.as_ref().is_none_or(|s| iso(c.updated_at) >= *s))
        .map(|c| shapes::comment(&urls, repo, c))
        .collect();
    let path = format!("/repos/{}/issues/{n}/comments", repo.full_name());
    Ok(paginate(ctx, &path, items))
}

pub(super) fn create_comment(ctx: &mut Ctx) -> Result<Reply> {
    let (key, _) = ctx.repo()?;
    let n = issue_exists(ctx, &key)?;
    let body = check_body(ctx)?;
    let id = bump(&mut ctx.st.next_id);
    let t = now();
    let comment = Comment { id, issue: n, body, user: ctx.login.clone(), created_at: t, updated_at: t };
    let repo = ctx.st.repos.get_mut(&key).expect("repo");
    repo.comments.push(comment);
    if let Some(i) = repo.issues.get_mut(&n) {
        i.updated_at = t;
    }
    let urls = ctx.urls();
    let repo = &ctx.st.repos[&key];
    let v = shapes::comment(&urls, repo, repo.comments.last().expect("comment"));
    let location = v["url"].as_str().unwrap_or_default().to_string();
    let mut reply = Reply::json(201, v);
    reply.headers.push(("location".into(), location));
    Ok(reply)
}

pub(super) fn update_comment(ctx: &mut Ctx) -> Result<Reply> {
    let (key, _) = ctx.repo()?;
    let id = ctx.number("comment_id");
    if !ctx.st.repos[&key].comments.iter().any(|c| c.id == id) {
        return Err(ctx.not_found());
    }
    let body = check_body(ctx)?;
    let repo = ctx.st.repos.get_mut(&key).expect("repo");
    let c = repo.comments.iter_mut().find(|c| c.id == id).expect("comment");
    c.body = body;
    c.updated_at = now();
    let urls = ctx.urls();
    let repo = &ctx.st.repos[&key];
    Ok(Reply::json(200, shapes::comment(&urls, repo, repo.comments.iter().find(|c| c.id == id).expect("comment"))))
}

/// Label names from any of the body forms the description allows.
fn label_names(body: &Value) -> Vec<String> {
    let list = match body {
        Value::Object(o) => o.get("labels").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    let one = |v: &Value| v.as_str().or_else(|| v["name"].as_str()).map(str::to_string);
    match &list {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

pub(super) fn add_labels(ctx: &mut Ctx) -> Result<Reply> {
    let (key, _) = ctx.repo()?;
    let n = issue_exists(ctx, &key)?;
    let names = label_names(&ctx.body);
    let mut ids = Vec::new();
    for _ in &names {
        ids.push(bump(&mut ctx.st.next_id));
    }
    let repo = ctx.st.repos.get_mut(&key).expect("repo");
    for (name, id) in names.iter().zip(ids) {
        let entry = repo.labels.entry(name.to_ascii_lowercase()).or_insert_with(|| (name.clone(), id, "ededed".into()));
        let canonical = entry.0.clone();
        let issue = repo.issues.get_mut(&n).expect("issue");
        if !issue.labels.iter().any(|l| l.eq_ignore_ascii_case(&canonical)) {
            issue.labels.push(canonical);
            issue.updated_at = now();
        }
    }
    let urls = ctx.urls();
    let repo = &ctx.st.repos[&key];
    let labels: Vec<Value> = repo.issues[&n].labels.iter().map(|l| shapes::label(&urls, repo, l)).collect();
    Ok(Reply::json(200, Value::Array(labels)))
}

pub(super) fn react(ctx: &mut Ctx) -> Result<Reply> {
    let (key, _) = ctx.repo()?;
    let comment_id = ctx.number("comment_id");
    if !ctx.st.repos[&key].comments.iter().any(|c| c.id == comment_id) {
        return Err(ctx.not_found());
    }
    let content = ctx.str_field("content").unwrap_or_default().to_string();
    let urls = ctx.urls();
    let existing = ctx.st.repos[&key]
        .reactions
        .iter()
        .find(|r| r.comment_id == comment_id && r.content == content && r.user.eq_ignore_ascii_case(&ctx.login));
    if let Some(r) = existing {
        return Ok(Reply::json(200, shapes::reaction(&urls, r)));
    }
    let id = bump(&mut ctx.st.next_id);
    let reaction = Reaction { id, comment_id, content, user: ctx.login.clone(), created_at: now() };
    let v = shapes::reaction(&urls, &reaction);
    ctx.st.repos.get_mut(&key).expect("repo").reactions.push(reaction);
    Ok(Reply::json(201, v))
}
