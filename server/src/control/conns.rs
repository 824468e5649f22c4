//! The server's TCP connections, bounded: how many are open at once (in all and per
//! client), how long a client may take to send a request's head, how long a
//! connection may sit idle, and the WebSockets at `/api/control` among them.
//!
//! [`serve`] is the accept loop (in place of `axum::serve`): each accepted connection
//! is admitted or refused with an HTTP answer, then served by hyper's HTTP/1.1
//! connection with a header-read timeout and an idle timer. A connection counts
//! against its client from the moment it is accepted until it closes (upgraded to a
//! WebSocket included, since the count travels with the socket): against its address
//! until its first request shows a valid token, then against that token.
//!
//! - Over `--max-connections` in all: `503` with `Retry-After`, written straight to
//!   the socket, which is then closed.
//! - Over `--max-connections-per-client` for an address: `429` the same way; for a
//!   token, its first request is answered `429` and the connection closed.
//! - A request head not complete within `--header-timeout`, or a connection with
//!   no request in progress and no bytes either way for `--idle-timeout`: closed.
//! - WebSockets: at most `--max-websockets-per-client` per client (`429`); pinged,
//!   and closed after `--idle-timeout` without a frame (pongs count) from the client.
//!
//! Length: About 670 lines of code because the accept loop, its limits and the
//! WebSocket registry share the per-client counts they bound.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use signaling::{Access, Role};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How a refused client is told to wait before trying again, seconds.
const RETRY_AFTER_SECONDS: u32 = 5;
/// Refusals being written at once; past it a refused connection is just closed.
const MAX_REFUSING: usize = 256;

/// What bounds the connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// TCP connections open at once, in all.
    pub max_connections: usize,
    /// Per client: a token, or an address for connections without a valid one.
    pub max_per_client: usize,
    /// WebSockets at `/api/control` per client.
    pub max_websockets_per_client: usize,
    /// How long a client has to send a request's head (line and headers).
    pub header_timeout: Duration,
    /// How long a connection may be idle (no request in progress, no bytes moving),
    /// or a WebSocket without a frame from its client.
    pub idle_timeout: Duration,
}

/// Who a connection counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Client {
    /// A valid token, by its place in the configuration (the table never holds the
    /// secret).
    Token(u64),
    /// Connections without a valid token, by address.
    Address(IpAddr),
}

/// Why a connection or WebSocket was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The server is at `--max-connections`.
    Full,
    /// The client is at `--max-connections-per-client`.
    ClientFull,
    /// The client is at `--max-websockets-per-client`.
    WebSocketsFull,
}

impl Refusal {
    /// `503` for a full server, `429` for a client over its share.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::Full => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::ClientFull | Refusal::WebSocketsFull => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn message(self, limits: &ConnLimits) -> String {
        match self {
            Refusal::Full => format!(
                "the server is full: it keeps at most {} connections open at once (--max-connections); try again shortly\n",
                limits.max_connections
            ),
            Refusal::ClientFull => format!(
                "too many connections from this client: at most {} at once (--max-connections-per-client); close some and try again\n",
                limits.max_per_client
            ),
            Refusal::WebSocketsFull => format!(
                "too many WebSockets from this client: at most {} at once (--max-websockets-per-client); close one and try again\n",
                limits.max_websockets_per_client
            ),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Refusal::Full => "full",
            Refusal::ClientFull => "client",
            Refusal::WebSocketsFull => "websockets",
        }
    }

    /// The answer, closing the connection.
    pub fn response(self, limits: &ConnLimits) -> Response<Body> {
        let mut response = Response::new(Body::from(self.message(limits)));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }

    /// The same answer as raw HTTP/1.1, for a connection refused before any request.
    fn raw(self, limits: &ConnLimits) -> Vec<u8> {
        let body = self.message(limits);
        let status = self.status();
        format!(
            "HTTP/1.1 {} {}\r\nretry-after: {RETRY_AFTER_SECONDS}\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .into_bytes()
    }
}

/// A WebSocket as `GET /api/sessions` lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WebSocketInfo {
    pub session: String,
    pub role: Role,
    pub view: String,
    pub seconds_connected: f64,
}

struct WebSocketEntry {
    client: Client,
    role: Role,
    view: String,
    since: Instant,
}

#[derive(Default)]
struct Tables {
    /// Open connections per client.
    connections: HashMap<Client, usize>,
    /// Open WebSockets per client.
    websockets_per_client: HashMap<Client, usize>,
    websockets: HashMap<String, WebSocketEntry>,
}

/// Every open connection, counted.
pub struct Connections {
    limits: ConnLimits,
    access: Access,
    open: AtomicUsize,
    tables: Mutex<Tables>,
    refusing: AtomicUsize,
    refused: [AtomicU64; 3],
    header_timeouts: AtomicU64,
    idle_closed: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn decrement(map: &mut HashMap<Client, usize>, client: Client) {
    if let Some(n) = map.get_mut(&client) {
        *n -= 1;
        if *n == 0 {
            map.remove(&client);
        }
    }
}

impl Connections {
    pub fn new(limits: ConnLimits, access: Access) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            access,
            open: AtomicUsize::new(0),
            tables: Mutex::new(Tables::default()),
            refusing: AtomicUsize::new(0),
            refused: Default::default(),
            header_timeouts: AtomicU64::new(0),
            idle_closed: AtomicU64::new(0),
        })
    }

    pub fn limits(&self) -> &ConnLimits {
        &self.limits
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// WebSockets open now.
    pub fn websockets(&self) -> usize {
        lock(&self.tables).websockets.len()
    }

    /// The open WebSockets, for `GET /api/sessions`.
    pub fn list_websockets(&self) -> Vec<WebSocketInfo> {
        let now = Instant::now();
        let mut list: Vec<WebSocketInfo> = lock(&self.tables)
            .websockets
            .iter()
            .map(|(id, e)| WebSocketInfo {
                session: id.clone(),
                role: e.role,
                view: e.view.clone(),
                seconds_connected: now.saturating_duration_since(e.since).as_secs_f64(),
            })
            .collect();
        list.sort_by(|a, b| a.session.cmp(&b.session));
        list
    }

    fn count_refusal(&self, why: Refusal) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Who a request counts against: its token if valid, else `address`.
    pub fn client_of(&self, headers: &HeaderMap, query: Option<&str>, address: IpAddr) -> Client {
        match self.access.identify(headers, query, Some(address)) {
            Ok((_, signaling::Credential::Token(i))) => Client::Token(i as u64),
            _ => Client::Address(address),
        }
    }

    /// Admits a new connection from `address`, or says why not.
    fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Admitted, Refusal> {
        let client = Client::Address(address);
        let mut tables = lock(&self.tables);
        if self.open.load(Ordering::Relaxed) >= self.limits.max_connections {
            return Err(Refusal::Full);
        }
        let n = tables.connections.entry(client).or_insert(0);
        if *n >= self.limits.max_per_client {
            return Err(Refusal::ClientFull);
        }
        *n += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Admitted {
            connections: self.clone(),
            client: Mutex::new(client),
            claimed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Registers a WebSocket of `client`, or refuses it.
    pub fn open_websocket(
        self: &Arc<Self>,
        client: Client,
        role: Role,
        view: &str,
    ) -> Result<WebSocketGuard, Refusal> {
        let mut tables = lock(&self.tables);
        let n = tables.websockets_per_client.entry(client).or_insert(0);
        if *n >= self.limits.max_websockets_per_client {
            drop(tables);
            self.count_refusal(Refusal::WebSocketsFull);
            return Err(Refusal::WebSocketsFull);
        }
        *n += 1;
        let id = crate::control::public_client_id("ws");
        tables.websockets.insert(
            id.clone(),
            WebSocketEntry {
                client,
                role,
                view: view.to_owned(),
                since: Instant::now(),
            },
        );
        Ok(WebSocketGuard {
            connections: self.clone(),
            id,
        })
    }

    /// The `/metrics` lines of the connections.
    pub fn metrics(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP streamtracer_connections HTTP connections open (WebSockets included).\n\
             # TYPE streamtracer_connections gauge\nstreamtracer_connections {}",
            self.open()
        );
        let _ = writeln!(
            out,
            "# HELP streamtracer_websockets WebSocket control connections open.\n\
             # TYPE streamtracer_websockets gauge\nstreamtracer_websockets {}",
            self.websockets()
        );
        let _ = writeln!(
            out,
            "# HELP streamtracer_connections_refused_total Connections and WebSockets refused, by the limit they met.\n\
             # TYPE streamtracer_connections_refused_total counter"
        );
        for why in [Refusal::Full, Refusal::ClientFull, Refusal::WebSocketsFull] {
            let _ = writeln!(
                out,
                "streamtracer_connections_refused_total{{limit=\"{}\"}} {}",
                why.name(),
                self.refused[why as usize].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP streamtracer_connections_timed_out_total Connections closed for a request head not sent in time (header) or for idleness (idle).\n\
             # TYPE streamtracer_connections_timed_out_total counter\n\
             streamtracer_connections_timed_out_total{{reason=\"header\"}} {}\n\
             streamtracer_connections_timed_out_total{{reason=\"idle\"}} {}",
            self.header_timeouts.load(Ordering::Relaxed),
            self.idle_closed.load(Ordering::Relaxed)
        );
        out
    }
}

/// An admitted connection's place in the count, given back when it closes.
struct Admitted {
    connections: Arc<Connections>,
    client: Mutex<Client>,
    /// Whether a request has named the client yet.
    claimed: std::sync::atomic::AtomicBool,
}

impl Admitted {
    /// On the connection's first request: counts it against `client` from now on
    /// (its token, when it has a valid one). Refused if that client is full.
    fn claim(&self, client: Client) -> Result<Client, Refusal> {
        if self.claimed.swap(true, Ordering::Relaxed) {
            return Ok(*lock(&self.client));
        }
        let mut current = lock(&self.client);
        if *current == client {
            return Ok(client);
        }
        let mut tables = lock(&self.connections.tables);
        let n = tables.connections.entry(client).or_insert(0);
        if *n >= self.connections.limits.max_per_client {
            if *n == 0 {
                tables.connections.remove(&client);
            }
            return Err(Refusal::ClientFull);
        }
        *n += 1;
        decrement(&mut tables.connections, *current);
        *current = client;
        Ok(client)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let client = *lock(&self.client);
        decrement(&mut lock(&self.connections.tables).connections, client);
        self.connections.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An open WebSocket's entry; removed when dropped.
pub struct WebSocketGuard {
    connections: Arc<Connections>,
    pub id: String,
}

impl Drop for WebSocketGuard {
    fn drop(&mut self) {
        let mut tables = lock(&self.connections.tables);
        if let Some(entry) = tables.websockets.remove(&self.id) {
            decrement(&mut tables.websockets_per_client, entry.client);
        }
    }
}

/// A connection's socket, noting when bytes last moved, and holding the
/// connection's place in the count for as long as the socket lives (after an
/// upgrade too, when hyper hands it to the WebSocket).
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
    _admitted: Arc<Admitted>,
}

/// When a connection last moved bytes, and whether a request is being handled.
struct Activity {
    start: Instant,
    /// Milliseconds since `start`.
    last: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        self.last
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Counts a request in flight for as long as it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Writes a refusal to a connection refused before any request, then closes it.
/// The request the client may already have sent is read (briefly) first, so that
/// closing with unread bytes does not reset the connection before the answer is read.
async fn refuse(mut stream: TcpStream, answer: Vec<u8>) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut total = 0;
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await?;
            total += n;
            if n == 0 || total > 64 * 1024 {
                return Ok::<_, std::io::Error>(());
            }
        }
    })
    .await;
}

/// Serves `app` on `listener` within the limits of `connections` until `shutdown`
/// resolves, then lets each connection finish its request in progress (at most
/// `drain_limit`). Upgraded connections (WebSockets) end on the server's own
/// shutdown signal.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    connections: Arc<Connections>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_limit: Duration,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    let limits = connections.limits;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was
                    // accepted: the listener itself is fine; pause, so as not to spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Reap finished connections, so the set holds only live ones.
        while tasks.try_join_next().is_some() {}
        let admitted = match connections.admit(peer.ip()) {
            Ok(a) => Arc::new(a),
            Err(why) => {
                connections.count_refusal(why);
                tracing::debug!(%peer, limit = why.name(), "connection refused");
                if connections.refusing.fetch_add(1, Ordering::Relaxed) < MAX_REFUSING {
                    let c = connections.clone();
                    tokio::spawn(async move {
                        refuse(stream, why.raw(&c.limits)).await;
                        c.refusing.fetch_sub(1, Ordering::Relaxed);
                    });
                } else {
                    connections.refusing.fetch_sub(1, Ordering::Relaxed);
                }
                continue;
            }
        };
        // Small messages (acks, WebSocket frames) go out at once.
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity {
            start: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        });
        let io = Tracked {
            stream,
            activity: activity.clone(),
            _admitted: admitted.clone(),
        };
        let service = {
            let (app, connections, activity) = (app.clone(), connections.clone(), activity.clone());
            hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                let in_flight = InFlight::new(&activity);
                let mut request = request.map(Body::new);
                let client =
                    connections.client_of(request.headers(), request.uri().query(), peer.ip());
                let claimed = admitted.claim(client);
                let app = app.clone();
                let limits = connections.limits;
                let connections = connections.clone();
                async move {
                    let _in_flight = in_flight;
                    let client = match claimed {
                        Ok(c) => c,
                        Err(why) => {
                            connections.count_refusal(why);
                            return Ok::<_, std::convert::Infallible>(why.response(&limits));
                        }
                    };
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    request.extensions_mut().insert(client);
                    tower::ServiceExt::oneshot(app, request).await
                }
            })
        };
        let mut stop = stop_rx.clone();
        let connections = connections.clone();
        tasks.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            tokio::pin!(conn);
            let idle = async {
                loop {
                    let left = limits.idle_timeout.saturating_sub(activity.idle_for());
                    if left.is_zero() && activity.in_flight.load(Ordering::Relaxed) == 0 {
                        return;
                    }
                    tokio::time::sleep(left.max(Duration::from_millis(100))).await;
                }
            };
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        if e.is_timeout() {
                            connections.header_timeouts.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%peer, "request head not sent in time: connection closed");
                        } else {
                            tracing::debug!(%peer, "connection ended: {e}");
                        }
                    }
                    return;
                }
                _ = idle => {
                    connections.idle_closed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "idle connection closed");
                    return;
                }
                _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {}
            }
            // Shutting down: finish the request in progress, take no more.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(drain_limit, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{} connections still busy after {} s: closed",
            tasks.len(),
            drain_limit.as_secs()
        );
        tasks.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnLimits {
        ConnLimits {
            max_connections: 3,
            max_per_client: 2,
            max_websockets_per_client: 1,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn connections_are_counted_per_client_and_in_all_and_given_back() {
        let c = Connections::new(limits(), Access::open());
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let a1 = c.admit(a).unwrap();
        let _a2 = c.admit(a).unwrap();
        assert_eq!(c.admit(a).err(), Some(Refusal::ClientFull));
        let _b1 = c.admit(b).unwrap();
        assert_eq!(c.admit(b).err(), Some(Refusal::Full));
        assert_eq!(c.open(), 3);
        drop(a1);
        assert_eq!(c.open(), 2);
        let _b2 = c.admit(b).unwrap();
        assert_eq!(c.admit(a).err(), Some(Refusal::Full));
    }

    #[test]
    fn a_claim_moves_a_connection_to_its_token_and_refuses_past_its_share() {
        let c = Connections::new(
            ConnLimits {
                max_connections: 10,
                ..limits()
            },
            Access::open(),
        );
        let a: IpAddr = [10, 0, 0, 1].into();
        let token = Client::Token(7);
        let first = c.admit(a).unwrap();
        let second = c.admit(a).unwrap();
        assert_eq!(first.claim(token), Ok(token));
        assert_eq!(second.claim(token), Ok(token));
        // The address has room again; the token has none.
        let third = c.admit(a).unwrap();
        assert_eq!(third.claim(token), Err(Refusal::ClientFull));
        // A later request on a claimed connection keeps its client.
        assert_eq!(first.claim(Client::Address(a)), Ok(token));
        drop(first);
        let fourth = c.admit(a).unwrap();
        drop(third);
        assert_eq!(fourth.claim(token), Ok(token));
        assert_eq!(lock(&c.tables).connections.get(&token), Some(&2));
    }

    #[test]
    fn websockets_are_listed_and_bounded_per_client() {
        let c = Connections::new(limits(), Access::open());
        let a = Client::Address([10, 0, 0, 1].into());
        let ws = c.open_websocket(a, Role::Viewer, "main").unwrap();
        assert_eq!(
            c.open_websocket(a, Role::Viewer, "main").err(),
            Some(Refusal::WebSocketsFull)
        );
        let list = c.list_websockets();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].session, ws.id);
        drop(ws);
        assert_eq!(c.websockets(), 0);
        assert!(c.open_websocket(a, Role::Viewer, "main").is_ok());
    }
}
