//! The bounds every YAML and JSON document is held to, taken from what kustomize reads with.
//!
//! - **Nesting**: go-yaml v3 refuses a document nested deeper than 10,000 collections (its
//!   scanner's `max_indents` and `max_flow_level`, "exceeded max depth of 10000"), and Go's
//!   `encoding/json`, through which kustomize passes every object, has the same limit
//!   (`maxNestingDepth`). tidegate refuses the same documents, and checks objects again after
//!   every transformation that can deepen them (a JSON patch's `add`, `copy`, `move`), so no
//!   recursive walk ever meets a deeper value.
//! - **Alias expansion**: go-yaml v3 refuses "excessive aliasing" when the share of nodes that
//!   come from expanding aliases exceeds a ratio of the nodes decoded so far (99 % for small
//!   documents, falling to 10 % for large ones). [`AliasBudget`] applies the same rule, so a
//!   500-byte "billion laughs" file is refused before it is expanded. Because a copied JSON
//!   string is not shared the way Go shares one, the bytes aliases copy are bounded too
//!   ([`max_alias_bytes`]).
//! - **Flow nesting**: the YAML reader (yaml-rust2) counts flow levels (`[…]`, `{…}`) in a byte,
//!   so flow collections nest at most 255 levels deep; block collections go to [`MAX_DEPTH`].
//!
//! Owns: the numbers and the checks. Must not touch: files, the network.

use serde_json::Value;

/// The deepest nesting of collections (mappings and sequences) a document may have; the top
/// collection of a document is level 1. go-yaml v3's and `encoding/json`'s limit.
pub const MAX_DEPTH: usize = 10_000;

/// The stack a thread needs to walk (parse, transform, serialise, compare, drop) a value nested
/// [`MAX_DEPTH`] levels deep with the recursive code of this crate and serde_json, unoptimised
/// builds included, with a wide margin. Only touched pages are ever committed, so the size costs
/// address space, not memory.
pub const DEEP_STACK_BYTES: usize = 256 << 20;

/// Runs `f` on a thread with a [`DEEP_STACK_BYTES`] stack and returns its result; a panic in
/// `f` is resumed on the caller.
pub fn on_deep_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("deep-stack".into())
            .stack_size(DEEP_STACK_BYTES)
            .spawn_scoped(scope, f)
            .expect("failed to start a thread");
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// go-yaml v3: below this many decoded nodes, up to 99 % may come from alias expansion.
const ALIAS_RATIO_RANGE_LOW: u64 = 400_000;
/// go-yaml v3: above this many decoded nodes, at most 10 % may come from alias expansion.
const ALIAS_RATIO_RANGE_HIGH: u64 = 4_000_000;

/// The share of decoded nodes that may come from alias expansion once `decoded` nodes have been
/// decoded (go-yaml v3's `allowedAliasRatio`).
pub fn allowed_alias_ratio(decoded: u64) -> f64 {
    if decoded <= ALIAS_RATIO_RANGE_LOW {
        0.99
    } else if decoded >= ALIAS_RATIO_RANGE_HIGH {
        0.10
    } else {
        let range = (ALIAS_RATIO_RANGE_HIGH - ALIAS_RATIO_RANGE_LOW) as f64;
        0.99 - 0.89 * ((decoded - ALIAS_RATIO_RANGE_LOW) as f64 / range)
    }
}

/// go-yaml v3's count of decoded nodes for one document: every node decoded counts once, and a
/// node decoded while expanding an alias counts as aliased too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AliasBudget {
    /// Nodes decoded, aliased ones included.
    pub decoded: u64,
    /// Nodes decoded while expanding aliases.
    pub aliased: u64,
}

impl AliasBudget {
    /// Counts one node read from the text.
    pub fn node(&mut self) {
        self.decoded += 1;
    }

    /// Counts the expansion of an alias (itself counted by [`AliasBudget::node`]) whose anchored
    /// value holds `nodes` nodes (counted the same way, nested aliases expanded). Returns `false`
    /// when the document now has excessive aliasing. Checking once after the whole expansion is
    /// the same as go-yaml's check at every node: during an expansion the ratio only grows and
    /// the allowance only shrinks.
    pub fn expand(&mut self, nodes: u64) -> bool {
        self.decoded += nodes;
        self.aliased += nodes;
        !self.excessive()
    }

    /// go-yaml v3's condition for "document contains excessive aliasing".
    pub fn excessive(&self) -> bool {
        self.aliased > 100
            && self.decoded > 1000
            && self.aliased as f64 / self.decoded as f64 > allowed_alias_ratio(self.decoded)
    }
}

/// How deeply `value` nests collections (a scalar is 0, `{}` and `[]` are 1), found without
/// recursion so any value can be measured.
pub fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
    while let Some((v, level)) = stack.pop() {
        match v {
            Value::Object(m) => {
                deepest = deepest.max(level);
                stack.extend(m.values().map(|c| (c, level + 1)));
            }
            Value::Array(items) => {
                deepest = deepest.max(level);
                stack.extend(items.iter().map(|c| (c, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// Roughly how many bytes of memory `value` occupies: a fixed cost per node and per mapping entry
/// plus the text of its strings and keys. Used for budgets, not accounting; found without
/// recursion.
pub fn approx_bytes(value: &Value) -> u64 {
    const NODE: u64 = 32;
    const ENTRY: u64 = 48;
    let mut bytes = 0u64;
    let mut stack: Vec<&Value> = vec![value];
    while let Some(v) = stack.pop() {
        bytes += NODE;
        match v {
            Value::String(s) => bytes += s.len() as u64,
            Value::Object(m) => {
                for (k, c) in m {
                    bytes += ENTRY + k.len() as u64;
                    stack.push(c);
                }
            }
            Value::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    bytes
}

/// How many bytes alias expansion may add to a YAML stream of `text_len` bytes: go-yaml's ratio
/// counts nodes, and Go shares the text of an aliased string, but a copied JSON value does not;
/// so tidegate also bounds the bytes aliases copy (16 × the text, at least 16 MiB).
pub fn max_alias_bytes(text_len: usize) -> u64 {
    (16 * text_len as u64).max(16 << 20)
}

/// How deeply a JSON text nests arrays and objects, found by scanning its bytes (strings and
/// their escapes skipped), so a document can be measured before a recursive parser sees it.
pub fn json_nesting(bytes: &[u8]) -> usize {
    let (mut level, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                level += 1;
                deepest = deepest.max(level);
            }
            b']' | b'}' => level = level.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Parses JSON nested at most [`MAX_DEPTH`] levels (serde_json's own limit, 128, is lifted:
/// Kubernetes objects may nest as deep as kustomize and the API server allow). Call it on a
/// deep stack ([`on_deep_stack`], or a runtime with [`DEEP_STACK_BYTES`] threads).
pub fn parse_json(bytes: &[u8]) -> Result<Value, String> {
    use serde::Deserialize as _;
    let nesting = json_nesting(bytes);
    if nesting > MAX_DEPTH {
        return Err(format!("exceeded max depth of {MAX_DEPTH} (the document nests {nesting} levels)"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let value = Value::deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// Frees a value of any depth without recursion (serde_json's `Drop` recurses once per level).
pub fn drop_deep(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => stack.extend(m.into_iter().map(|(_, c)| c)),
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ratio_follows_go_yaml() {
        assert_eq!(allowed_alias_ratio(10), 0.99);
        assert_eq!(allowed_alias_ratio(400_000), 0.99);
        assert!((allowed_alias_ratio(2_200_000) - 0.545).abs() < 1e-9);
        assert_eq!(allowed_alias_ratio(4_000_000), 0.10);
        assert_eq!(allowed_alias_ratio(u64::MAX), 0.10);
    }

    #[test]
    fn small_documents_may_alias_a_lot_but_not_everything() {
        let mut b = AliasBudget::default();
        for _ in 0..20 {
            b.node();
        }
        // 20 nodes and one alias of 90: few nodes in all, allowed.
        assert!(b.expand(90));
        // 2,000 nodes from one 20-node anchor: over 99 % aliased.
        let mut b = AliasBudget::default();
        for _ in 0..20 {
            b.node();
        }
        assert!(!b.expand(200_000));
    }

    #[test]
    fn json_is_measured_before_it_is_parsed() {
        assert_eq!(json_nesting(br#"{"a": "[[[\"{", "b": [[1], {}]}"#), 3);
        let deep = format!("{}1{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let err = parse_json(deep.as_bytes()).unwrap_err();
        assert!(err.contains("exceeded max depth of 10000"), "{err}");
        let ok = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(depth(&parse_json(ok.as_bytes()).unwrap()), 200);
        assert!(parse_json(b"{} x").is_err());
    }

    #[test]
    fn depth_is_measured_without_recursion() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({"a": [1, {"b": []}]})), 4);
        let mut v = json!("leaf");
        for _ in 0..200_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(depth(&v), 200_000);
        drop_deep(v);
    }
}
