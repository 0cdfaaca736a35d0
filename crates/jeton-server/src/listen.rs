//! The server loop: accepts TCP connections and serves HTTP/1.1 on each with hyper, bounded in
//! time and size so that a slow or idle client cannot hold a connection forever.
//!
//! - A client has [`Config::header_read_timeout`] to send a complete request head, counted from
//!   when the connection is ready for a request (just accepted, or after a keep-alive response);
//!   then hyper closes the connection. This stops "slowloris" clients that send a request line
//!   and trickle headers, or nothing at all.
//! - A connection on which nothing is received or sent for [`Config::idle_timeout`] while no
//!   request is being handled is closed (for instance a client that stops reading a response).
//!   A request being handled is bounded by [`Config::request_timeout`] instead.
//! - A request head larger than [`MAX_HEADER_BYTES`] gets `431 Request Header Fields Too Large`.
//! - On shutdown the listener stops accepting, idle connections close at once, requests in
//!   progress finish (for at most the request timeout and a little more), then pending writes
//!   are flushed.
//!
//! A connection that upgrades (the SQL WebSocket) leaves this loop's timers: the WebSocket
//! session governs itself from then on.
//!
//! With TLS configured ([`Config::tls`]), each accepted connection first completes a TLS
//! handshake, within the header-read timeout (a client that stalls its handshake is dropped
//! like one that stalls its headers), in the connection's own task (never in the accept loop).
//! A failed handshake — a plain-HTTP client on the TLS port, say — closes that connection only.
//!
//! [`Config::header_read_timeout`]: crate::Config::header_read_timeout
//! [`Config::idle_timeout`]: crate::Config::idle_timeout
//! [`Config::request_timeout`]: crate::Config::request_timeout
//! [`Config::tls`]: crate::Config::tls

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::{Running, ServeError};

/// Largest request head (request line and headers) accepted; a larger one is answered with
/// `431 Request Header Fields Too Large` and the connection is closed. A Jeton token is well
/// under 1 KiB (and a credential over 4 KiB is refused unread); this leaves ample room for the
/// cookies and headers of proxies and browsers.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Serves the application of `running` on `listener` until `shutdown` completes, then closes
/// the connections gracefully, writes what is pending (last-use times, audit events) and stops.
///
/// This is what `jeton serve` runs after binding its address; tests call it with a listener on
/// a free port and a shutdown future of their own.
pub async fn serve_on(
    listener: TcpListener,
    running: Running,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let local = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let config = running.service.config().clone();
    let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        address = %local,
        database = running.service.store().backend(),
        tls = tls.is_some(),
        header_read_timeout = ?config.header_read_timeout,
        idle_timeout = ?config.idle_timeout,
        "Jeton is listening on {scheme}://{local}"
    );
    let app = crate::http::app(running.service.clone());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        // Bounds what a connection buffers while its head is incomplete (hyper's default is
        // about 400 KiB); a head that fills it is answered with 431 as well.
        .max_buf_size(2 * MAX_HEADER_BYTES)
        .keep_alive(true);
    let limits = Limits {
        http: Arc::new(http),
        idle_timeout: config.idle_timeout,
        header_read_timeout: config.header_read_timeout,
    };

    // `stop` tells every connection to finish (`GRACEFUL`), then to close at once (`FORCE`);
    // `done` is held by every connection, so that its sender learns when the last one has gone.
    let (stop_tx, stop_rx) = watch::channel(RUN);
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    tokio::spawn(accept(
                        stream,
                        tls.clone(),
                        remote,
                        app.clone(),
                        limits.clone(),
                        stop_rx.clone(),
                        done_rx.clone(),
                    ));
                }
                Err(err) if is_connection_error(&err) => {}
                Err(err) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::error!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing the requests in progress");
    let _ = stop_tx.send(GRACEFUL);
    drop(done_rx);
    let drain = config.request_timeout + Duration::from_secs(5);
    if tokio::time::timeout(drain, done_tx.closed()).await.is_err() {
        tracing::warn!(
            open = done_tx.receiver_count(),
            "connections still open after {drain:?}; closing them"
        );
        let _ = stop_tx.send(FORCE);
        let _ = tokio::time::timeout(Duration::from_secs(1), done_tx.closed()).await;
    }
    // The application holds the service: let it go, so that the audit writer sees its last
    // sender leave and finishes.
    drop(app);
    tracing::info!("writing pending last-use times and audit events");
    running.shutdown().await;
    Ok(())
}

/// The states of the `stop` channel: serving, finishing gracefully, closing at once.
const RUN: u8 = 0;
const GRACEFUL: u8 = 1;
const FORCE: u8 = 2;

/// What every connection is served with.
#[derive(Clone)]
struct Limits {
    http: Arc<hyper::server::conn::http1::Builder>,
    idle_timeout: Duration,
    /// Also the time a TLS handshake may take.
    header_read_timeout: Duration,
}

/// Errors of `accept` that concern one connection only (the client gave up early).
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one accepted connection: over TLS after a handshake when `tls` is set (bounded by the
/// header-read timeout and abandoned when the server stops), as plain HTTP otherwise.
async fn accept(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    remote: SocketAddr,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<u8>,
    done: watch::Receiver<()>,
) {
    let Some(tls) = tls else {
        return connection(stream, remote, app, limits, stop, done).await;
    };
    let handshake = tokio::time::timeout(limits.header_read_timeout, tls.accept(stream));
    let stream = tokio::select! {
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                tracing::debug!(client = %remote, error = %err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(client = %remote, "TLS handshake not done within {:?}", limits.header_read_timeout);
                return;
            }
        },
        // The server is stopping (or gone): a connection without a request yet just closes.
        _ = stop.changed() => return,
    };
    connection(stream, remote, app, limits, stop, done).await;
}

/// Serves one connection until it ends, the client idles past the idle timeout, or the server
/// shuts down.
async fn connection<S>(
    stream: S,
    remote: SocketAddr,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<u8>,
    done: watch::Receiver<()>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Metered {
        inner: stream,
        activity: activity.clone(),
    });
    let in_flight = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // Handlers read the client's address (`ClientAddr`) from here, as with
        // `into_make_service_with_connect_info`.
        request.extensions_mut().insert(ConnectInfo(remote));
        let guard = InFlight::start(in_flight.clone());
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await;
            drop(guard);
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let conn = limits.http.serve_connection(io, service).with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    loop {
        let idle_deadline = activity.idle_deadline(limits.idle_timeout);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(client = %remote, error = %err, "connection ended with an error");
                }
                break;
            }
            changed = stop.changed() => {
                // A closed channel means the server is gone: close as well.
                let state = if changed.is_ok() { *stop.borrow_and_update() } else { FORCE };
                if state >= FORCE {
                    break;
                }
                if state == GRACEFUL && !stopping {
                    // Finish the request in progress, if any, then close; an idle connection
                    // closes at once.
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = tokio::time::sleep_until(idle_deadline) => {
                if activity.is_idle(limits.idle_timeout) {
                    tracing::debug!(client = %remote, "closing a connection idle for {:?}", limits.idle_timeout);
                    break;
                }
            }
        }
    }
    drop(done);
}

/// When a connection last received or sent a byte, and how many requests it is handling.
struct Activity {
    start: Instant,
    /// Milliseconds since `start` of the last byte read or written.
    last: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(elapsed, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }

    /// Idle: no request being handled and no byte either way for `timeout`.
    fn is_idle(&self, timeout: Duration) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0 && self.last() + timeout <= Instant::now()
    }

    /// When to look again: the moment the connection would become idle.
    fn idle_deadline(&self, timeout: Duration) -> Instant {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            Instant::now() + timeout
        } else {
            self.last() + timeout
        }
    }
}

/// Counts a request as being handled for as long as it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream that notes when bytes last went through it.
struct Metered<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
