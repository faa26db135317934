//! Property tests of the promotion edit (`promote::edit::set_image`; issue 9, "Fuzzing").
//!
//! - generated kustomization files (block and flow entries, keys in any order, every quoting
//!   style, comments between and after everything, CRLF or LF, 2- or 4-space indentation, a
//!   missing final newline, a missing `newTag`): setting a tag succeeds, only the tag's line
//!   changes (or one line is added when there was no `newTag`), every other byte stays, and the
//!   file reads back as before with exactly that value changed, whatever the tag looks like
//!   (`1.10`, `1e3`, `true`, `0123`, `null`, a date…);
//! - arbitrary text and arbitrary tags never panic, and an edit that succeeds changes exactly
//!   the intended value.
//!
//! The number of cases comes from `PROPTEST_CASES` (256 by default); failures are not
//! persisted to files.

use proptest::prelude::*;
use serde_json::Value;
use tidegate::promote::edit::{image_entries, set_image};
use tidegate::yaml::{Dialect, parse_single_in};

fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

const IMAGE_NAMES: &[&str] = &["ghcr.io/acme/web", "nginx", "registry.example:5000/team/api", "redis"];

/// Tags as CI writes them, and the ones YAML would misread if written plain.
fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z0-9_][A-Za-z0-9_.-]{0,15}",
        2 => prop::sample::select(&[
            "1.10", "1e3", "true", "false", "yes", "on", "0123", "0x1F", "null", "~", "2024-01-01", "1_000", ".inf", "-1",
            "1.2.3", "v1.0.0-rc.1", "latest", "1:20", "8", "0.0",
        ][..]).prop_map(str::to_string),
    ]
}

/// A scalar written in one of YAML's one-line styles (the value is a tag, so it has no quote
/// characters).
fn styled(value: &str, style: u8) -> String {
    match style % 3 {
        0 => format!("\"{value}\""),
        1 => format!("'{value}'"),
        _ if tidegate::promote::edit::plain_is_safe(value, true) => value.to_string(),
        _ => format!("\"{value}\""),
    }
}

#[derive(Debug, Clone)]
struct Entry {
    name: &'static str,
    tag: Option<(String, u8)>,
    new_name: Option<&'static str>,
    digest: bool,
    flow: bool,
    /// Order of the keys: a rotation.
    rotate: usize,
    comment: bool,
}

fn entry(name: &'static str) -> impl Strategy<Value = Entry> {
    (
        prop::option::of((tag(), any::<u8>())),
        prop::option::of(prop::sample::select(&["mirror.example/web", "'quoted/name'"][..])),
        any::<bool>(),
        prop::bool::weighted(0.25),
        0..4usize,
        any::<bool>(),
    )
        .prop_map(move |(tag, new_name, digest, flow, rotate, comment)| Entry {
            name,
            tag,
            new_name,
            digest,
            flow,
            rotate,
            comment,
        })
}

#[derive(Debug, Clone)]
struct File {
    entries: Vec<Entry>,
    crlf: bool,
    indent: usize,
    final_newline: bool,
    header_comment: bool,
    images_indented: bool,
}

fn file() -> impl Strategy<Value = File> {
    (
        prop::sample::subsequence(IMAGE_NAMES, 1..=IMAGE_NAMES.len()).prop_shuffle(),
        any::<(bool, bool, bool, bool, bool)>(),
    )
        .prop_flat_map(|(names, (crlf, wide, final_newline, header_comment, images_indented))| {
            let entries: Vec<_> = names.into_iter().map(entry).collect();
            entries.prop_map(move |entries| File {
                entries,
                crlf,
                indent: if wide { 4 } else { 2 },
                final_newline,
                header_comment,
                images_indented,
            })
        })
}

impl File {
    fn text(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        if self.header_comment {
            lines.push("# promoted by tidegate — keep comments: é → 日本".into());
        }
        lines.push("apiVersion: kustomize.config.k8s.io/v1beta1".into());
        lines.push("kind: Kustomization".into());
        lines.push("resources:".into());
        lines.push("- ../../base # base".into());
        lines.push("images: # pinned".into());
        let lead = if self.images_indented { " ".repeat(self.indent) } else { String::new() };
        for e in &self.entries {
            let mut fields: Vec<String> = vec![format!("name: {}", e.name)];
            if let Some(n) = e.new_name {
                fields.push(format!("newName: {n}"));
            }
            if let Some((t, style)) = &e.tag {
                fields.push(format!("newTag: {}", styled(t, *style)));
            }
            if e.digest {
                fields.push("digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into());
            }
            let n = fields.len();
            fields.rotate_left(e.rotate % n);
            if e.flow {
                lines.push(format!("{lead}- {{{}}}{}", fields.join(", "), if e.comment { " # flow" } else { "" }));
                continue;
            }
            for (i, f) in fields.iter().enumerate() {
                let prefix = if i == 0 { format!("{lead}- ") } else { format!("{lead}{}", " ".repeat(2)) };
                let comment = if e.comment { format!(" # {i}") } else { String::new() };
                lines.push(format!("{prefix}{f}{comment}"));
                if e.comment && i == 0 {
                    lines.push(format!("{lead}  # between keys"));
                }
            }
            if e.comment {
                lines.push(String::new());
                lines.push("# between entries".into());
            }
        }
        lines.push("labels:".into());
        lines.push("- pairs: {env: qa}".into());
        let eol = if self.crlf { "\r\n" } else { "\n" };
        let mut text = lines.join(eol);
        if self.final_newline {
            text.push_str(eol);
        }
        text
    }
}

/// The file's data, with `newTag` of the entry named `image` set to `tag`.
fn expected(before: &str, image: &str, tag: &str) -> Option<Value> {
    let mut v = parse_single_in(before, Dialect::Yaml11).ok()?;
    for e in v.get_mut("images")?.as_array_mut()? {
        if e.get("name").and_then(Value::as_str) == Some(image) {
            e.as_object_mut()?.insert("newTag".into(), Value::String(tag.to_string()));
        }
    }
    Some(v)
}

/// The lines of `before` and `after` that differ, as (removed, added).
fn line_changes(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let split = |t: &str| t.split_inclusive('\n').map(str::to_string).collect::<Vec<_>>();
    let (b, a) = (split(before), split(after));
    let prefix = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let suffix = b[prefix..].iter().rev().zip(a[prefix..].iter().rev()).take_while(|(x, y)| x == y).count();
    (b[prefix..b.len() - suffix].to_vec(), a[prefix..a.len() - suffix].to_vec())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn only_the_tag_changes(file in file(), which in any::<prop::sample::Index>(), new_tag in tag()) {
        let before = file.text();
        let target = &file.entries[which.index(file.entries.len())];
        let after = set_image(&before, target.name, Some(&new_tag), None);
        prop_assert!(after.is_ok(), "{:?}\n{}", after, before);
        let after = after.unwrap_or_default();
        // Byte-preserving: at most the tag's own line differs, or one line is added.
        let (removed, added) = line_changes(&before, &after);
        match &target.tag {
            Some((old, _)) if old == &new_tag => prop_assert_eq!(&after, &before),
            Some(_) => {
                prop_assert!(removed.len() == 1 && added.len() == 1, "{:?} → {:?}", removed, added);
                prop_assert!(removed[0].contains("newTag") || target.flow, "{:?}", removed);
                // Only the value changed on that line: the text before and after it is the same.
                let (r, a) = (&removed[0], &added[0]);
                let prefix = r.bytes().zip(a.bytes()).take_while(|(x, y)| x == y).count();
                let suffix = r[prefix..].bytes().rev().zip(a[prefix..].bytes().rev()).take_while(|(x, y)| x == y).count();
                let old_span = &r[prefix..r.len() - suffix];
                prop_assert!(!old_span.contains(['#', ',', '{', '}', '\n']), "{:?} → {:?}", r, a);
            }
            None if target.flow => {
                prop_assert!(removed.len() == 1 && added.len() == 1, "{:?} → {:?}", removed, added);
                prop_assert!(added[0].contains(", newTag: "), "{:?}", added);
            }
            None => {
                prop_assert!(removed.is_empty() && added.len() == 1, "{:?} → {:?}", removed, added);
                prop_assert!(added[0].trim_start().starts_with("newTag: "), "{:?}", added);
            }
        }
        if file.crlf {
            prop_assert!(!after.replace("\r\n", "").contains('\n'), "a bare LF in a CRLF file: {:?}", after);
        }
        // It reads back as the file with exactly that value changed.
        let got = parse_single_in(&after, Dialect::Yaml11).ok();
        prop_assert_eq!(got, expected(&before, target.name, &new_tag), "{}\n→\n{}", before, after);
        let entries = image_entries(&after).expect("entries");
        let mine = entries.iter().find(|e| e.name == target.name).expect("the entry");
        prop_assert_eq!(mine.new_tag.as_deref(), Some(new_tag.as_str()));
    }

    #[test]
    fn arbitrary_text_never_panics_and_edits_only_the_tag(
        text in prop_oneof![
            any::<String>(),
            (file(), any::<prop::sample::Index>(), "[ -~\n]{0,4}").prop_map(|(f, at, junk)| {
                let mut t = f.text();
                let cuts: Vec<usize> = (0..=t.len()).filter(|&i| t.is_char_boundary(i)).collect();
                t.insert_str(cuts[at.index(cuts.len())], &junk);
                t
            }),
        ],
        image in prop_oneof![prop::sample::select(IMAGE_NAMES).prop_map(str::to_string), any::<String>()],
        new_tag in prop_oneof![tag(), any::<String>()],
        digest in prop::option::of(prop_oneof![Just("sha256:abc".to_string()), any::<String>()]),
    ) {
        let _ = image_entries(&text);
        if let Ok(after) = set_image(&text, &image, Some(&new_tag), digest.as_deref()) {
            let entries = image_entries(&after).expect("an edited file reads back");
            let mine = entries.iter().find(|e| e.name == image).expect("the entry is still there");
            prop_assert_eq!(mine.new_tag.as_deref(), Some(new_tag.as_str()));
            if let Some(d) = &digest {
                prop_assert_eq!(mine.digest.as_deref(), Some(d.as_str()));
            }
            if digest.is_none() {
                prop_assert_eq!(parse_single_in(&after, Dialect::Yaml11).ok(), expected(&text, &image, &new_tag));
            }
        }
    }
}
