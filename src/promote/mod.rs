//! The promotion model, pure: the pipeline and promotion policy declared in the repository
//! ([`policy`]), the planner that turns "promote APP from ENV to ENV" into exact file edits
//! ([`plan`]), byte-preserving edits of overlay files ([`edit`]), and the pull request's branch,
//! title and body ([`pr`]).
//!
//! Owns: deciding what changes. Must not touch: git, the cluster, GitHub, the network. The bot
//! (`crate::bot`) commits a plan's [`FileEdit`]s and opens or updates the pull request.

pub mod edit;
pub(crate) mod located;
pub mod plan;
pub mod policy;
pub mod pr;

pub use edit::{EditError, ImageEntry};
pub use plan::{FileEdit, ImageChange, Promotable, PromoteError, PromotionPlan, plan_promotion, plan_promotion_of};
pub use policy::{DEFAULT_LABEL, Mode, POLICY_FILE, Policy, PolicyError, PolicyErrors, TargetPolicy};
pub use pr::{BodyContext, EvidenceLine};

#[cfg(test)]
mod tests;
