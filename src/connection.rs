//! Connections, accepted by our own loop so the server decides how many it
//! holds and for how long, whatever clients do:
//!
//! - at most `max_connections` at once; at the limit the connection idle
//!   the longest is closed to make room — one with no call at all first,
//!   then one holding only open-ended streams (health Watch, reflection),
//!   whose clients subscribe again — and when every connection has a call
//!   in progress the newcomer is closed at once (its client sees
//!   UNAVAILABLE and can retry) — never a hang. A call counts from the
//!   moment its request has arrived: streams that send headers and no
//!   body keep no connection busy;
//! - a connection must finish its handshake (the TLS handshake, or the
//!   24-byte HTTP/2 client preface in plaintext) within `handshake_timeout`;
//! - a connection with no call in progress for `idle_timeout` is closed
//!   (clients reconnect on their next call);
//! - accept errors (such as running out of file descriptors) are logged and
//!   retried with a growing pause, instead of spinning.
//!
//! Each connection carries a [`ConnectionInfo`] into the requests made on
//! it, through which calls mark it busy while they run, and open-ended
//! streams count themselves against its share of calls.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tonic::transport::server::Connected;

/// Bytes of the HTTP/2 client preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`).
const PREFACE_BYTES: u64 = 24;

/// Longest pause between retries after accept errors.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// How connections are limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    pub max_connections: usize,
    /// TLS handshake, or the HTTP/2 preface in plaintext.
    pub handshake_timeout: Duration,
    /// No call in progress for this long: closed.
    pub idle_timeout: Duration,
}

/// The open connections, for the limit and for closing idle ones.
#[derive(Debug, Default)]
struct Registry {
    connections: Mutex<HashMap<u64, Weak<Connection>>>,
    next_id: AtomicU64,
    /// Connections told to close that have not closed yet.
    closing: AtomicUsize,
}

impl Registry {
    fn open(&self) -> usize {
        self.connections.lock().map_or(0, |map| map.len())
    }

    /// Connections that will still be open once those told to close have
    /// gone.
    fn staying(&self) -> usize {
        self.open()
            .saturating_sub(self.closing.load(Ordering::Relaxed))
    }

    /// Closes the connection that has been without a call the longest,
    /// one without open-ended streams first; `false` when every connection
    /// has a call in progress.
    fn close_longest_idle(&self) -> bool {
        let longest = self.connections.lock().ok().and_then(|map| {
            map.values()
                .filter_map(Weak::upgrade)
                .filter(|c| c.calls.load(Ordering::Acquire) == 0 && !c.is_closing())
                .min_by_key(|c| {
                    (
                        c.streams.load(Ordering::Acquire) > 0,
                        c.last_active_ms.load(Ordering::Relaxed) + c.opened_offset_ms,
                    )
                })
        });
        match longest {
            Some(connection) => {
                connection.close(
                    self,
                    "the connection limit was reached and it was idle the longest",
                );
                true
            }
            None => false,
        }
    }
}

/// One connection's state, shared by its stream, its watchdog and the calls
/// made on it.
#[derive(Debug)]
struct Connection {
    id: u64,
    peer: SocketAddr,
    opened: Instant,
    /// `opened` as milliseconds since the listener started, to compare
    /// idleness across connections.
    opened_offset_ms: u64,
    /// Bytes read, counted up to the preface's length.
    bytes_read: AtomicU64,
    /// Calls in progress (their requests arrived, their answers not yet
    /// given).
    calls: AtomicU32,
    /// Open-ended streams in progress: not calls that make the connection
    /// busy, but within its share of calls.
    streams: AtomicU32,
    /// When a call last started or ended, in milliseconds since `opened`.
    last_active_ms: AtomicU64,
    closing: AtomicBool,
    /// The task reading the connection, woken to see it closing.
    reader: AtomicWaker,
    /// The stream was dropped: the watchdog can stop.
    gone: Notify,
}

impl Connection {
    fn new(id: u64, peer: SocketAddr, opened_offset_ms: u64) -> Connection {
        Connection {
            id,
            peer,
            opened: Instant::now(),
            opened_offset_ms,
            bytes_read: AtomicU64::new(0),
            calls: AtomicU32::new(0),
            streams: AtomicU32::new(0),
            last_active_ms: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            reader: AtomicWaker::new(),
            gone: Notify::new(),
        }
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn touch(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        self.last_active_ms.store(now, Ordering::Relaxed);
    }

    /// Makes the connection's next read see its end, so the HTTP/2 server
    /// drops it.
    fn close(&self, registry: &Registry, why: &str) {
        if !self.closing.swap(true, Ordering::AcqRel) {
            registry.closing.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(connection = self.id, peer = %self.peer, why, "closing connection");
            self.reader.wake();
        }
    }

    /// When the watchdog should look again, or why to close now.
    fn check(&self, limits: &ConnectionLimits, now: Instant) -> Result<Instant, &'static str> {
        if self.bytes_read.load(Ordering::Relaxed) < PREFACE_BYTES {
            let deadline = self.opened + limits.handshake_timeout;
            return if now >= deadline {
                Err("no HTTP/2 preface within the handshake timeout")
            } else {
                Ok(deadline)
            };
        }
        if self.calls.load(Ordering::Acquire) > 0 || self.streams.load(Ordering::Acquire) > 0 {
            return Ok(now + limits.idle_timeout);
        }
        let last_active =
            self.opened + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed));
        let deadline = last_active + limits.idle_timeout;
        if now >= deadline {
            Err("no call in progress for the idle timeout")
        } else {
            Ok(deadline)
        }
    }
}

/// The connection a request came on, as request extensions carry it.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionInfo(Arc<Connection>);

impl ConnectionInfo {
    pub(crate) fn peer(&self) -> SocketAddr {
        self.0.peer
    }
}

/// The IP address a request came from, if known.
pub(crate) fn peer_ip<B>(request: &http::Request<B>) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectionInfo>()
        .map(|info| info.peer().ip())
}

/// Notes activity on the request's connection: a request started, so the
/// idle timeout counts from now.
pub(crate) fn note_request<B>(request: &http::Request<B>) {
    if let Some(info) = request.extensions().get::<ConnectionInfo>() {
        info.0.touch();
    }
}

/// Marks a connection busy while a call runs (dropped: the call ended).
#[derive(Debug)]
pub(crate) struct CallOnConnection(Arc<Connection>);

impl CallOnConnection {
    /// Marks the request's connection busy until the guard is dropped.
    pub(crate) fn start<B>(request: &http::Request<B>) -> Option<CallOnConnection> {
        let connection = &request.extensions().get::<ConnectionInfo>()?.0;
        connection.calls.fetch_add(1, Ordering::AcqRel);
        connection.touch();
        Some(CallOnConnection(Arc::clone(connection)))
    }
}

impl Drop for CallOnConnection {
    fn drop(&mut self) {
        self.0.touch();
        self.0.calls.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts an open-ended stream on its connection while it runs (dropped:
/// it ended).
#[derive(Debug)]
pub(crate) struct StreamOnConnection(Arc<Connection>);

impl StreamOnConnection {
    /// Counts a stream on the request's connection, unless the connection
    /// already has `max_calls` calls and streams in progress (then `Err`
    /// with how many).
    pub(crate) fn start<B>(
        request: &http::Request<B>,
        max_calls: usize,
    ) -> Result<Option<StreamOnConnection>, usize> {
        let Some(info) = request.extensions().get::<ConnectionInfo>() else {
            return Ok(None);
        };
        let connection = &info.0;
        let streams = connection.streams.fetch_add(1, Ordering::AcqRel) as usize;
        let calls = connection.calls.load(Ordering::Acquire) as usize;
        // Counted first, so two racing streams cannot both slip under.
        let guard = StreamOnConnection(Arc::clone(connection));
        if streams + calls >= max_calls {
            return Err(streams + calls);
        }
        connection.touch();
        Ok(Some(guard))
    }
}

impl Drop for StreamOnConnection {
    fn drop(&mut self) {
        self.0.touch();
        self.0.streams.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An accepted TCP stream that counts what it reads and can be told to end.
#[derive(Debug)]
pub(crate) struct TrackedStream {
    stream: TcpStream,
    connection: Arc<Connection>,
    registry: Arc<Registry>,
}

impl Drop for TrackedStream {
    fn drop(&mut self) {
        if let Ok(mut map) = self.registry.connections.lock() {
            map.remove(&self.connection.id);
        }
        // Marked closing now if it was not, so a late close() does not
        // count it; if it was, it leaves the closing count.
        if self.connection.closing.swap(true, Ordering::AcqRel) {
            self.registry.closing.fetch_sub(1, Ordering::Relaxed);
        }
        self.connection.gone.notify_one();
    }
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Registered before the check, so a close between the two wakes us.
        self.connection.reader.register(cx.waker());
        if self.connection.is_closing() {
            // End of stream: the HTTP/2 server closes the connection.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        let count = (buf.filled().len() - before) as u64;
        if count > 0 && self.connection.bytes_read.load(Ordering::Relaxed) < PREFACE_BYTES {
            self.connection
                .bytes_read
                .fetch_add(count, Ordering::Relaxed);
        }
        read
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.connection.is_closing() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.connection.is_closing() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Connected for TrackedStream {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        ConnectionInfo(Arc::clone(&self.connection))
    }
}

/// Closes the connection when its handshake or idle timeout passes.
async fn watch(connection: Arc<Connection>, registry: Weak<Registry>, limits: ConnectionLimits) {
    loop {
        let next = match connection.check(&limits, Instant::now()) {
            Ok(next) => next,
            Err(why) => {
                if let Some(registry) = registry.upgrade() {
                    connection.close(&registry, why);
                }
                return;
            }
        };
        tokio::select! {
            () = connection.gone.notified() => return,
            () = tokio::time::sleep_until(next.into()) => {}
        }
    }
}

/// Says at most once a second how many connections were refused or how
/// often accepting failed, instead of a line per event.
#[derive(Debug)]
struct RateLimitedWarning {
    what: &'static str,
    last: Option<Instant>,
    unreported: u64,
}

impl RateLimitedWarning {
    fn new(what: &'static str) -> RateLimitedWarning {
        RateLimitedWarning {
            what,
            last: None,
            unreported: 0,
        }
    }

    fn note(&mut self, detail: &dyn std::fmt::Display) {
        self.unreported += 1;
        let now = Instant::now();
        if self
            .last
            .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(1))
        {
            tracing::warn!(count = self.unreported, "{}: {detail}", self.what);
            self.last = Some(now);
            self.unreported = 0;
        }
    }
}

/// Errors that concern one connection only: the next accept is fine.
fn concerns_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Accepts connections on `listener` until the returned stream is dropped,
/// applying `limits`. The stream never ends on its own and never yields an
/// error: the loop handles them.
pub(crate) fn accept(
    listener: TcpListener,
    limits: ConnectionLimits,
) -> impl tokio_stream::Stream<Item = Result<TrackedStream, io::Error>> {
    let (sender, receiver) = mpsc::channel::<Result<TrackedStream, io::Error>>(16);
    tokio::spawn(accept_loop(listener, limits, sender));
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

async fn accept_loop(
    listener: TcpListener,
    limits: ConnectionLimits,
    sender: mpsc::Sender<Result<TrackedStream, io::Error>>,
) {
    let registry = Arc::new(Registry::default());
    let started = Instant::now();
    let mut backoff = Duration::from_millis(5);
    let mut refused = RateLimitedWarning::new("connection refused: every connection is busy");
    let mut failing = RateLimitedWarning::new("accepting a connection failed; backing off");
    loop {
        let accepted = tokio::select! {
            () = sender.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(5);
                accepted
            }
            Err(error) if concerns_one_connection(&error) => continue,
            Err(error) => {
                // Out of file descriptors or memory: retrying at once would
                // spin. Wait, growing the pause, and say so.
                failing.note(&format_args!(
                    "{error} (retrying in {} ms)",
                    backoff.as_millis()
                ));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        if registry.staying() >= limits.max_connections && !registry.close_longest_idle() {
            refused.note(&format_args!(
                "{} connections, each with a call in progress (--max-connections); closed {peer}",
                limits.max_connections
            ));
            drop(stream);
            continue;
        }
        // Without it, Nagle's algorithm holds back the tail of a response
        // until the client's delayed ACK, 40 ms later.
        let _ = stream.set_nodelay(true);
        let connection = Arc::new(Connection::new(
            registry.next_id.fetch_add(1, Ordering::Relaxed),
            peer,
            started.elapsed().as_millis() as u64,
        ));
        if let Ok(mut map) = registry.connections.lock() {
            map.insert(connection.id, Arc::downgrade(&connection));
        }
        tokio::spawn(watch(
            Arc::clone(&connection),
            Arc::downgrade(&registry),
            limits,
        ));
        let tracked = TrackedStream {
            stream,
            connection,
            registry: Arc::clone(&registry),
        };
        if sender.send(Ok(tracked)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(opened: Instant) -> Connection {
        Connection {
            opened,
            ..Connection::new(0, "127.0.0.1:1".parse().unwrap(), 0)
        }
    }

    #[test]
    fn handshake_then_idle_timeouts_apply_in_turn() {
        let limits = ConnectionLimits {
            max_connections: 10,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        };
        let opened = Instant::now();
        let c = connection(opened);
        assert_eq!(
            c.check(&limits, opened),
            Ok(opened + Duration::from_secs(10))
        );
        assert!(c.check(&limits, opened + Duration::from_secs(10)).is_err());
        c.bytes_read.store(PREFACE_BYTES, Ordering::Relaxed);
        assert_eq!(
            c.check(&limits, opened),
            Ok(opened + Duration::from_secs(60))
        );
        // A call in progress is never idle.
        c.calls.store(1, Ordering::Relaxed);
        assert!(c.check(&limits, opened + Duration::from_secs(600)).is_ok());
        c.calls.store(0, Ordering::Relaxed);
        c.last_active_ms.store(30_000, Ordering::Relaxed);
        assert_eq!(
            c.check(&limits, opened + Duration::from_secs(60)),
            Ok(opened + Duration::from_secs(90))
        );
        assert!(c.check(&limits, opened + Duration::from_secs(90)).is_err());
    }
}
