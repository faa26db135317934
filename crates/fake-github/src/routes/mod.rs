//! Route handlers, one module per area of the API. Each gets a [`Ctx`] with the request
//! (already authenticated and validated against the OpenAPI description) and the state lock,
//! and returns a [`Reply`] with GitHub's status codes and error bodies.

mod apps;
mod contents;
mod git_data;
mod issues;
mod pulls;
mod statuses;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::git::{Git, Person};
use crate::shapes::{Urls, noreply};
use crate::state::{State, now};

/// An answer.
pub(crate) struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body (`null`: empty).
    pub body: Value,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply { status, body, headers: Vec::new() }
    }

    /// GitHub's error body: `{"message", "documentation_url", "status"}`.
    pub fn error(status: u16, message: &str, docs: &str) -> Reply {
        Reply::json(status, json!({"message": message, "documentation_url": docs, "status": status.to_string()}))
    }

    /// GitHub's `422 Validation Failed` with one entry in `errors`.
    pub fn validation(error: Value, docs: &str) -> Reply {
        Reply::json(
            422,
            json!({"message": "Validation Failed", "errors": [error], "documentation_url": docs, "status": "422"}),
        )
    }

    /// `204 No Content`.
    pub fn no_content() -> Reply {
        Reply::json(204, Value::Null)
    }
}

/// A request being served.
pub(crate) struct Ctx<'a> {
    /// The locked state.
    pub st: &'a mut State,
    /// The operation id.
    pub id: &'a str,
    /// Decoded path parameters.
    pub params: &'a BTreeMap<String, String>,
    /// Decoded query parameters.
    pub query: &'a BTreeMap<String, String>,
    /// The JSON body (`null` when empty).
    pub body: Value,
    /// The authenticated login (empty for app JWT requests).
    pub login: String,
    /// The operation's documentation URL.
    pub docs: String,
}

impl Ctx<'_> {
    /// A path parameter.
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }

    /// A path parameter that the spec declares an integer (validated before dispatch).
    pub fn number(&self, name: &str) -> u64 {
        self.param(name).parse().unwrap_or(0)
    }

    /// A string field of the body.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }

    /// The repository of the path and its git repository, or GitHub's 404.
    pub fn repo(&self) -> Result<(String, Git), Reply> {
        let key = format!("{}/{}", self.param("owner"), self.param("repo")).to_ascii_lowercase();
        let repo = self.st.repos.get(&key).ok_or_else(|| self.not_found())?;
        let git = Git::open(&repo.git_dir).map_err(|e| Reply::error(500, &e, &self.docs))?;
        Ok((key, git))
    }

    /// `404 Not Found`.
    pub fn not_found(&self) -> Reply {
        Reply::error(404, "Not Found", &self.docs)
    }

    /// The server's URL bases.
    pub fn urls(&self) -> Urls {
        Urls::of(self.st)
    }

    /// The acting user as a commit signature, now.
    pub fn me(&self) -> Person {
        Person { name: self.login.clone(), email: noreply(&self.login), time: now() }
    }

    /// A `{name, email, date?}` body field as a signature, else `default`.
    pub fn person_field(&self, field: &str, default: &Person) -> Person {
        let v = &self.body[field];
        match (v["name"].as_str(), v["email"].as_str()) {
            (Some(name), Some(email)) => Person { name: name.into(), email: email.into(), time: default.time },
            _ => default.clone(),
        }
    }
}

/// Serves a validated request.
pub(crate) fn dispatch(ctx: &mut Ctx) -> Reply {
    let result = match ctx.id {
        "repos/get" => git_data::get_repo(ctx),
        "git/get-ref" => git_data::get_ref(ctx),
        "git/create-ref" => git_data::create_ref(ctx),
        "git/update-ref" => git_data::update_ref(ctx),
        "git/delete-ref" => git_data::delete_ref(ctx),
        "git/create-tree" => git_data::create_tree(ctx),
        "git/create-commit" => git_data::create_commit(ctx),
        "git/get-commit" => git_data::get_commit(ctx),
        "repos/get-content" => contents::get(ctx),
        "repos/create-or-update-file-contents" => contents::put(ctx),
        "pulls/list" => pulls::list(ctx),
        "pulls/create" => pulls::create(ctx),
        "pulls/get" => pulls::get(ctx),
        "pulls/update" => pulls::update(ctx),
        "pulls/merge" => pulls::merge(ctx),
        "issues/list-comments" => issues::list_comments(ctx),
        "issues/create-comment" => issues::create_comment(ctx),
        "issues/update-comment" => issues::update_comment(ctx),
        "issues/add-labels" => issues::add_labels(ctx),
        "reactions/create-for-issue-comment" => issues::react(ctx),
        "repos/create-commit-status" => statuses::create(ctx),
        "repos/get-combined-status-for-ref" => statuses::combined(ctx),
        "repos/get-collaborator-permission-level" => apps::permission(ctx),
        "apps/create-installation-access-token" => apps::installation_token(ctx),
        other => Err(Reply::error(501, &format!("fake-github has no handler for {other}"), &ctx.docs)),
    };
    result.unwrap_or_else(|r| r)
}

/// `page`/`per_page` slicing with GitHub's `Link` header.
pub(crate) fn paginate(ctx: &Ctx, path: &str, items: Vec<Value>) -> Reply {
    let per_page = ctx.query.get("per_page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(30).clamp(1, 100);
    let page = ctx.query.get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let mut reply = Reply::json(200, Value::Array(slice));
    if last > 1 {
        let mut q = ctx.query.clone();
        q.insert("per_page".into(), per_page.to_string());
        let mut url = |p: usize| {
            q.insert("page".into(), p.to_string());
            let qs: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}{path}?{}", ctx.st.api_base, qs.join("&"))
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(format!("<{}>; rel=\"prev\"", url(page - 1)));
        }
        if page < last {
            links.push(format!("<{}>; rel=\"next\"", url(page + 1)));
            links.push(format!("<{}>; rel=\"last\"", url(last)));
        }
        if page > 1 {
            links.push(format!("<{}>; rel=\"first\"", url(1)));
        }
        if !links.is_empty() {
            reply.headers.push(("link".into(), links.join(", ")));
        }
    }
    reply
}
