//! The bot's reading of what the controller observed: a tag is "synced and healthy" only when
//! the controller saw it so, never while it is being rolled out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::serve::state::{AppEnvStatus, AppStatus, EnvStatus, Metrics, Status};

fn bot(app: AppEnvStatus, env_state: &str, managed: bool) -> Bot {
    let mut st = Status::default();
    st.environments.insert(
        "dev".into(),
        EnvStatus { managed, state: env_state.into(), revision: Some("abc".into()), ..Default::default() },
    );
    st.apps.push(AppStatus {
        name: "web".into(),
        wave: "business".into(),
        environments: BTreeMap::from([("dev".to_string(), app)]),
    });
    let shared = Arc::new(Shared { status: Mutex::new(st), metrics: Metrics::new() });
    let cfg = BotConfig {
        github: None,
        prometheus: PrometheusClient::new().expect("client"),
        base_branch: "main".into(),
        web_url: None,
        tidegate_url: None,
        bot_login: None,
        repository: None,
        enabled: true,
    };
    Bot { cfg, shared, snapshot: None, model: None, tracked: BTreeMap::new(), prs_loaded: None }
}

fn healthy_at(images: &[&str], seen: &[&str]) -> AppEnvStatus {
    AppEnvStatus {
        images: images.iter().map(|s| s.to_string()).collect(),
        healthy_images: seen.iter().map(|s| s.to_string()).collect(),
        sync: "Synced".into(),
        health: "Healthy".into(),
        healthy_since: Some(1_796_000_000),
        ..Default::default()
    }
}

#[test]
fn a_tag_seen_synced_and_healthy_is_observed() {
    let b = bot(healthy_at(&["web:1.1"], &["web:1.1"]), "Synced", true);
    let o = b.observation("web", "dev").expect("observed");
    assert_eq!(o.synced_images, ["web:1.1"]);
    assert!(o.healthy);
    assert!(o.healthy_since.is_some());
    assert_eq!(o.revision.as_deref(), Some("abc"));
}

#[test]
fn a_tag_being_rolled_out_is_not_observed_yet() {
    // The repository wants 1.2 (recorded before the sync); 1.1 is what was seen healthy.
    let b = bot(healthy_at(&["web:1.2"], &["web:1.1"]), "Syncing", true);
    let o = b.observation("web", "dev").expect("an observation");
    assert!(o.synced_images.is_empty(), "{o:?}");
    assert!(!o.healthy);
    // Even with the images recorded equal, a sync in progress is not an observation.
    let b = bot(healthy_at(&["web:1.2"], &["web:1.2"]), "Syncing", true);
    assert!(!b.observation("web", "dev").expect("an observation").healthy);
}

#[test]
fn an_environment_this_instance_does_not_reconcile_is_not_observed() {
    let b = bot(healthy_at(&["web:1.1"], &["web:1.1"]), "NotManaged", false);
    assert!(b.observation("web", "dev").is_none());
    assert!(b.observation("api", "dev").is_none());
}
