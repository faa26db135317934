//! Property tests of webhook intake: `webhook::verify` (the signature over the raw body) and
//! `webhook::parse` (the payload; issue 9, "Fuzzing"):
//!
//! - the signature GitHub would send is accepted, with one secret or among several;
//! - flipping any one bit of the body, of the signature or of the secret is refused;
//! - arbitrary headers never panic and are accepted only when they are the right signature;
//! - arbitrary event names, content types and bodies never panic;
//! - a payload reads the same as JSON and form-encoded (`payload=…`), whatever its text.
//!
//! The number of cases comes from `PROPTEST_CASES` (256 by default); failures are not
//! persisted to files.

use proptest::prelude::*;
use serde_json::{Value, json};
use tidegate::source::Secret;
use tidegate::webhook::{self, Event, SignatureError};

fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..512)
}

fn secret() -> impl Strategy<Value = String> {
    prop_oneof!["[ -~]{1,40}", any::<String>().prop_filter("non-empty", |s| !s.is_empty())]
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(&["ping", "push", "pull_request", "issue_comment", "check_run"][..]).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        4 => prop::sample::select(&[
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded;charset=UTF-8",
            "",
            ";",
            "text/plain",
        ][..]).prop_map(str::to_string),
        1 => any::<String>(),
    ])
}

/// A payload GitHub could send for `event`, with arbitrary text where GitHub allows it.
fn payload() -> impl Strategy<Value = (String, Value)> {
    (event_name(), any::<String>(), any::<String>(), any::<String>(), any::<u64>(), any::<bool>()).prop_map(
        |(event, repo, body, login, n, flag)| {
            let value = json!({
                "action": if flag { "created" } else { "edited" },
                "ref": format!("refs/heads/{login}"),
                "after": "0123456789abcdef0123456789abcdef01234567",
                "deleted": flag,
                "hook_id": n,
                "repository": {"full_name": repo},
                "issue": {"number": n, "pull_request": if flag { json!({}) } else { Value::Null }},
                "comment": {"id": n, "body": body, "user": {"login": login, "type": "User"}},
                "pull_request": {"number": n, "merged": flag, "base": {"ref": "main"}, "head": {"ref": body, "repo": {"full_name": repo}}},
            });
            (event, value)
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_right_signature_is_accepted(secret in secret(), others in prop::collection::vec(secret(), 0..3), body in body(), first in any::<bool>()) {
        let header = webhook::sign(&secret, &body);
        let mut secrets: Vec<Secret> = others.iter().map(Secret::new).collect();
        if first { secrets.insert(0, Secret::new(&secret)) } else { secrets.push(Secret::new(&secret)) }
        prop_assert_eq!(webhook::verify(&secrets, Some(&header), None, &body), Ok(()));
        // Surrounding whitespace in the header is tolerated; a SHA-1 header beside it is ignored.
        prop_assert_eq!(webhook::verify(&secrets, Some(&format!(" {header}\t")), Some("sha1=00"), &body), Ok(()));
    }

    #[test]
    fn any_bit_flip_is_refused(secret in secret(), body in body(), bit in any::<prop::sample::Index>(), which in 0..3u8) {
        let header = webhook::sign(&secret, &body);
        let secrets = [Secret::new(&secret)];
        match which {
            0 if !body.is_empty() => {
                let mut flipped = body.clone();
                let i = bit.index(body.len() * 8);
                flipped[i / 8] ^= 1 << (i % 8);
                prop_assert_eq!(webhook::verify(&secrets, Some(&header), None, &flipped), Err(SignatureError::Mismatch));
            }
            1 => {
                let mut flipped = header.clone().into_bytes();
                let i = bit.index(flipped.len() * 8);
                flipped[i / 8] ^= 1 << (i % 8);
                // A header that is not UTF-8 cannot be sent; the others must all be refused.
                if let Ok(h) = String::from_utf8(flipped) {
                    let got = webhook::verify(&secrets, Some(&h), None, &body);
                    // Flipping the case bit of a hex letter spells the same bytes.
                    let same_bytes = h.to_ascii_lowercase() == header && h.starts_with("sha256=");
                    if !same_bytes {
                        prop_assert!(
                            matches!(got, Err(SignatureError::Mismatch | SignatureError::Malformed)),
                            "{} → {:?}",
                            h,
                            got
                        );
                    }
                }
            }
            _ => {
                let mut flipped = secret.clone().into_bytes();
                let i = bit.index(flipped.len() * 8);
                flipped[i / 8] ^= 1 << (i % 8);
                if let Ok(other) = String::from_utf8(flipped) {
                    let got = webhook::verify(&[Secret::new(other)], Some(&header), None, &body);
                    prop_assert_eq!(got, Err(SignatureError::Mismatch));
                }
            }
        }
    }

    #[test]
    fn arbitrary_headers_are_refused_unless_right(
        secret in secret(),
        body in body(),
        sha256 in prop::option::of(prop_oneof![any::<String>(), "sha256=[0-9a-fA-F]{60,68}", "sha1=[0-9a-f]{40}"]),
        sha1 in prop::option::of(any::<String>()),
    ) {
        let got = webhook::verify(&[Secret::new(&secret)], sha256.as_deref(), sha1.as_deref(), &body);
        let right = sha256.as_deref().is_some_and(|h| {
            let h = h.trim();
            h.len() == webhook::sign(&secret, &body).len()
                && h.starts_with("sha256=")
                && h.eq_ignore_ascii_case(&webhook::sign(&secret, &body))
        });
        prop_assert_eq!(got.is_ok(), right, "{:?}", sha256);
        prop_assert_eq!(webhook::verify(&[], sha256.as_deref(), sha1.as_deref(), &body), Err(SignatureError::NoSecret));
    }

    #[test]
    fn arbitrary_deliveries_never_panic(event in event_name(), content_type in content_type(), body in prop_oneof![
        body(),
        payload().prop_map(|(_, v)| v.to_string().into_bytes()),
        any::<String>().prop_map(|s| format!("payload={}", form(&s)).into_bytes()),
    ]) {
        if let Ok(e) = webhook::parse(&event, content_type.as_deref(), &body) {
            match e {
                Event::Ignored { event: name } => prop_assert_eq!(name, event),
                other => prop_assert_eq!(other.name(), event.as_str()),
            }
        }
    }

    #[test]
    fn json_and_form_encoded_payloads_read_the_same((event, value) in payload()) {
        let json = value.to_string();
        let from_json = webhook::parse(&event, Some("application/json"), json.as_bytes());
        let body = format!("payload={}", form(&json));
        let from_form = webhook::parse(&event, Some("application/x-www-form-urlencoded"), body.as_bytes());
        prop_assert_eq!(&from_json, &from_form);
        if let Ok(Event::IssueComment(c)) = &from_json {
            // The comment's text arrives exactly as written.
            prop_assert_eq!(Some(c.body.as_str()), value.pointer("/comment/body").and_then(Value::as_str));
            prop_assert_eq!(Some(c.author.as_str()), value.pointer("/comment/user/login").and_then(Value::as_str));
        }
        if event == "issue_comment" || event == "push" || event == "pull_request" || event == "ping" {
            prop_assert!(from_json.is_ok(), "{} {:?}", event, from_json);
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of a value.
fn form(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
