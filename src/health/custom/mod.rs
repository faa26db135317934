//! Health rules users bring: per API group and kind, declared in the repository
//! ([`HEALTH_RULES_FILE`]), as Flux-style CEL expressions ([`cel`]) or Argo CD-style Lua
//! scripts ([`lua`]). A user rule for a group/kind replaces tidegate's native rule for it, as a
//! `resource.customizations.health` script does in Argo CD.
//!
//! Owns: reading and checking the rules file (CEL compiled and Lua loaded, so `tidegate check`
//! reports a broken rule with its file and line) and running a rule on one object. Must not
//! touch: the cluster, the network; the Lua sandbox has no `io`, `os` (but the clock) or module
//! loading, and a bounded time and memory. A rule that fails is that object's
//! [`RuleError`], never a crash.

pub(crate) mod cel;
mod file;
pub(crate) mod lua;

use std::fmt;

use serde_json::Value;

use super::Health;

pub use file::{RuleFileError, RuleFileErrors};

/// Where the repository declares its health rules (optional).
pub const HEALTH_RULES_FILE: &str = "apps-of-apps/health.yaml";

/// The health rules of a repository; empty when it declares none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthRules {
    rules: Vec<UserRule>,
}

/// One rule: the kind it judges and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRule {
    /// The API group (`""` for the core group).
    pub group: String,
    /// The kind.
    pub kind: String,
    /// Where it is declared: `file:line`.
    pub origin: String,
    check: Check,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    Cel(cel::CelRule),
    Lua(lua::LuaRule),
}

/// A rule that could not judge an object: an expression that failed or did not return a bool,
/// a script that raised an error, ran out of time or memory, or returned no valid `hs.status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("health rule for {kind} at {origin} failed: {message}")]
pub struct RuleError {
    /// The kind (`group/Kind`, or `Kind` for the core group) the rule judges.
    pub kind: String,
    /// Where the rule is declared.
    pub origin: String,
    /// What went wrong.
    pub message: String,
}

impl HealthRules {
    /// No rules: every kind is judged by the native rules.
    pub fn none() -> HealthRules {
        HealthRules::default()
    }

    /// Every rule, in the file's order.
    pub fn rules(&self) -> &[UserRule] {
        &self.rules
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule for a group and kind, if the repository declares one.
    pub fn rule(&self, group: &str, kind: &str) -> Option<&UserRule> {
        self.rules.iter().find(|r| r.group == group && r.kind == kind)
    }

    /// The rule for `obj`'s kind: matched on API group and kind; without `apiVersion`, on the
    /// kind alone (the first rule for it), as the native rules are.
    pub fn rule_of(&self, obj: &Value) -> Option<&UserRule> {
        if self.rules.is_empty() {
            return None;
        }
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        match obj.get("apiVersion").and_then(Value::as_str) {
            Some(v) => self.rule(v.rsplit_once('/').map_or("", |(group, _)| group), kind),
            None => self.rules.iter().find(|r| r.kind == kind),
        }
    }
}

impl UserRule {
    /// Judges `obj` (an object of this rule's kind, not being deleted).
    pub fn judge(&self, obj: &Value) -> Result<Health, RuleError> {
        let judged = match &self.check {
            Check::Cel(rule) => rule.judge(obj),
            Check::Lua(rule) => rule.judge(obj),
        };
        judged.map_err(|message| RuleError { kind: self.group_kind(), origin: self.origin.clone(), message })
    }

    /// `CEL` or `Lua`.
    pub fn language(&self) -> &'static str {
        match self.check {
            Check::Cel(_) => "CEL",
            Check::Lua(_) => "Lua",
        }
    }

    fn group_kind(&self) -> String {
        if self.group.is_empty() { self.kind.clone() } else { format!("{}/{}", self.group, self.kind) }
    }
}

impl fmt::Display for UserRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rule for {} at {}", self.language(), self.group_kind(), self.origin)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_lua;
