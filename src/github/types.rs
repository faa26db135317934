//! The data the adapter takes and gives: promotion pull requests, commit statuses, reactions.

/// One file of a promotion commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Path in the repository, `/`-separated, relative (`overlays/qa/kustomization.yaml`).
    pub path: String,
    /// The whole new content.
    pub content: String,
    /// The git blob id of the file at `base_commit` (`None`: the file is new); tidegate knows
    /// it from its git snapshot.
    pub base_blob_sha: Option<String>,
}

/// A promotion pull request as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionPr {
    /// The head branch, one per (app, target environment): `tidegate/promote/frontend/qa`.
    pub branch: String,
    /// The base branch name (`main`).
    pub base: String,
    /// The commit of `base` the change is made on.
    pub base_commit: String,
    /// The tree of `base_commit`, when the caller knows it (tidegate does, from its own
    /// clone): saves reading the commit from GitHub when the branch is rebuilt.
    pub base_tree: Option<String>,
    /// The files to write.
    pub files: Vec<FileChange>,
    /// The commit message.
    pub commit_message: String,
    /// The pull request title (shortened to [`MAX_TITLE_CHARS`](super::MAX_TITLE_CHARS)).
    pub title: String,
    /// The pull request body, Markdown (shortened to [`MAX_BODY_CHARS`](super::MAX_BODY_CHARS)).
    pub body: String,
    /// Labels the pull request must carry.
    pub labels: Vec<String>,
    /// Commit statuses to set on the head commit.
    pub statuses: Vec<CommitStatus>,
}

/// The state of a commit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusState {
    /// Still running.
    Pending,
    /// Passed.
    Success,
    /// Failed.
    Failure,
    /// Could not be decided.
    Error,
}

impl StatusState {
    /// GitHub's name.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

/// A commit status (`tidegate/gates`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    /// The status's name on the commit.
    pub context: String,
    /// Its state.
    pub state: StatusState,
    /// One line (shortened to [`MAX_STATUS_DESCRIPTION_CHARS`](super::MAX_STATUS_DESCRIPTION_CHARS)).
    pub description: String,
    /// A link to details.
    pub target_url: Option<String>,
}

/// What [`GitHub::upsert_promotion_pr`](super::GitHub::upsert_promotion_pr) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrOutcome {
    /// The pull request number.
    pub number: u64,
    /// Its web URL.
    pub url: String,
    /// The head commit.
    pub head_sha: String,
    /// The pull request was opened by this call.
    pub created: bool,
    /// The branch got a new commit (`false`: it already held exactly this change).
    pub changed: bool,
}

/// An open pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRef {
    /// Its number.
    pub number: u64,
    /// Its web URL.
    pub url: String,
    /// The head branch name.
    pub head_ref: String,
    /// The head commit.
    pub head_sha: String,
    /// Its title.
    pub title: String,
    /// Its body (empty when none).
    pub body: String,
}

/// A comment that was posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRef {
    /// The comment id (for reactions).
    pub id: u64,
    /// Its web URL.
    pub url: String,
}

/// A reaction on a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reaction {
    /// 👀 seen, working on it.
    Eyes,
    /// 👍 done.
    PlusOne,
    /// 👎 refused.
    MinusOne,
    /// 😕 not understood.
    Confused,
    /// 🚀 promoted.
    Rocket,
}

impl Reaction {
    /// GitHub's name (`+1`, `eyes`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Reaction::Eyes => "eyes",
            Reaction::PlusOne => "+1",
            Reaction::MinusOne => "-1",
            Reaction::Confused => "confused",
            Reaction::Rocket => "rocket",
        }
    }
}
