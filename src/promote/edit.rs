//! Byte-preserving edits of a kustomization's `images:` entries.
//!
//! A promotion changes one or two scalars (`newTag`, `digest`) of one entry; everything else in
//! the file — comments, key order, quoting, blank lines, line endings, a missing final newline —
//! stays byte for byte as the person wrote it. The edit locates the scalar with the event parser
//! in [`super::located`], splices the new text in, and then reads the result back to prove that
//! exactly the intended values changed.
//!
//! Rules:
//! - the original quoting style is kept (double, single, plain); a plain value that YAML would not
//!   read back as a string (`1.10`, `1e3`, `true`, `0123`, `null`, `2024-01-01`, text with `: ` or
//!   ` #`) is written double-quoted instead;
//! - a missing `newTag` (an entry that pins only a `digest`) or a missing `digest` is inserted as a
//!   new line right after the line of the entry's `newTag` (or `name`) value, with the indentation
//!   of the entry's keys and the line ending of that line; in a flow mapping
//!   (`- {name: x, digest: y}`) it is inserted as `, newTag: …` after that value;
//! - values that are aliases (`*tag`), anchored values that an alias uses elsewhere, block scalars
//!   and multi-line plain scalars are refused: changing them in place would change other parts of
//!   the file, or cannot be done without rewriting it.

use serde_json::Value;
use yaml_rust2::scanner::TScalarStyle;

use super::located::{self, Kind, Located, Node};
use crate::yaml::resolve::{Resolved, resolve_plain_in};
use crate::yaml::{Dialect, parse_single_in};

/// One `images:` entry of a kustomization file, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// Index in the `images` list.
    pub index: usize,
    /// `name`: the image the entry matches.
    pub name: String,
    /// `newName`, if set.
    pub new_name: Option<String>,
    /// `newTag`, if set.
    pub new_tag: Option<String>,
    /// `digest`, if set.
    pub digest: Option<String>,
    /// 1-based line of the entry.
    pub line: usize,
}

/// Why an overlay's images could not be read or edited. Messages name the line and field; the
/// caller adds the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The text is not valid YAML.
    #[error("line {line}: invalid YAML: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A kustomization holds exactly one document.
    #[error("expected one YAML document (a kustomization), found {count}")]
    Documents {
        /// How many there are.
        count: usize,
    },
    /// `images` (or an entry) has the wrong shape.
    #[error("line {line}: {field}: {message}")]
    Shape {
        /// 1-based line.
        line: usize,
        /// Field path, e.g. `images[1].name`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Two entries have the same `name`.
    #[error("line {second}: images entry {image:?} is listed twice (first on line {first}); keep one")]
    Duplicate {
        /// The image name.
        image: String,
        /// Line of the first entry.
        first: usize,
        /// Line of the second.
        second: usize,
    },
    /// No entry has this `name`.
    #[error("no images entry named {image:?}")]
    NoEntry {
        /// The image name.
        image: String,
    },
    /// The value cannot be changed in place.
    #[error("line {line}: images[{index}].{field} ({image}): {reason}")]
    Unsupported {
        /// 1-based line.
        line: usize,
        /// Index of the entry.
        index: usize,
        /// The image name.
        image: String,
        /// `newTag` or `digest`.
        field: String,
        /// Why, and what to do.
        reason: String,
    },
    /// The edited text does not read back as intended (a bug guard: nothing is written).
    #[error("the edited file does not read back as intended ({detail}); the file was left unchanged")]
    Verify {
        /// What differs.
        detail: String,
    },
}

/// The `images:` entries of a kustomization file's text, in written order.
pub fn image_entries(text: &str) -> Result<Vec<ImageEntry>, EditError> {
    let located = parse(text)?;
    Ok(entries(&located)?.into_iter().map(|(e, _)| e).collect())
}

/// Sets `newTag` and/or `digest` (`None` leaves a field as it is) of the entry named `image`,
/// changing nothing else in `text`. Returns the new text (equal to `text` when the values are
/// already there).
pub fn set_image(text: &str, image: &str, new_tag: Option<&str>, digest: Option<&str>) -> Result<String, EditError> {
    let located = parse(text)?;
    let all = entries(&located)?;
    let (entry, node) =
        all.iter().find(|(e, _)| e.name == image).ok_or_else(|| EditError::NoEntry { image: image.into() })?;
    let mut splices: Vec<(usize, usize, String)> = Vec::new();
    let style = match node.get("name").map(|n| &n.kind) {
        Some(Kind::Scalar { style, .. }) => *style,
        _ => TScalarStyle::Plain,
    };
    for (field, wanted) in [("newTag", new_tag), ("digest", digest)] {
        let Some(wanted) = wanted else { continue };
        let unsupported = |line: usize, reason: &str| EditError::Unsupported {
            line,
            index: entry.index,
            image: image.into(),
            field: field.into(),
            reason: reason.into(),
        };
        match node.get(field) {
            Some(value) => {
                // Report the key's line: a block scalar's marker is on its content line.
                let at = node.key(field).map_or(value.line, |k| k.line);
                let Kind::Scalar { value: current, style, anchor } = &value.kind else {
                    return Err(unsupported(at, "not a plain or quoted string; write the value here"));
                };
                if *anchor > 0 && located.aliased.contains(anchor) {
                    return Err(unsupported(
                        at,
                        "its anchor is used elsewhere in the file, which would change too; write the value here",
                    ));
                }
                if !writable(text, value) {
                    return Err(unsupported(at, "a block or multi-line scalar; write it on one line"));
                }
                if current != wanted {
                    splices.push((value.start, value.end, render(wanted, *style, value.flow)));
                }
            }
            None => {
                let after = if field == "digest" { node.get("newTag").or(node.get("name")) } else { node.get("name") };
                let key = if field == "digest" && node.get("newTag").is_some() { "newTag" } else { "name" };
                let (Some(after), Some(key)) = (after, node.key(key)) else {
                    return Err(unsupported(entry.line, "the entry has no name to place it after"));
                };
                if !writable(text, after) {
                    return Err(unsupported(after.line, "cannot place a new line after a multi-line value"));
                }
                let value = render(wanted, style, node.flow);
                if node.flow {
                    splices.push((after.end, after.end, format!(", {field}: {value}")));
                } else {
                    let (at, newline) = line_end(text, after.end);
                    let indent = " ".repeat(key.col);
                    splices.push((at, at, format!("{newline}{indent}{field}: {value}")));
                }
            }
        }
    }
    // Apply from the end so earlier offsets stay valid; of two insertions at the same place,
    // the one planned later goes in first, so that they read in planned order.
    let mut order: Vec<usize> = (0..splices.len()).collect();
    order.sort_by(|&a, &b| splices[b].0.cmp(&splices[a].0).then(b.cmp(&a)));
    let mut out = text.to_string();
    for (start, end, new) in order.iter().map(|&i| &splices[i]) {
        out.replace_range(*start..*end, new);
    }
    verify(text, &out, image, new_tag, digest)?;
    Ok(out)
}

fn parse(text: &str) -> Result<Located, EditError> {
    let located = located::parse(text).map_err(|e| EditError::Syntax { line: e.line, message: e.message })?;
    if located.docs.len() > 1 {
        return Err(EditError::Documents { count: located.docs.len() });
    }
    Ok(located)
}

/// Is a null in YAML: `~`, `null`, empty.
fn is_null(node: &Node) -> bool {
    matches!(&node.kind, Kind::Scalar { value, style: TScalarStyle::Plain, .. }
        if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
}

fn entries(located: &Located) -> Result<Vec<(ImageEntry, &Node)>, EditError> {
    let Some(doc) = located.docs.first() else { return Ok(Vec::new()) };
    let Some(images) = doc.get("images") else { return Ok(Vec::new()) };
    let items = match &images.kind {
        Kind::Seq(items) => items,
        _ if is_null(images) => return Ok(Vec::new()),
        _ => {
            return Err(EditError::Shape {
                line: images.line,
                field: "images".into(),
                message: "must be a list".into(),
            });
        }
    };
    let mut out: Vec<(ImageEntry, &Node)> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let shape = |line, field: &str, message: &str| EditError::Shape {
            line,
            field: format!("images[{index}]{field}"),
            message: message.into(),
        };
        if !matches!(item.kind, Kind::Map(_)) {
            return Err(shape(item.line, "", "must be a mapping with a `name`"));
        }
        let name = match item.get("name") {
            Some(n) if !is_null(n) => n.scalar().ok_or_else(|| shape(n.line, ".name", "must be a string"))?,
            _ => return Err(shape(item.line, "", "`name` is required")),
        };
        let field = |key: &str| -> Result<Option<String>, EditError> {
            match item.get(key) {
                None => Ok(None),
                Some(n) if is_null(n) => Ok(None),
                Some(n) => match n.scalar() {
                    Some(v) => Ok(Some(v.to_string())),
                    None => Err(shape(n.line, &format!(".{key}"), "must be a string (aliases are not supported here)")),
                },
            }
        };
        let entry = ImageEntry {
            index,
            name: name.to_string(),
            new_name: field("newName")?,
            new_tag: field("newTag")?,
            digest: field("digest")?,
            line: item.line,
        };
        if let Some((first, _)) = out.iter().find(|(e, _)| e.name == entry.name) {
            return Err(EditError::Duplicate { image: entry.name, first: first.line, second: entry.line });
        }
        out.push((entry, item));
    }
    Ok(out)
}

/// True when the scalar's text is on one line and reads as its value (plain), or is a quoted
/// string: only those can be replaced in place.
fn writable(text: &str, node: &Node) -> bool {
    let Kind::Scalar { value, style, .. } = &node.kind else { return false };
    let slice = text.get(node.start..node.end).unwrap_or("");
    match style {
        TScalarStyle::Plain => !slice.is_empty() && slice == value,
        TScalarStyle::DoubleQuoted => slice.len() >= 2 && slice.starts_with('"') && slice.ends_with('"'),
        TScalarStyle::SingleQuoted => slice.len() >= 2 && slice.starts_with('\'') && slice.ends_with('\''),
        _ => false,
    }
}

/// The end of the line holding `pos` (before its line break) and the line break to use for a
/// new line there: the line's own, or the file's usual one at the end of a file without a final
/// newline.
fn line_end(text: &str, pos: usize) -> (usize, &'static str) {
    match text[pos..].find(['\r', '\n']) {
        Some(i) => {
            let at = pos + i;
            let newline = if text[at..].starts_with("\r\n") {
                "\r\n"
            } else if text[at..].starts_with('\r') {
                "\r"
            } else {
                "\n"
            };
            (at, newline)
        }
        None => (text.len(), if text.contains("\r\n") { "\r\n" } else { "\n" }),
    }
}

/// True when `value` can be written as a plain scalar and reads back as the same string under
/// both YAML 1.1 (kustomization files) and go-yaml v3 rules.
pub fn plain_is_safe(value: &str, flow: bool) -> bool {
    let Some(first) = value.chars().next() else { return false };
    let indicators = "-?:,[]{}#&*!|>'\"%@`";
    !indicators.contains(first)
        && !value.starts_with(char::is_whitespace)
        && !value.ends_with(char::is_whitespace)
        && !value.ends_with(':')
        && !value.chars().any(|c| c.is_control() || c == '\u{feff}')
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.contains(":\t")
        && !value.contains("\t#")
        && !(flow && value.contains([',', '[', ']', '{', '}']))
        && matches!(resolve_plain_in(value, Dialect::V3), Resolved::Str)
        && matches!(resolve_plain_in(value, Dialect::Yaml11), Resolved::Str)
}

/// `value` as a YAML scalar in `style`; a plain style falls back to double quotes when the plain
/// text would read as something else.
pub(crate) fn render(value: &str, style: TScalarStyle, flow: bool) -> String {
    match style {
        TScalarStyle::SingleQuoted if !value.chars().any(char::is_control) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        TScalarStyle::Plain if plain_is_safe(value, flow) => value.to_string(),
        _ => double_quoted(value),
    }
}

fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads the edited text back: the entry must hold exactly the wanted values, and the whole
/// document must equal the original with only those values changed.
fn verify(
    before: &str,
    after: &str,
    image: &str,
    new_tag: Option<&str>,
    digest: Option<&str>,
) -> Result<(), EditError> {
    let fail = |detail: String| EditError::Verify { detail };
    let entries = image_entries(after).map_err(|e| fail(e.to_string()))?;
    let entry = entries.iter().find(|e| e.name == image).ok_or_else(|| fail(format!("entry {image:?} is gone")))?;
    if new_tag.is_some_and(|t| entry.new_tag.as_deref() != Some(t)) {
        return Err(fail(format!("newTag of {image:?} reads {:?}", entry.new_tag)));
    }
    if digest.is_some_and(|d| entry.digest.as_deref() != Some(d)) {
        return Err(fail(format!("digest of {image:?} reads {:?}", entry.digest)));
    }
    // The YAML reader takes a byte-order mark for content; it is not part of the document.
    let (before, after) = (before.trim_start_matches('\u{feff}'), after.trim_start_matches('\u{feff}'));
    let mut expected = parse_single_in(before, Dialect::Yaml11).map_err(|e| fail(format!("original: {e}")))?;
    let actual = parse_single_in(after, Dialect::Yaml11).map_err(|e| fail(format!("edited: {e}")))?;
    let item = expected
        .get_mut("images")
        .and_then(Value::as_array_mut)
        .and_then(|items| items.iter_mut().find(|i| i.get("name").and_then(Value::as_str) == Some(image)))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| fail(format!("entry {image:?} not found in the original")))?;
    for (key, value) in [("newTag", new_tag), ("digest", digest)] {
        if let Some(v) = value {
            item.insert(key.into(), Value::String(v.into()));
        }
    }
    if expected != actual {
        return Err(fail("other values of the file changed".into()));
    }
    Ok(())
}
