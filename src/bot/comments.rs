//! `/promote` comments: acknowledge at once, check who asked, act, answer in one comment.

use std::fmt::Write as _;

use super::Bot;
use super::evaluate::Request;
use crate::chatops::{self, Command, Names, Permission};
use crate::webhook::IssueComment;

impl Bot {
    /// Handles one comment (already verified and de-duplicated by the webhook intake).
    #[tracing::instrument(skip_all, fields(issue = c.number, comment = c.comment_id, author = %c.author))]
    pub(super) async fn comment(&mut self, c: IssueComment) {
        if let Err(why) = chatops::is_actionable(&c, self.cfg.bot_login.as_deref()) {
            tracing::debug!(reason = %why, "comment ignored");
            return;
        }
        let Some(gh) = self.cfg.github.clone() else {
            tracing::warn!("a /promote comment arrived but GitHub is not configured; ignored");
            return;
        };
        // The 👀 reaction was sent at intake (BotHandle::comment).
        let reply = self.answer(&c).await;
        if let Err(e) = gh.comment(c.number, &reply).await {
            tracing::warn!(error = %e, "failed to answer the comment");
        }
    }

    /// The reply to a comment, in Markdown.
    async fn answer(&mut self, c: &IssueComment) -> String {
        let (snap, repo, policy) = match self.model() {
            Ok(m) => m,
            Err(e) => return format!("@{} I cannot act on this right now: {e}.", c.author),
        };
        let apps: Vec<String> = repo.apps.iter().map(|a| a.name.clone()).collect();
        let envs: Vec<String> = repo.environments.iter().map(|e| e.name.clone()).collect();
        let names = Names { apps: &apps, environments: &envs };
        let mut out = format!("@{}\n\n", c.author);
        let mut permission: Option<Result<Permission, String>> = None;
        for parsed in chatops::parse(&c.body) {
            let cmd = match parsed {
                Ok(cmd) => cmd,
                Err(e) => {
                    out.push_str(&parse_error_reply(&e));
                    continue;
                }
            };
            if let Err(problems) = chatops::validate(&cmd, &names) {
                for p in problems {
                    let _ = writeln!(out, "⚠️ {p}");
                }
                out.push('\n');
                continue;
            }
            match cmd {
                Command::Help => out.push_str(&chatops::help_text()),
                Command::Status { app } => out.push_str(&self.status_reply(app.as_deref(), &envs)),
                Command::Promote { apps, from, to } => {
                    for app in apps {
                        let Some(from) =
                            from.clone().or_else(|| policy.previous_env_for(&app, &to).map(str::to_string))
                        else {
                            let _ = writeln!(
                                out,
                                "⚠️ {to} is the first environment of the pipeline: there is nothing to promote from."
                            );
                            continue;
                        };
                        if !policy.promotes(&app) {
                            let _ = writeln!(
                                out,
                                "⚠️ **{app}** is not promoted by tidegate (its promotion policy says so)."
                            );
                            continue;
                        }
                        let required = policy.required_permission(&app, &to);
                        // Asked once per comment, from GitHub, not from author_association.
                        let has = match &permission {
                            Some(p) => p.clone(),
                            None => {
                                let p = match &self.cfg.github {
                                    Some(gh) => gh.permission(&c.author).await.map_err(|e| e.to_string()),
                                    None => Err("GitHub is not configured".to_string()),
                                };
                                permission = Some(p.clone());
                                p
                            }
                        };
                        match has {
                            Err(e) => {
                                let _ = writeln!(out, "❌ could not check your permission on the repository: {e}");
                                continue;
                            }
                            Ok(has) if has < required => {
                                self.shared.metrics.promotion(&app, &to, "refused");
                                let repo_name = self.cfg.repository.clone().unwrap_or_else(|| "the repository".into());
                                let _ = writeln!(
                                    out,
                                    "🚫 promoting **{app}** to **{to}** needs `{required}` permission on {repo_name}; you have `{has}`."
                                );
                                continue;
                            }
                            Ok(_) => {}
                        }
                        let req = Request { app, from, to: to.clone(), requested_by: Some(c.author.clone()) };
                        let line = self.promote(&snap, &repo, &policy, &req, true, Some(c.number)).await;
                        out.push_str(&line);
                        out.push('\n');
                    }
                }
            }
            out.push('\n');
        }
        out
    }

    /// `/promote status [app]`: each environment's images and health, and promotions in flight.
    fn status_reply(&self, only: Option<&str>, envs: &[String]) -> String {
        let st = self.shared.status.lock().expect("status lock");
        let mut out = String::from("| app |");
        for e in envs {
            let _ = write!(out, " {e} |");
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(envs.len()));
        out.push('\n');
        for a in st.apps.iter().filter(|a| only.is_none_or(|o| o == a.name)) {
            let _ = write!(out, "| **{}** |", a.name);
            for e in envs {
                match a.environments.get(e) {
                    None => out.push_str(" — |"),
                    Some(s) => {
                        let tags: Vec<&str> =
                            s.images.iter().map(|i| i.rsplit_once(':').map_or(i.as_str(), |(_, t)| t)).collect();
                        let _ = write!(out, " `{}` {} · {} |", tags.join(", "), s.sync, s.health);
                    }
                }
            }
            out.push('\n');
        }
        let promos: Vec<_> = st.promotions.iter().filter(|p| only.is_none_or(|o| o == p.app)).collect();
        if !promos.is_empty() {
            out.push_str("\n**Promotions**\n\n");
            for p in promos {
                let _ = write!(out, "- **{}** {} → {}: {} — {}", p.app, p.from, p.to, p.state, p.reason);
                if let Some(u) = &p.pr_url {
                    let _ = write!(out, " ({u})");
                }
                out.push('\n');
            }
        }
        out
    }
}

/// The reply to a `/promote` line that is not a command: the error, the comment's own text
/// quoted inert (see [`chatops::quote`]), then the reference.
fn parse_error_reply(e: &chatops::ParseError) -> String {
    format!("⚠️ {}.\n\n{}\n", e.markdown, chatops::help_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::chatops::tests::outside_code_spans as outside_code;

    #[test]
    fn an_invalid_command_comes_back_inert() {
        let body = "/promote @acme/sre ![x](http://evil.example/p.png) [login](http://evil.example) \
                    <img src=x> ``` `x` \u{202E}gnp.exe\u{200B} to qa";
        let e = chatops::parse(body).remove(0).unwrap_err();
        let reply = parse_error_reply(&e);
        let live = outside_code(&reply);
        for bad in ["@acme", "![x]", "](http", "<img", "\u{202E}", "\u{200B}"] {
            assert!(!live.contains(bad), "{bad} is live in {reply}");
        }
        assert!(reply.contains("<U+202E>") && reply.contains("<U+200B>"), "{reply}");
        assert!(reply.starts_with("⚠️ "), "{reply}");
    }
}
