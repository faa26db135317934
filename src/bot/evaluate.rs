//! One promotion decision, shared by `tidegate promote` and the bot: plan the change, then
//! evaluate the gates; and the pure translations of a decision into what GitHub shows (pull
//! request text, commit statuses, reply lines).

use chrono::{DateTime, Utc};

use crate::gates::{self, GateReport, MetricsSource, Outcome, SourceObservation};
use crate::github::{CommitStatus, FileChange, PromotionPr, StatusState};
use crate::promote::plan::{PromoteError, PromotionPlan, plan_promotion};
use crate::promote::policy::Policy;
use crate::promote::pr::{self, BodyContext, EvidenceLine};
use crate::render::fs::SourceTree;
use crate::repo::Repository;

/// The commit status context of the gates on a promotion pull request's head.
pub const GATES_CONTEXT: &str = "tidegate/gates";

/// What is asked: move `app` from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The app.
    pub app: String,
    /// Source environment.
    pub from: String,
    /// Target environment.
    pub to: String,
    /// The person whose `/promote` (or command line) asked; `None` for automatic promotion.
    pub requested_by: Option<String>,
}

/// The decision for one request.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The planned change.
    pub plan: PromotionPlan,
    /// The gates; `None` when there is nothing to promote (the target runs the tag already).
    pub gates: Option<GateReport>,
}

impl Evaluation {
    /// Every gate passed and there is something to promote.
    pub fn ready(&self) -> bool {
        self.gates.as_ref().is_some_and(GateReport::passed)
    }

    /// The moved images as `image old → new`, comma-separated.
    pub fn moves(&self) -> String {
        self.plan
            .changes
            .iter()
            .map(|c| format!("{} {} → {}", c.image, c.from_version(), c.to_version()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The versions the target gets, `image:version`, comma-separated: a promotion's identity.
    pub fn target_versions(&self) -> String {
        self.plan.changes.iter().map(|c| format!("{}:{}", c.image, c.to_version())).collect::<Vec<_>>().join(", ")
    }
}

/// Plans `req` on `tree` and, unless there is nothing to do, evaluates its gates.
pub async fn evaluate<M: MetricsSource>(
    repo: &Repository,
    tree: &dyn SourceTree,
    policy: &Policy,
    req: &Request,
    source: Option<&SourceObservation>,
    now: DateTime<Utc>,
    metrics: &M,
) -> Result<Evaluation, PromoteError> {
    // Steps follow the pipeline: no skipping qa on the way to prod, no going backwards.
    policy.check_step(&req.app, &req.from, &req.to)?;
    let plan = plan_promotion(repo, tree, &req.app, &req.from, &req.to)?;
    if plan.is_noop() {
        return Ok(Evaluation { plan, gates: None });
    }
    let images = plan.source_images();
    let gate_policy = policy.gates(&req.app, &req.to);
    let input = gates::GateInput {
        app: &req.app,
        namespace: &plan.namespace,
        source_env: &req.from,
        target_env: &req.to,
        images: &images,
        now,
        source,
        requested_by: req.requested_by.as_deref(),
    };
    let report = gates::evaluate(&gate_policy, &input, metrics).await;
    Ok(Evaluation { plan, gates: Some(report) })
}

/// The gate results as evidence lines for the pull request body.
pub fn evidence(report: &GateReport) -> Vec<EvidenceLine> {
    report
        .results
        .iter()
        .map(|r| EvidenceLine { gate: r.gate.clone(), outcome: r.outcome.to_string(), detail: r.evidence.clone() })
        .collect()
}

/// The combined gate status for a commit: success when every gate passed, failure when one
/// failed, pending while some wait. The adapter cuts the description to GitHub's 140
/// characters.
pub fn gate_status(report: &GateReport, target_url: Option<&str>) -> CommitStatus {
    let state = if report.passed() {
        StatusState::Success
    } else if report.failed().is_some() {
        StatusState::Failure
    } else {
        StatusState::Pending
    };
    CommitStatus {
        context: GATES_CONTEXT.to_string(),
        state,
        description: report.summary(),
        target_url: target_url.map(str::to_string),
    }
}

/// Where the pull request starts from and what links it shows.
#[derive(Debug, Clone, Default)]
pub struct PrContext {
    /// The branch promotions are merged into (the tracked branch).
    pub base_branch: String,
    /// The commit the promotion branch starts from (the snapshot the plan was made on).
    pub base_commit: String,
    /// That commit's root tree, when known.
    pub base_tree: Option<String>,
    /// `https://github.com/owner/name`, for links to commits.
    pub web_url: Option<String>,
    /// tidegate's own external URL.
    pub tidegate_url: Option<String>,
}

/// The pull request for a ready evaluation.
pub fn pull_request(eval: &Evaluation, policy: &Policy, ctx: &PrContext, requested_by: Option<&str>) -> PromotionPr {
    let plan = &eval.plan;
    let report = eval.gates.clone().unwrap_or_default();
    let body_ctx = BodyContext {
        source_commit: Some(ctx.base_commit.clone()),
        commit_url: ctx.web_url.as_ref().map(|w| format!("{w}/commit/{}", ctx.base_commit)),
        requested_by: requested_by.map(str::to_string),
        tidegate_url: ctx.tidegate_url.clone(),
    };
    PromotionPr {
        branch: pr::branch_name(&plan.app, &plan.to),
        base: ctx.base_branch.clone(),
        base_commit: ctx.base_commit.clone(),
        base_tree: ctx.base_tree.clone(),
        files: plan
            .edits
            .iter()
            .map(|e| FileChange {
                path: e.path.to_string(),
                content: e.after.clone(),
                base_blob_sha: Some(crate::github::git_blob_id(e.before.as_bytes())),
            })
            .collect(),
        commit_message: pr::commit_message(plan),
        title: pr::title(plan),
        body: pr::body(plan, &evidence(&report), &body_ctx),
        labels: policy.labels().to_vec(),
        statuses: vec![gate_status(&report, ctx.tidegate_url.as_deref())],
    }
}

/// A readable block of gate results, one per line: `  passed   soak   healthy for 12m (≥ 10m)`.
pub fn gate_table(report: &GateReport) -> String {
    let width = report.results.iter().map(|r| r.gate.len()).max().unwrap_or(0);
    report
        .results
        .iter()
        .map(|r| format!("  {:<8} {:<width$}  {}\n", r.outcome.to_string(), r.gate, r.evidence))
        .collect()
}

/// The gate results as a Markdown list, for comments.
pub fn gate_markdown(report: &GateReport) -> String {
    report
        .results
        .iter()
        .map(|r| {
            let mark = match r.outcome {
                Outcome::Passed => "✅",
                Outcome::Failed => "❌",
                Outcome::Waiting => "⏳",
            };
            format!("- {mark} `{}` {}: {}\n", r.gate, r.outcome, r.evidence.replace('\n', " "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::GateResult;

    fn result(gate: &str, outcome: Outcome) -> GateResult {
        GateResult { gate: gate.into(), outcome, evidence: format!("{gate} evidence"), retry_at: None }
    }

    #[test]
    fn gate_status_follows_the_report() {
        let passed = GateReport { results: vec![result("soak", Outcome::Passed)] };
        assert_eq!(gate_status(&passed, None).state, StatusState::Success);
        let waiting = GateReport { results: vec![result("soak", Outcome::Passed), result("window", Outcome::Waiting)] };
        assert_eq!(gate_status(&waiting, None).state, StatusState::Pending);
        let failed =
            GateReport { results: vec![result("prometheus/x", Outcome::Failed), result("w", Outcome::Waiting)] };
        let s = gate_status(&failed, Some("https://tidegate.example.com"));
        assert_eq!(s.state, StatusState::Failure);
        assert!(s.description.contains("prometheus/x"), "{}", s.description);
        assert_eq!(s.context, GATES_CONTEXT);
    }
}
