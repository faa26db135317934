//! The `images` transformer: rewrites `image` fields of every `containers` and `initContainers`
//! list found at any depth of any object (kustomize's legacy image filter), so Deployments,
//! CronJobs and custom resources are all covered.

use super::pattern::{cached_regex, is_literal, literal_prefix};
use regex::Regex;
use serde_json::Value;

use super::kustomization::ImageSpec;

/// Splits an image reference into name, tag and digest the way kustomize does: a `:` or `@`
/// before the first `/` belongs to the registry host (`localhost:5000/app`).
pub fn split_image(image: &str) -> (&str, &str, &str) {
    let offset = image.find('/').unwrap_or(0);
    let search = &image[offset..];
    let at = search.find('@').map(|i| i + offset);
    let colon = search.find(':').map(|i| i + offset);
    match (colon, at) {
        (None, None) => (image, "", ""),
        (c, Some(d)) if c.is_none_or(|c| d < c) => (&image[..d], "", &image[d + 1..]),
        (Some(c), Some(d)) => (&image[..c], &image[c + 1..d], &image[d + 1..]),
        (Some(c), None) => (&image[..c], &image[c + 1..], ""),
        (None, Some(_)) => unreachable!("covered above"),
    }
}

/// `(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?` matching the whole of `rest`.
fn tag_and_digest_suffix(rest: &str) -> bool {
    let allowed =
        |s: &str| s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'{' | b'}' | b'-'));
    let (tag, digest) = match rest.find('@') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let tag_ok = tag.is_empty() || tag.strip_prefix(':').is_some_and(allowed);
    let digest_ok = digest.is_none_or(|d| d.strip_prefix("@sha256:").is_some_and(allowed));
    tag_ok && digest_ok
}

/// A compiled `images` entry.
#[derive(Debug, Clone)]
pub struct ImageRule {
    spec: ImageSpec,
    matcher: Option<Regex>,
}

impl ImageRule {
    /// Compiles an entry. kustomize matches `name` as an (unescaped) regular expression against
    /// the whole reference, followed by an optional tag and digest.
    pub fn new(spec: ImageSpec) -> Self {
        // A plain name (the usual case) is matched by hand, with the same meaning.
        let matcher = if is_literal(&spec.name) {
            None
        } else {
            cached_regex(&format!("^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$", spec.name)).ok()
        };
        ImageRule { spec, matcher }
    }

    /// The rewritten reference, or `None` when this rule does not match `image`.
    pub fn rewrite(&self, image: &str) -> Option<String> {
        let matched = match &self.matcher {
            Some(re) => re.is_match(image),
            None => literal_prefix(&self.spec.name, image).is_some_and(|n| tag_and_digest_suffix(&image[n..])),
        };
        if !matched {
            return None;
        }
        let (name, tag, digest) = split_image(image);
        let name = self.spec.new_name.as_deref().unwrap_or(name);
        let (tag, digest) = match (self.spec.new_tag.as_deref(), self.spec.digest.as_deref()) {
            (Some(t), Some(d)) => (t, d),
            (Some(t), None) => (t, ""),
            (None, Some(d)) => ("", d),
            (None, None) => (tag, digest),
        };
        let mut out = name.to_string();
        if !tag.is_empty() {
            out.push(':');
            out.push_str(tag);
        }
        if !digest.is_empty() {
            out.push('@');
            out.push_str(digest);
        }
        Some(out)
    }
}

/// Applies every rule, in order, to each container image of `value` (each image field is
/// rewritten by the rules in sequence, like kustomize's one-filter-per-entry pipeline).
pub fn apply_images(value: &mut Value, rules: &[ImageRule]) {
    // kustomize's walk skips CustomResourceDefinitions (their schemas mention `containers`).
    if value.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition") {
        return;
    }
    for rule in rules {
        visit_containers(value, &mut |image: &mut Value| {
            if let Some(s) = image.as_str() {
                if let Some(new) = rule.rewrite(s) {
                    *image = Value::String(new);
                }
            }
        });
    }
}

fn visit_containers(node: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    match node {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if (key == "containers" || key == "initContainers") && child.is_array() {
                    for container in child.as_array_mut().into_iter().flatten() {
                        if let Some(image) = container.get_mut("image") {
                            f(image);
                        }
                    }
                } else {
                    visit_containers(child, f);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                visit_containers(item, f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(name: &str, new_name: Option<&str>, tag: Option<&str>, digest: Option<&str>) -> ImageRule {
        ImageRule::new(ImageSpec {
            name: name.into(),
            new_name: new_name.map(Into::into),
            new_tag: tag.map(Into::into),
            digest: digest.map(Into::into),
        })
    }

    #[test]
    fn splits_registry_ports_tags_and_digests() {
        assert_eq!(split_image("nginx"), ("nginx", "", ""));
        assert_eq!(split_image("nginx:1.0"), ("nginx", "1.0", ""));
        assert_eq!(split_image("localhost:5000/app:1.0"), ("localhost:5000/app", "1.0", ""));
        assert_eq!(split_image("localhost:5000/app"), ("localhost:5000/app", "", ""));
        assert_eq!(split_image("app@sha256:abc"), ("app", "", "sha256:abc"));
        assert_eq!(split_image("app:1@sha256:abc"), ("app", "1", "sha256:abc"));
    }

    #[test]
    fn rewrites_by_name_only() {
        let r = rule("nginx", None, Some("1.25"), None);
        assert_eq!(r.rewrite("nginx:1.0").as_deref(), Some("nginx:1.25"));
        assert_eq!(r.rewrite("nginx").as_deref(), Some("nginx:1.25"));
        assert_eq!(r.rewrite("nginx-exporter:1.0"), None);
        assert_eq!(r.rewrite("docker.io/nginx:1.0"), None);
        assert_eq!(r.rewrite("nginx@sha512:ab"), None, "kustomize v5.5 matches only sha256 digests");
        assert_eq!(r.rewrite("nginx:1.0@sha256:ab").as_deref(), Some("nginx:1.25"));
        // Regex syntax in a name is live, as in kustomize.
        assert_eq!(rule("ngin.", None, Some("2"), None).rewrite("nginx:1").as_deref(), Some("nginx:2"));
        assert_eq!(
            rule("registry.example.com/app", None, Some("2"), None).rewrite("registry.example.com/app:1").as_deref(),
            Some("registry.example.com/app:2")
        );
        assert_eq!(
            rule("registry.example.com/app", None, Some("2"), None).rewrite("registry.example.com/app-x:1"),
            None
        );
        assert_eq!(rule("ngin(x|y)", None, Some("2"), None).rewrite("nginx:1").as_deref(), Some("nginx:2"));
        let d = rule("app", Some("ghcr.io/x/app"), None, Some("sha256:ff"));
        assert_eq!(d.rewrite("app:1.0").as_deref(), Some("ghcr.io/x/app@sha256:ff"));
        let both = rule("app", None, Some("2"), Some("sha256:ff"));
        assert_eq!(both.rewrite("app:1@sha256:00").as_deref(), Some("app:2@sha256:ff"));
    }

    #[test]
    fn finds_containers_at_any_depth() {
        let mut cr = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "app:1"}], "initContainers": [{"image": "app:0"}]}}}}}, "x": [{"containers": [{"image": "app:1"}]}]});
        apply_images(&mut cr, &[rule("app", None, Some("2"), None)]);
        assert_eq!(cr.pointer("/spec/jobTemplate/spec/template/spec/containers/0/image").unwrap(), "app:2");
        assert_eq!(cr.pointer("/spec/jobTemplate/spec/template/spec/initContainers/0/image").unwrap(), "app:2");
        assert_eq!(cr.pointer("/x/0/containers/0/image").unwrap(), "app:2");
    }
}
