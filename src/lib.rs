//! tidegate: a GitOps reconciler and promotion bot.
//!
//! Data flows one way: source snapshot → [`render`] (kustomize-compatible build of every app) →
//! plan (waves, apply order, digests) → apply → health → gates → promotion.
//! The core modules are pure; adapters (git, Kubernetes, GitHub, HTTP) live at the edges.

pub mod apply;
pub mod bot;
pub mod chatops;
pub mod cli;
pub mod config;
pub mod gates;
pub mod github;
pub mod health;
pub mod health_report;
pub mod logging;
pub mod plan;
pub mod promote;
pub mod render;
pub mod repo;
pub mod report;
pub mod serve;
pub mod source;
pub mod webhook;
pub mod yaml;
