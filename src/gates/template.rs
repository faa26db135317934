//! Expansion of `{{app}}`, `{{env}}`, `{{namespace}}` and `{{target}}` in a gate's PromQL.
//! Pure.
//!
//! Values are escaped for a double-quoted PromQL string literal (`app="{{app}}"`): `\` and `"`
//! are backslash-escaped and control characters written as escapes. The values are validated
//! names and never need it, but a query must not change meaning if one ever did. Placeholders
//! may have spaces inside the braces (`{{ app }}`); any other name is an error, so a typo cannot
//! silently query the wrong series.

/// The values a query template can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateValues<'a> {
    /// `{{app}}`: the app being promoted.
    pub app: &'a str,
    /// `{{env}}`: the source environment (where the metrics come from).
    pub env: &'a str,
    /// `{{namespace}}`: the app's namespace in the source environment.
    pub namespace: &'a str,
    /// `{{target}}`: the environment the app is promoted to.
    pub target: &'a str,
}

/// The placeholders a query may use.
pub const PLACEHOLDERS: [&str; 4] = ["app", "env", "namespace", "target"];

/// Why a template does not expand; lowercase, without the gate name (callers add it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{name}}` with a name that is not one of [`PLACEHOLDERS`].
    #[error(
        "unknown placeholder {{{{{0}}}}} in the query (use {{{{app}}}}, {{{{env}}}}, {{{{namespace}}}} or {{{{target}}}})"
    )]
    Unknown(String),
    /// `{{` without a closing `}}`.
    #[error("unclosed {{{{ in the query at byte {0}")]
    Unclosed(usize),
}

/// Expands every placeholder of `query`.
pub fn expand(query: &str, values: &TemplateValues<'_>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or(TemplateError::Unclosed(offset + open))?;
        let name = after[..close].trim();
        let value = match name {
            "app" => values.app,
            "env" => values.env,
            "namespace" => values.namespace,
            "target" => values.target,
            _ => return Err(TemplateError::Unknown(name.to_string())),
        };
        out.push_str(&escape(value));
        let consumed = open + 2 + close + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks a template without values (for `tidegate check`).
pub fn check(query: &str) -> Result<(), TemplateError> {
    let dummy = TemplateValues { app: "a", env: "e", namespace: "n", target: "t" };
    expand(query, &dummy).map(|_| ())
}

/// Escapes `value` for the inside of a double-quoted PromQL string literal.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: TemplateValues<'static> =
        TemplateValues { app: "frontend", env: "dev", namespace: "shop", target: "prod" };

    #[test]
    fn expands_every_placeholder() {
        let q = r#"sum(rate(http_requests_total{app="{{app}}",env="{{env}}",namespace="{{ namespace }}",code=~"5.."}[5m])) / sum(rate(http_requests_total{app="{{app}}"}[5m])) # to {{target}}"#;
        assert_eq!(
            expand(q, &VALUES).unwrap(),
            r#"sum(rate(http_requests_total{app="frontend",env="dev",namespace="shop",code=~"5.."}[5m])) / sum(rate(http_requests_total{app="frontend"}[5m])) # to prod"#
        );
    }

    #[test]
    fn leaves_promql_braces_alone() {
        assert_eq!(expand(r#"up{job="x"}"#, &VALUES).unwrap(), r#"up{job="x"}"#);
        assert_eq!(expand("vector(1)", &VALUES).unwrap(), "vector(1)");
        assert_eq!(expand("", &VALUES).unwrap(), "");
    }

    #[test]
    fn escapes_values_for_a_string_literal() {
        let values = TemplateValues { app: r#"a"b\c"#, env: "x\ny", namespace: "\u{1}", target: "ü" };
        assert_eq!(
            expand(r#"m{a="{{app}}",e="{{env}}",n="{{namespace}}",t="{{target}}"}"#, &values).unwrap(),
            r#"m{a="a\"b\\c",e="x\ny",n="\u0001",t="ü"}"#
        );
        // A value cannot close the string and add a matcher.
        let evil = TemplateValues { app: r#"x",app=~".*"#, ..VALUES };
        assert_eq!(expand(r#"m{app="{{app}}"}"#, &evil).unwrap(), r#"m{app="x\",app=~\".*"}"#);
    }

    #[test]
    fn unknown_and_unclosed_placeholders_are_errors() {
        let e = expand(r#"m{app="{{ap}}"}"#, &VALUES).unwrap_err();
        assert_eq!(e, TemplateError::Unknown("ap".into()));
        assert_eq!(
            e.to_string(),
            "unknown placeholder {{ap}} in the query (use {{app}}, {{env}}, {{namespace}} or {{target}})"
        );
        assert_eq!(expand(r#"m{app="{{app"}"#, &VALUES).unwrap_err(), TemplateError::Unclosed(7));
        assert_eq!(check("{{app}} {{env}}"), Ok(()));
        assert!(check("{{}}").is_err());
    }
}
