//! The HTTP endpoints of `serve`. The webhook handler verifies, parses and enqueues; it never
//! waits for git, Kubernetes or GitHub.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;

use super::state::Shared;
use crate::source::Secret;
use crate::webhook::{self, Deliveries, Event, MAX_BODY_BYTES};

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
}

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhooks/github", post(webhook).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .route("/", get(page))
        .with_state(state)
}

fn text(code: StatusCode, body: impl Into<String>) -> Response {
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", body.into())).into_response()
}

#[tracing::instrument(skip_all, fields(delivery, event))]
async fn webhook(State(s): State<Arc<AppState>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let event = h("x-github-event").unwrap_or_default();
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let code = rejection.status();
            let outcome = if code == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "malformed" };
            s.shared.metrics.delivery(if event.is_empty() { "unknown" } else { &event }, outcome);
            return text(code, rejection.body_text());
        }
    };
    let delivery = h("x-github-delivery").unwrap_or_default();
    tracing::Span::current().record("delivery", delivery.as_str()).record("event", event.as_str());
    let metrics = &s.shared.metrics;
    // Authenticity first, over the raw bytes, before anything is parsed.
    if let Err(e) =
        webhook::verify(&s.secrets, h("x-hub-signature-256").as_deref(), h("x-hub-signature").as_deref(), &body)
    {
        metrics.delivery(if event.is_empty() { "unknown" } else { &event }, "unauthorized");
        tracing::warn!(error = %e, "webhook refused");
        return text(StatusCode::UNAUTHORIZED, e.to_string());
    }
    if event.is_empty() {
        metrics.delivery("unknown", "malformed");
        return text(StatusCode::BAD_REQUEST, "missing X-GitHub-Event header");
    }
    let parsed = match webhook::parse(&event, h("content-type").as_deref(), &body) {
        Ok(e) => e,
        Err(e) => {
            metrics.delivery(&event, "malformed");
            return text(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    s.shared.status.lock().expect("status lock").webhook_deliveries += 1;
    if !delivery.is_empty() && !s.deliveries.first_time(&delivery) {
        metrics.delivery(&event, "duplicate");
        return text(StatusCode::OK, format!("delivery {delivery} was already processed"));
    }
    let same_repo = |full_name: &str| s.repository.as_deref().is_none_or(|r| r.eq_ignore_ascii_case(full_name));
    let tracked = format!("refs/heads/{}", s.branch);
    let (code, outcome, message) = match &parsed {
        Event::Ping { .. } => (StatusCode::OK, "accepted", "pong".to_string()),
        Event::Push(p) if same_repo(&p.repository) && p.git_ref == tracked && !p.deleted => {
            s.wake.notify_one();
            let short: String = p.after.chars().take(12).collect();
            (StatusCode::ACCEPTED, "accepted", format!("reconcile of {short} queued"))
        }
        Event::PullRequest(pr)
            if same_repo(&pr.repository) && pr.action == "closed" && pr.merged && pr.base_ref == s.branch =>
        {
            s.wake.notify_one();
            tell_bot_closed(&s, pr);
            (StatusCode::ACCEPTED, "accepted", format!("pull request #{} merged; reconcile queued", pr.number))
        }
        Event::IssueComment(c) if same_repo(&c.repository) => match &s.bot {
            // ChatOps (/promote) is handled by the promotion bot, on its own queue.
            Some(bot) => match bot.comment(c.clone()) {
                Ok(crate::bot::CommentIntake::Queued) => {
                    (StatusCode::ACCEPTED, "accepted", format!("comment {} queued", c.comment_id))
                }
                Ok(crate::bot::CommentIntake::Ignored(why)) => (StatusCode::ACCEPTED, "ignored", why),
                Err(e) => {
                    // Not done: a redelivery (same id) must be able to try again.
                    s.deliveries.forget(&delivery);
                    (StatusCode::SERVICE_UNAVAILABLE, "overloaded", e.to_string())
                }
            },
            None => (StatusCode::ACCEPTED, "ignored", "the promotion bot is off".to_string()),
        },
        Event::PullRequest(pr) if same_repo(&pr.repository) && pr.action == "closed" => {
            if tell_bot_closed(&s, pr) {
                (StatusCode::ACCEPTED, "accepted", format!("pull request #{} closed", pr.number))
            } else {
                s.deliveries.forget(&delivery);
                (StatusCode::SERVICE_UNAVAILABLE, "overloaded", "the promotion bot's queue is full".to_string())
            }
        }
        other => (StatusCode::ACCEPTED, "ignored", format!("{} event ignored", other.name())),
    };
    metrics.delivery(&event, outcome);
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

async fn page() -> Html<&'static str> {
    Html(include_str!("status.html"))
}
