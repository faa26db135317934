//! Applying an environment's desired state to a cluster: server-side apply in sync waves,
//! health gating between waves, an in-cluster inventory per app, prune, drift detection.
//!
//! Owns: every write to the cluster. Must not touch: rendering (it receives a
//! [`crate::plan::RenderedEnv`]), git, GitHub.

pub mod cluster;
pub mod diff;
pub mod drift;
pub mod inventory;
pub mod observe;
pub mod ownership;
pub mod sync;

pub use cluster::{Cluster, ClusterError};
pub use sync::{Action, Progress, SyncOptions, SyncReport, sync};
