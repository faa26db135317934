//! The promotion policy declared in the repository (`apps-of-apps/promotion.yaml`): the pipeline
//! of environments, and per target environment (with per-app overrides) whether promotions are
//! automatic, how long the source must soak, who may `/promote`, Prometheus gates and
//! promotion windows. The format is documented in `docs/promotion-policy.md`.
//!
//! Loading reports every problem it finds, each with the file and the field path
//! (`apps-of-apps/promotion.yaml: spec.environments.prod.soak: invalid duration "1x": …`).
//! Without the file the default policy applies: the root's environments in order, every
//! promotion manual, `write` permission, no soak, no queries, no windows.

use std::collections::BTreeMap;
use std::time::Duration;

use super::plan::PromoteError;
use crate::chatops::Permission;
use crate::gates::spec::{GatePolicy, PrometheusGateSpec, WindowSpec};
use crate::repo::Repository;

mod load;

/// Where the promotion policy lives.
pub const POLICY_FILE: &str = "apps-of-apps/promotion.yaml";
/// The label put on promotion pull requests when the policy names none.
pub const DEFAULT_LABEL: &str = "tidegate/promotion";

/// How promotions to an environment start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// tidegate opens the pull request by itself once the gates pass.
    Auto,
    /// A person asks with `/promote`; the gates still apply.
    #[default]
    Manual,
}

impl Mode {
    /// `auto` or `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Manual => "manual",
        }
    }
}

/// The resolved policy for promotions of one app into one target environment.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPolicy {
    /// Automatic or on request.
    pub mode: Mode,
    /// How long the app must have been healthy in the source environment.
    pub soak: Duration,
    /// The minimum repository permission for `/promote` to this environment.
    pub permission: Permission,
    /// Prometheus gates, as written (address not yet defaulted).
    pub prometheus: Vec<PrometheusGateSpec>,
    /// Promotion windows; empty means always open.
    pub windows: Vec<WindowSpec>,
}

impl Default for TargetPolicy {
    fn default() -> Self {
        TargetPolicy {
            mode: Mode::Manual,
            soak: Duration::ZERO,
            permission: Permission::Write,
            prometheus: Vec::new(),
            windows: Vec::new(),
        }
    }
}

/// A per-app override of a target environment's policy: fields that are set replace the
/// environment's (lists replace, they are not appended).
#[derive(Debug, Clone, PartialEq, Default)]
struct TargetOverride {
    mode: Option<Mode>,
    soak: Option<Duration>,
    permission: Option<Permission>,
    prometheus: Option<Vec<PrometheusGateSpec>>,
    windows: Option<Vec<WindowSpec>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct AppOverride {
    promote: Option<bool>,
    environments: BTreeMap<String, TargetOverride>,
}

/// The repository's promotion policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `metadata.name` of the file, if it was given.
    pub name: Option<String>,
    /// True when the policy came from [`POLICY_FILE`], false for the default.
    pub from_file: bool,
    pipeline: Vec<String>,
    prometheus_address: Option<String>,
    labels: Vec<String>,
    environments: BTreeMap<String, TargetPolicy>,
    apps: BTreeMap<String, AppOverride>,
    /// Where each app is deployed, in the root's order.
    deployed: BTreeMap<String, Vec<String>>,
}

/// One problem in the policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct PolicyError {
    /// The file.
    pub file: String,
    /// Field path (`spec.environments.prod.soak`) or `line L, column C`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Every problem found in the policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl Policy {
    /// The policy used when the repository has no [`POLICY_FILE`]: the root's environments in
    /// order, every promotion manual with `write` permission, no soak, no gates, no windows.
    pub fn default_for(repo: &Repository) -> Policy {
        Policy {
            name: None,
            from_file: false,
            pipeline: repo.environments.iter().map(|e| e.name.clone()).collect(),
            prometheus_address: None,
            labels: vec![DEFAULT_LABEL.to_string()],
            environments: BTreeMap::new(),
            apps: BTreeMap::new(),
            deployed: repo.apps.iter().map(|a| (a.name.clone(), a.environments.clone())).collect(),
        }
    }

    /// The environments in promotion order.
    pub fn pipeline(&self) -> &[String] {
        &self.pipeline
    }

    /// The environment after `env` in the pipeline (`dev` → `qa`).
    pub fn next_env(&self, env: &str) -> Option<&str> {
        let i = self.pipeline.iter().position(|e| e == env)?;
        self.pipeline.get(i + 1).map(String::as_str)
    }

    /// The environment before `env` in the pipeline (`qa` → `dev`): the default source of
    /// `/promote APP to qa`.
    pub fn previous_env(&self, env: &str) -> Option<&str> {
        let i = self.pipeline.iter().position(|e| e == env)?;
        i.checked_sub(1).and_then(|j| self.pipeline.get(j)).map(String::as_str)
    }

    /// The next pipeline environment after `env` that `app` is deployed to (an app deployed
    /// only to dev and prod goes dev → prod).
    pub fn next_env_for(&self, app: &str, env: &str) -> Option<&str> {
        let deployed = self.deployed.get(app)?;
        let i = self.pipeline.iter().position(|e| e == env)?;
        self.pipeline[i + 1..].iter().find(|e| deployed.contains(e)).map(String::as_str)
    }

    /// The previous pipeline environment before `env` that `app` is deployed to.
    pub fn previous_env_for(&self, app: &str, env: &str) -> Option<&str> {
        let deployed = self.deployed.get(app)?;
        let i = self.pipeline.iter().position(|e| e == env)?;
        self.pipeline[..i].iter().rev().find(|e| deployed.contains(e)).map(String::as_str)
    }

    /// Whether tidegate promotes `app` at all (`promote: false` turns it off, both automatic
    /// promotions and `/promote`).
    pub fn promotes(&self, app: &str) -> bool {
        self.apps.get(app).and_then(|a| a.promote).unwrap_or(true)
    }

    /// The policy for promotions of `app` into `target`, with the app's overrides applied.
    /// An environment without an entry gets the default (manual, `write`, nothing else).
    pub fn target_policy(&self, app: &str, target: &str) -> TargetPolicy {
        let base = self.environments.get(target).cloned().unwrap_or_default();
        match self.apps.get(app).and_then(|a| a.environments.get(target)) {
            Some(o) => o.over(&base),
            None => base,
        }
    }

    /// Automatic or manual. An app that is not promoted, or a target outside the pipeline, is
    /// `Manual`.
    pub fn mode(&self, app: &str, target: &str) -> Mode {
        if !self.promotes(app) || !self.pipeline.iter().skip(1).any(|e| e == target) {
            return Mode::Manual;
        }
        self.target_policy(app, target).mode
    }

    /// The gates of promoting `app` into `target`: soak, Prometheus queries (each with its
    /// address defaulted to `spec.prometheus.address`), windows, and `require_approval` when
    /// the mode is manual.
    pub fn gates(&self, app: &str, target: &str) -> GatePolicy {
        let t = self.target_policy(app, target);
        let prometheus = t
            .prometheus
            .into_iter()
            .map(|mut g| {
                if g.address.is_none() {
                    g.address.clone_from(&self.prometheus_address);
                }
                g
            })
            .collect();
        GatePolicy {
            soak: t.soak,
            prometheus,
            prometheus_address: self.prometheus_address.clone(),
            windows: t.windows,
            require_approval: self.mode(app, target) == Mode::Manual,
        }
    }

    /// The minimum repository permission for `/promote APP to TARGET`.
    pub fn required_permission(&self, app: &str, target: &str) -> Permission {
        self.target_policy(app, target).permission
    }

    /// Labels for promotion pull requests.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Refuses a promotion step the policy does not allow: an app with `promote: false`, an
    /// environment outside the pipeline, or a step that skips or reverses it (the source must
    /// be the app's previous pipeline environment).
    pub fn check_step(&self, app: &str, from: &str, to: &str) -> Result<(), PromoteError> {
        if !self.promotes(app) {
            return Err(PromoteError::NotPromoted { app: app.into(), file: POLICY_FILE.into() });
        }
        let pipeline = self.pipeline.join(" → ");
        for env in [from, to] {
            if !self.pipeline.iter().any(|e| e == env) {
                return Err(PromoteError::NotInPipeline { env: env.into(), pipeline });
            }
        }
        let expected = self.previous_env_for(app, to).or_else(|| self.previous_env(to));
        match expected {
            Some(e) if e == from => Ok(()),
            _ => Err(PromoteError::NotNextStep {
                from: from.into(),
                to: to.into(),
                expected: expected.unwrap_or("nowhere (it is the first environment)").into(),
                pipeline,
            }),
        }
    }
}

impl TargetOverride {
    fn over(&self, base: &TargetPolicy) -> TargetPolicy {
        TargetPolicy {
            mode: self.mode.unwrap_or(base.mode),
            soak: self.soak.unwrap_or(base.soak),
            permission: self.permission.unwrap_or(base.permission),
            prometheus: self.prometheus.clone().unwrap_or_else(|| base.prometheus.clone()),
            windows: self.windows.clone().unwrap_or_else(|| base.windows.clone()),
        }
    }
}
