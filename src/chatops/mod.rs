//! ChatOps, pure: parsing `/promote` comments into commands, validating names against the
//! repository ("did you mean"), and repository permission levels.
//!
//! Owns: reading what a person asked for. Must not touch: GitHub, git, the cluster, any shell.
//!
//! A comment may hold several commands, one per line that starts with `/promote` (the keyword
//! is case-insensitive). Lines inside fenced code blocks (```` ``` ```` or `~~~`) and quoted
//! lines (`>`) are never commands: people paste and quote earlier commands when they discuss
//! them. App and environment names must be lowercase DNS labels and are checked against the
//! repository by [`validate`] before anything acts on them; nothing from a comment ever reaches
//! a shell.

use serde::{Deserialize, Serialize};

/// Whether `name` can be a GitHub login (letters, digits and `-`, not leading, at most 39
/// characters): only such a name may be written as an `@mention`.
pub fn is_login(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 39
        && !name.starts_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A person's permission on the repository, as GitHub's collaborator permission API reports
/// it (`role_name`), weakest first, so that `>=` compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// No access.
    None,
    /// Read.
    Read,
    /// Triage.
    Triage,
    /// Write (push).
    Write,
    /// Maintain.
    Maintain,
    /// Admin.
    Admin,
}

impl Permission {
    /// Parses GitHub's `role_name` / `permission` values (`pull` and `push` are the legacy
    /// names of read and write).
    pub fn parse(s: &str) -> Option<Permission> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "none" => Permission::None,
            "read" | "pull" => Permission::Read,
            "triage" => Permission::Triage,
            "write" | "push" => Permission::Write,
            "maintain" => Permission::Maintain,
            "admin" => Permission::Admin,
            _ => return None,
        })
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::None => "none",
            Permission::Read => "read",
            Permission::Triage => "triage",
            Permission::Write => "write",
            Permission::Maintain => "maintain",
            Permission::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// At most this many commands are read from one comment; more is answered with an error
/// (a comment is not a batch job, and each command costs GitHub API calls).
pub const MAX_COMMANDS: usize = 10;

/// Longest name accepted (a DNS label).
const MAX_NAME: usize = 63;

/// Longest piece of a comment (in characters) quoted back in an error.
pub const MAX_QUOTED: usize = 200;

/// What a `/promote` line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/promote <app>[, <app>…] [from <env>] to <env>`.
    Promote {
        /// The apps, in the order written, without duplicates.
        apps: Vec<String>,
        /// The source environment when given; otherwise the one before `to` in the pipeline.
        from: Option<String>,
        /// The target environment.
        to: String,
    },
    /// `/promote status [<app>]`.
    Status {
        /// One app, or every app.
        app: Option<String>,
    },
    /// `/promote help`, or a bare `/promote`.
    Help,
}

/// A `/promote` line that is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// The offending line, trimmed (and shortened when very long), as written.
    pub line: String,
    /// What is wrong, quoting the line as plain text (invisible and bidi characters shown as
    /// `<U+202E>`), e.g. `expected "/promote <app> to <env>", got "/promote frontend qa"`.
    pub message: String,
    /// The same in Markdown, for the bot's reply: every piece of the comment is quoted inert
    /// by [`quote`] (no live mention, link, image or HTML), the expected syntax is code.
    pub markdown: String,
}

/// One piece of an error message.
enum Part<'a> {
    /// Our own words.
    Text(&'a str),
    /// Syntax we expected, shown as code.
    Syntax(&'a str),
    /// Text from the comment.
    Quoted(&'a str),
}

impl ParseError {
    fn new(line: &str, what: &[Part<'_>]) -> ParseError {
        let (mut message, mut markdown) = (String::new(), String::new());
        let got = [Part::Text(", got "), Part::Quoted(line)];
        for part in what.iter().chain(&got) {
            match part {
                Part::Text(t) => {
                    message.push_str(t);
                    markdown.push_str(t);
                }
                Part::Syntax(t) => {
                    message.push_str(&format!("\"{t}\""));
                    markdown.push_str(&quote(t));
                }
                Part::Quoted(t) => {
                    message.push_str(&format!("\"{}\"", visible(t, MAX_QUOTED)));
                    markdown.push_str(&quote(t));
                }
            }
        }
        ParseError { line: shorten(line), message, markdown }
    }
}

/// Quotes text from a comment so that it renders inert in GitHub Markdown: as a code span
/// whose backtick fence is longer than any backtick run inside (so it cannot be closed early),
/// with control, bidi, zero-width and other invisible characters written as `<U+202E>`, at
/// most [`MAX_QUOTED`] characters of the text (then `…`), on one line. Mentions, links,
/// images, HTML and emphasis are not interpreted inside a code span.
pub fn quote(text: &str) -> String {
    let shown = visible(text, MAX_QUOTED);
    let mut longest = 0;
    let mut run = 0;
    for c in shown.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    // The spaces keep a leading or trailing backtick off the fence; CommonMark strips one
    // space on each side when both are there.
    format!("{fence} {shown} {fence}")
}

/// Characters that render as nothing, reorder the text around them or end a line: C0 and C1
/// controls, bidi marks, embeddings, overrides and isolates, zero-width and other format
/// characters, line and paragraph separators, invisible fillers, variation selectors and
/// Unicode tags (which can smuggle hidden text).
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{0600}'..='\u{0605}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// At most `max` characters of `text`, then `…`, with every [`is_invisible`] character
/// written as `<U+XXXX>` (which counts as one character).
fn visible(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if is_invisible(c) {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads every `/promote` command of a comment, in order: one result per command line (at most
/// [`MAX_COMMANDS`], then one error saying there were too many). Lines in fenced code blocks
/// and quoted lines are skipped. Pure and linear in the size of the body.
pub fn parse(body: &str) -> Vec<Result<Command, ParseError>> {
    let mut out = Vec::new();
    for line in command_lines(body) {
        if out.len() == MAX_COMMANDS {
            let what = format!("too many /promote commands in one comment (at most {MAX_COMMANDS})");
            out.push(Err(ParseError::new(line, &[Part::Text(&what)])));
            break;
        }
        out.push(parse_line(line));
    }
    out
}

/// The trimmed `/promote` lines of a body that are neither in a fenced code block nor quoted.
fn command_lines(body: &str) -> impl Iterator<Item = &str> {
    // The open fence: its character and length (CommonMark: closed by a fence of the same
    // character at least as long, with nothing after it).
    let mut fence: Option<(char, usize)> = None;
    body.lines().filter_map(move |raw| {
        let line = raw.trim();
        let run = |c: char| line.chars().take_while(|&x| x == c).count();
        match fence {
            Some((c, n)) => {
                let len = run(c);
                if len >= n && line[len * c.len_utf8()..].trim().is_empty() {
                    fence = None;
                }
                None
            }
            None => {
                for c in ['`', '~'] {
                    let len = run(c);
                    // A backtick fence's info string has no backticks (else it is inline code).
                    if len >= 3 && !(c == '`' && line[len..].contains('`')) {
                        fence = Some((c, len));
                        return None;
                    }
                }
                is_command_line(line).then_some(line)
            }
        }
    })
}

/// `/promote` (any case) alone or followed by whitespace. Quoted lines start with `>`, so
/// they never match.
fn is_command_line(line: &str) -> bool {
    let Some(head) = line.get(..8) else { return false };
    head.eq_ignore_ascii_case("/promote") && line[8..].chars().next().is_none_or(char::is_whitespace)
}

fn parse_line(line: &str) -> Result<Command, ParseError> {
    let words: Vec<&str> = line[8..].split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()).collect();
    let is = |w: &str, kw: &str| w.eq_ignore_ascii_case(kw);
    let has_to = words.iter().any(|w| is(w, "to"));
    match words.as_slice() {
        [] => return Ok(Command::Help),
        [first, ..] if is(first, "help") => return Ok(Command::Help),
        [first] if is(first, "status") => return Ok(Command::Status { app: None }),
        [first, app] if is(first, "status") && !has_to => {
            return Ok(Command::Status { app: Some(name(line, app, "app")?) });
        }
        [first, ..] if is(first, "status") && !has_to => {
            return Err(ParseError::new(
                line,
                &[
                    Part::Text("expected "),
                    Part::Syntax("/promote status"),
                    Part::Text(" or "),
                    Part::Syntax("/promote status <app>"),
                ],
            ));
        }
        _ => {}
    }
    let keyword = words.iter().position(|w| is(w, "to") || is(w, "from"));
    let Some(k) = keyword else {
        return Err(ParseError::new(line, &[Part::Text("expected "), Part::Syntax("/promote <app> to <env>")]));
    };
    if k == 0 {
        let keyword = words[0].to_lowercase();
        return Err(ParseError::new(line, &[Part::Text("expected an app before "), Part::Quoted(&keyword)]));
    }
    let mut apps: Vec<String> = Vec::new();
    for w in &words[..k] {
        let app = name(line, w, "app")?;
        if !apps.contains(&app) {
            apps.push(app);
        }
    }
    let rest = &words[k..];
    let (from, to, extra) = match rest {
        [kw, env, tail @ ..] if is(kw, "to") => (None, *env, tail),
        [kw, src, kw2, env, tail @ ..] if is(kw, "from") && is(kw2, "to") => (Some(*src), *env, tail),
        [kw, ..] if is(kw, "from") => {
            return Err(ParseError::new(
                line,
                &[Part::Text("expected "), Part::Syntax("/promote <app> from <env> to <env>")],
            ));
        }
        _ => return Err(ParseError::new(line, &[Part::Text("expected an environment after "), Part::Syntax("to")])),
    };
    if let Some(w) = extra.first() {
        return Err(ParseError::new(
            line,
            &[Part::Text("unexpected "), Part::Quoted(w), Part::Text(" after the target environment")],
        ));
    }
    let from = from.map(|f| name(line, f, "environment")).transpose()?;
    let to = name(line, to, "environment")?;
    Ok(Command::Promote { apps, from, to })
}

/// A lowercase DNS label, or an error quoting it. Keywords are not names.
fn name(line: &str, word: &str, kind: &str) -> Result<String, ParseError> {
    let valid = !word.is_empty()
        && word.len() <= MAX_NAME
        && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !word.starts_with('-')
        && !word.ends_with('-');
    if ["to", "from"].contains(&word.to_ascii_lowercase().as_str()) {
        let expected = format!("expected {} name, found the keyword ", article(kind));
        return Err(ParseError::new(line, &[Part::Text(&expected), Part::Quoted(word)]));
    }
    if !valid {
        let why =
            format!(" is not a valid {kind} name (lowercase letters, digits and '-', at most {MAX_NAME} characters)");
        return Err(ParseError::new(line, &[Part::Quoted(word), Part::Text(&why)]));
    }
    Ok(word.to_owned())
}

fn article(kind: &str) -> String {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { format!("an {kind}") } else { format!("a {kind}") }
}

/// At most [`MAX_QUOTED`] characters, cut at a character boundary.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The names a command may use: the repository's apps and environments.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// Every app of the repository.
    pub apps: &'a [String],
    /// Every environment of the repository.
    pub environments: &'a [String],
}

/// Checks a command's names against the repository. Every problem is reported, each as one
/// sentence: `unknown app "frontedn"; did you mean "frontend"?`, unknown environments, and a
/// source environment equal to the target.
pub fn validate(cmd: &Command, names: &Names) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let mut check = |value: &str, known: &[String], kind: &str| {
        if known.iter().any(|k| k == value) {
            return;
        }
        let hint = match crate::render::kustomization::did_you_mean(value, known.iter().map(String::as_str)) {
            Some(s) => format!("; did you mean \"{s}\"?"),
            None if known.is_empty() => format!("; the repository has no {kind}s"),
            None if known.len() <= 12 => format!("; known {kind}s: {}", known.join(", ")),
            None => String::new(),
        };
        problems.push(format!("unknown {kind} \"{value}\"{hint}"));
    };
    match cmd {
        Command::Help | Command::Status { app: None } => {}
        Command::Status { app: Some(app) } => check(app, names.apps, "app"),
        Command::Promote { apps, from, to } => {
            for app in apps {
                check(app, names.apps, "app");
            }
            if let Some(from) = from {
                check(from, names.environments, "environment");
            }
            check(to, names.environments, "environment");
            if from.as_deref() == Some(to.as_str()) {
                problems.push(format!("cannot promote from \"{to}\" to \"{to}\": the environments are the same"));
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// The Markdown reference of the commands, for the bot's reply to `/promote help`, to an
/// invalid command, or to a bare `/promote`.
pub fn help_text() -> String {
    "\
**tidegate commands** (one per line; the keyword is case-insensitive)

| command | what it does |
|---|---|
| `/promote <app> to <env>` | promote an app's version from the environment before `<env>` to `<env>` |
| `/promote <app> from <env> to <env>` | promote from a chosen source environment |
| `/promote <app> <app> to <env>` or `/promote <app>, <app> to <env>` | promote several apps at once |
| `/promote status` | where every app stands in each environment, and its open promotion pull requests |
| `/promote status <app>` | the same for one app |
| `/promote help` | this reference |

App and environment names are lowercase (letters, digits and `-`) and must exist in the \
repository. Promoting needs the repository permission the target environment's policy asks \
for (`write` unless `apps-of-apps/promotion.yaml` says more, e.g. `maintain` for prod), and still \
goes through a pull request, health gates and promotion windows. Commands inside code blocks or quotes are ignored.
"
    .to_owned()
}

/// Why a comment is not acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The comment was edited or deleted, not created (re-running edited commands would act
    /// twice).
    NotCreated {
        /// The webhook's `action`.
        action: String,
    },
    /// The author is not a person (`Bot`, `Organization`, …).
    NotAUser {
        /// The author's `type`.
        author_type: String,
    },
    /// The author is the bot itself, or a login ending in `[bot]`.
    FromABot {
        /// The author's login.
        login: String,
    },
    /// The body has no `/promote` line outside code blocks and quotes.
    NoCommand,
}

impl std::fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IgnoreReason::NotCreated { action } => write!(f, "the comment was {action}, not created"),
            IgnoreReason::NotAUser { author_type } => write!(f, "the author is a {author_type}, not a user"),
            IgnoreReason::FromABot { login } => write!(f, "the author {login} is a bot"),
            IgnoreReason::NoCommand => f.write_str("the comment has no /promote command"),
        }
    }
}

/// Whether a comment should be acted on: a newly created comment by a person (never a bot,
/// never the bot's own `bot_login`, never a login ending in `[bot]`) with a `/promote` line.
/// Logins compare case-insensitively, as GitHub's do.
pub fn is_actionable(c: &crate::webhook::IssueComment, bot_login: Option<&str>) -> Result<(), IgnoreReason> {
    if c.action != "created" {
        return Err(IgnoreReason::NotCreated { action: c.action.clone() });
    }
    let own = bot_login.is_some_and(|b| {
        let b = b.trim();
        c.author.eq_ignore_ascii_case(b)
            || c.author.eq_ignore_ascii_case(b.strip_suffix("[bot]").unwrap_or(b))
            || b.eq_ignore_ascii_case(c.author.strip_suffix("[bot]").unwrap_or(&c.author))
    });
    if own || c.author.to_ascii_lowercase().ends_with("[bot]") {
        return Err(IgnoreReason::FromABot { login: c.author.clone() });
    }
    if c.author_type != "User" {
        return Err(IgnoreReason::NotAUser { author_type: c.author_type.clone() });
    }
    if command_lines(&c.body).next().is_none() {
        return Err(IgnoreReason::NoCommand);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
