//! The server's in-memory state: repositories and their issues, pull requests, comments,
//! reactions, labels and statuses; tokens; recorded requests, violations and faults. Git data
//! itself lives in the registered repositories on disk (see `git.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use regex::Regex;

use crate::{Fault, Options, Recorded};

/// Seconds since the Unix epoch, now.
pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// `2011-01-26T19:01:12Z` for seconds since the epoch.
pub(crate) fn iso(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A token the server accepts, and whom it authenticates.
#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    /// The user (or `slug[bot]`) acting.
    pub login: String,
    /// Installation tokens expire.
    pub expires_at: Option<i64>,
}

/// A pull request's own data (its issue part is in [`Issue`]).
#[derive(Debug, Clone)]
pub(crate) struct Pull {
    /// Head branch name.
    pub head_ref: String,
    /// Head commit: live while open, frozen when closed or merged.
    pub head_sha: String,
    /// Base branch name.
    pub base_ref: String,
    /// Base commit when last computed.
    pub base_sha: String,
    /// Draft pull request.
    pub draft: bool,
    /// When merged.
    pub merged_at: Option<i64>,
    /// The merge commit (or squash/rebase tip).
    pub merge_commit_sha: Option<String>,
    /// Who merged.
    pub merged_by: Option<String>,
}

/// An issue or the issue half of a pull request.
#[derive(Debug, Clone)]
pub(crate) struct Issue {
    /// Global id.
    pub id: u64,
    /// Per-repository number (shared by issues and pull requests).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: Option<String>,
    /// `open` or `closed`.
    pub state: String,
    /// Author login.
    pub user: String,
    /// Label names, in the order added.
    pub labels: Vec<String>,
    /// Created, seconds.
    pub created_at: i64,
    /// Updated, seconds.
    pub updated_at: i64,
    /// Closed, seconds.
    pub closed_at: Option<i64>,
    /// Set for pull requests.
    pub pull: Option<Pull>,
}

/// An issue comment.
#[derive(Debug, Clone)]
pub(crate) struct Comment {
    /// Global id.
    pub id: u64,
    /// The issue or pull request number.
    pub issue: u64,
    /// Markdown body.
    pub body: String,
    /// Author login.
    pub user: String,
    /// Created, seconds.
    pub created_at: i64,
    /// Updated, seconds.
    pub updated_at: i64,
}

/// A reaction to an issue comment.
#[derive(Debug, Clone)]
pub(crate) struct Reaction {
    /// Global id.
    pub id: u64,
    /// The comment.
    pub comment_id: u64,
    /// `+1`, `rocket`, …
    pub content: String,
    /// Who reacted.
    pub user: String,
    /// Created, seconds.
    pub created_at: i64,
}

/// A commit status.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    /// Global id.
    pub id: u64,
    /// The commit.
    pub sha: String,
    /// `error`, `failure`, `pending` or `success`.
    pub state: String,
    /// The context (case-insensitive key).
    pub context: String,
    /// Short description.
    pub description: Option<String>,
    /// Link.
    pub target_url: Option<String>,
    /// Who set it.
    pub creator: String,
    /// Created, seconds.
    pub created_at: i64,
}

/// A registered repository.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    /// Global id.
    pub id: u64,
    /// Owner login.
    pub owner: String,
    /// Repository name.
    pub name: String,
    /// The git repository on disk.
    pub git_dir: PathBuf,
    /// Private repositories give non-collaborators `none`, public ones `read`.
    pub private: bool,
    /// Collaborators: login → role (`admin`, `maintain`, `write`, `triage`, `read`).
    pub roles: BTreeMap<String, String>,
    /// Issues and pull requests by number.
    pub issues: BTreeMap<u64, Issue>,
    /// Issue comments in creation order.
    pub comments: Vec<Comment>,
    /// Reactions in creation order.
    pub reactions: Vec<Reaction>,
    /// Statuses in creation order.
    pub statuses: Vec<Status>,
    /// Labels of the repository: lowercase name → (name, id, color).
    pub labels: BTreeMap<String, (String, u64, String)>,
}

impl Repo {
    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The next issue/pull request number.
    pub fn next_number(&self) -> u64 {
        self.issues.keys().next_back().map_or(1, |n| n + 1)
    }
}

/// A fault with its match counter.
pub(crate) struct ActiveFault {
    /// As injected.
    pub fault: Fault,
    /// Compiled `path_regex`.
    pub regex: Option<Regex>,
    /// Matching requests seen so far.
    pub seen: usize,
    /// Requests it affected so far.
    pub fired: usize,
}

/// Everything the server knows.
pub(crate) struct State {
    /// Settings.
    pub opts: Options,
    /// `http://127.0.0.1:PORT`.
    pub api_base: String,
    /// Repositories by lowercase `owner/name`.
    pub repos: BTreeMap<String, Repo>,
    /// Users known to exist besides collaborators and token owners.
    pub users: Vec<String>,
    /// Accepted tokens.
    pub tokens: BTreeMap<String, TokenInfo>,
    /// Recorded requests.
    pub requests: Vec<Recorded>,
    /// Requests that broke the OpenAPI description.
    pub violations: Vec<String>,
    /// Responses of the fake that broke the OpenAPI description (a fake bug).
    pub response_violations: Vec<String>,
    /// Faults in injection order.
    pub faults: Vec<ActiveFault>,
    /// Request sequence.
    pub seq: u64,
    /// Id counter for everything with an `id`.
    pub next_id: u64,
    /// Requests counted against the rate limit.
    pub rate_used: u64,
    /// When the rate limit window resets, seconds.
    pub rate_reset: i64,
}

impl State {
    /// A fresh state.
    pub fn new(opts: Options, api_base: String) -> State {
        let mut tokens = BTreeMap::new();
        if let Some(t) = &opts.token {
            tokens.insert(t.clone(), TokenInfo { login: opts.token_user.clone(), expires_at: None });
        }
        State {
            opts,
            api_base,
            repos: BTreeMap::new(),
            users: Vec::new(),
            tokens,
            requests: Vec::new(),
            violations: Vec::new(),
            response_violations: Vec::new(),
            faults: Vec::new(),
            seq: 0,
            next_id: 1000,
            rate_used: 0,
            rate_reset: now() + 3600,
        }
    }

    /// Whether `login` is a user GitHub would know.
    pub fn user_exists(&self, login: &str) -> bool {
        let l = login.to_ascii_lowercase();
        self.users.iter().any(|u| u.eq_ignore_ascii_case(&l))
            || self.tokens.values().any(|t| t.login.eq_ignore_ascii_case(&l))
            || self.repos.values().any(|r| r.owner.eq_ignore_ascii_case(&l) || r.roles.contains_key(&l))
    }

    /// The first unused fault matching the request, counting the match.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        for f in &mut self.faults {
            let method_ok = f.fault.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method));
            let path_ok = f.regex.as_ref().is_none_or(|r| r.is_match(path));
            if !method_ok || !path_ok {
                continue;
            }
            f.seen += 1;
            if f.seen <= f.fault.skip || f.fired >= f.fault.times {
                continue;
            }
            f.fired += 1;
            return Some(f.fault.clone());
        }
        None
    }
}

/// Increments a counter and returns the new value.
pub(crate) fn bump(counter: &mut u64) -> u64 {
    *counter += 1;
    *counter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_296_068_472), "2011-01-26T19:01:12Z");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00Z");
    }
}
