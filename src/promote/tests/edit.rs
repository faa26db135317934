use pretty_assertions::assert_eq;

use crate::promote::edit::{EditError, image_entries, plain_is_safe, set_image};

const IMG: &str = "ghcr.io/example/shop-frontend";

/// Asserts that `after` equals `before` with exactly one span replaced, and returns the
/// replaced and replacing text.
fn changed_span(before: &str, after: &str) -> (String, String) {
    let prefix = before.bytes().zip(after.bytes()).take_while(|(a, b)| a == b).count();
    let suffix = before[prefix..].bytes().rev().zip(after[prefix..].bytes().rev()).take_while(|(a, b)| a == b).count();
    (before[prefix..before.len() - suffix].to_string(), after[prefix..after.len() - suffix].to_string())
}

const COMMENTED: &str = r#"# frontend in qa — comments everywhere, even non-ASCII: é, →, 日本
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base # the base
patches:
  # The same image name appears in this patch text; it must not change.
  - patch: |
      - op: replace
        path: /spec/template/spec/containers/0/image
        value: ghcr.io/example/shop-frontend:1.8.2 # → ünïcödé in a block scalar
    target:
      kind: Deployment
images:
  # CI writes the dev tag.

  - name: ghcr.io/example/other   # another image first
    newTag: "0.1.0"
  # between entries
  - name: ghcr.io/example/shop-frontend # the frontend
    # before the tag
    newTag: "1.8.2" # promoted from dev
    # after the tag
  - name: ghcr.io/example/third
    newTag: 3.0.0
labels: &labels
  - pairs: {environment: qa}
"#;

#[test]
fn replaces_only_the_tag_in_a_file_full_of_comments() {
    let after = set_image(COMMENTED, IMG, Some("1.9.0"), None).unwrap();
    assert_eq!(after, COMMENTED.replace(r#"newTag: "1.8.2" # promoted"#, r#"newTag: "1.9.0" # promoted"#));
    assert_eq!(changed_span(COMMENTED, &after), ("8.2".to_string(), "9.0".to_string()));
    let entries = image_entries(&after).unwrap();
    assert_eq!(
        entries.iter().map(|e| e.new_tag.as_deref()).collect::<Vec<_>>(),
        [Some("0.1.0"), Some("1.9.0"), Some("3.0.0")]
    );
    assert!(after.contains("shop-frontend:1.8.2 # →"), "the patch text is untouched");
}

#[test]
fn unchanged_value_gives_identical_text() {
    assert_eq!(set_image(COMMENTED, IMG, Some("1.8.2"), None).unwrap(), COMMENTED);
}

#[test]
fn keeps_quoting_styles() {
    let single = "images:\n- name: a\n  newTag: '1.0' # c\n";
    assert_eq!(set_image(single, "a", Some("it's"), None).unwrap(), "images:\n- name: a\n  newTag: 'it''s' # c\n");
    let plain = "images:\n- name: a\n  newTag: v1.0   # c\n";
    assert_eq!(set_image(plain, "a", Some("v1.1"), None).unwrap(), "images:\n- name: a\n  newTag: v1.1   # c\n");
    let double = "images:\n- name: a\n  newTag: \"1.0\"\n";
    assert_eq!(set_image(double, "a", Some("x\"y"), None).unwrap(), "images:\n- name: a\n  newTag: \"x\\\"y\"\n");
}

#[test]
fn plain_values_that_would_not_read_as_strings_are_quoted() {
    for (tag, written) in [
        ("1.10", "\"1.10\""),
        ("1e3", "\"1e3\""),
        ("true", "\"true\""),
        ("yes", "\"yes\""),
        ("0123", "\"0123\""),
        ("null", "\"null\""),
        ("2024-01-01", "\"2024-01-01\""),
        ("a: b", "\"a: b\""),
        ("a #b", "\"a #b\""),
        ("1.10.0", "1.10.0"),
    ] {
        let text = "images:\n- name: a\n  newTag: v1\n";
        let after = set_image(text, "a", Some(tag), None).unwrap();
        assert_eq!(after, format!("images:\n- name: a\n  newTag: {written}\n"), "tag {tag}");
        assert_eq!(image_entries(&after).unwrap()[0].new_tag.as_deref(), Some(tag));
    }
}

#[test]
fn plain_safety() {
    for ok in ["1.9.0", "v1.2.3", "1.0.0-rc.1", "latest", "sha256:abc", "main_2024"] {
        assert!(plain_is_safe(ok, false), "{ok}");
    }
    for bad in ["", "1.10", "1e3", "true", "on", "0123", "null", "~", "a: b", "a #b", "-rc", "x:", " x", "*a", "0x1f"] {
        assert!(!plain_is_safe(bad, false), "{bad}");
    }
    assert!(plain_is_safe("a,b", false));
    assert!(!plain_is_safe("a,b", true));
}

#[test]
fn crlf_line_endings_and_no_final_newline() {
    let text = "# c\r\nimages:\r\n  - name: a # x\r\n    newTag: \"1\" # y\r\n  - name: b\r\n    newTag: '2'";
    let after = set_image(text, "b", Some("3"), None).unwrap();
    assert_eq!(after, "# c\r\nimages:\r\n  - name: a # x\r\n    newTag: \"1\" # y\r\n  - name: b\r\n    newTag: '3'");
    let after = set_image(text, "a", Some("1.5"), None).unwrap();
    assert_eq!(after, text.replace("newTag: \"1\"", "newTag: \"1.5\""));
}

#[test]
fn inserts_a_missing_tag_after_the_name_line() {
    let text = "images:\n  - name: a # the app\n    digest: sha256:0000\n";
    let after = set_image(text, "a", Some("1.2.0"), None).unwrap();
    assert_eq!(after, "images:\n  - name: a # the app\n    newTag: 1.2.0\n    digest: sha256:0000\n");
    // CRLF and a missing final newline keep their line endings.
    let text = "images:\r\n- name: \"a\"";
    let after = set_image(text, "a", Some("1.2.0"), Some("sha256:1111")).unwrap();
    assert_eq!(after, "images:\r\n- name: \"a\"\r\n  newTag: \"1.2.0\"\r\n  digest: \"sha256:1111\"");
}

#[test]
fn inserts_a_missing_digest_after_the_tag() {
    let text = "images:\n- name: a\n  newTag: '1' # t\n  newName: b\n";
    let after = set_image(text, "a", Some("2"), Some("sha256:ff")).unwrap();
    assert_eq!(after, "images:\n- name: a\n  newTag: '2' # t\n  digest: sha256:ff\n  newName: b\n");
}

#[test]
fn flow_style_entries() {
    let text = "images:\n  - {name: a, newTag: '1.0'} # flow\n  - {name: b, digest: 'sha256:00'}\n  - { name: c, newTag: 1.0.0 }\n";
    let after = set_image(text, "a", Some("1.1"), None).unwrap();
    assert_eq!(after, text.replace("'1.0'", "'1.1'"));
    let after = set_image(text, "b", Some("2.0.0"), Some("sha256:11")).unwrap();
    assert_eq!(after, text.replace("{name: b, digest: 'sha256:00'}", "{name: b, newTag: 2.0.0, digest: 'sha256:11'}"));
    let after = set_image(text, "c", Some("1.10"), None).unwrap();
    assert_eq!(after, text.replace("newTag: 1.0.0 }", "newTag: \"1.10\" }"));
    let flow_list = "images: [{name: a, newTag: x}, {name: b, newTag: y}]\n";
    assert_eq!(
        set_image(flow_list, "b", Some("z"), None).unwrap(),
        "images: [{name: a, newTag: x}, {name: b, newTag: z}]\n"
    );
}

#[test]
fn anchors_and_aliases() {
    // An anchored tag nobody refers to: the anchor stays, the value changes.
    let text = "images:\n- name: a\n  newTag: &t \"1\"\n";
    assert_eq!(set_image(text, "a", Some("2"), None).unwrap(), "images:\n- name: a\n  newTag: &t \"2\"\n");
    // An anchored tag used elsewhere would change the other place too: refused.
    let text = "images:\n- name: a\n  newTag: &t \"1\"\n- name: b\n  newName: *t\n";
    let err = set_image(text, "a", Some("2"), None).unwrap_err();
    assert!(matches!(err, EditError::Shape { .. }), "{err}");
    let text = "images:\n- name: a\n  newTag: &t \"1\"\nother: *t\n";
    let err = set_image(text, "a", Some("2"), None).unwrap_err();
    assert!(err.to_string().contains("its anchor is used elsewhere"), "{err}");
    // A tag that is an alias: refused (write the value there).
    let text = "x: &t \"1\"\nimages:\n- name: a\n  newTag: *t\n";
    let err = image_entries(text).unwrap_err();
    assert!(err.to_string().contains("images[0].newTag"), "{err}");
    // Anchors elsewhere do not matter.
    let text = "labels: &l [1]\nimages:\n- name: a\n  newTag: \"1\"\nother: *l\n";
    assert_eq!(set_image(text, "a", Some("2"), None).unwrap(), text.replace("\"1\"", "\"2\""));
}

#[test]
fn block_and_multiline_scalars_are_refused() {
    let text = "images:\n- name: a\n  newTag: |\n    1.0\n";
    assert!(matches!(set_image(text, "a", Some("2"), None), Err(EditError::Unsupported { .. })));
    let text = "images:\n- name: a\n  newTag: 1.0\n    -rc\n";
    assert!(matches!(set_image(text, "a", Some("2"), None), Err(EditError::Unsupported { .. })));
}

#[test]
fn byte_order_mark_is_kept() {
    let text = "\u{feff}images:\n- name: é\n  newTag: v1 # ü\n";
    assert_eq!(set_image(text, "é", Some("v2"), None).unwrap(), "\u{feff}images:\n- name: é\n  newTag: v2 # ü\n");
}

#[test]
fn shape_errors_name_the_line_and_field() {
    let err = image_entries("images:\n- name: a\n- name: a\n").unwrap_err();
    assert_eq!(err.to_string(), "line 3: images entry \"a\" is listed twice (first on line 2); keep one");
    let err = image_entries("images: {a: 1}\n").unwrap_err();
    assert_eq!(err.to_string(), "line 1: images: must be a list");
    let err = image_entries("images:\n- newTag: x\n").unwrap_err();
    assert_eq!(err.to_string(), "line 2: images[0]: `name` is required");
    let err = set_image("images:\n- name: a\n", "b", Some("1"), None).unwrap_err();
    assert_eq!(err, EditError::NoEntry { image: "b".into() });
    assert!(matches!(image_entries("a: [\n"), Err(EditError::Syntax { .. })));
    assert!(matches!(image_entries("a: 1\n---\nb: 2\n"), Err(EditError::Documents { count: 2 })));
    assert_eq!(image_entries("kind: Kustomization\n").unwrap(), vec![]);
}

#[test]
fn digest_replacement() {
    let text = "images:\n  - name: a\n    newTag: \"1\"\n    digest: sha256:aaaa # pinned\n";
    let after = set_image(text, "a", Some("2"), Some("sha256:bbbb")).unwrap();
    assert_eq!(after, "images:\n  - name: a\n    newTag: \"2\"\n    digest: sha256:bbbb # pinned\n");
}
