//! The promotion pull request's text, pure: branch name, title, commit message, body and
//! labels. Everything here is deterministic (the same plan and evidence give the same text), so
//! the bot can update the one PR per (app, target) in place and skip writes that change nothing.
//!
//! GitHub's limits are respected: branch names ≤ 250 bytes, titles ≤ 255 characters, bodies
//! ≤ 65,536 characters (evidence is cut first; the marker the bot recognises always stays).

use sha2::{Digest, Sha256};

use super::plan::PromotionPlan;
use super::policy::Policy;

/// Longest branch name GitHub accepts comfortably, in bytes.
pub const MAX_BRANCH_BYTES: usize = 250;
/// Longest pull request title, in characters.
pub const MAX_TITLE_CHARS: usize = 255;
/// Longest pull request body (and comment), in characters.
pub const MAX_BODY_CHARS: usize = 65_536;
/// Longest gate detail shown in the body, in characters.
const MAX_DETAIL_CHARS: usize = 1_000;

/// One gate's result as shown to reviewers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceLine {
    /// The gate's name (`soak`, `prometheus/error-rate`, `window`).
    pub gate: String,
    /// `passed`, `failed` or `waiting`.
    pub outcome: String,
    /// What was measured, with values (`0.8% < 5% for 3 consecutive checks`).
    pub detail: String,
}

/// Facts about where a promotion comes from, for the body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BodyContext {
    /// The commit of the repository the source environment runs.
    pub source_commit: Option<String>,
    /// A link to that commit.
    pub commit_url: Option<String>,
    /// The GitHub login of the person who asked (`/promote`); `None` for automatic promotions.
    pub requested_by: Option<String>,
    /// A link to tidegate's status page.
    pub tidegate_url: Option<String>,
}

/// The branch of the one promotion PR of (app, target): `tidegate/promote/<app>/<target>`.
/// Characters git refuses in ref names are replaced by `-`; a name over
/// [`MAX_BRANCH_BYTES`] is cut and ends with a short sha256 of the full name, so it stays unique
/// and deterministic.
pub fn branch_name(app: &str, target: &str) -> String {
    let full = format!("tidegate/promote/{}/{}", ref_component(app), ref_component(target));
    if full.len() <= MAX_BRANCH_BYTES {
        return full;
    }
    let hash = hex::encode(Sha256::digest(full.as_bytes()));
    let suffix = format!("-{}", &hash[..12]);
    // Sanitised names are ASCII, so any byte index is a char boundary.
    let mut cut = full[..MAX_BRANCH_BYTES - suffix.len()].to_string();
    while cut.ends_with(['.', '/', '-']) {
        cut.pop();
    }
    cut + &suffix
}

/// One path component of a git ref (see `git check-ref-format`): ASCII letters, digits, `_`,
/// `-`, `.`; no `..`, no leading `.`, no trailing `.` or `.lock`; never empty.
fn ref_component(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '-' }).collect();
    while out.contains("..") {
        out = out.replace("..", ".");
    }
    let mut out = out.trim_start_matches('.').trim_end_matches('.').to_string();
    if out.ends_with(".lock") {
        out.push('-');
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}

/// Cuts `s` to at most `max` characters, ending with `…` when cut.
fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `Promote frontend to qa: ghcr.io/example/shop-frontend 1.8.2 → 1.9.0` (several images are
/// listed with commas), at most [`MAX_TITLE_CHARS`] characters.
pub fn title(plan: &PromotionPlan) -> String {
    let changes: Vec<String> =
        plan.changes.iter().map(|c| format!("{} {} → {}", c.image, c.from_version(), c.to_version())).collect();
    let text = if changes.is_empty() {
        format!("Promote {} to {} (no changes)", plan.app, plan.to)
    } else {
        format!("Promote {} to {}: {}", plan.app, plan.to, changes.join(", "))
    };
    truncate_chars(&single_line(&text), MAX_TITLE_CHARS)
}

/// The commit message: the title, then one line per image and a `Tidegate-Promotion` trailer.
pub fn commit_message(plan: &PromotionPlan) -> String {
    let mut out = title(plan);
    out.push_str("\n\n");
    for c in &plan.changes {
        out.push_str(&format!(
            "- {}: {} → {} (from {}, which runs {})\n",
            c.image,
            c.from_version(),
            c.to_version(),
            plan.from,
            c.source_image
        ));
    }
    if !plan.changes.is_empty() {
        out.push('\n');
    }
    out.push_str(&format!("Tidegate-Promotion: app={} from={} target={}\n", plan.app, plan.from, plan.to));
    out
}

/// The hidden comment that marks a promotion PR of (app, target); the first line of its body.
pub fn marker(app: &str, target: &str) -> String {
    format!("<!-- tidegate:promotion app={} target={} -->", marker_value(app), marker_value(target))
}

fn marker_value(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

/// Reads the marker back from a PR body: `(app, target)` of a promotion PR tidegate opened.
pub fn parse_marker(body: &str) -> Option<(String, String)> {
    let start = body.find("<!-- tidegate:promotion ")?;
    let rest = &body[start + "<!-- tidegate:promotion ".len()..];
    let end = rest.find(" -->")?;
    let mut app = None;
    let mut target = None;
    for part in rest[..end].split(' ') {
        match part.split_once('=') {
            Some(("app", v)) if !v.is_empty() => app = Some(v.to_string()),
            Some(("target", v)) if !v.is_empty() => target = Some(v.to_string()),
            _ => {}
        }
    }
    Some((app?, target?))
}

/// The labels for a promotion PR: the policy's `spec.labels` (default `tidegate/promotion`).
pub fn labels(policy: &Policy) -> Vec<String> {
    policy.labels().to_vec()
}

/// The PR body, written for reviewers: what moves (a table), the gate evidence with values,
/// where it comes from (source commit) and who asked; first line is [`marker`]. At most
/// [`MAX_BODY_CHARS`] characters: evidence rows that do not fit are left out with a note.
pub fn body(plan: &PromotionPlan, evidence: &[EvidenceLine], ctx: &BodyContext) -> String {
    let mut head = String::new();
    head.push_str(&marker(&plan.app, &plan.to));
    head.push('\n');
    head.push_str(&format!("## Promote {} from {} to {}\n\n", code(&plan.app), code(&plan.from), code(&plan.to)));
    if plan.changes.is_empty() {
        head.push_str(&format!("{} already runs what {} pins; nothing moves.\n\n", code(&plan.to), code(&plan.from)));
    } else {
        head.push_str(&format!("| image | {} now | after merge |\n|---|---|---|\n", code(&plan.to)));
        for c in &plan.changes {
            head.push_str(&format!(
                "| {} | {} | **{}** |\n",
                code(&c.image),
                code(&c.from_version()),
                code(&c.to_version())
            ));
        }
        head.push('\n');
    }
    let mut source = format!("{} runs ", code(&plan.from));
    let refs: Vec<String> = plan.changes.iter().map(|c| code(&c.source_image)).collect();
    source.push_str(&if refs.is_empty() { "the same images".to_string() } else { refs.join(", ") });
    match (&ctx.source_commit, &ctx.commit_url) {
        (Some(sha), Some(url)) => source.push_str(&format!(" at commit [{}]({})", code(short_sha(sha)), link(url))),
        (Some(sha), None) => source.push_str(&format!(" at commit {}", code(short_sha(sha)))),
        (None, Some(url)) => source.push_str(&format!(" ([source commit]({}))", link(url))),
        (None, None) => {}
    }
    head.push_str(&format!("**Source:** {source}.\n"));
    match &ctx.requested_by {
        Some(who) => head.push_str(&format!("**Requested by:** {}.\n", mention(who))),
        None => head.push_str("**Requested by:** tidegate, automatically: the gates below passed.\n"),
    }
    head.push('\n');
    let mut tail = String::from("### Files\n\n");
    for e in &plan.edits {
        tail.push_str(&format!("- {}\n", code(e.path.as_str())));
    }
    if plan.edits.is_empty() {
        tail.push_str("- (none)\n");
    }
    tail.push_str("\n---\n<sub>Opened by ");
    match &ctx.tidegate_url {
        Some(url) => tail.push_str(&format!("[tidegate]({})", link(url))),
        None => tail.push_str("tidegate"),
    }
    tail.push_str(&format!(
        ". This pull request is updated in place while {} moves on; the policy is in `apps-of-apps/promotion.yaml`.</sub>\n",
        code(&plan.from)
    ));
    let rows: Vec<String> = evidence
        .iter()
        .map(|e| {
            format!(
                "| {} | {} {} | {} |\n",
                cell(&e.gate),
                icon(&e.outcome),
                cell(&e.outcome),
                cell(&truncate_chars(&e.detail, MAX_DETAIL_CHARS))
            )
        })
        .collect();
    let gates_head = "### Gates\n\n| gate | outcome | detail |\n|---|---|---|\n";
    let fixed = head.chars().count() + tail.chars().count() + gates_head.chars().count() + 200;
    let mut evidence_text = String::new();
    if evidence.is_empty() {
        evidence_text.push_str("### Gates\n\nNo gate results yet.\n\n");
    } else {
        evidence_text.push_str(gates_head);
        let mut used = fixed;
        let mut shown = 0;
        for row in &rows {
            let n = row.chars().count();
            if used + n > MAX_BODY_CHARS {
                break;
            }
            used += n;
            evidence_text.push_str(row);
            shown += 1;
        }
        if shown < rows.len() {
            evidence_text
                .push_str(&format!("\n… {} more gate results left out (GitHub's size limit).\n", rows.len() - shown));
        }
        evidence_text.push('\n');
    }
    let out = format!("{head}{evidence_text}{tail}");
    // The head alone can only overflow with absurd input (thousands of images); cut the tail
    // end then — the marker is the first line and stays.
    truncate_chars(&out, MAX_BODY_CHARS)
}

fn short_sha(sha: &str) -> &str {
    let end = sha.char_indices().nth(12).map_or(sha.len(), |(i, _)| i);
    &sha[..end]
}

/// Inline code that survives any content: a fence longer than the longest backtick run.
fn code(s: &str) -> String {
    let s = single_line(s);
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Text for a table cell: one line, `|` escaped, no HTML (so nothing can fake the marker).
fn cell(s: &str) -> String {
    single_line(s).replace('\\', "\\\\").replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
}

/// A URL for a Markdown link target: no spaces, parentheses or angle brackets.
fn link(url: &str) -> String {
    url.chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '(' => "%28".to_string(),
            ')' => "%29".to_string(),
            '<' => "%3C".to_string(),
            '>' => "%3E".to_string(),
            c if c.is_control() => String::new(),
            c => c.to_string(),
        })
        .collect()
}

/// `@login` for a valid GitHub login, else the name as code (never a stray mention).
fn mention(who: &str) -> String {
    let login = who.strip_prefix('@').unwrap_or(who);
    if crate::chatops::is_login(login) { format!("@{login}") } else { code(who) }
}

fn icon(outcome: &str) -> &'static str {
    match outcome {
        "passed" => "✅",
        "failed" => "❌",
        "waiting" => "⏳",
        _ => "•",
    }
}

fn single_line(s: &str) -> String {
    s.split(['\r', '\n']).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}
