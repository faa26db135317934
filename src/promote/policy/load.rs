//! Reading and validating the policy file: serde structures with `deny_unknown_fields`, read
//! level by level so that one bad block does not hide the problems of the others.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value as Yaml;

use super::{AppOverride, Mode, POLICY_FILE, Policy, PolicyError, PolicyErrors, TargetOverride, TargetPolicy};
use crate::chatops::Permission;
use crate::gates::spec::{GatePolicy, PrometheusGateSpec, WindowSpec};
use crate::render::fs::{EntryKind, RepoPath, SourceTree};
use crate::render::kustomization::did_you_mean;
use crate::render::read_text;
use crate::repo::Repository;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyFile {
    api_version: String,
    kind: String,
    #[serde(default)]
    metadata: MetadataFile,
    #[serde(default)]
    spec: Yaml,
}

#[derive(Debug, Deserialize, Default)]
struct MetadataFile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecFile {
    #[serde(default)]
    pipeline: Option<Vec<String>>,
    #[serde(default)]
    prometheus: Option<PrometheusFile>,
    #[serde(default)]
    labels: Option<Vec<String>>,
    #[serde(default)]
    environments: BTreeMap<String, Yaml>,
    #[serde(default)]
    apps: BTreeMap<String, Yaml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrometheusFile {
    #[serde(default)]
    address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    soak: Option<Yaml>,
    #[serde(default)]
    permission: Option<String>,
    #[serde(default)]
    gates: Option<GatesFile>,
    #[serde(default)]
    windows: Option<Vec<Yaml>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatesFile {
    #[serde(default)]
    prometheus: Vec<Yaml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppFile {
    #[serde(default)]
    promote: Option<bool>,
    #[serde(default)]
    environments: BTreeMap<String, Yaml>,
}

/// Collects problems while loading.
struct Problems<'a> {
    file: &'a str,
    list: Vec<PolicyError>,
}

impl Problems<'_> {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.list.push(PolicyError { file: self.file.into(), field: field.into(), message: message.into() });
    }
}

impl Policy {
    /// Loads [`POLICY_FILE`] from `tree`, validated against `repo`; the default policy when the
    /// file does not exist.
    pub fn load(tree: &dyn SourceTree, repo: &Repository) -> Result<Policy, PolicyErrors> {
        let path = RepoPath::new(POLICY_FILE).map_err(|e| one(POLICY_FILE, "path", e.to_string()))?;
        match tree.kind(&path) {
            None => return Ok(Policy::default_for(repo)),
            Some(EntryKind::Dir) => return Err(one(POLICY_FILE, "file", "is a directory; it must be a YAML file")),
            Some(EntryKind::File) => {}
        }
        let text = read_text(tree, &path).map_err(|e| one(POLICY_FILE, "file", e.to_string()))?;
        Policy::parse(&text, repo)
    }

    /// Parses and validates policy text (the content of [`POLICY_FILE`]).
    pub fn parse(text: &str, repo: &Repository) -> Result<Policy, PolicyErrors> {
        let mut p = Problems { file: POLICY_FILE, list: Vec::new() };
        if text.trim().is_empty() {
            return Err(one(
                POLICY_FILE,
                "file",
                "is empty; delete it to use the default policy (see docs/promotion-policy.md)",
            ));
        }
        if let Some(e) = crate::yaml::limits_error(text) {
            return Err(one(POLICY_FILE, format!("line {}, column {}", e.line, e.column), e.message));
        }
        let file: PolicyFile = match serde_yaml::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                let field =
                    e.location().map_or("file".to_string(), |l| format!("line {}, column {}", l.line(), l.column()));
                return Err(one(POLICY_FILE, field, strip_location(&e.to_string())));
            }
        };
        if file.api_version != "tidegate.dev/v1alpha1" || file.kind != "PromotionPolicy" {
            p.add(
                "apiVersion/kind",
                format!("expected tidegate.dev/v1alpha1 PromotionPolicy, found {} {}", file.api_version, file.kind),
            );
        }
        let spec: SpecFile = if file.spec.is_null() {
            SpecFile::default()
        } else {
            match serde_yaml::from_value(file.spec) {
                Ok(s) => s,
                Err(e) => {
                    p.add("spec", e.to_string());
                    return Err(PolicyErrors(p.list));
                }
            }
        };
        let mut policy = Policy::default_for(repo);
        policy.name = file.metadata.name;
        policy.from_file = true;
        // With a broken pipeline, targets are checked against the root's environments only, so
        // that one mistake in `pipeline` is not reported again for every environment.
        let mut targets_pipeline = policy.pipeline.clone();
        if let Some(pipeline) = &spec.pipeline {
            let before = p.list.len();
            policy.pipeline = check_pipeline(&mut p, pipeline, repo);
            if p.list.len() == before {
                targets_pipeline = policy.pipeline.clone();
            }
        }
        if let Some(prom) = spec.prometheus {
            if let Some(address) = &prom.address {
                check_address(&mut p, "spec.prometheus.address", address);
            }
            policy.prometheus_address = prom.address;
        }
        if let Some(labels) = spec.labels {
            check_labels(&mut p, &labels);
            policy.labels = labels;
        }
        for (env, value) in spec.environments {
            let field = format!("spec.environments.{env}");
            if !check_target_env(&mut p, &field, &env, &targets_pipeline, repo) {
                continue;
            }
            if let Some(o) = parse_target(&mut p, &field, value, policy.prometheus_address.as_deref()) {
                policy.environments.insert(env, o.over(&TargetPolicy::default()));
            }
        }
        for (app, value) in spec.apps {
            let field = format!("spec.apps.{app}");
            let Some(the_app) = repo.app(&app) else {
                p.add(&field, format!("unknown app {app:?}; {}", repo.suggest_app(&app)));
                continue;
            };
            let parsed: AppFile = match serde_yaml::from_value(value) {
                Ok(a) => a,
                Err(e) => {
                    p.add(&field, e.to_string());
                    continue;
                }
            };
            let mut over = AppOverride { promote: parsed.promote, environments: BTreeMap::new() };
            for (env, value) in parsed.environments {
                let field = format!("{field}.environments.{env}");
                if !check_target_env(&mut p, &field, &env, &targets_pipeline, repo) {
                    continue;
                }
                if !the_app.environments.contains(&env) {
                    p.add(&field, format!("app {app} is not deployed to {env} (see {})", the_app.origin.file));
                    continue;
                }
                if let Some(o) = parse_target(&mut p, &field, value, policy.prometheus_address.as_deref()) {
                    over.environments.insert(env, o);
                }
            }
            policy.apps.insert(app, over);
        }
        if p.list.is_empty() { Ok(policy) } else { Err(PolicyErrors(p.list)) }
    }
}

fn one(file: &str, field: impl Into<String>, message: impl Into<String>) -> PolicyErrors {
    PolicyErrors(vec![PolicyError { file: file.into(), field: field.into(), message: message.into() }])
}

fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn hint<'a>(name: &str, known: impl Iterator<Item = &'a str> + Clone) -> String {
    let all: Vec<&str> = known.clone().collect();
    match did_you_mean(name, known) {
        Some(s) => format!("did you mean {s:?}? (known: {})", all.join(", ")),
        None => format!("known: {}", all.join(", ")),
    }
}

fn check_pipeline(p: &mut Problems<'_>, pipeline: &[String], repo: &Repository) -> Vec<String> {
    let root: Vec<&str> = repo.environments.iter().map(|e| e.name.as_str()).collect();
    let mut out: Vec<String> = Vec::new();
    for (i, env) in pipeline.iter().enumerate() {
        let field = format!("spec.pipeline[{i}]");
        if !root.contains(&env.as_str()) {
            p.add(field, format!("unknown environment {env:?}; {}", repo.suggest_environment(env)));
        } else if out.contains(env) {
            p.add(field, format!("{env} is listed twice; a pipeline cannot return to an environment"));
        } else if let Some(last) = out.last().filter(|l| position(&root, l) > position(&root, env)) {
            p.add(
                field,
                format!(
                    "{env} comes after {last}, but the root lists {env} first (spec.environments of apps-of-apps/root.yaml is the promotion order)"
                ),
            );
        } else {
            out.push(env.clone());
        }
    }
    if pipeline.len() < 2 {
        p.add("spec.pipeline", "needs at least two environments (a source and a target)");
    }
    out
}

fn position(list: &[&str], name: &str) -> usize {
    list.iter().position(|e| *e == name).unwrap_or(usize::MAX)
}

fn check_address(p: &mut Problems<'_>, field: &str, address: &str) {
    if !(address.starts_with("http://") || address.starts_with("https://")) || address.len() <= "https://".len() {
        p.add(field, format!("invalid address {address:?} (use e.g. http://prometheus.monitoring:9090)"));
    }
}

fn check_labels(p: &mut Problems<'_>, labels: &[String]) {
    for (i, label) in labels.iter().enumerate() {
        let field = format!("spec.labels[{i}]");
        if label.trim().is_empty() {
            p.add(field, "a label cannot be empty");
        } else if label.chars().count() > 50 {
            p.add(field, format!("label {label:?} is longer than GitHub's 50 characters"));
        } else if labels[..i].contains(label) {
            p.add(field, format!("label {label:?} is listed twice"));
        }
    }
}

/// Checks that `env` can be a promotion target; reports and returns false if not.
fn check_target_env(p: &mut Problems<'_>, field: &str, env: &str, pipeline: &[String], repo: &Repository) -> bool {
    if repo.environment(env).is_none() {
        p.add(field, format!("unknown environment {env:?}; {}", repo.suggest_environment(env)));
        false
    } else if !pipeline.iter().any(|e| e == env) {
        p.add(field, format!("{env} is not in the pipeline ({}), so nothing is promoted to it", pipeline.join(", ")));
        false
    } else if pipeline.first().is_some_and(|e| e == env) {
        p.add(
            field,
            format!("{env} is the first environment of the pipeline; nothing is promoted to it (CI writes its tags)"),
        );
        false
    } else {
        true
    }
}

fn parse_duration(p: &mut Problems<'_>, field: &str, value: &Yaml) -> Option<Duration> {
    let text = match value {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        _ => {
            p.add(field, "must be a duration such as 90s, 10m or 1h");
            return None;
        }
    };
    match crate::gates::duration::parse(&text) {
        Ok(d) => Some(d),
        Err(e) => {
            p.add(field, format!("invalid duration {text:?}: {e}"));
            None
        }
    }
}

/// Parses one target environment block (an environment's or an app's override). Returns `None`
/// after reporting when it has problems.
fn parse_target(
    p: &mut Problems<'_>,
    field: &str,
    value: Yaml,
    default_address: Option<&str>,
) -> Option<TargetOverride> {
    let start = p.list.len();
    if value.is_null() {
        return Some(TargetOverride::default());
    }
    let t: TargetFile = match serde_yaml::from_value(value) {
        Ok(t) => t,
        Err(e) => {
            p.add(field, e.to_string());
            return None;
        }
    };
    let mut o = TargetOverride::default();
    if let Some(mode) = &t.mode {
        match mode.as_str() {
            "auto" => o.mode = Some(Mode::Auto),
            "manual" => o.mode = Some(Mode::Manual),
            other => p.add(format!("{field}.mode"), format!("invalid mode {other:?} (use auto or manual)")),
        }
    }
    if let Some(soak) = &t.soak {
        o.soak = parse_duration(p, &format!("{field}.soak"), soak);
    }
    if let Some(perm) = &t.permission {
        match Permission::parse(perm) {
            Some(Permission::None) | None => p.add(
                format!("{field}.permission"),
                format!("invalid permission {perm:?} (use read, triage, write, maintain or admin)"),
            ),
            Some(perm) => o.permission = Some(perm),
        }
    }
    if let Some(gates) = t.gates {
        let mut specs = Vec::new();
        for (i, item) in gates.prometheus.into_iter().enumerate() {
            let field = format!("{field}.gates.prometheus[{i}]");
            match serde_yaml::from_value::<PrometheusGateSpec>(item) {
                Ok(spec) => {
                    check_prometheus(p, &field, &spec, &specs);
                    specs.push(spec);
                }
                Err(e) => p.add(field, e.to_string()),
            }
        }
        o.prometheus = Some(specs);
    }
    if let Some(windows) = t.windows {
        let mut specs = Vec::new();
        for (i, item) in windows.into_iter().enumerate() {
            let field = format!("{field}.windows[{i}]");
            match serde_yaml::from_value::<WindowSpec>(item) {
                Ok(spec) => {
                    if spec.schedule.trim().is_empty() {
                        p.add(format!("{field}.schedule"), "a window needs a cron schedule, e.g. \"0 9 * * 1-4\"");
                    }
                    let duration =
                        parse_duration(p, &format!("{field}.duration"), &Yaml::String(spec.duration.clone()));
                    if duration.is_some_and(|d| d.is_zero()) {
                        p.add(format!("{field}.duration"), "a window must stay open for more than 0s");
                    }
                    specs.push(spec);
                }
                Err(e) => p.add(field, e.to_string()),
            }
        }
        o.windows = Some(specs);
    }
    if p.list.len() > start {
        return None;
    }
    // Syntax the gates module owns (conditions, cron schedules, time zones): checked only when
    // the fields above are sound, so that a problem is not reported twice.
    let gate_policy = GatePolicy {
        prometheus: o.prometheus.clone().unwrap_or_default(),
        prometheus_address: default_address.map(str::to_string),
        windows: o.windows.clone().unwrap_or_default(),
        ..GatePolicy::default()
    };
    for problem in crate::gates::validate(&gate_policy) {
        p.add(field, problem);
    }
    (p.list.len() == start).then_some(o)
}

/// Template placeholders a query may use.
const PLACEHOLDERS: &[&str] = &["app", "env", "namespace", "target"];

fn check_prometheus(p: &mut Problems<'_>, field: &str, spec: &PrometheusGateSpec, earlier: &[PrometheusGateSpec]) {
    if spec.name.trim().is_empty() {
        p.add(format!("{field}.name"), "a gate needs a name (shown in the pull request's evidence)");
    } else if earlier.iter().any(|e| e.name == spec.name) {
        p.add(format!("{field}.name"), format!("gate name {:?} is used twice in this list", spec.name));
    }
    if spec.query.trim().is_empty() {
        p.add(format!("{field}.query"), "the query is empty");
    }
    let mut rest = spec.query.as_str();
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            p.add(format!("{field}.query"), "unclosed {{ in the query");
            break;
        };
        let name = after[..close].trim();
        if !PLACEHOLDERS.contains(&name) {
            p.add(
                format!("{field}.query"),
                format!("unknown placeholder {{{{{name}}}}}; {}", hint(name, PLACEHOLDERS.iter().copied())),
            );
        }
        rest = &after[close + 2..];
    }
    if spec.success_condition.trim().is_empty() {
        p.add(format!("{field}.successCondition"), "the condition is empty (e.g. result < 0.05)");
    }
    if spec.count == Some(0) {
        p.add(format!("{field}.count"), "count must be at least 1");
    }
    if let Some(interval) = &spec.interval {
        let d = parse_duration(p, &format!("{field}.interval"), &Yaml::String(interval.clone()));
        if d.is_some_and(|d| d.is_zero()) {
            p.add(format!("{field}.interval"), "the interval must be more than 0s");
        }
    }
    if let Some(address) = &spec.address {
        check_address(p, &format!("{field}.address"), address);
    }
}
