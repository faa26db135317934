//! The success condition of a Prometheus gate: a tiny expression language over `result`. Pure.
//!
//! ```text
//! condition  := or
//! or         := and ( "||" and )*
//! and        := unary ( "&&" unary )*
//! unary      := "!" unary | "(" or ")" | comparison
//! comparison := operand ( "<" | "<=" | ">" | ">=" | "==" | "!=" ) operand
//! operand    := "result" | "result[0]" | number
//! number     := [+-]? digits [ "." digits ] [ (e|E) [+-]? digits ] | [+-]? "Inf"
//! ```
//!
//! `result[0]` is accepted as a synonym of `result` so that Argo Rollouts conditions
//! (`result[0] < 0.05`) work unchanged. Comparisons follow IEEE 754 (`+Inf > 1` holds), with
//! one exception: a `NaN` result never satisfies a condition, not even `!(result > 1)` —
//! `NaN` means the query divided zero by zero, which is no evidence of health.

use std::fmt;

/// A syntax error in a condition, with the 1-based column (in characters) where it was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("at column {column}: {message}")]
pub struct SyntaxError {
    /// 1-based character column.
    pub column: usize,
    /// What is wrong, lowercase.
    pub message: String,
}

/// A parsed success condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    source: String,
    expr: Expr,
}

impl Condition {
    /// Parses a condition such as `result < 0.05 && result >= 0`.
    pub fn parse(source: &str) -> Result<Condition, SyntaxError> {
        let tokens = tokenize(source)?;
        let mut parser = Parser { tokens, pos: 0, end_column: source.chars().count() + 1 };
        if parser.tokens.is_empty() {
            return Err(SyntaxError { column: 1, message: "empty condition (write e.g. result < 0.05)".into() });
        }
        let expr = parser.or(0)?;
        if let Some(tok) = parser.tokens.get(parser.pos) {
            return Err(SyntaxError { column: tok.column, message: format!("unexpected {}", tok.kind) });
        }
        if !expr.mentions_result() {
            return Err(SyntaxError { column: 1, message: "the condition never looks at result".into() });
        }
        Ok(Condition { source: source.trim().to_string(), expr })
    }

    /// Whether `result` satisfies the condition. `NaN` never does.
    pub fn holds(&self, result: f64) -> bool {
        !result.is_nan() && self.expr.eval(result)
    }

    /// The condition as written (trimmed).
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Operand {
    Result,
    Number(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Compare(Operand, Cmp, Operand),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    fn eval(&self, result: f64) -> bool {
        let value = |o: &Operand| match o {
            Operand::Result => result,
            Operand::Number(n) => *n,
        };
        match self {
            Expr::Compare(l, op, r) => {
                let (l, r) = (value(l), value(r));
                match op {
                    Cmp::Lt => l < r,
                    Cmp::Le => l <= r,
                    Cmp::Gt => l > r,
                    Cmp::Ge => l >= r,
                    Cmp::Eq => l == r,
                    Cmp::Ne => l != r,
                }
            }
            Expr::Not(e) => !e.eval(result),
            Expr::And(a, b) => a.eval(result) && b.eval(result),
            Expr::Or(a, b) => a.eval(result) || b.eval(result),
        }
    }

    fn mentions_result(&self) -> bool {
        match self {
            Expr::Compare(l, _, r) => *l == Operand::Result || *r == Operand::Result,
            Expr::Not(e) => e.mentions_result(),
            Expr::And(a, b) | Expr::Or(a, b) => a.mentions_result() || b.mentions_result(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Open,
    Close,
    Not,
    And,
    Or,
    Cmp(Cmp),
    Operand(Operand),
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Open => f.write_str("'('"),
            Kind::Close => f.write_str("')'"),
            Kind::Not => f.write_str("'!'"),
            Kind::And => f.write_str("'&&'"),
            Kind::Or => f.write_str("'||'"),
            Kind::Cmp(c) => write!(f, "'{}'", cmp_text(*c)),
            Kind::Operand(Operand::Result) => f.write_str("'result'"),
            Kind::Operand(Operand::Number(n)) => write!(f, "number {n}"),
        }
    }
}

fn cmp_text(c: Cmp) -> &'static str {
    match c {
        Cmp::Lt => "<",
        Cmp::Le => "<=",
        Cmp::Gt => ">",
        Cmp::Ge => ">=",
        Cmp::Eq => "==",
        Cmp::Ne => "!=",
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    column: usize,
}

fn tokenize(source: &str) -> Result<Vec<Token>, SyntaxError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let err = |i: usize, message: String| SyntaxError { column: i + 1, message };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let start = i;
        let kind = match (c, next) {
            (c, _) if c.is_whitespace() => {
                i += 1;
                continue;
            }
            ('(', _) => Kind::Open,
            (')', _) => Kind::Close,
            ('&', Some('&')) => Kind::And,
            ('|', Some('|')) => Kind::Or,
            ('&', _) => return Err(err(i, "expected '&&'".into())),
            ('|', _) => return Err(err(i, "expected '||'".into())),
            ('<', Some('=')) => Kind::Cmp(Cmp::Le),
            ('>', Some('=')) => Kind::Cmp(Cmp::Ge),
            ('=', Some('=')) => Kind::Cmp(Cmp::Eq),
            ('!', Some('=')) => Kind::Cmp(Cmp::Ne),
            ('<', _) => Kind::Cmp(Cmp::Lt),
            ('>', _) => Kind::Cmp(Cmp::Gt),
            ('=', _) => return Err(err(i, "expected '==' (a single '=' is not a comparison)".into())),
            ('!', _) => Kind::Not,
            (c, _) if c.is_ascii_digit() || c == '.' || c == '+' || c == '-' => {
                let (n, len) = lex_number(&chars[i..]).ok_or_else(|| err(i, "invalid number".into()))?;
                i += len;
                tokens.push(Token { kind: Kind::Operand(Operand::Number(n)), column: start + 1 });
                continue;
            }
            (c, _) if c.is_ascii_alphabetic() || c == '_' => {
                let len = chars[i..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '_').count();
                let word: String = chars[i..i + len].iter().collect();
                i += len;
                let operand = match word.as_str() {
                    "result" => {
                        let rest: String = chars[i..].iter().take(3).collect();
                        if rest == "[0]" {
                            i += 3;
                        } else if rest.starts_with('[') {
                            return Err(err(i, "only result[0] may be indexed".into()));
                        }
                        Operand::Result
                    }
                    "Inf" | "inf" => Operand::Number(f64::INFINITY),
                    "NaN" | "nan" => {
                        return Err(err(start, "NaN never compares equal to anything; leave it out".into()));
                    }
                    "and" | "or" | "not" => {
                        return Err(err(start, format!("unknown word {word:?}; use &&, || and !")));
                    }
                    _ => return Err(err(start, format!("unknown name {word:?} (only result is known)"))),
                };
                tokens.push(Token { kind: Kind::Operand(operand), column: start + 1 });
                continue;
            }
            (c, _) => return Err(err(i, format!("unexpected character {c:?}"))),
        };
        i += match kind {
            Kind::And | Kind::Or | Kind::Cmp(Cmp::Le | Cmp::Ge | Cmp::Eq | Cmp::Ne) => 2,
            _ => 1,
        };
        tokens.push(Token { kind, column: start + 1 });
    }
    Ok(tokens)
}

/// Lexes a number at the start of `chars`; returns it and its length in characters.
fn lex_number(chars: &[char]) -> Option<(f64, usize)> {
    let mut len = 0;
    if matches!(chars.first(), Some('+' | '-')) {
        len += 1;
    }
    let rest: String = chars[len..].iter().take(3).collect();
    if rest == "Inf" || rest == "inf" {
        let after = chars.get(len + 3);
        if after.is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
            return None;
        }
        let negative = chars.first() == Some(&'-');
        return Some((if negative { f64::NEG_INFINITY } else { f64::INFINITY }, len + 3));
    }
    let digits = |from: usize| chars[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int_digits = digits(len);
    len += int_digits;
    let mut frac_digits = 0;
    if chars.get(len) == Some(&'.') {
        frac_digits = digits(len + 1);
        len += 1 + frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(chars.get(len), Some('e' | 'E')) {
        let mut exp_len = 1;
        if matches!(chars.get(len + 1), Some('+' | '-')) {
            exp_len += 1;
        }
        let exp_digits = digits(len + exp_len);
        if exp_digits == 0 {
            return None;
        }
        len += exp_len + exp_digits;
    }
    if chars.get(len).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.') {
        return None;
    }
    let text: String = chars[..len].iter().collect();
    text.parse().ok().map(|n| (n, len))
}

/// Deep enough for any condition a person writes; shallow enough to never exhaust the stack.
const MAX_DEPTH: usize = 64;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Kind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn column(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end_column, |t| t.column)
    }

    fn error(&self, expected: &str) -> SyntaxError {
        let found = self.tokens.get(self.pos).map_or_else(|| "the end".to_string(), |t| t.kind.to_string());
        SyntaxError { column: self.column(), message: format!("expected {expected}, found {found}") }
    }

    fn or(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        let mut left = self.and(depth)?;
        while self.peek() == Some(&Kind::Or) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        let mut left = self.unary(depth)?;
        while self.peek() == Some(&Kind::And) {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(SyntaxError { column: self.column(), message: "nested too deeply".into() });
        }
        match self.peek() {
            Some(Kind::Not) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Kind::Open) => {
                self.pos += 1;
                let inner = self.or(depth + 1)?;
                if self.peek() != Some(&Kind::Close) {
                    return Err(self.error("')'"));
                }
                self.pos += 1;
                Ok(inner)
            }
            _ => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<Expr, SyntaxError> {
        let left = self.operand()?;
        let op = match self.peek() {
            Some(Kind::Cmp(op)) => *op,
            _ => return Err(self.error("a comparison (<, <=, >, >=, ==, !=)")),
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(Expr::Compare(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand, SyntaxError> {
        match self.peek() {
            Some(Kind::Operand(o)) => {
                let o = *o;
                self.pos += 1;
                Ok(o)
            }
            _ => Err(self.error("result or a number")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(cond: &str, v: f64) -> bool {
        Condition::parse(cond).unwrap_or_else(|e| panic!("{cond}: {e}")).holds(v)
    }

    fn error(cond: &str) -> SyntaxError {
        Condition::parse(cond).expect_err(cond)
    }

    #[test]
    fn every_comparison_operator() {
        assert!(holds("result < 0.05", 0.01) && !holds("result < 0.05", 0.05));
        assert!(holds("result <= 0.05", 0.05) && !holds("result <= 0.05", 0.06));
        assert!(holds("result > 10", 11.0) && !holds("result > 10", 10.0));
        assert!(holds("result >= 10", 10.0) && !holds("result >= 10", 9.9));
        assert!(holds("result == 1", 1.0) && !holds("result == 1", 1.5));
        assert!(holds("result != 1", 1.5) && !holds("result != 1", 1.0));
    }

    #[test]
    fn number_on_either_side_and_argo_indexing() {
        assert!(holds("0.05 > result", 0.01));
        assert!(!holds("0.05 > result", 0.1));
        assert!(holds("result[0] < 0.05", 0.01));
        assert!(holds("result[0]<0.05&&result[0]>=0", 0.0));
    }

    #[test]
    fn numbers_in_every_notation() {
        assert!(holds("result < 5e-2", 0.01));
        assert!(holds("result < 5E+2", 499.0));
        assert!(holds("result > -1", -0.5));
        assert!(holds("result > -.5", -0.25));
        assert!(holds("result < 1.", 0.5));
        assert!(holds("result < +3", 2.0));
        assert!(holds("result < Inf", 1e300));
        assert!(holds("result > -Inf", -1e300));
        assert!(!holds("result < +Inf", f64::INFINITY));
    }

    #[test]
    fn precedence_and_grouping() {
        // && binds tighter than ||.
        let c = "result < 1 || result > 5 && result < 6";
        assert!(holds(c, 0.5) && holds(c, 5.5) && !holds(c, 7.0) && !holds(c, 3.0));
        let c = "(result < 1 || result > 5) && result < 6";
        assert!(holds(c, 0.5) && holds(c, 5.5) && !holds(c, 7.0));
        assert!(holds("!(result > 5)", 3.0) && !holds("!(result > 5)", 6.0));
        assert!(holds("!!(result > 5)", 6.0));
        assert!(holds("((result > 1))", 2.0));
        assert!(holds("!(result < 0) && !(result > 1)", 0.5));
    }

    #[test]
    fn nan_never_succeeds_and_inf_compares() {
        for c in ["result < 1", "result > 1", "result != 1", "!(result > 1)", "!(result == 0) || result == 0"] {
            assert!(!holds(c, f64::NAN), "{c} must not hold for NaN");
        }
        assert!(holds("result > 1", f64::INFINITY));
        assert!(!holds("result < 1", f64::INFINITY));
        assert!(holds("result < 1", f64::NEG_INFINITY));
        assert!(holds("result == Inf", f64::INFINITY));
    }

    #[test]
    fn errors_name_the_column() {
        let e = error("result < ");
        assert_eq!(e.column, 10);
        assert!(e.message.contains("expected result or a number, found the end"), "{e}");

        let e = error("result < 0.05 & result > 0");
        assert_eq!((e.column, e.message.as_str()), (15, "expected '&&'"));

        let e = error("result = 1");
        assert_eq!(e.column, 8);
        assert!(e.message.contains("'=='"));

        let e = error("(result < 1");
        assert_eq!(e.column, 12);
        assert!(e.message.contains("expected ')'"));

        let e = error("result < 1)");
        assert_eq!((e.column, e.message.as_str()), (11, "unexpected ')'"));

        let e = error("value < 1");
        assert_eq!(e.column, 1);
        assert!(e.message.contains("unknown name \"value\""));

        let e = error("result < 1 and result > 0");
        assert_eq!(e.column, 12);
        assert!(e.message.contains("use &&"));

        let e = error("result");
        assert!(e.message.contains("expected a comparison"), "{e}");

        assert_eq!(error("result < 1.2.3").column, 10);
        assert_eq!(error("result < 1e").column, 10);
        assert_eq!(error("résult < 1").column, 1);
        assert_eq!(error("result[1] < 1").column, 7);
        assert!(error("result < NaN").message.contains("NaN"));
        assert!(error("   ").message.contains("empty condition"));
        assert!(error("1 < 2").message.contains("never looks at result"));
        assert!(error("result < 1 < 2").message.contains("unexpected"));
        assert!(error("result < 1 #").message.contains("unexpected character '#'"));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        // "ü" is two bytes; the error is still at character column 3.
        let e = error("ü < 1");
        assert_eq!(e.column, 1);
        let e = error("(result < 1) ü");
        assert_eq!(e.column, 14);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}result < 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(error(&deep).message.contains("nested too deeply"));
        let nots = format!("{}result < 1", "!".repeat(10_000));
        assert!(error(&nots).message.contains("nested too deeply"));
        let ok = format!("{}result < 1{}", "(".repeat(20), ")".repeat(20));
        assert!(holds(&ok, 0.0));
    }

    #[test]
    fn keeps_the_source_for_evidence() {
        let c = Condition::parse("  result < 0.05 ").unwrap();
        assert_eq!(c.source(), "result < 0.05");
        assert_eq!(c.to_string(), "result < 0.05");
    }
}
