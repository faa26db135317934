//! Property tests of the ChatOps parser (`chatops::parse`, `chatops::quote`; issue 9,
//! "Fuzzing"):
//!
//! - any comment body never panics, yields at most `MAX_COMMANDS + 1` results, and every error
//!   is short and quotes the comment inert in Markdown (outside code spans nothing of the
//!   comment is left: no mention, link, image, HTML or invisible character);
//! - `quote` makes an unbreakable code span of any text;
//! - a well-formed command, with any spacing and keyword case, reads back exactly;
//! - nothing inside a fenced code block or a quote is a command;
//! - `is_actionable` says "no command" exactly when `parse` finds none.
//!
//! The number of cases comes from `PROPTEST_CASES` (256 by default); failures are not
//! persisted to files.

use proptest::prelude::*;
use tidegate::chatops::{self, Command, IgnoreReason, MAX_COMMANDS};
use tidegate::webhook::IssueComment;

fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

const PIECES: &[&str] = &[
    "/promote",
    "/PROMOTE",
    "/Promote ",
    "/promote ",
    " to ",
    " TO ",
    " from ",
    "to",
    "from",
    "status",
    "help",
    ",",
    ", ",
    "\n",
    "\r\n",
    "\t",
    " ",
    "```",
    "~~~",
    "````",
    "> ",
    "`",
    "@acme/sre",
    "@everyone",
    "![x](http://e.example/a.png)",
    "[l](http://e.example)",
    "<img src=x>",
    "<!--",
    "-->",
    "\u{202E}",
    "\u{200B}",
    "\u{2066}",
    "\u{feff}",
    "\u{a0}",
    "frontend",
    "backend",
    "qa",
    "prod",
    "dev",
    "-x",
    "x-",
    "é",
    "🚀",
    "*",
    "_",
    "|",
    "\\",
    "#",
];

fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop_oneof![
                6 => prop::sample::select(PIECES).prop_map(str::to_string),
                2 => "[a-z0-9-]{1,8}",
                1 => any::<char>().prop_map(String::from),
                1 => "`{1,12}",
            ],
            0..40
        )
        .prop_map(|v| v.concat()),
    ]
}

/// The Markdown outside code spans (CommonMark: a backtick run opens a span that the next run
/// of the same length closes; an unmatched run is literal text).
fn outside_code_spans(md: &str) -> String {
    let mut out = String::new();
    let mut rest = md;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let run = rest[start..].chars().take_while(|&c| c == '`').count();
        let after = &rest[start + run..];
        let (mut i, mut closed) = (0, None);
        while let Some(j) = after[i..].find('`') {
            let n = after[i + j..].chars().take_while(|&c| c == '`').count();
            if n == run {
                closed = Some(i + j + n);
                break;
            }
            i += j + n;
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

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
        .prop_filter("not a keyword", |n| !matches!(n.as_str(), "to" | "from" | "help" | "status"))
}

/// A keyword in any case.
fn keyword(word: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), word.len()).prop_map(move |upper| {
        word.chars().zip(upper).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c }).collect()
    })
}

fn space() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&[" ", "\t", "\u{a0}", "  "][..]), 1..3).prop_map(|v| v.concat())
}

fn comment(body: &str) -> IssueComment {
    IssueComment {
        repository: "acme/gitops".into(),
        action: "created".into(),
        number: 1,
        is_pull_request: true,
        comment_id: 1,
        body: body.into(),
        author: "alice".into(),
        author_type: "User".into(),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_body_parses_into_bounded_inert_answers(body in body()) {
        let results = chatops::parse(&body);
        prop_assert!(results.len() <= MAX_COMMANDS + 1);
        for r in &results {
            if let Err(e) = r {
                prop_assert!(e.message.len() < 4096 && e.markdown.len() < 8192, "{} / {}", e.message.len(), e.markdown.len());
                prop_assert!(!e.message.chars().any(chatops::is_invisible), "{:?}", e.message);
                let live = outside_code_spans(&e.markdown);
                for bad in ['@', '[', ']', '!', '<', '>', '\n', '\r', '`', '\\'] {
                    prop_assert!(!live.contains(bad), "{:?} is live in {:?}", bad, e.markdown);
                }
                prop_assert!(!live.chars().any(chatops::is_invisible), "{:?}", e.markdown);
                prop_assert!(!e.markdown.chars().any(chatops::is_invisible), "{:?}", e.markdown);
            }
        }
    }

    #[test]
    fn quote_makes_an_unbreakable_code_span(text in body()) {
        let q = chatops::quote(&text);
        let run = q.chars().take_while(|&c| c == '`').count();
        prop_assert!(run >= 1 && q.ends_with(&format!(" {}", "`".repeat(run))) && q[run..].starts_with(' '), "{:?}", q);
        let inner = &q[run + 1..q.len() - run - 1];
        // No backtick run inside is as long as the fence, so nothing closes the span early.
        let longest = inner.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        prop_assert!(longest < run, "{:?}", q);
        prop_assert!(!q.chars().any(chatops::is_invisible), "{:?}", q);
        prop_assert!(outside_code_spans(&q).is_empty(), "{:?}", q);
        prop_assert!(q.chars().count() < 3000, "{}", q.len());
        if text.chars().count() <= 200 && !text.chars().any(chatops::is_invisible) {
            prop_assert_eq!(inner, text.as_str());
        }
    }

    #[test]
    fn well_formed_commands_read_back(
        apps in prop::collection::vec(name(), 1..4),
        from in prop::option::of(name()),
        to in name(),
        kw in keyword("/promote"),
        to_kw in keyword("to"),
        from_kw in keyword("from"),
        spaces in prop::collection::vec(space(), 8),
        commas in prop::collection::vec(any::<bool>(), 4),
        before in "[a-z ]{0,20}",
    ) {
        let mut line = format!("{}{kw}{}", if commas[3] { "  " } else { "" }, spaces[0]);
        for (i, app) in apps.iter().enumerate() {
            if i > 0 {
                line.push_str(if commas[i % 3] { "," } else { "" });
                line.push_str(&spaces[i]);
            }
            line.push_str(app);
        }
        if let Some(f) = &from {
            line.push_str(&format!("{}{from_kw}{}{f}", spaces[4], spaces[5]));
        }
        line.push_str(&format!("{}{to_kw}{}{to}{}", spaces[6], spaces[7], if commas[0] { " " } else { "" }));
        let body = format!("{before}\n{line}\r\nthanks");
        let mut unique: Vec<String> = Vec::new();
        for a in &apps {
            if !unique.contains(a) {
                unique.push(a.clone());
            }
        }
        prop_assert_eq!(chatops::parse(&body), vec![Ok(Command::Promote { apps: unique, from, to })], "{:?}", body);
    }

    #[test]
    fn fenced_and_quoted_lines_are_never_commands(inside in body(), fence in prop::sample::select(&["```", "~~~", "````", "~~~~~"][..])) {
        // A fence longer than anything inside, so the block cannot be closed early.
        let longest = inside.split(|c| c != fence.as_bytes()[0] as char).map(str::len).max().unwrap_or(0);
        let fence = fence.chars().next().map(|c| c.to_string().repeat(fence.len().max(longest + 1))).unwrap_or_default();
        let fenced = format!("{fence}\n{inside}\n{fence}\n");
        prop_assert!(chatops::parse(&fenced).is_empty(), "{:?}", fenced);
        let quoted: String = inside.lines().map(|l| format!("> {l}\n")).collect();
        prop_assert!(chatops::parse(&quoted).is_empty(), "{:?}", quoted);
    }

    #[test]
    fn actionable_exactly_when_there_is_a_command(body in body()) {
        let found = !chatops::parse(&body).is_empty();
        match chatops::is_actionable(&comment(&body), Some("tidegate[bot]")) {
            Ok(()) => prop_assert!(found),
            Err(IgnoreReason::NoCommand) => prop_assert!(!found),
            Err(other) => prop_assert!(false, "{}", other),
        }
    }
}
