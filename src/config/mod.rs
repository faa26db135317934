//! `tidegate serve` configuration: a YAML file, then the environment variables of the external
//! contract on top (`TIDEGATE_LISTEN`, `TIDEGATE_WEBHOOK_SECRET`, `TIDEGATE_REPO`,
//! `TIDEGATE_BRANCH`, `TIDEGATE_DATA_DIR`, `TIDEGATE_GITHUB_API_URL`, `GITHUB_TOKEN`;
//! `KUBECONFIG` and `RUST_LOG` are read by the Kubernetes client and the logger).
//!
//! Owns: reading and validating settings. Secrets are held as [`Secret`] and never printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::source::Secret;

/// Where GitHub lives and how tidegate authenticates.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// REST API base URL (GitHub Enterprise or a test server).
    pub api_url: String,
    /// Token (from `GITHUB_TOKEN` or `github.tokenFile`).
    pub token: Option<Secret>,
    /// GitHub App credentials; preferred over the token for the API when set.
    pub app: Option<GithubAppConfig>,
    /// `owner/name` of the GitOps repository on GitHub (`github.repository`,
    /// `TIDEGATE_GITHUB_REPOSITORY`); else read from a GitHub `repo.url`.
    pub repository: Option<String>,
    /// The bot's own login, whose comments are never commands (e.g. `tidegate[bot]`).
    pub bot_login: Option<String>,
}

/// A GitHub App installation to authenticate as.
#[derive(Debug, Clone)]
pub struct GithubAppConfig {
    /// The App id.
    pub app_id: u64,
    /// The installation id on the organisation or repository.
    pub installation_id: u64,
    /// The App's private key (PEM).
    pub private_key: Secret,
}

/// The promotion bot's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionConfig {
    /// Open promotion pull requests (automatic and `/promote`); off: status only.
    pub enabled: bool,
    /// Prometheus base URL for every query gate, overriding the policy's addresses
    /// (`promotion.prometheusUrl`, `TIDEGATE_PROMETHEUS_URL`): for port-forwards and tests.
    pub prometheus_url: Option<String>,
    /// tidegate's own external URL, linked from commit statuses and pull requests.
    pub public_url: Option<String>,
}

/// The GitOps repository to watch.
#[derive(Debug, Clone)]
pub struct RepoConfig {
    /// URL (`https://`, `ssh://`, `git@…`, `file://`) or a local path.
    pub url: String,
    /// Branch to track.
    pub branch: String,
    /// Token file for https (else `GITHUB_TOKEN`).
    pub token_file: Option<PathBuf>,
    /// SSH private key for ssh URLs.
    pub ssh_key_file: Option<PathBuf>,
    /// Follow force-pushes instead of holding the last good commit.
    pub follow_force_push: bool,
    /// Bound on one fetch.
    pub fetch_timeout: Duration,
}

/// One environment to reconcile.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvConfig {
    /// The environment's name in the repository.
    pub name: String,
    /// Kubeconfig context (`None`: the current context, or in-cluster).
    pub context: Option<String>,
    /// Prune objects that left the desired state.
    pub prune: bool,
    /// Per-wave health timeout.
    pub wave_timeout: Duration,
}

/// Limits of the HTTP server (`http:`): how long a client may take and how many connections it
/// may hold, so that stalled or idle connections cannot exhaust file descriptors or memory and
/// health probes always get an answer (docs/serve.md explains the defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// From a connection's start (or a keep-alive connection's first new byte) until a request's
    /// headers are complete (`http.headerReadTimeout`).
    pub header_read_timeout: Duration,
    /// Reading a webhook delivery's body, once its headers are in (`http.bodyReadTimeout`).
    pub body_read_timeout: Duration,
    /// A keep-alive connection waiting for its next request, or a response the client stops
    /// reading, is closed after this (`http.idleTimeout`).
    pub idle_timeout: Duration,
    /// Connections served at once (`http.maxConnections`).
    pub max_connections: usize,
    /// Connections reserved, once `max_connections` are open, for `/healthz`, `/readyz` and
    /// `/metrics` only: short header timeout, one request each (`http.probeConnections`).
    pub probe_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 512,
            probe_connections: 16,
        }
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// `host:port` to listen on.
    pub listen: String,
    /// The repository.
    pub repo: RepoConfig,
    /// Where caches and state live.
    pub data_dir: PathBuf,
    /// Safety-net poll interval (webhooks trigger reconciles immediately).
    pub poll_interval: Duration,
    /// Webhook secrets (several while rotating).
    pub webhook_secrets: Vec<Secret>,
    /// GitHub.
    pub github: GithubConfig,
    /// Environments reconciled by this instance; none means "answer webhooks and report only".
    pub environments: Vec<EnvConfig>,
    /// Namespace of inventories and the leader Lease.
    pub system_namespace: String,
    /// Leader election among replicas.
    pub leader_election: LeaderElectionConfig,
    /// The promotion bot.
    pub promotion: PromotionConfig,
    /// Limits of the HTTP server.
    pub http: HttpConfig,
    /// Bounds on one app's render (`render.timeout`, `render.maxBytes`): an app over them fails
    /// alone.
    pub render: crate::render::RenderLimits,
}

/// Leader election settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderElectionConfig {
    /// Elect a leader (through a Lease in the first environment's cluster) before applying.
    pub enabled: bool,
    /// Lease name.
    pub lease_name: String,
    /// How long the lease holds without renewal.
    pub lease_duration: Duration,
}

/// A configuration problem (exit 2 at start-up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    /// The file or variable at fault.
    pub source_name: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileConfig {
    listen: Option<String>,
    repo: Option<FileRepo>,
    data_dir: Option<PathBuf>,
    poll_interval: Option<String>,
    webhook: Option<FileWebhook>,
    github: Option<FileGithub>,
    #[serde(default)]
    environments: Vec<FileEnv>,
    system_namespace: Option<String>,
    leader_election: Option<FileLeader>,
    promotion: Option<FilePromotion>,
    http: Option<FileHttp>,
    render: Option<FileRender>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileRender {
    timeout: Option<String>,
    max_bytes: Option<serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileHttp {
    header_read_timeout: Option<String>,
    body_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<usize>,
    probe_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FilePromotion {
    enabled: Option<bool>,
    prometheus_url: Option<String>,
    public_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileGithubApp {
    app_id: u64,
    installation_id: u64,
    private_key_file: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileLeader {
    enabled: Option<bool>,
    lease_name: Option<String>,
    lease_duration: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileRepo {
    url: Option<String>,
    branch: Option<String>,
    token_file: Option<PathBuf>,
    ssh_key_file: Option<PathBuf>,
    #[serde(default)]
    follow_force_push: bool,
    fetch_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileWebhook {
    #[serde(default)]
    secret_files: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileGithub {
    api_url: Option<String>,
    token_file: Option<PathBuf>,
    repository: Option<String>,
    bot_login: Option<String>,
    app: Option<FileGithubApp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileEnv {
    name: String,
    context: Option<String>,
    #[serde(default)]
    prune: bool,
    wave_timeout: Option<String>,
}

fn duration(source: &str, field: &str, text: Option<&str>, default: Duration) -> Result<Duration, ConfigError> {
    match text {
        None => Ok(default),
        Some(t) => crate::cli::parse_duration(t)
            .map_err(|m| ConfigError { source_name: source.to_string(), message: format!("{field}: {m}") }),
    }
}

/// The `http:` section, defaults filled in; a zero timeout or `maxConnections` is refused.
fn http_config(source: &str, file: Option<FileHttp>) -> Result<HttpConfig, ConfigError> {
    let f = file.unwrap_or_default();
    let d = HttpConfig::default();
    let timeout = |field: &str, text: Option<&str>, default: Duration| {
        let value = duration(source, field, text, default)?;
        if value.is_zero() {
            return Err(ConfigError { source_name: source.to_string(), message: format!("{field}: must be above 0") });
        }
        Ok(value)
    };
    let http = HttpConfig {
        header_read_timeout: timeout(
            "http.headerReadTimeout",
            f.header_read_timeout.as_deref(),
            d.header_read_timeout,
        )?,
        body_read_timeout: timeout("http.bodyReadTimeout", f.body_read_timeout.as_deref(), d.body_read_timeout)?,
        idle_timeout: timeout("http.idleTimeout", f.idle_timeout.as_deref(), d.idle_timeout)?,
        max_connections: f.max_connections.unwrap_or(d.max_connections),
        probe_connections: f.probe_connections.unwrap_or(d.probe_connections),
    };
    if http.max_connections == 0 {
        return Err(ConfigError {
            source_name: source.to_string(),
            message: "http.maxConnections: must be at least 1".into(),
        });
    }
    Ok(http)
}

/// The `render:` section: `timeout` (a duration) and `maxBytes` (bytes, or with a `Ki`, `Mi`
/// or `Gi` suffix); both above zero.
fn render_limits(source: &str, file: Option<FileRender>) -> Result<crate::render::RenderLimits, ConfigError> {
    let f = file.unwrap_or_default();
    let d = crate::render::RenderLimits::default();
    let bad = |message: String| ConfigError { source_name: source.to_string(), message };
    let timeout = duration(source, "render.timeout", f.timeout.as_deref(), d.timeout)?;
    if timeout.is_zero() {
        return Err(bad("render.timeout: must be above 0".into()));
    }
    let max_bytes = match f.max_bytes {
        None => d.max_bytes,
        Some(serde_yaml::Value::Number(n)) => {
            n.as_u64().ok_or_else(|| bad(format!("render.maxBytes: {n} is not a number of bytes")))?
        }
        Some(serde_yaml::Value::String(text)) => {
            parse_bytes(&text).map_err(|m| bad(format!("render.maxBytes: {m}")))?
        }
        Some(_) => return Err(bad("render.maxBytes: expected a number of bytes such as 256Mi".into())),
    };
    if max_bytes == 0 {
        return Err(bad("render.maxBytes: must be above 0".into()));
    }
    Ok(crate::render::RenderLimits { timeout, max_bytes })
}

/// `256Mi`, `1Gi`, `512Ki` or plain bytes.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, shift) = match t {
        _ if t.ends_with("Ki") => (&t[..t.len() - 2], 10),
        _ if t.ends_with("Mi") => (&t[..t.len() - 2], 20),
        _ if t.ends_with("Gi") => (&t[..t.len() - 2], 30),
        _ => (t, 0),
    };
    let n: u64 = digits.trim().parse().map_err(|_| format!("invalid size {t:?} (use e.g. 256Mi, 1Gi or bytes)"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("size {t:?} is too large"))
}

fn read_secret(path: &Path, what: &str) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        source_name: path.display().to_string(),
        message: format!("cannot read {what}: {e}"),
    })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ConfigError { source_name: path.display().to_string(), message: format!("{what} file is empty") });
    }
    Ok(Secret::new(trimmed))
}

impl ServeConfig {
    /// Loads `file` (if given) and applies the environment variables in `env`.
    pub fn load(file: Option<&Path>, env: &BTreeMap<String, String>) -> Result<ServeConfig, ConfigError> {
        let (name, fc): (String, FileConfig) = match file {
            None => ("(no config file)".into(), FileConfig::default()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    source_name: path.display().to_string(),
                    message: format!("cannot read: {e}"),
                })?;
                let fc = serde_yaml::from_str(&text)
                    .map_err(|e| ConfigError { source_name: path.display().to_string(), message: e.to_string() })?;
                (path.display().to_string(), fc)
            }
        };
        let var = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let repo_file = fc.repo.unwrap_or_default();
        let url = var("TIDEGATE_REPO").or(repo_file.url).ok_or_else(|| ConfigError {
            source_name: name.clone(),
            message: "no repository: set repo.url in the config file or TIDEGATE_REPO".into(),
        })?;
        let repo = RepoConfig {
            url,
            branch: var("TIDEGATE_BRANCH").or(repo_file.branch).unwrap_or_else(|| "main".into()),
            token_file: repo_file.token_file,
            ssh_key_file: repo_file.ssh_key_file,
            follow_force_push: repo_file.follow_force_push,
            fetch_timeout: duration(
                &name,
                "repo.fetchTimeout",
                repo_file.fetch_timeout.as_deref(),
                Duration::from_secs(60),
            )?,
        };
        let mut webhook_secrets = Vec::new();
        if let Some(s) = var("TIDEGATE_WEBHOOK_SECRET") {
            // Comma-separated while rotating: the new secret and the old one.
            webhook_secrets.extend(s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Secret::new));
        }
        for path in fc.webhook.unwrap_or_default().secret_files {
            webhook_secrets.push(read_secret(&path, "webhook secret")?);
        }
        let gh = fc.github.unwrap_or_default();
        let token = match (var("GITHUB_TOKEN"), gh.token_file) {
            (Some(t), _) => Some(Secret::new(t)),
            (None, Some(path)) => Some(read_secret(&path, "GitHub token")?),
            (None, None) => None,
        };
        let github = GithubConfig {
            api_url: var("TIDEGATE_GITHUB_API_URL")
                .or(gh.api_url)
                .unwrap_or_else(|| "https://api.github.com".into())
                .trim_end_matches('/')
                .to_string(),
            token,
            app: match gh.app {
                None => None,
                Some(a) => Some(GithubAppConfig {
                    app_id: a.app_id,
                    installation_id: a.installation_id,
                    private_key: read_secret(&a.private_key_file, "GitHub App private key")?,
                }),
            },
            repository: var("TIDEGATE_GITHUB_REPOSITORY").or(gh.repository),
            bot_login: gh.bot_login,
        };
        if let Some(r) = &github.repository {
            let mut parts = r.split('/');
            let ok = matches!((parts.next(), parts.next(), parts.next()), (Some(o), Some(n), None) if !o.is_empty() && !n.is_empty());
            if !ok {
                return Err(ConfigError {
                    source_name: "TIDEGATE_GITHUB_REPOSITORY / github.repository".into(),
                    message: format!("{r:?} is not owner/name"),
                });
            }
        }
        let pr = fc.promotion.unwrap_or_default();
        let promotion = PromotionConfig {
            enabled: pr.enabled.unwrap_or(true),
            prometheus_url: var("TIDEGATE_PROMETHEUS_URL").or(pr.prometheus_url),
            public_url: pr.public_url,
        };
        let mut environments = Vec::new();
        for (i, e) in fc.environments.into_iter().enumerate() {
            if environments.iter().any(|x: &EnvConfig| x.name == e.name) {
                return Err(ConfigError {
                    source_name: name.clone(),
                    message: format!("environments[{i}]: {} is listed twice", e.name),
                });
            }
            environments.push(EnvConfig {
                wave_timeout: duration(
                    &name,
                    &format!("environments[{i}].waveTimeout"),
                    e.wave_timeout.as_deref(),
                    Duration::from_secs(300),
                )?,
                name: e.name,
                context: e.context,
                prune: e.prune,
            });
        }
        let listen = var("TIDEGATE_LISTEN").or(fc.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        if listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError {
                source_name: "TIDEGATE_LISTEN / listen".into(),
                message: format!("{listen:?} is not host:port (e.g. 0.0.0.0:8080)"),
            });
        }
        let le = fc.leader_election.unwrap_or_default();
        let leader_election = LeaderElectionConfig {
            enabled: le.enabled.unwrap_or(true),
            lease_name: le.lease_name.unwrap_or_else(|| "tidegate-leader".into()),
            lease_duration: duration(
                &name,
                "leaderElection.leaseDuration",
                le.lease_duration.as_deref(),
                Duration::from_secs(15),
            )?,
        };
        let http = http_config(&name, fc.http)?;
        let render = render_limits(&name, fc.render)?;
        Ok(ServeConfig {
            http,
            render,
            promotion,
            leader_election,
            listen,
            repo,
            data_dir: var("TIDEGATE_DATA_DIR")
                .map(PathBuf::from)
                .or(fc.data_dir)
                .unwrap_or_else(|| PathBuf::from("/var/lib/tidegate")),
            poll_interval: duration(&name, "pollInterval", fc.poll_interval.as_deref(), Duration::from_secs(180))?,
            webhook_secrets,
            github,
            environments,
            system_namespace: fc.system_namespace.unwrap_or_else(|| crate::apply::inventory::DEFAULT_NAMESPACE.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_limits_have_defaults_and_take_sizes_with_units() {
        let d = crate::render::RenderLimits::default();
        assert_eq!(render_limits("f", None).unwrap(), d);
        let f = FileRender { timeout: Some("5s".into()), max_bytes: Some(serde_yaml::Value::String("64Mi".into())) };
        let l = render_limits("f", Some(f)).unwrap();
        assert_eq!((l.timeout, l.max_bytes), (Duration::from_secs(5), 64 << 20));
        let f = FileRender { timeout: None, max_bytes: Some(serde_yaml::from_str("1000").unwrap()) };
        assert_eq!(render_limits("f", Some(f)).unwrap().max_bytes, 1000);
        let f = FileRender { timeout: None, max_bytes: Some(serde_yaml::Value::String("lots".into())) };
        assert!(render_limits("f", Some(f)).unwrap_err().message.starts_with("render.maxBytes: invalid size"));
        let f = FileRender { timeout: Some("0s".into()), max_bytes: None };
        assert!(render_limits("f", Some(f)).unwrap_err().message.contains("must be above 0"));
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn environment_variables_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tidegate.yaml");
        std::fs::write(&file, "listen: 0.0.0.0:9000\nrepo: {url: https://github.com/o/r.git, branch: trunk}\ndataDir: /d\npollInterval: 1m\nenvironments:\n- {name: dev, context: kind-dev, prune: true, waveTimeout: 90s}\n").unwrap();
        let c = ServeConfig::load(
            Some(&file),
            &env(&[
                ("TIDEGATE_LISTEN", "127.0.0.1:7000"),
                ("TIDEGATE_BRANCH", "main"),
                ("TIDEGATE_WEBHOOK_SECRET", "new, old"),
                ("GITHUB_TOKEN", "ghp_x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:7000");
        assert_eq!(c.repo.url, "https://github.com/o/r.git");
        assert_eq!(c.repo.branch, "main");
        assert_eq!(c.poll_interval, Duration::from_secs(60));
        assert_eq!(c.webhook_secrets.len(), 2);
        assert_eq!(
            c.environments,
            vec![EnvConfig {
                name: "dev".into(),
                context: Some("kind-dev".into()),
                prune: true,
                wave_timeout: Duration::from_secs(90)
            }]
        );
        assert_eq!(c.github.api_url, "https://api.github.com");
        assert!(!format!("{c:?}").contains("ghp_x"), "secrets never appear in Debug output");
    }

    #[test]
    fn mistakes_are_named() {
        let err = ServeConfig::load(None, &env(&[])).unwrap_err();
        assert!(err.message.contains("TIDEGATE_REPO"), "{err}");
        let err = ServeConfig::load(None, &env(&[("TIDEGATE_REPO", "/r"), ("TIDEGATE_LISTEN", "8080")])).unwrap_err();
        assert!(err.to_string().contains("not host:port"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yaml");
        std::fs::write(&file, "pollIntervall: 1m\n").unwrap();
        let err = ServeConfig::load(Some(&file), &env(&[("TIDEGATE_REPO", "/r")])).unwrap_err();
        assert!(err.to_string().contains("unknown field `pollIntervall`"), "{err}");
    }

    #[test]
    fn http_limits_have_defaults_and_are_checked() {
        let repo = env(&[("TIDEGATE_REPO", "/r")]);
        assert_eq!(ServeConfig::load(None, &repo).unwrap().http, HttpConfig::default());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yaml");
        std::fs::write(
            &file,
            "http: {headerReadTimeout: 300ms, bodyReadTimeout: 2s, idleTimeout: 1m, maxConnections: 8, probeConnections: 0}\n",
        )
        .unwrap();
        let http = ServeConfig::load(Some(&file), &repo).unwrap().http;
        assert_eq!(
            http,
            HttpConfig {
                header_read_timeout: Duration::from_millis(300),
                body_read_timeout: Duration::from_secs(2),
                idle_timeout: Duration::from_secs(60),
                max_connections: 8,
                probe_connections: 0,
            }
        );
        for (text, says) in [
            ("http: {idleTimeout: 0s}\n", "http.idleTimeout: must be above 0"),
            ("http: {maxConnections: 0}\n", "http.maxConnections: must be at least 1"),
            ("http: {headerTimeout: 1s}\n", "unknown field `headerTimeout`"),
        ] {
            std::fs::write(&file, text).unwrap();
            let err = ServeConfig::load(Some(&file), &repo).unwrap_err();
            assert!(err.to_string().contains(says), "{text}: {err}");
        }
    }
}
