//! One client's control connection, whatever carries it: the WebRTC data channel, the
//! WebSocket at `/api/control`, or a single HTTP request. The transports only move
//! text and bytes; what a message means is decided here, once.
//!
//! [`Connection::handle`] answers each request with exactly one message (`ack`,
//! `scene`, `entity` or `error`). [`Connection::event`] turns what happened elsewhere
//! (another client's transaction, a camera move, a resize) into the message this
//! client should hear, if any. An announced `upload` collects the binary messages
//! that follow ([`Connection::binary`]) and adds the mesh when the last byte arrives.
//!
//! Length: About 760 lines because it answers every kind of request, which is what a
//! connection is; parsing, transports and routes live elsewhere.

use crate::control::ratelimit::{Action, Limiter};
use crate::protocol::{
    self, ClientMessage, ErrorCode, Limits, MeshFormat, PickHit, ProtocolError, QualityInfo,
    Revision, Role, ServerMessage, PROTOCOL_VERSION,
};
use crate::scene::store::{SceneStore, StoreEvent, Unpublished};
use crate::view::{Quality, View, ViewEvent};
use render_core::camera::CameraRays;
use render_core::edit::{Entity, Key, Kind, Op, Payload};
use render_core::geometry::Ray;
use serde_json::Value;
use signaling::Credential;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest message on a data channel: the SCTP maximum message size webrtc-rs
/// announces (and browsers honour). Larger uploads come in several binary messages.
pub const DATA_CHANNEL_MAX_MESSAGE: usize = 256 * 1024;

/// The most triangles an uploaded mesh may have.
pub const MAX_UPLOAD_TRIANGLES: usize = 10_000_000;

/// An announced upload, collecting its bytes.
struct Upload {
    id: Option<Value>,
    key: Key,
    format: MeshFormat,
    expected: usize,
    data: Vec<u8>,
}

/// A new public name for a client (`prefix` and random characters), the `client` of
/// the `changed` messages its edits cause and of its `hello`. Drawn apart from the
/// session id and the resume token, so knowing it gives no hold on the session:
/// nothing the server offers takes it.
pub fn public_client_id(prefix: &str) -> String {
    format!("{prefix}-{}", rtc::shared::util::math_rand_alpha_number(12))
}

/// Error messages sent to clients since the process started, by code (read by
/// `/metrics`): counted where a message becomes text for a client, whatever carries it.
static ERRORS_SENT: [AtomicU64; ErrorCode::ALL.len()] =
    [const { AtomicU64::new(0) }; ErrorCode::ALL.len()];

/// Counts `message` if it is an `error`.
pub fn count_sent(message: &ServerMessage) {
    if let ServerMessage::Error { code, .. } = message {
        ERRORS_SENT[*code as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// How many `error` messages with `code` were sent.
pub fn errors_sent(code: ErrorCode) -> u64 {
    ERRORS_SENT[code as usize].load(Ordering::Relaxed)
}

/// Turns messages into text for one transport: counts the errors sent, and replaces
/// a message too large for the transport.
#[derive(Clone)]
pub struct Encoder {
    session: String,
    max_outgoing: Option<usize>,
}

impl Encoder {
    /// The text of `m` as this transport can carry it. On a data channel a reply
    /// larger than a message may be (a whole scene with its meshes, say) becomes a
    /// `too_large` error for its request, and a `changed` too large to send becomes a
    /// `resync`, so the client is never left waiting for a message that cannot come.
    pub fn encode(&self, m: &ServerMessage) -> String {
        let text = m.to_json();
        let Some(max) = self.max_outgoing.filter(|&max| text.len() > max) else {
            count_sent(m);
            return text;
        };
        tracing::debug!(session = %self.session, bytes = text.len(), "message too large for the transport");
        let replacement = match m {
            ServerMessage::Changed { revision, .. } => ServerMessage::Resync {
                revision: *revision,
            },
            ServerMessage::Scene { id, .. }
            | ServerMessage::Entity { id, .. }
            | ServerMessage::Ack { id, .. }
            | ServerMessage::Error { id, .. } => ProtocolError::new(
                id.as_ref(),
                ErrorCode::TooLarge,
                format!(
                    "the reply is {} bytes, more than the {max} a data channel message may carry; \
                     read it over HTTP (GET /api/scene) or the WebSocket, or ask without full meshes",
                    text.len()
                ),
            )
            .into_message(),
            // Small by construction (they carry no client data of unbounded size).
            _ => {
                count_sent(m);
                return text;
            }
        };
        count_sent(&replacement);
        replacement.to_json()
    }
}

/// A client's side of the protocol.
pub struct Connection {
    /// The connection's session, for its own `hello` and the logs. On a WebRTC session
    /// this is the secret session id (what `DELETE /whep/<session>` takes): it is never
    /// sent to another client.
    pub session: String,
    /// The public id other clients hear this one by: the origin of its changes.
    pub client: String,
    pub role: Role,
    pub view_name: String,
    view: Arc<View>,
    store: Arc<SceneStore>,
    upload: Option<Upload>,
    limits: Limits,
    /// The largest message this transport can carry to the client, if it has a limit.
    max_outgoing: Option<usize>,
    /// How fast this client may change the scene and pick (a pick after an edit
    /// waits for an acceleration structure): the allowances its credential shares
    /// with every other connection and request it makes.
    limiter: Option<(Arc<Limiter>, Credential)>,
    /// How long the client was told to wait by its last `rate_limited` reply.
    retry_after: Option<Duration>,
    /// The session's resume token, announced in `hello` (WebRTC sessions only).
    resume_token: Option<String>,
    /// This connection's changes the others have not heard of yet: published once
    /// its reply is sent ([`Connection::publish`]), at its next request, or when the
    /// connection is dropped.
    unpublished: Vec<Unpublished>,
}

impl Connection {
    pub fn new(
        session: String,
        client: String,
        role: Role,
        view_name: String,
        view: Arc<View>,
        store: Arc<SceneStore>,
    ) -> Connection {
        Connection {
            session,
            client,
            role,
            view_name,
            view,
            store,
            upload: None,
            limits: Limits::default(),
            max_outgoing: None,
            limiter: None,
            retry_after: None,
            resume_token: None,
            unpublished: Vec::new(),
        }
    }

    /// Announces `token` in `hello`: the secret that resumes the session.
    pub fn with_resume_token(mut self, token: String) -> Connection {
        self.resume_token = Some(token);
        self
    }

    /// Counts this connection's scene changes and picks against `who`'s allowances
    /// in `limiter` (`--edit-rate` of each per second per client, whatever carries
    /// its requests); beyond them, requests get a `rate_limited` error.
    pub fn limited_by(mut self, limiter: Arc<Limiter>, who: Credential) -> Connection {
        self.limiter = Some((limiter, who));
        self
    }

    /// How long the last `rate_limited` reply asked the client to wait, if this
    /// connection ever refused a request for its rate.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Spends one of the client's `action` allowance at `now`, or answers the
    /// request `id` with `rate_limited` (nothing is applied).
    pub fn admit(
        &mut self,
        action: Action,
        id: Option<&Value>,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        let Some((limiter, who)) = &self.limiter else {
            return Ok(());
        };
        let Err(wait) = limiter.take(*who, action, now) else {
            return Ok(());
        };
        self.retry_after = Some(wait);
        let what = match action {
            Action::Edit => "scene changes",
            Action::Pick => "picks",
        };
        tracing::debug!(session = %self.session, client = %who, ?action, "rate limited");
        Err(ProtocolError::new(
            id,
            ErrorCode::RateLimited,
            format!(
                "too many {what}: this client (all its connections and requests together) is over \
                 its rate of {} per second (--edit-rate); nothing was applied, try again in {:.1} s",
                limiter.per_second(),
                wait.as_secs_f64()
            ),
        ))
    }

    /// The same, for a WebRTC data channel, whose messages SCTP limits to
    /// [`DATA_CHANNEL_MAX_MESSAGE`] bytes: `hello` announces that limit.
    pub fn over_data_channel(mut self) -> Connection {
        self.limits.max_message_bytes = self.limits.max_message_bytes.min(DATA_CHANNEL_MAX_MESSAGE);
        self.max_outgoing = Some(DATA_CHANNEL_MAX_MESSAGE);
        self
    }

    /// The text of `m` as this transport can carry it (see [`Encoder::encode`]).
    pub fn encode(&self, m: &ServerMessage) -> String {
        self.encoder().encode(m)
    }

    /// What turns this connection's messages into text, to take off the runtime for
    /// a large one.
    pub fn encoder(&self) -> Encoder {
        Encoder {
            session: self.session.clone(),
            max_outgoing: self.max_outgoing,
        }
    }

    pub fn view(&self) -> &Arc<View> {
        &self.view
    }

    pub fn store(&self) -> &Arc<SceneStore> {
        &self.store
    }

    /// After this client fell `missed` changes behind (it read too slowly): tell it
    /// to read the scene again.
    pub fn missed_changes(&self, missed: u64) -> ServerMessage {
        tracing::debug!(session = %self.session, missed, "connection missed scene changes");
        ServerMessage::Resync {
            revision: self.store.revision(),
        }
    }

    /// The greeting, sent first on every connection.
    pub fn hello(&self) -> ServerMessage {
        let (camera, _) = self.view.camera();
        let s = self.view.settings();
        let (width, height) = self.view.size();
        ServerMessage::Hello {
            protocol: PROTOCOL_VERSION,
            session: self.session.clone(),
            client: self.client.clone(),
            role: self.role,
            view: self.view_name.clone(),
            revision: self.store.revision(),
            camera,
            width,
            height,
            max_width: s.max_width,
            max_height: s.max_height,
            quality: self.quality_info(),
            limits: self.limits,
            resume_token: self.resume_token.clone(),
        }
    }

    /// The view's stream quality and what a `quality` request may ask for.
    fn quality_info(&self) -> QualityInfo {
        let (s, q) = (self.view.settings(), self.view.quality());
        QualityInfo {
            bitrate: q.bitrate,
            fps: q.fps,
            min_bitrate: s.min_bitrate,
            max_bitrate: s.max_bitrate,
            max_fps: s.fps,
            denoise: q.denoise,
        }
    }

    /// Answers one text message (nothing yet for an `upload`, whose answer comes
    /// with its last byte).
    pub async fn text(&mut self, text: &str) -> Option<ServerMessage> {
        match protocol::parse(text) {
            Ok(message) => self.handle(message).await,
            Err(e) => Some(e.into_message()),
        }
    }

    /// [`Connection::text`] for text that arrived as bytes (a data channel's).
    pub async fn text_bytes(&mut self, bytes: &[u8]) -> Option<ServerMessage> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.text(text).await,
            Err(_) => Some(
                ProtocolError::new(None, ErrorCode::InvalidJson, "message is not valid UTF-8")
                    .into_message(),
            ),
        }
    }

    /// Takes one binary message: a piece of the announced upload. Answers when the
    /// upload is complete or wrong; `None` while more bytes are due.
    pub async fn binary(&mut self, bytes: &[u8]) -> Option<ServerMessage> {
        let Some(upload) = self.upload.as_mut() else {
            return Some(protocol::binary_message_error().into_message());
        };
        if upload.data.len() + bytes.len() > upload.expected {
            let upload = self.upload.take()?;
            return Some(
                ProtocolError::new(
                    upload.id.as_ref(),
                    ErrorCode::TooLarge,
                    format!(
                        "upload of \"{}\" is longer than the {} bytes announced; it was dropped",
                        upload.key, upload.expected
                    ),
                )
                .into_message(),
            );
        }
        upload.data.extend_from_slice(bytes);
        if upload.data.len() < upload.expected {
            return None;
        }
        let upload = self.upload.take()?;
        Some(
            self.add_mesh(upload.id, upload.key, upload.format, upload.data)
                .await,
        )
    }

    /// Tells the other connections of this one's changes answered so far. A
    /// transport calls it once it has sent the reply, so that the reply does not
    /// queue behind the fan-out to every other client.
    pub fn publish(&mut self) {
        self.unpublished.clear();
    }

    /// Keeps the change of a successful transaction to publish after its reply.
    fn hold(
        &mut self,
        result: Result<Result<(Revision, Unpublished), ProtocolError>, tokio::task::JoinError>,
    ) -> Result<Result<Revision, ProtocolError>, tokio::task::JoinError> {
        result.map(|r| {
            r.map(|(revision, unpublished)| {
                self.unpublished.push(unpublished);
                revision
            })
        })
    }

    /// Parses an uploaded glTF or GLB file and adds (or replaces) the mesh `key` in
    /// one transaction.
    pub async fn add_mesh(
        &mut self,
        id: Option<Value>,
        key: Key,
        _format: MeshFormat,
        data: Vec<u8>,
    ) -> ServerMessage {
        let store = self.store.clone();
        let origin = self.client.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mesh = render_core::loaders::mesh_from_bytes(&data, MAX_UPLOAD_TRIANGLES).map_err(
                |e| ProtocolError::new(None, ErrorCode::InvalidValue, format!("upload: {e}")),
            )?;
            let exists = store.contains(Kind::Mesh, Some(&key));
            let op = if exists {
                Op::Replace {
                    kind: Kind::Mesh,
                    key: Some(key),
                    value: Payload::Entity(Entity::Mesh(Arc::new(mesh))),
                }
            } else {
                Op::add_mesh(key, mesh)
            };
            store.edit_unpublished(&origin, &[op], None)
        })
        .await;
        let result = self.hold(result);
        reply(id, result)
    }

    /// Answers one request (an `upload` only once its bytes have come).
    pub async fn handle(&mut self, message: ClientMessage) -> Option<ServerMessage> {
        // A transport that did not publish after the last reply: now, in order.
        self.publish();
        let id = message.id().cloned();
        if (message.edits_scene() || message.changes_view()) && self.role != Role::Controller {
            // The one view is shared by every client: a viewer watches it as the
            // controllers set it up.
            return Some(
                ProtocolError::new(
                    id.as_ref(),
                    ErrorCode::Forbidden,
                    "this session's role is viewer: it may watch and read the scene; only a controller may change the scene, the camera or the picture size",
                )
                .into_message(),
            );
        }
        let action = if message.edits_scene() {
            Some(Action::Edit)
        } else if matches!(message, ClientMessage::Pick { .. }) {
            Some(Action::Pick)
        } else {
            None
        };
        if let Some(action) = action {
            if let Err(refused) = self.admit(action, id.as_ref(), Instant::now()) {
                return Some(refused.into_message());
            }
        }
        if let ClientMessage::Upload {
            key, format, bytes, ..
        } = message
        {
            if let Some(previous) = self.upload.take() {
                tracing::debug!(session = %self.session, key = %previous.key, "upload replaced before it completed");
            }
            // Announced sizes are bounded by the protocol; the buffer grows as bytes come.
            self.upload = Some(Upload {
                id,
                key,
                format,
                expected: bytes as usize,
                data: Vec::new(),
            });
            return None;
        }
        Some(self.answer(id, message).await)
    }

    async fn answer(&mut self, id: Option<Value>, message: ClientMessage) -> ServerMessage {
        match message {
            ClientMessage::Camera { camera, .. } => {
                let (store, view) = (self.store.clone(), self.view.clone());
                // Off the runtime: the store's lock may be held by a transaction
                // whose journal record is being synced.
                let moved = tokio::task::spawn_blocking(move || {
                    Ok(store.move_camera(|revision| view.set_camera(camera, revision)))
                })
                .await;
                let moved = self.hold(moved);
                reply(id, moved)
            }
            ClientMessage::Resize { width, height, .. } => {
                let s = self.view.settings();
                if width > s.max_width || height > s.max_height {
                    return ProtocolError::new(
                        id.as_ref(),
                        ErrorCode::InvalidValue,
                        format!(
                            "{width}x{height} is larger than this server allows ({}x{})",
                            s.max_width, s.max_height
                        ),
                    )
                    .into_message();
                }
                self.view.resize(width, height);
                ServerMessage::Ack {
                    id,
                    revision: self.store.revision(),
                }
            }
            ClientMessage::Edit {
                ops, base_revision, ..
            } => {
                let (store, origin) = (self.store.clone(), self.client.clone());
                let result = tokio::task::spawn_blocking(move || {
                    store.edit_unpublished(&origin, &ops, base_revision)
                })
                .await;
                let result = self.hold(result);
                reply(id, result)
            }
            ClientMessage::Undo { .. } | ClientMessage::Redo { .. } => {
                let undo = matches!(message, ClientMessage::Undo { .. });
                let (store, origin) = (self.store.clone(), self.client.clone());
                let result = tokio::task::spawn_blocking(move || store.step(&origin, undo)).await;
                let result = self.hold(result);
                reply(id, result)
            }
            ClientMessage::GetScene { full_meshes, .. } => {
                // Whole meshes make a large value: built on the blocking pool, from the
                // store's shared copy of the document (no lock held meanwhile).
                let store = self.store.clone();
                let camera = serde_json::to_value(self.view.camera().0).unwrap_or_default();
                let read = tokio::task::spawn_blocking(move || {
                    let (mut scene, revision) = store.scene_json(full_meshes);
                    if let Value::Object(map) = &mut scene {
                        map.insert("camera".into(), camera);
                    }
                    (scene, revision)
                })
                .await;
                match read {
                    Ok((scene, revision)) => ServerMessage::Scene {
                        id,
                        revision,
                        scene,
                    },
                    Err(e) => ProtocolError::new(
                        id.as_ref(),
                        ErrorCode::Internal,
                        format!("the scene could not be read: {e}"),
                    )
                    .into_message(),
                }
            }
            ClientMessage::Get { kind, key, .. } => {
                // A mesh is given whole: read like the scene, off the runtime.
                let (store, wanted) = (self.store.clone(), key.clone());
                let read =
                    tokio::task::spawn_blocking(move || store.get(kind, wanted.as_ref())).await;
                match read {
                    Ok((Some(value), revision)) => ServerMessage::Entity {
                        id,
                        revision,
                        kind,
                        key,
                        value,
                    },
                    Ok((None, _)) => ProtocolError::new(
                        id.as_ref(),
                        ErrorCode::NotFound,
                        match &key {
                            Some(key) => format!("there is no {} \"{key}\"", kind.name()),
                            None => format!("{} needs a \"key\"", kind.name()),
                        },
                    )
                    .into_message(),
                    Err(e) => ProtocolError::new(
                        id.as_ref(),
                        ErrorCode::Internal,
                        format!("the entity could not be read: {e}"),
                    )
                    .into_message(),
                }
            }
            ClientMessage::Quality {
                bitrate,
                fps,
                denoise,
                ..
            } => {
                let s = self.view.settings();
                let current = self.view.quality();
                let bitrate = bitrate.unwrap_or(current.bitrate);
                let fps = fps.unwrap_or(current.fps);
                let denoise = denoise.unwrap_or(current.denoise);
                let refuse = |field: &str, message: String| ProtocolError {
                    field: Some(field.to_owned()),
                    ..ProtocolError::new(id.as_ref(), ErrorCode::InvalidValue, message)
                };
                if !(s.min_bitrate..=s.max_bitrate).contains(&bitrate) {
                    return refuse(
                        "bitrate",
                        format!(
                            "this server streams from {} to {} bit/s (--min-bitrate, --max-bitrate), not {bitrate}",
                            s.min_bitrate, s.max_bitrate
                        ),
                    )
                    .into_message();
                }
                if !(1.0..=s.fps).contains(&fps) {
                    return refuse(
                        "fps",
                        format!(
                            "this server streams at 1 to {} frames per second (--fps), not {fps}",
                            s.fps
                        ),
                    )
                    .into_message();
                }
                if denoise && !self.view.can_denoise() {
                    return refuse(
                        "denoise",
                        "this server does not denoise (started with --denoise off, or the Open Image Denoise runtime is missing: see its log)".to_owned(),
                    )
                    .into_message();
                }
                self.view.set_quality(Quality {
                    bitrate,
                    fps,
                    denoise,
                });
                ServerMessage::Ack {
                    id,
                    revision: self.store.revision(),
                }
            }
            ClientMessage::Pick { x, y, .. } => {
                let (store, view) = (self.store.clone(), self.view.clone());
                let picked = tokio::task::spawn_blocking(move || pick(&store, &view, x, y)).await;
                match picked {
                    Ok((revision, hit)) => ServerMessage::Picked { id, revision, hit },
                    Err(e) => {
                        tracing::error!("pick failed: {e}");
                        ProtocolError::new(id.as_ref(), ErrorCode::Internal, "the pick failed")
                            .into_message()
                    }
                }
            }
            // Announced in `handle`; never answered here.
            ClientMessage::Upload { .. } => ProtocolError::new(
                id.as_ref(),
                ErrorCode::Internal,
                "upload handled in the wrong place",
            )
            .into_message(),
        }
    }

    /// [`Connection::store_event`] as JSON text, shared with every other connection
    /// that hears it: a transaction's `changed` is the same for all of them, so the
    /// first serialises it and the others reuse its bytes (unless it is too large for
    /// this transport, which gets what [`Encoder::encode`] gives instead).
    pub fn store_event_json(&self, event: &StoreEvent) -> Option<bytes::Bytes> {
        let StoreEvent::Changed {
            origin, encoded, ..
        } = event;
        if origin == &self.client {
            return None;
        }
        let shared = match encoded.get() {
            Some(bytes) => bytes.clone(),
            None => {
                let text = self.store_event(event)?.to_json();
                encoded.get_or_init(|| text.into()).clone()
            }
        };
        if self.max_outgoing.is_some_and(|max| shared.len() > max) {
            // Too large for this transport: what it can carry instead (a `resync`).
            return Some(self.encode(&self.store_event(event)?).into());
        }
        Some(shared)
    }

    /// What this client hears of a store event: other clients' transactions, each
    /// named by its public client id (never a session id).
    pub fn store_event(&self, event: &StoreEvent) -> Option<ServerMessage> {
        match event {
            StoreEvent::Changed {
                revision,
                origin,
                changes,
                ..
            } => (origin != &self.client).then(|| ServerMessage::Changed {
                revision: *revision,
                client: origin.clone(),
                changes: changes.as_ref().clone(),
            }),
        }
    }

    /// What this client hears of its view's events.
    pub fn view_event(&self, event: &ViewEvent) -> Option<ServerMessage> {
        match event {
            ViewEvent::CameraChanged { revision, camera } => Some(ServerMessage::CameraChanged {
                revision: *revision,
                camera: *camera,
            }),
            ViewEvent::Resized { width, height } => Some(ServerMessage::Resized {
                width: *width,
                height: *height,
            }),
            ViewEvent::QualityChanged(q) => Some(ServerMessage::QualityChanged {
                bitrate: q.bitrate,
                fps: q.fps,
                denoise: q.denoise,
            }),
        }
    }

    /// After missed view events: the latest camera, size and quality, which are all that count.
    pub fn view_catch_up(&self) -> [ServerMessage; 3] {
        let (camera, revision) = self.view.camera();
        let (width, height) = self.view.size();
        let q = self.view.quality();
        [
            ServerMessage::CameraChanged { revision, camera },
            ServerMessage::Resized { width, height },
            ServerMessage::QualityChanged {
                bitrate: q.bitrate,
                fps: q.fps,
                denoise: q.denoise,
            },
        ]
    }
}

/// Casts the ray from `view`'s eye through (`x`, `y`) (fractions of the picture from
/// its top-left corner) into the current scene, with the store's shared acceleration
/// structure. Blocks for a build of it when the scene changed since the last pick.
/// The answer is of one scene version: if a transaction lands between the ray and
/// naming what it hit, the pick is done again in the new scene.
fn pick(store: &SceneStore, view: &View, x: f32, y: f32) -> (Revision, Option<PickHit>) {
    loop {
        let (revision, version, accel) = store.pick_accel();
        let (camera, _) = view.camera();
        let (width, height) = view.size();
        let (o, d) =
            CameraRays::new(&camera, width, height).ray(x * width as f32, y * height as f32);
        let Some(h) = accel.accel.intersect(&Ray { o, d }, 0.0, f32::INFINITY) else {
            return (revision, None);
        };
        let (object, material) = match store.object_keys(&version, h.object as usize) {
            Ok(Some(keys)) => keys,
            Ok(None) => return (revision, None),
            // The scene changed since `version`: pick again, in the new one.
            Err(()) => continue,
        };
        let normal = if h.ng.dot(d) > 0.0 { -h.ng } else { h.ng };
        let hit = PickHit {
            object,
            material,
            point: h.p.to_array(),
            normal: normal.to_array(),
            distance: h.t,
        };
        return (revision, Some(hit));
    }
}

/// The answer to a change run on the blocking pool.
fn reply(
    id: Option<Value>,
    result: Result<Result<Revision, ProtocolError>, tokio::task::JoinError>,
) -> ServerMessage {
    match result {
        Ok(Ok(revision)) => ServerMessage::Ack { id, revision },
        Ok(Err(e)) => ProtocolError { id, ..e }.into_message(),
        Err(e) => {
            tracing::error!("a change failed: {e}");
            ProtocolError::new(
                id.as_ref(),
                ErrorCode::Internal,
                "the change failed inside the server (a bug, logged); nothing was applied",
            )
            .into_message()
        }
    }
}
