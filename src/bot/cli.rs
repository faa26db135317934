//! `tidegate promote APP --from ENV --to ENV [--dry-run]`: the same planner and gates as the
//! bot, from a checkout. The source environment is observed in the cluster of `KUBECONFIG`
//! (`--context`); `--dry-run` prints the file diff and the gate results and writes nothing;
//! otherwise the pull request is opened (or updated) on GitHub.

use std::fmt::Write as _;
use std::path::Path;

use chrono::Utc;

use super::evaluate::{self, Evaluation, PrContext, Request};
use crate::apply::Cluster;
use crate::gates::{PrometheusClient, SourceObservation};
use crate::github::{Auth, GitHub, GitHubSettings};
use crate::promote::PromoteError;
use crate::promote::policy::Policy;
use crate::render::fs::DiskTree;
use crate::repo::Repository;

/// Options of `tidegate promote`.
#[derive(Debug, Clone, Default)]
pub struct PromoteOptions {
    /// The app.
    pub app: String,
    /// Source environment; default: the one before `to` in the pipeline.
    pub from: Option<String>,
    /// Target environment.
    pub to: String,
    /// Print the diff and the gates; write nothing.
    pub dry_run: bool,
    /// Kubeconfig context of the source environment's cluster.
    pub context: Option<String>,
    /// Do not look at any cluster (the source-healthy gate then waits).
    pub no_cluster: bool,
    /// `owner/name` on GitHub; default: read from the `origin` remote.
    pub github_repository: Option<String>,
    /// The branch the pull request targets; default: the checkout's current branch.
    pub base: Option<String>,
    /// Prometheus URL overriding the policy's addresses.
    pub prometheus_url: Option<String>,
    /// GitHub API URL.
    pub github_api_url: String,
    /// GitHub token.
    pub github_token: Option<crate::source::Secret>,
}

/// Why `promote` did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PromoteCliError {
    /// Bad usage (exit 2): unknown app or environment, missing settings.
    #[error("{0}")]
    Usage(String),
    /// The work failed (exit 1): a gate failed or waits, GitHub refused.
    #[error("{0}")]
    Failed(String),
}

/// Runs `tidegate promote`; returns what to print on stdout.
pub async fn promote(
    root: &Path,
    tree: &DiskTree,
    repo: &Repository,
    opts: &PromoteOptions,
) -> Result<String, PromoteCliError> {
    let policy = Policy::load(tree, repo)
        .map_err(|e| PromoteCliError::Failed(format!("the promotion policy is invalid:\n{e}")))?;
    let from = match &opts.from {
        Some(f) => f.clone(),
        None => policy.previous_env_for(&opts.app, &opts.to).map(str::to_string).ok_or_else(|| {
            PromoteCliError::Usage(format!(
                "nothing comes before {} in the pipeline for {}: pass --from",
                opts.to, opts.app
            ))
        })?,
    };
    let req =
        Request { app: opts.app.clone(), from: from.clone(), to: opts.to.clone(), requested_by: Some(requester()) };
    let observation =
        if opts.no_cluster { None } else { Some(observe(repo, tree, &req, opts.context.as_deref()).await) };
    let prom = PrometheusClient::new()
        .map_err(|e| PromoteCliError::Failed(e.to_string()))?
        .address_override(opts.prometheus_url.clone());
    let eval =
        evaluate::evaluate(repo, tree, &policy, &req, observation.as_ref(), Utc::now(), &prom).await.map_err(|e| {
            match e {
                e @ (PromoteError::UnknownApp { .. }
                | PromoteError::UnknownEnvironment { .. }
                | PromoteError::SameEnvironment { .. }
                | PromoteError::NotDeployed { .. }
                | PromoteError::NotInPipeline { .. }
                | PromoteError::NotNextStep { .. }) => PromoteCliError::Usage(e.to_string()),
                e => PromoteCliError::Failed(e.to_string()),
            }
        })?;
    let mut out = report(&eval);
    if eval.plan.is_noop() {
        return Ok(out);
    }
    let report_gates = eval.gates.clone().unwrap_or_default();
    if opts.dry_run {
        if let Some(failed) = report_gates.failed() {
            print_partial(&out);
            return Err(PromoteCliError::Failed(format!("gate {} failed: {}", failed.gate, failed.evidence)));
        }
        return Ok(out);
    }
    if !eval.ready() {
        print_partial(&out);
        return Err(PromoteCliError::Failed(format!("no pull request opened: {}", report_gates.summary())));
    }
    let checkout = read_checkout(root, &eval)?;
    let repository = match &opts.github_repository {
        Some(r) => r.clone(),
        None => checkout.origin.clone().ok_or_else(|| {
            PromoteCliError::Usage(
                "cannot tell the GitHub repository from the origin remote: pass --github-repo owner/name".into(),
            )
        })?,
    };
    let token = opts.github_token.clone().ok_or_else(|| {
        PromoteCliError::Usage("GITHUB_TOKEN is not set (use --dry-run to only print the change)".into())
    })?;
    let base = match &opts.base {
        Some(b) => b.clone(),
        None => {
            checkout.branch.clone().ok_or_else(|| PromoteCliError::Usage("HEAD is detached: pass --base".into()))?
        }
    };
    let gh = GitHub::new(GitHubSettings::new(opts.github_api_url.clone(), Auth::Token(token), repository.clone()))
        .map_err(|e| PromoteCliError::Failed(e.to_string()))?;
    let ctx = PrContext {
        base_branch: base,
        base_commit: checkout.commit,
        base_tree: Some(checkout.tree),
        web_url: web_url(&opts.github_api_url, &repository),
        tidegate_url: None,
    };
    let pr = evaluate::pull_request(&eval, &policy, &ctx, req.requested_by.as_deref());
    let outcome = gh.upsert_promotion_pr(&pr).await.map_err(|e| PromoteCliError::Failed(e.to_string()))?;
    let verb = if outcome.created {
        "opened"
    } else if outcome.changed {
        "updated"
    } else {
        "unchanged"
    };
    let _ = writeln!(out, "\n{verb} pull request #{}: {}", outcome.number, outcome.url);
    Ok(out)
}

/// Gate failures exit 1, but the user still wants to see the plan and every gate.
fn print_partial(out: &str) {
    eprint!("{out}");
}

/// The plan, the gates and the diff, for people.
pub fn report(eval: &Evaluation) -> String {
    let plan = &eval.plan;
    let mut out = format!("promote {}: {} → {}\n", plan.app, plan.from, plan.to);
    if plan.is_noop() {
        let _ = writeln!(out, "  nothing to promote: {} already runs what {} pins", plan.to, plan.from);
        return out;
    }
    for c in &plan.changes {
        let _ = writeln!(out, "  {}: {} → {}", c.image, c.from_version(), c.to_version());
    }
    if let Some(report) = &eval.gates {
        out.push_str("\ngates:\n");
        out.push_str(&evaluate::gate_table(report));
    }
    out.push('\n');
    out.push_str(&plan.diff());
    out
}

/// Who runs the command, for the pull request body and the approval gate.
fn requester() -> String {
    let user = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "someone".into());
    format!("`tidegate promote` run by {user}")
}

/// Observes the app in the source environment's cluster; an unreachable cluster becomes an
/// unhealthy observation that says why.
async fn observe(repo: &Repository, tree: &DiskTree, req: &Request, context: Option<&str>) -> SourceObservation {
    let unknown = |message: String| SourceObservation { message: Some(message), ..Default::default() };
    let rendered = match crate::plan::render_env(repo, tree, &req.from, Some(&req.app)) {
        Ok(r) => r,
        Err(problems) => {
            let msg = problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            return unknown(format!("{} does not render in {}: {msg}", req.app, req.from));
        }
    };
    let Some(app) = rendered.waves.iter().flat_map(|w| &w.apps).find(|a| a.name == req.app) else {
        return unknown(format!("{} is not deployed to {}", req.app, req.from));
    };
    let cluster = match Cluster::connect(context).await {
        Ok(c) => c,
        Err(e) => return unknown(format!("the cluster of {} is unreachable: {e}", req.from)),
    };
    let health = match crate::health::custom::HealthRules::load(tree) {
        Ok(rules) => crate::health::HealthOptions::with_rules(rules),
        Err(e) => return unknown(format!("the repository's health rules are invalid:\n{e}")),
    };
    match crate::apply::observe::observe_app(&cluster, app, &health).await {
        Ok(o) => SourceObservation {
            synced_images: o.images,
            healthy: o.healthy,
            healthy_since: o.healthy_since,
            sync: if o.healthy { "Synced".into() } else { "Unknown".into() },
            message: o.message,
            revision: None,
        },
        Err(e) => unknown(format!("failed to read {} in {}: {e}", req.app, req.from)),
    }
}

/// What the pull request is made from: the checkout's `HEAD`.
struct Checkout {
    commit: String,
    tree: String,
    /// The current branch; `None` when `HEAD` is detached.
    branch: Option<String>,
    /// `owner/name` of a GitHub `origin` remote.
    origin: Option<String>,
}

/// Reads `HEAD` once, and checks that the edited files are as committed there (the pull
/// request is made from `HEAD`, not from the working tree).
fn read_checkout(root: &Path, eval: &Evaluation) -> Result<Checkout, PromoteCliError> {
    let not_checkout =
        |e: git2::Error| PromoteCliError::Usage(format!("{} is not a git checkout: {}", root.display(), e.message()));
    let repo = git2::Repository::open(root).map_err(not_checkout)?;
    let head = repo.head().map_err(not_checkout)?;
    let commit = head.peel_to_commit().map_err(not_checkout)?;
    let tree = commit.tree().map_err(not_checkout)?;
    for edit in &eval.plan.edits {
        let committed = tree.get_path(Path::new(edit.path.as_str())).ok().map(|e| e.id().to_string());
        if committed.as_deref() != Some(crate::github::git_blob_id(edit.before.as_bytes()).as_str()) {
            return Err(PromoteCliError::Usage(format!(
                "{} differs from HEAD: commit or stash your changes first (the pull request is made from HEAD)",
                edit.path
            )));
        }
    }
    let branch = if head.is_branch() { head.shorthand().ok().map(str::to_string) } else { None };
    let origin = repo
        .find_remote("origin")
        .ok()
        .and_then(|r| r.url().ok().map(str::to_string))
        .and_then(|url| crate::serve::github_repository(&url));
    Ok(Checkout { commit: commit.id().to_string(), tree: tree.id().to_string(), branch, origin })
}

/// The web URL of a repository: github.com for the public API, else the Enterprise host.
pub fn web_url(api_url: &str, repository: &str) -> Option<String> {
    let api = api_url.trim_end_matches('/');
    if api == "https://api.github.com" {
        return Some(format!("https://github.com/{repository}"));
    }
    api.strip_suffix("/api/v3").map(|host| format!("{host}/{repository}"))
}
