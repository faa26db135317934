use super::*;
use crate::webhook::IssueComment;

fn promote(apps: &[&str], from: Option<&str>, to: &str) -> Command {
    Command::Promote {
        apps: apps.iter().map(|s| s.to_string()).collect(),
        from: from.map(str::to_owned),
        to: to.to_owned(),
    }
}

fn one(body: &str) -> Result<Command, ParseError> {
    let mut all = parse(body);
    assert_eq!(all.len(), 1, "{body:?} → {all:?}");
    all.remove(0)
}

fn err(body: &str) -> String {
    one(body).unwrap_err().message
}

#[test]
fn the_basic_forms() {
    assert_eq!(one("/promote frontend to qa"), Ok(promote(&["frontend"], None, "qa")));
    assert_eq!(one("/promote frontend from dev to qa"), Ok(promote(&["frontend"], Some("dev"), "qa")));
    assert_eq!(one("/promote frontend backend to qa"), Ok(promote(&["frontend", "backend"], None, "qa")));
    assert_eq!(one("/promote frontend, backend to qa"), Ok(promote(&["frontend", "backend"], None, "qa")));
    assert_eq!(
        one("/promote frontend,backend , db to prod"),
        Ok(promote(&["frontend", "backend", "db"], None, "prod"))
    );
    assert_eq!(one("/promote status"), Ok(Command::Status { app: None }));
    assert_eq!(one("/promote status frontend"), Ok(Command::Status { app: Some("frontend".into()) }));
    assert_eq!(one("/promote help"), Ok(Command::Help));
    assert_eq!(one("/promote"), Ok(Command::Help));
    assert_eq!(one("/promote   "), Ok(Command::Help));
}

#[test]
fn keywords_are_case_insensitive_names_are_not() {
    assert_eq!(one("/PROMOTE frontend TO qa"), Ok(promote(&["frontend"], None, "qa")));
    assert_eq!(one("/Promote frontend From dev To qa"), Ok(promote(&["frontend"], Some("dev"), "qa")));
    assert_eq!(one("/promote STATUS"), Ok(Command::Status { app: None }));
    assert_eq!(one("/promote Help"), Ok(Command::Help));
    let e = err("/promote Frontend to qa");
    assert!(e.starts_with("\"Frontend\" is not a valid app name"), "{e}");
    let e = err("/promote frontend to QA");
    assert!(e.starts_with("\"QA\" is not a valid environment name"), "{e}");
}

#[test]
fn extra_spaces_tabs_and_crlf() {
    let want = Ok(promote(&["frontend"], None, "qa"));
    assert_eq!(one("   /promote    frontend   to\tqa   "), want);
    assert_eq!(one("/promote frontend to qa\r\n"), want);
    assert_eq!(one("hello\r\n/promote frontend to qa\r\nthanks\r\n"), want);
    assert_eq!(one("/promote\tfrontend\u{a0}to qa"), want, "a no-break space separates words too");
}

#[test]
fn duplicate_apps_are_listed_once() {
    assert_eq!(one("/promote frontend frontend, backend to qa"), Ok(promote(&["frontend", "backend"], None, "qa")));
}

#[test]
fn the_errors_say_what_was_expected() {
    assert_eq!(err("/promote frontend qa"), r#"expected "/promote <app> to <env>", got "/promote frontend qa""#);
    assert_eq!(err("/promote to qa"), r#"expected an app before "to", got "/promote to qa""#);
    assert_eq!(err("/promote frontend to"), r#"expected an environment after "to", got "/promote frontend to""#);
    assert_eq!(
        err("/promote frontend from dev qa"),
        r#"expected "/promote <app> from <env> to <env>", got "/promote frontend from dev qa""#
    );
    assert_eq!(
        err("/promote frontend to qa prod"),
        r#"unexpected "prod" after the target environment, got "/promote frontend to qa prod""#
    );
    assert_eq!(
        err("/promote status frontend backend"),
        r#"expected "/promote status" or "/promote status <app>", got "/promote status frontend backend""#
    );
    assert!(err("/promote frontend to to").contains("found the keyword \"to\""));
    assert!(err("/promote frontend from to qa").starts_with("expected \"/promote <app> from <env> to <env>\""));
    let e = one("/promote frontend qa").unwrap_err();
    assert_eq!(e.line, "/promote frontend qa");
    assert_eq!(e.to_string(), e.message);
}

#[test]
fn names_must_be_dns_labels() {
    for bad in ["front_end", "-frontend", "frontend-", "front.end", "$(rm -rf /)", "`id`", "a;b", "front/end"] {
        let e = err(&format!("/promote {bad} to qa"));
        assert!(e.contains("is not a valid app name"), "{bad}: {e}");
    }
    let long = "a".repeat(64);
    assert!(err(&format!("/promote {long} to qa")).contains("is not a valid app name"));
    let ok = "a".repeat(63);
    assert_eq!(one(&format!("/promote {ok} to qa")), Ok(promote(&[&ok], None, "qa")));
    assert_eq!(one("/promote app-2 to env-1"), Ok(promote(&["app-2"], None, "env-1")));
}

#[test]
fn unicode_is_refused_not_mangled() {
    // A Cyrillic "е" looks like "e": refused, never silently mapped.
    let e = err("/promote frontеnd to qa");
    assert!(e.contains("is not a valid app name"), "{e}");
    assert!(err("/promote 🚀 to qa").contains("is not a valid app name"));
    assert!(err("/promote frontend to qä").contains("is not a valid environment name"));
    // Unicode around the command is fine.
    assert_eq!(parse("Grüße 👋\n/promote frontend to qa\n🚀").len(), 1);
    // A multi-byte character right after the keyword does not split a character.
    assert!(parse("/promoteé frontend to qa").is_empty());
    assert!(parse("/promot").is_empty());
    assert!(parse("/prömote x to y").is_empty());
}

#[test]
fn only_lines_that_start_with_the_keyword() {
    assert!(parse("please /promote frontend to qa").is_empty());
    assert!(parse("/promoted frontend to qa yesterday").is_empty());
    assert!(parse("/promotefrontend to qa").is_empty());
    assert!(parse("").is_empty());
    assert!(parse("lgtm").is_empty());
}

#[test]
fn code_fences_and_quotes_are_ignored() {
    let body = "Last time I ran\n```\n/promote frontend to prod\n```\nand now:\n/promote backend to qa";
    assert_eq!(parse(body), vec![Ok(promote(&["backend"], None, "qa"))]);
    let body = "~~~text\n/promote a to b\n~~~\n/promote c to d";
    assert_eq!(parse(body), vec![Ok(promote(&["c"], None, "d"))]);
    // A longer fence is closed only by one at least as long; a tilde does not close backticks.
    let body = "````\n```\n/promote a to b\n~~~\n/promote a to b\n````\n/promote c to d";
    assert_eq!(parse(body), vec![Ok(promote(&["c"], None, "d"))]);
    // An indented fence, with CRLF.
    let body = "  ```bash\r\n/promote a to b\r\n  ```\r\n/promote c to d\r\n";
    assert_eq!(parse(body), vec![Ok(promote(&["c"], None, "d"))]);
    // An unclosed fence hides everything after it.
    assert!(parse("```\n/promote a to b").is_empty());
    // Inline code with three backticks is not a fence.
    assert_eq!(parse("```x``` inline\n/promote c to d").len(), 1);
    // Quotes, nested or not, with or without a space.
    assert!(parse("> /promote frontend to prod").is_empty());
    assert!(parse(">/promote frontend to prod").is_empty());
    assert!(parse("> > /promote frontend to prod").is_empty());
    assert_eq!(parse("> /promote a to prod\n/promote b to qa"), vec![Ok(promote(&["b"], None, "qa"))]);
}

#[test]
fn several_commands_in_order_with_their_errors() {
    let body = "/promote frontend to qa\nsome text\n/promote backend frm dev to qa\n/PROMOTE status\n/promote help";
    let got = parse(body);
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], Ok(promote(&["frontend"], None, "qa")));
    // "frm" is read as an app name before "to"; validation will then say it is unknown.
    assert_eq!(got[1], Ok(promote(&["backend", "frm", "dev"], None, "qa")));
    assert_eq!(got[2], Ok(Command::Status { app: None }));
    assert_eq!(got[3], Ok(Command::Help));
}

#[test]
fn too_many_commands_are_cut_off_with_an_error() {
    let body = "/promote a to qa\n".repeat(50);
    let got = parse(&body);
    assert_eq!(got.len(), MAX_COMMANDS + 1);
    assert!(got[..MAX_COMMANDS].iter().all(Result::is_ok));
    assert!(got[MAX_COMMANDS].as_ref().unwrap_err().message.starts_with("too many /promote commands"));
}

#[test]
fn very_long_bodies_are_fast_and_quotes_are_short() {
    let filler = "lorem ipsum dolor sit amet ".repeat(40_000); // ~1 MB on one line
    let body = format!("{filler}\n{}\n/promote frontend to qa", "x\n".repeat(100_000));
    let t = std::time::Instant::now();
    assert_eq!(parse(&body), vec![Ok(promote(&["frontend"], None, "qa"))]);
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
    // A huge command line is quoted back shortened, at a character boundary.
    let line = format!("/promote frontend {}", "é ".repeat(50_000));
    let e = one(&line).unwrap_err();
    assert!(e.line.chars().count() <= MAX_QUOTED + 1 && e.line.ends_with('…'), "{}", e.line.len());
    assert!(e.message.len() < 1000);
    let word = "x".repeat(10_000);
    assert!(err(&format!("/promote {word} to qa")).len() < 1000);
}

fn names() -> (Vec<String>, Vec<String>) {
    (["frontend", "backend", "postgres"].map(String::from).to_vec(), ["dev", "qa", "prod"].map(String::from).to_vec())
}

#[test]
fn validation_suggests_and_reports_everything() {
    let (apps, environments) = names();
    let n = Names { apps: &apps, environments: &environments };
    assert_eq!(validate(&promote(&["frontend"], None, "qa"), &n), Ok(()));
    assert_eq!(validate(&promote(&["frontend", "backend"], Some("dev"), "prod"), &n), Ok(()));
    assert_eq!(validate(&Command::Help, &n), Ok(()));
    assert_eq!(validate(&Command::Status { app: None }, &n), Ok(()));
    assert_eq!(
        validate(&promote(&["frontedn"], None, "qa"), &n),
        Err(vec!["unknown app \"frontedn\"; did you mean \"frontend\"?".to_string()])
    );
    assert_eq!(
        validate(&promote(&["frontedn", "zzzzzzzz"], Some("qa"), "prd"), &n),
        Err(vec![
            "unknown app \"frontedn\"; did you mean \"frontend\"?".to_string(),
            "unknown app \"zzzzzzzz\"; known apps: frontend, backend, postgres".to_string(),
            "unknown environment \"prd\"; did you mean \"prod\"?".to_string(),
        ])
    );
    assert_eq!(
        validate(&promote(&["frontend"], Some("qa"), "qa"), &n),
        Err(vec!["cannot promote from \"qa\" to \"qa\": the environments are the same".to_string()])
    );
    assert_eq!(
        validate(&Command::Status { app: Some("backnd".into()) }, &n),
        Err(vec!["unknown app \"backnd\"; did you mean \"backend\"?".to_string()])
    );
    let none: Vec<String> = Vec::new();
    let empty = Names { apps: &none, environments: &none };
    assert_eq!(
        validate(&promote(&["a"], None, "qa"), &empty),
        Err(vec![
            "unknown app \"a\"; the repository has no apps".to_string(),
            "unknown environment \"qa\"; the repository has no environments".to_string()
        ])
    );
}

#[test]
fn help_lists_every_command() {
    let h = help_text();
    for c in
        ["/promote <app> to <env>", "from <env> to <env>", "/promote status", "/promote status <app>", "/promote help"]
    {
        assert!(h.contains(c), "{c}");
    }
}

fn comment(action: &str, author: &str, author_type: &str, body: &str) -> IssueComment {
    IssueComment {
        repository: "acme/gitops".into(),
        action: action.into(),
        number: 7,
        is_pull_request: false,
        comment_id: 1,
        body: body.into(),
        author: author.into(),
        author_type: author_type.into(),
    }
}

#[test]
fn actionable_comments() {
    let bot = Some("tidegate[bot]");
    assert_eq!(is_actionable(&comment("created", "alice", "User", "/promote frontend to qa"), bot), Ok(()));
    assert_eq!(is_actionable(&comment("created", "alice", "User", "hi\n/promote"), None), Ok(()));
    // Even an invalid command is actionable: the bot answers with the error.
    assert_eq!(is_actionable(&comment("created", "alice", "User", "/promote x"), None), Ok(()));
    assert_eq!(
        is_actionable(&comment("edited", "alice", "User", "/promote frontend to qa"), bot),
        Err(IgnoreReason::NotCreated { action: "edited".into() })
    );
    assert_eq!(
        is_actionable(&comment("deleted", "alice", "User", "/promote frontend to qa"), bot),
        Err(IgnoreReason::NotCreated { action: "deleted".into() })
    );
    assert_eq!(
        is_actionable(&comment("created", "some-app", "Bot", "/promote frontend to qa"), bot),
        Err(IgnoreReason::NotAUser { author_type: "Bot".into() })
    );
    assert_eq!(
        is_actionable(&comment("created", "acme", "Organization", "/promote frontend to qa"), bot),
        Err(IgnoreReason::NotAUser { author_type: "Organization".into() })
    );
    for login in ["tidegate[bot]", "TideGate[bot]", "tidegate", "dependabot[bot]", "Renovate[BOT]"] {
        assert_eq!(
            is_actionable(&comment("created", login, "User", "/promote frontend to qa"), bot),
            Err(IgnoreReason::FromABot { login: login.into() }),
            "{login}"
        );
    }
    // A machine user with a token (no [bot] suffix) configured as the bot's login.
    assert!(is_actionable(&comment("created", "ci-robot", "User", "/promote a to qa"), Some("CI-Robot")).is_err());
    assert_eq!(
        is_actionable(&comment("created", "alice", "User", "```\n/promote a to qa\n```\n> /promote a to qa"), bot),
        Err(IgnoreReason::NoCommand)
    );
    assert_eq!(is_actionable(&comment("created", "alice", "User", ""), bot), Err(IgnoreReason::NoCommand));
    assert_eq!(IgnoreReason::NoCommand.to_string(), "the comment has no /promote command");
}

#[test]
fn permissions_order_and_parse() {
    assert!(Permission::Admin > Permission::Maintain && Permission::Maintain > Permission::Write);
    assert!(Permission::Write > Permission::Triage && Permission::Triage > Permission::Read);
    assert_eq!(Permission::parse("push"), Some(Permission::Write));
    assert_eq!(Permission::parse("pull"), Some(Permission::Read));
    assert_eq!(Permission::parse("MAINTAIN"), Some(Permission::Maintain));
    assert_eq!(Permission::parse("owner"), None);
}

#[test]
fn only_github_logins_may_be_mentioned() {
    assert!(super::is_login("octocat"));
    assert!(super::is_login("bob-sre"));
    assert!(!super::is_login(""));
    assert!(!super::is_login("-x"));
    assert!(!super::is_login("alice (command line)"));
    assert!(!super::is_login("renovate[bot]"));
    assert!(!super::is_login(&"a".repeat(40)));
}

/// The Markdown outside code spans (CommonMark: a backtick run opens a span closed by the
/// next run of the same length).
pub(crate) fn outside_code_spans(md: &str) -> String {
    let mut out = String::new();
    let mut rest = md;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let run = rest[start..].chars().take_while(|&c| c == '`').count();
        let after = &rest[start + run..];
        let mut i = 0;
        let mut closed = None;
        while let Some(j) = after[i..].find('`') {
            let k = i + j;
            let n = after[k..].chars().take_while(|&c| c == '`').count();
            if n == run {
                closed = Some(k + n);
                break;
            }
            i = k + n;
        }
        match closed {
            Some(end) => rest = &after[end..],
            None => {
                out.push_str(&rest[start..start + run]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text between the fences of a code span made by [`quote`], checking that the fence is
/// longer than any backtick run inside, so the span cannot be closed early.
fn span_content(q: &str) -> &str {
    let run = q.chars().take_while(|&c| c == '`').count();
    assert!(run >= 1 && q.ends_with(&"`".repeat(run)), "{q}");
    let inner = &q[run..q.len() - run];
    assert!(!inner.contains(&"`".repeat(run)), "the fence {run} occurs inside {q}");
    assert!(inner.starts_with(' ') && inner.ends_with(' '), "{q}");
    assert!(!inner.contains('\n') && !inner.contains('\r'), "{q}");
    &inner[1..inner.len() - 1]
}

#[test]
fn quoted_text_is_an_unbreakable_code_span() {
    assert_eq!(quote("@acme/sre"), "` @acme/sre `");
    assert_eq!(quote("![x](http://evil.example/a.png)"), "` ![x](http://evil.example/a.png) `");
    assert_eq!(quote("[click](http://evil.example)"), "` [click](http://evil.example) `");
    assert_eq!(quote("a `b` c"), "`` a `b` c ``");
    assert_eq!(quote("x ``` y ` z"), "```` x ``` y ` z ````");
    assert_eq!(span_content(&quote("`")), "`");
    assert_eq!(span_content(&quote("``leading and trailing``")), "``leading and trailing``");
    assert_eq!(span_content(&quote("")), "");
    assert_eq!(span_content(&quote("<img src=x onerror=alert(1)>")), "<img src=x onerror=alert(1)>");
}

#[test]
fn invisible_and_bidi_characters_are_made_visible() {
    assert_eq!(span_content(&quote("\u{202E}gnp.exe")), "<U+202E>gnp.exe");
    assert_eq!(span_content(&quote("front\u{200B}end")), "front<U+200B>end");
    assert_eq!(span_content(&quote("a\u{2066}b\u{2069}\u{200F}\u{FEFF}")), "a<U+2066>b<U+2069><U+200F><U+FEFF>");
    assert_eq!(span_content(&quote("x\ny\r\u{2028}z\u{0}")), "x<U+000A>y<U+000D><U+2028>z<U+0000>");
    assert_eq!(span_content(&quote("tag\u{E0041}\u{E0042}")), "tag<U+E0041><U+E0042>");
    // Ordinary non-ASCII text is left alone.
    assert_eq!(span_content(&quote("Grüße café ü 日本 🚀")), "Grüße café ü 日本 🚀");
    for c in
        ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2067}', '\u{2068}', '\u{061C}', '\u{200C}', '\u{200D}']
    {
        assert!(is_invisible(c), "{:04X}", c as u32);
    }
    assert!(!is_invisible('a') && !is_invisible(' ') && !is_invisible('é') && !is_invisible('\u{a0}'));
}

#[test]
fn very_long_text_is_quoted_short() {
    let q = quote(&"@a ".repeat(100_000));
    assert!(span_content(&q).chars().count() <= MAX_QUOTED + 1 && q.ends_with("… `"), "{}", q.len());
    // A long backtick run gets a longer fence, still bounded by the cut.
    let q = quote(&"`".repeat(100_000));
    assert!(q.len() < 4 * MAX_QUOTED, "{}", q.len());
    span_content(&q);
    // Escapes are bounded too: each invisible character counts once.
    let q = quote(&"\u{200B}".repeat(100_000));
    assert!(q.len() <= MAX_QUOTED * "<U+200B>".len() + 20, "{}", q.len());
}

#[test]
fn parse_errors_quote_the_comment_inert_in_markdown() {
    let hostile = [
        "/promote @acme/sre to qa",
        "/promote ![x](http://evil.example/p.png) to qa",
        "/promote [link](http://evil.example) to qa",
        "/promote a`b``c to qa",
        "/promote \u{202E}dne to qa",
        "/promote front\u{200B}end to qa",
        "/promote frontend to qa <img src=x>",
        "/promote frontend qa @everyone",
    ];
    for body in hostile {
        let e = one(body).unwrap_err();
        // Everything of the comment is in code spans: outside them, nothing is live.
        assert!(e.markdown.contains(&quote(&e.line)), "{body}: {}", e.markdown);
        let live = outside_code_spans(&e.markdown);
        for bad in ["@", "](", "<img", "\u{202E}", "\u{200B}"] {
            assert!(!live.contains(bad), "{body}: {bad} is live in {}", e.markdown);
        }
        // The plain message shows invisible characters too.
        assert!(!e.message.contains('\u{202E}') && !e.message.contains('\u{200B}'), "{}", e.message);
    }
    let e = one("/promote frontend qa").unwrap_err();
    assert_eq!(e.markdown, "expected ` /promote <app> to <env> `, got ` /promote frontend qa `");
    let e = one("/promote \u{202E}dne to qa").unwrap_err();
    assert!(e.message.starts_with("\"<U+202E>dne\" is not a valid app name"), "{}", e.message);
    assert!(e.markdown.starts_with("` <U+202E>dne ` is not a valid app name"), "{}", e.markdown);
    let e = one(&format!("/promote {} to qa", "`".repeat(5000))).unwrap_err();
    assert!(e.markdown.len() < 2000, "{}", e.markdown.len());
}
