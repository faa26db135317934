//! `GET /repos/{owner}/{repo}` and the git data API: refs, trees, commits.

use git2::Oid;
use serde_json::{Value, json};

use super::{Ctx, Reply};
use crate::git::{RefError, TreeEdit};
use crate::shapes;

type Result<T> = std::result::Result<T, Reply>;

pub(super) fn get_repo(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let urls = ctx.urls();
    Ok(Reply::json(200, shapes::repo(&urls, &ctx.st.repos[&key], &git.head_branch())))
}

/// `heads/main` → `refs/heads/main`.
fn full_ref(r: &str) -> String {
    if r.starts_with("refs/") { r.to_string() } else { format!("refs/{r}") }
}

fn ref_error(ctx: &Ctx, e: RefError) -> Reply {
    match e {
        RefError::Exists => Reply::error(422, "Reference already exists", &ctx.docs),
        RefError::Missing => Reply::error(422, "Reference does not exist", &ctx.docs),
        RefError::UnknownObject => Reply::error(422, "Object does not exist", &ctx.docs),
        RefError::NotFastForward => Reply::error(422, "Update is not a fast forward", &ctx.docs),
        RefError::Other(m) => Reply::error(422, &m, &ctx.docs),
    }
}

pub(super) fn get_ref(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let full = full_ref(ctx.param("ref"));
    let sha = git.ref_target(&full).ok_or_else(|| ctx.not_found())?;
    Ok(Reply::json(200, shapes::git_ref(&ctx.urls(), &ctx.st.repos[&key], &full, &sha.to_string())))
}

pub(super) fn create_ref(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let r = ctx.str_field("ref").unwrap_or_default().to_string();
    if !r.starts_with("refs/") || r.matches('/').count() < 2 {
        return Err(Reply::error(
            422,
            "Reference name must start with 'refs/' and have at least two slashes.",
            &ctx.docs,
        ));
    }
    if !git2::Reference::is_valid_name(&r) {
        return Err(Reply::error(422, &format!("{r} is not a valid ref name."), &ctx.docs));
    }
    let sha = ctx.str_field("sha").unwrap_or_default().to_string();
    let oid = git.create_ref(&r, &sha).map_err(|e| ref_error(ctx, e))?;
    let mut reply = Reply::json(201, shapes::git_ref(&ctx.urls(), &ctx.st.repos[&key], &r, &oid.to_string()));
    let location = reply.body["url"].as_str().unwrap_or_default().to_string();
    reply.headers.push(("location".into(), location));
    Ok(reply)
}

pub(super) fn update_ref(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let full = full_ref(ctx.param("ref"));
    let sha = ctx.str_field("sha").unwrap_or_default().to_string();
    let force = ctx.body["force"].as_bool().unwrap_or(false);
    let oid = git.update_ref(&full, &sha, force).map_err(|e| ref_error(ctx, e))?;
    Ok(Reply::json(200, shapes::git_ref(&ctx.urls(), &ctx.st.repos[&key], &full, &oid.to_string())))
}

pub(super) fn delete_ref(ctx: &mut Ctx) -> Result<Reply> {
    let (_, git) = ctx.repo()?;
    git.delete_ref(&full_ref(ctx.param("ref"))).map_err(|e| ref_error(ctx, e))?;
    Ok(Reply::no_content())
}

pub(super) fn create_tree(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let base = match ctx.str_field("base_tree") {
        Some(s) => Some(Oid::from_str(s).map_err(|_| Reply::error(422, "Invalid base_tree", &ctx.docs))?),
        None => None,
    };
    let edits: Vec<TreeEdit> = ctx.body["tree"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| TreeEdit {
            path: e["path"].as_str().unwrap_or_default().to_string(),
            sha: e["sha"].as_str().map(str::to_string),
            content: e["content"].as_str().map(str::to_string),
        })
        .collect();
    let oid = git.create_tree(base, &edits).map_err(|m| Reply::error(422, &m, &ctx.docs))?;
    let full = ctx.st.repos[&key].full_name();
    let url = format!("{}/repos/{full}/git/trees/{oid}", ctx.st.api_base);
    Ok(Reply::json(201, json!({"sha": oid.to_string(), "url": url, "tree": [], "truncated": false})))
}

pub(super) fn create_commit(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let bad = |m: &str| Reply::error(422, m, &ctx.docs);
    let tree = Oid::from_str(ctx.str_field("tree").unwrap_or_default()).map_err(|_| bad("Invalid tree"))?;
    let parents: Vec<Oid> = ctx.body["parents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Oid::from_str(p.as_str().unwrap_or_default()).map_err(|_| bad("Invalid parent")))
        .collect::<Result<_>>()?;
    let me = ctx.me();
    let author = ctx.person_field("author", &me);
    let committer = ctx.person_field("committer", &author);
    let message = ctx.str_field("message").unwrap_or_default().to_string();
    let oid = git.create_commit(&message, tree, &parents, &author, &committer).map_err(|m| bad(&m))?;
    let info = git.commit_info(oid).ok_or_else(|| bad("commit vanished"))?;
    let body = shapes::git_commit(&ctx.urls(), &ctx.st.repos[&key], &oid.to_string(), &info);
    Ok(Reply::json(201, body))
}

pub(super) fn get_commit(ctx: &mut Ctx) -> Result<Reply> {
    let (key, git) = ctx.repo()?;
    let oid = git.commit_oid(ctx.param("commit_sha")).ok_or_else(|| ctx.not_found())?;
    let info = git.commit_info(oid).ok_or_else(|| ctx.not_found())?;
    let body: Value = shapes::git_commit(&ctx.urls(), &ctx.st.repos[&key], &oid.to_string(), &info);
    Ok(Reply::json(200, body))
}
