//! The promotion model, pure: the pipeline and promotion policy declared in the repository,
//! the planner that turns "promote APP from ENV to ENV" into exact file edits, byte-preserving
//! edits of overlay files, and the pull request's branch, title and body.
//!
//! Owns: deciding what changes. Must not touch: git, the cluster, GitHub, the network.
