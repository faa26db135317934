//! The HTTP endpoints of `serve`. The webhook handler verifies, parses and enqueues; it never
//! waits for git, Kubernetes or GitHub.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::state::{DeliveryOutcome, Shared};
use crate::source::Secret;
use crate::webhook::{self, Deliveries, Event, MAX_BODY_BYTES, untrusted};

/// What the handlers share.
pub struct AppState {
    /// Status and metrics.
    pub shared: Arc<Shared>,
    /// Webhook secrets.
    pub secrets: Vec<Secret>,
    /// Recently seen deliveries.
    pub deliveries: Deliveries,
    /// Wakes the control loop.
    pub wake: Arc<Notify>,
    /// The tracked branch.
    pub branch: String,
    /// `owner/name` of the watched repository, when its URL says (GitHub URLs).
    pub repository: Option<String>,
    /// The promotion bot (comments are handed to it).
    pub bot: Option<crate::bot::BotHandle>,
    /// Bound on reading a delivery's body (`http.bodyReadTimeout`).
    pub body_read_timeout: Duration,
    /// Bytes of webhook bodies held in memory at once, across connections
    /// ([`WEBHOOK_BODY_BUDGET`]): a body's bytes are read only once they fit.
    pub body_budget: Arc<Semaphore>,
}

/// Bytes of webhook bodies, signed or not, held in memory at once: four deliveries of
/// GitHub's maximum size. Every body must be read whole before its signature can be checked,
/// so without this bound many clients each sending 25 MiB could exhaust memory; with it they
/// wait (within `http.bodyReadTimeout`) while their bytes stay in the kernel's socket buffers.
pub const WEBHOOK_BODY_BUDGET: usize = 4 * MAX_BODY_BYTES;

/// Why a webhook body could not be read.
enum BodyError {
    /// Above [`MAX_BODY_BYTES`].
    TooLarge,
    /// The connection failed while reading.
    Broken(String),
}

/// Reads a body whole, at most [`MAX_BODY_BYTES`], taking its bytes from `budget` as they
/// arrive (the permits are released when the returned guard is dropped).
async fn read_body(
    mut body: axum::body::Body,
    declared: Option<usize>,
    budget: &Arc<Semaphore>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), BodyError> {
    use hyper::body::Body as _;
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(BodyError::TooLarge);
    }
    let mut data: Vec<u8> = Vec::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| BodyError::Broken(e.to_string()))?;
        let Ok(chunk) = frame.into_data() else { continue };
        if data.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        // What is charged is the buffer's capacity, before it grows.
        let needed = data.len() + chunk.len();
        if needed > data.capacity() {
            let grown = needed.max(data.capacity() * 2).min(MAX_BODY_BYTES);
            let more = u32::try_from(grown - data.capacity()).map_err(|_| BodyError::TooLarge)?;
            let permit =
                Arc::clone(budget).acquire_many_owned(more).await.map_err(|e| BodyError::Broken(e.to_string()))?;
            match &mut held {
                Some(h) => h.merge(permit),
                None => held = Some(permit),
            }
            data.reserve_exact(grown - data.len());
        }
        data.extend_from_slice(&chunk);
    }
    Ok((Bytes::from(data), held))
}

/// The status page's Content-Security-Policy: its script and style are served from tidegate
/// itself (`/status.js`, `/status.css`), it fetches only `/api/v1/status`, and nothing may
/// frame it, load plugins, or post forms.
pub const STATUS_PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                                   img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The router of the general connections: every endpoint.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhooks/github", post(webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .route("/", get(page))
        .route("/status.js", get(page_script))
        .route("/status.css", get(page_style))
        .layer(axum::middleware::map_response(nosniff))
        .with_state(state)
}

/// The router of the reserve kept for health probes once the general connections are all
/// taken: `/healthz`, `/readyz` and `/metrics`; anything else gets 503.
pub fn probe_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "tidegate is at its connection limit (http.maxConnections); only /healthz, /readyz and /metrics are served",
            )
        })
        .layer(axum::middleware::map_response(nosniff))
        .with_state(state)
}

/// Every response says what it is: browsers must not guess a type from the content.
async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn healthz() -> &'static str {
    "ok\n"
}

fn text(code: StatusCode, body: impl Into<String>) -> Response {
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", body.into())).into_response()
}

/// Nothing of the request is used — not in labels, logs, span fields or the de-duplication
/// memory — until its signature is verified; after that, what is logged is cut short
/// ([`untrusted::for_log`]) and labels come from fixed sets.
#[tracing::instrument(skip_all, fields(delivery = tracing::field::Empty, event = tracing::field::Empty))]
async fn webhook(State(s): State<Arc<AppState>>, request: Request) -> Response {
    let headers = request.headers().clone();
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let metrics = &s.shared.metrics;
    // The body is read raw, capped at MAX_BODY_BYTES and within the shared memory budget,
    // within bodyReadTimeout: a client trickling a body holds a connection no longer than that.
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let read = read_body(request.into_body(), declared, &s.body_budget);
    let (body, _budget) = match tokio::time::timeout(s.body_read_timeout, read).await {
        Ok(Ok(read)) => read,
        Ok(Err(BodyError::TooLarge)) => {
            metrics.unverified_delivery(DeliveryOutcome::TooLarge);
            let mut r = text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {MAX_BODY_BYTES} bytes (GitHub's maximum)"),
            );
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        Ok(Err(BodyError::Broken(e))) => {
            metrics.unverified_delivery(DeliveryOutcome::Malformed);
            return text(StatusCode::BAD_REQUEST, format!("failed to read the body: {}", untrusted::for_log(&e)));
        }
        Err(_) => {
            metrics.unverified_delivery(DeliveryOutcome::Timeout);
            let mut r = text(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body was not received within {:?} (http.bodyReadTimeout)", s.body_read_timeout),
            );
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };
    // Authenticity first, over the raw bytes, before anything is parsed or remembered.
    if let Err(e) =
        webhook::verify(&s.secrets, h("x-hub-signature-256").as_deref(), h("x-hub-signature").as_deref(), &body)
    {
        metrics.unverified_delivery(DeliveryOutcome::Unauthorized);
        tracing::warn!(error = %e, "webhook refused");
        return text(StatusCode::UNAUTHORIZED, e.to_string());
    }
    let event = h("x-github-event").unwrap_or_default();
    let delivery = h("x-github-delivery").unwrap_or_default();
    tracing::Span::current()
        .record("delivery", untrusted::for_log(&delivery).as_str())
        .record("event", untrusted::for_log(&event).as_str());
    if event.is_empty() {
        metrics.delivery("", DeliveryOutcome::Malformed);
        return text(StatusCode::BAD_REQUEST, "missing X-GitHub-Event header");
    }
    if !untrusted::delivery_id_ok(&delivery) {
        metrics.delivery(&event, DeliveryOutcome::Malformed);
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "malformed X-GitHub-Delivery header (expected at most {} printable characters)",
                untrusted::MAX_DELIVERY_ID_BYTES
            ),
        );
    }
    let parsed = match webhook::parse(&event, h("content-type").as_deref(), &body) {
        Ok(e) => e,
        Err(e) => {
            metrics.delivery(&event, DeliveryOutcome::Malformed);
            return text(StatusCode::BAD_REQUEST, untrusted::for_log(&e.to_string()));
        }
    };
    s.shared.status.lock().expect("status lock").webhook_deliveries += 1;
    if !delivery.is_empty() && !s.deliveries.first_time(&delivery) {
        metrics.delivery(&event, DeliveryOutcome::Duplicate);
        return text(StatusCode::OK, format!("delivery {delivery} was already processed"));
    }
    let same_repo = |full_name: &str| s.repository.as_deref().is_none_or(|r| r.eq_ignore_ascii_case(full_name));
    let tracked = format!("refs/heads/{}", s.branch);
    let (code, outcome, message) = match &parsed {
        Event::Ping { .. } => (StatusCode::OK, DeliveryOutcome::Accepted, "pong".to_string()),
        Event::Push(p) if same_repo(&p.repository) && p.git_ref == tracked && !p.deleted => {
            s.wake.notify_one();
            let short: String = p.after.chars().take(12).collect();
            (StatusCode::ACCEPTED, DeliveryOutcome::Accepted, format!("reconcile of {short} queued"))
        }
        Event::PullRequest(pr)
            if same_repo(&pr.repository) && pr.action == "closed" && pr.merged && pr.base_ref == s.branch =>
        {
            s.wake.notify_one();
            tell_bot_closed(&s, pr);
            (
                StatusCode::ACCEPTED,
                DeliveryOutcome::Accepted,
                format!("pull request #{} merged; reconcile queued", pr.number),
            )
        }
        Event::IssueComment(c) if same_repo(&c.repository) => match &s.bot {
            // ChatOps (/promote) is handled by the promotion bot, on its own queue.
            Some(bot) => match bot.comment(c.clone()) {
                Ok(crate::bot::CommentIntake::Queued) => {
                    (StatusCode::ACCEPTED, DeliveryOutcome::Accepted, format!("comment {} queued", c.comment_id))
                }
                Ok(crate::bot::CommentIntake::Ignored(why)) => (StatusCode::ACCEPTED, DeliveryOutcome::Ignored, why),
                Err(e) => {
                    // Not done: a redelivery (same id) must be able to try again.
                    s.deliveries.forget(&delivery);
                    (StatusCode::SERVICE_UNAVAILABLE, DeliveryOutcome::Overloaded, e.to_string())
                }
            },
            None => (StatusCode::ACCEPTED, DeliveryOutcome::Ignored, "the promotion bot is off".to_string()),
        },
        Event::PullRequest(pr) if same_repo(&pr.repository) && pr.action == "closed" => {
            if tell_bot_closed(&s, pr) {
                (StatusCode::ACCEPTED, DeliveryOutcome::Accepted, format!("pull request #{} closed", pr.number))
            } else {
                s.deliveries.forget(&delivery);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    DeliveryOutcome::Overloaded,
                    "the promotion bot's queue is full".to_string(),
                )
            }
        }
        other => (
            StatusCode::ACCEPTED,
            DeliveryOutcome::Ignored,
            format!("{} event ignored", untrusted::for_log(other.name())),
        ),
    };
    metrics.delivery(&event, outcome);
    tracing::info!(outcome = outcome.label(), "webhook delivery");
    text(code, message)
}

/// A closed promotion pull request is forgotten by the bot (merged or declined). Only pull
/// requests whose head branch is in the repository itself count: a fork's branch may carry
/// the same name. False when the bot's queue is full.
fn tell_bot_closed(s: &AppState, pr: &webhook::PullRequest) -> bool {
    let Some(bot) = &s.bot else { return true };
    let same_repo = pr.head_repository.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(&pr.repository));
    if !same_repo || !pr.head_ref.starts_with("tidegate/promote/") {
        return true;
    }
    let work =
        crate::bot::Work::PullRequestClosed { number: pr.number, head_ref: pr.head_ref.clone(), merged: pr.merged };
    match bot.send(work) {
        Ok(()) => true,
        Err(_) => {
            tracing::warn!(pr = pr.number, "promotion bot queue full; the closed pull request is noticed later");
            false
        }
    }
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    let st = s.shared.status.lock().expect("status lock").clone();
    let mut missing = Vec::new();
    if st.source.commit.is_none() {
        missing.push(format!("repository: {}", st.source.error.clone().unwrap_or_else(|| "not fetched yet".into())));
    }
    for (name, env) in st.environments.iter().filter(|(_, e)| e.managed) {
        if env.cluster_reachable == Some(false) {
            missing.push(format!("cluster of {name}: {}", env.error.clone().unwrap_or_default()));
        }
    }
    if let Some(e) = &st.election_error {
        missing.push(format!("leader election: {e}"));
    }
    if s.secrets.is_empty() {
        missing.push("webhook secret: none configured, every delivery is refused".into());
    }
    let body = serde_json::json!({"ready": missing.is_empty(), "missing": missing});
    let code = if missing.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        s.shared.metrics.encode(),
    )
        .into_response()
}

async fn status(State(s): State<Arc<AppState>>) -> Response {
    let st = s.shared.status.lock().expect("status lock").clone();
    axum::Json(st).into_response()
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, STATUS_PAGE_CSP),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        include_str!("status.html"),
    )
        .into_response()
}

async fn page_script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("status.js")).into_response()
}

async fn page_style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("status.css")).into_response()
}
