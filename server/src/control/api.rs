//! The scene API over HTTP and WebSocket, for clients without WebRTC (remote UIs,
//! scripts). Both speak the same protocol as the data channel (the `protocol` crate) through
//! the same [`Connection`]; HTTP answers each request with one protocol message as its
//! JSON body, with a status that matches its code.
//!
//! Routes:
//! - `GET /api/control`: WebSocket; text messages are protocol messages, binary ones
//!   carry an announced upload.
//! - `POST /api/control`: any one protocol message; the answer is the reply
//!   (`?view=NAME` for another existing view than main: a single request never opens
//!   one).
//! - `GET /api/scene` (`?meshes=full` for whole meshes), `GET /api/scene/{kind}` (the
//!   environment or the settings) and `GET /api/scene/{kind}/{key}`.
//! - `POST /api/edits`: a transaction (`{"ops": [...]}`, optionally `base_revision`).
//! - `POST /api/undo`, `POST /api/redo`.
//! - `PUT /api/meshes/{key}`: a glTF (`model/gltf+json`) or GLB (`model/gltf-binary`)
//!   file whose triangles become the mesh `key` (added, or replaced if it exists).
//! - `GET /api/snapshot.png`: the current picture, lossless, at full resolution;
//!   encoded once per picture state, a bounded number at once (`snapshot.rs`).
//! - `GET /api/stats`: the view's size and how far its latest picture has refined.
//!
//! Length: About 750 lines: one short handler per HTTP route and the WebSocket
//! transport, sharing the authorisation and reply helpers at the top.

use crate::control::conns::{Client as ConnectionClient, Connections, WebSocketGuard};
use crate::control::pump::{self, Frames, Incoming, Transport};
use crate::control::ratelimit::{self, Action, Limiter};
use crate::control::snapshot::{SnapshotError, Snapshots};
use crate::control::Connection;
use crate::protocol::{
    self, ClientMessage, CloseReason, ErrorCode, MeshFormat, ProtocolError, Role, ServerMessage,
    MAX_MESSAGE_BYTES, MAX_UPLOAD_BYTES,
};
use crate::scene::store::SceneStore;
use crate::view::registry::{OpenError, Views};
use crate::view::View;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use render_core::edit::Key;
use serde::Deserialize;
use serde_json::{json, Value};
use signaling::{Access, Credential};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

/// The largest WebSocket message: a JSON message, or a piece of an upload.
pub const MAX_WEBSOCKET_MESSAGE: usize = 16 * 1024 * 1024;

/// The read buffer each WebSocket holds.
const WEBSOCKET_READ_BUFFER: usize = 8 * 1024;

/// What the API routes share.
pub struct Api {
    pub store: Arc<SceneStore>,
    /// The views; the scene routes use `main`, the WebSocket and snapshots any view
    /// named with `?view=NAME`.
    pub views: Arc<Views>,
    /// Who may use the API (the same tokens as `POST /whep`).
    pub access: Access,
    /// Each client's edit and pick allowances, shared with the data channels.
    pub limiter: Arc<Limiter>,
    /// Turns true when the server stops: WebSockets are then told and closed.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The snapshots' PNGs, one encode per picture state, a bounded number at once.
    pub snapshots: Snapshots,
    /// The open connections: WebSockets are registered (listed, bounded per client)
    /// there, and closed after its idle timeout.
    pub connections: Arc<Connections>,
}

impl Api {
    fn connection(&self, session: String, client: Client) -> Connection {
        self.connection_to(
            session,
            client,
            crate::view::registry::MAIN.to_owned(),
            self.views.main(),
        )
    }

    /// A connection for `client`, its edits and picks counted against the allowances
    /// of its credential; its session is also its public client id (neither a
    /// WebSocket nor an HTTP request has anything a session id would give a hold on).
    fn connection_to(
        &self,
        session: String,
        client: Client,
        name: String,
        view: Arc<View>,
    ) -> Connection {
        Connection::new(
            session.clone(),
            session,
            client.role,
            name,
            view,
            self.store.clone(),
        )
        .limited_by(self.limiter.clone(), client.credential)
    }

    /// The view a request names with `?view=NAME` (`main` without); the error as an
    /// HTTP reply (`404` for a view that does not exist).
    async fn view_of(&self, query: &ViewQuery) -> Result<(String, Arc<View>), Response> {
        self.open_view(query, false).await
    }

    /// [`Api::view_of`], opening the view if `opens` (a controller's WebSocket, where
    /// the documentation says a new name opens a view) and it does not exist.
    async fn open_view(
        &self,
        query: &ViewQuery,
        opens: bool,
    ) -> Result<(String, Arc<View>), Response> {
        let name = query
            .view
            .clone()
            .unwrap_or_else(|| crate::view::registry::MAIN.to_owned());
        let views = self.views.clone();
        let opened = if opens {
            let name = name.clone();
            tokio::task::spawn_blocking(move || views.open(&name, true)).await
        } else {
            // Never creates: no threads to start, nothing to wait for.
            Ok(views.open(&name, false))
        };
        match opened {
            Ok(Ok(view)) => Ok((name, view)),
            Ok(Err(e @ OpenError::NotFound(_))) => Err(error(ErrorCode::NotFound, e.to_string())),
            Ok(Err(e @ OpenError::BadName(_))) => {
                Err(error(ErrorCode::InvalidValue, e.to_string()))
            }
            Ok(Err(e @ OpenError::Full(_))) => Err(error(ErrorCode::LimitExceeded, e.to_string())),
            Ok(Err(e)) => Err(error(ErrorCode::Internal, e.to_string())),
            Err(e) => Err(error(ErrorCode::Internal, e.to_string())),
        }
    }
}

/// `?view=NAME`.
#[derive(Deserialize, Default)]
struct ViewQuery {
    view: Option<String>,
}

/// `GET /api/snapshot.png`'s query: the view, and `denoise=0` for the raw film.
#[derive(serde::Deserialize)]
struct SnapshotQuery {
    view: Option<String>,
    denoise: Option<String>,
}

/// Who made a request: the role of its token and the credential its rate is counted
/// against (the token, or the client's address on a server without tokens).
#[derive(Clone, Copy, Debug)]
struct Client {
    role: Role,
    credential: Credential,
}

/// Lets a request in with the role of its token (`Authorization: Bearer`, or
/// `?access_token=` where a browser cannot send headers, as on a WebSocket), which
/// the handlers read as an extension ([`Client`]); without a good token, `401`.
async fn authorize(State(api): State<Arc<Api>>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    match api
        .access
        .identify(request.headers(), request.uri().query(), peer)
    {
        Ok((role, credential)) => {
            request.extensions_mut().insert(Client { role, credential });
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// The API's routes.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/api/control", get(websocket).post(control))
        .route("/api/scene", get(scene))
        .route("/api/scene/{kind}", get(singleton))
        .route("/api/scene/{kind}/{key}", get(entity))
        .route("/api/edits", post(edits))
        .route("/api/undo", post(undo))
        .route("/api/redo", post(redo))
        .route("/api/meshes/{key}", put(upload))
        .route("/api/snapshot.png", get(snapshot))
        .route("/api/stats", get(stats))
        // Bodies are read with this module's own limits, so that an oversized one
        // gets a protocol error rather than a bare 413.
        .layer(DefaultBodyLimit::disable())
        .route_layer(axum::middleware::from_fn_with_state(api.clone(), authorize))
        .with_state(api)
}

/// The HTTP status of a protocol error.
fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::DuplicateKey
        | ErrorCode::InUse
        | ErrorCode::Conflict
        | ErrorCode::NothingToUndo => StatusCode::CONFLICT,
        ErrorCode::LimitExceeded => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Busy => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::StorageFailed | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::InvalidJson
        | ErrorCode::TooDeep
        | ErrorCode::BinaryMessage
        | ErrorCode::UnknownType
        | ErrorCode::UnknownField
        | ErrorCode::MissingField
        | ErrorCode::InvalidValue
        | ErrorCode::UnknownOp
        | ErrorCode::UnknownKind => StatusCode::BAD_REQUEST,
    }
}

/// A protocol message as an HTTP response.
fn respond(message: ServerMessage) -> Response {
    crate::control::count_sent(&message);
    let code = match &message {
        ServerMessage::Error { code, .. } => status(*code),
        _ => StatusCode::OK,
    };
    (
        code,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        message.to_json(),
    )
        .into_response()
}

/// A connection's reply as an HTTP response: a `rate_limited` one is a `429` whose
/// `Retry-After` says in whole seconds (at least one) when the client may try again.
fn respond_for(connection: &Connection, message: ServerMessage) -> Response {
    let limited = matches!(
        &message,
        ServerMessage::Error {
            code: ErrorCode::RateLimited,
            ..
        }
    );
    let mut response = respond(message);
    if let Some(wait) = connection.retry_after().filter(|_| limited) {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(ratelimit::retry_after_seconds(wait)),
        );
    }
    response
}

/// [`respond`] for a message that can be large (the scene or an entity with whole
/// meshes): serialised on the blocking pool, not on an async worker.
async fn respond_off_runtime(message: ServerMessage) -> Response {
    tokio::task::spawn_blocking(move || respond(message))
        .await
        .unwrap_or_else(|e| error(ErrorCode::Internal, format!("the reply failed: {e}")))
}

fn error(code: ErrorCode, message: impl Into<String>) -> Response {
    respond(ProtocolError::new(None, code, message).into_message())
}

/// A request body of at most `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, limit + 1)
        .await
        .ok()
        .filter(|b| b.len() <= limit)
        .ok_or_else(|| {
            error(
                ErrorCode::TooLarge,
                format!("the request body is larger than {limit} bytes"),
            )
        })
}

/// A request body as JSON text within the message limit.
async fn read_text(body: Body) -> Result<String, Response> {
    let bytes = read_body(body, MAX_MESSAGE_BYTES).await?;
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        error(
            ErrorCode::InvalidJson,
            "the request body is not valid UTF-8",
        )
    })
}

fn http_session() -> String {
    "http".to_owned()
}

/// `POST /api/control`: one protocol message.
async fn control(
    State(api): State<Arc<Api>>,
    Extension(client): Extension<Client>,
    Query(q): Query<ViewQuery>,
    body: Body,
) -> Response {
    let text = match read_text(body).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    // The message first: a bad one is answered before any view is looked at.
    let message = match protocol::parse(&text) {
        Ok(ClientMessage::Upload { id, .. }) => {
            return respond(
                ProtocolError::new(
                    id.as_ref(),
                    ErrorCode::InvalidValue,
                    "over HTTP, upload a mesh with PUT /api/meshes/{key}",
                )
                .into_message(),
            )
        }
        Ok(message) => message,
        Err(e) => return respond(e.into_message()),
    };
    // A single request never opens a view (only WHEP and the WebSocket do).
    let (name, view) = match api.view_of(&q).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut connection = api.connection_to(http_session(), client, name, view);
    match connection.handle(message).await {
        Some(reply) => respond_for(&connection, reply),
        None => error(ErrorCode::Internal, "no answer"),
    }
}

/// A transaction, undo or redo given as the body's JSON object plus a `type`.
async fn typed(api: &Api, client: Client, body: Body, kind: &str) -> Response {
    let text = match read_text(body).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let text = if text.trim().is_empty() {
        "{}".to_owned()
    } else {
        text
    };
    // The body is the message without its `type` (which the route gives); a `type`
    // that says otherwise is an error, not silently overridden.
    let value = match protocol::parse_json(&text) {
        Ok(Value::Object(mut map)) => {
            match map.get("type") {
                None => {
                    map.insert("type".into(), Value::String(kind.into()));
                }
                Some(Value::String(t)) if t == kind => {}
                Some(other) => {
                    return error(
                        ErrorCode::InvalidValue,
                        format!("this route takes \"{kind}\" messages, not {other}"),
                    )
                }
            }
            Value::Object(map)
        }
        Ok(_) => return error(ErrorCode::InvalidJson, "the body must be a JSON object"),
        Err(e) => return respond(e.into_message()),
    };
    let mut connection = api.connection(http_session(), client);
    match protocol::parse_value(&value) {
        Ok(message) => match connection.handle(message).await {
            Some(reply) => respond_for(&connection, reply),
            None => error(ErrorCode::Internal, "no answer"),
        },
        Err(e) => respond(e.into_message()),
    }
}

/// `POST /api/edits`.
async fn edits(
    State(api): State<Arc<Api>>,
    Extension(client): Extension<Client>,
    body: Body,
) -> Response {
    typed(&api, client, body, "edit").await
}

/// `POST /api/undo`.
async fn undo(
    State(api): State<Arc<Api>>,
    Extension(client): Extension<Client>,
    body: Body,
) -> Response {
    typed(&api, client, body, "undo").await
}

/// `POST /api/redo`.
async fn redo(
    State(api): State<Arc<Api>>,
    Extension(client): Extension<Client>,
    body: Body,
) -> Response {
    typed(&api, client, body, "redo").await
}

#[derive(Deserialize)]
struct SceneQuery {
    meshes: Option<String>,
}

/// `GET /api/scene`.
async fn scene(
    State(api): State<Arc<Api>>,
    Extension(client): Extension<Client>,
    Query(q): Query<SceneQuery>,
) -> Response {
    let full_meshes = match q.meshes.as_deref() {
        None | Some("summary") => false,
        Some("full") => true,
        Some(other) => {
            return error(
                ErrorCode::InvalidValue,
                format!("meshes must be \"summary\" or \"full\", not {other:?}"),
            )
        }
    };
    let mut connection = api.connection(http_session(), client);
    match connection
        .handle(ClientMessage::GetScene {
            id: None,
            full_meshes,
        })
        .await
    {
        Some(reply) => respond_off_runtime(reply).await,
        None => error(ErrorCode::Internal, "no answer"),
    }
}

/// `GET /api/scene/{kind}` and `GET /api/scene/{kind}/{key}`.
async fn get_entity(api: &Api, client: Client, kind: &str, key: Option<&str>) -> Response {
    let mut message = json!({"type": "get", "kind": kind});
    if let Some(key) = key {
        message["key"] = Value::String(key.to_owned());
    }
    let mut connection = api.connection(http_session(), client);
    match protocol::parse_value(&message) {
        Ok(m) => match connection.handle(m).await {
            Some(reply) => respond_off_runtime(reply).await,
            None => error(ErrorCode::Internal, "no answer"),
        },
        Err(e) => respond(e.into_message()),
    }
}

async fn singleton(
    State(api): State<Arc<Api>>,
    Extension(client): Extension<Client>,
    Path(kind): Path<String>,
) -> Response {
    get_entity(&api, client, &kind, None).await
}

async fn entity(
    State(api): State<Arc<Api>>,
    Extension(client): Extension<Client>,
    Path((kind, key)): Path<(String, String)>,
) -> Response {
    get_entity(&api, client, &kind, Some(&key)).await
}

/// `PUT /api/meshes/{key}`: a glTF or GLB file.
async fn upload(
    State(api): State<Arc<Api>>,
    Extension(client): Extension<Client>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if client.role != Role::Controller {
        return error(
            ErrorCode::Forbidden,
            "this session's role is viewer: only a controller may change the scene",
        );
    }
    let key = match Key::new(&key) {
        Ok(k) => k,
        Err(e) => return error(ErrorCode::InvalidValue, format!("mesh key: {e}")),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = match content_type.split(';').next().unwrap_or("").trim() {
        "model/gltf-binary" => MeshFormat::Glb,
        "model/gltf+json" => MeshFormat::Gltf,
        other => {
            return error(
                ErrorCode::InvalidValue,
                format!(
                    "Content-Type must be model/gltf-binary (GLB) or model/gltf+json (glTF), not {other:?}"
                ),
            )
        }
    };
    // The upload changes the scene: it spends an edit before its body is read.
    let mut connection = api.connection(http_session(), client);
    if let Err(refused) = connection.admit(Action::Edit, None, Instant::now()) {
        return respond_for(&connection, refused.into_message());
    }
    let bytes = match read_body(body, MAX_UPLOAD_BYTES as usize).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    respond(connection.add_mesh(None, key, format, bytes.to_vec()).await)
}

/// `GET /api/stats`: how far the view's latest picture has refined, for a player's
/// statistics (`?view=NAME` for another view than main). Cheap: no picture is taken.
async fn stats(State(api): State<Arc<Api>>, Query(q): Query<ViewQuery>) -> Response {
    let (name, view) = match api.view_of(&q).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (width, height) = view.size();
    let latest = view.latest_frame();
    let body = serde_json::json!({
        "view": name,
        "width": width,
        "height": height,
        "revision": latest.as_ref().map(|f| f.revision),
        "samples_per_pixel": latest.as_ref().map(|f| f.samples_per_pixel),
        "converged": latest.as_ref().is_some_and(|f| f.converged),
        "denoised": latest.as_ref().is_some_and(|f| f.denoised),
        "denoise": view.quality().denoise,
        "pictures_denoised": view
            .stats()
            .pictures_denoised
            .load(std::sync::atomic::Ordering::Relaxed),
        "viewers": view.viewers(),
        "snapshots_encoded": view
            .stats()
            .snapshots_encoded
            .load(std::sync::atomic::Ordering::Relaxed),
    });
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// `GET /api/snapshot.png`: the picture the stream shows, as rendered (and denoised),
/// not as encoded (`?view=NAME` for another view than main; `?denoise=0` for the raw
/// film without denoising). Encoded once per picture state (see `snapshot.rs`); when
/// too many encodes are running and waiting, `503` with `Retry-After`.
async fn snapshot(State(api): State<Arc<Api>>, Query(q): Query<SnapshotQuery>) -> Response {
    let raw = match q.denoise.as_deref() {
        None | Some("1") | Some("on") | Some("true") => false,
        Some("0") | Some("off") | Some("false") => true,
        Some(other) => {
            return error(
                ErrorCode::InvalidValue,
                format!("denoise must be 0 or 1 (off or on), not {other:?}"),
            )
        }
    };
    let (name, view) = match api.view_of(&ViewQuery { view: q.view }).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match api.snapshots.png(&name, &view, raw).await {
        Ok(png) => (
            [
                (header::CONTENT_TYPE, "image/png".to_owned()),
                (header::CACHE_CONTROL, "no-store".to_owned()),
                (
                    header::HeaderName::from_static("x-streamtracer-revision"),
                    png.state.revision.0.to_string(),
                ),
                (
                    header::HeaderName::from_static("x-streamtracer-samples"),
                    png.state.samples_per_pixel.to_string(),
                ),
                (
                    header::HeaderName::from_static("x-streamtracer-denoised"),
                    u8::from(png.state.denoised).to_string(),
                ),
            ],
            Body::from(png.bytes.clone()),
        )
            .into_response(),
        Err(e @ SnapshotError::Busy) => busy(e.to_string()),
        Err(e @ SnapshotError::Unavailable) => error(ErrorCode::Internal, e.to_string()),
    }
}

/// `503` with `Retry-After` and a `busy` error.
fn busy(message: String) -> Response {
    let mut response = error(ErrorCode::Busy, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    response
}

/// `GET /api/control`: the protocol over a WebSocket.
async fn websocket(
    State(api): State<Arc<Api>>,
    Extension(client): Extension<Client>,
    connection_client: Option<Extension<ConnectionClient>>,
    Query(q): Query<ViewQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Every connection served by `conns::serve` carries its client.
    let connection_client = connection_client.map_or(
        ConnectionClient::Address(std::net::Ipv4Addr::UNSPECIFIED.into()),
        |Extension(c)| c,
    );
    // Counted before any view is opened for it: a refused socket costs nothing.
    let name = q.view.as_deref().unwrap_or(crate::view::registry::MAIN);
    let registered = match api
        .connections
        .open_websocket(connection_client, client.role, name)
    {
        Ok(r) => r,
        Err(why) => return why.response(api.connections.limits()),
    };
    let (name, view) = match api.open_view(&q, client.role == Role::Controller).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    upgrade
        .max_message_size(MAX_WEBSOCKET_MESSAGE)
        // Read in 8 KiB chunks rather than tungstenite's default 128 KiB, a buffer
        // every open socket holds: large messages still arrive whole.
        .read_buffer_size(WEBSOCKET_READ_BUFFER)
        .on_upgrade(move |socket| run_websocket(api, client, name, view, registered, socket))
}

async fn run_websocket(
    api: Arc<Api>,
    client: Client,
    name: String,
    view: Arc<View>,
    registered: WebSocketGuard,
    socket: WebSocket,
) {
    let connection = api.connection_to(registered.id.clone(), client, name, view.clone());
    let session = connection.session.clone();
    // A client that sends nothing, not even a pong to the pings, for the idle
    // timeout is gone: its socket is closed.
    let idle = api.connections.limits().idle_timeout;
    let mut ping = tokio::time::interval(idle / 3);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.reset();
    let mut shown = view.shown();
    shown.mark_unchanged();
    let mut shutdown = api.shutdown.clone();
    tracing::info!(session = %session, "WebSocket connected");
    let transport = WebSocketTransport {
        socket,
        greeted: false,
        ping,
        idle,
        heard: tokio::time::Instant::now(),
        session: session.clone(),
    };
    let closing = async move {
        let _ = shutdown.wait_for(|s| *s).await;
        Some(CloseReason::Shutdown)
    };
    pump::run(connection, transport, Frames::Shown(shown), closing).await;
    tracing::info!(session = %session, "WebSocket closed");
    drop(registered);
}

/// The WebSocket at `/api/control`, pinged every third of the idle timeout.
struct WebSocketTransport {
    socket: WebSocket,
    /// Whether the pump has been told it may greet the client.
    greeted: bool,
    ping: tokio::time::Interval,
    idle: Duration,
    /// When the client was last heard from (a message or a pong).
    heard: tokio::time::Instant,
    session: String,
}

impl WebSocketTransport {
    async fn close_with(&mut self, reason: &'static str) {
        let frame = axum::extract::ws::CloseFrame {
            code: 1001,
            reason: reason.into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
    }
}

impl Transport for WebSocketTransport {
    async fn recv(&mut self) -> Incoming {
        if !self.greeted {
            self.greeted = true;
            return Incoming::Opened;
        }
        loop {
            let incoming = tokio::select! {
                incoming = self.socket.recv() => incoming,
                _ = self.ping.tick() => return Incoming::Tick,
            };
            let Some(Ok(message)) = incoming else {
                return Incoming::Closed;
            };
            self.heard = tokio::time::Instant::now();
            match message {
                Message::Text(text) => return Incoming::Text(Bytes::from(text)),
                Message::Binary(data) => return Incoming::Binary(data),
                Message::Close(_) => return Incoming::Closed,
                // Heard: enough to keep the connection alive.
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    }

    async fn send(&mut self, text: Bytes) -> bool {
        match axum::extract::ws::Utf8Bytes::try_from(text) {
            Ok(text) => self.socket.send(Message::Text(text)).await.is_ok(),
            // The pump sends serialised JSON only: this would be a bug, said in the log.
            Err(e) => {
                tracing::error!(session = %self.session, "a message that is not UTF-8 was not sent: {e}");
                true
            }
        }
    }

    async fn tick(&mut self) -> bool {
        if self.heard.elapsed() >= self.idle {
            tracing::info!(session = %self.session, "WebSocket idle for {} s: closed", self.idle.as_secs_f64());
            self.close_with("idle: no message or pong within the idle timeout")
                .await;
            return false;
        }
        self.socket.send(Message::Ping(Bytes::new())).await.is_ok()
    }

    async fn close(&mut self, _: CloseReason) {
        self.close_with("the server is shutting down").await;
    }
}
