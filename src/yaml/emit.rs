//! Writes JSON values as YAML the way kustomize prints them (go-yaml's encoder on top of the
//! libyaml emitter): keys in go-yaml's natural order, two-space indentation, sequences inside
//! mappings not indented, strings quoted only where a reader would misread them, long scalars
//! folded after column 80, multi-line strings as literal blocks.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::resolve::{Resolved, is_base60_float, is_old_bool, resolve_plain};

/// libyaml's `best_width`.
const BEST_WIDTH: usize = 80;
/// libyaml refuses simple keys longer than this many bytes and writes `? key` instead.
const MAX_SIMPLE_KEY_LEN: usize = 128;

/// Writes a stream of documents separated by `---`, as `kustomize build` does.
pub fn emit_stream<'a>(docs: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for (i, doc) in docs.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&emit_document(doc));
    }
    out
}

/// Writes one document (always ending in a newline).
pub fn emit_document(value: &Value) -> String {
    let mut e = Emitter { out: String::new(), column: 0 };
    match value {
        Value::Object(m) if !m.is_empty() => e.mapping(m, 0),
        Value::Array(a) if !a.is_empty() => e.sequence(a, 0),
        other => {
            e.inline_value(other, 0, false);
            e.end_line();
        }
    }
    e.out
}

struct Emitter {
    out: String,
    /// Characters written on the current line.
    column: usize,
}

impl Emitter {
    fn put(&mut self, s: &str) {
        for c in s.chars() {
            self.put_char(c);
        }
    }

    fn put_char(&mut self, c: char) {
        self.out.push(c);
        if c == '\n' {
            self.column = 0;
        } else {
            self.column += 1;
        }
    }

    fn newline(&mut self) {
        self.put_char('\n');
    }

    /// Ends the current line unless a block scalar already did.
    fn end_line(&mut self) {
        if self.column > 0 {
            self.newline();
        }
    }

    fn indent_to(&mut self, indent: usize) {
        while self.column < indent {
            self.put_char(' ');
        }
    }

    /// A block mapping whose keys start at column `indent`; the cursor is already there for the
    /// first key (after `- ` in a sequence, or at the start of a line).
    fn mapping(&mut self, map: &Map<String, Value>, indent: usize) {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort_by(|a, b| natural_cmp(a, b));
        for (i, key) in keys.into_iter().enumerate() {
            if i > 0 {
                self.indent_to(indent);
            }
            let value = &map[key];
            if key.len() > MAX_SIMPLE_KEY_LEN || key.chars().any(is_break) {
                // libyaml's complex key form: `? key` on its own, then `: value`.
                self.put("? ");
                self.put_scalar(key, indent + 2, false);
                self.end_line();
                self.indent_to(indent);
                self.put(":");
            } else {
                self.put_scalar(key, indent + 2, true);
                self.put(":");
            }
            match value {
                Value::Object(m) if !m.is_empty() => {
                    self.newline();
                    self.indent_to(indent + 2);
                    self.mapping(m, indent + 2);
                }
                Value::Array(a) if !a.is_empty() => {
                    self.newline();
                    self.indent_to(indent);
                    self.sequence(a, indent);
                }
                other => {
                    self.put(" ");
                    self.inline_value(other, indent + 2, false);
                    self.end_line();
                }
            }
        }
    }

    /// A block sequence whose dashes sit at column `indent`.
    fn sequence(&mut self, items: &[Value], indent: usize) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.indent_to(indent);
            }
            self.put("- ");
            match item {
                Value::Object(m) if !m.is_empty() => self.mapping(m, indent + 2),
                Value::Array(a) if !a.is_empty() => self.sequence(a, indent + 2),
                other => {
                    self.inline_value(other, indent + 2, false);
                    self.end_line();
                }
            }
        }
    }

    /// A scalar or an empty collection on the current line; block scalars continue below.
    fn inline_value(&mut self, value: &Value, indent: usize, simple_key: bool) {
        match value {
            Value::Null => self.put("null"),
            Value::Bool(b) => self.put(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                let text = number_text(n);
                self.put(&text);
            }
            Value::String(s) => self.put_scalar(s, indent, simple_key),
            Value::Array(_) => self.put("[]"),
            Value::Object(_) => self.put("{}"),
        }
    }

    fn put_scalar(&mut self, s: &str, indent: usize, simple_key: bool) {
        let style = select_style(s, simple_key);
        match style {
            Style::Plain => self.write_plain(s, indent, !simple_key),
            Style::Single => self.write_single(s, indent, !simple_key),
            Style::Double => self.write_double(s, indent, !simple_key),
            Style::Literal => self.write_literal(s, indent),
        }
    }

    fn write_indent(&mut self, indent: usize) {
        self.newline();
        self.indent_to(indent);
    }

    fn write_plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_is_space {
                    self.write_indent(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
    }

    fn write_single(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.put_char('\'');
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i != chars.len() - 1
                    && !next_is_space
                {
                    self.write_indent(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.newline();
                }
                if c == '\n' {
                    self.newline();
                } else {
                    // libyaml copies other line breaks as they are and starts a new line.
                    self.out.push(c);
                    self.column = 0;
                }
                breaks = true;
            } else {
                if breaks {
                    self.indent_to(indent);
                }
                if c == '\'' {
                    self.put_char('\'');
                }
                self.put_char(c);
                spaces = false;
                breaks = false;
            }
        }
        if breaks {
            self.indent_to(indent);
        }
        self.put_char('\'');
    }

    fn write_double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.put_char('"');
        let mut spaces = false;
        // go-yaml checks for a byte-order mark at the start of the string instead of at each
        // character, so a value that starts with one has every character escaped.
        let escape_all = chars.first() == Some(&'\u{feff}');
        for (i, &c) in chars.iter().enumerate() {
            if escape_all || !is_printable(c) || is_break(c) || c == '"' || c == '\\' {
                self.put_char('\\');
                match c {
                    '\0' => self.put_char('0'),
                    '\u{07}' => self.put_char('a'),
                    '\u{08}' => self.put_char('b'),
                    '\t' => self.put_char('t'),
                    '\n' => self.put_char('n'),
                    '\u{0b}' => self.put_char('v'),
                    '\u{0c}' => self.put_char('f'),
                    '\r' => self.put_char('r'),
                    '\u{1b}' => self.put_char('e'),
                    '"' => self.put_char('"'),
                    '\\' => self.put_char('\\'),
                    '\u{85}' => self.put_char('N'),
                    '\u{a0}' => self.put_char('_'),
                    '\u{2028}' => self.put_char('L'),
                    '\u{2029}' => self.put_char('P'),
                    other => {
                        let v = other as u32;
                        let text = if v <= 0xFF {
                            format!("x{v:02X}")
                        } else if v <= 0xFFFF {
                            format!("u{v:04X}")
                        } else {
                            format!("U{v:08X}")
                        };
                        self.put(&text);
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i != chars.len() - 1 {
                    self.write_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put_char('\\');
                    }
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
        self.put_char('"');
    }

    fn write_literal(&mut self, s: &str, indent: usize) {
        self.put_char('|');
        let first = s.chars().next();
        if first.is_some_and(|c| c == ' ' || is_break(c)) {
            self.put("2");
        }
        let mut rev = s.chars().rev();
        match (rev.next(), rev.next()) {
            (None, _) => self.put_char('-'),
            (Some(last), _) if !is_break(last) => self.put_char('-'),
            (Some(_), None) => self.put_char('+'),
            (Some(_), Some(prev)) if is_break(prev) => self.put_char('+'),
            _ => {}
        }
        self.newline();
        let mut breaks = true;
        for c in s.chars() {
            if is_break(c) {
                self.newline();
                breaks = true;
            } else {
                if breaks {
                    self.indent_to(indent);
                }
                self.put_char(c);
                breaks = false;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// go-yaml's `stringv` choice refined by libyaml's `select_scalar_style`.
fn select_style(s: &str, simple_key: bool) -> Style {
    let resolves_to_string = resolve_plain(s) == Resolved::Str;
    let can_use_plain = resolves_to_string && !is_base60_float(s) && !is_old_bool(s);
    let wanted = if s.contains('\n') {
        Style::Literal
    } else if can_use_plain {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    let mut style = wanted;
    if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || simple_key) {
        style = Style::Double;
    }
    style
}

struct Analysis {
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blankz(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c == ' ' || c == '\t' || c == '\0' || is_break(c),
    }
}

/// libyaml's IS_PRINTABLE (as go-yaml implements it over UTF-8: nothing beyond the BMP).
fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0A
        || (0x20..=0x7E).contains(&v)
        || (0xA0..=0xD7FF).contains(&v)
        || ((0xE000..=0xFFFD).contains(&v) && v != 0xFEFF)
}

/// libyaml's `yaml_emitter_analyze_scalar`, block context only.
fn analyze(s: &str) -> Analysis {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return Analysis { block_plain_allowed: true, single_quoted_allowed: true, block_allowed: false };
    }
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let mut special = false;
    let mut line_breaks = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_by_whitespace = is_blankz(chars.get(i + 1).copied());
        if i == 0 {
            if matches!(
                c,
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`'
            ) {
                block_indicators = true;
            }
            if (c == '?' || c == ':') && followed_by_whitespace {
                block_indicators = true;
            }
            if c == '-' && followed_by_whitespace {
                block_indicators = true;
            }
        } else {
            if c == ':' && followed_by_whitespace {
                block_indicators = true;
            }
            if c == '#' && preceded_by_whitespace {
                block_indicators = true;
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == n - 1 {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i == n - 1 {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blankz(Some(c));
    }
    let mut a = Analysis { block_plain_allowed: true, single_quoted_allowed: true, block_allowed: true };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// go-yaml's key order (`keyList.Less`): runs of digits compare as numbers, letters before
/// other characters unless they follow a digit.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    if natural_less(a, b) {
        Ordering::Less
    } else if natural_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn natural_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut digits = false;
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            digits = ar[i].is_ascii_digit();
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return if digits { al } else { bl };
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` for floats, plain decimal for integers.
fn number_text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    go_format_float(n.as_f64().unwrap_or(0.0))
}

/// Go's shortest `%g`: exponent form when the decimal exponent is < -4 or >= 6 (Go fixes the
/// precision at 6 for this decision when formatting the shortest representation).
pub fn go_format_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    let eprec = 6;
    if exp < -4 || exp >= eprec {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    } else if exp < 0 {
        format!("{sign}0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else {
        let point = (exp + 1) as usize;
        if digits.len() <= point {
            format!("{sign}{}{}", digits, "0".repeat(point - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..point], &digits[point..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn natural_key_order_matches_go_yaml() {
        let mut keys = vec!["a10", "a9", "B", "_x", "10", "9", "a"];
        keys.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(keys, vec!["_x", "9", "10", "B", "a", "a9", "a10"]);
    }

    #[test]
    fn quoting_follows_go_yaml() {
        let doc = json!({"data": {"a": "yes", "b": "01234", "c": "plain", "d": "- dash", "e": "", "f": "it's", "g": "a\tb", "h": "ab:", "i": "?x"}});
        let out = emit_document(&doc);
        assert_eq!(
            out,
            "data:\n  a: \"yes\"\n  b: \"01234\"\n  c: plain\n  d: '- dash'\n  e: \"\"\n  f: it's\n  g: \"a\\tb\"\n  h: 'ab:'\n  i: ?x\n"
        );
    }

    #[test]
    fn sequences_in_mappings_are_not_indented() {
        let doc = json!({"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80}]}], "empty": [], "none": {}}});
        assert_eq!(
            emit_document(&doc),
            "spec:\n  containers:\n  - name: web\n    ports:\n    - containerPort: 80\n  empty: []\n  none: {}\n"
        );
    }

    #[test]
    fn literal_blocks_carry_chomping_and_indent_hints() {
        let doc = json!({"a": "x\ny", "b": "x\ny\n", "c": "x\n\n", "d": "  x\ny\n"});
        assert_eq!(emit_document(&doc), "a: |-\n  x\n  y\nb: |\n  x\n  y\nc: |+\n  x\n\nd: |2\n    x\n  y\n");
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_format_float(0.5), "0.5");
        assert_eq!(go_format_float(std::f64::consts::PI), "3.141592653589793");
        assert_eq!(go_format_float(1e21), "1e+21");
        assert_eq!(go_format_float(1e-6), "1e-06");
        assert_eq!(go_format_float(0.0001), "0.0001");
        assert_eq!(go_format_float(1234567.5), "1.2345675e+06");
        assert_eq!(go_format_float(123456.5), "123456.5");
    }
}
