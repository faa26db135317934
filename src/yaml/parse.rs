//! Builds JSON values from YAML text the way kustomize sees them: go-yaml v3 scalar resolution,
//! anchors and aliases expanded, merge keys (`<<`) applied, duplicate keys refused, and the line
//! of every document kept for error messages. go-yaml v3's bounds apply (see [`super::limits`]):
//! nesting deeper than [`MAX_DEPTH`] and excessive alias expansion are errors at their line, found
//! before anything deep or large is built.

use std::collections::HashMap;

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::limits::{AliasBudget, MAX_DEPTH, approx_bytes, depth, max_alias_bytes};
use super::resolve::{Dialect, Resolved, resolve_plain_in, to_json};

/// One document of a YAML stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document's content; `Value::Null` for an empty document.
    pub value: Value,
    /// 1-based line where the document's content starts.
    pub line: usize,
}

/// A YAML syntax or content error with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses every document of a YAML stream with go-yaml v3's rules (kustomize's resources).
pub fn parse_documents(text: &str) -> Result<Vec<Document>, ParseError> {
    parse_documents_in(text, Dialect::V3)
}

/// Parses every document of a YAML stream with the given dialect's scalar rules.
pub fn parse_documents_in(text: &str, dialect: Dialect) -> Result<Vec<Document>, ParseError> {
    // yaml-rust2 adds a line break to a block scalar that runs to the end of an input without
    // a final one; libyaml (go-yaml, kustomize) does not. Remembered to undo it.
    let eof_without_break = (!text.is_empty() && !text.ends_with(['\n', '\r'])).then(|| text.chars().count());
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        path: Vec::new(),
        dialect,
        eof_without_break,
        depth: 0,
        budget: AliasBudget::default(),
        alias_bytes: 0,
        max_alias_bytes: max_alias_bytes(text.len()),
    };
    let mut docs = Vec::new();
    loop {
        let (event, mark) = builder.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                // go-yaml counts per document, the document node included.
                builder.budget = AliasBudget::default();
                builder.budget.node();
                builder.anchors.clear();
                let (event, mark) = builder.next()?;
                let line = mark.line().max(1);
                let value = builder.node(event, mark)?;
                docs.push(Document { value, line });
            }
            other => return Err(error(mark, format!("unexpected {other:?} at top level"))),
        }
    }
    Ok(docs)
}

/// The first place where `text` breaks go-yaml v3's bounds (nesting deeper than [`MAX_DEPTH`],
/// excessive aliasing), if any; other syntax problems are left to the caller's own reader. For
/// files tidegate reads with serde_yaml (the root, the promotion policy), so that every YAML
/// file is held to the same bounds.
pub fn limits_error(text: &str) -> Option<ParseError> {
    match parse_documents(text) {
        Err(e) if e.message.contains("exceeded max depth") || e.message.contains("excessive aliasing") => Some(e),
        _ => None,
    }
}

/// Parses a stream that must hold exactly one document (an empty stream is `null`).
pub fn parse_single(text: &str) -> Result<Value, ParseError> {
    parse_single_in(text, Dialect::V3)
}

/// [`parse_single`] with the given dialect's scalar rules.
pub fn parse_single_in(text: &str, dialect: Dialect) -> Result<Value, ParseError> {
    let mut docs = parse_documents_in(text, dialect)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0).value),
        _ => Err(ParseError {
            line: docs[1].line,
            column: 1,
            message: "expected a single YAML document, found several".into(),
        }),
    }
}

/// An anchored value, with what expanding it costs.
struct Anchored {
    value: Value,
    /// Nodes decoded to build it (its own aliases expanded), as go-yaml counts them.
    nodes: u64,
    /// Its nesting depth.
    depth: usize,
    /// Roughly what a copy of it costs in memory.
    bytes: u64,
}

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    anchors: HashMap<usize, Anchored>,
    /// Keys (and `[]` for list items) from the document root to the node being built.
    path: Vec<String>,
    dialect: Dialect,
    /// The input's length in characters when it does not end with a line break.
    eof_without_break: Option<usize>,
    /// Collections open around the node being built.
    depth: usize,
    /// Nodes decoded in this document, and how many of them came from aliases.
    budget: AliasBudget,
    /// Bytes copied by alias expansion in this stream, and the most allowed.
    alias_bytes: u64,
    max_alias_bytes: u64,
}

fn error(mark: Marker, message: String) -> ParseError {
    ParseError { line: mark.line().max(1), column: mark.col() + 1, message }
}

impl Builder<'_> {
    /// True while building a value of an object's `metadata.annotations` (a document's own, or
    /// a `List` item's).
    fn in_object_annotations(&self) -> bool {
        match self.path.as_slice() {
            [m, a, _] => m == "metadata" && a == "annotations",
            [items, idx, m, a, _] => items == "items" && idx == "[]" && m == "metadata" && a == "annotations",
            _ => false,
        }
    }

    fn next(&mut self) -> Result<(Event, Marker), ParseError> {
        self.parser.next_token().map_err(|e| {
            let m = e.marker();
            let message = if e.info() == "recursion limit exceeded" {
                // yaml-rust2 counts flow levels in a byte; go-yaml would allow 10,000.
                "exceeded max depth of 255 for flow collections ([…] and {…}); nest deeper in block style, \
                 which may go 10000 levels deep as in kustomize"
                    .to_string()
            } else {
                e.info().to_string()
            };
            ParseError { line: m.line().max(1), column: m.col() + 1, message }
        })
    }

    fn node(&mut self, event: Event, mark: Marker) -> Result<Value, ParseError> {
        let decoded_before = self.budget.decoded;
        self.budget.node();
        let (value, anchor) = match event {
            Event::Scalar(mut text, style, anchor, tag) => {
                if matches!(style, TScalarStyle::Literal | TScalarStyle::Folded) && text.ends_with('\n') {
                    if let Some(end) = self.eof_without_break {
                        // The scalar ran to the end of the input when the next event is there.
                        if self.parser.peek().is_ok_and(|(_, m)| m.index() >= end) {
                            text.pop();
                        }
                    }
                }
                let value = if self.in_object_annotations() && tag.is_none() {
                    // kustomize reads metadata.annotations as strings, keeping the text as written.
                    Value::String(if style == TScalarStyle::Folded { fold_quirk(text) } else { text })
                } else if style == TScalarStyle::Folded {
                    scalar(&fold_quirk(text), style, tag.as_ref(), mark, self.dialect)?
                } else {
                    scalar(&text, style, tag.as_ref(), mark, self.dialect)?
                };
                (value, anchor)
            }
            Event::Alias(id) => {
                let anchored =
                    self.anchors.get(&id).ok_or_else(|| error(mark, "alias refers to an unknown anchor".into()))?;
                if self.depth + anchored.depth > MAX_DEPTH {
                    return Err(error(mark, format!("exceeded max depth of {MAX_DEPTH} (through an alias)")));
                }
                // The expansion is counted, and refused, before it is copied.
                if !self.budget.expand(anchored.nodes) {
                    return Err(error(mark, "document contains excessive aliasing".into()));
                }
                self.alias_bytes += anchored.bytes;
                if self.alias_bytes > self.max_alias_bytes {
                    return Err(error(
                        mark,
                        format!(
                            "document contains excessive aliasing: aliases copy more than {} MiB",
                            self.max_alias_bytes >> 20
                        ),
                    ));
                }
                return Ok(anchored.value.clone());
            }
            Event::SequenceStart(anchor, _) => {
                self.enter(mark)?;
                let mut items = Vec::new();
                self.path.push("[]".into());
                loop {
                    let (event, mark) = self.next()?;
                    if event == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(event, mark)?);
                }
                self.path.pop();
                self.depth -= 1;
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                self.enter(mark)?;
                let map = self.mapping()?;
                self.depth -= 1;
                (Value::Object(map), anchor)
            }
            other => return Err(error(mark, format!("unexpected {other:?}"))),
        };
        if anchor > 0 {
            let nodes = self.budget.decoded - decoded_before;
            let (depth, bytes) = (depth(&value), approx_bytes(&value));
            self.anchors.insert(anchor, Anchored { value: value.clone(), nodes, depth, bytes });
        }
        Ok(value)
    }

    /// Opens a collection, refusing one level too deep (go-yaml's "exceeded max depth").
    fn enter(&mut self, mark: Marker) -> Result<(), ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(error(mark, format!("exceeded max depth of {MAX_DEPTH}")));
        }
        self.depth += 1;
        Ok(())
    }

    fn mapping(&mut self) -> Result<Map<String, Value>, ParseError> {
        let mut map = Map::new();
        let mut merged: Vec<Map<String, Value>> = Vec::new();
        loop {
            let (event, key_mark) = self.next()?;
            if event == Event::MappingEnd {
                break;
            }
            let (key, is_merge) = match &event {
                Event::Scalar(text, style, anchor, _) => {
                    // go-yaml recognises the merge key by its text, not by resolution.
                    let is_merge = *style == TScalarStyle::Plain && text == "<<";
                    // Keys are used by their text (a map[string] in kustomize), never resolved.
                    self.budget.node();
                    if *anchor > 0 {
                        self.anchors.insert(
                            *anchor,
                            Anchored {
                                value: Value::String(text.clone()),
                                nodes: 1,
                                depth: 0,
                                bytes: 32 + text.len() as u64,
                            },
                        );
                    }
                    (text.clone(), is_merge)
                }
                Event::Alias(_) => match self.node(event.clone(), key_mark)? {
                    Value::String(s) => (s, false),
                    Value::Null => (String::new(), false),
                    other @ (Value::Bool(_) | Value::Number(_)) => (other.to_string(), false),
                    _ => return Err(error(key_mark, "mapping keys must be scalars".into())),
                },
                _ => return Err(error(key_mark, "mapping keys must be scalars".into())),
            };
            let (event, mark) = self.next()?;
            self.path.push(key.clone());
            let value = self.node(event, mark);
            self.path.pop();
            let value = value?;
            if is_merge {
                match value {
                    Value::Object(m) => merged.push(m),
                    Value::Array(items) => {
                        for item in items {
                            match item {
                                Value::Object(m) => merged.push(m),
                                _ => {
                                    return Err(error(
                                        mark,
                                        "merge key `<<` needs a mapping or a list of mappings".into(),
                                    ));
                                }
                            }
                        }
                    }
                    _ => return Err(error(mark, "merge key `<<` needs a mapping or a list of mappings".into())),
                }
                continue;
            }
            if map.contains_key(&key) {
                return Err(error(key_mark, format!("mapping key {key:?} already defined")));
            }
            map.insert(key, value);
        }
        // Explicit keys win over merged ones; among merged mappings the first wins.
        for m in merged {
            for (k, v) in m {
                map.entry(k).or_insert(v);
            }
        }
        Ok(map)
    }
}

/// go-yaml folds a `>` block differently from the YAML spec in one place: where a normal line
/// is followed (after any empty lines) by a more-indented line, it keeps one extra line break.
/// yaml-rust2 follows the spec, so add that break back.
fn fold_quirk(text: String) -> String {
    if !text.contains('\n') {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    let lines: Vec<&str> = text.split('\n').collect();
    // The most recent non-empty line, to know whether it was more-indented.
    let mut last_content: Option<&str> = None;
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            let more_indented = line.starts_with([' ', '\t']);
            let prev_normal = last_content.is_some_and(|l| !l.starts_with([' ', '\t']));
            if more_indented && prev_normal {
                out.push('\n');
            }
        }
        out.push_str(line);
        if !line.is_empty() {
            last_content = Some(line);
        }
    }
    out
}

fn core_tag(tag: &Tag) -> Option<&str> {
    if tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:" {
        Some(tag.suffix.as_str())
    } else {
        tag.suffix.strip_prefix("tag:yaml.org,2002:")
    }
}

fn scalar(
    text: &str,
    style: TScalarStyle,
    tag: Option<&Tag>,
    mark: Marker,
    dialect: Dialect,
) -> Result<Value, ParseError> {
    let quoted = style != TScalarStyle::Plain;
    let resolved = match tag.and_then(core_tag) {
        Some("str") | Some("binary") => Resolved::Str,
        Some(want @ ("int" | "float" | "bool" | "null")) => {
            let r = resolve_plain_in(text, dialect);
            let ok = matches!(
                (want, &r),
                ("int", Resolved::Int(_) | Resolved::Uint(_))
                    | ("float", Resolved::Float(_) | Resolved::Int(_) | Resolved::Uint(_))
                    | ("bool", Resolved::Bool(_))
                    | ("null", Resolved::Null)
            );
            if !ok {
                return Err(error(mark, format!("cannot decode {text:?} as !!{want}")));
            }
            r
        }
        _ if quoted => Resolved::Str,
        _ => resolve_plain_in(text, dialect),
    };
    to_json(resolved, text).map_err(|m| error(mark, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quoted_scalars_stay_strings_and_plain_ones_resolve() {
        let doc = parse_single("a: '012'\nb: 012\nc: \"yes\"\nd: yes\ne: 1e3\nf: ~\ng:\nh: 2001-12-14\n").unwrap();
        assert_eq!(
            doc,
            json!({"a": "012", "b": 10, "c": "yes", "d": "yes", "e": 1000, "f": null, "g": null, "h": "2001-12-14T00:00:00Z"})
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys_expand() {
        let doc = parse_single("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n").unwrap();
        assert_eq!(doc, json!({"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}, "list": [{"x": 1, "y": 2}]}));
    }

    #[test]
    fn documents_keep_their_lines_and_empty_ones_are_null() {
        let docs = parse_documents("---\na: 1\n---\n# only a comment\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].line, 2);
        assert_eq!(docs[1].value, Value::Null);
        assert_eq!(docs[2].value, json!({"b": 2}));
        assert_eq!(docs[2].line, 6);
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_name_the_line() {
        let err = parse_documents("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.line >= 2, "{err}");
        let err = parse_documents("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("already defined"), "{err}");
    }

    #[test]
    fn infinity_is_refused_like_kustomize_json_conversion() {
        let err = parse_documents("x: 1\ny: .inf\n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn folded_blocks_keep_go_yamls_extra_break_before_more_indented_lines() {
        let doc = parse_single("a: >\n  normal\n    more\n  back\nc: >\n  n1\n  n2\n\n    more\n\n  back\n").unwrap();
        assert_eq!(doc["a"], "normal\n\n  more\nback\n");
        assert_eq!(doc["c"], "n1 n2\n\n\n  more\n\nback\n");
    }

    #[test]
    fn annotation_values_keep_their_text() {
        let doc = parse_single("metadata:\n  annotations:\n    a: 0755\n    b: true\n  labels:\n    c: 2\nspec:\n  annotations:\n    d: 1\n").unwrap();
        assert_eq!(doc["metadata"]["annotations"], json!({"a": "0755", "b": "true"}));
        assert_eq!(doc["metadata"]["labels"]["c"], 2);
        assert_eq!(doc["spec"]["annotations"]["d"], 1);
    }

    #[test]
    fn yaml11_dialect_reads_old_booleans() {
        let doc = parse_single_in("a: on\nb: n\nc: 'yes'\n", Dialect::Yaml11).unwrap();
        assert_eq!(doc, json!({"a": true, "b": false, "c": "yes"}));
    }

    #[test]
    fn tags_force_types() {
        let doc = parse_single("a: !!str 12\nb: !!int \"12\"\n").unwrap();
        assert_eq!(doc, json!({"a": "12", "b": 12}));
    }
    /// `- - - … leaf` nested `levels` sequences deep under `key:` (a top mapping around it).
    fn nested(key: &str, levels: usize) -> String {
        format!("a: 1\n{key}:\n  {}leaf\n", "- ".repeat(levels))
    }

    #[test]
    fn nesting_up_to_go_yamls_limit_reads_and_one_more_is_refused_at_its_line() {
        use crate::yaml::limits::on_deep_stack;
        // The top mapping is level 1, so 9,999 sequences inside it make 10,000 levels.
        let doc = on_deep_stack(|| parse_single(&nested("spec", MAX_DEPTH - 1))).unwrap();
        assert_eq!(depth(&doc), MAX_DEPTH);
        crate::yaml::limits::drop_deep(doc);
        let err = on_deep_stack(|| parse_single(&nested("spec", MAX_DEPTH))).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(err.message.contains("exceeded max depth of 10000"), "{err}");
    }

    #[test]
    fn flow_nesting_past_the_readers_limit_is_a_clear_error() {
        let flow = format!("a: 1\nb: {}1{}\n", "[".repeat(300), "]".repeat(300));
        let err = parse_single(&flow).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.message.contains("exceeded max depth of 255 for flow collections"), "{err}");
    }

    #[test]
    fn aliases_cannot_nest_past_the_limit() {
        use crate::yaml::limits::on_deep_stack;
        let half = MAX_DEPTH / 2 + 10;
        let text = format!("x: &x\n  {}leaf\ny:\n  {}*x\n", "- ".repeat(half), "- ".repeat(half));
        let err = on_deep_stack(|| parse_single(&text)).unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        assert!(err.message.contains("exceeded max depth of 10000 (through an alias)"), "{err}");
    }

    #[test]
    fn billion_laughs_is_refused_before_it_is_expanded() {
        // Nine levels of nine aliases: 9^9 strings if expanded.
        let mut text =
            String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
        for w in names.windows(2) {
            text.push_str(&format!("{}: &{} [{}]\n", w[1], w[1], vec![format!("*{}", w[0]); 9].join(",")));
        }
        let started = std::time::Instant::now();
        let err = parse_single(&text).unwrap_err();
        assert!(err.message.contains("excessive aliasing"), "{err}");
        assert!(err.line >= 4, "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn aliases_of_long_strings_are_bounded_by_the_bytes_they_copy() {
        // Few nodes (go-yaml's ratio allows it) but each alias copies 1 MiB.
        let text = format!("a: &a {}\nb: [{}]\n", "x".repeat(1 << 20), vec!["*a"; 40].join(","));
        let err = parse_single(&text).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.message.contains("aliases copy more than"), "{err}");
    }

    #[test]
    fn ordinary_alias_use_is_allowed() {
        // A few aliases of a small anchor, as Helm-ish values files use them.
        let text = "defaults: &d {cpu: 1, memory: 2Gi}\na: *d\nb: *d\nc: {<<: *d, cpu: 2}\n";
        let doc = parse_single(text).unwrap();
        assert_eq!(doc["c"], json!({"cpu": 2, "memory": "2Gi"}));
        // Many aliases in a large document stay under the ratio.
        let mut big = String::from("base: &b [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nitems:\n");
        for i in 0..2000 {
            big.push_str(&format!("- {{name: n{i}, v: {i}, w: x, y: z}}\n"));
        }
        for _ in 0..50 {
            big.push_str("- *b\n");
        }
        assert!(parse_single(&big).is_ok());
    }
}
