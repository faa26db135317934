//! CEL rules, the rules file, and precedence over the native rules.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{HealthRules, RuleFileError};
use crate::health::{HealthOptions, HealthStatus, assess, judge};

const FILE: &str = "apps-of-apps/health.yaml";

fn no_files(rel: &str) -> Result<(String, String), String> {
    Err(format!("{rel}: no files in this test"))
}

fn rules(text: &str) -> HealthRules {
    HealthRules::parse(FILE, text, &no_files).unwrap_or_else(|e| panic!("rules should load:\n{e}"))
}

fn errors(text: &str) -> Vec<RuleFileError> {
    HealthRules::parse(FILE, text, &no_files).expect_err("rules should not load").0
}

fn opts(text: &str) -> HealthOptions {
    HealthOptions { rules: Arc::new(rules(text)), ..HealthOptions::default() }
}

/// Flux's example for cert-manager's Certificate, on a made-up kind of the platform.
const WIDGET_CEL: &str = r#"apiVersion: tidegate.dev/v1alpha1
kind: HealthRules
spec:
  rules:
  - group: example.com
    kind: Widget
    cel:
      inProgress: "status.conditions.exists(e, e.type == 'Issuing' && e.status == 'True')"
      failed: "status.conditions.exists(e, e.type == 'Ready' && e.status == 'False')"
      current: "status.conditions.exists(e, e.type == 'Ready' && e.status == 'True')"
"#;

fn widget(conditions: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "generation": 2},
           "status": {"observedGeneration": 2, "conditions": conditions}})
}

#[test]
fn cel_current_in_progress_and_failed_in_flux_order() {
    let o = opts(WIDGET_CEL);
    let ready = widget(json!([{"type": "Ready", "status": "True"}]));
    assert_eq!(assess(&ready, &o).status, HealthStatus::Healthy);
    let failed = widget(json!([{"type": "Ready", "status": "False"}]));
    assert_eq!(assess(&failed, &o).status, HealthStatus::Degraded);
    // inProgress is evaluated first: Issuing=True wins over Ready=False.
    let issuing = widget(json!([{"type": "Issuing", "status": "True"}, {"type": "Ready", "status": "False"}]));
    let h = assess(&issuing, &o);
    assert_eq!(h.status, HealthStatus::Progressing);
    assert!(h.message.starts_with("inProgress"), "{h:?}");
    // None true → in progress.
    let neither = widget(json!([{"type": "Issuing", "status": "False"}, {"type": "Ready", "status": "Unknown"}]));
    let h = assess(&neither, &o);
    assert_eq!((h.status, h.message.as_str()), (HealthStatus::Progressing, "no expression is true yet"));
}

#[test]
fn evaluating_cel_is_cheap() {
    let o = opts(WIDGET_CEL);
    let ready = widget(json!([{"type": "Ready", "status": "True"}]));
    let started = std::time::Instant::now();
    for _ in 0..200 {
        judge(&ready, &o).expect("judged");
    }
    let each = started.elapsed() / 200;
    eprintln!("one CEL evaluation: {each:?}");
    assert!(each < std::time::Duration::from_millis(5), "{each:?} per evaluation");
}

#[test]
fn cel_stale_observed_generation_is_in_progress_before_any_expression() {
    let o = opts(WIDGET_CEL);
    let mut stale = widget(json!([{"type": "Ready", "status": "True"}]));
    stale["metadata"]["generation"] = json!(3);
    let h = assess(&stale, &o);
    assert_eq!(h.status, HealthStatus::Progressing);
    assert!(h.message.contains("observedGeneration 2 is behind generation 3"), "{h:?}");
}

#[test]
fn cel_errors_and_non_bools_are_the_objects_error() {
    let o = opts(WIDGET_CEL);
    // No status at all: status is {} and `status.conditions` is a missing key.
    let fresh = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
    let e = judge(&fresh, &o).expect_err("a missing field is an error");
    assert_eq!(e.origin, format!("{FILE}:5"));
    assert!(e.message.starts_with("inProgress: "), "{e}");
    assert!(e.to_string().contains("health rule for example.com/Widget at apps-of-apps/health.yaml:5 failed"), "{e}");
    // assess keeps waiting on it (Flux waits until the timeout), naming the error.
    let h = assess(&fresh, &o);
    assert_eq!(h.status, HealthStatus::Progressing);
    assert!(h.message.contains("failed: inProgress"), "{h:?}");

    let not_bool = opts(
        "apiVersion: tidegate.dev/v1alpha1\nkind: HealthRules\nspec:\n  rules:\n  - group: example.com\n    kind: Widget\n    cel:\n      current: \"metadata.name\"\n",
    );
    let e = judge(&widget(json!([])), &not_bool).expect_err("a string is not a bool");
    assert_eq!(e.message, "current: the expression returned string, not a bool");
}

#[test]
fn cel_has_works_on_objects_without_status_and_numbers_compare_as_ints() {
    let o = opts(
        r#"apiVersion: tidegate.dev/v1alpha1
kind: HealthRules
spec:
  rules:
  - group: example.com
    kind: Widget
    cel:
      inProgress: "!has(status.replicas)"
      current: "status.replicas == spec.replicas && metadata.generation >= 1"
"#,
    );
    let fresh = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "generation": 1},
                       "spec": {"replicas": 3}});
    assert_eq!(judge(&fresh, &o).map(|h| h.status), Ok(HealthStatus::Progressing));
    let mut done = fresh.clone();
    done["status"] = json!({"replicas": 3});
    assert_eq!(judge(&done, &o).map(|h| h.status), Ok(HealthStatus::Healthy));
}

#[test]
fn a_user_rule_replaces_the_native_rule_of_its_group_and_kind_only() {
    // Natively a Deployment with 0/3 ready replicas is Progressing; this rule says Healthy.
    let o = opts(
        "apiVersion: tidegate.dev/v1alpha1\nkind: HealthRules\nspec:\n  rules:\n  - group: apps\n    kind: Deployment\n    cel:\n      current: \"true\"\n",
    );
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "generation": 1},
                   "spec": {"replicas": 3}, "status": {"observedGeneration": 1, "replicas": 3}});
    assert_eq!(assess(&d, &HealthOptions::default()).status, HealthStatus::Progressing);
    assert_eq!(assess(&d, &o).status, HealthStatus::Healthy);
    // A Deployment of another group is not this rule's.
    let other = json!({"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "d"}});
    assert_eq!(assess(&other, &o).message, "exists");
    // Being deleted still comes first.
    let mut deleting = d.clone();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert!(assess(&deleting, &o).message.starts_with("being deleted"));
    // Without apiVersion, the kind alone picks the rule.
    let bare = json!({"kind": "Deployment", "metadata": {"name": "d"}});
    assert_eq!(assess(&bare, &o).status, HealthStatus::Healthy);
}

#[test]
fn the_file_is_checked_with_file_line_and_field() {
    let e = errors(
        r#"apiVersion: tidegate.dev/v1alpha1
kind: HealthRules
spec:
  rules:
  - group: example.com
    kind: Widget
    cel:
      inProgress: "status.phase =="
      current: "true"
  - group: example.com
    kind: Gadget
    cel:
      failed: "false"
  - group: example.com
    kind: Widget
    cel:
      current: "true"
  - kind: Thing
    colour: blue
    lua: "return {}"
  - group: example.com
    kind: Both
    cel: {current: "true"}
    lua: "return {}"
"#,
    );
    let shown: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert!(
        shown[0].starts_with("apps-of-apps/health.yaml:8: spec.rules[0].cel.inProgress: invalid CEL:"),
        "{shown:#?}"
    );
    assert_eq!(
        shown[1..],
        [
            "apps-of-apps/health.yaml:12: spec.rules[1].cel.current: is required (as in Flux: the expression that says healthy)",
            "apps-of-apps/health.yaml:14: spec.rules[2]: a rule for example.com/Widget is already declared at apps-of-apps/health.yaml:5",
            "apps-of-apps/health.yaml:19: spec.rules[3].colour: unknown field (known: group, kind, cel, lua, luaFile)",
            "apps-of-apps/health.yaml:18: spec.rules[3].group: is required (\"\" for the core group)",
            "apps-of-apps/health.yaml:21: spec.rules[4]: give only one of cel, lua, luaFile",
        ]
    );
}

#[test]
fn the_file_header_and_yaml_errors_are_reported() {
    let e = errors("apiVersion: v1\nkind: ConfigMap\nspec:\n  rules: []\n");
    assert_eq!(
        e[0].to_string(),
        "apps-of-apps/health.yaml:1: apiVersion/kind: expected tidegate.dev/v1alpha1 HealthRules, found v1 ConfigMap"
    );
    let e = errors("apiVersion: tidegate.dev/v1alpha1\nkind: HealthRules\nspec:\n  rules: []\n  rules: []\n");
    assert_eq!(e[0].line, 5, "{e:?}");
    assert!(e[0].message.contains("already defined"), "{e:?}");
    assert!(rules("apiVersion: tidegate.dev/v1alpha1\nkind: HealthRules\nspec:\n  rules: []\n").is_empty());
}

#[test]
fn lua_files_are_read_relative_to_the_rules_file_and_stay_in_the_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("apps-of-apps/health")).expect("mkdir");
    std::fs::write(
        root.join(FILE),
        "apiVersion: tidegate.dev/v1alpha1\nkind: HealthRules\nspec:\n  rules:\n  - group: example.com\n    kind: Widget\n    luaFile: health/widget.lua\n",
    )
    .expect("write");
    std::fs::write(root.join("apps-of-apps/health/widget.lua"), "hs = {}\nhs.status = \"Healthy\"\nreturn hs\n")
        .expect("write");
    let tree = crate::render::fs::DiskTree::new(root).expect("tree");
    let loaded = HealthRules::load(&tree).expect("loads");
    assert_eq!(loaded.rules()[0].to_string(), "Lua rule for example.com/Widget at apps-of-apps/health.yaml:5");
    let h = loaded.rules()[0].judge(&widget(json!([]))).expect("judged");
    assert_eq!(h.status, HealthStatus::Healthy);

    std::fs::write(root.join("apps-of-apps/health/widget.lua"), "hs = {}\nhs.status = = 1\n").expect("write");
    let e = HealthRules::load(&tree).expect_err("a syntax error").0;
    assert_eq!(e[0].file, "apps-of-apps/health/widget.lua");
    assert_eq!(e[0].line, 2);
    assert!(
        e[0].to_string()
            .starts_with("apps-of-apps/health/widget.lua:2: spec.rules[0].luaFile: invalid Lua: unexpected symbol"),
        "{e:?}"
    );

    std::fs::write(
        root.join(FILE),
        "apiVersion: tidegate.dev/v1alpha1\nkind: HealthRules\nspec:\n  rules:\n  - group: example.com\n    kind: Widget\n    luaFile: ../../etc/passwd\n",
    )
    .expect("write");
    let e = HealthRules::load(&tree).expect_err("outside the repository").0;
    assert_eq!(
        e[0].to_string(),
        "apps-of-apps/health.yaml:7: spec.rules[0].luaFile: path \"../../etc/passwd\" leads outside the repository root"
    );

    // No file: no rules.
    std::fs::remove_file(root.join(FILE)).expect("rm");
    assert!(HealthRules::load(&tree).expect("no file is fine").is_empty());
}
