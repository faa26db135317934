//! Promotion gates: whether an app may move from one environment to the next, with the
//! evidence for each decision (source healthy at the tag, soak time, Prometheus queries,
//! promotion windows, a person's approval).
//!
//! Owns: evaluating gates. The pure part decides from data; the Prometheus HTTP adapter lives
//! in `prometheus`. Must not touch: git, the cluster, GitHub.

pub mod spec;
