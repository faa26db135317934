use std::time::Duration;

use pretty_assertions::assert_eq;

use super::{repo_of, sample};
use crate::chatops::Permission;
use crate::promote::{Mode, POLICY_FILE, Policy, PromoteError};

const POLICY: &str = r#"
apiVersion: tidegate.dev/v1alpha1
kind: PromotionPolicy
metadata:
  name: test
spec:
  pipeline: [dev, qa, prod]
  prometheus:
    address: http://prometheus:9090
  labels: [promotion, release]
  environments:
    qa:
      mode: auto
      soak: 10m
      gates:
        prometheus:
          - name: error-rate
            query: 'sum(rate(x{namespace="{{namespace}}",app="{{app}}",env="{{env}}"}[5m]))'
            successCondition: result < 0.05
            count: 3
            interval: 1m
          - name: latency
            query: 'histogram_quantile(0.99, y{app="{{app}}"})'
            successCondition: result < 0.5
            address: http://other:9090
    prod:
      mode: manual
      soak: 1h
      permission: maintain
      windows:
        - schedule: "0 9 * * 1-4"
          duration: 7h
          timeZone: Europe/Berlin
  apps:
    web:
      environments:
        qa: { mode: manual, soak: 30m }
    db: { promote: false }
"#;

#[test]
fn resolves_modes_gates_and_overrides() {
    let tree = sample();
    let repo = repo_of(&tree);
    let p = Policy::parse(POLICY, &repo).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.name.as_deref(), Some("test"));
    assert_eq!(p.labels(), ["promotion", "release"]);
    assert_eq!(p.mode("api", "qa"), Mode::Auto);
    assert_eq!(p.mode("web", "qa"), Mode::Manual, "the app override wins");
    assert_eq!(p.mode("db", "qa"), Mode::Manual, "not promoted: never automatic");
    assert_eq!(p.mode("api", "dev"), Mode::Manual, "nothing is promoted to the first environment");
    assert!(!p.promotes("db"));
    assert!(p.promotes("web"));
    let g = p.gates("api", "qa");
    assert_eq!(g.soak, Duration::from_secs(600));
    assert!(!g.require_approval);
    assert_eq!(g.prometheus_address.as_deref(), Some("http://prometheus:9090"));
    assert_eq!(g.prometheus[0].address.as_deref(), Some("http://prometheus:9090"), "defaulted");
    assert_eq!(g.prometheus[1].address.as_deref(), Some("http://other:9090"), "kept");
    assert_eq!(g.prometheus[0].count, Some(3));
    let g = p.gates("web", "qa");
    assert_eq!(g.soak, Duration::from_secs(1800));
    assert_eq!(g.prometheus.len(), 2, "the environment's gates stay when the app does not replace them");
    assert!(g.require_approval);
    let g = p.gates("web", "prod");
    assert_eq!(g.windows.len(), 1);
    assert_eq!(g.windows[0].time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(p.required_permission("web", "prod"), Permission::Maintain);
    assert_eq!(p.required_permission("web", "qa"), Permission::Write);
}

#[test]
fn pipeline_navigation_and_steps() {
    let tree = sample();
    let repo = repo_of(&tree);
    let p = Policy::parse(POLICY, &repo).unwrap();
    assert_eq!(p.next_env("dev"), Some("qa"));
    assert_eq!(p.next_env("prod"), None);
    assert_eq!(p.previous_env("qa"), Some("dev"));
    assert_eq!(p.previous_env("dev"), None);
    assert_eq!(p.next_env_for("api", "dev"), Some("prod"), "api skips qa, where it is not deployed");
    assert_eq!(p.previous_env_for("api", "prod"), Some("dev"));
    assert_eq!(p.check_step("web", "dev", "qa"), Ok(()));
    assert_eq!(p.check_step("api", "dev", "prod"), Ok(()));
    let err = p.check_step("web", "dev", "prod").unwrap_err();
    assert_eq!(err.to_string(), "prod takes promotions from qa only (pipeline dev → qa → prod), not from dev");
    assert!(matches!(p.check_step("db", "dev", "qa"), Err(PromoteError::NotPromoted { .. })));
    assert!(matches!(p.check_step("web", "qa", "dev"), Err(PromoteError::NotNextStep { .. })));
}

#[test]
fn missing_file_gives_the_default_policy() {
    let tree = sample();
    let repo = repo_of(&tree);
    let p = Policy::load(&tree, &repo).unwrap();
    assert!(!p.from_file);
    assert_eq!(p.pipeline(), ["dev", "qa", "prod"]);
    assert_eq!(p.labels(), ["tidegate/promotion"]);
    for target in ["qa", "prod"] {
        assert_eq!(p.mode("web", target), Mode::Manual);
        assert_eq!(p.required_permission("web", target), Permission::Write);
        let g = p.gates("web", target);
        assert_eq!(g.soak, Duration::ZERO);
        assert!(g.prometheus.is_empty() && g.windows.is_empty() && g.require_approval);
    }
    let tree = sample().with(POLICY_FILE, POLICY);
    assert!(Policy::load(&tree, &repo).unwrap().from_file);
}

#[test]
fn reports_every_problem_with_its_field() {
    let text = r#"
apiVersion: tidegate.dev/v1alpha1
kind: PromotionPolicy
spec:
  pipeline: [dev, qa, qa, prd]
  prometheus: { address: prometheus:9090 }
  environments:
    qa:
      mode: automatic
      soak: 1x
      permission: none
      gates:
        prometheus:
          - name: e
            query: ' '
            successCondition: result < 1
            count: 0
            interval: 0s
          - name: e
            query: 'x{app="{{ap}}"}'
            successCondition: result < 1
    prod:
      sok: 1h
    dev:
      mode: auto
    stage: {}
  apps:
    webb: {}
    api:
      environments:
        qa: { mode: auto }
"#;
    let tree = sample();
    let repo = repo_of(&tree);
    let errors = Policy::parse(text, &repo).unwrap_err();
    let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    let expect = [
        "spec.pipeline[2]: qa is listed twice",
        "spec.pipeline[3]: unknown environment \"prd\"; did you mean \"prod\"?",
        "spec.prometheus.address: invalid address \"prometheus:9090\"",
        "spec.environments.dev: dev is the first environment of the pipeline",
        "spec.environments.prod: unknown field `sok`",
        "spec.environments.qa.mode: invalid mode \"automatic\" (use auto or manual)",
        "spec.environments.qa.soak: invalid duration \"1x\"",
        "spec.environments.qa.permission: invalid permission \"none\"",
        "spec.environments.qa.gates.prometheus[0].query: the query is empty",
        "spec.environments.qa.gates.prometheus[0].count: count must be at least 1",
        "spec.environments.qa.gates.prometheus[0].interval: the interval must be more than 0s",
        "spec.environments.qa.gates.prometheus[1].name: gate name \"e\" is used twice",
        "spec.environments.qa.gates.prometheus[1].query: unknown placeholder {{ap}}; did you mean \"app\"?",
        "spec.environments.stage: unknown environment \"stage\"",
        "spec.apps.webb: unknown app \"webb\"; did you mean \"web\"?",
        "spec.apps.api.environments.qa: app api is not deployed to qa",
    ];
    for e in expect {
        let wanted = format!("{POLICY_FILE}: {e}");
        assert!(lines.iter().any(|l| l.starts_with(&wanted)), "missing {wanted:?} in:\n{}", lines.join("\n"));
    }
    assert_eq!(lines.len(), expect.len(), "{}", lines.join("\n"));
}

#[test]
fn structural_errors() {
    let tree = sample();
    let repo = repo_of(&tree);
    let err = Policy::parse("apiVersion: x\nkind: Root\n", &repo).unwrap_err();
    assert_eq!(
        err.to_string(),
        "apps-of-apps/promotion.yaml: apiVersion/kind: expected tidegate.dev/v1alpha1 PromotionPolicy, found x Root"
    );
    let err = Policy::parse("apiVersion: [\n", &repo).unwrap_err();
    assert!(err.to_string().starts_with("apps-of-apps/promotion.yaml: line "), "{err}");
    let err = Policy::parse("  \n", &repo).unwrap_err();
    assert!(err.to_string().contains("is empty"), "{err}");
    let err = Policy::parse("apiVersion: tidegate.dev/v1alpha1\nkind: PromotionPolicy\nspec: {pipelines: []}\n", &repo)
        .unwrap_err();
    assert!(err.to_string().starts_with("apps-of-apps/promotion.yaml: spec: unknown field `pipelines`"), "{err}");
    let err =
        Policy::parse("apiVersion: tidegate.dev/v1alpha1\nkind: PromotionPolicy\nspec: {pipeline: [qa, dev]}\n", &repo)
            .unwrap_err();
    assert!(err.to_string().contains("spec.pipeline[1]: dev comes after qa"), "{err}");
}

#[test]
fn a_shorter_pipeline_leaves_environments_out() {
    let text = "apiVersion: tidegate.dev/v1alpha1\nkind: PromotionPolicy\nspec:\n  pipeline: [dev, prod]\n  environments:\n    prod: {mode: auto, soak: 90}\n";
    let tree = sample();
    let repo = repo_of(&tree);
    let p = Policy::parse(text, &repo).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.next_env("dev"), Some("prod"));
    assert_eq!(p.mode("web", "prod"), Mode::Auto);
    assert_eq!(p.gates("web", "prod").soak, Duration::from_secs(90));
    assert_eq!(p.mode("web", "qa"), Mode::Manual);
    assert!(matches!(p.check_step("web", "dev", "qa"), Err(PromoteError::NotInPipeline { .. })));
    let bad = "apiVersion: tidegate.dev/v1alpha1\nkind: PromotionPolicy\nspec:\n  pipeline: [dev, prod]\n  environments:\n    qa: {}\n";
    let err = Policy::parse(bad, &repo).unwrap_err();
    assert!(err.to_string().contains("spec.environments.qa: qa is not in the pipeline"), "{err}");
}
