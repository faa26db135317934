//! A YAML tree that remembers where every scalar is written, so an edit can replace exactly
//! one value and leave every other byte of a person's file alone.
//!
//! yaml-rust2's events carry a start marker (line, column in characters); the end of a scalar
//! is found here by scanning the text with the scalar's style. Marker indices are not used
//! directly: they count characters, and in block scalars the scanner adds bytes instead, so the
//! byte offset is computed from the line and column, which stay reliable.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A node of a located YAML document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// What it is.
    pub kind: Kind,
    /// Byte offset of its first character (a quote for quoted scalars, `{`/`[` for flow
    /// collections, the first key or `-` for block ones).
    pub start: usize,
    /// Byte offset just past a scalar or alias; equal to `start` for collections.
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
    /// 0-based column of `start`, in characters.
    pub col: usize,
    /// True inside (or for) a flow collection.
    pub flow: bool,
}

/// The node's content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A scalar: its value, style and anchor id (0 for none).
    Scalar { value: String, style: TScalarStyle, anchor: usize },
    /// An alias to the anchor id.
    Alias(usize),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in written order.
    Map(Vec<(Node, Node)>),
}

/// A located document plus the anchor ids that aliases refer to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Located {
    /// The documents' root nodes.
    pub docs: Vec<Node>,
    /// Anchor ids referred to by at least one alias.
    pub aliased: Vec<usize>,
}

/// A syntax problem, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl Node {
    /// The value of a scalar node.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The value of `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.scalar() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key node of `key` in a mapping node.
    pub fn key(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.scalar() == Some(key)).map(|(k, _)| k),
            _ => None,
        }
    }
}

/// Byte offsets of the start of every line, the way the scanner counts lines (`\n`, `\r\n` and a
/// lone `\r` each end a line).
fn line_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            starts.push(i + 1);
        }
    }
    starts
}

struct Walker<'a> {
    text: &'a str,
    base: usize,
    parser: Parser<std::str::Chars<'a>>,
    lines: Vec<usize>,
    aliased: Vec<usize>,
}

/// Parses `text` into located documents. A leading byte-order mark is skipped (offsets still
/// refer to `text`).
pub(crate) fn parse(text: &str) -> Result<Located, SyntaxError> {
    let base = if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
    let body = &text[base..];
    let mut w =
        Walker { text: body, base, parser: Parser::new_from_str(body), lines: line_starts(body), aliased: Vec::new() };
    let mut docs = Vec::new();
    loop {
        match w.next()?.0 {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                let (event, mark) = w.next()?;
                docs.push(w.node(event, mark, false)?);
            }
            _ => {}
        }
    }
    Ok(Located { docs, aliased: w.aliased })
}

impl Walker<'_> {
    fn next(&mut self) -> Result<(Event, Marker), SyntaxError> {
        self.parser.next_token().map_err(|e| SyntaxError { line: e.marker().line().max(1), message: e.info().into() })
    }

    /// Byte offset (into the body) of a marker.
    fn offset(&self, mark: Marker) -> Result<usize, SyntaxError> {
        let bad = || SyntaxError { line: mark.line(), message: "cannot locate a YAML node in the text".into() };
        let start = *self.lines.get(mark.line().checked_sub(1).ok_or_else(bad)?).ok_or_else(bad)?;
        let rest = &self.text[start..];
        match rest.char_indices().nth(mark.col()) {
            Some((i, _)) => Ok(start + i),
            None if rest.chars().count() == mark.col() => Ok(self.text.len()),
            None => Err(bad()),
        }
    }

    fn node(&mut self, event: Event, mark: Marker, flow: bool) -> Result<Node, SyntaxError> {
        let start = self.offset(mark)?;
        let at = |n: Kind, end: usize, flow: bool, base: usize| Node {
            kind: n,
            start: base + start,
            end: base + end,
            line: mark.line(),
            col: mark.col(),
            flow,
        };
        match event {
            Event::Scalar(value, style, anchor, _) => {
                let end = scalar_end(self.text, start, style, flow);
                Ok(at(Kind::Scalar { value, style, anchor }, end, flow, self.base))
            }
            Event::Alias(id) => {
                self.aliased.push(id);
                let end = alias_end(self.text, start);
                Ok(at(Kind::Alias(id), end, flow, self.base))
            }
            Event::SequenceStart(..) => {
                let flow = flow || self.text[start..].starts_with('[');
                let mut items = Vec::new();
                loop {
                    let (event, mark) = self.next()?;
                    if event == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(event, mark, flow)?);
                }
                Ok(at(Kind::Seq(items), start, flow, self.base))
            }
            Event::MappingStart(..) => {
                let flow = flow || self.text[start..].starts_with('{');
                let mut entries = Vec::new();
                loop {
                    let (event, mark) = self.next()?;
                    if event == Event::MappingEnd {
                        break;
                    }
                    let key = self.node(event, mark, flow)?;
                    let (event, mark) = self.next()?;
                    let value = self.node(event, mark, flow)?;
                    entries.push((key, value));
                }
                Ok(at(Kind::Map(entries), start, flow, self.base))
            }
            other => Err(SyntaxError { line: mark.line(), message: format!("unexpected YAML event {other:?}") }),
        }
    }
}

/// Where a scalar that starts at `start` ends (exclusive), by its style. For a plain scalar this
/// is the end of its first line's content; callers compare the slice with the value to detect
/// (unsupported) multi-line plain scalars. Block scalars report `start`.
fn scalar_end(text: &str, start: usize, style: TScalarStyle, flow: bool) -> usize {
    let rest = &text[start..];
    match style {
        TScalarStyle::DoubleQuoted => {
            let mut escaped = false;
            for (i, c) in rest.char_indices().skip(1) {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => return start + i + 1,
                    _ => {}
                }
            }
            text.len()
        }
        TScalarStyle::SingleQuoted => {
            let bytes = rest.as_bytes();
            let mut i = 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return start + i + 1;
                }
                i += 1;
            }
            text.len()
        }
        TScalarStyle::Plain => {
            let bytes = rest.as_bytes();
            let mut end = bytes.len();
            for (i, &b) in bytes.iter().enumerate() {
                let next = bytes.get(i + 1).copied();
                let next_blank = matches!(next, None | Some(b' ' | b'\t' | b'\r' | b'\n'));
                let stop = match b {
                    b'\r' | b'\n' => true,
                    b'#' => i > 0 && matches!(bytes[i - 1], b' ' | b'\t'),
                    b':' => next_blank || (flow && matches!(next, Some(b',' | b'[' | b']' | b'{' | b'}'))),
                    b',' | b'[' | b']' | b'{' | b'}' => flow,
                    _ => false,
                };
                if stop {
                    end = i;
                    break;
                }
            }
            let trimmed = rest[..end].trim_end_matches([' ', '\t']);
            start + trimmed.len()
        }
        _ => start,
    }
}

/// Where an alias (`*name`) that starts at `start` ends.
fn alias_end(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let len = rest
        .char_indices()
        .skip(1)
        .find(|(_, c)| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}'))
        .map_or(rest.len(), |(i, _)| i);
    start + len
}
