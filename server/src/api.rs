//! The scene API over HTTP and WebSocket, for clients without WebRTC (remote UIs,
//! scripts). Both speak the same protocol as the data channel (`protocol.rs`) through
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
//! - `GET /api/snapshot.png`: the current picture, lossless, at full resolution.
//! - `GET /api/stats`: the view's size and how far its latest picture has refined.

use crate::conns::{Client, Connections, WebSocketGuard};
use crate::control::Connection;
use crate::protocol::{
    self, ClientMessage, CloseReason, ErrorCode, MeshFormat, ProtocolError, Role, ServerMessage,
    MAX_MESSAGE_BYTES, MAX_UPLOAD_BYTES,
};
use crate::store::SceneStore;
use crate::view::View;
use crate::views::{self, OpenError, Views};
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use render_core::edit::Key;
use serde::Deserialize;
use serde_json::{json, Value};
use signaling::Access;
use std::sync::Arc;

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
    /// Scene changes per second a WebSocket connection may make.
    pub edit_rate: f64,
    /// Turns true when the server stops: WebSockets are then told and closed.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The open connections: WebSockets are registered (listed, bounded per client)
    /// there, and closed after its idle timeout.
    pub connections: Arc<Connections>,
}

impl Api {
    fn connection(&self, session: String, role: Role) -> Connection {
        self.connection_to(session, role, views::MAIN.to_owned(), self.views.main())
    }

    fn connection_to(
        &self,
        session: String,
        role: Role,
        name: String,
        view: Arc<View>,
    ) -> Connection {
        Connection::new(session, role, name, view, self.store.clone())
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
        let name = query.view.clone().unwrap_or_else(|| views::MAIN.to_owned());
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

/// Lets a request in with the role of its token (`Authorization: Bearer`, or
/// `?access_token=` where a browser cannot send headers, as on a WebSocket), which
/// the handlers read as an extension; without a good token, `401`.
async fn authorize(State(api): State<Arc<Api>>, mut request: Request, next: Next) -> Response {
    match api.access.role_of(request.headers(), request.uri().query()) {
        Ok(role) => {
            request.extensions_mut().insert(role);
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
    Extension(role): Extension<Role>,
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
    let mut connection = api.connection_to(http_session(), role, name, view);
    match connection.handle(message).await {
        Some(reply) => respond(reply),
        None => error(ErrorCode::Internal, "no answer"),
    }
}

/// A transaction, undo or redo given as the body's JSON object plus a `type`.
async fn typed(api: &Api, role: Role, body: Body, kind: &str) -> Response {
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
    let mut connection = api.connection(http_session(), role);
    match protocol::parse_value(&value) {
        Ok(message) => match connection.handle(message).await {
            Some(reply) => respond(reply),
            None => error(ErrorCode::Internal, "no answer"),
        },
        Err(e) => respond(e.into_message()),
    }
}

/// `POST /api/edits`.
async fn edits(
    State(api): State<Arc<Api>>,
    Extension(role): Extension<Role>,
    body: Body,
) -> Response {
    typed(&api, role, body, "edit").await
}

/// `POST /api/undo`.
async fn undo(
    State(api): State<Arc<Api>>,
    Extension(role): Extension<Role>,
    body: Body,
) -> Response {
    typed(&api, role, body, "undo").await
}

/// `POST /api/redo`.
async fn redo(
    State(api): State<Arc<Api>>,
    Extension(role): Extension<Role>,
    body: Body,
) -> Response {
    typed(&api, role, body, "redo").await
}

#[derive(Deserialize)]
struct SceneQuery {
    meshes: Option<String>,
}

/// `GET /api/scene`.
async fn scene(
    State(api): State<Arc<Api>>,
    Extension(role): Extension<Role>,
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
    let mut connection = api.connection(http_session(), role);
    match connection
        .handle(ClientMessage::GetScene {
            id: None,
            full_meshes,
        })
        .await
    {
        Some(reply) => respond(reply),
        None => error(ErrorCode::Internal, "no answer"),
    }
}

/// `GET /api/scene/{kind}` and `GET /api/scene/{kind}/{key}`.
async fn get_entity(api: &Api, role: Role, kind: &str, key: Option<&str>) -> Response {
    let mut message = json!({"type": "get", "kind": kind});
    if let Some(key) = key {
        message["key"] = Value::String(key.to_owned());
    }
    let mut connection = api.connection(http_session(), role);
    match protocol::parse_value(&message) {
        Ok(m) => match connection.handle(m).await {
            Some(reply) => respond(reply),
            None => error(ErrorCode::Internal, "no answer"),
        },
        Err(e) => respond(e.into_message()),
    }
}

async fn singleton(
    State(api): State<Arc<Api>>,
    Extension(role): Extension<Role>,
    Path(kind): Path<String>,
) -> Response {
    get_entity(&api, role, &kind, None).await
}

async fn entity(
    State(api): State<Arc<Api>>,
    Extension(role): Extension<Role>,
    Path((kind, key)): Path<(String, String)>,
) -> Response {
    get_entity(&api, role, &kind, Some(&key)).await
}

/// `PUT /api/meshes/{key}`: a glTF or GLB file.
async fn upload(
    State(api): State<Arc<Api>>,
    Extension(role): Extension<Role>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if role != Role::Controller {
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
    let bytes = match read_body(body, MAX_UPLOAD_BYTES as usize).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut connection = api.connection(http_session(), role);
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
        "viewers": view.viewers(),
    });
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// `GET /api/snapshot.png`: the picture as rendered, not as encoded (`?view=NAME` for
/// another view than main).
async fn snapshot(State(api): State<Arc<Api>>, Query(q): Query<ViewQuery>) -> Response {
    let view = match api.view_of(&q).await {
        Ok((_, view)) => view,
        Err(r) => return r,
    };
    let png = tokio::task::spawn_blocking(move || {
        let shot = view.snapshot()?;
        let mut png = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut png),
            &shot.rgb,
            shot.width,
            shot.height,
            image::ExtendedColorType::Rgb8,
        )
        .ok()?;
        Some((png, shot.revision, shot.samples_per_pixel))
    })
    .await;
    match png {
        Ok(Some((png, revision, spp))) => (
            [
                (header::CONTENT_TYPE, "image/png".to_owned()),
                (header::CACHE_CONTROL, "no-store".to_owned()),
                (
                    header::HeaderName::from_static("x-streamtracer-revision"),
                    revision.0.to_string(),
                ),
                (
                    header::HeaderName::from_static("x-streamtracer-samples"),
                    spp.to_string(),
                ),
            ],
            png,
        )
            .into_response(),
        _ => error(
            ErrorCode::Internal,
            "the picture could not be taken (the server is stopping?)",
        ),
    }
}

/// `GET /api/control`: the protocol over a WebSocket.
async fn websocket(
    State(api): State<Arc<Api>>,
    Extension(role): Extension<Role>,
    client: Option<Extension<Client>>,
    Query(q): Query<ViewQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Every connection served by `conns::serve` carries its client.
    let client = client.map_or(
        Client::Address(std::net::Ipv4Addr::UNSPECIFIED.into()),
        |Extension(c)| c,
    );
    // Counted before any view is opened for it: a refused socket costs nothing.
    let name = q.view.as_deref().unwrap_or(views::MAIN);
    let registered = match api.connections.open_websocket(client, role, name) {
        Ok(r) => r,
        Err(why) => return why.response(api.connections.limits()),
    };
    let (name, view) = match api.open_view(&q, role == Role::Controller).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    upgrade
        .max_message_size(MAX_WEBSOCKET_MESSAGE)
        // Read in 8 KiB chunks rather than tungstenite's default 128 KiB, a buffer
        // every open socket holds: large messages still arrive whole.
        .read_buffer_size(WEBSOCKET_READ_BUFFER)
        .on_upgrade(move |socket| run_websocket(api, role, name, view, registered, socket))
}

async fn run_websocket(
    api: Arc<Api>,
    role: Role,
    name: String,
    view: Arc<View>,
    registered: WebSocketGuard,
    mut socket: WebSocket,
) {
    let mut connection = api
        .connection_to(registered.id.clone(), role, name, view.clone())
        .limit_edits(api.edit_rate);
    // A client that sends nothing, not even a pong to the pings, for the idle
    // timeout is gone: its socket is closed.
    let idle = api.connections.limits().idle_timeout;
    let mut ping = tokio::time::interval(idle / 3);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.reset();
    let mut heard = tokio::time::Instant::now();
    let mut store_events = api.store.events();
    let mut view_events = view.events();
    let mut shown = view.shown();
    shown.mark_unchanged();
    let mut shutdown = api.shutdown.clone();
    tracing::info!(session = %connection.session, "WebSocket connected");
    let send = |m: ServerMessage| Message::Text(m.to_json().into());
    if socket.send(send(connection.hello())).await.is_err() {
        return;
    }
    loop {
        let out = tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(message)) => {
                    heard = tokio::time::Instant::now();
                    match message {
                        Message::Text(text) => connection.text(text.as_str()).await.map(send),
                        Message::Binary(data) => connection.binary(&data).await.map(send),
                        Message::Close(_) => break,
                        Message::Ping(_) | Message::Pong(_) => None,
                    }
                }
                None | Some(Err(_)) => break,
            },
            _ = ping.tick() => {
                if heard.elapsed() >= idle {
                    tracing::info!(session = %connection.session, "WebSocket idle for {} s: closed", idle.as_secs_f64());
                    let _ = socket
                        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                            code: 1001,
                            reason: "idle: no message or pong within the idle timeout".into(),
                        })))
                        .await;
                    break;
                }
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    break;
                }
                None
            }
            event = store_events.recv() => match event {
                // The text every client hears of this change, serialised once.
                Ok(event) => connection
                    .store_event_json(&event)
                    .and_then(|json| axum::extract::ws::Utf8Bytes::try_from(json).ok())
                    .map(Message::Text),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => Some(send(connection.missed_changes(n))),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            event = view_events.recv() => match event {
                Ok(event) => connection.view_event(&event).map(send),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let [camera, size, quality] = connection.view_catch_up();
                    if socket.send(send(camera)).await.is_err()
                        || socket.send(send(size)).await.is_err()
                    {
                        break;
                    }
                    Some(send(quality))
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            _ = async { shutdown.wait_for(|s| *s).await.map(|_| ()) } => {
                let closing = ServerMessage::Closing { reason: CloseReason::Shutdown };
                let _ = socket.send(send(closing)).await;
                let _ = socket
                    .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1001,
                        reason: "the server is shutting down".into(),
                    })))
                    .await;
                break;
            }
            changed = shown.changed() => {
                if changed.is_err() {
                    break;
                }
                let s = *shown.borrow_and_update();
                s.map(|s| send(ServerMessage::Frame {
                    revision: s.revision,
                    rtp_timestamp: None,
                    width: s.width,
                    height: s.height,
                }))
            }
        };
        if let Some(m) = out {
            if socket.send(m).await.is_err() {
                break;
            }
        }
        // The reply is on its way: now the others may hear of its change.
        connection.publish();
    }
    tracing::info!(session = %connection.session, "WebSocket closed");
    drop(registered);
}
