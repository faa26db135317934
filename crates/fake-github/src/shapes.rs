//! Response bodies shaped like GitHub's. Each starts from the OpenAPI description's example for
//! the operation (so every field a client may read is there), rebased onto this server's URLs
//! and repository, and then gets the fake's real values for everything it tracks.

use base64::Engine;
use git2::Oid;
use serde_json::{Value, json};

use crate::git::{CommitInfo, Git, Person};
use crate::spec::spec;
use crate::state::{Comment, Issue, Reaction, Repo, State, Status, iso};

/// The server's API and web bases.
pub(crate) struct Urls {
    /// `http://127.0.0.1:PORT`.
    pub api: String,
    /// `https://github.com`.
    pub web: String,
}

impl Urls {
    /// The bases of a server.
    pub fn of(st: &State) -> Urls {
        Urls { api: st.api_base.clone(), web: st.opts.web_base.trim_end_matches('/').to_string() }
    }
}

/// A stable id for a login (GitHub ids are stable per user).
pub(crate) fn user_id(login: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in login.to_ascii_lowercase().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h % 90_000_000 + 10_000_000
}

/// `noreply` e-mail of a login.
pub(crate) fn noreply(login: &str) -> String {
    format!("{}+{login}@users.noreply.github.com", user_id(login))
}

/// The example of `key`'s `status` response, rebased onto `repo` and this server.
fn template(urls: &Urls, key: &str, status: u16, owner: &str, name: &str) -> Value {
    let example = spec().example(key, status).unwrap_or_else(|| json!({}));
    let text = example
        .to_string()
        .replace("https://api.github.com", &urls.api)
        .replace("https://github.com", &urls.web)
        .replace("octocat/Hello-World", &format!("{owner}/{name}"))
        .replace("Hello-World", name)
        .replace("octocat", owner);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| json!({}));
    match v {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    }
}

/// A `simple-user`.
pub(crate) fn user(urls: &Urls, login: &str) -> Value {
    let u = format!("{}/users/{login}", urls.api);
    let id = user_id(login);
    json!({
        "login": login, "id": id,
        "node_id": base64::engine::general_purpose::STANDARD.encode(format!("04:User{id}")),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "", "url": u, "html_url": format!("{}/{login}", urls.web),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": if login.ends_with("[bot]") { "Bot" } else { "User" },
        "user_view_type": "public", "site_admin": false
    })
}

/// A repository as `GET /repos/{owner}/{repo}` returns it.
pub(crate) fn repo(urls: &Urls, r: &Repo, default_branch: &str) -> Value {
    let mut v = template(urls, "GET /repos/{owner}/{repo}", 200, &r.owner, &r.name);
    if let Some(o) = v.as_object_mut() {
        for k in ["parent", "source", "organization", "template_repository"] {
            o.remove(k);
        }
    }
    for k in ["description", "language", "homepage", "mirror_url", "license"] {
        if v.get(k).is_none() {
            v[k] = Value::Null;
        }
    }
    v["id"] = json!(r.id);
    v["node_id"] = json!(format!("R_fake{}", r.id));
    v["owner"] = user(urls, &r.owner);
    v["private"] = json!(r.private);
    v["visibility"] = json!(if r.private { "private" } else { "public" });
    v["fork"] = json!(false);
    v["default_branch"] = json!(default_branch);
    v["html_url"] = json!(format!("{}/{}", urls.web, r.full_name()));
    v["url"] = json!(format!("{}/repos/{}", urls.api, r.full_name()));
    v["clone_url"] = json!(format!("{}/{}.git", urls.web, r.full_name()));
    v
}

/// A label object.
pub(crate) fn label(urls: &Urls, r: &Repo, name: &str) -> Value {
    let (name, id, color) =
        r.labels.get(&name.to_ascii_lowercase()).cloned().unwrap_or_else(|| (name.to_string(), 0, "ededed".into()));
    json!({
        "id": id, "node_id": format!("LA_fake{id}"),
        "url": format!("{}/repos/{}/labels/{}", urls.api, r.full_name(), name),
        "name": name, "description": "", "color": color, "default": false
    })
}

/// A pull request as `GET /pulls/{n}` returns it; `git` supplies live head/base commits.
pub(crate) fn pull(urls: &Urls, r: &Repo, i: &Issue, git: Option<&Git>) -> Value {
    let p = i.pull.as_ref().expect("pull request");
    let full = r.full_name();
    let n = i.number;
    let api = format!("{}/repos/{full}", urls.api);
    let html = format!("{}/{full}/pull/{n}", urls.web);
    let mut v = template(urls, "GET /repos/{owner}/{repo}/pulls/{pull_number}", 200, &r.owner, &r.name);
    let live = |branch: &str| git.and_then(|g| g.ref_target(&format!("refs/heads/{branch}")));
    let (head_sha, base_sha) = if i.state == "open" {
        (
            live(&p.head_ref).map_or(p.head_sha.clone(), |o| o.to_string()),
            live(&p.base_ref).map_or(p.base_sha.clone(), |o| o.to_string()),
        )
    } else {
        (p.head_sha.clone(), p.base_sha.clone())
    };
    let (mergeable, commits) = match (git, Oid::from_str(&base_sha), Oid::from_str(&head_sha)) {
        (Some(g), Ok(b), Ok(h)) => (g.mergeable(b, h), g.ahead(b, h)),
        _ => (true, 0),
    };
    let repo_v = git.map_or_else(|| repo(urls, r, "main"), |g| repo(urls, r, &g.head_branch()));
    let side = |branch: &str, sha: &str| {
        json!({"label": format!("{}:{branch}", r.owner), "ref": branch, "sha": sha,
               "user": user(urls, &r.owner), "repo": repo_v})
    };
    let merged = p.merged_at.is_some();
    let set = |v: &mut Value, k: &str, x: Value| v[k] = x;
    set(&mut v, "url", json!(format!("{api}/pulls/{n}")));
    set(&mut v, "id", json!(i.id));
    set(&mut v, "node_id", json!(format!("PR_fake{}", i.id)));
    set(&mut v, "html_url", json!(html));
    set(&mut v, "diff_url", json!(format!("{html}.diff")));
    set(&mut v, "patch_url", json!(format!("{html}.patch")));
    set(&mut v, "issue_url", json!(format!("{api}/issues/{n}")));
    set(&mut v, "commits_url", json!(format!("{api}/pulls/{n}/commits")));
    set(&mut v, "review_comments_url", json!(format!("{api}/pulls/{n}/comments")));
    set(&mut v, "comments_url", json!(format!("{api}/issues/{n}/comments")));
    set(&mut v, "statuses_url", json!(format!("{api}/statuses/{head_sha}")));
    set(&mut v, "number", json!(n));
    set(&mut v, "state", json!(i.state));
    set(&mut v, "locked", json!(false));
    set(&mut v, "active_lock_reason", Value::Null);
    set(&mut v, "title", json!(i.title));
    set(&mut v, "user", user(urls, &i.user));
    set(&mut v, "body", json!(i.body));
    set(&mut v, "labels", Value::Array(i.labels.iter().map(|l| label(urls, r, l)).collect()));
    set(&mut v, "milestone", Value::Null);
    set(&mut v, "assignee", Value::Null);
    set(&mut v, "assignees", json!([]));
    set(&mut v, "requested_reviewers", json!([]));
    set(&mut v, "requested_teams", json!([]));
    set(&mut v, "created_at", json!(iso(i.created_at)));
    set(&mut v, "updated_at", json!(iso(i.updated_at)));
    set(&mut v, "closed_at", json!(i.closed_at.map(iso)));
    set(&mut v, "merged_at", json!(p.merged_at.map(iso)));
    set(&mut v, "merge_commit_sha", json!(p.merge_commit_sha));
    set(&mut v, "head", side(&p.head_ref, &head_sha));
    set(&mut v, "base", side(&p.base_ref, &base_sha));
    set(
        &mut v,
        "author_association",
        json!(if i.user.eq_ignore_ascii_case(&r.owner) { "OWNER" } else { "CONTRIBUTOR" }),
    );
    set(&mut v, "draft", json!(p.draft));
    set(&mut v, "merged", json!(merged));
    set(&mut v, "mergeable", if merged { Value::Null } else { json!(mergeable) });
    set(&mut v, "rebaseable", if merged { Value::Null } else { json!(mergeable) });
    let state = match (merged, mergeable, p.draft) {
        (true, ..) => "unknown",
        (_, false, _) => "dirty",
        (_, _, true) => "draft",
        _ => "clean",
    };
    set(&mut v, "mergeable_state", json!(state));
    set(&mut v, "merged_by", p.merged_by.as_deref().map_or(Value::Null, |m| user(urls, m)));
    set(&mut v, "comments", json!(r.comments.iter().filter(|c| c.issue == n).count()));
    set(&mut v, "review_comments", json!(0));
    set(&mut v, "commits", json!(commits));
    set(&mut v, "additions", json!(0));
    set(&mut v, "deletions", json!(0));
    set(&mut v, "changed_files", json!(0));
    let link = |h: String| json!({"href": h});
    set(
        &mut v,
        "_links",
        json!({
            "self": link(format!("{api}/pulls/{n}")), "html": link(html.clone()),
            "issue": link(format!("{api}/issues/{n}")), "comments": link(format!("{api}/issues/{n}/comments")),
            "review_comments": link(format!("{api}/pulls/{n}/comments")),
            "review_comment": link(format!("{api}/pulls/comments{{/number}}")),
            "commits": link(format!("{api}/pulls/{n}/commits")), "statuses": link(format!("{api}/statuses/{head_sha}")),
        }),
    );
    v
}

/// An issue comment.
pub(crate) fn comment(urls: &Urls, r: &Repo, c: &Comment) -> Value {
    let full = r.full_name();
    let kind = if r.issues.get(&c.issue).is_some_and(|i| i.pull.is_some()) { "pull" } else { "issues" };
    let mut v = template(urls, "POST /repos/{owner}/{repo}/issues/{issue_number}/comments", 201, &r.owner, &r.name);
    v["id"] = json!(c.id);
    v["node_id"] = json!(format!("IC_fake{}", c.id));
    v["url"] = json!(format!("{}/repos/{full}/issues/comments/{}", urls.api, c.id));
    v["html_url"] = json!(format!("{}/{full}/{kind}/{}#issuecomment-{}", urls.web, c.issue, c.id));
    v["issue_url"] = json!(format!("{}/repos/{full}/issues/{}", urls.api, c.issue));
    v["body"] = json!(c.body);
    v["user"] = user(urls, &c.user);
    v["created_at"] = json!(iso(c.created_at));
    v["updated_at"] = json!(iso(c.updated_at));
    v["author_association"] =
        json!(if r.roles.contains_key(&c.user.to_ascii_lowercase()) { "COLLABORATOR" } else { "NONE" });
    let counts = |content: &str| r.reactions.iter().filter(|x| x.comment_id == c.id && x.content == content).count();
    let total = r.reactions.iter().filter(|x| x.comment_id == c.id).count();
    v["reactions"] = json!({
        "url": format!("{}/repos/{full}/issues/comments/{}/reactions", urls.api, c.id), "total_count": total,
        "+1": counts("+1"), "-1": counts("-1"), "laugh": counts("laugh"), "confused": counts("confused"),
        "heart": counts("heart"), "hooray": counts("hooray"), "eyes": counts("eyes"), "rocket": counts("rocket"),
    });
    v
}

/// A reaction.
pub(crate) fn reaction(urls: &Urls, x: &Reaction) -> Value {
    json!({"id": x.id, "node_id": format!("REA_fake{}", x.id), "user": user(urls, &x.user),
           "content": x.content, "created_at": iso(x.created_at)})
}

/// A commit status.
pub(crate) fn status(urls: &Urls, r: &Repo, s: &Status) -> Value {
    json!({
        "url": format!("{}/repos/{}/statuses/{}", urls.api, r.full_name(), s.sha),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", user_id(&s.creator)),
        "id": s.id, "node_id": format!("SC_fake{}", s.id), "state": s.state, "description": s.description,
        "target_url": s.target_url, "context": s.context,
        "created_at": iso(s.created_at), "updated_at": iso(s.created_at), "creator": user(urls, &s.creator),
    })
}

/// A git reference.
pub(crate) fn git_ref(urls: &Urls, r: &Repo, full_ref: &str, sha: &str) -> Value {
    let api = format!("{}/repos/{}", urls.api, r.full_name());
    json!({
        "ref": full_ref, "node_id": format!("REF_fake{}", &sha[..7.min(sha.len())]),
        "url": format!("{api}/git/{full_ref}"),
        "object": {"type": "commit", "sha": sha, "url": format!("{api}/git/commits/{sha}")}
    })
}

fn person(p: &Person) -> Value {
    json!({"name": p.name, "email": p.email, "date": iso(p.time)})
}

/// A git commit as the git data and contents APIs return it.
pub(crate) fn git_commit(urls: &Urls, r: &Repo, sha: &str, c: &CommitInfo) -> Value {
    let api = format!("{}/repos/{}", urls.api, r.full_name());
    let html = format!("{}/{}", urls.web, r.full_name());
    json!({
        "sha": sha, "node_id": format!("C_fake{}", &sha[..7.min(sha.len())]),
        "url": format!("{api}/git/commits/{sha}"), "html_url": format!("{html}/commit/{sha}"),
        "author": person(&c.author), "committer": person(&c.committer), "message": c.message,
        "tree": {"sha": c.tree.to_string(), "url": format!("{api}/git/trees/{}", c.tree)},
        "parents": c.parents.iter().map(|p| json!({
            "sha": p.to_string(), "url": format!("{api}/git/commits/{p}"), "html_url": format!("{html}/commit/{p}")
        })).collect::<Vec<_>>(),
        "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null}
    })
}

/// A file or directory entry of the contents API (`data`: include base64 content).
pub(crate) fn content(urls: &Urls, r: &Repo, path: &str, oid: Oid, size: usize, kind: &str, git_ref: &str) -> Value {
    let api = format!("{}/repos/{}", urls.api, r.full_name());
    let html =
        format!("{}/{}/{}/{git_ref}/{path}", urls.web, r.full_name(), if kind == "dir" { "tree" } else { "blob" });
    let git = format!("{api}/git/{}/{oid}", if kind == "dir" { "trees" } else { "blobs" });
    let this = format!("{api}/contents/{path}?ref={git_ref}");
    let download =
        (kind == "file").then(|| format!("https://raw.githubusercontent.com/{}/{git_ref}/{path}", r.full_name()));
    json!({
        "type": kind, "size": size, "name": path.rsplit('/').next().unwrap_or(path), "path": path,
        "sha": oid.to_string(), "url": this, "git_url": git, "html_url": html, "download_url": download,
        "_links": {"self": this, "git": git, "html": html}
    })
}

/// Base64 the way the contents API sends it: lines of 60 characters, each ending in `\n`.
pub(crate) fn base64_lines(data: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::with_capacity(b64.len() + b64.len() / 60 + 1);
    for chunk in b64.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}
