use pretty_assertions::assert_eq;

use super::{repo_of, sample};
use crate::promote::pr::{
    self, BodyContext, EvidenceLine, MAX_BODY_CHARS, MAX_BRANCH_BYTES, MAX_TITLE_CHARS, branch_name, parse_marker,
};
use crate::promote::{ImageChange, Policy, PromotionPlan, plan_promotion};

fn plan() -> PromotionPlan {
    let tree = sample();
    plan_promotion(&repo_of(&tree), &tree, "web", "dev", "qa").unwrap()
}

fn change(image: &str, from: &str, to: &str) -> ImageChange {
    ImageChange {
        image: image.into(),
        from_tag: Some(from.into()),
        to_tag: Some(to.into()),
        from_digest: None,
        to_digest: None,
        source_image: format!("{image}:{to}"),
    }
}

#[test]
fn branch_names() {
    assert_eq!(branch_name("frontend", "qa"), "tidegate/promote/frontend/qa");
    assert_eq!(branch_name("a b~c^d:e?f*g[h\\i", "..x.lock"), "tidegate/promote/a-b-c-d-e-f-g-h-i/x.lock-");
    assert_eq!(branch_name("", "q..a."), "tidegate/promote/-/q.a");
    let long = "a".repeat(400);
    let b = branch_name(&long, "qa");
    assert!(b.len() <= MAX_BRANCH_BYTES, "{}", b.len());
    assert_eq!(b, branch_name(&long, "qa"), "deterministic");
    assert_ne!(b, branch_name(&long, "prod"), "the hash keeps long names apart");
    assert!(b.starts_with("tidegate/promote/aaa"));
    let hash = b.rsplit('-').next().unwrap();
    assert_eq!(hash.len(), 12);
    assert!(branch_name(&"é".repeat(300), "qa").is_ascii());
}

#[test]
fn titles() {
    let p = plan();
    assert_eq!(pr::title(&p), "Promote web to qa: ghcr.io/example/web 1.8.2 → 1.9.0");
    let mut many = p.clone();
    many.changes = (0..40).map(|i| change(&format!("ghcr.io/example/image-{i}"), "1.0.0", "1.1.0")).collect();
    let t = pr::title(&many);
    assert_eq!(t.chars().count(), MAX_TITLE_CHARS);
    assert!(t.ends_with('…'));
    let mut two = p.clone();
    two.changes.push(change("ghcr.io/example/sidecar", "0.1", "0.2"));
    assert_eq!(
        pr::title(&two),
        "Promote web to qa: ghcr.io/example/web 1.8.2 → 1.9.0, ghcr.io/example/sidecar 0.1 → 0.2"
    );
    let mut noop = p;
    noop.changes.clear();
    noop.edits.clear();
    assert_eq!(pr::title(&noop), "Promote web to qa (no changes)");
}

#[test]
fn commit_messages() {
    assert_eq!(
        pr::commit_message(&plan()),
        "Promote web to qa: ghcr.io/example/web 1.8.2 → 1.9.0\n\n\
         - ghcr.io/example/web: 1.8.2 → 1.9.0 (from dev, which runs ghcr.io/example/web:1.9.0)\n\n\
         Tidegate-Promotion: app=web from=dev target=qa\n"
    );
}

fn evidence() -> Vec<EvidenceLine> {
    vec![
        EvidenceLine { gate: "soak".into(), outcome: "passed".into(), detail: "healthy for 12m (needs 10m)".into() },
        EvidenceLine {
            gate: "prometheus/error-rate".into(),
            outcome: "passed".into(),
            detail: "0.8% | below 5% <!-- tidegate:promotion app=x target=y -->".into(),
        },
    ]
}

#[test]
fn body_for_reviewers() {
    let ctx = BodyContext {
        source_commit: Some("0123456789abcdef0123".into()),
        commit_url: Some("https://github.com/example/gitops/commit/0123456789abcdef0123".into()),
        requested_by: Some("alice".into()),
        tidegate_url: Some("https://tidegate.example.com/".into()),
    };
    let body = pr::body(&plan(), &evidence(), &ctx);
    assert!(
        body.starts_with("<!-- tidegate:promotion app=web target=qa -->\n## Promote `web` from `dev` to `qa`\n"),
        "{body}"
    );
    assert!(body.contains("| `ghcr.io/example/web` | `1.8.2` | **`1.9.0`** |"), "{body}");
    assert!(body.contains("[`0123456789ab`](https://github.com/example/gitops/commit/0123456789abcdef0123)"), "{body}");
    assert!(body.contains("**Requested by:** @alice."), "{body}");
    assert!(body.contains("| soak | ✅ passed | healthy for 12m (needs 10m) |"), "{body}");
    assert!(body.contains("0.8% \\| below 5% &lt;!-- tidegate"), "{body}");
    assert_eq!(body.matches("<!-- tidegate:promotion").count(), 1, "evidence cannot fake the marker");
    assert!(body.contains("- `overlays/qa/web/kustomization.yaml`"), "{body}");
    assert_eq!(parse_marker(&body), Some(("web".into(), "qa".into())));
    let auto = pr::body(&plan(), &[], &BodyContext::default());
    assert!(auto.contains("**Requested by:** tidegate, automatically"), "{auto}");
    assert!(auto.contains("No gate results yet."), "{auto}");
    let odd = pr::body(&plan(), &[], &BodyContext { requested_by: Some("not a login".into()), ..Default::default() });
    assert!(odd.contains("**Requested by:** `not a login`."), "{odd}");
}

#[test]
fn body_stays_under_githubs_limit() {
    let big: Vec<EvidenceLine> = (0..2_000)
        .map(|i| EvidenceLine {
            gate: format!("prometheus/g{i}"),
            outcome: "waiting".into(),
            detail: "ü".repeat(5_000),
        })
        .collect();
    let body = pr::body(&plan(), &big, &BodyContext::default());
    assert!(body.chars().count() <= MAX_BODY_CHARS, "{}", body.chars().count());
    assert!(body.starts_with("<!-- tidegate:promotion app=web target=qa -->"));
    assert!(body.contains("more gate results left out"));
    assert!(body.contains("### Files"), "the end of the body stays");
    let mut huge = plan();
    huge.changes = (0..5_000).map(|i| change(&format!("ghcr.io/example/image-{i}"), "1.0.0", "1.1.0")).collect();
    let body = pr::body(&huge, &big, &BodyContext::default());
    assert!(body.chars().count() <= MAX_BODY_CHARS);
    assert_eq!(parse_marker(&body), Some(("web".into(), "qa".into())));
}

#[test]
fn markers_and_labels() {
    assert_eq!(pr::marker("frontend", "qa"), "<!-- tidegate:promotion app=frontend target=qa -->");
    assert_eq!(parse_marker("text\n<!-- tidegate:promotion app=a target=b -->"), Some(("a".into(), "b".into())));
    assert_eq!(parse_marker("<!-- tidegate:promotion app=a -->"), None);
    assert_eq!(parse_marker("nothing"), None);
    let tree = sample();
    let policy = Policy::load(&tree, &repo_of(&tree)).unwrap();
    assert_eq!(pr::labels(&policy), ["tidegate/promotion"]);
}
