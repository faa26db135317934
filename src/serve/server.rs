//! The HTTP server of `serve`, driven with hyper directly so that every connection is bounded
//! (axum's own `serve` has no timeouts and no connection cap).
//!
//! - **Header read timeout**: from a connection's start, or from the first byte of a
//!   keep-alive connection's next request, until that request's headers are complete.
//! - **Idle timeout**: a keep-alive connection waiting for its next request, or a response the
//!   client has stopped reading, is closed after it.
//! - **Body read timeout**: the webhook handler reads a delivery's body within it (408 after).
//! - **Connection cap with a probe reserve**: `maxConnections` connections serve every
//!   endpoint. Once they are all taken, up to `probeConnections` more are accepted for
//!   `/healthz`, `/readyz` and `/metrics` only, with a header timeout of at most
//!   [`PROBE_HEADER_TIMEOUT`] and one request each; beyond that a connection is closed at
//!   once. Accepting never stops, so a probe is never left in the kernel's backlog behind
//!   stalled clients, and open sockets stay below `maxConnections + probeConnections + 1`.
//!
//! hyper's own `header_read_timeout` is not used: it starts when the previous response is
//! written, so it would also cut keep-alive connections idle for longer than the header
//! timeout. Here one watchdog per connection follows the connection's phase (reading a head,
//! busy with a request, idle) from what the socket, the service and the response body see.
//!
//! Owns: accepting, per-connection limits, graceful shutdown (stop accepting; let requests in
//! flight finish; close idle connections). Must not touch: what the endpoints do (`http.rs`).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use super::state::{ConnectionLabels, PoolLabels, Shared};
use crate::config::HttpConfig;

/// Longest a connection of the probe reserve may take to send its headers (less when
/// `http.headerReadTimeout` is shorter): probes send theirs at once.
pub const PROBE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest request head (request line and headers) read; hyper answers 431 above. GitHub's
/// are a few KiB. It also bounds each connection's read buffer.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Which connections a connection counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    /// Every endpoint, keep-alive.
    General,
    /// The reserve: probe endpoints only, one request.
    Probe,
}

impl Pool {
    fn label(self) -> &'static str {
        match self {
            Pool::General => "general",
            Pool::Probe => "probe",
        }
    }
}

/// Serves `general` (and `probe` on the reserve) on `listener` within `limits` until `stop`
/// turns true, then stops accepting and waits for the open connections: requests in flight
/// finish, idle connections close, stalled ones end at their timeout.
pub async fn serve(
    listener: TcpListener,
    general: Router,
    probe: Router,
    limits: HttpConfig,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    warn_about_file_limit(&limits);
    let general_slots = Arc::new(Semaphore::new(limits.max_connections));
    let probe_slots = Arc::new(Semaphore::new(limits.probe_connections));
    let mut tasks = tokio::task::JoinSet::new();
    let mut last_accept_error: Option<Instant> = None;
    let for_connections = stop.clone();
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopping| *stopping) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        accept_failed(e, &mut last_accept_error).await;
                        continue;
                    }
                };
                let (pool, permit) = match Arc::clone(&general_slots).try_acquire_owned() {
                    Ok(p) => (Pool::General, p),
                    Err(_) => match Arc::clone(&probe_slots).try_acquire_owned() {
                        Ok(p) => (Pool::Probe, p),
                        Err(_) => {
                            shared.metrics.connections_closed.get_or_create(&ConnectionLabels { reason: "over_capacity" }).inc();
                            drop(stream);
                            continue;
                        }
                    },
                };
                let router = if pool == Pool::General { general.clone() } else { probe.clone() };
                let conn = Connection { pool, limits: limits.clone(), shared: Arc::clone(&shared), _permit: permit };
                tasks.spawn(conn.run(stream, router, for_connections.clone()));
            }
        }
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

/// Accept errors: a connection reset before it was accepted is nothing; anything else (out of
/// file descriptors) is logged at most every 10 s and waited out briefly, without spinning.
async fn accept_failed(e: io::Error, last_logged: &mut Option<Instant>) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    if last_logged.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
        tracing::warn!(error = %e, "cannot accept connections");
        *last_logged = Some(Instant::now());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Warns when the connection limits do not fit the process's open-file limit (Linux), which
/// is what stops the server answering when they are reached.
fn warn_about_file_limit(limits: &HttpConfig) {
    let Ok(text) = std::fs::read_to_string("/proc/self/limits") else { return };
    let soft = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    // Room for git, the Kubernetes and GitHub clients, and logs.
    const OTHER_FILES: usize = 128;
    if let Some(soft) = soft {
        let wanted = limits.max_connections + limits.probe_connections + OTHER_FILES;
        if wanted > soft {
            tracing::warn!(
                open_file_limit = soft,
                max_connections = limits.max_connections,
                probe_connections = limits.probe_connections,
                "http.maxConnections + http.probeConnections + {OTHER_FILES} exceed the open-file limit; \
                 lower them or raise the limit (ulimit -n)"
            );
        }
    }
}

/// One accepted connection and what it holds.
struct Connection {
    pool: Pool,
    limits: HttpConfig,
    shared: Arc<Shared>,
    /// The slot in its pool, given back when the connection ends.
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, stream: TcpStream, router: Router, mut stop: watch::Receiver<bool>) {
        let gauge = self.shared.metrics.connections_open.get_or_create(&PoolLabels { pool: self.pool.label() }).clone();
        gauge.inc();
        let header_timeout = match self.pool {
            Pool::General => self.limits.header_read_timeout,
            Pool::Probe => self.limits.header_read_timeout.min(PROBE_HEADER_TIMEOUT),
        };
        let clock = Arc::new(Clock::new(header_timeout, self.limits.idle_timeout));
        let io = TokioIo::new(Watched { io: stream, clock: Arc::clone(&clock) });
        let tower = TowerToHyperService::new(router);
        let service_clock = Arc::clone(&clock);
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            use hyper::service::Service as _;
            service_clock.set(Phase::Busy);
            let answer = tower.call(request);
            let clock = Arc::clone(&service_clock);
            async move {
                let response = answer.await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| Tracked { body, clock, done: false }))
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.keep_alive(self.pool == Pool::General).max_buf_size(MAX_HEAD_BYTES).header_read_timeout(None);
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut stopping = false;
        if *stop.borrow() {
            conn.as_mut().graceful_shutdown();
            stopping = true;
        }
        loop {
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                reason = clock.expired() => {
                    tracing::debug!(reason, "connection closed by its timeout");
                    self.shared.metrics.connections_closed.get_or_create(&ConnectionLabels { reason }).inc();
                    break;
                }
                _ = stop.wait_for(|s| *s), if !stopping => {
                    conn.as_mut().graceful_shutdown();
                    stopping = true;
                }
            }
        }
        gauge.dec();
    }
}

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for, or reading, a request head: the header timeout runs.
    Head,
    /// A request is being served (its body read, its answer written).
    Busy,
    /// Keep-alive, between requests, not a byte of the next one yet: the idle timeout runs.
    Idle,
}

#[derive(Debug)]
struct ClockState {
    phase: Phase,
    since: Instant,
    /// When a write first found the socket full, while it still is.
    write_blocked_since: Option<Instant>,
}

/// One connection's phase and since when, and the deadline that follows from them.
#[derive(Debug)]
struct Clock {
    state: Mutex<ClockState>,
    changed: Notify,
    header_timeout: Duration,
    idle_timeout: Duration,
}

impl Clock {
    fn new(header_timeout: Duration, idle_timeout: Duration) -> Clock {
        Clock {
            state: Mutex::new(ClockState { phase: Phase::Head, since: Instant::now(), write_blocked_since: None }),
            changed: Notify::new(),
            header_timeout,
            idle_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set(&self, phase: Phase) {
        let mut s = self.lock();
        if s.phase != phase {
            s.phase = phase;
            s.since = Instant::now();
            drop(s);
            self.changed.notify_one();
        }
    }

    /// Bytes arrived: an idle connection starts reading its next head.
    fn read(&self) {
        let mut s = self.lock();
        if s.phase == Phase::Idle {
            s.phase = Phase::Head;
            s.since = Instant::now();
            drop(s);
            self.changed.notify_one();
        }
    }

    /// A write found the socket full (the client is not reading), or made progress.
    fn write_blocked(&self, blocked: bool) {
        let mut s = self.lock();
        match (blocked, s.write_blocked_since) {
            (true, None) => {
                s.write_blocked_since = Some(Instant::now());
                drop(s);
                self.changed.notify_one();
            }
            (false, Some(_)) => s.write_blocked_since = None,
            _ => {}
        }
    }

    /// The next deadline and the reason it closes the connection.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        let s = self.lock();
        let phase = match s.phase {
            Phase::Head => Some((s.since + self.header_timeout, "header_timeout")),
            Phase::Idle => Some((s.since + self.idle_timeout, "idle_timeout")),
            Phase::Busy => None,
        };
        let write = s.write_blocked_since.map(|t| (t + self.idle_timeout, "write_timeout"));
        match (phase, write) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Resolves when the connection has overrun its deadline, with the reason.
    async fn expired(&self) -> &'static str {
        loop {
            let changed = self.changed.notified();
            match self.deadline() {
                Some((at, reason)) if at <= Instant::now() => return reason,
                Some((at, _)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// The socket, telling the connection's clock what it sees.
struct Watched {
    io: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.read();
        }
        polled
    }
}

impl Watched {
    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        match polled {
            Poll::Pending => self.clock.write_blocked(true),
            Poll::Ready(Ok(n)) if *n > 0 => self.clock.write_blocked(false),
            Poll::Ready(_) => {}
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, data);
        self.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, data);
        self.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A response body that tells the clock when the response is over (all of it handed to the
/// connection, or dropped): the connection is idle from then on.
struct Tracked {
    body: axum::body::Body,
    clock: Arc<Clock>,
    done: bool,
}

impl Tracked {
    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.clock.set(Phase::Idle);
        }
    }
}

impl Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.finish();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.finish();
    }
}
