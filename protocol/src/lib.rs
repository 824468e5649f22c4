//! The control protocol, version 1: JSON messages with a `type` field, the same over
//! the WebRTC data channel `control`, the WebSocket at `/api/control` and (one message
//! per request) HTTP. `docs/protocol.md` is the reference; `docs/protocol.schema.json`
//! describes every message, and the tests check that it and this module agree.
//!
//! This module only translates between text and typed messages and validates values;
//! it holds no state and does no I/O, so every rule here is unit-tested without a
//! socket. What the messages do is the server's business (`server/src/control/`).
//! The fuzz targets (`fuzz/`) depend on this crate as the server does.
//!
//! Client to server: `camera`, `resize`, `quality`, `pick`, `edit` (a transaction of scene ops), `undo`,
//! `redo`, `get_scene`, `get` (one entity), `upload` (a binary mesh follows).
//! Server to client: `hello`, `ack`, `error`, `changed` (another client's transaction),
//! `camera_changed`, `resized`, `quality_changed`, `scene`, `entity`, `picked`, `frame` (the first frame of a new
//! revision went out).
//!
//! A rejected request gets one `error` with a stable `code`, a `message` naming the
//! problem, the request's `id` when it could be read, and where it applies the op's
//! index and the field's path. Nothing of a rejected request is applied.
//!
//! Length: About 870 lines of code because every message and its value checks are one
//! reference, the one the docs and the JSON Schema are checked against.

use render_core::edit::{EditError, EditErrorCode, Key, Kind, Op};
use render_core::Camera;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const PROTOCOL_VERSION: u32 = 1;

/// The bitrates a `quality` request may name at all (bit/s); the server's own
/// `--min-bitrate` and `--max-bitrate` narrow them.
pub const MIN_BITRATE: u64 = 50_000;
pub const MAX_BITRATE: u64 = 100_000_000;
/// The highest frame rate a `quality` request may name at all; `--fps` narrows it.
pub const MAX_FPS: f64 = 120.0;

/// The smallest picture width or height a `resize` may ask for.
pub const MIN_DIMENSION: u32 = 16;

/// The largest JSON message accepted, in bytes: room for a small mesh inline (about
/// 10,000 triangles); larger meshes come as binary uploads.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The deepest nesting of arrays and objects accepted in a message. The deepest
/// legitimate message (an op's value holding a transform) nests five levels.
pub const MAX_DEPTH: usize = 32;

/// The largest binary upload (a glTF or GLB mesh), in bytes.
pub const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// A revision: increases with every accepted change (a transaction, an undo or redo,
/// a camera move). Frames name the revision they show.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Revision(pub u64);

/// What a session may do (`viewer` or `controller`), from its token.
pub use signaling::Role;

/// Why the server ends a connection (see [`ServerMessage::Closing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    Shutdown,
    Ended,
}

/// The file formats of a mesh upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeshFormat {
    /// Binary glTF.
    Glb,
    /// glTF JSON with its buffers as data URIs.
    Gltf,
}

/// A request from a client.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMessage {
    Camera {
        id: Option<Value>,
        camera: Camera,
    },
    Resize {
        id: Option<Value>,
        width: u32,
        height: u32,
    },
    /// A transaction: every op applies, or none does.
    Edit {
        id: Option<Value>,
        ops: Vec<Op>,
        /// When given, the transaction applies only if the scene is still at this
        /// revision (optimistic concurrency); otherwise it is a `conflict`.
        base_revision: Option<Revision>,
    },
    Undo {
        id: Option<Value>,
    },
    Redo {
        id: Option<Value>,
    },
    GetScene {
        id: Option<Value>,
        /// Whole meshes instead of their sizes.
        full_meshes: bool,
    },
    Get {
        id: Option<Value>,
        kind: Kind,
        key: Option<Key>,
    },
    /// The view's live bitrate cap (bit/s), frame rate and denoising; any may be left
    /// out.
    Quality {
        id: Option<Value>,
        bitrate: Option<u32>,
        fps: Option<f32>,
        denoise: Option<bool>,
    },
    /// What is under the point (`x`, `y`) of this view's picture, in fractions of its
    /// width and height from the top-left corner (a read: any role may ask).
    Pick {
        id: Option<Value>,
        x: f32,
        y: f32,
    },
    /// A mesh of `bytes` bytes follows in binary messages, to be added (or replaced)
    /// under `key`.
    Upload {
        id: Option<Value>,
        key: Key,
        format: MeshFormat,
        bytes: u64,
    },
}

impl ClientMessage {
    /// The request's `id`, echoed in the reply.
    pub fn id(&self) -> Option<&Value> {
        match self {
            ClientMessage::Camera { id, .. }
            | ClientMessage::Resize { id, .. }
            | ClientMessage::Edit { id, .. }
            | ClientMessage::Undo { id }
            | ClientMessage::Redo { id }
            | ClientMessage::GetScene { id, .. }
            | ClientMessage::Get { id, .. }
            | ClientMessage::Pick { id, .. }
            | ClientMessage::Quality { id, .. }
            | ClientMessage::Upload { id, .. } => id.as_ref(),
        }
    }

    /// Whether the message changes the shared view (its camera, size or stream).
    pub fn changes_view(&self) -> bool {
        matches!(
            self,
            ClientMessage::Camera { .. }
                | ClientMessage::Resize { .. }
                | ClientMessage::Quality { .. }
        )
    }

    /// Whether the message changes the scene (and so needs the controller role).
    pub fn edits_scene(&self) -> bool {
        matches!(
            self,
            ClientMessage::Edit { .. }
                | ClientMessage::Undo { .. }
                | ClientMessage::Redo { .. }
                | ClientMessage::Upload { .. }
        )
    }
}

/// The limits a client must respect, announced in `hello`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_upload_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_upload_bytes: MAX_UPLOAD_BYTES,
        }
    }
}

/// The surface a `pick` found: the object and its material, the point in world
/// coordinates, the surface's normal there (facing the camera) and the distance from
/// the eye.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PickHit {
    pub object: Key,
    pub material: Key,
    pub point: [f32; 3],
    pub normal: [f32; 3],
    pub distance: f32,
}

/// The stream's quality as `hello` announces it: the live bitrate and frame rate, and
/// the ranges a `quality` request may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct QualityInfo {
    pub bitrate: u32,
    pub fps: f32,
    pub min_bitrate: u32,
    pub max_bitrate: u32,
    pub max_fps: f32,
    /// Whether the view's pictures are denoised.
    pub denoise: bool,
}

/// A message to a client.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Hello {
        protocol: u32,
        /// This connection's session: on WebRTC the session id of `Location` (a secret
        /// of this client's, never told to others); on a WebSocket a name for the
        /// connection.
        session: String,
        /// The public id other clients hear this one by (`changed` messages' `client`).
        client: String,
        role: Role,
        view: String,
        revision: Revision,
        camera: Camera,
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
        quality: QualityInfo,
        limits: Limits,
        /// On a WebRTC session: the secret that resumes this session after its
        /// connection drops (`POST /whep?resume=TOKEN`), within the server's grace period.
        #[serde(skip_serializing_if = "Option::is_none")]
        resume_token: Option<String>,
    },
    Ack {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        revision: Revision,
    },
    /// A transaction (or an undo or redo) by `client` (another client's public id,
    /// never its session id) was applied.
    Changed {
        revision: Revision,
        client: String,
        changes: Vec<Value>,
    },
    /// This client missed some `changed` messages (it read too slowly): its copy
    /// of the scene is stale; read it again with `get_scene`.
    Resync {
        revision: Revision,
    },
    /// The server ends this connection now: `shutdown` (the server is stopping) or
    /// `ended` (the session was ended with `DELETE /whep/<session>`). Nothing follows.
    Closing {
        reason: CloseReason,
    },
    CameraChanged {
        revision: Revision,
        camera: Camera,
    },
    Resized {
        width: u32,
        height: u32,
    },
    /// The view's live bitrate or frame rate changed (by a controller's `quality`).
    QualityChanged {
        bitrate: u32,
        fps: f32,
        denoise: bool,
    },
    Scene {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        revision: Revision,
        scene: Value,
    },
    Entity {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        revision: Revision,
        kind: Kind,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<Key>,
        value: Value,
    },
    /// The reply to `pick`: the surface under the point, or `null` when the ray from
    /// the eye through it meets nothing (the background).
    Picked {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        revision: Revision,
        hit: Option<PickHit>,
    },
    /// The first frame showing `revision` (and every change before it) left for this
    /// client, or the first whose picture is denoised after raw ones (or raw after
    /// denoised ones). On WebRTC, `rtp_timestamp` is that frame's RTP timestamp on the
    /// video track, so a player can tell exactly which picture it is, and whether
    /// what it shows is `denoised`.
    Frame {
        revision: Revision,
        #[serde(skip_serializing_if = "Option::is_none")]
        rtp_timestamp: Option<u32>,
        width: u32,
        height: u32,
        denoised: bool,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        code: ErrorCode,
        message: String,
        /// The index of the op in an `edit` that was rejected.
        #[serde(skip_serializing_if = "Option::is_none")]
        op: Option<usize>,
        /// The path of the offending field, such as `ops[1].value.albedo`.
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<String>,
    },
}

impl ServerMessage {
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: every field is plain data with string keys.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Stable error codes clients can branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The message is not valid JSON (or UTF-8), or not a JSON object.
    InvalidJson,
    /// The message is larger than [`MAX_MESSAGE_BYTES`], or an upload than its limit.
    TooLarge,
    /// Arrays and objects nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A binary message arrived when no upload was announced.
    BinaryMessage,
    /// `type` names no message of this protocol.
    UnknownType,
    /// A field this message does not have (often a misspelling).
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong JSON type, or a value out of range.
    InvalidValue,
    /// An op's `op` is not add, update, replace or remove.
    UnknownOp,
    /// An op's or a request's `kind` names no kind of entity.
    UnknownKind,
    /// A key that does not exist.
    NotFound,
    /// An `add` of a key that already exists.
    DuplicateKey,
    /// A `remove` of something another entity refers to.
    InUse,
    /// Too many ops, entities or triangles.
    LimitExceeded,
    /// `base_revision` is not the scene's revision any more.
    Conflict,
    /// `undo` with nothing to undo, or `redo` with nothing to redo.
    NothingToUndo,
    /// The session's role does not allow this request.
    Forbidden,
    /// The connection changed the scene faster than the server's edit rate allows.
    RateLimited,
    /// The change could not be written to the state directory; nothing was applied.
    StorageFailed,
    /// The server is already doing as much of this work as it allows (snapshot
    /// encodes); try again after a moment (over HTTP, `503` with `Retry-After`).
    Busy,
    /// A bug in the server (it is logged); nothing was applied.
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order (`code as usize` indexes it).
    pub const ALL: [ErrorCode; 21] = [
        ErrorCode::InvalidJson,
        ErrorCode::TooLarge,
        ErrorCode::TooDeep,
        ErrorCode::BinaryMessage,
        ErrorCode::UnknownType,
        ErrorCode::UnknownField,
        ErrorCode::MissingField,
        ErrorCode::InvalidValue,
        ErrorCode::UnknownOp,
        ErrorCode::UnknownKind,
        ErrorCode::NotFound,
        ErrorCode::DuplicateKey,
        ErrorCode::InUse,
        ErrorCode::LimitExceeded,
        ErrorCode::Conflict,
        ErrorCode::NothingToUndo,
        ErrorCode::Forbidden,
        ErrorCode::RateLimited,
        ErrorCode::StorageFailed,
        ErrorCode::Busy,
        ErrorCode::Internal,
    ];

    /// The code as it is written in messages (`invalid_json`, ...).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// A rejected request: what to answer, and nothing else happens.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtocolError {
    pub id: Option<Value>,
    pub code: ErrorCode,
    pub message: String,
    pub op: Option<usize>,
    pub field: Option<String>,
}

impl ProtocolError {
    pub fn new(id: Option<&Value>, code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            id: id.cloned(),
            code,
            message: message.into(),
            op: None,
            field: None,
        }
    }

    /// The same error, naming the field it is about.
    pub fn with_field(self, field: &str) -> Self {
        ProtocolError {
            field: Some(field.to_owned()),
            ..self
        }
    }

    /// A rejected transaction, with the op and field the document named.
    pub fn from_edit(id: Option<&Value>, e: EditError) -> Self {
        let code = match e.code {
            EditErrorCode::InvalidValue => ErrorCode::InvalidValue,
            EditErrorCode::MissingField => ErrorCode::MissingField,
            EditErrorCode::UnknownField => ErrorCode::UnknownField,
            EditErrorCode::UnknownOp => ErrorCode::UnknownOp,
            EditErrorCode::UnknownKind => ErrorCode::UnknownKind,
            EditErrorCode::NotFound => ErrorCode::NotFound,
            EditErrorCode::DuplicateKey => ErrorCode::DuplicateKey,
            EditErrorCode::InUse => ErrorCode::InUse,
            EditErrorCode::LimitExceeded => ErrorCode::LimitExceeded,
        };
        ProtocolError {
            id: id.cloned(),
            code,
            message: e.message,
            op: e.op,
            field: (!e.path.is_empty()).then_some(e.path),
        }
    }

    /// The `error` message to send.
    pub fn into_message(self) -> ServerMessage {
        ServerMessage::Error {
            id: self.id,
            code: self.code,
            message: self.message,
            op: self.op,
            field: self.field,
        }
    }
}

/// The answer to a binary message when no upload was announced.
pub fn binary_message_error() -> ProtocolError {
    ProtocolError::new(
        None,
        ErrorCode::BinaryMessage,
        "unexpected binary message: send JSON text, or announce an upload first",
    )
}

/// Whether arrays and objects in `text` nest deeper than `limit`. Checked before
/// parsing, so that a hostile message costs a linear scan and earns a clear code.
fn nests_deeper_than(text: &str, limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Reads a message's fields, naming them in every error.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    id: Option<&'a Value>,
}

impl<'a> Fields<'a> {
    fn error(&self, code: ErrorCode, field: &str, message: impl Into<String>) -> ProtocolError {
        ProtocolError {
            field: Some(field.to_owned()),
            ..ProtocolError::new(self.id, code, message)
        }
    }

    fn required(&self, name: &str) -> Result<&'a Value, ProtocolError> {
        self.obj.get(name).ok_or_else(|| {
            self.error(
                ErrorCode::MissingField,
                name,
                format!("missing field \"{name}\""),
            )
        })
    }

    fn invalid(&self, name: &str, expected: &str) -> ProtocolError {
        self.error(
            ErrorCode::InvalidValue,
            name,
            format!("field \"{name}\" must be {expected}"),
        )
    }

    /// Rejects fields other than `type`, `id` and `allowed`.
    fn only(&self, allowed: &[&str]) -> Result<(), ProtocolError> {
        match self
            .obj
            .keys()
            .find(|k| !matches!(k.as_str(), "type" | "id") && !allowed.contains(&k.as_str()))
        {
            Some(k) => Err(self.error(
                ErrorCode::UnknownField,
                k,
                format!(
                    "unknown field \"{k}\" (this message has {})",
                    if allowed.is_empty() {
                        "only \"type\" and \"id\"".to_owned()
                    } else {
                        allowed
                            .iter()
                            .map(|a| format!("\"{a}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            )),
            None => Ok(()),
        }
    }

    fn vec3(&self, name: &str) -> Result<glam::Vec3, ProtocolError> {
        let v = self.required(name)?;
        let invalid = || self.invalid(name, "an array of 3 finite numbers");
        let arr = v.as_array().filter(|a| a.len() == 3).ok_or_else(invalid)?;
        let mut out = [0.0f32; 3];
        for (o, x) in out.iter_mut().zip(arr) {
            let f = x.as_f64().ok_or_else(invalid)?;
            // Values beyond f32 would become infinite; reject them here by name.
            if !f.is_finite() || f.abs() > 1e6 {
                return Err(self.error(
                    ErrorCode::InvalidValue,
                    name,
                    format!(
                        "field \"{name}\" has a component out of range (|x| must be at most 1e6)"
                    ),
                ));
            }
            *o = f as f32;
        }
        Ok(glam::Vec3::from_array(out))
    }

    fn dimension(&self, name: &str) -> Result<u32, ProtocolError> {
        let v = self.required(name)?;
        let max = render_core::Renderer::MAX_DIMENSION;
        v.as_u64()
            .filter(|n| *n >= MIN_DIMENSION as u64 && *n <= max as u64 && n % 2 == 0)
            .map(|n| n as u32)
            .ok_or_else(|| {
                self.error(
                    ErrorCode::InvalidValue,
                    name,
                    format!(
                        "field \"{name}\" must be an even integer from {MIN_DIMENSION} to {max}, not {v}"
                    ),
                )
            })
    }

    fn key(&self, name: &str) -> Result<Key, ProtocolError> {
        let v = self.required(name)?;
        let s = v
            .as_str()
            .ok_or_else(|| self.invalid(name, "a string key"))?;
        Key::new(s).map_err(|e| {
            self.error(
                ErrorCode::InvalidValue,
                name,
                format!("field \"{name}\": {e}"),
            )
        })
    }

    fn kind(&self) -> Result<Kind, ProtocolError> {
        let v = self.required("kind")?;
        let s = v.as_str().ok_or_else(|| self.invalid("kind", "a string"))?;
        serde_json::from_value(Value::String(s.to_owned())).map_err(|_| {
            self.error(
                ErrorCode::UnknownKind,
                "kind",
                format!(
                    "unknown kind {s:?} (kinds: material, texture, mesh, object, light, environment, settings)"
                ),
            )
        })
    }
}

/// Parses and validates one client message.
pub fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
    parse_value(&parse_json(text)?)
}

/// Parses a message's JSON within the size and nesting limits.
pub fn parse_json(text: &str) -> Result<Value, ProtocolError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::new(
            None,
            ErrorCode::TooLarge,
            format!(
                "message is {} bytes; the limit is {MAX_MESSAGE_BYTES} (upload large meshes as binary)",
                text.len()
            ),
        ));
    }
    if nests_deeper_than(text, MAX_DEPTH) {
        return Err(ProtocolError::new(
            None,
            ErrorCode::TooDeep,
            format!("arrays and objects nest deeper than {MAX_DEPTH} levels"),
        ));
    }
    serde_json::from_str(text)
        .map_err(|e| ProtocolError::new(None, ErrorCode::InvalidJson, format!("invalid JSON: {e}")))
}

/// Validates one client message already parsed as JSON.
pub fn parse_value(value: &Value) -> Result<ClientMessage, ProtocolError> {
    let Value::Object(obj) = value else {
        return Err(ProtocolError::new(
            None,
            ErrorCode::InvalidJson,
            "a message must be a JSON object",
        ));
    };
    let id = obj.get("id");
    if id.is_some_and(|v| !(v.is_number() || v.is_string())) {
        return Err(ProtocolError {
            field: Some("id".into()),
            ..ProtocolError::new(
                None,
                ErrorCode::InvalidValue,
                "id must be a number or a string",
            )
        });
    }
    let f = Fields { obj, id };
    let kind = match f.required("type")? {
        Value::String(s) => s.as_str(),
        _ => return Err(f.invalid("type", "a string")),
    };
    let id = id.cloned();
    match kind {
        "camera" => {
            f.only(&["eye", "target", "up", "fov"])?;
            let (eye, target, up) = (f.vec3("eye")?, f.vec3("target")?, f.vec3("up")?);
            let fov = f
                .required("fov")?
                .as_f64()
                .ok_or_else(|| f.invalid("fov", "a number"))?;
            let camera = Camera {
                eye,
                target,
                up,
                fov: fov as f32,
            };
            camera.validate().map_err(|e| {
                ProtocolError::new(
                    f.id,
                    ErrorCode::InvalidValue,
                    format!("invalid camera: {e}"),
                )
            })?;
            Ok(ClientMessage::Camera { id, camera })
        }
        "resize" => {
            f.only(&["width", "height"])?;
            let width = f.dimension("width")?;
            let height = f.dimension("height")?;
            Ok(ClientMessage::Resize { id, width, height })
        }
        "edit" => {
            f.only(&["ops", "base_revision"])?;
            let ops = render_core::edit::parse_ops(f.required("ops")?)
                .map_err(|e| ProtocolError::from_edit(f.id, e))?;
            let base_revision = match obj.get("base_revision") {
                None | Some(Value::Null) => None,
                Some(v) => {
                    Some(Revision(v.as_u64().ok_or_else(|| {
                        f.invalid("base_revision", "a non-negative integer")
                    })?))
                }
            };
            Ok(ClientMessage::Edit {
                id,
                ops,
                base_revision,
            })
        }
        "undo" => {
            f.only(&[])?;
            Ok(ClientMessage::Undo { id })
        }
        "redo" => {
            f.only(&[])?;
            Ok(ClientMessage::Redo { id })
        }
        "get_scene" => {
            f.only(&["meshes"])?;
            let full_meshes = match obj.get("meshes") {
                None => false,
                Some(Value::String(s)) if s == "summary" => false,
                Some(Value::String(s)) if s == "full" => true,
                Some(_) => return Err(f.invalid("meshes", "\"summary\" or \"full\"")),
            };
            Ok(ClientMessage::GetScene { id, full_meshes })
        }
        "get" => {
            f.only(&["kind", "key"])?;
            let kind = f.kind()?;
            let key = match obj.get("key") {
                None | Some(Value::Null) => None,
                Some(_) => Some(f.key("key")?),
            };
            Ok(ClientMessage::Get { id, kind, key })
        }
        "quality" => {
            f.only(&["bitrate", "fps", "denoise"])?;
            let bitrate = match obj.get("bitrate") {
                None => None,
                Some(v) => Some(
                    v.as_u64()
                        .filter(|b| (MIN_BITRATE..=MAX_BITRATE).contains(b))
                        .ok_or_else(|| {
                            f.invalid(
                                "bitrate",
                                &format!("an integer from {MIN_BITRATE} to {MAX_BITRATE} (bit/s)"),
                            )
                        })? as u32,
                ),
            };
            let fps = match obj.get("fps") {
                None => None,
                Some(v) => Some(
                    v.as_f64()
                        .filter(|r| (1.0..=MAX_FPS).contains(r))
                        .ok_or_else(|| f.invalid("fps", &format!("a number from 1 to {MAX_FPS}")))?
                        as f32,
                ),
            };
            let denoise = match obj.get("denoise") {
                None => None,
                Some(v) => Some(
                    v.as_bool()
                        .ok_or_else(|| f.invalid("denoise", "true or false"))?,
                ),
            };
            if bitrate.is_none() && fps.is_none() && denoise.is_none() {
                return Err(f.error(
                    ErrorCode::MissingField,
                    "bitrate",
                    "a quality request needs \"bitrate\", \"fps\", \"denoise\" or some of them",
                ));
            }
            Ok(ClientMessage::Quality {
                id,
                bitrate,
                fps,
                denoise,
            })
        }
        "pick" => {
            f.only(&["x", "y"])?;
            let fraction = |name: &str| -> Result<f32, ProtocolError> {
                f.required(name)?
                    .as_f64()
                    .filter(|v| (0.0..=1.0).contains(v))
                    .map(|v| v as f32)
                    .ok_or_else(|| f.invalid(name, "a number from 0 to 1"))
            };
            let (x, y) = (fraction("x")?, fraction("y")?);
            Ok(ClientMessage::Pick { id, x, y })
        }
        "upload" => {
            f.only(&["key", "format", "bytes"])?;
            let key = f.key("key")?;
            let format = match f.required("format")? {
                Value::String(s) if s == "glb" => MeshFormat::Glb,
                Value::String(s) if s == "gltf" => MeshFormat::Gltf,
                _ => return Err(f.invalid("format", "\"glb\" or \"gltf\"")),
            };
            let bytes = f
                .required("bytes")?
                .as_u64()
                .filter(|&n| n > 0)
                .ok_or_else(|| f.invalid("bytes", "a positive integer"))?;
            if bytes > MAX_UPLOAD_BYTES {
                return Err(f.error(
                    ErrorCode::TooLarge,
                    "bytes",
                    format!("an upload may be at most {MAX_UPLOAD_BYTES} bytes, not {bytes}"),
                ));
            }
            Ok(ClientMessage::Upload {
                id,
                key,
                format,
                bytes,
            })
        }
        other => Err(ProtocolError {
            field: Some("type".into()),
            ..ProtocolError::new(
                f.id,
                ErrorCode::UnknownType,
                format!("unknown message type {other:?}"),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_is_listed_in_order_with_its_name() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i, "{code:?}");
        }
        assert_eq!(ErrorCode::RateLimited.name(), "rate_limited");
    }
    use glam::Vec3;
    use serde_json::json;

    fn err(text: &str) -> ProtocolError {
        parse(text).unwrap_err()
    }

    #[test]
    fn camera_message_parses() {
        let m = parse(
            r#"{"type":"camera","id":7,"eye":[0,1,4],"target":[0,1,0],"up":[0,1,0],"fov":40}"#,
        )
        .unwrap();
        let ClientMessage::Camera { id, camera } = m else {
            panic!("not a camera message: {m:?}")
        };
        assert_eq!(id, Some(json!(7)));
        assert_eq!(
            camera,
            Camera {
                eye: Vec3::new(0., 1., 4.),
                target: Vec3::new(0., 1., 0.),
                up: Vec3::Y,
                fov: 40.0
            }
        );
    }

    #[test]
    fn malformed_messages_get_codes_that_name_the_problem() {
        let e = err("{not json");
        assert_eq!(e.code, ErrorCode::InvalidJson);
        assert_eq!(err("[1,2]").code, ErrorCode::InvalidJson);
        let e = err(r#"{"id":3}"#);
        assert_eq!((e.code, e.id), (ErrorCode::MissingField, Some(json!(3))));
        assert!(e.message.contains("type"));
        let e = err(r#"{"type":"teleport","id":"a"}"#);
        assert_eq!((e.code, e.id), (ErrorCode::UnknownType, Some(json!("a"))));
        assert!(e.message.contains("teleport"));
        let e = err(r#"{"type":"camera","eye":[0,1],"target":[0,0,0],"up":[0,1,0],"fov":40}"#);
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert!(e.message.contains("\"eye\""));
        let e = err(r#"{"type":"camera","eye":[0,1,5],"target":[0,0,0],"up":[0,1,0]}"#);
        assert_eq!(e.code, ErrorCode::MissingField);
        assert!(e.message.contains("fov"));
        let e = err(r#"{"type":"camera","eye":["a",1,5],"target":[0,0,0],"up":[0,1,0],"fov":40}"#);
        assert_eq!(e.code, ErrorCode::InvalidValue);
        let e = err(
            r#"{"type":"camera","id":{"x":1},"eye":[0,1,5],"target":[0,0,0],"up":[0,1,0],"fov":40}"#,
        );
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert!(e.message.contains("id"));
        let big = format!(
            r#"{{"type":"camera","pad":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(err(&big).code, ErrorCode::TooLarge);
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let cases = [
            (
                r#"{"type":"camera","eye":[0,1,5],"target":[0,0,0],"up":[0,1,0],"fov":0}"#,
                "fov",
            ),
            (
                r#"{"type":"camera","eye":[0,1,5],"target":[0,0,0],"up":[0,1,0],"fov":500}"#,
                "fov",
            ),
            (
                r#"{"type":"camera","eye":[0,0,0],"target":[0,0,0],"up":[0,1,0],"fov":40}"#,
                "eye and target",
            ),
            (
                r#"{"type":"camera","eye":[0,5,0],"target":[0,0,0],"up":[0,1,0],"fov":40}"#,
                "up",
            ),
            (
                r#"{"type":"camera","eye":[1e300,1,5],"target":[0,0,0],"up":[0,1,0],"fov":40}"#,
                "out of range",
            ),
            (r#"{"type":"resize","width":641,"height":360}"#, "\"width\""),
            (r#"{"type":"resize","width":0,"height":360}"#, "\"width\""),
            (r#"{"type":"resize","width":640,"height":-2}"#, "\"height\""),
            (
                r#"{"type":"resize","width":640,"height":360.5}"#,
                "\"height\"",
            ),
            (
                r#"{"type":"resize","width":"640","height":360}"#,
                "\"width\"",
            ),
            (
                r#"{"type":"resize","width":100000,"height":360}"#,
                "\"width\"",
            ),
        ];
        for (text, needle) in cases {
            let e = err(text);
            assert_eq!(e.code, ErrorCode::InvalidValue, "{text}");
            assert!(e.message.contains(needle), "{text}: {}", e.message);
        }
    }

    #[test]
    fn quality_message_parses_and_rejects_rates_out_of_range() {
        assert_eq!(
            parse(r#"{"type":"quality","id":1,"bitrate":2000000,"fps":15}"#),
            Ok(ClientMessage::Quality {
                id: Some(Value::from(1)),
                bitrate: Some(2_000_000),
                fps: Some(15.0),
                denoise: None,
            })
        );
        assert_eq!(
            parse(r#"{"type":"quality","fps":24.5}"#),
            Ok(ClientMessage::Quality {
                id: None,
                bitrate: None,
                fps: Some(24.5),
                denoise: None,
            })
        );
        assert_eq!(
            parse(r#"{"type":"quality","denoise":false}"#),
            Ok(ClientMessage::Quality {
                id: None,
                bitrate: None,
                fps: None,
                denoise: Some(false),
            })
        );
        for (text, code, field) in [
            (r#"{"type":"quality"}"#, ErrorCode::MissingField, "bitrate"),
            (
                r#"{"type":"quality","bitrate":1000}"#,
                ErrorCode::InvalidValue,
                "bitrate",
            ),
            (
                r#"{"type":"quality","bitrate":2.5e6}"#,
                ErrorCode::InvalidValue,
                "bitrate",
            ),
            (
                r#"{"type":"quality","fps":0.5}"#,
                ErrorCode::InvalidValue,
                "fps",
            ),
            (
                r#"{"type":"quality","fps":"30"}"#,
                ErrorCode::InvalidValue,
                "fps",
            ),
            (
                r#"{"type":"quality","fps":30,"gop":2}"#,
                ErrorCode::UnknownField,
                "gop",
            ),
            (
                r#"{"type":"quality","denoise":"on"}"#,
                ErrorCode::InvalidValue,
                "denoise",
            ),
            (
                r#"{"type":"quality","denoise":1}"#,
                ErrorCode::InvalidValue,
                "denoise",
            ),
        ] {
            let e = err(text);
            assert_eq!(
                (e.code, e.field.as_deref()),
                (code, Some(field)),
                "{text}: {e:?}"
            );
        }
        assert!(parse(r#"{"type":"quality","fps":30}"#)
            .unwrap()
            .changes_view());
    }

    #[test]
    fn pick_message_parses_and_rejects_points_off_the_picture() {
        assert_eq!(
            parse(r#"{"type":"pick","id":7,"x":0.25,"y":1}"#),
            Ok(ClientMessage::Pick {
                id: Some(Value::from(7)),
                x: 0.25,
                y: 1.0,
            })
        );
        for (text, field) in [
            (r#"{"type":"pick","x":-0.1,"y":0.5}"#, "x"),
            (r#"{"type":"pick","x":0.5,"y":1.5}"#, "y"),
            (r#"{"type":"pick","x":"0.5","y":0.5}"#, "x"),
            (r#"{"type":"pick","x":0.5}"#, "y"),
            (r#"{"type":"pick","x":0.5,"y":0.5,"z":0}"#, "z"),
        ] {
            let e = err(text);
            assert_eq!(e.field.as_deref(), Some(field), "{text}: {e:?}");
        }
        let none = ServerMessage::Picked {
            id: None,
            revision: Revision(3),
            hit: None,
        };
        assert_eq!(
            none.to_json(),
            r#"{"type":"picked","revision":3,"hit":null}"#
        );
    }

    #[test]
    fn resize_message_parses() {
        assert_eq!(
            parse(r#"{"type":"resize","id":"r","width":640,"height":360}"#),
            Ok(ClientMessage::Resize {
                id: Some(json!("r")),
                width: 640,
                height: 360
            })
        );
        assert_eq!(
            err(r#"{"type":"resize","width":640}"#).code,
            ErrorCode::MissingField
        );
        assert_eq!(
            ServerMessage::Resized {
                width: 640,
                height: 360
            }
            .to_json(),
            r#"{"type":"resized","width":640,"height":360}"#
        );
    }

    #[test]
    fn server_messages_serialise_to_the_documented_shape() {
        let m = ServerMessage::Ack {
            id: Some(json!(5)),
            revision: Revision(9),
        };
        assert_eq!(m.to_json(), r#"{"type":"ack","id":5,"revision":9}"#);
        let m = ProtocolError::new(None, ErrorCode::InvalidJson, "bad").into_message();
        assert_eq!(
            m.to_json(),
            r#"{"type":"error","code":"invalid_json","message":"bad"}"#
        );
        let cam = Camera {
            eye: Vec3::Z,
            target: Vec3::ZERO,
            up: Vec3::Y,
            fov: 40.0,
        };
        let v: Value = serde_json::from_str(
            &ServerMessage::CameraChanged {
                revision: Revision(2),
                camera: cam,
            }
            .to_json(),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"type":"camera_changed","revision":2,"camera":{"eye":[0.0,0.0,1.0],"target":[0.0,0.0,0.0],"up":[0.0,1.0,0.0],"fov":40.0}})
        );
    }

    #[test]
    fn unknown_fields_deep_nesting_and_ids_are_named() {
        let e = err(r#"{"type":"camera","eyes":[0,1,5],"target":[0,0,0],"up":[0,1,0],"fov":40}"#);
        assert_eq!(e.code, ErrorCode::UnknownField);
        assert_eq!(e.field.as_deref(), Some("eyes"));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(err(&deep).code, ErrorCode::TooDeep);
        // Brackets inside strings are not nesting.
        let text = format!(r#"{{"type":"undo","id":"{}"}}"#, "[".repeat(100));
        assert!(matches!(parse(&text), Ok(ClientMessage::Undo { .. })));
        let e = err(r#"{"type":"undo","id":[1]}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::InvalidValue, Some("id"))
        );
    }

    #[test]
    fn edit_messages_parse_and_their_errors_name_the_op() {
        let m = parse(
            r#"{"type":"edit","id":1,"base_revision":4,"ops":[{"op":"update","kind":"settings","value":{"exposure":2}}]}"#,
        )
        .unwrap();
        let ClientMessage::Edit {
            id,
            ops,
            base_revision,
        } = m
        else {
            panic!("not an edit: {m:?}")
        };
        assert_eq!(
            (id, ops.len(), base_revision),
            (Some(json!(1)), 1, Some(Revision(4)))
        );
        let e = err(r#"{"type":"edit","id":2,"ops":[{"op":"paint","kind":"object","key":"a"}]}"#);
        assert_eq!(
            (e.code, e.op, e.id),
            (ErrorCode::UnknownOp, Some(0), Some(json!(2)))
        );
        assert_eq!(err(r#"{"type":"edit"}"#).code, ErrorCode::MissingField);
        let e = err(r#"{"type":"edit","ops":[],"base_revision":-1}"#);
        assert_eq!(e.field.as_deref(), Some("base_revision"));
    }

    #[test]
    fn reads_and_uploads_parse() {
        assert_eq!(
            parse(r#"{"type":"get_scene","meshes":"full"}"#),
            Ok(ClientMessage::GetScene {
                id: None,
                full_meshes: true
            })
        );
        assert_eq!(
            parse(r#"{"type":"get","kind":"object","key":"ball"}"#),
            Ok(ClientMessage::Get {
                id: None,
                kind: Kind::Object,
                key: Some(Key::new("ball").unwrap())
            })
        );
        assert_eq!(
            err(r#"{"type":"get","kind":"widget","key":"ball"}"#).code,
            ErrorCode::UnknownKind
        );
        assert_eq!(
            err(r#"{"type":"get","kind":"object","key":"no spaces"}"#).code,
            ErrorCode::InvalidValue
        );
        assert_eq!(
            parse(r#"{"type":"upload","id":"u","key":"knot","format":"glb","bytes":1000}"#),
            Ok(ClientMessage::Upload {
                id: Some(json!("u")),
                key: Key::new("knot").unwrap(),
                format: MeshFormat::Glb,
                bytes: 1000
            })
        );
        let huge = format!(
            r#"{{"type":"upload","key":"k","format":"glb","bytes":{}}}"#,
            MAX_UPLOAD_BYTES + 1
        );
        assert_eq!(err(&huge).code, ErrorCode::TooLarge);
        assert_eq!(
            err(r#"{"type":"upload","key":"k","format":"obj","bytes":10}"#)
                .field
                .as_deref(),
            Some("format")
        );
    }
}
