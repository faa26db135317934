//! The one place requests leave: authentication, counting, timeouts, rate limits and retries.
//!
//! octocrab is used as a bare HTTP client (its raw `execute`) so that tidegate sees every
//! status and header and decides itself what may be resent: octocrab's own retry layer is off
//! (it resends POSTs, which duplicates pull requests). The octocrab client carries no
//! credentials; the `Authorization` header is set here, from the token or from a cached GitHub
//! App installation token minted through this same path (so it is counted and rate-limit aware).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use octocrab::{OctoBody, Octocrab};
use serde_json::Value;

use super::{GitHub, GitHubError, Inner};
use crate::source::Secret;

/// The REST API version tidegate is written against.
const API_VERSION: &str = "2022-11-28";

/// An installation token is renewed when it has less than this left (they live one hour).
const TOKEN_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Whether a request may be sent again when its answer is lost (network error, timeout, 5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Sending it twice has the effect of sending it once (GET, PATCH of a ref to a given sha,
    /// adding labels, a reaction, a commit status, a tree).
    Safe,
    /// Sending it twice may do it twice (a pull request, a comment, a contents commit, a new
    /// ref): the caller checks what happened instead.
    Never,
}

/// What an operation is, for errors and logs: "open the pull request for X", and the
/// permission it needs, named in 403 errors.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    /// Lowercase, after "failed to".
    pub what: String,
    /// The permission it needs, as GitHub App settings name it (`pull_requests: write`).
    pub needs: &'static str,
}

impl Op {
    pub(crate) fn new(what: impl Into<String>, needs: &'static str) -> Op {
        Op { what: what.into(), needs }
    }

    /// The error for a reply GitHub refused.
    pub(crate) fn refused(&self, reply: &Reply) -> GitHubError {
        let message = reply.message();
        match reply.status {
            401 => GitHubError::Auth { reason: format!("{} was refused with 401 {message}", self.what) },
            403 => GitHubError::Forbidden { op: self.what.clone(), message, permission: self.needs.to_owned() },
            status => GitHubError::Api { op: self.what.clone(), status, message },
        }
    }

    /// The error for a reply whose body lacks what was expected.
    pub(crate) fn unexpected(&self, reason: impl Into<String>) -> GitHubError {
        GitHubError::Response { op: self.what.clone(), reason: reason.into() }
    }
}

/// A whole answer: status, headers, body.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// 2xx.
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON (`null` when it is not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// GitHub's error message with the details of its `errors` array:
    /// `Validation Failed: A pull request already exists for acme:branch.`
    pub(crate) fn message(&self) -> String {
        let v = self.json();
        let mut msg = v["message"].as_str().map(str::to_owned).unwrap_or_else(|| {
            let reason = StatusCode::from_u16(self.status).ok().and_then(|s| s.canonical_reason());
            reason.unwrap_or("error").to_owned()
        });
        let details: Vec<String> = v["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| match e {
                Value::String(s) => Some(s.clone()),
                e => e["message"].as_str().map(str::to_owned).or_else(|| {
                    let code = e["code"].as_str()?;
                    Some(format!(
                        "{} {} {code}",
                        e["resource"].as_str().unwrap_or(""),
                        e["field"].as_str().unwrap_or("")
                    ))
                }),
            })
            .collect();
        if !details.is_empty() {
            msg = format!("{msg}: {}", details.join("; "));
        }
        msg
    }
}

/// What a write's answer says, for a write that must not be resent blindly.
pub(crate) enum Outcome {
    /// An answer that says what happened (2xx or 4xx).
    Known(Reply),
    /// No answer, or a 5xx: the write may or may not have happened.
    Unknown(GitHubError),
}

/// How long a rate-limited answer asks to wait: `None` when the answer is not a rate limit;
/// `Some(None)` when it is one without a usable hint (back off exponentially).
pub(crate) fn rate_limit_wait(
    status: u16,
    headers: &HeaderMap,
    body: &str,
    now_epoch: u64,
) -> Option<Option<Duration>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let retry_after = header("retry-after").and_then(|v| v.parse::<u64>().ok());
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    let says_so = body.to_ascii_lowercase().contains("rate limit");
    let limited = status == 429 || (status == 403 && (retry_after.is_some() || exhausted || says_so));
    if !limited {
        return None;
    }
    if let Some(secs) = retry_after {
        return Some(Some(Duration::from_secs(secs)));
    }
    let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok());
    match reset {
        // One second more: the reset time is whole seconds and clocks differ a little.
        Some(reset) if exhausted => Some(Some(Duration::from_secs(reset.saturating_sub(now_epoch) + 1))),
        _ => Some(None),
    }
}

/// The exponential back-off for the `attempt`th (from 0) rate limit without a hint.
pub(crate) fn backoff(min: Duration, max: Duration, attempt: u32) -> Duration {
    min.saturating_mul(2u32.saturating_pow(attempt.min(16))).min(max.max(min))
}

/// Percent-encodes one path segment or query value (RFC 3986 unreserved characters kept).
pub(crate) fn enc(s: &str) -> String {
    enc_keep(s, &[])
}

/// Percent-encodes a path whose `/` separate segments (a file path, a branch name).
pub(crate) fn enc_path(s: &str) -> String {
    enc_keep(s, b"/")
}

fn enc_keep(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn now_epoch() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Which credential a request carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Credential {
    /// The token, or the App installation's token.
    Normal,
    /// The GitHub App's own JWT (only to mint installation tokens).
    AppJwt,
}

impl GitHub {
    /// Sends one request and reads the whole answer. Rate-limited answers are waited out and
    /// resent (GitHub did not process them); a 401 with an App installation token renews the
    /// token and resends once; lost answers and 5xx are resent only when `resend` is
    /// [`Resend::Safe`]. Any other status is returned for the caller to judge.
    pub(crate) async fn send(
        &self,
        op: &Op,
        method: Method,
        path: &str,
        body: Option<&Value>,
        resend: Resend,
    ) -> Result<Reply, GitHubError> {
        self.send_as(op, method, path, body, resend, Credential::Normal).await
    }

    /// [`GitHub::send`] for a write that must not be resent: a lost answer or a 5xx becomes
    /// [`Outcome::Unknown`] for the caller to check.
    pub(crate) async fn send_write(
        &self,
        op: &Op,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Outcome, GitHubError> {
        match self.send(op, method, path, Some(body), Resend::Never).await {
            Ok(reply) if reply.status >= 500 => Ok(Outcome::Unknown(op.refused(&reply))),
            Ok(reply) => Ok(Outcome::Known(reply)),
            Err(e @ (GitHubError::Unreachable { .. } | GitHubError::Uncertain { .. })) => Ok(Outcome::Unknown(e)),
            Err(e) => Err(e),
        }
    }

    async fn send_as(
        &self,
        op: &Op,
        method: Method,
        path: &str,
        body: Option<&Value>,
        resend: Resend,
        credential: Credential,
    ) -> Result<Reply, GitHubError> {
        let retry = &self.inner.retry;
        let started = Instant::now();
        let deadline = started + retry.deadline;
        let (mut rate_limits, mut failures, mut renewed) = (0u32, 0u32, false);
        loop {
            let auth = match credential {
                Credential::Normal => self.auth_header().await?,
                Credential::AppJwt => self.jwt_header()?,
            };
            let reply = match self.send_once(&method, path, body, auth).await {
                Ok(reply) => reply,
                Err(reason) => {
                    if resend == Resend::Safe && failures < retry.transient_retries {
                        failures += 1;
                        tracing::debug!(op = %op.what, %method, path, %reason, attempt = failures, "resending after a network error");
                        tokio::time::sleep(retry.transient_backoff.saturating_mul(1 << failures.min(8))).await;
                        continue;
                    }
                    return Err(match resend {
                        Resend::Safe => GitHubError::Unreachable { op: op.what.clone(), reason },
                        Resend::Never => GitHubError::Uncertain { op: op.what.clone(), reason },
                    });
                }
            };
            tracing::debug!(op = %op.what, %method, path, status = reply.status, "github answered");
            if let Some(hint) = rate_limit_wait(reply.status, &reply.headers, &reply.body, now_epoch()) {
                let wait = hint.unwrap_or_else(|| backoff(retry.min_rate_limit_wait, retry.max_backoff, rate_limits));
                rate_limits += 1;
                if Instant::now() + wait > deadline {
                    return Err(GitHubError::RateLimited {
                        op: op.what.clone(),
                        retry_in_secs: wait.as_secs(),
                        deadline_secs: retry.deadline.as_secs(),
                    });
                }
                tracing::warn!(op = %op.what, %method, path, status = reply.status, wait_secs = wait.as_secs_f64(), "rate limited by GitHub; waiting, then resending");
                tokio::time::sleep(wait).await;
                continue;
            }
            if reply.status == 401 && credential == Credential::Normal && !renewed && self.is_app() {
                // An installation token revoked or expired early: GitHub did nothing.
                renewed = true;
                self.forget_installation_token().await;
                continue;
            }
            if reply.status >= 500 && resend == Resend::Safe && failures < retry.transient_retries {
                failures += 1;
                tracing::debug!(op = %op.what, %method, path, status = reply.status, attempt = failures, "resending after a server error");
                tokio::time::sleep(retry.transient_backoff.saturating_mul(1 << failures.min(8))).await;
                continue;
            }
            return Ok(reply);
        }
    }

    /// One HTTP exchange; `Err` is a network error or a timeout, as text.
    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        auth: HeaderValue,
    ) -> Result<Reply, String> {
        let crab = self.client().await.map_err(|e| e.to_string())?;
        let builder = http::Request::builder()
            .method(method.clone())
            .uri(path)
            .header(ACCEPT, "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
            .header(AUTHORIZATION, auth);
        let request = match body {
            Some(v) => builder.header(CONTENT_TYPE, "application/json").body(OctoBody::from(v.to_string())),
            None => builder.header(CONTENT_LENGTH, "0").body(OctoBody::empty()),
        }
        .map_err(|e| format!("invalid request {method} {path}: {e}"))?;
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let exchange = async {
            let response = crab.execute(request).await.map_err(|e| describe(&e))?;
            let (status, headers) = (response.status().as_u16(), response.headers().clone());
            let body = crab.body_to_string(response).await.map_err(|e| describe(&e))?;
            Ok(Reply { status, headers, body })
        };
        match tokio::time::timeout(self.inner.retry.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} s", self.inner.retry.request_timeout.as_secs())),
        }
    }

    /// The octocrab client, built on first use (it spawns a task, so it needs the runtime).
    async fn client(&self) -> Result<&Octocrab, GitHubError> {
        let inner: &Inner = &self.inner;
        inner
            .crab
            .get_or_try_init(|| async {
                let retry = &inner.retry;
                Octocrab::builder()
                    .base_uri(inner.api_url.as_str())
                    .map_err(|e| GitHubError::Settings(format!("the API URL {}: {}", inner.api_url, describe(&e))))?
                    .set_connect_timeout(Some(retry.connect_timeout))
                    .set_read_timeout(Some(retry.request_timeout))
                    .set_write_timeout(Some(retry.request_timeout))
                    .build()
                    .map_err(|e| GitHubError::Settings(format!("failed to build the HTTP client: {}", describe(&e))))
            })
            .await
    }

    fn is_app(&self) -> bool {
        matches!(self.inner.credentials, super::Credentials::App { .. })
    }

    fn jwt_header(&self) -> Result<HeaderValue, GitHubError> {
        let super::Credentials::App { app, .. } = &self.inner.credentials else {
            return Err(GitHubError::Auth { reason: "a GitHub App JWT was needed but no App is configured".into() });
        };
        let jwt = app.generate_bearer_token().map_err(|e| GitHubError::Auth {
            reason: format!("failed to sign the GitHub App JWT: {}", describe(&e)),
        })?;
        bearer(&Secret::new(jwt))
    }

    async fn auth_header(&self) -> Result<HeaderValue, GitHubError> {
        match &self.inner.credentials {
            super::Credentials::Token(token) => bearer(token),
            super::Credentials::App { installation_id, token, .. } => {
                let mut cached = token.lock().await;
                if let Some((t, expires)) = cached.as_ref() {
                    if Instant::now() + TOKEN_MARGIN < *expires {
                        return bearer(t);
                    }
                }
                let (t, expires) = Box::pin(self.mint_installation_token(*installation_id)).await?;
                let header = bearer(&t)?;
                *cached = Some((t, expires));
                Ok(header)
            }
        }
    }

    async fn forget_installation_token(&self) {
        if let super::Credentials::App { token, .. } = &self.inner.credentials {
            *token.lock().await = None;
        }
    }

    /// `POST /app/installations/{id}/access_tokens`, scoped to the one repository.
    async fn mint_installation_token(&self, installation_id: u64) -> Result<(Secret, Instant), GitHubError> {
        let op = Op::new(format!("get a token for the GitHub App installation {installation_id}"), "an installed App");
        let body = serde_json::json!({ "repositories": [self.inner.name] });
        let path = format!("/app/installations/{installation_id}/access_tokens");
        let reply = self.send_as(&op, Method::POST, &path, Some(&body), Resend::Safe, Credential::AppJwt).await?;
        if !reply.ok() {
            return Err(GitHubError::Auth {
                reason: format!("failed to {}: {} {}", op.what, reply.status, reply.message()),
            });
        }
        let v = reply.json();
        let Some(token) = v["token"].as_str() else {
            return Err(GitHubError::Auth { reason: format!("failed to {}: the answer has no token", op.what) });
        };
        // GitHub's tokens live one hour; trust `expires_at` when it parses.
        let lifetime = v["expires_at"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.timestamp().saturating_sub(chrono::Utc::now().timestamp()))
            .and_then(|secs| u64::try_from(secs).ok())
            .map_or(Duration::from_secs(3600), Duration::from_secs);
        Ok((Secret::new(token), Instant::now() + lifetime))
    }
}

fn bearer(token: &Secret) -> Result<HeaderValue, GitHubError> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .map_err(|_| GitHubError::Auth { reason: "the token has characters a header cannot carry".into() })?;
    v.set_sensitive(true);
    Ok(v)
}

/// An octocrab error with its sources (octocrab's own Display is terse: "Service error").
fn describe(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}
