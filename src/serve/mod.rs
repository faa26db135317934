//! `tidegate serve`: the long-running controller and GitHub webhook server.
//!
//! Owns: wiring configuration, the HTTP server (its limits in `server.rs`), the control loop
//! and shutdown together.
//! Starts and answers webhooks even while the cluster or GitHub is unreachable; `/readyz`
//! says what is missing.

pub mod controller;
pub mod http;
pub mod leader;
pub mod server;
pub mod state;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};

use crate::config::ServeConfig;
use crate::webhook::Deliveries;
use state::{Metrics, Shared, SourceStatus, Status};

/// Why `serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The listen address could not be bound.
    #[error("failed to listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The repository source could not be set up.
    #[error("failed to set up the repository source: {0}")]
    Source(String),
}

/// The `owner/name` of a GitHub repository URL.
pub fn github_repository(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://github.com/")
        .or_else(|| url.strip_prefix("git@github.com:"))
        .or_else(|| url.strip_prefix("ssh://git@github.com/"))?;
    let rest = rest.trim_end_matches('/').trim_end_matches(".git");
    let mut parts = rest.splitn(3, '/');
    Some(format!("{}/{}", parts.next()?, parts.next()?))
}

/// Starts the promotion bot. Without GitHub credentials or a known repository it still
/// evaluates promotions and shows them, but opens nothing.
fn start_bot(
    cfg: &ServeConfig,
    repository: Option<String>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> Result<(crate::bot::BotHandle, tokio::task::JoinHandle<()>), ServeError> {
    use crate::github::{Auth, GitHub, GitHubSettings};
    let auth = match (&cfg.github.app, &cfg.github.token) {
        (Some(app), _) => Some(Auth::App {
            app_id: app.app_id,
            installation_id: app.installation_id,
            private_key_pem: app.private_key.clone(),
        }),
        (None, Some(token)) => Some(Auth::Token(token.clone())),
        (None, None) => None,
    };
    let github = match (auth, &repository) {
        (Some(auth), Some(repo)) => {
            let mut settings = GitHubSettings::new(cfg.github.api_url.clone(), auth, repo.clone());
            settings.bot_login = cfg.github.bot_login.clone();
            Some(GitHub::new(settings).map_err(|e| ServeError::Source(format!("GitHub: {e}")))?)
        }
        (None, _) => {
            tracing::warn!(
                "no GitHub credentials (GITHUB_TOKEN, github.tokenFile or github.app): promotions are shown, not opened"
            );
            None
        }
        (Some(_), None) => {
            tracing::warn!(
                "the GitHub repository is unknown (set github.repository or TIDEGATE_GITHUB_REPOSITORY): promotions are shown, not opened"
            );
            None
        }
    };
    let prometheus = crate::gates::PrometheusClient::new()
        .map_err(|e| ServeError::Source(format!("Prometheus client: {e}")))?
        .address_override(cfg.promotion.prometheus_url.clone());
    let web_url = repository.as_deref().and_then(|r| crate::bot::cli::web_url(&cfg.github.api_url, r));
    let bot_cfg = crate::bot::BotConfig {
        github,
        prometheus,
        base_branch: cfg.repo.branch.clone(),
        web_url,
        tidegate_url: cfg.promotion.public_url.clone(),
        bot_login: cfg.github.bot_login.clone(),
        repository,
        enabled: cfg.promotion.enabled,
    };
    Ok(crate::bot::spawn(bot_cfg, shared, stop))
}

/// Loads the configuration and serves until SIGTERM or Ctrl-C.
pub async fn run(config_file: Option<&Path>) -> Result<(), ServeError> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let cfg = Arc::new(ServeConfig::load(config_file, &env)?);
    let source = Arc::new(controller::source(&cfg).map_err(ServeError::Source)?);
    let shared = Arc::new(Shared {
        status: Mutex::new(Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: state::now(),
            source: SourceStatus {
                url: source.url().redacted().to_string(),
                branch: cfg.repo.branch.clone(),
                ..Default::default()
            },
            ..Default::default()
        }),
        metrics: Metrics::new(),
    });
    let wake = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let repository = cfg.github.repository.clone().or_else(|| github_repository(&cfg.repo.url));
    let (bot, bot_task) = start_bot(&cfg, repository.clone(), Arc::clone(&shared), stop_rx.clone())?;
    let app = Arc::new(http::AppState {
        shared: Arc::clone(&shared),
        secrets: cfg.webhook_secrets.clone(),
        deliveries: Deliveries::new(10_000),
        wake: Arc::clone(&wake),
        branch: cfg.repo.branch.clone(),
        repository,
        bot: Some(bot.clone()),
        body_read_timeout: cfg.http.body_read_timeout,
        body_budget: Arc::new(tokio::sync::Semaphore::new(http::WEBHOOK_BODY_BUDGET)),
    });
    if cfg.webhook_secrets.is_empty() {
        tracing::warn!("no webhook secret configured (TIDEGATE_WEBHOOK_SECRET): every delivery will be refused");
    }
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|source| ServeError::Listen { addr: cfg.listen.clone(), source })?;
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| cfg.listen.clone());
    tracing::info!(%addr, "listening");
    eprintln!("tidegate serve: listening on http://{addr}");
    let loop_handle =
        tokio::spawn(controller::run(Arc::clone(&cfg), Arc::clone(&shared), source, wake, stop_rx.clone(), Some(bot)));
    let server = server::serve(
        listener,
        http::router(Arc::clone(&app)),
        http::probe_router(app),
        cfg.http.clone(),
        Arc::clone(&shared),
        stop_rx.clone(),
    );
    let signal = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down: no new deliveries; finishing the reconcile in flight");
        let _ = stop_tx.send(true);
    };
    tokio::join!(server, signal);
    let _ = loop_handle.await;
    // The promotion in hand (a pull request being written) is finished, within reason: the
    // adapter's writes resume safely after a restart anyway.
    if tokio::time::timeout(std::time::Duration::from_secs(30), bot_task).await.is_err() {
        tracing::warn!("the promotion bot did not stop within 30 s; leaving it");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn github_repository_names() {
        assert_eq!(super::github_repository("https://github.com/o/r.git").as_deref(), Some("o/r"));
        assert_eq!(super::github_repository("git@github.com:o/r.git").as_deref(), Some("o/r"));
        assert_eq!(super::github_repository("file:///tmp/r"), None);
    }
}
