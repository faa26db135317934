//! Scalar resolution as go-yaml v3 (kustomize's reader) does it, followed by the JSON
//! normalisation kustomize's output goes through.
//!
//! kustomize reads YAML with go-yaml v3, converts every object to JSON and back before printing.
//! Two consequences matter for byte-compatible output:
//! - plain scalars resolve with YAML 1.2 rules plus v3's compatibility quirks (`012` is octal 10,
//!   `1_000` is 1000, `2001-12-14` is a timestamp), while quoted scalars are always strings;
//! - after the JSON round trip an integral float such as `1e3` prints as the integer `1000`, and a
//!   timestamp prints as an RFC 3339 string.

use serde_json::{Number, Value};

/// What a plain scalar resolves to, before JSON normalisation.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// `~`, `null`, empty.
    Null,
    /// `true`/`false` in their three spellings.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    Uint(u64),
    /// A floating-point number (possibly infinite or NaN).
    Float(f64),
    /// A timestamp, already formatted as Go's `time.Time` JSON form (RFC 3339).
    Timestamp(String),
    /// Anything else.
    Str,
}

/// Which YAML reader's rules apply to plain scalars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// go-yaml v3 (kustomize's reader for resources): only `true`/`false` are booleans.
    #[default]
    V3,
    /// go-yaml v2 / YAML 1.1 (sigs.k8s.io/yaml: kustomization files and patch text):
    /// `yes`/`no`/`on`/`off`/`y`/`n` are booleans too.
    Yaml11,
}

/// Resolves a plain scalar under the given dialect.
pub fn resolve_plain_in(text: &str, dialect: Dialect) -> Resolved {
    if dialect == Dialect::Yaml11 && is_old_bool(text) {
        return Resolved::Bool(matches!(
            text,
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE"
        ));
    }
    match resolve_plain(text) {
        // sigs.k8s.io/yaml keeps dates as the strings they are written as.
        Resolved::Timestamp(_) if dialect == Dialect::Yaml11 => Resolved::Str,
        other => other,
    }
}

/// Resolves a plain (unquoted, untagged) scalar like go-yaml v3's `resolve("", text)`.
pub fn resolve_plain(text: &str) -> Resolved {
    let Some(&first) = text.as_bytes().first() else {
        return Resolved::Null;
    };
    let hint = match first {
        b'+' | b'-' => b'S',
        b'0'..=b'9' => b'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => b'M',
        b'.' => b'.',
        _ => return Resolved::Str,
    };
    match text {
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match hint {
        b'.' => match go_parse_float(text) {
            Some(f) => Resolved::Float(f),
            None => Resolved::Str,
        },
        b'D' | b'S' => {
            if let Some(ts) = parse_timestamp(text) {
                return Resolved::Timestamp(ts);
            }
            let plain: String = text.chars().filter(|&c| c != '_').collect();
            if let Some(i) = go_parse_int(&plain) {
                return Resolved::Int(i);
            }
            if let Some(u) = go_parse_uint(&plain) {
                return Resolved::Uint(u);
            }
            if is_yaml_style_float(&plain) {
                if let Some(f) = go_parse_float(&plain) {
                    return Resolved::Float(f);
                }
            }
            Resolved::Str
        }
        _ => Resolved::Str,
    }
}

/// True when go-yaml would quote this string on output because a YAML 1.1 reader would take it
/// for a boolean (`y`, `yes`, `on`, … in their three spellings).
pub fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
    )
}

/// True for YAML 1.1 sexagesimal floats such as `190:20:30.15`, which go-yaml quotes on output.
pub fn is_base60_float(s: &str) -> bool {
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let digits = &b[start..i];
        let ok = match digits.len() {
            1 => true,
            2 => digits[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then `0x`/`0o`/`0b` or a leading `0` for
/// octal, else decimal. (Underscores were removed by the caller.)
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = split_sign(s);
    let magnitude = parse_unsigned_base0(body)?;
    if neg {
        if magnitude <= i64::MAX as u64 + 1 { Some((magnitude as i128).wrapping_neg() as i64) } else { None }
    } else if magnitude <= i64::MAX as u64 {
        Some(magnitude as i64)
    } else {
        None
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`: no sign allowed.
fn go_parse_uint(s: &str) -> Option<u64> {
    if s.starts_with('+') || s.starts_with('-') {
        return None;
    }
    parse_unsigned_base0(s)
}

fn split_sign(s: &str) -> (bool, &str) {
    if let Some(rest) = s.strip_prefix('-') {
        (true, rest)
    } else if let Some(rest) = s.strip_prefix('+') {
        (false, rest)
    } else {
        (false, s)
    }
}

fn parse_unsigned_base0(s: &str) -> Option<u64> {
    let (radix, digits) = if let Some(rest) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, rest)
    } else if let Some(rest) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (2, rest)
    } else if let Some(rest) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (8, rest)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    if digits.is_empty() || digits.starts_with('+') || digits.starts_with('-') {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Go's `strconv.ParseFloat` for the decimal forms YAML produces (`.5`, `1.`, `1e3`).
fn go_parse_float(s: &str) -> Option<f64> {
    let (neg, body) = split_sign(s);
    if !body.bytes().any(|c| c.is_ascii_digit())
        || !body.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let normalised = if body.starts_with('.') { format!("0{body}") } else { body.to_string() };
    let f: f64 = normalised.parse().ok()?;
    Some(if neg { -f } else { f })
}

/// go-yaml v3's timestamp recognition: `YYYY-M-D`, `YYYY-M-DTh:m:s[.frac](Z|±hh:mm)` (also with
/// a lower-case `t` or a space and no zone). Returns Go's JSON form of the time (RFC 3339 with
/// nanoseconds trimmed).
fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let year = &s[..4];
    let rest = &s[5..];
    let (month, rest) = take_num(rest, 2)?;
    let rest = rest.strip_prefix('-')?;
    let (day, rest) = take_num(rest, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year.parse().ok()?, month) {
        return None;
    }
    let date = format!("{year}-{month:02}-{day:02}");
    if rest.is_empty() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let (space_form, rest) = if let Some(r) = rest.strip_prefix('T').or_else(|| rest.strip_prefix('t')) {
        (false, r)
    } else if let Some(r) = rest.strip_prefix(' ') {
        (true, r)
    } else {
        return None;
    };
    let (hour, rest) = take_num(rest, 2)?;
    let rest = rest.strip_prefix(':')?;
    let (min, rest) = take_num(rest, 2)?;
    let rest = rest.strip_prefix(':')?;
    let (sec, mut rest) = take_num(rest, 2)?;
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut frac = String::new();
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        frac = r[..n].trim_end_matches('0').to_string();
        rest = &r[n..];
    }
    let zone = if space_form {
        if !rest.is_empty() {
            return None;
        }
        "Z".to_string()
    } else if rest == "Z" {
        "Z".to_string()
    } else {
        let sign = rest.chars().next()?;
        if sign != '+' && sign != '-' {
            return None;
        }
        let (zh, r) = take_num(&rest[1..], 2)?;
        let r = r.strip_prefix(':')?;
        let (zm, r) = take_num(r, 2)?;
        if !r.is_empty() || rest.len() != 6 {
            return None;
        }
        if zh == 0 && zm == 0 { "Z".to_string() } else { format!("{sign}{zh:02}:{zm:02}") }
    };
    let frac = if frac.is_empty() { String::new() } else { format!(".{frac}") };
    Some(format!("{date}T{hour:02}:{min:02}:{sec:02}{frac}{zone}"))
}

fn take_num(s: &str, max_digits: usize) -> Option<(u32, &str)> {
    let n = s.bytes().take(max_digits).take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The JSON value kustomize ends up with for a resolved scalar, or why there is none.
pub fn to_json(resolved: Resolved, text: &str) -> Result<Value, String> {
    Ok(match resolved {
        Resolved::Null => Value::Null,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => Value::from(i),
        Resolved::Uint(u) => Value::from(u),
        Resolved::Float(f) => {
            float_to_json(f).ok_or_else(|| format!("unsupported value {text}: JSON has no infinity or NaN"))?
        }
        Resolved::Timestamp(ts) => Value::String(ts),
        Resolved::Str => Value::String(text.to_string()),
    })
}

/// A float after Go's JSON round trip. `encoding/json` writes the shortest digits in plain
/// notation below 1e21 (`1e6` → `1000000`, `-2^63` → `-9223372036854776000`), and the YAML
/// reader then takes that text for an integer when it fits 64 bits.
pub fn float_to_json(f: f64) -> Option<Value> {
    if !f.is_finite() {
        return None;
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        let text = shortest_plain_integer(f);
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::from(i));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Some(Value::from(u));
        }
    }
    Number::from_f64(f).map(Value::Number)
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` for an integral `f`: shortest round-trip digits,
/// padded with zeros.
fn shortest_plain_integer(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: usize = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut text = if f < 0.0 { "-".to_string() } else { String::new() };
    text.push_str(&digits);
    for _ in digits.len()..=exp {
        text.push('0');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_go_yaml_v3() {
        use Resolved::*;
        let cases: &[(&str, Resolved)] = &[
            ("", Null),
            ("~", Null),
            ("null", Null),
            ("true", Bool(true)),
            ("False", Bool(false)),
            ("yes", Str),
            ("on", Str),
            ("y", Str),
            ("012", Int(10)),
            ("0o12", Int(10)),
            ("0x1F", Int(31)),
            ("0b101", Int(5)),
            ("1_000", Int(1000)),
            ("+12", Int(12)),
            ("-0", Int(0)),
            ("08", Float(8.0)),
            ("1e3", Float(1000.0)),
            (".5", Float(0.5)),
            ("1.", Float(1.0)),
            ("12345678901234567890", Uint(12345678901234567890)),
            ("1.2.3", Str),
            ("-", Str),
            ("-x", Str),
            ("<<", Str),
            ("2001-12-14", Timestamp("2001-12-14T00:00:00Z".into())),
            ("2001-12-14T21:59:43.10-05:00", Timestamp("2001-12-14T21:59:43.1-05:00".into())),
            ("2001-12-14 21:59:43", Timestamp("2001-12-14T21:59:43Z".into())),
            ("2001-13-14", Str),
            ("1.0.0-rc1", Str),
            ("60:30", Str),
            ("inf", Str),
        ];
        for (text, want) in cases {
            let got = resolve_plain(text);
            match (&got, want) {
                (Float(a), Float(b)) => assert_eq!(a, b, "{text}"),
                _ => assert_eq!(&got, want, "{text}"),
            }
        }
    }

    #[test]
    fn old_bools_and_base60_are_recognised() {
        assert!(is_old_bool("Yes"));
        assert!(is_old_bool("n"));
        assert!(!is_old_bool("nope"));
        assert!(is_base60_float("60:30"));
        assert!(is_base60_float("190:20:30.15"));
        assert!(!is_base60_float("60:70"));
        assert!(!is_base60_float("a:b"));
    }

    #[test]
    fn integral_floats_become_integers_after_the_json_round_trip() {
        assert_eq!(float_to_json(1000.0), Some(Value::from(1000)));
        assert_eq!(float_to_json(0.5), Some(serde_json::json!(0.5)));
        assert_eq!(float_to_json(1e21).and_then(|v| v.as_f64()), Some(1e21));
        assert_eq!(float_to_json(f64::INFINITY), None);
        assert_eq!(float_to_json(1e6), Some(Value::from(1_000_000)));
        // -2^63 prints as -9223372036854776000 in Go's JSON, which no longer fits an int64.
        assert!(float_to_json(-9223372036854775808.0).unwrap().as_i64().is_none());
        assert!(float_to_json(1e20).unwrap().is_f64());
    }
}
