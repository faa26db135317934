//! Response bodies (whole, or a watch stream) and starting watches.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use serde_json::json;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::Sleep;

use crate::errors::ApiError;
use crate::registry::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{ObjKey, State, Watcher, event_line};

/// A response body: all at once, or a stream of watch events.
pub(crate) enum Body {
    Full(Option<Bytes>),
    Stream { rx: UnboundedReceiver<Bytes>, deadline: Option<Pin<Box<Sleep>>> },
}

impl Body {
    pub fn full(b: impl Into<Bytes>) -> Body {
        Body::Full(Some(b.into()))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream { rx, deadline } => {
                if let Some(d) = deadline
                    && d.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(None);
                }
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(b)) => Poll::Ready(Some(Ok(Frame::data(b)))),
                    Poll::Ready(None) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Body::Full(Some(b)) => http_body::SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => http_body::SizeHint::with_exact(0),
            Body::Stream { .. } => http_body::SizeHint::default(),
        }
    }
}

/// Starts a watch: sends the initial events (current objects as ADDED without a
/// resourceVersion or with `0`; the changes after it otherwise; `410 Expired` when it is too
/// old) and registers the stream for later changes.
pub(crate) fn start(
    st: &mut State,
    rt: &Arc<ResourceType>,
    namespace: Option<String>,
    query: &std::collections::BTreeMap<String, String>,
) -> Result<Body, ApiError> {
    let q = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    let labels = LabelSelector::parse(q("labelSelector")).map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(q("fieldSelector")).map_err(ApiError::bad_request)?;
    let (tx, rx) = unbounded_channel();
    let watcher = Watcher {
        group: rt.group.clone(),
        kind: rt.kind.clone(),
        namespace,
        labels,
        fields,
        api_version: rt.api_version(),
        tx,
    };
    let deadline = q("timeoutSeconds")
        .parse::<u64>()
        .ok()
        .filter(|s| *s > 0)
        .map(|s| Box::pin(tokio::time::sleep(Duration::from_secs(s))));
    let rv = q("resourceVersion");
    let initial = rv.is_empty() || rv == "0" || q("sendInitialEvents") == "true";
    if initial {
        let start = ObjKey::new(&rt.group, &rt.kind, watcher.namespace.as_deref(), "");
        for (k, e) in st.objects.range(start..) {
            if !k.is(&rt.group, &rt.kind) || watcher.namespace.as_ref().is_some_and(|ns| *ns != k.namespace) {
                break;
            }
            if watcher.matches(k, &e.obj) {
                watcher.send("ADDED", &e.obj);
            }
        }
        if q("sendInitialEvents") == "true" {
            let bookmark = json!({
                "kind": rt.kind, "apiVersion": rt.api_version(),
                "metadata": {"resourceVersion": st.rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}},
            });
            watcher.send("BOOKMARK", &bookmark);
        }
    } else {
        let from: u64 = rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?;
        if from < st.history_floor {
            let expired =
                ApiError::new(410, "Expired", format!("too old resource version: {from} ({})", st.history_floor + 1));
            let _ = watcher.tx.send(event_line("ERROR", &expired.to_status(), ""));
            return Ok(Body::Stream { rx, deadline: Some(Box::pin(tokio::time::sleep(Duration::ZERO))) });
        }
        let start = st.history.partition_point(|e| e.rv <= from);
        for ev in st.history.range(start..) {
            if let Some((t, obj)) = watcher.translate(ev) {
                watcher.send(t, obj);
            }
        }
    }
    st.watchers.push(watcher);
    Ok(Body::Stream { rx, deadline })
}

/// A BOOKMARK-free check that the value is a watch event line (for tests).
#[cfg(test)]
pub(crate) fn parse_line(b: &Bytes) -> serde_json::Value {
    serde_json::from_slice(b).expect("event line is JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;

    #[tokio::test]
    async fn watch_replays_from_a_resource_version() {
        let mut st = State::new(Options::default());
        let rt = st.registry.by_kind("v1", "ConfigMap").unwrap();
        st.seed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}}));
        let rv = st.rv;
        st.seed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "default"}}));
        let mut query = std::collections::BTreeMap::new();
        query.insert("resourceVersion".to_string(), rv.to_string());
        let Body::Stream { mut rx, .. } = start(&mut st, &rt, Some("default".into()), &query).unwrap() else {
            panic!("not a stream")
        };
        let ev = parse_line(&rx.recv().await.unwrap());
        assert_eq!((ev["type"].as_str(), ev["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("b")));
        st.seed(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "default"}, "data": {"x": "1"}}));
        let ev = parse_line(&rx.recv().await.unwrap());
        assert_eq!(ev["type"], "MODIFIED");
    }
}
