//! The GitHub adapter (octocrab): pull requests, branches, file commits, comments, reactions,
//! labels, commit statuses, collaborator permissions; token or GitHub App authentication;
//! rate limits honoured; POSTs never blindly resent.
//!
//! Owns: talking to GitHub's REST API. Must not touch: planning, gates, the cluster.
