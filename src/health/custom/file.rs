//! Reading [`HEALTH_RULES_FILE`](super::HEALTH_RULES_FILE): a `tidegate.dev/v1alpha1`
//! `HealthRules` document whose `spec.rules` list one entry per group/kind, each with `cel`
//! (Flux's `current`, `inProgress`, `failed`), `lua` (an inline script) or `luaFile` (a script
//! file, relative to the rules file's directory, inside the repository). Every problem is
//! reported with its file, line and field, not only the first.

use std::fmt;

use yaml_rust2::scanner::TScalarStyle;

use super::cel::{CelRule, FIELDS};
use super::lua::LuaRule;
use super::{Check, HEALTH_RULES_FILE, HealthRules, UserRule};
use crate::promote::located::{self, Kind, Node};
use crate::render::fs::{EntryKind, RepoPath, SourceTree};
use crate::render::read_text;

/// Reads a `luaFile` (a path relative to the rules file's directory): its repository path and
/// text, or why not.
pub type ReadScript<'a> = dyn Fn(&str) -> Result<(String, String), String> + 'a;

/// One problem in the rules file (or a script file it names).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct RuleFileError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The field, e.g. `spec.rules[2].cel.current`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleFileErrors(pub Vec<RuleFileError>);

impl fmt::Display for RuleFileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl HealthRules {
    /// Loads the repository's rules from [`HEALTH_RULES_FILE`] in `tree`: none when the file
    /// does not exist.
    pub fn load(tree: &dyn SourceTree) -> Result<HealthRules, RuleFileErrors> {
        let path = RepoPath::new(HEALTH_RULES_FILE).expect("constant path");
        let fail = |message: String| RuleFileErrors(vec![problem(HEALTH_RULES_FILE, 1, "file", message)]);
        match tree.kind(&path) {
            None => return Ok(HealthRules::none()),
            Some(EntryKind::Dir) => return Err(fail("is a directory; it must be a YAML file".into())),
            Some(EntryKind::File) => {}
        }
        let text = read_text(tree, &path).map_err(|e| fail(e.to_string()))?;
        let dir = path.parent();
        HealthRules::parse(HEALTH_RULES_FILE, &text, &|rel| {
            let file = dir.join(rel).map_err(|e| e.to_string())?;
            match tree.kind(&file) {
                Some(EntryKind::File) => {}
                Some(EntryKind::Dir) => return Err(format!("{file} is a directory")),
                None => return Err(format!("{file} does not exist")),
            }
            let text = read_text(tree, &file).map_err(|e| e.to_string())?;
            Ok((file.to_string(), text))
        })
    }

    /// Parses rules text as file `file`; `read_script` reads a `luaFile` (a path relative to the
    /// rules file's directory) and returns its repository path and text.
    pub fn parse(file: &str, text: &str, read_script: &ReadScript) -> Result<HealthRules, RuleFileErrors> {
        let one = |line, field: &str, message: String| RuleFileErrors(vec![problem(file, line, field, message)]);
        // The project's YAML reader refuses what go-yaml refuses (duplicate keys, …); the located
        // tree gives every field its line.
        let docs = crate::yaml::parse_documents(text)
            .map_err(|e| one(e.line, "file", format!("column {}: {}", e.column, e.message)))?;
        let located = located::parse(text).map_err(|e| one(e.line, "file", e.message))?;
        let roots: Vec<&Node> =
            located.docs.iter().zip(&docs).filter(|(_, d)| !d.value.is_null()).map(|(n, _)| n).collect();
        let [root] = roots.as_slice() else {
            return Err(one(1, "file", format!("expected one YAML document, found {}", roots.len())));
        };
        let mut l = Loader { file, errors: Vec::new(), rules: Vec::new(), declared: Vec::new(), read_script };
        l.document(root);
        if l.errors.is_empty() { Ok(HealthRules { rules: l.rules }) } else { Err(RuleFileErrors(l.errors)) }
    }
}

fn problem(file: &str, line: usize, field: &str, message: impl Into<String>) -> RuleFileError {
    RuleFileError { file: file.into(), line, field: field.into(), message: message.into() }
}

struct Loader<'a> {
    file: &'a str,
    errors: Vec<RuleFileError>,
    rules: Vec<UserRule>,
    /// Every group/kind declared so far, valid or not, with its line.
    declared: Vec<(String, String, usize)>,
    read_script: &'a ReadScript<'a>,
}

impl Loader<'_> {
    fn add(&mut self, node: &Node, field: &str, message: impl Into<String>) {
        self.errors.push(problem(self.file, node.line, field, message));
    }

    /// The entries of a mapping, reporting keys not in `allowed`.
    fn map<'n>(&mut self, node: &'n Node, field: &str, allowed: &[&str]) -> Option<&'n [(Node, Node)]> {
        let Kind::Map(entries) = &node.kind else {
            self.add(node, field, "must be a mapping");
            return None;
        };
        for (k, _) in entries {
            let name = k.scalar().unwrap_or_default();
            if !allowed.contains(&name) {
                let at = if field.is_empty() { name.to_string() } else { format!("{field}.{name}") };
                self.add(k, &at, format!("unknown field (known: {})", allowed.join(", ")));
            }
        }
        Some(entries)
    }

    fn string<'n>(&mut self, node: &'n Node, field: &str) -> Option<&'n str> {
        match node.scalar() {
            Some(s) => Some(s),
            None => {
                self.add(node, field, "must be a string");
                None
            }
        }
    }

    fn document(&mut self, root: &Node) {
        if self.map(root, "", &["apiVersion", "kind", "metadata", "spec"]).is_none() {
            return;
        }
        let api_version = root.get("apiVersion").and_then(Node::scalar).unwrap_or_default();
        let kind = root.get("kind").and_then(Node::scalar).unwrap_or_default();
        if api_version != "tidegate.dev/v1alpha1" || kind != "HealthRules" {
            self.add(
                root,
                "apiVersion/kind",
                format!("expected tidegate.dev/v1alpha1 HealthRules, found {api_version} {kind}"),
            );
        }
        let Some(spec) = root.get("spec") else {
            self.add(root, "spec", "is required (spec.rules lists the rules)");
            return;
        };
        if self.map(spec, "spec", &["rules"]).is_none() {
            return;
        }
        let Some(rules) = spec.get("rules") else {
            self.add(spec, "spec.rules", "is required");
            return;
        };
        let Kind::Seq(items) = &rules.kind else {
            self.add(rules, "spec.rules", "must be a list");
            return;
        };
        for (i, item) in items.iter().enumerate() {
            self.rule(item, &format!("spec.rules[{i}]"));
        }
    }

    fn rule(&mut self, node: &Node, field: &str) {
        let errors = self.errors.len();
        if self.map(node, field, &["group", "kind", "cel", "lua", "luaFile"]).is_none() {
            return;
        }
        let group = match node.get("group") {
            Some(g) => self.string(g, &format!("{field}.group")).unwrap_or_default().to_string(),
            None => {
                self.add(node, &format!("{field}.group"), "is required (\"\" for the core group)");
                String::new()
            }
        };
        let kind = match node.get("kind").map(|k| (k, k.scalar())) {
            Some((_, Some(k))) if !k.is_empty() => k.to_string(),
            Some((k, _)) => {
                self.add(k, &format!("{field}.kind"), "must be a non-empty string");
                String::new()
            }
            None => {
                self.add(node, &format!("{field}.kind"), "is required");
                String::new()
            }
        };
        let given: Vec<&str> = ["cel", "lua", "luaFile"].into_iter().filter(|k| node.get(k).is_some()).collect();
        if given.len() != 1 {
            let message =
                if given.is_empty() { "needs one of cel, lua, luaFile" } else { "give only one of cel, lua, luaFile" };
            self.add(node, field, message);
            return;
        }
        let (key, value) = (node.key(given[0]).expect("checked"), node.get(given[0]).expect("checked"));
        let check = match given[0] {
            "cel" => self.cel(key, value, &format!("{field}.cel")),
            "lua" => self.inline_lua(key, value, &format!("{field}.lua")),
            _ => self.lua_file(value, &format!("{field}.luaFile")),
        };
        if let Some((_, _, line)) = self.declared.iter().find(|(g, k, _)| *g == group && *k == kind) {
            let message = format!("a rule for {group}/{kind} is already declared at {}:{line}", self.file);
            self.add(node, field, message);
        } else {
            self.declared.push((group.clone(), kind.clone(), node.line));
        }
        if let (Some(check), true) = (check, self.errors.len() == errors) {
            let origin = format!("{}:{}", self.file, node.line);
            self.rules.push(UserRule { group, kind, origin, check });
        }
    }

    fn cel(&mut self, key: &Node, node: &Node, field: &str) -> Option<Check> {
        let allowed: Vec<&str> = FIELDS.iter().map(|(f, _)| *f).collect();
        self.map(node, field, &allowed)?;
        let mut exprs = Vec::new();
        for (name, _) in FIELDS {
            let Some(expr) = node.get(name) else { continue };
            match expr.scalar() {
                Some(s) if !s.trim().is_empty() => exprs.push((name, s.to_string(), expr.line)),
                _ => self.add(expr, &format!("{field}.{name}"), "must be a non-empty CEL expression"),
            }
        }
        if node.get("current").is_none() {
            self.add(key, &format!("{field}.current"), "is required (as in Flux: the expression that says healthy)");
            return None;
        }
        let sources: Vec<(&'static str, String)> = exprs.iter().map(|(n, s, _)| (*n, s.clone())).collect();
        match CelRule::compile(&sources) {
            Ok(rule) => Some(Check::Cel(rule)),
            Err((name, message)) => {
                let line = exprs.iter().find(|(n, _, _)| *n == name).map_or(node.line, |(_, _, l)| *l);
                self.errors.push(problem(
                    self.file,
                    line,
                    &format!("{field}.{name}"),
                    format!("invalid CEL: {message}"),
                ));
                None
            }
        }
    }

    fn inline_lua(&mut self, key: &Node, node: &Node, field: &str) -> Option<Check> {
        let script = self.string(node, field)?;
        // A block scalar (`lua: |`) starts on the line after its key.
        let first_line = match &node.kind {
            Kind::Scalar { style: TScalarStyle::Literal | TScalarStyle::Folded, .. } => key.line + 1,
            _ => node.line,
        };
        match LuaRule::load(self.file, first_line, script) {
            Ok(rule) => Some(Check::Lua(rule)),
            Err(message) => {
                let (line, message) = lua_line(&message, self.file).unwrap_or((node.line, &message));
                self.errors.push(problem(self.file, line, field, format!("invalid Lua: {message}")));
                None
            }
        }
    }

    fn lua_file(&mut self, node: &Node, field: &str) -> Option<Check> {
        let rel = self.string(node, field)?;
        let (path, text) = match (self.read_script)(rel) {
            Ok(found) => found,
            Err(message) => {
                self.add(node, field, message);
                return None;
            }
        };
        match LuaRule::load(&path, 1, &text) {
            Ok(rule) => Some(Check::Lua(rule)),
            Err(message) => {
                let (line, message) = lua_line(&message, &path).unwrap_or((1, &message));
                self.errors.push(problem(&path, line, field, format!("invalid Lua: {message}")));
                None
            }
        }
    }
}

/// The line a Lua message (`file:LINE: …`) names, and the message without that prefix.
fn lua_line<'m>(message: &'m str, file: &str) -> Option<(usize, &'m str)> {
    let (line, rest) = message.strip_prefix(file)?.strip_prefix(':')?.split_once(':')?;
    Some((line.parse().ok()?, rest.trim_start()))
}

impl fmt::Display for HealthRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.rules.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}
