//! The Prometheus HTTP adapter: range queries (`GET /api/v1/query_range`) behind the
//! [`MetricsSource`] trait, so that gates can be evaluated against a fake in tests.
//!
//! The bearer token is sent as an `Authorization` header and never logged or shown: the
//! client's `Debug` hides it, and addresses in errors and evidence have any password in their
//! userinfo replaced by `***`.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::Url;
use serde::Deserialize;
use tracing::Instrument;

/// One series of a range query: its labels and `(evaluation time, value)` samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The series' labels (`__name__` included when the query keeps it).
    pub labels: BTreeMap<String, String>,
    /// Samples in time order; values may be `NaN` or infinite.
    pub samples: Vec<(DateTime<Utc>, f64)>,
}

impl Series {
    /// The labels in PromQL selector form, `{app="frontend",env="dev"}` (`{}` for none).
    pub fn selector(&self) -> String {
        let pairs: Vec<String> =
            self.labels.iter().map(|(k, v)| format!("{k}=\"{}\"", super::template::escape(v))).collect();
        format!("{{{}}}", pairs.join(","))
    }
}

/// Why a query did not produce a result. Gates treat every variant as "try again later".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromError {
    /// The HTTP client could not be built (TLS set-up).
    #[error("failed to set up the prometheus http client: {0}")]
    Client(String),
    /// The address is not an `http://` or `https://` URL.
    #[error("invalid prometheus address {address:?}: {message}")]
    InvalidAddress {
        /// The address as configured (password redacted).
        address: String,
        /// What is wrong.
        message: String,
    },
    /// Connecting, sending or receiving failed (refused, DNS, TLS, timeout).
    #[error("prometheus at {address} unreachable: {message}")]
    Unreachable {
        /// The address (password redacted).
        address: String,
        /// The error chain.
        message: String,
    },
    /// Prometheus answered `status: error`, or with an HTTP error status.
    #[error("prometheus at {address} answered {status}: {message}")]
    Query {
        /// The address (password redacted).
        address: String,
        /// HTTP status and Prometheus' `errorType`, e.g. `400 bad_data`.
        status: String,
        /// Prometheus' `error` text or the start of the body.
        message: String,
    },
    /// The answer is not a Prometheus API response with a matrix.
    #[error("prometheus at {address} sent an unreadable answer: {message}")]
    Decode {
        /// The address (password redacted).
        address: String,
        /// What is wrong.
        message: String,
    },
}

/// Where gate queries go. Implemented by [`PrometheusClient`]; tests implement it with canned
/// series.
pub trait MetricsSource: Send + Sync {
    /// Evaluates `query` at `start`, `start + step`, … up to `end` (Prometheus'
    /// `/api/v1/query_range`) against the Prometheus at `address`.
    fn query_range(
        &self,
        address: &str,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> impl Future<Output = Result<Vec<Series>, PromError>> + Send;
}

/// The largest answer read from Prometheus; a gate's query should return a handful of series.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A Prometheus HTTP API client (reqwest, rustls).
///
/// Defaults: 10 s timeout per request (5 s to connect), no authentication, addresses as given.
/// [`PrometheusClient::from_env`] lets `TIDEGATE_PROMETHEUS_URL` replace every gate's address
/// — for tests and for `kubectl port-forward` during development, where the in-cluster
/// addresses of the policy are not reachable.
#[derive(Clone)]
pub struct PrometheusClient {
    http: reqwest::Client,
    bearer_token: Option<String>,
    address_override: Option<String>,
}

impl fmt::Debug for PrometheusClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusClient")
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "***"))
            .field("address_override", &self.address_override.as_deref().map(redact))
            .finish()
    }
}

impl PrometheusClient {
    /// The environment variable that overrides every Prometheus address (see [`Self::from_env`]).
    pub const ADDRESS_ENV: &'static str = "TIDEGATE_PROMETHEUS_URL";
    /// The default request timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A client with the default timeout, no token and no address override.
    pub fn new() -> Result<PrometheusClient, PromError> {
        Self::with_timeout(Self::DEFAULT_TIMEOUT)
    }

    /// A client whose requests give up after `timeout` (connecting after at most 5 s).
    pub fn with_timeout(timeout: Duration) -> Result<PrometheusClient, PromError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("tidegate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PromError::Client(error_chain(&e)))?;
        Ok(PrometheusClient { http, bearer_token: None, address_override: None })
    }

    /// [`Self::new`], with every address replaced by `TIDEGATE_PROMETHEUS_URL` when it is set
    /// and not empty.
    pub fn from_env() -> Result<PrometheusClient, PromError> {
        let address = std::env::var(Self::ADDRESS_ENV).ok().filter(|a| !a.trim().is_empty());
        Ok(Self::new()?.address_override(address))
    }

    /// Sends `Authorization: Bearer <token>` with every query (never logged).
    pub fn bearer_token(mut self, token: impl Into<String>) -> PrometheusClient {
        self.bearer_token = Some(token.into());
        self
    }

    /// Sends every query to `address` instead of the gate's own, when `Some`.
    pub fn address_override(mut self, address: Option<String>) -> PrometheusClient {
        self.address_override = address;
        self
    }

    /// The address a query for `address` really goes to.
    pub fn effective_address<'a>(&'a self, address: &'a str) -> &'a str {
        self.address_override.as_deref().unwrap_or(address)
    }

    async fn fetch(&self, url: Url, address: &str) -> Result<Vec<Series>, PromError> {
        let unreachable = |e: reqwest::Error| PromError::Unreachable {
            address: address.to_string(),
            message: error_chain(&e.without_url()),
        };
        let mut request = self.http.get(url).header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token);
        }
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(PromError::Decode {
                    address: address.to_string(),
                    message: format!("answer larger than {} MiB", MAX_BODY / 1024 / 1024),
                });
            }
            body.extend_from_slice(&chunk);
        }
        decode(status, &body, address)
    }
}

impl MetricsSource for PrometheusClient {
    fn query_range(
        &self,
        address: &str,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> impl Future<Output = Result<Vec<Series>, PromError>> + Send {
        let target = self.effective_address(address);
        let address = redact(target);
        let url = query_url(target, query, start, end, step);
        let span = tracing::debug_span!(
            "prometheus_query",
            address = %address,
            query = %query,
            start = %start.to_rfc3339(),
            end = %end.to_rfc3339(),
            step_secs = step.as_secs_f64(),
        );
        async move {
            let url = url.map_err(|message| PromError::InvalidAddress { address: address.clone(), message })?;
            let result = self.fetch(url, &address).await;
            match &result {
                Ok(series) => tracing::debug!(series = series.len(), "prometheus query answered"),
                Err(error) => tracing::warn!(%error, "prometheus query failed"),
            }
            result
        }
        .instrument(span)
    }
}

/// `address` with a password in its userinfo replaced by `***`, for logs and evidence.
pub fn redact(address: &str) -> String {
    match Url::parse(address) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string().trim_end_matches('/').to_string()
        }
        _ => address.to_string(),
    }
}

/// Whether `address` can be queried: an `http://` or `https://` URL.
pub fn check_address(address: &str) -> Result<(), String> {
    query_url(address, "", DateTime::<Utc>::UNIX_EPOCH, DateTime::<Utc>::UNIX_EPOCH, Duration::from_secs(1)).map(|_| ())
}

fn query_url(
    address: &str,
    query: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    step: Duration,
) -> Result<Url, String> {
    if address.trim().is_empty() {
        return Err(
            "no prometheus address configured (set address on the gate or the policy's prometheus address)".into()
        );
    }
    let mut url = Url::parse(address.trim()).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("unsupported scheme {:?} (use http or https)", url.scheme()));
    }
    let path = format!("{}/api/v1/query_range", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.query_pairs_mut()
        .clear()
        .append_pair("query", query)
        .append_pair("start", &unix_seconds(start))
        .append_pair("end", &unix_seconds(end))
        .append_pair("step", &step.as_secs_f64().to_string());
    Ok(url)
}

fn unix_seconds(t: DateTime<Utc>) -> String {
    format!("{}.{:03}", t.timestamp(), t.timestamp_subsec_millis())
}

#[derive(Deserialize)]
struct ApiResponse {
    status: String,
    #[serde(default)]
    data: Option<ApiData>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct ApiData {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: Vec<ApiSeries>,
}

#[derive(Deserialize)]
struct ApiSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// Reads a `/api/v1/query_range` answer.
fn decode(status: reqwest::StatusCode, body: &[u8], address: &str) -> Result<Vec<Series>, PromError> {
    let parsed: Result<ApiResponse, _> = serde_json::from_slice(body);
    let address = address.to_string();
    match parsed {
        Ok(answer) if answer.status == "success" && status.is_success() => {
            let data = answer.data.ok_or_else(|| PromError::Decode {
                address: address.clone(),
                message: "no data in a success answer".into(),
            })?;
            if data.result_type != "matrix" {
                return Err(PromError::Decode {
                    address,
                    message: format!("expected a matrix from a range query, got {:?}", data.result_type),
                });
            }
            data.result
                .into_iter()
                .map(|s| {
                    let samples = s
                        .values
                        .into_iter()
                        .map(|(ts, value)| Ok((timestamp(ts)?, sample_value(&value)?)))
                        .collect::<Result<Vec<_>, String>>()
                        .map_err(|message| PromError::Decode { address: address.clone(), message })?;
                    Ok(Series { labels: s.metric, samples })
                })
                .collect()
        }
        Ok(answer) => Err(PromError::Query {
            address,
            status: [Some(status.as_u16().to_string()), answer.error_type]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            message: answer.error.unwrap_or_else(|| format!("status {:?}", answer.status)),
        }),
        Err(e) if status.is_success() => Err(PromError::Decode { address, message: e.to_string() }),
        Err(_) => Err(PromError::Query {
            address,
            status: status.as_u16().to_string(),
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_string(),
        }),
    }
}

fn timestamp(seconds: f64) -> Result<DateTime<Utc>, String> {
    let millis = (seconds * 1000.0).round();
    if !millis.is_finite() || millis.abs() > 1e15 {
        return Err(format!("invalid timestamp {seconds}"));
    }
    Utc.timestamp_millis_opt(millis as i64).single().ok_or_else(|| format!("invalid timestamp {seconds}"))
}

/// Prometheus writes sample values as strings: `"0.012"`, `"NaN"`, `"+Inf"`, `"-Inf"`.
fn sample_value(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text.parse().map_err(|_| format!("invalid sample value {text:?}")),
    }
}

/// An error and its sources, `a: b: c`, without repeating a source its parent already shows.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
