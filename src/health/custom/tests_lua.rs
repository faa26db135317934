//! Lua rules: Argo CD's contract, load-time checks, and the sandbox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::HealthRules;
use crate::health::{HealthOptions, HealthStatus, assess, judge};

const FILE: &str = "apps-of-apps/health.yaml";

/// A rules file with one inline script for example.com/Database; the script's first line is
/// line 8 of the file.
fn file_with(script: &str) -> String {
    let body: String = script.lines().map(|l| format!("      {l}\n")).collect();
    format!(
        "apiVersion: tidegate.dev/v1alpha1\nkind: HealthRules\nspec:\n  rules:\n  - group: example.com\n    kind: Database\n    lua: |\n{body}"
    )
}

fn opts(script: &str) -> HealthOptions {
    let rules = HealthRules::parse(FILE, &file_with(script), &|_| Err("no files".into()))
        .unwrap_or_else(|e| panic!("rules should load:\n{e}"));
    HealthOptions { rules: Arc::new(rules), ..HealthOptions::default() }
}

/// An Argo CD-style script, written for this test, for a custom resource with conditions and
/// a phase, in the shape of the scripts of `resource.customizations.health.*`.
const DATABASE: &str = r#"local hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end
if obj.spec.paused then
  hs.status = "Suspended"
  hs.message = "Database is paused"
  return hs
end
for i, condition in ipairs(obj.status.conditions) do
  if condition.type == "Failed" and condition.status == "True" then
    hs.status = "Degraded"
    hs.message = condition.message
    return hs
  end
  if condition.type == "Ready" and condition.status == "True" then
    hs.status = "Healthy"
    hs.message = string.format("%d/%d instances ready", obj.status.readyInstances, obj.spec.instances)
    return hs
  end
end
if obj.status.phase == "Lost" then
  hs.status = "Missing"
  return hs
end
hs.status = "Progressing"
hs.message = "phase " .. tostring(obj.status.phase)
return hs
"#;

fn database(spec: Value, status: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Database", "metadata": {"name": "db", "namespace": "shop"},
           "spec": spec, "status": status})
}

#[test]
fn an_argo_cd_style_script_returns_each_status() {
    let o = opts(DATABASE);
    let spec = json!({"instances": 3, "paused": null});
    let cases = [
        (json!(null), HealthStatus::Progressing, "Waiting for the operator"),
        (
            json!({"readyInstances": 3, "conditions": [{"type": "Ready", "status": "True"}]}),
            HealthStatus::Healthy,
            "3/3 instances ready",
        ),
        (
            json!({"conditions": [{"type": "Failed", "status": "True", "message": "disk full"}]}),
            HealthStatus::Degraded,
            "disk full",
        ),
        (json!({"phase": "Creating", "conditions": []}), HealthStatus::Progressing, "phase Creating"),
        (json!({"phase": "Lost", "conditions": []}), HealthStatus::Progressing, "the rule says Missing"),
    ];
    for (status, want, message) in cases {
        let h = judge(&database(spec.clone(), status.clone()), &o).expect("judged");
        assert_eq!((h.status, h.message.as_str()), (want, message), "status {status}");
    }
    let paused = database(json!({"instances": 3, "paused": true}), json!({"conditions": []}));
    assert_eq!(assess(&paused, &o).status, HealthStatus::Suspended);
}

#[test]
fn scripts_in_argo_cds_global_style_and_with_require_os_run_unchanged() {
    let o = opts(
        "local os = require(\"os\")\nhs = {}\nhs.status = \"Healthy\"\nhs.message = \"checked at \" .. type(os.time())\nreturn hs",
    );
    let h = judge(&database(json!({}), json!({})), &o).expect("judged");
    assert_eq!((h.status, h.message.as_str()), (HealthStatus::Healthy, "checked at number"));
}

#[test]
fn a_syntax_error_is_rejected_at_load_with_the_files_line() {
    // The broken line is the script's third, the file's tenth.
    let text = file_with("hs = {}\nhs.status = \"Healthy\"\nif hs.status = \"x\" then end\nreturn hs");
    let e = HealthRules::parse(FILE, &text, &|_| Err("no files".into())).expect_err("a syntax error").0;
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].file.as_str(), e[0].line, e[0].field.as_str()), (FILE, 10, "spec.rules[0].lua"));
    assert!(e[0].message.starts_with("invalid Lua: 'then' expected near '='"), "{e:?}");
}

#[test]
fn runtime_errors_and_bad_returns_are_the_objects_error() {
    // Indexing a missing status is the commonest script bug.
    let e =
        judge(&database(json!({}), json!(null)), &opts("return { status = obj.status.phase }")).expect_err("nil index");
    assert!(e.message.starts_with("apps-of-apps/health.yaml:8: attempt to index a nil value"), "{e}");
    let cases = [
        ("return 42", "the script must return a table (hs), it returned integer"),
        ("return {}", "the script returned no hs.status"),
        (
            "return { status = \"Fine\" }",
            "hs.status \"Fine\" is not one of Healthy, Progressing, Degraded, Suspended, Missing, Unknown",
        ),
        ("error(\"boom\")", "apps-of-apps/health.yaml:8: boom"),
    ];
    for (script, want) in cases {
        let e = judge(&database(json!({}), json!({})), &opts(script)).expect_err(script);
        assert_eq!(e.message, want, "{script}");
    }
}

#[test]
fn the_sandbox_has_no_io_os_or_module_loading() {
    for (script, want) in [
        ("os.execute(\"touch /tmp/tidegate-pwned\")", "attempt to call a nil value (field 'execute')"),
        ("io.open(\"/etc/passwd\")", "attempt to index a nil value (global 'io')"),
        ("require(\"io\")", "module \"io\" is not available"),
        ("require(\"socket\")", "module \"socket\" is not available"),
        ("dofile(\"/etc/passwd\")", "attempt to call a nil value (global 'dofile')"),
        ("load(\"return 1\")()", "attempt to call a nil value (global 'load')"),
        ("loadstring(\"return 1\")()", "attempt to call a nil value (global 'loadstring')"),
        ("debug.getinfo(1)", "attempt to index a nil value (global 'debug')"),
        ("collectgarbage(\"stop\")", "attempt to call a nil value (global 'collectgarbage')"),
        ("package.loadlib(\"libc.so.6\", \"system\")", "attempt to index a nil value (global 'package')"),
        ("string.dump(print)", "attempt to call a nil value (field 'dump')"),
        ("os.exit(1)", "attempt to call a nil value (field 'exit')"),
        ("os.getenv(\"HOME\")", "attempt to call a nil value (field 'getenv')"),
    ] {
        let e = judge(&database(json!({}), json!({})), &opts(script)).expect_err(script);
        assert!(e.message.contains(want), "{script}: {}", e.message);
    }
    assert!(!std::path::Path::new("/tmp/tidegate-pwned").exists());
}

#[test]
fn a_runaway_script_is_stopped_within_its_time_budget() {
    for script in [
        "while true do end",
        // pcall must not swallow the stop.
        "while true do pcall(function() while true do end end) end",
        "local function f() return f() end return f()",
    ] {
        let started = Instant::now();
        let e = judge(&database(json!({}), json!({})), &opts(script)).expect_err(script);
        let took = started.elapsed();
        assert!(e.message.contains("stopped: the script ran longer than 200 ms"), "{script}: {e}");
        assert!(took < Duration::from_secs(2), "{script}: took {took:?}");
    }
}

#[test]
fn a_memory_bomb_is_stopped_at_the_memory_limit() {
    for script in [
        "local t = {} while true do t[#t + 1] = string.rep(\"x\", 1024 * 1024) .. #t end",
        "return string.rep(\"x\", 1024 * 1024 * 1024)",
        "local t = {} while true do pcall(function() t[#t + 1] = string.rep(\"y\", 1 << 20) .. #t end) end",
    ] {
        let started = Instant::now();
        let e = judge(&database(json!({}), json!({})), &opts(script)).expect_err(script);
        assert!(e.message.starts_with("stopped: "), "{script}: {e}");
        assert!(started.elapsed() < Duration::from_secs(2), "{script}");
    }
}

#[test]
fn a_faulty_rule_never_stops_the_other_objects_being_judged() {
    let o = opts("while true do end");
    let db = database(json!({}), json!({}));
    let h = assess(&db, &o);
    assert_eq!(h.status, HealthStatus::Progressing);
    assert!(h.message.contains("ran longer than"), "{h:?}");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    assert_eq!(assess(&cm, &o).message, "exists");
}

#[test]
fn evaluating_a_script_is_cheap() {
    let o = opts(DATABASE);
    let db = database(
        json!({"instances": 3}),
        json!({"readyInstances": 3, "conditions": [{"type": "Ready", "status": "True"}]}),
    );
    let started = Instant::now();
    for _ in 0..200 {
        judge(&db, &o).expect("judged");
    }
    let each = started.elapsed() / 200;
    eprintln!("one Lua evaluation: {each:?}");
    // A fresh state per evaluation; measured at well under a millisecond in debug builds.
    assert!(each < Duration::from_millis(5), "{each:?} per evaluation");
}
