//! kustomize's anchored patterns (patch targets, image names) without paying for a regular
//! expression when the pattern is a plain name, which it nearly always is. Real regular
//! expressions are compiled once per distinct pattern and shared.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

/// A pattern matched against a whole value.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// No regular-expression syntax except `.`, which matches any one character (so
    /// `networking.k8s.io` or `registry.example.com/app` need no regex).
    Literal(String),
    /// A compiled, anchored regular expression.
    Regex(Regex),
}

/// True when `p`'s only regular-expression syntax is `.` (any one character). Characters
/// that are special only inside a class or in verbose mode (`-`, `&`, `~`, `#`) are plain.
pub fn is_literal(p: &str) -> bool {
    !p.chars().any(|c| matches!(c, '\\' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'))
}

/// The length in bytes of the prefix of `s` that `pattern` (literal but for `.` wildcards)
/// matches, if it matches one.
pub fn literal_prefix(pattern: &str, s: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    for p in pattern.chars() {
        let (_, c) = chars.next()?;
        if p != '.' && p != c || p == '.' && c == '\n' {
            return None;
        }
    }
    Some(chars.next().map_or(s.len(), |(i, _)| i))
}

/// Compiles `regex` once per process.
pub fn cached_regex(regex: &str) -> Result<Regex, regex::Error> {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(re) = cache.lock().expect("regex cache lock").get(regex) {
        return Ok(re.clone());
    }
    let re = Regex::new(regex)?;
    let mut cache = cache.lock().expect("regex cache lock");
    // Bounded: a repository with thousands of distinct patterns must not keep them all.
    if cache.len() < 256 {
        cache.insert(regex.to_string(), re.clone());
    }
    Ok(re)
}

impl Pattern {
    /// kustomize's `^(?:p)$`.
    pub fn anchored(p: &str) -> Result<Pattern, regex::Error> {
        if is_literal(p) {
            Ok(Pattern::Literal(p.to_string()))
        } else {
            cached_regex(&format!("^(?:{p})$")).map(Pattern::Regex)
        }
    }

    /// True if the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        match self {
            Pattern::Literal(l) => literal_prefix(l, s) == Some(s.len()),
            Pattern::Regex(re) => re.is_match(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_regexes_match_whole_values() {
        let lit = Pattern::anchored("web").unwrap();
        assert!(matches!(lit, Pattern::Literal(_)));
        assert!(lit.is_match("web") && !lit.is_match("web-1") && !lit.is_match("a-web"));
        let re = Pattern::anchored("web-.*").unwrap();
        assert!(matches!(re, Pattern::Regex(_)));
        assert!(re.is_match("web-1") && !re.is_match("web") && !re.is_match("legacy-web-1"));
        let alt = Pattern::anchored("v1|v2").unwrap();
        assert!(alt.is_match("v2") && !alt.is_match("v1|v2"));
        assert!(Pattern::anchored("(a").is_err());
        assert!(matches!(Pattern::anchored("svc-0030").unwrap(), Pattern::Literal(_)), "a dash is not regex syntax");
        assert!(matches!(Pattern::anchored("eu-west-1#a~b&c").unwrap(), Pattern::Literal(_)));
        let dotted = Pattern::anchored("networking.k8s.io").unwrap();
        assert!(matches!(dotted, Pattern::Literal(_)));
        assert!(
            dotted.is_match("networking.k8s.io")
                && dotted.is_match("networkingXk8sXio")
                && !dotted.is_match("networking.k8s.io2")
        );
        assert_eq!(literal_prefix("a.c", "abc:1"), Some(3));
        assert_eq!(literal_prefix("a.c", "ab"), None);
        assert_eq!(literal_prefix("é.", "éx"), Some(3));
    }
}
