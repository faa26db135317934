//! ChatOps, pure: parsing `/promote` comments into commands, validating names against the
//! repository ("did you mean"), and repository permission levels.
//!
//! Owns: reading what a person asked for. Must not touch: GitHub, git, the cluster, any shell.
