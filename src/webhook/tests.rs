use super::*;

fn secret(s: &str) -> Secret {
    Secret::new(s)
}

#[test]
fn githubs_test_vector() {
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(sign("It's a Secret to Everybody", b"Hello, World!"), sig);
    assert_eq!(verify(&[secret("It's a Secret to Everybody")], Some(sig), None, b"Hello, World!"), Ok(()));
}

#[test]
fn refusals() {
    let s = [secret("It's a Secret to Everybody")];
    let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(verify(&s, None, None, b"x"), Err(SignatureError::Missing));
    assert_eq!(verify(&s, None, Some("sha1=0123"), b"x"), Err(SignatureError::Sha1Only));
    assert_eq!(verify(&s, Some("sha1=abc"), None, b"x"), Err(SignatureError::Malformed));
    assert_eq!(verify(&s, Some("sha256=zz"), None, b"x"), Err(SignatureError::Malformed));
    assert_eq!(verify(&s, Some(&format!("{}0", &good[..70])), None, b"Hello, World!"), Err(SignatureError::Mismatch));
    assert_eq!(
        verify(&s, Some(good), None, b"Hello, World?"),
        Err(SignatureError::Mismatch),
        "the body is what is signed"
    );
    assert_eq!(verify(&[], Some(good), None, b"Hello, World!"), Err(SignatureError::NoSecret));
}

#[test]
fn any_configured_secret_verifies_during_rotation() {
    let body = b"{}";
    let sig = sign("new", body);
    assert_eq!(verify(&[secret("old"), secret("new")], Some(&sig), None, body), Ok(()));
    assert_eq!(verify(&[secret("old")], Some(&sig), None, body), Err(SignatureError::Mismatch));
}

#[test]
fn parses_the_sample_deliveries() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("webhooks/samples");
    let read = |name: &str| std::fs::read(root.join(name)).unwrap();
    match parse("push", Some("application/json"), &read("push.json")).unwrap() {
        Event::Push(p) => {
            assert_eq!(p.repository, "example-org/platform-gitops");
            assert_eq!(p.git_ref, "refs/heads/main");
            assert_eq!(p.after.len(), 40);
        }
        other => panic!("{other:?}"),
    }
    match parse("pull_request", Some("application/json"), &read("pull_request.json")).unwrap() {
        Event::PullRequest(p) => {
            assert!(p.merged && p.action == "closed" && p.base_ref == "main");
            assert_eq!(p.head_ref, "tidegate/promote/frontend/qa");
        }
        other => panic!("{other:?}"),
    }
    match parse("issue_comment", Some("application/json"), &read("issue_comment.json")).unwrap() {
        Event::IssueComment(c) => {
            assert_eq!(c.body.trim(), "/promote frontend to prod");
            assert_eq!(c.action, "created");
            assert_eq!(c.author_type, "User");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(parse("ping", None, &read("ping.json")).unwrap(), Event::Ping { .. }));
}

#[test]
fn form_encoded_bodies_carry_the_json_in_payload() {
    let json = r#"{"ref":"refs/heads/main","after":"abc","repository":{"full_name":"o/r"}}"#;
    let body = serde_urlencoded::to_string([("payload", json)]).unwrap();
    let e = parse("push", Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap();
    assert!(matches!(e, Event::Push(p) if p.after == "abc"));
    assert_eq!(parse("push", Some("application/x-www-form-urlencoded"), b"other=1"), Err(PayloadError::NoPayloadField));
}

#[test]
fn malformed_and_unknown_payloads() {
    assert!(matches!(parse("push", Some("application/json"), b"{not json"), Err(PayloadError::Json(_))));
    assert!(matches!(parse("push", Some("text/plain"), b"{}"), Err(PayloadError::ContentType(_))));
    assert_eq!(
        parse("push", None, b"{}"),
        Err(PayloadError::Missing { event: "push".into(), field: "repository.full_name" })
    );
    assert_eq!(parse("star", None, b"{}"), Ok(Event::Ignored { event: "star".into() }));
}

#[test]
fn deliveries_are_remembered_with_a_bound() {
    let d = Deliveries::new(2);
    assert!(d.first_time("a"));
    assert!(!d.first_time("a"));
    assert!(d.first_time("b"));
    assert!(d.first_time("c"));
    assert!(d.first_time("a"), "the oldest id is forgotten past the capacity");
}

#[test]
fn a_delivery_that_could_not_be_queued_is_forgotten_so_a_redelivery_works() {
    let d = Deliveries::new(10);
    assert!(d.first_time("a"));
    assert!(d.first_time("b"));
    d.forget("a");
    assert!(d.first_time("a"), "a redelivery of a delivery that was not queued is processed");
    assert!(!d.first_time("b"));
    d.forget("never-seen");
}
