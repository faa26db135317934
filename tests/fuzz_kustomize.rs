//! Property tests of the kustomization build over small generated trees (issue 9, "Fuzzing").
//!
//! A tree is a base (`app-base/`) and an overlay (`app-overlay/`) in memory: generated
//! Deployments, ConfigMaps and Services, kustomizations using the supported fields (`resources`,
//! `bases`, `namespace`, `patches` and `patchesJson6902` with JSON 6902 operations, `images`,
//! `labels`, `commonLabels`, `commonAnnotations`), and now and then a broken piece (a missing
//! file, a cycle, an unknown field, YAML punctuation spliced into a file). Building either
//! directory:
//!
//! - never panics, and either succeeds or fails with an error naming a file or directory of the
//!   tree;
//! - gives the same result twice;
//! - when it succeeds, prints YAML that reads back as the objects built, every object has a
//!   kind and a name, and the overlay's `namespace` is on every object.
//!
//! The number of cases comes from `PROPTEST_CASES` (256 by default); failures are not
//! persisted to files.

use std::collections::BTreeMap;
use std::io;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tidegate::render::{self, fs::EntryKind, fs::RepoPath, fs::SourceTree};
use tidegate::yaml;

fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// A repository in memory: path → content.
#[derive(Debug, Clone, Default)]
struct MemTree(BTreeMap<String, String>);

impl SourceTree for MemTree {
    fn read(&self, path: &RepoPath) -> io::Result<Vec<u8>> {
        self.0.get(path.as_str()).map(|t| t.clone().into_bytes()).ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    fn kind(&self, path: &RepoPath) -> Option<EntryKind> {
        if self.0.contains_key(path.as_str()) {
            return Some(EntryKind::File);
        }
        let prefix = if path.as_str().is_empty() { String::new() } else { format!("{}/", path.as_str()) };
        self.0.keys().any(|k| k.starts_with(&prefix)).then_some(EntryKind::Dir)
    }

    fn list(&self, path: &RepoPath) -> io::Result<Vec<String>> {
        let prefix = if path.as_str().is_empty() { String::new() } else { format!("{}/", path.as_str()) };
        let mut names: Vec<String> = self
            .0
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        names.dedup();
        Ok(names)
    }
}

const NAMES: &[&str] = &["web", "api", "db", "cache"];
const IMAGES: &[&str] = &["nginx", "nginx:1.25", "ghcr.io/acme/api:1.0", "redis@sha256:0123456789abcdef", "busybox"];

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{1,8}",
        prop::sample::select(&["true", "1.0", "yes", "on", "~", "", "a b", "x: y", "'q'"][..]).prop_map(str::to_string),
    ]
}

fn labels() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(prop::sample::select(&["app", "tier", "team", "x/y"][..]), label_value(), 0..3)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect())
}

/// One Kubernetes object.
fn object() -> impl Strategy<Value = Value> {
    let kind = prop::sample::select(&["Deployment", "ConfigMap", "Service", "Namespace", "ClusterRole"][..]);
    (
        kind,
        prop::sample::select(NAMES),
        labels(),
        prop::collection::vec(prop::sample::select(IMAGES), 1..3),
        any::<String>(),
    )
        .prop_map(|(kind, name, labels, images, data)| {
            let meta = json!({"name": name, "labels": labels});
            match kind {
                "Deployment" => json!({
                    "apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                    "spec": {
                        "selector": {"matchLabels": {"app": name}},
                        "template": {
                            "metadata": {"labels": {"app": name}},
                            "spec": {"containers": images.iter().enumerate()
                                .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
                                .collect::<Vec<_>>()},
                        },
                    },
                }),
                "ConfigMap" => json!({"apiVersion": "v1", "kind": kind, "metadata": meta, "data": {"text": data}}),
                "Service" => json!({
                    "apiVersion": "v1", "kind": kind, "metadata": meta,
                    "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
                }),
                _ => json!({"apiVersion": if kind == "Namespace" { "v1" } else { "rbac.authorization.k8s.io/v1" }, "kind": kind, "metadata": meta}),
            }
        })
}

/// A JSON 6902 patch entry targeting objects by kind and/or name: mostly operations that
/// apply to what they target, some that cannot.
fn patch_entry() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        8 => Just(json!({"op": "add", "path": "/metadata/annotations", "value": {"fuzz": "yes"}})),
        4 => Just(json!({"op": "replace", "path": "/spec/replicas", "value": 3})),
        4 => Just(json!({"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "side", "image": "busybox"}})),
        4 => Just(json!({"op": "add", "path": "/metadata/labels/extra", "value": "x"})),
        4 => Just(json!({"op": "copy", "from": "/metadata/name", "path": "/metadata/labels/copied"})),
        2 => Just(json!({"op": "remove", "path": "/metadata/labels"})),
        2 => Just(json!({"op": "test", "path": "/kind", "value": "Deployment"})),
        2 => Just(json!({"op": "move", "from": "/data", "path": "/binaryData"})),
        1 => Just(json!({"op": "bogus", "path": "/x"})),
    ];
    (
        // Now and then no operation at all (an error, as in kustomize).
        prop_oneof![19 => prop::collection::vec(op, 1..4), 1 => Just(Vec::new())],
        prop_oneof![
            3 => Just(Some("Deployment")),
            1 => prop::option::of(prop::sample::select(&["ConfigMap", "Service"][..])),
        ],
        prop::option::of(prop::sample::select(&["web-0", "api-1", "db-0", "cache-2", "web-x0"][..])),
        any::<bool>(),
    )
        .prop_map(|(ops, kind, name, as_yaml)| {
            let mut target = Map::new();
            if let Some(k) = kind {
                target.insert("kind".into(), json!(k));
            }
            if let Some(n) = name {
                target.insert("name".into(), json!(n));
            }
            let text = if as_yaml { yaml::emit_document(&Value::Array(ops)) } else { Value::Array(ops).to_string() };
            json!({"patch": text, "target": target})
        })
}

/// A kustomization with a random selection of the supported fields.
fn kustomization(resources: Vec<String>) -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop::sample::select(&["team-a", "prod", "kube-system"][..])),
        prop::collection::vec(patch_entry(), 0..3),
        prop::option::of((prop::sample::select(&["nginx", "busybox", "ghcr.io/acme/api"][..]), "[a-z0-9.]{1,6}")),
        prop::option::of(labels()),
        prop::option::of(labels()),
        prop::option::of(labels()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(namespace, patches, image, common_labels, labels, annotations, legacy, include)| {
            let mut k = Map::new();
            k.insert("apiVersion".into(), json!("kustomize.config.k8s.io/v1beta1"));
            k.insert("kind".into(), json!("Kustomization"));
            k.insert("resources".into(), json!(resources));
            if let Some(ns) = namespace {
                k.insert("namespace".into(), json!(ns));
            }
            if !patches.is_empty() {
                let mut patches = patches.clone();
                if legacy {
                    // kustomize requires `target.name` there.
                    for p in &mut patches {
                        if p["target"].get("name").is_none() {
                            p["target"]["name"] = json!("web-0");
                        }
                    }
                }
                k.insert(if legacy { "patchesJson6902" } else { "patches" }.into(), json!(patches));
            }
            if let Some((name, tag)) = image {
                k.insert("images".into(), json!([{"name": name, "newTag": tag}]));
            }
            if let Some(l) = common_labels {
                k.insert("commonLabels".into(), Value::Object(l));
            }
            if let Some(l) = labels {
                k.insert("labels".into(), json!([{"pairs": l, "includeSelectors": include}]));
            }
            if let Some(a) = annotations {
                k.insert("commonAnnotations".into(), Value::Object(a));
            }
            Value::Object(k)
        })
}

/// Something that breaks a tree, or nothing.
#[derive(Debug, Clone)]
enum Damage {
    None,
    /// A resource entry for a file that is not there.
    MissingFile,
    /// The base lists the overlay: a cycle.
    Cycle,
    /// A field kustomize has and tidegate refuses, or a typo.
    Field(&'static str),
    /// Text spliced into one file at a position.
    Splice(usize, prop::sample::Index, String),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => Just(Damage::None),
        1 => Just(Damage::MissingFile),
        1 => Just(Damage::Cycle),
        1 => prop::sample::select(&["namePrefix", "resourcess", "configMapGenerator", "replicas"][..]).prop_map(Damage::Field),
        3 => (0..8usize, any::<prop::sample::Index>(), prop::sample::select(&[
            "\n", ": ", "- ", "{", "[", "'", "\"", "&a ", "*a", "*nope", "<<: *a", "|", "\t", "---\n", "#", "\u{feff}", "!!binary ",
        ][..]).prop_map(str::to_string))
            .prop_map(|(file, at, text)| Damage::Splice(file, at, text)),
    ]
}

fn tree() -> impl Strategy<Value = MemTree> {
    (
        prop::collection::vec(object(), 1..4),
        prop::collection::vec(object(), 0..3),
        kustomization(vec![]),
        kustomization(vec![]),
        any::<bool>(),
        damage(),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(base_objects, overlay_objects, mut base_k, mut overlay_k, use_bases, damage, clash)| {
            let mut files = BTreeMap::new();
            let mut base_resources = Vec::new();
            // Distinct names (`web-0`, `db-x1`), unless the objects are to clash (duplicate ids).
            let rename = |o: &Value, suffix: String| {
                let mut o = o.clone();
                if !clash {
                    let name = format!("{}-{suffix}", o["metadata"]["name"].as_str().unwrap_or("x"));
                    o["metadata"]["name"] = json!(name);
                }
                o
            };
            let base_objects: Vec<Value> =
                base_objects.iter().enumerate().map(|(i, o)| rename(o, i.to_string())).collect();
            let overlay_objects: Vec<Value> =
                overlay_objects.iter().enumerate().map(|(i, o)| rename(o, format!("x{i}"))).collect();
            for (i, o) in base_objects.iter().enumerate() {
                let name = format!("r{i}.yaml");
                files.insert(format!("app-base/{name}"), yaml::emit_document(o));
                base_resources.push(json!(name));
            }
            // Several documents in one file, too.
            if base_objects.len() > 1 {
                files.insert("app-base/all.yaml".into(), yaml::emit_stream(&base_objects[1..]));
            }
            let mut overlay_resources = vec![];
            for (i, o) in overlay_objects.iter().enumerate() {
                let name = format!("extra{i}.yaml");
                files.insert(format!("app-overlay/{name}"), yaml::emit_document(o));
                overlay_resources.push(json!(name));
            }
            match &damage {
                Damage::MissingFile => base_resources.push(json!("gone.yaml")),
                Damage::Cycle => base_resources.push(json!("../app-overlay")),
                _ => {}
            }
            base_k["resources"] = Value::Array(base_resources);
            if use_bases {
                overlay_k["resources"] = Value::Array(overlay_resources);
                overlay_k["bases"] = json!(["../app-base"]);
            } else {
                overlay_resources.insert(0, json!("../app-base"));
                overlay_k["resources"] = Value::Array(overlay_resources);
            }
            if let Damage::Field(f) = damage {
                overlay_k[f] = json!("x");
            }
            files.insert("app-base/kustomization.yaml".into(), yaml::emit_document(&base_k));
            files.insert("app-overlay/kustomization.yaml".into(), yaml::emit_document(&overlay_k));
            if let Damage::Splice(file, at, text) = damage {
                let key = files.keys().nth(file % files.len()).cloned().unwrap_or_default();
                if let Some(content) = files.get_mut(&key) {
                    let boundaries: Vec<usize> = (0..=content.len()).filter(|&i| content.is_char_boundary(i)).collect();
                    content.insert_str(boundaries[at.index(boundaries.len())], &text);
                }
            }
            MemTree(files)
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn builds_succeed_or_name_a_file(tree in tree(), overlay in any::<bool>()) {
        let dir = RepoPath::new(if overlay { "app-overlay" } else { "app-base" }).expect("a path");
        let first = render::build(&tree, &dir);
        let second = render::build(&tree, &dir);
        match (&first, &second) {
            (Ok(a), Ok(b)) => {
                let a: Vec<&Value> = a.iter().map(|r| &r.value).collect();
                let b: Vec<&Value> = b.iter().map(|r| &r.value).collect();
                prop_assert_eq!(&a, &b, "two builds differ");
                for v in &a {
                    prop_assert!(v.get("kind").and_then(Value::as_str).is_some_and(|k| !k.is_empty()), "{:?}", v);
                    prop_assert!(v.pointer("/metadata/name").and_then(Value::as_str).is_some(), "{:?}", v);
                }
                // What `tidegate build` prints reads back as what was built.
                let printed = render::build_yaml(&tree, &dir).expect("built once, builds again");
                let back = yaml::parse_documents(&printed);
                prop_assert!(back.is_ok(), "printed YAML does not parse: {:?}\n{}", back, printed);
                let back: Vec<Value> = back.unwrap_or_default().into_iter().map(|d| d.value).collect();
                let built: Vec<Value> = a.into_iter().cloned().collect();
                prop_assert_eq!(back, built.clone(), "{}", printed);
                // The top kustomization's namespace is on every namespaced object.
                let k = yaml::parse_single(&String::from_utf8_lossy(&tree.read(&dir.join("kustomization.yaml").expect("path")).expect("file")));
                if let Some(ns) = k.ok().as_ref().and_then(|k| k.get("namespace")).and_then(Value::as_str) {
                    for v in &built {
                        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
                        if matches!(kind, "Deployment" | "ConfigMap" | "Service") {
                            prop_assert_eq!(v.pointer("/metadata/namespace").and_then(Value::as_str), Some(ns), "{:?}", v);
                        }
                    }
                }
            }
            (Err(a), Err(b)) => {
                prop_assert_eq!(a.to_string(), b.to_string(), "two builds fail differently");
                let message = a.to_string();
                prop_assert!(
                    message.contains("app-base") || message.contains("app-overlay"),
                    "the error names no file of the tree: {}", message
                );
            }
            _ => prop_assert!(false, "one build succeeds, the other fails: {:?} / {:?}", first.is_ok(), second.is_ok()),
        }
    }
}
