//! The promotion bot: turns reconcile results and `/promote` comments into promotions —
//! plan, gates, pull request — on one serial queue.
//!
//! Owns: orchestration and the promotions' in-memory state. Must not touch: rendering details,
//! HTTP intake (the webhook handler only enqueues), the cluster (it reads what the controller
//! observed).
//!
//! Every GitHub write happens on the bot's single worker task, one work item at a time, so
//! that two comments or a comment and a reconcile can never open two pull requests; across
//! replicas, GitHub itself refuses a second open pull request for the same deterministic
//! branch, and the adapter then updates the one that exists.

pub mod cli;
mod comments;
pub mod evaluate;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::{mpsc, watch};

use crate::gates::{Outcome, PrometheusClient, SourceObservation};
use crate::github::{GitHub, PullRef};
use crate::promote::policy::{Mode, Policy};
use crate::repo::Repository;
use crate::serve::state::{GateStatus, PromotionStatus, Shared, now};
use crate::source::Snapshot;
use crate::webhook::IssueComment;
use evaluate::{Evaluation, PrContext, Request};

/// How often the open promotion pull requests are listed again from GitHub.
const PR_REFRESH: Duration = Duration::from_secs(300);

/// Work for the bot.
#[derive(Debug)]
pub enum Work {
    /// The controller has a new snapshot of the repository.
    Snapshot(Snapshot),
    /// An environment was reconciled: consider automatic promotions out of it.
    Reconciled {
        /// The environment.
        env: String,
        /// This instance leads: it opens automatic promotions. A follower only retries the
        /// requests people made to it.
        auto: bool,
    },
    /// A comment on an issue or pull request (maybe a `/promote`).
    Comment(IssueComment),
    /// A pull request was closed (merged or not); the bot forgets it if it was a promotion's.
    PullRequestClosed {
        /// Its number.
        number: u64,
        /// Its head branch.
        head_ref: String,
        /// Merged, or closed without merging (declined by a person).
        merged: bool,
    },
}

/// Enqueues work for the bot; cheap to clone.
#[derive(Debug, Clone)]
pub struct BotHandle {
    tx: mpsc::Sender<Work>,
    /// For the 👀 reaction, sent at once rather than behind the queue.
    github: Option<GitHub>,
    bot_login: Option<String>,
    enabled: bool,
}

/// What became of a comment handed to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentIntake {
    /// Queued; the 👀 reaction is on its way.
    Queued,
    /// Not a command for the bot (an edit, a bot's comment, no `/promote` line): dropped here,
    /// so that the queue only ever holds work.
    Ignored(String),
}

/// The queue is full: the bot is far behind.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the promotion bot's queue is full")]
pub struct QueueFull;

impl BotHandle {
    /// Enqueues without waiting.
    pub fn send(&self, work: Work) -> Result<(), QueueFull> {
        self.tx.try_send(work).map_err(|_| QueueFull)
    }

    /// Hands a comment to the bot: comments that are not commands are dropped at once (the
    /// check is pure); a command is queued and acknowledged with a 👀 reaction right away, on
    /// its own task — the person sees it even while the queue is busy.
    pub fn comment(&self, c: IssueComment) -> Result<CommentIntake, QueueFull> {
        if !self.enabled || self.github.is_none() {
            return Ok(CommentIntake::Ignored("the promotion bot does not open pull requests here".into()));
        }
        if let Err(why) = crate::chatops::is_actionable(&c, self.bot_login.as_deref()) {
            return Ok(CommentIntake::Ignored(why.to_string()));
        }
        let id = c.comment_id;
        self.send(Work::Comment(c))?;
        if let Some(gh) = self.github.clone() {
            tokio::spawn(async move {
                if let Err(e) = gh.react(id, crate::github::Reaction::Eyes).await {
                    tracing::warn!(error = %e, comment = id, "failed to react to the comment");
                }
            });
        }
        Ok(CommentIntake::Queued)
    }
}

/// What the bot needs besides the shared status.
pub struct BotConfig {
    /// GitHub; `None` when not configured (promotions are evaluated and shown, never opened).
    pub github: Option<GitHub>,
    /// Prometheus for query gates.
    pub prometheus: PrometheusClient,
    /// The tracked branch (promotion pull requests target it).
    pub base_branch: String,
    /// `https://github.com/owner/name` for links.
    pub web_url: Option<String>,
    /// tidegate's own external URL.
    pub tidegate_url: Option<String>,
    /// The bot's own login (its comments are never commands).
    pub bot_login: Option<String>,
    /// `owner/name`, for messages.
    pub repository: Option<String>,
    /// Open pull requests by itself (off: evaluate and show only).
    pub enabled: bool,
}

/// One (app, target environment) the bot tracks.
#[derive(Debug, Clone, Default)]
struct Tracked {
    status: PromotionStatus,
    /// The open pull request, if any.
    pr: Option<PullRef>,
    /// The target versions the open pull request carries.
    pr_versions: Option<String>,
    /// A person's request that is still waiting (window, soak…): who, the issue to answer on,
    /// and the versions they asked for — a request approves those versions only.
    request: Option<(String, u64, String)>,
    /// When to evaluate again.
    retry_at: Option<DateTime<Utc>>,
    /// The last commit status posted for a blocked or waiting promotion, to post only changes.
    last_status: Option<String>,
    /// Versions whose pull request a person closed without merging: not reopened automatically
    /// (a newer version, or an explicit `/promote`, opens a new one).
    declined: Option<String>,
}

/// The bot's state; runs on one task.
pub struct Bot {
    cfg: BotConfig,
    shared: Arc<Shared>,
    snapshot: Option<Snapshot>,
    model: Option<(String, Arc<Repository>, Arc<Policy>)>,
    tracked: BTreeMap<(String, String), Tracked>,
    /// When the open promotion pull requests were last listed from GitHub.
    prs_loaded: Option<std::time::Instant>,
}

/// Starts the bot on its own task; it stops when `shutdown` turns true, after the work item in
/// hand (await the returned task to let it finish).
pub fn spawn(
    cfg: BotConfig,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) -> (BotHandle, tokio::task::JoinHandle<()>) {
    // Bounded: comments are filtered before they are queued, and a reconcile or a snapshot is
    // a few bytes; a full queue answers the webhook with 503 so GitHub shows the failure.
    let (tx, mut rx) = mpsc::channel::<Work>(1_000);
    let handle = BotHandle { tx, github: cfg.github.clone(), bot_login: cfg.bot_login.clone(), enabled: cfg.enabled };
    let mut bot = Bot { cfg, shared, snapshot: None, model: None, tracked: BTreeMap::new(), prs_loaded: None };
    let task = tokio::spawn(async move {
        loop {
            let wait = bot.next_retry().map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO));
            tokio::select! {
                work = rx.recv() => match work {
                    Some(w) => bot.handle(w).await,
                    None => return,
                },
                _ = sleep_opt(wait) => bot.retry_due().await,
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    });
    (handle, task)
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

impl Bot {
    fn next_retry(&self) -> Option<DateTime<Utc>> {
        self.tracked.values().filter_map(|t| t.retry_at).min()
    }

    #[tracing::instrument(skip_all, fields(work = work_name(&work)))]
    async fn handle(&mut self, work: Work) {
        let calls_before = self.api_calls();
        match work {
            Work::Snapshot(s) => self.snapshot = Some(s),
            Work::Reconciled { env, auto } => self.reconciled(&env, auto).await,
            Work::Comment(c) => self.comment(c).await,
            Work::PullRequestClosed { number, head_ref, merged } => self.pull_request_closed(number, &head_ref, merged),
        }
        self.publish(calls_before);
    }

    fn api_calls(&self) -> u64 {
        self.cfg.github.as_ref().map_or(0, GitHub::api_calls)
    }

    /// Copies the tracked promotions into the status and counts GitHub calls.
    fn publish(&self, calls_before: u64) {
        let calls = self.api_calls().saturating_sub(calls_before);
        if calls > 0 {
            self.shared.metrics.github_requests.inc_by(calls);
        }
        let mut st = self.shared.status.lock().expect("status lock");
        st.promotions = self.tracked.values().map(|t| t.status.clone()).collect();
    }

    /// The repository model and policy of the current snapshot (cached per commit).
    fn model(&mut self) -> Result<(Snapshot, Arc<Repository>, Arc<Policy>), String> {
        let snap = self.snapshot.clone().ok_or("the repository has not been fetched yet")?;
        if let Some((commit, repo, policy)) = &self.model {
            if *commit == snap.commit {
                return Ok((snap, Arc::clone(repo), Arc::clone(policy)));
            }
        }
        let repo = Repository::load(&snap.tree).map_err(|e| format!("the repository description is invalid: {e}"))?;
        let policy = Policy::load(&snap.tree, &repo).map_err(|e| format!("the promotion policy is invalid: {e}"))?;
        let (repo, policy) = (Arc::new(repo), Arc::new(policy));
        self.model = Some((snap.commit.clone(), Arc::clone(&repo), Arc::clone(&policy)));
        Ok((snap, repo, policy))
    }

    /// Learns the open promotion pull requests (after a restart they are still there; a
    /// replica or `tidegate promote` may have opened some): at start, then at most every
    /// [`PR_REFRESH`], so that obsolete ones are closed whoever opened them.
    async fn load_prs(&mut self, policy: &Policy, repo: &Repository) {
        if self.prs_loaded.is_some_and(|t| t.elapsed() < PR_REFRESH) {
            return;
        }
        let Some(gh) = self.cfg.github.clone() else { return };
        match gh.list_open_prs_with_prefix("tidegate/promote/").await {
            Ok(prs) => {
                for app in &repo.apps {
                    for target in policy.pipeline() {
                        let branch = crate::promote::pr::branch_name(&app.name, target);
                        let open = prs.iter().find(|p| p.head_ref == branch);
                        let key = (app.name.clone(), target.clone());
                        match open {
                            Some(pr) => {
                                let t = self.tracked.entry(key).or_default();
                                if t.pr.as_ref().is_none_or(|known| known.number != pr.number) {
                                    t.pr = Some(pr.clone());
                                    t.pr_versions = None;
                                }
                            }
                            // Closed while no webhook told us.
                            None => {
                                if let Some(t) = self.tracked.get_mut(&key) {
                                    t.pr = None;
                                    t.pr_versions = None;
                                    t.status.pr_url = None;
                                }
                            }
                        }
                    }
                }
                self.prs_loaded = Some(std::time::Instant::now());
            }
            Err(e) => tracing::warn!(error = %e, "failed to list open promotion pull requests; will retry"),
        }
    }

    /// A pull request closed: if it was a promotion's, forget it; if a person closed it without
    /// merging, do not reopen the same versions by ourselves.
    fn pull_request_closed(&mut self, number: u64, head_ref: &str, merged: bool) {
        if let Some(gh) = &self.cfg.github {
            if head_ref.starts_with("tidegate/promote/") {
                gh.forget_branch(head_ref);
            }
        }
        for t in self.tracked.values_mut() {
            if t.pr.as_ref().is_some_and(|p| p.number == number || p.head_ref == head_ref) {
                t.pr = None;
                if merged {
                    t.status.state = "Merged".into();
                    t.status.reason = format!("pull request #{number} was merged; waiting for the target to sync");
                } else {
                    t.declined = t.pr_versions.clone();
                    t.status.state = "Declined".into();
                    t.status.reason = format!(
                        "pull request #{number} was closed without merging; a newer version or a /promote opens a new one"
                    );
                }
                t.pr_versions = None;
                t.status.pr_url = None;
                t.status.updated_at = now();
            }
        }
    }

    /// After a reconcile of `env`: automatic promotions out of it.
    async fn reconciled(&mut self, env: &str, leader: bool) {
        let (snap, repo, policy) = match self.model() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "promotions skipped");
                return;
            }
        };

        self.load_prs(&policy, &repo).await;
        let apps: Vec<(String, String)> = repo
            .apps_in(env)
            .filter(|a| policy.promotes(&a.name))
            .filter_map(|a| Some((a.name.clone(), policy.next_env_for(&a.name, env)?.to_string())))
            .collect();
        for (app, target) in apps {
            let key = (app.clone(), target.clone());
            let request = self.tracked.get(&key).and_then(|t| t.request.clone());
            let auto = leader && policy.mode(&app, &target) == Mode::Auto;
            let req = Request {
                app,
                from: env.to_string(),
                to: target.clone(),
                requested_by: request.as_ref().map(|(who, _, _)| who.clone()),
            };
            // Manual promotions without a request are evaluated for the status page only.
            let may_open = auto || request.is_some();
            // Nobody is being answered here (`reply_to: None`): a waiting request that opens
            // now is announced on the requester's thread by `promote` itself.
            self.promote(&snap, &repo, &policy, &req, may_open, None).await;
        }
    }

    /// Re-evaluates every promotion whose retry time has come.
    async fn retry_due(&mut self) {
        let now = Utc::now();
        let due: Vec<((String, String), Tracked)> = self
            .tracked
            .iter()
            .filter(|(_, t)| t.retry_at.is_some_and(|r| r <= now))
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect();
        let calls_before = self.api_calls();
        let Ok((snap, repo, policy)) = self.model() else {
            for (k, _) in &due {
                if let Some(t) = self.tracked.get_mut(k) {
                    t.retry_at = Some(now + chrono::Duration::seconds(60));
                }
            }
            return;
        };
        for ((app, target), t) in due {
            if let Some(t) = self.tracked.get_mut(&(app.clone(), target.clone())) {
                t.retry_at = None;
            }
            let Some(from) = policy.previous_env_for(&app, &target).map(str::to_string) else { continue };
            let auto = policy.mode(&app, &target) == Mode::Auto;
            let req = Request { app, from, to: target, requested_by: t.request.as_ref().map(|(w, _, _)| w.clone()) };
            let may_open = auto || t.request.is_some();
            // As after a reconcile: no reply is posted here, so `promote` tells the requester.
            self.promote(&snap, &repo, &policy, &req, may_open, None).await;
        }
        self.publish(calls_before);
    }

    /// What the controller observed of `app` in `env`; `None` when this instance does not
    /// reconcile `env` or has not yet.
    fn observation(&self, app: &str, env: &str) -> Option<SourceObservation> {
        let st = self.shared.status.lock().expect("status lock");
        let managed = st.environments.get(env).is_some_and(|e| e.managed);
        if !managed {
            return None;
        }
        let env_status = st.environments.get(env)?;
        let revision = env_status.revision.clone();
        let e = st.apps.iter().find(|a| a.name == app)?.environments.get(env)?;
        // `images` are what the repository wants now; `healthy_images` what was last seen
        // synced and healthy. While a sync rolls a new tag out, they differ: nothing is
        // observed at the new tag yet, whatever the previous reconcile said.
        let observed = e.sync == "Synced" && e.healthy_since.is_some() && e.healthy_images == e.images;
        let syncing = env_status.state == "Syncing";
        Some(SourceObservation {
            synced_images: if observed && !syncing { e.images.clone() } else { Vec::new() },
            healthy: observed && !syncing && e.health == "Healthy",
            healthy_since: e.healthy_since.and_then(|s| Utc.timestamp_opt(s as i64, 0).single()),
            sync: e.sync.clone(),
            message: e.message.clone(),
            revision,
        })
    }

    /// Evaluates one promotion and acts on it; returns a line for a reply. `reply_to` is the
    /// issue of the comment being answered with that line, if any (then a remembered request
    /// on the same issue is not told twice).
    async fn promote(
        &mut self,
        snap: &Snapshot,
        repo: &Repository,
        policy: &Policy,
        req: &Request,
        may_open: bool,
        reply_to: Option<u64>,
    ) -> String {
        let key = (req.app.clone(), req.to.clone());
        let observation = self.observation(&req.app, &req.from);
        let now = Utc::now();
        let eval =
            evaluate::evaluate(repo, &snap.tree, policy, req, observation.as_ref(), now, &self.cfg.prometheus).await;
        let metrics = &self.shared.metrics;
        let eval = match eval {
            Ok(e) => e,
            Err(e) => {
                // A person's invalid request (e.g. a step that skips an environment) is answered,
                // not recorded: it must not hide the promotion's real state.
                if reply_to.is_none() {
                    metrics.promotion(&req.app, &req.to, "failed");
                    let t = self.tracked.entry(key).or_default();
                    t.status = status_of(req, "Failed", e.to_string(), None, t);
                }
                return format!("❌ **{} → {}**: {e}", req.app, req.to);
            }
        };
        if eval.plan.is_noop() {
            return self.nothing_to_do(req, &eval).await;
        }
        // A remembered request (no reply being written now) approves the versions the person
        // asked for, not whatever the source pins by now.
        let stale = reply_to.is_none()
            && self
                .tracked
                .get(&key)
                .and_then(|t| t.request.as_ref())
                .is_some_and(|(_, _, v)| *v != eval.target_versions());
        if stale {
            let (who, issue, asked) = self.tracked.get_mut(&key).and_then(|t| t.request.take()).unwrap_or_default();
            if let Some(gh) = self.cfg.github.clone().filter(|_| self.cfg.enabled) {
                let note = format!(
                    "@{who} {} moved on since you asked (`{asked}`; now `{}`): your `/promote {} to {}` no longer applies — ask again to promote what {} runs now.",
                    req.from,
                    eval.target_versions(),
                    req.app,
                    req.to,
                    req.from
                );
                if let Err(e) = gh.comment(issue, &note).await {
                    tracing::warn!(error = %e, issue, "failed to tell the requester that the versions changed");
                }
            }
            let auto = policy.mode(&req.app, &req.to) == Mode::Auto;
            let anonymous = Request { requested_by: None, ..req.clone() };
            return Box::pin(self.promote(snap, repo, policy, &anonymous, auto, None)).await;
        }
        let report = eval.gates.clone().unwrap_or_default();
        let t = self.tracked.entry(key.clone()).or_default();
        t.status.gates = report
            .results
            .iter()
            .map(|r| GateStatus { gate: r.gate.clone(), outcome: r.outcome.to_string(), evidence: r.evidence.clone() })
            .collect();
        let mut superseded: Option<(String, u64)> = None;
        if !eval.ready() {
            let failed = report.failed().is_some();
            let (state, outcome) = if failed { ("Blocked", "blocked") } else { ("Waiting", "waiting") };
            metrics.promotion(&req.app, &req.to, outcome);
            t.retry_at = report.retry_at().or_else(|| {
                // Prometheus gates without a time: look again after their interval.
                report
                    .results
                    .iter()
                    .any(|r| r.gate.starts_with("prometheus/") && r.outcome != Outcome::Passed)
                    .then(|| now + chrono::Duration::seconds(60))
            });
            if let (Some(who), Some(issue)) = (&req.requested_by, reply_to) {
                if !failed {
                    if let Some((earlier, earlier_issue, _)) = t.request.take() {
                        if earlier_issue != issue {
                            superseded = Some((earlier, earlier_issue));
                        }
                    }
                    t.request = Some((who.clone(), issue, eval.target_versions()));
                }
            }
            t.status = status_of(req, state, report.summary(), eval.target_versions().into(), t);
            t.status.retry_at = t.retry_at.map(|r| r.timestamp().max(0) as u64);
            // Posted once per failing gate (not per measured value: a retried Prometheus gate
            // would otherwise post a status every minute), on the commit evaluated.
            let status_key = report.failed().map(|f| format!("{}@{}", f.gate, snap.commit));
            let post_status = failed && may_open && self.cfg.enabled && t.last_status != status_key;
            if post_status {
                t.last_status = status_key;
            }
            let line = if failed {
                format!(
                    "❌ **{} → {}** is blocked ({}):\n{}",
                    req.app,
                    req.to,
                    eval.moves(),
                    evaluate::gate_markdown(&report)
                )
            } else {
                format!(
                    "⏳ **{} → {}** waits ({}); I will open the pull request when every gate passes:\n{}",
                    req.app,
                    req.to,
                    eval.moves(),
                    evaluate::gate_markdown(&report)
                )
            };
            // A person's request that waited is now blocked: tell them, and let it go (a
            // failing gate does not pass by waiting; they can ask again).
            let dropped = if failed && reply_to.is_none() { t.request.take() } else { None };
            if let (Some((who, issue, _)), Some(gh)) = (dropped, self.cfg.github.clone().filter(|_| self.cfg.enabled)) {
                if let Err(e) = gh.comment(issue, &format!("@{who} {line}")).await {
                    tracing::warn!(error = %e, issue, "failed to tell the requester that the promotion is blocked");
                }
            }
            if let (Some((who, issue)), Some(gh)) = (superseded, self.cfg.github.clone().filter(|_| self.cfg.enabled)) {
                let note = format!(
                    "@{who} a newer `/promote {} to {}` replaced yours; its answer is on #{}.",
                    req.app,
                    req.to,
                    reply_to.unwrap_or_default()
                );
                if let Err(e) = gh.comment(issue, &note).await {
                    tracing::warn!(error = %e, issue, "failed to tell a requester that a newer request replaced theirs");
                }
            }
            if post_status {
                // Explain on the tracked commit the promotion was evaluated on why it does not
                // move on.
                if let Some(gh) = self.cfg.github.clone() {
                    let mut status = evaluate::gate_status(&report, self.cfg.tidegate_url.as_deref());
                    status.context = format!("tidegate/promote/{}/{}", req.app, req.to);
                    if let Err(e) = gh.set_status(&snap.commit, &status).await {
                        tracing::warn!(error = %e, app = %req.app, target = %req.to, "failed to post the gate status");
                    }
                }
            }
            return line;
        }
        t.last_status = None;
        if !may_open {
            metrics.promotion(&req.app, &req.to, "waiting");
            t.status = status_of(req, "Waiting", format!("waiting for /promote {} to {}", req.app, req.to), None, t);
            t.status.tag = eval.target_versions();
            return String::new();
        }
        let Some(gh) = self.cfg.github.clone().filter(|_| self.cfg.enabled) else {
            t.status = status_of(
                req,
                "Ready",
                "every gate passed; GitHub is not configured, so no pull request is opened".into(),
                Some(eval.target_versions()),
                t,
            );
            return format!("✅ **{} → {}**: every gate passed, but GitHub is not configured here.", req.app, req.to);
        };
        let versions = eval.target_versions();
        if req.requested_by.is_none() && t.declined.as_deref() == Some(versions.as_str()) {
            t.status = status_of(
                req,
                "Declined",
                "the pull request for these versions was closed without merging; /promote reopens it".into(),
                Some(versions),
                t,
            );
            return String::new();
        }
        if t.pr.is_some() && t.pr_versions.as_deref() == Some(versions.as_str()) {
            metrics.promotion(&req.app, &req.to, "unchanged");
            let url = t.pr.as_ref().map(|p| p.url.clone()).unwrap_or_default();
            let n = t.pr.as_ref().map_or(0, |p| p.number);
            t.request = None;
            t.status = status_of(req, "Open", format!("pull request #{n} is open"), Some(versions), t);
            t.status.pr_url = Some(url.clone());
            return format!("ℹ️ **{} → {}**: #{n} is already open with {} ({url}).", req.app, req.to, eval.moves());
        }
        let ctx = PrContext {
            base_branch: self.cfg.base_branch.clone(),
            base_commit: snap.commit.clone(),
            base_tree: Some(snap.tree.tree_id()),
            web_url: self.cfg.web_url.clone(),
            tidegate_url: self.cfg.tidegate_url.clone(),
        };
        let pr = evaluate::pull_request(&eval, policy, &ctx, req.requested_by.as_deref());
        let result = gh.upsert_promotion_pr(&pr).await;
        let t = self.tracked.entry(key).or_default();
        match result {
            Ok(out) => {
                let outcome = if out.created {
                    "opened"
                } else if out.changed {
                    "updated"
                } else {
                    "unchanged"
                };
                metrics.promotion(&req.app, &req.to, outcome);
                tracing::info!(app = %req.app, target = %req.to, pr = out.number, outcome, "promotion pull request");
                t.pr = Some(PullRef {
                    number: out.number,
                    url: out.url.clone(),
                    head_ref: pr.branch.clone(),
                    head_sha: out.head_sha.clone(),
                    title: pr.title.clone(),
                    body: String::new(),
                });
                t.pr_versions = Some(versions.clone());
                let answered = t.request.take().map(|(who, issue, _)| (who, issue));
                t.status =
                    status_of(req, "Open", format!("pull request #{} is {outcome}", out.number), Some(versions), t);
                t.status.pr_url = Some(out.url.clone());
                let line = format!(
                    "✅ **{} → {}**: {outcome} #{} ({}) moving {}.",
                    req.app,
                    req.to,
                    out.number,
                    out.url,
                    eval.moves()
                );
                // A person asked earlier and the promotion waited: tell them on their thread.
                if let Some((who, issue)) = answered {
                    if reply_to != Some(issue) {
                        if let Err(e) = gh.comment(issue, &format!("@{who} {line}")).await {
                            tracing::warn!(error = %e, issue, "failed to tell the requester that the pull request is open");
                        }
                    }
                }
                line
            }
            Err(e) => {
                metrics.promotion(&req.app, &req.to, "failed");
                tracing::warn!(error = %e, app = %req.app, target = %req.to, "failed to open the promotion pull request");
                t.retry_at = Some(now + chrono::Duration::seconds(60));
                t.status = status_of(req, "Failed", e.to_string(), Some(versions), t);
                format!("❌ **{} → {}**: {e}", req.app, req.to)
            }
        }
    }

    /// The target already runs what the source pins: close a pull request left open.
    async fn nothing_to_do(&mut self, req: &Request, eval: &Evaluation) -> String {
        let key = (req.app.clone(), req.to.clone());
        let t = self.tracked.remove(&key).unwrap_or_default();
        if let (Some(pr), Some(gh)) = (t.pr, self.cfg.github.clone().filter(|_| self.cfg.enabled)) {
            // It may have been merged or closed meanwhile (a missed webhook): look first.
            let still_open = match gh.find_open_pr(&pr.head_ref).await {
                Ok(open) => open.is_some_and(|o| o.number == pr.number),
                Err(e) => {
                    // Kept: the next evaluation tries again.
                    tracing::warn!(error = %e, pr = pr.number, "failed to look up a promotion pull request");
                    self.tracked.insert(key, Tracked { pr: Some(pr), ..Tracked::default() });
                    return format!("ℹ️ **{} → {}**: nothing to promote, {} already runs it.", req.app, req.to, req.to);
                }
            };
            if !still_open {
                return format!("ℹ️ **{} → {}**: nothing to promote, {} already runs it.", req.app, req.to, req.to);
            }
            let msg = format!(
                "Closing: {} already runs what {} pins for {}, so this promotion is obsolete.",
                req.to, req.from, req.app
            );
            match gh.close_pr(pr.number, &msg).await {
                Ok(()) => self.shared.metrics.promotion(&req.app, &req.to, "obsolete"),
                Err(e) => {
                    tracing::warn!(error = %e, pr = pr.number, "failed to close an obsolete promotion pull request");
                    self.tracked.insert(key.clone(), Tracked { pr: Some(pr.clone()), ..Tracked::default() });
                }
            }
        }
        let pinned: Vec<String> = eval.plan.source_images();
        format!(
            "ℹ️ **{} → {}**: nothing to promote, {} already runs {}.",
            req.app,
            req.to,
            req.to,
            if pinned.is_empty() { "what the source pins".to_string() } else { pinned.join(", ") }
        )
    }
}

fn work_name(w: &Work) -> &'static str {
    match w {
        Work::Snapshot(_) => "snapshot",
        Work::Reconciled { .. } => "reconciled",
        Work::Comment(_) => "comment",
        Work::PullRequestClosed { .. } => "pull_request_closed",
    }
}

fn status_of(req: &Request, state: &str, reason: String, tag: Option<String>, t: &Tracked) -> PromotionStatus {
    PromotionStatus {
        app: req.app.clone(),
        from: req.from.clone(),
        to: req.to.clone(),
        tag: tag.unwrap_or_else(|| t.status.tag.clone()),
        state: state.to_string(),
        reason,
        pr_url: t.pr.as_ref().map(|p| p.url.clone()),
        requested_by: req.requested_by.clone().or_else(|| t.request.as_ref().map(|(w, _, _)| w.clone())),
        gates: t.status.gates.clone(),
        retry_at: t.retry_at.map(|r| r.timestamp().max(0) as u64),
        updated_at: now(),
    }
}

#[cfg(test)]
mod tests;
