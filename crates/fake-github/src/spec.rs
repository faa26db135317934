//! The vendored subset of GitHub's OpenAPI description (`openapi/subset.json`): route
//! matching against path templates, and validation of path/query parameters and JSON bodies.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::schema::{self, SchemaError};

/// The committed subset, compiled into the crate.
pub(crate) const SUBSET_JSON: &str = include_str!("../openapi/subset.json");

/// One operation of the subset.
pub(crate) struct Operation {
    /// `GET /repos/{owner}/{repo}`.
    pub key: String,
    /// `pulls/create`.
    pub id: String,
    method: String,
    regex: Regex,
    names: Vec<String>,
    literal_len: usize,
}

/// The loaded subset.
pub(crate) struct Spec {
    /// The whole subset document (`$ref`s resolve against it).
    pub root: Value,
    ops: Vec<Operation>,
    /// Every `METHOD template` of the full description, as matchers.
    all: Vec<(String, Regex, String)>,
}

/// A request matched to an operation.
pub(crate) struct Matched<'a> {
    /// The operation.
    pub op: &'a Operation,
    /// Decoded path parameters.
    pub params: BTreeMap<String, String>,
}

/// Why no operation matched.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoMatch {
    /// The full description has no such route: real GitHub answers 404 too.
    NotGitHub,
    /// GitHub has this route, but the fake does not serve it.
    NotServed(String),
}

/// The spec, parsed once.
pub(crate) fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec::parse(SUBSET_JSON))
}

/// Regex for a path template; `multi` names parameters that may span several segments.
fn template_regex(template: &str, multi: &[String]) -> (Regex, Vec<String>, usize) {
    let mut re = String::from("^");
    let mut names = Vec::new();
    let mut literal = 0;
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e);
        re.push_str(&regex::escape(&rest[..start]));
        literal += start;
        let name = &rest[start + 1..end];
        re.push_str(if multi.iter().any(|m| m == name) { "(.+)" } else { "([^/]+)" });
        names.push(name.to_string());
        rest = &rest[(end + 1).min(rest.len())..];
    }
    literal += rest.len();
    re.push_str(&regex::escape(rest));
    re.push('$');
    (Regex::new(&re).expect("path template regex"), names, literal)
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Spec {
    fn parse(text: &str) -> Spec {
        let root: Value = serde_json::from_str(text).expect("openapi/subset.json is JSON");
        let mut ops = Vec::new();
        for (key, op) in root["operations"].as_object().expect("operations") {
            let (method, template) = key.split_once(' ').expect("METHOD /path");
            let multi: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["x-multi-segment"] == Value::Bool(true))
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect();
            let (regex, names, literal_len) = template_regex(template, &multi);
            ops.push(Operation {
                key: key.clone(),
                id: op["operationId"].as_str().unwrap_or_default().to_string(),
                method: method.to_string(),
                regex,
                names,
                literal_len,
            });
        }
        let all = root["all_operations"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, multi)| {
                let (m, t) = k.split_once(' ')?;
                let multi: Vec<String> =
                    multi.as_array()?.iter().filter_map(Value::as_str).map(str::to_string).collect();
                Some((m.to_string(), template_regex(t, &multi).0, t.to_string()))
            })
            .collect();
        Spec { root, ops, all }
    }

    /// The operation's description in the subset.
    pub fn operation(&self, key: &str) -> &Value {
        &self.root["operations"][key]
    }

    /// The operation serving `method` `raw_path` (still percent-encoded). Like GitHub, a POST
    /// is accepted where only a PATCH exists (octocrab updates comments that way).
    pub fn find(&self, method: &str, raw_path: &str) -> Result<Matched<'_>, NoMatch> {
        match self.find_exact(method, raw_path) {
            Err(e) if method == "POST" => self.find_exact("PATCH", raw_path).map_err(|_| e),
            other => other,
        }
    }

    fn find_exact(&self, method: &str, raw_path: &str) -> Result<Matched<'_>, NoMatch> {
        let best = self
            .ops
            .iter()
            .filter(|op| op.method == method)
            .filter_map(|op| op.regex.captures(raw_path).map(|c| (op, c)))
            .max_by_key(|(op, _)| op.literal_len);
        if let Some((op, caps)) = best {
            let params = op
                .names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), percent_decode(caps.get(i + 1).map_or("", |m| m.as_str()))))
                .collect();
            return Ok(Matched { op, params });
        }
        match self.all.iter().find(|(m, t, _)| m == method && t.is_match(raw_path)) {
            Some((m, _, template)) => Err(NoMatch::NotServed(format!("{m} {template}"))),
            None => Err(NoMatch::NotGitHub),
        }
    }

    /// Checks path and query parameters: required ones present, types and enums.
    pub fn check_params(&self, m: &Matched, query: &BTreeMap<String, String>) -> Vec<SchemaError> {
        let mut errors = Vec::new();
        for p in self.operation(&m.op.key)["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or_default();
            let value = match p["in"].as_str() {
                Some("path") => m.params.get(name),
                Some("query") => query.get(name),
                _ => continue,
            };
            let Some(raw) = value else {
                if p["required"] == Value::Bool(true) {
                    errors.push(SchemaError { pointer: String::new(), reason: format!("\"{name}\" wasn't supplied.") });
                }
                continue;
            };
            let typed = coerce(raw, &p["schema"]);
            for mut e in schema::validate(&self.root, &p["schema"], &typed) {
                e.pointer = format!("/{name}{}", e.pointer);
                errors.push(e);
            }
        }
        errors
    }

    /// Checks a JSON body against the operation's `requestBody` schema.
    pub fn check_body(&self, m: &Matched, body: Option<&Value>) -> Vec<SchemaError> {
        let rb = &self.operation(&m.op.key)["requestBody"];
        if rb.is_null() {
            return Vec::new();
        }
        let schema = &rb["content"]["application/json"]["schema"];
        match body {
            None if rb["required"] == Value::Bool(true) => {
                vec![SchemaError { pointer: String::new(), reason: "A request body is required.".into() }]
            }
            None => Vec::new(),
            Some(b) => schema::validate(&self.root, schema, b),
        }
    }

    /// The response schema for `status`, if the operation declares one.
    pub fn response_schema(&self, key: &str, status: u16) -> Option<&Value> {
        let s = &self.operation(key)["responses"][status.to_string()]["content"]["application/json"]["schema"];
        (!s.is_null()).then_some(s)
    }

    /// The first example response for `status`.
    pub fn example(&self, key: &str, status: u16) -> Option<Value> {
        let examples = self.operation(key)["responses"][status.to_string()]["content"]["application/json"]["examples"]
            .as_object()?;
        examples.values().next().map(|e| e["value"].clone())
    }

    /// The documentation URL of the operation.
    pub fn docs(&self, key: &str) -> String {
        self.operation(key)["documentation_url"].as_str().unwrap_or("https://docs.github.com/rest").to_string()
    }
}

/// Interprets a path or query string as the parameter's schema type.
fn coerce(raw: &str, schema: &Value) -> Value {
    match schema["type"].as_str() {
        Some("integer") => raw.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(raw.into())),
        Some("number") => raw.parse::<f64>().map(Value::from).unwrap_or_else(|_| Value::String(raw.into())),
        Some("boolean") => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(raw.into()),
        },
        _ => Value::String(raw.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_templates_with_multi_segment_parameters() {
        let s = spec();
        let m = s.find("GET", "/repos/o/r/git/ref/heads/feature/x").unwrap();
        assert_eq!(m.op.id, "git/get-ref");
        assert_eq!(m.params["ref"], "heads/feature/x");
        let m = s.find("GET", "/repos/o/r/commits/heads/main/status").unwrap();
        assert_eq!(m.params["ref"], "heads/main");
        let m = s.find("GET", "/repos/o/r/contents/overlays/dev/kustomization.yaml").unwrap();
        assert_eq!(m.params["path"], "overlays/dev/kustomization.yaml");
        let m = s.find("PATCH", "/repos/o/r/issues/comments/7").unwrap();
        assert_eq!(m.op.id, "issues/update-comment");
        assert!(matches!(s.find("GET", "/repos/o/r/issues"), Err(NoMatch::NotServed(_))));
        assert_eq!(s.find("GET", "/nope").err(), Some(NoMatch::NotGitHub));
    }

    #[test]
    fn parameters_are_typed() {
        let s = spec();
        let m = s.find("GET", "/repos/o/r/pulls/abc").unwrap();
        assert_eq!(s.check_params(&m, &BTreeMap::new()).len(), 1);
        let m = s.find("GET", "/repos/o/r/pulls").unwrap();
        let q = BTreeMap::from([("state".to_string(), "bogus".to_string())]);
        assert_eq!(s.check_params(&m, &q)[0].pointer, "/state");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%20c%"), "a/b c%");
    }
}
