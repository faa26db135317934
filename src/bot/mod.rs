//! The promotion bot: turns reconcile results and `/promote` comments into promotions —
//! plan, gates, pull request — on one serial queue.
//!
//! Owns: orchestration. Must not touch: rendering details, HTTP intake.
