//! What of a delivery's headers may be used where it lasts: metric labels come only from a
//! fixed set of GitHub event names (anything else is `other`, and a delivery whose signature
//! is not verified contributes nothing at all), delivery ids are bounded before they are
//! remembered, and request text that reaches a log line is cut short with its control
//! characters escaped.
//!
//! Owns: those bounds. Must not touch: metrics, logs or the network themselves — callers pass
//! what this module returns.

/// GitHub's webhook event names (`X-GitHub-Event`), sorted. Only these become metric labels.
pub const GITHUB_EVENTS: &[&str] = &[
    "branch_protection_configuration",
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "code_scanning_alert",
    "commit_comment",
    "create",
    "custom_property",
    "custom_property_values",
    "delete",
    "dependabot_alert",
    "deploy_key",
    "deployment",
    "deployment_protection_rule",
    "deployment_review",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "github_app_authorization",
    "gollum",
    "installation",
    "installation_repositories",
    "installation_target",
    "issue_comment",
    "issues",
    "label",
    "marketplace_purchase",
    "member",
    "membership",
    "merge_group",
    "meta",
    "milestone",
    "org_block",
    "organization",
    "package",
    "page_build",
    "personal_access_token_request",
    "ping",
    "project",
    "project_card",
    "project_column",
    "projects_v2",
    "projects_v2_item",
    "projects_v2_status_update",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
    "push",
    "registry_package",
    "release",
    "repository",
    "repository_advisory",
    "repository_dispatch",
    "repository_import",
    "repository_ruleset",
    "repository_vulnerability_alert",
    "secret_scanning_alert",
    "secret_scanning_alert_location",
    "secret_scanning_scan",
    "security_advisory",
    "security_and_analysis",
    "sponsorship",
    "star",
    "status",
    "sub_issues",
    "team",
    "team_add",
    "watch",
    "workflow_dispatch",
    "workflow_job",
    "workflow_run",
];

/// The metric label of a verified delivery's event: its name when GitHub has such an event,
/// else `other`.
pub fn event_label(event: &str) -> &'static str {
    GITHUB_EVENTS.binary_search(&event).map_or("other", |i| GITHUB_EVENTS[i])
}

/// The metric label of a delivery refused before its signature was verified: nothing of the
/// request goes into labels.
pub const UNVERIFIED: &str = "unverified";

/// Longest `X-GitHub-Delivery` remembered for de-duplication. GitHub's are UUIDs (36
/// characters); a longer id is refused rather than stored.
pub const MAX_DELIVERY_ID_BYTES: usize = 128;

/// True for an `X-GitHub-Delivery` value that may be remembered: at most
/// [`MAX_DELIVERY_ID_BYTES`] of printable ASCII.
pub fn delivery_id_ok(id: &str) -> bool {
    id.len() <= MAX_DELIVERY_ID_BYTES && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Characters of request text kept in a log line (or an answer quoting it).
pub const LOG_TEXT_CHARS: usize = 64;

/// Request text made fit for a log line: at most [`LOG_TEXT_CHARS`] characters, control and
/// other invisible characters escaped (`\n`, `\u{202e}`), and, when cut, how long it was.
pub fn for_log(text: &str) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == LOG_TEXT_CHARS {
            out.push_str(&format!("…({} bytes)", text.len()));
            return out;
        }
        if c.is_control() || is_invisible(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Format characters that change how text around them reads (bidirectional overrides,
/// zero-width characters): escaped in logs like control characters.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_fixed_set() {
        assert!(GITHUB_EVENTS.windows(2).all(|w| w[0] < w[1]), "sorted and unique, for binary search");
        assert_eq!(event_label("push"), "push");
        assert_eq!(event_label("issue_comment"), "issue_comment");
        assert_eq!(event_label(""), "other");
        assert_eq!(event_label("Push"), "other");
        assert_eq!(event_label(&"x".repeat(60_000)), "other");
    }

    #[test]
    fn log_text_is_bounded_and_escaped() {
        assert_eq!(for_log("push"), "push");
        assert_eq!(for_log("a\nb\r\u{1b}[31m"), "a\\nb\\r\\u{1b}[31m");
        assert_eq!(for_log("x\u{202e}y\u{200b}"), "x\\u{202e}y\\u{200b}");
        let long = "é".repeat(60_000);
        let cut = for_log(&long);
        assert!(cut.starts_with(&"é".repeat(LOG_TEXT_CHARS)), "{cut}");
        assert!(cut.ends_with("…(120000 bytes)"), "{cut}");
        assert!(cut.chars().count() < LOG_TEXT_CHARS + 20);
        // Escapes count once per character kept, so the bound holds for hostile text too.
        let controls = for_log(&"\u{7}".repeat(10_000));
        assert!(controls.len() < LOG_TEXT_CHARS * 10 + 20, "{}", controls.len());
    }

    #[test]
    fn delivery_ids() {
        assert!(delivery_id_ok("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
        assert!(!delivery_id_ok(&"a".repeat(MAX_DELIVERY_ID_BYTES + 1)));
        assert!(!delivery_id_ok("a b"));
        assert!(!delivery_id_ok("a\nb"));
    }
}
