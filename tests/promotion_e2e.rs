//! The promotion bot end to end, through the real `tidegate serve` binary: a bare git
//! repository shared by tidegate and the fake GitHub (which moves its refs and merges into it),
//! one fake Kubernetes API per environment, signed webhooks, and for the metric gate a real
//! Prometheus over backfilled samples. Each test runs its own servers, so they run in parallel.
//!
//! Every test ends by asserting that each request tidegate sent to GitHub conformed to GitHub's
//! OpenAPI description (and so did the fake's answers).

#[path = "support/prometheus.rs"]
mod prometheus_support;
#[path = "support/promotion.rs"]
mod promotion;
#[path = "support/serve.rs"]
mod serve_support;

use std::fmt::Write as _;
use std::sync::Barrier;
use std::time::{Duration, SystemTime};

use chrono::{DurationRound, TimeDelta, Utc};
use fake_github::Fault;
use serde_json::Value;

use prometheus_support::Prometheus;
use promotion::{
    BOT, CommentEvent, Harness, REPO, Scenario, WEB_QA_BRANCH, describe, github_signature, issue_comment_payload,
    policy, pull_request_closed_payload, push_payload,
};

const LONG: Duration = Duration::from_secs(30);

/// The open promotion once tidegate says so in its status (the pull request is then complete:
/// labels and statuses are set before the status turns `Open`).
fn wait_open(h: &Harness, app: &str, to: &str) -> Value {
    h.wait(&format!("the promotion of {app} to {to} to be Open"), LONG, || {
        h.promotion(app, to).filter(|p| p["state"] == "Open")
    })
}

/// The only pull request.
fn the_pull(h: &Harness) -> Value {
    let pulls = h.pulls();
    assert_eq!(pulls.len(), 1, "exactly one pull request:\n{pulls:#?}\n{}", h.context());
    pulls.into_iter().next().expect("one")
}

/// `git diff` between two revisions of the bare repository, without the header lines: the
/// changed lines, `-old` / `+new`.
fn changed_lines(h: &Harness, from: &str, to: &str) -> (Vec<String>, Vec<String>) {
    let files = promotion::git(&h.origin, &["diff", "--name-only", from, to]);
    let diff = promotion::git(&h.origin, &["diff", "--unified=0", from, to]);
    let lines = diff
        .lines()
        .filter(|l| (l.starts_with('-') || l.starts_with('+')) && !l.starts_with("---") && !l.starts_with("+++"))
        .map(str::to_string)
        .collect();
    (files.lines().map(str::to_string).collect(), lines)
}

/// Waits until the promotion into qa was evaluated after the first reconcile (dev observed).
fn wait_evaluated(h: &Harness, to: &str) -> Value {
    h.wait(&format!("the promotion into {to} to be evaluated"), LONG, || {
        h.promotion("web", to).filter(|p| p["state"] == "Waiting" && p["reason"].as_str().is_some())
    })
}

fn comment(issue: u64, comment_id: u64, author: &str, body: &str) -> CommentEvent {
    CommentEvent {
        action: "created",
        issue,
        comment_id,
        author: author.to_string(),
        author_type: "User",
        body: body.to_string(),
    }
}

#[test]
fn signatures_are_computed_like_githubs() {
    // PRODUCT.md's test vector, so that the deliveries below are signed like GitHub signs them.
    assert_eq!(
        github_signature("It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

/// 1. dev → qa automatic, no soak: the first reconcile finds dev healthy at 1.1 and opens one
///    pull request that changes only the newTag line, labelled, with a success gate status.
#[test]
fn an_automatic_promotion_opens_one_complete_pull_request_after_the_first_reconcile() {
    let h = Harness::start(Scenario::default());
    let main = h.main_commit();
    let promo = wait_open(&h, "web", "qa");
    let elapsed = h.started_at.elapsed();
    let pr = the_pull(&h);
    let n = pr["number"].as_u64().expect("number");

    assert_eq!(pr["state"], "open");
    assert_eq!(pr["head"]["ref"], WEB_QA_BRANCH);
    assert_eq!(pr["base"]["ref"], "main");
    let title = pr["title"].as_str().unwrap_or_default();
    assert!(title.contains("web") && title.contains("1.0 → 1.1"), "{title}");
    // The branch: one commit on top of main, changing only the newTag line of qa's overlay;
    // comments and quoting stay.
    let head = h.branch(WEB_QA_BRANCH).expect("the promotion branch exists");
    assert_eq!(pr["head"]["sha"], head.as_str());
    assert_eq!(promotion::git(&h.origin, &["rev-parse", &format!("{head}^")]), main);
    let (files, lines) = changed_lines(&h, &main, &head);
    assert_eq!(files, ["overlays/qa/web/kustomization.yaml"]);
    assert_eq!(lines, ["-    newTag: \"1.0\" # pinned", "+    newTag: \"1.1\" # pinned"]);
    assert_eq!(h.github.labels(REPO, n), ["tidegate/promotion"]);
    let statuses = h.statuses(&head);
    assert!(
        statuses.iter().any(|(context, state, _)| context == "tidegate/gates" && state == "success"),
        "{statuses:?}"
    );

    assert_eq!(promo["pr_url"], pr["html_url"], "{promo}");
    assert!(promo["tag"].as_str().unwrap_or_default().contains("example/web:1.1"), "{promo}");
    assert_eq!(promo["from"], "dev");
    assert_eq!(h.metric(r#"tidegate_promotions_total{app="web",target="qa",outcome="opened"}"#), Some(1.0));
    // qa itself is untouched until the pull request is merged.
    assert_eq!(h.image_in("qa").as_deref(), Some("example/web:1.0"));

    // The GitHub calls of this promotion (tidegate is the only client here).
    let calls = h.github.requests();
    eprintln!(
        "fresh automatic promotion: {} GitHub calls, PR open {elapsed:?} after start\n{}",
        calls.len(),
        describe(&calls)
    );
    assert!(calls.len() <= 6, "a fresh promotion costs at most 6 calls:\n{}", describe(&calls));
    assert_eq!(h.github.count("POST", r"/pulls$"), 1);
    assert_eq!(h.metric("tidegate_github_requests_total"), Some(calls.len() as f64));
    h.assert_github_conformance();
}

/// 2. A Prometheus gate on dev → qa fails (a real Prometheus, the error ratio backfilled at
///    0.2): no pull request, a failure status on the tracked commit with the measured value.
#[test]
fn a_failing_prometheus_gate_blocks_the_promotion_and_says_why_on_the_commit() {
    let now = Utc::now().timestamp();
    let mut samples = String::from("# HELP http_error_ratio Share of 5xx.\n# TYPE http_error_ratio gauge\n");
    for t in (now - 900..=now).step_by(15) {
        let _ = writeln!(samples, "http_error_ratio{{app=\"web\",env=\"dev\",namespace=\"shop\"}} 0.2 {t}");
    }
    samples.push_str("# EOF\n");
    let prometheus = Prometheus::start(&samples);
    let policy = "apiVersion: tidegate.dev/v1alpha1\nkind: PromotionPolicy\nmetadata: {name: e2e}\nspec:\n  prometheus: {address: 'http://prometheus.monitoring.invalid:9090'}\n  environments:\n    qa:\n      mode: auto\n      gates:\n        prometheus:\n          - name: error-rate\n            query: 'http_error_ratio{app=\"{{app}}\",env=\"{{env}}\",namespace=\"{{namespace}}\"}'\n            successCondition: result < 0.05\n    prod: {mode: manual}\n";
    let h = Harness::start(Scenario {
        policy: policy.into(),
        prometheus_url: Some(prometheus.address.clone()),
        ..Scenario::default()
    });
    let main = h.main_commit();
    let promo =
        h.wait("the promotion to be Blocked", LONG, || h.promotion("web", "qa").filter(|p| p["state"] == "Blocked"));
    let status = h.wait("the failure status on the tracked commit", LONG, || {
        h.statuses(&main).into_iter().find(|(context, _, _)| context == "tidegate/promote/web/qa")
    });
    assert_eq!(status.1, "failure", "{status:?}");
    assert!(status.2.contains("error-rate") && status.2.contains("0.2"), "the status explains the value: {status:?}");
    assert!(promo["reason"].as_str().unwrap_or_default().contains("0.2"), "{promo}\n{}", prometheus.log());
    let gate = promo["gates"].as_array().and_then(|g| g.iter().find(|g| g["gate"] == "prometheus/error-rate")).cloned();
    assert_eq!(gate.as_ref().map(|g| g["outcome"].clone()), Some("failed".into()), "{promo}");
    assert!(h.pulls().is_empty(), "{:#?}", h.pulls());
    assert_eq!(h.branch(WEB_QA_BRANCH), None);
    assert_eq!(h.github.count("POST", r"/git/refs$"), 0);
    assert_eq!(h.metric(r#"tidegate_promotions_total{app="web",target="qa",outcome="blocked"}"#), Some(1.0));
    h.assert_github_conformance();
}

/// 3. 20 identical `/promote web to qa` comments at once (distinct deliveries and comments),
///    plus a redelivery: one pull request, every comment acknowledged and answered once.
#[test]
fn concurrent_identical_comments_and_a_redelivery_open_exactly_one_pull_request() {
    let mut h = Harness::start(Scenario {
        policy: policy("{mode: manual, permission: write}", "{mode: manual, permission: maintain}"),
        ..Scenario::default()
    });
    wait_evaluated(&h, "qa");
    let issue = h.github.add_issue(REPO, "Ship web 1.1 to qa", "alice");
    let ids: Vec<u64> = (0..20).map(|_| h.person_comments("alice", issue, "/promote web to qa")).collect();
    let seq = h.last_seq();

    let sent = SystemTime::now();
    let barrier = Barrier::new(ids.len());
    std::thread::scope(|scope| {
        for (i, id) in ids.iter().enumerate() {
            let (h, barrier) = (&h, &barrier);
            scope.spawn(move || {
                let payload = issue_comment_payload(&comment(issue, *id, "alice", "/promote web to qa"));
                barrier.wait();
                let r = h.deliver("issue_comment", &format!("comment-delivery-{i}"), &payload);
                assert_eq!(r.status, 202, "{}", r.text());
            });
        }
    });
    // GitHub's "Redeliver" keeps the delivery id.
    let again = issue_comment_payload(&comment(issue, ids[7], "alice", "/promote web to qa"));
    let r = h.deliver("issue_comment", "comment-delivery-7", &again);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("already processed"), "{}", r.text());
    // A last comment: once it is answered, everything before it on the serial queue was handled.
    let last = h.person_comments("alice", issue, "/promote status web");
    h.deliver_new("issue_comment", &issue_comment_payload(&comment(issue, last, "alice", "/promote status web")));
    let replies = h.wait("every comment answered", LONG, || {
        let replies = h.bot_comments(issue);
        (replies.len() == ids.len() + 1).then_some(replies)
    });

    let pr = the_pull(&h);
    let n = pr["number"].as_u64().expect("number");
    let post_pulls: Vec<_> =
        h.requests_after(seq).into_iter().filter(|r| r.method == "POST" && r.path.ends_with("/pulls")).collect();
    assert_eq!(post_pulls.len(), 1, "{}", describe(&post_pulls));
    let opened = post_pulls[0].at.duration_since(sent).unwrap_or_default();
    eprintln!("20 concurrent /promote comments: POST /pulls {opened:?} after the deliveries were sent");
    // Reactions are sent on their own tasks as the deliveries arrive.
    for id in ids.iter().chain([&last]) {
        let r =
            h.wait(&format!("the reaction to comment {id}"), LONG, || Some(h.reactions(*id)).filter(|r| !r.is_empty()));
        assert_eq!(r, [("eyes".to_string(), BOT.to_string())], "comment {id}");
    }
    assert!(replies.iter().all(|r| r.starts_with("@alice")), "{replies:#?}");
    let opened_replies = replies.iter().filter(|r| r.contains("opened") && r.contains(&format!("#{n}"))).count();
    let already = replies.iter().filter(|r| r.contains(&format!("#{n} is already open"))).count();
    assert_eq!((opened_replies, already), (1, ids.len() - 1), "{replies:#?}");
    assert!(replies.last().is_some_and(|r| r.contains("**web**")), "the status reply: {replies:#?}");
    assert_eq!(wait_open(&h, "web", "qa")["requested_by"], "alice");
    assert_eq!(h.metric(r#"tidegate_webhook_deliveries_total{event="issue_comment",outcome="duplicate"}"#), Some(1.0));
    h.assert_github_conformance();
}

/// 4. A newer tag in dev while the pull request is open: the same pull request is updated.
#[test]
fn a_newer_tag_in_dev_updates_the_open_pull_request_in_place() {
    let mut h = Harness::start(Scenario::default());
    wait_open(&h, "web", "qa");
    let first = the_pull(&h);
    let first_head = first["head"]["sha"].as_str().expect("head").to_string();

    let (before, after) = h.ci_commits_dev_tag("1.2");
    let seq = h.last_seq();
    let sent = SystemTime::now();
    h.deliver_new("push", &push_payload(&before, &after));
    let promo = h.wait("the promotion to carry 1.2", LONG, || {
        h.promotion("web", "qa")
            .filter(|p| p["state"] == "Open" && p["tag"].as_str().is_some_and(|t| t.contains("1.2")))
    });
    let pr = the_pull(&h);
    assert_eq!(pr["number"], first["number"], "the same pull request");
    assert_eq!(promo["pr_url"], first["html_url"]);
    let head = h.branch(WEB_QA_BRANCH).expect("branch");
    assert_ne!(head, first_head);
    assert_eq!(pr["head"]["sha"], head.as_str());
    assert_eq!(promotion::git(&h.origin, &["rev-parse", &format!("{head}^")]), after, "rebuilt on the new main");
    let (files, lines) = changed_lines(&h, &after, &head);
    assert_eq!(files, ["overlays/qa/web/kustomization.yaml"]);
    assert_eq!(lines, ["-    newTag: \"1.0\" # pinned", "+    newTag: \"1.2\" # pinned"]);
    assert!(pr["title"].as_str().unwrap_or_default().contains("1.0 → 1.2"), "{}", pr["title"]);
    assert!(h.statuses(&head).iter().any(|(c, s, _)| c == "tidegate/gates" && s == "success"));
    let calls = h.requests_after(seq);
    let updated = calls.iter().find(|r| r.method == "PATCH" && r.path.ends_with("/pulls/1")).map(|r| r.at);
    eprintln!(
        "update of the open promotion: {} GitHub calls, pull request updated {:?} after the push delivery\n{}",
        calls.len(),
        updated.and_then(|t| t.duration_since(sent).ok()),
        describe(&calls)
    );
    assert_eq!(h.github.count("POST", r"/pulls$"), 1);
    assert_eq!(h.metric(r#"tidegate_promotions_total{app="web",target="qa",outcome="updated"}"#), Some(1.0));
    h.assert_github_conformance();
}

/// 5. `/promote web to prod` from someone with `read` (prod needs `maintain`): refused.
#[test]
fn a_commenter_without_the_needed_permission_is_refused() {
    let mut h = Harness::start(Scenario { tags: ["1.1", "1.1", "1.0"], ..Scenario::default() });
    wait_evaluated(&h, "prod");
    let issue = h.github.add_issue(REPO, "prod please", "rita");
    let id = h.person_comments("rita", issue, "/promote web to prod");
    h.deliver_new("issue_comment", &issue_comment_payload(&comment(issue, id, "rita", "/promote web to prod")));
    let replies = h.wait("the answer", LONG, || Some(h.bot_comments(issue)).filter(|r| !r.is_empty()));
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(replies[0].contains("needs `maintain` permission on acme/gitops; you have `read`"), "{}", replies[0]);
    let r = h.wait("the reaction", LONG, || Some(h.reactions(id)).filter(|r| !r.is_empty()));
    assert_eq!(r, [("eyes".to_string(), BOT.to_string())]);
    assert!(h.pulls().is_empty());
    assert_eq!(h.github.count("POST", r"/git/refs$"), 0);
    assert_eq!(h.metric(r#"tidegate_promotions_total{app="web",target="prod",outcome="refused"}"#), Some(1.0));
    h.assert_github_conformance();
}

/// 6. Comments of bots (its own login, any `[bot]`, author type Bot) and edited comments are
///    never commands: no reaction, no reply, no pull request.
#[test]
fn bot_comments_and_edited_comments_are_ignored() {
    let mut h = Harness::start(Scenario {
        policy: policy("{mode: manual}", "{mode: manual, permission: maintain}"),
        ..Scenario::default()
    });
    wait_evaluated(&h, "qa");
    let issue = h.github.add_issue(REPO, "ignored", "alice");
    let cases: [(&str, &str, &'static str); 5] = [
        ("tidegate-bot", "User", "created"),
        ("tidegate-bot[bot]", "Bot", "created"),
        ("renovate[bot]", "User", "created"),
        ("release-robot", "Bot", "created"),
        ("alice", "User", "edited"),
    ];
    let mut ignored = Vec::new();
    for (author, kind, action) in cases {
        let id = h.person_comments("alice", issue, "/promote web to qa");
        let mut c = comment(issue, id, author, "/promote web to qa");
        c.author_type = if kind == "Bot" { "Bot" } else { "User" };
        c.action = action;
        let r = h.deliver_new("issue_comment", &issue_comment_payload(&c));
        assert_eq!(r.status, 202, "{}", r.text());
        ignored.push(id);
    }
    let seq = h.last_seq();
    // A person's comment after them: once it is answered, the ones before were handled.
    let last = h.person_comments("alice", issue, "/promote help");
    h.deliver_new("issue_comment", &issue_comment_payload(&comment(issue, last, "alice", "/promote help")));
    let replies =
        h.wait("the answer to the last comment", LONG, || Some(h.bot_comments(issue)).filter(|r| !r.is_empty()));
    assert_eq!(replies.len(), 1, "only the person's comment is answered: {replies:#?}");
    for id in &ignored {
        assert!(h.reactions(*id).is_empty(), "comment {id}: {:?}", h.reactions(*id));
    }
    // The 👀 reaction is sent on its own task when the delivery arrives: it may land just after
    // the reply.
    h.wait("the reaction to the last comment", LONG, || Some(h.reactions(last)).filter(|r| r.len() == 1));
    assert!(h.pulls().is_empty());
    // The person's comment cost its reaction, the POST of the reply and nothing else.
    let calls = h.requests_after(seq + 1);
    let mut ops: Vec<_> = calls.iter().map(|r| r.operation.clone().unwrap_or_default()).collect();
    ops.sort();
    assert_eq!(ops, ["issues/create-comment", "reactions/create-for-issue-comment"], "{}", describe(&calls));
    h.assert_github_conformance();
}

/// 7. GitHub's secondary rate limit (403, `retry-after: 1`) on the pull request creation: the
///    bot waits and sends it once more.
#[test]
fn a_secondary_rate_limit_on_the_pull_request_creation_is_waited_out() {
    let mut h = Harness::new(Scenario::default());
    h.github.inject(Fault::secondary_rate_limit("POST", r"^/repos/acme/gitops/pulls$", 1));
    h.start_serve();
    wait_open(&h, "web", "qa");
    the_pull(&h);
    let posts: Vec<_> =
        h.github.requests().into_iter().filter(|r| r.method == "POST" && r.path.ends_with("/pulls")).collect();
    let codes: Vec<u16> = posts.iter().map(|r| r.status).collect();
    assert_eq!(codes, [403, 201], "{}", describe(&posts));
    let waited = posts[1].at.duration_since(posts[0].at).unwrap_or_default();
    assert!(waited >= Duration::from_millis(950), "retry-after: 1 honoured, resent after {waited:?}");
    eprintln!("secondary rate limit: resent after {waited:?}");
    h.assert_github_conformance();
}

/// 8. Killed (SIGKILL) between creating the branch and opening the pull request: the branch
///    is left without a pull request; after a restart there is exactly one.
#[test]
fn a_process_killed_between_branch_and_pull_request_opens_exactly_one_after_restart() {
    let mut h = Harness::new(Scenario::default());
    h.github.inject(Fault {
        method: Some("POST".into()),
        path_regex: Some(r"^/repos/acme/gitops/pulls$".into()),
        times: 1,
        delay: Some(Duration::from_secs(120)),
        ..Fault::default()
    });
    h.start_serve();
    h.wait("POST /pulls to be in flight", LONG, || {
        h.github.requests().into_iter().find(|r| r.method == "POST" && r.path.ends_with("/pulls"))
    });
    h.kill_serve();
    let branch = h.branch(WEB_QA_BRANCH).expect("the branch was pushed before the pull request");
    assert!(h.show(&branch, "overlays/qa/web/kustomization.yaml").contains("newTag: \"1.1\""));
    assert!(h.pulls().is_empty(), "{:#?}", h.pulls());

    h.start_serve();
    wait_open(&h, "web", "qa");
    let pr = the_pull(&h);
    assert_eq!(pr["state"], "open");
    assert_eq!(h.open_pulls().len(), 1);
    let head = h.branch(WEB_QA_BRANCH).expect("branch");
    assert_eq!(pr["head"]["sha"], head.as_str());
    let (files, lines) = changed_lines(&h, &h.main_commit(), &head);
    assert_eq!(files, ["overlays/qa/web/kustomization.yaml"]);
    assert_eq!(lines, ["-    newTag: \"1.0\" # pinned", "+    newTag: \"1.1\" # pinned"]);

    // Killed again with the pull request open (a rolled pod): the next process finds it, writes
    // no new commit and opens nothing. (It may refresh the body: the gate evidence in it holds
    // times, and the soak clock restarted with the process.)
    h.kill_serve();
    let seq = h.last_seq();
    h.start_serve();
    h.wait("the promotion to be evaluated again", LONG, || {
        h.promotion("web", "qa").filter(|p| p["state"] == "Open" && p["pr_url"] == pr["html_url"])
    });
    let calls = h.requests_after(seq);
    eprintln!("restart with the promotion open: {} GitHub calls\n{}", calls.len(), describe(&calls));
    assert_eq!(h.open_pulls().len(), 1);
    assert_eq!(h.branch(WEB_QA_BRANCH).as_deref(), Some(head.as_str()), "no new commit on the branch");
    assert!(
        calls.iter().all(|r| {
            let probe = r.method == "POST" && r.path.ends_with("/git/refs") && r.status == 422;
            let writes_git = r.method != "GET" && (r.path.contains("/git/") || r.path.contains("/contents/"));
            probe || !(writes_git || r.method == "POST" && r.path.ends_with("/pulls"))
        }),
        "{}",
        describe(&calls)
    );
    h.assert_github_conformance();
}

/// 9. `/promote web to prod` by a maintainer while prod's window is closed: the answer says it
///    waits and when the window opens next; no pull request.
#[test]
fn a_promotion_outside_its_window_waits_and_says_when_the_window_opens() {
    let now = Utc::now();
    let start = (now - TimeDelta::hours(3)).duration_trunc(TimeDelta::minutes(1)).expect("truncate");
    let schedule = start.format("%M %H * * *").to_string();
    let next = (start + TimeDelta::days(1)).format("%a %Y-%m-%d %H:%M UTC").to_string();
    let prod = format!(
        "{{mode: manual, permission: maintain, windows: [{{schedule: '{schedule}', duration: 1h, timeZone: UTC}}]}}"
    );
    let mut h = Harness::start(Scenario {
        tags: ["1.1", "1.1", "1.0"],
        policy: policy("{mode: auto}", &prod),
        ..Scenario::default()
    });
    wait_evaluated(&h, "prod");
    let issue = h.github.add_issue(REPO, "web 1.1 to prod", "mia");
    let id = h.person_comments("mia", issue, "/promote web to prod");
    h.deliver_new("issue_comment", &issue_comment_payload(&comment(issue, id, "mia", "/promote web to prod")));
    let replies = h.wait("the answer", LONG, || Some(h.bot_comments(issue)).filter(|r| !r.is_empty()));
    assert_eq!(replies.len(), 1, "{replies:#?}");
    let reply = &replies[0];
    assert!(reply.contains("waits"), "{reply}");
    assert!(reply.contains(&format!("next opens {next}")), "expected the next opening {next}: {reply}");
    let promo = h.promotion("web", "prod").expect("listed");
    assert_eq!(promo["state"], "Waiting", "{promo}");
    assert_eq!(promo["requested_by"], "mia", "{promo}");
    assert!(promo["reason"].as_str().unwrap_or_default().contains("next opens"), "{promo}");
    assert!(h.pulls().is_empty());
    assert_eq!(h.github.count("POST", r"/git/refs$"), 0);
    h.assert_github_conformance();
}

/// A `/promote` that has to wait for the soak is remembered: when the soak is over the bot
/// opens the pull request by itself and tells the person on their thread.
#[test]
fn a_waiting_request_is_fulfilled_when_the_soak_is_over() {
    let mut h = Harness::start(Scenario {
        tags: ["1.1", "1.1", "1.0"],
        policy: policy("{mode: auto}", "{mode: manual, permission: maintain, soak: 6s}"),
        ..Scenario::default()
    });
    wait_evaluated(&h, "prod");
    let issue = h.github.add_issue(REPO, "web 1.1 to prod", "mia");
    let id = h.person_comments("mia", issue, "/promote web to prod");
    h.deliver_new("issue_comment", &issue_comment_payload(&comment(issue, id, "mia", "/promote web to prod")));
    let first = h.wait("the first answer", LONG, || h.bot_comments(issue).into_iter().next());
    assert!(first.contains("waits") && first.contains("`soak` waiting"), "{first}");
    assert!(h.pulls().is_empty());

    let promo = wait_open(&h, "web", "prod");
    let pr = the_pull(&h);
    assert_eq!(pr["head"]["ref"], "tidegate/promote/web/prod");
    assert_eq!(promo["requested_by"], "mia");
    let replies =
        h.wait("the follow-up on the person's thread", LONG, || Some(h.bot_comments(issue)).filter(|r| r.len() >= 2));
    assert_eq!(replies.len(), 2, "{replies:#?}");
    assert!(replies[1].starts_with("@mia") && replies[1].contains(&format!("#{}", pr["number"])), "{}", replies[1]);
    assert!(pr["body"].as_str().unwrap_or_default().contains("mia"), "the body names who asked: {}", pr["body"]);
    h.assert_github_conformance();
}

/// A promotion pull request a person closed without merging is not reopened by the next
/// reconcile; a `/promote` reopens it.
#[test]
fn a_declined_promotion_is_not_reopened_until_someone_asks() {
    let mut h = Harness::start(Scenario::default());
    wait_open(&h, "web", "qa");
    let n = the_pull(&h)["number"].as_u64().expect("number");
    let (code, closed) = h.api(
        "alice-token",
        "PATCH",
        &format!("/repos/{REPO}/pulls/{n}"),
        Some(&serde_json::json!({"state": "closed"})),
    );
    assert_eq!(code, 200, "{closed}");
    // A fork's pull request with the same branch name, closed: not ours, nothing changes.
    let mut fork = pull_request_closed_payload(n + 100, WEB_QA_BRANCH, false);
    fork["pull_request"]["head"]["repo"]["full_name"] = serde_json::json!("mallory/gitops-fork");
    let before = h.promotion("web", "qa").expect("tracked")["updated_at"].as_u64().unwrap_or(0);
    h.deliver_new("pull_request", &fork);
    let main = h.main_commit();
    h.deliver_new("push", &push_payload(&main, &main));
    // Work is handled in order: once the push's evaluation shows, the fork's close was seen.
    std::thread::sleep(Duration::from_millis(1100)); // updated_at has a one-second resolution
    h.deliver_new("push", &push_payload(&main, &main));
    let still = h.wait("the promotion to be evaluated after the fork's close", LONG, || {
        h.promotion("web", "qa").filter(|p| p["updated_at"].as_u64().unwrap_or(0) > before)
    });
    assert_eq!(still["state"], "Open", "a fork's pull request must not touch the promotion: {still:#}");
    h.deliver_new("pull_request", &pull_request_closed_payload(n, WEB_QA_BRANCH, false));
    // The next reconcile (a push) evaluates the promotion again, and leaves it declined.
    let main = h.main_commit();
    h.deliver_new("push", &push_payload(&main, &main));
    h.wait("the reconcile to leave the promotion declined", LONG, || {
        h.promotion("web", "qa").filter(|p| {
            p["state"] == "Declined" && p["reason"].as_str().is_some_and(|r| r.contains("/promote reopens"))
        })
    });
    assert!(h.open_pulls().is_empty(), "{:#?}", h.open_pulls());

    let issue = h.github.add_issue(REPO, "qa after all", "alice");
    let id = h.person_comments("alice", issue, "/promote web to qa");
    h.deliver_new("issue_comment", &issue_comment_payload(&comment(issue, id, "alice", "/promote web to qa")));
    let promo = wait_open(&h, "web", "qa");
    let open = h.open_pulls();
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_ne!(open[0]["number"], n);
    assert_eq!(promo["pr_url"], open[0]["html_url"]);
    assert_eq!(h.pulls().len(), 2);
    h.assert_github_conformance();
}

/// A merged promotion: qa is reconciled to the new tag, the bot forgets the pull request and
/// does not comment on it.
#[test]
fn a_merged_promotion_is_reconciled_and_forgotten() {
    let mut h = Harness::start(Scenario::default());
    wait_open(&h, "web", "qa");
    let pr = the_pull(&h);
    let n = pr["number"].as_u64().expect("number");
    let before = h.main_commit();
    h.wait_synced(&before);

    let (code, merged) = h.api(
        "mia-token",
        "PUT",
        &format!("/repos/{REPO}/pulls/{n}/merge"),
        Some(&serde_json::json!({"merge_method": "merge"})),
    );
    assert_eq!(code, 200, "{merged}");
    let after = h.main_commit();
    assert_eq!(merged["sha"], after.as_str());
    let seq = h.last_seq();
    h.deliver_new("pull_request", &pull_request_closed_payload(n, WEB_QA_BRANCH, true));
    h.deliver_new("push", &push_payload(&before, &after));

    h.wait("qa to run 1.1", LONG, || (h.image_in("qa").as_deref() == Some("example/web:1.1")).then_some(()));
    h.wait_synced(&after);
    h.wait("the bot to forget the pull request", LONG, || {
        h.promotion("web", "qa").is_none_or(|p| p["state"] != "Open" && p["pr_url"].is_null()).then_some(())
    });
    let pr = the_pull(&h);
    assert_eq!((pr["state"].as_str(), pr["merged"].as_bool()), (Some("closed"), Some(true)));
    assert!(h.bot_comments(n).is_empty(), "no comment on a merged pull request: {:?}", h.bot_comments(n));
    let calls = h.requests_after(seq);
    assert!(
        !calls.iter().any(|r| r.method == "PATCH" || r.path.ends_with("/comments")),
        "nothing is closed or commented:\n{}",
        describe(&calls)
    );
    assert_eq!(h.image_in("prod").as_deref(), Some("example/web:1.0"));
    h.assert_github_conformance();
}

/// The soak clock is not lost on a restart: the new process reads from the workloads'
/// conditions when they became available at the promoted images.
#[test]
fn the_soak_clock_survives_a_restart() {
    let soak = Duration::from_secs(10);
    let mut h = Harness::start(Scenario {
        policy: policy("{mode: auto, soak: 10s}", "{mode: manual, permission: maintain}"),
        ..Scenario::default()
    });
    let waiting = wait_evaluated(&h, "qa");
    assert!(waiting["reason"].as_str().is_some_and(|r| r.contains("soak")), "{waiting:#}");
    let healthy_at = std::time::Instant::now();
    // Half the soak passes while tidegate is down (time passing is the scenario, not a guess).
    h.kill_serve();
    std::thread::sleep(soak / 2);
    h.start_serve();
    let restarted = std::time::Instant::now();
    wait_open(&h, "web", "qa");
    let after_restart = restarted.elapsed();
    // Had the clock restarted with the process, the pull request would need the full soak after
    // the restart; it needs only what was left (plus a reconcile).
    let since_healthy = healthy_at.elapsed();
    assert!(
        since_healthy >= soak - Duration::from_secs(2),
        "opened {since_healthy:?} after dev was healthy: before the soak was over\n{}",
        h.context()
    );
    assert!(
        after_restart < soak - Duration::from_secs(2),
        "opened {after_restart:?} after the restart: the soak clock restarted\n{}",
        h.context()
    );
    assert_eq!(h.pulls().len(), 1);
    h.assert_github_conformance();
}
