//! Collaborator permission levels and GitHub App installation tokens.

use serde_json::json;

use super::{Ctx, Reply};
use crate::shapes;
use crate::state::{TokenInfo, bump, iso, now};

type Result<T> = std::result::Result<T, Reply>;

/// The legacy `permission` GitHub reports for a role.
fn permission_of(role: &str) -> &'static str {
    match role {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    }
}

pub(super) fn permission(ctx: &mut Ctx) -> Result<Reply> {
    let (key, _) = ctx.repo()?;
    let user = ctx.param("username").to_string();
    if !ctx.st.user_exists(&user) {
        return Err(ctx.not_found());
    }
    let repo = &ctx.st.repos[&key];
    // Non-collaborators can read a public repository; a private one not at all.
    let role = repo.roles.get(&user.to_ascii_lowercase()).cloned().unwrap_or_else(|| {
        if user.eq_ignore_ascii_case(&repo.owner) {
            "admin".into()
        } else if repo.private {
            "none".into()
        } else {
            "read".into()
        }
    });
    let mut user_v = shapes::user(&ctx.urls(), &user);
    user_v["role_name"] = json!(role);
    user_v["permissions"] = json!({
        "admin": role == "admin", "maintain": matches!(role.as_str(), "admin" | "maintain"),
        "push": matches!(permission_of(&role), "admin" | "write"), "triage": permission_of(&role) != "none",
        "pull": permission_of(&role) != "none",
    });
    let body = json!({"permission": permission_of(&role), "role_name": role, "user": user_v});
    Ok(Reply::json(200, body))
}

pub(super) fn installation_token(ctx: &mut Ctx) -> Result<Reply> {
    let app = ctx.st.opts.app.clone().ok_or_else(|| ctx.not_found())?;
    if ctx.number("installation_id") != app.installation_id {
        return Err(ctx.not_found());
    }
    let n = bump(&mut ctx.st.next_id);
    let seed = shapes::user_id(&format!("{n}-{}", now())).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed;
    let random: String = (0..36)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % alphabet.len() as u64) as usize] as char
        })
        .collect();
    let token = format!("ghs_{random}");
    let expires = now() + 3600;
    let slug = if app.slug.is_empty() { "tidegate".to_string() } else { app.slug.clone() };
    ctx.st.tokens.insert(token.clone(), TokenInfo { login: format!("{slug}[bot]"), expires_at: Some(expires) });
    let body = json!({
        "token": token, "expires_at": iso(expires),
        "permissions": {"contents": "write", "pull_requests": "write", "issues": "write", "statuses": "write", "metadata": "read"},
        "repository_selection": "all",
    });
    Ok(Reply::json(201, body))
}
