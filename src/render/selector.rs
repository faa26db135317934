//! Kubernetes label selectors (`app=web,tier in (a,b),!legacy`), as kustomize's patch targets
//! use them for both labels and annotations.

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed selector; all requirements must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// A selector that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector {selector:?}: {message}")]
pub struct SelectorError {
    /// The selector as written.
    pub selector: String,
    /// What is wrong.
    pub message: String,
}

impl Selector {
    /// Parses the Kubernetes selector syntax.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let err = |m: &str| SelectorError { selector: text.to_string(), message: m.to_string() };
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err(err("empty requirement"));
            }
            let req = if let Some(key) = part.strip_prefix('!') {
                Requirement::DoesNotExist(valid_key(key.trim()).map_err(|m| err(&m))?)
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(valid_key(key.trim()).map_err(|m| err(&m))?, value.trim().to_string())
            } else if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(valid_key(key.trim()).map_err(|m| err(&m))?, value.trim().to_string())
            } else if let Some((key, set)) = split_set(part, " notin ") {
                Requirement::NotIn(valid_key(key).map_err(|m| err(&m))?, parse_set(set).map_err(|m| err(&m))?)
            } else if let Some((key, set)) = split_set(part, " in ") {
                Requirement::In(valid_key(key).map_err(|m| err(&m))?, parse_set(set).map_err(|m| err(&m))?)
            } else {
                Requirement::Exists(valid_key(part).map_err(|m| err(&m))?)
            };
            requirements.push(req);
        }
        Ok(Selector { requirements })
    }

    /// True if the labels satisfy every requirement.
    pub fn matches(&self, labels: &[(&str, &str)]) -> bool {
        let get = |k: &str| labels.iter().find(|(lk, _)| *lk == k).map(|(_, v)| *v);
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, set) => get(k).is_some_and(|v| set.iter().any(|s| s == v)),
            Requirement::NotIn(k, set) => get(k).is_none_or(|v| !set.iter().any(|s| s == v)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        })
    }
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn split_set<'a>(part: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let i = part.find(op)?;
    Some((part[..i].trim(), part[i + op.len()..].trim()))
}

fn parse_set(set: &str) -> Result<Vec<String>, String> {
    let inner = set
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised set, found {set:?}"))?;
    Ok(inner.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
}

fn valid_key(key: &str) -> Result<String, String> {
    if key.is_empty() || key.contains(char::is_whitespace) || key.contains(['(', ')', '=', '!']) {
        return Err(format!("invalid label key {key:?}"));
    }
    Ok(key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_and_set_based_requirements() {
        let labels = [("app", "web"), ("tier", "api")];
        let yes = [
            "app=web",
            "app==web",
            "app!=db",
            "tier in (web, api)",
            "tier notin (db)",
            "app",
            "!legacy",
            "app=web,tier in (api)",
            "",
        ];
        for s in yes {
            assert!(Selector::parse(s).unwrap().matches(&labels), "{s}");
        }
        let no = ["app=db", "tier in (db)", "tier notin (api)", "legacy", "!app", "app=web,tier=db"];
        for s in no {
            assert!(!Selector::parse(s).unwrap().matches(&labels), "{s}");
        }
    }

    #[test]
    fn malformed_selectors_are_refused() {
        assert!(Selector::parse("tier in web").is_err());
        assert!(Selector::parse("a b").is_err());
    }
}
