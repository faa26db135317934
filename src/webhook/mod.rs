//! GitHub webhook intake, the pure part: signature verification over the raw body, payload
//! decoding (JSON or `application/x-www-form-urlencoded` with `payload=`), the events tidegate
//! acts on, and de-duplication of deliveries by `X-GitHub-Delivery`.
//!
//! Owns: deciding whether a delivery is authentic and what it asks for. Must not touch: git,
//! the cluster, GitHub's API — the HTTP handler only enqueues what this module returns.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::source::Secret;

pub mod untrusted;

/// GitHub's maximum payload size; larger bodies are refused with 413.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Why a delivery's signature is refused (all answered with 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header (and no SHA-1 one either).
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    /// Only the legacy SHA-1 `X-Hub-Signature` header: not accepted.
    #[error("only a SHA-1 X-Hub-Signature header was sent; SHA-256 (X-Hub-Signature-256) is required")]
    Sha1Only,
    /// The header is not `sha256=<64 hex digits>`.
    #[error("malformed X-Hub-Signature-256 header (expected sha256=<64 hex digits>)")]
    Malformed,
    /// No configured secret produces this signature.
    #[error("signature does not match")]
    Mismatch,
    /// No webhook secret is configured: every delivery is refused.
    #[error("no webhook secret is configured")]
    NoSecret,
}

/// Checks `X-Hub-Signature-256` against the raw body with every configured secret (several
/// secrets allow rotation), in constant time.
pub fn verify(
    secrets: &[Secret],
    sha256_header: Option<&str>,
    sha1_header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let header = match (sha256_header, sha1_header) {
        (Some(h), _) => h.trim(),
        (None, Some(_)) => return Err(SignatureError::Sha1Only),
        (None, None) => return Err(SignatureError::Missing),
    };
    let hex_sig = header.strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    if hex_sig.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let expected = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    for secret in secrets {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
            .map_err(|_| SignatureError::Mismatch)?;
        mac.update(body);
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The signature GitHub would send for `body` (for tests and the sample sender).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a payload cannot be read (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON or form-encoded.
    #[error("unsupported content type {0:?} (expected application/json or application/x-www-form-urlencoded)")]
    ContentType(String),
    /// A form body without a `payload` field.
    #[error("form-encoded body has no `payload` field")]
    NoPayloadField,
    /// The JSON is malformed.
    #[error("malformed JSON payload: {0}")]
    Json(String),
    /// A field the event needs is missing.
    #[error("{event} payload lacks `{field}`")]
    Missing {
        /// The event.
        event: String,
        /// The field.
        field: &'static str,
    },
}

/// A push to a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// `owner/name`.
    pub repository: String,
    /// The full ref, `refs/heads/main`.
    pub git_ref: String,
    /// The commit the ref points at now.
    pub after: String,
    /// The branch was deleted.
    pub deleted: bool,
}

/// A pull request event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// `owner/name`.
    pub repository: String,
    /// `opened`, `closed`, …
    pub action: String,
    /// PR number.
    pub number: u64,
    /// Merged (only meaningful with `closed`).
    pub merged: bool,
    /// Target branch.
    pub base_ref: String,
    /// Source branch.
    pub head_ref: String,
    /// `owner/name` of the repository the source branch is in (a fork's, for a fork); `None`
    /// when the fork was deleted.
    pub head_repository: Option<String>,
}

/// A comment on an issue or a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueComment {
    /// `owner/name`.
    pub repository: String,
    /// `created`, `edited`, `deleted`.
    pub action: String,
    /// Issue or PR number.
    pub number: u64,
    /// The issue is a pull request.
    pub is_pull_request: bool,
    /// Comment id (for reactions).
    pub comment_id: u64,
    /// Comment text.
    pub body: String,
    /// The author's login.
    pub author: String,
    /// `User`, `Bot` or `Organization`.
    pub author_type: String,
}

/// What a delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// GitHub checking the hook.
    Ping {
        /// The hook id.
        hook_id: Option<u64>,
    },
    /// A push.
    Push(Push),
    /// A pull request changed.
    PullRequest(PullRequest),
    /// A comment.
    IssueComment(IssueComment),
    /// Anything else: acknowledged and ignored.
    Ignored {
        /// The `X-GitHub-Event` value.
        event: String,
    },
}

impl Event {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &str {
        match self {
            Event::Ping { .. } => "ping",
            Event::Push(_) => "push",
            Event::PullRequest(_) => "pull_request",
            Event::IssueComment(_) => "issue_comment",
            Event::Ignored { event } => event,
        }
    }
}

/// Decodes a delivery's body (already verified) into an [`Event`].
pub fn parse(event: &str, content_type: Option<&str>, body: &[u8]) -> Result<Event, PayloadError> {
    let media = content_type.unwrap_or("application/json").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let json: Value = match media.as_str() {
        "application/json" | "" => serde_json::from_slice(body).map_err(|e| PayloadError::Json(e.to_string()))?,
        "application/x-www-form-urlencoded" => {
            let fields: Vec<(String, String)> =
                serde_urlencoded::from_bytes(body).map_err(|e| PayloadError::Json(e.to_string()))?;
            let payload =
                fields.into_iter().find(|(k, _)| k == "payload").map(|(_, v)| v).ok_or(PayloadError::NoPayloadField)?;
            serde_json::from_str(&payload).map_err(|e| PayloadError::Json(e.to_string()))?
        }
        other => return Err(PayloadError::ContentType(other.to_string())),
    };
    if !json.is_object() {
        return Err(PayloadError::Json("the payload is not a JSON object".into()));
    }
    let missing = |field: &'static str| PayloadError::Missing { event: event.to_string(), field };
    let s = |ptr: &str| json.pointer(ptr).and_then(Value::as_str).map(str::to_string);
    let repo = || s("/repository/full_name").ok_or_else(|| missing("repository.full_name"));
    Ok(match event {
        "ping" => Event::Ping { hook_id: json.get("hook_id").and_then(Value::as_u64) },
        "push" => Event::Push(Push {
            repository: repo()?,
            git_ref: s("/ref").ok_or_else(|| missing("ref"))?,
            after: s("/after").ok_or_else(|| missing("after"))?,
            deleted: json.get("deleted").and_then(Value::as_bool).unwrap_or(false),
        }),
        "pull_request" => Event::PullRequest(PullRequest {
            repository: repo()?,
            action: s("/action").ok_or_else(|| missing("action"))?,
            number: json
                .pointer("/pull_request/number")
                .and_then(Value::as_u64)
                .ok_or_else(|| missing("pull_request.number"))?,
            merged: json.pointer("/pull_request/merged").and_then(Value::as_bool).unwrap_or(false),
            base_ref: s("/pull_request/base/ref").ok_or_else(|| missing("pull_request.base.ref"))?,
            head_ref: s("/pull_request/head/ref").ok_or_else(|| missing("pull_request.head.ref"))?,
            head_repository: s("/pull_request/head/repo/full_name"),
        }),
        "issue_comment" => Event::IssueComment(IssueComment {
            repository: repo()?,
            action: s("/action").ok_or_else(|| missing("action"))?,
            number: json.pointer("/issue/number").and_then(Value::as_u64).ok_or_else(|| missing("issue.number"))?,
            is_pull_request: json.pointer("/issue/pull_request").is_some(),
            comment_id: json.pointer("/comment/id").and_then(Value::as_u64).ok_or_else(|| missing("comment.id"))?,
            body: s("/comment/body").unwrap_or_default(),
            author: s("/comment/user/login").ok_or_else(|| missing("comment.user.login"))?,
            // Unknown authors are not people: never acted on.
            author_type: s("/comment/user/type").unwrap_or_else(|| "Unknown".into()),
        }),
        other => Event::Ignored { event: other.to_string() },
    })
}

/// Remembers recent delivery ids so that a redelivery does no work twice.
#[derive(Debug)]
pub struct Deliveries {
    inner: Mutex<(HashSet<String>, VecDeque<String>)>,
    capacity: usize,
}

impl Deliveries {
    /// Remembers up to `capacity` ids (oldest forgotten first).
    pub fn new(capacity: usize) -> Deliveries {
        Deliveries { inner: Mutex::new((HashSet::new(), VecDeque::new())), capacity: capacity.max(1) }
    }

    /// Forgets an id, so that a redelivery is processed: for a delivery that could not be
    /// queued.
    pub fn forget(&self, id: &str) {
        let mut guard = self.inner.lock().expect("deliveries lock");
        let (set, order) = &mut *guard;
        if set.remove(id) {
            order.retain(|x| x != id);
        }
    }

    /// True the first time an id is seen; false for a repeat.
    pub fn first_time(&self, id: &str) -> bool {
        let mut guard = self.inner.lock().expect("deliveries lock");
        let (set, order) = &mut *guard;
        if set.contains(id) {
            return false;
        }
        set.insert(id.to_string());
        order.push_back(id.to_string());
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests;
